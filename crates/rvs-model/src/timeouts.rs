// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-state idle timeouts: the kernel's defaults, and the three that `--set` changes (TCP
//! ESTABLISHED, TCP FIN_WAIT and UDP).

use rvs_common::tcp::State;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The kernel tick rate used for the `--set` range check (`INT_MAX / HZ`). Debian kernels run
/// at 250 Hz; the bound only matters for requests that bypass rvsadm's own 31-day limit.
pub const HZ: u32 = 250;

/// The three timeouts `--set` changes, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// TCP ESTABLISHED.
    pub tcp: u32,
    /// TCP FIN_WAIT (only that state, despite the name).
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: State::Established.default_timeout(),
            tcp_fin: State::FinWait.default_timeout(),
            udp: 300,
        }
    }
}

impl Timeouts {
    /// `--set tcp tcpfin udp`: 0 leaves a value unchanged; too large a value is EINVAL and
    /// nothing changes.
    pub fn set(&mut self, tcp: u32, tcp_fin: u32, udp: u32) -> Result<(), Error> {
        let max = i32::MAX as u32 / HZ;
        if tcp > max || tcp_fin > max || udp > max {
            return Err(Error::TimeoutRange);
        }
        for (slot, v) in [
            (&mut self.tcp, tcp),
            (&mut self.tcp_fin, tcp_fin),
            (&mut self.udp, udp),
        ] {
            if v != 0 {
                *slot = v;
            }
        }
        Ok(())
    }

    /// The idle timeout of a TCP entry in `state`.
    pub fn tcp_state(&self, state: State) -> u32 {
        match state {
            State::Established => self.tcp,
            State::FinWait => self.tcp_fin,
            s => s.default_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_unchanged() {
        let mut t = Timeouts::default();
        assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 120, 300));
        t.set(0, 30, 0).unwrap();
        assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 30, 300));
        assert_eq!(t.tcp_state(State::FinWait), 30);
        assert_eq!(t.tcp_state(State::TimeWait), 120);
    }

    #[test]
    fn out_of_range_changes_nothing() {
        let mut t = Timeouts::default();
        assert_eq!(t.set(1, 2, u32::MAX), Err(Error::TimeoutRange));
        assert_eq!(t, Timeouts::default());
    }
}
