// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: `rvsd --metrics` in the lab, scraped during and after traffic and read by an
//! independent parser (Debian's python3-prometheus-client, its OpenMetrics parser): every
//! service's and dest's counters equal `rvsadm -L -n --stats --exact` (and lie between two
//! such listings while traffic flows), connection counts equal `-Ln`'s.

use std::collections::HashMap;

use rvs_netns::lab::Lab;

const SCRAPE: &str = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
out = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// Samples by (name, sorted labels).
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

fn scrape(lab: &Lab) -> Samples {
    let script = lab.tmp.join("scrape.py");
    std::fs::write(&script, SCRAPE).unwrap();
    let out = lab.dir.run(&[
        "/usr/bin/python3",
        script.to_str().unwrap(),
        "http://127.0.0.1:9477/metrics",
    ]);
    assert!(
        out.status.success(),
        "scrape failed (is python3-prometheus-client installed? ./x setup does it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            (
                (s["name"].as_str().unwrap().to_string(), labels),
                s["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn get(m: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    m.get(&(name.to_string(), l)).map(|v| *v as u64)
}

/// `--stats --exact` rows: (service, dest or "") → [conns, inpkts, outpkts, inbytes, outbytes].
fn stats(lab: &Lab) -> HashMap<(String, String), [u64; 5]> {
    let mut out = HashMap::new();
    let mut service = String::new();
    for line in lab.adm("-L -n --stats --exact").lines().skip(3) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let nums =
            |from: usize| -> [u64; 5] { std::array::from_fn(|i| w[from + i].parse().unwrap()) };
        if w[0] == "->" {
            out.insert((service.clone(), w[1].to_string()), nums(2));
        } else {
            service = format!("{} {}", w[0], w[1]);
            out.insert((service.clone(), String::new()), nums(2));
        }
    }
    out
}

/// The metrics' five counters of a row.
fn metric_row(m: &Samples, service: &str, dest: &str) -> [u64; 5] {
    let mut base = vec![("service", service)];
    if !dest.is_empty() {
        base.push(("dest", dest));
    }
    let with = |dir: &'static str| {
        let mut v = base.clone();
        v.push(("direction", dir));
        v
    };
    let g = |name: &str, l: &[(&str, &str)]| {
        get(m, name, l).unwrap_or_else(|| panic!("no {name} {l:?}"))
    };
    [
        g("rvs_connections_total", &base),
        g("rvs_packets_total", &with("in")),
        g("rvs_packets_total", &with("out")),
        g("rvs_bytes_total", &with("in")),
        g("rvs_bytes_total", &with("out")),
    ]
}

#[test]
fn root_metrics_equal_rvsadm_stats() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 2) else {
        return;
    };
    lab.daemon.extra_args = vec!["--metrics".into(), "127.0.0.1:9477".into()];
    lab.start_rvsd(None);
    lab.configure_seed();
    for (what, n) in [("tcp-clients", "30"), ("udp-clients", "20")] {
        lab.probe(0, &[what, "10.0.0.240:8130", n]);
        lab.probe(0, &[what, "[fd00::240]:8130", "10"]);
    }

    // While a download runs: each counter lies between two listings.
    let probe = lab.bin("rvs-probe");
    let download = lab.clients[1].spawn(&[&probe, "download", "10.0.0.240:8130", "4000000"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = stats(&lab);
    let during = scrape(&lab);
    let after = stats(&lab);
    for (key, b) in &before {
        let m = metric_row(&during, &key.0, &key.1);
        let a = after[key];
        for i in 0..5 {
            assert!(
                b[i] <= m[i] && m[i] <= a[i],
                "{key:?} field {i}: {b:?} {m:?} {a:?}"
            );
        }
    }
    let out = download.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK 4000000"));

    // Traffic over: equal, row by row.
    let listed = stats(&lab);
    let m = scrape(&lab);
    assert!(listed.len() >= 16, "{listed:?}");
    for (key, row) in &listed {
        assert_eq!(&metric_row(&m, &key.0, &key.1), row, "{key:?}");
    }
    let tcp = &listed[&("TCP 10.0.0.240:8130".to_string(), String::new())];
    // DR: only client-to-server traffic crosses the director (the download's ACKs too).
    assert!(tcp[0] >= 31 && tcp[1] > 100, "{tcp:?}");
    // Connection counts as -Ln shows them.
    let mut service = String::new();
    let mut dests = 0;
    for line in lab.adm("-Ln").lines().skip(3) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w[0] != "->" {
            service = format!("{} {}", w[0], w[1]);
            continue;
        }
        let l = [("service", service.as_str()), ("dest", w[1])];
        assert_eq!(
            get(&m, "rvs_dest_weight", &l),
            Some(w[3].parse().unwrap()),
            "{line}"
        );
        assert_eq!(
            get(&m, "rvs_dest_active_connections", &l),
            Some(w[4].parse().unwrap()),
            "{line}"
        );
        assert_eq!(
            get(&m, "rvs_dest_inactive_connections", &l),
            Some(w[5].parse().unwrap()),
            "{line}"
        );
        dests += 1;
    }
    assert_eq!(dests, 12);
    assert_eq!(get(&m, "rvs_connection_table_capacity", &[]), Some(65536));
    assert!(
        get(
            &m,
            "rvs_packet_path_events_total",
            &[("reason", "table_full")]
        )
        .is_some()
    );
    assert!(get(&m, "rvs_sweeps_total", &[]).is_some());
}
