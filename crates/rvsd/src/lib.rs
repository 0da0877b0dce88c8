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

pub mod announce;
pub mod health;
pub mod housekeeping;
pub mod metrics;
pub mod packet;
pub mod persist;
pub mod server;
pub mod state;
pub mod sync;
mod trace;

fn instance_name(v: &str) -> Result<String, String> {
    // bpffs refuses names with a dot.
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err("use letters, digits, - and _ only".into());
    }
    Ok(v.to_string())
}

/// Daemon options.
#[derive(Clone, Debug, PartialEq, Eq, clap::Parser)]
#[command(
    name = "rvsd",
    version,
    about = "The rvs daemon: an IPVS-compatible layer-4 load balancer (director) on XDP",
    long_about = "rvsd holds the director's IPVS configuration and serves rvsadm and rvs on a \
                  Unix socket. With --interface it loads its XDP program there and forwards \
                  (direct routing, NAT, tunnels) with IPVS's schedulers, connection states \
                  and timeouts. The configuration is saved after every change; the program \
                  and its maps are pinned, so that a restart, an upgrade or a crash drops no \
                  connection. With --config it follows a keepalived.conf and health-checks \
                  its real servers; SIGHUP re-reads it.",
    after_help = "Logging: to standard error, one line per event (journald-friendly); \
                  RUST_LOG sets the level (error, warn, info, debug; default info)."
)]
pub struct Options {
    /// Control socket.
    #[arg(long, value_name = "PATH", default_value = rvs_ctl::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Where the configuration is kept.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/rvs")]
    pub state_dir: PathBuf,
    /// Attach the packet path to IFACE (repeatable).
    #[arg(long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Connection table entries, shown as (size=N).
    #[arg(long, value_name = "N", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub conn_tab_size: u32,
    /// A packet of a connection whose dest was removed expires it (and is then handled as
    /// new) instead of being dropped until it times out.
    #[arg(long)]
    pub expire_nodest_conn: bool,
    /// A persistence template whose dest has weight 0 is not used: the client is scheduled
    /// afresh (default: it follows its template).
    #[arg(long)]
    pub expire_quiescent_template: bool,
    /// bpffs mount for the pins, mounted if missing.
    #[arg(long, value_name = "DIR", default_value = "/sys/fs/bpf")]
    pub bpffs: PathBuf,
    /// Pins go to BPFFS/rvs/NAME (default: named after the state directory).
    #[arg(long, value_name = "NAME", value_parser = instance_name)]
    pub instance: Option<String>,
    /// Follow a keepalived.conf: its virtual servers are applied at start and on `rvs
    /// reload` or SIGHUP (changes only), and their real servers are health-checked; other
    /// blocks are ignored, one log line each.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus/OpenMetrics metrics at http://ADDR:PORT/metrics (off by default; no
    /// authentication: use a loopback address).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Set IFACE (e.g. a dummy interface holding the VIPs that BIRD announces over BGP) up
    /// once the packet path serves, and down when rvsd stops: routes on it are announced
    /// only while this director forwards. Needs --interface.
    #[arg(long, value_name = "IFACE", requires = "interfaces")]
    pub announce: Option<String>,
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

/// Tells systemd (`Type=notify`) how rvsd is doing: `READY=1` once it serves its socket,
/// `RELOADING=1`/`READY=1` around a reload, `STATUS=...`. Nothing without `NOTIFY_SOCKET`.
pub fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &a));
    if let Err(e) = sent {
        warn(format_args!("telling systemd {state:?}: {e}"));
    }
}

/// Logs an event at info level (see [`init_logging`]).
pub fn log(msg: impl std::fmt::Display) {
    tracing::info!("{msg}");
}

/// Logs a failure that rvsd survives (warn level).
pub fn warn(msg: impl std::fmt::Display) {
    tracing::warn!("{msg}");
}

/// Logging through `tracing` to standard error, one line per event: `RUST_LOG` sets the
/// level (default info). Under systemd (`JOURNAL_STREAM` set) lines carry no timestamp, as
/// journald adds its own; elsewhere they start with one.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        fmt.without_time().init();
    } else {
        fmt.init();
    }
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
        if let Some(i) = &opts.announce {
            announce::prepare(i)?;
        }
        Some(packet::Packet::start(&opts)?)
    };
    let state = std::sync::Arc::new(state::State::new(table, store, opts.conn_tab_size, packet));
    if state.has_packet_path() {
        housekeeping::spawn(std::sync::Arc::clone(&state));
    }
    sync::spawn(std::sync::Arc::clone(&state));
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
                sd_notify("RELOADING=1");
                match h.load(&s, None, false) {
                    Ok(plan) if plan.changes.is_empty() => log("reload: nothing changed"),
                    Ok(_) => {}
                    Err(e) => warn(format_args!("reload failed, nothing changed: {e}")),
                }
                sd_notify("READY=1");
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
    if state.has_packet_path() {
        announce::announce();
    }
    server::serve(&opts.socket, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(s: &[&str]) -> Result<Options, clap::Error> {
        Options::try_parse_from(std::iter::once("rvsd").chain(s.iter().copied()))
    }

    #[test]
    fn defaults_and_overrides() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.socket, PathBuf::from("/run/rvs/rvsd.sock"));
        assert_eq!(o.state_dir, PathBuf::from("/var/lib/rvs"));
        assert_eq!(o.conn_tab_size, 1 << 20);
        let o = parse(&[
            "--socket=/tmp/s",
            "--state-dir",
            "/tmp/d",
            "--interface",
            "eth0",
            "--interface=eth1",
            "--metrics",
            "127.0.0.1:9477",
        ])
        .unwrap();
        assert_eq!(o.interfaces, ["eth0", "eth1"]);
        assert_eq!(o.socket, PathBuf::from("/tmp/s"));
        assert_eq!(o.metrics, Some("127.0.0.1:9477".parse().unwrap()));
        assert!(parse(&["--socket"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--conn-tab-size", "0"]).is_err());
        assert!(parse(&["--instance", "a.b"]).is_err());
        assert!(parse(&["--metrics", "localhost"]).is_err());
        use clap::CommandFactory;
        Options::command().debug_assert();
    }
}
