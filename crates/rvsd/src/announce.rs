// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvsd --announce IFACE`: the interface that holds the VIPs a routing daemon announces
//! (a dummy interface whose connected routes BIRD exports over BGP to the ECMP router, for
//! instance). rvsd sets it up once it serves with its packet path attached, and down when it
//! stops (SIGTERM, SIGINT, `rvs down`): the routing daemon withdraws the routes and the
//! router sends the flows elsewhere, while the pinned program still forwards what is in
//! flight. After a crash (`kill -9`) the interface stays up, as the pinned program goes on
//! forwarding.

use std::sync::OnceLock;

use crate::{log, warn};

static IFACE: OnceLock<String> = OnceLock::new();

/// Reads `name`'s flags and, with `set`, turns IFF_UP on or off.
fn flags(name: &str, set: Option<bool>) -> std::io::Result<()> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::other("interface name too long"));
    }
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a zeroed ifreq is valid; the name fits (checked above) with its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    let r = (|| {
        // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write an ifreq.
        if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let Some(up) = set else { return Ok(()) };
        // SAFETY: the flags member is the one SIOCGIFFLAGS filled.
        unsafe {
            let f = &mut req.ifr_ifru.ifru_flags;
            if up {
                *f |= libc::IFF_UP as libc::c_short;
            } else {
                *f &= !(libc::IFF_UP as libc::c_short);
            }
        }
        // SAFETY: as above.
        if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    })();
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    r
}

/// Checks that interface `name` exists and remembers it (its state is left as it is: a
/// restarting rvsd does not withdraw what the pinned program goes on forwarding).
pub fn prepare(name: &str) -> anyhow::Result<()> {
    flags(name, None).map_err(|e| anyhow::anyhow!("--announce {name}: {e}"))?;
    let _ = IFACE.set(name.to_string());
    Ok(())
}

/// Sets the interface up: the routes on it are announced.
pub fn announce() {
    if let Some(name) = IFACE.get() {
        match flags(name, Some(true)) {
            Ok(()) => log(format_args!("announcing: {name} is up")),
            Err(e) => warn(format_args!("announcing on {name}: {e}")),
        }
    }
}

/// Sets the interface down: the routes on it are withdrawn.
pub fn withdraw() {
    if let Some(name) = IFACE.get() {
        match flags(name, Some(false)) {
            Ok(()) => log(format_args!("withdrawn: {name} is down")),
            Err(e) => warn(format_args!("withdrawing on {name}: {e}")),
        }
    }
}
