// SPDX-License-Identifier: MIT OR GPL-2.0
//! Per-CPU scratch space: values too large for the 512-byte stack (map keys being built, the
//! FIB query, ICMP quotes) and the state the `bpf_loop` callbacks read.

use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::maps::{ConnKey, LocalKey, LocalVal, NeighKey, OutKey, SvcVal};

use crate::xmit::FibParams;
use crate::{icmp_err, parse};

/// Per-CPU scratch space for the `bpf_loop` walks and the template key (kept off the stack).
#[map(name = "RVS_SCRATCH")]
pub(crate) static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Scratch space: the template key being looked up, and the state of the hashing fallback
/// and fwmark walks (their callbacks read it; nothing here outlives one packet).
#[repr(C)]
pub(crate) struct Scratch {
    pub(crate) fib: FibParams,
    pub(crate) ipkt: parse::Packet,
    pub(crate) quote: icmp_err::Quote,
    pub(crate) okey: OutKey,
    pub(crate) nkey: NeighKey,
    pub(crate) tkey: ConnKey,
    pub(crate) ekey: ConnKey,
    pub(crate) lkey: LocalKey,
    pub(crate) lval: LocalVal,
    /// The new connection's packet and service, in the third program (`try_new`).
    pub(crate) pkt: parse::Packet,
    pub(crate) svc: SvcVal,
    pub(crate) daddr: [u8; 16],
    pub(crate) svc_id: u32,
    pub(crate) sched: u32,
    pub(crate) addr: u32,
    pub(crate) ihash: u32,
    pub(crate) id: u32,
    pub(crate) mark: u32,
    pub(crate) dport: u16,
    pub(crate) port: u16,
    pub(crate) af: u8,
    pub(crate) proto: u8,
    pub(crate) _pad: [u8; 2],
}

/// This CPU's scratch space, as a raw pointer: never a reference to the whole of it.
///
/// What keeps this sound: the space is reached field by field through this pointer
/// (`(*s).tkey.caddr = ...`). A reference to a field (a map helper's key, a parser's
/// output, the FIB result) may be held while other fields are written, since they are other
/// bytes, but never while that field is; each user says which fields it writes, and none of
/// the functions it calls while it holds one writes that one. A program run is not preempted
/// by another on the same CPU, so runs never share the space.
#[inline(always)]
pub(crate) fn scratch() -> Option<*mut Scratch> {
    SCRATCH.get_ptr_mut(0)
}
