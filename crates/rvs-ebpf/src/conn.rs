// SPDX-License-Identifier: MIT OR GPL-2.0
//! The connection table: entries by client-side key, the NAT reply index, timeouts by state,
//! inserting with eviction of the oldest embryonic entry when the table is full, confirming
//! entries and their templates, and moving or giving back a dest's counts as states change or
//! entries go.

use aya_ebpf::macros::map;
use aya_ebpf::maps::{Array, HashMap};
use rvs_common::maps::{
    ConnKey, ConnVal, EMBRYO_RING, EVICT_TRIES, KIND_CONN, KIND_TEMPLATE, OutKey, TEMPLATE_ASSURED,
    TIMEOUT_SLOTS, out_key, template_key,
};
use rvs_common::{conn_flags, tcp};

use crate::dests::{DESTS, add_persist, conn_counts, dest_conns, set_overload};
use crate::parse;
use crate::persist::PERSIST;
use crate::reason::{Reason, note};
use crate::scratch::scratch;

/// NAT connections by their replies' addresses (value: the connection's key). Sized like
/// `CONNS`; an entry goes whenever its connection does.
#[map(name = "RVS_CONNS_OUT")]
pub(crate) static CONNS_OUT: HashMap<OutKey, ConnKey> = HashMap::with_max_entries(1 << 20, 0);

/// Connections and persistence templates. Sized by user space at load time (`rvsd
/// --conn-tab-size`). A preallocated plain hash: nothing leaves it unless this program or
/// the sweeper removes it (and gives its dest count back), so the counts stay exact; when it
/// is full, only embryonic entries are evicted ([`insert_conn`]).
#[map(name = "RVS_CONNS")]
pub(crate) static CONNS: HashMap<ConnKey, ConnVal> = HashMap::with_max_entries(1 << 20, 0);

/// The embryonic entries' keys in the order they were made (a ring of `EMBRYO_RING` slots).
#[map(name = "RVS_EMBRYOS")]
pub(crate) static EMBRYOS: Array<ConnKey> = Array::with_max_entries(EMBRYO_RING, 0);

/// The ring's cursors, counting up forever: [`HEAD`] the next slot to remember an entry in,
/// [`TAIL`] the oldest slot not yet looked at for eviction.
#[map(name = "RVS_EMBRYO_CURSORS")]
pub(crate) static EMBRYO_CURSORS: Array<u64> = Array::with_max_entries(2, 0);

pub(crate) const HEAD: u32 = 0;

pub(crate) const TAIL: u32 = 1;

/// Per-state timeouts in seconds: TCP states by index, UDP at `TIMEOUT_UDP`.
#[map(name = "RVS_TIMEOUTS")]
pub(crate) static TIMEOUTS: Array<u32> = Array::with_max_entries(TIMEOUT_SLOTS, 0);

pub(crate) fn timeout_of(state: u32) -> u32 {
    TIMEOUTS.get(state).copied().unwrap_or(60)
}

pub(crate) fn conn_key(pkt: &parse::Packet) -> ConnKey {
    ConnKey {
        caddr: pkt.saddr,
        vaddr: pkt.daddr,
        cport_be: pkt.sport_be,
        vport_be: pkt.dport_be,
        proto: pkt.proto,
        af: pkt.af,
        kind: KIND_CONN,
        _pad: 0,
    }
}

/// `BPF_NOEXIST`.
pub(crate) const BPF_NOEXIST: u64 = 1;

/// `E2BIG`: what a full preallocated hash answers an insert.
pub(crate) const E2BIG: i32 = 7;

/// Enters a new connection or template (`BPF_NOEXIST`). When the table is full, the oldest
/// embryonic entry the ring remembers is evicted for it ([`evict_embryo`]); an embryonic new
/// entry is remembered in the ring. Returns 0, or the [`Reason`] it was refused for:
/// `TableFull` (full of confirmed entries) or `ConnInsert` (the key is there already).
#[inline(never)]
pub(crate) fn insert_conn(key: &ConnKey, v: &ConnVal) -> u32 {
    if let Err(e) = CONNS.insert(key, v, BPF_NOEXIST) {
        if e != -E2BIG {
            return Reason::ConnInsert as u32;
        }
        if !evict_embryo() || CONNS.insert(key, v, BPF_NOEXIST).is_err() {
            return Reason::TableFull as u32;
        }
    }
    if v.flags & conn_flags::EMBRYO != 0 {
        let (Some(head), Some(_)) = (cursor(HEAD), cursor(TAIL)) else {
            return 0;
        };
        let slot = bump(head) as u32 & (EMBRYO_RING - 1);
        if let Some(p) = EMBRYOS.get_ptr_mut(slot) {
            // SAFETY: array slot valid for the map's lifetime; a racing writer on another CPU
            // can only make one entry unremembered (it then waits for its timeout).
            unsafe { *p = *key };
        }
    }
    0
}

/// A ring cursor (shared by all CPUs).
pub(crate) fn cursor(i: u32) -> Option<*mut u64> {
    EMBRYO_CURSORS.get_ptr_mut(i)
}

/// Returns the cursor's value and moves it on. Not atomic (BPF cpu v1 has no fetch-and-add):
/// two CPUs may take the same slot, and one of their entries is then not remembered (it waits
/// for its timeout), or both look at the same entry to evict (one removes it; the other goes
/// on to the next slot).
pub(crate) fn bump(p: *mut u64) -> u64 {
    // SAFETY: a map value pointer, valid while the program runs.
    unsafe {
        let v = core::ptr::read_volatile(p);
        core::ptr::write_volatile(p, v.wrapping_add(1));
        v
    }
}

/// Evicts the oldest embryonic entry the ring remembers, as its timer would expire it (its
/// dest count given back); slots whose entry was confirmed or is gone are passed over, at
/// most [`EVICT_TRIES`] of them. `false` if none was found.
pub(crate) fn evict_embryo() -> bool {
    let (Some(head), Some(tail)) = (cursor(HEAD), cursor(TAIL)) else {
        return false;
    };
    for _ in 0..EVICT_TRIES {
        // SAFETY: map value pointers, valid while the program runs.
        let (h, t) = unsafe {
            (
                core::ptr::read_volatile(head),
                core::ptr::read_volatile(tail),
            )
        };
        if t >= h {
            return false;
        }
        // Slots older than the ring holds were overwritten: start at the oldest it has.
        if h - t > EMBRYO_RING as u64 {
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(tail, h - EMBRYO_RING as u64) };
        }
        let slot = bump(tail) as u32 & (EMBRYO_RING - 1);
        let Some(s) = scratch() else { return false };
        // The key goes to the scratch space's `ekey` (nothing else writes it; `release`
        // writes `okey`).
        // SAFETY: as above (the rule of `scratch`).
        let ekey: &ConnKey = unsafe {
            match EMBRYOS.get(slot) {
                Some(k) => (*s).ekey = *k,
                None => continue,
            }
            &(*s).ekey
        };
        let Some(c) = CONNS.get_ptr(ekey) else {
            continue;
        };
        // SAFETY: a copy of a valid entry.
        let c = unsafe { *c };
        if c.flags & conn_flags::EMBRYO == 0 {
            continue;
        }
        if CONNS.remove(ekey).is_ok() {
            if ekey.kind == KIND_TEMPLATE {
                add_persist(c.dest, -1);
            } else {
                // `release` writes `okey`, not `ekey`.
                release(ekey, &c);
            }
            note(Reason::EmbryoEvicted);
            return true;
        }
    }
    false
}

/// The persistence template of connection `c` (a packet of it is `pkt`), on a persistent
/// service.
#[inline(always)]
pub(crate) fn template_of(c: &ConnVal, pkt: &parse::Packet) -> Option<*mut ConnVal> {
    let p = PERSIST.get(c.svc)?;
    if p.timeout == 0 {
        return None;
    }
    let s = scratch()?;
    // SAFETY: the scratch space's rule (`scratch`): `tkey` is written, then borrowed for the
    // lookup alone.
    unsafe {
        template_key(&mut (*s).tkey, &pkt.saddr, pkt.af, p);
        CONNS.get_ptr_mut(&(*s).tkey)
    }
}

/// A connection's first packet after its SYN (or first datagram) confirms it: it is no
/// longer embryonic, and neither is its persistence template.
pub(crate) fn confirm(c: &mut ConnVal, pkt: &parse::Packet) {
    c.flags &= !conn_flags::EMBRYO;
    if let Some(t) = template_of(c, pkt) {
        // SAFETY: valid entry pointer for this run.
        unsafe { (*t).flags &= !conn_flags::EMBRYO };
    }
}

/// A connection reached ESTABLISHED: on a persistent service its template becomes ASSURED
/// (if it is still the template the connection was made through, that is, it names the same
/// dest).
pub(crate) fn assure(c: &ConnVal, pkt: &parse::Packet) {
    if let Some(t) = template_of(c, pkt) {
        // SAFETY: valid entry pointer for this run.
        unsafe {
            if (*t).dest == c.dest {
                (*t).state = TEMPLATE_ASSURED;
            }
        }
    }
}

/// Moves a connection between ActiveConn and InActConn when its state changes to `next`.
pub(crate) fn move_counts(c: &mut ConnVal, next: u8) {
    let inactive = c.flags & conn_flags::INACTIVE != 0;
    // SAFETY: reading a local; volatile so the range check is not folded away.
    let active_now = tcp::is_active_raw(unsafe { core::ptr::read_volatile(&next) });
    if let Some((act, inact)) = dest_conns(c.dest) {
        if !inactive && !active_now {
            act.add(-1);
            inact.add(1);
            c.flags |= conn_flags::INACTIVE;
        } else if inactive && active_now {
            inact.add(-1);
            act.add(1);
            c.flags &= !conn_flags::INACTIVE;
        }
    }
}

/// Gives back the dest count of a connection entry that is going away, and re-evaluates
/// OVERLOAD as `ip_vs_unbind_dest` does; a NAT entry's reply index goes too.
pub(crate) fn release(key: &ConnKey, c: &ConnVal) {
    if c.flags & conn_flags::FWD_MASK == conn_flags::MASQ
        && let Some(d) = DESTS.get(c.dest)
        && let Some(s) = scratch()
    {
        // SAFETY: the scratch space's rule (`scratch`): `okey` is written, then borrowed for
        // the removal alone.
        unsafe {
            out_key(&mut (*s).okey, key, &d.addr, c.dport_be);
            let _ = CONNS_OUT.remove(&(*s).okey);
        }
    }
    if let Some((act, inact)) = dest_conns(c.dest) {
        if c.flags & conn_flags::INACTIVE != 0 {
            inact.add(-1);
        } else {
            act.add(-1);
        }
    }
    if let Some(d) = DESTS.get(c.dest) {
        let (a, i) = conn_counts(c.dest);
        if rvs_common::maps::overload_clears_on_unbind(a, i, d.l_threshold, d.u_threshold) {
            set_overload(c.dest, false);
        }
    }
}
