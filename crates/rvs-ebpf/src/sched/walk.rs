// SPDX-License-Identifier: MIT OR GPL-2.0
//! The schedulers that look at every dest (lc, wlc, sed, nq, fo, ovf, twos, and rr's search
//! for the next usable one): one `bpf_loop` walk over a service's dest list (or an lblcr set),
//! its state in a per-CPU map value so that the verifier checks the callback once. Over the
//! maps this rvsd writes, a callback takes [`CHUNK`] dests ([`rvs_walk_chunks`]); over an
//! older rvs's pins, one ([`list_step`]).

use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::maps::{LOCAL_SET, MAX_DESTS, SvcVal, dest};

use crate::dests::{
    DESTS, SVC_WALK, counts_net, counts_of, dest_at, overhead, slot_at, usable_slot,
    walk_list_current,
};
use crate::sched::locality::{set_entry, set_member_at};

/// What a list walk computes ([`list_step`]).
pub(crate) const WALK_LEAST: u32 = 0;

pub(crate) const WALK_HIGHEST: u32 = 1;

pub(crate) const WALK_RR: u32 = 2;

/// twos, first pass: the sum of the usable weights.
pub(crate) const WALK_TOTAL: u32 = 3;

/// twos, second pass: the two weighted choices.
pub(crate) const WALK_TWOS: u32 = 4;

/// lblc/lblcr: is there a dest (usable or not) with fewer than half its weight active?
pub(crate) const WALK_UNDER: u32 = 5;

/// lblcr: the set member with the most overhead per weight (`ip_vs_dest_set_max`).
pub(crate) const WALK_MOST: u32 = 6;

/// The state of a walk over a list of dest ids (a service's, or an lblcr set), kept in a
/// per-CPU map value: the verifier then checks the callback once with unknown values instead
/// of simulating every iteration.
#[repr(C)]
pub(crate) struct ListWalk {
    pub(crate) svc_id: u32,
    /// 0: the service's dest list; 1: the lblcr set of the scratch space's `lkey`.
    pub(crate) set: u32,
    /// 1: the service's dests are read from its walk list (`SVC_WALK`).
    pub(crate) slots: u32,
    /// 1: the counts are net ([`counts_net`]): `DEST_SWEPT` is not read.
    pub(crate) net: u32,
    pub(crate) best_oh: u64,
    pub(crate) best_w: u64,
    /// twos: the draws left, and the second choice.
    pub(crate) r1: i64,
    pub(crate) r2: i64,
    pub(crate) oh2: u64,
    pub(crate) w2: u64,
    /// [`WALK_LEAST`] ... [`WALK_MOST`].
    pub(crate) mode: u32,
    /// Cost: 0 overhead (wlc, lc), 1 active + 1 (sed, nq).
    pub(crate) cost_active: u32,
    pub(crate) weighted: u32,
    pub(crate) idle_first: u32,
    pub(crate) overflow: u32,
    /// rr: the position the walk starts at.
    pub(crate) start: u32,
    pub(crate) n: u32,
    pub(crate) found: u32,
    pub(crate) best_id: u32,
    /// rr: the position of the pick.
    pub(crate) pos: u32,
    pub(crate) found2: u32,
    pub(crate) id2: u32,
}

/// Scratch space for list walks.
#[map(name = "RVS_LIST_WALK")]
pub(crate) static LIST_WALK: PerCpuArray<ListWalk> = PerCpuArray::with_max_entries(1, 0);

/// One dest of a list walk; returns 1 to end the `bpf_loop`.
///
/// - least (wlc, lc, sed, nq; lblcr's set minimum): the usable dest with the least
///   `cost / weight` (cross multiplied, ties to the first in list order); with `idle_first`
///   the first dest with no active connection wins at once (nq). wlc: cost = overhead; lc:
///   weight taken as 1; sed and nq: cost = active + 1. As in the kernel, OVERLOAD and weight
///   0 are skipped.
/// - highest (fo; ovf with `overflow`, which skips dests whose active count exceeds their
///   weight): the first usable dest of the highest weight.
/// - rr: the first usable dest from `start` on, wrapping once.
/// - total, twos: `ip_vs_twos_schedule`'s two passes.
/// - under, most: see the constants; these look at every dest, usable or not.
pub(crate) extern "C" fn list_step(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(w) = LIST_WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU scratch value, valid while the program runs.
    let w = unsafe { &mut *w };
    let k = index as u32;
    if k >= w.n {
        return 1;
    }
    let pos = if w.mode == WALK_RR {
        (w.start + k) % w.n
    } else {
        k
    };
    // The dest: from the service's walk list (one map, contiguous), or for an lblcr set, or
    // a walk list not (yet) written with the service, from the dest list and `DESTS`.
    let (id, weight, flags) = if w.slots != 0 {
        let Some(slot) = slot_at(w.svc_id, pos as usize) else {
            return 0;
        };
        (slot.id, slot.weight, slot.flags)
    } else {
        let id = if w.set != 0 {
            set_member_at(pos as usize)
        } else {
            dest_at(w.svc_id, pos as usize)
        };
        let Some(d) = DESTS.get(id) else { return 0 };
        (id, d.weight, d.flags)
    };
    i64::from(step_one(w, id, weight, flags, pos))
}

/// One dest of a walk (the modes of [`list_step`]): true to end the walk.
#[inline(always)]
fn step_one(w: &mut ListWalk, id: u32, weight: i32, flags: u32, pos: u32) -> bool {
    let net = w.net != 0;
    if w.mode == WALK_UNDER {
        if (counts_of(id, net).0 as i64) * 2 < weight as i64 {
            w.found = 1;
            return true;
        }
        return false;
    }
    if w.mode == WALK_MOST {
        if weight <= 0 || flags & dest::AVAILABLE == 0 {
            return false;
        }
        let oh = overhead(id, net);
        let wt = weight as u64;
        if w.found == 0 || w.best_oh * wt < oh * w.best_w {
            w.found = 1;
            w.best_id = id;
            w.best_oh = oh;
            w.best_w = wt;
        }
        return false;
    }
    if !usable_slot(id, weight, flags) {
        return false;
    }
    match w.mode {
        WALK_RR => {
            w.found = 1;
            w.best_id = id;
            w.pos = pos;
            true
        }
        WALK_HIGHEST => {
            let over = w.overflow != 0 && counts_of(id, net).0 > weight as u64;
            if !over && weight as u64 > w.best_w {
                w.found = 1;
                w.best_id = id;
                w.best_w = weight as u64;
            }
            false
        }
        WALK_TOTAL => {
            w.best_w += weight as u64;
            false
        }
        WALK_TWOS => {
            w.r1 -= weight as i64;
            w.r2 -= weight as i64;
            if w.r1 <= 0 && w.found == 0 {
                w.found = 1;
                w.best_id = id;
                w.best_w = weight as u64;
                w.best_oh = overhead(id, net);
            }
            if w.r2 <= 0 && w.found2 == 0 {
                w.found2 = 1;
                w.id2 = id;
                w.w2 = weight as u64;
                w.oh2 = overhead(id, net);
            }
            w.found != 0 && w.found2 != 0
        }
        _ => {
            // The counts are read once: both costs come from them.
            let (active, inactive) = counts_of(id, net);
            if w.idle_first != 0 && active == 0 {
                w.found = 1;
                w.best_id = id;
                return true;
            }
            let oh = if w.cost_active != 0 {
                active + 1
            } else {
                (active << 8).wrapping_add(inactive)
            };
            let wt = if w.weighted != 0 { weight as u64 } else { 1 };
            if w.found == 0 || w.best_oh * wt > oh * w.best_w {
                w.found = 1;
                w.best_id = id;
                w.best_oh = oh;
                w.best_w = wt;
            }
            false
        }
    }
}

/// Runs a list walk of `mode` over the service's dests (or, with `set`, over the first that
/// many ids of the lblcr set whose key is in the scratch space); `setup` fills the mode's
/// options.
// Inlined, as `least_cost` and `highest_weight` are: frames fewer on the deepest call chain
// (from the entry point through lblc's `locality_id` to `chunk_step`), whose stacks together
// must stay within 512 bytes.
#[inline(always)]
pub(crate) fn list_walk(
    svc: &SvcVal,
    set: Option<u32>,
    mode: u32,
    setup: impl FnOnce(&mut ListWalk),
) -> Option<&'static ListWalk> {
    let wp = LIST_WALK.get_ptr_mut(0)?;
    {
        // SAFETY: this CPU's value, valid while the program runs. The reference ends before
        // the walk, whose callback takes its own.
        let w = unsafe { &mut *wp };
        w.svc_id = svc.id;
        w.net = u32::from(counts_net());
        match set {
            Some(n) => {
                w.set = 1;
                w.slots = 0;
                w.n = n.min(LOCAL_SET as u32);
            }
            None => {
                w.set = 0;
                w.slots = u32::from(walk_list_current(svc.id, svc.ndests));
                w.n = svc.ndests.min(MAX_DESTS as u32);
            }
        }
        w.mode = mode;
        w.found = 0;
        w.best_id = 0;
        w.best_oh = 0;
        w.best_w = 0;
        w.cost_active = 0;
        w.weighted = 1;
        w.idle_first = 0;
        w.overflow = 0;
        w.start = 0;
        w.pos = 0;
        w.r1 = 0;
        w.r2 = 0;
        w.found2 = 0;
        w.id2 = 0;
        w.w2 = 0;
        w.oh2 = 0;
        setup(w);
    }
    // SAFETY: read after the reference above ended.
    let (slots, net, set) = unsafe { ((*wp).slots, (*wp).net, (*wp).set) };
    if net != 0 && (slots != 0 || set != 0) {
        rvs_walk_chunks();
    } else {
        // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
        unsafe {
            aya_ebpf::helpers::bpf_loop(
                MAX_DESTS as u32,
                list_step as *mut core::ffi::c_void,
                core::ptr::null_mut(),
                0,
            )
        };
    }
    // SAFETY: the walk is over: no other reference to the value is left.
    Some(unsafe { &*wp })
}

/// Dests per call of [`chunk_step`].
const CHUNK: usize = 8;

/// The walk set up in `LIST_WALK`, over the service's walk list or an lblcr set, with net
/// counts (the case of every service that rvsd of this version wrote), [`CHUNK`] dests per
/// `bpf_loop` callback: the callback's own cost, most of a dest's when it was one per call,
/// is shared. ([`list_step`], one dest per call, is left for pins of an older rvs.)
///
/// A global function (exported to the linker, so its BTF says global): the verifier checks it
/// once, on its own, instead of once for every path that reaches a walk, which is what lets
/// a callback of several dests through (as a static function it ran out of instructions).
/// Returns 0: a global function must return a scalar; the result is in `LIST_WALK`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn rvs_walk_chunks() -> u64 {
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            (MAX_DESTS / CHUNK) as u32,
            chunk_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    0
}

/// [`CHUNK`] dests of [`rvs_walk_chunks`]; returns 1 to end the `bpf_loop`.
extern "C" fn chunk_step(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(w) = LIST_WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU scratch value, valid while the program runs.
    let w = unsafe { &mut *w };
    if w.set != 0 {
        return set_chunk(w, index);
    }
    let Some(l) = SVC_WALK.get(w.svc_id) else {
        return 1;
    };
    each_in_chunk(w, index, |w, k| {
        let pos = if w.mode == WALK_RR {
            (w.start + k) % w.n
        } else {
            k
        };
        let slot = &l.slots[pos as usize & (MAX_DESTS - 1)];
        step_one(w, slot.id, slot.weight, slot.flags, pos)
    })
}

/// [`chunk_step`] over an lblcr set: its entry is looked up once per call, not per member.
#[inline(always)]
fn set_chunk(w: &mut ListWalk, index: u64) -> i64 {
    let Some(e) = set_entry() else {
        return 1;
    };
    each_in_chunk(w, index, |w, k| {
        // SAFETY: the entry is read in place, with no reference made.
        let id = unsafe { (*e).dests[k as usize & (LOCAL_SET - 1)] };
        DESTS
            .get(id)
            .is_some_and(|d| step_one(w, id, d.weight, d.flags, k))
    })
}

/// Runs `one` for the positions of chunk `index` that are in the walk (true from it ends the
/// walk); returns what `bpf_loop` takes: 1 to end, 0 to go on.
#[inline(always)]
fn each_in_chunk(
    w: &mut ListWalk,
    index: u64,
    mut one: impl FnMut(&mut ListWalk, u32) -> bool,
) -> i64 {
    let mut j = 0;
    while j < CHUNK {
        let k = index as u32 * CHUNK as u32 + j as u32;
        j += 1;
        if k >= w.n || one(w, k) {
            return 1;
        }
    }
    0
}

#[inline(always)]
pub(crate) fn least_cost(
    svc: &SvcVal,
    cost_active: bool,
    weighted: bool,
    idle_first: bool,
) -> Option<u32> {
    let w = list_walk(svc, None, WALK_LEAST, |w| {
        w.cost_active = u32::from(cost_active);
        w.weighted = u32::from(weighted);
        w.idle_first = u32::from(idle_first);
    })?;
    (w.found != 0).then_some(w.best_id)
}

/// fo (the highest weight) and ovf (the highest weight among dests whose active count does
/// not exceed their weight): `ip_vs_fo_schedule`, `ip_vs_ovf_schedule`. Ties go to the first.
#[inline(always)]
pub(crate) fn highest_weight(svc: &SvcVal, overflow: bool) -> Option<u32> {
    let w = list_walk(svc, None, WALK_HIGHEST, |w| {
        w.overflow = u32::from(overflow)
    })?;
    (w.found != 0).then_some(w.best_id)
}

/// twos: two weighted random draws over the usable dests; the less loaded per weight of the
/// two (the second only if strictly less).
pub(crate) fn twos(svc: &SvcVal) -> Option<u32> {
    let total = list_walk(svc, None, WALK_TOTAL, |_| {})?.best_w;
    if total == 0 {
        return None;
    }
    // SAFETY: helper without preconditions.
    let (a, b) = unsafe {
        (
            aya_ebpf::helpers::bpf_get_prandom_u32(),
            aya_ebpf::helpers::bpf_get_prandom_u32(),
        )
    };
    // Uniform in 0..=total; `checked_rem` because a panic path cannot be linked.
    let bound = total.wrapping_add(1);
    let w = list_walk(svc, None, WALK_TWOS, |w| {
        w.r1 = (a as u64).checked_rem(bound).unwrap_or(0) as i64;
        w.r2 = (b as u64).checked_rem(bound).unwrap_or(0) as i64;
    })?;
    if w.found == 0 {
        return None;
    }
    if w.found2 != 0 && w.w2 * w.best_oh > w.best_w * w.oh2 {
        return Some(w.id2);
    }
    Some(w.best_id)
}
