// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: rvsd following a keepalived.conf in the lab. A real server whose service stops
//! is taken out by its checker (HTTP_GET, TCP_CHECK, MISC_CHECK) within
//! `delay_loop × (retry + 1) + 1 s` and comes back when its service does; with every real
//! server down the sorry server serves; a reload under load changes weights, adds and removes
//! dests, and every connection to a kept dest lives on.

use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use rvs_netns::lab::{Lab, wait_ready};

const VIP: &str = "10.0.0.240:8130";

/// One lab at a time: these tests measure detection times, which five labs sharing two
/// cores would stretch.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lab() -> Option<(Lab, std::sync::MutexGuard<'static, ()>)> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 2).map(|l| (l, guard))
}

/// Starts rvsd following `text` (written to the lab's keepalived.conf).
fn start(lab: &mut Lab, text: &str) -> PathBuf {
    let path = lab.tmp.join("keepalived.conf");
    std::fs::write(&path, text).unwrap();
    lab.daemon.extra_args = vec!["--config".into(), path.to_string_lossy().into_owned()];
    lab.start_rvsd(None);
    path
}

/// The dests of the TCP service on the VIP, as (address:port, weight).
fn dests(lab: &Lab) -> Vec<(String, u32)> {
    lab.adm("-Ln -t 10.0.0.240:8130")
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"->") && w.get(3).is_some_and(|x| x.parse::<u32>().is_ok()))
                .then(|| (w[1].to_string(), w[3].parse().unwrap()))
        })
        .collect()
}

fn has(lab: &Lab, dest: &str) -> bool {
    dests(lab).iter().any(|(d, _)| d == dest)
}

/// Polls until `cond` holds (at most 30 s); how long it took.
fn until(what: &str, lab: &Lab, mut cond: impl FnMut(&Lab) -> bool) -> Duration {
    let t0 = Instant::now();
    while !cond(lab) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what}: not after 30 s; -Ln: {:?}\nstatus: {}\nlog: {}",
            dests(lab),
            lab.status()["health"],
            lab.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// `n` requests from client 0; each must be answered. The answering servers' names.
fn requests(lab: &Lab, n: usize) -> Vec<String> {
    let a = lab.probe(0, &["tcp-clients", VIP, &n.to_string()]);
    assert_eq!(a.len(), n);
    assert!(
        a.iter().all(|x| x.starts_with("rs")),
        "{a:?}\n-Ln: {:?}\npacket path: {}\nlog: {}",
        dests(lab),
        lab.status()["packet_counters"],
        lab.log()
    );
    a
}

/// A file with three real servers checked by `check` (`RS` stands for each one's address),
/// whose notify scripts append `up|down ADDRESS` to `notes`.
fn config(check: &str, notes: &std::path::Path) -> String {
    let mut c = String::from(
        "! rvs health test\nvirtual_server 10.0.0.240 8130 {\n    delay_loop 2\n    lvs_sched rr\n    lvs_method DR\n    protocol TCP\n",
    );
    for n in 1..=3 {
        let check = check.replace("RS", &format!("10.0.0.24{n}"));
        let notify = |what: &str| {
            format!(
                "        notify_{what} \"/bin/sh -c 'echo {what} 10.0.0.24{n} >> {}'\"\n",
                notes.display()
            )
        };
        c.push_str(&format!(
            "    real_server 10.0.0.24{n} 8130 {{\n        weight 1\n{}{}{check}    }}\n",
            notify("up"),
            notify("down")
        ));
    }
    c.push_str("}\n");
    c
}

/// Stop rs2's service, see it leave in time and come back, with every request answered.
fn down_and_up(check: &str, kind: &str) {
    let Some((mut lab, _one)) = lab() else { return };
    // Scripts run as nobody: a directory it may write to.
    let dir = lab.tmp.join("notes");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let notes = dir.join("notify.log");
    let noted = |lab: &Lab, line: &str| {
        until(&format!("notify script: {line}"), lab, |_| {
            std::fs::read_to_string(&notes).is_ok_and(|t| t.lines().any(|l| l == line))
        });
    };
    let path = start(&mut lab, &config(check, &notes));
    // Applied before rvsd answers: a user's first look shows the file's servers.
    assert_eq!(dests(&lab).len(), 3, "{}", lab.log());
    let a = requests(&lab, 30);
    for n in ["rs1", "rs2", "rs3"] {
        assert!(a.iter().any(|x| x == n), "{n} not used: {a:?}");
    }
    let st = lab.status();
    let h = st["health"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert!(
        h.iter()
            .all(|r| r["up"] == true && r["checkers"][0]["kind"] == kind),
        "{st}"
    );

    // delay_loop 2, retry 1: out within 2 × (1 + 1) + 1 s.
    lab.stop_tcp_server(1);
    let took = until("rs2 taken out", &lab, |l| !has(l, "10.0.0.242:8130"));
    eprintln!("{kind}: rs2 taken out after {took:?}");
    assert!(took <= Duration::from_secs(5), "{kind}: took {took:?}");
    let a = requests(&lab, 100);
    assert!(!a.iter().any(|x| x == "rs2"), "{a:?}");
    let st = lab.status();
    let rs2 = st["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["addr"] == "10.0.0.242")
        .unwrap()
        .clone();
    assert_eq!(rs2["up"], false, "{rs2}");
    assert!(rs2["checkers"][0]["last_error"].is_string(), "{rs2}");
    let text = String::from_utf8(lab.rvs(&["status"]).stdout).unwrap();
    assert!(
        text.contains("10.0.0.242:8130 of TCP 10.0.0.240:8130: DOWN"),
        "{text}"
    );
    noted(&lab, "down 10.0.0.242");

    // A reload that changes the checkers' settings keeps what they found.
    let changed = config(check, &notes).replace("delay_before_retry 1", "delay_before_retry 2");
    assert_ne!(changed, config(check, &notes));
    std::fs::write(&path, changed).unwrap();
    let out = lab.rvs(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("restart checker"), "{text}");
    assert!(
        !has(&lab, "10.0.0.242:8130"),
        "rs2 came back on a reload: {text}"
    );
    assert_eq!(dests(&lab).len(), 2);

    lab.start_tcp_server(1);
    let took = until("rs2 back", &lab, |l| has(l, "10.0.0.242:8130"));
    eprintln!("{kind}: rs2 back after {took:?}");
    let a = requests(&lab, 99);
    assert!(a.iter().any(|x| x == "rs2"), "{a:?}");
    noted(&lab, "up 10.0.0.242");
    let log = std::fs::read_to_string(&notes).unwrap();
    assert_eq!(log.lines().count(), 2, "only rs2 changed: {log}");
}

#[test]
fn root_http_get_takes_a_dead_server_out_and_back() {
    down_and_up(
        "        HTTP_GET {\n            url {\n                path /health\n                status_code 200\n            }\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n",
        "HTTP_GET",
    );
}

#[test]
fn root_tcp_check_takes_a_dead_server_out_and_back() {
    down_and_up(
        "        TCP_CHECK {\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n",
        "TCP_CHECK",
    );
}

#[test]
fn root_misc_check_takes_a_dead_server_out_and_back() {
    down_and_up(
        "        MISC_CHECK {\n            misc_path \"/bin/bash -c 'exec 3<>/dev/tcp/RS/8130'\"\n            misc_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n",
        "MISC_CHECK",
    );
}

#[test]
fn root_sorry_server_serves_when_all_are_down() {
    let Some((mut lab, _one)) = lab() else { return };
    let check =
        "        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n        }\n";
    let dir = lab.tmp.join("notes");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let notes = dir.join("quorum.log");
    let script = |what: &str| {
        format!(
            "    quorum_{what} \"/bin/sh -c 'echo {what} >> {}'\"\n",
            notes.display()
        )
    };
    let quorum_log = || std::fs::read_to_string(&notes).unwrap_or_default();
    start(
        &mut lab,
        &format!(
            "virtual_server 10.0.0.240 8130 {{\n    delay_loop 1\n    lvs_sched rr\n    lvs_method DR\n    quorum 1\n    omega\n{}{}    sorry_server 10.0.0.243 8130\n    real_server 10.0.0.241 8130 {{\n{check}    }}\n    real_server 10.0.0.242 8130 {{\n{check}    }}\n}}\n",
            script("up"),
            script("down")
        ),
    );
    assert_eq!(
        dests(&lab),
        [
            ("10.0.0.241:8130".to_string(), 1),
            ("10.0.0.242:8130".to_string(), 1)
        ]
    );
    assert!(requests(&lab, 20).iter().all(|x| x != "rs3"));
    lab.stop_tcp_server(0);
    lab.stop_tcp_server(1);
    until("only the sorry server", &lab, |l| {
        dests(l) == [("10.0.0.243:8130".to_string(), 1)]
    });
    assert!(requests(&lab, 20).iter().all(|x| x == "rs3"));
    assert!(lab.log().contains("quorum lost"), "{}", lab.log());
    // A restart changes nothing by itself: the checkers start as the table shows them.
    lab.stop_rvsd(libc::SIGTERM);
    lab.start_rvsd(None);
    assert_eq!(dests(&lab), [("10.0.0.243:8130".to_string(), 1)]);
    assert!(requests(&lab, 10).iter().all(|x| x == "rs3"));
    lab.start_tcp_server(0);
    until("rs1 back, the sorry server gone", &lab, |l| {
        dests(l) == [("10.0.0.241:8130".to_string(), 1)]
    });
    assert!(requests(&lab, 20).iter().all(|x| x == "rs1"));
    until("quorum_up ran", &lab, |_| quorum_log() == "down\nup\n");
    // omega: stopping rvsd runs quorum_down (waited for).
    lab.stop_rvsd(libc::SIGTERM);
    assert_eq!(quorum_log(), "down\nup\ndown\n");
}

fn finish(mut c: Child) -> Vec<String> {
    drop(c.stdin.take());
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn root_reload_under_load_keeps_connections_to_kept_dests() {
    let Some((mut lab, _one)) = lab() else { return };
    let vs = |body: &str| {
        format!(
            "global_defs {{\n    router_id rvs_test\n}}\nvrrp_instance VI_1 {{\n    state MASTER\n    virtual_router_id 51\n}}\nvirtual_server 10.0.0.240 8130 {{\n    delay_loop 1\n    lvs_sched rr\n    lvs_method DR\n{body}}}\n"
        )
    };
    let rs = |n: u32, w: u32| {
        format!(
            "    real_server 10.0.0.24{n} 8130 {{\n        weight {w}\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n"
        )
    };
    let path = start(&mut lab, &vs(&(rs(1, 1) + &rs(2, 1))));
    let probe = lab.bin("rvs-probe");
    let mut hold = lab.clients[0].spawn(&[&probe, "hold-each", VIP, "20"]);
    wait_ready(&mut hold);
    let download = lab.clients[1].spawn(&[&probe, "download", VIP, "20000000"]);
    // The dest the download went to is kept; the other is removed.
    let mut kept = String::new();
    until("the download's connection", &lab, |l| {
        let c = l.adm("-Lnc");
        match c.lines().find(|x| x.contains("10.0.0.11:")) {
            Some(line) => {
                kept = line.split_whitespace().nth(5).unwrap().to_string();
                true
            }
            None => false,
        }
    });
    let (kept_n, gone_n) = if kept == "10.0.0.241:8130" {
        (1, 2)
    } else {
        (2, 1)
    };
    let since = |lab: &Lab| {
        lab.status()["health"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["addr"] == format!("10.0.0.24{kept_n}"))
            .map(|r| r["checkers"][0]["since"].clone())
            .unwrap()
    };
    let checked_since = since(&lab);
    let kept_in = |lab: &Lab| -> u64 {
        let s = lab.adm("-Ln --stats --exact -t 10.0.0.240:8130");
        let line = s.lines().find(|l| l.contains(&kept)).unwrap().to_string();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    let counted = kept_in(&lab);

    let new = vs(&(rs(kept_n, 3) + &rs(3, 1)));
    std::fs::write(&path, &new).unwrap();
    let before = lab.adm("-Ln");
    let dry = lab.rvs(&["apply", path.to_str().unwrap(), "--dry-run"]);
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.contains("would 5 change(s)"), "{dry}");
    assert!(dry.contains("vrrp_instance"), "{dry}");
    assert_eq!(lab.adm("-Ln"), before, "a dry run changed the table");

    // A mistake: refused with its line, nothing changes.
    let mut bad = new.replace("lvs_sched rr", "lvs_sched rrr");
    std::fs::write(&path, &bad).unwrap();
    let out = lab.rvs(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("keepalived.conf:10: lvs_sched: unknown scheduler"),
        "{err}"
    );
    assert_eq!(lab.adm("-Ln"), before);
    bad.clear();

    std::fs::write(&path, &new).unwrap();
    let out = lab.rvs(&["reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("did 5 change(s)"), "{text}");
    let mut want = vec![(kept.clone(), 3), ("10.0.0.243:8130".to_string(), 1)];
    let mut got = dests(&lab);
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        since(&lab),
        checked_since,
        "the kept dest's checker was restarted"
    );
    assert!(
        kept_in(&lab) >= counted,
        "the kept dest's counters were reset"
    );
    // Again: nothing left to do.
    let out = lab.rvs(&["reload"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to change"));
    requests(&lab, 100);

    let download = finish(download);
    assert_eq!(download.last().map(String::as_str), Some("OK 20000000"));
    let held = finish(hold);
    let on_kept: Vec<&String> = held
        .iter()
        .filter(|l| l.starts_with(&format!("rs{kept_n} ")))
        .collect();
    assert!(!on_kept.is_empty(), "{held:?}");
    for l in &on_kept {
        assert!(
            l.contains(" OK "),
            "a connection to the kept dest broke: {held:?}"
        );
    }
    eprintln!(
        "connections to the removed rs{gone_n}: {:?}",
        held.iter()
            .filter(|l| l.starts_with(&format!("rs{gone_n} ")))
            .collect::<Vec<_>>()
    );
    let _ = std::io::stdout().flush();
}
