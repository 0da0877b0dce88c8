// SPDX-License-Identifier: MIT OR Apache-2.0
//! IPVS semantics as plain data and functions.
//!
//! This crate is the readable statement of what the kernel's IPVS does with its configuration
//! and its counters: which services and dests may exist ([`table`]), what each mistake is
//! answered with ([`Error`], carrying the kernel's errno), how schedulers choose ([`sched`]),
//! how timeouts and the TCP state machine combine ([`timeouts`]) and how rates are estimated
//! ([`stats`]).
//!
//! It performs no I/O and never reads a clock: callers pass time and facts about the machine
//! (an interface's MTU, say) in. That keeps it testable by the thousand and lets the daemon,
//! the CLIs and, through `rvs-common`, the eBPF program agree on one definition.
#![deny(unsafe_code)]

pub mod conn;
mod error;
pub mod hashing;
pub mod locality;
pub mod marks;
pub mod persist;
pub mod sched;
pub mod stats;
pub mod sync;
pub mod table;
pub mod timeouts;
mod types;

pub use error::{Errno, Error};
pub use table::{Dest, Service, Table};
pub use timeouts::Timeouts;
pub use types::*;
