// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's words for a refusal: `ipvs_strerror` of libipvs picks a message from the
//! operation and the errno, and falls back to `strerror` for a pair its table lacks.

use std::ffi::CStr;

use rvs_ctl::ErrorReply;

/// The libipvs call a request stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ipvs_add_service`.
    AddService,
    /// `ipvs_update_service`.
    UpdateService,
    /// `ipvs_del_service`.
    DelService,
    /// `ipvs_flush`.
    Flush,
    /// `ipvs_zero_service`.
    ZeroService,
    /// `ipvs_add_dest`.
    AddDest,
    /// `ipvs_update_dest`.
    UpdateDest,
    /// `ipvs_del_dest`.
    DelDest,
    /// `ipvs_set_timeout`.
    SetTimeout,
    /// `ipvs_start_daemon`.
    StartDaemon,
    /// `ipvs_stop_daemon`.
    StopDaemon,
    /// `ipvs_get_services`.
    GetServices,
    /// `ipvs_get_service`.
    GetService,
    /// `ipvs_getinfo`.
    GetInfo,
    /// Reading connections.
    GetConns,
    /// `ipvs_get_timeout`.
    GetTimeout,
    /// `ipvs_get_daemon`.
    GetDaemon,
    /// Anything else.
    Other,
}

const ESRCH: i32 = 3;
const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EPROTO: i32 = 71;

fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string valid until the next call;
    // we copy it at once.
    unsafe { CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// The message ipvsadm prints for `op` failing with the reply's errno.
pub fn message(op: Op, e: &ErrorReply) -> String {
    use Op::*;
    let specific = match (op, e.errno) {
        (AddService, EEXIST) => Some("Service already exists"),
        (AddService | UpdateService, ENOENT) => Some("Scheduler or persistence engine not found"),
        (UpdateService | DelService | ZeroService, ESRCH) => Some("No such service"),
        (AddDest | UpdateDest | DelDest, ESRCH) => Some("Service not defined"),
        (AddDest, EEXIST) => Some("Destination already exists"),
        (UpdateDest | DelDest, ENOENT) => Some("No such destination"),
        (StartDaemon, EEXIST) => Some("Daemon has already run"),
        (StopDaemon, ESRCH) => Some("No daemon is running"),
        (GetServices | GetService, ESRCH) => Some("No such service"),
        (GetService, ENOENT) => Some("No such service"),
        (_, 1) => Some("Permission denied (you must be root)"),
        (_, 22) => {
            Some("Invalid operation.  Possibly wrong module version, address not unicast, ...")
        }
        (_, 92) => Some("Protocol not available"),
        (_, 12) => Some("Memory allocation problem"),
        (_, 95) => Some("Operation not supported with IPv6"),
        (_, 97) => Some("Operation not supported with specified address family"),
        (_, 90) => Some("Module is wrong version"),
        _ => None,
    };
    match specific {
        Some(m) => m.to_string(),
        // Protocol-level problems have no ipvsadm wording: say what rvsd said.
        None if e.errno == EPROTO => format!("rvsd: {}", e.message),
        None => strerror(e.errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(errno: i32) -> ErrorReply {
        ErrorReply {
            errno,
            message: String::new(),
        }
    }

    #[test]
    fn operation_specific_then_generic_then_strerror() {
        assert_eq!(
            message(Op::AddService, &e(EEXIST)),
            "Service already exists"
        );
        assert_eq!(message(Op::AddDest, &e(ESRCH)), "Service not defined");
        assert_eq!(message(Op::DelService, &e(ESRCH)), "No such service");
        assert_eq!(
            message(Op::AddDest, &e(34)),
            "Numerical result out of range"
        );
        assert_eq!(message(Op::StartDaemon, &e(19)), "No such device");
        assert_eq!(
            message(Op::AddDest, &e(22)),
            "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        );
    }
}
