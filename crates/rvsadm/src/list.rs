// SPDX-License-Identifier: MIT OR Apache-2.0
//! Listing (`-L`) and save (`-S`) output, byte for byte as ipvsadm 1.31 prints it: titles,
//! service and server lines in every mode, `print_largenum` scaling, name truncation, and
//! libipvs's sort order including its wrap-around comparisons.

use std::fmt::Write as _;
use std::net::IpAddr;

use rvs_common::{proto, svc_flags};
use rvs_ctl::packed::PackedConns;
use rvs_ctl::{DestView, ServiceView};
use rvs_model::{DaemonConfig, Family, FwdMethod, ServiceKey, Timeouts, TunCsum, TunType};

use crate::names::Resolver;
use crate::opts::Format;

/// `print_largenum`.
pub fn largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{i:>w$}");
        return;
    }
    let _ = match i {
        _ if i < 100_000_000 => write!(out, "{i:>9}"),
        _ if i < 1_000_000_000 => write!(out, "{:>8}K", i / 1000),
        _ if i < 100_000_000_000 => write!(out, "{:>8}M", i / 1_000_000),
        _ if i < 100_000_000_000_000 => write!(out, "{:>8}G", i / 1_000_000_000),
        _ => write!(out, "{:>8}T", i / 1_000_000_000_000),
    };
}

fn proto_str(p: u8) -> Option<&'static str> {
    match p {
        proto::TCP => Some("tcp"),
        proto::UDP => Some("udp"),
        proto::SCTP => Some("sctp"),
        _ => None,
    }
}

/// `addrport_to_anyname`: `addr:port`, `[v6]:port`, or names without `-n`; at most 59 bytes.
pub fn addrport(
    addr: &IpAddr,
    port: u16,
    protocol: u8,
    numeric: bool,
    res: &dyn Resolver,
) -> String {
    let mut s = String::new();
    addrport_into(&mut s, addr, port, protocol, numeric, res);
    s
}

/// [`addrport`] into `s` (cleared first), so that a long listing reuses one buffer.
fn addrport_into(
    s: &mut String,
    addr: &IpAddr,
    port: u16,
    protocol: u8,
    numeric: bool,
    res: &dyn Resolver,
) {
    s.clear();
    let (open, close) = if addr.is_ipv4() { ("", "") } else { ("[", "]") };
    if numeric {
        let _ = write!(s, "{open}{addr}{close}:{port}");
    } else {
        let host = res.host_name(addr).unwrap_or_else(|| addr.to_string());
        let serv = proto_str(protocol)
            .and_then(|p| res.service_name(port, p))
            .unwrap_or_else(|| port.to_string());
        let _ = write!(s, "{open}{host}{close}:{serv}");
    }
    truncate(s, 59);
}

fn truncate(s: &mut String, n: usize) {
    if s.len() > n {
        let mut k = n;
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        s.truncate(k);
    }
}

/// glibc's `qsort` for these sizes is a top-down merge sort that takes from the left run
/// when `cmp <= 0`. Reproducing it keeps ipvsadm's order even for the non-transitive
/// wrap-around comparisons below, where a library sort could legitimately differ or panic.
pub fn msort<T: Clone>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut v[..n1], cmp);
    msort(&mut v[n1..], cmp);
    let (mut i, mut j) = (0, n1);
    let mut merged = Vec::with_capacity(n);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            merged.push(v[i].clone());
            i += 1;
        } else {
            merged.push(v[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..n1]);
    merged.extend_from_slice(&v[j..n]);
    v.clone_from_slice(&merged);
}

/// `ntohl(a) - ntohl(b)` as a C `int`.
fn sub32(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn addr_cmp(af: Family, a: &IpAddr, b: &IpAddr) -> i32 {
    let words = |x: &IpAddr| -> [u32; 4] {
        match x {
            IpAddr::V4(v) => [u32::from(*v), 0, 0, 0],
            IpAddr::V6(v) => {
                let o = v.octets();
                [0, 4, 8, 12].map(|k| u32::from_be_bytes([o[k], o[k + 1], o[k + 2], o[k + 3]]))
            }
        }
    };
    let (wa, wb) = (words(a), words(b));
    let n = if af == Family::V6 { 4 } else { 1 };
    let mut r = 0;
    for k in 0..n {
        r = sub32(wa[k], wb[k]);
        if r != 0 {
            break;
        }
    }
    r
}

fn key_addr(k: &ServiceKey) -> IpAddr {
    match k {
        ServiceKey::Addr { addr, .. } => *addr,
        ServiceKey::Fwmark { .. } => IpAddr::V4(0.into()),
    }
}

/// `ipvs_cmp_services`.
pub fn cmp_services(a: &ServiceView, b: &ServiceView) -> i32 {
    let (ka, kb) = (&a.config.key, &b.config.key);
    let r = sub32(ka.fwmark(), kb.fwmark());
    if r != 0 {
        return r;
    }
    let r = ka.family().af() - kb.family().af();
    if r != 0 {
        return r;
    }
    let r = i32::from(ka.protocol().number()) - i32::from(kb.protocol().number());
    if r != 0 {
        return r;
    }
    let r = addr_cmp(ka.family(), &key_addr(ka), &key_addr(kb));
    if r != 0 {
        return r;
    }
    i32::from(ka.port()) - i32::from(kb.port())
}

/// `ipvs_cmp_dests`.
pub fn cmp_dests(a: &DestView, b: &DestView) -> i32 {
    let r = addr_cmp(Family::of(&a.config.addr), &a.config.addr, &b.config.addr);
    if r != 0 {
        return r;
    }
    i32::from(a.config.port) - i32::from(b.config.port)
}

/// Sorts services (and their dests) unless `--nosort`.
pub fn sort_services(services: &mut [ServiceView], fmt: &Format) {
    if fmt.nosort {
        return;
    }
    msort(services, &cmp_services);
    for s in services.iter_mut() {
        msort(&mut s.dests, &cmp_dests);
    }
}

/// The version header of `-L`.
pub fn header(out: &mut String, version: [u8; 3], size: u32) {
    let _ = writeln!(
        out,
        "IP Virtual Server version {}.{}.{} (size={size})",
        version[0], version[1], version[2]
    );
}

/// `print_title`.
pub fn title(out: &mut String, f: &Format) {
    let five = |out: &mut String, names: [&str; 5]| {
        let _ = write!(
            out,
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", names[0], names[1], names[2], names[3], names[4]
        );
    };
    if f.stats {
        five(out, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
    } else if f.rate {
        five(out, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
    } else if f.thresholds {
        let _ = write!(
            out,
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
    } else if f.persistent_conn {
        let _ = write!(
            out,
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        );
    } else if f.tun_info {
        out.push_str("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n");
    } else if !f.rule {
        out.push_str("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    }
}

fn sched_flags_text(sched: &str, flags: u32) -> String {
    let names: [&str; 3] = match sched {
        "sh" => ["sh-fallback", "sh-port", ""],
        "mh" => ["mh-fallback", "mh-port", ""],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    let bits = [svc_flags::SCHED1, svc_flags::SCHED2, svc_flags::SCHED3];
    let words: Vec<&str> = bits
        .iter()
        .zip(names)
        .filter(|(b, n)| flags & **b != 0 && !n.is_empty())
        .map(|(_, n)| n)
        .collect();
    words.join(",")
}

fn fwd_name(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Masq => "Masq",
        FwdMethod::Local => "Local",
        FwdMethod::Tunnel => "Tunnel",
        FwdMethod::Route => "Route",
    }
}

fn fwd_switch(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Masq => "-m",
        FwdMethod::Tunnel => "-i",
        FwdMethod::Local | FwdMethod::Route => "-g",
    }
}

fn tun_name(t: TunType) -> &'static str {
    match t {
        TunType::Ipip => "ipip",
        TunType::Gue => "gue",
        TunType::Gre => "gre",
    }
}

fn tun_info(d: &DestView) -> String {
    let c = &d.config;
    if c.fwd != FwdMethod::Tunnel {
        return "n/a".into();
    }
    let flags = match c.tun_csum {
        TunCsum::Nocsum => "-c",
        TunCsum::Csum => "+c",
        TunCsum::Remcsum => "r+c",
    };
    match c.tun_type {
        TunType::Ipip => "ipip".into(),
        TunType::Gue => format!("gue:{}:{flags}", c.tun_port),
        TunType::Gre => format!("gre:{flags}"),
    }
}

fn svc_proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        proto::SCTP => "SCTP",
        _ => "?",
    }
}

/// `print_service_entry`: the service line and its servers.
pub fn service_entry(out: &mut String, s: &ServiceView, f: &Format, res: &dyn Resolver) {
    let cfg = &s.config;
    let v6 = cfg.key.family() == Family::V6;
    // The protocol ports are named for. The kernel reports none for a fwmark service and
    // libipvs leaves it 0, so `port_to_anyname` prints its real servers' ports as numbers.
    let protocol = match cfg.key {
        ServiceKey::Fwmark { .. } => 0,
        ServiceKey::Addr { protocol, .. } => protocol.number(),
    };
    let svc_name = match cfg.key {
        ServiceKey::Fwmark { mark, ipv6 } => {
            // ipvsadm 1.31 prints the mark with %d, so marks >= 2^31 came out negative and
            // could not be restored; we print it unsigned as upstream does since e61c8cd.
            let m = mark;
            match (f.rule, ipv6) {
                (true, true) => format!("-f {m} -6"),
                (true, false) => format!("-f {m}"),
                (false, true) => format!("FWM  {m} IPv6"),
                (false, false) => format!("FWM  {m}"),
            }
        }
        ServiceKey::Addr { addr, port, .. } => {
            let vname = addrport(&addr, port, protocol, f.numeric, res);
            if f.rule {
                let sw = match protocol {
                    proto::TCP => "-t",
                    proto::UDP => "-u",
                    _ => "--sctp-service",
                };
                format!("{sw} {vname}")
            } else {
                let mut n = format!("{:<4} {vname}", svc_proto_name(protocol));
                if !v6 {
                    truncate(&mut n, 33);
                }
                n
            }
        }
    };
    let persistent = cfg.flags & svc_flags::PERSISTENT != 0;
    let mask_text = || -> Option<String> {
        if v6 {
            (cfg.netmask != 128).then(|| cfg.netmask.to_string())
        } else {
            (cfg.netmask != u32::MAX).then(|| std::net::Ipv4Addr::from(cfg.netmask).to_string())
        }
    };
    if f.rule {
        let _ = write!(out, "-A {svc_name} -s {}", cfg.scheduler);
        if persistent {
            let _ = write!(out, " -p {}", cfg.timeout);
            if let Some(m) = mask_text() {
                let _ = write!(out, " -M {m}");
            }
        }
        if !cfg.pe.is_empty() {
            let _ = write!(out, " --pe {}", cfg.pe);
        }
        if cfg.flags & svc_flags::ONEPACKET != 0 {
            out.push_str(" -o");
        }
        if cfg.flags & svc_flags::SCHED_MASK != 0 {
            let _ = write!(out, " -b {}", sched_flags_text(&cfg.scheduler, cfg.flags));
        }
    } else if f.stats {
        let _ = write!(out, "{svc_name:<33}");
        let st = &s.stats;
        for v in [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes] {
            largenum(out, v, f.exact);
        }
    } else if f.rate {
        let _ = write!(out, "{svc_name:<33}");
        let r = &s.rates;
        for v in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
            largenum(out, v, f.exact);
        }
    } else {
        let _ = write!(out, "{svc_name} {}", cfg.scheduler);
        if cfg.flags & svc_flags::SCHED_MASK != 0 {
            let _ = write!(out, " ({})", sched_flags_text(&cfg.scheduler, cfg.flags));
        }
        if persistent {
            let _ = write!(out, " persistent {}", cfg.timeout);
            if let Some(m) = mask_text() {
                let _ = write!(out, " mask {m}");
            }
            if !cfg.pe.is_empty() {
                let _ = write!(out, " pe {}", cfg.pe);
            }
        }
        if cfg.flags & svc_flags::ONEPACKET != 0 {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    for d in &s.dests {
        let c = &d.config;
        let mut dname = addrport(&c.addr, c.port, protocol, f.numeric, res);
        if !f.rule && c.addr.is_ipv4() {
            truncate(&mut dname, 28);
        }
        if f.rule {
            let _ = write!(
                out,
                "-a {svc_name} -r {dname} {} -w {}",
                fwd_switch(c.fwd),
                c.weight
            );
            if c.fwd == FwdMethod::Tunnel {
                let _ = write!(out, " --tun-type {}", tun_name(c.tun_type));
                let csum = match c.tun_csum {
                    TunCsum::Nocsum => "--tun-nocsum",
                    TunCsum::Csum => "--tun-csum",
                    TunCsum::Remcsum => "--tun-remcsum",
                };
                match c.tun_type {
                    TunType::Ipip => {}
                    TunType::Gue => {
                        let _ = write!(out, " --tun-port {} {csum}", c.tun_port);
                    }
                    TunType::Gre => {
                        let _ = write!(out, " {csum}");
                    }
                }
            }
            out.push('\n');
        } else if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            let st = &d.stats;
            for v in [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes] {
                largenum(out, v, f.exact);
            }
            out.push('\n');
        } else if f.rate {
            let r = &d.rates;
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                r.cps, r.inpps, r.outpps
            );
            largenum(out, r.inbps, f.exact);
            largenum(out, r.outbps, f.exact);
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                c.u_threshold, c.l_threshold, d.active_conns, d.inact_conns
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                c.weight, d.persist_conns, d.active_conns, d.inact_conns
            );
        } else if f.tun_info {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                fwd_name(c.fwd),
                tun_info(d),
                c.weight,
                d.active_conns,
                d.inact_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                fwd_name(c.fwd),
                c.weight,
                d.active_conns,
                d.inact_conns
            );
        }
    }
}

/// `-L --timeout`.
pub fn timeouts(out: &mut String, t: &Timeouts) {
    let _ = writeln!(
        out,
        "Timeout (tcp tcpfin udp): {} {} {}",
        t.tcp, t.tcp_fin, t.udp
    );
}

/// `-L --daemon`.
pub fn daemons(out: &mut String, ds: &[DaemonConfig]) {
    for d in ds {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.role.name(),
            d.mcast_ifn,
            d.syncid
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(g) = d.mcast_group {
            let _ = write!(out, ", group={g}");
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
}

fn conn_proto_name(p: u8) -> std::borrow::Cow<'static, str> {
    match p {
        proto::TCP => "TCP".into(),
        proto::UDP => "UDP".into(),
        proto::SCTP => "SCTP".into(),
        proto::ICMP => "ICMP".into(),
        proto::IP => "IP".into(),
        n => format!("IP_{n}").into(),
    }
}

/// `-L -c`: header and one line per entry (`print_conn`).
pub fn conns(out: &mut String, cs: &PackedConns, f: &Format, res: &dyn Resolver) {
    conns_title(out, f);
    conn_lines(out, cs, f, res);
}

/// `-L -c`'s title lines.
pub fn conns_title(out: &mut String, f: &Format) {
    out.push_str("IPVS connection entries\n");
    if f.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
}

/// `-L -c`'s line for each entry (`print_conn`).
pub fn conn_lines(out: &mut String, cs: &PackedConns, f: &Format, res: &dyn Resolver) {
    if f.numeric && !f.persistent_conn {
        conns_numeric(out, cs);
        return;
    }
    let (mut cname, mut vname, mut dname, mut time) =
        (String::new(), String::new(), String::new(), String::new());
    for c in cs.iter() {
        let name_proto = match c.protocol {
            proto::TCP | proto::UDP | proto::SCTP => c.protocol,
            _ => 0,
        };
        addrport_into(&mut cname, &c.caddr, c.cport, name_proto, f.numeric, res);
        addrport_into(&mut vname, &c.vaddr, c.vport, name_proto, f.numeric, res);
        addrport_into(&mut dname, &c.daddr, c.dport, name_proto, f.numeric, res);
        time.clear();
        let _ = write!(time, "{:02}:{:02}", c.expires / 60, c.expires % 60);
        let pro = conn_proto_name(c.protocol);
        if f.persistent_conn && !c.pe_name.is_empty() {
            let _ = writeln!(
                out,
                "{pro:<3} {time:<6} {:<11} {cname:<18} {vname:<18} {dname:<16} {:<18} {}",
                c.state, c.pe_name, c.pe_data
            );
        } else {
            let _ = writeln!(
                out,
                "{pro:<3} {time:<6} {:<11} {cname:<18} {vname:<18} {dname}",
                c.state
            );
        }
    }
}

/// `-Lnc`'s lines, "{pro:<3} {time:<6} {state:<11} {source:<18} {virtual:<18} {dest}", each
/// put together in place and appended whole: a million of them in a fraction of what
/// `write!` takes.
fn conns_numeric(out: &mut String, cs: &PackedConns) {
    // Written into `out`'s own bytes: no copy of tens of megabytes at the end.
    let mut b = std::mem::take(out).into_bytes();
    b.reserve(cs.len() * 80);
    let mut l = Line::default();
    let mut v6 = Vec::with_capacity(64);
    for c in cs.iter() {
        l.n = 0;
        l.bytes(conn_proto_name(c.protocol).as_bytes());
        l.pad_to(3);
        l.byte(b' ');
        let start = l.n;
        let (m, sec) = (c.expires / 60, c.expires % 60);
        if m < 10 {
            l.byte(b'0');
        }
        l.num(m);
        l.byte(b':');
        if sec < 10 {
            l.byte(b'0');
        }
        l.num(sec);
        l.pad_to(start + 6);
        l.byte(b' ');
        // Padding counts characters; states are ASCII, but say so.
        l.bytes(c.state.as_bytes());
        for _ in c.state.chars().count()..11 {
            l.byte(b' ');
        }
        l.byte(b' ');
        for (addr, port, last) in [
            (&c.caddr, c.cport, false),
            (&c.vaddr, c.vport, false),
            (&c.daddr, c.dport, true),
        ] {
            let start = l.n;
            match addr {
                IpAddr::V4(a) => {
                    for (i, o) in a.octets().into_iter().enumerate() {
                        if i > 0 {
                            l.byte(b'.');
                        }
                        l.num(u32::from(o));
                    }
                }
                IpAddr::V6(a) => {
                    v6.clear();
                    let _ = std::io::Write::write_fmt(&mut v6, format_args!("[{a}]"));
                    l.bytes(&v6);
                }
            }
            l.byte(b':');
            l.num(u32::from(port));
            l.n = l.n.min(start + 59);
            if last {
                l.byte(b'\n');
            } else {
                l.pad_to(start + 18);
                l.byte(b' ');
            }
        }
        b.extend_from_slice(l.as_bytes());
    }
    // Everything written is ASCII or copied from strings.
    *out =
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// One output line put together byte by byte (no call per field). Longer than any line
/// can be: a state is at most 255 bytes, the rest well under 200.
struct Line {
    buf: [u8; 512],
    n: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; 512],
            n: 0,
        }
    }
}

impl Line {
    fn byte(&mut self, x: u8) {
        if let Some(slot) = self.buf.get_mut(self.n) {
            *slot = x;
            self.n += 1;
        }
    }

    fn bytes(&mut self, v: &[u8]) {
        for &x in v {
            self.byte(x);
        }
    }

    /// `n` in decimal.
    fn num(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..]);
    }

    /// Spaces up to `width` bytes from the line's start.
    fn pad_to(&mut self, width: usize) {
        while self.n < width {
            self.byte(b' ');
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_ctl::ConnView;

    fn conn(protocol: u8, caddr: &str, cport: u16, state: &str, expires: u32) -> ConnView {
        ConnView {
            protocol,
            caddr: caddr.parse().unwrap(),
            cport,
            vaddr: if caddr.contains(':') {
                "fd00::240".parse().unwrap()
            } else {
                "10.0.0.240".parse().unwrap()
            },
            vport: 8130,
            daddr: if caddr.contains(':') {
                "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff".parse().unwrap()
            } else {
                "10.0.0.241".parse().unwrap()
            },
            dport: 0,
            state: state.into(),
            expires,
            pe_name: String::new(),
            pe_data: String::new(),
        }
    }

    /// The fast `-Lnc` writer prints what ipvsadm's `print_conn` format gives.
    #[test]
    fn numeric_connection_lines_as_print_conn() {
        let cs = [
            conn(proto::TCP, "10.0.0.10", 40000, "ESTABLISHED", 899),
            conn(proto::UDP, "192.168.200.201", 5, "UDP", 5),
            conn(0, "10.0.0.10", 0, "NONE", 86_400),
            conn(99, "fd00::10", 65535, "SYN_RECV", 59),
            conn(
                proto::TCP,
                "2001:db8:1234:5678:9abc:def0:1234:5678",
                1,
                "CLOSE",
                0,
            ),
        ];
        let mut got = String::new();
        conns_numeric(&mut got, &cs.iter().collect());
        let mut want = String::new();
        for c in &cs {
            let a = |addr: &IpAddr, port: u16| match addr {
                IpAddr::V4(a) => format!("{a}:{port}"),
                IpAddr::V6(a) => format!("[{a}]:{port}"),
            };
            let _ = writeln!(
                want,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
                conn_proto_name(c.protocol),
                format!("{:02}:{:02}", c.expires / 60, c.expires % 60),
                c.state,
                a(&c.caddr, c.cport),
                a(&c.vaddr, c.vport),
                a(&c.daddr, c.dport)
            );
        }
        assert_eq!(got, want);
    }
}
