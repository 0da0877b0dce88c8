// SPDX-License-Identifier: MIT OR GPL-2.0
//! Header parsing, and nothing else: bounds-checked reads of Ethernet, IPv4 (with options),
//! IPv6 (extension headers walked up to four deep), TCP and UDP (and the outer headers of
//! ICMP). The rewrites live with their forwarding method ([`crate::dr`], [`crate::nat`],
//! [`crate::tun`]).

use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, AF_V6};
use rvs_common::proto;

use crate::frame::{ETH_LEN, be16, read};
use crate::reason::Reason;

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

/// Parses the headers; `Err` says why the packet is not ours.
#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<Packet, Reason> {
    let len = ctx.data_end() - ctx.data();
    // A frame too short for an Ethernet header is no service's: the stack gets it, counted
    // as such (not as malformed, which is for the headers of a service's protocols).
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
