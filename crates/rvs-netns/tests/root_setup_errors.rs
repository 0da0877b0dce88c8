// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: setups that could not last are refused with the way out, before anything
//! changes. rvsd and `rvs realserver setup --tunnel` under `ip netns exec` (a private mount
//! namespace, where a bpffs they mounted would end with them) without a lasting `--bpffs`;
//! and the decapsulator on an interface that already has another XDP program.

use std::path::Path;
use std::process::Output;

use rvs_netns::is_root;
use rvs_netns::lab::wait_ready;
use rvs_netns::rvsd::Rvsd;
use rvs_netns::{Guard, Netns};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn is_mounted(p: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == p.to_str())
}

/// A namespace with a real server's interface, r0 (10.0.0.241/24, its veth peer inside too).
fn real_server(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    ns.sh(&[
        "ip", "link", "add", "r0", "type", "veth", "peer", "name", "r1",
    ]);
    ns.sh(&["ip", "link", "set", "r0", "up"]);
    ns.sh(&["ip", "addr", "add", "10.0.0.241/24", "dev", "r0"]);
    ns
}

#[test]
fn root_private_bpffs_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let bins = Path::new(env!("CARGO_BIN_EXE_rvs-probe")).parent().unwrap();
    // The helper's directory and bpffs stand for the host's; `plain` is no bpffs.
    let daemon = Rvsd::prepare(bins, "privbpf");
    let plain = daemon.dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let ns = real_server("privbpf");

    // rvsd refuses to start: its pins (program, connections, counters) would end with it.
    let rvsd = daemon.bin("rvsd");
    let out = ns.run(&[
        &rvsd,
        "--socket",
        daemon.socket().to_str().unwrap(),
        "--state-dir",
        daemon.dir.join("state").to_str().unwrap(),
        "--bpffs",
        plain.to_str().unwrap(),
        "--interface",
        "r0",
    ]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("private mount namespace"), "{said}");
    assert!(said.contains("mount -t bpf bpf"), "{said}");
    assert!(said.contains("--bpffs"), "{said}");
    assert!(!daemon.socket().exists(), "no socket is left");
    assert!(!is_mounted(&plain));
    let xdp = ns.sh(&["ip", "-j", "link", "show", "dev", "r0"]);
    assert!(!xdp.contains("\"xdp\""), "nothing attached: {xdp}");

    // rvs realserver setup --tunnel refuses before changing anything, and says no success.
    let rvs = daemon.bin("rvs");
    let setup = [
        rvs.as_str(),
        "realserver",
        "setup",
        "--vip",
        "10.0.0.240",
        "--tunnel",
        "ipip",
        "--dev",
        "r0",
        "--bpffs",
        plain.to_str().unwrap(),
    ];
    let out = ns.run(&setup);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(!said.contains("applied"), "{said}");
    assert!(said.contains("private mount namespace"), "{said}");
    assert!(said.contains("--bpffs"), "{said}");
    let lo = ns.sh(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(!lo.contains("10.0.0.240"), "nothing changed: {lo}");
    assert!(!is_mounted(&plain));
    // check names the cause, and a fix that works.
    let mut argv = setup.to_vec();
    argv[2] = "check";
    let out = ns.run(&argv);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("no bpffs that outlives"), "{said}");
    assert!(said.contains("mount -t bpf bpf /run/rvs/bpffs"), "{said}");

    // With a bpffs mounted outside, the same setup works and stays after the command.
    let mut argv = setup.to_vec();
    let bpffs = daemon.bpffs();
    argv[10] = bpffs.to_str().unwrap();
    let out = ns.run(&argv);
    assert!(out.status.success(), "{}", text(&out));
    argv[2] = "check";
    let out = ns.run(&argv);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn root_decapsulator_names_the_program_in_its_way() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let bins = Path::new(env!("CARGO_BIN_EXE_rvs-probe")).parent().unwrap();
    let daemon = Rvsd::prepare(bins, "xdpbusy");
    let ns = real_server("xdpbusy");
    // Another XDP program holds r0.
    let mut pass = ns.spawn(&[&daemon.bin("rvs-xdp-pass"), "r0"]);
    wait_ready(&mut pass);
    let _pass = Guard(pass);
    let rvs = daemon.bin("rvs");
    let out = ns.run(&[
        &rvs,
        "realserver",
        "setup",
        "--vip",
        "10.0.0.240",
        "--tunnel",
        "ipip",
        "--dev",
        "r0",
        "--bpffs",
        daemon.bpffs().to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("r0 already has an XDP program (name rvs_pass, id "),
        "{said}"
    );
    assert!(said.contains("ip link set dev r0 xdp off"), "{said}");
    assert!(!said.contains("File exists"), "{said}");
}
