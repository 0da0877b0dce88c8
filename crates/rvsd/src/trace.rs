// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs trace`: the loaded program's answer for one packet, told in an operator's words.
//!
//! The run itself is `rvs_dataplane::trace` (a sandboxed second instance of the same object,
//! whose documentation says why nothing live changes); [`State::trace`](crate::state::State)
//! prepares it and this module turns its result into a [`TraceView`].

use std::collections::HashMap;
use std::net::IpAddr;

use rvs_common::conn_flags;
use rvs_common::maps::{ConnVal, Stats};
use rvs_common::svc_flags;
use rvs_ctl::{TraceQuery, TraceView};
use rvs_dataplane::trace::{Before, Flow, Traced};
use rvs_model::{Protocol, Service, ServiceKey};

/// The source MAC of the traced frame (locally administered; the program does not look at
/// it for client packets).
pub(crate) const CLIENT_MAC: [u8; 6] = [0x02, 0x72, 0x76, 0x73, 0x00, 0x01];

/// What the director knew when the sandbox was filled, to explain the run.
pub(crate) struct Known {
    /// The configured services (with their counts, just refreshed).
    pub services: Vec<Service>,
    /// Service id to key.
    pub svc_keys: HashMap<u32, ServiceKey>,
    /// Dest id to address and port.
    pub dest_addrs: HashMap<u32, (IpAddr, u16)>,
    /// Dest id to its service's key.
    pub dest_svcs: HashMap<u32, ServiceKey>,
    /// Dest id to the interface it is reached through.
    pub dest_ifindex: HashMap<u32, u32>,
}

/// The flow a query describes, or why it cannot be traced.
pub(crate) fn flow_of(q: &TraceQuery) -> Result<Flow, String> {
    use rvs_common::tcp::flags;
    let proto = match q.protocol {
        Protocol::Tcp | Protocol::Udp => q.protocol.number(),
        Protocol::Sctp => return Err("rvs trace takes tcp or udp".into()),
    };
    if q.client.is_ipv4() != q.vip.is_ipv4() {
        return Err(format!(
            "{} and {} are of different address families",
            q.client.ip(),
            q.vip.ip()
        ));
    }
    Ok(Flow {
        proto,
        client: q.client,
        vip: q.vip,
        tcp_flags: if q.syn { flags::SYN } else { flags::ACK },
    })
}

fn addr_port(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn method(flags: u32) -> &'static str {
    match flags & conn_flags::FWD_MASK {
        conn_flags::MASQ => "Masq",
        conn_flags::TUNNEL => "Tunnel",
        conn_flags::DROUTE => "Route",
        conn_flags::LOCALNODE => "Local",
        _ => "Bypass",
    }
}

fn state_text(flow: &Flow, c: &ConnVal) -> String {
    if flow.proto == rvs_common::proto::UDP {
        return "UDP".into();
    }
    rvs_common::tcp::State::from_u8(c.state)
        .map_or("?", |s| s.name())
        .into()
}

fn action_name(a: u32) -> &'static str {
    match a {
        0 => "XDP_ABORTED",
        1 => "XDP_DROP",
        2 => "XDP_PASS",
        3 => "XDP_TX",
        4 => "XDP_REDIRECT",
        _ => "an unknown action",
    }
}

/// An interface's name from its index.
pub(crate) fn if_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer has IF_NAMESIZE bytes, as the call needs.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// An interface's index and MAC address (in rvsd's network namespace, asked over
/// rtnetlink).
pub(crate) fn iface_info(name: &str) -> Result<(u32, [u8; 6]), String> {
    let c = std::ffi::CString::new(name).map_err(|_| format!("bad interface name {name:?}"))?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(format!("no interface {name}"));
    }
    let link = rvs_dataplane::netlink::Rtnl::open()
        .and_then(|mut r| r.link(index))
        .map_err(|e| format!("asking the kernel about {name}: {e}"))?
        .ok_or_else(|| format!("no interface {name}"))?;
    let mac = link
        .mac
        .ok_or_else(|| format!("{name} has no Ethernet address"))?;
    Ok((index, mac))
}

fn mac_text(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The frame's IP header fields: (offset, protocol, source, destination, TTL).
fn ip_fields(f: &[u8]) -> Option<(usize, u8, IpAddr, IpAddr, u8)> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    match ethertype {
        0x0800 if f.len() >= 34 => {
            let ihl = usize::from(f[14] & 0x0f) * 4;
            let s: [u8; 4] = f[26..30].try_into().ok()?;
            let d: [u8; 4] = f[30..34].try_into().ok()?;
            Some((14 + ihl, f[23], s.into(), d.into(), f[22]))
        }
        0x86dd if f.len() >= 54 => {
            let s: [u8; 16] = f[22..38].try_into().ok()?;
            let d: [u8; 16] = f[38..54].try_into().ok()?;
            Some((54, f[20], s.into(), d.into(), f[21]))
        }
        _ => None,
    }
}

fn ports(f: &[u8], at: usize) -> Option<(u16, u16)> {
    Some((
        u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]),
        u16::from_be_bytes([*f.get(at + 2)?, *f.get(at + 3)?]),
    ))
}

/// What the program changed in the frame, field by field.
fn rewrite(flow: &Flow, before: &[u8], after: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if before == after {
        return out;
    }
    let (Some(b), Some(a)) = (ip_fields(before), ip_fields(after)) else {
        out.push(format!(
            "frame of {} bytes now {}",
            before.len(),
            after.len()
        ));
        return out;
    };
    if before[..6] != after[..6] {
        out.push(format!(
            "destination MAC {} -> {}",
            mac_text(&before[..6]),
            mac_text(&after[..6])
        ));
    }
    if before[6..12] != after[6..12] {
        out.push(format!(
            "source MAC {} -> {}",
            mac_text(&before[6..12]),
            mac_text(&after[6..12])
        ));
    }
    let encap = after.len() > before.len() && a.1 != flow.proto;
    if encap {
        let what = match a.1 {
            4 | 41 => "IP in IP".to_string(),
            47 => "GRE".to_string(),
            17 => {
                let dport = ports(after, a.0).map_or(0, |p| p.1);
                format!("GUE (UDP port {dport})")
            }
            p => format!("protocol {p}"),
        };
        out.push(format!(
            "encapsulated in {what}: outer {} -> {}, {} bytes added",
            a.2,
            a.3,
            after.len() - before.len()
        ));
        return out;
    }
    if a.1 != b.1 {
        let icmp = matches!(a.1, 1 | 58);
        out.push(if icmp {
            format!("answered with ICMP to {} (the client)", a.3)
        } else {
            format!("protocol {} -> {}", b.1, a.1)
        });
        return out;
    }
    if a.2 != b.2 {
        out.push(format!("source address {} -> {}", b.2, a.2));
    }
    if a.3 != b.3 {
        out.push(format!("destination address {} -> {}", b.3, a.3));
    }
    if let (Some(pb), Some(pa)) = (ports(before, b.0), ports(after, a.0)) {
        if pa.0 != pb.0 {
            out.push(format!("source port {} -> {}", pb.0, pa.0));
        }
        if pa.1 != pb.1 {
            out.push(format!("destination port {} -> {}", pb.1, pa.1));
        }
    }
    if a.4 != b.4 {
        out.push(format!("TTL {} -> {}", b.4, a.4));
    }
    out
}

fn counters_text(what: &str, s: &Stats) -> String {
    let mut parts = Vec::new();
    if s.conns != 0 {
        parts.push(format!("+{} connection", s.conns));
    }
    parts.push(format!(
        "+{} packet(s) in, +{} bytes in",
        s.inpkts, s.inbytes
    ));
    if s.outpkts != 0 {
        parts.push(format!(
            "+{} packet(s) out, +{} bytes out",
            s.outpkts, s.outbytes
        ));
    }
    format!("{what}: {}", parts.join(", "))
}

/// Why the scheduler chose `chosen`: the service's dests as it saw them.
fn why(flow: &Flow, svc: &Service, chosen: Option<(IpAddr, u16)>) -> Vec<String> {
    let cfg = &svc.config;
    let mut out = Vec::new();
    out.push(format!(
        "scheduler {}{} over {} dest(s):",
        cfg.scheduler,
        if cfg.persistent() {
            format!(" (persistent, {} s)", cfg.timeout)
        } else {
            String::new()
        },
        svc.dests.len()
    ));
    let counting = matches!(
        cfg.scheduler.as_str(),
        "lc" | "wlc" | "sed" | "nq" | "lblc" | "lblcr" | "fo" | "ovf" | "twos"
    );
    for d in &svc.dests {
        let me = chosen == Some((d.config.addr, d.config.port));
        let mut line = format!(
            "  {} weight {} active {} inactive {}",
            addr_port(d.config.addr, d.config.port),
            d.config.weight,
            d.active_conns,
            d.inact_conns
        );
        if counting {
            let o = (i64::from(d.active_conns) << 8) + i64::from(d.inact_conns);
            line.push_str(&format!(" overhead {o}"));
        }
        if d.overload {
            line.push_str(" overloaded");
        }
        if d.config.weight <= 0 {
            line.push_str(" (takes no new connections)");
        }
        if me {
            line.push_str("  <- chosen");
        }
        out.push(line);
    }
    let with_port = cfg.flags & svc_flags::SCHED2 != 0;
    let port = if with_port { flow.client.port() } else { 0 };
    if let Some((b, n)) =
        rvs_model::hashing::first_bucket(&cfg.scheduler, &flow.client.ip(), &flow.vip.ip(), port)
    {
        let of = if cfg.scheduler == "dh" {
            format!("destination {}", flow.vip.ip())
        } else if with_port {
            format!("client {}", addr_port(flow.client.ip(), flow.client.port()))
        } else {
            format!("client {}", flow.client.ip())
        };
        out.push(format!("hash of the {of}: bucket {b} of {n}"));
    }
    out
}

/// The service a flow is for by address (for the cases where the program entered nothing).
fn service_by_addr<'a>(known: &'a Known, flow: &Flow) -> Option<&'a Service> {
    let protocol = if flow.proto == rvs_common::proto::TCP {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    [flow.vip.port(), 0].into_iter().find_map(|port| {
        let k = ServiceKey::Addr {
            protocol,
            addr: flow.vip.ip(),
            port,
        };
        known.services.iter().find(|s| s.config.key == k)
    })
}

/// The view of one traced run.
pub(crate) fn explain(
    flow: &Flow,
    iface: &str,
    frame_in: &[u8],
    before: &Before,
    run: &Traced,
    known: &Known,
) -> TraceView {
    let mut v = TraceView {
        packet: format!(
            "{} {} -> {}{} arriving on {iface}",
            if flow.proto == rvs_common::proto::TCP {
                "TCP"
            } else {
                "UDP"
            },
            addr_port(flow.client.ip(), flow.client.port()),
            addr_port(flow.vip.ip(), flow.vip.port()),
            if flow.proto != rvs_common::proto::TCP {
                ""
            } else if flow.tcp_flags & rvs_common::tcp::flags::SYN != 0 {
                " [SYN]"
            } else {
                " [ACK]"
            },
        ),
        ..TraceView::default()
    };
    let dest_id = match (&run.conn, run.dest_stats.first()) {
        (Some(c), _) => Some(c.dest),
        (None, d) => d.map(|d| d.0),
    };
    let svc_key = match &run.conn {
        Some(c) => known.svc_keys.get(&c.svc),
        None => dest_id.and_then(|id| known.dest_svcs.get(&id)),
    };
    let svc = svc_key
        .and_then(|k| known.services.iter().find(|s| s.config.key == *k))
        .or_else(|| service_by_addr(known, flow));
    if let Some(s) = svc {
        v.service = Some(format!("{} {}", s.config.key.label(), s.config.scheduler));
    }
    let dest = dest_id.and_then(|id| known.dest_addrs.get(&id).copied());
    v.dest = dest.map(|(a, p)| addr_port(a, p));
    let new_conn = run.dest_stats.iter().any(|(_, s)| s.conns != 0);
    v.entry = match (&before.conn, &run.conn) {
        (Some(b), Some(a)) if !new_conn => format!(
            "existing: {} to {}, idle timeout {} s",
            state_text(flow, b),
            known
                .dest_addrs
                .get(&a.dest)
                .map_or("a removed dest".into(), |(d, p)| addr_port(*d, *p)),
            b.timeout
        ),
        (Some(b), _) if new_conn => format!(
            "an old entry ({}) is not reused: the packet is scheduled afresh",
            state_text(flow, b)
        ),
        (Some(b), _) => format!(
            "existing ({}), but it expired or its dest is gone",
            state_text(flow, b)
        ),
        (None, _) if new_conn => "none: a new connection, scheduled".into(),
        (None, None) if run.dest_stats.iter().any(|(_, s)| s.inpkts != 0) => {
            "none: a one-packet datagram, scheduled and not entered".into()
        }
        (None, _) => "none".into(),
    };
    if (new_conn || run.conn.is_none())
        && let Some(s) = svc
    {
        if s.config.persistent() {
            let used = before
                .templates
                .iter()
                .find(|(_, t)| t.svc == s_id(known, s).unwrap_or(u32::MAX));
            match used {
                Some((_, t)) => v.why.push(format!(
                    "persistence: the client's template sends it to {} (template idle timeout \
                     {} s)",
                    known
                        .dest_addrs
                        .get(&t.dest)
                        .map_or("a removed dest".into(), |(d, p)| addr_port(*d, *p)),
                    t.timeout
                )),
                None => v.why.push(
                    "persistence: the client has no template; the scheduler chooses and a \
                     template is made"
                        .into(),
                ),
            }
        }
        if new_conn || run.dest_stats.iter().any(|(_, s)| s.inpkts != 0) || dest.is_none() {
            v.why.extend(why(flow, s, dest));
        }
    }
    if let Some(c) = &run.conn {
        v.method = Some(method(c.flags).into());
        v.after = Some(format!(
            "{}, idle timeout {} s{}",
            state_text(flow, c),
            c.timeout,
            if c.flags & conn_flags::INACTIVE != 0 {
                ", counted in InActConn"
            } else {
                ", counted in ActiveConn"
            }
        ));
    } else if let Some(id) = dest_id
        && let Some(s) = svc
        && let Some((a, p)) = known.dest_addrs.get(&id)
        && let Some(d) = s
            .dests
            .iter()
            .find(|d| d.config.addr == *a && d.config.port == *p)
    {
        v.method = Some(method(d.config.fwd.conn_flag()).into());
    }
    v.rewrite = rewrite(flow, frame_in, &run.frame_out);
    v.verdict = action_name(run.action).into();
    // The redirect's interface is known for a packet towards a dest (a NAT reply's is the
    // FIB's choice, which the run does not report).
    if run.action == 4
        && let Some(c) = run.conn.as_ref().map(|c| c.dest)
        && let Some(d) = known.dest_ifindex.get(&c)
    {
        v.verdict = format!(
            "XDP_REDIRECT to {}",
            if_name(*d).unwrap_or_else(|| format!("interface {d}"))
        );
    }
    v.reasons = run
        .reasons
        .iter()
        .map(|(r, _)| {
            rvs_common::reason::NAMES
                .get(*r as usize)
                .map_or(format!("reason {r}"), |n| (*n).to_string())
        })
        .collect();
    if run.neighbours_wanted != 0 {
        v.reasons
            .push("rvsd would be asked to resolve the next hop's MAC address".into());
    }
    // A service counts what its dests count: the service's line sums its dests'.
    let mut by_svc: Vec<(ServiceKey, rvs_common::maps::Stats)> = Vec::new();
    for (id, s) in &run.dest_stats {
        if let Some(k) = known.dest_svcs.get(id) {
            match by_svc.iter_mut().find(|(key, _)| key == k) {
                Some((_, sum)) => sum.add(s),
                None => by_svc.push((*k, *s)),
            }
        }
    }
    for (k, s) in &by_svc {
        v.counters.push(counters_text(&k.label(), s));
    }
    for (id, s) in &run.dest_stats {
        let name = known
            .dest_addrs
            .get(id)
            .map_or("dest".into(), |(a, p)| format!("-> {}", addr_port(*a, *p)));
        v.counters.push(counters_text(&name, s));
    }
    v
}

fn s_id(known: &Known, s: &Service) -> Option<u32> {
    known
        .svc_keys
        .iter()
        .find(|(_, k)| **k == s.config.key)
        .map(|(id, _)| *id)
}
