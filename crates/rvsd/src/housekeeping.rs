// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the kernel's IPVS does with timers, done by one thread: every second expire idle
//! connections (less often once a walk of the table takes more than 40 ms: the sweep stays
//! within 4% of a core, and an entry past its timeout is treated as absent by the packet path
//! until it is removed); every two seconds bring counters back from the packet path and step
//! the rate estimators (the kernel's fixed-point moving averages, each step weighted 1/4);
//! every minute collect lblc/lblcr entries.
//!
//! A second thread follows the neighbour table ([`follow_neighbours`]): when the kernel
//! announces a link or route change, or a neighbour change that can change a dest's MAC
//! (entries going stale and being confirmed, as they do all the time, start nothing), every
//! second while a dest's MAC address is unknown, and every 30 seconds in any case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::State;

/// The share of one core the sweep may take, averaged over its period.
const SWEEP_SHARE: f64 = 0.04;

/// How often the dests are looked up with no announcement from the kernel.
const NEIGHBOUR_ROUND: Duration = Duration::from_secs(30);
/// At most one round per this long, however many announcements come.
const NEIGHBOUR_GAP: Duration = Duration::from_millis(100);

/// Follows the kernel's neighbour table for the dests (see the module's documentation), and
/// every second asks for the next hops the packet path met without an entry.
fn follow_neighbours(state: Arc<State>) {
    let mut watch = match rvs_dataplane::netlink::Watch::open() {
        Ok(w) => Some(w),
        Err(e) => {
            crate::warn(format_args!(
                "cannot hear neighbour changes over rtnetlink ({e}): looking every second"
            ));
            None
        }
    };
    let mut last_round = Instant::now();
    state.follow_neighbours();
    loop {
        let heard = match &mut watch {
            Some(w) => {
                let events = w.wait(Duration::from_secs(1));
                !events.is_empty() && state.neighbour_events_matter(&events)
            }
            None => {
                std::thread::sleep(Duration::from_secs(1));
                true
            }
        };
        if heard || last_round.elapsed() >= NEIGHBOUR_ROUND || !state.neighbours_settled() {
            let since = last_round.elapsed();
            if since < NEIGHBOUR_GAP {
                std::thread::sleep(NEIGHBOUR_GAP - since);
            }
            last_round = Instant::now();
            state.follow_neighbours();
        } else {
            state.ask_needed_neighbours();
        }
    }
}

/// Starts the housekeeping threads.
pub fn spawn(state: Arc<State>) {
    {
        let state = Arc::clone(&state);
        std::thread::spawn(move || follow_neighbours(state));
    }
    std::thread::spawn(move || {
        // Below the control socket's threads: a walk of a large table must not delay an
        // operator's change.
        // SAFETY: no memory is involved; the thread's own id.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        let mut next_estimate = Instant::now() + Duration::from_secs(2);
        let mut next_collect = Instant::now() + Duration::from_secs(60);
        let mut next_sweep = Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if Instant::now() >= next_sweep {
                // At most SWEEP_SHARE of a core: a walk that took t waits t / SWEEP_SHARE
                // before the next (every second while the table is small).
                let t0 = Instant::now();
                state.sweep();
                let took = t0.elapsed();
                next_sweep = t0 + took.div_f64(SWEEP_SHARE).max(Duration::from_secs(1));
            }
            if Instant::now() >= next_estimate {
                next_estimate += Duration::from_secs(2);
                state.estimate();
            }
            if Instant::now() >= next_collect {
                next_collect += Duration::from_secs(60);
                state.collect_local();
            }
        }
    });
}
