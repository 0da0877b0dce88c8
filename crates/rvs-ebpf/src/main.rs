// SPDX-License-Identifier: MIT OR GPL-2.0
//! The rvs XDP program: the LVS director at the driver (direct routing, NAT, tunnels).
//!
//! What belongs here: the per-packet work only. Parse ([`parse`]), look the connection up,
//! and for new ones the service (fwmark rules, address, port 0) and a dest (every IPVS
//! scheduler, persistence templates); step the IPVS state machine with the tables of
//! `rvs-common`, count, rewrite (DR: MACs and TTL; NAT: addresses, ports and checksums, [`parse`];
//! TUN: encapsulation, [`tun`]) and transmit; translate ICMP errors about connections
//! ([`icmp_err`]). Four programs joined by tail calls keep each within the verifier's limits:
//! `rvs_xdp` (known connections), `rvs_xdp_miss` (NAT replies, packets for a service),
//! `rvs_xdp_new` (new connections), `rvs_xdp_icmp`. Everything that is not for a service, or
//! that cannot be parsed, goes to the director's stack untouched (`XDP_PASS`). User space fills
//! the maps and sweeps expired connections; see `rvs-dataplane`.
#![no_std]
#![no_main]
// The BPF target has atomic add (BPF_ATOMIC) but Rust exposes no fetch_add for it.
#![feature(core_intrinsics)]
#![allow(
    internal_features,
    reason = "atomic_xadd is the only way to emit BPF_ATOMIC adds"
)]

mod icmp;
mod icmp_err;
mod parse;
mod tun;

use parse::Nat;

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX};
use aya_ebpf::helpers::{bpf_ktime_get_ns, bpf_redirect};
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray, ProgramArray};
use aya_ebpf::programs::XdpContext;
use core::intrinsics::{AtomicOrdering, atomic_xadd};
use rvs_common::maps::{
    AF_V4, CONFIG_EXPIRE_NODEST_CONN, CONFIG_EXPIRE_QUIESCENT, CONFIG_FWMARK_RULES,
    CONFIG_LBLCR_EXPIRATION, CONFIG_SLOTS, EMBRYO_RING, EVICT_TRIES, FWMARK_PORT_RANGES,
    FWMARK_SLOTS, FwmarkRule, HASH_TAB_SLOTS, HashTab, KIND_CONN, KIND_TEMPLATE, LOCAL_SET,
    LOCAL_SLOTS, LocalKey, LocalVal, MH_TAB_SIZE, NeighKey, OutKey, PersistVal, SH_TAB_SIZE,
    TEMPLATE_ASSURED, TunVal, addr_fold, hash_32, mh_slot, out_key, sh_bucket, template_key,
};
use rvs_common::maps::{
    ConnKey, ConnVal, DEST_SLOTS, DestConns, DestList, DestVal, MAX_DESTS, SVC_SLOTS, SchedState,
    Stats, SvcKey, SvcVal, TIMEOUT_SLOTS, TIMEOUT_UDP, dest, sched,
};
use rvs_common::tcp::{self, Direction, State};
use rvs_common::{conn_flags, proto, reason, svc_flags};

/// Services by (family, protocol, VIP, port).
#[map(name = "RVS_SERVICES")]
static SERVICES: HashMap<SvcKey, SvcVal> = HashMap::with_max_entries(SVC_SLOTS, 0);
/// Each service's dest ids in list order, by service id.
#[map(name = "RVS_SVC_DESTS")]
static SVC_DESTS: Array<DestList> = Array::with_max_entries(SVC_SLOTS, 0);
/// Dests by id.
#[map(name = "RVS_DESTS")]
static DESTS: Array<DestVal> = Array::with_max_entries(DEST_SLOTS, 0);
/// ActiveConn/InActConn by dest id, changed atomically by both sides.
#[map(name = "RVS_DEST_CONNS")]
static DEST_CONNS: Array<DestConns> = Array::with_max_entries(DEST_SLOTS, 0);
/// Connection counts user space released when sweeping, by dest id (user space writes).
#[map(name = "RVS_DEST_SWEPT")]
static DEST_SWEPT: Array<DestConns> = Array::with_max_entries(DEST_SLOTS, 0);
/// OVERLOAD by dest id (1 = set): set by the program when a connection is bound, cleared by
/// whichever side releases one (ipvs-semantics.md section 8), and by user space on an edit.
#[map(name = "RVS_DEST_OVERLOAD")]
static DEST_OVERLOAD: Array<u32> = Array::with_max_entries(DEST_SLOTS, 0);
/// Runtime switches (`CONFIG_*` indexes).
#[map(name = "RVS_CONFIG")]
static CONFIG: Array<u32> = Array::with_max_entries(CONFIG_SLOTS, 0);
/// NAT connections by their replies' addresses (value: the connection's key). Sized like
/// `CONNS`; an entry goes whenever its connection does.
#[map(name = "RVS_CONNS_OUT")]
static CONNS_OUT: HashMap<OutKey, ConnKey> = HashMap::with_max_entries(1 << 20, 0);
/// Connections and persistence templates. Sized by user space at load time (`rvsd
/// --conn-tab-size`). A preallocated plain hash: nothing leaves it unless this program or
/// the sweeper removes it (and gives its dest count back), so the counts stay exact; when it
/// is full, only embryonic entries are evicted ([`insert_conn`]).
#[map(name = "RVS_CONNS")]
static CONNS: HashMap<ConnKey, ConnVal> = HashMap::with_max_entries(1 << 20, 0);
/// The embryonic entries' keys in the order they were made (a ring of `EMBRYO_RING` slots).
#[map(name = "RVS_EMBRYOS")]
static EMBRYOS: Array<ConnKey> = Array::with_max_entries(EMBRYO_RING, 0);
/// The ring's cursors, counting up forever: [`HEAD`] the next slot to remember an entry in,
/// [`TAIL`] the oldest slot not yet looked at for eviction.
#[map(name = "RVS_EMBRYO_CURSORS")]
static EMBRYO_CURSORS: Array<u64> = Array::with_max_entries(2, 0);
const HEAD: u32 = 0;
const TAIL: u32 = 1;
/// Tunnel parameters by dest id (tunnel dests only).
#[map(name = "RVS_TUNNELS")]
static TUNNELS: Array<TunVal> = Array::with_max_entries(DEST_SLOTS, 0);
/// Per-state timeouts in seconds: TCP states by index, UDP at `TIMEOUT_UDP`.
#[map(name = "RVS_TIMEOUTS")]
static TIMEOUTS: Array<u32> = Array::with_max_entries(TIMEOUT_SLOTS, 0);
/// rr/wrr state per service id.
#[map(name = "RVS_SCHED")]
static SCHED: Array<SchedState> = Array::with_max_entries(SVC_SLOTS, 0);
/// Counters per service id.
#[map(name = "RVS_SVC_STATS")]
static SVC_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(SVC_SLOTS, 0);
/// Counters per dest id.
#[map(name = "RVS_DEST_STATS")]
static DEST_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(DEST_SLOTS, 0);
/// Counters of everything (index 0).
#[map(name = "RVS_TOTAL_STATS")]
static TOTAL_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(1, 0);
/// sh/dh/mh bucket tables by service id (user space computes them; see `HashTab`).
#[map(name = "RVS_HASH_TABS")]
static HASH_TABS: HashMap<u32, HashTab> = HashMap::with_max_entries(SVC_SLOTS, BPF_F_NO_PREALLOC);
/// Template key parts by service id (persistent services only).
#[map(name = "RVS_PERSIST")]
static PERSIST: Array<PersistVal> = Array::with_max_entries(SVC_SLOTS, 0);
/// `rvs fwmark` rules; `CONFIG[CONFIG_FWMARK_RULES]` of them are in use.
#[map(name = "RVS_FWMARKS")]
static FWMARKS: Array<FwmarkRule> = Array::with_max_entries(FWMARK_SLOTS, 0);
/// Per-CPU scratch space for the `bpf_loop` walks and the template key (kept off the stack).
#[map(name = "RVS_SCRATCH")]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
/// The programs the first one hands packets to: `rvs_xdp_new` at [`JUMP_NEW`],
/// `rvs_xdp_miss` at [`JUMP_MISS`].
#[map(name = "RVS_JUMP")]
static JUMP: ProgramArray = ProgramArray::with_max_entries(3, 0);
/// Slot of `rvs_xdp_new` in `JUMP`.
const JUMP_NEW: u32 = 0;
/// Slot of `rvs_xdp_miss` in `JUMP`.
const JUMP_MISS: u32 = 1;
/// Slot of `rvs_xdp_icmp` in `JUMP`.
const JUMP_ICMP: u32 = 2;
/// Why packets were not forwarded, by [`Reason`] (for `rvs status`).
#[map(name = "RVS_REASONS")]
static REASONS: PerCpuArray<u64> = PerCpuArray::with_max_entries(reason::COUNT, 0);

/// Why a packet was passed or dropped; values index `REASONS` (`rvs_common::reason`, where
/// each is described).
#[derive(Clone, Copy)]
#[repr(u32)]
enum Reason {
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
    Schedule = reason::SCHEDULE,
    Miss = reason::MISS,
    TooBig = reason::TOO_BIG,
    Icmp = reason::ICMP,
    TableFull = reason::TABLE_FULL,
    EmbryoEvicted = reason::EMBRYO_EVICTED,
}

/// `BPF_F_NO_PREALLOC`: hash tables take memory only for the services that use them.
const BPF_F_NO_PREALLOC: u32 = 1;

/// Scratch space: the template key being looked up, and the state of the hashing fallback
/// and fwmark walks (their callbacks read it; nothing here outlives one packet).
#[repr(C)]
struct Scratch {
    fib: FibParams,
    ipkt: parse::Packet,
    quote: icmp_err::Quote,
    okey: OutKey,
    nkey: NeighKey,
    tkey: ConnKey,
    ekey: ConnKey,
    lkey: LocalKey,
    lval: LocalVal,
    daddr: [u8; 16],
    svc_id: u32,
    sched: u32,
    addr: u32,
    ihash: u32,
    id: u32,
    mark: u32,
    dport: u16,
    port: u16,
    af: u8,
    proto: u8,
    _pad: [u8; 2],
}

fn scratch() -> Option<&'static mut Scratch> {
    // SAFETY: this CPU's slot; a program run is not preempted by another on the same CPU.
    SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

fn note(r: Reason) {
    if let Some(p) = REASONS.get_ptr_mut(r as u32) {
        // SAFETY: per-CPU slot, valid for the program's run.
        unsafe { *p += 1 };
    }
}

/// The entry point: every outcome is decided in `try_rvs` and mapped to an action here.
#[xdp]
pub fn rvs_xdp(ctx: XdpContext) -> u32 {
    match try_rvs(&ctx) {
        Ok(action) => action,
        Err(Reason::Miss) => {
            // SAFETY: a tail call to the program user space put at `JUMP_MISS`; it returns
            // only if there is none.
            unsafe { JUMP.tail_call(&ctx, JUMP_MISS) };
            verdict(Reason::NotService)
        }
        Err(Reason::Icmp) => {
            // SAFETY: as above, for `JUMP_ICMP`.
            unsafe { JUMP.tail_call(&ctx, JUMP_ICMP) };
            verdict(Reason::NotService)
        }
        Err(reason) => verdict(reason),
    }
}

/// The fourth program, reached from [`rvs_xdp`] by a tail call: ICMP(v6), which may be an
/// error about a balanced connection (`icmp_err`).
#[xdp]
pub fn rvs_xdp_icmp(ctx: XdpContext) -> u32 {
    let now = unsafe { bpf_ktime_get_ns() };
    icmp_err::handle(&ctx, now)
}

/// The second program, reached from [`rvs_xdp`] by a tail call: no connection entry.
#[xdp]
pub fn rvs_xdp_miss(ctx: XdpContext) -> u32 {
    match try_miss(&ctx) {
        Ok(action) => action,
        Err(Reason::Schedule) => {
            // SAFETY: as above, for `JUMP_NEW`.
            unsafe { JUMP.tail_call(&ctx, JUMP_NEW) };
            verdict(Reason::NoDest)
        }
        Err(reason) => verdict(reason),
    }
}

/// The third program, reached from [`rvs_xdp_miss`] by a tail call: new connections.
#[xdp]
pub fn rvs_xdp_new(ctx: XdpContext) -> u32 {
    match try_new(&ctx) {
        Ok(action) => action,
        Err(reason) => verdict(reason),
    }
}

fn verdict(reason: Reason) -> u32 {
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

fn count(stats: &PerCpuArray<Stats>, idx: u32, bytes: u64, new_conn: bool) {
    if let Some(p) = stats.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot, no other writer on this CPU during the run.
        unsafe {
            (*p).inpkts += 1;
            (*p).inbytes += bytes;
            if new_conn {
                (*p).conns += 1;
            }
        }
    }
}

/// A counter in `DEST_CONNS`, changed with atomic adds.
#[derive(Clone, Copy)]
struct Counter(*mut u64);

impl Counter {
    fn add(self, v: i64) {
        // SAFETY: the pointer comes from a map lookup and stays valid while the program runs.
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(self.0, v as u64) };
    }

    fn get(self) -> u64 {
        // SAFETY: as above. An aligned 64-bit load is a single BPF instruction; BPF (cpu
        // generic) has no atomic-load instruction to select.
        unsafe { core::ptr::read_volatile(self.0) }
    }
}

fn dest_conns(id: u32) -> Option<(Counter, Counter)> {
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
fn dest_at(svc_id: u32, i: usize) -> u32 {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (MAX_DESTS - 1);
    SVC_DESTS.get(svc_id).map_or(0, |l| l.dests[i])
}

/// The id at position `i` of the lblcr set whose key is in the scratch space.
#[inline(always)]
fn set_member_at(i: usize) -> u32 {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (LOCAL_SET - 1);
    let Some(s) = scratch() else { return 0 };
    // SAFETY: read-only use during the run.
    LOCAL
        .get_ptr(&s.lkey)
        .map_or(0, |e| unsafe { (*e).dests[i] })
}

fn overloaded(id: u32) -> bool {
    DEST_OVERLOAD.get(id).is_some_and(|v| *v != 0)
}

fn set_overload(id: u32, on: bool) {
    if let Some(p) = DEST_OVERLOAD.get_ptr_mut(id) {
        // SAFETY: array slot valid for the map's lifetime.
        unsafe { *p = u32::from(on) };
    }
}

/// Whether a dest may take a new connection: weight, still in its service, reachable (its MAC
/// known or being resolved), and not OVERLOAD. (The id is the dest's, for the OVERLOAD map.)
fn usable_id(id: u32, d: &DestVal) -> bool {
    d.weight > 0
        && d.flags & dest::AVAILABLE != 0
        && d.flags & dest::REACHABLE != 0
        && !overloaded(id)
}

/// ActiveConn and InActConn of a dest: what the program counted minus what user space swept.
fn conn_counts(id: u32) -> (u64, u64) {
    let (a, i) = match dest_conns(id) {
        Some((a, i)) => (a.get(), i.get()),
        None => (0, 0),
    };
    match DEST_SWEPT.get(id) {
        Some(s) => (a.wrapping_sub(s.active), i.wrapping_sub(s.inactive)),
        None => (a, i),
    }
}

/// `overhead = active << 8 + inactive` (`ip_vs_dest_conn_overhead`).
fn overhead(id: u32) -> u64 {
    let (a, i) = conn_counts(id);
    (a << 8).wrapping_add(i)
}

/// What a list walk computes ([`list_step`]).
const WALK_LEAST: u32 = 0;
const WALK_HIGHEST: u32 = 1;
const WALK_RR: u32 = 2;
/// twos, first pass: the sum of the usable weights.
const WALK_TOTAL: u32 = 3;
/// twos, second pass: the two weighted choices.
const WALK_TWOS: u32 = 4;
/// lblc/lblcr: is there a dest (usable or not) with fewer than half its weight active?
const WALK_UNDER: u32 = 5;
/// lblcr: the set member with the most overhead per weight (`ip_vs_dest_set_max`).
const WALK_MOST: u32 = 6;

/// The state of a walk over a list of dest ids (a service's, or an lblcr set), kept in a
/// per-CPU map value: the verifier then checks the callback once with unknown values instead
/// of simulating every iteration.
#[repr(C)]
struct ListWalk {
    svc_id: u32,
    /// 0: the service's dest list; 1: the lblcr set of the scratch space's `lkey`.
    set: u32,
    best_oh: u64,
    best_w: u64,
    /// twos: the draws left, and the second choice.
    r1: i64,
    r2: i64,
    oh2: u64,
    w2: u64,
    /// [`WALK_LEAST`] ... [`WALK_MOST`].
    mode: u32,
    /// Cost: 0 overhead (wlc, lc), 1 active + 1 (sed, nq).
    cost_active: u32,
    weighted: u32,
    idle_first: u32,
    overflow: u32,
    /// rr: the position the walk starts at.
    start: u32,
    n: u32,
    found: u32,
    best_id: u32,
    /// rr: the position of the pick.
    pos: u32,
    found2: u32,
    id2: u32,
}

/// Scratch space for list walks.
#[map(name = "RVS_LIST_WALK")]
static LIST_WALK: PerCpuArray<ListWalk> = PerCpuArray::with_max_entries(1, 0);

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
extern "C" fn list_step(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
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
    let id = if w.set != 0 {
        set_member_at(pos as usize)
    } else {
        dest_at(w.svc_id, pos as usize)
    };
    let Some(d) = DESTS.get(id) else { return 0 };
    if w.mode == WALK_UNDER {
        if (conn_counts(id).0 as i64) * 2 < d.weight as i64 {
            w.found = 1;
            return 1;
        }
        return 0;
    }
    if w.mode == WALK_MOST {
        if d.weight <= 0 || d.flags & dest::AVAILABLE == 0 {
            return 0;
        }
        let oh = overhead(id);
        let wt = d.weight as u64;
        if w.found == 0 || w.best_oh * wt < oh * w.best_w {
            w.found = 1;
            w.best_id = id;
            w.best_oh = oh;
            w.best_w = wt;
        }
        return 0;
    }
    if !usable_id(id, d) {
        return 0;
    }
    match w.mode {
        WALK_RR => {
            w.found = 1;
            w.best_id = id;
            w.pos = pos;
            1
        }
        WALK_HIGHEST => {
            let over = w.overflow != 0 && conn_counts(id).0 > d.weight as u64;
            if !over && d.weight as u64 > w.best_w {
                w.found = 1;
                w.best_id = id;
                w.best_w = d.weight as u64;
            }
            0
        }
        WALK_TOTAL => {
            w.best_w += d.weight as u64;
            0
        }
        WALK_TWOS => {
            w.r1 -= d.weight as i64;
            w.r2 -= d.weight as i64;
            if w.r1 <= 0 && w.found == 0 {
                w.found = 1;
                w.best_id = id;
                w.best_w = d.weight as u64;
                w.best_oh = overhead(id);
            }
            if w.r2 <= 0 && w.found2 == 0 {
                w.found2 = 1;
                w.id2 = id;
                w.w2 = d.weight as u64;
                w.oh2 = overhead(id);
            }
            i64::from(w.found != 0 && w.found2 != 0)
        }
        _ => {
            let active = conn_counts(id).0;
            if w.idle_first != 0 && active == 0 {
                w.found = 1;
                w.best_id = id;
                return 1;
            }
            let oh = if w.cost_active != 0 {
                active + 1
            } else {
                overhead(id)
            };
            let wt = if w.weighted != 0 { d.weight as u64 } else { 1 };
            if w.found == 0 || w.best_oh * wt > oh * w.best_w {
                w.found = 1;
                w.best_id = id;
                w.best_oh = oh;
                w.best_w = wt;
            }
            0
        }
    }
}

/// Runs a list walk of `mode` over the service's dests (or, with `set`, over those ids);
/// `setup` fills the mode's options.
fn list_walk(
    svc: &SvcVal,
    set: Option<&LocalVal>,
    mode: u32,
    setup: impl FnOnce(&mut ListWalk),
) -> Option<&'static ListWalk> {
    let w = LIST_WALK.get_ptr_mut(0)?;
    // SAFETY: per-CPU scratch value, valid while the program runs.
    let w = unsafe { &mut *w };
    w.svc_id = svc.id;
    match set {
        Some(s) => {
            w.set = 1;
            w.n = s.n.min(LOCAL_SET as u32);
        }
        None => {
            w.set = 0;
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
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            MAX_DESTS as u32,
            list_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    Some(w)
}

fn least_cost(svc: &SvcVal, cost_active: bool, weighted: bool, idle_first: bool) -> Option<u32> {
    let w = list_walk(svc, None, WALK_LEAST, |w| {
        w.cost_active = u32::from(cost_active);
        w.weighted = u32::from(weighted);
        w.idle_first = u32::from(idle_first);
    })?;
    (w.found != 0).then_some(w.best_id)
}

/// fo (the highest weight) and ovf (the highest weight among dests whose active count does
/// not exceed their weight): `ip_vs_fo_schedule`, `ip_vs_ovf_schedule`. Ties go to the first.
fn highest_weight(svc: &SvcVal, overflow: bool) -> Option<u32> {
    let w = list_walk(svc, None, WALK_HIGHEST, |w| {
        w.overflow = u32::from(overflow)
    })?;
    (w.found != 0).then_some(w.best_id)
}

/// twos: two weighted random draws over the usable dests; the less loaded per weight of the
/// two (the second only if strictly less).
fn twos(svc: &SvcVal) -> Option<u32> {
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

/// The locality schedulers' "overloaded" (`is_overloaded` of `ip_vs_lblc.c`).
fn local_overloaded(svc: &SvcVal, id: u32, d: &DestVal) -> bool {
    conn_counts(id).0 as i64 > d.weight as i64
        && list_walk(svc, None, WALK_UNDER, |_| {}).is_some_and(|w| w.found != 0)
}

/// Entries of lblc and lblcr by (service, destination address).
#[map(name = "RVS_LOCAL")]
static LOCAL: LruHashMap<LocalKey, LocalVal> = LruHashMap::with_max_entries(LOCAL_SLOTS, 0);

/// lblc and lblcr (`ip_vs_lblc_schedule`, `ip_vs_lblcr_schedule`): the destination address's
/// entry, else wlc over the service, remembered in the entry.
fn locality(svc: &SvcVal, pkt: &parse::Packet, now: u64, replicate: bool) -> Option<u32> {
    let id = locality_id(svc, pkt, now, replicate);
    (id != 0).then_some(id)
}

/// [`locality`], returning 0 for none: a function returning `Option` can hand the verifier
/// a stack pointer as its result, which it refuses.
#[inline(never)]
fn locality_id(svc: &SvcVal, pkt: &parse::Packet, now: u64, replicate: bool) -> u32 {
    let Some(s) = scratch() else { return 0 };
    s.lkey = LocalKey {
        addr: pkt.daddr,
        svc: svc.id,
        af: pkt.af,
        _pad: [0; 3],
    };
    if let Some(e) = LOCAL.get_ptr_mut(&s.lkey) {
        // SAFETY: valid entry pointer for this run.
        let e = unsafe { &mut *e };
        e.lastuse_ns = now;
        if replicate {
            let min = list_walk(svc, Some(e), WALK_LEAST, |_| {})
                .and_then(|w| (w.found != 0).then_some(w.best_id));
            let expiration = CONFIG
                .get(CONFIG_LBLCR_EXPIRATION)
                .copied()
                .unwrap_or(86_400) as u64;
            if e.n > 1 && now > e.lastmod_ns + expiration * 1_000_000_000 {
                let most = list_walk(svc, Some(e), WALK_MOST, |_| {})
                    .and_then(|w| (w.found != 0).then_some(w.best_id));
                if let Some(m) = most {
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
            let id = e.dests[0];
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
    s.lval.lastuse_ns = now;
    s.lval.lastmod_ns = now;
    s.lval.n = 1;
    s.lval._pad = 0;
    s.lval.dests = [0; LOCAL_SET];
    s.lval.dests[0] = id;
    let _ = LOCAL.insert(&s.lkey, &s.lval, 0);
    id
}

/// Removes `id` from an lblcr set.
fn set_erase(e: &mut LocalVal, id: u32) {
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
fn set_insert(e: &mut LocalVal, id: u32, now: u64) {
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

/// rr: the next usable dest after the cursor, wrapping once.
fn round_robin(svc: &SvcVal) -> Option<u32> {
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
const WRR_STEPS: u32 = 65536;

/// The walk's variables. They live in a per-CPU map value rather than on the stack: the
/// verifier then treats them as unknown scalars and the callback verifies in a few passes,
/// where stack variables make it simulate every iteration.
#[repr(C)]
struct WrrWalk {
    svc_id: u32,
    cw: i32,
    mw: i32,
    di: i32,
    cursor: i32,
    n: i32,
    last: i32,
    i: i32,
    stop: i32,
    last_pass: u32,
    restarted: u32,
    /// 0 while walking, 1 found (`id`), 2 failed.
    done: u32,
    id: u32,
}

/// Scratch space for the wrr walk.
#[map(name = "RVS_WRR_WALK")]
static WRR_WALK: PerCpuArray<WrrWalk> = PerCpuArray::with_max_entries(1, 0);

/// One step of `ip_vs_wrr_schedule`'s nested loops; returns 1 to end the `bpf_loop`.
extern "C" fn wrr_step(_index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
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
fn weighted_round_robin(svc: &SvcVal) -> Option<u32> {
    let st = SCHED.get_ptr_mut(svc.id)?;
    let w = WRR_WALK.get_ptr_mut(0)?;
    // SAFETY: map values valid while the program runs; the scratch is this CPU's.
    let (st, w) = unsafe { (&mut *st, &mut *w) };
    let n = (svc.ndests as i32).min(MAX_DESTS as i32);
    if st.mw <= 0 || n == 0 {
        return None;
    }
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
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            WRR_STEPS,
            wrr_step as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    st.cw = w.cw;
    st.cursor = w.cursor;
    if w.done == 1 { Some(w.id) } else { None }
}

/// The bucket `b` of a hashing table (masked so that the verifier sees the bound).
#[inline(always)]
fn bucket(tab: &HashTab, b: u32) -> u32 {
    // SAFETY: reading a local.
    let b = unsafe { core::ptr::read_volatile(&b) } as usize & (HASH_TAB_SLOTS - 1);
    tab.dests[b]
}

/// The hashing schedulers' `is_unavailable`: weight 0 or OVERLOAD (and, as for every
/// scheduler here, a dest in its service that can be reached).
fn hash_usable(id: u32) -> bool {
    id != 0 && DESTS.get(id).is_some_and(|d| usable_id(id, d))
}

/// One probe of sh's or mh's fallback (`ip_vs_sh_get_fallback`, `ip_vs_mh_get_fallback`):
/// `index` is the offset; returns 1 to end the walk.
extern "C" fn hash_probe(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(s) = scratch() else { return 1 };
    // SAFETY: read-only use of a value user space replaces whole.
    let Some(tab) = (unsafe { HASH_TABS.get(&s.svc_id) }) else {
        return 1;
    };
    let b = if s.sched == sched::SH {
        let roffset = (index as u32).wrapping_add(s.ihash) % SH_TAB_SIZE;
        sh_bucket(s.addr, s.port, roffset)
    } else {
        let roffset = (index as u32).wrapping_add(s.ihash) % MH_TAB_SIZE;
        mh_slot(s.addr, s.port, roffset)
    };
    let id = bucket(tab, b);
    if id == 0 {
        return 1;
    }
    if hash_usable(id) {
        s.id = id;
        return 1;
    }
    0
}

/// sh, dh and mh: the bucket of the packet's source (sh, mh; with the source port under
/// `sh-port`/`mh-port`) or destination (dh) address; with `-fallback`, the kernel's probe
/// sequence when that dest cannot take the connection.
fn hashed(svc: &SvcVal, pkt: &parse::Packet) -> Option<u32> {
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
    s.svc_id = svc.id;
    s.sched = svc.sched;
    s.addr = addr;
    s.port = port;
    s.ihash = ihash;
    s.id = 0;
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            size,
            hash_probe as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    (s.id != 0).then_some(s.id)
}

fn schedule(svc: &SvcVal, pkt: &parse::Packet, now: u64) -> Option<u32> {
    match svc.sched {
        sched::LBLC => locality(svc, pkt, now, false),
        sched::LBLCR => locality(svc, pkt, now, true),
        sched::TWOS => twos(svc),
        sched::SH | sched::DH | sched::MH => hashed(svc, pkt),
        sched::SED => least_cost(svc, true, true, false),
        sched::NQ => least_cost(svc, true, true, true),
        sched::FO => highest_weight(svc, false),
        sched::OVF => highest_weight(svc, true),
        sched::WRR => weighted_round_robin(svc),
        sched::WLC => least_cost(svc, false, true, false),
        sched::LC => least_cost(svc, false, false, false),
        sched::RR => round_robin(svc),
        _ => None,
    }
}

fn timeout_of(state: u32) -> u32 {
    TIMEOUTS.get(state).copied().unwrap_or(60)
}

/// One `rvs fwmark` rule against the packet in the scratch space; `index` is the rule slot.
/// The first match sets `mark` and ends the walk.
extern "C" fn fwmark_probe(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(s) = scratch() else { return 1 };
    let Some(r) = FWMARKS.get(index as u32) else {
        return 1;
    };
    if r.af != s.af || (r.proto != 0 && r.proto != s.proto) {
        return 0;
    }
    for i in 0..16 {
        if s.daddr[i] & r.mask[i] != r.addr[i] {
            return 0;
        }
    }
    let n = r.nports as usize;
    let mut hit = n == 0;
    for i in 0..FWMARK_PORT_RANGES {
        if i >= n {
            break;
        }
        if s.dport >= r.ports[i][0] && s.dport <= r.ports[i][1] {
            hit = true;
            break;
        }
    }
    if hit {
        s.mark = r.mark;
        return 1;
    }
    0
}

/// The mark the `rvs fwmark` rules give the packet, 0 for none.
fn fwmark(pkt: &parse::Packet, rules: u32) -> u32 {
    let Some(s) = scratch() else { return 0 };
    s.daddr = pkt.daddr;
    s.af = pkt.af;
    s.proto = pkt.proto;
    s.dport = u16::from_be(pkt.dport_be);
    s.mark = 0;
    // SAFETY: the callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        aya_ebpf::helpers::bpf_loop(
            rules.min(FWMARK_SLOTS),
            fwmark_probe as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    s.mark
}

/// The service of a packet, in the kernel's order (`ip_vs_service_find`): the fwmark service
/// of the packet's mark, the `(protocol, VIP, port)` service, the VIP's port-0 service.
fn find_service(pkt: &parse::Packet) -> Option<&'static SvcVal> {
    let rules = CONFIG.get(CONFIG_FWMARK_RULES).copied().unwrap_or(0);
    let mut key = SvcKey {
        addr: [0; 16],
        port_be: 0,
        proto: 0,
        af: pkt.af,
    };
    if rules != 0 {
        let mark = fwmark(pkt, rules);
        if mark != 0 {
            let m = mark.to_be_bytes();
            key.addr[..4].copy_from_slice(&m);
            // SAFETY: read-only use of a value that user space replaces whole.
            if let Some(s) = unsafe { SERVICES.get(&key) } {
                return Some(s);
            }
        }
    }
    key.addr = pkt.daddr;
    key.proto = pkt.proto;
    key.port_be = pkt.dport_be;
    // SAFETY: as above.
    if let Some(s) = unsafe { SERVICES.get(&key) } {
        return Some(s);
    }
    key.port_be = 0;
    // SAFETY: as above.
    unsafe { SERVICES.get(&key) }
}

fn add_persist(id: u32, v: i64) {
    if let Some(p) = DEST_CONNS.get_ptr_mut(id) {
        // SAFETY: array value valid while the program runs.
        Counter(unsafe { &raw mut (*p).persist }).add(v);
    }
}

/// A new connection's dest on a persistent service (ipvs-semantics.md 10.2): the template's
/// if it is valid (its dest still in the service and, with `expire_quiescent_template`, not
/// at weight 0; OVERLOAD is not looked at), else the scheduler's, with a new template.
/// A template past its timeout that the sweeper has not expired yet is still used (the
/// sweeper decides within a second whether it is kept alive).
fn persistent_pick(svc: &SvcVal, pkt: &parse::Packet, now: u64) -> Option<u32> {
    let p = PERSIST.get(svc.id)?;
    let s = scratch()?;
    template_key(&mut s.tkey, &pkt.saddr, pkt.af, p);
    if let Some(t) = CONNS.get_ptr_mut(&s.tkey) {
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
        if CONNS.remove(&s.tkey).is_ok() {
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
        _pad2: [0; 4],
    };
    if insert_conn(&s.tkey, &v) == 0 {
        add_persist(id, 1);
    }
    Some(id)
}

fn conn_key(pkt: &parse::Packet) -> ConnKey {
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

/// The first program: packets of known connections. A packet that may start a connection
/// for a service is handed to [`rvs_xdp_new`] (`Reason::Schedule`), so that neither program
/// is too large for the verifier.
fn try_rvs(ctx: &XdpContext) -> Result<u32, Reason> {
    let pkt = match parse::parse(ctx) {
        Err(Reason::Icmp) => return Err(Reason::Icmp),
        r => r?,
    };
    let ckey = conn_key(&pkt);
    let now = unsafe { bpf_ktime_get_ns() };
    let is_tcp = pkt.proto == proto::TCP;
    let new_conn_pkt =
        !is_tcp || (pkt.tcp_flags & tcp::flags::SYN != 0 && pkt.tcp_flags & tcp::flags::RST == 0);
    let expire_nodest = CONFIG.get(CONFIG_EXPIRE_NODEST_CONN).copied().unwrap_or(0) != 0;
    let existing = CONNS.get_ptr_mut(&ckey).filter(|c| {
        // SAFETY: the entry pointer is valid during the run.
        let c = unsafe { &**c };
        let alive = now.saturating_sub(c.last_ns) <= c.timeout as u64 * 1_000_000_000;
        // conn_reuse_mode=1 (the kernel's default): a new SYN that meets an entry in
        // TIME_WAIT or CLOSE is scheduled afresh instead of reusing the old dest.
        let reusable = is_tcp
            && new_conn_pkt
            && (c.state == State::TimeWait as u8 || c.state == State::Close as u8);
        // expire_nodest_conn=1: an entry whose dest was removed expires now and the packet is
        // handled as new (a SYN is scheduled, anything else goes to the stack).
        let nodest = expire_nodest
            && DESTS
                .get(c.dest)
                .is_none_or(|d| d.flags & dest::AVAILABLE == 0);
        alive && !reusable && !nodest
    });
    if let Some(c) = existing {
        // SAFETY: valid entry pointer for this run.
        let c = unsafe { &mut *c };
        return step_and_forward(ctx, &pkt, c, now, false);
    }
    // An expired entry that the sweeper has not removed yet: release its dest count first
    // (only if we are the one that deletes it).
    if let Some(old) = CONNS.get_ptr(&ckey) {
        let old = unsafe { *old };
        if CONNS.remove(&ckey).is_ok() {
            release(&ckey, &old);
        }
    }
    Err(Reason::Miss)
}

/// The second program, for packets without a connection entry: a NAT reply (found through
/// `CONNS_OUT`), or a packet for a service, which goes on to [`rvs_xdp_new`] if it may start
/// a connection.
fn try_miss(ctx: &XdpContext) -> Result<u32, Reason> {
    let now = unsafe { bpf_ktime_get_ns() };
    let pkt = match parse::parse(ctx) {
        Err(Reason::Icmp) => return Err(Reason::NotService),
        r => r?,
    };
    if let Some(r) = try_reply(ctx, &pkt, now) {
        return r;
    }
    find_service(&pkt).ok_or(Reason::NotService)?;
    let new_conn_pkt = pkt.proto != proto::TCP
        || (pkt.tcp_flags & tcp::flags::SYN != 0 && pkt.tcp_flags & tcp::flags::RST == 0);
    if !new_conn_pkt {
        return Err(Reason::NoConnNotSyn);
    }
    Err(Reason::Schedule)
}

/// The second program: a packet that starts a connection. Schedules it (through a
/// persistence template on persistent services), enters it and forwards the packet.
// Inlined into its entry point: returned out of a subprogram, the `Result` travels through a
// pointer to the caller's stack, which the verifier refuses to see returned.
#[inline(always)]
fn try_new(ctx: &XdpContext) -> Result<u32, Reason> {
    let pkt = parse::parse(ctx)?;
    let svc = find_service(&pkt).ok_or(Reason::NotService)?;
    let now = unsafe { bpf_ktime_get_ns() };
    let is_tcp = pkt.proto == proto::TCP;
    let picked = if svc.flags & svc_flags::PERSISTENT != 0 {
        persistent_pick(svc, &pkt, now)
    } else {
        schedule(svc, &pkt, now)
    };
    let Some(id) = picked else {
        // "leave" (ipvs-semantics.md 2.3): tell the client the port is unreachable.
        note(Reason::NoDest);
        return icmp::port_unreachable(ctx, &pkt);
    };
    let d = DESTS.get(id).ok_or(Reason::NoDest)?;
    if !is_tcp && svc.flags & svc_flags::ONEPACKET != 0 {
        // One-packet scheduling (`-o`): the datagram's connection is freed as soon as it is
        // sent, so nothing goes into the table (ipvs-semantics.md 10.5).
        let bytes = pkt.ip_len as u64;
        count(&SVC_STATS, svc.id, bytes, true);
        count(&DEST_STATS, id, bytes, true);
        count(&TOTAL_STATS, 0, bytes, true);
        let rport = if d.port_be != 0 {
            d.port_be
        } else {
            pkt.dport_be
        };
        return forward(ctx, &pkt, d, id, rport);
    }
    let mut flags = d.fwd as u32 | conn_flags::INACTIVE | conn_flags::EMBRYO;
    if d.fwd as u32 != conn_flags::MASQ {
        flags |= conn_flags::NOOUTPUT;
    }
    // The real server's port: the dest's, or the packet's for a dest without one.
    let rport = if d.port_be != 0 {
        d.port_be
    } else {
        pkt.dport_be
    };
    let v = ConnVal {
        last_ns: now,
        dest: id,
        svc: svc.id,
        timeout: 3,
        flags,
        state: 0,
        _pad: 0,
        dport_be: rport,
        _pad2: [0; 4],
    };
    let ckey = conn_key(&pkt);
    // Another CPU may have entered the same flow since the first program looked (two copies
    // of one SYN): that packet is dropped and the client's retransmission follows the entry.
    // A table full of confirmed entries refuses the connection (dropped, counted).
    match insert_conn(&ckey, &v) {
        0 => {}
        r if r == Reason::TableFull as u32 => return Err(Reason::TableFull),
        _ => return Err(Reason::ConnInsert),
    }
    if d.fwd as u32 == conn_flags::MASQ
        && let Some(s) = scratch()
    {
        // The reply index: the real server's packets find the entry through it.
        out_key(&mut s.okey, &ckey, &d.addr, rport);
        let _ = CONNS_OUT.insert(&s.okey, &ckey, 0);
    }
    if let Some((_, inact)) = dest_conns(id) {
        inact.add(1);
    }
    let (a, i) = conn_counts(id);
    if rvs_common::maps::overload_on_bind(a, i, d.u_threshold) {
        set_overload(id, true);
    }
    let c = CONNS.get_ptr_mut(&ckey).ok_or(Reason::ConnInsert)?;
    // SAFETY: valid entry pointer for this run.
    step_and_forward(ctx, &pkt, unsafe { &mut *c }, now, true)
}

/// `BPF_NOEXIST`.
const BPF_NOEXIST: u64 = 1;
/// `E2BIG`: what a full preallocated hash answers an insert.
const E2BIG: i32 = 7;

/// Enters a new connection or template (`BPF_NOEXIST`). When the table is full, the oldest
/// embryonic entry the ring remembers is evicted for it ([`evict_embryo`]); an embryonic new
/// entry is remembered in the ring. Returns 0, or the [`Reason`] it was refused for:
/// `TableFull` (full of confirmed entries) or `ConnInsert` (the key is there already).
#[inline(never)]
fn insert_conn(key: &ConnKey, v: &ConnVal) -> u32 {
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
fn cursor(i: u32) -> Option<*mut u64> {
    EMBRYO_CURSORS.get_ptr_mut(i)
}

/// Returns the cursor's value and moves it on. Not atomic (BPF cpu v1 has no fetch-and-add):
/// two CPUs may take the same slot, and one of their entries is then not remembered (it waits
/// for its timeout), or both look at the same entry to evict (one removes it; the other goes
/// on to the next slot).
fn bump(p: *mut u64) -> u64 {
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
fn evict_embryo() -> bool {
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
        match EMBRYOS.get(slot) {
            Some(k) => s.ekey = *k,
            None => continue,
        }
        let Some(c) = CONNS.get_ptr(&s.ekey) else {
            continue;
        };
        // SAFETY: a copy of a valid entry.
        let c = unsafe { *c };
        if c.flags & conn_flags::EMBRYO == 0 {
            continue;
        }
        if CONNS.remove(&s.ekey).is_ok() {
            if s.ekey.kind == KIND_TEMPLATE {
                add_persist(c.dest, -1);
            } else {
                let k = s.ekey;
                release(&k, &c);
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
fn template_of(c: &ConnVal, pkt: &parse::Packet) -> Option<*mut ConnVal> {
    let p = PERSIST.get(c.svc)?;
    if p.timeout == 0 {
        return None;
    }
    let s = scratch()?;
    template_key(&mut s.tkey, &pkt.saddr, pkt.af, p);
    CONNS.get_ptr_mut(&s.tkey)
}

/// A connection's first packet after its SYN (or first datagram) confirms it: it is no
/// longer embryonic, and neither is its persistence template.
fn confirm(c: &mut ConnVal, pkt: &parse::Packet) {
    c.flags &= !conn_flags::EMBRYO;
    if let Some(t) = template_of(c, pkt) {
        // SAFETY: valid entry pointer for this run.
        unsafe { (*t).flags &= !conn_flags::EMBRYO };
    }
}

/// A connection reached ESTABLISHED: on a persistent service its template becomes ASSURED
/// (if it is still the template the connection was made through, that is, it names the same
/// dest).
fn assure(c: &ConnVal, pkt: &parse::Packet) {
    if let Some(t) = template_of(c, pkt) {
        // SAFETY: valid entry pointer for this run.
        unsafe {
            if (*t).dest == c.dest {
                (*t).state = TEMPLATE_ASSURED;
            }
        }
    }
}

/// Steps the state machine for a packet of connection `c`, counts it and forwards it.
#[inline(always)]
fn step_and_forward(
    ctx: &XdpContext,
    pkt: &parse::Packet,
    c: &mut ConnVal,
    now: u64,
    new_conn: bool,
) -> Result<u32, Reason> {
    let d = DESTS.get(c.dest).ok_or(Reason::DestGone)?;
    if d.flags & dest::AVAILABLE == 0 {
        // The dest was removed (expire_nodest_conn=0, the kernel's default): drop until the
        // entry times out. (With =1 the entry was expired above.)
        return Err(Reason::DestGone);
    }
    let is_tcp = pkt.proto == proto::TCP;

    // Step the state machine (input direction: DR sees client packets only).
    if is_tcp {
        let state = c.state;
        let dir = if c.flags & conn_flags::NOOUTPUT != 0 {
            Direction::InputOnly
        } else {
            Direction::Input
        };
        let next = tcp::next_state_raw(state, dir, tcp::classify(pkt.tcp_flags), false);
        if next != state {
            move_counts(c, next);
        }
        if next != state && next == State::Established as u8 {
            assure(c, pkt);
        }
        c.state = next;
        c.timeout = timeout_of(next as u32);
    } else {
        c.timeout = timeout_of(TIMEOUT_UDP);
    }
    c.last_ns = now;
    if c.flags & conn_flags::EMBRYO != 0
        && !new_conn
        && (!is_tcp || pkt.tcp_flags & tcp::flags::SYN == 0)
    {
        confirm(c, pkt);
    }

    let bytes = pkt.ip_len as u64;
    count(&SVC_STATS, c.svc, bytes, new_conn);
    count(&DEST_STATS, c.dest, bytes, new_conn);
    count(&TOTAL_STATS, 0, bytes, new_conn);

    forward(ctx, pkt, d, c.dest, c.dport_be)
}

/// The DR rewrite and the transmit: back out of the interface it came in on, or redirected
/// to the dest's.
#[inline(always)]
fn forward(
    ctx: &XdpContext,
    pkt: &parse::Packet,
    d: &DestVal,
    id: u32,
    rport_be: u16,
) -> Result<u32, Reason> {
    if d.flags & dest::MAC_KNOWN == 0 {
        want_neighbour(d);
        return Err(Reason::NoNeighbour);
    }
    if d.fwd as u32 == conn_flags::TUNNEL {
        let t = TUNNELS.get(id).ok_or(Reason::NoDest)?;
        return tun::encap(ctx, pkt, d, t);
    }
    if d.fwd as u32 == conn_flags::MASQ {
        parse::rewrite_nat(ctx, pkt, Nat::In, &d.addr, rport_be, &d.mac, &d.src_mac)
            .map_err(|_| Reason::TtlExceeded)?;
    } else {
        parse::rewrite_dr(ctx, pkt, d).map_err(|_| Reason::TtlExceeded)?;
    }
    transmit(ctx, d.ifindex)
}

/// Sends the rewritten frame out of `ifindex`: back where it came from, or redirected.
fn transmit(ctx: &XdpContext, ifindex: u32) -> Result<u32, Reason> {
    if ifindex != 0 && ifindex != unsafe { (*ctx.ctx).ingress_ifindex } {
        return Ok(unsafe { bpf_redirect(ifindex, 0) } as u32);
    }
    Ok(XDP_TX)
}

/// `struct bpf_fib_lookup`, laid out by hand (64 bytes).
#[repr(C)]
struct FibParams {
    family: u8,
    l4_protocol: u8,
    sport: u16,
    dport: u16,
    tot_len: u16,
    ifindex: u32,
    flowinfo: u32,
    src: [u8; 16],
    dst: [u8; 16],
    vlan: u32,
    smac: [u8; 6],
    dmac: [u8; 6],
}

const BPF_FIB_LKUP_RET_SUCCESS: i64 = 0;
const BPF_FIB_LKUP_RET_NO_NEIGH: i64 = 7;

/// Next hops that had no neighbour entry: user space resolves them.
#[map(name = "RVS_NEED_NEIGH")]
static NEED_NEIGH: LruHashMap<NeighKey, u32> = LruHashMap::with_max_entries(1024, 0);

/// A dest whose MAC is being resolved ([`dest::RESOLVING`]): its address goes to user space,
/// which has the kernel resolve it at once (the packet is dropped; the client retransmits).
pub(crate) fn want_neighbour(d: &DestVal) {
    if let Some(s) = scratch() {
        s.nkey = NeighKey {
            addr: d.addr,
            af: d.af,
            _pad: [0; 3],
        };
        let _ = NEED_NEIGH.insert(&s.nkey, &0, 0);
    }
}

/// The next hop towards `daddr` from the kernel's FIB: `(ifindex, dmac, smac)` in the scratch
/// space's `fib`. Without a neighbour entry the next hop is recorded for user space to resolve
/// and the packet is dropped (the sender retransmits); without a route it goes to the stack.
fn next_hop(ctx: &XdpContext, pkt: &parse::Packet) -> Result<&'static FibParams, Reason> {
    let s = scratch().ok_or(Reason::Malformed)?;
    let f = &mut s.fib;
    f.family = if pkt.af == AF_V4 { 2 } else { 10 };
    f.l4_protocol = pkt.proto;
    f.sport = pkt.sport_be;
    f.dport = pkt.dport_be;
    f.tot_len = pkt.ip_len as u16;
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
        s.nkey = NeighKey {
            addr: f.dst,
            af: pkt.af,
            _pad: [0; 3],
        };
        let _ = NEED_NEIGH.insert(&s.nkey, &f.ifindex, 0);
        return Err(Reason::NoNeighbour);
    }
    Err(Reason::NoRoute)
}

/// A reply of a NAT connection (real server to client), found through `CONNS_OUT`: the state
/// steps in the output direction, OutPkts/OutBytes count it, its source becomes VIP:vport, and
/// it goes to the client's next hop from the FIB. `None` when it is not one.
fn try_reply(ctx: &XdpContext, pkt: &parse::Packet, now: u64) -> Option<Result<u32, Reason>> {
    let s = scratch()?;
    s.okey = OutKey {
        raddr: pkt.saddr,
        caddr: pkt.daddr,
        rport_be: pkt.sport_be,
        cport_be: pkt.dport_be,
        proto: pkt.proto,
        af: pkt.af,
        _pad: [0; 2],
    };
    // SAFETY: read-only copy of the value.
    let ck = unsafe { CONNS_OUT.get(&s.okey) }?;
    s.tkey = *ck;
    let c = CONNS.get_ptr_mut(&s.tkey)?;
    // SAFETY: valid entry pointer for this run.
    let c = unsafe { &mut *c };
    if now.saturating_sub(c.last_ns) > c.timeout as u64 * 1_000_000_000 {
        return None;
    }
    Some(reply(ctx, pkt, c, now))
}

fn reply(ctx: &XdpContext, pkt: &parse::Packet, c: &mut ConnVal, now: u64) -> Result<u32, Reason> {
    let s = scratch().ok_or(Reason::Malformed)?;
    if pkt.proto == proto::TCP {
        let state = c.state;
        let next = tcp::next_state_raw(
            state,
            Direction::Output,
            tcp::classify(pkt.tcp_flags),
            false,
        );
        if next != state {
            move_counts(c, next);
        }
        c.state = next;
        c.timeout = timeout_of(next as u32);
    } else {
        c.timeout = timeout_of(TIMEOUT_UDP);
    }
    c.flags &= !conn_flags::NOOUTPUT;
    c.last_ns = now;
    let vaddr = s.tkey.vaddr;
    let vport = s.tkey.vport_be;
    let hop = next_hop(ctx, pkt)?;
    // Counted once it can be sent: what the client receives.
    let bytes = pkt.ip_len as u64;
    count_out(&SVC_STATS, c.svc, bytes);
    count_out(&DEST_STATS, c.dest, bytes);
    count_out(&TOTAL_STATS, 0, bytes);
    parse::rewrite_nat(ctx, pkt, Nat::Out, &vaddr, vport, &hop.dmac, &hop.smac)
        .map_err(|_| Reason::TtlExceeded)?;
    transmit(ctx, hop.ifindex)
}

fn count_out(stats: &PerCpuArray<Stats>, idx: u32, bytes: u64) {
    if let Some(p) = stats.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot, no other writer on this CPU during the run.
        unsafe {
            (*p).outpkts += 1;
            (*p).outbytes += bytes;
        }
    }
}

/// Moves a connection between ActiveConn and InActConn when its state changes to `next`.
fn move_counts(c: &mut ConnVal, next: u8) {
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
fn release(key: &ConnKey, c: &ConnVal) {
    if c.flags & conn_flags::FWD_MASK == conn_flags::MASQ
        && let Some(d) = DESTS.get(c.dest)
        && let Some(s) = scratch()
    {
        out_key(&mut s.okey, key, &d.addr, c.dport_be);
        let _ = CONNS_OUT.remove(&s.okey);
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

/// A program that passes everything: veth peers of an interface that uses XDP_TX need an XDP
/// program of their own to receive those frames.
#[xdp]
pub fn rvs_pass(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

/// The benchmark baseline: swap the MAC addresses and transmit, nothing else.
#[xdp]
pub fn rvs_min_tx(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 12 > ctx.data_end() {
        return XDP_PASS;
    }
    let p = start as *mut [u8; 6];
    // SAFETY: 12 bytes checked above.
    unsafe {
        let dst = core::ptr::read_unaligned(p);
        let src = core::ptr::read_unaligned(p.add(1));
        core::ptr::write_unaligned(p, src);
        core::ptr::write_unaligned(p.add(1), dst);
    }
    XDP_TX
}

/// The benchmarks' XDP_DROP baseline.
#[xdp]
pub fn rvs_drop(_ctx: XdpContext) -> u32 {
    XDP_DROP
}

/// Benchmark traffic generator settings (`RVS_GEN`): index 0 the number of flows, 1 the TCP
/// flags byte to send.
#[map(name = "RVS_GEN")]
static GEN: Array<u32> = Array::with_max_entries(2, 0);
/// The generator's frame counter (per CPU).
#[map(name = "RVS_GEN_COUNT")]
static GEN_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
/// Frames the benchmark sink counted (per CPU).
#[map(name = "RVS_SINK")]
static SINK: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The benchmarks' traffic generator, run with `BPF_PROG_TEST_RUN` in live-frames mode: each
/// run takes the IPv4/TCP frame it was given (no IP options), gives it the next of `flows`
/// source ports and the configured TCP flags, and transmits it.
#[xdp]
pub fn rvs_gen(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 48 > ctx.data_end() {
        return XDP_DROP;
    }
    let flows = GEN.get(0).copied().unwrap_or(1).max(1) as u64;
    let flags = GEN.get(1).copied().unwrap_or(0x10) as u8;
    let Some(c) = GEN_COUNT.get_ptr_mut(0) else {
        return XDP_DROP;
    };
    // SAFETY: per-CPU slot; 48 bytes checked above.
    unsafe {
        let n = *c;
        *c = n + 1;
        let sport = (1024 + n % flows) as u16;
        core::ptr::write_unaligned((start + 34) as *mut [u8; 2], sport.to_be_bytes());
        *((start + 47) as *mut u8) = flags;
    }
    XDP_TX
}

/// The benchmarks' sink: counts and drops IPv4 and IPv6 frames, passes the rest (ARP).
#[xdp]
pub fn rvs_sink(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 14 > ctx.data_end() {
        return XDP_PASS;
    }
    // SAFETY: 14 bytes checked above.
    let et = unsafe { core::ptr::read_unaligned((start + 12) as *const [u8; 2]) };
    if et != [0x08, 0x00] && et != [0x86, 0xdd] {
        return XDP_PASS;
    }
    if let Some(p) = SINK.get_ptr_mut(0) {
        // SAFETY: per-CPU slot.
        unsafe { *p += 1 };
    }
    XDP_DROP
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
