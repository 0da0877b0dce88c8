// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: forwarding methods mixed on one director. One service balances over a
//! direct-routing, a tunnelled and a masqueraded real server; a second service on the same
//! VIP masquerades to another port. Every real server answers through its own method.

use std::process::Command;

use rvs_netns::lab::Lab;

#[test]
fn root_mixed_methods() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    // rs2 is tunnelled: rvs's decapsulator.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.rs[1].name(),
            &lab.bin("rvs"),
            "realserver",
            "setup",
        ])
        .args([
            "--vip",
            "10.0.0.240",
            "--tunnel",
            "ipip",
            "--dev",
            "r0",
            "--bpffs",
        ])
        .arg(lab.tmp.join("bpffs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // rs3 is masqueraded: its replies to the client go back through the director, and it
    // computes its own checksums (the director updates them).
    lab.rs[2].sh(&[
        "ip",
        "route",
        "add",
        "10.0.0.10/32",
        "via",
        "10.0.0.1",
        "dev",
        "r0",
    ]);
    lab.rs[2].sh(&["ethtool", "-K", "r0", "tx", "off"]);
    lab.dir.sysctl("net.ipv4.ip_forward", "1");
    lab.start_rvsd(None);
    lab.adm("-A -t 10.0.0.240:8130 -s rr");
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g");
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.242:8130 -i");
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.243:8130 -m");
    lab.adm("-A -t 10.0.0.240:8131 -s rr");
    lab.adm("-a -t 10.0.0.240:8131 -r 10.0.0.243:8130 -m");
    let listing = lab.adm("-Ln");
    for m in ["Route", "Tunnel", "Masq"] {
        assert!(listing.contains(m), "{listing}");
    }
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "12"]);
    for name in ["rs1", "rs2", "rs3"] {
        assert_eq!(
            out.iter().filter(|l| *l == name).count(),
            4,
            "rr over three methods: {out:?}"
        );
    }
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8131", "5"]);
    assert!(
        out.iter().all(|l| l == "rs3"),
        "NAT with port translation: {out:?}"
    );
    // Replies cross the director only for the masqueraded real server: only it counts any
    // (the counters reach rvsadm every two seconds).
    let outpkts = |stats: &str, dest: &str| -> u64 {
        stats
            .lines()
            .find(|l| l.contains(dest))
            .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = lab.adm("-L -n --stats -t 10.0.0.240:8130");
        if outpkts(&stats, "-> 10.0.0.243:8130") > 0 {
            assert_eq!(outpkts(&stats, "-> 10.0.0.241:8130"), 0, "{stats}");
            assert_eq!(outpkts(&stats, "-> 10.0.0.242:8130"), 0, "{stats}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
