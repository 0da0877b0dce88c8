// SPDX-License-Identifier: MIT OR GPL-2.0
//! NAT replies (real server to client): found through the reply index, stepped in the output
//! direction, counted, rewritten to come from VIP:vport, and sent to the client's next hop.

use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{ConnVal, OutKey, TIMEOUT_UDP};
use rvs_common::tcp::Direction;
use rvs_common::{conn_flags, proto, tcp};

use crate::conn::{CONNS, CONNS_OUT, move_counts, timeout_of};
use crate::parse;
use crate::parse::Nat;
use crate::reason::Reason;
use crate::scratch::scratch;
use crate::stats::{DEST_STATS, SVC_STATS, TOTAL_STATS, count_out};
use crate::xmit::{next_hop, transmit};

/// A reply of a NAT connection (real server to client), found through `CONNS_OUT`: the state
/// steps in the output direction, OutPkts/OutBytes count it, its source becomes VIP:vport, and
/// it goes to the client's next hop from the FIB. `None` when it is not one.
pub(crate) fn try_reply(
    ctx: &XdpContext,
    pkt: &parse::Packet,
    now: u64,
) -> Option<Result<u32, Reason>> {
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

pub(crate) fn reply(
    ctx: &XdpContext,
    pkt: &parse::Packet,
    c: &mut ConnVal,
    now: u64,
) -> Result<u32, Reason> {
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
