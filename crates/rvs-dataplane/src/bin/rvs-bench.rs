// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-bench [ROUNDS]`: nanoseconds per packet of the rvs XDP program under
//! `BPF_PROG_TEST_RUN`, each path next to the minimal MAC-swap XDP_TX program and the empty
//! (XDP_PASS) program measured the same way in the same run, rounds interleaved so that a busy
//! machine slows all alike; then where each goal of issue 12 stands.
//!
//! The director is configured through the real [`Director`] from an `rvs-model` table: one
//! service per scheduler, each with 100 direct-routing dests, a persistent wlc service, a wlc
//! service of 10 dests, NAT, tunnel, UDP and IPv6 services. A SYN figure is the cost of a new
//! connection (service lookup, the tail calls, scheduling, the entry, the rewrite); every SYN
//! is a new flow.
//!
//! Two figures per path. The whole call: one run per call (`repeat` 1), averaged over many
//! calls; the call's fixed cost (the kernel's timer) is in it. The program's own cost, above
//! the empty program: for a path that stays put when the kernel runs one buffer again (the
//! program's own changes, such as the TTL, do not move it elsewhere), from calls of
//! [`REPEAT`] runs; for the others (NAT and tunnel rewrites, SYNs that must be new flows), the
//! whole call less the empty program's whole call.
//!
//! `rvs-bench profile NAME [SECONDS]` runs one path's calls back to back for a profiler:
//! `perf record -a` meanwhile shows the program (`bpf_prog_*` symbols, with
//! `net.core.bpf_jit_kallsyms=1`) and the kernel helpers it calls.

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
/// A wlc service with [`FEW_DESTS`] dests: the per-dest cost of a walk is the difference to
/// the 100-dest one.
const FEW_PORT: u16 = 8301;
const FEW_DESTS: u8 = 10;
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
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 255]);
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
        .map(|(i, s)| (BASE_PORT + i as u16, *s, 0, DESTS))
        .chain([
            (PERSIST_PORT, "wlc", svc_flags::PERSISTENT, DESTS),
            (FEW_PORT, "wlc", 0, FEW_DESTS),
        ]);
    for (port, sched, flags, dests) in services {
        add_service(&mut t, key(port), sched, flags);
        for n in 1..=dests {
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

/// What a path's figures are compared with in the goals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A baseline program.
    Baseline,
    /// An established packet towards a real server (DR, TUN, NAT in).
    Established,
    /// A NAT reply.
    Reply,
    /// A SYN whose scheduler does not look at every dest (or that follows a template).
    SynDirect,
    /// A SYN whose scheduler weighs every dest.
    SynCounting,
    /// lblc, lblcr, twos.
    SynLocality,
    /// Figures that only serve others (the 10-dest walk).
    Aside,
}

/// One path through a program, measured alike in every round.
struct Path {
    name: String,
    program: &'static str,
    /// The action every run must end in.
    want: u32,
    make: Box<dyn FnMut() -> Vec<u8>>,
    /// Whether repeating one buffer stays on this path (the program's changes to it do not
    /// move it elsewhere for [`REPEAT`] runs): then its own cost comes from repeated runs.
    stable: bool,
    kind: Kind,
}

/// Runs per call when measuring a stable path's own cost: the call's fixed overhead (the
/// syscall, copying the frame, reading the clock) spreads over them. Below 254, so that a
/// TTL of 255 stays above 1 in every run.
const REPEAT: u32 = 200;
/// Calls per round for the repeated figure. Each such call is slow in wall time (the kernel
/// updates its XDP dispatcher before and after, waiting for RCU each time) but not in the
/// time it reports, which is the runs' alone.
const REPEAT_CALLS: u32 = 30;

/// Average ns of one call with one run of `p` (the whole call, the kernel's timer included).
fn whole_call(dp: &mut Dataplane, p: &mut Path) -> f64 {
    let mut total = 0u64;
    for _ in 0..CALLS {
        let (action, _, ns) = dp.timed_run(p.program, &(p.make)(), 1).unwrap();
        assert_eq!(action, p.want, "{}: unexpected action", p.name);
        total += ns;
    }
    total as f64 / f64::from(CALLS)
}

/// Average ns of one run of `p` when [`REPEAT`] runs share a call (stable paths only).
fn repeated(dp: &mut Dataplane, p: &mut Path) -> f64 {
    let mut total = 0u64;
    for _ in 0..REPEAT_CALLS {
        let frame = (p.make)();
        let (action, _, _) = dp.timed_run(p.program, &frame, 1).unwrap();
        assert_eq!(action, p.want, "{}: unexpected action", p.name);
        // The kernel reports whole nanoseconds per run: the sum over calls keeps the rest.
        let (action, _, ns) = dp.timed_run(p.program, &frame, REPEAT).unwrap();
        assert_eq!(action, p.want, "{}: the path drifted", p.name);
        total += ns;
    }
    total as f64 / f64::from(REPEAT_CALLS)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

/// `median (min–max)`.
fn mmm(v: &[f64], digits: usize) -> String {
    let (lo, hi) = min_max(v);
    format!("{:.d$} ({lo:.d$}–{hi:.d$})", median(v), d = digits)
}

/// A new (client, port) pair for every SYN.
fn next_syn(dport: u16) -> Vec<u8> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static FLOW: AtomicU32 = AtomicU32::new(0);
    let flow = FLOW.fetch_add(1, Ordering::Relaxed) + 1;
    frame(
        100 + (flow / 50_000) as u16,
        (flow % 50_000 + 1_000) as u16,
        dport,
        0x02,
    )
}

fn paths(reply_action: Option<u32>) -> Vec<Path> {
    let path = |name: &str, program, want, stable, kind, make: Box<dyn FnMut() -> Vec<u8>>| Path {
        name: name.to_string(),
        program,
        want,
        make,
        stable,
        kind,
    };
    let ack = || frame(10, 1, BASE_PORT + 3, 0x10);
    let mut v = vec![
        path(
            "minimal XDP_TX (MAC swap)",
            MIN_TX_PROGRAM,
            3,
            true,
            Kind::Baseline,
            Box::new(ack),
        ),
        path(
            "XDP_DROP",
            DROP_PROGRAM,
            1,
            true,
            Kind::Baseline,
            Box::new(ack),
        ),
        path(
            "empty program (XDP_PASS)",
            PASS_PROGRAM,
            2,
            true,
            Kind::Baseline,
            Box::new(ack),
        ),
        path(
            "rvs: established DR packet",
            PROGRAM,
            3,
            true,
            Kind::Established,
            Box::new(ack),
        ),
        path(
            "rvs: established DR packet, UDP",
            PROGRAM,
            3,
            true,
            Kind::Established,
            Box::new(|| udp_frame(1)),
        ),
        path(
            "rvs: established DR packet, IPv6",
            PROGRAM,
            3,
            true,
            Kind::Established,
            Box::new(|| v6_frame(1, 0x10)),
        ),
        path(
            "rvs: established NAT packet, client to server",
            PROGRAM,
            3,
            false,
            Kind::Established,
            Box::new(|| frame(10, 1, NAT_PORT, 0x10)),
        ),
        path(
            "rvs: established TUN packet (IPIP encapsulation)",
            PROGRAM,
            3,
            false,
            Kind::Established,
            Box::new(|| frame(10, 1, TUN_PORT, 0x10)),
        ),
    ];
    if let Some(want) = reply_action {
        v.push(path(
            "rvs: established NAT packet, server to client (FIB next hop)",
            PROGRAM,
            want,
            false,
            Kind::Reply,
            Box::new(|| reply_frame(1, 0x10)),
        ));
    }
    for (i, s) in SCHEDULERS.iter().enumerate() {
        let kind = match *s {
            "rr" | "wrr" | "sh" | "dh" | "mh" => Kind::SynDirect,
            "lblc" | "lblcr" | "twos" => Kind::SynLocality,
            _ => Kind::SynCounting,
        };
        let port = BASE_PORT + i as u16;
        v.push(path(
            &format!("rvs: SYN, {s} over {DESTS} dests"),
            PROGRAM,
            3,
            false,
            kind,
            Box::new(move || next_syn(port)),
        ));
    }
    v.push(path(
        &format!("rvs: SYN, wlc -p over {DESTS} dests (client has a template)"),
        PROGRAM,
        3,
        false,
        Kind::SynDirect,
        Box::new(|| next_syn(PERSIST_PORT)),
    ));
    v.push(path(
        &format!("rvs: SYN, wlc over {FEW_DESTS} dests"),
        PROGRAM,
        3,
        false,
        Kind::Aside,
        Box::new(|| next_syn(FEW_PORT)),
    ));
    v
}

/// Sets up the director and the flows the established paths replay; `None` for the NAT reply
/// where this namespace has no next hop for the client.
fn setup(dp: &mut Dataplane) -> Option<u32> {
    for (what, f) in [
        ("the SYN", frame(10, 1, BASE_PORT + 3, 0x02)),
        ("the first datagram", udp_frame(1)),
        ("the IPv6 SYN", v6_frame(1, 0x02)),
        ("the tunnel SYN", frame(10, 1, TUN_PORT, 0x02)),
        ("the NAT SYN", frame(10, 1, NAT_PORT, 0x02)),
    ] {
        let (a, _) = dp.test_run(&f).unwrap();
        assert_eq!(a, 3, "{what} must be forwarded");
    }
    // A reply needs the client's next hop from the FIB: transmitted (3) or redirected (4)
    // where the namespace has one.
    let (reply_action, _) = dp.test_run(&reply_frame(1, 0x12)).unwrap();
    if reply_action == 3 || reply_action == 4 {
        Some(reply_action)
    } else {
        eprintln!(
            "rvs-bench: no route or neighbour for 10.0.0.10 here: the NAT reply row is left out \
             (rvs-benchmarks runs rvs-bench in a namespace that has them)"
        );
        None
    }
}

/// `rvs-bench profile NAME SECONDS`: one call after another on the first path whose name
/// contains NAME, for a profiler (`perf record -a`) to watch.
fn profile(dp: &mut Dataplane, paths: &mut [Path], name: &str, secs: u64) {
    let p = paths
        .iter_mut()
        .find(|p| p.name.contains(name))
        .unwrap_or_else(|| panic!("no path named like {name:?}"));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut calls = 0u64;
    // Whole calls: a repeated run costs the kernel two XDP dispatcher updates per call
    // (`bpf_prog_change_xdp`, each waiting for RCU), which would leave the CPU mostly idle.
    while std::time::Instant::now() < end {
        whole_call(dp, p);
        calls += u64::from(CALLS);
    }
    println!("{}: {calls} calls", p.name);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut d = director();
    let dp = d.dataplane();
    let reply_action = setup(dp);
    let mut paths = paths(reply_action);
    if args.first().map(String::as_str) == Some("profile") {
        let name = args.get(1).map_or("established DR packet", String::as_str);
        let secs = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
        profile(dp, &mut paths, name, secs);
        return;
    }
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let n = paths.len();
    let mut whole: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut rep: Vec<Vec<f64>> = vec![Vec::new(); n];
    for _ in 0..rounds {
        for (i, p) in paths.iter_mut().enumerate() {
            whole[i].push(whole_call(dp, p));
            if p.stable {
                rep[i].push(repeated(dp, p));
            }
        }
    }
    // Every figure is paired with the same round's baselines. The program's own cost: a
    // stable path's repeated run less the empty program's repeated run; any other path's
    // whole call less the empty program's whole call.
    let (swap, empty) = (0, 2);
    let own: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            if paths[i].stable {
                rep[i].iter().zip(&rep[empty]).map(|(x, e)| x - e).collect()
            } else {
                whole[i]
                    .iter()
                    .zip(&whole[empty])
                    .map(|(x, e)| x - e)
                    .collect()
            }
        })
        .collect();
    let ratio =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
    println!(
        "| path | whole call, ns | ratio to the MAC swap, whole call | own cost, ns above the empty program | how the own cost was measured |"
    );
    println!("|---|---|---|---|---|");
    for i in 0..n {
        let how = if paths[i].stable {
            format!("{REPEAT} runs per call")
        } else {
            "whole calls, one run each".to_string()
        };
        println!(
            "| {} | {} | {} | {} | {how} |",
            paths[i].name,
            mmm(&whole[i], 0),
            mmm(&ratio(&whole[i], &whole[swap]), 2),
            mmm(&own[i], 1),
        );
    }
    println!(
        "\n{rounds} interleaved rounds; per round and path {CALLS} calls of one run each, and for \
         paths that stay put when repeated {REPEAT_CALLS} calls of {REPEAT} runs. Figures are \
         median (min–max) over the rounds; ratios and differences are taken round by round.\n"
    );
    goals(&paths, &whole, &own, rounds);
}

/// The worst (highest) per-round value of `f` over the paths of `kind`, as median (min–max)
/// over the rounds.
fn worst(
    paths: &[Path],
    kind: Kind,
    rounds: usize,
    f: impl Fn(usize, usize) -> f64,
) -> (Vec<f64>, String) {
    let per_round: Vec<f64> = (0..rounds)
        .map(|r| {
            (0..paths.len())
                .filter(|&i| paths[i].kind == kind)
                .map(|i| f(i, r))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let which = (0..paths.len())
        .filter(|&i| paths[i].kind == kind)
        .max_by(|&a, &b| {
            let m = |i| median(&(0..rounds).map(|r| f(i, r)).collect::<Vec<_>>());
            m(a).total_cmp(&m(b))
        })
        .map(|i| paths[i].name.trim_start_matches("rvs: ").to_string())
        .unwrap_or_default();
    (per_round, which)
}

/// The issue 12 goals, each with the figure that decides it (the worst path of its group).
fn goals(paths: &[Path], whole: &[Vec<f64>], own: &[Vec<f64>], rounds: usize) {
    let (swap, _) = (0, 2);
    let whole_ratio = |i: usize, r: usize| whole[i][r] / whole[swap][r];
    println!("| goal | figure (worst path of the group) | goal | met |");
    println!("|---|---|---|---|");
    let row = |what: &str, (v, which): (Vec<f64>, String), goal: f64, unit: &str| {
        let met = median(&v) <= goal;
        println!(
            "| {what} | {} {unit} ({which}) | ≤ {goal} {unit} | {} |",
            mmm(&v, 2),
            if met { "yes" } else { "no" }
        );
    };
    // The MAC swap's own cost is a few ns, near the resolution of the difference: a ratio
    // per round would divide by noise. This row divides medians, and shows both.
    let swap_own = median(&own[swap]);
    let (est, which) = worst(paths, Kind::Established, rounds, |i, r| own[i][r]);
    let ratio = median(&est) / swap_own.max(0.1);
    println!(
        "| established DR/TUN/NAT-in packet, own cost over the MAC swap's own cost | {ratio:.1} x \
         ({} ns / {swap_own:.1} ns; {which}) | ≤ 1.5 x | {} |",
        mmm(&est, 1),
        if ratio <= 1.5 { "yes" } else { "no" }
    );
    row(
        "NAT reply, whole call over the MAC swap's",
        worst(paths, Kind::Reply, rounds, whole_ratio),
        2.5,
        "x",
    );
    row(
        "SYN, rr/wrr/sh/dh/mh/template over 100 dests, whole call over the MAC swap's",
        worst(paths, Kind::SynDirect, rounds, whole_ratio),
        3.0,
        "x",
    );
    row(
        "SYN, lc/wlc/sed/nq/fo/ovf over 100 dests, whole call over the MAC swap's",
        worst(paths, Kind::SynCounting, rounds, whole_ratio),
        5.0,
        "x",
    );
    // The walk's cost per dest: wlc over 100 dests less wlc over 10, per dest more.
    let find = |name: &str| paths.iter().position(|p| p.name.contains(name));
    if let (Some(many), Some(few)) = (
        find(&format!("SYN, wlc over {DESTS} dests")),
        find(&format!("SYN, wlc over {FEW_DESTS} dests")),
    ) {
        let per: Vec<f64> = (0..rounds)
            .map(|r| (own[many][r] - own[few][r]) / f64::from(DESTS - FEW_DESTS))
            .collect();
        row(
            "wlc's walk, ns per dest (100 dests less 10, per dest)",
            (per, "wlc".to_string()),
            3.0,
            "ns",
        );
    }
    row(
        "SYN, lblc/lblcr/twos over 100 dests, whole call over the MAC swap's",
        worst(paths, Kind::SynLocality, rounds, whole_ratio),
        6.0,
        "x",
    );
}
