// SPDX-License-Identifier: MIT OR Apache-2.0
//! The rvs daemon.
//!
//! `rvsd` owns the director's IPVS configuration. It serves the control protocol of `rvs-ctl`
//! on a Unix socket ([`server`]), applies changes with the kernel's semantics from `rvs-model`
//! ([`state`]), and writes the configuration atomically to its state directory after every
//! change so that a restart, or a `kill -9`, loses nothing ([`persist`]).
//!
//! With `--interface` it loads the XDP program (`rvs-dataplane`), attaches it, writes every
//! change into its maps and runs the housekeeping the kernel's IPVS does with timers
//! ([`housekeeping`]). Without, it runs the control plane only and says so.

use std::path::PathBuf;

pub mod health;
pub mod housekeeping;
pub mod metrics;
pub mod packet;
pub mod persist;
pub mod server;
pub mod state;

/// Usage text.
pub const USAGE: &str = "\
usage: rvsd [--socket PATH] [--state-dir DIR] [--interface IFACE]... [--conn-tab-size N]
            [--expire-nodest-conn] [--expire-quiescent-template] [--bpffs DIR]
            [--instance NAME] [--config FILE] [--metrics ADDR:PORT]

  --socket PATH        control socket (default /run/rvs/rvsd.sock)
  --state-dir DIR      where the configuration is kept (default /var/lib/rvs)
  --interface IFACE    attach the packet path to IFACE (repeatable)
  --conn-tab-size N    connection table entries, shown as (size=N) (default 1048576)
  --expire-nodest-conn a packet of a connection whose dest was removed expires it (and is
                       then handled as new) instead of being dropped until it times out
  --expire-quiescent-template
                       a persistence template whose dest has weight 0 is not used: the
                       client is scheduled afresh (default: it follows its template)
  --bpffs DIR          bpffs mount for the pins, mounted if missing (default /sys/fs/bpf)
  --instance NAME      pins go to DIR/rvs/NAME (default: named after the state directory)
  --config FILE        follow a keepalived.conf: its virtual servers are applied at start and
                       on `rvs reload` or SIGHUP (changes only), and their real servers are
                       health-checked; other blocks are ignored, one log line each
  --metrics ADDR:PORT  serve Prometheus/OpenMetrics metrics at http://ADDR:PORT/metrics
                       (off by default; no authentication: use a loopback address)
";

/// Daemon options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Control socket path.
    pub socket: PathBuf,
    /// State directory.
    pub state_dir: PathBuf,
    /// Interfaces for the packet path.
    pub interfaces: Vec<String>,
    /// Connection table size.
    pub conn_tab_size: u32,
    /// The `expire_nodest_conn` sysctl.
    pub expire_nodest_conn: bool,
    /// The `expire_quiescent_template` sysctl.
    pub expire_quiescent_template: bool,
    /// Where bpffs is (or gets mounted).
    pub bpffs: PathBuf,
    /// Instance name; `None`: derived from the state directory.
    pub instance: Option<String>,
    /// keepalived.conf to follow.
    pub config: Option<PathBuf>,
    /// Where to serve metrics.
    pub metrics: Option<std::net::SocketAddr>,
}

impl Options {
    /// The instance name: given, or the state directory's path with everything but letters,
    /// digits and `-` turned into `_` (bpffs refuses dots).
    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(|| {
            let p = self.state_dir.to_string_lossy();
            let name: String = p
                .trim_matches('/')
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if name.is_empty() { "root".into() } else { name }
        })
    }

    /// Where this instance pins its program's maps and links.
    pub fn pin_dir(&self) -> PathBuf {
        self.bpffs.join("rvs").join(self.instance_name())
    }
}

/// Result of parsing the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run the daemon.
    Run(Options),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

impl Options {
    /// Parses `rvsd`'s arguments (`--opt value` or `--opt=value`).
    pub fn parse(args: &[String]) -> Result<Parsed, String> {
        let mut o = Options {
            socket: rvs_ctl::DEFAULT_SOCKET.into(),
            state_dir: "/var/lib/rvs".into(),
            interfaces: Vec::new(),
            conn_tab_size: 1 << 20,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            bpffs: "/sys/fs/bpf".into(),
            instance: None,
            config: None,
            metrics: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name {
                "--socket" => o.socket = value()?.into(),
                "--state-dir" => o.state_dir = value()?.into(),
                "--interface" => o.interfaces.push(value()?),
                "--conn-tab-size" => {
                    let v = value()?;
                    o.conn_tab_size = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--conn-tab-size: bad number {v:?}"))?;
                }
                "--expire-nodest-conn" => o.expire_nodest_conn = true,
                "--expire-quiescent-template" => o.expire_quiescent_template = true,
                "--bpffs" => o.bpffs = value()?.into(),
                "--config" => o.config = Some(value()?.into()),
                "--metrics" => {
                    let v = value()?;
                    o.metrics = Some(v.parse().map_err(|_| {
                        format!("--metrics: ADDRESS:PORT (e.g. 127.0.0.1:9477), not {v:?}")
                    })?);
                }
                "--instance" => {
                    let v = value()?;
                    // bpffs refuses names with a dot.
                    if v.is_empty()
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                    {
                        return Err(format!(
                            "--instance: use letters, digits, - and _ only: {v:?}"
                        ));
                    }
                    o.instance = Some(v);
                }
                "-h" | "--help" => return Ok(Parsed::Help),
                "-V" | "--version" => return Ok(Parsed::Version),
                _ => return Err(format!("unknown argument {arg:?}")),
            }
        }
        Ok(Parsed::Run(o))
    }
}

/// Logs one line to stderr (journald and the lab capture it).
pub fn log(msg: impl std::fmt::Display) {
    eprintln!("rvsd: {msg}");
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(opts: Options) -> anyhow::Result<()> {
    let store = persist::Store::open(&opts.state_dir)?;
    let table = store.load()?;
    log(format_args!(
        "state {}: {} services restored",
        opts.state_dir.display(),
        table.services().len()
    ));
    let packet = if opts.interfaces.is_empty() {
        log("no --interface given: running the control plane only (no packet path)");
        None
    } else {
        Some(packet::Packet::start(&opts)?)
    };
    let state = std::sync::Arc::new(state::State::new(table, store, opts.conn_tab_size, packet));
    if state.has_packet_path() {
        housekeeping::spawn(std::sync::Arc::clone(&state));
    }
    let (health, wake) = health::Health::new(opts.config.clone(), &opts.state_dir);
    state.set_health(std::sync::Arc::clone(&health));
    // SIGHUP reloads; installed first, and always, so that a HUP never kills rvsd.
    {
        let (h, s) = (
            std::sync::Arc::clone(&health),
            std::sync::Arc::clone(&state),
        );
        let mut hup = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        std::thread::spawn(move || {
            for _ in hup.forever() {
                if !h.has_config() {
                    log("SIGHUP: rvsd runs without --config: nothing to reload");
                    continue;
                }
                log("SIGHUP: reloading the configuration");
                match h.load(&s, None, false) {
                    Ok(plan) if plan.changes.is_empty() => log("reload: nothing changed"),
                    Ok(_) => {}
                    Err(e) => log(format_args!("reload failed, nothing changed: {e}")),
                }
            }
        });
    }
    if health.has_config() {
        // A file that cannot be read leaves the saved configuration in place (and the
        // packet path serving it) and checks the configuration applied last; `rvs status`
        // shows the error until a reload succeeds.
        health.start(&state);
    }
    health::spawn_reconciler(health, std::sync::Arc::clone(&state), wake);
    if let Some(addr) = opts.metrics {
        metrics::spawn(addr, std::sync::Arc::clone(&state))?;
    }
    server::serve(&opts.socket, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let Parsed::Run(o) = Options::parse(&[]).unwrap() else {
            panic!()
        };
        assert_eq!(o.socket, PathBuf::from("/run/rvs/rvsd.sock"));
        assert_eq!(o.state_dir, PathBuf::from("/var/lib/rvs"));
        let Parsed::Run(o) = Options::parse(&args(&[
            "--socket=/tmp/s",
            "--state-dir",
            "/tmp/d",
            "--interface",
            "eth0",
            "--interface=eth1",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(o.interfaces, ["eth0", "eth1"]);
        assert_eq!(o.socket, PathBuf::from("/tmp/s"));
        assert!(Options::parse(&args(&["--socket"])).is_err());
        assert!(Options::parse(&args(&["--bogus"])).is_err());
        assert!(Options::parse(&args(&["--conn-tab-size", "0"])).is_err());
    }
}
