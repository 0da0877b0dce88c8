// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packet building and map setup shared by the BPF_PROG_TEST_RUN tests.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod capture;

use rvs_common::conn_flags;
use rvs_common::maps::{self, AF_V4, AF_V6, ConnKey, DestVal, SvcKey, SvcVal};
use rvs_dataplane::Dataplane;

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const VIP4: [u8; 4] = [10, 0, 0, 240];
pub const VIP6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40];
pub const PORT: u16 = 8130;

/// The MAC of real server `n`.
pub fn rs_mac(n: u32) -> [u8; 6] {
    [0x02, 0, 0, 0, (n >> 8) as u8, n as u8]
}

/// One's complement checksum (RFC 1071), computed independently of the program.
pub fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A client packet to describe and build.
#[derive(Clone, Debug)]
pub struct Pkt {
    pub v6: bool,
    pub proto: u8,
    pub client: u8,
    /// The first three bytes of the IPv4 client address (`10.0.0` unless set).
    pub net: [u8; 3],
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
    pub payload: Vec<u8>,
    pub ttl: u8,
    /// IPv4 options (a multiple of 4 bytes).
    pub ip_opts: Vec<u8>,
    /// IPv4 flags+fragment offset field.
    pub frag: u16,
    /// IPv6 extension headers: (type, body of 6 + 8k bytes).
    pub ext: Vec<(u8, Vec<u8>)>,
}

impl Pkt {
    pub fn tcp(sport: u16, flags: u8) -> Pkt {
        Pkt {
            v6: false,
            proto: rvs_common::proto::TCP,
            client: 10,
            net: [10, 0, 0],
            sport,
            dport: PORT,
            flags,
            payload: Vec::new(),
            ttl: 64,
            ip_opts: Vec::new(),
            frag: 0x4000,
            ext: Vec::new(),
        }
    }

    pub fn udp(sport: u16) -> Pkt {
        Pkt {
            proto: rvs_common::proto::UDP,
            flags: 0,
            payload: b"ping".to_vec(),
            ..Pkt::tcp(sport, 0)
        }
    }

    pub fn v6(mut self) -> Pkt {
        self.v6 = true;
        self
    }

    pub fn saddr(&self) -> Vec<u8> {
        if self.v6 {
            let mut a = VIP6.to_vec();
            a[15] = self.client;
            a[14] = 0;
            a
        } else {
            vec![self.net[0], self.net[1], self.net[2], self.client]
        }
    }

    pub fn daddr(&self) -> Vec<u8> {
        if self.v6 {
            VIP6.to_vec()
        } else {
            VIP4.to_vec()
        }
    }

    fn l4(&self) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        if self.proto == rvs_common::proto::TCP {
            t.extend_from_slice(&[
                0, 0, 0, 1, 0, 0, 0, 0, 0x50, self.flags, 0xff, 0xff, 0, 0, 0, 0,
            ]);
        } else {
            t.extend_from_slice(&((8 + self.payload.len()) as u16).to_be_bytes());
            t.extend_from_slice(&[0, 0]);
        }
        t.extend_from_slice(&self.payload);
        let mut pseudo = self.saddr();
        pseudo.extend_from_slice(&self.daddr());
        pseudo.extend_from_slice(&[0, self.proto]);
        pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&t);
        let c = csum(&pseudo);
        let at = if self.proto == rvs_common::proto::TCP {
            16
        } else {
            6
        };
        t[at..at + 2].copy_from_slice(&c.to_be_bytes());
        t
    }

    /// The Ethernet frame.
    pub fn build(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DIRECTOR_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        let l4 = self.l4();
        if self.v6 {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let ext_len: usize = self.ext.iter().map(|(_, b)| 2 + b.len()).sum();
            let first = self.ext.first().map_or(self.proto, |e| e.0);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&((ext_len + l4.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[first, self.ttl]);
            f.extend_from_slice(&self.saddr());
            f.extend_from_slice(&self.daddr());
            for (i, (_, body)) in self.ext.iter().enumerate() {
                let next = self.ext.get(i + 1).map_or(self.proto, |e| e.0);
                f.push(next);
                f.push(((body.len() + 2) / 8 - 1) as u8);
                f.extend_from_slice(body);
            }
        } else {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let ihl = 5 + self.ip_opts.len() / 4;
            let tot = ihl * 4 + l4.len();
            let mut ip = vec![0x40 | ihl as u8, 0, 0, 0, 0, 1];
            ip[2..4].copy_from_slice(&(tot as u16).to_be_bytes());
            ip.extend_from_slice(&self.frag.to_be_bytes());
            ip.extend_from_slice(&[self.ttl, self.proto, 0, 0]);
            ip.extend_from_slice(&self.saddr());
            ip.extend_from_slice(&self.daddr());
            ip.extend_from_slice(&self.ip_opts);
            let c = csum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        f.extend_from_slice(&l4);
        f
    }

    /// The connection key the program uses for this packet.
    pub fn key(&self) -> ConnKey {
        let mut k = ConnKey {
            cport_be: self.sport.to_be(),
            vport_be: self.dport.to_be(),
            proto: self.proto,
            af: if self.v6 { AF_V6 } else { AF_V4 },
            ..ConnKey::default()
        };
        k.caddr[..self.saddr().len()].copy_from_slice(&self.saddr());
        k.vaddr[..self.daddr().len()].copy_from_slice(&self.daddr());
        k
    }
}

/// The frame the program should send for `input` to real server `n`: new MACs, TTL or hop
/// limit minus one, IPv4 header checksum valid, everything else unchanged.
pub fn forwarded(input: &[u8], n: u32) -> Vec<u8> {
    let mut f = input.to_vec();
    f[0..6].copy_from_slice(&rs_mac(n));
    f[6..12].copy_from_slice(&DIRECTOR_MAC);
    if u16::from_be_bytes([f[12], f[13]]) == 0x0800 {
        f[22] -= 1;
        let ihl = usize::from(f[14] & 0xf) * 4;
        f[24..26].copy_from_slice(&[0, 0]);
        let c = csum(&f[14..14 + ihl]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    } else {
        f[21] -= 1;
    }
    f
}

fn a16(a: &[u8]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..a.len()].copy_from_slice(a);
    x
}

/// A DR dest slot for real server `n` (addresses 10.0.0.240+n / fd00::2:40+n).
pub fn dest(n: u32, v6: bool, weight: i32) -> DestVal {
    let addr = if v6 {
        let mut a = VIP6;
        a[15] = 0x40 + n as u8;
        a.to_vec()
    } else {
        vec![10, 0, 0, 240 + n as u8]
    };
    DestVal {
        addr: a16(&addr),
        weight,
        flags: maps::dest::AVAILABLE | maps::dest::MAC_KNOWN,
        ifindex: 0,
        port_be: PORT.to_be(),
        mac: rs_mac(n),
        src_mac: DIRECTOR_MAC,
        af: if v6 { AF_V6 } else { AF_V4 },
        fwd: conn_flags::DROUTE as u8,
        _pad: [0; 4],
        u_threshold: 0,
        l_threshold: 0,
    }
}

/// The service key of the VIP.
pub fn svc_key(v6: bool, proto: u8) -> SvcKey {
    SvcKey {
        addr: a16(if v6 { &VIP6 } else { &VIP4 }),
        port_be: PORT.to_be(),
        proto,
        af: if v6 { AF_V6 } else { AF_V4 },
    }
}

/// A service value over `dests` dests (their ids go to `put_service`).
pub fn svc_val(id: u32, sched: u32, dests: usize) -> SvcVal {
    SvcVal {
        id,
        sched,
        ndests: dests as u32,
        flags: 0,
    }
}

/// Loads the program with the given connection table size.
pub fn load() -> Dataplane {
    Dataplane::load_default(4096).expect("load the XDP program")
}
