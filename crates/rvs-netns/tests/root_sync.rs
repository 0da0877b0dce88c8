// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: two directors with IPVS connection sync, and a failover. The first director
//! (master, holding the VIP) forwards 20 long-lived connections and a running download; the
//! second (backup) receives them over the sync protocol. The master dies (`kill -9`, its
//! link down); the backup takes the VIP (address and gratuitous ARP, as VRRP would); every
//! connection goes on without a reset and the download arrives intact. The same failover
//! without sync breaks connections: the negative control that shows the test would notice.

use std::process::Child;
use std::time::Duration;

use rvs_netns::lab::{Lab, OtherDirector, wait_ready};
use rvs_netns::{established_from, in_packets_of, wait_until};

const SERVICE: &str = "-t 10.0.0.240:8130";
/// The service's line in `--stats` listings.
const SERVICE_LINE: &str = "TCP  10.0.0.240:8130";

fn configure(adm: &dyn Fn(&str) -> String) {
    adm(&format!("-A {SERVICE} -s wlc"));
    adm("-A -t [fd00::240]:8130 -s wlc");
    for n in 1..=3 {
        adm(&format!("-a {SERVICE} -r 10.0.0.24{n}:8130 -g -w 1"));
        adm(&format!(
            "-a -t [fd00::240]:8130 -r [fd00::24{n}]:8130 -g -w 1"
        ));
    }
}

/// The master dies; `backup` takes the VIP as VRRP would.
fn fail_over(lab: &mut Lab, backup: &OtherDirector) {
    lab.stop_rvsd(libc::SIGKILL);
    lab.dir.sh(&["ip", "link", "set", "d0", "down"]);
    backup
        .ns
        .sh(&["ip", "addr", "add", "10.0.0.240/32", "dev", "d0"]);
    let out = backup
        .ns
        .sh(&[&lab.bin("rvs-probe"), "garp", "d0", "10.0.0.240"]);
    assert_eq!(out.trim(), "sent");
}

/// Ends a `hold-each` and returns its per-connection lines.
fn finish(mut hold: Child) -> Vec<String> {
    drop(hold.stdin.take());
    let out = hold.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn root_sync_failover_keeps_connections() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    let backup = lab.add_director(2);
    configure(&|a| lab.adm(a));
    configure(&|a| backup.daemon.adm(a));
    lab.adm("--start-daemon master --mcast-interface d0 --syncid 7");
    backup
        .daemon
        .adm("--start-daemon backup --mcast-interface d0 --syncid 7");
    // Both roles show in the daemon listing, as ipvsadm prints them.
    assert!(
        backup
            .daemon
            .adm("-L --daemon")
            .contains("backup sync daemon (mcast=d0, syncid=7,"),
        "{}",
        backup.daemon.adm("-L --daemon")
    );

    let probe = lab.bin("rvs-probe");
    // Messages the backup must not use, sent to the group from the client: another syncid,
    // one cut short, one too short for a header; and one of its syncid about a service it
    // does not have (the spec's test vector).
    let golden = "0001002c01010000000600240000008300019c40005000500000000000000384\
                  0a0000010a0000640a00000b";
    let with_syncid = |id: &str| format!("00{id}{}", &golden[4..]);
    for hex in [
        with_syncid("09"),
        with_syncid("07")[..with_syncid("07").len() - 8].to_string(),
        "ffff".to_string(),
        with_syncid("07"),
    ] {
        let out = lab.clients[0].sh(&[&probe, "mcast-send", "c0", "224.0.0.81:8848", &hex]);
        assert_eq!(out.trim(), "sent");
    }
    let sync_counts = || -> serde_json::Value { backup.daemon.status()["sync"].clone() };
    wait_until(
        "the backup to count the bad messages",
        Duration::from_secs(10),
        || {
            let s = sync_counts();
            s["other_syncid"] == 1 && s["dropped_messages"] == 2 && s["received_messages"] == 1
        },
    );
    assert_eq!(sync_counts()["ignored"], 1, "{}", sync_counts());
    assert_eq!(sync_counts()["created"], 0, "{}", sync_counts());
    assert!(!backup.daemon.adm("-L -n -c").contains("10.0.0.1:40000"));

    // IPv6 connections are synced too (the VIP stays with the master here: no takeover).
    let hold6 = lab.clients[0].spawn(&[&probe, "hold-each", "[fd00::240]:8130", "3"]);
    wait_until(
        "the backup to list the IPv6 connections",
        Duration::from_secs(15),
        || {
            backup
                .daemon
                .adm("-L -n -c")
                .lines()
                .filter(|l| l.contains("ESTABLISHED") && l.contains("[fd00::10]:"))
                .count()
                == 3
        },
    );
    let lines = finish(hold6);
    assert!(
        lines.len() == 4 && lines[1..].iter().all(|l| l.contains(" OK ")),
        "{lines:?}"
    );

    let mut hold = lab.clients[0].spawn(&[&probe, "hold-each", "10.0.0.240:8130", "20"]);
    wait_ready(&mut hold);
    let download = lab.clients[0].spawn(&[&probe, "download-slow", "10.0.0.240:8130", "3000000"]);
    // The backup learns all 21 (each at its third packet; sent within 2 s).
    wait_until(
        "the backup to list 21 connections",
        Duration::from_secs(15),
        || established_from(&backup.daemon.adm("-L -n -c"), "10.0.0.10") >= 21,
    );
    let listed = backup.daemon.adm("-Ln");
    let active: u64 = listed
        .lines()
        .filter(|l| l.trim_start().starts_with("->") && !l.contains("Forward"))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        active, 21,
        "the backup counts them in ActiveConn:\n{listed}"
    );

    fail_over(&mut lab, &backup);
    // Traffic now goes through the backup: its counters grow by many rounds of 20.
    let before = in_packets_of(&backup.daemon.adm("-L -n --stats"), SERVICE_LINE);
    wait_until(
        "traffic through the backup",
        Duration::from_secs(15),
        || in_packets_of(&backup.daemon.adm("-L -n --stats"), SERVICE_LINE) > before + 200,
    );
    assert!(established_from(&backup.daemon.adm("-L -n -c"), "10.0.0.10") >= 20);
    let lines = finish(hold);
    assert_eq!(lines.len(), 20, "{lines:?}");
    for l in &lines {
        assert!(l.contains(" OK "), "a connection broke: {l}\n{lines:?}");
    }
    let out = download.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK 3000000",
        "the download"
    );
    // The new active director sends too, and goes on receiving: both roles at once.
    backup
        .daemon
        .adm("--start-daemon master --mcast-interface d0 --syncid 7");
    let daemons = backup.daemon.adm("-L --daemon");
    assert!(
        daemons.contains("master sync daemon (mcast=d0, syncid=7,")
            && daemons.contains("backup sync daemon (mcast=d0, syncid=7,"),
        "{daemons}"
    );
    assert!(sync_counts()["created"].as_u64().unwrap() >= 21);
}

#[test]
fn root_failover_without_sync_breaks_connections() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    let backup = lab.add_director(2);
    configure(&|a| lab.adm(a));
    configure(&|a| backup.daemon.adm(a));
    let probe = lab.bin("rvs-probe");
    let mut hold = lab.clients[0].spawn(&[&probe, "hold-each", "10.0.0.240:8130", "5"]);
    wait_ready(&mut hold);
    fail_over(&mut lab, &backup);
    // The backup knows none of them: their next segments reach its stack, which resets them
    // (the client's sockets leave ESTABLISHED).
    let client = &lab.clients[0];
    wait_until("the connections to break", Duration::from_secs(15), || {
        let out = client.sh(&["ss", "-Htn", "state", "established", "dst", "10.0.0.240"]);
        out.lines().count() < 5
    });
    let lines = finish(hold);
    assert!(
        lines.iter().any(|l| l.contains(" FAIL ")),
        "without sync some connection must break: {lines:?}"
    );
}
