// SPDX-License-Identifier: MIT OR Apache-2.0
//! The wire form of a connection listing: one JSON string, the entries packed one after the
//! other and base64-encoded (a million entries of `-Lnc` are tens of megabytes, and JSON
//! objects of that many take seconds to encode and decode; this takes a fraction).
//!
//! An entry: protocol (1 byte); client, virtual and real server address, each a family byte
//! (4 or 6) and the address's 4 or 16 bytes; client, virtual and real server port (2 bytes
//! each, big-endian); seconds to expiry (4 bytes, big-endian); the state and the persistence
//! engine's name (each a 1-byte length, then UTF-8) and its data (2-byte length, then UTF-8).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserializer, Serializer};

use crate::ConnView;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode(data: &[u8]) -> String {
    let mut out = vec![0u8; data.len().div_ceil(3) * 4];
    let sym = |n: u32, shift: u32| B64[(n >> shift) as usize & 63];
    // Whole groups written in place (no call per group: tens of megabytes go through here).
    let whole = data.chunks_exact(3);
    let tail = whole.remainder();
    let mut quads = out.chunks_exact_mut(4);
    for (c, q) in whole.zip(&mut quads) {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        q[0] = sym(n, 18);
        q[1] = sym(n, 12);
        q[2] = sym(n, 6);
        q[3] = sym(n, 0);
    }
    if let Some(q) = quads.next() {
        let n = (u32::from(tail[0]) << 16) | (u32::from(*tail.get(1).unwrap_or(&0)) << 8);
        q[0] = sym(n, 18);
        q[1] = sym(n, 12);
        q[2] = if tail.len() > 1 { sym(n, 6) } else { b'=' };
        q[3] = b'=';
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
    let last = b.len().saturating_sub(4);
    let (body, end) = b.split_at(last);
    let pad = end.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return None;
    }
    let mut out = vec![0u8; body.len() / 4 * 3];
    let val = |c: u8| match DECODE[usize::from(c)] {
        0xff => None,
        v => Some(u32::from(v)),
    };
    // Whole groups written in place, as in `encode`.
    for (q, o) in body.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let n = (val(q[0])? << 18) | (val(q[1])? << 12) | (val(q[2])? << 6) | val(q[3])?;
        o[0] = (n >> 16) as u8;
        o[1] = (n >> 8) as u8;
        o[2] = n as u8;
    }
    if !end.is_empty() {
        let mut n = 0u32;
        for &c in &end[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    Some(out)
}

fn put_addr(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(v) => {
            out.push(4);
            out.extend_from_slice(&v.octets());
        }
        IpAddr::V6(v) => {
            out.push(6);
            out.extend_from_slice(&v.octets());
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn clip(s: &str, max: usize) -> &[u8] {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s.as_bytes()[..n]
}

/// One entry of a [`PackedConns`], borrowing its texts from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnRef<'a> {
    /// IP protocol number (0 for fwmark templates).
    pub protocol: u8,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// State name.
    pub state: &'a str,
    /// Seconds until expiry.
    pub expires: u32,
    /// Persistence engine name, if any.
    pub pe_name: &'a str,
    /// Persistence engine data, if any.
    pub pe_data: &'a str,
}

impl ConnRef<'_> {
    /// An owned copy.
    pub fn to_view(&self) -> ConnView {
        ConnView {
            protocol: self.protocol,
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport,
            daddr: self.daddr,
            dport: self.dport,
            state: self.state.to_string(),
            expires: self.expires,
            pe_name: self.pe_name.to_string(),
            pe_data: self.pe_data.to_string(),
        }
    }
}

impl<'a> From<&'a ConnView> for ConnRef<'a> {
    fn from(c: &'a ConnView) -> Self {
        ConnRef {
            protocol: c.protocol,
            caddr: c.caddr,
            cport: c.cport,
            vaddr: c.vaddr,
            vport: c.vport,
            daddr: c.daddr,
            dport: c.dport,
            state: &c.state,
            expires: c.expires,
            pe_name: &c.pe_name,
            pe_data: &c.pe_data,
        }
    }
}

/// Connection entries in their packed form: built one entry at a time by rvsd straight from
/// the table, read in place by `rvsadm` (a million `-Lnc` lines without a million
/// allocations on either side).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedConns {
    bytes: Vec<u8>,
    len: usize,
}

impl PackedConns {
    /// No entries, with room for about `n`.
    pub fn with_capacity(n: usize) -> Self {
        PackedConns {
            bytes: Vec::with_capacity(n * 48),
            len: 0,
        }
    }

    /// Appends an entry. Texts longer than the format holds (255 bytes for the state and the
    /// engine's name, 65,535 for its data) are cut on a character boundary.
    pub fn push(&mut self, c: ConnRef<'_>) {
        let out = &mut self.bytes;
        out.push(c.protocol);
        put_addr(out, &c.caddr);
        put_addr(out, &c.vaddr);
        put_addr(out, &c.daddr);
        for p in [c.cport, c.vport, c.dport] {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.extend_from_slice(&c.expires.to_be_bytes());
        for (s, wide) in [(c.state, false), (c.pe_name, false), (c.pe_data, true)] {
            let b = clip(s, if wide { 0xffff } else { 0xff });
            if wide {
                out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            } else {
                out.push(b.len() as u8);
            }
            out.extend_from_slice(b);
        }
        self.len += 1;
    }

    /// Appends the entries of `other`.
    pub fn append(&mut self, other: PackedConns) {
        if self.is_empty() {
            *self = other;
        } else {
            self.bytes.extend_from_slice(&other.bytes);
            self.len += other.len;
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(&self.bytes)
    }

    /// Owned copies of the entries.
    pub fn to_views(&self) -> Vec<ConnView> {
        self.iter().map(|c| c.to_view()).collect()
    }

    /// Checks packed bytes from elsewhere: `None` unless every entry is well formed.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let mut rest = bytes.as_slice();
        let mut len = 0;
        while !rest.is_empty() {
            let (_, r) = entry(rest)?;
            rest = r;
            len += 1;
        }
        Some(PackedConns { bytes, len })
    }

    /// The packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl FromIterator<ConnView> for PackedConns {
    fn from_iter<I: IntoIterator<Item = ConnView>>(it: I) -> Self {
        let mut p = PackedConns::default();
        for c in it {
            p.push((&c).into());
        }
        p
    }
}

impl<'a> FromIterator<&'a ConnView> for PackedConns {
    fn from_iter<I: IntoIterator<Item = &'a ConnView>>(it: I) -> Self {
        let mut p = PackedConns::default();
        for c in it {
            p.push(c.into());
        }
        p
    }
}

/// The entries of a [`PackedConns`].
pub struct Iter<'a>(&'a [u8]);

impl<'a> Iterator for Iter<'a> {
    type Item = ConnRef<'a>;

    fn next(&mut self) -> Option<ConnRef<'a>> {
        // The bytes were checked when they were made or received: a malformed tail cannot
        // occur, and would end the walk.
        let (c, rest) = entry(self.0)?;
        self.0 = rest;
        Some(c)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
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
        match self.take(1)?[0] {
            4 => {
                let b = self.take(4)?;
                Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            6 => {
                let b: [u8; 16] = self.take(16)?.try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            }
            _ => None,
        }
    }

    fn text(&mut self, wide: bool) -> Option<&'a str> {
        let n = if wide {
            usize::from(self.u16()?)
        } else {
            usize::from(self.take(1)?[0])
        };
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// The first entry of `b` and what follows it; `None` if it is not well formed.
fn entry(b: &[u8]) -> Option<(ConnRef<'_>, &[u8])> {
    let mut r = Reader(b);
    let protocol = r.take(1)?[0];
    let (caddr, vaddr, daddr) = (r.addr()?, r.addr()?, r.addr()?);
    let (cport, vport, dport) = (r.u16()?, r.u16()?, r.u16()?);
    let e = r.take(4)?;
    let expires = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
    let state = r.text(false)?;
    let pe_name = r.text(false)?;
    let pe_data = r.text(true)?;
    let c = ConnRef {
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
    };
    Some((c, r.0))
}

impl serde::Serialize for PackedConns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.bytes))
    }
}

/// Takes the string borrowed from the input where it can (no copy of tens of megabytes).
struct PackedVisitor;

impl serde::de::Visitor<'_> for PackedVisitor {
    type Value = PackedConns;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("base64 of packed connection entries")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        decode(s)
            .and_then(PackedConns::from_bytes)
            .ok_or_else(|| E::custom("malformed packed connection entries"))
    }
}

impl<'de> serde::Deserialize<'de> for PackedConns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(PackedVisitor)
    }
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
        let p: PackedConns = v.iter().collect();
        assert_eq!(p.len(), 2);
        assert_eq!(p.to_views(), v);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PackedConns>(&json).unwrap(), p);
        let b = p.as_bytes();
        assert!(
            PackedConns::from_bytes(b[..b.len() - 1].to_vec()).is_none(),
            "truncated"
        );
        // An IPv4 entry with empty engine fields: 1 + 3 x 5 + 6 + 4 + (1 + 3) + 1 + 2.
        let short: PackedConns = [ConnView {
            vaddr: "10.0.0.240".parse().unwrap(),
            state: "UDP".into(),
            pe_name: String::new(),
            pe_data: String::new(),
            ..v[1].clone()
        }]
        .into_iter()
        .collect();
        assert_eq!(short.as_bytes().len(), 33);
    }
}
