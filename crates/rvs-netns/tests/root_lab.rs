// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the README's main job, `rvs-lab`, runs to the end, shows the three seed views
//! with non-zero counters, and leaves no namespace or mount behind.

#[test]
fn root_lab_main_job() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let before = rvs_netns::sh(&["ip", "netns", "list"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvs-lab"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for view in [
        "$ rvsadm -Ln",
        "$ rvsadm -L -n --stats -t 10.0.0.240:8130",
        "$ rvsadm -L -n --connection",
    ] {
        assert!(stdout.contains(view), "missing {view}\n{stdout}");
    }
    let stats = stdout
        .lines()
        .find(|l| l.starts_with("TCP  10.0.0.240:8130   "))
        .expect("stats line");
    let conns: u64 = stats.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(conns, 60, "{stats}");
    // Every service of the seed, TCP and UDP over IPv4 and IPv6, had traffic: its dests
    // hold connections in `-Ln`.
    let ln = stdout
        .split("$ rvsadm -Ln\n")
        .nth(1)
        .and_then(|s| s.split("\n$ ").next())
        .expect("-Ln view");
    let mut totals: Vec<(String, u64)> = Vec::new();
    for l in ln.lines() {
        if l.starts_with("TCP  ") || l.starts_with("UDP  ") {
            totals.push((
                l.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
                0,
            ));
        } else if let Some(d) = l.strip_prefix("  -> ")
            && !d.starts_with("RemoteAddress")
            && let Some(t) = totals.last_mut()
        {
            let f: Vec<&str> = d.split_whitespace().collect();
            t.1 += f[3].parse::<u64>().unwrap() + f[4].parse::<u64>().unwrap();
        }
    }
    let names: Vec<&str> = totals.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "TCP 10.0.0.240:8130",
            "UDP 10.0.0.240:8130",
            "TCP [fd00::240]:8130",
            "UDP [fd00::240]:8130"
        ],
        "{ln}"
    );
    for (name, n) in &totals {
        assert!(*n > 0, "{name} shows no connections:\n{ln}");
    }
    assert!(
        stdout.contains("FIN_WAIT    10.0.0.1"),
        "connection entries\n{stdout}"
    );
    assert_eq!(
        rvs_netns::sh(&["ip", "netns", "list"]),
        before,
        "namespaces left behind"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains("rvs-lab-"), "bpffs left mounted");
}
