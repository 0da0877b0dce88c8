// SPDX-License-Identifier: MIT OR GPL-2.0
//! lblc and lblcr: a dest (or a set of dests) remembered per destination address, with wlc
//! over the service when there is none or it is overloaded.

use aya_ebpf::macros::map;
use aya_ebpf::maps::LruHashMap;
use rvs_common::maps::{
    CONFIG_LBLCR_EXPIRATION, DestVal, LOCAL_SET, LOCAL_SLOTS, LocalKey, LocalVal, SvcVal, dest,
};

use crate::dests::{DESTS, conn_counts};
use crate::parse;
use crate::sched::walk::{WALK_LEAST, WALK_MOST, WALK_UNDER, least_cost, list_walk};
use crate::scratch::scratch;
use crate::service::CONFIG;

/// The id at position `i` of the lblcr set whose key is in the scratch space.
#[inline(always)]
pub(crate) fn set_member_at(i: usize) -> u32 {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (LOCAL_SET - 1);
    // SAFETY: the entry is read in place, with no reference made.
    set_entry().map_or(0, |e| unsafe { (*e).dests[i] })
}

/// The entry of the lblcr set whose key is in the scratch space.
#[inline(always)]
pub(crate) fn set_entry() -> Option<*const LocalVal> {
    let s = scratch()?;
    // SAFETY: the scratch space's rule (`scratch`): `lkey` is borrowed for the lookup, while
    // nothing writes it ([`locality_id`] wrote it before the walk).
    LOCAL.get_ptr(unsafe { &(*s).lkey })
}

/// The locality schedulers' "overloaded" (`is_overloaded` of `ip_vs_lblc.c`).
pub(crate) fn local_overloaded(svc: &SvcVal, id: u32, d: &DestVal) -> bool {
    conn_counts(id).0 as i64 > d.weight as i64
        && list_walk(svc, None, WALK_UNDER, |_| {}).is_some_and(|w| w.found != 0)
}

/// Entries of lblc and lblcr by (service, destination address).
#[map(name = "RVS_LOCAL")]
pub(crate) static LOCAL: LruHashMap<LocalKey, LocalVal> =
    LruHashMap::with_max_entries(LOCAL_SLOTS, 0);

/// lblc and lblcr (`ip_vs_lblc_schedule`, `ip_vs_lblcr_schedule`): the destination address's
/// entry, else wlc over the service, remembered in the entry.
pub(crate) fn locality(
    svc: &SvcVal,
    pkt: &parse::Packet,
    now: u64,
    replicate: bool,
) -> Option<u32> {
    let id = locality_id(svc, pkt, now, replicate);
    (id != 0).then_some(id)
}

/// [`locality`], returning 0 for none: a function returning `Option` can hand the verifier
/// a stack pointer as its result, which it refuses.
#[inline(never)]
pub(crate) fn locality_id(svc: &SvcVal, pkt: &parse::Packet, now: u64, replicate: bool) -> u32 {
    let Some(s) = scratch() else { return 0 };
    // The key goes to the scratch space's `lkey`, which nothing writes until this returns
    // (the set walks read it); the new entry, if one is made, is built in `lval`.
    // SAFETY: as above (the rule of `scratch`).
    let lkey: &LocalKey = unsafe {
        (*s).lkey = LocalKey {
            addr: pkt.daddr,
            svc: svc.id,
            af: pkt.af,
            _pad: [0; 3],
        };
        &(*s).lkey
    };
    if let Some(ep) = LOCAL.get_ptr_mut(lkey) {
        // The entry is changed through `ep` with references that end before each walk (whose
        // callback reads the set in place).
        // SAFETY: a valid entry pointer for this run.
        let n = unsafe {
            (*ep).lastuse_ns = now;
            (*ep).n
        };
        if replicate {
            let min = list_walk(svc, Some(n), WALK_LEAST, |_| {})
                .and_then(|w| (w.found != 0).then_some(w.best_id));
            let expiration = CONFIG
                .get(CONFIG_LBLCR_EXPIRATION)
                .copied()
                .unwrap_or(86_400) as u64;
            // SAFETY: as above.
            let lastmod = unsafe { (*ep).lastmod_ns };
            if n > 1 && now > lastmod + expiration * 1_000_000_000 {
                let most = list_walk(svc, Some(n), WALK_MOST, |_| {})
                    .and_then(|w| (w.found != 0).then_some(w.best_id));
                if let Some(m) = most {
                    // SAFETY: as above; no walk runs while this reference lives.
                    let e = unsafe { &mut *ep };
                    set_erase(e, m);
                    e.lastmod_ns = now;
                }
            }
            if let Some(id) = min
                && let Some(d) = DESTS.get(id)
                && !local_overloaded(svc, id, d)
            {
                return id;
            }
        } else {
            // SAFETY: as above.
            let id = unsafe { (*ep).dests[0] };
            if let Some(d) = DESTS.get(id)
                && d.flags & dest::AVAILABLE != 0
                && d.flags & dest::REACHABLE != 0
                && d.weight > 0
                && !local_overloaded(svc, id, d)
            {
                return id;
            }
        }
        let Some(id) = least_cost(svc, false, true, false) else {
            return 0;
        };
        // SAFETY: as above; no walk runs while this reference lives.
        let e = unsafe { &mut *ep };
        if replicate {
            set_insert(e, id, now);
        } else {
            e.dests[0] = id;
            e.n = 1;
        }
        return id;
    }
    let Some(id) = least_cost(svc, false, true, false) else {
        return 0;
    };
    // The new entry is built in the scratch space: the stack is all taken.
    // SAFETY: the scratch space's rule: `lval` is written here alone, then borrowed (with
    // `lkey`) for the insert.
    unsafe {
        (*s).lval.lastuse_ns = now;
        (*s).lval.lastmod_ns = now;
        (*s).lval.n = 1;
        (*s).lval._pad = 0;
        (*s).lval.dests = [0; LOCAL_SET];
        (*s).lval.dests[0] = id;
        let _ = LOCAL.insert(lkey, &(*s).lval, 0);
    }
    id
}

/// Removes `id` from an lblcr set.
pub(crate) fn set_erase(e: &mut LocalVal, id: u32) {
    let n = (e.n as usize).min(LOCAL_SET);
    let mut j = 0;
    for i in 0..LOCAL_SET {
        if i >= n {
            break;
        }
        let v = e.dests[i];
        if v != id {
            e.dests[j & (LOCAL_SET - 1)] = v;
            j += 1;
        }
    }
    e.n = j as u32;
}

/// Adds `id` at the head of an lblcr set unless it is a member (a full set drops its oldest).
pub(crate) fn set_insert(e: &mut LocalVal, id: u32, now: u64) {
    let n = (e.n as usize).min(LOCAL_SET);
    for i in 0..LOCAL_SET {
        if i >= n {
            break;
        }
        if e.dests[i] == id {
            return;
        }
    }
    let mut i = LOCAL_SET - 1;
    while i > 0 {
        e.dests[i] = e.dests[i - 1];
        i -= 1;
    }
    e.dests[0] = id;
    e.n = (n + 1).min(LOCAL_SET) as u32;
    e.lastmod_ns = now;
}
