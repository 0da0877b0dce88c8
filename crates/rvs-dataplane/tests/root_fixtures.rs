// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the XDP program under `BPF_PROG_TEST_RUN`, as a fixture table. Each row is a
//! packet built here, the action and output bytes expected, and the connection entry expected
//! afterwards; rows run in order on one loaded program, so the table also walks connections
//! through their states.

mod common;

use common::*;
use rvs_common::maps::{self, DestVal};
use rvs_common::tcp::State;
use rvs_common::tcp::flags::{ACK, FIN, RST, SYN};
use rvs_common::{conn_flags, proto};
use rvs_dataplane::Dataplane;
use rvs_netns::is_root;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// XDP_TX to the dest with this id, frame rewritten for DR.
    Fwd(u32),
    /// XDP_PASS, frame untouched.
    Pass,
    /// XDP_DROP.
    Drop,
}

/// What the flow's connection entry must look like after the row.
#[derive(Clone, Copy, Debug)]
enum After {
    /// No entry.
    NoConn,
    /// An entry on this dest, in this state (byte), with this timeout.
    Conn(u32, u8, u32),
    /// Not checked.
    Any,
}

fn seeded() -> Dataplane {
    let mut dp = load();
    for (svc_id, v6, proto, ids) in [
        (1, false, proto::TCP, [3u32, 2, 1]),
        (2, false, proto::UDP, [13, 12, 11]),
        (3, true, proto::TCP, [23, 22, 21]),
    ] {
        for id in ids {
            dp.put_dest(id, &dest(id, v6, 3)).unwrap();
        }
        dp.put_service(
            &svc_key(v6, proto),
            &svc_val(svc_id, maps::sched::WLC, ids.len()),
            &ids,
        )
        .unwrap();
    }
    dp
}

fn row(dp: &mut Dataplane, name: &str, p: &Pkt, frame: &[u8], expect: Expect, after: After) {
    let (action, out) = dp.test_run(frame).unwrap();
    match expect {
        Expect::Fwd(id) => {
            assert_eq!(action, XDP_TX, "{name}: action");
            assert_eq!(out, forwarded(frame, id), "{name}: output bytes");
            if !p.v6 {
                let ihl = usize::from(out[14] & 0xf) * 4;
                assert_eq!(csum(&out[14..14 + ihl]), 0, "{name}: IPv4 checksum");
            }
        }
        Expect::Pass => {
            assert_eq!(action, XDP_PASS, "{name}: action");
            assert_eq!(out, frame, "{name}: a passed frame is untouched");
        }
        Expect::Drop => assert_eq!(action, XDP_DROP, "{name}: action"),
    }
    let got = dp.conn(&p.key()).unwrap();
    match after {
        After::NoConn => assert!(got.is_none(), "{name}: unexpected entry {got:?}"),
        After::Conn(dest, state, timeout) => {
            let c = got.unwrap_or_else(|| panic!("{name}: no entry"));
            assert_eq!(
                (c.dest, c.state, c.timeout),
                (dest, state, timeout),
                "{name}: entry {c:?}"
            );
        }
        After::Any => {}
    }
}

fn s(x: State) -> u8 {
    x as u8
}

#[test]
fn root_fixture_table() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    let a = |f: u8| Pkt::tcp(40000, f);
    let mut data = a(ACK | 0x08);
    data.payload = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    let b = |f: u8| Pkt::tcp(40001, f);
    let mut opts = Pkt::tcp(40002, SYN);
    opts.ip_opts = vec![1, 1, 1, 0]; // NOP NOP NOP EOL
    let mut v6hop = Pkt::tcp(40003, SYN).v6();
    v6hop.ext = vec![(0, vec![1, 4, 0, 0, 0, 0])]; // hop-by-hop with PadN
    let mut frag_mf = Pkt::udp(40004);
    frag_mf.frag = 0x2000;
    let mut frag_off = Pkt::udp(40005);
    frag_off.frag = 0x0010;
    let mut v6frag = Pkt::udp(40006).v6();
    v6frag.ext = vec![(44, vec![0, 0, 0, 0, 0, 1])];
    let mut ttl1 = Pkt::tcp(40007, SYN);
    ttl1.ttl = 1;
    let ssh = Pkt {
        dport: 22,
        ..Pkt::tcp(40008, SYN)
    };
    let stray = Pkt::tcp(40009, ACK);
    let synrst = Pkt::tcp(40010, SYN | RST);

    let rows: Vec<(&str, Pkt, Expect, After)> = vec![
        // A DR connection through its states (INPUT-ONLY table).
        (
            "SYN schedules by wlc: first in list order",
            a(SYN),
            Expect::Fwd(3),
            After::Conn(3, s(State::SynRecv), 60),
        ),
        (
            "ACK establishes",
            a(ACK),
            Expect::Fwd(3),
            After::Conn(3, s(State::Established), 900),
        ),
        (
            "data stays established",
            data.clone(),
            Expect::Fwd(3),
            After::Conn(3, s(State::Established), 900),
        ),
        (
            "FIN goes to FIN_WAIT",
            a(FIN | ACK),
            Expect::Fwd(3),
            After::Conn(3, s(State::FinWait), 120),
        ),
        (
            "last ACK stays in FIN_WAIT",
            a(ACK),
            Expect::Fwd(3),
            After::Conn(3, s(State::FinWait), 120),
        ),
        (
            "RST closes",
            a(RST),
            Expect::Fwd(3),
            After::Conn(3, s(State::Close), 10),
        ),
        // A new SYN on a CLOSE entry is scheduled afresh (conn_reuse_mode=1). The old entry is
        // expired first, giving its count back, so wlc sees three idle dests again.
        (
            "SYN on a closed entry is rescheduled",
            a(SYN),
            Expect::Fwd(3),
            After::Conn(3, s(State::SynRecv), 60),
        ),
        (
            "second flow goes to the least loaded",
            b(SYN),
            Expect::Fwd(2),
            After::Conn(2, s(State::SynRecv), 60),
        ),
        (
            "RST in SYN_RECV stays SYN_RECV",
            b(RST),
            Expect::Fwd(2),
            After::Conn(2, s(State::SynRecv), 60),
        ),
        (
            "UDP flow",
            Pkt::udp(40000),
            Expect::Fwd(13),
            After::Conn(13, 0, 300),
        ),
        (
            "UDP refreshes",
            Pkt::udp(40000),
            Expect::Fwd(13),
            After::Conn(13, 0, 300),
        ),
        (
            "IPv6 SYN",
            Pkt::tcp(40000, SYN).v6(),
            Expect::Fwd(23),
            After::Conn(23, s(State::SynRecv), 60),
        ),
        (
            "IPv6 with a hop-by-hop header",
            v6hop.clone(),
            Expect::Fwd(22),
            After::Conn(22, s(State::SynRecv), 60),
        ),
        (
            "IPv4 with options",
            opts.clone(),
            Expect::Fwd(1),
            After::Conn(1, s(State::SynRecv), 60),
        ),
        // Not ours: the director's stack gets them untouched.
        (
            "not a service (port 22)",
            ssh.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        (
            "non-SYN without an entry",
            stray.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        (
            "SYN+RST creates nothing",
            synrst.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        (
            "IPv4 fragment (MF)",
            frag_mf.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        (
            "IPv4 fragment (offset)",
            frag_off.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        (
            "IPv6 fragment header",
            v6frag.clone(),
            Expect::Pass,
            After::NoConn,
        ),
        // As in IPVS, the entry is made and counted before transmission finds the TTL spent;
        // the frame then goes untouched to the stack, which sends the time-exceeded error.
        (
            "TTL 1: the stack answers",
            ttl1.clone(),
            Expect::Pass,
            After::Conn(3, s(State::SynRecv), 60),
        ),
    ];
    for (name, p, expect, after) in &rows {
        row(&mut dp, name, p, &p.build(), *expect, *after);
    }

    // Truncated and malformed headers: passed untouched, never forwarded, no entry.
    let good = Pkt::tcp(40011, SYN);
    let frame = good.build();
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        // (BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.)
        ("Ethernet header only", frame[..14].to_vec()),
        ("frame cut inside the IPv4 header", frame[..30].to_vec()),
        ("frame cut inside the TCP header", frame[..44].to_vec()),
    ];
    let mut f = frame.clone();
    f[14] = 0x44; // IHL 4
    bad.push(("IPv4 header length below 20", f));
    let mut f = frame.clone();
    f[16..18].copy_from_slice(&200u16.to_be_bytes());
    bad.push(("IPv4 total length beyond the frame", f));
    let mut f = frame.clone();
    f[14] = 0x65;
    bad.push(("IP version 6 in an IPv4 frame", f));
    let mut f = frame.clone();
    f[46] = 0x40; // TCP data offset 4
    bad.push(("TCP data offset below 5", f));
    let mut u = Pkt::udp(40011).build();
    u[38..40].copy_from_slice(&4u16.to_be_bytes());
    bad.push(("UDP length below 8", u));
    let mut f = Pkt::tcp(40011, SYN).v6().build();
    f[18..20].copy_from_slice(&500u16.to_be_bytes());
    bad.push(("IPv6 payload length beyond the frame", f));
    for (name, f) in &bad {
        row(&mut dp, name, &good, f, Expect::Pass, After::NoConn);
    }

    // Counters: per dest, per service and in total, in IP datagram bytes; DR counts no output.
    let st = dp.dest_stats(3).unwrap();
    assert_eq!(
        st.conns, 3,
        "dest 3: flow A, its rescheduled successor, the TTL-1 flow"
    );
    let bytes: u64 = [
        a(SYN),
        a(ACK),
        data,
        a(FIN | ACK),
        a(ACK),
        a(RST),
        a(SYN),
        ttl1,
    ]
    .iter()
    .map(|p| p.build().len() as u64 - 14)
    .sum();
    assert_eq!((st.inpkts, st.inbytes), (8, bytes));
    assert_eq!((st.outpkts, st.outbytes), (0, 0));
    // The program counts by dest only; a service's counters are its dests' (summed by
    // `Director::refresh`, tested in `root_service_counts_keep_removed_dests`).
    let sum = |dp: &mut Dataplane, ids: &[u32]| {
        ids.iter().fold(maps::Stats::default(), |mut acc, id| {
            acc.add(&dp.dest_stats(*id).unwrap());
            acc
        })
    };
    let svc = sum(&mut dp, &[1, 2, 3]);
    assert_eq!((svc.conns, svc.inpkts), (5, 11));
    let total = sum(&mut dp, &[1, 2, 3, 11, 12, 13, 21, 22, 23]);
    assert_eq!(total.conns, 8);

    // Connection counts as the kernel keeps them: SYN_RECV is active, CLOSE and UDP inactive.
    assert_eq!(
        dp.conn_counts(3).unwrap(),
        (2, 0),
        "dest 3: two SYN_RECV entries"
    );
    for id in [2, 1] {
        assert_eq!(
            dp.conn_counts(id).unwrap(),
            (1, 0),
            "dest {id}: one SYN_RECV entry"
        );
    }
    assert_eq!(dp.conn_counts(13).unwrap(), (0, 1));
}

/// Weight 0 takes no new connections but keeps its old ones; a removed dest's connections
/// are dropped (expire_nodest_conn=0) or expired and passed on (=1); an unreachable dest takes
/// no new connections; no usable dest means ICMP port unreachable to the client.
#[test]
fn root_dest_changes() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    // A dest's change is written as rvs-dataplane writes it: the dest, then its service
    // again (whose walk list copies each dest's weight and flags).
    let put = |dp: &mut Dataplane, id: u32, v: &DestVal| {
        dp.put_dest(id, v).unwrap();
        dp.put_service(
            &svc_key(false, proto::TCP),
            &svc_val(1, maps::sched::WLC, 3),
            &[3, 2, 1],
        )
        .unwrap();
    };
    let f1 = Pkt::tcp(41000, SYN);
    row(
        &mut dp,
        "to dest 3",
        &f1,
        &f1.build(),
        Expect::Fwd(3),
        After::Any,
    );
    put(&mut dp, 3, &dest(3, false, 0));
    let ack = Pkt::tcp(41000, ACK);
    row(
        &mut dp,
        "weight 0 keeps its connection",
        &ack,
        &ack.build(),
        Expect::Fwd(3),
        After::Conn(3, s(State::Established), 900),
    );
    let f2 = Pkt::tcp(41001, SYN);
    row(
        &mut dp,
        "weight 0 takes no new one",
        &f2,
        &f2.build(),
        Expect::Fwd(2),
        After::Any,
    );
    let mut unreachable = dest(1, false, 3);
    unreachable.flags &= !maps::dest::MAC_KNOWN;
    put(&mut dp, 1, &unreachable);
    let f3 = Pkt::tcp(41002, SYN);
    row(
        &mut dp,
        "unreachable dest (no route, or behind a gateway) takes no new one",
        &f3,
        &f3.build(),
        Expect::Fwd(2),
        After::Any,
    );
    // Remove dest 2 (what rvs-dataplane writes for a deleted dest).
    put(&mut dp, 2, &DestVal::default());
    let f2ack = Pkt::tcp(41001, ACK);
    row(
        &mut dp,
        "removed dest: dropped",
        &f2ack,
        &f2ack.build(),
        Expect::Drop,
        After::Conn(2, s(State::SynRecv), 60),
    );
    // No usable dest: IPVS "leaves" the packet with ICMP port unreachable from the VIP.
    let f4 = Pkt::tcp(41003, SYN);
    let frame = f4.build();
    let (action, out) = dp.test_run(&frame).unwrap();
    assert_eq!(action, XDP_TX, "the ICMP answer goes back out");
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(&out[6..12], &DIRECTOR_MAC);
    assert_eq!(
        out.len(),
        14 + 20 + 8 + 28,
        "IP + ICMP + the quoted header and 8 bytes"
    );
    assert_eq!((out[14], out[22], out[23]), (0x45, 64, proto::ICMP));
    assert_eq!(&out[26..30], &VIP4, "from the VIP");
    assert_eq!(&out[30..34], &f4.saddr()[..], "to the client");
    assert_eq!(csum(&out[14..34]), 0, "IPv4 checksum");
    assert_eq!(
        (out[34], out[35]),
        (3, 3),
        "destination unreachable, port unreachable"
    );
    assert_eq!(csum(&out[34..]), 0, "ICMP checksum");
    assert_eq!(
        &out[42..],
        &frame[14..14 + 28],
        "quotes the client's IP header and 8 bytes"
    );
    assert!(dp.conn(&f4.key()).unwrap().is_none());

    // The same for IPv6 (ICMPv6 type 1 code 4, checksum over the pseudo-header).
    for id in [23, 22, 21] {
        dp.put_dest(id, &dest(id, true, 0)).unwrap();
    }
    dp.put_service(
        &svc_key(true, proto::TCP),
        &svc_val(3, maps::sched::WLC, 3),
        &[23, 22, 21],
    )
    .unwrap();
    let f6 = Pkt::tcp(41004, SYN).v6();
    let frame = f6.build();
    let (action, out) = dp.test_run(&frame).unwrap();
    assert_eq!(action, XDP_TX);
    assert_eq!(out.len(), 14 + 40 + 8 + 48);
    assert_eq!((out[20], out[21]), (proto::ICMPV6, 64));
    assert_eq!(&out[22..38], &VIP6);
    assert_eq!((out[54], out[55]), (1, 4));
    let mut pseudo = out[22..54].to_vec();
    pseudo.extend_from_slice(&[0, 0, 0, 56, 0, 0, 0, proto::ICMPV6]);
    pseudo.extend_from_slice(&out[54..]);
    assert_eq!(csum(&pseudo), 0, "ICMPv6 checksum");
    assert_eq!(&out[62..], &frame[14..14 + 48]);

    dp.set_config(maps::CONFIG_EXPIRE_NODEST_CONN, 1).unwrap();
    row(
        &mut dp,
        "expire_nodest_conn=1: expired, to the stack",
        &f2ack,
        &f2ack.build(),
        Expect::Pass,
        After::NoConn,
    );
    assert_eq!(
        dp.conn_counts(2).unwrap(),
        (1, 0),
        "the expired entry gave its count back"
    );
    let _ = conn_flags::DROUTE;
}

/// The sweeper's view: an entry idle past its timeout is removed by user space, which gives
/// the dest count back through the swept counters.
#[test]
fn root_sweep_releases_counts() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    let mut t = rvs_model::Timeouts::default();
    t.set(0, 0, 1).unwrap();
    dp.set_timeouts(&t).unwrap();
    let u = Pkt::udp(42000);
    row(
        &mut dp,
        "UDP with a 1 s timeout",
        &u,
        &u.build(),
        Expect::Fwd(13),
        After::Conn(13, 0, 1),
    );
    assert_eq!(dp.conn_counts(13).unwrap(), (0, 1));
    let mut director = rvs_dataplane::director::Director::new(dp);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while director.sweep().unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "entry never expired");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let dp = director.dataplane();
    assert!(dp.conn(&u.key()).unwrap().is_none());
    assert_eq!(dp.conn_counts(13).unwrap(), (0, 0));
}

/// `-x 10 -y 5`: once the dest holds ten connections it takes no new one (the client gets
/// port unreachable); it takes new ones again once fewer than five are left, not before.
#[test]
fn root_thresholds() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = load();
    let mut d = dest(1, false, 1);
    d.u_threshold = 10;
    d.l_threshold = 5;
    dp.put_dest(1, &d).unwrap();
    dp.put_service(
        &svc_key(false, proto::UDP),
        &svc_val(1, maps::sched::WLC, 1),
        &[1],
    )
    .unwrap();
    let flows: Vec<Pkt> = (0..10).map(|i| Pkt::udp(43000 + i)).collect();
    for f in &flows {
        let (action, out) = dp.test_run(&f.build()).unwrap();
        assert_eq!(
            (action, out[5]),
            (XDP_TX, 1),
            "connection {} of ten",
            f.sport
        );
    }
    assert!(dp.overload(1).unwrap(), "ten connections reach -x 10");
    let unreachable = |dp: &mut Dataplane, port: u16| {
        let (action, out) = dp.test_run(&Pkt::udp(port).build()).unwrap();
        action == XDP_TX && out[23] == proto::ICMP
    };
    assert!(unreachable(&mut dp, 43100), "an eleventh is refused");
    // Existing connections still flow.
    let (action, _) = dp.test_run(&flows[0].build()).unwrap();
    assert_eq!(action, XDP_TX);
    let mut director = rvs_dataplane::director::Director::new(dp);
    for f in &flows[..5] {
        assert!(director.expire(&f.key()).unwrap());
    }
    let dp = director.dataplane();
    assert!(dp.overload(1).unwrap(), "five left is not below -y 5");
    assert!(unreachable(dp, 43101));
    assert!(director.expire(&flows[5].key()).unwrap());
    let dp = director.dataplane();
    assert!(!dp.overload(1).unwrap(), "four left is below -y 5");
    let (action, out) = dp.test_run(&Pkt::udp(43102).build()).unwrap();
    assert_eq!((action, out[5]), (XDP_TX, 1), "new connections again");
}

/// A dest whose MAC is being resolved is scheduled as any other (IPVS leaves resolution to
/// the kernel): the SYN makes its entry and is dropped, not refused, and the dest's address is
/// handed to user space; once the MAC is known the client's retransmission goes through on
/// the same entry. The same for a service whose only dest is being resolved.
#[test]
fn root_resolving_dest() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = load();
    let mut resolving = dest(1, false, 1);
    resolving.flags = maps::dest::AVAILABLE | maps::dest::RESOLVING;
    resolving.mac = [0; 6];
    resolving.src_mac = [0; 6];
    dp.put_dest(1, &resolving).unwrap();
    dp.put_service(
        &svc_key(false, proto::TCP),
        &svc_val(1, maps::sched::RR, 1),
        &[1],
    )
    .unwrap();
    let syn = Pkt::tcp(42000, SYN);
    row(
        &mut dp,
        "resolving: scheduled, dropped (no ICMP port unreachable)",
        &syn,
        &syn.build(),
        Expect::Drop,
        After::Conn(1, s(State::SynRecv), 60),
    );
    let wanted = dp.take_needed_neighbours().unwrap();
    assert_eq!(wanted.len(), 1, "the dest's address goes to user space");
    assert_eq!(&wanted[0].addr[..4], &[10, 0, 0, 241]);
    assert!(
        dp.take_needed_neighbours().unwrap().is_empty(),
        "taken once"
    );
    // Resolved: what rvsd writes then.
    dp.put_dest(1, &dest(1, false, 1)).unwrap();
    row(
        &mut dp,
        "resolved: the retransmitted SYN goes to the dest on the same entry",
        &syn,
        &syn.build(),
        Expect::Fwd(1),
        After::Conn(1, s(State::SynRecv), 60),
    );
    assert_eq!(
        dp.conn_counts(1).unwrap(),
        (1, 0),
        "one SYN_RECV entry, counted once"
    );
}

/// Parsing once: the third program takes the packet and service the second one carried in the
/// frame's metadata (`Carry`), and takes the carry off; one without the magic is parsed again.
#[test]
fn root_carry_is_read_and_taken_off() {
    if !is_root() {
        return;
    }
    let mut dp = seeded();
    let p = Pkt::tcp(4100, SYN);
    let frame = p.build();
    let carry = |magic, svc: maps::SvcVal| maps::Carry {
        magic,
        l4: 14 + 20,
        svc,
        ip_len: (frame.len() - 14) as u32,
        af: maps::AF_V4,
        proto: proto::TCP,
        tcp_flags: SYN,
        has_svc: 1,
        sport_be: p.sport.to_be(),
        dport_be: p.dport.to_be(),
    };
    // The carried service is the UDP one (dests 11-13); the frame's own is the TCP one
    // (dests 1-3). A dest of the carried service proves the carry was read.
    let udp_svc = svc_val(2, maps::sched::WLC, 3);
    let (action, out) = dp
        .run_with_meta(
            rvs_dataplane::NEW_PROGRAM,
            &carry(maps::CARRY_MAGIC, udp_svc).to_bytes(),
            &frame,
        )
        .unwrap();
    assert_eq!(action, 3, "the SYN is forwarded");
    assert_eq!(out.len(), frame.len(), "the carry was taken off the frame");
    assert!(
        (11..=13).any(|n| out == forwarded(&frame, n)),
        "scheduled on the carried service's dests"
    );
    // Another magic (another build's layout, or someone else's metadata): parsed again, the
    // frame's own service, and the metadata left alone.
    let frame = Pkt::tcp(4101, SYN).build();
    let stale = carry(maps::CARRY_MAGIC ^ 0xff, udp_svc).to_bytes();
    let (action, out) = dp
        .run_with_meta(rvs_dataplane::NEW_PROGRAM, &stale, &frame)
        .unwrap();
    assert_eq!(action, 3, "the SYN is forwarded");
    assert_eq!(&out[..32], &stale[..], "foreign metadata is left as it was");
    assert!(
        (1..=3).any(|n| out[32..] == forwarded(&frame, n)),
        "scheduled on the frame's own service"
    );
    // The second program reads the carry too, and hands on its own: the carry names the
    // service's port, the frame another one, which no service has. Forwarded means that the
    // second program took the port from the carry, and the third took it from the second.
    let mut other = Pkt::tcp(4103, SYN);
    other.dport = PORT + 1;
    let frame = other.build();
    let mut c = carry(maps::CARRY_MAGIC, udp_svc);
    c.has_svc = 0;
    c.sport_be = other.sport.to_be();
    let (action, out) = dp
        .run_with_meta(rvs_dataplane::MISS_PROGRAM, &c.to_bytes(), &frame)
        .unwrap();
    assert_eq!(action, 3, "the second and third programs went by the carry");
    assert!((1..=3).any(|n| out == forwarded(&frame, n)));
    // Through the whole chain, nothing is left in front of the frame.
    let frame = Pkt::tcp(4102, SYN).build();
    let (action, out) = dp.test_run(&frame).unwrap();
    assert_eq!(action, 3);
    assert!((1..=3).any(|n| out == forwarded(&frame, n)));
}

/// One lookup per packet for the counters: the program counts by dest, and `refresh` gives a
/// service the sum of its dests, the total the sum of all; a removed dest's counts stay in
/// both, as IPVS keeps them in its service and total counters.
#[test]
fn root_service_counts_keep_removed_dests() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    use rvs_dataplane::neigh::Neigh;
    use rvs_model::{DestConfig, FwdMethod, Protocol, ServiceConfig, ServiceKey, Table};
    use std::net::IpAddr;
    let key = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: IpAddr::from(VIP4),
        port: PORT,
    };
    let rs = |n: u8| IpAddr::from([10, 0, 0, 240 + n]);
    let mut t = Table::new();
    t.add_service(ServiceConfig {
        key,
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: u32::MAX,
        pe: String::new(),
    })
    .unwrap();
    for n in [1, 2] {
        t.add_dest(
            &key,
            DestConfig {
                addr: rs(n),
                port: PORT,
                fwd: FwdMethod::Route,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tun_type: rvs_model::TunType::Ipip,
                tun_port: 0,
                tun_csum: rvs_model::TunCsum::Nocsum,
            },
        )
        .unwrap();
    }
    let mut d = rvs_dataplane::director::Director::new(load());
    d.set_neighbours(
        [1, 2]
            .iter()
            .map(|n| {
                (
                    rs(*n),
                    Neigh::Known {
                        mac: rs_mac(u32::from(*n)),
                        ifindex: 0,
                        src_mac: DIRECTOR_MAC,
                        dev: "test".into(),
                        path: Default::default(),
                    },
                )
            })
            .collect(),
    );
    d.apply(&t, false).unwrap();
    // Four connections, two packets each: rr puts two on each dest.
    for sport in 5000..5004 {
        for flags in [SYN, ACK] {
            let (action, _) = d
                .dataplane()
                .test_run(&Pkt::tcp(sport, flags).build())
                .unwrap();
            assert_eq!(action, 3);
        }
    }
    d.refresh(&mut t).unwrap();
    let svc = t.service(&key).unwrap().stats.raw;
    assert_eq!((svc.conns, svc.inpkts), (4, 8));
    assert_eq!((t.total.raw.conns, t.total.raw.inpkts), (4, 8));
    for dest in &t.service(&key).unwrap().dests {
        assert_eq!((dest.stats.raw.conns, dest.stats.raw.inpkts), (2, 4));
    }
    // Dest 2 goes: the service and the total keep what it counted.
    t.del_dest(&key, &rs(2), PORT).unwrap();
    d.apply(&t, false).unwrap();
    d.refresh(&mut t).unwrap();
    let svc = t.service(&key).unwrap().stats.raw;
    assert_eq!(
        (svc.conns, svc.inpkts),
        (4, 8),
        "the removed dest's counts stay"
    );
    assert_eq!((t.total.raw.conns, t.total.raw.inpkts), (4, 8));
    assert_eq!(t.service(&key).unwrap().dests.len(), 1);
}

/// The counting schedulers walk a service's walk list; where it is not the one written with
/// the service (an upgrade from an rvs without it, until the first write), they walk the dest
/// list and each dest's value instead, and choose alike.
#[test]
fn root_walk_without_walk_list() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = seeded();
    dp.forget_walk_list(1).unwrap();
    // Dest 3 (first in list order) at weight 0, written to `DESTS` only: wlc takes the next.
    dp.put_dest(3, &dest(3, false, 0)).unwrap();
    for (sport, want) in [(43000, 2), (43001, 1), (43002, 2)] {
        let p = Pkt::tcp(sport, SYN);
        row(
            &mut dp,
            "wlc over the dest list",
            &p,
            &p.build(),
            Expect::Fwd(want),
            After::Any,
        );
    }
}
