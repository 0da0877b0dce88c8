// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: `rvs top --once` in the lab shows every service and dest with weights and
//! connection counts as `rvsadm -Ln` does, within 80x24.

use rvs_netns::lab::Lab;

#[test]
fn root_top_once_shows_the_table_in_80x24() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    lab.configure_seed();
    lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "9"]);
    let out = lab.rvs(&["top", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 24, "{text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
    assert!(lines[0].starts_with("rvs top - rvsd "), "{text}");
    for svc in ["TCP 10.0.0.240:8130 wlc", "UDP [fd00::240]:8130 wlc"] {
        assert!(text.contains(svc), "{svc}:\n{text}");
    }
    // Each TCP dest row as -Ln counts it.
    let listing = lab.adm("-Ln -t 10.0.0.240:8130");
    for l in listing.lines().filter(|l| l.contains("-> 10.0.0.24")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let row = text
            .lines()
            .find(|t| t.contains(&format!("-> {}", w[1])))
            .unwrap_or_else(|| panic!("{} missing:\n{text}", w[1]));
        let r: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            (r[2], r[3], r[4], r[5]),
            ("Route", w[3], w[4], w[5]),
            "{row}"
        );
    }
}
