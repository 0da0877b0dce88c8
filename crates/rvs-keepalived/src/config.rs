// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf's LVS part, read from [`syntax`](crate::syntax)'s tree into typed
//! settings, each checked where it is written.
//!
//! Settings cascade as in keepalived: `delay_loop`, `connect_timeout`, `retry`,
//! `delay_before_retry`, `warmup` and `inhibit_on_failure` given on a `virtual_server` apply
//! to its real servers and their checkers unless these set their own.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use rvs_common::svc_flags;
use rvs_model::{
    DestConfig, FwdMethod, Protocol, SCHEDULERS, ServiceConfig, ServiceKey, Table, TunCsum, TunType,
};
use serde::{Deserialize, Serialize};

use crate::syntax::{Error, Node, Pos};

/// The whole LVS configuration of one file (and its includes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The virtual servers, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// One line per part of the file rvs does not use (`vrrp_instance`, `global_defs`, a
    /// keyword keepalived knows but rvs does not implement), each with its place.
    pub notes: Vec<String>,
}

/// Times and retries of a checker (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timing {
    /// Between checks.
    pub delay_loop_ms: u64,
    /// Deadline of one check attempt (the whole attempt: connect, request and answer).
    pub connect_timeout_ms: u64,
    /// Extra attempts after a failure before a live server is declared down.
    pub retry: u32,
    /// Between those attempts.
    pub delay_before_retry_ms: u64,
    /// Up to this long (chosen at random) before the first check; 0: at once.
    pub warmup_ms: u64,
}

/// Where a checker connects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Address (`connect_ip`, default the real server's).
    pub addr: IpAddr,
    /// Port (`connect_port`, default the real server's).
    pub port: u16,
    /// Source address (`bindto`).
    pub bindto: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub bind_port: Option<u16>,
}

/// One `url { }` of HTTP_GET / SSL_GET.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Url {
    /// Path asked for.
    pub path: String,
    /// Accepted status codes, as inclusive ranges (default 200-299).
    pub status: Vec<(u16, u16)>,
    /// MD5 of the body, lower-case hex.
    pub digest: Option<String>,
}

/// What a checker does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// TCP_CHECK: a connection is accepted.
    Tcp,
    /// HTTP_GET, or SSL_GET with `tls`: every url answers as configured.
    Http {
        /// SSL_GET.
        tls: bool,
        /// The urls, each must pass.
        urls: Vec<Url>,
        /// `virtualhost`: the Host header (default the target address).
        virtualhost: Option<String>,
        /// The TLS server name sent (`sni_name`, or `virtualhost` with `enable_sni`); none:
        /// no SNI.
        #[serde(default)]
        sni: Option<String>,
    },
    /// MISC_CHECK: a program's exit status.
    Misc {
        /// The command line (words, first the program).
        argv: Vec<String>,
        /// Killed after this long (default `delay_loop`).
        timeout_ms: u64,
        /// `misc_dynamic`: exit 2..=255 sets the weight to status - 2.
        dynamic: bool,
        /// `user NAME [GROUP]`; `None`: the default unprivileged user.
        user: Option<(String, Option<String>)>,
    },
    /// UDP_CHECK: a datagram is not refused (and, with `require_reply`, answered as given).
    Udp {
        /// Sent, as bytes.
        payload: Vec<u8>,
        /// Hex digits the answer must start with; `x` matches any nibble.
        require_reply: Option<String>,
        /// Shortest accepted answer.
        min_reply_length: usize,
        /// Longest accepted answer.
        max_reply_length: usize,
    },
    /// DNS_CHECK: a query is answered (NOERROR, same id).
    Dns {
        /// Query type number (default SOA, 6).
        qtype: u16,
        /// Name asked for (default `.`).
        name: String,
    },
}

impl Check {
    /// keepalived's name of the checker.
    pub fn name(&self) -> &'static str {
        match self {
            Check::Tcp => "TCP_CHECK",
            Check::Http { tls: false, .. } => "HTTP_GET",
            Check::Http { tls: true, .. } => "SSL_GET",
            Check::Misc { .. } => "MISC_CHECK",
            Check::Udp { .. } => "UDP_CHECK",
            Check::Dns { .. } => "DNS_CHECK",
        }
    }
}

/// A checker of a real server. Two checkers are the same checker when they are equal: a
/// reload keeps the state of every checker it does not change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checker {
    /// What it does.
    pub check: Check,
    /// Where it connects (MISC_CHECK: the real server, for its notes).
    pub target: Target,
    /// When.
    pub timing: Timing,
}

/// A real server and its checkers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    /// Where it is written.
    pub pos: Pos,
    /// The dest as `rvsadm -a` would add it while the server is up.
    pub dest: DestConfig,
    /// Weight 0 instead of removal on failure.
    pub inhibit_on_failure: bool,
    /// Run when it comes up / goes down.
    pub notify_up: Option<Script>,
    /// Run when it goes down.
    pub notify_down: Option<Script>,
    /// Starts down until its checkers pass (`alpha`).
    pub alpha: bool,
    /// Its checkers (all must pass); none: always up.
    pub checkers: Vec<Checker>,
}

/// A virtual server (or a group of them) and its real servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    /// Where it is written.
    pub pos: Pos,
    /// As written after `virtual_server` (`10.0.0.1 80`, `fwmark 7`, `group web`).
    pub name: String,
    /// What tells it from every other virtual server of the file, as ipvsadm would name it:
    /// `TCP 10.0.0.1:80`, `FWM 7`, `FWM 7 IPv6`, `group web UDP` (a TCP and a UDP service
    /// on one address and port are two virtual servers).
    pub id: String,
    /// The services it stands for (one, or one per member of its group), with every setting.
    pub services: Vec<ServiceConfig>,
    /// Real servers.
    pub real_servers: Vec<RealServer>,
    /// Minimum total weight of live real servers (default 1).
    pub quorum: u32,
    /// Dampens quorum changes.
    pub hysteresis: u32,
    /// Serves alone while quorum is lost.
    pub sorry_server: Option<DestConfig>,
    /// Weight 0 for the sorry server instead of removing it (`sorry_server_inhibit`).
    pub sorry_server_inhibit: bool,
    /// Run when quorum is gained.
    pub quorum_up: Option<Script>,
    /// Run when quorum is lost.
    pub quorum_down: Option<Script>,
    /// `omega`: at shutdown, run the notify_down of live real servers and quorum_down.
    #[serde(default)]
    pub omega: bool,
}

/// keepalived's keywords that rvs accepts and does not act on (each gets a note).
const NOTED: &[&str] = &[
    "ha_suspend",
    "virtualhost_check",
    "log_all_failures",
    "bind_if",
    "fwmark_check",
    "http_protocol",
    "fast_recovery",
    "tls_compliant",
    "smtp_alert",
    "lvs_sync_daemon_interface",
    "retry_on_missing",
    "connection_limit",
];

/// keepalived's top-level keywords besides the LVS ones (and besides `vrrp_*` and
/// `static_*`): noted and ignored. Any other top-level word is a mistake.
const TOP_LEVEL: &[&str] = &[
    "global_defs",
    "linkbeat_interfaces",
    "bfd_instance",
    "SSL",
    "garp_group",
    "track_file",
    "track_process",
    "track_bfd",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "child_wait_time",
    "lvs_sync_daemon",
    "lvs_flush",
    "lvs_flush_onstop",
    "lvs_timeouts",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "notify_fifo",
    "notify_fifo_script",
    "local_address_group",
];

/// Checkers keepalived has and rvs does not run.
const UNSUPPORTED_CHECKERS: &[&str] = &["SMTP_CHECK", "PING_CHECK", "BFD_CHECK", "FILE_CHECK"];

fn err(pos: &Pos, message: impl Into<String>) -> Error {
    Error {
        pos: pos.clone(),
        message: message.into(),
    }
}

fn arg(n: &Node, i: usize) -> Result<&str, Error> {
    n.args
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| err(&n.pos, format!("{} needs a value", n.key)))
}

fn one_arg(n: &Node) -> Result<&str, Error> {
    if n.args.len() > 1 {
        return Err(err(&n.pos, format!("{} takes one value", n.key)));
    }
    arg(n, 0)
}

/// `notify_up SCRIPT [USER [GROUP]]` (and notify_down, quorum_up, quorum_down): the
/// command line is one word, quoted when it has blanks (split later, see
/// [`split_command`]); the words after it name the user and group it runs as.
fn script(n: &Node) -> Result<Script, Error> {
    let line = arg(n, 0)?.to_string();
    if n.args.len() > 3 {
        return Err(err(
            &n.pos,
            format!(
                "{}: SCRIPT [USER [GROUP]]: quote a command line that has blanks",
                n.key
            ),
        ));
    }
    Ok(Script {
        line,
        user: n.args.get(1).map(|u| (u.clone(), n.args.get(2).cloned())),
    })
}

/// A script to run on a change, and who runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The command line.
    pub line: String,
    /// User and group; `None`: the default unprivileged user.
    pub user: Option<(String, Option<String>)>,
}

fn no_block(n: &Node) -> Result<(), Error> {
    if n.block.is_some() {
        return Err(err(&n.pos, format!("{} takes no {{ }} block", n.key)));
    }
    Ok(())
}

fn block(n: &Node) -> Result<&[Node], Error> {
    n.block
        .as_deref()
        .ok_or_else(|| err(&n.pos, format!("{} needs a {{ }} block", n.key)))
}

fn number<T: std::str::FromStr>(n: &Node, what: &str) -> Result<T, Error> {
    let v = one_arg(n)?;
    v.parse()
        .map_err(|_| err(&n.pos, format!("{}: bad {what} {v:?}", n.key)))
}

/// Seconds, with up to six decimals (keepalived's timers are in microseconds), as ms.
fn seconds(n: &Node) -> Result<u64, Error> {
    let v = one_arg(n)?;
    let bad = || err(&n.pos, format!("{}: bad number of seconds {v:?}", n.key));
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return Err(bad());
    }
    let s: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut ms_frac = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms_frac += u64::from(b - b'0') * 10u64.pow(2 - i as u32);
    }
    s.checked_mul(1000)
        .and_then(|ms| ms.checked_add(ms_frac))
        .filter(|&ms| ms <= 366 * 24 * 3600 * 1000)
        .ok_or_else(bad)
}

fn addr(n: &Node, v: &str) -> Result<IpAddr, Error> {
    v.parse()
        .map_err(|_| err(&n.pos, format!("{}: not an IP address: {v:?}", n.key)))
}

fn port(n: &Node, v: &str) -> Result<u16, Error> {
    v.parse()
        .map_err(|_| err(&n.pos, format!("{}: not a port (0-65535): {v:?}", n.key)))
}

/// Knobs that cascade from virtual server to real server to checker.
#[derive(Clone, Copy, Default)]
struct Knobs {
    delay_loop: Option<u64>,
    connect_timeout: Option<u64>,
    retry: Option<u32>,
    delay_before_retry: Option<u64>,
    warmup: Option<u64>,
    inhibit: Option<bool>,
    alpha: Option<bool>,
}

impl Knobs {
    /// Takes `n` if it is one of the cascading knobs.
    fn take(&mut self, n: &Node) -> Result<bool, Error> {
        const KNOBS: &[&str] = &[
            "delay_loop",
            "connect_timeout",
            "retry",
            "nb_get_retry",
            "nb_sock_retry",
            "delay_before_retry",
            "warmup",
            "inhibit_on_failure",
            "alpha",
        ];
        if !KNOBS.contains(&n.key.as_str()) {
            return Ok(false);
        }
        // `delay_loop 6 {` would otherwise swallow what the block holds.
        no_block(n)?;
        match n.key.as_str() {
            "delay_loop" => self.delay_loop = Some(seconds(n)?),
            "connect_timeout" => self.connect_timeout = Some(seconds(n)?),
            "retry" | "nb_get_retry" | "nb_sock_retry" => self.retry = Some(number(n, "count")?),
            "delay_before_retry" => self.delay_before_retry = Some(seconds(n)?),
            "warmup" => self.warmup = Some(seconds(n)?),
            "inhibit_on_failure" => {
                self.inhibit = Some(match n.args.first().map(String::as_str) {
                    None | Some("true" | "on" | "yes") => true,
                    Some("false" | "off" | "no") => false,
                    Some(v) => {
                        return Err(err(&n.pos, format!("inhibit_on_failure: bad value {v:?}")));
                    }
                })
            }
            "alpha" => self.alpha = Some(true),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `self` with `outer`'s values where it has none.
    fn under(self, outer: Knobs) -> Knobs {
        Knobs {
            delay_loop: self.delay_loop.or(outer.delay_loop),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            retry: self.retry.or(outer.retry),
            delay_before_retry: self.delay_before_retry.or(outer.delay_before_retry),
            warmup: self.warmup.or(outer.warmup),
            inhibit: self.inhibit.or(outer.inhibit),
            alpha: self.alpha.or(outer.alpha),
        }
    }
}

struct Reader {
    notes: Vec<String>,
}

impl Reader {
    fn note(&mut self, n: &Node, what: &str) {
        self.notes.push(format!("{}: {} {what}", n.pos, n.key));
    }

    /// `lvs_method` / `lb_kind` and its tunnel words.
    fn method(&mut self, n: &Node, d: &mut DestConfig) -> Result<(), Error> {
        let m = arg(n, 0)?;
        d.fwd = match m.to_ascii_uppercase().as_str() {
            "NAT" => FwdMethod::Masq,
            "DR" => FwdMethod::Route,
            "TUN" => FwdMethod::Tunnel,
            _ => return Err(err(&n.pos, format!("{}: NAT, DR or TUN, not {m:?}", n.key))),
        };
        let mut rest = n.args[1..].iter().map(String::as_str);
        while let Some(w) = rest.next() {
            if d.fwd != FwdMethod::Tunnel {
                return Err(err(&n.pos, format!("{}: {w:?} is only for TUN", n.key)));
            }
            match w {
                "type" => match rest.next() {
                    Some("ipip") => d.tun_type = TunType::Ipip,
                    Some("gue") => d.tun_type = TunType::Gue,
                    Some("gre") => d.tun_type = TunType::Gre,
                    v => {
                        return Err(err(
                            &n.pos,
                            format!("{}: tunnel type ipip, gue or gre, not {v:?}", n.key),
                        ));
                    }
                },
                "port" => {
                    d.tun_port = port(n, rest.next().unwrap_or(""))?;
                }
                "nocsum" => d.tun_csum = TunCsum::Nocsum,
                "csum" => d.tun_csum = TunCsum::Csum,
                "remcsum" => d.tun_csum = TunCsum::Remcsum,
                _ => return Err(err(&n.pos, format!("{}: unknown word {w:?}", n.key))),
            }
        }
        if d.tun_type == TunType::Gue && d.tun_port == 0 {
            return Err(err(&n.pos, format!("{}: type gue needs a port", n.key)));
        }
        Ok(())
    }

    fn target(&self, n: &Node, t: &mut Target) -> Result<bool, Error> {
        match n.key.as_str() {
            "connect_ip" => t.addr = addr(n, one_arg(n)?)?,
            "connect_port" => t.port = port(n, one_arg(n)?)?,
            "bindto" => t.bindto = Some(addr(n, one_arg(n)?)?),
            "bind_port" => t.bind_port = Some(port(n, one_arg(n)?)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn url(&mut self, n: &Node) -> Result<Url, Error> {
        let mut u = Url {
            path: String::new(),
            status: Vec::new(),
            digest: None,
        };
        for c in block(n)? {
            no_block(c)?;
            match c.key.as_str() {
                "path" => u.path = one_arg(c)?.to_string(),
                "status_code" => {
                    for w in &c.args {
                        let (lo, hi) = w.split_once('-').unwrap_or((w, w));
                        let code = |v: &str| {
                            v.parse::<u16>()
                                .ok()
                                .filter(|c| (100..=999).contains(c))
                                .ok_or_else(|| err(&c.pos, format!("status_code: bad code {v:?}")))
                        };
                        let (lo, hi) = (code(lo)?, code(hi)?);
                        if lo > hi {
                            return Err(err(&c.pos, format!("status_code: empty range {w:?}")));
                        }
                        u.status.push((lo, hi));
                    }
                    if u.status.is_empty() {
                        return Err(err(&c.pos, "status_code needs a value"));
                    }
                }
                "digest" => {
                    let d = one_arg(c)?.to_ascii_lowercase();
                    if d.len() != 32 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(err(
                            &c.pos,
                            format!("digest: not an MD5 sum (32 hex digits): {d:?}"),
                        ));
                    }
                    u.digest = Some(d);
                }
                k if k.starts_with("regex") => {
                    return Err(err(
                        &c.pos,
                        format!(
                            "{k}: regex matching is not supported by rvs (the check would pass where keepalived's fails)"
                        ),
                    ));
                }
                k if NOTED.contains(&k) => self.note(c, "is not supported by rvs; ignored"),
                k => return Err(err(&c.pos, format!("unknown keyword {k:?} in url"))),
            }
        }
        if u.path.is_empty() {
            return Err(err(&n.pos, "url needs a path"));
        }
        if u.status.is_empty() {
            u.status.push((200, 299));
        }
        Ok(u)
    }

    fn checker(
        &mut self,
        n: &Node,
        rs: &DestConfig,
        outer: Knobs,
        vs_virtualhost: Option<&str>,
    ) -> Result<Option<Checker>, Error> {
        if UNSUPPORTED_CHECKERS.contains(&n.key.as_str()) {
            self.note(
                n,
                "is not supported by rvs; ignored (this checker does not count)",
            );
            return Ok(None);
        }
        let kind = n.key.as_str();
        let mut knobs = Knobs::default();
        let mut target = Target {
            addr: rs.addr,
            port: rs.port,
            bindto: None,
            bind_port: None,
        };
        let mut urls = Vec::new();
        let mut virtualhost = None;
        let mut sni_name = None;
        let mut enable_sni = false;
        let mut misc_path = None;
        let mut misc_timeout = None;
        let mut dynamic = false;
        let mut user = None;
        let mut payload = Vec::new();
        let mut require_reply = None;
        let (mut min_len, mut max_len) = (0usize, 65535usize);
        let (mut qtype, mut qname) = (6u16, ".".to_string());
        let misc = kind == "MISC_CHECK";
        for c in block(n)? {
            if knobs.take(c)? {
                if matches!(c.key.as_str(), "inhibit_on_failure" | "alpha") {
                    return Err(err(
                        &c.pos,
                        format!(
                            "{} belongs to real_server or virtual_server, not a checker",
                            c.key
                        ),
                    ));
                }
                continue;
            }
            if c.key == "url" && matches!(kind, "HTTP_GET" | "SSL_GET") {
                urls.push(self.url(c)?);
                continue;
            }
            no_block(c)?;
            if !misc && self.target(c, &mut target)? {
                continue;
            }
            match (kind, c.key.as_str()) {
                ("SSL_GET", "sni_name") => sni_name = Some(one_arg(c)?.to_string()),
                ("SSL_GET", "enable_sni") => enable_sni = true,
                ("HTTP_GET" | "SSL_GET", "virtualhost") => {
                    virtualhost = Some(one_arg(c)?.to_string())
                }
                ("MISC_CHECK", "misc_path") => {
                    if c.args.len() > 1 {
                        return Err(err(
                            &c.pos,
                            "misc_path takes one command line: quote it when it has blanks",
                        ));
                    }
                    let words = split_command(one_arg(c)?);
                    if words.is_empty() {
                        return Err(err(&c.pos, "misc_path is empty"));
                    }
                    misc_path = Some(words);
                }
                ("MISC_CHECK", "misc_timeout") => misc_timeout = Some(seconds(c)?),
                ("MISC_CHECK", "misc_dynamic") => dynamic = true,
                ("MISC_CHECK", "user") => {
                    let u = arg(c, 0)?.to_string();
                    if c.args.len() > 2 {
                        return Err(err(
                            &c.pos,
                            "user takes a user name and, optionally, a group",
                        ));
                    }
                    user = Some((u, c.args.get(1).cloned()));
                }
                ("UDP_CHECK", "payload") => {
                    payload = decode_hex(&hex(c, one_arg(c)?, false)?);
                }
                ("UDP_CHECK", "require_reply") => require_reply = Some(hex(c, one_arg(c)?, true)?),
                ("UDP_CHECK", "min_reply_length") => min_len = number(c, "length")?,
                ("UDP_CHECK", "max_reply_length") => max_len = number(c, "length")?,
                ("DNS_CHECK", "type") => {
                    let t = one_arg(c)?.to_ascii_uppercase();
                    qtype = match t.as_str() {
                        "A" => 1,
                        "NS" => 2,
                        "CNAME" => 5,
                        "SOA" => 6,
                        "MX" => 15,
                        "TXT" => 16,
                        "AAAA" => 28,
                        _ => {
                            return Err(err(
                                &c.pos,
                                format!("type: A, NS, CNAME, SOA, MX, TXT or AAAA, not {t:?}"),
                            ));
                        }
                    };
                }
                ("DNS_CHECK", "name") => {
                    let v = one_arg(c)?;
                    if v.split('.').any(|l| l.len() > 63) || v.len() > 253 {
                        return Err(err(&c.pos, format!("name: not a DNS name: {v:?}")));
                    }
                    qname = v.to_string();
                }
                (_, k) if NOTED.contains(&k) || k == "fwmark" => {
                    self.note(c, "is not supported by rvs; ignored")
                }
                (_, k) => return Err(err(&c.pos, format!("unknown keyword {k:?} in {kind}"))),
            }
        }
        let k = knobs.under(outer);
        let delay_loop = k.delay_loop.unwrap_or(60_000);
        let check = match kind {
            "TCP_CHECK" => Check::Tcp,
            "HTTP_GET" | "SSL_GET" => {
                if urls.is_empty() {
                    return Err(err(
                        &n.pos,
                        format!("{kind} needs at least one url {{ path ... }}"),
                    ));
                }
                // As keepalived: the checker's own virtualhost, else the virtual_server's.
                let virtualhost = virtualhost.or_else(|| vs_virtualhost.map(str::to_string));
                let sni = sni_name.or_else(|| virtualhost.clone().filter(|_| enable_sni));
                Check::Http {
                    tls: kind == "SSL_GET",
                    urls,
                    virtualhost,
                    sni,
                }
            }
            "MISC_CHECK" => Check::Misc {
                argv: misc_path.ok_or_else(|| err(&n.pos, "MISC_CHECK needs misc_path"))?,
                timeout_ms: misc_timeout.unwrap_or(delay_loop),
                dynamic,
                user,
            },
            "UDP_CHECK" => {
                if min_len > max_len {
                    return Err(err(
                        &n.pos,
                        "UDP_CHECK: min_reply_length is above max_reply_length",
                    ));
                }
                Check::Udp {
                    payload,
                    require_reply,
                    min_reply_length: min_len,
                    max_reply_length: max_len,
                }
            }
            "DNS_CHECK" => Check::Dns { qtype, name: qname },
            _ => unreachable!("the caller passes checker keywords only"),
        };
        let (retry, dbr) = match &check {
            Check::Misc { .. } => (0, 1000),
            Check::Dns { .. } => (3, delay_loop),
            Check::Http { .. } => (1, 3000),
            _ => (1, 1000),
        };
        let timing = Timing {
            delay_loop_ms: delay_loop,
            connect_timeout_ms: k.connect_timeout.unwrap_or(5000),
            retry: k.retry.unwrap_or(retry),
            delay_before_retry_ms: k.delay_before_retry.unwrap_or(dbr),
            warmup_ms: k.warmup.unwrap_or(delay_loop),
        };
        if timing.delay_loop_ms == 0 || timing.connect_timeout_ms == 0 {
            return Err(err(
                &n.pos,
                format!("{kind}: delay_loop and connect_timeout must be above 0"),
            ));
        }
        if target.port == 0 && !matches!(check, Check::Misc { .. }) {
            return Err(err(
                &n.pos,
                format!(
                    "{kind}: the real server's port is 0 (a fwmark service): give connect_port"
                ),
            ));
        }
        Ok(Some(Checker {
            check,
            target,
            timing,
        }))
    }

    fn real_server(
        &mut self,
        n: &Node,
        vs_dest: &DestConfig,
        outer: Knobs,
        sorry: bool,
        vs_virtualhost: Option<&str>,
    ) -> Result<RealServer, Error> {
        if n.args.len() != 2 {
            return Err(err(
                &n.pos,
                format!("{} takes an address and a port", n.key),
            ));
        }
        let mut dest = DestConfig {
            addr: addr(n, &n.args[0])?,
            port: port(n, &n.args[1])?,
            ..vs_dest.clone()
        };
        let mut knobs = Knobs::default();
        let mut notify_up = None;
        let mut notify_down = None;
        let mut checkers = Vec::new();
        let mut checker_nodes = Vec::new();
        for c in n.block.as_deref().unwrap_or_default() {
            if sorry {
                return Err(err(&c.pos, "sorry_server takes no block"));
            }
            if knobs.take(c)? {
                continue;
            }
            if matches!(
                c.key.as_str(),
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" | "DNS_CHECK"
            ) || UNSUPPORTED_CHECKERS.contains(&c.key.as_str())
            {
                checker_nodes.push(c);
                continue;
            }
            no_block(c)?;
            match c.key.as_str() {
                "weight" => {
                    dest.weight = number::<i32>(c, "weight")?;
                    if !(0..=65535).contains(&dest.weight) {
                        return Err(err(&c.pos, "weight: 0 to 65535"));
                    }
                }
                "uthreshold" => dest.u_threshold = number(c, "threshold")?,
                "lthreshold" => dest.l_threshold = number(c, "threshold")?,
                "lvs_method" | "lb_kind" => self.method(c, &mut dest)?,
                "notify_up" => notify_up = Some(script(c)?),
                "notify_down" => notify_down = Some(script(c)?),
                k if NOTED.contains(&k) => self.note(c, "is not supported by rvs; ignored"),
                k => return Err(err(&c.pos, format!("unknown keyword {k:?} in real_server"))),
            }
        }
        if dest.l_threshold > dest.u_threshold && dest.u_threshold != 0 {
            return Err(err(&n.pos, "lthreshold is above uthreshold"));
        }
        let k = knobs.under(outer);
        for c in checker_nodes {
            if let Some(ch) = self.checker(c, &dest, k, vs_virtualhost)? {
                checkers.push(ch);
            }
        }
        Ok(RealServer {
            pos: n.pos.clone(),
            dest,
            inhibit_on_failure: k.inhibit.unwrap_or(false),
            notify_up,
            notify_down,
            alpha: k.alpha.unwrap_or(false),
            checkers,
        })
    }

    fn virtual_server(
        &mut self,
        n: &Node,
        groups: &BTreeMap<String, (Pos, Vec<Member>)>,
    ) -> Result<VirtualServer, Error> {
        let name = n.args.join(" ");
        enum Head {
            Addr(IpAddr, u16),
            Mark(u32),
            Group(Vec<Member>),
        }
        let head = match n.args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["fwmark", m] => Head::Mark(
                m.parse()
                    .ok()
                    .filter(|&m| m != 0)
                    .ok_or_else(|| err(&n.pos, format!("virtual_server fwmark: bad mark {m:?}")))?,
            ),
            ["group", g] => Head::Group(
                groups
                    .get(g)
                    .ok_or_else(|| err(&n.pos, format!("no virtual_server_group named {g:?}")))?
                    .1
                    .clone(),
            ),
            [a, p] => Head::Addr(addr(n, a)?, port(n, p)?),
            _ => {
                return Err(err(
                    &n.pos,
                    "virtual_server takes ADDRESS PORT, fwmark MARK or group NAME",
                ));
            }
        };
        let mut protocol = Protocol::Tcp;
        let mut scheduler = "wlc".to_string();
        let mut flags = 0u32;
        let mut timeout = 0u32;
        let mut granularity: Option<(Pos, String)> = None;
        let mut ipv6 = false;
        let mut pe = String::new();
        let mut knobs = Knobs::default();
        let mut vs_dest = DestConfig {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            fwd: FwdMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: TunCsum::Nocsum,
        };
        let mut quorum = 1u32;
        let mut hysteresis = 0u32;
        let mut sorry_inhibit = false;
        let mut quorum_up = None;
        let mut quorum_down = None;
        let mut omega = false;
        let mut rs_nodes = Vec::new();
        let mut sorry_node = None;
        let mut sorry_method = None;
        let mut vs_virtualhost = None;
        for c in block(n)? {
            if knobs.take(c)? {
                continue;
            }
            if c.key == "real_server" {
                rs_nodes.push(c);
                continue;
            }
            no_block(c)?;
            match c.key.as_str() {
                "lvs_sched" | "lb_algo" => {
                    let s = one_arg(c)?;
                    if !SCHEDULERS.contains(&s) || s == "none" {
                        return Err(err(&c.pos, format!("{}: unknown scheduler {s:?}", c.key)));
                    }
                    scheduler = s.to_string();
                }
                "lvs_method" | "lb_kind" => self.method(c, &mut vs_dest)?,
                "protocol" => {
                    protocol = match one_arg(c)?.to_ascii_uppercase().as_str() {
                        "TCP" => Protocol::Tcp,
                        "UDP" => Protocol::Udp,
                        "SCTP" => Protocol::Sctp,
                        v => {
                            return Err(err(
                                &c.pos,
                                format!("protocol: TCP, UDP or SCTP, not {v:?}"),
                            ));
                        }
                    }
                }
                "persistence_timeout" => {
                    flags |= svc_flags::PERSISTENT;
                    timeout = if c.args.is_empty() {
                        360
                    } else {
                        number(c, "timeout")?
                    };
                    if timeout == 0 {
                        return Err(err(&c.pos, "persistence_timeout: must be above 0"));
                    }
                }
                "persistence_granularity" => {
                    granularity = Some((c.pos.clone(), one_arg(c)?.to_string()))
                }
                "persistence_engine" => {
                    let e = one_arg(c)?;
                    if e != "sip" {
                        return Err(err(
                            &c.pos,
                            format!("persistence_engine: unknown engine {e:?}"),
                        ));
                    }
                    pe = e.to_string();
                }
                "ops" => flags |= svc_flags::ONEPACKET,
                "flag-1" | "sh-fallback" | "mh-fallback" => flags |= svc_flags::SCHED1,
                "flag-2" | "sh-port" | "mh-port" => flags |= svc_flags::SCHED2,
                "flag-3" => flags |= svc_flags::SCHED3,
                "ip_family" => {
                    ipv6 = match one_arg(c)? {
                        "inet" => false,
                        "inet6" => true,
                        v => {
                            return Err(err(
                                &c.pos,
                                format!("ip_family: inet or inet6, not {v:?}"),
                            ));
                        }
                    }
                }
                "quorum" => quorum = number(c, "quorum")?,
                "hysteresis" => hysteresis = number(c, "hysteresis")?,
                "quorum_up" => quorum_up = Some(script(c)?),
                "quorum_down" => quorum_down = Some(script(c)?),
                "omega" => omega = true,
                "sorry_server" => sorry_node = Some(c),
                "sorry_server_inhibit" => sorry_inhibit = true,
                "sorry_server_lvs_method" => sorry_method = Some(c),
                "virtualhost" => vs_virtualhost = Some(one_arg(c)?),
                k if NOTED.contains(&k) => self.note(c, "is not supported by rvs; ignored"),
                k => {
                    return Err(err(
                        &c.pos,
                        format!("unknown keyword {k:?} in virtual_server"),
                    ));
                }
            }
        }
        let keys: Vec<ServiceKey> = match head {
            Head::Addr(a, p) => vec![ServiceKey::Addr {
                protocol,
                addr: a,
                port: p,
            }],
            Head::Mark(m) => vec![ServiceKey::Fwmark { mark: m, ipv6 }],
            Head::Group(members) => members
                .into_iter()
                .map(|m| match m {
                    Member::Addr(a, p) => ServiceKey::Addr {
                        protocol,
                        addr: a,
                        port: p,
                    },
                    Member::Mark(m) => ServiceKey::Fwmark { mark: m, ipv6 },
                })
                .collect(),
        };
        let services = keys
            .iter()
            .map(|&key| {
                let v6 = key.family() == rvs_model::Family::V6;
                let netmask = match &granularity {
                    None if v6 => 128,
                    None => u32::MAX,
                    Some((pos, g)) if v6 => g
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=128).contains(n))
                        .ok_or_else(|| err(pos, format!("persistence_granularity: an IPv6 prefix length (1-128), not {g:?}")))?,
                    Some((pos, g)) => u32::from(g.parse::<Ipv4Addr>().map_err(|_| {
                        err(pos, format!("persistence_granularity: an IPv4 mask, not {g:?}"))
                    })?),
                };
                Ok(ServiceConfig {
                    key,
                    scheduler: scheduler.clone(),
                    flags,
                    timeout,
                    netmask,
                    pe: pe.clone(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let outer = knobs;
        let mut real_servers = Vec::new();
        let mut seen = HashSet::new();
        for r in rs_nodes {
            let rs = self.real_server(r, &vs_dest, outer, false, vs_virtualhost)?;
            if !seen.insert((rs.dest.addr, rs.dest.port)) {
                return Err(err(
                    &r.pos,
                    format!(
                        "real_server {} {} is already in this virtual_server",
                        rs.dest.addr, rs.dest.port
                    ),
                ));
            }
            real_servers.push(rs);
        }
        let sorry_server = match sorry_node {
            Some(s) => {
                let rs = self.real_server(s, &vs_dest, outer, true, None)?;
                if seen.contains(&(rs.dest.addr, rs.dest.port)) {
                    return Err(err(&s.pos, "sorry_server is also a real_server"));
                }
                let mut dest = DestConfig {
                    weight: 1,
                    ..rs.dest
                };
                if let Some(m) = sorry_method {
                    self.method(m, &mut dest)?;
                }
                Some(dest)
            }
            None => None,
        };
        let id = match (&keys[..], n.args.first().map(String::as_str)) {
            (_, Some("group")) => format!("{name} {}", protocol.name().to_uppercase()),
            ([ServiceKey::Fwmark { mark, ipv6 }], _) => {
                format!("FWM {mark}{}", if *ipv6 { " IPv6" } else { "" })
            }
            (
                [
                    ServiceKey::Addr {
                        protocol,
                        addr,
                        port,
                    },
                ],
                _,
            ) => format!(
                "{} {}",
                protocol.name().to_uppercase(),
                std::net::SocketAddr::new(*addr, *port)
            ),
            _ => name.clone(),
        };
        let vs = VirtualServer {
            pos: n.pos.clone(),
            name,
            id,
            services,
            real_servers,
            quorum,
            hysteresis,
            sorry_server,
            sorry_server_inhibit: sorry_inhibit,
            quorum_up,
            quorum_down,
            omega,
        };
        // What rvs-model would refuse is refused here, at its line.
        for svc in &vs.services {
            let mut t = Table::new();
            t.add_service(svc.clone())
                .map_err(|e| err(&vs.pos, format!("virtual_server {}: {e}", vs.name)))?;
            for rs in &vs.real_servers {
                t.add_dest(&svc.key, rs.dest.clone()).map_err(|e| {
                    err(
                        &rs.pos,
                        format!("real_server {} {}: {e}", rs.dest.addr, rs.dest.port),
                    )
                })?;
            }
            if let (Some(s), Some(sn)) = (&vs.sorry_server, sorry_node) {
                t.add_dest(&svc.key, s.clone()).map_err(|e| {
                    err(&sn.pos, format!("sorry_server {} {}: {e}", s.addr, s.port))
                })?;
            }
        }
        Ok(vs)
    }
}

#[derive(Clone, Debug)]
enum Member {
    Addr(IpAddr, u16),
    Mark(u32),
}

/// A `virtual_server_group`'s members: `ADDR PORT`, `ADDR-LAST PORT` (a range of the last
/// byte, or of the last group for IPv6), `fwmark N`.
fn group(n: &Node) -> Result<Vec<Member>, Error> {
    let mut out = Vec::new();
    for c in block(n)? {
        no_block(c)?;
        let mut words = vec![c.key.as_str()];
        words.extend(c.args.iter().map(String::as_str));
        match words[..] {
            ["fwmark", m] => out.push(Member::Mark(
                m.parse()
                    .ok()
                    .filter(|&m| m != 0)
                    .ok_or_else(|| err(&c.pos, format!("fwmark: bad mark {m:?}")))?,
            )),
            [a, p] => {
                let p = port(c, p)?;
                match a.split_once('-') {
                    None => out.push(Member::Addr(addr(c, a)?, p)),
                    Some((first, last)) => {
                        let first = addr(c, first)?;
                        let bad = || err(&c.pos, format!("bad address range {a:?}"));
                        match first {
                            IpAddr::V4(f) => {
                                let last: u8 = last.parse().map_err(|_| bad())?;
                                let o = f.octets();
                                if last < o[3] {
                                    return Err(bad());
                                }
                                for b in o[3]..=last {
                                    out.push(Member::Addr(
                                        IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], b)),
                                        p,
                                    ));
                                }
                            }
                            IpAddr::V6(f) => {
                                let last = u16::from_str_radix(last, 16).map_err(|_| bad())?;
                                let mut s = f.segments();
                                if last < s[7] {
                                    return Err(bad());
                                }
                                for g in s[7]..=last {
                                    s[7] = g;
                                    out.push(Member::Addr(IpAddr::V6(s.into()), p));
                                }
                            }
                        }
                    }
                }
            }
            _ => {
                return Err(err(
                    &c.pos,
                    "a group member is ADDRESS[-LAST] PORT or fwmark MARK",
                ));
            }
        }
        if out.len() > 4096 {
            return Err(err(&c.pos, "more than 4096 members in one group"));
        }
    }
    if out.is_empty() {
        return Err(err(&n.pos, "virtual_server_group has no members"));
    }
    Ok(out)
}

fn hex(n: &Node, v: &str, wild: bool) -> Result<String, Error> {
    let v = v.to_ascii_lowercase();
    if !v.len().is_multiple_of(2)
        || !v
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || (wild && b == b'x'))
    {
        return Err(err(
            &n.pos,
            format!(
                "{}: hex digits in pairs{}, not {v:?}",
                n.key,
                if wild { " (x: any)" } else { "" }
            ),
        ));
    }
    Ok(v)
}

fn decode_hex(v: &str) -> Vec<u8> {
    v.as_bytes()
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

/// Splits a command line into words as keepalived does for scripts: on blanks, with `'...'`
/// and `"..."` keeping blanks, and `\` escaping the next character.
pub fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                any = true;
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Reads the tree of a whole file into a [`Config`].
pub fn read(nodes: &[Node]) -> Result<Config, Error> {
    let mut r = Reader { notes: Vec::new() };
    let mut groups = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.key == "virtual_server_group") {
        let name = one_arg(n)?.to_string();
        if groups.contains_key(&name) {
            return Err(err(
                &n.pos,
                format!("virtual_server_group {name:?} is defined twice"),
            ));
        }
        groups.insert(name, (n.pos.clone(), group(n)?));
    }
    let mut vss = Vec::new();
    let mut keys = HashSet::new();
    for n in nodes {
        match n.key.as_str() {
            "virtual_server_group" => {}
            "virtual_server" => {
                let vs = r.virtual_server(n, &groups)?;
                for s in &vs.services {
                    if !keys.insert(s.key) {
                        return Err(err(
                            &n.pos,
                            format!(
                                "virtual_server {}: this service is already defined",
                                vs.name
                            ),
                        ));
                    }
                }
                vss.push(vs);
            }
            k if TOP_LEVEL.contains(&k) || k.starts_with("vrrp_") || k.starts_with("static_") => {
                if n.block.is_some() {
                    r.notes
                        .push(format!("{}: {k} {{ }}: not used by rvs; ignored", n.pos));
                } else {
                    r.notes
                        .push(format!("{}: {k}: not used by rvs; ignored", n.pos));
                }
            }
            k if k.starts_with('$') => {
                return Err(err(
                    &n.pos,
                    "keepalived's $VARIABLE definitions are not supported by rvs",
                ));
            }
            k => {
                return Err(err(
                    &n.pos,
                    format!("unknown keyword {k:?} (a misspelt virtual_server would be lost)"),
                ));
            }
        }
    }
    Ok(Config {
        virtual_servers: vss,
        notes: r.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Source;
    use std::path::{Path, PathBuf};

    struct NoFiles;
    impl Source for NoFiles {
        fn expand(&self, _: &Path, p: &str) -> Result<Vec<(PathBuf, String)>, String> {
            Err(format!("no {p}"))
        }
    }

    fn cfg(text: &str) -> Result<Config, Error> {
        crate::parse(text, Path::new("k.conf"), &NoFiles)
    }

    const WEB: &str = "\
global_defs {
   router_id LVS_1
}
vrrp_instance VI_1 {
    state MASTER
}
virtual_server 10.0.0.240 80 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    persistence_timeout 50
    protocol TCP
    retry 2
    real_server 10.0.0.241 80 {
        weight 3
        HTTP_GET {
            url {
              path /health
              status_code 200
              digest 9F0C3B4E8F51E8B0B2A0A0C7C8B0F7D1
            }
            connect_timeout 3
            retry 1
        }
    }
    real_server 10.0.0.242 80 {
        inhibit_on_failure
        TCP_CHECK { connect_port 8080 }
    }
    sorry_server 10.0.0.250 80
}
";

    #[test]
    fn a_typical_file() {
        let c = cfg(WEB).unwrap();
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        assert!(c.notes[0].starts_with("k.conf:1: global_defs"));
        let vs = &c.virtual_servers[0];
        let s = &vs.services[0];
        assert_eq!(s.scheduler, "rr");
        assert_eq!(s.timeout, 50);
        assert!(s.persistent());
        assert_eq!(s.netmask, u32::MAX);
        let r1 = &vs.real_servers[0];
        assert_eq!((r1.dest.weight, r1.dest.fwd), (3, FwdMethod::Route));
        let ch = &r1.checkers[0];
        assert_eq!(ch.timing.delay_loop_ms, 2000);
        assert_eq!(ch.timing.connect_timeout_ms, 3000);
        assert_eq!(ch.timing.retry, 1, "the checker's own retry wins");
        let Check::Http { urls, .. } = &ch.check else {
            panic!()
        };
        assert_eq!(urls[0].status, [(200, 200)]);
        assert_eq!(
            urls[0].digest.as_deref(),
            Some("9f0c3b4e8f51e8b0b2a0a0c7c8b0f7d1")
        );
        let r2 = &vs.real_servers[1];
        assert!(r2.inhibit_on_failure);
        assert_eq!(
            r2.checkers[0].timing.retry, 2,
            "inherited from the virtual_server"
        );
        assert_eq!(r2.checkers[0].target.port, 8080);
        assert_eq!(r2.dest.weight, 1);
        assert_eq!(vs.sorry_server.as_ref().unwrap().port, 80);
    }

    #[test]
    fn groups_marks_and_ipv6() {
        let c = cfg(
            "virtual_server_group web {\n 10.0.0.1-3 80\n fd00::1 443\n fwmark 9\n}\nvirtual_server group web {\n lvs_sched sh\n sh-port\n real_server 10.0.0.9 80 {\n }\n}\nvirtual_server fwmark 7 {\n ip_family inet6\n lvs_method TUN type gue port 6080\n real_server fd00::9 0\n}\n",
        );
        // An IPv4 real server cannot serve the group's IPv6 member (NAT).
        let e = c.unwrap_err();
        assert_eq!(e.pos.line, 9, "{e}");
        let c = cfg("virtual_server_group web {\n 10.0.0.1-3 80\n fwmark 9\n}\nvirtual_server group web {\n lvs_sched sh\n sh-port\n real_server 10.0.0.9 80\n}\nvirtual_server fwmark 7 {\n ip_family inet6\n lvs_method TUN type gue port 6080\n real_server fd00::9 0\n}\n").unwrap();
        let vs = &c.virtual_servers[0];
        assert_eq!(vs.services.len(), 4);
        assert_eq!(vs.services[0].flags, svc_flags::SCHED2);
        assert_eq!(
            c.virtual_servers[1].services[0].key,
            ServiceKey::Fwmark {
                mark: 7,
                ipv6: true
            }
        );
        assert_eq!(c.virtual_servers[1].real_servers[0].dest.tun_port, 6080);
    }

    #[test]
    fn mistakes_are_placed() {
        for (text, line, what) in [
            (
                "virtual_server 10.0.0.1 80 {\n lb_algo rrr\n}\n",
                2,
                "unknown scheduler",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n wieght 2\n}\n",
                2,
                "unknown keyword",
            ),
            ("virtual_server 10.0.0.1 99999 {\n}\n", 1, "not a port"),
            (
                "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n weight -1\n }\n}\n",
                3,
                "weight",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n HTTP_GET {\n connect_timeout 3\n }\n }\n}\n",
                3,
                "url",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80\n real_server 10.0.0.2 80\n}\n",
                3,
                "already",
            ),
            (
                "virtual_server group nope {\n}\n",
                1,
                "no virtual_server_group",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n delay_loop x\n}\n",
                2,
                "seconds",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\n}\n",
                3,
                "already defined",
            ),
            ("virtual_sever 10.0.0.1 80 {\n}\n", 1, "unknown keyword"),
            ("$WEB=10.0.0.1\n", 1, "$VARIABLE"),
            (
                "virtual_server 10.0.0.1 80 {\n delay_loop 6 {\n real_server 10.0.0.2 80\n }\n}\n",
                2,
                "no { } block",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n lb_kind DR\n sorry_server 224.0.0.1 80\n}\n",
                3,
                "sorry_server",
            ),
            (
                "virtual_server fwmark 3 {\n real_server 10.0.0.2 0 {\n TCP_CHECK {\n }\n }\n}\n",
                3,
                "connect_port",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n HTTP_GET {\n url {\n path /\n regex ok\n }\n }\n }\n}\n",
                6,
                "regex",
            ),
            (
                "virtual_server_group g {\n}\nvirtual_server group g {\n}\n",
                1,
                "no members",
            ),
            (
                "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n notify_up\n }\n}\n",
                3,
                "needs a value",
            ),
        ] {
            let e = cfg(text).unwrap_err();
            assert_eq!(e.pos.line, line, "{text}: {e}");
            assert!(e.message.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn scripts_take_a_user_and_a_bom_is_skipped() {
        let c = cfg("\u{feff}virtual_server 10.0.0.1 80 {\n quorum_up \"/bin/echo quorum is back\"\n real_server 10.0.0.2 80 {\n notify_up /usr/bin/up.sh keepalived_script\n notify_down /usr/bin/down.sh lvs adm\n MISC_CHECK {\n misc_path \"/usr/bin/check -p 80\"\n }\n }\n}\n").unwrap();
        let vs = &c.virtual_servers[0];
        assert_eq!(vs.id, "TCP 10.0.0.1:80");
        let q = vs.quorum_up.as_ref().unwrap();
        assert_eq!(
            (q.line.as_str(), &q.user),
            ("/bin/echo quorum is back", &None)
        );
        let rs = &vs.real_servers[0];
        let up = rs.notify_up.as_ref().unwrap();
        assert_eq!(up.line, "/usr/bin/up.sh");
        assert_eq!(up.user, Some(("keepalived_script".into(), None)));
        let down = rs.notify_down.as_ref().unwrap();
        assert_eq!(down.user, Some(("lvs".into(), Some("adm".into()))));
        let Check::Misc { argv, .. } = &rs.checkers[0].check else {
            panic!()
        };
        assert_eq!(argv, &["/usr/bin/check", "-p", "80"]);
        let e = cfg("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_path /usr/bin/check -p 80\n }\n }\n}\n").unwrap_err();
        assert_eq!(e.pos.line, 4, "{e}");
    }

    #[test]
    fn seconds_and_commands() {
        let c = cfg("virtual_server 10.0.0.1 80 {\n delay_loop 0.5\n real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_path \"/usr/bin/check 'a b' c\"\n misc_dynamic\n }\n }\n}\n").unwrap();
        let ch = &c.virtual_servers[0].real_servers[0].checkers[0];
        assert_eq!(ch.timing.delay_loop_ms, 500);
        assert_eq!(ch.timing.retry, 0);
        let Check::Misc {
            argv,
            timeout_ms,
            dynamic,
            ..
        } = &ch.check
        else {
            panic!()
        };
        assert_eq!(argv, &["/usr/bin/check", "a b", "c"]);
        assert_eq!(*timeout_ms, 500);
        assert!(dynamic);
    }
}
