// SPDX-License-Identifier: MIT OR Apache-2.0
//! Routes, neighbours and links asked of the kernel over rtnetlink (messages built and read
//! with the `netlink-packet-route` crate), and [`Watch`], which follows their changes as the
//! kernel announces them.
//!
//! Each question is one request on a socket of its own [`Rtnl`]: `RTM_GETROUTE` for a
//! destination (what `ip route get` asks), `RTM_GETNEIGH` for one address on one interface
//! (`ip neigh get`), `RTM_GETLINK` for one interface index.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// The route the kernel would use towards an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The outgoing interface.
    pub oif: u32,
    /// The next hop, when it is not the address itself.
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would pick.
    pub prefsrc: Option<IpAddr>,
}

/// A neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// The link-layer address, if the entry has one.
    pub mac: Option<[u8; 6]>,
    /// Whether the entry is usable: not INCOMPLETE, not FAILED.
    pub usable: bool,
}

/// An interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its name.
    pub name: String,
    /// Its Ethernet address, if it has one.
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: u32,
}

/// A request socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn mac6(b: &[u8]) -> Option<[u8; 6]> {
    b.try_into().ok()
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some((*v).into()),
        RouteAddress::Inet6(v) => Some((*v).into()),
        _ => None,
    }
}

fn family(a: &IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

impl Rtnl {
    /// Opens a socket for requests.
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // An answer lost (the socket's buffer overran) must not hang the asker.
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: a valid option value of its own size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// Sends one request and returns the kernel's answers (`Ok(None)` for "no such thing":
    /// `ENOENT`, `ENODEV`, `ENETUNREACH`, `EHOSTUNREACH`).
    fn ask(&mut self, msg: RouteNetlinkMessage) -> io::Result<Option<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        req.finalize();
        let mut out = vec![0u8; req.buffer_len()];
        req.serialize(&mut out);
        self.sock.send(&out, 0)?;
        loop {
            self.buf.clear();
            let n = match self.sock.recv(&mut self.buf, 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer from the kernel",
                    ));
                }
                Err(e) => return Err(e),
            };
            let mut at = 0usize;
            while at < n.min(self.buf.len()) {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                at += len.div_ceil(4) * 4;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(r) => return Ok(Some(r)),
                    NetlinkPayload::Error(e) => {
                        let code = e.code.map_or(0, |c| -c.get());
                        return match code {
                            libc::ENOENT
                            | libc::ENODEV
                            | libc::ENETUNREACH
                            | libc::EHOSTUNREACH
                            | libc::ESRCH => Ok(None),
                            0 => Ok(None),
                            c => Err(io::Error::from_raw_os_error(c)),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    /// The route towards `dst` (`ip route get`).
    pub fn route_get(&mut self, dst: IpAddr) -> io::Result<Option<Route>> {
        let mut m = RouteMessage::default();
        m.header.address_family = family(&dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        let Some(RouteNetlinkMessage::NewRoute(r)) = self.ask(RouteNetlinkMessage::GetRoute(m))?
        else {
            return Ok(None);
        };
        let mut route = Route {
            oif: 0,
            gateway: None,
            prefsrc: None,
        };
        for a in &r.attributes {
            match a {
                RouteAttribute::Oif(i) => route.oif = *i,
                RouteAttribute::Gateway(g) => route.gateway = route_ip(g),
                RouteAttribute::PrefSource(s) => route.prefsrc = route_ip(s),
                _ => {}
            }
        }
        Ok((route.oif != 0).then_some(route))
    }

    /// The neighbour entry of `addr` on interface `ifindex` (`ip neigh get`).
    pub fn neighbour(&mut self, addr: IpAddr, ifindex: u32) -> io::Result<Option<Neighbour>> {
        let mut m = NeighbourMessage::default();
        m.header.family = family(&addr);
        m.header.ifindex = ifindex;
        m.attributes
            .push(NeighbourAttribute::Destination(match addr {
                IpAddr::V4(v) => NeighbourAddress::Inet(v),
                IpAddr::V6(v) => NeighbourAddress::Inet6(v),
            }));
        let Some(RouteNetlinkMessage::NewNeighbour(n)) =
            self.ask(RouteNetlinkMessage::GetNeighbour(m))?
        else {
            return Ok(None);
        };
        let mac = n.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::LinkLayerAddress(b) => mac6(b),
            _ => None,
        });
        let usable = !matches!(
            n.header.state,
            NeighbourState::Incomplete | NeighbourState::Failed | NeighbourState::None
        );
        Ok(Some(Neighbour { mac, usable }))
    }

    /// Interface `index`.
    pub fn link(&mut self, index: u32) -> io::Result<Option<Link>> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        let Some(RouteNetlinkMessage::NewLink(l)) = self.ask(RouteNetlinkMessage::GetLink(m))?
        else {
            return Ok(None);
        };
        let mut link = Link {
            name: String::new(),
            mac: None,
            mtu: 1500,
        };
        for a in &l.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(b) => link.mac = mac6(b),
                LinkAttribute::Mtu(m) => link.mtu = *m,
                _ => {}
            }
        }
        Ok(Some(link))
    }
}

/// What the kernel announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A neighbour entry changed or went.
    Neighbour {
        /// Its address.
        addr: IpAddr,
        /// Its link-layer address, if it has one.
        mac: Option<[u8; 6]>,
        /// Whether it is usable (not INCOMPLETE, not FAILED, not deleted).
        usable: bool,
    },
    /// A link or a route changed, or announcements were lost.
    Other,
}

fn neighbour_event(n: &NeighbourMessage, deleted: bool) -> Event {
    let addr = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => Some(IpAddr::V4(*v)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => Some(IpAddr::V6(*v)),
        _ => None,
    });
    let mac = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) => mac6(b),
        _ => None,
    });
    match addr {
        Some(addr) => Event::Neighbour {
            addr,
            mac,
            usable: !deleted
                && !matches!(
                    n.header.state,
                    NeighbourState::Incomplete | NeighbourState::Failed | NeighbourState::None
                ),
        },
        None => Event::Other,
    }
}

/// A socket that hears the kernel announce neighbour, link and route changes (the
/// `RTNLGRP_NEIGH`, `RTNLGRP_LINK`, `RTNLGRP_IPV4_ROUTE` and `RTNLGRP_IPV6_ROUTE` groups).
pub struct Watch {
    sock: Socket,
    buf: Vec<u8>,
}

impl Watch {
    /// Joins the groups.
    pub fn open() -> io::Result<Watch> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        for g in [
            libc::RTNLGRP_NEIGH,
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_ROUTE,
            libc::RTNLGRP_IPV6_ROUTE,
        ] {
            sock.add_membership(g)?;
        }
        sock.set_non_blocking(true)?;
        Ok(Watch {
            sock,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// Waits up to `timeout` for announcements and returns all that came (empty: none).
    /// Lost announcements (the socket's buffer overran) come as [`Event::Other`].
    pub fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        let mut p = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        let mut events = Vec::new();
        if r <= 0 {
            return events;
        }
        loop {
            self.buf.clear();
            let n = match self.sock.recv(&mut self.buf, 0) {
                Ok(n) => n.min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return events,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ENOBUFS: announcements were lost; the caller must look at everything.
                Err(_) => {
                    events.push(Event::Other);
                    return events;
                }
            };
            let mut at = 0usize;
            while at < n {
                let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n])
                else {
                    events.push(Event::Other);
                    break;
                };
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                at += len.div_ceil(4) * 4;
                events.push(match m.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                        neighbour_event(&n, false)
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                        neighbour_event(&n, true)
                    }
                    _ => Event::Other,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_route_and_link() {
        let mut r = Rtnl::open().unwrap();
        let route = r.route_get("127.0.0.1".parse().unwrap()).unwrap().unwrap();
        let lo = r.link(route.oif).unwrap().unwrap();
        assert_eq!(lo.name, "lo");
        assert_eq!(route.gateway, None);
        assert_eq!(r.link(999_999).unwrap(), None);
        // Asked twice on one socket: the sequence numbers keep answers apart.
        assert_eq!(r.link(route.oif).unwrap().unwrap(), lo);
    }

    #[test]
    fn no_neighbour_on_loopback() {
        let mut r = Rtnl::open().unwrap();
        let lo = r
            .route_get("127.0.0.1".parse().unwrap())
            .unwrap()
            .unwrap()
            .oif;
        assert_eq!(
            r.neighbour("192.168.255.254".parse().unwrap(), lo).unwrap(),
            None
        );
    }
}
