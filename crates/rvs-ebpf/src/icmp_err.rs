// SPDX-License-Identifier: MIT OR GPL-2.0
//! ICMP errors about balanced connections, sent on to the side they concern as
//! `ip_vs_in_icmp` and `ip_vs_out_icmp` do.
//!
//! An error from the client side about a packet a real server sent (embedded `VIP:vport →
//! CIP:cport`) goes to that real server: unchanged for DR (new MACs) and TUN (encapsulated);
//! for NAT the outer destination, the embedded source address and port become the real
//! server's. An error from a NAT real server about a client's packet (embedded `CIP:cport →
//! RIP:rport`) goes to the client with the outer source, the embedded destination address
//! and port turned back into the VIP's. Checksums are updated incrementally (the embedded
//! TCP/UDP checksum is left as the kernel leaves it). IPv4 (destination unreachable, source
//! quench, time exceeded) and ICMPv6 (every error type) about TCP and UDP.

use aya_ebpf::programs::XdpContext;
use rvs_common::conn_flags;
use rvs_common::maps::{AF_V4, KIND_CONN, dest};
use rvs_common::proto;

use crate::conn::{CONNS, CONNS_OUT};
use crate::dests::DESTS;
use crate::dr::rewrite_dr;
use crate::frame::{ETH_LEN, csum_update, ptr_at, read};
use crate::parse::{self, Packet};
use crate::reason::{Reason, verdict};
use crate::scratch::scratch;
use crate::stats::{count, count_out};
use crate::tun::{self, TUNNELS};
use crate::xmit::{next_hop, transmit, want_neighbour};

/// What the error quotes, and where.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Quote {
    /// Offset of the ICMP header.
    pub icmp: usize,
    /// Offset of the embedded IP header.
    pub ip: usize,
    /// Offset of the embedded TCP/UDP ports.
    pub l4: usize,
    pub proto: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport_be: u16,
    pub dport_be: u16,
}

/// Fills `q` with the error's quote, if the packet is an ICMP(v6) error quoting TCP or UDP.
#[inline(always)]
fn quote(ctx: &XdpContext, p: &Packet, q: &mut Quote) -> Result<(), Reason> {
    let icmp = (p.l4 as usize) & 0x1fff;
    let t = read::<[u8; 2]>(ctx, icmp)?;
    let ip = icmp + 8;
    q.icmp = icmp;
    q.ip = ip;
    if p.af == AF_V4 {
        if !(t[0] == 3 || t[0] == 4 || t[0] == 11) {
            return Err(Reason::NotService);
        }
        let h = read::<[u8; 20]>(ctx, ip)?;
        if h[0] >> 4 != 4 {
            return Err(Reason::Malformed);
        }
        q.proto = h[9];
        q.saddr = [0; 16];
        q.daddr = [0; 16];
        q.saddr[..4].copy_from_slice(&h[12..16]);
        q.daddr[..4].copy_from_slice(&h[16..20]);
        q.l4 = ip + usize::from(h[0] & 0x0f) * 4;
    } else {
        if t[0] >= 128 {
            return Err(Reason::NotService);
        }
        let h = read::<[u8; 40]>(ctx, ip)?;
        q.proto = h[6];
        q.saddr.copy_from_slice(&h[8..24]);
        q.daddr.copy_from_slice(&h[24..40]);
        q.l4 = ip + 40;
    }
    if q.proto != proto::TCP && q.proto != proto::UDP {
        return Err(Reason::NotService);
    }
    let ports = read::<[u8; 4]>(ctx, q.l4 & 0x1fff)?;
    q.sport_be = u16::from_ne_bytes([ports[0], ports[1]]);
    q.dport_be = u16::from_ne_bytes([ports[2], ports[3]]);
    Ok(())
}

/// Handles an ICMP(v6) packet and returns the XDP action (the director's stack gets what is
/// not an error about a balanced connection). The packet, its quote and the keys live in the
/// scratch space, and each direction is a function of its own returning a plain number: the
/// stack stays within the verifier's limit.
#[inline(always)]
pub fn handle(ctx: &XdpContext, now: u64) -> u32 {
    match prepare(ctx) {
        TO_SERVER => to_server(ctx, now),
        TO_CLIENT => to_client(ctx),
        action => action,
    }
}

const TO_SERVER: u32 = 100;
const TO_CLIENT: u32 = 101;

/// Parses the error into the scratch space: [`TO_SERVER`], [`TO_CLIENT`], or an action.
#[inline(never)]
fn prepare(ctx: &XdpContext) -> u32 {
    let Some(s) = scratch() else {
        return verdict(Reason::NotService);
    };
    // SAFETY: the scratch space's rule (`scratch`): this writes `ipkt`, `quote` and `tkey`,
    // which the rest of the ICMP path then only reads (and `tkey` is written again only by
    // `client_side`, which reads nothing of it before).
    unsafe {
        match parse::parse_icmp(ctx) {
            Ok(p) => (*s).ipkt = p,
            Err(r) => return verdict(r),
        }
        if let Err(r) = quote(ctx, &(*s).ipkt, &mut (*s).quote) {
            return verdict(r);
        }
        // From the client side: the quote is a packet the real server sent to the client.
        let q = &(*s).quote;
        let t = &mut (*s).tkey;
        t.caddr = q.daddr;
        t.vaddr = q.saddr;
        t.cport_be = q.dport_be;
        t.vport_be = q.sport_be;
        t.proto = q.proto;
        t.af = (*s).ipkt.af;
        t.kind = KIND_CONN;
        t._pad = 0;
        if CONNS.get_ptr(&(*s).tkey).is_some() {
            return TO_SERVER;
        }
    }
    TO_CLIENT
}

/// An error from the client side, sent on to the connection's server.
#[inline(never)]
fn to_server(ctx: &XdpContext, now: u64) -> u32 {
    match server_side(ctx, now) {
        Ok(a) => a,
        Err(r) => verdict(r),
    }
}

#[inline(always)]
fn server_side(ctx: &XdpContext, now: u64) -> Result<u32, Reason> {
    let s = scratch().ok_or(Reason::NotService)?;
    // SAFETY: the scratch space's rule (`scratch`): `tkey` and `ipkt`, which `prepare` wrote,
    // are borrowed; nothing on this path writes them.
    let (tkey, p) = unsafe { (&(*s).tkey, &(*s).ipkt) };
    let c = CONNS.get_ptr_mut(tkey).ok_or(Reason::NotService)?;
    // SAFETY: valid entry pointer for this run.
    let c = unsafe { &mut *c };
    let d = DESTS.get(c.dest).ok_or(Reason::DestGone)?;
    if d.flags & dest::MAC_KNOWN == 0 {
        want_neighbour(d);
        return Err(Reason::NoNeighbour);
    }
    c.last_ns = now;
    let bytes = p.ip_len as u64;
    count(c.dest, bytes, false);
    match c.flags & conn_flags::FWD_MASK {
        conn_flags::MASQ => {
            translate(ctx, true, &d.addr, c.dport_be)?;
            put_macs(ctx, &d.mac, &d.src_mac)?;
            transmit(ctx, d.ifindex)
        }
        conn_flags::TUNNEL => Ok(tunnel(ctx, c.dest)),
        _ => {
            rewrite_dr(ctx, p, d)?;
            transmit(ctx, d.ifindex)
        }
    }
}

/// The tunnel branch, a function of its own (its frame would not fit on top of the others).
#[inline(never)]
fn tunnel(ctx: &XdpContext, id: u32) -> u32 {
    let r = (|| {
        let s = scratch().ok_or(Reason::NotService)?;
        let d = DESTS.get(id).ok_or(Reason::DestGone)?;
        let t = TUNNELS.get(id).ok_or(Reason::NoDest)?;
        // SAFETY: the scratch space's rule: `ipkt`, which `prepare` wrote, is borrowed for
        // the encapsulation, which does not write it.
        tun::encap(ctx, unsafe { &(*s).ipkt }, d, t)
    })();
    match r {
        Ok(a) => a,
        Err(r) => verdict(r),
    }
}

/// An error from a NAT real server, sent on to the client.
#[inline(never)]
fn to_client(ctx: &XdpContext) -> u32 {
    match client_side(ctx) {
        Ok(a) => a,
        Err(r) => verdict(r),
    }
}

#[inline(always)]
fn client_side(ctx: &XdpContext) -> Result<u32, Reason> {
    let s = scratch().ok_or(Reason::NotService)?;
    // SAFETY: the scratch space's rule (`scratch`): `okey` and `tkey` are written here, from
    // `quote` and `ipkt`, which `prepare` wrote; then `ipkt` and `tkey` are borrowed, while
    // what follows writes only `fib` and `nkey`. The reply index's value is copied.
    let (c, ipkt, tkey) = unsafe {
        let q = &(*s).quote;
        let o = &mut (*s).okey;
        o.raddr = q.daddr;
        o.caddr = q.saddr;
        o.rport_be = q.dport_be;
        o.cport_be = q.sport_be;
        o.proto = q.proto;
        o.af = (*s).ipkt.af;
        o._pad = [0; 2];
        (*s).tkey = *CONNS_OUT.get(&(*s).okey).ok_or(Reason::NotService)?;
        let c = CONNS.get_ptr(&(*s).tkey).ok_or(Reason::NotService)?;
        (c, &(*s).ipkt, &(*s).tkey)
    };
    // SAFETY: valid entry pointer for this run.
    let dest = unsafe { (*c).dest };
    let hop = next_hop(ctx, ipkt)?;
    let (vaddr, vport) = (tkey.vaddr, tkey.vport_be);
    translate(ctx, false, &vaddr, vport)?;
    put_macs(ctx, &hop.dmac, &hop.smac)?;
    let bytes = ipkt.ip_len as u64;
    count_out(dest, bytes);
    transmit(ctx, hop.ifindex)
}

fn put_macs(ctx: &XdpContext, dst: &[u8; 6], src: &[u8; 6]) -> Result<(), Reason> {
    let m = ptr_at::<[u8; 12]>(ctx, 0)?;
    let mut b = [0u8; 12];
    b[..6].copy_from_slice(dst);
    b[6..].copy_from_slice(src);
    // SAFETY: bounds checked.
    unsafe { core::ptr::write_unaligned(m, b) };
    Ok(())
}

/// The NAT translation of an error: to the server (`in_`: outer destination, quoted source
/// and source port become `addr:port_be`) or to the client (outer source, quoted destination
/// and destination port). TTL down by one; every checksum follows.
fn translate(ctx: &XdpContext, in_: bool, addr: &[u8; 16], port_be: u16) -> Result<(), Reason> {
    match translate_code(ctx, in_, addr, port_be) {
        0 => Ok(()),
        1 => Err(Reason::TtlExceeded),
        _ => Err(Reason::Malformed),
    }
}

/// [`translate_in_place`] as a function of its own, returning 0, or 1 when the TTL runs out,
/// 2 for a malformed packet.
#[inline(never)]
fn translate_code(ctx: &XdpContext, in_: bool, addr: &[u8; 16], port_be: u16) -> u32 {
    let Some(s) = scratch() else { return 2 };
    // SAFETY: the scratch space's rule (`scratch`): `ipkt` and `quote`, which `prepare`
    // wrote, are borrowed for the translation, which writes neither.
    let (ipkt, quote) = unsafe { (&(*s).ipkt, &(*s).quote) };
    match translate_in_place(ctx, ipkt, quote, in_, addr, port_be) {
        Ok(()) => 0,
        Err(Reason::TtlExceeded) => 1,
        Err(_) => 2,
    }
}

#[inline(always)]
fn translate_in_place(
    ctx: &XdpContext,
    p: &Packet,
    q: &Quote,
    in_: bool,
    addr: &[u8; 16],
    port_be: u16,
) -> Result<(), Reason> {
    let icsum = ptr_at::<[u8; 2]>(ctx, (q.icmp & 0x1fff) + 2)?;
    let port = ptr_at::<[u8; 2]>(ctx, (q.l4 & 0x1fff) + if in_ { 0 } else { 2 })?;
    // SAFETY: bounds checked by `ptr_at`; the frame is not aliased during the run.
    unsafe {
        let mut ic = u16::from_be_bytes(*icsum);
        let new_port = port_be.to_ne_bytes();
        ic = csum_update(ic, &*port, &new_port);
        *port = new_port;
        // Each header through one pointer: the verifier then sees every access checked.
        if p.af == AF_V4 {
            let oh = &mut *ptr_at::<[u8; 20]>(ctx, ETH_LEN)?;
            let qh = &mut *ptr_at::<[u8; 20]>(ctx, q.ip & 0x1fff)?;
            let (oa, qa) = if in_ { (16, 12) } else { (12, 16) };
            if oh[8] <= 1 {
                return Err(Reason::TtlExceeded);
            }
            let new = [addr[0], addr[1], addr[2], addr[3]];
            // The outer header: address and TTL.
            let old: [u8; 4] = [oh[oa], oh[oa + 1], oh[oa + 2], oh[oa + 3]];
            let mut h = csum_update(u16::from_be_bytes([oh[10], oh[11]]), &old, &new);
            h = csum_update(h, &[oh[8], 0], &[oh[8] - 1, 0]);
            oh[8] -= 1;
            oh[10..12].copy_from_slice(&h.to_be_bytes());
            oh[oa..oa + 4].copy_from_slice(&new);
            // The quoted header: address and its checksum, both inside the ICMP message.
            let old: [u8; 4] = [qh[qa], qh[qa + 1], qh[qa + 2], qh[qa + 3]];
            let old_qc = [qh[10], qh[11]];
            let nqc = csum_update(u16::from_be_bytes(old_qc), &old, &new).to_be_bytes();
            ic = csum_update(ic, &old, &new);
            ic = csum_update(ic, &old_qc, &nqc);
            qh[qa..qa + 4].copy_from_slice(&new);
            qh[10..12].copy_from_slice(&nqc);
        } else {
            let oh = &mut *ptr_at::<[u8; 40]>(ctx, ETH_LEN)?;
            let qh = &mut *ptr_at::<[u8; 40]>(ctx, q.ip & 0x1fff)?;
            let (oa, qa) = if in_ { (24, 8) } else { (8, 24) };
            if oh[7] <= 1 {
                return Err(Reason::TtlExceeded);
            }
            oh[7] -= 1;
            // ICMPv6's checksum covers the outer addresses (pseudo-header) too.
            let mut old = [0u8; 16];
            old.copy_from_slice(&oh[oa..oa + 16]);
            ic = csum_update(ic, &old, addr);
            oh[oa..oa + 16].copy_from_slice(addr);
            old.copy_from_slice(&qh[qa..qa + 16]);
            ic = csum_update(ic, &old, addr);
            qh[qa..qa + 16].copy_from_slice(addr);
        }
        *icsum = ic.to_be_bytes();
    }
    Ok(())
}
