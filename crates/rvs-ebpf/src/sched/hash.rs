// SPDX-License-Identifier: MIT OR GPL-2.0
//! sh, dh and mh: a table of buckets per service (built by user space), indexed by the hash of
//! the source or destination address, with the kernel's fallback probe sequence.

use aya_ebpf::macros::map;
use aya_ebpf::maps::HashMap;
use rvs_common::maps::{
    HASH_TAB_SLOTS, HashTab, MH_TAB_SIZE, SH_TAB_SIZE, SVC_SLOTS, SvcVal, addr_fold, hash_32,
    mh_slot, sched, sh_bucket,
};
use rvs_common::svc_flags;

use crate::dests::{DESTS, usable_id};
use crate::parse;
use crate::scratch::scratch;

/// sh/dh/mh bucket tables by service id (user space computes them; see `HashTab`).
#[map(name = "RVS_HASH_TABS")]
pub(crate) static HASH_TABS: HashMap<u32, HashTab> =
    HashMap::with_max_entries(SVC_SLOTS, BPF_F_NO_PREALLOC);

/// `BPF_F_NO_PREALLOC`: hash tables take memory only for the services that use them.
pub(crate) const BPF_F_NO_PREALLOC: u32 = 1;

/// The bucket `b` of a hashing table (masked so that the verifier sees the bound).
#[inline(always)]
pub(crate) fn bucket(tab: &HashTab, b: u32) -> u32 {
    // SAFETY: reading a local.
    let b = unsafe { core::ptr::read_volatile(&b) } as usize & (HASH_TAB_SLOTS - 1);
    tab.dests[b]
}

/// The hashing schedulers' `is_unavailable`: weight 0 or OVERLOAD (and, as for every
/// scheduler here, a dest in its service that can be reached).
pub(crate) fn hash_usable(id: u32) -> bool {
    id != 0 && DESTS.get(id).is_some_and(|d| usable_id(id, d))
}

/// One probe of sh's or mh's fallback (`ip_vs_sh_get_fallback`, `ip_vs_mh_get_fallback`):
/// `index` is the offset; returns 1 to end the walk.
pub(crate) extern "C" fn hash_probe(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(s) = scratch() else { return 1 };
    // SAFETY: the scratch space's rule (`scratch`): [`hashed`] wrote the walk's fields before
    // it started; a probe reads them and writes `id` alone. The table is read-only here, a
    // value user space replaces whole.
    let (tab, sched, ihash, addr, port) = unsafe {
        let Some(tab) = HASH_TABS.get(&(*s).svc_id) else {
            return 1;
        };
        (tab, (*s).sched, (*s).ihash, (*s).addr, (*s).port)
    };
    let b = if sched == sched::SH {
        let roffset = (index as u32).wrapping_add(ihash) % SH_TAB_SIZE;
        sh_bucket(addr, port, roffset)
    } else {
        let roffset = (index as u32).wrapping_add(ihash) % MH_TAB_SIZE;
        mh_slot(addr, port, roffset)
    };
    let id = bucket(tab, b);
    if id == 0 {
        return 1;
    }
    if hash_usable(id) {
        // SAFETY: as above.
        unsafe { (*s).id = id };
        return 1;
    }
    0
}

/// sh, dh and mh: the bucket of the packet's source (sh, mh; with the source port under
/// `sh-port`/`mh-port`) or destination (dh) address; with `-fallback`, the kernel's probe
/// sequence when that dest cannot take the connection.
pub(crate) fn hashed(svc: &SvcVal, pkt: &parse::Packet) -> Option<u32> {
    // SAFETY: read-only use of a value user space replaces whole.
    let tab = unsafe { HASH_TABS.get(&svc.id) }?;
    if svc.sched == sched::DH {
        let id = bucket(tab, hash_32(addr_fold(pkt.af, &pkt.daddr), 8));
        return hash_usable(id).then_some(id);
    }
    let port = if svc.flags & svc_flags::SCHED2 != 0 {
        u16::from_be(pkt.sport_be)
    } else {
        0
    };
    let addr = addr_fold(pkt.af, &pkt.saddr);
    let (ihash, size) = if svc.sched == sched::SH {
        (sh_bucket(addr, port, 0), SH_TAB_SIZE)
    } else {
        (mh_slot(addr, port, 0), MH_TAB_SIZE)
    };
    let id = bucket(tab, ihash);
    if id == 0 {
        return None;
    }
    if hash_usable(id) {
        return Some(id);
    }
    if svc.flags & svc_flags::SCHED1 == 0 {
        return None;
    }
    let s = scratch()?;
    // SAFETY: the scratch space's rule (`scratch`): the walk's fields are written here before
    // it starts and `id` read after it ends; the probes, in between, write `id` alone. The
    // callback follows `bpf_loop`'s contract; it takes no context.
    let id = unsafe {
        (*s).svc_id = svc.id;
        (*s).sched = svc.sched;
        (*s).addr = addr;
        (*s).port = port;
        (*s).ihash = ihash;
        (*s).id = 0;
        aya_ebpf::helpers::bpf_loop(
            size,
            hash_probe as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        );
        (*s).id
    };
    (id != 0).then_some(id)
}
