// SPDX-License-Identifier: MIT OR Apache-2.0
//! Dest MAC addresses from the kernel's neighbour table.
//!
//! For each dest the kernel is asked over rtnetlink ([`crate::netlink`]) which interface
//! reaches it (a route lookup) and what the neighbour entry of the next hop says; the route's
//! source address and the interface's MTU come along for tunnels. A dest behind a gateway is
//! fine for NAT and tunnels (the gateway's MAC is used) and refused for direct routing by the
//! director. A missing entry is requested by sending one empty UDP datagram to the dest's
//! discard port, which makes the kernel resolve it. rvsd looks again when the kernel announces
//! a neighbour, link or route change ([`crate::netlink::Watch`]), every second while a dest is
//! unresolved, and every 30 seconds regardless. rvsd also resolves a dest before it answers
//! the change that adds it ([`resolve_waiting`]), so that a client connecting right after
//! `rvsadm -a` is served at once.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

pub use crate::netlink::Event;
use crate::netlink::Rtnl;

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

/// Looks a dest up, asking the kernel to resolve it when the entry is missing.
pub fn resolve(addr: &IpAddr) -> Neigh {
    match Rtnl::open() {
        Ok(mut r) => resolve_with(&mut r, addr),
        Err(e) => asking_failed(addr, &e),
    }
}

/// The kernel could not be asked (rtnetlink failed): as for an entry being resolved, a MAC
/// known so far is kept, and the next round asks again.
fn asking_failed(addr: &IpAddr, e: &std::io::Error) -> Neigh {
    Neigh::Pending(format!("asking the kernel about {addr}: {e}"))
}

/// Looks every address up over one socket.
pub fn resolve_all(addrs: &HashSet<IpAddr>) -> HashMap<IpAddr, Neigh> {
    match Rtnl::open() {
        Ok(mut r) => addrs
            .iter()
            .map(|a| (*a, resolve_with(&mut r, a)))
            .collect(),
        Err(e) => addrs.iter().map(|a| (*a, asking_failed(a, &e))).collect(),
    }
}

fn resolve_with(r: &mut Rtnl, addr: &IpAddr) -> Neigh {
    let a = addr.to_string();
    let route = match r.route_get(*addr) {
        Ok(Some(route)) => route,
        Ok(None) => return Neigh::Unknown(format!("no route to {a}")),
        Err(e) => return asking_failed(addr, &e),
    };
    let link = match r.link(route.oif) {
        Ok(Some(l)) => l,
        Ok(None) => return Neigh::Unknown(format!("no interface for {a}")),
        Err(e) => return asking_failed(addr, &e),
    };
    let dev = link.name.clone();
    // NAT and tunnels may go through a gateway: its MAC is the next hop's.
    let hop = route.gateway.unwrap_or(*addr);
    let path = Path {
        src: route.prefsrc,
        mtu: link.mtu,
        via_gateway: route.gateway.is_some(),
    };
    let entry = match r.neighbour(hop, route.oif) {
        Err(e) => return asking_failed(addr, &e),
        Ok(n) => n,
    };
    match entry {
        Some(n) if n.usable => match (n.mac, link.mac) {
            (Some(mac), Some(src_mac)) => Neigh::Known {
                mac,
                ifindex: route.oif,
                src_mac,
                dev,
                path,
            },
            _ => Neigh::Unknown(format!("neighbour entry of {a} on {dev} is incomplete")),
        },
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
    let mut out = resolve_all(addrs);
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
        let pending: HashSet<IpAddr> = pending.into_iter().collect();
        out.extend(resolve_all(&pending));
    }
}
