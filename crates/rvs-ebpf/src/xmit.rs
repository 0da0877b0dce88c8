// SPDX-License-Identifier: MIT OR GPL-2.0
//! Sending the rewritten frame: out of the interface it came in on, or redirected to the
//! dest's; the next hop from the kernel's FIB for replies, and the neighbours user space is
//! asked to resolve.

use aya_ebpf::bindings::xdp_action::XDP_TX;
use aya_ebpf::helpers::bpf_redirect;
use aya_ebpf::macros::map;
use aya_ebpf::maps::LruHashMap;
use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, DestVal, NeighKey};

use crate::parse;
use crate::reason::Reason;
use crate::scratch::scratch;

/// Sends the rewritten frame out of `ifindex`: back where it came from, or redirected.
pub(crate) fn transmit(ctx: &XdpContext, ifindex: u32) -> Result<u32, Reason> {
    // SAFETY: the context the kernel passed, valid for the run.
    if ifindex != 0 && ifindex != unsafe { (*ctx.ctx).ingress_ifindex } {
        // SAFETY: a helper without preconditions.
        return Ok(unsafe { bpf_redirect(ifindex, 0) } as u32);
    }
    Ok(XDP_TX)
}

/// `struct bpf_fib_lookup`, laid out by hand (64 bytes).
#[repr(C)]
pub(crate) struct FibParams {
    pub(crate) family: u8,
    pub(crate) l4_protocol: u8,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    pub(crate) tot_len: u16,
    pub(crate) ifindex: u32,
    pub(crate) flowinfo: u32,
    pub(crate) src: [u8; 16],
    pub(crate) dst: [u8; 16],
    pub(crate) vlan: u32,
    pub(crate) smac: [u8; 6],
    pub(crate) dmac: [u8; 6],
}

pub(crate) const BPF_FIB_LKUP_RET_SUCCESS: i64 = 0;

pub(crate) const BPF_FIB_LKUP_RET_NO_NEIGH: i64 = 7;

/// Next hops that had no neighbour entry: user space resolves them.
#[map(name = "RVS_NEED_NEIGH")]
pub(crate) static NEED_NEIGH: LruHashMap<NeighKey, u32> = LruHashMap::with_max_entries(1024, 0);

/// A dest whose MAC is being resolved ([`dest::RESOLVING`]): its address goes to user space,
/// which has the kernel resolve it at once (the packet is dropped; the client retransmits).
pub(crate) fn want_neighbour(d: &DestVal) {
    if let Some(s) = scratch() {
        // SAFETY: the scratch space's rule (`scratch`): `nkey` is written, then borrowed for
        // the insert alone.
        unsafe {
            (*s).nkey = NeighKey {
                addr: d.addr,
                af: d.af,
                _pad: [0; 3],
            };
            let _ = NEED_NEIGH.insert(&(*s).nkey, &0, 0);
        }
    }
}

/// The next hop towards `daddr` from the kernel's FIB: `(ifindex, dmac, smac)` in the scratch
/// space's `fib`. Without a neighbour entry the next hop is recorded for user space to resolve
/// and the packet is dropped (the sender retransmits); without a route it goes to the stack.
/// The answer borrows `fib` (and this writes `nkey`): a caller holds it until the packet is
/// sent, and nothing on the way writes either.
pub(crate) fn next_hop(
    ctx: &XdpContext,
    pkt: &parse::Packet,
) -> Result<&'static FibParams, Reason> {
    let s = scratch().ok_or(Reason::Malformed)?;
    // SAFETY: the scratch space's rule (`scratch`): `fib` is this function's to write.
    let f = unsafe { &mut (*s).fib };
    f.family = if pkt.af == AF_V4 { 2 } else { 10 };
    f.l4_protocol = pkt.proto;
    f.sport = pkt.sport_be;
    f.dport = pkt.dport_be;
    f.tot_len = pkt.ip_len as u16;
    // SAFETY: the context the kernel passed, valid for the run.
    f.ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    f.flowinfo = 0;
    f.src = pkt.saddr;
    f.dst = pkt.daddr;
    f.vlan = 0;
    f.smac = [0; 6];
    f.dmac = [0; 6];
    // SAFETY: the helper gets a map value of the size it is told.
    let rc = unsafe {
        aya_ebpf::helpers::bpf_fib_lookup(
            ctx.ctx as *mut _,
            f as *mut FibParams as *mut aya_ebpf::bindings::bpf_fib_lookup,
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc == BPF_FIB_LKUP_RET_SUCCESS {
        return Ok(f);
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH {
        // SAFETY: the scratch space's rule: `nkey` is written, then borrowed for the insert.
        unsafe {
            (*s).nkey = NeighKey {
                addr: f.dst,
                af: pkt.af,
                _pad: [0; 3],
            };
            let _ = NEED_NEIGH.insert(&(*s).nkey, &f.ifindex, 0);
        }
        return Err(Reason::NoNeighbour);
    }
    Err(Reason::NoRoute)
}
