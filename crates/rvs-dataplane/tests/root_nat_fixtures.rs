// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: NAT (masquerading) rewrites under `BPF_PROG_TEST_RUN`, byte for byte. Every
//! expected frame is built here from its header values with checksums computed from scratch,
//! so the program's incremental checksum updates are checked against an independent
//! computation. The program runs in a private network namespace whose FIB and neighbour table
//! give the replies' next hop (`bpf_fib_lookup`).

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{DIRECTOR_MAC, XDP_DROP, XDP_PASS, XDP_TX, csum, is_root};
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
        l4.extend_from_slice(b"hello");
    } else {
        l4.extend_from_slice(&13u16.to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(b"hello");
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
