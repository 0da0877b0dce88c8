// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the XDP program under `BPF_PROG_TEST_RUN`. Each case builds a packet, runs the
//! loaded program, and checks the action, the output bytes and the maps.

use rvs_common::maps::{self, AF_V4, DestVal, MAX_DESTS, SvcKey, SvcVal};
use rvs_common::{conn_flags, proto, tcp};
use rvs_dataplane::Dataplane;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const VIP: [u8; 4] = [10, 0, 0, 240];
const CLIENT: [u8; 4] = [10, 0, 0, 10];

fn rs_mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, 0x40 + n]
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet + IPv4 + TCP frame from the client to the VIP.
fn tcp4(sport: u16, dport: u16, flags: u8, payload: &[u8], ttl: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DIRECTOR_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let tot = 20 + 20 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, ttl, proto::TCP, 0, 0];
    ip[2..4].copy_from_slice(&(tot as u16).to_be_bytes());
    ip.extend_from_slice(&CLIENT);
    ip.extend_from_slice(&VIP);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&CLIENT);
    pseudo.extend_from_slice(&VIP);
    pseudo.extend_from_slice(&[0, proto::TCP]);
    pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&t);
    let c = csum(&pseudo);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&t);
    f
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

/// The seed: VIP 10.0.0.240:8130 wlc, three DR dests of weight 3, added 241, 242, 243.
fn seeded() -> Dataplane {
    let mut dp = Dataplane::load_default(4096).expect("load the XDP program");
    let mut dests = [0u32; MAX_DESTS];
    // List order is newest first: 243 (id 3), 242 (id 2), 241 (id 1).
    for (slot, n) in [(0, 3u8), (1, 2), (2, 1)] {
        dests[slot] = u32::from(n);
        dp.put_dest(
            u32::from(n),
            &DestVal {
                addr: v4([10, 0, 0, 240 + n]),
                weight: 3,
                flags: maps::dest::AVAILABLE | maps::dest::MAC_KNOWN,
                ifindex: 0,
                port_be: 8130u16.to_be(),
                mac: rs_mac(n),
                src_mac: DIRECTOR_MAC,
                af: AF_V4,
                fwd: conn_flags::DROUTE as u8,
                _pad: [0; 4],
            },
        )
        .unwrap();
    }
    dp.put_service(
        &SvcKey {
            addr: v4(VIP),
            port_be: 8130u16.to_be(),
            proto: proto::TCP,
            af: AF_V4,
        },
        &SvcVal {
            id: 1,
            sched: maps::sched::WLC,
            ndests: 3,
            flags: 0,
            dests,
        },
    )
    .unwrap();
    dp
}

#[test]
fn root_syn_is_scheduled_rewritten_and_counted() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    let syn = tcp4(40000, 8130, tcp::flags::SYN, b"", 64);
    let (action, out) = dp.test_run(&syn).unwrap();
    assert_eq!(action, XDP_TX);
    // wlc with equal load picks the first dest in list order: 10.0.0.243.
    assert_eq!(&out[0..6], &rs_mac(3));
    assert_eq!(&out[6..12], &DIRECTOR_MAC);
    assert_eq!(out[22], 63, "TTL decremented");
    assert_eq!(csum(&out[14..34]), 0, "IPv4 header checksum still valid");
    assert_eq!(&out[34..], &syn[34..], "TCP untouched");
    let conns = dp.conns().unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].1.dest, 3);
    assert_eq!(conns[0].1.state, tcp::State::SynRecv as u8);
    assert_eq!(conns[0].1.timeout, 60);
    assert_eq!(dp.dest_conns(3).unwrap().active, 1);
    assert_eq!(dp.dest_conns(3).unwrap().inactive, 0);
    let st = dp.dest_stats(3).unwrap();
    assert_eq!((st.conns, st.inpkts, st.inbytes), (1, 1, 40));
    // The next SYN from another port goes to the next least-loaded dest.
    let (_, out) = dp
        .test_run(&tcp4(40001, 8130, tcp::flags::SYN, b"", 64))
        .unwrap();
    assert_eq!(&out[0..6], &rs_mac(2));
}

#[test]
fn root_not_for_a_service_passes() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    let ssh = tcp4(40000, 22, tcp::flags::SYN, b"", 64);
    let (action, out) = dp.test_run(&ssh).unwrap();
    assert_eq!((action, out), (XDP_PASS, ssh));
    let ack = tcp4(40000, 8130, tcp::flags::ACK, b"data", 64);
    assert_eq!(
        dp.test_run(&ack).unwrap().0,
        XDP_PASS,
        "non-SYN without a conn"
    );
    let mut cut = tcp4(40000, 8130, tcp::flags::SYN, b"", 64);
    cut.truncate(40);
    assert_eq!(dp.test_run(&cut).unwrap().0, XDP_PASS, "truncated");
    assert!(dp.conns().unwrap().is_empty());
    let _ = XDP_DROP;
}
