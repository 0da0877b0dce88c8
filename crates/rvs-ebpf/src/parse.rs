// SPDX-License-Identifier: MIT OR GPL-2.0
//! Header parsing, and the DR and NAT rewrites.
//!
//! What belongs here: bounds-checked reads of Ethernet, IPv4 (with options), IPv6 (extension
//! headers walked up to four deep), TCP and UDP (and the outer headers of ICMP); the in-place
//! DR rewrite (MACs, TTL or hop limit with the IPv4 checksum fixed incrementally) and NAT
//! rewrite (an address and port, with every checksum updated incrementally). Every read is checked against
//! `data_end` first, which is also what the verifier needs to see.

use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, AF_V6, DestVal};
use rvs_common::proto;

use crate::reason::Reason;

const ETH_LEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// Extension headers walked before giving up (and passing the packet to the stack).
const MAX_EXT_HEADERS: usize = 4;

/// What the program needs of a packet.
pub struct Packet {
    /// [`AF_V4`] or [`AF_V6`].
    pub af: u8,
    /// TCP or UDP.
    pub proto: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub saddr: [u8; 16],
    /// Destination address.
    pub daddr: [u8; 16],
    /// Source port, network order.
    pub sport_be: u16,
    /// Destination port, network order.
    pub dport_be: u16,
    /// TCP flags byte (0 for UDP).
    pub tcp_flags: u8,
    /// IP datagram length (what IPVS counts as bytes).
    pub ip_len: u32,
    /// Offset of the TCP/UDP header in the frame.
    pub l4: u32,
}

#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Result<*mut T, Reason> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + core::mem::size_of::<T>() > end {
        return Err(Reason::Malformed);
    }
    Ok((start + off) as *mut T)
}

#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, off: usize) -> Result<T, Reason> {
    // SAFETY: `ptr_at` checked the bounds; the read is unaligned-safe.
    Ok(unsafe { core::ptr::read_unaligned(ptr_at::<T>(ctx, off)?) })
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Parses the headers; `Err` says why the packet is not ours.
#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<Packet, Reason> {
    let len = ctx.data_end() - ctx.data();
    let ethertype = be16(read::<[u8; 2]>(ctx, 12).map_err(|_| Reason::NotService)?);
    let mut p = Packet {
        af: 0,
        proto: 0,
        saddr: [0; 16],
        daddr: [0; 16],
        sport_be: 0,
        dport_be: 0,
        tcp_flags: 0,
        ip_len: 0,
        l4: 0,
    };
    let l4: usize;
    let l3_end: usize;
    match ethertype {
        ETH_P_IP => {
            let h = read::<[u8; 20]>(ctx, ETH_LEN)?;
            if h[0] >> 4 != 4 {
                return Err(Reason::Malformed);
            }
            let ihl = ((h[0] & 0x0f) as usize) * 4;
            let tot = be16([h[2], h[3]]) as usize;
            if ihl < 20 || tot < ihl || ETH_LEN + tot > len {
                return Err(Reason::Malformed);
            }
            if be16([h[6], h[7]]) & 0x3fff != 0 {
                return Err(Reason::Fragment);
            }
            p.af = AF_V4;
            p.proto = h[9];
            p.saddr[..4].copy_from_slice(&h[12..16]);
            p.daddr[..4].copy_from_slice(&h[16..20]);
            p.ip_len = tot as u32;
            l4 = ETH_LEN + ihl;
            l3_end = ETH_LEN + tot;
        }
        ETH_P_IPV6 => {
            let h = read::<[u8; 40]>(ctx, ETH_LEN)?;
            if h[0] >> 4 != 6 {
                return Err(Reason::Malformed);
            }
            let payload = be16([h[4], h[5]]) as usize;
            if ETH_LEN + 40 + payload > len {
                return Err(Reason::Malformed);
            }
            p.af = AF_V6;
            p.saddr.copy_from_slice(&h[8..24]);
            p.daddr.copy_from_slice(&h[24..40]);
            p.ip_len = 40 + payload as u32;
            let mut nh = h[6];
            let mut off = ETH_LEN + 40;
            for _ in 0..MAX_EXT_HEADERS {
                match nh {
                    // hop-by-hop, routing, destination options
                    0 | 43 | 60 => {
                        let e = read::<[u8; 2]>(ctx, off & 0xfff)?;
                        nh = e[0];
                        off = (off & 0xfff) + (e[1] as usize + 1) * 8;
                    }
                    // fragment
                    44 => return Err(Reason::Fragment),
                    _ => break,
                }
            }
            p.proto = nh;
            l4 = off & 0x1fff;
            l3_end = ETH_LEN + 40 + payload;
        }
        _ => return Err(Reason::NotService),
    }
    match p.proto {
        proto::TCP => {
            let t = read::<[u8; 20]>(ctx, l4)?;
            let doff = ((t[12] >> 4) as usize) * 4;
            if doff < 20 || l4 + doff > l3_end {
                return Err(Reason::Malformed);
            }
            p.sport_be = u16::from_ne_bytes([t[0], t[1]]);
            p.dport_be = u16::from_ne_bytes([t[2], t[3]]);
            p.tcp_flags = t[13];
        }
        proto::UDP => {
            let u = read::<[u8; 8]>(ctx, l4)?;
            let ulen = be16([u[4], u[5]]) as usize;
            if ulen < 8 || l4 + ulen > l3_end {
                return Err(Reason::Malformed);
            }
            p.sport_be = u16::from_ne_bytes([u[0], u[1]]);
            p.dport_be = u16::from_ne_bytes([u[2], u[3]]);
        }
        // Errors about balanced connections are handled apart (`parse_icmp`).
        proto::ICMP | proto::ICMPV6 => return Err(Reason::Icmp),
        _ => return Err(Reason::NotService),
    }
    p.l4 = l4 as u32;
    Ok(p)
}

/// Parses an ICMP(v6) packet's outer headers (the rest is `icmp_err`'s); ports are 0.
#[inline(always)]
pub fn parse_icmp(ctx: &XdpContext) -> Result<Packet, Reason> {
    let len = ctx.data_end() - ctx.data();
    let ethertype = be16(read::<[u8; 2]>(ctx, 12)?);
    let mut p = Packet {
        af: 0,
        proto: 0,
        saddr: [0; 16],
        daddr: [0; 16],
        sport_be: 0,
        dport_be: 0,
        tcp_flags: 0,
        ip_len: 0,
        l4: 0,
    };
    if ethertype == ETH_P_IP {
        let h = read::<[u8; 20]>(ctx, ETH_LEN)?;
        let ihl = ((h[0] & 0x0f) as usize) * 4;
        let tot = be16([h[2], h[3]]) as usize;
        if h[9] != proto::ICMP || ihl < 20 || tot < ihl + 8 || ETH_LEN + tot > len {
            return Err(Reason::NotService);
        }
        if be16([h[6], h[7]]) & 0x3fff != 0 {
            return Err(Reason::Fragment);
        }
        p.af = AF_V4;
        p.saddr[..4].copy_from_slice(&h[12..16]);
        p.daddr[..4].copy_from_slice(&h[16..20]);
        p.ip_len = tot as u32;
        p.l4 = (ETH_LEN + ihl) as u32;
    } else if ethertype == ETH_P_IPV6 {
        let h = read::<[u8; 40]>(ctx, ETH_LEN)?;
        let payload = be16([h[4], h[5]]) as usize;
        if h[6] != proto::ICMPV6 || payload < 8 || ETH_LEN + 40 + payload > len {
            return Err(Reason::NotService);
        }
        p.af = AF_V6;
        p.saddr.copy_from_slice(&h[8..24]);
        p.daddr.copy_from_slice(&h[24..40]);
        p.ip_len = 40 + payload as u32;
        p.l4 = (ETH_LEN + 40) as u32;
    } else {
        return Err(Reason::NotService);
    }
    p.proto = if p.af == AF_V4 {
        proto::ICMP
    } else {
        proto::ICMPV6
    };
    Ok(p)
}

/// One's complement checksum `c` after the bytes `old` became `new` (RFC 1624, eqn. 3).
#[inline(always)]
pub fn csum_update<const N: usize>(c: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
    let mut s = (!c) as u32;
    let mut i = 0;
    while i + 1 < N {
        s += (!be16([old[i], old[i + 1]])) as u32 + be16([new[i], new[i + 1]]) as u32;
        i += 2;
    }
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Which address and port NAT replaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Client to real server: the destination (VIP:vport → RIP:rport).
    In,
    /// Real server to client: the source (RIP:rport → VIP:vport).
    Out,
}

/// Rewrites the frame for NAT (ipvs-semantics.md 13.2): the destination (`Nat::In`) or source
/// (`Nat::Out`) address and port become `addr:port_be`, the IPv4 header checksum and the
/// TCP/UDP checksum are updated incrementally (an IPv4 UDP datagram without a checksum keeps
/// none), the TTL or hop limit goes down by one, and the MACs are set. `Err` when the TTL would
/// reach zero or the headers are not where the parser found them.
#[inline(always)]
pub fn rewrite_nat(
    ctx: &XdpContext,
    p: &Packet,
    dir: Nat,
    addr: &[u8; 16],
    port_be: u16,
    mac: &[u8; 6],
    src_mac: &[u8; 6],
) -> Result<(), Reason> {
    let l4 = (p.l4 as usize) & 0x1fff;
    let csum_off = if p.proto == proto::TCP {
        l4 + 16
    } else {
        l4 + 6
    };
    let port_off = if dir == Nat::In { l4 + 2 } else { l4 };
    let csum = ptr_at::<[u8; 2]>(ctx, csum_off)?;
    let port = ptr_at::<[u8; 2]>(ctx, port_off)?;
    // SAFETY: bounds checked by `ptr_at`; the frame is not aliased during the run.
    unsafe {
        let old_port = *port;
        let new_port = port_be.to_ne_bytes();
        let mut c = u16::from_be_bytes(*csum);
        let keep_zero = p.af == AF_V4 && p.proto == proto::UDP && c == 0;
        if p.af == AF_V4 {
            let a_off = if dir == Nat::In {
                ETH_LEN + 16
            } else {
                ETH_LEN + 12
            };
            let a = ptr_at::<[u8; 4]>(ctx, a_off)?;
            let ttl = ptr_at::<u8>(ctx, ETH_LEN + 8)?;
            let ipc = ptr_at::<[u8; 2]>(ctx, ETH_LEN + 10)?;
            if *ttl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            let old = *a;
            let new = [addr[0], addr[1], addr[2], addr[3]];
            // The IP header: the address, and the TTL (high byte of its word).
            let mut h = csum_update(u16::from_be_bytes(*ipc), &old, &new);
            h = csum_update(h, &[*ttl, 0], &[*ttl - 1, 0]);
            *ttl -= 1;
            *ipc = h.to_be_bytes();
            core::ptr::write_unaligned(a, new);
            c = csum_update(c, &old, &new);
        } else {
            let a_off = if dir == Nat::In {
                ETH_LEN + 24
            } else {
                ETH_LEN + 8
            };
            let a = ptr_at::<[u8; 16]>(ctx, a_off)?;
            let hl = ptr_at::<u8>(ctx, ETH_LEN + 7)?;
            if *hl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            *hl -= 1;
            let old = core::ptr::read_unaligned(a);
            core::ptr::write_unaligned(a, *addr);
            c = csum_update(c, &old, addr);
        }
        c = csum_update(c, &old_port, &new_port);
        if !keep_zero {
            // UDP sends a computed zero as all ones (zero means "no checksum").
            if c == 0 && p.proto == proto::UDP {
                c = 0xffff;
            }
            *csum = c.to_be_bytes();
        }
        *port = new_port;
    }
    let dst = ptr_at::<[u8; 6]>(ctx, 0)?;
    let src = ptr_at::<[u8; 6]>(ctx, 6)?;
    // SAFETY: bounds checked.
    unsafe {
        core::ptr::write_unaligned(dst, *mac);
        core::ptr::write_unaligned(src, *src_mac);
    }
    Ok(())
}

/// Rewrites the frame for direct routing: new MACs, TTL/hop limit minus one (IPv4 checksum
/// adjusted as `ip_decrease_ttl` does). `Err` when the TTL would reach zero.
#[inline(always)]
pub fn rewrite_dr(ctx: &XdpContext, p: &Packet, d: &DestVal) -> Result<(), Reason> {
    decrement_ttl(ctx, p)?;
    let dst = ptr_at::<[u8; 6]>(ctx, 0)?;
    let src = ptr_at::<[u8; 6]>(ctx, 6)?;
    // SAFETY: bounds checked; the frame is not aliased during the run.
    unsafe {
        core::ptr::write_unaligned(dst, d.mac);
        core::ptr::write_unaligned(src, d.src_mac);
    }
    Ok(())
}

/// TTL/hop limit minus one, the IPv4 checksum adjusted as `ip_decrease_ttl` does. `Err`
/// when it would reach zero.
#[inline(always)]
pub fn decrement_ttl(ctx: &XdpContext, p: &Packet) -> Result<(), Reason> {
    if p.af == AF_V4 {
        let ttl = ptr_at::<u8>(ctx, ETH_LEN + 8)?;
        let csum = ptr_at::<[u8; 2]>(ctx, ETH_LEN + 10)?;
        // SAFETY: bounds checked by `ptr_at`.
        unsafe {
            if *ttl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            *ttl -= 1;
            // The TTL is the high byte of its 16-bit word: the checksum grows by 0x0100,
            // with the end-around carry of one's complement arithmetic.
            let mut c = u16::from_be_bytes(*csum) as u32 + 0x0100;
            c = (c & 0xffff) + (c >> 16);
            *csum = (c as u16).to_be_bytes();
        }
    } else {
        let hl = ptr_at::<u8>(ctx, ETH_LEN + 7)?;
        // SAFETY: bounds checked.
        unsafe {
            if *hl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            *hl -= 1;
        }
    }
    Ok(())
}
