// SPDX-License-Identifier: MIT OR GPL-2.0
//! Tunnel forwarding (`ip_vs_tunnel_xmit`): the client's packet, its TTL or hop limit
//! decremented, inside a new outer header to the real server: IPIP (IPv4 or IPv6 outer, by
//! the dest's family), GUE (outer UDP to `--tun-port` and a 4-byte GUE header) or GRE (a
//! 4-byte GRE header). The outer TOS copies the inner DSCP and ECN (CE becomes ECT(0)), DF and
//! the TTL come from the inner packet, the source is the director's address towards the
//! dest. A DF packet that would not fit the interface's MTU once encapsulated is answered
//! with ICMP fragmentation needed (ICMPv6 packet too big) carrying the MTU left for it.

use aya_ebpf::helpers::bpf_xdp_adjust_head;
use aya_ebpf::macros::map;
use aya_ebpf::maps::Array;
use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, DEST_SLOTS, DestVal, TunVal, hash_32};
use rvs_common::{proto, tun};

use crate::dr::decrement_ttl;
use crate::frame::{ETH_LEN, fold, ptr_at, put, sum16};
use crate::icmp::frag_needed;
use crate::parse::Packet;
use crate::reason::Reason;
use crate::xmit::transmit;

/// Tunnel parameters by dest id (tunnel dests only).
#[map(name = "RVS_TUNNELS")]
pub(crate) static TUNNELS: Array<TunVal> = Array::with_max_entries(DEST_SLOTS, 0);

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;

/// Bytes the encapsulation adds.
#[inline(always)]
pub fn overhead(t: &TunVal) -> u32 {
    let ip = if t.af == AF_V4 { 20 } else { 40 };
    match t.kind {
        tun::TYPE_GUE => ip + 8 + 4,
        tun::TYPE_GRE => ip + 4,
        _ => ip,
    }
}

/// Encapsulates the frame for dest `d` and transmits it; `Ok` is the action.
#[inline(always)]
pub fn encap(ctx: &XdpContext, p: &Packet, d: &DestVal, t: &TunVal) -> Result<u32, Reason> {
    let over = overhead(t);
    let inner_v4 = p.af == AF_V4;
    let h = ptr_at::<[u8; 8]>(ctx, ETH_LEN)?;
    // SAFETY: bounds checked.
    let h = unsafe { *h };
    let (tos, df) = if inner_v4 {
        (h[1], h[6] & 0x40 != 0)
    } else {
        // IPv6 is never fragmented on the way: always "DF".
        ((h[0] << 4) | (h[1] >> 4), true)
    };
    if p.ip_len + over > t.mtu {
        if df {
            return frag_needed(ctx, p, t.mtu.saturating_sub(over));
        }
        return Err(Reason::TooBig);
    }
    // The inner packet as DR would send it (TTL/hop limit down by one), then the outer header.
    decrement_ttl(ctx, p)?;
    let ttl = {
        let off = if inner_v4 { ETH_LEN + 8 } else { ETH_LEN + 7 };
        let t = ptr_at::<u8>(ctx, off)?;
        // SAFETY: bounds checked.
        unsafe { *t }
    };
    let ecn = tos & 3;
    let tos = (tos & !3) | if ecn == 3 { 2 } else { ecn };
    let inner_proto = if inner_v4 { IPPROTO_IPIP } else { IPPROTO_IPV6 };
    let outer_proto = match t.kind {
        tun::TYPE_GUE => proto::UDP,
        tun::TYPE_GRE => IPPROTO_GRE,
        _ => inner_proto,
    };
    // SAFETY: the helper checks the headroom; every pointer is re-derived afterwards.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(over as i32)) } != 0 {
        return Err(Reason::TooBig);
    }
    put(ctx, 0, &d.mac)?;
    put(ctx, 6, &d.src_mac)?;
    let total = p.ip_len + over;
    let ip_len = if t.af == AF_V4 {
        put(ctx, 12, &[0x08, 0x00])?;
        let tl = (total as u16).to_be_bytes();
        let s = &t.saddr;
        let a = &d.addr;
        put(
            ctx,
            ETH_LEN,
            &[
                0x45,
                tos,
                tl[0],
                tl[1],
                0,
                0,
                if df { 0x40 } else { 0 },
                0,
                ttl,
                outer_proto,
                0,
                0,
                s[0],
                s[1],
                s[2],
                s[3],
                a[0],
                a[1],
                a[2],
                a[3],
            ],
        )?;
        let hdr = ptr_at::<[u8; 20]>(ctx, ETH_LEN)?;
        // SAFETY: bounds checked.
        let c = fold(sum16(unsafe { &*hdr }, 0));
        put(ctx, ETH_LEN + 10, &c.to_be_bytes())?;
        20
    } else {
        put(ctx, 12, &[0x86, 0xdd])?;
        let pl = ((total - 40) as u16).to_be_bytes();
        put(
            ctx,
            ETH_LEN,
            &[
                0x60 | (tos >> 4),
                tos << 4,
                0,
                0,
                pl[0],
                pl[1],
                outer_proto,
                ttl,
            ],
        )?;
        put(ctx, ETH_LEN + 8, &t.saddr)?;
        put(ctx, ETH_LEN + 24, &d.addr)?;
        40
    };
    let l = ETH_LEN + ip_len;
    match t.kind {
        tun::TYPE_GUE => {
            // The source port spreads flows (the kernel maps a flow hash into its local port
            // range); no UDP checksum (`--tun-nocsum`).
            let flow = u32::from_be_bytes([p.saddr[0], p.saddr[1], p.saddr[2], p.saddr[3]])
                ^ ((p.sport_be as u32) << 16 | p.dport_be as u32);
            let sport = (32768 + hash_32(flow, 16) % 28232) as u16;
            let sp = sport.to_be_bytes();
            let dp = t.port_be.to_ne_bytes();
            let ul = ((p.ip_len + 12) as u16).to_be_bytes();
            put(
                ctx,
                l,
                &[
                    sp[0],
                    sp[1],
                    dp[0],
                    dp[1],
                    ul[0],
                    ul[1],
                    0,
                    0,
                    0,
                    inner_proto,
                    0,
                    0,
                ],
            )?;
        }
        tun::TYPE_GRE => {
            let et: [u8; 2] = if inner_v4 { [0x08, 0x00] } else { [0x86, 0xdd] };
            put(ctx, l, &[0, 0, et[0], et[1]])?;
        }
        _ => {}
    }
    transmit(ctx, d.ifindex)
}
