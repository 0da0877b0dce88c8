// SPDX-License-Identifier: MIT OR GPL-2.0
//! The rvs XDP program: the LVS director at the driver (direct routing, NAT, tunnels).
//!
//! What belongs here: the per-packet work only; user space fills the maps and sweeps expired
//! connections (see `rvs-dataplane`). Four programs joined by tail calls keep each within the
//! verifier's limits, and this file holds them and the path a packet takes through them:
//! `rvs_xdp` (known connections), `rvs_xdp_miss` (NAT replies, packets for a service),
//! `rvs_xdp_new` (new connections), `rvs_xdp_icmp`. Everything that is not for a service, or
//! that cannot be parsed, goes to the director's stack untouched (`XDP_PASS`).
//!
//! The stages, each a module owning the maps it uses:
//! - [`frame`]: bounds-checked access to the frame, checksums; [`parse`]: its headers;
//!   [`carry`]: what one program parsed and found, handed to the next in the frame's metadata;
//! - [`service`]: the packet's service (fwmark rules, address, port 0);
//! - [`conn`]: the connection table, its reply index and timeouts, eviction of embryonic
//!   entries; [`persist`]: persistence templates;
//! - [`sched`]: every IPVS scheduler, by family; [`dests`]: the dests and their counters;
//! - the forwarding methods: [`dr`] (MACs, TTL), [`nat`] (addresses, ports, checksums; the
//!   replies), [`tun`] (encapsulation); [`icmp`], [`icmp_err`]: ICMP errors made and
//!   translated;
//! - [`xmit`]: transmit and next hops; [`stats`]: the IPVS counters (per dest); [`reason`]: why a packet
//!   was not forwarded; [`scratch`]: per-CPU space off the stack; [`sync`]: connections due
//!   to be sent to the sync backups;
//! - [`bench`]: programs that are not the director (veth's XDP_PASS, benchmark baselines).
#![no_std]
#![no_main]
// The BPF target has atomic add (BPF_ATOMIC) but Rust exposes no fetch_add for it.
#![feature(core_intrinsics)]
#![allow(
    internal_features,
    reason = "atomic_xadd is the only way to emit BPF_ATOMIC adds"
)]
// Keys are built in the per-CPU scratch space and passed by reference, so that the helper
// reads them there: passed by value (what this lint suggests) they would be copied onto the
// 512-byte stack.
#![allow(
    clippy::needless_borrows_for_generic_args,
    reason = "map keys stay in the scratch space, off the stack"
)]

mod bench;
mod carry;
mod conn;
mod dests;
mod dr;
mod frame;
mod icmp;
mod icmp_err;
mod nat;
mod parse;
mod persist;
mod reason;
mod sched;
mod scratch;
mod service;
mod stats;
mod sync;
mod tun;
mod xmit;

use aya_ebpf::helpers::bpf_ktime_get_ns;
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::ProgramArray;
use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{
    CONFIG_EXPIRE_NODEST_CONN, ConnVal, DestVal, SvcVal, TIMEOUT_UDP, dest, jump, out_key,
};
use rvs_common::tcp::{Direction, State};
use rvs_common::{conn_flags, proto, svc_flags, tcp};

use crate::conn::{
    CONNS, CONNS_OUT, assure, confirm, conn_key, insert_conn, move_counts, release, timeout_of,
};
use crate::dests::{DESTS, conn_counts, dest_conns, set_overload};
use crate::nat::{Nat, rewrite_nat, try_reply};
use crate::persist::persistent_pick;
use crate::reason::{Reason, note, verdict};
use crate::sched::schedule;
use crate::scratch::scratch;
use crate::service::{CONFIG, find_service};
use crate::stats::count;
use crate::tun::TUNNELS;
use crate::xmit::{transmit, want_neighbour};

/// The programs the first ones hand packets to, at the `rvs_common::maps::jump` slots.
#[map(name = "RVS_JUMP")]
static JUMP: ProgramArray = ProgramArray::with_max_entries(jump::SLOTS, 0);

/// The monotonic clock the connection timestamps use (`bpf_ktime_get_ns`).
#[inline(always)]
fn now_ns() -> u64 {
    // SAFETY: a helper without preconditions.
    unsafe { bpf_ktime_get_ns() }
}

/// Besides an XDP action, `try_rvs` and `try_miss` may answer "go on in the program at this
/// slot of `JUMP`" ([`go_on`]): a value above every action.
const GO_ON: u32 = 0x100;

/// The answer that hands the packet to the program at `slot` of `JUMP`.
#[inline(always)]
const fn go_on(slot: u32) -> u32 {
    GO_ON | slot
}

/// An entry point's last step: the action decided, the program the packet goes on in, or
/// the verdict for why it is not forwarded. A tail call that fails (no program at the slot:
/// user space has not put it there) is handled alike in every program: the packet gets the
/// verdict of `fallback`.
#[inline(always)]
fn finish(ctx: &XdpContext, decided: Result<u32, Reason>, fallback: Reason) -> u32 {
    match decided {
        Ok(a) if a & GO_ON != 0 => {
            // SAFETY: a tail call to a program user space put in `JUMP`; it returns only if
            // there is none.
            unsafe { JUMP.tail_call(ctx, a & !GO_ON) };
            carry::discard(ctx);
            verdict(fallback)
        }
        Ok(action) => action,
        Err(reason) => verdict(reason),
    }
}

/// The entry point: every outcome is decided in `try_rvs`. Packets without a connection
/// entry go on in [`rvs_xdp_miss`], ICMP in [`rvs_xdp_icmp`]; if those are missing, to the
/// stack.
#[xdp]
pub fn rvs_xdp(ctx: XdpContext) -> u32 {
    finish(&ctx, try_rvs(&ctx), Reason::NotService)
}

/// The fourth program, reached from [`rvs_xdp`] by a tail call: ICMP(v6), which may be an
/// error about a balanced connection (`icmp_err`).
#[xdp]
pub fn rvs_xdp_icmp(ctx: XdpContext) -> u32 {
    let now = now_ns();
    icmp_err::handle(&ctx, now)
}

/// The second program, reached from [`rvs_xdp`] by a tail call: no connection entry. A
/// packet that may start a connection goes on in [`rvs_xdp_new`]; if that is missing, it is
/// dropped as when no dest can take it.
#[xdp]
pub fn rvs_xdp_miss(ctx: XdpContext) -> u32 {
    finish(&ctx, try_miss(&ctx), Reason::NoDest)
}

/// The third program, reached from [`rvs_xdp_miss`] by a tail call: new connections.
#[xdp]
pub fn rvs_xdp_new(ctx: XdpContext) -> u32 {
    match try_new(&ctx) {
        Ok(action) => action,
        Err(reason) => verdict(reason),
    }
}

/// The first program: packets of known connections. Any other goes on in [`rvs_xdp_miss`]
/// (and from there, if it may start a connection for a service, in [`rvs_xdp_new`]), so that
/// no program is too large for the verifier; ICMP goes on in [`rvs_xdp_icmp`].
fn try_rvs(ctx: &XdpContext) -> Result<u32, Reason> {
    let pkt = match parse::parse(ctx) {
        Err(Reason::Icmp) => return Ok(go_on(jump::ICMP)),
        r => r?,
    };
    let ckey = conn_key(&pkt);
    let now = now_ns();
    let is_tcp = pkt.proto == proto::TCP;
    let new_conn_pkt =
        !is_tcp || (pkt.tcp_flags & tcp::flags::SYN != 0 && pkt.tcp_flags & tcp::flags::RST == 0);
    // One lookup: an entry that is there but may not be used (below) is removed here.
    if let Some(p) = CONNS.get_ptr_mut(&ckey) {
        // SAFETY: the entry pointer is valid during the run.
        let c = unsafe { &mut *p };
        let alive = now.saturating_sub(c.last_ns) <= c.timeout as u64 * 1_000_000_000;
        // conn_reuse_mode=1 (the kernel's default): a new SYN that meets an entry in
        // TIME_WAIT or CLOSE is scheduled afresh instead of reusing the old dest.
        let reusable = is_tcp
            && new_conn_pkt
            && (c.state == State::TimeWait as u8 || c.state == State::Close as u8);
        // expire_nodest_conn=1: an entry whose dest was removed expires now and the packet is
        // handled as new (a SYN is scheduled, anything else goes to the stack).
        let nodest = alive
            && !reusable
            && CONFIG.get(CONFIG_EXPIRE_NODEST_CONN).copied().unwrap_or(0) != 0
            && DESTS
                .get(c.dest)
                .is_none_or(|d| d.flags & dest::AVAILABLE == 0);
        if alive && !reusable && !nodest {
            return step_and_forward(ctx, &pkt, c, now);
        }
        // An expired entry that the sweeper has not removed yet: release its dest count
        // first (only if we are the one that deletes it).
        let old = *c;
        if CONNS.remove(&ckey).is_ok() {
            release(&ckey, &old);
        }
    }
    carry::put(ctx, &pkt, None);
    Ok(go_on(jump::MISS))
}

/// The second program, for packets without a connection entry: a NAT reply (found through
/// `CONNS_OUT`), or a packet for a service, which goes on to [`rvs_xdp_new`] if it may start
/// a connection.
fn try_miss(ctx: &XdpContext) -> Result<u32, Reason> {
    let now = now_ns();
    let pkt = match carry::take(ctx) {
        Some((pkt, _)) => pkt,
        None => match parse::parse(ctx) {
            Err(Reason::Icmp) => return Err(Reason::NotService),
            r => r?,
        },
    };
    let new_conn_pkt = pkt.proto != proto::TCP
        || (pkt.tcp_flags & tcp::flags::SYN != 0 && pkt.tcp_flags & tcp::flags::RST == 0);
    // A client's SYN (no ACK) for a service is no NAT reply: a real server's replies carry an
    // ACK. It skips the reply index, a lookup in a table as large as the connection table.
    // Any other packet tries the reply index first: a reply then needs no service lookup.
    let syn_only = pkt.proto == proto::TCP && new_conn_pkt && pkt.tcp_flags & tcp::flags::ACK == 0;
    let svc = if syn_only { find_service(&pkt) } else { None };
    if !(syn_only && svc.is_some())
        && let Some(r) = try_reply(ctx, &pkt, now)
    {
        return r;
    }
    let svc = if syn_only { svc } else { find_service(&pkt) };
    let svc = svc.ok_or(Reason::NotService)?;
    if !new_conn_pkt {
        return Err(Reason::NoConnNotSyn);
    }
    carry::put(ctx, &pkt, Some(svc));
    Ok(go_on(jump::NEW))
}

/// The third program ([`rvs_xdp_new`]): a packet that starts a connection. Schedules it
/// (through a persistence template on persistent services), enters it and forwards the packet.
// Inlined into its entry point: returned out of a subprogram, the `Result` travels through a
// pointer to the caller's stack, which the verifier refuses to see returned.
#[inline(always)]
fn try_new(ctx: &XdpContext) -> Result<u32, Reason> {
    let s = scratch().ok_or(Reason::Malformed)?;
    // The packet and its service from the second program, or found again. Either way they go
    // to the scratch space and are read back from there: one way on for the verifier, instead
    // of one per source, which would double its work past its limit.
    // SAFETY: the scratch space's rule (`scratch`): `pkt` and `svc` are written here, then
    // only read for the rest of the run.
    let (pkt, svc): (&parse::Packet, &SvcVal) = unsafe {
        match carry::take(ctx) {
            Some((p, carried)) => {
                (*s).pkt = p;
                if carried.is_none() {
                    (*s).svc = *find_service(&(*s).pkt).ok_or(Reason::NotService)?;
                }
            }
            None => {
                (*s).pkt = parse::parse(ctx)?;
                (*s).svc = *find_service(&(*s).pkt).ok_or(Reason::NotService)?;
            }
        }
        // Read from memory from here on, not from the registers either way left them in.
        (
            core::hint::black_box(&(*s).pkt),
            core::hint::black_box(&(*s).svc),
        )
    };
    let now = now_ns();
    let is_tcp = pkt.proto == proto::TCP;
    let picked = if svc.flags & svc_flags::PERSISTENT != 0 {
        persistent_pick(svc, pkt, now)
    } else {
        schedule(svc, pkt, now)
    };
    let Some(id) = picked else {
        // No dest: IPVS "leaves" the packet and tells the client the port is unreachable.
        note(Reason::NoDest);
        return icmp::port_unreachable(ctx, pkt);
    };
    let d = DESTS.get(id).ok_or(Reason::NoDest)?;
    if !is_tcp && svc.flags & svc_flags::ONEPACKET != 0 {
        // One-packet scheduling (`-o`): the datagram's connection is freed as soon as it is
        // sent, so nothing goes into the table (`IP_VS_CONN_F_ONE_PACKET`).
        let bytes = pkt.ip_len as u64;
        count(id, bytes, true);
        let rport = if d.port_be != 0 {
            d.port_be
        } else {
            pkt.dport_be
        };
        return forward(ctx, pkt, d, id, rport);
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
    if d.flags & dest::AVAILABLE == 0 {
        return Err(Reason::DestGone);
    }
    let mut v = ConnVal {
        last_ns: now,
        dest: id,
        svc: svc.id,
        timeout: 3,
        flags,
        state: 0,
        _pad: 0,
        dport_be: rport,
        in_pkts: 0,
    };
    // The entry goes in as this packet leaves it: stepped here, so that no lookup is needed
    // after the insert.
    step(pkt, &mut v, now, true);
    let ckey = conn_key(pkt);
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
        // SAFETY: the scratch space's rule (`scratch`): `okey` is written, then borrowed for
        // the insert alone.
        unsafe {
            out_key(&mut (*s).okey, &ckey, &d.addr, rport);
            let _ = CONNS_OUT.insert(&(*s).okey, &ckey, 0);
        }
    }
    // Bound to its dest: counted where its state puts it (SYN_RECV is active).
    if let Some((act, inact)) = dest_conns(id) {
        if v.flags & conn_flags::INACTIVE != 0 {
            inact.add(1);
        } else {
            act.add(1);
        }
    }
    // Without an upper threshold there is no OVERLOAD to set: the counts are not read.
    if d.u_threshold != 0 {
        let (a, i) = conn_counts(id);
        if rvs_common::maps::overload_on_bind(a, i, d.u_threshold) {
            set_overload(id, true);
        }
    }
    count(id, pkt.ip_len as u64, true);
    forward(ctx, pkt, d, id, rport)
}

/// Steps the state machine for a packet of connection `c` (input direction: DR sees client
/// packets only), reports it to the sync master if due, and confirms an embryonic entry. A
/// new entry (`new_conn`, not in the table yet) only gets its INACTIVE flag: its dest counts
/// it once it is entered.
#[inline(always)]
fn step(pkt: &parse::Packet, c: &mut ConnVal, now: u64, new_conn: bool) {
    let is_tcp = pkt.proto == proto::TCP;
    let old_state = c.state;
    if is_tcp {
        let state = c.state;
        let dir = if c.flags & conn_flags::NOOUTPUT != 0 {
            Direction::InputOnly
        } else {
            Direction::Input
        };
        let next = tcp::next_state_raw(state, dir, tcp::classify(pkt.tcp_flags), false);
        if new_conn {
            // SAFETY: reading a local; volatile so the range check is not folded away.
            if tcp::is_active_raw(unsafe { core::ptr::read_volatile(&next) }) {
                c.flags &= !conn_flags::INACTIVE;
            } else {
                c.flags |= conn_flags::INACTIVE;
            }
        } else if next != state {
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
    sync::count_and_report(pkt, c, old_state);
    if c.flags & conn_flags::EMBRYO != 0
        && !new_conn
        && (!is_tcp || pkt.tcp_flags & tcp::flags::SYN == 0)
    {
        confirm(c, pkt);
    }
}

/// Steps the state machine for a packet of a known connection `c`, counts it and forwards it.
#[inline(always)]
fn step_and_forward(
    ctx: &XdpContext,
    pkt: &parse::Packet,
    c: &mut ConnVal,
    now: u64,
) -> Result<u32, Reason> {
    let d = DESTS.get(c.dest).ok_or(Reason::DestGone)?;
    if d.flags & dest::AVAILABLE == 0 {
        // The dest was removed (expire_nodest_conn=0, the kernel's default): drop until the
        // entry times out. (With =1 the entry was expired above.)
        return Err(Reason::DestGone);
    }
    step(pkt, c, now, false);
    count(c.dest, pkt.ip_len as u64, false);
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
        rewrite_nat(ctx, pkt, Nat::In, &d.addr, rport_be, &d.mac, &d.src_mac)?;
    } else {
        dr::rewrite_dr(ctx, pkt, d)?;
    }
    transmit(ctx, d.ifindex)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
