// SPDX-License-Identifier: MIT OR GPL-2.0
//! Persistence (`-p`): a new connection on a persistent service follows its client's template
//! to the same dest, or is scheduled and makes a template.

use aya_ebpf::macros::map;
use aya_ebpf::maps::Array;
use rvs_common::conn_flags;
use rvs_common::maps::{
    CONFIG_EXPIRE_QUIESCENT, ConnKey, ConnVal, PersistVal, SVC_SLOTS, SvcVal, dest, template_key,
};

use crate::conn::{CONNS, insert_conn};
use crate::dests::{DESTS, add_persist};
use crate::parse;
use crate::sched::schedule;
use crate::scratch::scratch;
use crate::service::CONFIG;

/// Template key parts by service id (persistent services only).
#[map(name = "RVS_PERSIST")]
pub(crate) static PERSIST: Array<PersistVal> = Array::with_max_entries(SVC_SLOTS, 0);

/// A new connection's dest on a persistent service (`ip_vs_sched_persist`): the template's
/// if it is valid (its dest still in the service and, with `expire_quiescent_template`, not
/// at weight 0; OVERLOAD is not looked at), else the scheduler's, with a new template.
/// A template past its timeout that the sweeper has not expired yet is still used (the
/// sweeper decides within a second whether it is kept alive).
pub(crate) fn persistent_pick(svc: &SvcVal, pkt: &parse::Packet, now: u64) -> Option<u32> {
    let p = PERSIST.get(svc.id)?;
    let s = scratch()?;
    // The template's key is built in the scratch space's `tkey` and borrowed from there for
    // each lookup; nothing this function calls writes `tkey` (the scheduler's walks, the
    // insert's eviction and release use other fields).
    // SAFETY: as above (the rule of `scratch`).
    let tkey: &ConnKey = unsafe {
        template_key(&mut (*s).tkey, &pkt.saddr, pkt.af, p);
        &(*s).tkey
    };
    if let Some(t) = CONNS.get_ptr_mut(tkey) {
        // SAFETY: valid entry pointer for this run.
        let t = unsafe { &mut *t };
        let quiescent = CONFIG.get(CONFIG_EXPIRE_QUIESCENT).copied().unwrap_or(0) != 0;
        let valid = DESTS.get(t.dest).is_some_and(|d| {
            d.flags & dest::AVAILABLE != 0
                && d.flags & dest::REACHABLE != 0
                && !(quiescent && d.weight == 0)
        });
        if valid {
            t.last_ns = now;
            return Some(t.dest);
        }
        let old = t.dest;
        if CONNS.remove(tkey).is_ok() {
            add_persist(old, -1);
        }
    }
    let id = schedule(svc, pkt, now)?;
    let v = ConnVal {
        last_ns: now,
        dest: id,
        svc: svc.id,
        timeout: p.timeout,
        flags: conn_flags::TEMPLATE
            | conn_flags::NOOUTPUT
            | conn_flags::DROUTE
            | conn_flags::EMBRYO,
        state: 0,
        _pad: 0,
        dport_be: 0,
        in_pkts: 0,
    };
    if insert_conn(tkey, &v) == 0 {
        add_persist(id, 1);
    }
    Some(id)
}
