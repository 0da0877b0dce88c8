// SPDX-License-Identifier: MIT OR Apache-2.0
//! One connection entry's protocol state: TCP or UDP state, flags and idle timeout, and
//! whether the entry counts in its dest's ActiveConn or InActConn.
//!
//! The packet path keeps these fields in its connection map and steps them with the same
//! tables (`rvs_common::tcp`); this is the readable statement it is tested against.

use rvs_common::conn_flags;
use rvs_common::tcp::{self, Direction, State};

use crate::{FwdMethod, Protocol, Timeouts};

/// Timeout of an entry right after creation, before its first state update.
pub const INITIAL_TIMEOUT: u32 = 3;

/// How a state change moves the entry between the dest's ActiveConn and InActConn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// No move.
    Unchanged,
    /// InActConn → ActiveConn.
    BecameActive,
    /// ActiveConn → InActConn.
    BecameInactive,
}

/// A connection entry's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Protocol.
    pub protocol: Protocol,
    /// TCP state (UDP entries stay `None`, shown as `UDP`).
    pub state: State,
    /// `conn_flags` bits: the forwarding method, NOOUTPUT, INACTIVE.
    pub flags: u32,
    /// Current idle timeout in seconds.
    pub timeout: u32,
}

impl Conn {
    /// `ip_vs_conn_new`: state NONE, 3 s, method and flags from the dest; every new entry is
    /// counted inactive, and every method but NAT starts with NOOUTPUT.
    pub fn new(protocol: Protocol, fwd: FwdMethod) -> Conn {
        let mut flags = fwd.conn_flag() | conn_flags::INACTIVE;
        if fwd != FwdMethod::Masq {
            flags |= conn_flags::NOOUTPUT;
        }
        Conn {
            protocol,
            state: State::None,
            flags,
            timeout: INITIAL_TIMEOUT,
        }
    }

    /// Whether the entry counts in ActiveConn.
    pub fn is_active(&self) -> bool {
        self.flags & conn_flags::INACTIVE == 0
    }

    /// The state name `-Lc` shows.
    pub fn state_name(&self) -> &'static str {
        match self.protocol {
            Protocol::Udp => "UDP",
            _ => self.state.name(),
        }
    }

    /// Steps the entry for one packet (`set_tcp_state` / `udp_state_transition`).
    /// `output` is true for server-to-client packets; `tcp_flags` is byte 13 of the TCP header.
    pub fn step(
        &mut self,
        output: bool,
        tcp_flags: u8,
        timeouts: &Timeouts,
        secure: bool,
    ) -> Activity {
        if self.protocol != Protocol::Tcp {
            self.timeout = timeouts.udp;
            return Activity::Unchanged;
        }
        let dir = if self.flags & conn_flags::NOOUTPUT != 0 {
            if output {
                self.flags &= !conn_flags::NOOUTPUT;
                Direction::Output
            } else {
                Direction::InputOnly
            }
        } else if output {
            Direction::Output
        } else {
            Direction::Input
        };
        let new = tcp::next_state(self.state, dir, tcp::classify(tcp_flags), secure);
        let mut activity = Activity::Unchanged;
        if new != self.state {
            let inactive = self.flags & conn_flags::INACTIVE != 0;
            if !inactive && !new.is_active() {
                self.flags |= conn_flags::INACTIVE;
                activity = Activity::BecameInactive;
            } else if inactive && new.is_active() {
                self.flags &= !conn_flags::INACTIVE;
                activity = Activity::BecameActive;
            }
        }
        self.state = new;
        self.timeout = timeouts.tcp_state(new);
        activity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_common::tcp::flags::{ACK, FIN, RST, SYN};

    /// Spec 8: a DR connection is active from its first SYN and inactive after FIN.
    #[test]
    fn dr_connection_counting() {
        let t = Timeouts::default();
        let mut c = Conn::new(Protocol::Tcp, FwdMethod::Route);
        assert!(!c.is_active());
        assert_eq!(c.timeout, 3);
        assert_eq!(c.step(false, SYN, &t, false), Activity::BecameActive);
        assert_eq!((c.state, c.timeout), (State::SynRecv, 60));
        assert_eq!(c.step(false, ACK, &t, false), Activity::Unchanged);
        assert_eq!((c.state, c.timeout), (State::Established, 900));
        assert_eq!(
            c.step(false, FIN | ACK, &t, false),
            Activity::BecameInactive
        );
        assert_eq!((c.state, c.timeout), (State::FinWait, 120));
    }

    #[test]
    fn output_packet_clears_nooutput_for_good() {
        let t = Timeouts::default();
        let mut c = Conn::new(Protocol::Tcp, FwdMethod::Route);
        c.step(false, SYN, &t, false);
        c.step(true, SYN | ACK, &t, false);
        assert_eq!(c.flags & conn_flags::NOOUTPUT, 0);
        c.step(false, ACK, &t, false);
        // Now the INPUT table: FIN from the client goes to CLOSE_WAIT.
        c.step(false, FIN | ACK, &t, false);
        assert_eq!(c.state, State::CloseWait);
        c.step(false, RST, &t, false);
        assert_eq!((c.state, c.timeout), (State::Close, 10));
    }

    #[test]
    fn udp_is_never_active_and_refreshes() {
        let mut t = Timeouts::default();
        let mut c = Conn::new(Protocol::Udp, FwdMethod::Route);
        assert_eq!(c.step(false, 0, &t, false), Activity::Unchanged);
        assert!(!c.is_active());
        assert_eq!((c.state_name(), c.timeout), ("UDP", 300));
        t.set(0, 0, 20).unwrap();
        c.step(false, 0, &t, false);
        assert_eq!(c.timeout, 20);
    }
}
