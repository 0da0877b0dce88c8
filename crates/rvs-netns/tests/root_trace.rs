// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: `rvs trace` in the lab. Every trace is followed by the real packet from the
//! same client address and port, which must go where the trace said; and every pinned map
//! (connection table, counters, dest counts, scheduler state) is byte for byte the same
//! before and after each trace. rr is the sharpest check: a trace that moved its cursor would
//! send the next real connection elsewhere.

use rvs_dataplane::pinned::{PinnedMaps, RawDump};
use rvs_netns::lab::Lab;

fn trace(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["trace"];
    a.extend_from_slice(args);
    a.push("--json");
    let out = lab.rvs(&a);
    assert!(
        out.status.success(),
        "rvs {a:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The maps once they have stopped changing (the last packets of a closed connection may
/// still be on their way when its client exits).
fn settled(maps: &PinnedMaps) -> RawDump {
    let mut last = maps.raw_dump().unwrap();
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        let now = maps.raw_dump().unwrap();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the maps never stopped changing");
}

/// Traces with `args` and checks that no map changed: the trace's answer. The director's
/// own stack exchanges a packet now and then (ARP, neighbour discovery: counted as "not for a
/// service"), so a window in which a map moved is tried again, up to five times; a trace that
/// wrote to a live map would move it every time.
fn trace_changing_nothing(lab: &Lab, maps: &PinnedMaps, args: &[&str]) -> serde_json::Value {
    let mut moved = Vec::new();
    for _ in 0..5 {
        let before = settled(maps);
        let t = trace(lab, args);
        let after = maps.raw_dump().unwrap();
        moved = before
            .iter()
            .filter(|(name, entries)| after[*name] != **entries)
            .map(|(name, _)| *name)
            .collect();
        if moved.is_empty() {
            return t;
        }
    }
    panic!("rvs trace {args:?} changed {moved:?} in five tries out of five");
}

/// The real server's name (as its probe server answers) for a dest `10.0.0.24N:PORT`.
fn server_of(dest: &str) -> String {
    let host = dest.rsplit_once(':').unwrap().0;
    let n = host.trim_end_matches(']').chars().last().unwrap();
    format!("rs{n}")
}

#[test]
fn root_trace_agrees_with_the_next_packet_and_changes_nothing() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    let maps = PinnedMaps::new(&lab.daemon.bpffs().join("rvs").join("lab"));
    lab.adm("-A -t 10.0.0.240:8130 -s rr");
    lab.adm("-A -u 10.0.0.240:8130 -s sh -b sh-port");
    lab.adm("-A -t [fd00::240]:8130 -s wlc");
    for n in 1..=3 {
        lab.adm(&format!(
            "-a -t 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -g -w 1"
        ));
        lab.adm(&format!(
            "-a -u 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -g -w 1"
        ));
        lab.adm(&format!(
            "-a -t [fd00::240]:8130 -r [fd00::24{n}]:8130 -g -w {n}"
        ));
    }

    // rr: six new connections, each traced first; every dest comes up twice.
    let mut seen = Vec::new();
    for i in 0..6 {
        let port = (40000 + i).to_string();
        let client = format!("10.0.0.10:{port}");
        let t = trace_changing_nothing(&lab, &maps, &["tcp", &client, "10.0.0.240:8130", "--syn"]);
        assert_eq!(t["service"], "TCP 10.0.0.240:8130 rr", "{t:#}");
        assert_eq!(t["entry"], "none: a new connection, scheduled", "{t:#}");
        assert_eq!(t["method"], "Route", "{t:#}");
        assert_eq!(t["verdict"], "XDP_TX", "{t:#}");
        assert!(
            t["rewrite"][0]
                .as_str()
                .unwrap()
                .starts_with("destination MAC"),
            "{t:#}"
        );
        assert!(
            t["why"][0].as_str().unwrap().starts_with("scheduler rr"),
            "{t:#}"
        );
        let dest = t["dest"].as_str().unwrap().to_string();
        let before = settled(&maps);
        let answer = lab.probe(0, &["tcp-from", "10.0.0.240:8130", &port]);
        assert_eq!(answer, [server_of(&dest)], "traced {t:#}");
        // The comparison sees what a real packet changes.
        let after = settled(&maps);
        for m in ["RVS_CONNS", "RVS_SCHED", "RVS_DEST_STATS"] {
            assert_ne!(
                before[m], after[m],
                "{m} did not change with a real connection"
            );
        }
        seen.push(dest);
    }
    for n in 1..=3 {
        let d = format!("10.0.0.24{n}:8130");
        assert_eq!(seen.iter().filter(|s| **s == d).count(), 2, "{seen:?}");
    }

    // A packet of a connection in the table: the entry is used, not the scheduler.
    let t = trace_changing_nothing(&lab, &maps, &["tcp", "10.0.0.10:40002", "10.0.0.240:8130"]);
    assert!(
        t["entry"].as_str().unwrap().starts_with("existing: "),
        "{t:#}"
    );
    assert_eq!(t["dest"], seen[2].as_str(), "{t:#}");
    assert_eq!(t["why"], serde_json::json!([]), "{t:#}");
    let listed = lab.adm("-L -n -c");
    let line = listed
        .lines()
        .find(|l| l.contains("10.0.0.10:40002 "))
        .unwrap_or_else(|| panic!("no entry in\n{listed}"));
    assert!(line.ends_with(&seen[2]), "{line} / {t:#}");

    // sh with sh-port: the hash bucket is shown, and the datagram goes where it said.
    for i in 0..4 {
        let port = (45000 + 7 * i).to_string();
        let client = format!("10.0.0.10:{port}");
        let t = trace_changing_nothing(&lab, &maps, &["udp", &client, "10.0.0.240:8130"]);
        assert_eq!(t["service"], "UDP 10.0.0.240:8130 sh", "{t:#}");
        let why = t["why"].to_string();
        assert!(
            why.contains(&format!("hash of the client {client}: bucket")),
            "{t:#}"
        );
        let dest = t["dest"].as_str().unwrap().to_string();
        let answer = lab.probe(0, &["udp-from", "10.0.0.240:8130", &port]);
        assert_eq!(answer, [server_of(&dest)], "traced {t:#}");
    }

    // IPv6 and wlc with weights 1, 2, 3: counts move between connections.
    for i in 0..5 {
        let port = (46000 + i).to_string();
        let client = format!("[fd00::10]:{port}");
        let t = trace_changing_nothing(&lab, &maps, &["tcp", &client, "[fd00::240]:8130", "--syn"]);
        assert_eq!(t["service"], "TCP [fd00::240]:8130 wlc", "{t:#}");
        assert!(t["why"].to_string().contains("overhead"), "{t:#}");
        let dest = t["dest"].as_str().unwrap().to_string();
        let answer = lab.probe(0, &["tcp-from", "[fd00::240]:8130", &port]);
        assert_eq!(answer, [server_of(&dest)], "traced {t:#}");
    }

    // Persistence: the first connection makes the client's template, which the trace must
    // see (it is copied with the flow) for the next ones to follow it.
    lab.adm("-E -t [fd00::240]:8130 -s wlc -p 60");
    let mut first: Option<String> = None;
    for i in 0..3 {
        let port = (47000 + i).to_string();
        let client = format!("[fd00::10]:{port}");
        let t = trace_changing_nothing(&lab, &maps, &["tcp", &client, "[fd00::240]:8130", "--syn"]);
        let dest = t["dest"].as_str().unwrap().to_string();
        let why = t["why"].to_string();
        match &first {
            None => assert!(why.contains("the client has no template"), "{t:#}"),
            Some(d) => {
                assert!(
                    why.contains(&format!("the client's template sends it to {d}")),
                    "{t:#}"
                );
                assert_eq!(&dest, d, "{t:#}");
            }
        }
        let answer = lab.probe(0, &["tcp-from", "[fd00::240]:8130", &port]);
        assert_eq!(answer, [server_of(&dest)], "traced {t:#}");
        first.get_or_insert(dest);
    }

    // Not for a service: passed to the stack, and said so.
    let t = trace_changing_nothing(
        &lab,
        &maps,
        &["tcp", "10.0.0.10:40100", "10.0.0.1:2222", "--syn"],
    );
    assert_eq!(t["service"], serde_json::Value::Null, "{t:#}");
    assert_eq!(t["verdict"], "XDP_PASS", "{t:#}");
    assert_eq!(t["reasons"][0], "not for a service (passed)", "{t:#}");

    // Bad input: a clear error, nothing traced.
    let out = lab.rvs(&["trace", "tcp", "10.0.0.10:1", "[fd00::240]:8130"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("different address families"),
        "{out:?}"
    );
    let out = lab.rvs(&[
        "trace",
        "tcp",
        "10.0.0.10:1",
        "10.0.0.240:8130",
        "--iface",
        "lo",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not attached to lo"),
        "{out:?}"
    );

    // The text form names every step.
    let out = lab.rvs(&[
        "trace",
        "tcp",
        "10.0.0.10:40200",
        "10.0.0.240:8130",
        "--syn",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    for label in [
        "packet:",
        "service:",
        "entry:",
        "why:",
        "dest:",
        "method:",
        "rewrite:",
        "verdict:",
        "counters:",
    ] {
        assert!(text.contains(label), "{label} missing in\n{text}");
    }
}
