// SPDX-License-Identifier: MIT OR Apache-2.0
//! The wire form of a connection listing: one JSON string, the entries packed one after the
//! other and base64-encoded (a million entries of `-Lnc` are tens of megabytes, and JSON
//! objects of that many take seconds to encode and decode; this takes a fraction).
//!
//! An entry: protocol (1 byte); client, virtual and real server address, each as a family
//! byte (4 or 6) and 16 address bytes (IPv4 in the first four); client, virtual and real
//! server port (2 bytes each, big-endian); seconds to expiry (4 bytes, big-endian); the state,
//! the persistence engine's name (1-byte length, then UTF-8) and its data (2-byte length,
//! then UTF-8).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserializer, Serializer};

use crate::ConnView;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let q = [
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            if c.len() > 1 {
                B64[(n >> 6) as usize & 63]
            } else {
                b'='
            },
            if c.len() > 2 {
                B64[n as usize & 63]
            } else {
                b'='
            },
        ];
        out.extend_from_slice(&q);
    }
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// The value of each base64 character, 0xff for the others.
const DECODE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let quads = b.len() / 4;
    for (k, q) in b.chunks_exact(4).enumerate() {
        let pad = if k + 1 == quads {
            q.iter().rev().take_while(|c| **c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            let v = DECODE[usize::from(c)];
            if v == 0xff {
                return None;
            }
            n = (n << 6) | u32::from(v);
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn put_addr(out: &mut Vec<u8>, a: &IpAddr) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            out.push(4);
            b[..4].copy_from_slice(&v.octets());
        }
        IpAddr::V6(v) => {
            out.push(6);
            b = v.octets();
        }
    }
    out.extend_from_slice(&b);
}

/// The packed bytes of `conns`.
pub fn pack(conns: &[ConnView]) -> Vec<u8> {
    let mut out = Vec::with_capacity(conns.len() * 80);
    for c in conns {
        out.push(c.protocol);
        put_addr(&mut out, &c.caddr);
        put_addr(&mut out, &c.vaddr);
        put_addr(&mut out, &c.daddr);
        for p in [c.cport, c.vport, c.dport] {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.extend_from_slice(&c.expires.to_be_bytes());
        for (s, wide) in [(&c.state, false), (&c.pe_name, false), (&c.pe_data, true)] {
            let max = if wide { 0xffff } else { 0xff };
            let mut n = s.len().min(max);
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            if wide {
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(n as u8);
            }
            out.extend_from_slice(&s.as_bytes()[..n]);
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn addr(&mut self) -> Option<IpAddr> {
        let af = self.take(1)?[0];
        let b: [u8; 16] = self.take(16)?.try_into().ok()?;
        match af {
            4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        }
    }

    fn text(&mut self, wide: bool) -> Option<String> {
        let n = if wide {
            usize::from(self.u16()?)
        } else {
            usize::from(self.take(1)?[0])
        };
        // Short and mostly repeated ("ESTABLISHED", ""): one allocation each.
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The entries of packed bytes; `None` if they are not well formed.
pub fn unpack(mut b: &[u8]) -> Option<Vec<ConnView>> {
    let mut out = Vec::with_capacity(b.len() / 80);
    while !b.is_empty() {
        let mut r = Reader(b);
        let protocol = r.take(1)?[0];
        let (caddr, vaddr, daddr) = (r.addr()?, r.addr()?, r.addr()?);
        let (cport, vport, dport) = (r.u16()?, r.u16()?, r.u16()?);
        let e = r.take(4)?;
        let expires = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let state = r.text(false)?;
        let pe_name = r.text(false)?;
        let pe_data = r.text(true)?;
        out.push(ConnView {
            protocol,
            caddr,
            cport,
            vaddr,
            vport,
            daddr,
            dport,
            state,
            expires,
            pe_name,
            pe_data,
        });
        b = r.0;
    }
    Some(out)
}

/// `#[serde(with)]` for `Response::Conns`.
pub fn serialize<S: Serializer>(conns: &[ConnView], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(&pack(conns)))
}

/// Takes the string borrowed from the input where it can (no copy of tens of megabytes).
struct PackedVisitor;

impl serde::de::Visitor<'_> for PackedVisitor {
    type Value = Vec<ConnView>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("base64 of packed connection entries")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        decode(s)
            .and_then(|b| unpack(&b))
            .ok_or_else(|| E::custom("malformed packed connection entries"))
    }
}

/// `#[serde(with)]` for `Response::Conns`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ConnView>, D::Error> {
    d.deserialize_str(PackedVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..10 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(decode(&encode(&data)).unwrap(), data);
        }
        assert_eq!(encode(b"rvs"), "cnZz");
        assert_eq!(encode(b"rv"), "cnY=");
        assert_eq!(decode("cnY="), Some(b"rv".to_vec()));
        assert_eq!(decode("cn=="), Some(b"r".to_vec()));
        assert_eq!(decode("c==="), None);
        assert_eq!(decode("cnY"), None);
        assert_eq!(decode("cn!="), None);
    }

    #[test]
    fn entries_round_trip() {
        let c = ConnView {
            protocol: 6,
            caddr: "10.0.0.10".parse().unwrap(),
            cport: 40000,
            vaddr: "fd00::240".parse().unwrap(),
            vport: 8130,
            daddr: "10.0.0.241".parse().unwrap(),
            dport: 80,
            state: "ESTABLISHED".into(),
            expires: 899,
            pe_name: "sip".into(),
            pe_data: "é".repeat(3),
        };
        let v = vec![c.clone(), ConnView { protocol: 17, ..c }];
        assert_eq!(unpack(&pack(&v)).unwrap(), v);
        let p = pack(&v);
        assert!(unpack(&p[..p.len() - 1]).is_none(), "truncated");
    }
}
