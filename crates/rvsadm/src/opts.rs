// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's command line, parsed the way ipvsadm 1.31 parses it with popt.
//!
//! The two stages mirror `ipvsadm.c`: [`parse`] walks the arguments (command first, then
//! options in any order, bundled short options, `--long=value`, optional `-p` argument) and
//! checks each value as it is met; then the whole invocation is checked in ipvsadm's order
//! (`--set` values, leftover words, `-b`, the command × option matrix, port 0 and `-o`, the
//! dest checks, list conflicts). The first failure wins and carries ipvsadm's text and exit
//! status (ipvsadm-cli.md sections 1–5 and 9).
//!
//! Nothing here talks to the daemon; host and port names go through a [`Resolver`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_common::svc_flags;
use rvs_model::{
    DaemonConfig, DestConfig, Family, FwdMethod, Protocol, ServiceConfig, ServiceKey, SyncRole,
    TunCsum, TunType,
};

use crate::cnum::{atoi, inet_aton, string_to_number, strtoul_full};
use crate::names::Resolver;

/// An early end of the program: text for stderr (without newline) and the exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Exit status.
    pub code: i32,
    /// Message, printed on stderr followed by a newline.
    pub message: String,
    /// A popt error after the command: ipvsadm's `parse_options` returns it (-1) instead of
    /// exiting, so within `-R` the next line still runs.
    pub returned: bool,
}

fn fail(message: impl Into<String>) -> Exit {
    Exit {
        code: 2,
        message: message.into(),
        returned: false,
    }
}

/// The "Try ..." exit (status 255).
pub fn tryhelp(prog: &str) -> Exit {
    Exit {
        code: 255,
        message: format!("Try `{prog} -h' or '{prog} --help' for more information."),
        returned: false,
    }
}

/// The commands, in ipvsadm's `CMD_*` order (which is the matrix's column order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `-A`.
    Add,
    /// `-E`.
    Edit,
    /// `-D`.
    Del,
    /// `-C`.
    Flush,
    /// `-L`/`-l`.
    List,
    /// `-a`.
    AddDest,
    /// `-d`.
    DelDest,
    /// `-e`.
    EditDest,
    /// `--set`.
    Timeout,
    /// `--start-daemon`.
    StartDaemon,
    /// `--stop-daemon`.
    StopDaemon,
    /// `-R`.
    Restore,
    /// `-S`.
    Save,
    /// `-Z`.
    Zero,
}

const CMDNAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

/// Option bits, in ipvsadm's `OPT_*` order (the matrix's row order).
pub mod opt {
    /// `-n`.
    pub const NUMERIC: u64 = 1 << 0;
    /// `-c`.
    pub const CONNECTION: u64 = 1 << 1;
    /// `-t/-u/--sctp-service/-f`.
    pub const SERVICE: u64 = 1 << 2;
    /// `-s`.
    pub const SCHEDULER: u64 = 1 << 3;
    /// `-p`.
    pub const PERSISTENT: u64 = 1 << 4;
    /// `-M`.
    pub const NETMASK: u64 = 1 << 5;
    /// `-r`.
    pub const SERVER: u64 = 1 << 6;
    /// `-g/-i/-m`.
    pub const FORWARD: u64 = 1 << 7;
    /// `-w`.
    pub const WEIGHT: u64 = 1 << 8;
    /// `-x`.
    pub const UTHRESHOLD: u64 = 1 << 9;
    /// `-y`.
    pub const LTHRESHOLD: u64 = 1 << 10;
    /// `--mcast-interface`.
    pub const MCAST: u64 = 1 << 11;
    /// `--timeout`.
    pub const TIMEOUT: u64 = 1 << 12;
    /// `--daemon`.
    pub const DAEMON: u64 = 1 << 13;
    /// `--stats`.
    pub const STATS: u64 = 1 << 14;
    /// `--rate`.
    pub const RATE: u64 = 1 << 15;
    /// `--thresholds`.
    pub const THRESHOLDS: u64 = 1 << 16;
    /// `--persistent-conn`.
    pub const PERSISTENTCONN: u64 = 1 << 17;
    /// `--nosort`.
    pub const NOSORT: u64 = 1 << 18;
    /// `--syncid`.
    pub const SYNCID: u64 = 1 << 19;
    /// `--exact`.
    pub const EXACT: u64 = 1 << 20;
    /// `-o`.
    pub const ONEPACKET: u64 = 1 << 21;
    /// `--pe`.
    pub const PERSISTENCE_ENGINE: u64 = 1 << 22;
    /// `-b`.
    pub const SCHED_FLAGS: u64 = 1 << 23;
    /// `--mcast-group`.
    pub const MCAST_GROUP: u64 = 1 << 24;
    /// `--mcast-port`.
    pub const MCAST_PORT: u64 = 1 << 25;
    /// `--mcast-ttl`.
    pub const MCAST_TTL: u64 = 1 << 26;
    /// `--sync-maxlen`.
    pub const SYNC_MAXLEN: u64 = 1 << 27;
    /// `--tun-info`.
    pub const TUN_INFO: u64 = 1 << 28;
    /// `--tun-type`.
    pub const TUN_TYPE: u64 = 1 << 29;
    /// `--tun-port`.
    pub const TUN_PORT: u64 = 1 << 30;
    /// `--tun-nocsum`.
    pub const TUN_NOCSUM: u64 = 1 << 31;
    /// `--tun-csum`.
    pub const TUN_CSUM: u64 = 1 << 32;
    /// `--tun-remcsum`.
    pub const TUN_REMCSUM: u64 = 1 << 33;
}

const OPTNAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// `commands_v_options` of ipvsadm.c: one string per option row, one column per command in
/// [`Cmd`] order. `+` required, `x` illegal, `1` at most one of the `1`s, `.` optional.
const MATRIX: [&str; 34] = [
    //A E D C L a d e S s d R S Z  (add edit del flush list addsrv delsrv editsrv set start stop restore save zero)
    "xxxx.xxxxxxx.x", // numeric
    "xxxx1xxxxxxxxx", // connection
    "+++x1+++xxxxx.", // service-address
    "..xxxxxxxxxxxx", // scheduler
    "..xxxxxxxxxxxx", // persistent
    "..xxxxxxxxxxxx", // netmask
    "xxxxx+++xxxxxx", // real-server
    "xxxxx.x.xxxxxx", // forwarding-method
    "xxxxx.x.xxxxxx", // weight
    "xxxxx.x.xxxxxx", // u-threshold
    "xxxxx.x.xxxxxx", // l-threshold
    "xxxxxxxxx.xxxx", // mcast-interface
    "xxxx1xxxxxxxxx", // timeout
    "xxxx1xxxxxxxxx", // daemon
    "xxxx.xxxxxxxxx", // stats
    "xxxx.xxxxxxxxx", // rate
    "xxxx.xxxxxxxxx", // thresholds
    "xxxx.xxxxxxxxx", // persistent-conn
    "xxxx.xxxxxxxxx", // nosort
    "xxxx.xxxx..xxx", // syncid
    "xxxx.xxxxxxxxx", // exact
    "..xxxxxxxxxxxx", // ops
    "..xxxxxxxxxxxx", // pe
    "..xxxxxxxxxxxx", // sched-flags
    "xxxxxxxxx.xxxx", // mcast-group
    "xxxxxxxxx.xxxx", // mcast-port
    "xxxxxxxxx.xxxx", // mcast-ttl
    "xxxxxxxxx.xxxx", // sync-maxlen
    "xxxx.xxxxxxxxx", // tun-info
    "xxxxx.x.xxxxxx", // tun-type
    "xxxxx.x.xxxxxx", // tun-port
    "xxxxx.x.xxxxxx", // tun-nocsum
    "xxxxx.x.xxxxxx", // tun-csum
    "xxxxx.x.xxxxxx", // tun-remcsum
];

/// Which argument an option takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// Option identities (popt's `val`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tag {
    Cmd(char),
    Set,
    StartDaemon,
    StopDaemon,
    Help,
    Version,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Masq,
    Ipip,
    Gatewaying,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    Syncid,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    SyncMaxlen,
    McastGroup,
    McastPort,
    McastTtl,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    TunInfo,
}

/// popt's option table: long name, short name, argument kind, tag.
const TABLE: &[(&str, Option<char>, Arg, Tag)] = &[
    ("add-service", Some('A'), Arg::None, Tag::Cmd('A')),
    ("edit-service", Some('E'), Arg::None, Tag::Cmd('E')),
    ("delete-service", Some('D'), Arg::None, Tag::Cmd('D')),
    ("clear", Some('C'), Arg::None, Tag::Cmd('C')),
    ("list", Some('L'), Arg::None, Tag::Cmd('L')),
    ("list", Some('l'), Arg::None, Tag::Cmd('l')),
    ("zero", Some('Z'), Arg::None, Tag::Cmd('Z')),
    ("add-server", Some('a'), Arg::None, Tag::Cmd('a')),
    ("edit-server", Some('e'), Arg::None, Tag::Cmd('e')),
    ("delete-server", Some('d'), Arg::None, Tag::Cmd('d')),
    ("save", Some('S'), Arg::None, Tag::Cmd('S')),
    ("restore", Some('R'), Arg::None, Tag::Cmd('R')),
    ("set", None, Arg::None, Tag::Set),
    ("start-daemon", None, Arg::Required, Tag::StartDaemon),
    ("stop-daemon", None, Arg::Required, Tag::StopDaemon),
    ("help", Some('h'), Arg::None, Tag::Help),
    ("version", Some('v'), Arg::None, Tag::Version),
    ("tcp-service", Some('t'), Arg::Required, Tag::Tcp),
    ("udp-service", Some('u'), Arg::Required, Tag::Udp),
    ("sctp-service", None, Arg::Required, Tag::Sctp),
    ("fwmark-service", Some('f'), Arg::Required, Tag::Fwmark),
    ("scheduler", Some('s'), Arg::Required, Tag::Scheduler),
    ("persistent", Some('p'), Arg::Optional, Tag::Persistent),
    ("netmask", Some('M'), Arg::Required, Tag::Netmask),
    ("real-server", Some('r'), Arg::Required, Tag::Server),
    ("masquerading", Some('m'), Arg::None, Tag::Masq),
    ("ipip", Some('i'), Arg::None, Tag::Ipip),
    ("gatewaying", Some('g'), Arg::None, Tag::Gatewaying),
    ("weight", Some('w'), Arg::Required, Tag::Weight),
    ("u-threshold", Some('x'), Arg::Required, Tag::UThreshold),
    ("l-threshold", Some('y'), Arg::Required, Tag::LThreshold),
    ("numeric", Some('n'), Arg::None, Tag::Numeric),
    ("connection", Some('c'), Arg::None, Tag::Connection),
    ("mcast-interface", None, Arg::Required, Tag::McastInterface),
    ("syncid", None, Arg::Required, Tag::Syncid),
    ("timeout", None, Arg::None, Tag::Timeout),
    ("daemon", None, Arg::None, Tag::Daemon),
    ("stats", None, Arg::None, Tag::Stats),
    ("rate", None, Arg::None, Tag::Rate),
    ("thresholds", None, Arg::None, Tag::Thresholds),
    ("persistent-conn", None, Arg::None, Tag::PersistentConn),
    ("nosort", None, Arg::None, Tag::NoSort),
    ("sort", None, Arg::None, Tag::Sort),
    ("exact", Some('X'), Arg::None, Tag::Exact),
    ("ipv6", Some('6'), Arg::None, Tag::Ipv6),
    ("ops", Some('o'), Arg::None, Tag::Ops),
    ("pe", None, Arg::Required, Tag::Pe),
    ("sched-flags", Some('b'), Arg::Required, Tag::SchedFlags),
    ("sync-maxlen", None, Arg::Required, Tag::SyncMaxlen),
    ("mcast-group", None, Arg::Required, Tag::McastGroup),
    ("mcast-port", None, Arg::Required, Tag::McastPort),
    ("mcast-ttl", None, Arg::Required, Tag::McastTtl),
    ("tun-type", None, Arg::Required, Tag::TunType),
    ("tun-port", None, Arg::Required, Tag::TunPort),
    ("tun-nocsum", None, Arg::None, Tag::TunNocsum),
    ("tun-csum", None, Arg::None, Tag::TunCsum),
    ("tun-remcsum", None, Arg::None, Tag::TunRemcsum),
    ("tun-info", None, Arg::None, Tag::TunInfo),
];

/// One step of popt's option scan.
enum Next {
    Opt(Tag, Option<String>, String),
    End,
    Error(String, &'static str),
}

/// A minimal popt: options anywhere, words collected as leftovers, `--` ends options.
struct Popt<'a> {
    args: &'a [String],
    next: usize,
    /// Rest of a short-option bundle being walked, and the word it came from.
    bundle: Option<(String, String)>,
    leftovers: Vec<String>,
    no_more_options: bool,
}

impl<'a> Popt<'a> {
    fn new(args: &'a [String]) -> Popt<'a> {
        Popt {
            args,
            next: 0,
            bundle: None,
            leftovers: Vec::new(),
            no_more_options: false,
        }
    }

    fn take_next_word(&mut self) -> Option<String> {
        let w = self.args.get(self.next).cloned();
        if w.is_some() {
            self.next += 1;
        }
        w
    }

    fn get_next(&mut self) -> Next {
        if let Some((rest, word)) = self.bundle.take() {
            return self.short(rest, word);
        }
        loop {
            let Some(word) = self.take_next_word() else {
                return Next::End;
            };
            if self.no_more_options || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.no_more_options = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let Some(&(_, _, arg, tag)) = TABLE.iter().find(|e| e.0 == name) else {
                    return Next::Error(word, "unknown option");
                };
                return match (arg, inline) {
                    (Arg::None, Some(_)) => Next::Error(word, "option does not take an argument"),
                    (Arg::None, None) => Next::Opt(tag, None, word),
                    (_, Some(v)) => Next::Opt(tag, Some(v), word),
                    (Arg::Required, None) => match self.take_next_word() {
                        Some(v) => Next::Opt(tag, Some(v), word),
                        None => Next::Error(word, "missing argument"),
                    },
                    (Arg::Optional, None) => {
                        let v = self.optional_word();
                        Next::Opt(tag, v, word)
                    }
                };
            }
            return self.short(word[1..].to_string(), word);
        }
    }

    fn optional_word(&mut self) -> Option<String> {
        match self.args.get(self.next) {
            Some(w) if !w.starts_with('-') => self.take_next_word(),
            _ => None,
        }
    }

    fn short(&mut self, rest: String, word: String) -> Next {
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            return Next::End;
        };
        let remaining: String = chars.collect();
        let Some(&(_, _, arg, tag)) = TABLE.iter().find(|e| e.1 == Some(c)) else {
            return Next::Error(word, "unknown option");
        };
        match arg {
            Arg::None => {
                if !remaining.is_empty() {
                    self.bundle = Some((remaining, word.clone()));
                }
                Next::Opt(tag, None, word)
            }
            _ if !remaining.is_empty() => Next::Opt(tag, Some(remaining), word),
            Arg::Required => match self.take_next_word() {
                Some(v) => Next::Opt(tag, Some(v), word),
                None => Next::Error(word, "missing argument"),
            },
            Arg::Optional => {
                let v = self.optional_word();
                Next::Opt(tag, v, word)
            }
        }
    }
}

/// The service being built (`ipvs_service_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svc {
    /// Family; `None` until an address is parsed.
    pub af: Option<Family>,
    /// IP protocol number; 0 until known.
    pub protocol: u8,
    /// Address.
    pub addr: Option<IpAddr>,
    /// Port.
    pub port: u16,
    /// fwmark.
    pub fwmark: u32,
    /// Scheduler name.
    pub sched_name: String,
    /// Flags.
    pub flags: u32,
    /// Persistence timeout.
    pub timeout: u32,
    /// Netmask / prefix.
    pub netmask: u32,
    /// Persistence engine.
    pub pe_name: String,
}

/// The dest being built (`ipvs_dest_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dst {
    /// Address.
    pub addr: Option<IpAddr>,
    /// Port.
    pub port: u16,
    /// Method.
    pub fwd: FwdMethod,
    /// Weight.
    pub weight: i32,
    /// Upper threshold.
    pub u_threshold: u32,
    /// Lower threshold.
    pub l_threshold: u32,
    /// Tunnel type.
    pub tun_type: TunType,
    /// Tunnel port.
    pub tun_port: u16,
    /// Tunnel checksum mode.
    pub tun_csum: TunCsum,
}

/// Listing format bits (`FMT_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Format {
    /// `-n`.
    pub numeric: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--nosort`.
    pub nosort: bool,
    /// `--exact`.
    pub exact: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `-S` rule format.
    pub rule: bool,
}

/// A fully checked invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `-h`.
    Help,
    /// `-v`.
    Version,
    /// Anything else.
    Command(Box<Command>),
}

/// The checked contents of one command line (`struct ipvs_command_entry` + options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The command.
    pub cmd: Cmd,
    /// Option bits given.
    pub options: u64,
    /// Service.
    pub svc: Svc,
    /// Dest.
    pub dest: Dst,
    /// Sync daemon settings.
    pub daemon: DaemonConfig,
    /// `--set` values.
    pub timeouts: (u32, u32, u32),
    /// Listing format.
    pub format: Format,
}

const MAX_TIMEOUT: i64 = 86400 * 31;
/// Default persistence timeout of `-p` without a value.
const PERSISTENT_TIMEOUT: u32 = 360;

impl Command {
    fn set_option(&mut self, o: u64) -> Result<(), Exit> {
        if self.options & o != 0 {
            return Err(fail(format!(
                "multiple '{}' options specified",
                OPTNAMES[o.trailing_zeros() as usize]
            )));
        }
        self.options |= o;
        Ok(())
    }

    /// The service identity, if the command names one.
    pub fn service_key(&self) -> Option<ServiceKey> {
        if self.svc.fwmark != 0 {
            return Some(ServiceKey::Fwmark {
                mark: self.svc.fwmark,
                ipv6: self.svc.af == Some(Family::V6),
            });
        }
        let protocol = match self.svc.protocol {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            _ => return None,
        };
        Some(ServiceKey::Addr {
            protocol,
            addr: self.svc.addr?,
            port: self.svc.port,
        })
    }

    /// The service settings `-A`/`-E` send.
    pub fn service_config(&self) -> Option<ServiceConfig> {
        Some(ServiceConfig {
            key: self.service_key()?,
            scheduler: self.svc.sched_name.clone(),
            flags: self.svc.flags,
            timeout: self.svc.timeout,
            netmask: self.svc.netmask,
            pe: self.svc.pe_name.clone(),
        })
    }

    /// The dest settings `-a`/`-e` send.
    pub fn dest_config(&self) -> Option<DestConfig> {
        Some(DestConfig {
            addr: self.dest.addr?,
            port: self.dest.port,
            fwd: self.dest.fwd,
            weight: self.dest.weight,
            u_threshold: self.dest.u_threshold,
            l_threshold: self.dest.l_threshold,
            tun_type: self.dest.tun_type,
            tun_port: self.dest.tun_port,
            tun_csum: self.dest.tun_csum,
        })
    }
}

const SERVICE_ADDR: u8 = 1;
const SERVICE_PORT: u8 = 2;

/// ipvsadm's `parse_service`: fills `svc` and returns SERVICE_ADDR|SERVICE_PORT bits, or 0.
fn parse_service(buf: &str, svc: &mut Svc, res: &dyn Resolver) -> u8 {
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

fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Exit> {
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

fn number(arg: &str, min: i64, max: i64, what: &str) -> Result<i64, Exit> {
    string_to_number(arg, min, max).ok_or_else(|| fail(format!("illegal {what} specified")))
}

fn parse_timeout(arg: Option<&str>, min: i64) -> Result<u32, Exit> {
    match arg {
        None => Ok(PERSISTENT_TIMEOUT),
        Some(a) => string_to_number(a, min, MAX_TIMEOUT)
            .map(|n| n as u32)
            .ok_or_else(|| fail(format!("invalid timeout value `{a}' specified"))),
    }
}

/// Parses and checks one command line. `args` excludes the program name `prog`.
pub fn parse(prog: &str, args: &[String], res: &dyn Resolver) -> Result<Invocation, Exit> {
    let mut p = Popt::new(args);
    let mut c = Command {
        cmd: Cmd::List,
        options: 0,
        svc: Svc {
            af: None,
            protocol: 0,
            addr: None,
            port: 0,
            fwmark: 0,
            sched_name: String::new(),
            flags: 0,
            timeout: 0,
            netmask: u32::MAX,
            pe_name: String::new(),
        },
        dest: Dst {
            addr: None,
            port: 0,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: TunCsum::Nocsum,
        },
        daemon: DaemonConfig {
            role: SyncRole::Master,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        },
        timeouts: (0, 0, 0),
        format: Format::default(),
    };

    // The first option must be a command.
    c.cmd = match p.get_next() {
        Next::Opt(tag, arg, _) => match tag {
            Tag::Cmd('A') => Cmd::Add,
            Tag::Cmd('E') => Cmd::Edit,
            Tag::Cmd('D') => Cmd::Del,
            Tag::Cmd('C') => Cmd::Flush,
            Tag::Cmd('L') | Tag::Cmd('l') => Cmd::List,
            Tag::Cmd('Z') => Cmd::Zero,
            Tag::Cmd('a') => Cmd::AddDest,
            Tag::Cmd('e') => Cmd::EditDest,
            Tag::Cmd('d') => Cmd::DelDest,
            Tag::Cmd('S') => Cmd::Save,
            Tag::Cmd('R') => Cmd::Restore,
            Tag::Set => Cmd::Timeout,
            Tag::StartDaemon | Tag::StopDaemon => {
                let a = arg.unwrap_or_default();
                c.daemon.role = match a.as_str() {
                    "master" => SyncRole::Master,
                    "backup" => SyncRole::Backup,
                    _ if tag == Tag::StartDaemon => {
                        return Err(fail("illegal start-daemon parameter specified"));
                    }
                    _ => return Err(fail("illegal start_daemon specified")),
                };
                if tag == Tag::StartDaemon {
                    Cmd::StartDaemon
                } else {
                    Cmd::StopDaemon
                }
            }
            Tag::Help => return Ok(Invocation::Help),
            Tag::Version => return Ok(Invocation::Version),
            _ => return Err(tryhelp(prog)),
        },
        _ => return Err(tryhelp(prog)),
    };

    let mut sched_flags_arg = String::new();
    loop {
        let (tag, arg, word) = match p.get_next() {
            Next::Opt(t, a, w) => (t, a, w),
            Next::End => break,
            Next::Error(word, msg) => {
                return Err(Exit {
                    code: 255,
                    message: format!("{word}: {msg}"),
                    returned: true,
                });
            }
        };
        let a = arg.as_deref().unwrap_or("");
        match tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp => {
                c.set_option(opt::SERVICE)?;
                c.svc.protocol = match tag {
                    Tag::Tcp => 6,
                    Tag::Udp => 17,
                    _ => 132,
                };
                if parse_service(a, &mut c.svc, res) & SERVICE_ADDR == 0 {
                    return Err(fail("illegal virtual server address[:port] specified"));
                }
            }
            Tag::Fwmark => {
                c.set_option(opt::SERVICE)?;
                c.svc.af = Some(Family::V4);
                c.svc.protocol = 6;
                c.svc.fwmark = match strtoul_full(a) {
                    Some(v) if v > 0 && v <= u64::from(u32::MAX) => v as u32,
                    _ => return Err(fail(format!("invalid fwmark value `{a}' specified"))),
                };
            }
            Tag::Scheduler => {
                c.set_option(opt::SCHEDULER)?;
                c.svc.sched_name = a.chars().take(15).collect();
            }
            Tag::Persistent => {
                c.set_option(opt::PERSISTENT)?;
                c.svc.flags |= svc_flags::PERSISTENT;
                c.svc.timeout = parse_timeout(arg.as_deref(), 1)?;
            }
            Tag::Netmask => {
                c.set_option(opt::NETMASK)?;
                if c.svc.af != Some(Family::V6) {
                    match inet_aton(a).or_else(|| res.host_v4(a)) {
                        Some(m) => c.svc.netmask = u32::from(m),
                        None => {
                            return Err(fail("illegal virtual server persistent mask specified"));
                        }
                    }
                } else {
                    let n = atoi(a);
                    if !(1..=128).contains(&n) {
                        return Err(fail("illegal ipv6 netmask specified"));
                    }
                    c.svc.netmask = n as u32;
                }
            }
            Tag::Server => {
                c.set_option(opt::SERVER)?;
                let mut t = c.svc.clone();
                let parse = parse_service(a, &mut t, res);
                if parse & SERVICE_ADDR == 0 {
                    return Err(fail("illegal real server address[:port] specified"));
                }
                c.dest.addr = t.addr;
                c.dest.port = if parse == SERVICE_ADDR {
                    c.svc.port
                } else {
                    t.port
                };
            }
            Tag::Ipip | Tag::Gatewaying | Tag::Masq => {
                c.set_option(opt::FORWARD)?;
                c.dest.fwd = match tag {
                    Tag::Ipip => FwdMethod::Tunnel,
                    Tag::Gatewaying => FwdMethod::Route,
                    _ => FwdMethod::Masq,
                };
            }
            Tag::Weight => {
                c.set_option(opt::WEIGHT)?;
                c.dest.weight = number(a, 0, 65535, "weight")? as i32;
            }
            Tag::UThreshold => {
                c.set_option(opt::UTHRESHOLD)?;
                c.dest.u_threshold = number(a, 0, i64::from(i32::MAX), "u_threshold")? as u32;
            }
            Tag::LThreshold => {
                c.set_option(opt::LTHRESHOLD)?;
                c.dest.l_threshold = number(a, 0, i64::from(i32::MAX), "l_threshold")? as u32;
            }
            Tag::Connection => c.set_option(opt::CONNECTION)?,
            Tag::Numeric => {
                c.set_option(opt::NUMERIC)?;
                c.format.numeric = true;
            }
            Tag::McastInterface => {
                c.set_option(opt::MCAST)?;
                c.daemon.mcast_ifn = a.chars().take(15).collect();
            }
            Tag::Syncid => {
                c.set_option(opt::SYNCID)?;
                c.daemon.syncid = number(a, 0, 255, "syncid")? as u8;
            }
            Tag::Timeout => c.set_option(opt::TIMEOUT)?,
            Tag::Daemon => c.set_option(opt::DAEMON)?,
            Tag::Stats => {
                c.set_option(opt::STATS)?;
                c.format.stats = true;
            }
            Tag::Rate => {
                c.set_option(opt::RATE)?;
                c.format.rate = true;
            }
            Tag::Thresholds => {
                c.set_option(opt::THRESHOLDS)?;
                c.format.thresholds = true;
            }
            Tag::PersistentConn => {
                c.set_option(opt::PERSISTENTCONN)?;
                c.format.persistent_conn = true;
            }
            Tag::NoSort => {
                c.set_option(opt::NOSORT)?;
                c.format.nosort = true;
            }
            Tag::Sort => {}
            Tag::Exact => {
                c.set_option(opt::EXACT)?;
                c.format.exact = true;
            }
            Tag::Ipv6 => {
                if c.svc.fwmark != 0 {
                    c.svc.af = Some(Family::V6);
                    c.svc.netmask = 128;
                } else {
                    return Err(fail("-6 used before -f\n"));
                }
            }
            Tag::Ops => {
                c.set_option(opt::ONEPACKET)?;
                c.svc.flags |= svc_flags::ONEPACKET;
            }
            Tag::Pe => {
                c.set_option(opt::PERSISTENCE_ENGINE)?;
                c.svc.pe_name = a.chars().take(15).collect();
            }
            Tag::SchedFlags => {
                c.set_option(opt::SCHED_FLAGS)?;
                sched_flags_arg = a.chars().take(127).collect();
            }
            Tag::McastGroup => {
                c.set_option(opt::MCAST_GROUP)?;
                if a.contains(':') {
                    match a.parse::<Ipv6Addr>() {
                        Ok(g) if g.is_multicast() => c.daemon.mcast_group = Some(IpAddr::V6(g)),
                        _ => return Err(fail(format!("invalid IPv6 mcast-group `{a}'"))),
                    }
                } else {
                    match a.parse::<Ipv4Addr>() {
                        Ok(g) if g.is_multicast() => c.daemon.mcast_group = Some(IpAddr::V4(g)),
                        _ => return Err(fail(format!("invalid IPv4 mcast-group `{a}'"))),
                    }
                }
            }
            Tag::McastPort => {
                c.set_option(opt::MCAST_PORT)?;
                c.daemon.mcast_port = number(a, 1, 65535, "mcast-port")? as u16;
            }
            Tag::McastTtl => {
                c.set_option(opt::MCAST_TTL)?;
                c.daemon.mcast_ttl = number(a, 1, 255, "mcast-ttl")? as u8;
            }
            Tag::SyncMaxlen => {
                c.set_option(opt::SYNC_MAXLEN)?;
                c.daemon.sync_maxlen = number(a, 1, 65535 - 20 - 8, "sync-maxlen")? as u16;
            }
            Tag::TunType => {
                c.set_option(opt::TUN_TYPE)?;
                c.dest.tun_type = match a {
                    "ipip" => TunType::Ipip,
                    "gue" => TunType::Gue,
                    "gre" => TunType::Gre,
                    _ => return Err(fail("illegal tunnel type specified")),
                };
            }
            Tag::TunPort => {
                c.set_option(opt::TUN_PORT)?;
                c.dest.tun_port = number(a, 1, 65535, "tunnel port")? as u16;
            }
            Tag::TunNocsum => {
                c.set_option(opt::TUN_NOCSUM)?;
                c.dest.tun_csum = TunCsum::Nocsum;
            }
            Tag::TunCsum => {
                c.set_option(opt::TUN_CSUM)?;
                c.dest.tun_csum = TunCsum::Csum;
            }
            Tag::TunRemcsum => {
                c.set_option(opt::TUN_REMCSUM)?;
                c.dest.tun_csum = TunCsum::Remcsum;
            }
            Tag::TunInfo => {
                c.set_option(opt::TUN_INFO)?;
                c.format.tun_info = true;
            }
            // A second command, or -h/-v after the command.
            _ => return Err(fail(format!("invalid option `{word}'"))),
        }
    }

    let mut leftovers = std::mem::take(&mut p.leftovers).into_iter();
    if c.cmd == Cmd::Timeout {
        let (Some(t1), Some(t2), Some(t3)) = (leftovers.next(), leftovers.next(), leftovers.next())
        else {
            return Err(fail("--set option requires 3 timeout values"));
        };
        c.timeouts = (
            parse_timeout(Some(&t1), 0)?,
            parse_timeout(Some(&t2), 0)?,
            parse_timeout(Some(&t3), 0)?,
        );
    }
    if let Some(extra) = leftovers.next() {
        return Err(fail(format!("unexpected argument {extra}")));
    }
    if !sched_flags_arg.is_empty() {
        c.svc.flags |= parse_sched_flags(&c.svc.sched_name, &sched_flags_arg)?;
    }

    generic_opt_check(c.cmd, c.options)?;

    if matches!(c.cmd, Cmd::Add | Cmd::Edit) {
        if c.svc.fwmark == 0 && c.svc.port == 0 && c.svc.flags & svc_flags::PERSISTENT == 0 {
            return Err(fail("Zero port specified for non-persistent service"));
        }
        if c.svc.flags & svc_flags::ONEPACKET != 0 && c.svc.fwmark == 0 && c.svc.protocol != 17 {
            return Err(fail(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        if c.svc.sched_name.is_empty() {
            c.svc.sched_name = "wlc".into();
        }
    }
    if c.cmd == Cmd::StartDaemon && c.daemon.mcast_ifn.is_empty() {
        c.daemon.mcast_ifn = "eth0".into();
    }
    if matches!(c.cmd, Cmd::AddDest | Cmd::EditDest) {
        if c.svc.fwmark == 0 && matches!(c.dest.fwd, FwdMethod::Tunnel | FwdMethod::Route) {
            c.dest.port = c.svc.port;
        }
        let dest_af = c.dest.addr.as_ref().map(Family::of);
        if dest_af != c.svc.af && c.dest.fwd != FwdMethod::Tunnel {
            return Err(fail(
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tun_opts =
            opt::TUN_TYPE | opt::TUN_PORT | opt::TUN_NOCSUM | opt::TUN_CSUM | opt::TUN_REMCSUM;
        if c.options & tun_opts != 0 && c.dest.fwd != FwdMethod::Tunnel {
            return Err(fail("Tunnel options conflict with forward method"));
        }
        tunnel_opt_check(c.dest.tun_type, c.options)?;
    }
    if c.cmd == Cmd::List {
        let o = c.options;
        if (o & (opt::CONNECTION | opt::TIMEOUT | opt::DAEMON) != 0
            && o & (opt::STATS | opt::RATE | opt::THRESHOLDS) != 0)
            || (o & (opt::TIMEOUT | opt::DAEMON) != 0 && o & opt::PERSISTENTCONN != 0)
        {
            return Err(fail("options conflicts in the list command"));
        }
    }
    Ok(Invocation::Command(Box::new(c)))
}

/// The command × option matrix (`generic_opt_check`).
fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), Exit> {
    let col = cmd as usize;
    let cmdname = CMDNAMES[col];
    let mut last: Option<usize> = None;
    for (j, row) in MATRIX.iter().enumerate() {
        let rule = row.as_bytes()[col];
        if options & (1 << j) == 0 {
            if rule == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{}' option for the '{cmdname}' command",
                    OPTNAMES[j]
                )));
            }
        } else {
            if rule == b'x' {
                return Err(fail(format!(
                    "Illegal '{}' option with the '{cmdname}' command",
                    OPTNAMES[j]
                )));
            }
            if rule == b'1' {
                if let Some(l) = last {
                    return Err(fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{cmdname}' command",
                        OPTNAMES[j], OPTNAMES[l]
                    )));
                }
                last = Some(j);
            }
        }
    }
    Ok(())
}

/// The tunnel type × option matrix (ipvsadm-cli.md 4.1).
fn tunnel_opt_check(tun: TunType, options: u64) -> Result<(), Exit> {
    const OPTS: [(u64, &str); 4] = [
        (opt::TUN_PORT, "tun-port"),
        (opt::TUN_NOCSUM, "tun-nocsum"),
        (opt::TUN_CSUM, "tun-csum"),
        (opt::TUN_REMCSUM, "tun-remcsum"),
    ];
    let (rules, name) = match tun {
        TunType::Ipip => (b"xxxx", "ipip"),
        TunType::Gue => (b"+111", "gue"),
        TunType::Gre => (b"x11x", "gre"),
    };
    let mut last: Option<&str> = None;
    for (k, (bit, optname)) in OPTS.iter().enumerate() {
        let rule = rules[k];
        if options & bit == 0 {
            if rule == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{optname}' option for the '{name}' tunnel type"
                )));
            }
        } else {
            if rule == b'x' {
                return Err(fail(format!(
                    "Illegal '{optname}' option with the '{name}' tunnel type"
                )));
            }
            if rule == b'1' {
                if let Some(l) = last {
                    return Err(fail(format!(
                        "The option '{optname}' conflicts with the '{l}' option in the '{name}' tunnel type"
                    )));
                }
                last = Some(optname);
            }
        }
    }
    Ok(())
}
