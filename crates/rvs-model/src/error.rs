// SPDX-License-Identifier: MIT OR Apache-2.0
//! Errors of configuration operations, each tied to the errno the kernel answers with, because
//! `ipvsadm` chooses its message from the operation and the errno (libipvs's `ipvs_strerror`).

use serde::{Deserialize, Serialize};

/// Linux errno values the IPVS control interface answers with. Plain numbers so that the model
/// stays free of libc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errno(pub i32);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// No such file or directory (unknown scheduler, missing dest).
    pub const ENOENT: Errno = Errno(2);
    /// No such process (missing service, daemon not running).
    pub const ESRCH: Errno = Errno(3);
    /// I/O error.
    pub const EIO: Errno = Errno(5);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// Already exists.
    pub const EEXIST: Errno = Errno(17);
    /// No such device.
    pub const ENODEV: Errno = Errno(19);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// No space left on device.
    pub const ENOSPC: Errno = Errno(28);
    /// Numerical result out of range.
    pub const ERANGE: Errno = Errno(34);
    /// Protocol error (bad request framing).
    pub const EPROTO: Errno = Errno(71);
    /// Message too long.
    pub const EMSGSIZE: Errno = Errno(90);
}

/// Why the kernel (and so rvsd) refuses a configuration change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The service already exists (EEXIST).
    ServiceExists,
    /// No such service (ESRCH).
    NoSuchService,
    /// Unknown scheduler name (ENOENT).
    SchedulerNotFound(String),
    /// Unknown persistence engine (ENOENT).
    PeNotFound(String),
    /// IPv6 persistence prefix outside 1..=128 (EINVAL).
    BadNetmask,
    /// The dest address is not a unicast address (EINVAL).
    DestNotUnicast,
    /// The dest family differs from the service's and the method is not tunnelling (EINVAL).
    MixedFamily,
    /// Mixed-family dests and a running sync daemon do not go together (EINVAL).
    MixedFamilySync,
    /// Negative weight (ERANGE).
    WeightRange,
    /// Lower threshold above the upper one (ERANGE).
    ThresholdRange,
    /// GUE tunnel without a port (EINVAL).
    GuePortZero,
    /// The dest already exists in the service (EEXIST).
    DestExists,
    /// No such dest in the service (ENOENT).
    NoSuchDest,
    /// The sync daemon role is already running (EEXIST).
    DaemonRunning,
    /// The sync daemon role is not running (ESRCH).
    DaemonNotRunning,
    /// The sync interface does not exist (ENODEV).
    NoSuchDevice,
    /// A timeout is out of range (EINVAL).
    TimeoutRange,
}

impl Error {
    /// The errno the kernel returns for this refusal.
    pub fn errno(&self) -> Errno {
        match self {
            Error::ServiceExists | Error::DestExists | Error::DaemonRunning => Errno::EEXIST,
            Error::NoSuchService | Error::DaemonNotRunning => Errno::ESRCH,
            Error::SchedulerNotFound(_) | Error::PeNotFound(_) | Error::NoSuchDest => Errno::ENOENT,
            Error::BadNetmask
            | Error::DestNotUnicast
            | Error::MixedFamily
            | Error::MixedFamilySync
            | Error::GuePortZero
            | Error::TimeoutRange => Errno::EINVAL,
            Error::WeightRange | Error::ThresholdRange => Errno::ERANGE,
            Error::NoSuchDevice => Errno::ENODEV,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Error::ServiceExists => "service already exists",
            Error::NoSuchService => "no such service",
            Error::SchedulerNotFound(name) => return write!(f, "scheduler {name:?} not found"),
            Error::PeNotFound(name) => {
                return write!(f, "persistence engine {name:?} not found");
            }
            Error::BadNetmask => "IPv6 persistence prefix must be 1..128",
            Error::DestNotUnicast => "real server address is not unicast",
            Error::MixedFamily => "a different address family needs tunnelling",
            Error::MixedFamilySync => "mixed-family dests conflict with the sync daemon",
            Error::WeightRange => "weight out of range",
            Error::ThresholdRange => "lower threshold above upper threshold",
            Error::GuePortZero => "GUE tunnel needs a port",
            Error::DestExists => "destination already exists",
            Error::NoSuchDest => "no such destination",
            Error::DaemonRunning => "sync daemon already running",
            Error::DaemonNotRunning => "sync daemon not running",
            Error::NoSuchDevice => "no such device",
            Error::TimeoutRange => "timeout out of range",
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}
