// SPDX-License-Identifier: MIT OR Apache-2.0
//! Name lookups, behind a trait so that tests and fuzzing never touch the network.
//!
//! ipvsadm resolves host names with `gethostbyname` (IPv4 only), ports with
//! `getservbyname`/`getservbyport` (`/etc/services`), and, without `-n`, addresses back to
//! names with `gethostbyaddr`. [`System`] does the same through the C library.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr};

/// The lookups ipvsadm makes.
pub trait Resolver {
    /// A host name to its first IPv4 address.
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr>;
    /// A service name to its port for `proto` ("tcp", "udp", "sctp").
    fn service_port(&self, name: &str, proto: &str) -> Option<u16>;
    /// An address to its host name.
    fn host_name(&self, addr: &IpAddr) -> Option<String>;
    /// A port to its service name for `proto`.
    fn service_name(&self, port: u16, proto: &str) -> Option<String>;
}

/// Lookups through the C library (files, DNS, whatever nsswitch says).
pub struct System;

/// Service names from `/etc/services`, but no host lookups at all: for fuzzing and tests.
pub struct Offline;

fn serv_by_name(name: &str, proto: &str) -> Option<u16> {
    let name = CString::new(name).ok()?;
    let proto = CString::new(proto).ok()?;
    // SAFETY: both pointers are valid NUL-terminated strings; the result points into libc's
    // static storage and is read before any other call on this thread.
    unsafe {
        let s = libc::getservbyname(name.as_ptr(), proto.as_ptr());
        if s.is_null() {
            None
        } else {
            Some(u16::from_be((*s).s_port as u16))
        }
    }
}

fn serv_by_port(port: u16, proto: &str) -> Option<String> {
    let proto = CString::new(proto).ok()?;
    // SAFETY: as in `serv_by_name`; `s_name` is a valid C string while we copy it.
    unsafe {
        let s = libc::getservbyport(i32::from(port.to_be()), proto.as_ptr());
        if s.is_null() {
            None
        } else {
            Some(CStr::from_ptr((*s).s_name).to_string_lossy().into_owned())
        }
    }
}

impl Resolver for System {
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr> {
        use std::net::ToSocketAddrs;
        (name, 0)
            .to_socket_addrs()
            .ok()?
            .find_map(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
    }

    fn service_port(&self, name: &str, proto: &str) -> Option<u16> {
        serv_by_name(name, proto)
    }

    fn host_name(&self, addr: &IpAddr) -> Option<String> {
        let sa = std::net::SocketAddr::new(*addr, 0);
        let (storage, len) = sockaddr(&sa);
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes; `host` is writable for its
        // length; no service buffer is requested.
        let rc = unsafe {
            libc::getnameinfo(
                (&raw const storage).cast(),
                len,
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: getnameinfo NUL-terminates `host` on success.
        Some(
            unsafe { CStr::from_ptr(host.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    fn service_name(&self, port: u16, proto: &str) -> Option<String> {
        serv_by_port(port, proto)
    }
}

fn sockaddr(sa: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match sa {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

impl Resolver for Offline {
    fn host_v4(&self, _name: &str) -> Option<Ipv4Addr> {
        None
    }

    fn service_port(&self, name: &str, proto: &str) -> Option<u16> {
        serv_by_name(name, proto)
    }

    fn host_name(&self, _addr: &IpAddr) -> Option<String> {
        None
    }

    fn service_name(&self, port: u16, proto: &str) -> Option<String> {
        serv_by_port(port, proto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_lookups() {
        assert_eq!(Offline.service_port("http", "tcp"), Some(80));
        assert_eq!(Offline.service_port("domain", "udp"), Some(53));
        assert_eq!(Offline.service_name(443, "tcp").as_deref(), Some("https"));
        assert_eq!(Offline.service_port("no-such-service-x", "tcp"), None);
    }
}
