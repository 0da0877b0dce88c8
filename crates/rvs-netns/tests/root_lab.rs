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
