// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: `rvs realserver check` finds each setting of the DR recipe broken one at a
//! time, in a namespace of its own, and `setup` fixes it; both are idempotent.

use rvs_netns::Netns;
use rvs_netns::is_root;

fn rvs(ns: &Netns, args: &str) -> (i32, String) {
    let mut v = vec![env!("CARGO_BIN_EXE_rvs")];
    v.extend(args.split_whitespace());
    let out = ns.run(&v);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

const ARGS: &str = "--vip 10.0.0.240 --vip fd00::240 --dev r0";

#[test]
fn root_realserver_check_and_setup() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let rs = Netns::new("rsetup");
    rs.sh(&[
        "ip", "link", "add", "r0", "type", "veth", "peer", "name", "r1",
    ]);
    rs.sh(&["ip", "link", "set", "r0", "up"]);
    rs.sh(&["ip", "addr", "add", "10.0.0.241/24", "dev", "r0"]);

    // A fresh host: everything is missing.
    let (code, out) = rvs(&rs, &format!("realserver check {ARGS}"));
    assert_eq!(code, 1, "{out}");
    for want in [
        "net.ipv4.conf.all.arp_ignore is 0",
        "net.ipv4.conf.all.arp_announce is 0",
        "net.ipv4.conf.r0.arp_ignore is 0",
        "VIP 10.0.0.240 is not on lo as /32",
        "VIP fd00::240 is not on lo as /128",
    ] {
        assert!(out.contains(want), "missing finding {want:?} in\n{out}");
    }
    assert!(
        out.contains("fix: sysctl -w net.ipv4.conf.all.arp_ignore=1"),
        "{out}"
    );

    let (code, out) = rvs(&rs, &format!("realserver setup {ARGS}"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("net.ipv4.conf.all.arp_ignore = 1"),
        "permanent sysctl lines\n{out}"
    );
    assert!(
        out.contains("post-up ip addr add 10.0.0.240/32 dev lo scope host"),
        "interfaces stanza\n{out}"
    );
    let (code, out) = rvs(&rs, &format!("realserver check {ARGS}"));
    assert_eq!(
        (code, out.trim()),
        (0, "ok: this host is set up as a direct-routing real server")
    );

    // Idempotent: a second setup changes nothing; the VIP is there once.
    let (code, out) = rvs(&rs, &format!("realserver setup {ARGS}"));
    assert_eq!(code, 0);
    assert!(out.contains("already set up: nothing changed"), "{out}");
    let addrs = rs.sh(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert_eq!(addrs.matches("10.0.0.240/32").count(), 1, "{addrs}");

    // Break each setting alone: check names it (and only it), setup repairs it.
    let breakers: Vec<(&str, Vec<Vec<&str>>, &str)> = vec![
        (
            "all.arp_ignore",
            vec![vec!["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=0"]],
            "net.ipv4.conf.all.arp_ignore is 0",
        ),
        (
            "all.arp_announce",
            vec![vec!["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=0"]],
            "net.ipv4.conf.all.arp_announce is 0",
        ),
        (
            "r0.arp_ignore",
            vec![vec!["sysctl", "-qw", "net.ipv4.conf.r0.arp_ignore=8"]],
            "net.ipv4.conf.r0.arp_ignore is 8",
        ),
        (
            "VIP removed",
            vec![vec!["ip", "addr", "del", "10.0.0.240/32", "dev", "lo"]],
            "VIP 10.0.0.240 is not on lo as /32",
        ),
        (
            "VIP with a wide prefix",
            vec![
                vec!["ip", "addr", "del", "10.0.0.240/32", "dev", "lo"],
                vec!["ip", "addr", "add", "10.0.0.240/24", "dev", "lo"],
            ],
            "VIP 10.0.0.240 is on lo as /24",
        ),
        (
            "VIP on the wire",
            vec![vec!["ip", "addr", "add", "10.0.0.240/32", "dev", "r0"]],
            "VIP 10.0.0.240 is on r0 as /32",
        ),
        (
            "IPv6 VIP removed",
            vec![vec!["ip", "addr", "del", "fd00::240/128", "dev", "lo"]],
            "VIP fd00::240 is not on lo as /128",
        ),
    ];
    for (name, cmds, finding) in breakers {
        for c in &cmds {
            rs.sh(c);
        }
        let (code, out) = rvs(&rs, &format!("realserver check {ARGS}"));
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(finding), "{name}: want {finding:?} in\n{out}");
        assert_eq!(
            out.matches("WRONG").count(),
            1,
            "{name}: only that one is wrong\n{out}"
        );
        let (code, out) = rvs(&rs, &format!("realserver setup {ARGS}"));
        assert_eq!(code, 0, "{name}: {out}");
        let (code, out) = rvs(&rs, &format!("realserver check {ARGS}"));
        assert_eq!(code, 0, "{name}: setup did not fix it\n{out}");
    }

    // Bad input changes nothing.
    let (code, out) = rvs(&rs, "realserver setup --vip not-an-address");
    assert_eq!(code, 2, "{out}");
    let (code, _) = rvs(&rs, "realserver setup --vip 10.0.0.9 --dev nosuch0");
    assert_eq!(code, 2);
    assert!(
        !rs.sh(&["ip", "addr", "show", "dev", "lo"])
            .contains("10.0.0.9")
    );
}
