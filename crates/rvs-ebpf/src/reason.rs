// SPDX-License-Identifier: MIT OR GPL-2.0
//! Why a packet was not forwarded: the [`Reason`] codes (`rvs_common::reason` describes each),
//! their per-CPU counters (`RVS_REASONS`, shown by `rvs status`), and the action each leads
//! to ([`verdict`]).

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS};
use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::reason;

/// Why packets were not forwarded, by [`Reason`] (for `rvs status`).
#[map(name = "RVS_REASONS")]
pub(crate) static REASONS: PerCpuArray<u64> = PerCpuArray::with_max_entries(reason::COUNT, 0);

/// Why a packet was passed or dropped; values index `REASONS` (`rvs_common::reason`, where
/// each is described).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum Reason {
    NotService = reason::NOT_SERVICE,
    Malformed = reason::MALFORMED,
    Fragment = reason::FRAGMENT,
    NoConnNotSyn = reason::NO_CONN_NOT_SYN,
    NoDest = reason::NO_DEST,
    DestGone = reason::DEST_GONE,
    TtlExceeded = reason::TTL_EXCEEDED,
    ConnInsert = reason::CONN_INSERT,
    NoNeighbour = reason::NO_NEIGHBOUR,
    NoRoute = reason::NO_ROUTE,
    TooBig = reason::TOO_BIG,
    Icmp = reason::ICMP,
    TableFull = reason::TABLE_FULL,
    EmbryoEvicted = reason::EMBRYO_EVICTED,
}

pub(crate) fn note(r: Reason) {
    if let Some(p) = REASONS.get_ptr_mut(r as u32) {
        // SAFETY: per-CPU slot, valid for the program's run.
        unsafe { *p += 1 };
    }
}

pub(crate) fn verdict(reason: Reason) -> u32 {
    note(reason);
    match reason {
        Reason::NoDest
        | Reason::DestGone
        | Reason::ConnInsert
        | Reason::NoNeighbour
        | Reason::TableFull
        | Reason::TooBig => XDP_DROP,
        _ => XDP_PASS,
    }
}
