// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the seed's NAT example end to end, its public VIP replaced by a benchmark
//! address. A client on the outside network, the director with an outside and an inside
//! interface (rvsd's XDP program on both), and a real server on the inside network whose
//! default route is the director. Service `198.18.147.4:8282`, dest `10.0.153.42:82`
//! masqueraded: short TCP connections and a multi-megabyte transfer must arrive intact, with
//! the replies translated and forwarded between the two interfaces, and `rvsadm -L -n --stats`
//! must agree with what the client sent and received.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::capture::Capture;
use rvs_netns::is_root;
use rvs_netns::lab::wait_ready;
use rvs_netns::rvsd::Rvsd;
use rvs_netns::{Guard, Netns};

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvs-xdp-pass"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn root_nat_seed_two_interfaces() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let mut daemon = Rvsd::prepare(&bins(), "nat");
    let bin = |n: &str| bins().join(n).to_string_lossy().into_owned();
    let client = Netns::new("natc");
    let dir = Netns::new("natd");
    let rs = Netns::new("natr");
    client.veth("c0", &dir, "dout");
    rs.veth("r0", &dir, "din");
    client.sh(&["ip", "addr", "add", "198.18.147.10/24", "dev", "c0"]);
    client.sh(&["ip", "route", "add", "default", "via", "198.18.147.1"]);
    dir.sh(&["ip", "addr", "add", "198.18.147.1/24", "dev", "dout"]);
    dir.sh(&["ip", "addr", "add", "198.18.147.4/32", "dev", "dout"]);
    dir.sh(&["ip", "addr", "add", "10.0.153.1/24", "dev", "din"]);
    dir.sysctl("net.ipv4.ip_forward", "1");
    rs.sh(&["ip", "addr", "add", "10.0.153.42/24", "dev", "r0"]);
    rs.sh(&["ip", "route", "add", "default", "via", "10.0.153.1"]);
    // Both endpoints compute their own TCP checksums (the program updates them
    // incrementally), and take frames the director's XDP program sends them.
    let mut guards = Vec::new();
    for (ns, dev) in [(&client, "c0"), (&rs, "r0")] {
        // (GRO off: captures then see the frames the director counted, not merged ones.)
        ns.sh(&["ethtool", "-K", dev, "tx", "off", "gro", "off"]);
        let mut p = ns.spawn(&[&bin("rvs-xdp-pass"), dev]);
        wait_ready(&mut p);
        guards.push(Guard(p));
    }
    let mut server = rs.spawn(&[&bin("rvs-probe"), "tcp-server", "0.0.0.0:82", "rs42"]);
    wait_ready(&mut server);
    guards.push(Guard(server));
    daemon.start(&dir, None, "nat", &["dout", "din"], 1 << 20);
    let adm = |args: &str| daemon.adm(args);
    // The seed example's NAT service.
    adm("-A -t 198.18.147.4:8282 -s wlc");
    adm("-a -t 198.18.147.4:8282 -r 10.0.153.42:82 -m -w 1");
    let listing = adm("-Ln");
    assert!(
        listing.contains("  -> 10.0.153.42:82               Masq    1"),
        "{listing}"
    );
    // What the client sends to and receives from the VIP.
    let cap = Capture::start(
        &client,
        "c0",
        "tcp and host 198.18.147.4 and port 8282",
        daemon.dir.join("client.pcap"),
    );
    let probe = bin("rvs-probe");
    let answers = client.sh(&[&probe, "tcp-clients", "198.18.147.4:8282", "20"]);
    assert_eq!(
        answers.lines().filter(|l| *l == "rs42").count(),
        20,
        "every connection answered through the NAT: {answers}"
    );
    // A multi-megabyte transfer, every byte checked.
    let got = client.sh(&[&probe, "download", "198.18.147.4:8282", "6000000"]);
    assert!(got.starts_with("OK 6000000"), "{got}");
    // Let the connections finish (the client closes first, the director sees both sides).
    std::thread::sleep(Duration::from_millis(300));
    let frames = cap.finish();
    let sent: Vec<u32> = frames
        .iter()
        .filter(|(_, sport)| *sport != 8282)
        .map(|(l, _)| *l)
        .collect();
    let received: Vec<u32> = frames
        .iter()
        .filter(|(_, sport)| *sport == 8282)
        .map(|(l, _)| *l)
        .collect();
    assert!(
        received.len() > 100,
        "a transfer's worth of replies: {}",
        received.len()
    );
    // The counters reach rvsadm every two seconds.
    let want = [
        21,
        sent.len() as u64,
        received.len() as u64,
        sent.iter().map(|l| u64::from(*l)).sum(),
        received.iter().map(|l| u64::from(*l)).sum(),
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let st = adm("-L -n --stats -t 198.18.147.4:8282");
        let line = st
            .lines()
            .find(|l| l.starts_with("TCP  198.18.147.4:8282"))
            .expect("service line")
            .to_string();
        let got: Vec<u64> = line
            .split_whitespace()
            .skip(2)
            .map(|v| v.parse().unwrap_or(u64::MAX))
            .collect();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "--stats Conns InPkts OutPkts InBytes OutBytes {got:?}, client saw {want:?}\n{st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both directions were seen: NAT entries end in TIME_WAIT, not DR's FIN_WAIT.
    let conns = adm("-L -n -c");
    assert!(conns.contains("TIME_WAIT   198.18.147.10:"), "{conns}");
    assert!(
        conns.contains("198.18.147.4:8282  10.0.153.42:82"),
        "{conns}"
    );
}
