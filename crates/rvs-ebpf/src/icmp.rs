// SPDX-License-Identifier: MIT OR GPL-2.0
//! ICMP port unreachable for a new connection that no dest can take (IPVS "leaves" such a
//! packet: the kernel answers the client with ICMP / ICMPv6 port unreachable from the VIP).
//!
//! What belongs here: turning the client's frame, in place, into that answer. The frame is
//! grown at the head by exactly the new IP and ICMP headers (28 bytes for IPv4, 48 for IPv6),
//! which leaves the client's IP header where the ICMP message quotes it; the tail is then cut
//! after the quoted IP header and 8 bytes of its payload.

use aya_ebpf::helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail};
use aya_ebpf::programs::XdpContext;
use rvs_common::maps::AF_V4;

use crate::frame::{ETH_LEN, fold, ptr_at, put, sum16};
use crate::parse::Packet;
use crate::reason::Reason;

/// Writes the first 4 bytes of `a` (an IPv4 address in a 16-byte slot) at `off`.
#[inline(always)]
fn put4(ctx: &XdpContext, off: usize, a: &[u8; 16]) -> Result<(), Reason> {
    put(ctx, off, &[a[0], a[1], a[2], a[3]])
}

/// Writes a 16-byte address at `off`.
#[inline(always)]
fn put16(ctx: &XdpContext, off: usize, a: &[u8; 16]) -> Result<(), Reason> {
    put(ctx, off, a)
}

/// Sums the `bytes` bytes of the frame from `off` (the ICMP message: 8 bytes of header plus
/// the quote). Each possible length reads one fixed-size region: a length the verifier can
/// see, where a loop's bounds check gets rewritten into arithmetic it refuses.
#[inline(always)]
fn sum_frame(ctx: &XdpContext, off: usize, bytes: usize, acc: u32) -> Result<u32, Reason> {
    macro_rules! fixed {
        ($n:literal) => {{
            let r = ptr_at::<[u8; $n]>(ctx, off)?;
            // SAFETY: bounds checked.
            Ok(sum16(unsafe { &*r }, acc))
        }};
    }
    match bytes {
        36 => fixed!(36),
        40 => fixed!(40),
        44 => fixed!(44),
        48 => fixed!(48),
        52 => fixed!(52),
        56 => fixed!(56),
        60 => fixed!(60),
        64 => fixed!(64),
        68 => fixed!(68),
        72 => fixed!(72),
        76 => fixed!(76),
        _ => Err(Reason::Malformed),
    }
}

/// Rewrites the frame into ICMP(v6) port unreachable to the client; `Ok` is the action.
#[inline(always)]
pub fn port_unreachable(ctx: &XdpContext, p: &Packet) -> Result<u32, Reason> {
    error(ctx, p, 0)
}

/// Rewrites the frame into ICMP fragmentation needed (ICMPv6 packet too big) with next-hop
/// MTU `mtu` to the client: what a tunnel answers for a DF packet too big to encapsulate.
#[inline(always)]
pub fn frag_needed(ctx: &XdpContext, p: &Packet, mtu: u32) -> Result<u32, Reason> {
    error(ctx, p, mtu.max(1))
}

/// The ICMP error to the client: port unreachable when `mtu` is 0, else fragmentation needed.
#[inline(always)]
fn error(ctx: &XdpContext, p: &Packet, mtu: u32) -> Result<u32, Reason> {
    let macs = ptr_at::<[u8; 12]>(ctx, 0)?;
    // SAFETY: bounds checked.
    let macs = unsafe { *macs };
    let old_len = ctx.data_end() - ctx.data();
    let v4 = p.af == AF_V4;
    // Headers added in front (new IP + ICMP) and the bytes of the client's packet quoted.
    let (grow, quoted) = if v4 {
        let vihl = ptr_at::<u8>(ctx, ETH_LEN)?;
        // SAFETY: bounds checked.
        (28usize, (usize::from(unsafe { *vihl } & 0x0f) * 4) + 8)
    } else {
        (48usize, 48usize)
    };
    if old_len < ETH_LEN + quoted {
        return Err(Reason::Malformed);
    }
    // SAFETY: the helper checks the headroom; every pointer is re-derived afterwards.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(grow as i32)) } != 0 {
        return Err(Reason::NoDest);
    }
    let new_len = ETH_LEN + grow + quoted;
    let cur = grow + old_len;
    // SAFETY: shrinking the tail to a length inside the frame.
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, new_len as i32 - cur as i32) } != 0 {
        return Err(Reason::NoDest);
    }
    // Headers are written straight into the frame and read back for the checksums: the
    // program's stack is close to the verifier's 512-byte limit.
    put(
        ctx,
        0,
        &[macs[6], macs[7], macs[8], macs[9], macs[10], macs[11]],
    )?;
    put(
        ctx,
        6,
        &[macs[0], macs[1], macs[2], macs[3], macs[4], macs[5]],
    )?;
    if v4 {
        let tot = ((20 + 8 + quoted) as u16).to_be_bytes();
        put(
            ctx,
            12,
            &[
                0x08,
                0x00,
                0x45,
                0,
                tot[0],
                tot[1],
                0,
                0,
                0,
                0,
                64,
                rvs_common::proto::ICMP,
                0,
                0,
            ],
        )?;
        put4(ctx, ETH_LEN + 12, &p.daddr)?;
        put4(ctx, ETH_LEN + 16, &p.saddr)?;
        let m = (mtu.min(0xffff) as u16).to_be_bytes();
        let code = if mtu == 0 { 3 } else { 4 };
        put(ctx, ETH_LEN + 20, &[3, code, 0, 0, 0, 0, m[0], m[1]])?;
        let h = ptr_at::<[u8; 20]>(ctx, ETH_LEN)?;
        // SAFETY: bounds checked.
        let c = fold(sum16(unsafe { &*h }, 0));
        put(ctx, ETH_LEN + 10, &c.to_be_bytes())?;
        let c = fold(sum_frame(ctx, ETH_LEN + 20, 8 + quoted, 0)?);
        put(ctx, ETH_LEN + 22, &c.to_be_bytes())?;
    } else {
        let plen = (8 + quoted) as u16;
        let pl = plen.to_be_bytes();
        put(
            ctx,
            12,
            &[
                0x86,
                0xdd,
                0x60,
                0,
                0,
                0,
                pl[0],
                pl[1],
                rvs_common::proto::ICMPV6,
                64,
            ],
        )?;
        put16(ctx, ETH_LEN + 8, &p.daddr)?;
        put16(ctx, ETH_LEN + 24, &p.saddr)?;
        let m = mtu.to_be_bytes();
        let head = if mtu == 0 {
            [1, 4, 0, 0, 0, 0, 0, 0]
        } else {
            [2, 0, 0, 0, m[0], m[1], m[2], m[3]]
        };
        put(ctx, ETH_LEN + 40, &head)?;
        // Pseudo-header: both addresses (just written), upper-layer length, next header.
        let a = ptr_at::<[u8; 32]>(ctx, ETH_LEN + 8)?;
        // SAFETY: bounds checked.
        let acc = sum16(unsafe { &*a }, 0) + u32::from(plen) + u32::from(rvs_common::proto::ICMPV6);
        let c = fold(sum_frame(ctx, ETH_LEN + 40, 8 + quoted, acc)?);
        put(ctx, ETH_LEN + 42, &c.to_be_bytes())?;
    }
    Ok(aya_ebpf::bindings::xdp_action::XDP_TX)
}
