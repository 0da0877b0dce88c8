// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: tunnelling (`-i`) end to end. The lab's real servers run rvs's decapsulator
//! (`rvs realserver setup --tunnel ...`, this kernel has no IPIP, FOU or GRE), the director
//! encapsulates; connections are answered by every real server, first over IPIP, then over
//! GUE and GRE. An upload whose full-size DF segments no longer fit once encapsulated gets
//! ICMP fragmentation needed from the director, and the client's path MTU discovery completes
//! it intact.

use std::process::Command;

use rvs_netns::Guard;
use rvs_netns::lab::{Lab, wait_ready};

/// `rvs realserver ARGS` in real server `n`'s namespace.
fn realserver(lab: &Lab, n: usize, args: &[&str]) -> std::process::Output {
    let rvs = lab.bin("rvs");
    let bpffs = lab.tmp.join("bpffs");
    let mut argv = vec![
        "ip",
        "netns",
        "exec",
        lab.rs[n].name(),
        rvs.as_str(),
        "realserver",
    ];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--vip", "10.0.0.240", "--dev", "r0", "--bpffs"]);
    argv.push(bpffs.to_str().unwrap());
    Command::new(argv[0]).args(&argv[1..]).output().unwrap()
}

/// Runs `traffic` while capturing on the bridge port towards real server 1 (its own interface
/// would show the packets after the XDP decapsulator), and checks that at least one packet
/// matched `filter`: the director really used that encapsulation.
fn on_the_wire(lab: &Lab, filter: &str, traffic: impl FnOnce()) {
    use std::io::{BufRead, BufReader};
    let mut tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.sw.name(),
            "timeout",
            "10",
            "tcpdump",
            "-c",
            "1",
        ])
        .args(["-i", "vr1", "-n", "-l", filter])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tcpdump (./x setup installs it)");
    let mut err = BufReader::new(tcpdump.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "tcpdump did not start"
        );
        if line.contains("listening") {
            break;
        }
    }
    traffic();
    let out = tcpdump.wait_with_output().unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "no {filter} packet reached the real server"
    );
}

fn answered_by_all(lab: &Lab, n: usize) {
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", &n.to_string()]);
    for name in ["rs1", "rs2", "rs3"] {
        assert!(
            out.iter().any(|l| l == name),
            "{name} never answered: {out:?}"
        );
    }
    assert!(out.iter().all(|l| l.starts_with("rs")), "{out:?}");
}

#[test]
fn root_tunnel_end_to_end() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    for n in 0..3 {
        let out = realserver(&lab, n, &["setup", "--tunnel", "ipip"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = realserver(&lab, n, &["check", "--tunnel", "ipip"]);
        assert!(
            out.status.success(),
            "check: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // `check` sees a missing decapsulator.
    let out = realserver(&lab, 0, &["check", "--tunnel", "gue", "--port", "6080"]);
    assert!(
        out.status.success(),
        "same interface, decapsulator attached"
    );
    lab.start_rvsd(None);
    lab.adm("-A -t 10.0.0.240:8130 -s rr");
    for n in 1..=3 {
        lab.adm(&format!(
            "-a -t 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -i -w 1"
        ));
    }
    // The upload service: one real server receiving a file.
    lab.adm("-A -t 10.0.0.240:8131 -s rr");
    lab.adm("-a -t 10.0.0.240:8131 -r 10.0.0.241:8131 -i -w 1");
    let listing = lab.adm("-Ln");
    assert!(listing.contains("Tunnel  1"), "{listing}");
    on_the_wire(&lab, "ip proto 4", || answered_by_all(&lab, 12));

    // Path MTU discovery through the tunnel: 2 MB uploaded in full-size DF segments.
    let file = lab.tmp.join("upload");
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let got = lab.tmp.join("received");
    let probe = lab.bin("rvs-probe");
    let mut server = lab.rs[0].spawn(&[&probe, "tcp-recv", "0.0.0.0:8131", got.to_str().unwrap()]);
    wait_ready(&mut server);
    let server = Guard(server);
    let sent = lab.clients[0].sh(&[
        &probe,
        "tcp-send",
        "10.0.0.240:8131",
        file.to_str().unwrap(),
    ]);
    assert_eq!(sent.trim(), "OK", "upload: {sent}");
    let mut server = server;
    let _ = server.0.wait();
    assert!(
        std::fs::read(&got).unwrap() == data,
        "upload arrived intact"
    );
    let route = lab.clients[0].sh(&["ip", "route", "get", "10.0.0.240"]);
    assert!(
        route.contains("mtu 1480"),
        "the client learned the tunnel's MTU from the director's ICMP: {route}"
    );

    // GUE and GRE: the real servers switch decapsulator, the director the dests' type.
    for (tunnel, port, dest_opts, filter) in [
        (
            "gue",
            Some("6080"),
            "--tun-type gue --tun-port 6080",
            "udp dst port 6080",
        ),
        ("gre", None, "--tun-type gre", "ip proto 47"),
    ] {
        for n in 0..3 {
            let mut args = vec!["setup", "--tunnel", tunnel];
            if let Some(p) = port {
                args.extend_from_slice(&["--port", p]);
            }
            let out = realserver(&lab, n, &args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for n in 1..=3 {
            lab.adm(&format!(
                "-e -t 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -i -w 1 {dest_opts}"
            ));
        }
        let tun = lab.adm("-Ln --tun-info");
        assert!(
            tun.contains(&tunnel.to_uppercase()) || tun.contains(tunnel),
            "{tun}"
        );
        on_the_wire(&lab, filter, || answered_by_all(&lab, 12));
    }
}
