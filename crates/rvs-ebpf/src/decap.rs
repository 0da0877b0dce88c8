// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-decap`: the real server's side of rvs tunnelling, for hosts without the IPIP, FOU or
//! GRE modules. An XDP program on the real server's interface that takes the outer header off
//! IPIP (IPv4 or IPv6 outer), GRE and GUE (to the configured UDP port) packets and passes the
//! inner packet to the stack, which delivers it to the VIP on `lo`. Everything else passes
//! untouched. `rvs realserver setup --tunnel ...` loads and attaches it.
#![no_std]
#![no_main]

use aya_ebpf::bindings::xdp_action::XDP_PASS;
use aya_ebpf::helpers::bpf_xdp_adjust_head;
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::Array;
use aya_ebpf::programs::XdpContext;

/// Settings: index 0 is the GUE UDP port (host order; 0 = no GUE).
#[map(name = "RVS_DECAP")]
static CONFIG: Array<u32> = Array::with_max_entries(1, 0);

const ETH_LEN: usize = 14;

#[inline(always)]
fn bytes<const N: usize>(ctx: &XdpContext, off: usize) -> Option<[u8; N]> {
    let start = ctx.data();
    if start + off + N > ctx.data_end() {
        return None;
    }
    // SAFETY: bounds checked.
    Some(unsafe { core::ptr::read_unaligned((start + off) as *const [u8; N]) })
}

/// Outer header bytes to remove and the inner packet's ethertype, if this is a tunnel packet.
#[inline(always)]
fn outer(ctx: &XdpContext) -> Option<(usize, [u8; 2])> {
    let et = bytes::<2>(ctx, 12)?;
    let inner_et = |p: u8| match p {
        4 => Some([0x08, 0x00]),
        41 => Some([0x86, 0xdd]),
        _ => None,
    };
    if et == [0x86, 0xdd] {
        let h = bytes::<8>(ctx, ETH_LEN)?;
        return Some((40, inner_et(h[6])?));
    }
    if et != [0x08, 0x00] {
        return None;
    }
    let h = bytes::<20>(ctx, ETH_LEN)?;
    if h[0] != 0x45 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return None;
    }
    match h[9] {
        4 | 41 => Some((20, inner_et(h[9])?)),
        47 => {
            let g = bytes::<4>(ctx, ETH_LEN + 20)?;
            // Version 0; a checksum (C bit) adds 4 bytes; keys and sequence numbers are not
            // produced by IPVS.
            if g[0] & 0x7f != 0 || g[1] != 0 {
                return None;
            }
            let len = if g[0] & 0x80 != 0 { 28 } else { 24 };
            Some((len, [g[2], g[3]]))
        }
        17 => {
            let port = CONFIG.get(0).copied().unwrap_or(0);
            let u = bytes::<12>(ctx, ETH_LEN + 20)?;
            if port == 0 || u32::from(u16::from_be_bytes([u[2], u[3]])) != port {
                return None;
            }
            // GUE version 0, a data message; `hlen` words of options.
            if u[8] & 0xe0 != 0 {
                return None;
            }
            let hlen = usize::from(u[8] & 0x1f) * 4;
            Some((20 + 8 + 4 + hlen, inner_et(u[9])?))
        }
        _ => None,
    }
}

/// The entry point.
#[xdp]
pub fn rvs_decap(ctx: XdpContext) -> u32 {
    let Some((strip, et)) = outer(&ctx) else {
        return XDP_PASS;
    };
    let Some(macs) = bytes::<12>(&ctx, 0) else {
        return XDP_PASS;
    };
    // SAFETY: the helper checks that `strip` bytes are there; pointers are re-derived after.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, strip as i32) } != 0 {
        return XDP_PASS;
    }
    let start = ctx.data();
    if start + ETH_LEN > ctx.data_end() {
        return XDP_PASS;
    }
    // SAFETY: 14 bytes checked above.
    unsafe {
        core::ptr::write_unaligned(start as *mut [u8; 12], macs);
        core::ptr::write_unaligned((start + 12) as *mut [u8; 2], et);
    }
    XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
