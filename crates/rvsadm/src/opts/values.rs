// SPDX-License-Identifier: MIT OR Apache-2.0
//! Option values as ipvsadm reads them: service addresses (`parse_service`), scheduler
//! flags, numbers and timeouts, each refused with ipvsadm's words.

use std::net::{IpAddr, Ipv6Addr};

use rvs_common::svc_flags;
use rvs_model::Family;

use crate::cnum::{inet_aton, string_to_number};
use crate::names::Resolver;

use super::{Exit, Svc, fail};

pub(super) const MAX_TIMEOUT: i64 = 86400 * 31;

/// Default persistence timeout of `-p` without a value.
pub(super) const PERSISTENT_TIMEOUT: u32 = 360;

pub(super) const SERVICE_ADDR: u8 = 1;

pub(super) const SERVICE_PORT: u8 = 2;

/// ipvsadm's `parse_service`: fills `svc` and returns SERVICE_ADDR|SERVICE_PORT bits, or 0.
pub(super) fn parse_service(buf: &str, svc: &mut Svc, res: &dyn Resolver) -> u8 {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let mut text = buf;
    let mut port_text: Option<&str> = None;
    if let Some(inner) = buf.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return 0;
        };
        let after = &inner[close + 1..];
        let Some(p) = after.strip_prefix(':') else {
            return 0;
        };
        text = &inner[..close];
        port_text = Some(p);
    }
    if let Ok(a6) = text.parse::<Ipv6Addr>() {
        svc.addr = Some(IpAddr::V6(a6));
        svc.af = Some(Family::V6);
        svc.netmask = 128;
    } else {
        // `strrchr(buf, ':')` on the (bracket-stripped) text: a port written after `]` of a
        // bracketed IPv4 address is forgotten, as in ipvsadm.
        port_text = None;
        if let Some(i) = text.rfind(':') {
            port_text = Some(&text[i + 1..]);
            text = &text[..i];
        }
        let a4 = inet_aton(text).or_else(|| res.host_v4(text));
        match a4 {
            Some(a) => {
                svc.addr = Some(IpAddr::V4(a));
                svc.af = Some(Family::V4);
            }
            None => return 0,
        }
    }
    let mut result = SERVICE_ADDR;
    if let Some(p) = port_text {
        result |= SERVICE_PORT;
        if let Some(n) = string_to_number(p, 0, 65535) {
            svc.port = n as u16;
        } else {
            let proto = match svc.protocol {
                6 => "tcp",
                17 => "udp",
                132 => "sctp",
                _ => return 0,
            };
            match res.service_port(p, proto) {
                Some(n) => svc.port = n,
                None => return 0,
            }
        }
    }
    result
}

pub(super) fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Exit> {
    let scheduler = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    let words: Vec<&str> = arg.split(',').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Err(fail("invalid scheduler flag `'"));
    }
    for flag in words {
        let (bit, only) = match flag {
            "flag-1" => (svc_flags::SCHED1, None),
            "flag-2" => (svc_flags::SCHED2, None),
            "flag-3" => (svc_flags::SCHED3, None),
            "sh-fallback" => (svc_flags::SCHED1, Some("sh")),
            "sh-port" => (svc_flags::SCHED2, Some("sh")),
            "mh-fallback" => (svc_flags::SCHED1, Some("mh")),
            "mh-port" => (svc_flags::SCHED2, Some("mh")),
            _ => return Err(fail(format!("invalid scheduler flag `{flag}'"))),
        };
        flags |= bit;
        if only.is_some_and(|s| s != scheduler) {
            return Err(fail(format!("incompatible scheduler flag `{flag}'")));
        }
    }
    Ok(flags)
}

pub(super) fn number(arg: &str, min: i64, max: i64, what: &str) -> Result<i64, Exit> {
    string_to_number(arg, min, max).ok_or_else(|| fail(format!("illegal {what} specified")))
}

pub(super) fn parse_timeout(arg: Option<&str>, min: i64) -> Result<u32, Exit> {
    match arg {
        None => Ok(PERSISTENT_TIMEOUT),
        Some(a) => string_to_number(a, min, MAX_TIMEOUT)
            .map(|n| n as u32)
            .ok_or_else(|| fail(format!("invalid timeout value `{a}' specified"))),
    }
}
