// SPDX-License-Identifier: MIT OR Apache-2.0
//! Persistence templates (`-p`, `-M`, port-0 and fwmark services), as plain data and functions.
//!
//! A persistent service maps a client network to a dest through a template, kept in the same
//! table as connections. This module states which template a packet uses ([`template_key`]),
//! when a template may be used ([`Templates::usable`]), how new connections are made from it
//! ([`Templates::schedule`]), and how templates live and die ([`Templates::expire`]): the
//! timeout is re-armed only by new connections, and a template that still controls
//! connections when its timer fires is kept for 60 s more, and stays at 60 s for good.
//! Time is passed in, in seconds; nothing here reads a clock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Protocol, ServiceConfig, ServiceKey};

/// Seconds a template that still controls connections is kept when its timer fires.
pub const KEEP_ALIVE: u32 = 60;

/// What identifies a template: `(protocol or 0, client network, 0, vaddr or fwmark, vport)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// IP protocol; 0 ("IP") for fwmark services.
    pub protocol: u8,
    /// The client's network (address under the service's mask).
    pub cnet: IpAddr,
    /// The virtual address, or the fwmark as an IPv4 address for fwmark services.
    pub vaddr: IpAddr,
    /// The virtual port, or 0 (port-0 services, fwmark services, FTP).
    pub vport: u16,
}

/// A packet that may start a connection, as persistence sees it.
#[derive(Clone, Copy, Debug)]
pub struct NewFlow {
    /// Protocol.
    pub protocol: Protocol,
    /// Client address.
    pub caddr: IpAddr,
    /// Destination address (the VIP).
    pub vaddr: IpAddr,
    /// Destination port.
    pub dport: u16,
}

/// The client network: the address under the service's mask (IPv4) or prefix (IPv6).
pub fn client_net(svc: &ServiceConfig, caddr: &IpAddr) -> IpAddr {
    match caddr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(*a) & svc.netmask)),
        IpAddr::V6(a) => {
            let p = svc.netmask.min(128);
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6(Ipv6Addr::from(u128::from(*a) & mask))
        }
    }
}

/// The template a new flow uses, keyed by the kind of service as the kernel's
/// `ip_vs_sched_persist` keys it.
pub fn template_key(svc: &ServiceConfig, f: &NewFlow) -> TemplateKey {
    let cnet = client_net(svc, &f.caddr);
    match svc.key {
        ServiceKey::Fwmark { mark, .. } => TemplateKey {
            protocol: 0,
            cnet,
            vaddr: IpAddr::V4(Ipv4Addr::from(mark)),
            vport: 0,
        },
        ServiceKey::Addr { port, .. } => {
            // Port-0 services and FTP (port 21) key on the address only, so that every port
            // (FTP's data connections) follows the same template.
            let vport = if port == 0 || port == 21 { 0 } else { f.dport };
            TemplateKey {
                protocol: f.protocol.number(),
                cnet,
                vaddr: f.vaddr,
                vport,
            }
        }
    }
}

/// The real-server port of a connection made through a template: the packet's port,
/// replaced by the dest's only when the packet went to the service port and the dest has a
/// port.
pub fn conn_port(svc: &ServiceConfig, f: &NewFlow, dest_port: u16) -> u16 {
    if f.dport == svc.key.port() && dest_port != 0 {
        dest_port
    } else {
        f.dport
    }
}

/// A template's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateState {
    /// Created, no connection established through it yet.
    None,
    /// A controlled connection reached ESTABLISHED (or a UDP reply was seen).
    Assured,
}

/// A live template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The dest (an index the caller gives meaning to).
    pub dest: usize,
    /// Idle timeout in seconds: the service's `-p`, or [`KEEP_ALIVE`] once kept alive.
    pub timeout: u32,
    /// When the timer fires.
    pub expires_at: u64,
    /// Connections created from it that are still alive.
    pub n_control: u32,
    /// State.
    pub state: TemplateState,
}

/// What a dest looks like to persistence.
#[derive(Clone, Copy, Debug)]
pub struct DestStatus {
    /// Still in the service (AVAILABLE).
    pub available: bool,
    /// Current weight.
    pub weight: i32,
}

/// The templates of a director.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    /// Live templates.
    pub map: HashMap<TemplateKey, Template>,
    /// The `expire_quiescent_template` sysctl.
    pub expire_quiescent: bool,
}

impl Templates {
    /// Whether a template may be used: its dest is still in the service, and, with
    /// `expire_quiescent_template`, has a weight. OVERLOAD is not looked at.
    pub fn usable(&self, dest: DestStatus) -> bool {
        dest.available && !(self.expire_quiescent && dest.weight == 0)
    }

    /// Schedules a new connection of `f` on a persistent service: through a usable template
    /// if there is one, else through `pick` (the scheduler), creating a template.
    /// Returns the dest; the template then controls one more connection and is re-armed to
    /// `now + timeout`. `None` when there is no template and the scheduler finds no dest.
    pub fn schedule(
        &mut self,
        now: u64,
        svc: &ServiceConfig,
        f: &NewFlow,
        dest: impl Fn(usize) -> DestStatus,
        pick: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        let key = template_key(svc, f);
        let valid = self
            .map
            .get(&key)
            .is_some_and(|t| self.usable(dest(t.dest)));
        if !valid {
            // An invalid template is re-hashed so it never matches again and left to expire;
            // for scheduling that is the same as it being gone.
            self.map.remove(&key);
            let d = pick()?;
            self.map.insert(
                key,
                Template {
                    dest: d,
                    timeout: svc.timeout,
                    expires_at: now,
                    n_control: 0,
                    state: TemplateState::None,
                },
            );
        }
        let t = self.map.get_mut(&key)?;
        t.n_control += 1;
        t.expires_at = now + u64::from(t.timeout);
        Some(t.dest)
    }

    /// A connection controlled by the template of `key` went away.
    pub fn conn_gone(&mut self, key: &TemplateKey) {
        if let Some(t) = self.map.get_mut(key) {
            t.n_control = t.n_control.saturating_sub(1);
        }
    }

    /// A controlled connection reached ESTABLISHED (or a UDP reply): the template is assured.
    pub fn assure(&mut self, key: &TemplateKey) {
        if let Some(t) = self.map.get_mut(key) {
            t.state = TemplateState::Assured;
        }
    }

    /// Fires the timers due at `now`: a template that still controls connections is kept
    /// for [`KEEP_ALIVE`] seconds and its timeout stays at that; the others go.
    /// Returns the templates removed.
    pub fn expire(&mut self, now: u64) -> Vec<TemplateKey> {
        let mut gone = Vec::new();
        for (k, t) in &mut self.map {
            if t.expires_at <= now {
                if t.n_control > 0 {
                    t.timeout = KEEP_ALIVE;
                    t.expires_at = now + u64::from(KEEP_ALIVE);
                } else {
                    gone.push(*k);
                }
            }
        }
        for k in &gone {
            self.map.remove(k);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_common::svc_flags;

    fn svc(port: u16, timeout: u32, mask: &str) -> ServiceConfig {
        ServiceConfig {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.240".parse().unwrap(),
                port,
            },
            scheduler: "rr".into(),
            flags: svc_flags::PERSISTENT,
            timeout,
            netmask: u32::from(mask.parse::<Ipv4Addr>().unwrap()),
            pe: String::new(),
        }
    }

    fn flow(client: &str, dport: u16) -> NewFlow {
        NewFlow {
            protocol: Protocol::Tcp,
            caddr: client.parse().unwrap(),
            vaddr: "10.0.0.240".parse().unwrap(),
            dport,
        }
    }

    const UP: DestStatus = DestStatus {
        available: true,
        weight: 1,
    };

    #[test]
    fn template_keys_follow_the_table() {
        let s = svc(80, 360, "255.255.255.255");
        let k = template_key(&s, &flow("10.1.2.3", 80));
        assert_eq!((k.protocol, k.vport), (6, 80));
        assert_eq!(k.cnet, "10.1.2.3".parse::<IpAddr>().unwrap());
        // Port-0 and FTP services: one template for every port.
        assert_eq!(
            template_key(&svc(0, 360, "255.255.255.255"), &flow("10.1.2.3", 443)).vport,
            0
        );
        assert_eq!(
            template_key(&svc(21, 360, "255.255.255.255"), &flow("10.1.2.3", 21)).vport,
            0
        );
        // fwmark: protocol "IP", the mark as an address, across protocols and ports.
        let mut f = svc(0, 360, "255.255.255.255");
        f.key = ServiceKey::Fwmark {
            mark: 7,
            ipv6: false,
        };
        let a = template_key(&f, &flow("10.1.2.3", 80));
        let mut udp = flow("10.1.2.3", 53);
        udp.protocol = Protocol::Udp;
        assert_eq!(a, template_key(&f, &udp));
        assert_eq!(
            (a.protocol, a.vaddr),
            (0, "0.0.0.7".parse::<IpAddr>().unwrap())
        );
        // -M 255.255.255.0: a /24 shares one template.
        let m = svc(80, 360, "255.255.255.0");
        assert_eq!(
            template_key(&m, &flow("10.1.2.3", 80)),
            template_key(&m, &flow("10.1.2.200", 80))
        );
        assert_ne!(
            template_key(&m, &flow("10.1.2.3", 80)),
            template_key(&m, &flow("10.1.3.3", 80))
        );
    }

    #[test]
    fn conn_port_rule() {
        let s = svc(80, 360, "255.255.255.255");
        assert_eq!(conn_port(&s, &flow("10.1.2.3", 80), 8080), 8080);
        let zero = svc(0, 360, "255.255.255.255");
        assert_eq!(
            conn_port(&zero, &flow("10.1.2.3", 443), 8080),
            443,
            "port-0: the packet's port"
        );
    }

    /// One client sticks to one dest; the template is re-armed by new connections only.
    #[test]
    fn sticky_and_rearmed_by_new_connections() {
        let s = svc(80, 360, "255.255.255.255");
        let mut t = Templates::default();
        let mut next = 0;
        let mut pick = || {
            next += 1;
            Some(next)
        };
        let d = t
            .schedule(0, &s, &flow("10.1.2.3", 80), |_| UP, &mut pick)
            .unwrap();
        assert_eq!(
            t.schedule(100, &s, &flow("10.1.2.3", 80), |_| UP, &mut pick),
            Some(d)
        );
        let k = template_key(&s, &flow("10.1.2.3", 80));
        assert_eq!(t.map[&k].expires_at, 460);
        assert_eq!(t.map[&k].n_control, 2);
        // A different client gets its own template (and the scheduler's next pick).
        assert_ne!(
            t.schedule(100, &s, &flow("10.9.9.9", 80), |_| UP, &mut pick),
            Some(d)
        );
    }

    /// Spec 10.3: a template that still controls connections is kept 60 s, and stays at 60 s.
    #[test]
    fn keep_alive_sixty_seconds_for_good() {
        let s = svc(80, 360, "255.255.255.255");
        let mut t = Templates::default();
        let f = flow("10.1.2.3", 80);
        let k = template_key(&s, &f);
        t.schedule(0, &s, &f, |_| UP, || Some(1));
        assert!(t.expire(359).is_empty());
        assert!(t.expire(360).is_empty(), "still controls a connection");
        assert_eq!((t.map[&k].timeout, t.map[&k].expires_at), (60, 420));
        // A new connection now extends it by 60 s only, not by -p.
        t.schedule(400, &s, &f, |_| UP, || Some(9));
        assert_eq!(t.map[&k].expires_at, 460);
        t.conn_gone(&k);
        t.conn_gone(&k);
        assert_eq!(
            t.expire(460),
            vec![k],
            "dies at the first check with nothing to control"
        );
    }

    /// Spec 9 and 10.2: weight 0 keeps persistent clients unless expire_quiescent_template;
    /// a removed dest invalidates the template and the client is rescheduled.
    #[test]
    fn quiesced_and_removed_dests() {
        let s = svc(80, 360, "255.255.255.255");
        let f = flow("10.1.2.3", 80);
        let quiet = DestStatus {
            available: true,
            weight: 0,
        };
        let gone = DestStatus {
            available: false,
            weight: 1,
        };
        let mut t = Templates::default();
        t.schedule(0, &s, &f, |_| UP, || Some(1));
        assert_eq!(
            t.schedule(1, &s, &f, |_| quiet, || Some(2)),
            Some(1),
            "follows its template"
        );
        t.expire_quiescent = true;
        assert_eq!(
            t.schedule(2, &s, &f, |d| if d == 1 { quiet } else { UP }, || Some(2)),
            Some(2)
        );
        assert_eq!(
            t.schedule(3, &s, &f, |d| if d == 2 { gone } else { UP }, || Some(3)),
            Some(3)
        );
        assert_eq!(
            t.schedule(4, &s, &f, |d| if d == 3 { gone } else { UP }, || None),
            None
        );
    }
}
