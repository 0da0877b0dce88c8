// SPDX-License-Identifier: MIT OR GPL-2.0
//! The IPVS byte and packet counters (`--stats`), per CPU, by service, by dest and in total;
//! user space sums the CPUs and runs the rate estimator.

use aya_ebpf::macros::map;
use aya_ebpf::maps::PerCpuArray;
use rvs_common::maps::{DEST_SLOTS, SVC_SLOTS, Stats};

/// Counters per service id.
#[map(name = "RVS_SVC_STATS")]
pub(crate) static SVC_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(SVC_SLOTS, 0);

/// Counters per dest id.
#[map(name = "RVS_DEST_STATS")]
pub(crate) static DEST_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(DEST_SLOTS, 0);

/// Counters of everything (index 0).
#[map(name = "RVS_TOTAL_STATS")]
pub(crate) static TOTAL_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(1, 0);

pub(crate) fn count(stats: &PerCpuArray<Stats>, idx: u32, bytes: u64, new_conn: bool) {
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

pub(crate) fn count_out(stats: &PerCpuArray<Stats>, idx: u32, bytes: u64) {
    if let Some(p) = stats.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot, no other writer on this CPU during the run.
        unsafe {
            (*p).outpkts += 1;
            (*p).outbytes += bytes;
        }
    }
}
