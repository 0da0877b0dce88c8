// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the seed setup end to end. A client, the director and three real servers share
//! one bridge, each in a namespace of its own; the real servers hold the VIP on `lo` with the
//! DR sysctls; rvsd runs the XDP program on the director. Real TCP connections and UDP flows,
//! IPv4 and IPv6, must all be answered, replies must never cross the director, and rvsadm's
//! numbers must agree with what the client sent and with the model's wlc.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use common::capture::Capture;
use rvs_model::sched::{Candidate, wlc};
use rvs_netns::is_root;
use rvs_netns::lab::Lab;

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvs-xdp-pass"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The number of connections each dest (in list order) gets from wlc when connections come
/// one at a time and each is finished (inactive) before the next.
fn wlc_prediction(dests: usize, conns: usize) -> Vec<u64> {
    let mut c = vec![
        Candidate {
            weight: 3,
            ..Candidate::default()
        };
        dests
    ];
    let mut got = vec![0u64; dests];
    for _ in 0..conns {
        let i = wlc(&c).unwrap();
        c[i].inactive += 1;
        got[i] += 1;
    }
    got
}

fn stats_line(listing: &str, what: &str) -> Vec<u64> {
    let line = listing
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("{what} in\n{listing}"));
    line.split_whitespace()
        .skip(2)
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn root_dr_seed_end_to_end() {
    if !is_root() {
        eprintln!("skipped: needs root (namespaces, XDP)");
        return;
    }
    let mut lab = Lab::build(&bins(), 1);
    lab.start_rvsd(None);
    lab.configure_seed();
    assert!(lab.log().contains("XDP attached to d0"), "{}", lab.log());

    let tmp = lab.tmp.as_path();
    let crossing = Capture::start(
        &lab.dir,
        "d0",
        "(tcp or udp) and (src port 8130 or src port 2222)",
        tmp.join("dir.pcap"),
    );
    let client_tcp4 = Capture::start(
        &lab.clients[0],
        "c0",
        "ip and tcp and dst port 8130",
        tmp.join("ct4.pcap"),
    );
    let client_udp4 = Capture::start(
        &lab.clients[0],
        "c0",
        "ip and udp and dst port 8130",
        tmp.join("cu4.pcap"),
    );

    let run = |args: &[&str]| lab.probe(0, args);
    let tcp4 = run(&["tcp-clients", "10.0.0.240:8130", "30"]);
    let tcp6 = run(&["tcp-clients", "[fd00::240]:8130", "9"]);
    let udp4 = run(&["udp-clients", "10.0.0.240:8130", "30"]);
    let udp6 = run(&["udp-clients", "[fd00::240]:8130", "9"]);
    let own = run(&["tcp-clients", "10.0.0.1:2222", "3"]);

    let crossed = crossing.finish();
    let sent_tcp4 = client_tcp4.finish();
    let sent_udp4 = client_udp4.finish();

    // Every request answered, by a real server (the director's own service by the director).
    for (what, answers, n) in [
        ("tcp4", &tcp4, 30),
        ("tcp6", &tcp6, 9),
        ("udp4", &udp4, 30),
        ("udp6", &udp6, 9),
    ] {
        assert_eq!(answers.len(), n, "{what}: {answers:?}");
        assert!(
            answers.iter().all(|a| a.starts_with("rs")),
            "{what}: {answers:?}"
        );
    }
    assert_eq!(own, ["director", "director", "director"]);
    // Direct routing: no reply from the VIP ever reached the director. The capture does see
    // the director's own replies (port 2222), so it was working.
    assert!(
        crossed.iter().any(|(_, p)| *p == 2222),
        "the director capture saw nothing at all"
    );
    let via_director = crossed.iter().filter(|(_, p)| *p == 8130).count();
    assert_eq!(via_director, 0, "replies crossed the director");

    // wlc spreads connections as the model predicts: list order is 243, 242, 241.
    let predicted = wlc_prediction(3, 30);
    let count = |rs: &str, v: &[String]| v.iter().filter(|a| a.as_str() == rs).count() as u64;
    assert_eq!(
        [
            count("rs3", &tcp4),
            count("rs2", &tcp4),
            count("rs1", &tcp4)
        ]
        .to_vec(),
        predicted,
        "TCP connections per real server (rs3, rs2, rs1)"
    );

    // rvsadm agrees with what the client sent.
    let stats = lab.adm("-L -n --stats --exact -t 10.0.0.240:8130");
    let svc = stats_line(&stats, "TCP  10.0.0.240:8130");
    assert_eq!(svc[0], 30, "Conns\n{stats}");
    assert_eq!(svc[1], sent_tcp4.len() as u64, "InPkts\n{stats}");
    assert_eq!(
        svc[3],
        sent_tcp4.iter().map(|l| u64::from(l.0)).sum::<u64>(),
        "InBytes\n{stats}"
    );
    assert_eq!((svc[2], svc[4]), (0, 0), "OutPkts/OutBytes stay 0 in DR");
    for (n, want) in [(3, predicted[0]), (2, predicted[1]), (1, predicted[2])] {
        let d = stats_line(&stats, &format!("-> 10.0.0.24{n}:8130"));
        assert_eq!(d[0], want, "Conns of rs{n}\n{stats}");
    }
    let ustats = lab.adm("-L -n --stats --exact -u 10.0.0.240:8130");
    let u = stats_line(&ustats, "UDP  10.0.0.240:8130");
    assert_eq!(
        (u[0], u[1]),
        (30, sent_udp4.len() as u64),
        "UDP Conns/InPkts\n{ustats}"
    );
    assert_eq!(u[3], sent_udp4.iter().map(|l| u64::from(l.0)).sum::<u64>());

    // Finished DR connections wait in FIN_WAIT: inactive. UDP flows are always inactive.
    let plain = lab.adm("-Ln");
    let mut inact = 0;
    for line in plain.lines().filter(|l| l.starts_with("  -> 10.0.0.24")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[4], "0", "ActiveConn\n{plain}");
        inact += f[5].parse::<u64>().unwrap();
    }
    assert_eq!(inact, 60, "InActConn over the IPv4 services\n{plain}");
    let conns = lab.adm("-Lnc");
    let tcp_entries: Vec<&str> = conns
        .lines()
        .filter(|l| l.starts_with("TCP") && l.contains("10.0.0.240:8130"))
        .collect();
    assert_eq!(tcp_entries.len(), 30, "{conns}");
    assert!(
        tcp_entries.iter().all(|l| l.contains("FIN_WAIT")),
        "{conns}"
    );
    assert_eq!(
        conns.lines().filter(|l| l.starts_with("UDP")).count(),
        39,
        "{conns}"
    );
    // The director's own traffic is in no service's counters.
    let total: u64 = [
        "-t 10.0.0.240:8130",
        "-u 10.0.0.240:8130",
        "-t [fd00::240]:8130",
        "-u [fd00::240]:8130",
    ]
    .iter()
    .map(|svc| {
        let l = lab.adm(&format!("-L -n --stats --exact {svc}"));
        stats_line(
            &l,
            if svc.contains("::") {
                "[fd00::240]"
            } else {
                "10.0.0.240"
            },
        )[1]
    })
    .sum();
    assert_eq!(total, lab.status()["total"]["inpkts"].as_u64().unwrap());

    // The 2-second estimator turns the burst into rates within a tick or two.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rate = lab.adm("-L -n --rate -t 10.0.0.240:8130");
        let r = stats_line(&rate, "TCP  10.0.0.240:8130");
        if r[0] > 0 && r[1] > 0 && r[3] > 0 {
            assert_eq!((r[2], r[4]), (0, 0), "no output rates in DR\n{rate}");
            break;
        }
        assert!(Instant::now() < deadline, "rates stayed zero\n{rate}");
        std::thread::sleep(Duration::from_millis(250));
    }
    // -Z zeroes what listings show; the packet path keeps counting from there.
    lab.adm("-Z -t 10.0.0.240:8130");
    let z = stats_line(
        &lab.adm("-L -n --stats -t 10.0.0.240:8130"),
        "TCP  10.0.0.240:8130",
    );
    assert_eq!(z, [0, 0, 0, 0, 0]);
    let again = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
    assert_eq!(again.iter().filter(|l| l.starts_with("rs")).count(), 3);
    let z = stats_line(
        &lab.adm("-L -n --stats -t 10.0.0.240:8130"),
        "TCP  10.0.0.240:8130",
    );
    assert_eq!(z[0], 3, "counting goes on after -Z");
}
