// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the kernel's IPVS does with timers, done by one thread: every second expire idle
//! connections (less often once a walk of the table takes more than 40 ms: the sweep stays
//! within 4% of a core, and an entry past its timeout is treated as absent by the packet path
//! until it is removed) and follow the neighbour table; every two seconds bring counters back
//! from the packet path and step the rate estimators (the kernel's fixed-point moving
//! averages, each step weighted 1/4); every minute collect lblc/lblcr entries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::State;

/// The share of one core the sweep may take, averaged over its period.
const SWEEP_SHARE: f64 = 0.04;

/// Starts the housekeeping thread.
pub fn spawn(state: Arc<State>) {
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
            state.follow_neighbours();
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
