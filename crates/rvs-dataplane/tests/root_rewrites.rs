// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: NAT (masquerading) and tunnel (IPIP, GUE, GRE) rewrites under
//! `BPF_PROG_TEST_RUN`, byte for byte, and the ICMP a tunnel answers with. Every
//! expected frame is built here from its header values with checksums computed from scratch,
//! so the program's incremental checksum updates are checked against an independent
//! computation. The program runs in a private network namespace whose FIB and neighbour table
//! give the replies' next hop (`bpf_fib_lookup`).

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{DIRECTOR_MAC, XDP_DROP, XDP_PASS, XDP_TX, csum};
use rvs_common::maps::{AF_V4, ConnKey};
use rvs_common::proto;
use rvs_common::tcp::State;
use rvs_common::tcp::flags::{ACK, SYN};
use rvs_dataplane::Dataplane;
use rvs_dataplane::director::Director;
use rvs_dataplane::neigh::Neigh;
use rvs_model::{
    DestConfig, FwdMethod, Protocol, ServiceConfig, ServiceKey, Table, TunCsum, TunType,
};
use rvs_netns::Netns;
use rvs_netns::is_root;

const XDP_REDIRECT: u32 = 4;
const RS_MAC: [u8; 6] = [0x02, 0, 0, 1, 0, 1];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];

/// A frame with every checksum computed from scratch (`zero_udp`: an IPv4 UDP datagram
/// without a checksum).
#[allow(clippy::too_many_arguments)]
fn frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    ttl: u8,
    flags: u8,
    zero_udp: bool,
) -> Vec<u8> {
    frame_payload(
        dst_mac, src_mac, proto, src, sport, dst, dport, ttl, flags, zero_udp, b"hello",
    )
}

/// [`frame`] with a payload of its own.
#[allow(clippy::too_many_arguments)]
fn frame_payload(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    ttl: u8,
    flags: u8,
    zero_udp: bool,
    payload: &[u8],
) -> Vec<u8> {
    let bytes = |a: IpAddr| match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let (s, d) = (bytes(src), bytes(dst));
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if proto == proto::TCP {
        l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        l4.extend_from_slice(payload);
    } else {
        l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
    }
    if !zero_udp {
        let mut pseudo = s.clone();
        pseudo.extend_from_slice(&d);
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&l4);
        let mut c = csum(&pseudo);
        if c == 0 && proto == proto::UDP {
            c = 0xffff;
        }
        let at = if proto == proto::TCP { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    if src.is_ipv4() {
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, ttl, proto, 0, 0];
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&s);
        ip.extend_from_slice(&d);
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
    } else {
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[proto, ttl]);
        f.extend_from_slice(&s);
        f.extend_from_slice(&d);
    }
    f.extend_from_slice(&l4);
    f
}

/// Runs one frame and checks the action and (if given) the output frame.
fn run(d: &mut Director, name: &str, input: Vec<u8>, action: u32, want: Option<Vec<u8>>) {
    let (a, out) = d.dataplane().test_run(&input).unwrap();
    let reasons = d.dataplane().reasons().unwrap();
    assert_eq!(a, action, "{name}: action (reasons so far {reasons:?})");
    if let Some(w) = want {
        assert_eq!(out, w, "{name}: frame");
    }
}

/// Runs `f` with this thread in network namespace `ns`.
fn in_netns<T>(ns: &str, f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let own = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
    let target = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    // SAFETY: valid namespace fds; setns changes this thread only.
    unsafe { assert_eq!(libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET), 0) };
    let r = f();
    // SAFETY: as above.
    unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) };
    r
}

fn masq(addr: &str) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        port: 82,
        fwd: FwdMethod::Masq,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tun_type: TunType::Ipip,
        tun_port: 0,
        tun_csum: TunCsum::Nocsum,
    }
}

fn service(protocol: Protocol, vip: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: vip.parse().unwrap(),
        port: 8130,
    }
}

#[test]
fn root_nat_rewrites() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN and a namespace");
        return;
    }
    // The client side: an interface with the clients' neighbour entries (one client has none).
    let ns = Netns::new("natfix");
    ns.sh(&[
        "ip", "link", "add", "o0", "type", "veth", "peer", "name", "o1",
    ]);
    ns.sh(&["ip", "link", "set", "o0", "up"]);
    ns.sh(&["ip", "link", "set", "o1", "up"]);
    ns.sh(&["ip", "addr", "add", "10.0.0.1/24", "dev", "o0"]);
    ns.sh(&["ip", "addr", "add", "fd00::1/64", "dev", "o0", "nodad"]);
    // A NAT director forwards (IPVS needs it too): the FIB lookup refuses otherwise.
    ns.sysctl("net.ipv4.ip_forward", "1");
    ns.sysctl("net.ipv6.conf.all.forwarding", "1");
    for a in ["10.0.0.10", "fd00::10"] {
        ns.sh(&[
            "ip",
            "neigh",
            "replace",
            a,
            "lladdr",
            "02:00:00:00:00:10",
            "dev",
            "o0",
            "nud",
            "permanent",
        ]);
    }
    let o0_mac: Vec<u8> = ns
        .sh(&["cat", "/sys/class/net/o0/address"])
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let o0_mac: [u8; 6] = o0_mac.try_into().unwrap();
    in_netns(ns.name(), || {
        let mut t = Table::new();
        for (p, vip, rs) in [
            (Protocol::Tcp, "10.0.0.240", "10.0.1.1"),
            (Protocol::Udp, "10.0.0.240", "10.0.1.1"),
            (Protocol::Tcp, "fd00::240", "fd00::1:1"),
        ] {
            t.add_service(ServiceConfig {
                key: service(p, vip),
                scheduler: "rr".into(),
                flags: 0,
                timeout: 0,
                netmask: if vip.contains(':') { 128 } else { u32::MAX },
                pe: String::new(),
            })
            .unwrap();
            t.add_dest(&service(p, vip), masq(rs)).unwrap();
        }
        let mut d = Director::new(Dataplane::load_default(4096).unwrap());
        let neigh: HashMap<IpAddr, Neigh> = ["10.0.1.1", "fd00::1:1"]
            .iter()
            .map(|a| {
                (
                    a.parse().unwrap(),
                    Neigh::Known {
                        mac: RS_MAC,
                        ifindex: 0,
                        src_mac: DIRECTOR_MAC,
                        dev: "test".into(),
                        path: Default::default(),
                    },
                )
            })
            .collect();
        d.set_neighbours(neigh);
        d.apply(&t, false).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Client to VIP: the destination becomes RIP:82, to the RS's MAC, TTL 63.
        for (name, p, c, vip, rs, flags, zero) in [
            (
                "TCP SYN in",
                proto::TCP,
                "10.0.0.10",
                "10.0.0.240",
                "10.0.1.1",
                SYN,
                false,
            ),
            (
                "UDP in",
                proto::UDP,
                "10.0.0.10",
                "10.0.0.240",
                "10.0.1.1",
                0,
                false,
            ),
            (
                "UDP in, no checksum",
                proto::UDP,
                "10.0.0.10",
                "10.0.0.240",
                "10.0.1.1",
                0,
                true,
            ),
            (
                "IPv6 TCP SYN in",
                proto::TCP,
                "fd00::10",
                "fd00::240",
                "fd00::1:1",
                SYN,
                false,
            ),
        ] {
            let sport = if zero { 40001 } else { 40000 };
            run(
                &mut d,
                name,
                frame(
                    DIRECTOR_MAC,
                    CLIENT_MAC,
                    p,
                    ip(c),
                    sport,
                    ip(vip),
                    8130,
                    64,
                    flags,
                    zero,
                ),
                XDP_TX,
                Some(frame(
                    RS_MAC,
                    DIRECTOR_MAC,
                    p,
                    ip(c),
                    sport,
                    ip(rs),
                    82,
                    63,
                    flags,
                    zero,
                )),
            );
            // The reply: the source becomes VIP:8130, to the client's next hop from the FIB
            // (out of o0, which is not where test runs arrive: a redirect).
            let reply_flags = if flags == SYN { SYN | ACK } else { 0 };
            run(
                &mut d,
                &format!("{name}: reply"),
                frame(
                    DIRECTOR_MAC,
                    RS_MAC,
                    p,
                    ip(rs),
                    82,
                    ip(c),
                    sport,
                    64,
                    reply_flags,
                    zero,
                ),
                XDP_REDIRECT,
                Some(frame(
                    CLIENT_MAC,
                    o0_mac,
                    p,
                    ip(vip),
                    8130,
                    ip(c),
                    sport,
                    63,
                    reply_flags,
                    zero,
                )),
            );
        }
        // The connection saw both directions: the INPUT/OUTPUT tables (not INPUT-ONLY).
        let key = |c: &str, vip: &str, proto: u8, sport: u16| {
            let mut k = ConnKey {
                cport_be: sport.to_be(),
                vport_be: 8130u16.to_be(),
                proto,
                af: AF_V4,
                ..ConnKey::default()
            };
            let (IpAddr::V4(c), IpAddr::V4(v)) = (ip(c), ip(vip)) else {
                unreachable!()
            };
            k.caddr[..4].copy_from_slice(&c.octets());
            k.vaddr[..4].copy_from_slice(&v.octets());
            k
        };
        let tcp_key = key("10.0.0.10", "10.0.0.240", proto::TCP, 40000);
        let e = d.dataplane().conn(&tcp_key).unwrap().expect("entry");
        assert_eq!(e.state, State::SynRecv as u8);
        run(
            &mut d,
            "ACK in",
            frame(
                DIRECTOR_MAC,
                CLIENT_MAC,
                proto::TCP,
                ip("10.0.0.10"),
                40000,
                ip("10.0.0.240"),
                8130,
                64,
                ACK,
                false,
            ),
            XDP_TX,
            Some(frame(
                RS_MAC,
                DIRECTOR_MAC,
                proto::TCP,
                ip("10.0.0.10"),
                40000,
                ip("10.0.1.1"),
                82,
                63,
                ACK,
                false,
            )),
        );
        let e = d.dataplane().conn(&tcp_key).unwrap().expect("entry");
        assert_eq!(
            e.state,
            State::Established as u8,
            "three-way handshake seen both ways"
        );
        // Counters: 5 packets in, 4 replies out, on the IPv4 services and in total.
        let mut t2 = t.clone();
        d.refresh(&mut t2).unwrap();
        let s = t2.service(&service(Protocol::Tcp, "10.0.0.240")).unwrap();
        assert_eq!((s.stats.raw.inpkts, s.stats.raw.outpkts), (2, 1));
        assert_eq!(s.stats.raw.outbytes, 45, "IP datagram bytes of the reply");
        let u = t2.service(&service(Protocol::Udp, "10.0.0.240")).unwrap();
        assert_eq!(
            (u.stats.raw.conns, u.stats.raw.inpkts, u.stats.raw.outpkts),
            (2, 2, 2)
        );
        assert_eq!((t2.total.raw.inpkts, t2.total.raw.outpkts), (5, 4));
        // A client the director has no neighbour entry for: the reply is dropped and the next
        // hop is handed to user space to resolve.
        run(
            &mut d,
            "SYN from a new client",
            frame(
                DIRECTOR_MAC,
                CLIENT_MAC,
                proto::TCP,
                ip("10.0.0.11"),
                40000,
                ip("10.0.0.240"),
                8130,
                64,
                SYN,
                false,
            ),
            XDP_TX,
            None,
        );
        run(
            &mut d,
            "reply to it",
            frame(
                DIRECTOR_MAC,
                RS_MAC,
                proto::TCP,
                ip("10.0.1.1"),
                82,
                ip("10.0.0.11"),
                40000,
                64,
                SYN | ACK,
                false,
            ),
            XDP_DROP,
            None,
        );
        let needed = d.needed_neighbours().unwrap();
        assert!(needed.contains(&ip("10.0.0.11")), "{needed:?}");
        // ICMP errors about the connection, translated both ways like its packets (outer and
        // quoted headers, as the kernel's ip_vs_in_icmp and ip_vs_out_icmp do); checksums
        // from scratch.
        let v = [10, 0, 0, 240];
        let c = [10, 0, 0, 10];
        let r = [10, 0, 1, 1];
        let frag_needed = [3, 4, 0, 0, 5, 0x78];
        let port_unreachable = [3, 3, 0, 0, 0, 0];
        // (name, [dst MAC, src MAC], source, destination, TTL, ICMP head, quote) in, the
        // action, and the same out (the head and TTL-1 implied) when it is forwarded.
        type Icmp = ([[u8; 6]; 2], [u8; 4], [u8; 4], Vec<u8>);
        type Row = (&'static str, Icmp, [u8; 6], u32, Option<Icmp>);
        let rows: [Row; 3] = [
            (
                // From the client side, about the server's reply (VIP:8130 -> client): to
                // the real server, translated back to what it sent (RIP:82).
                "fragmentation needed from the client side",
                ([DIRECTOR_MAC, CLIENT_MAC], c, v, quoted(v, 8130, c, 40000)),
                frag_needed,
                XDP_TX,
                Some(([RS_MAC, DIRECTOR_MAC], c, r, quoted(r, 82, c, 40000))),
            ),
            (
                // From the real server, about the client's packet (client -> RIP:82): to
                // the client, as from the VIP about VIP:8130.
                "port unreachable from the real server",
                ([DIRECTOR_MAC, RS_MAC], r, c, quoted(c, 40000, r, 82)),
                port_unreachable,
                XDP_REDIRECT,
                Some(([CLIENT_MAC, o0_mac], v, c, quoted(c, 40000, v, 8130))),
            ),
            (
                // An error about no connection is the director's own business.
                "unrelated ICMP error",
                ([DIRECTOR_MAC, CLIENT_MAC], c, v, quoted(v, 8130, c, 49999)),
                frag_needed,
                XDP_PASS,
                None,
            ),
        ];
        for (name, (macs, src, dst, quote), head, action, out) in rows {
            let want = out.map(|(m, s, d, q)| icmp4(m[0], m[1], s, d, 63, head, q));
            run(
                &mut d,
                name,
                icmp4(macs[0], macs[1], src, dst, 64, head, quote),
                action,
                want,
            );
        }
        // Expiring the entry takes its reply index with it: a late reply is not translated.
        assert!(d.expire(&tcp_key).unwrap());
        run(
            &mut d,
            "reply after expiry",
            frame(
                DIRECTOR_MAC,
                RS_MAC,
                proto::TCP,
                ip("10.0.1.1"),
                82,
                ip("10.0.0.10"),
                40000,
                64,
                ACK,
                false,
            ),
            XDP_PASS,
            None,
        );
    });
}

/// An outer IPv4 header (ID 0, the TOS given, DF, the TTL, the protocol) with its checksum
/// computed from scratch.
fn outer4(tos: u8, len: usize, ttl: u8, proto: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut h = vec![0x45, tos, 0, 0, 0, 0, 0x40, 0, ttl, proto, 0, 0];
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn tunnel(addr: &str, tun_type: TunType, port: u16) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        port: 8130,
        fwd: FwdMethod::Tunnel,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tun_type,
        tun_port: port,
        tun_csum: TunCsum::Nocsum,
    }
}

/// Tunnel encapsulation byte for byte: IPIP, GUE and GRE around the client's packet (TTL
/// decremented), and ICMP fragmentation needed for a DF packet that no longer fits the MTU.
#[test]
fn root_tunnel_rewrites() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut t = Table::new();
    let dests = [
        (8130u16, "10.0.2.1", TunType::Ipip, 0u16),
        (8131, "10.0.2.2", TunType::Gue, 6080),
        (8132, "10.0.2.3", TunType::Gre, 0),
    ];
    for (port, rs, kind, tport) in dests {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: ip("10.0.0.240"),
            port,
        };
        t.add_service(ServiceConfig {
            key,
            scheduler: "rr".into(),
            flags: 0,
            timeout: 0,
            netmask: u32::MAX,
            pe: String::new(),
        })
        .unwrap();
        let mut d = tunnel(rs, kind, tport);
        d.port = port;
        t.add_dest(&key, d).unwrap();
    }
    let mut d = Director::new(Dataplane::load_default(4096).unwrap());
    let path = rvs_dataplane::neigh::Path {
        src: Some(ip("10.0.2.254")),
        mtu: 1500,
        via_gateway: false,
    };
    d.set_neighbours(
        dests
            .iter()
            .map(|(_, rs, _, _)| {
                (
                    ip(rs),
                    Neigh::Known {
                        mac: RS_MAC,
                        ifindex: 0,
                        src_mac: DIRECTOR_MAC,
                        dev: "test".into(),
                        path: path.clone(),
                    },
                )
            })
            .collect(),
    );
    d.apply(&t, false).unwrap();
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let client = ip("10.0.0.10");
    let vip = ip("10.0.0.240");
    for (port, rs, kind, tport) in dests {
        let input = frame(
            DIRECTOR_MAC,
            CLIENT_MAC,
            proto::TCP,
            client,
            40000,
            vip,
            port,
            64,
            SYN,
            false,
        );
        let inner = frame(
            RS_MAC,
            DIRECTOR_MAC,
            proto::TCP,
            client,
            40000,
            vip,
            port,
            63,
            SYN,
            false,
        );
        let inner_ip = &inner[14..];
        let IpAddr::V4(r) = ip(rs) else {
            unreachable!()
        };
        let (proto_out, extra): (u8, Vec<u8>) = match kind {
            TunType::Ipip => (4, Vec::new()),
            TunType::Gue => {
                // The source port is the program's flow hash, mapped as the kernel maps it
                // into its ephemeral range.
                let flow = u32::from_be_bytes([10, 0, 0, 10])
                    ^ ((u32::from(40000u16.to_be()) << 16) | u32::from(port.to_be()));
                let sport = (32768 + rvs_common::maps::hash_32(flow, 16) % 28232) as u16;
                let mut u = sport.to_be_bytes().to_vec();
                u.extend_from_slice(&tport.to_be_bytes());
                u.extend_from_slice(&((inner_ip.len() + 12) as u16).to_be_bytes());
                u.extend_from_slice(&[0, 0, 0, 4, 0, 0]);
                (proto::UDP, u)
            }
            TunType::Gre => (47, vec![0, 0, 0x08, 0x00]),
        };
        let mut want = RS_MAC.to_vec();
        want.extend_from_slice(&DIRECTOR_MAC);
        want.extend_from_slice(&[0x08, 0x00]);
        want.extend_from_slice(&outer4(
            0,
            20 + extra.len() + inner_ip.len(),
            63,
            proto_out,
            [10, 0, 2, 254],
            r.octets(),
        ));
        want.extend_from_slice(&extra);
        want.extend_from_slice(inner_ip);
        run(&mut d, &format!("{kind:?} SYN"), input, XDP_TX, Some(want));
    }
    // 1500 bytes with DF do not fit an IPIP tunnel on a 1500-byte link: fragmentation needed,
    // MTU 1480, from the VIP to the client, quoting the IP header and 8 bytes.
    let big = frame_payload(
        DIRECTOR_MAC,
        CLIENT_MAC,
        proto::TCP,
        client,
        40001,
        vip,
        8130,
        64,
        SYN,
        false,
        &[7u8; 1460],
    );
    assert_eq!(big.len(), 14 + 1500);
    let quoted = &big[14..14 + 28];
    let mut icmp = vec![3, 4, 0, 0, 0, 0];
    icmp.extend_from_slice(&1480u16.to_be_bytes());
    icmp.extend_from_slice(quoted);
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut want = CLIENT_MAC.to_vec();
    want.extend_from_slice(&DIRECTOR_MAC);
    want.extend_from_slice(&[0x08, 0x00]);
    let mut h = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 240, 10, 0, 0, 10,
    ];
    h[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    want.extend_from_slice(&h);
    want.extend_from_slice(&icmp);
    run(
        &mut d,
        "DF packet too big for the tunnel",
        big,
        XDP_TX,
        Some(want),
    );
}

/// An IPv4 header plus 8 bytes of TCP, as an ICMP error quotes it.
fn quoted(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 45, 0, 1, 0x40, 0, 63, proto::TCP, 0, 0];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 1]);
    h
}

/// An ICMP error frame; `head` is `[type, code, rest of header (4 bytes)]`, the checksum is
/// computed here.
fn icmp4(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    head: [u8; 6],
    quote: Vec<u8>,
) -> Vec<u8> {
    let mut m = vec![head[0], head[1], 0, 0, head[2], head[3], head[4], head[5]];
    m.extend_from_slice(&quote);
    let c = csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, ttl, proto::ICMP, 0, 0];
    ip[2..4].copy_from_slice(&((20 + m.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&m);
    f
}
