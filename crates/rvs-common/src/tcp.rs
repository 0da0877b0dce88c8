// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS TCP state machine as data.
//!
//! IPVS keeps a coarse per-connection TCP state only to choose a timeout and to count the
//! connection as active or inactive; it never checks sequence numbers. The tables below are
//! the normal-mode tables of `net/netfilter/ipvs/ip_vs_proto_tcp.c` (`tcp_states`) and the
//! `secure_tcp` ones (`tcp_states_dos`); both the eBPF program and `rvs-model` step
//! connections with [`next_state`], so they cannot disagree.

/// A TCP connection state index, as stored in connection entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum State {
    /// `NONE`: just created.
    None = 0,
    /// `ESTABLISHED`.
    Established = 1,
    /// `SYN_SENT`.
    SynSent = 2,
    /// `SYN_RECV`.
    SynRecv = 3,
    /// `FIN_WAIT`.
    FinWait = 4,
    /// `TIME_WAIT`.
    TimeWait = 5,
    /// `CLOSE`.
    Close = 6,
    /// `CLOSE_WAIT`.
    CloseWait = 7,
    /// `LAST_ACK`.
    LastAck = 8,
    /// `LISTEN`.
    Listen = 9,
    /// `SYNACK`.
    Synack = 10,
}

/// Number of TCP states.
pub const STATE_COUNT: usize = 11;

impl State {
    /// Every state, in index order.
    pub const ALL: [State; STATE_COUNT] = [
        State::None,
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::Synack,
    ];

    /// Decodes a state byte read from a map; `None` for an out-of-range value.
    pub const fn from_u8(v: u8) -> Option<State> {
        if (v as usize) < STATE_COUNT {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// The name `ipvsadm -Lc` prints.
    pub const fn name(self) -> &'static str {
        match self {
            State::None => "NONE",
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait => "FIN_WAIT",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Listen => "LISTEN",
            State::Synack => "SYNACK",
        }
    }

    /// Whether a connection in this state counts in ActiveConn: the handshake states and
    /// ESTABLISHED, as current kernels count them (before about Linux 4.7 only ESTABLISHED).
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            State::Established | State::SynSent | State::SynRecv | State::Synack
        )
    }

    /// The default timeout in seconds (`tcp_timeouts` in `ip_vs_proto_tcp.c`).
    pub const fn default_timeout(self) -> u32 {
        match self {
            State::None => 2,
            State::Established => 15 * 60,
            State::SynSent => 2 * 60,
            State::SynRecv => 60,
            State::FinWait => 2 * 60,
            State::TimeWait => 2 * 60,
            State::Close => 10,
            State::CloseWait => 60,
            State::LastAck => 30,
            State::Listen => 2 * 60,
            State::Synack => 2 * 60,
        }
    }
}

/// The event a segment is classified as: the first of RST > SYN > FIN > ACK that is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    /// SYN set (SYN+ACK included).
    Syn = 0,
    /// FIN set.
    Fin = 1,
    /// ACK set.
    Ack = 2,
    /// RST set.
    Rst = 3,
}

/// TCP header flag bits as they appear in byte 13 of the header.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Classifies TCP header flags into an event; `None` when no relevant flag is set (such a
/// segment moves the entry to `CLOSE`, see [`next_state`]).
pub const fn classify(tcp_flags: u8) -> Option<Event> {
    if tcp_flags & flags::RST != 0 {
        Some(Event::Rst)
    } else if tcp_flags & flags::SYN != 0 {
        Some(Event::Syn)
    } else if tcp_flags & flags::FIN != 0 {
        Some(Event::Fin)
    } else if tcp_flags & flags::ACK != 0 {
        Some(Event::Ack)
    } else {
        None
    }
}

/// Which table a packet is stepped with: chosen by its direction and, for client packets,
/// by whether the entry has seen a server packet yet (`NOOUTPUT` cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// Client to server, entry has seen server packets (NAT, or DR/TUN after a reply).
    Input = 0,
    /// Server to client.
    Output = 1,
    /// Client to server, entry has `NOOUTPUT` (DR/TUN).
    InputOnly = 2,
}

use State::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynRecv as SR, SynSent as SS, Synack as SA, TimeWait as TW,
};

/// `[direction][event][state] -> state`, normal mode. Rows are events in [`Event`] order and
/// columns are states in [`State`] index order, as the kernel lays `tcp_states` out.
const NORMAL: [[[State; STATE_COUNT]; 4]; 3] = [
    // INPUT
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The `secure_tcp` tables, used while that defence is active (they delay ESTABLISHED until
/// the handshake has completed), same layout as the normal ones.
const SECURE: [[[State; STATE_COUNT]; 4]; 3] = [
    // INPUT
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    // OUTPUT
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*        NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA */
        /*syn*/
        [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The state after a segment: `event` from [`classify`] (`None` → `CLOSE`), `secure` selects
/// the `secure_tcp` tables.
pub const fn next_state(state: State, dir: Direction, event: Option<Event>, secure: bool) -> State {
    let Some(ev) = event else {
        return State::Close;
    };
    let tables = if secure { &SECURE } else { &NORMAL };
    tables[dir as usize][ev as usize][state as usize]
}

/// [`next_state`] on a state byte read from a map. An out-of-range byte is treated as
/// `NONE`. The explicit range check (rather than an enum) keeps the table index visibly
/// bounded for the BPF verifier.
#[inline(always)]
pub fn next_state_raw(state: u8, dir: Direction, event: Option<Event>, secure: bool) -> u8 {
    let Some(ev) = event else {
        return State::Close as u8;
    };
    let mut s = state as usize;
    if s >= STATE_COUNT {
        s = 0;
    }
    let tables = if secure { &SECURE } else { &NORMAL };
    let row = &tables[dir as usize][ev as usize];
    match row.get(s) {
        Some(next) => *next as u8,
        None => State::Close as u8,
    }
}

/// [`State::is_active`] on a state byte, as a bit test (no table for the verifier to bound).
#[inline(always)]
pub fn is_active_raw(state: u8) -> bool {
    const ACTIVE: u32 = (1 << State::Established as u32)
        | (1 << State::SynSent as u32)
        | (1 << State::SynRecv as u32)
        | (1 << State::Synack as u32);
    state < STATE_COUNT as u8 && (ACTIVE >> state) & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(s: State, d: Direction, f: u8) -> State {
        next_state(s, d, classify(f), false)
    }

    /// Spec 3.6: the DR/TUN walk-through on the INPUT-ONLY table.
    #[test]
    fn dr_walkthrough() {
        use flags::*;
        let d = Direction::InputOnly;
        let mut s = State::None;
        s = step(s, d, SYN);
        assert_eq!(s, State::SynRecv);
        s = step(s, d, ACK);
        assert_eq!(s, State::Established);
        s = step(s, d, ACK);
        assert_eq!(s, State::Established);
        s = step(s, d, FIN | ACK);
        assert_eq!(s, State::FinWait);
        assert_eq!(s.default_timeout(), 120);
        s = step(s, d, ACK);
        assert_eq!(s, State::FinWait);
    }

    /// Spec 3.6: the NAT walk-through alternating INPUT and OUTPUT.
    #[test]
    fn nat_walkthrough() {
        use Direction::*;
        use flags::*;
        let seq = [
            (Input, SYN, State::SynRecv),
            (Output, SYN | ACK, State::SynRecv),
            (Input, ACK, State::Established),
            (Input, FIN | ACK, State::CloseWait),
            (Output, ACK, State::CloseWait),
            (Output, FIN | ACK, State::TimeWait),
            (Input, ACK, State::TimeWait),
        ];
        let mut s = State::None;
        for (d, f, want) in seq {
            s = step(s, d, f);
            assert_eq!(s, want, "{d:?} {f:#x}");
        }
    }

    /// Spec 3.4 notes: INPUT-ONLY differs from INPUT in exactly three cells.
    #[test]
    fn input_only_differs_in_three_cells() {
        let mut diffs = 0;
        for s in State::ALL {
            for ev in [Event::Syn, Event::Fin, Event::Ack, Event::Rst] {
                let a = next_state(s, Direction::Input, Some(ev), false);
                let b = next_state(s, Direction::InputOnly, Some(ev), false);
                if a != b {
                    diffs += 1;
                }
            }
        }
        assert_eq!(diffs, 3);
    }

    #[test]
    fn event_priority_and_no_flags() {
        use flags::*;
        assert_eq!(classify(SYN | ACK), Some(Event::Syn));
        assert_eq!(classify(FIN | ACK), Some(Event::Fin));
        assert_eq!(classify(RST | SYN), Some(Event::Rst));
        assert_eq!(classify(0), None);
        assert_eq!(
            next_state(State::Established, Direction::Input, None, false),
            State::Close
        );
    }

    #[test]
    fn active_states_and_decode() {
        let active: usize = State::ALL.iter().filter(|s| s.is_active()).count();
        assert_eq!(active, 4);
        assert_eq!(State::from_u8(10), Some(State::Synack));
        assert_eq!(State::from_u8(11), None);
    }

    #[test]
    fn raw_matches_typed() {
        for s in State::ALL {
            for d in [Direction::Input, Direction::Output, Direction::InputOnly] {
                for e in [
                    None,
                    Some(Event::Syn),
                    Some(Event::Fin),
                    Some(Event::Ack),
                    Some(Event::Rst),
                ] {
                    for secure in [false, true] {
                        assert_eq!(
                            next_state_raw(s as u8, d, e, secure),
                            next_state(s, d, e, secure) as u8
                        );
                    }
                }
            }
        }
        for v in 0..=255u8 {
            assert_eq!(
                is_active_raw(v),
                State::from_u8(v).is_some_and(State::is_active)
            );
        }
        assert_eq!(
            next_state_raw(200, Direction::Input, Some(Event::Syn), false),
            State::SynRecv as u8
        );
    }

    #[test]
    fn secure_input_only_syn_goes_to_synack() {
        assert_eq!(
            next_state(State::None, Direction::InputOnly, Some(Event::Syn), true),
            State::Synack
        );
    }
}
