// SPDX-License-Identifier: MIT OR GPL-2.0
//! Parsing once: what a program learned of a packet (its parsed headers, and its service once
//! found) travels to the program it tail-calls in the frame's XDP metadata area
//! (`bpf_xdp_adjust_meta`), which the next program reads instead of parsing and looking the
//! service up again.
//!
//! Why the metadata and not per-CPU scratch: the metadata travels with this very frame, so it
//! cannot be another packet's. During a hitless upgrade an old first program may tail-call a
//! new second one; scratch space would then hold whatever the new programs last left there,
//! while the metadata holds what the old program wrote, or nothing, and [`CARRY_MAGIC`]
//! (which names this layout of [`Carry`]) tells the two apart. A frame without our magic, or
//! on a driver without a metadata area, is parsed again: nothing depends on the carry being
//! there.
//!
//! The reader takes the carry off the frame before it does anything else, and a tail call
//! that fails takes it off too ([`discard`]): no frame leaves an rvs program with a carry on
//! it, so none can arrive with a stale one (on a frame redirected from one director into
//! another, say), and none reaches the stack, a real server or a client with it.

use aya_ebpf::helpers::bpf_xdp_adjust_meta;
use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, CARRY_MAGIC, Carry, SvcVal};

use crate::frame::{ETH_LEN, read};
use crate::parse::Packet;
use crate::scratch::scratch;

const SIZE: usize = core::mem::size_of::<Carry>();

/// Puts the carry in front of the frame for the program about to be tail-called: the parsed
/// `pkt` and, if found, its service. Nothing is carried where the driver has no metadata
/// area, or where the frame has metadata already (the next program parses again).
#[inline(always)]
pub(crate) fn put(ctx: &XdpContext, pkt: &Packet, svc: Option<&SvcVal>) {
    // Only onto a frame without metadata: one with some (put there by a program before
    // this one) keeps it, and the next program parses again.
    if ctx.metadata() != ctx.data() {
        return;
    }
    // SAFETY: the context the kernel passed; the helper checks the new size.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -(SIZE as i32)) } != 0 {
        return;
    }
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + SIZE > data {
        return;
    }
    let c = meta as *mut Carry;
    // SAFETY: the metadata area holds `SIZE` bytes (checked above), 4-byte aligned as the
    // kernel keeps it; fields are written one by one.
    unsafe {
        (*c).magic = CARRY_MAGIC;
        (*c).l4 = pkt.l4 as u16;
        (*c).ip_len = pkt.ip_len;
        (*c).af = pkt.af;
        (*c).proto = pkt.proto;
        (*c).tcp_flags = pkt.tcp_flags;
        (*c).sport_be = pkt.sport_be;
        (*c).dport_be = pkt.dport_be;
        match svc {
            Some(s) => {
                (*c).svc = *s;
                (*c).has_svc = 1;
            }
            None => (*c).has_svc = 0,
        }
    }
}

/// Takes the carry off the frame: the packet as the previous program parsed it and, if it
/// found one, its service (a copy in the scratch space's `svc`, which nothing else writes).
/// `None` when the frame carries nothing of ours: the caller parses.
#[inline(always)]
pub(crate) fn take(ctx: &XdpContext) -> Option<(Packet, Option<&'static SvcVal>)> {
    // The most metadata there can be is `SIZE` bytes: if it holds `SIZE`, it is that.
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + SIZE > data {
        return None;
    }
    let c = meta as *const Carry;
    // SAFETY: `SIZE` bytes of metadata, checked above.
    let (magic, l4, ip_len, af, proto, tcp_flags, has_svc, sport_be, dport_be) = unsafe {
        (
            (*c).magic,
            (*c).l4,
            (*c).ip_len,
            (*c).af,
            (*c).proto,
            (*c).tcp_flags,
            (*c).has_svc,
            (*c).sport_be,
            (*c).dport_be,
        )
    };
    if magic != CARRY_MAGIC {
        return None;
    }
    let svc = if has_svc != 0 {
        let s = scratch()?;
        // SAFETY: as above; the scratch space's rule (`scratch`): `svc` is written here and
        // only read after.
        unsafe {
            (*s).svc = (*c).svc;
            Some(&(*s).svc)
        }
    } else {
        None
    };
    // Taken off: the frame is as it arrived. (Packet pointers are checked afresh below.)
    // SAFETY: the context the kernel passed; shrinking the metadata to nothing is allowed.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, SIZE as i32) } != 0 {
        return None;
    }
    let mut p = Packet {
        af,
        proto,
        saddr: [0; 16],
        daddr: [0; 16],
        sport_be,
        dport_be,
        tcp_flags,
        ip_len,
        l4: u32::from(l4) & 0x1fff,
    };
    // The addresses are read from the frame again, at their fixed places.
    if af == AF_V4 {
        let a = read::<[u8; 8]>(ctx, ETH_LEN + 12).ok()?;
        p.saddr[..4].copy_from_slice(&a[..4]);
        p.daddr[..4].copy_from_slice(&a[4..]);
    } else {
        p.saddr = read::<[u8; 16]>(ctx, ETH_LEN + 8).ok()?;
        p.daddr = read::<[u8; 16]>(ctx, ETH_LEN + 24).ok()?;
    }
    Some((p, svc))
}

/// Takes a carry of ours off a frame that goes nowhere further (a tail call that failed).
#[inline(always)]
pub(crate) fn discard(ctx: &XdpContext) {
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + SIZE > data {
        return;
    }
    // SAFETY: `SIZE` bytes of metadata, checked above.
    if unsafe { (*(meta as *const Carry)).magic } == CARRY_MAGIC {
        // SAFETY: the context the kernel passed.
        unsafe { bpf_xdp_adjust_meta(ctx.ctx, SIZE as i32) };
    }
}
