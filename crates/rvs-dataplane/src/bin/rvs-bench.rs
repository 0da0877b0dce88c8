// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-bench [ROUNDS]`: nanoseconds per packet of the rvs XDP program under
//! `BPF_PROG_TEST_RUN`, each path next to the minimal MAC-swap XDP_TX program measured the same
//! way in the same run, rounds interleaved so that a busy machine slows all alike.
//!
//! Every measurement is one run per call (`repeat` 1) averaged over many calls, because the
//! kernel reuses the packet buffer across repetitions: the program's own changes (TTL) would
//! otherwise move later repetitions onto another path (the "repeat pitfall"). The per-call
//! timer overhead is therefore in every figure, baseline included; the table shows the time
//! above the baseline too.

use rvs_common::conn_flags;
use rvs_common::maps::{self, AF_V4, DestVal, MAX_DESTS, SvcKey, SvcVal};
use rvs_dataplane::{Dataplane, MIN_TX_PROGRAM, PROGRAM};

const CALLS: u32 = 20_000;

fn frame(sport: u16, flags: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x10, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 255, 6, 0, 0, 10, 0, 0, 10, 10, 0, 0, 240,
    ]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&8130u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

fn setup(dests: u32) -> Dataplane {
    let mut dp = Dataplane::load_default(1 << 20).expect("load the XDP program (run ./x build)");
    let mut ids = [0u32; MAX_DESTS];
    for i in 0..dests {
        let id = i + 1;
        ids[i as usize] = id;
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[10, 0, 1, id as u8]);
        dp.put_dest(
            id,
            &DestVal {
                addr,
                weight: 3,
                flags: maps::dest::AVAILABLE | maps::dest::MAC_KNOWN,
                ifindex: 0,
                port_be: 8130u16.to_be(),
                mac: [2, 0, 0, 1, 0, id as u8],
                src_mac: [2, 0, 0, 0, 0, 1],
                af: AF_V4,
                fwd: conn_flags::DROUTE as u8,
                _pad: [0; 4],
                u_threshold: 0,
                l_threshold: 0,
            },
        )
        .unwrap();
    }
    let mut vip = [0u8; 16];
    vip[..4].copy_from_slice(&[10, 0, 0, 240]);
    dp.put_service(
        &SvcKey {
            addr: vip,
            port_be: 8130u16.to_be(),
            proto: 6,
            af: AF_V4,
        },
        &SvcVal {
            id: 1,
            sched: maps::sched::WLC,
            ndests: dests,
            flags: 0,
            dests: ids,
        },
    )
    .unwrap();
    dp
}

/// Average ns of `CALLS` single runs of `program` on the frames `make` gives.
fn measure(dp: &mut Dataplane, program: &'static str, make: &mut dyn FnMut(u32) -> Vec<u8>) -> f64 {
    let mut total = 0u64;
    for i in 0..CALLS {
        let (_, _, ns) = dp.timed_run(program, &make(i), 1).unwrap();
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
    let mut dp3 = setup(3);
    let mut dp64 = setup(64);
    // One established flow to replay.
    let (a, _) = dp3.test_run(&frame(1, 0x02)).unwrap();
    assert_eq!(a, 3, "the SYN must be forwarded");
    let names = [
        "minimal XDP_TX (MAC swap)",
        "rvs: established DR packet",
        "rvs: SYN, wlc over 3 dests",
        "rvs: SYN, wlc over 64 dests",
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut port: u32 = 10_000;
    for _ in 0..rounds {
        results[0].push(measure(&mut dp3, MIN_TX_PROGRAM, &mut |_| frame(1, 0x10)));
        results[1].push(measure(&mut dp3, PROGRAM, &mut |_| frame(1, 0x10)));
        results[2].push(measure(&mut dp3, PROGRAM, &mut |_| {
            port = port.wrapping_add(1);
            let mut f = frame((port % 60_000 + 1_000) as u16, 0x02);
            f[26..28].copy_from_slice(&((port / 60_000) as u16).to_be_bytes());
            f
        }));
        results[3].push(measure(&mut dp64, PROGRAM, &mut |_| {
            port = port.wrapping_add(1);
            let mut f = frame((port % 60_000 + 1_000) as u16, 0x02);
            f[26..28].copy_from_slice(&((port / 60_000) as u16).to_be_bytes());
            f
        }));
    }
    let base = median(&mut results[0].clone());
    println!(
        "| path | ns/packet (median of {rounds} rounds × {CALLS} calls) | min | max | ratio to minimal XDP_TX | ns above it |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, r) in names.iter().zip(results.iter_mut()) {
        let med = median(r);
        let min = r.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {med:.0} | {min:.0} | {max:.0} | {:.2} | {:.0} |",
            med / base,
            med - base
        );
    }
}
