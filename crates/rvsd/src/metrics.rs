// SPDX-License-Identifier: MIT OR Apache-2.0
//! `--metrics ADDR:PORT`: the OpenMetrics text format (which Prometheus reads) over HTTP at
//! `/metrics`, encoded by the `prometheus-client` crate from the same view as `rvs status
//! --json`, read at each scrape (so a scrape equals `rvsadm -L --stats --exact` taken at the
//! same moment).
//!
//! Names follow Prometheus's conventions: `rvs_` prefix, counters end in `_total`, base units
//! (bytes, seconds). Services are labelled as ipvsadm names them (`service="TCP
//! 10.0.0.1:80"`), dests by `dest="ADDRESS:PORT"`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rvs_ctl::{Request, Response, StatusView};

use crate::log;
use crate::state::{State, service_text};

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(addr: std::net::IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

/// The sweep's figures, kept by the housekeeping thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepStats {
    /// Sweeps done.
    pub count: u64,
    /// How long the last one took.
    pub last: Duration,
}

/// Encodes `s` (with every pass/drop reason, zeros included, in `reasons`).
pub fn render(
    s: &StatusView,
    reasons: &[u64],
    sweep: SweepStats,
    sync: &crate::sync::SyncStats,
) -> String {
    let mut r = Registry::default();
    let counter = |r: &mut Registry, name: &str, help: &str| {
        let f = Counters::default();
        r.register(name, help, f.clone());
        f
    };
    let gauge = |r: &mut Registry, name: &str, help: &str| {
        let f = Gauges::default();
        r.register(name, help, f.clone());
        f
    };
    let fgauge = |r: &mut Registry, name: &str, help: &str| {
        let f = FloatGauges::default();
        r.register(name, help, f.clone());
        f
    };
    let conns = counter(
        &mut r,
        "rvs_connections",
        "Connections scheduled (ipvsadm's Conns)",
    );
    let pkts = counter(
        &mut r,
        "rvs_packets",
        "Packets forwarded, client to server (in) and server to client (out; NAT only)",
    );
    let bytes = counter(
        &mut r,
        "rvs_bytes",
        "Bytes forwarded (IP datagrams), in and out",
    );
    let cps = gauge(
        &mut r,
        "rvs_connections_per_second",
        "Estimated connection rate (ipvsadm's CPS)",
    );
    let pps = gauge(
        &mut r,
        "rvs_packets_per_second",
        "Estimated packet rate, in and out",
    );
    let bps = gauge(
        &mut r,
        "rvs_bytes_per_second",
        "Estimated byte rate, in and out",
    );
    let active = gauge(
        &mut r,
        "rvs_dest_active_connections",
        "ActiveConn: established TCP connections of a dest",
    );
    let inactive = gauge(
        &mut r,
        "rvs_dest_inactive_connections",
        "InActConn: other connections of a dest",
    );
    let persistent = gauge(
        &mut r,
        "rvs_dest_persistent_connections",
        "PersistConn: persistence templates pointing to a dest",
    );
    let weight = gauge(
        &mut r,
        "rvs_dest_weight",
        "A dest's weight (0: takes no new connections)",
    );
    let overloaded = gauge(
        &mut r,
        "rvs_dest_overloaded",
        "1 while a dest is above its upper threshold",
    );
    let entries = gauge(
        &mut r,
        "rvs_connection_table_entries",
        "Entries in the connection table (connections and templates)",
    );
    let capacity = gauge(
        &mut r,
        "rvs_connection_table_capacity",
        "Entries the connection table holds (--conn-tab-size)",
    );
    let packets = counter(
        &mut r,
        "rvs_packet_path_events",
        "Packets the packet path did not simply forward, by reason (passed to the stack, dropped, refused because the table was full, embryonic entries evicted)",
    );
    let sweeps = counter(
        &mut r,
        "rvs_sweeps",
        "Walks of the connection table that expire idle entries",
    );
    let sweep_s = fgauge(
        &mut r,
        "rvs_sweep_duration_seconds",
        "How long the last sweep took",
    );
    let sync_msgs = counter(
        &mut r,
        "rvs_sync_messages",
        "IPVS sync messages: sent, not sent (send_error), received and used, dropped as malformed, ignored for another syncid",
    );
    let sync_conns = counter(
        &mut r,
        "rvs_sync_connections",
        "Connection records of the sync daemons: sent, received, and what the backup did with them (created, updated, ignored)",
    );
    let rs_up = gauge(
        &mut r,
        "rvs_real_server_up",
        "1 while every checker of a configured real server passes",
    );
    let check_up = gauge(&mut r, "rvs_check_up", "1 while a checker passes");
    let checks = counter(&mut r, "rvs_checks", "Checker attempts, by result");
    let check_s = fgauge(
        &mut r,
        "rvs_check_duration_seconds",
        "How long a checker's last attempt took",
    );

    let mut table_entries: i64 = 0;
    for svc in &s.services {
        let name = service_text(&svc.config.key);
        let each = |labels: &[(&str, &str)],
                    c: &rvs_model::stats::Counters,
                    rt: &rvs_model::stats::Rates| {
            let with = |dir: &str| {
                let mut v = l(labels);
                v.push(("direction".into(), dir.into()));
                v
            };
            conns.get_or_create(&l(labels)).inc_by(c.conns);
            pkts.get_or_create(&with("in")).inc_by(c.inpkts);
            pkts.get_or_create(&with("out")).inc_by(c.outpkts);
            bytes.get_or_create(&with("in")).inc_by(c.inbytes);
            bytes.get_or_create(&with("out")).inc_by(c.outbytes);
            cps.get_or_create(&l(labels)).set(rt.cps as i64);
            pps.get_or_create(&with("in")).set(rt.inpps as i64);
            pps.get_or_create(&with("out")).set(rt.outpps as i64);
            bps.get_or_create(&with("in")).set(rt.inbps as i64);
            bps.get_or_create(&with("out")).set(rt.outbps as i64);
        };
        each(&[("service", &name)], &svc.stats, &svc.rates);
        for d in &svc.dests {
            let dest = at(d.config.addr, d.config.port);
            let labels = [("service", name.as_str()), ("dest", dest.as_str())];
            each(&labels, &d.stats, &d.rates);
            active
                .get_or_create(&l(&labels))
                .set(i64::from(d.active_conns));
            inactive
                .get_or_create(&l(&labels))
                .set(i64::from(d.inact_conns));
            persistent
                .get_or_create(&l(&labels))
                .set(i64::from(d.persist_conns));
            weight
                .get_or_create(&l(&labels))
                .set(i64::from(d.config.weight));
            overloaded
                .get_or_create(&l(&labels))
                .set(i64::from(d.overload));
            table_entries +=
                i64::from(d.active_conns) + i64::from(d.inact_conns) + i64::from(d.persist_conns);
        }
    }
    entries.get_or_create(&Vec::new()).set(table_entries);
    capacity
        .get_or_create(&Vec::new())
        .set(i64::from(s.info.conn_tab_size));
    for (i, label) in rvs_common::reason::LABELS.iter().enumerate() {
        // Two numbers are kept only so that the others keep theirs; never counted.
        if i as u32 == rvs_common::reason::SCHEDULE || i as u32 == rvs_common::reason::MISS {
            continue;
        }
        packets
            .get_or_create(&l(&[("reason", label)]))
            .inc_by(reasons.get(i).copied().unwrap_or(0));
    }
    sweeps.get_or_create(&Vec::new()).inc_by(sweep.count);
    sweep_s
        .get_or_create(&Vec::new())
        .set(sweep.last.as_secs_f64());
    {
        use std::sync::atomic::Ordering::Relaxed;
        for (event, c) in [
            ("sent", &sync.sent_messages),
            ("send_error", &sync.send_errors),
            ("received", &sync.received_messages),
            ("dropped", &sync.dropped_messages),
            ("other_syncid", &sync.other_syncid),
        ] {
            sync_msgs
                .get_or_create(&l(&[("event", event)]))
                .inc_by(c.load(Relaxed));
        }
        for (event, c) in [
            ("sent", &sync.sent_conns),
            ("received", &sync.received_conns),
            ("created", &sync.created),
            ("updated", &sync.updated),
            ("ignored", &sync.ignored),
        ] {
            sync_conns
                .get_or_create(&l(&[("event", event)]))
                .inc_by(c.load(Relaxed));
        }
    }
    for h in &s.health {
        let rs = at(h.addr, h.port);
        let labels = [
            ("virtual_server", h.virtual_server.as_str()),
            ("real_server", rs.as_str()),
        ];
        rs_up.get_or_create(&l(&labels)).set(i64::from(h.up));
        for (n, c) in h.checkers.iter().enumerate() {
            let nth = n.to_string();
            let mut cl = labels.to_vec();
            cl.push(("checker", c.kind.as_str()));
            cl.push(("index", nth.as_str()));
            check_up.get_or_create(&l(&cl)).set(i64::from(c.up));
            let mut pass = cl.clone();
            pass.push(("result", "pass"));
            checks.get_or_create(&l(&pass)).inc_by(c.passes);
            let mut fail = cl.clone();
            fail.push(("result", "fail"));
            checks.get_or_create(&l(&fail)).inc_by(c.failures);
            if let Some(ms) = c.last_duration_ms {
                check_s.get_or_create(&l(&cl)).set(ms / 1000.0);
            }
        }
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

fn answer(mut s: TcpStream, state: &State) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut first = String::new();
    let mut reader = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    if reader.read_line(&mut first).is_err() {
        return;
    }
    // The rest of the request head (at most 64 lines).
    for _ in 0..64 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let mut words = first.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => match metrics(state) {
            Ok(text) => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        },
        ("GET", "/") => ("200 OK", "text/plain", "rvsd: metrics at /metrics\n".into()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn metrics(state: &State) -> Result<String, String> {
    match state.handle(Request::Status, 0) {
        Response::Status(s) => Ok(render(
            &s,
            &state.reasons(),
            state.sweep_stats(),
            &state.sync.stats,
        )),
        Response::Error(e) => Err(e.message),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// Serves the metrics on `addr` (bound now: a busy port stops rvsd's start with an error).
pub fn spawn(addr: SocketAddr, state: Arc<State>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("--metrics {addr}"))?;
    log(format_args!("metrics at http://{addr}/metrics"));
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let state = Arc::clone(&state);
            std::thread::spawn(move || answer(s, &state));
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_follow_the_conventions() {
        let st = State::in_memory(rvs_model::Table::new(), 1024);
        let Response::Status(s) = st.handle(Request::Status, 0) else {
            panic!()
        };
        let text = render(
            &s,
            &[0, 1, 2],
            SweepStats {
                count: 3,
                last: Duration::from_millis(5),
            },
            &crate::sync::SyncStats::default(),
        );
        assert!(text.contains("# TYPE rvs_connections counter"), "{text}");
        // prometheus-client 0.23 writes an empty label set as `{}` (OpenMetrics allows it).
        let sample = |name: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{}} "))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string)
        };
        assert_eq!(
            sample("rvs_connection_table_capacity").as_deref(),
            Some("1024")
        );
        assert!(
            text.contains("rvs_packet_path_events_total{reason=\"fragment\"} 2"),
            "{text}"
        );
        assert!(!text.contains("reason=\"schedule\""), "{text}");
        assert_eq!(sample("rvs_sweeps_total").as_deref(), Some("3"));
        assert_eq!(
            sample("rvs_sweep_duration_seconds").as_deref(),
            Some("0.005")
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
