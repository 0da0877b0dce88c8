// SPDX-License-Identifier: MIT OR GPL-2.0
//! The rvs XDP program: LVS direct routing at the driver.
//!
//! What belongs here: the per-packet work only. Parse ([`parse`]), look the service and the
//! connection up, schedule a new connection over the dests user space wrote (wlc, lc, rr),
//! step the IPVS state machine with the tables of `rvs-common`, count, rewrite the MACs,
//! decrement the TTL and transmit. Everything that is not for a service, or that cannot be
//! parsed, goes to the director's stack untouched (`XDP_PASS`). User space fills the maps and
//! sweeps expired connections; see `rvs-dataplane`.
#![no_std]
#![no_main]
// The BPF target has atomic add (BPF_ATOMIC) but Rust exposes no fetch_add for it.
#![feature(core_intrinsics)]
#![allow(
    internal_features,
    reason = "atomic_xadd is the only way to emit BPF_ATOMIC adds"
)]

mod icmp;
mod parse;

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX};
use aya_ebpf::helpers::{bpf_ktime_get_ns, bpf_redirect};
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray};
use aya_ebpf::programs::XdpContext;
use core::intrinsics::{AtomicOrdering, atomic_xadd};
use rvs_common::maps::{CONFIG_EXPIRE_NODEST_CONN, CONFIG_SLOTS};
use rvs_common::maps::{
    ConnKey, ConnVal, DEST_SLOTS, DestConns, DestVal, MAX_DESTS, SVC_SLOTS, SchedState, Stats,
    SvcKey, SvcVal, TIMEOUT_SLOTS, TIMEOUT_UDP, dest, sched,
};
use rvs_common::tcp::{self, Direction, State};
use rvs_common::{conn_flags, proto};

/// Services by (family, protocol, VIP, port).
#[map(name = "RVS_SERVICES")]
static SERVICES: HashMap<SvcKey, SvcVal> = HashMap::with_max_entries(SVC_SLOTS, 0);
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
/// Connections. Sized by user space at load time (`rvsd --conn-tab-size`).
#[map(name = "RVS_CONNS")]
static CONNS: LruHashMap<ConnKey, ConnVal> = LruHashMap::with_max_entries(1 << 20, 0);
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
/// Why packets were not forwarded, by [`Reason`] (for `rvs status`).
#[map(name = "RVS_REASONS")]
static REASONS: PerCpuArray<u64> = PerCpuArray::with_max_entries(16, 0);

/// Why a packet was passed or dropped; values index `REASONS`.
#[derive(Clone, Copy)]
#[repr(u32)]
enum Reason {
    /// Not IPv4/IPv6, not TCP/UDP, or not for a service.
    NotService = 0,
    /// Truncated or malformed headers.
    Malformed = 1,
    /// A fragment (the stack reassembles; see README).
    Fragment = 2,
    /// A TCP segment that cannot start a connection and has none.
    NoConnNotSyn = 3,
    /// No dest could take the connection.
    NoDest = 4,
    /// The connection's dest was removed (expire_nodest_conn=0: drop).
    DestGone = 5,
    /// TTL/hop limit would reach zero: the stack answers.
    TtlExceeded = 6,
    /// The connection table refused the entry.
    ConnInsert = 7,
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
        Err(reason) => {
            note(reason);
            match reason {
                Reason::NoDest | Reason::DestGone => XDP_DROP,
                _ => XDP_PASS,
            }
        }
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
fn dest_at(svc: &SvcVal, i: usize) -> u32 {
    // SAFETY: reading a local.
    let i = unsafe { core::ptr::read_volatile(&i) } & (MAX_DESTS - 1);
    svc.dests[i]
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

/// Whether a dest may take a new connection: weight, still in its service, MAC known, and
/// not OVERLOAD. (The id is the dest's, for the OVERLOAD map.)
fn usable_id(id: u32, d: &DestVal) -> bool {
    d.weight > 0
        && d.flags & dest::AVAILABLE != 0
        && d.flags & dest::MAC_KNOWN != 0
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

/// Calls `f` for each dest of the service that may take a new connection, in list order
/// (newest first), until `f` returns `true`.
#[inline(always)]
fn each_usable(svc: &SvcVal, mut f: impl FnMut(u32, &DestVal) -> bool) {
    let n = (svc.ndests as usize).min(MAX_DESTS);
    for i in 0..MAX_DESTS {
        if i >= n {
            break;
        }
        let id = dest_at(svc, i);
        let Some(d) = DESTS.get(id) else { continue };
        if usable_id(id, d) && f(id, d) {
            break;
        }
    }
}

/// The least-connection family: the usable dest with the least `cost(id) / weight` (cross
/// multiplied, ties to the first in list order); with `idle_first`, the first dest with no
/// active connection wins at once (nq). wlc: cost = overhead; lc: weight taken as 1;
/// sed and nq: cost = active + 1.
///
/// The state is kept in plain integers: an `Option` of a tuple leaves fields undefined, which
/// the compiler may spill and the verifier refuses to read.
#[inline(always)]
fn least_cost(
    svc: &SvcVal,
    cost: impl Fn(u32) -> u64,
    weighted: bool,
    idle_first: bool,
) -> Option<u32> {
    let mut found = false;
    let mut idle: Option<u32> = None;
    let mut best_id: u32 = 0;
    let mut best_oh: u64 = 0;
    let mut best_w: u64 = 0;
    // Skipping OVERLOAD before the first candidate and weight 0 for it, as the kernel's
    // schedulers do; a later weight-0 dest cannot win the comparison.
    each_usable(svc, |id, d| {
        if idle_first && conn_counts(id).0 == 0 {
            idle = Some(id);
            return true;
        }
        let oh = cost(id);
        let w = if weighted { d.weight as u64 } else { 1 };
        if !found || best_oh * w > oh * best_w {
            found = true;
            best_id = id;
            best_oh = oh;
            best_w = w;
        }
        false
    });
    if idle.is_some() {
        return idle;
    }
    if found { Some(best_id) } else { None }
}

/// rr: the next usable dest after the cursor, wrapping once.
fn round_robin(svc: &SvcVal) -> Option<u32> {
    let st = SCHED.get_ptr_mut(svc.id)?;
    let n = (svc.ndests as usize).min(MAX_DESTS);
    if n == 0 {
        return None;
    }
    // SAFETY: array slot valid for the map's lifetime; races between CPUs only skew the
    // cursor, as the kernel's lock-free read of `sched_data` can.
    let cursor = unsafe { (*st).cursor };
    let start = if cursor < 0 {
        0
    } else {
        (cursor as usize + 1) % n
    };
    for k in 0..MAX_DESTS {
        if k >= n {
            break;
        }
        let i = (start + k) % n;
        let id = dest_at(svc, i);
        if let Some(d) = DESTS.get(id)
            && usable_id(id, d)
        {
            // SAFETY: as above.
            unsafe { (*st).cursor = i as i32 };
            return Some(id);
        }
    }
    None
}

/// Steps of the flattened wrr walk (one dest position, or one end-of-list turn, per step):
/// enough for 64 dests with weights whose ratio to their gcd stays below about 1000. Beyond it
/// the walk gives up (no dest).
const WRR_STEPS: u32 = 65536;

/// The walk's variables. They live in a per-CPU map value rather than on the stack: the
/// verifier then treats them as unknown scalars and the callback verifies in a few passes,
/// where stack variables make it simulate every iteration.
#[repr(C)]
struct WrrWalk {
    svc: SvcVal,
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
        let id = dest_at(&w.svc, w.i as usize);
        if let Some(d) = DESTS.get(id)
            && !overloaded(id)
            && d.flags & dest::AVAILABLE != 0
            && d.flags & dest::MAC_KNOWN != 0
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
    w.svc = *svc;
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

/// fo (the highest weight) and ovf (the highest weight among dests whose active count does
/// not exceed their weight): `ip_vs_fo_schedule`, `ip_vs_ovf_schedule`. Ties go to the first.
fn highest_weight(svc: &SvcVal, overflow: bool) -> Option<u32> {
    let mut best_id: u32 = 0;
    let mut best_w: i32 = 0;
    each_usable(svc, |id, d| {
        if !(overflow && conn_counts(id).0 > d.weight as u64) && d.weight > best_w {
            best_id = id;
            best_w = d.weight;
        }
        false
    });
    if best_w > 0 { Some(best_id) } else { None }
}

fn schedule(svc: &SvcVal) -> Option<u32> {
    match svc.sched {
        sched::SED => least_cost(svc, |id| conn_counts(id).0 + 1, true, false),
        sched::NQ => least_cost(svc, |id| conn_counts(id).0 + 1, true, true),
        sched::FO => highest_weight(svc, false),
        sched::OVF => highest_weight(svc, true),
        sched::WRR => weighted_round_robin(svc),
        sched::WLC => least_cost(svc, overhead, true, false),
        sched::LC => least_cost(svc, overhead, false, false),
        sched::RR => round_robin(svc),
        _ => None,
    }
}

fn timeout_of(state: u32) -> u32 {
    TIMEOUTS.get(state).copied().unwrap_or(60)
}

fn try_rvs(ctx: &XdpContext) -> Result<u32, Reason> {
    let pkt = parse::parse(ctx)?;
    let key = SvcKey {
        addr: pkt.daddr,
        port_be: pkt.dport_be,
        proto: pkt.proto,
        af: pkt.af,
    };
    // SAFETY: read-only use of a value that user space replaces whole.
    let svc = unsafe { SERVICES.get(&key) }.ok_or(Reason::NotService)?;
    let ckey = ConnKey {
        caddr: pkt.saddr,
        vaddr: pkt.daddr,
        cport_be: pkt.sport_be,
        vport_be: pkt.dport_be,
        proto: pkt.proto,
        af: pkt.af,
        _pad: [0; 2],
    };
    let now = unsafe { bpf_ktime_get_ns() };
    let is_tcp = pkt.proto == proto::TCP;
    let mut new_conn = false;

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
    let conn: *mut ConnVal = match existing {
        Some(c) => c,
        None => {
            // An expired entry that the sweeper has not removed yet: release its dest count
            // first (only if we are the one that deletes it).
            if let Some(old) = CONNS.get_ptr(&ckey) {
                let old = unsafe { *old };
                if CONNS.remove(&ckey).is_ok() {
                    release(&old);
                }
            }
            if is_tcp
                && (pkt.tcp_flags & tcp::flags::SYN == 0 || pkt.tcp_flags & tcp::flags::RST != 0)
            {
                return Err(Reason::NoConnNotSyn);
            }
            let Some(id) = schedule(svc) else {
                // "leave" (ipvs-semantics.md 2.3): tell the client the port is unreachable.
                note(Reason::NoDest);
                return icmp::port_unreachable(ctx, &pkt);
            };
            let d = DESTS.get(id).ok_or(Reason::NoDest)?;
            let mut flags = d.fwd as u32 | conn_flags::INACTIVE;
            if d.fwd as u32 != conn_flags::MASQ {
                flags |= conn_flags::NOOUTPUT;
            }
            let v = ConnVal {
                last_ns: now,
                dest: id,
                svc: svc.id,
                timeout: 3,
                flags,
                state: 0,
                _pad: [0; 7],
            };
            CONNS.insert(&ckey, &v, 0).map_err(|_| Reason::ConnInsert)?;
            if let Some((_, inact)) = dest_conns(id) {
                inact.add(1);
            }
            let (a, i) = conn_counts(id);
            if rvs_common::maps::overload_on_bind(a, i, d.u_threshold) {
                set_overload(id, true);
            }
            new_conn = true;
            CONNS.get_ptr_mut(&ckey).ok_or(Reason::ConnInsert)?
        }
    };
    // SAFETY: valid entry pointer for this run.
    let c = unsafe { &mut *conn };
    let d = DESTS.get(c.dest).ok_or(Reason::DestGone)?;
    if d.flags & dest::AVAILABLE == 0 {
        // The dest was removed (expire_nodest_conn=0, the kernel's default): drop until the
        // entry times out. (With =1 the entry was expired above.)
        return Err(Reason::DestGone);
    }

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
        c.state = next;
        c.timeout = timeout_of(next as u32);
    } else {
        c.timeout = timeout_of(TIMEOUT_UDP);
    }
    c.last_ns = now;

    let bytes = pkt.ip_len as u64;
    count(&SVC_STATS, c.svc, bytes, new_conn);
    count(&DEST_STATS, c.dest, bytes, new_conn);
    count(&TOTAL_STATS, 0, bytes, new_conn);

    parse::rewrite_dr(ctx, &pkt, d).map_err(|_| Reason::TtlExceeded)?;
    if d.ifindex != 0 && d.ifindex != unsafe { (*ctx.ctx).ingress_ifindex } {
        return Ok(unsafe { bpf_redirect(d.ifindex, 0) } as u32);
    }
    Ok(XDP_TX)
}

/// Gives back the dest count of a connection entry that is going away, and re-evaluates
/// OVERLOAD as `ip_vs_unbind_dest` does.
fn release(c: &ConnVal) {
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
