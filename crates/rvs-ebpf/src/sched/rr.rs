// SPDX-License-Identifier: MIT OR GPL-2.0
//! rr and wrr: a cursor per service (`RVS_SCHED`); wrr's nested loops flattened into one
//! `bpf_loop` walk.

use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::maps::{MAX_DESTS, SvcVal, dest};

use crate::dests::{DESTS, dest_at, overloaded};
use crate::sched::SCHED;
use crate::sched::walk::{WALK_RR, list_walk};

/// rr: the next usable dest after the cursor, wrapping once.
pub(crate) fn round_robin(svc: &SvcVal) -> Option<u32> {
    let st = SCHED.get_ptr_mut(svc.id)?;
    let n = svc.ndests.min(MAX_DESTS as u32);
    if n == 0 {
        return None;
    }
    // SAFETY: array slot valid for the map's lifetime; races between CPUs only skew the
    // cursor, as the kernel's lock-free read of `sched_data` can.
    let cursor = unsafe { (*st).cursor };
    let start = if cursor < 0 {
        0
    } else {
        (cursor as u32 + 1) % n
    };
    let w = list_walk(svc, None, WALK_RR, |w| w.start = start)?;
    if w.found == 0 {
        return None;
    }
    // SAFETY: as above.
    unsafe { (*st).cursor = w.pos as i32 };
    Some(w.best_id)
}

/// Steps of the flattened wrr walk (one dest position, or one end-of-list turn, per step):
/// enough for 128 dests with weights whose ratio to their gcd stays below about 1000. Beyond it
/// the walk gives up (no dest).
pub(crate) const WRR_STEPS: u32 = 65536;

/// The walk's variables. They live in a per-CPU map value rather than on the stack: the
/// verifier then treats them as unknown scalars and the callback verifies in a few passes,
/// where stack variables make it simulate every iteration.
#[repr(C)]
pub(crate) struct WrrWalk {
    pub(crate) svc_id: u32,
    pub(crate) cw: i32,
    pub(crate) mw: i32,
    pub(crate) di: i32,
    pub(crate) cursor: i32,
    pub(crate) n: i32,
    pub(crate) last: i32,
    pub(crate) i: i32,
    pub(crate) stop: i32,
    pub(crate) last_pass: u32,
    pub(crate) restarted: u32,
    /// 0 while walking, 1 found (`id`), 2 failed.
    pub(crate) done: u32,
    pub(crate) id: u32,
}

/// Scratch space for the wrr walk.
#[map(name = "RVS_WRR_WALK")]
pub(crate) static WRR_WALK: PerCpuArray<WrrWalk> = PerCpuArray::with_max_entries(1, 0);

/// One step of `ip_vs_wrr_schedule`'s nested loops; returns 1 to end the `bpf_loop`.
pub(crate) extern "C" fn wrr_step(_index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(w) = WRR_WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU scratch value, valid while the program runs.
    let w = unsafe { &mut *w };
    if w.i >= 0 && w.i < w.n {
        let id = dest_at(w.svc_id, w.i as usize);
        if let Some(d) = DESTS.get(id)
            && !overloaded(id)
            && d.flags & dest::AVAILABLE != 0
            && d.flags & dest::REACHABLE != 0
            && d.weight >= w.cw
        {
            w.cursor = w.i;
            w.id = id;
            w.done = 1;
            return 1;
        }
        if w.i == w.stop {
            w.cursor = w.i;
            w.done = 2;
            return 1;
        }
        w.i += 1;
        return 0;
    }
    w.cw -= w.di;
    if w.cw <= 0 {
        w.cw = w.mw;
        if w.last_pass != 0 || w.last < 0 {
            w.cursor = -1;
            w.done = 2;
            return 1;
        }
        w.restarted = 1;
    }
    w.last_pass = u32::from(w.cw <= w.di);
    if w.last_pass != 0 && w.restarted != 0 && w.last >= 0 {
        w.stop = w.last;
    }
    w.i = 0;
    0
}

/// wrr: `ip_vs_wrr_schedule`, its nested loops flattened into one `bpf_loop` walk.
pub(crate) fn weighted_round_robin(svc: &SvcVal) -> Option<u32> {
    let st = SCHED.get_ptr_mut(svc.id)?;
    let wp = WRR_WALK.get_ptr_mut(0)?;
    // SAFETY: the service's slot, valid while the program runs (the walk does not touch it).
    let st = unsafe { &mut *st };
    let n = (svc.ndests as i32).min(MAX_DESTS as i32);
    if st.mw <= 0 || n == 0 {
        return None;
    }
    {
        // SAFETY: this CPU's walk state. The reference ends before the walk, whose callback
        // takes its own.
        let w = unsafe { &mut *wp };
        w.svc_id = svc.id;
        w.cw = st.cw;
        w.mw = st.mw;
        w.di = st.di;
        w.cursor = st.cursor;
        w.n = n;
        w.last = st.cursor;
        w.i = if st.cursor < 0 { 0 } else { st.cursor + 1 };
        w.stop = -2;
        w.last_pass = 0;
        w.restarted = 0;
        w.done = 0;
        w.id = 0;
    }
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            WRR_STEPS,
            wrr_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    // SAFETY: the walk is over: no other reference to the state is left.
    let w = unsafe { &*wp };
    st.cw = w.cw;
    st.cursor = w.cursor;
    if w.done == 1 { Some(w.id) } else { None }
}
