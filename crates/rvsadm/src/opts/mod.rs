// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm's command line, parsed the way ipvsadm 1.31 parses it with popt.
//!
//! The two stages mirror `ipvsadm.c`: [`parse`] walks the arguments (command first, then
//! options in any order, bundled short options, `--long=value`, optional `-p` argument) and
//! checks each value as it is met; then the whole invocation is checked in ipvsadm's order
//! (`--set` values, leftover words, `-b`, the command × option matrix, port 0 and `-o`, the
//! dest checks, list conflicts). The first failure wins and carries ipvsadm's text and exit
//! status (2 for a refused value or combination, 255 when the first word is not a command
//! or popt rejects an option).
//!
//! Nothing here talks to the daemon; host and port names go through a [`Resolver`].
//!
//! The parts: `table` (popt's option table), `popt` (the argument walk), `values` (each
//! option's value read and refused as ipvsadm does), `check` (the command × option matrix
//! and the tunnel options); this file holds the types and the walk that joins them.

mod check;
mod popt;
mod table;
mod values;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_common::svc_flags;
use rvs_model::{
    DaemonConfig, DestConfig, Family, FwdMethod, Protocol, ServiceConfig, ServiceKey, SyncRole,
    TunCsum, TunType,
};

use crate::cnum::{atoi, inet_aton, strtoul_full};
use crate::names::Resolver;

use check::{OPTNAMES, generic_opt_check, tunnel_opt_check};

/// Every option as popt knows it: long name, short name, and whether it takes an argument
/// (for the man page and the shell completions).
pub fn options() -> Vec<(&'static str, Option<char>, bool)> {
    table::TABLE
        .iter()
        .map(|(long, short, arg, _)| (*long, *short, *arg != table::Arg::None))
        .collect()
}
use popt::{Next, Popt};
use table::Tag;
use values::{SERVICE_ADDR, number, parse_sched_flags, parse_service, parse_timeout};

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
