// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs`'s command line, defined once for parsing, `--help`, the man page and the shell
//! completions (see the `rvs-pkg` crate).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The rvs command: everything beyond ipvsadm.
#[derive(Parser, Debug)]
#[command(
    name = "rvs",
    version,
    about = "rvs: status, configuration files, real-server setup and more for the rvs director",
    long_about = "rvs does what ipvsadm (rvsadm) cannot: the daemon's whole status, \
                  keepalived.conf reloads and dry runs, real-server setup for direct routing \
                  and tunnels, firewall marks for fwmark services, and stopping the packet path.",
    after_help = "rvs talks to rvsd at $RVS_SOCKET (default /run/rvs/rvsd.sock)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// rvs's commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The configuration, counters, health checks and packet-path state of rvsd.
    Status {
        /// The same as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// A live view of services and dests: rates, connections, health (q quits).
    Top {
        /// Print one frame (80x24) as text and exit.
        #[arg(long)]
        once: bool,
    },
    /// What the loaded XDP program would do with one packet, changing nothing.
    ///
    /// The service found, the connection entry or the scheduler's choice (and why: weights,
    /// counts, hash bucket), the dest, the forwarding method, the rewrite, the verdict and
    /// reason, and what the counters would add. rvsd runs the very object it loaded, in a
    /// second instance with maps of its own filled from the live ones, which it only reads:
    /// no entry is made, no counter or scheduler state moves, nothing is sent.
    Trace {
        /// tcp or udp.
        #[arg(value_parser = ["tcp", "udp"])]
        protocol: String,
        /// The client's address and port (IPv6 as [ADDR]:PORT).
        #[arg(value_name = "CLIENT:PORT")]
        client: std::net::SocketAddr,
        /// The virtual service's address and port.
        #[arg(value_name = "VIP:PORT")]
        vip: std::net::SocketAddr,
        /// A TCP SYN (a new connection); without it, a TCP ACK of an existing one.
        #[arg(long)]
        syn: bool,
        /// The interface the packet arrives on (default: the first rvsd is attached to).
        #[arg(long, value_name = "IF")]
        iface: Option<String>,
        /// The answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Re-read rvsd's --config file (keepalived.conf) and apply what changed.
    ///
    /// Services, dests, weights and checkers: dests left as they are keep their
    /// connections, counters and health. A file with a mistake is refused with its file:line
    /// and nothing changes (SIGHUP to rvsd does the same).
    Reload {
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a keepalived.conf: with --dry-run, print what applying it would change.
    ///
    /// Without --dry-run FILE must be rvsd's --config file (then it is a reload).
    Apply {
        /// The file.
        file: PathBuf,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Detach the packet path, remove its pins and stop rvsd (the configuration stays).
    Down {
        /// Remove an instance's pins when no rvsd runs.
        #[arg(long, value_name = "DIR")]
        pin_dir: Option<PathBuf>,
    },
    /// On a real server: apply or verify the direct-routing recipe.
    ///
    /// arp_ignore=1 and arp_announce=2, then each VIP on lo as a host address; with
    /// --tunnel, for real servers behind -i dests: rp_filter off and rvs's XDP
    /// decapsulator on --dev, pinned in --bpffs so that it stays.
    Realserver {
        /// setup or check.
        #[command(subcommand)]
        action: RealserverAction,
    },
    /// Mark packets for fwmark services (ipvsadm -f MARK), the first matching rule winning.
    ///
    /// As the usual `iptables -t mangle -A PREROUTING -d ADDR -p PROTO -m multiport
    /// --dports LIST -j MARK --set-mark MARK` would; rules are saved with the configuration.
    Fwmark {
        /// add, del or list.
        #[command(subcommand)]
        action: FwmarkAction,
    },
}

/// `rvs realserver` actions.
#[derive(Subcommand, Debug)]
pub enum RealserverAction {
    /// Apply the recipe (only what is wrong) and print how to make it permanent.
    Setup(RealserverArgs),
    /// Report each missing or wrong setting with its fix (exit status 1 if any).
    Check(RealserverArgs),
}

/// What `rvs realserver` sets up or checks.
#[derive(Args, Debug)]
pub struct RealserverArgs {
    /// A VIP this real server serves (repeatable).
    #[arg(long, required = true, value_name = "VIP")]
    pub vip: Vec<String>,
    /// The interface facing the VIP network (default: the default route's).
    #[arg(long, value_name = "IF")]
    pub dev: Option<String>,
    /// The tunnel the director's -i dests use.
    #[arg(long, value_parser = ["ipip", "gue", "gre"])]
    pub tunnel: Option<String>,
    /// GUE's UDP port (the director's --tun-port).
    #[arg(long, value_name = "N")]
    pub port: Option<String>,
    /// A bpffs for the decapsulator's pins (default /sys/fs/bpf).
    #[arg(long, value_name = "DIR")]
    pub bpffs: Option<String>,
}

impl RealserverArgs {
    /// The arguments as words (validated by `realserver::parse`).
    pub fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        for v in &self.vip {
            w.extend(["--vip".to_string(), v.clone()]);
        }
        let mut opt = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                w.extend([name.to_string(), v.clone()]);
            }
        };
        opt("--dev", &self.dev);
        opt("--tunnel", &self.tunnel);
        opt("--port", &self.port);
        opt("--bpffs", &self.bpffs);
        w
    }
}

/// `rvs fwmark` actions.
#[derive(Subcommand, Debug)]
pub enum FwmarkAction {
    /// Add a marking rule.
    Add {
        /// The mark (1 to 4294967295).
        mark: String,
        /// What to match.
        #[command(flatten)]
        rule: FwmarkRule,
    },
    /// Delete one rule, or (without --dst) every rule of MARK.
    Del {
        /// The mark.
        mark: String,
        /// The exact rule to delete.
        #[command(flatten)]
        rule: FwmarkRule,
    },
    /// List the rules in match order.
    List,
}

/// A marking rule's selectors.
#[derive(Args, Debug)]
pub struct FwmarkRule {
    /// Destination address or network.
    #[arg(long, value_name = "ADDR[/PREFIX]")]
    pub dst: Option<String>,
    /// Protocol.
    #[arg(long, value_parser = ["tcp", "udp"])]
    pub proto: Option<String>,
    /// Destination ports: P[,P|LOW:HIGH]...
    #[arg(long, value_name = "LIST")]
    pub dports: Option<String>,
}

impl FwmarkRule {
    /// The selectors as words (validated by `fwmark::run`).
    pub fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        for (name, v) in [
            ("--dst", &self.dst),
            ("--proto", &self.proto),
            ("--dports", &self.dports),
        ] {
            if let Some(v) = v {
                w.extend([name.to_string(), v.clone()]);
            }
        }
        w
    }
}
