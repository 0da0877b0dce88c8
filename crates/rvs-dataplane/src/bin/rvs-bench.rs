// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-bench [ROUNDS]`: nanoseconds per packet of the rvs XDP program under
//! `BPF_PROG_TEST_RUN`, each path next to the minimal MAC-swap XDP_TX program measured the same
//! way in the same run, rounds interleaved so that a busy machine slows all alike.
//!
//! The director is configured through the real [`Director`] from an `rvs-model` table: one
//! service per scheduler, each with 100 direct-routing dests, plus a persistent wlc service.
//! A SYN figure is the cost of a new connection (service lookup, the tail call, scheduling,
//! the entry, the rewrite); every SYN is a new flow.
//!
//! Every measurement is one run per call (`repeat` 1) averaged over many calls, because the
//! kernel reuses the packet buffer across repetitions: the program's own changes (TTL) would
//! otherwise move later repetitions onto another path (the "repeat pitfall"). The per-call
//! timer overhead is therefore in every figure, baseline included; the table shows the time
//! above the baseline too, and above an empty program (XDP_PASS): the program's own cost, the
//! call's overhead taken out.

use std::collections::HashMap;
use std::net::IpAddr;

use rvs_common::svc_flags;
use rvs_dataplane::director::Director;
use rvs_dataplane::neigh::Neigh;
use rvs_dataplane::{DROP_PROGRAM, Dataplane, MIN_TX_PROGRAM, PASS_PROGRAM, PROGRAM};
use rvs_model::{
    DestConfig, FwdMethod, Protocol, ServiceConfig, ServiceKey, Table, TunCsum, TunType,
};

/// Calls per measurement.
const CALLS: u32 = 5_000;
/// Dests per service.
const DESTS: u8 = 100;
/// The schedulers, each on port `BASE_PORT + index`.
const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos",
];
const BASE_PORT: u16 = 8200;
/// The persistent wlc service.
const PERSIST_PORT: u16 = 8300;
/// The NAT service.
const NAT_PORT: u16 = 8140;
/// The tunnel service.
const TUN_PORT: u16 = 8150;

fn frame(client: u16, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x10, 0x08, 0x00];
    let c = client.to_be_bytes();
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 255, 6, 0, 0, 10, 0, c[0], c[1], 10, 0, 0, 240,
    ]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

/// A TCP segment from the NAT real server 10.0.2.1:82 to client 10.0.0.10:`dport`.
fn reply_frame(dport: u16, flags: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 2, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 255, 6, 0, 0, 10, 0, 2, 1, 10, 0, 0, 10,
    ]);
    f.extend_from_slice(&82u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

/// A UDP datagram from 10.0.0.10:`sport` to the VIP's port 8130.
fn udp_frame(sport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x10, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 32, 0, 1, 0x40, 0, 255, 17, 0, 0, 10, 0, 0, 10, 10, 0, 0, 240,
    ]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&8130u16.to_be_bytes());
    f.extend_from_slice(&[0, 12, 0, 0, b'p', b'i', b'n', b'g']);
    f
}

/// A TCP segment from [fd00::10]:`sport` to [fd00::240]:8130.
fn v6_frame(sport: u16, flags: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x10, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
    f.extend_from_slice(&V6_CLIENT);
    f.extend_from_slice(&V6_VIP);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&8130u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

const V6_CLIENT: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
const V6_VIP: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40];

fn key(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: IpAddr::from([10, 0, 0, 240]),
        port,
    }
}

/// Adds a service (`flags` with persistence get a 300 s timeout; an IPv6 service's mask is a
/// prefix length).
fn add_service(t: &mut Table, key: ServiceKey, sched: &str, flags: u32) {
    t.add_service(ServiceConfig {
        key,
        scheduler: sched.into(),
        flags,
        timeout: if flags == 0 { 0 } else { 300 },
        netmask: if key.family() == rvs_model::Family::V6 {
            128
        } else {
            u32::MAX
        },
        pe: String::new(),
    })
    .unwrap();
}

/// Adds a dest (IPIP for tunnels).
fn add_dest(t: &mut Table, key: ServiceKey, addr: IpAddr, port: u16, fwd: FwdMethod, weight: i32) {
    t.add_dest(
        &key,
        DestConfig {
            addr,
            port,
            fwd,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: TunCsum::Nocsum,
        },
    )
    .unwrap();
}

fn director() -> Director {
    let dp = Dataplane::load_default(1 << 20).expect("load the XDP program (run ./x build)");
    let mut t = Table::new();
    let services = SCHEDULERS
        .iter()
        .enumerate()
        .map(|(i, s)| (BASE_PORT + i as u16, *s, 0))
        .chain([(PERSIST_PORT, "wlc", svc_flags::PERSISTENT)]);
    for (port, sched, flags) in services {
        add_service(&mut t, key(port), sched, flags);
        for n in 1..=DESTS {
            let w = 1 + i32::from(n % 4);
            add_dest(
                &mut t,
                key(port),
                IpAddr::from([10, 0, 1, n]),
                port,
                FwdMethod::Route,
                w,
            );
        }
    }
    // A NAT service for the NAT paths (its replies need a route and a neighbour entry for
    // the client: `rvs-benchmarks` runs this in a namespace that has them), and a tunnel
    // service (IPIP).
    add_service(&mut t, key(NAT_PORT), "wlc", 0);
    add_dest(
        &mut t,
        key(NAT_PORT),
        IpAddr::from([10, 0, 2, 1]),
        82,
        FwdMethod::Masq,
        1,
    );
    add_service(&mut t, key(TUN_PORT), "wlc", 0);
    let rs = IpAddr::from([10, 0, 3, 1]);
    add_dest(&mut t, key(TUN_PORT), rs, TUN_PORT, FwdMethod::Tunnel, 1);
    // A UDP service and an IPv6 TCP service, wlc, for the established UDP and IPv6 paths.
    let v6_dest = |n: u8| {
        let mut a = V6_VIP;
        a[14] = 0x01;
        a[15] = n;
        IpAddr::from(a)
    };
    for (k, dests) in [
        (
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: IpAddr::from([10, 0, 0, 240]),
                port: 8130,
            },
            (1..=3)
                .map(|n| IpAddr::from([10, 0, 1, n]))
                .collect::<Vec<_>>(),
        ),
        (
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: IpAddr::from(V6_VIP),
                port: 8130,
            },
            (1..=3).map(v6_dest).collect(),
        ),
    ] {
        add_service(&mut t, k, "wlc", 0);
        for addr in dests {
            add_dest(&mut t, k, addr, 8130, FwdMethod::Route, 1);
        }
    }
    let mut d = Director::new(dp);
    let known = |n: u8| Neigh::Known {
        mac: [2, 0, 0, 1, 0, n],
        ifindex: 0,
        src_mac: [2, 0, 0, 0, 0, 1],
        dev: "bench".into(),
        path: rvs_dataplane::neigh::Path {
            src: Some(IpAddr::from([10, 0, 0, 1])),
            mtu: 1500,
            via_gateway: false,
        },
    };
    let neigh: HashMap<IpAddr, Neigh> = (1..=DESTS)
        .map(|n| (IpAddr::from([10, 0, 1, n]), known(n)))
        .chain((1..=3).map(|n| (v6_dest(n), known(n))))
        .chain([
            (IpAddr::from([10, 0, 2, 1]), known(201)),
            (IpAddr::from([10, 0, 3, 1]), known(202)),
        ])
        .collect();
    d.set_neighbours(neigh);
    d.apply(&t, false).unwrap();
    // (Outside `rvs-benchmarks`' namespace forwarding may be off: only the NAT reply row
    // needs it.)
    assert!(
        d.notes.iter().all(|n| n.contains("ip_forward")),
        "not all in the packet path: {:?}",
        d.notes
    );
    d
}

/// Average ns of `CALLS` single runs of `program` on the frames `make` gives; every one
/// must be transmitted.
fn measure(dp: &mut Dataplane, program: &'static str, make: &mut dyn FnMut() -> Vec<u8>) -> f64 {
    measure_action(dp, program, 3, make)
}

fn measure_action(
    dp: &mut Dataplane,
    program: &'static str,
    want: u32,
    make: &mut dyn FnMut() -> Vec<u8>,
) -> f64 {
    let mut total = 0u64;
    for _ in 0..CALLS {
        let (action, _, ns) = dp.timed_run(program, &make(), 1).unwrap();
        assert_eq!(action, want, "{program}: unexpected action");
        total += ns;
    }
    total as f64 / f64::from(CALLS)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut d = director();
    let dp = d.dataplane();
    // One established flow to replay.
    let (a, _) = dp.test_run(&frame(10, 1, BASE_PORT + 3, 0x02)).unwrap();
    assert_eq!(a, 3, "the SYN must be forwarded");
    let (a, _) = dp.test_run(&udp_frame(1)).unwrap();
    assert_eq!(a, 3, "the first datagram must be forwarded");
    let (a, _) = dp.test_run(&v6_frame(1, 0x02)).unwrap();
    assert_eq!(a, 3, "the IPv6 SYN must be forwarded");
    let (a, _) = dp.test_run(&frame(10, 1, TUN_PORT, 0x02)).unwrap();
    assert_eq!(a, 3, "the tunnel SYN must be forwarded");
    let (a, _) = dp.test_run(&frame(10, 1, NAT_PORT, 0x02)).unwrap();
    assert_eq!(a, 3, "the NAT SYN must be forwarded");
    // A reply needs the client's next hop from the FIB: transmitted (3) or redirected (4)
    // where the namespace has one; otherwise the NAT reply row is left out.
    let (reply_action, _) = dp.test_run(&reply_frame(1, 0x12)).unwrap();
    let nat_out = reply_action == 3 || reply_action == 4;
    if !nat_out {
        eprintln!(
            "rvs-bench: no route or neighbour for 10.0.0.10 here: the NAT reply row is left out \
             (rvs-benchmarks runs rvs-bench in a namespace that has them)"
        );
    }
    let mut names = vec![
        "minimal XDP_TX (MAC swap)".to_string(),
        "XDP_DROP".to_string(),
        "empty program (XDP_PASS)".to_string(),
        "rvs: established DR packet".to_string(),
        "rvs: established DR packet, UDP".to_string(),
        "rvs: established DR packet, IPv6".to_string(),
        "rvs: established NAT packet, client to server".to_string(),
        "rvs: established TUN packet (IPIP encapsulation)".to_string(),
    ];
    if nat_out {
        names.push("rvs: established NAT packet, server to client (FIB next hop)".to_string());
    }
    let fixed = names.len();
    let mut ports = Vec::new();
    for (i, s) in SCHEDULERS.iter().enumerate() {
        names.push(format!("rvs: SYN, {s} over {DESTS} dests"));
        ports.push(BASE_PORT + i as u16);
    }
    names.push(format!(
        "rvs: SYN, wlc -p over {DESTS} dests (client has a template)"
    ));
    ports.push(PERSIST_PORT);
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    // Each SYN comes from a new (client, port) pair.
    let mut flow: u32 = 0;
    let mut next = |dport: u16| {
        flow += 1;
        frame(
            100 + (flow / 50_000) as u16,
            (flow % 50_000 + 1_000) as u16,
            dport,
            0x02,
        )
    };
    for _ in 0..rounds {
        results[0].push(measure(dp, MIN_TX_PROGRAM, &mut || {
            frame(10, 1, BASE_PORT + 3, 0x10)
        }));
        results[1].push(measure_action(dp, DROP_PROGRAM, 1, &mut || {
            frame(10, 1, BASE_PORT + 3, 0x10)
        }));
        results[2].push(measure_action(dp, PASS_PROGRAM, 2, &mut || {
            frame(10, 1, BASE_PORT + 3, 0x10)
        }));
        results[3].push(measure(dp, PROGRAM, &mut || {
            frame(10, 1, BASE_PORT + 3, 0x10)
        }));
        results[4].push(measure(dp, PROGRAM, &mut || udp_frame(1)));
        results[5].push(measure(dp, PROGRAM, &mut || v6_frame(1, 0x10)));
        results[6].push(measure(dp, PROGRAM, &mut || frame(10, 1, NAT_PORT, 0x10)));
        results[7].push(measure(dp, PROGRAM, &mut || frame(10, 1, TUN_PORT, 0x10)));
        if nat_out {
            results[8].push(measure_action(dp, PROGRAM, reply_action, &mut || {
                reply_frame(1, 0x10)
            }));
        }
        for (k, port) in ports.iter().enumerate() {
            results[fixed + k].push(measure(dp, PROGRAM, &mut || next(*port)));
        }
    }
    // Ratios pair by pair: each round's figure over the same round's baseline, and each
    // round's figure less the same round's empty program (the call's own overhead).
    let base = results[0].clone();
    let empty = results[2].clone();
    println!(
        "| path | ns/packet median | min | max | ratio to minimal XDP_TX (median, min–max over rounds) | ns above it | ns above the empty program |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, r) in names.iter().zip(results.iter()) {
        let mut v = r.clone();
        let mut ratios: Vec<f64> = r.iter().zip(&base).map(|(x, b)| x / b).collect();
        let mut above: Vec<f64> = r.iter().zip(&base).map(|(x, b)| x - b).collect();
        let mut own: Vec<f64> = r.iter().zip(&empty).map(|(x, e)| x - e).collect();
        let (lo, hi) = (
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
        );
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {:.0} | {min:.0} | {max:.0} | {:.2} ({lo:.2}–{hi:.2}) | {:.0} | {:.0} |",
            median(&mut v),
            median(&mut ratios),
            median(&mut above),
            median(&mut own)
        );
    }
    println!(
        "\n{rounds} interleaved rounds of {CALLS} calls per path (one `BPF_PROG_TEST_RUN` run per call)."
    );
}
