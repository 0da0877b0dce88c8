// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the kernel's IPVS does with timers, done by one thread: every second expire idle
//! connections and follow the neighbour table; every two seconds bring counters back from the
//! packet path and step the rate estimators (ipvs-semantics.md 12.2); every minute collect
//! lblc/lblcr entries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state::State;

/// Starts the housekeeping thread.
pub fn spawn(state: Arc<State>) {
    std::thread::spawn(move || {
        let mut next_estimate = Instant::now() + Duration::from_secs(2);
        let mut next_collect = Instant::now() + Duration::from_secs(60);
        loop {
            std::thread::sleep(Duration::from_secs(1));
            state.sweep();
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
