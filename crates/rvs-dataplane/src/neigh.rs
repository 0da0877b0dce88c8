// SPDX-License-Identifier: MIT OR Apache-2.0
//! Dest MAC addresses from the kernel's neighbour table.
//!
//! For each dest the kernel is asked which interface reaches it (`ip -j route get`) and what
//! the neighbour entry of the next hop says (`ip -j neigh show`); the route's source address
//! and the interface's MTU come along for tunnels. A dest behind a gateway is fine for NAT and
//! tunnels (the gateway's MAC is used) and refused for direct routing by the director. A missing entry is requested by sending one empty UDP
//! datagram to the dest's discard port, which makes the kernel resolve it; the next round
//! (rvsd runs one every second) picks the answer up, and changes are followed the same way.
//! rvsd also resolves a dest before it answers the change that adds it ([`resolve_waiting`]),
//! so that a client connecting right after `rvsadm -a` is served at once.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

/// What is known about reaching a dest at layer 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Neigh {
    /// Resolved.
    Known {
        /// Destination MAC.
        mac: [u8; 6],
        /// Interface index.
        ifindex: u32,
        /// That interface's MAC (the new source MAC).
        src_mac: [u8; 6],
        /// Interface name.
        dev: String,
        /// The rest of the route (tunnels need it).
        path: Path,
    },
    /// Being resolved (the kernel was asked), with what `rvs status` says.
    Pending(String),
    /// Cannot be reached (no route, no interface), with the reason for `rvs status`.
    Unknown(String),
}

/// What a tunnel needs of the route to a dest besides the next hop's MAC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path {
    /// The source address the kernel picks for the route (the outer header's source).
    pub src: Option<IpAddr>,
    /// The interface's MTU.
    pub mtu: u32,
    /// The next hop is a gateway, not the dest itself (direct routing cannot use it).
    pub via_gateway: bool,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn ip_json(args: &[&str]) -> Option<serde_json::Value> {
    let out = Command::new("ip").arg("-j").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn sysfs(dev: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Looks a dest up, asking the kernel to resolve it when the entry is missing.
pub fn resolve(addr: &IpAddr) -> Neigh {
    let a = addr.to_string();
    let Some(route) = ip_json(&["route", "get", &a]).and_then(|v| v.get(0).cloned()) else {
        return Neigh::Unknown(format!("no route to {a}"));
    };
    // NAT and tunnels may go through a gateway: its MAC is the next hop's.
    let gateway = route
        .get("gateway")
        .and_then(|g| g.as_str())
        .map(str::to_string);
    let Some(dev) = route
        .get("dev")
        .and_then(|d| d.as_str())
        .map(str::to_string)
    else {
        return Neigh::Unknown(format!("no interface for {a}"));
    };
    let hop = gateway.clone().unwrap_or_else(|| a.clone());
    let path = Path {
        src: route
            .get("prefsrc")
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse().ok()),
        mtu: sysfs(&dev, "mtu")
            .and_then(|m| m.parse().ok())
            .unwrap_or(1500),
        via_gateway: gateway.is_some(),
    };
    let entry = ip_json(&["neigh", "show", &hop, "dev", &dev]).and_then(|v| v.get(0).cloned());
    let state_ok = |e: &serde_json::Value| {
        e.get("state")
            .and_then(|s| s.as_array())
            .is_some_and(|s| !s.iter().any(|x| x == "FAILED" || x == "INCOMPLETE"))
    };
    match entry {
        Some(e) if state_ok(&e) => {
            let mac = e.get("lladdr").and_then(|m| m.as_str()).and_then(parse_mac);
            let ifindex = sysfs(&dev, "ifindex").and_then(|s| s.parse().ok());
            let src_mac = sysfs(&dev, "address").as_deref().and_then(parse_mac);
            match (mac, ifindex, src_mac) {
                (Some(mac), Some(ifindex), Some(src_mac)) => Neigh::Known {
                    mac,
                    ifindex,
                    src_mac,
                    dev,
                    path,
                },
                _ => Neigh::Unknown(format!("neighbour entry of {a} on {dev} is incomplete")),
            }
        }
        _ => {
            // Ask the kernel to resolve it: any packet towards the address does.
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            if let Ok(s) = UdpSocket::bind(bind) {
                let _ = s.send_to(&[], (*addr, 9));
            }
            Neigh::Pending(format!("resolving the MAC address of {a} on {dev}"))
        }
    }
}

/// Resolves `addrs`, waiting up to `wait` for the kernel to answer those being resolved (all
/// at once: the requests go out first, then the answers are polled).
pub fn resolve_waiting(addrs: &HashSet<IpAddr>, wait: Duration) -> HashMap<IpAddr, Neigh> {
    let deadline = Instant::now() + wait;
    let mut out: HashMap<IpAddr, Neigh> = addrs.iter().map(|a| (*a, resolve(a))).collect();
    loop {
        let pending: Vec<IpAddr> = out
            .iter()
            .filter(|(_, n)| matches!(n, Neigh::Pending(_)))
            .map(|(a, _)| *a)
            .collect();
        if pending.is_empty() || Instant::now() >= deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(5));
        for a in pending {
            out.insert(a, resolve(&a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert_eq!(parse_mac("zz:00:0a:ff:00:01"), None);
    }
}
