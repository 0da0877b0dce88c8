// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: a SYN flood and a flood of single datagrams, from spoofed sources, against a
//! director whose connection table holds 4,096 entries. Idle established connections, a
//! running download and a UDP flow that has sent a few datagrams all survive; clients that
//! connect during and after the flood are served; and ActiveConn/InActConn in `-Ln` equal
//! the entries `-Lnc` lists for each dest.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};

use rvs_netns::lab::{Lab, wait_ready};

const TABLE: u32 = 4096;

/// `-L -n --stats` Conns of the service.
fn service_conns(lab: &Lab, svc: &str) -> u64 {
    let out = lab.adm(&format!("-L -n --stats --exact {svc}"));
    let line = out
        .lines()
        .find(|l| l.starts_with("TCP  ") || l.starts_with("UDP  "))
        .unwrap_or_else(|| panic!("{out}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// (active, inactive) by "PROTO dest".
type ByDest = HashMap<String, (u64, u64)>;

/// Per dest of `-Ln`: (ActiveConn, InActConn); and per dest of `-Lnc`: (active-state
/// entries, other entries).
fn counts(lab: &Lab) -> (ByDest, ByDest) {
    let mut shown = HashMap::new();
    let mut svc = String::new();
    for l in lab.adm("-Ln").lines() {
        if l.starts_with("TCP  ") || l.starts_with("UDP  ") {
            svc = l[..3].to_string();
        } else if let Some(d) = l.strip_prefix("  -> ")
            && !d.starts_with("RemoteAddress")
        {
            let f: Vec<&str> = d.split_whitespace().collect();
            shown.insert(
                format!("{svc} {}", f[0]),
                (f[3].parse().unwrap(), f[4].parse().unwrap()),
            );
        }
    }
    let mut listed = ByDest::new();
    for l in lab.adm("-Lnc").lines().skip(2) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let e = listed.entry(format!("{} {}", f[0], f[5])).or_default();
        if matches!(f[2], "ESTABLISHED" | "SYN_RECV" | "SYN_SENT" | "SYNACK") {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for k in shown.keys() {
        listed.entry(k.clone()).or_default();
    }
    (shown, listed)
}

#[test]
fn root_flood_keeps_established_connections() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 2) else {
        return;
    };
    lab.start_rvsd_sized(None, TABLE);
    for proto in ["-t", "-u"] {
        lab.adm(&format!("-A {proto} 10.0.0.240:8130 -s wlc"));
        for rs in ["10.0.0.241", "10.0.0.242", "10.0.0.243"] {
            lab.adm(&format!("-a {proto} 10.0.0.240:8130 -r {rs}:8130 -g"));
        }
    }
    let probe = lab.bin("rvs-probe");
    // 40 idle connections, a download, a UDP flow of three datagrams.
    let mut idle = lab.clients[0].spawn(&[&probe, "idle", "10.0.0.240:8130", "40"]);
    wait_ready(&mut idle);
    let mut session = lab.clients[0].spawn(&[&probe, "udp-session", "10.0.0.240:8130", "3"]);
    let mut ready = String::new();
    BufReader::new(session.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let f: Vec<&str> = ready.split_whitespace().collect();
    assert_eq!(f[0], "ready", "{ready}");
    let (udp_port, udp_rs) = (f[1].to_string(), f[2].to_string());
    assert!(udp_rs.starts_with("rs"), "{ready}");
    let download = lab.clients[0].spawn(&[&probe, "download", "10.0.0.240:8130", "8000000"]);

    // The flood from the second client: 25x the table in SYNs, 5x in datagrams, while the
    // first client keeps connecting.
    let tcp_before = service_conns(&lab, "-t 10.0.0.240:8130");
    let syns = (25 * TABLE).to_string();
    let dgrams = (5 * TABLE).to_string();
    let flooder = lab.clients[1].spawn(&[&probe, "syn-flood", "10.0.0.240:8130", &syns]);
    let during = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "20"]);
    let out = flooder.wait_with_output().unwrap();
    let sent = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sent.trim(), format!("sent {syns}"));
    let out = lab.clients[1].sh(&[&probe, "udp-flood", "10.0.0.240:8130", &dgrams]);
    assert_eq!(out.trim(), format!("sent {dgrams}"));
    let served = during.iter().filter(|l| l.starts_with("rs")).count();
    eprintln!("clients served while the SYN flood ran: {served} of 20");
    let tcp_after = service_conns(&lab, "-t 10.0.0.240:8130");
    assert!(
        tcp_after - tcp_before >= u64::from(5 * TABLE),
        "the director scheduled {} new connections: the flood did not reach it",
        tcp_after - tcp_before
    );

    // Everything that was established is still there.
    idle.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let out = idle.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK 40",
        "idle connections"
    );
    let out = download.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK 8000000",
        "download"
    );
    let listed = lab.adm("-Lnc");
    assert!(
        listed.contains(&format!("10.0.0.10:{udp_port} ")),
        "the UDP flow's entry (port {udp_port}) is gone: {}",
        listed
            .lines()
            .filter(|l| l.contains("10.0.0.10:") || l.starts_with("UDP"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    session.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let out = session.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        udp_rs,
        "UDP flow"
    );

    // New clients are served after the flood.
    let after = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "20"]);
    assert_eq!(
        after.iter().filter(|l| l.starts_with("rs")).count(),
        20,
        "{after:?}"
    );
    let udp = lab.probe(0, &["udp-clients", "10.0.0.240:8130", "5"]);
    assert_eq!(udp.iter().filter(|l| l.starts_with("rs")).count(), 5);

    // Counts are exact: -Ln's equal -Lnc's entries, dest by dest; the table is full and
    // rvs status shows the evictions.
    // (An entry whose timeout passed between the two listings is gone from -Lnc before the
    // once-a-second sweep gives its count back: look again for a moment.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (shown, listed) = loop {
        let (shown, listed) = counts(&lab);
        if shown == listed || std::time::Instant::now() > deadline {
            break (shown, listed);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(shown, listed, "ActiveConn/InActConn against -Lnc");
    let entries: u64 = listed.values().map(|(a, i)| a + i).sum();
    assert_eq!(entries, u64::from(TABLE), "the flood filled the table");
    let st = lab.status();
    let evicted = st["packet_counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == "embryonic entries evicted for new ones")
        .map(|c| c[1].as_u64().unwrap())
        .unwrap_or(0);
    assert!(evicted >= u64::from(20 * TABLE), "{st}");
}

/// `-Lnc` of more entries than rvsd sends in one part (65,536): every entry is listed once,
/// as many as `-Ln` counts.
#[test]
fn root_listing_larger_than_a_part_is_whole() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd_sized(None, 262_144);
    lab.adm("-A -u 10.0.0.240:8130 -s rr");
    for rs in ["10.0.0.241", "10.0.0.242", "10.0.0.243"] {
        lab.adm(&format!("-a -u 10.0.0.240:8130 -r {rs}:8130 -g"));
    }
    let probe = lab.bin("rvs-probe");
    let out = lab.clients[0].sh(&[&probe, "udp-flood", "10.0.0.240:8130", "160000"]);
    assert_eq!(out.trim(), "sent 160000");
    let (shown, listed) = counts(&lab);
    assert_eq!(shown, listed, "ActiveConn/InActConn against -Lnc");
    let total: u64 = listed.values().map(|(a, i)| a + i).sum();
    assert!(
        total > 2 * 65_536,
        "only {total} entries: the flood made too few"
    );
    let text = lab.adm("-Lnc");
    // Client, virtual and real server of each entry, once.
    let mut entries: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().skip(3).collect())
        .collect();
    entries.sort_unstable();
    let n = entries.len();
    entries.dedup();
    assert_eq!(entries.len(), n, "an entry listed twice");
}
