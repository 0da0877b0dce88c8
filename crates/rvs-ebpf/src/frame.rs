// SPDX-License-Identifier: MIT OR GPL-2.0
//! The frame as memory: bounds-checked pointers into it (every access is checked against
//! `data_end` first, which is also what the verifier needs to see), and one's complement
//! checksum arithmetic for the rewrites.

use aya_ebpf::programs::XdpContext;

use crate::reason::Reason;

/// The Ethernet header's length.
pub(crate) const ETH_LEN: usize = 14;

/// A pointer to a `T` at `off` in the frame, if the frame holds it (`Malformed` otherwise).
#[inline(always)]
pub(crate) fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Result<*mut T, Reason> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + core::mem::size_of::<T>() > end {
        return Err(Reason::Malformed);
    }
    Ok((start + off) as *mut T)
}

/// A copy of the `T` at `off` in the frame.
#[inline(always)]
pub(crate) fn read<T: Copy>(ctx: &XdpContext, off: usize) -> Result<T, Reason> {
    // SAFETY: `ptr_at` checked the bounds; the read is unaligned-safe.
    Ok(unsafe { core::ptr::read_unaligned(ptr_at::<T>(ctx, off)?) })
}

/// Writes `bytes` at `off`.
#[inline(always)]
pub(crate) fn put<const N: usize>(
    ctx: &XdpContext,
    off: usize,
    bytes: &[u8; N],
) -> Result<(), Reason> {
    let d = ptr_at::<[u8; N]>(ctx, off)?;
    // SAFETY: bounds checked.
    unsafe { core::ptr::write_unaligned(d, *bytes) };
    Ok(())
}

#[inline(always)]
pub(crate) fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// One's complement checksum `c` after the bytes `old` became `new` (RFC 1624, eqn. 3).
#[inline(always)]
pub(crate) fn csum_update<const N: usize>(c: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
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

/// Adds big-endian 16-bit words of `b` to a one's complement sum.
#[inline(always)]
pub(crate) fn sum16(b: &[u8], mut acc: u32) -> u32 {
    let mut i = 0;
    while i + 1 < b.len() {
        acc += u32::from(u16::from_be_bytes([b[i], b[i + 1]]));
        i += 2;
    }
    acc
}

/// The one's complement of a folded sum: the checksum field's value.
#[inline(always)]
pub(crate) fn fold(mut acc: u32) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}
