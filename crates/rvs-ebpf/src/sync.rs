// SPDX-License-Identifier: MIT OR GPL-2.0
//! The sync master's trigger: after a packet steps a connection, the connection is put in the
//! `SYNC_EVENTS` ring buffer when the kernel's rules say it is due
//! (`rvs_common::maps::sync_needed`); rvsd turns the records into IPVS sync messages. Nothing
//! happens unless rvsd runs a sync master (`CONFIG_SYNC_MASTER`).

use aya_ebpf::macros::map;
use aya_ebpf::maps::RingBuf;
use rvs_common::maps::{
    CONFIG_SYNC_MASTER, CONFIG_SYNC_PERIOD, CONFIG_SYNC_THRESHOLD, ConnVal, KIND_CONN, SyncEvent,
    sync_needed,
};
use rvs_common::proto;

use crate::parse;
use crate::service::CONFIG;

/// Connections due to be sent (records of `SyncEvent`; 1 MiB, about 14,000 records).
#[map(name = "RVS_SYNC_EVENTS")]
pub(crate) static SYNC_EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// Counts the packet on `c` (whose state was `old_state` before it) and reports `c` if it
/// is due. A full ring buffer loses the record: the connection goes at its next trigger.
#[inline(always)]
pub(crate) fn count_and_report(pkt: &parse::Packet, c: &mut ConnVal, old_state: u8) {
    c.in_pkts = c.in_pkts.wrapping_add(1);
    if CONFIG.get(CONFIG_SYNC_MASTER).copied().unwrap_or(0) == 0 {
        return;
    }
    let threshold = CONFIG.get(CONFIG_SYNC_THRESHOLD).copied().unwrap_or(3);
    let period = CONFIG.get(CONFIG_SYNC_PERIOD).copied().unwrap_or(50);
    let tcp = pkt.proto == proto::TCP;
    if !sync_needed(
        tcp, c.flags, old_state, c.state, c.in_pkts, threshold, period,
    ) {
        return;
    }
    if let Some(mut e) = SYNC_EVENTS.reserve::<SyncEvent>(0) {
        // Written field by field in place: a whole record built first would not fit the
        // stack beside the callers' frames.
        let p = e.as_mut_ptr();
        // SAFETY: `p` points to the reserved record, valid until submitted.
        unsafe {
            (*p).key.caddr = pkt.saddr;
            (*p).key.vaddr = pkt.daddr;
            (*p).key.cport_be = pkt.sport_be;
            (*p).key.vport_be = pkt.dport_be;
            (*p).key.proto = pkt.proto;
            (*p).key.af = pkt.af;
            (*p).key.kind = KIND_CONN;
            (*p).key._pad = 0;
            core::ptr::copy_nonoverlapping(c as *const ConnVal, &mut (*p).val, 1);
        }
        e.submit(0);
    }
}
