// SPDX-License-Identifier: MIT OR Apache-2.0
//! A worked example (NAT with thresholds, persistent DR, sh with flags, fwmark), byte for
//! byte as ipvsadm 1.31 prints it in every listing mode. The configuration goes through the
//! real command line and rvsd's request handling; made-up counters are then put into the
//! table, as the packet path will.

mod common;

use std::net::IpAddr;

use common::{InProc, assert_text, golden, ok, run_in};
use rvs_ctl::ConnView;
use rvs_model::stats::{Counters, Estimator, Rates};

const CONFIG: &[&str] = &[
    "-A -t 192.168.100.10:80 -s wlc",
    "-a -t 192.168.100.10:80 -r 10.0.0.11:80 -m",
    "-a -t 192.168.100.10:80 -r 10.0.0.12:80 -m -w 3 -x 500 -y 400",
    "-A -t 192.168.100.10:443 -s rr -p",
    "-a -t 192.168.100.10:443 -r 192.168.100.21",
    "-a -t 192.168.100.10:443 -r 192.168.100.22 -w 0",
    "-A -u 192.168.100.10:53 -s sh -b sh-fallback,sh-port",
    "-a -u 192.168.100.10:53 -r 10.0.0.11:53 -m",
    "-A -f 7 -s wlc",
    "-a -f 7 -r 10.0.0.11 -m",
];

fn c(v: [u64; 5]) -> Counters {
    Counters {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
    }
}

fn r(v: [u64; 5]) -> Rates {
    Rates {
        cps: v[0],
        inpps: v[1],
        outpps: v[2],
        inbps: v[3],
        outbps: v[4],
    }
}

/// (service port or fwmark, dest, counters, rates, active, inactive, persistent)
type Row = (&'static str, [u64; 5], [u64; 5], u32, u32, u32);

fn example() -> InProc {
    let mut b = InProc::new();
    for line in CONFIG {
        ok(&mut b, line);
    }
    let services: &[(&str, [u64; 5], [u64; 5])] = &[
        (
            "192.168.100.10:80",
            [4936, 227156, 204936, 32493824, 296493824],
            [19, 480, 392, 61440, 592896],
        ),
        (
            "192.168.100.10:443",
            [218, 5700, 0, 490000, 0],
            [0, 3, 0, 450, 0],
        ),
        (
            "192.168.100.10:53",
            [1500000, 123456789, 123000000, 9876543210, 19876543210],
            [20, 40, 40, 3000, 6000],
        ),
    ];
    let dests: &[Row] = &[
        (
            "10.0.0.11:80",
            [1234, 56789, 51234, 8123456, 74123456],
            [5, 120, 98, 15360, 148224],
            12,
            40,
            0,
        ),
        (
            "10.0.0.12:80",
            [3702, 170367, 153702, 24370368, 222370368],
            [14, 360, 294, 46080, 444672],
            35,
            101,
            0,
        ),
        (
            "192.168.100.21:443",
            [120, 3000, 0, 250000, 0],
            [0, 2, 0, 300, 0],
            3,
            7,
            5,
        ),
        (
            "192.168.100.22:443",
            [98, 2700, 0, 240000, 0],
            [0, 1, 0, 150, 0],
            1,
            2,
            1,
        ),
        (
            "10.0.0.11:53",
            [1500000, 123456789, 123000000, 9876543210, 19876543210],
            [20, 40, 40, 3000, 6000],
            0,
            9,
            0,
        ),
    ];
    b.state.with_table(|t| {
        for s in t.services_mut() {
            let key = &s.config.key;
            let text = match key {
                rvs_model::ServiceKey::Addr { addr, port, .. } => format!("{addr}:{port}"),
                _ => String::new(),
            };
            if let Some((_, cnt, rate)) = services.iter().find(|x| x.0 == text) {
                s.stats.raw = c(*cnt);
                s.stats.est = Estimator::from_rates(&r(*rate), s.stats.raw);
            }
            for d in &mut s.dests {
                let dtext = format!("{}:{}", d.config.addr, d.config.port);
                if text.is_empty() {
                    continue;
                }
                if let Some((_, cnt, rate, a, i, p)) = dests.iter().find(|x| x.0 == dtext) {
                    d.stats.raw = c(*cnt);
                    d.stats.est = Estimator::from_rates(&r(*rate), d.stats.raw);
                    d.active_conns = *a;
                    d.inact_conns = *i;
                    d.persist_conns = *p;
                }
            }
        }
    });
    let conn =
        |p: u8, ca: &str, cp: u16, va: &str, vp: u16, da: &str, dp: u16, st: &str, ex: u32| {
            ConnView {
                protocol: p,
                caddr: ca.parse::<IpAddr>().unwrap(),
                cport: cp,
                vaddr: va.parse().unwrap(),
                vport: vp,
                daddr: da.parse().unwrap(),
                dport: dp,
                state: st.into(),
                expires: ex,
                pe_name: String::new(),
                pe_data: String::new(),
            }
        };
    b.conns = vec![
        conn(
            6,
            "203.0.113.5",
            51514,
            "192.168.100.10",
            80,
            "10.0.0.12",
            80,
            "ESTABLISHED",
            898,
        ),
        conn(
            6,
            "203.0.113.9",
            40022,
            "192.168.100.10",
            80,
            "10.0.0.11",
            80,
            "FIN_WAIT",
            58,
        ),
        conn(
            6,
            "203.0.113.5",
            0,
            "192.168.100.10",
            443,
            "192.168.100.21",
            443,
            "ASSURED",
            359,
        ),
        conn(
            6,
            "203.0.113.5",
            51520,
            "192.168.100.10",
            443,
            "192.168.100.21",
            443,
            "ESTABLISHED",
            897,
        ),
        conn(
            17,
            "198.51.100.7",
            33000,
            "192.168.100.10",
            53,
            "10.0.0.11",
            53,
            "UDP",
            287,
        ),
    ];
    b
}

#[test]
fn plain_listing() {
    assert_text(&ok(&mut example(), "-Ln"), &golden("worked-Ln"));
}

#[test]
fn stats_listing() {
    assert_text(
        &ok(&mut example(), "-Ln --stats"),
        &golden("worked-Ln-stats"),
    );
}

#[test]
fn stats_exact_listing() {
    assert_text(
        &ok(&mut example(), "-Ln --stats --exact"),
        &golden("worked-Ln-stats-exact"),
    );
}

#[test]
fn rate_listing() {
    assert_text(&ok(&mut example(), "-Ln --rate"), &golden("worked-Ln-rate"));
}

#[test]
fn thresholds_listing() {
    assert_text(
        &ok(&mut example(), "-Ln --thresholds"),
        &golden("worked-Ln-thresholds"),
    );
}

#[test]
fn persistent_conn_listing() {
    assert_text(
        &ok(&mut example(), "-Ln --persistent-conn"),
        &golden("worked-Ln-persistent-conn"),
    );
}

#[test]
fn connection_listing() {
    assert_text(&ok(&mut example(), "-Lcn"), &golden("worked-Lcn"));
}

/// A persistent fwmark service's template line: protocol `IP`, mark as an address, minutes > 99.
#[test]
fn fwmark_template_line() {
    let mut b = example();
    b.conns = vec![ConnView {
        protocol: 0,
        caddr: "198.51.100.7".parse().unwrap(),
        cport: 0,
        vaddr: "0.0.0.7".parse().unwrap(),
        vport: 0,
        daddr: "10.0.0.11".parse().unwrap(),
        dport: 0,
        state: "ASSURED".into(),
        expires: 6000,
        pe_name: String::new(),
        pe_data: String::new(),
    }];
    let out = ok(&mut b, "-L -c -n");
    assert_text(
        out.lines().nth(2).unwrap(),
        "IP  100:00 ASSURED     198.51.100.7:0     0.0.0.7:0          10.0.0.11:0",
    );
}

#[test]
fn save_listing_loses_thresholds() {
    assert_text(&ok(&mut example(), "-Sn"), &golden("worked-Sn"));
}

#[test]
fn timeout_listing() {
    assert_text(
        &ok(&mut example(), "-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 120 300\n",
    );
}

/// The seed scenario of issue 2: wlc service with three DR dests of weight 3.
#[test]
fn seed_scenario() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.240:8130 -s wlc");
    for n in 1..=3 {
        ok(
            &mut b,
            &format!("-a -t 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -g -w 3"),
        );
    }
    assert_text(
        &ok(&mut b, "-Ln"),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.240:8130 wlc\n  \
         -> 10.0.0.241:8130              Route   3      0          0         \n  \
         -> 10.0.0.242:8130              Route   3      0          0         \n  \
         -> 10.0.0.243:8130              Route   3      0          0         \n",
    );
    // --nosort shows the kernel's list order: newest first.
    let nosort = ok(&mut b, "-Ln --nosort");
    let order: Vec<&str> = nosort.lines().skip(4).map(|l| &l[5..15]).collect();
    assert_eq!(order, ["10.0.0.243", "10.0.0.242", "10.0.0.241"]);
    let one = run_in(&mut b, "-L -n -t 10.0.0.240:8130", "");
    assert!(
        one.stdout.starts_with("Prot LocalAddress:Port"),
        "no version line for one service"
    );
}
