// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs trace`: what the loaded program would do with one packet, found by running that
//! program, without changing anything live.
//!
//! How nothing live changes: the trace runs a second instance of the same object (a
//! [`Sandbox`]), loaded with maps of its own. The kernel binds a program to the maps it was
//! loaded with, so every write the traced run makes (a new entry, a state step, a counter,
//! the round-robin cursor, a neighbour request) lands in the sandbox's maps. The live maps are
//! only read (`BPF_MAP_LOOKUP_ELEM` and `BPF_MAP_GET_NEXT_KEY`, which change nothing, LRU
//! order included) to fill the sandbox first. `BPF_PROG_TEST_RUN` without live frames
//! transmits nothing: XDP_TX and XDP_REDIRECT are only the return value. So the live table,
//! counters and scheduler state stay byte for byte as they were (the trace test checks it).
//!
//! What is copied: all the configuration and scheduler state (services, dests, their
//! counts, hash tables, locality entries, persistence, timeouts), and of the connection
//! table only what the packet can meet: its own entry, the persistence templates its client
//! can have, and the NAT reply-index entry of its tuple. Counters start at zero in the
//! sandbox, so what they hold after the run is what the packet would have added.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

use aya::maps::Map;
use rvs_common::maps::{
    ConnKey, ConnVal, KIND_CONN, OutKey, PersistVal, SVC_SLOTS, Stats, name, template_key,
};
use rvs_common::proto;

use crate::{Dataplane, Error};

/// The connection table of a sandbox: a trace puts a handful of entries there.
const SANDBOX_CONNS: u32 = 1024;

/// The maps a sandbox copies whole from the live instance: configuration and the state the
/// schedulers read. (Counters, scratch space and the connection table are not among them.)
const COPIED: &[&str] = &[
    name::SERVICES,
    name::SVC_DESTS,
    name::SVC_WALK,
    name::DESTS,
    name::DEST_CONNS,
    name::DEST_SWEPT,
    name::DEST_OVERLOAD,
    name::CONFIG,
    name::TIMEOUTS,
    name::SCHED,
    name::HASH_TABS,
    name::PERSIST,
    name::FWMARKS,
    name::TUNNELS,
    name::LOCAL,
];

/// One packet to trace: a client's TCP segment or UDP datagram to a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// `rvs_common::proto::TCP` or `UDP`.
    pub proto: u8,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The virtual service's address and port.
    pub vip: SocketAddr,
    /// TCP flags (`rvs_common::tcp::flags`); ignored for UDP.
    pub tcp_flags: u8,
}

impl Flow {
    /// The connection-table key of the flow.
    pub fn key(&self) -> ConnKey {
        ConnKey {
            caddr: addr16(self.client.ip()),
            vaddr: addr16(self.vip.ip()),
            cport_be: self.client.port().to_be(),
            vport_be: self.vip.port().to_be(),
            proto: self.proto,
            af: af(self.client.ip()),
            kind: KIND_CONN,
            _pad: 0,
        }
    }

    /// The frame such a packet arrives in, from MAC `src` to MAC `dst`, with correct
    /// checksums (TCP with no options and a zero payload; UDP with 8 bytes of payload).
    pub fn frame(&self, dst: [u8; 6], src: [u8; 6]) -> Result<Vec<u8>, String> {
        let (c, v) = (self.client.ip(), self.vip.ip());
        if c.is_ipv4() != v.is_ipv4() {
            return Err(format!("{c} and {v} are of different families"));
        }
        let l4 = self.l4_header();
        let mut f = Vec::with_capacity(14 + 40 + l4.len());
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        match (c, v) {
            (IpAddr::V4(c), IpAddr::V4(v)) => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                ip[6] = 0x40; // DF
                ip[8] = 64;
                ip[9] = self.proto;
                ip[12..16].copy_from_slice(&c.octets());
                ip[16..20].copy_from_slice(&v.octets());
                let sum = fold(sum16(&ip, 0));
                ip[10..12].copy_from_slice(&(!sum).to_be_bytes());
                f.extend_from_slice(&ip);
            }
            (IpAddr::V6(c), IpAddr::V6(v)) => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
                ip[6] = self.proto;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&c.octets());
                ip[24..40].copy_from_slice(&v.octets());
                f.extend_from_slice(&ip);
            }
            _ => unreachable!("families compared above"),
        }
        let l4_at = f.len();
        f.extend_from_slice(&l4);
        let sum = self.pseudo_sum(l4.len());
        let sum = !fold(sum16(&f[l4_at..], sum));
        let at = l4_at + if self.proto == proto::TCP { 16 } else { 6 };
        let sum = if self.proto == proto::UDP && sum == 0 {
            0xffff
        } else {
            sum
        };
        f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        Ok(f)
    }

    fn l4_header(&self) -> Vec<u8> {
        let (sp, dp) = (self.client.port(), self.vip.port());
        if self.proto == proto::TCP {
            let mut h = [0u8; 20];
            h[0..2].copy_from_slice(&sp.to_be_bytes());
            h[2..4].copy_from_slice(&dp.to_be_bytes());
            h[4..8].copy_from_slice(&1u32.to_be_bytes());
            if self.tcp_flags & rvs_common::tcp::flags::ACK != 0 {
                h[8..12].copy_from_slice(&1u32.to_be_bytes());
            }
            h[12] = 5 << 4;
            h[13] = self.tcp_flags;
            h[14..16].copy_from_slice(&64240u16.to_be_bytes());
            h.to_vec()
        } else {
            let mut h = vec![0u8; 16];
            h[0..2].copy_from_slice(&sp.to_be_bytes());
            h[2..4].copy_from_slice(&dp.to_be_bytes());
            h[4..6].copy_from_slice(&16u16.to_be_bytes());
            h[8..].copy_from_slice(b"rvstrace");
            h
        }
    }

    fn pseudo_sum(&self, len: usize) -> u32 {
        let mut p = Vec::with_capacity(40);
        match (self.client.ip(), self.vip.ip()) {
            (IpAddr::V4(c), IpAddr::V4(v)) => {
                p.extend_from_slice(&c.octets());
                p.extend_from_slice(&v.octets());
            }
            (c, v) => {
                p.extend_from_slice(&addr16(c));
                p.extend_from_slice(&addr16(v));
            }
        }
        p.extend_from_slice(&[0, self.proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
        sum16(&p, 0)
    }
}

fn sum16(data: &[u8], mut sum: u32) -> u32 {
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn addr16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&v.octets());
            o
        }
        IpAddr::V6(v) => v.octets(),
    }
}

fn af(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        rvs_common::maps::AF_V4
    } else {
        rvs_common::maps::AF_V6
    }
}

/// What the live instance held for the packet before the run.
#[derive(Clone, Debug, Default)]
pub struct Before {
    /// The flow's connection entry.
    pub conn: Option<ConnVal>,
    /// The client's persistence templates, with their keys.
    pub templates: Vec<(ConnKey, ConnVal)>,
}

/// What the traced run did.
#[derive(Clone, Debug)]
pub struct Traced {
    /// The XDP action the program returned.
    pub action: u32,
    /// The frame as the program left it.
    pub frame_out: Vec<u8>,
    /// The flow's entry after the run.
    pub conn: Option<ConnVal>,
    /// The client's templates after the run.
    pub templates: Vec<(ConnKey, ConnVal)>,
    /// Pass/drop reasons the run counted: (reason number, count).
    pub reasons: Vec<(u32, u64)>,
    /// Counters the run moved: (dest id, its counters). Its service's moved alike.
    pub dest_stats: Vec<(u32, Stats)>,
    /// Next hops the run asked user space to resolve (dest or next-hop addresses).
    pub neighbours_wanted: usize,
}

/// A second instance of the program with maps of its own (see the module's documentation).
pub struct Sandbox {
    dp: Dataplane,
    flow: Option<Flow>,
}

impl Sandbox {
    /// Loads `object` (the same bytes the live instance was loaded from) with fresh, unpinned
    /// maps and a small connection table.
    pub fn load(object: &[u8]) -> Result<Sandbox, Error> {
        Ok(Sandbox {
            dp: Dataplane::load(object, SANDBOX_CONNS)?,
            flow: None,
        })
    }

    /// Fills the sandbox from `live` for `flow`, reading `live` only, and returns what `live`
    /// held for the flow.
    pub fn copy_from(&mut self, live: &mut Dataplane, flow: &Flow) -> Result<Before, Error> {
        for name in COPIED {
            let from = map_fd(live, name)?;
            let to = map_fd(&mut self.dp, name)?;
            copy_all(from, to).map_err(|e| Error::Read(name, e))?;
        }
        let key = flow.key();
        let conn = live.conn(&key)?;
        let mut keys = vec![key];
        let templates = self.template_keys(flow)?;
        keys.extend(templates.iter().copied());
        // The reply index, as the second program looks it up for any packet without an
        // entry: the packet's tuple read as a real server's reply.
        let okey = OutKey {
            raddr: key.caddr,
            caddr: key.vaddr,
            rport_be: key.cport_be,
            cport_be: key.vport_be,
            proto: key.proto,
            af: key.af,
            _pad: [0; 2],
        };
        let out_from = map_fd(live, name::CONNS_OUT)?;
        if let Some(ck) = lookup::<OutKey, ConnKey>(out_from, &okey)
            .map_err(|e| Error::Read(name::CONNS_OUT, e))?
        {
            let out_to = map_fd(&mut self.dp, name::CONNS_OUT)?;
            update(out_to, &okey, &ck).map_err(|e| Error::Read(name::CONNS_OUT, e))?;
            keys.push(ck);
        }
        let mut before = Before {
            conn,
            templates: Vec::new(),
        };
        for k in keys {
            let from = map_fd(live, name::CONNS)?;
            let Some(v) =
                lookup::<ConnKey, ConnVal>(from, &k).map_err(|e| Error::Read(name::CONNS, e))?
            else {
                continue;
            };
            let to = map_fd(&mut self.dp, name::CONNS)?;
            update(to, &k, &v).map_err(|e| Error::Read(name::CONNS, e))?;
            if templates.contains(&k) {
                before.templates.push((k, v));
            }
        }
        self.flow = Some(*flow);
        Ok(before)
    }

    /// The keys of every persistence template the flow's client can have: one per
    /// persistent service (the sandbox's copy of `PERSIST` says which).
    fn template_keys(&mut self, flow: &Flow) -> Result<Vec<ConnKey>, Error> {
        let fd = map_fd(&mut self.dp, name::PERSIST)?;
        let caddr = addr16(flow.client.ip());
        let mut keys = Vec::new();
        for id in 0..SVC_SLOTS {
            let Some(p) =
                lookup::<u32, PersistVal>(fd, &id).map_err(|e| Error::Read(name::PERSIST, e))?
            else {
                continue;
            };
            if p.timeout == 0 || p.proto != flow.proto && p.proto != 0 {
                continue;
            }
            let mut k = ConnKey::default();
            template_key(&mut k, &caddr, af(flow.client.ip()), &p);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Ok(keys)
    }

    /// Runs the sandbox's program once on `frame` as if it arrived on `ifindex`.
    pub fn run(&mut self, frame: &[u8], ifindex: u32) -> Result<Traced, Error> {
        let flow = self
            .flow
            .ok_or(Error::MissingMap("a trace runs after copy_from"))?;
        let (action, frame_out) = self.dp.run_on(crate::PROGRAM, frame, ifindex)?;
        let conn = self.dp.conn(&flow.key())?;
        let mut templates = Vec::new();
        for k in self.template_keys(&flow)? {
            if let Some(v) = self.dp.conn(&k)? {
                templates.push((k, v));
            }
        }
        let reasons = self
            .dp
            .reasons()?
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n != 0)
            .map(|(i, n)| (i as u32, n))
            .collect();
        // The program counts by dest only (a service counts what its dests count).
        let mut dest_stats = Vec::new();
        let mut ids: Vec<u32> = conn.iter().map(|c| c.dest).collect();
        ids.extend(templates.iter().map(|(_, t)| t.dest));
        if ids.is_empty() {
            // Nothing entered (a one-packet datagram, or not forwarded): the counters say
            // where it went, if anywhere.
            for id in 0..rvs_common::maps::DEST_SLOTS {
                if self.dp.dest_stats(id)? != Stats::default() {
                    ids.push(id);
                    break;
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for d in ids {
            let st = self.dp.dest_stats(d)?;
            if st != Stats::default() {
                dest_stats.push((d, st));
            }
        }
        let neighbours_wanted = self.dp.take_needed_neighbours()?.len();
        Ok(Traced {
            action,
            frame_out,
            conn,
            templates,
            reasons,
            dest_stats,
            neighbours_wanted,
        })
    }
}

/// The descriptor of one of `dp`'s maps (borrowed from it), with its key and value sizes.
/// Per-CPU maps are refused: their values are larger than `value_size` (one per CPU).
fn map_fd<'a>(dp: &'a mut Dataplane, name: &'static str) -> Result<MapFd<'a>, Error> {
    use std::os::fd::AsFd as _;
    let data = match dp.map(name)? {
        Map::Array(d) | Map::HashMap(d) | Map::LruHashMap(d) => d,
        _ => return Err(Error::MissingMap(name)),
    };
    let info = data.info().map_err(|source| Error::Map { name, source })?;
    Ok(MapFd {
        // SAFETY: the descriptor lives as long as `dp`, which the result borrows.
        fd: unsafe { BorrowedFd::borrow_raw(data.fd().as_fd().as_raw_fd()) },
        key_size: info.key_size() as usize,
        value_size: info.value_size() as usize,
        max_entries: info.max_entries() as usize,
    })
}

/// A map's descriptor and sizes.
#[derive(Clone, Copy)]
struct MapFd<'a> {
    fd: BorrowedFd<'a>,
    key_size: usize,
    value_size: usize,
    max_entries: usize,
}

/// `union bpf_attr` for the element commands.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// Refuses a key or value type whose size is not the map's: the kernel would read or write
/// past it.
fn check_sizes<K, V>(m: MapFd<'_>) -> std::io::Result<()> {
    if std::mem::size_of::<K>() != m.key_size || std::mem::size_of::<V>() != m.value_size {
        return Err(std::io::Error::other(format!(
            "a key of {} and value of {} bytes for a map of {} and {}",
            std::mem::size_of::<K>(),
            std::mem::size_of::<V>(),
            m.key_size,
            m.value_size
        )));
    }
    Ok(())
}

fn bpf(cmd: libc::c_long, attr: &mut ElemAttr) -> std::io::Result<()> {
    // SAFETY: `attr` is a valid `bpf_attr` prefix of the size passed; the pointers in it
    // point to buffers of the map's key and value sizes (the callers' contract).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut ElemAttr,
            std::mem::size_of::<ElemAttr>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn lookup<K: aya::Pod, V: aya::Pod>(m: MapFd<'_>, key: &K) -> std::io::Result<Option<V>> {
    check_sizes::<K, V>(m)?;
    let fd = m.fd;
    let mut v = std::mem::MaybeUninit::<V>::zeroed();
    let mut a = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key as *const K as u64,
        value: v.as_mut_ptr() as u64,
        ..ElemAttr::default()
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut a) {
        // SAFETY: the kernel filled the value; `V` is plain old data.
        Ok(()) => Ok(Some(unsafe { v.assume_init() })),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn update<K: aya::Pod, V: aya::Pod>(m: MapFd<'_>, key: &K, value: &V) -> std::io::Result<()> {
    check_sizes::<K, V>(m)?;
    let fd = m.fd;
    let mut a = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key as *const K as u64,
        value: value as *const V as u64,
        ..ElemAttr::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut a)
}

/// Calls `f` with every entry of the map behind `fd` (keys of `key_size` bytes, values of
/// `value_len`: the value size, or for a per-CPU map the value size rounded up to 8 bytes
/// times the possible CPUs). An array's every index is visited; a hash map's keys are walked
/// with `GET_NEXT_KEY`, at most twice `max_entries` steps (a key removed under the walk
/// sends it back to the start; a table changing that fast is walked partly). Only reads.
pub(crate) fn for_each_entry(
    fd: BorrowedFd<'_>,
    key_size: usize,
    value_len: usize,
    max_entries: usize,
    mut f: impl FnMut(&[u8], &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut key = vec![0u8; key_size];
    let mut next = vec![0u8; key_size];
    let mut val = vec![0u8; value_len];
    let mut first = true;
    for _ in 0..max_entries.saturating_mul(2).max(16) {
        let mut a = ElemAttr {
            map_fd: fd.as_raw_fd() as u32,
            key: if first { 0 } else { key.as_ptr() as u64 },
            value: next.as_mut_ptr() as u64,
            ..ElemAttr::default()
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut a) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
        first = false;
        std::mem::swap(&mut key, &mut next);
        let mut a = ElemAttr {
            map_fd: fd.as_raw_fd() as u32,
            key: key.as_ptr() as u64,
            value: val.as_mut_ptr() as u64,
            ..ElemAttr::default()
        };
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut a) {
            Ok(()) => f(&key, &val)?,
            // Removed since the walk found it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies every entry of map `from` into map `to` (same type and sizes; not per-CPU).
fn copy_all(from: MapFd<'_>, to: MapFd<'_>) -> std::io::Result<()> {
    if (from.key_size, from.value_size) != (to.key_size, to.value_size) {
        return Err(std::io::Error::other("the maps' layouts differ"));
    }
    let to = to.fd;
    for_each_entry(
        from.fd,
        from.key_size,
        from.value_size,
        from.max_entries,
        |k, v| {
            let mut a = ElemAttr {
                map_fd: to.as_raw_fd() as u32,
                key: k.as_ptr() as u64,
                value: v.as_ptr() as u64,
                ..ElemAttr::default()
            };
            bpf(BPF_MAP_UPDATE_ELEM, &mut a)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold_all(data: &[u8], start: u32) -> u16 {
        fold(sum16(data, start))
    }

    #[test]
    fn frames_carry_valid_checksums() {
        for (c, v, p) in [
            ("10.0.0.2:40000", "10.0.0.100:80", proto::TCP),
            ("10.0.0.2:40000", "10.0.0.100:53", proto::UDP),
            ("[fd00::2]:40000", "[fd00::100]:80", proto::TCP),
            ("[fd00::2]:40000", "[fd00::100]:53", proto::UDP),
        ] {
            let f = Flow {
                proto: p,
                client: c.parse().unwrap(),
                vip: v.parse().unwrap(),
                tcp_flags: rvs_common::tcp::flags::SYN,
            };
            let frame = f.frame([2; 6], [4; 6]).unwrap();
            let l4_at = if f.client.is_ipv4() {
                assert_eq!(fold_all(&frame[14..34], 0), 0xffff, "IPv4 header sum");
                34
            } else {
                54
            };
            let l4 = &frame[l4_at..];
            assert_eq!(fold_all(l4, f.pseudo_sum(l4.len())), 0xffff, "{c} {p}");
            assert_eq!(f.key().cport_be, 40000u16.to_be());
        }
    }

    #[test]
    fn mixed_families_are_refused() {
        let f = Flow {
            proto: proto::TCP,
            client: "10.0.0.2:1".parse().unwrap(),
            vip: "[fd00::1]:80".parse().unwrap(),
            tcp_flags: 0,
        };
        assert!(f.frame([0; 6], [0; 6]).is_err());
    }
}
