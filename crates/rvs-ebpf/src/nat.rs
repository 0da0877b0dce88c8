// SPDX-License-Identifier: MIT OR GPL-2.0
//! NAT (masquerading, as `ip_vs_nat_xmit` does it): the rewrite of an address and port with
//! every checksum updated incrementally, and the replies (real server to client): found
//! through the reply index, stepped in the output direction, counted, rewritten to come from
//! VIP:vport, and sent to the client's next hop.

use aya_ebpf::programs::XdpContext;
use rvs_common::maps::{AF_V4, ConnVal, OutKey, TIMEOUT_UDP};
use rvs_common::tcp::Direction;
use rvs_common::{conn_flags, proto, tcp};

use crate::conn::{CONNS, CONNS_OUT, move_counts, timeout_of};
use crate::frame::{ETH_LEN, csum_update, ptr_at};
use crate::parse::{self, Packet};
use crate::reason::Reason;
use crate::scratch::scratch;
use crate::stats::count_out;
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
    // SAFETY: the scratch space's rule (`scratch`): `okey` and `tkey` are written here, and
    // the lookups that borrow them write nothing there. The reply index's value is copied.
    let c = unsafe {
        (*s).okey = OutKey {
            raddr: pkt.saddr,
            caddr: pkt.daddr,
            rport_be: pkt.sport_be,
            cport_be: pkt.dport_be,
            proto: pkt.proto,
            af: pkt.af,
            _pad: [0; 2],
        };
        (*s).tkey = *CONNS_OUT.get(&(*s).okey)?;
        CONNS.get_ptr_mut(&(*s).tkey)?
    };
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
    // SAFETY: the scratch space's rule: a read of `tkey`, which `try_reply` wrote.
    let (vaddr, vport) = unsafe { ((*s).tkey.vaddr, (*s).tkey.vport_be) };
    let hop = next_hop(ctx, pkt)?;
    // Counted once it can be sent: what the client receives.
    let bytes = pkt.ip_len as u64;
    count_out(c.dest, bytes);
    rewrite_nat(ctx, pkt, Nat::Out, &vaddr, vport, &hop.dmac, &hop.smac)?;
    transmit(ctx, hop.ifindex)
}

/// Which address and port NAT replaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nat {
    /// Client to real server: the destination (VIP:vport → RIP:rport).
    In,
    /// Real server to client: the source (RIP:rport → VIP:vport).
    Out,
}

/// Rewrites the frame for NAT (`ip_vs_nat_xmit`, and the reply's source as IPVS rewrites it):
/// the destination (`Nat::In`) or source (`Nat::Out`) address and port become `addr:port_be`,
/// the IPv4 header checksum and the TCP/UDP checksum are updated incrementally (an IPv4 UDP
/// datagram without a checksum keeps none), the TTL or hop limit goes down by one, and the
/// MACs are set. `Err` when the TTL would reach zero or the headers are not where the parser
/// found them.
#[inline(always)]
pub(crate) fn rewrite_nat(
    ctx: &XdpContext,
    p: &Packet,
    dir: Nat,
    addr: &[u8; 16],
    port_be: u16,
    mac: &[u8; 6],
    src_mac: &[u8; 6],
) -> Result<(), Reason> {
    let l4 = (p.l4 as usize) & 0x1fff;
    let csum_off = if p.proto == proto::TCP {
        l4 + 16
    } else {
        l4 + 6
    };
    let port_off = if dir == Nat::In { l4 + 2 } else { l4 };
    let csum = ptr_at::<[u8; 2]>(ctx, csum_off)?;
    let port = ptr_at::<[u8; 2]>(ctx, port_off)?;
    // SAFETY: bounds checked by `ptr_at`; the frame is not aliased during the run.
    unsafe {
        let old_port = *port;
        let new_port = port_be.to_ne_bytes();
        let mut c = u16::from_be_bytes(*csum);
        let keep_zero = p.af == AF_V4 && p.proto == proto::UDP && c == 0;
        if p.af == AF_V4 {
            let a_off = if dir == Nat::In {
                ETH_LEN + 16
            } else {
                ETH_LEN + 12
            };
            let a = ptr_at::<[u8; 4]>(ctx, a_off)?;
            let ttl = ptr_at::<u8>(ctx, ETH_LEN + 8)?;
            let ipc = ptr_at::<[u8; 2]>(ctx, ETH_LEN + 10)?;
            if *ttl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            let old = *a;
            let new = [addr[0], addr[1], addr[2], addr[3]];
            // The IP header: the address, and the TTL (high byte of its word).
            let mut h = csum_update(u16::from_be_bytes(*ipc), &old, &new);
            h = csum_update(h, &[*ttl, 0], &[*ttl - 1, 0]);
            *ttl -= 1;
            *ipc = h.to_be_bytes();
            core::ptr::write_unaligned(a, new);
            c = csum_update(c, &old, &new);
        } else {
            let a_off = if dir == Nat::In {
                ETH_LEN + 24
            } else {
                ETH_LEN + 8
            };
            let a = ptr_at::<[u8; 16]>(ctx, a_off)?;
            let hl = ptr_at::<u8>(ctx, ETH_LEN + 7)?;
            if *hl <= 1 {
                return Err(Reason::TtlExceeded);
            }
            *hl -= 1;
            let old = core::ptr::read_unaligned(a);
            core::ptr::write_unaligned(a, *addr);
            c = csum_update(c, &old, addr);
        }
        c = csum_update(c, &old_port, &new_port);
        if !keep_zero {
            // UDP sends a computed zero as all ones (zero means "no checksum").
            if c == 0 && p.proto == proto::UDP {
                c = 0xffff;
            }
            *csum = c.to_be_bytes();
        }
        *port = new_port;
    }
    let dst = ptr_at::<[u8; 6]>(ctx, 0)?;
    let src = ptr_at::<[u8; 6]>(ctx, 6)?;
    // SAFETY: bounds checked.
    unsafe {
        core::ptr::write_unaligned(dst, *mac);
        core::ptr::write_unaligned(src, *src_mac);
    }
    Ok(())
}
