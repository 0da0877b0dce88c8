// SPDX-License-Identifier: MIT OR GPL-2.0
//! Programs that are not the director: the XDP_PASS program veth peers need, and the
//! benchmarks' baselines (MAC swap and XDP_TX, XDP_DROP), traffic generator and sink.

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX};
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::{Array, PerCpuArray};
use aya_ebpf::programs::XdpContext;

/// A program that passes everything: veth peers of an interface that uses XDP_TX need an XDP
/// program of their own to receive those frames.
#[xdp]
pub fn rvs_pass(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

/// The benchmark baseline: swap the MAC addresses and transmit, nothing else.
#[xdp]
pub fn rvs_min_tx(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 12 > ctx.data_end() {
        return XDP_PASS;
    }
    let p = start as *mut [u8; 6];
    // SAFETY: 12 bytes checked above.
    unsafe {
        let dst = core::ptr::read_unaligned(p);
        let src = core::ptr::read_unaligned(p.add(1));
        core::ptr::write_unaligned(p, src);
        core::ptr::write_unaligned(p.add(1), dst);
    }
    XDP_TX
}

/// The benchmarks' XDP_DROP baseline.
#[xdp]
pub fn rvs_drop(_ctx: XdpContext) -> u32 {
    XDP_DROP
}

/// Benchmark traffic generator settings (`RVS_GEN`): index 0 the number of flows, 1 the TCP
/// flags byte to send.
#[map(name = "RVS_GEN")]
pub(crate) static GEN: Array<u32> = Array::with_max_entries(2, 0);

/// The generator's frame counter (per CPU).
#[map(name = "RVS_GEN_COUNT")]
pub(crate) static GEN_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Frames the benchmark sink counted (per CPU).
#[map(name = "RVS_SINK")]
pub(crate) static SINK: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The benchmarks' traffic generator, run with `BPF_PROG_TEST_RUN` in live-frames mode: each
/// run takes the IPv4/TCP frame it was given (no IP options), gives it the next of `flows`
/// source ports and the configured TCP flags, and transmits it.
#[xdp]
pub fn rvs_gen(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 48 > ctx.data_end() {
        return XDP_DROP;
    }
    let flows = GEN.get(0).copied().unwrap_or(1).max(1) as u64;
    let flags = GEN.get(1).copied().unwrap_or(0x10) as u8;
    let Some(c) = GEN_COUNT.get_ptr_mut(0) else {
        return XDP_DROP;
    };
    // SAFETY: per-CPU slot; 48 bytes checked above.
    unsafe {
        let n = *c;
        *c = n + 1;
        let sport = (1024 + n % flows) as u16;
        core::ptr::write_unaligned((start + 34) as *mut [u8; 2], sport.to_be_bytes());
        *((start + 47) as *mut u8) = flags;
    }
    XDP_TX
}

/// The benchmarks' sink: counts and drops IPv4 and IPv6 frames, passes the rest (ARP).
#[xdp]
pub fn rvs_sink(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 14 > ctx.data_end() {
        return XDP_PASS;
    }
    // SAFETY: 14 bytes checked above.
    let et = unsafe { core::ptr::read_unaligned((start + 12) as *const [u8; 2]) };
    if et != [0x08, 0x00] && et != [0x86, 0xdd] {
        return XDP_PASS;
    }
    if let Some(p) = SINK.get_ptr_mut(0) {
        // SAFETY: per-CPU slot.
        unsafe { *p += 1 };
    }
    XDP_DROP
}
