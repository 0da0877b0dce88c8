// SPDX-License-Identifier: MIT OR GPL-2.0
//! The IPVS byte and packet counters (`--stats`): per CPU and per dest only, one lookup per
//! packet. A service counts what its dests count and the total what every dest counts, so
//! user space sums the dests (every dest the service ever had, removed ones included) and the
//! CPUs, and runs the rate estimator.

use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::maps::{DEST_SLOTS, Stats};

/// Counters per dest id.
#[map(name = "RVS_DEST_STATS")]
pub(crate) static DEST_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(DEST_SLOTS, 0);

/// Counts a packet towards a real server (InPkts, InBytes; Conns for a new connection).
pub(crate) fn count(dest: u32, bytes: u64, new_conn: bool) {
    if let Some(p) = DEST_STATS.get_ptr_mut(dest) {
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

/// Counts a reply towards a client (OutPkts, OutBytes).
pub(crate) fn count_out(dest: u32, bytes: u64) {
    if let Some(p) = DEST_STATS.get_ptr_mut(dest) {
        // SAFETY: per-CPU slot, no other writer on this CPU during the run.
        unsafe {
            (*p).outpkts += 1;
            (*p).outbytes += bytes;
        }
    }
}
