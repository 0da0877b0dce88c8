// SPDX-License-Identifier: MIT OR GPL-2.0
//! Direct routing (`ip_vs_dr_xmit`): the frame goes to the real server unchanged but
//! for its MACs and its TTL or hop limit. The TTL step is tunnels' too.

use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, DestVal};

use crate::frame::{ETH_LEN, ptr_at};
use crate::parse::Packet;
use crate::reason::Reason;

/// Rewrites the frame for direct routing: new MACs, TTL/hop limit minus one (IPv4 checksum
/// adjusted as `ip_decrease_ttl` does). `Err` when the TTL would reach zero.
#[inline(always)]
pub(crate) fn rewrite_dr(ctx: &XdpContext, p: &Packet, d: &DestVal) -> Result<(), Reason> {
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
pub(crate) fn decrement_ttl(ctx: &XdpContext, p: &Packet) -> Result<(), Reason> {
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
