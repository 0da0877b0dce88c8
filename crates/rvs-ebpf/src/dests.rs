// SPDX-License-Identifier: MIT OR GPL-2.0
//! Dests as the schedulers see them: each service's dest list, the dests by id, their
//! ActiveConn/InActConn/PersistConn counters (atomic, shared with user space's sweep) and
//! OVERLOAD flags, and the "may take a new connection" test.

use aya_ebpf::macros::map;
use aya_ebpf::maps::Array;
use core::intrinsics::{AtomicOrdering, atomic_xadd};
use rvs_common::maps::{
    BPF_F_MMAPABLE, CONFIG_COUNTS_NET, DEST_SLOTS, DestConns, DestList, DestVal, MAX_DESTS,
    SVC_SLOTS, WalkList, WalkSlot, dest,
};

use crate::service::CONFIG;

/// Each service's dest ids in list order, by service id.
#[map(name = "RVS_SVC_DESTS")]
pub(crate) static SVC_DESTS: Array<DestList> = Array::with_max_entries(SVC_SLOTS, 0);

/// Each service's dests as the counting schedulers' walks read them, side by side, by
/// service id (valid while its `n` equals the service's `ndests`).
#[map(name = "RVS_SVC_WALK")]
pub(crate) static SVC_WALK: Array<WalkList> = Array::with_max_entries(SVC_SLOTS, 0);

/// Dests by id.
#[map(name = "RVS_DESTS")]
pub(crate) static DESTS: Array<DestVal> = Array::with_max_entries(DEST_SLOTS, 0);

/// ActiveConn/InActConn by dest id, changed atomically by both sides (user space through a
/// shared mapping of it).
#[map(name = "RVS_DEST_CONNS")]
pub(crate) static DEST_CONNS: Array<DestConns> =
    Array::with_max_entries(DEST_SLOTS, BPF_F_MMAPABLE);

/// Connection counts user space released when sweeping, by dest id (user space writes; zero
/// while `CONFIG_COUNTS_NET` is set).
#[map(name = "RVS_DEST_SWEPT")]
pub(crate) static DEST_SWEPT: Array<DestConns> = Array::with_max_entries(DEST_SLOTS, 0);

/// OVERLOAD by dest id (1 = set): set by the program when a connection is bound, cleared by
/// whichever side releases one (below the lower threshold, or below 3/4 of the upper when
/// there is no lower one, as `ip_vs_unbind_dest` does), and by user space on an edit.
#[map(name = "RVS_DEST_OVERLOAD")]
pub(crate) static DEST_OVERLOAD: Array<u32> = Array::with_max_entries(DEST_SLOTS, 0);

/// A counter in `DEST_CONNS`, changed with atomic adds.
#[derive(Clone, Copy)]
pub(crate) struct Counter(pub(crate) *mut u64);

impl Counter {
    pub(crate) fn add(self, v: i64) {
        // SAFETY: the pointer comes from a map lookup and stays valid while the program runs.
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(self.0, v as u64) };
    }

    pub(crate) fn get(self) -> u64 {
        // SAFETY: as above. An aligned 64-bit load is a single BPF instruction; BPF (cpu
        // generic) has no atomic-load instruction to select.
        unsafe { core::ptr::read_volatile(self.0) }
    }
}

pub(crate) fn dest_conns(id: u32) -> Option<(Counter, Counter)> {
    let p = DEST_CONNS.get_ptr_mut(id)?;
    // SAFETY: array values live as long as the map.
    unsafe {
        Some((
            Counter(&raw mut (*p).active),
            Counter(&raw mut (*p).inactive),
        ))
    }
}

const _: () = assert!(MAX_DESTS.is_power_of_two());

/// The dest id at list position `i`. The mask is what lets the verifier bound the index; the
/// volatile read stops LLVM from deleting the mask when it can prove the index small (the
/// verifier cannot follow that proof through `%`).
#[inline(always)]
pub(crate) fn dest_at(svc_id: u32, i: usize) -> u32 {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (MAX_DESTS - 1);
    SVC_DESTS.get(svc_id).map_or(0, |l| l.dests[i])
}

/// The walk slot at list position `i` of service `svc_id` (masked as in [`dest_at`]).
#[inline(always)]
pub(crate) fn slot_at(svc_id: u32, i: usize) -> Option<WalkSlot> {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (MAX_DESTS - 1);
    SVC_WALK.get(svc_id).map(|l| l.slots[i])
}

/// Whether the service's walk list is the one written with it (see [`SVC_WALK`]).
#[inline(always)]
pub(crate) fn walk_list_current(svc_id: u32, ndests: u32) -> bool {
    SVC_WALK.get(svc_id).is_some_and(|l| l.n == ndests)
}

pub(crate) fn overloaded(id: u32) -> bool {
    DEST_OVERLOAD.get(id).is_some_and(|v| *v != 0)
}

pub(crate) fn set_overload(id: u32, on: bool) {
    if let Some(p) = DEST_OVERLOAD.get_ptr_mut(id) {
        // SAFETY: array slot valid for the map's lifetime.
        unsafe { *p = u32::from(on) };
    }
}

/// Whether a dest may take a new connection: weight, still in its service, reachable (its MAC
/// known or being resolved), and not OVERLOAD. (The id is the dest's, for the OVERLOAD map.)
pub(crate) fn usable_id(id: u32, d: &DestVal) -> bool {
    usable(id, d.weight, d.flags)
}

/// [`usable_id`] from a dest's weight and flags.
#[inline(always)]
pub(crate) fn usable(id: u32, weight: i32, flags: u32) -> bool {
    weight > 0 && flags & dest::AVAILABLE != 0 && flags & dest::REACHABLE != 0 && !overloaded(id)
}

/// A walk's version of [`usable`]: a dest whose slot says it has no upper threshold is not
/// looked up in `DEST_OVERLOAD`.
#[inline(always)]
pub(crate) fn usable_slot(id: u32, weight: i32, flags: u32) -> bool {
    weight > 0
        && flags & dest::AVAILABLE != 0
        && flags & dest::REACHABLE != 0
        && (flags & dest::NO_UPPER != 0 || !overloaded(id))
}

/// Whether `DEST_CONNS` holds the counts net of what user space released
/// ([`CONFIG_COUNTS_NET`]), so that `DEST_SWEPT` need not be read.
#[inline(always)]
pub(crate) fn counts_net() -> bool {
    CONFIG.get(CONFIG_COUNTS_NET).is_some_and(|v| *v == 1)
}

/// ActiveConn and InActConn of a dest: what the program counted minus what user space swept.
pub(crate) fn conn_counts(id: u32) -> (u64, u64) {
    counts_of(id, false)
}

/// [`conn_counts`]; with `net` ([`counts_net`] read once for a walk), `DEST_SWEPT` is
/// known to be zero and not read.
#[inline(always)]
pub(crate) fn counts_of(id: u32, net: bool) -> (u64, u64) {
    let (a, i) = match dest_conns(id) {
        Some((a, i)) => (a.get(), i.get()),
        None => (0, 0),
    };
    if net {
        return (a, i);
    }
    match DEST_SWEPT.get(id) {
        Some(s) => (a.wrapping_sub(s.active), i.wrapping_sub(s.inactive)),
        None => (a, i),
    }
}

/// `overhead = active << 8 + inactive` (`ip_vs_dest_conn_overhead`).
#[inline(always)]
pub(crate) fn overhead(id: u32, net: bool) -> u64 {
    let (a, i) = counts_of(id, net);
    (a << 8).wrapping_add(i)
}

pub(crate) fn add_persist(id: u32, v: i64) {
    if let Some(p) = DEST_CONNS.get_ptr_mut(id) {
        // SAFETY: array value valid while the program runs.
        Counter(unsafe { &raw mut (*p).persist }).add(v);
    }
}
