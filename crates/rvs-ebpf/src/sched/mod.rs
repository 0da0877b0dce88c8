// SPDX-License-Identifier: MIT OR GPL-2.0
//! The IPVS schedulers: [`schedule`] picks a dest for a new connection of a service with the
//! service's scheduler, each in its family's module, all choosing as the kernel's do (the
//! model's differential tests hold them to it).

mod hash;
mod locality;
mod rr;
mod walk;

use aya_ebpf::macros::map;
use aya_ebpf::maps::Array;
use rvs_common::maps::{SVC_SLOTS, SchedState, SvcVal, sched};

use crate::parse;
use crate::sched::hash::hashed;
use crate::sched::locality::locality;
use crate::sched::rr::{round_robin, weighted_round_robin};
use crate::sched::walk::{highest_weight, least_cost, twos};

/// rr/wrr state per service id.
#[map(name = "RVS_SCHED")]
pub(crate) static SCHED: Array<SchedState> = Array::with_max_entries(SVC_SLOTS, 0);

pub(crate) fn schedule(svc: &SvcVal, pkt: &parse::Packet, now: u64) -> Option<u32> {
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
