// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS connection-sync protocol, version 1, as the kernel's `ip_vs_sync.c` writes and
//! reads it (and version 0 for reading): messages in, connection records out, and back. No
//! I/O: the daemon sends and receives the bytes.
//!
//! A message is an 8-byte header (reserved 0, syncid, size, record count, version 1, spare
//! 0) and records, each 4-aligned: a 36-byte IPv4 or 72-byte IPv6 fixed part (all numbers
//! big-endian) and options (`type, len, data`). The header's size counts the padding between
//! records but none after the last. A receiver drops a whole message whose size is not the
//! datagram's, or with a malformed record or option; it skips a record whose protocol or
//! state it does not know, or that carries an unknown option without the "optional" bit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_common::conn_flags;

/// The default multicast group (`IP_VS_SYNC_GROUP`).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port (`IP_VS_SYNC_PORT`); thread `id` uses this plus `id`.
pub const DEFAULT_PORT: u16 = 8848;
/// A master's default message size limit over IPv4 (1500 − IP and UDP headers).
pub const DEFAULT_MAXLEN_V4: usize = 1472;
/// The v1 header's length.
pub const HEADER_LEN: usize = 8;
/// The fixed part of an IPv4 record.
pub const V4_LEN: usize = 36;
/// The fixed part of an IPv6 record.
pub const V6_LEN: usize = 72;
/// A v0 record (IPv4 only), without sequence data.
pub const V0_LEN: usize = 24;
/// Record type bit: IPv6.
pub const STYPE_F_INET6: u8 = 1;
/// Option: NAT sequence adjustment data (six numbers).
pub const OPT_SEQ_DATA: u8 = 1;
/// Option: persistence-engine data (a SIP Call-ID).
pub const OPT_PE_DATA: u8 = 2;
/// Option: persistence-engine name.
pub const OPT_PE_NAME: u8 = 3;
/// Option type bit: a receiver that does not know the option skips it, not the record.
pub const OPT_F_PARAM: u8 = 0x40;
/// `IP_VS_CONN_F_OUT_SEQ | IP_VS_CONN_F_IN_SEQ`.
pub const SEQ_MASK: u32 = 0x0600;
/// The flags a backup keeps from a record (it adds [`conn_flags::SYNC`]).
pub const BACKUP_MASK: u32 = conn_flags::FWD_MASK
    | conn_flags::NOOUTPUT
    | conn_flags::INACTIVE
    | SEQ_MASK
    | conn_flags::NO_CPORT
    | conn_flags::TEMPLATE;
/// The flags an update of an existing connection may change.
pub const BACKUP_UPD_MASK: u32 = conn_flags::INACTIVE | SEQ_MASK;
/// `IP_VS_CONN_F_HASHED`: never sent.
const HASHED: u32 = 0x0040;

/// One connection (or persistence template) as a sync record carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol (6, 17, 132).
    pub protocol: u8,
    /// Connection flags (forwarding method, INACTIVE, TEMPLATE, ...).
    pub flags: u32,
    /// Protocol state number (TCP: 0 NONE .. 10 SYNACK; UDP: 0).
    pub state: u16,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real server port.
    pub dport: u16,
    /// Firewall mark of the service.
    pub fwmark: u32,
    /// The state's full timeout in seconds (not the time left); 0 from a v0 message.
    pub timeout: u32,
    /// Client address.
    pub caddr: IpAddr,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Real server address.
    pub daddr: IpAddr,
    /// NAT sequence data: in (init, delta, previous delta), then out.
    pub seq: Option<[u32; 6]>,
    /// Persistence-engine data and name.
    pub pe: Option<(Vec<u8>, String)>,
}

impl SyncConn {
    fn v6(&self) -> bool {
        self.caddr.is_ipv6()
    }

    /// The record's length: fixed part and options, without padding.
    pub fn record_len(&self) -> usize {
        let mut n = if self.v6() { V6_LEN } else { V4_LEN };
        if self.seq.is_some() {
            n += 2 + 24;
        }
        if let Some((data, name)) = &self.pe {
            n += 2 + data.len() + 2 + name.len();
        }
        n
    }

    /// The flags a backup stores for this record.
    pub fn backup_flags(&self) -> u32 {
        (self.flags & BACKUP_MASK) | conn_flags::SYNC
    }
}

/// Why a message was dropped whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than any header.
    TooShort,
    /// The header's size is not the datagram's length.
    SizeMismatch {
        /// What the header says.
        said: usize,
        /// The datagram's length.
        got: usize,
    },
    /// Record `index` runs past the message or has a bad type, length or version.
    BadRecord {
        /// Which record.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// An option of record `index` is malformed (length 0, past the record, repeated).
    BadOption {
        /// Which record.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort => write!(f, "shorter than a sync header"),
            DecodeError::SizeMismatch { said, got } => {
                write!(f, "header says {said} bytes, datagram has {got}")
            }
            DecodeError::BadRecord { index, why } => write!(f, "record {index}: {why}"),
            DecodeError::BadOption { index, why } => write!(f, "record {index}, option: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender's syncid.
    pub syncid: u8,
    /// 1, or 0 for the old format.
    pub version: u8,
    /// The records a receiver installs.
    pub conns: Vec<SyncConn>,
    /// Records skipped (unknown protocol or state, unknown mandatory option).
    pub skipped: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr(b: &[u8], at: usize, v6: bool) -> IpAddr {
    if v6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
    }
}

/// How many states a protocol has (a record with a higher state is skipped); `None`: a
/// protocol IPVS does not sync.
fn num_states(protocol: u8) -> Option<u16> {
    match protocol {
        6 => Some(11),
        17 => Some(1),
        132 => Some(10),
        _ => None,
    }
}

/// Decodes a datagram as a backup with syncid `mine` would (0: accept every syncid).
/// `Ok(None)`: a message of another syncid, ignored.
pub fn decode(msg: &[u8], mine: u8) -> Result<Option<Message>, DecodeError> {
    if msg.len() < 4 {
        return Err(DecodeError::TooShort);
    }
    let said = usize::from(be16(msg, 2));
    if said != msg.len() {
        return Err(DecodeError::SizeMismatch {
            said,
            got: msg.len(),
        });
    }
    let syncid = msg[1];
    if mine != 0 && syncid != mine {
        return Ok(None);
    }
    let v1 = msg.len() >= HEADER_LEN && msg[5] == 1 && msg[0] == 0 && be16(msg, 6) == 0;
    let mut m = Message {
        syncid,
        version: u8::from(v1),
        conns: Vec::new(),
        skipped: 0,
    };
    if v1 {
        decode_v1(msg, &mut m)?;
    } else {
        decode_v0(msg, &mut m)?;
    }
    Ok(Some(m))
}

fn decode_v1(msg: &[u8], m: &mut Message) -> Result<(), DecodeError> {
    let nr = usize::from(msg[4]);
    let mut p = HEADER_LEN;
    for index in 0..nr {
        let bad = |why| DecodeError::BadRecord { index, why };
        if p + V4_LEN > msg.len() {
            return Err(bad("runs past the message"));
        }
        let ty = msg[p];
        if ty & !STYPE_F_INET6 != 0 {
            return Err(bad("unknown record type"));
        }
        let v6 = ty & STYPE_F_INET6 != 0;
        let ver_size = be16(msg, p + 2);
        if ver_size >> 12 != 0 {
            return Err(bad("record version is not 0"));
        }
        let size = usize::from(ver_size & 0x0fff);
        let fixed = if v6 { V6_LEN } else { V4_LEN };
        if size < fixed {
            return Err(bad("shorter than its fixed part"));
        }
        if p + size > msg.len() {
            return Err(bad("runs past the message"));
        }
        let r = &msg[p..p + size];
        let mut conn = SyncConn {
            protocol: r[1],
            flags: be32(r, 4),
            state: be16(r, 8),
            cport: be16(r, 10),
            vport: be16(r, 12),
            dport: be16(r, 14),
            fwmark: be32(r, 16),
            timeout: be32(r, 20),
            caddr: addr(r, 24, v6),
            vaddr: addr(r, if v6 { 40 } else { 28 }, v6),
            daddr: addr(r, if v6 { 56 } else { 32 }, v6),
            seq: None,
            pe: None,
        };
        let skip = options(&r[fixed..], index, &mut conn)?;
        let known = num_states(conn.protocol).is_some_and(|n| conn.state < n);
        if skip || !known {
            m.skipped += 1;
        } else {
            m.conns.push(conn);
        }
        p += (size + 3) & !3;
    }
    Ok(())
}

/// Reads a record's options into `conn`; whether the record is to be skipped (an unknown
/// option without [`OPT_F_PARAM`]).
fn options(mut o: &[u8], index: usize, conn: &mut SyncConn) -> Result<bool, DecodeError> {
    let bad = |why| DecodeError::BadOption { index, why };
    let mut seen = 0u32;
    let mut skip = false;
    let (mut pe_data, mut pe_name) = (None, None);
    while !o.is_empty() {
        if o.len() < 2 {
            return Err(bad("truncated"));
        }
        let (ty, len) = (o[0], usize::from(o[1]));
        if len == 0 {
            return Err(bad("length 0"));
        }
        if 2 + len > o.len() {
            return Err(bad("runs past the record"));
        }
        let data = &o[2..2 + len];
        // Only the options the kernel knows may not repeat (`ip_vs_proc_seqopt`,
        // `ip_vs_proc_str`); others are skipped or end the record, as below.
        let known = ty & !OPT_F_PARAM;
        if matches!(known, OPT_SEQ_DATA | OPT_PE_DATA | OPT_PE_NAME) {
            let bit = 1u32 << known;
            if seen & bit != 0 {
                return Err(bad("repeated"));
            }
            seen |= bit;
        }
        match known {
            OPT_SEQ_DATA if len == 24 => {
                conn.seq = Some(std::array::from_fn(|i| be32(data, 4 * i)));
            }
            OPT_SEQ_DATA => return Err(bad("sequence data is not 24 bytes")),
            OPT_PE_DATA => pe_data = Some(data.to_vec()),
            OPT_PE_NAME if len <= 16 => {
                pe_name = Some(
                    String::from_utf8_lossy(data)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            OPT_PE_NAME => return Err(bad("engine name longer than 16 bytes")),
            _ if ty & OPT_F_PARAM != 0 => {}
            // An unknown mandatory option: the record is skipped, the rest of it unread.
            _ => {
                skip = true;
                break;
            }
        }
        o = &o[2 + len..];
    }
    if let (Some(d), Some(n)) = (pe_data, pe_name) {
        conn.pe = Some((d, n));
    }
    Ok(skip)
}

fn decode_v0(msg: &[u8], m: &mut Message) -> Result<(), DecodeError> {
    let nr = usize::from(msg[0]);
    let mut p = 4;
    for index in 0..nr {
        if p + V0_LEN > msg.len() {
            return Err(DecodeError::BadRecord {
                index,
                why: "runs past the message",
            });
        }
        let r = &msg[p..p + V0_LEN];
        let flags = u32::from(be16(r, 20));
        let conn = SyncConn {
            protocol: r[1],
            flags,
            state: be16(r, 22),
            cport: be16(r, 2),
            vport: be16(r, 4),
            dport: be16(r, 6),
            fwmark: 0,
            timeout: 0,
            caddr: addr(r, 8, false),
            vaddr: addr(r, 12, false),
            daddr: addr(r, 16, false),
            seq: None,
            pe: None,
        };
        p += V0_LEN;
        if flags & SEQ_MASK != 0 {
            if p + 24 > msg.len() {
                return Err(DecodeError::BadRecord {
                    index,
                    why: "sequence data runs past the message",
                });
            }
            p += 24;
        }
        if num_states(conn.protocol).is_some_and(|n| conn.state < n) {
            m.conns.push(conn);
        } else {
            m.skipped += 1;
        }
    }
    Ok(())
}

fn record(c: &SyncConn, out: &mut Vec<u8>) {
    let v6 = c.v6();
    out.push(if v6 { STYPE_F_INET6 } else { 0 });
    out.push(c.protocol);
    out.extend_from_slice(&(c.record_len() as u16 & 0x0fff).to_be_bytes());
    out.extend_from_slice(&(c.flags & !HASHED).to_be_bytes());
    out.extend_from_slice(&c.state.to_be_bytes());
    for port in [c.cport, c.vport, c.dport] {
        out.extend_from_slice(&port.to_be_bytes());
    }
    out.extend_from_slice(&c.fwmark.to_be_bytes());
    out.extend_from_slice(&c.timeout.to_be_bytes());
    for a in [c.caddr, c.vaddr, c.daddr] {
        match a {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
        }
    }
    if let Some(seq) = &c.seq {
        out.extend_from_slice(&[OPT_SEQ_DATA, 24]);
        for n in seq {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    if let Some((data, name)) = &c.pe {
        out.extend_from_slice(&[OPT_PE_DATA, data.len() as u8]);
        out.extend_from_slice(data);
        out.extend_from_slice(&[OPT_PE_NAME, name.len() as u8]);
        out.extend_from_slice(name.as_bytes());
    }
}

/// Why a connection cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Its addresses are of different families.
    MixedFamilies,
    /// Persistence-engine data over 255 bytes, or a name over 16.
    PeTooLong,
    /// Its record alone does not fit in `maxlen`.
    TooLarge,
}

/// Encodes `conns` as v1 messages of syncid `syncid`, each at most `maxlen` bytes and 255
/// records, records 4-aligned as the kernel writes them.
pub fn encode(syncid: u8, conns: &[SyncConn], maxlen: usize) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut msgs = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut nr = 0u8;
    let finish = |cur: &mut Vec<u8>, nr: &mut u8, msgs: &mut Vec<Vec<u8>>| {
        if *nr > 0 {
            let size = cur.len() as u16;
            cur[2..4].copy_from_slice(&size.to_be_bytes());
            cur[4] = *nr;
            msgs.push(std::mem::take(cur));
            *nr = 0;
        }
    };
    for c in conns {
        let same = c.caddr.is_ipv6() == c.vaddr.is_ipv6() && c.vaddr.is_ipv6() == c.daddr.is_ipv6();
        if !same {
            return Err(EncodeError::MixedFamilies);
        }
        if c.pe
            .as_ref()
            .is_some_and(|(d, n)| d.len() > 255 || n.len() > 16 || d.is_empty() || n.is_empty())
        {
            return Err(EncodeError::PeTooLong);
        }
        let len = c.record_len();
        if HEADER_LEN + len > maxlen {
            return Err(EncodeError::TooLarge);
        }
        let pad = (4 - cur.len() % 4) % 4;
        if nr == 255 || (nr > 0 && cur.len() + pad + len > maxlen) {
            finish(&mut cur, &mut nr, &mut msgs);
        }
        if nr == 0 {
            cur = vec![0, syncid, 0, 0, 0, 1, 0, 0];
        } else {
            cur.resize(cur.len() + (4 - cur.len() % 4) % 4, 0);
        }
        record(c, &mut cur);
        nr += 1;
    }
    finish(&mut cur, &mut nr, &mut msgs);
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dr(caddr: &str, cport: u16) -> SyncConn {
        SyncConn {
            protocol: 6,
            flags: 0x83,
            state: 1,
            cport,
            vport: 80,
            dport: 80,
            fwmark: 0,
            timeout: 900,
            caddr: caddr.parse().unwrap(),
            vaddr: "10.0.0.100".parse().unwrap(),
            daddr: "10.0.0.11".parse().unwrap(),
            seq: None,
            pe: None,
        }
    }

    /// The spec's vector (C.8), written out from the kernel's struct layout.
    const GOLDEN: [u8; 44] = [
        0x00, 0x01, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00, // header
        0x00, 0x06, 0x00, 0x24, 0x00, 0x00, 0x00, 0x83, // type proto ver_size flags
        0x00, 0x01, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x50, // state cport vport dport
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84, // fwmark timeout
        0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x64, // caddr vaddr
        0x0a, 0x00, 0x00, 0x0b, // daddr
    ];

    #[test]
    fn the_golden_message_both_ways() {
        let c = dr("10.0.0.1", 40000);
        assert_eq!(
            encode(1, std::slice::from_ref(&c), DEFAULT_MAXLEN_V4).unwrap(),
            [GOLDEN.to_vec()]
        );
        let m = decode(&GOLDEN, 1).unwrap().unwrap();
        assert_eq!((m.syncid, m.version, m.skipped), (1, 1, 0));
        assert_eq!(m.conns, std::slice::from_ref(&c));
        assert_eq!(c.backup_flags(), 0x83 | conn_flags::SYNC);
        // Another syncid is ignored; 0 accepts all.
        assert_eq!(decode(&GOLDEN, 2).unwrap(), None);
        assert!(decode(&GOLDEN, 0).unwrap().is_some());
    }

    #[test]
    fn ipv6_options_and_padding() {
        let mut a = dr("10.0.0.1", 1);
        a.pe = Some((b"call-1".to_vec(), "sip".into()));
        let b = SyncConn {
            caddr: "fd00::1".parse().unwrap(),
            vaddr: "fd00::100".parse().unwrap(),
            daddr: "fd00::11".parse().unwrap(),
            seq: Some([1, 2, 3, 4, 5, 6]),
            flags: 0x83 | SEQ_MASK,
            ..dr("10.0.0.1", 2)
        };
        let msgs = encode(7, &[a.clone(), b.clone()], DEFAULT_MAXLEN_V4).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        // a: 36 + 2 + 6 + 2 + 3 = 49 bytes, then 3 bytes of padding; b starts at 8 + 52.
        assert_eq!(be16(m, 8 + 2), 49);
        assert_eq!(&m[8 + 49..8 + 52], &[0, 0, 0]);
        assert_eq!(m[60], STYPE_F_INET6);
        assert_eq!(be16(m, 62), 72 + 26);
        assert_eq!(
            &m[60 + 24..60 + 40],
            &"fd00::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(usize::from(be16(m, 2)), m.len());
        assert_eq!(m.len(), 60 + 98);
        let d = decode(m, 7).unwrap().unwrap();
        assert_eq!(d.conns, [a, b]);
    }

    #[test]
    fn messages_split_at_maxlen() {
        let conns: Vec<SyncConn> = (0..100).map(|i| dr("10.0.0.1", 1000 + i)).collect();
        let msgs = encode(0, &conns, DEFAULT_MAXLEN_V4).unwrap();
        // 8 + 40 × 36 = 1448 fit in 1472; a 41st would not.
        assert_eq!(msgs.iter().map(|m| m[4]).collect::<Vec<_>>(), [40, 40, 20]);
        assert!(msgs.iter().all(|m| m.len() <= DEFAULT_MAXLEN_V4));
        let back: Vec<SyncConn> = msgs
            .iter()
            .flat_map(|m| decode(m, 0).unwrap().unwrap().conns)
            .collect();
        assert_eq!(back, conns);
    }

    #[test]
    fn malformed_messages_are_dropped_and_odd_records_skipped() {
        assert_eq!(decode(&GOLDEN[..3], 0), Err(DecodeError::TooShort));
        assert!(matches!(
            decode(&GOLDEN[..40], 0),
            Err(DecodeError::SizeMismatch { .. })
        ));
        let mut m = GOLDEN;
        m[8] = 2; // record type
        assert!(matches!(decode(&m, 0), Err(DecodeError::BadRecord { .. })));
        let mut m = GOLDEN;
        m[10] = 0x10; // record version 1
        assert!(matches!(decode(&m, 0), Err(DecodeError::BadRecord { .. })));
        let mut m = GOLDEN;
        m[4] = 2; // two records announced, one there
        assert!(matches!(
            decode(&m, 0),
            Err(DecodeError::BadRecord { index: 1, .. })
        ));
        let mut m = GOLDEN;
        m[9] = 1; // ICMP: skipped, not an error
        assert_eq!(decode(&m, 0).unwrap().unwrap().skipped, 1);
        let mut m = GOLDEN;
        m[17] = 11; // TCP state 11 does not exist
        assert_eq!(decode(&m, 0).unwrap().unwrap().conns, []);
        // Options: an unknown mandatory one skips the record, an optional one is ignored,
        // length 0 drops the message.
        let with_opt = |ty: u8, len: u8| {
            let mut m = GOLDEN.to_vec();
            m.extend_from_slice(&[ty, len]);
            m.extend(std::iter::repeat_n(0, usize::from(len)));
            let size = m.len() as u16;
            m[2..4].copy_from_slice(&size.to_be_bytes());
            m[10..12].copy_from_slice(&(36 + 2 + u16::from(len)).to_be_bytes());
            m
        };
        assert_eq!(decode(&with_opt(9, 2), 0).unwrap().unwrap().skipped, 1);
        assert_eq!(
            decode(&with_opt(9 | OPT_F_PARAM, 2), 0)
                .unwrap()
                .unwrap()
                .conns
                .len(),
            1
        );
        assert!(matches!(
            decode(&with_opt(9, 0), 0),
            Err(DecodeError::BadOption { .. })
        ));
        // As the kernel: only known options may not repeat (an optional unknown one may), and
        // after an unknown mandatory one the record's rest is not read (a bad option there
        // drops nothing).
        let opts = |o: &[u8]| {
            let mut m = GOLDEN.to_vec();
            m.extend_from_slice(o);
            let size = m.len() as u16;
            m[2..4].copy_from_slice(&size.to_be_bytes());
            m[10..12].copy_from_slice(&(36 + o.len() as u16).to_be_bytes());
            m
        };
        let twice = opts(&[0x47, 1, 0, 0x47, 1, 0]);
        assert_eq!(decode(&twice, 0).unwrap().unwrap().conns.len(), 1);
        let twice_name = opts(&[OPT_PE_NAME, 1, b's', OPT_PE_NAME, 1, b's']);
        assert!(matches!(
            decode(&twice_name, 0),
            Err(DecodeError::BadOption { .. })
        ));
        let after_unknown = opts(&[9, 1, 0, 0x47, 0]);
        assert_eq!(decode(&after_unknown, 0).unwrap().unwrap().skipped, 1);
    }

    #[test]
    fn version_0_is_read() {
        // nr 1, syncid 3, size 28; one record: reserved, TCP, ports, addresses, flags, state.
        let mut m = vec![1, 3, 0, 28];
        m.extend_from_slice(&[0, 6, 0x9c, 0x40, 0, 80, 0, 80]);
        m.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 100, 10, 0, 0, 11]);
        m.extend_from_slice(&[0, 0x83, 0, 1]);
        let d = decode(&m, 3).unwrap().unwrap();
        assert_eq!(d.version, 0);
        assert_eq!(
            d.conns,
            [SyncConn {
                timeout: 0,
                ..dr("10.0.0.1", 40000)
            }]
        );
    }
}
