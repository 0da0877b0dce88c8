// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: restarts that drop nothing. In the lab, long-lived connections and a
//! multi-megabyte download run while rvsd is killed with SIGKILL, stopped with SIGTERM, and
//! replaced by another binary; while no rvsd runs, new connections are still balanced; the
//! restarted daemon shows the same configuration and connections, with counters that kept
//! growing. Then two instances side by side, and `rvs down`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use rvs_netns::is_root;
use rvs_netns::lab::{Lab, wait_ready};

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvs-xdp-pass"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn inpkts(lab: &Lab) -> u64 {
    let l = lab.adm("-L -n --stats --exact -t 10.0.0.240:8130");
    let line = l.lines().find(|l| l.starts_with("TCP")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn finish(mut c: Child) -> String {
    drop(c.stdin.take());
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

#[test]
fn root_restarts_drop_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root (namespaces, XDP, bpffs)");
        return;
    }
    let mut lab = Lab::build(&bins(), 1);
    lab.start_rvsd(None);
    lab.configure_seed();
    let upgraded = lab.tmp.join("rvsd-upgraded");
    std::fs::copy(lab.bins.join("rvsd"), &upgraded).unwrap();

    for (what, signal, binary) in [
        ("kill -9", libc::SIGKILL, None),
        ("clean restart", libc::SIGTERM, None),
        ("upgrade", libc::SIGTERM, Some(upgraded.as_path())),
    ] {
        let probe = lab.bin("rvs-probe");
        let mut hold = lab.clients[0].spawn(&[&probe, "hold", "10.0.0.240:8130", "4"]);
        wait_ready(&mut hold);
        let download = lab.clients[0].spawn(&[&probe, "download", "10.0.0.240:8130", "8000000"]);
        let config = lab.adm("-Sn");
        let listing = lab.adm("-Ln --thresholds");
        let before = inpkts(&lab);
        // Wait for the download to be under way.
        let deadline = Instant::now() + Duration::from_secs(10);
        while inpkts(&lab) < before + 50 {
            assert!(Instant::now() < deadline, "{what}: traffic did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let conns_before: Vec<String> = lab
            .adm("-Lnc")
            .lines()
            .filter(|l| l.contains("ESTABLISHED"))
            .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
            .collect();
        assert!(conns_before.len() >= 5, "{what}: {conns_before:?}");
        let counted = inpkts(&lab);

        lab.stop_rvsd(signal);
        // No rvsd at all: the pinned program still balances new connections.
        let answers = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
        assert!(
            answers.iter().all(|a| a.starts_with("rs")),
            "{what}: without rvsd: {answers:?}"
        );
        lab.start_rvsd(binary);
        assert!(
            lab.log().contains("adopted the pinned link"),
            "{what}: {}",
            lab.log()
        );

        assert_eq!(lab.adm("-Sn"), config, "{what}: configuration");
        let conns_after = lab.adm("-Lnc");
        for c in &conns_before {
            assert!(
                conns_after.contains(c.as_str()),
                "{what}: connection of {c} lost\n{conns_after}"
            );
        }
        assert!(inpkts(&lab) > counted, "{what}: counters were reset");
        let download = finish(download);
        assert_eq!(download, "OK 8000000", "{what}: download");
        let held = finish(hold);
        assert!(
            held.starts_with("OK "),
            "{what}: long-lived connections: {held}"
        );
        // Thresholds are not in -S; the listing shows they survived as well.
        let relisted = lab.adm("-Ln --thresholds");
        assert_eq!(relisted.lines().count(), listing.lines().count(), "{what}");
    }

    // A second instance, in a lab of its own, does not disturb this one; `rvs down` of the
    // second leaves nothing behind and the first keeps serving.
    let mut other = Lab::build(&bins(), 1);
    other.start_rvsd(None);
    other.configure_seed();
    let a = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
    let b = other.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
    assert!(
        a.iter().chain(&b).all(|x| x.starts_with("rs")),
        "{a:?} {b:?}"
    );
    let out = other.rvs(&["down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    other.stop_rvsd(0);
    let pins = other.tmp.join("bpffs/rvs/lab");
    assert!(
        !pins.exists(),
        "pins left behind: {:?}",
        std::fs::read_dir(&pins).map(|d| d.count())
    );
    let link = other.dir.sh(&["ip", "-d", "link", "show", "d0"]);
    assert!(!link.contains("xdp"), "program still attached:\n{link}");
    assert!(!other.socket().exists(), "socket left behind");
    let a = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
    assert!(
        a.iter().all(|x| x.starts_with("rs")),
        "first instance disturbed: {a:?}"
    );
    let _ = std::io::stdout().flush();
}
