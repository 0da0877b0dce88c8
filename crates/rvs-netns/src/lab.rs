// SPDX-License-Identifier: MIT OR Apache-2.0
//! The lab: the seed's direct-routing topology, real servers set up for DR, in namespaces.
//!
//! One bridge (in a "switch" namespace) joins clients, the director and three real servers.
//! The real servers hold the VIP (10.0.0.240, fd00::240) on `lo` as host addresses with
//! `arp_ignore=1` and `arp_announce=2`, and run `rvs-probe` TCP and UDP servers on port 8130.
//! The director holds the VIP on its interface (it answers ARP/ND for it) and runs `rvsd`
//! with the XDP program on `d0`; the bridge side of `d0` runs the XDP_PASS program, which veth
//! needs to deliver XDP_TX frames. A bpffs of the lab's own is mounted in the root mount
//! namespace, so that the pins of an `rvsd` started with `ip netns exec` outlive it.
//!
//! Everything is removed when the `Lab` is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;

use crate::rvsd::Rvsd;
use crate::{Guard, Netns};

/// The VIP.
pub const VIP4: &str = "10.0.0.240";
/// The IPv6 VIP.
pub const VIP6: &str = "fd00::240";
/// The service port.
pub const PORT: u16 = 8130;

/// Reads a child's first line from stdout (its "ready").
pub fn wait_ready(child: &mut Child) {
    let mut l = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut l)
        .expect("read");
    assert!(!l.is_empty(), "child exited before it was ready");
}

/// Connects `ns` to the switch's bridge with a veth pair (`here` inside, `there` on the bridge).
fn port(sw: &Netns, ns: &Netns, here: &str, there: &str) {
    ns.veth(here, sw, there);
    sw.sh(&["ip", "link", "set", there, "master", "br0"]);
    ns.sysctl(&format!("net.ipv6.conf.{here}.accept_dad"), "0");
}

/// A director added with [`Lab::add_director`]; its rvsd stops before its namespace goes.
pub struct OtherDirector {
    /// Its rvsd.
    pub daemon: Rvsd,
    /// Its namespace.
    pub ns: Netns,
}

/// The lab.
pub struct Lab {
    /// Where the binaries are.
    pub bins: PathBuf,
    /// The switch.
    pub sw: Netns,
    /// The director.
    pub dir: Netns,
    /// The clients.
    pub clients: Vec<Netns>,
    /// The real servers.
    pub rs: Vec<Netns>,
    procs: Vec<Guard>,
    /// Each real server's TCP server (port 8130), `None` while stopped.
    tcp_servers: Vec<Option<Guard>>,
    /// The director's rvsd and its private directory.
    pub daemon: Rvsd,
    /// The private directory (the daemon's): socket, state, bpffs, captures.
    pub tmp: PathBuf,
}

impl Lab {
    /// The lab for a root-only test, built from the binaries beside `probe` (the test's
    /// `env!("CARGO_BIN_EXE_rvs-probe")`); `None`, after saying the test is skipped, when
    /// this process is not root.
    pub fn for_root_test(probe: &str, clients: usize) -> Option<Lab> {
        if !crate::is_root() {
            eprintln!("skipped: needs root (network namespaces, XDP)");
            return None;
        }
        let bins = Path::new(probe).parent()?;
        Some(Lab::build(bins, clients))
    }

    /// Builds the topology with `clients` clients; `bins` holds rvsd, rvsadm, rvs,
    /// rvs-probe and rvs-xdp-pass.
    pub fn build(bins: &Path, clients: usize) -> Lab {
        let daemon = Rvsd::prepare(bins, "lab");
        let tmp = daemon.dir.clone();
        let sw = Netns::new("sw");
        sw.sh(&["ip", "link", "add", "br0", "type", "bridge"]);
        sw.sh(&["ip", "link", "set", "br0", "up"]);
        let dir = Netns::new("dir");
        port(&sw, &dir, "d0", "vd");
        for a in ["10.0.0.1/24", "10.0.0.240/32"] {
            dir.sh(&["ip", "addr", "add", a, "dev", "d0"]);
        }
        for a in ["fd00::1/64", "fd00::240/128"] {
            dir.sh(&["ip", "addr", "add", a, "dev", "d0", "nodad"]);
        }
        let mut lab = Lab {
            bins: bins.to_path_buf(),
            sw,
            dir,
            clients: Vec::new(),
            rs: Vec::new(),
            procs: Vec::new(),
            tcp_servers: Vec::new(),
            daemon,
            tmp,
        };
        for c in 0..clients {
            let cl = Netns::new(&format!("cl{}", c + 1));
            port(&lab.sw, &cl, "c0", &format!("vc{}", c + 1));
            cl.sh(&[
                "ip",
                "addr",
                "add",
                &format!("10.0.0.{}/24", 10 + c),
                "dev",
                "c0",
            ]);
            cl.sh(&[
                "ip",
                "addr",
                "add",
                &format!("fd00::{}/64", 10 + c),
                "dev",
                "c0",
                "nodad",
            ]);
            // The client's stack leaves TCP checksums to the (veth) offload; XDP_TX forwards
            // frames as they are, so the client computes them itself.
            cl.sh(&["ethtool", "-K", "c0", "tx", "off"]);
            lab.clients.push(cl);
        }
        let probe = lab.bin("rvs-probe");
        for n in 1..=3 {
            let r = Netns::new(&format!("rs{n}"));
            port(&lab.sw, &r, "r0", &format!("vr{n}"));
            r.sh(&[
                "ip",
                "addr",
                "add",
                &format!("10.0.0.24{n}/24"),
                "dev",
                "r0",
            ]);
            r.sh(&[
                "ip",
                "addr",
                "add",
                &format!("fd00::24{n}/64"),
                "dev",
                "r0",
                "nodad",
            ]);
            for ifc in ["all", "r0"] {
                r.sysctl(&format!("net.ipv4.conf.{ifc}.arp_ignore"), "1");
                r.sysctl(&format!("net.ipv4.conf.{ifc}.arp_announce"), "2");
            }
            r.sh(&[
                "ip",
                "addr",
                "add",
                "10.0.0.240/32",
                "dev",
                "lo",
                "scope",
                "host",
            ]);
            r.sh(&["ip", "addr", "add", "fd00::240/128", "dev", "lo", "nodad"]);
            let name = format!("rs{n}");
            let mut tcp = r.spawn(&[&probe, "tcp-server", "[::]:8130", &name]);
            wait_ready(&mut tcp);
            lab.tcp_servers.push(Some(Guard(tcp)));
            for (kind, addr) in [
                ("udp-server", "10.0.0.240:8130"),
                ("udp-server", "[fd00::240]:8130"),
            ] {
                let mut c = r.spawn(&[&probe, kind, addr, &name]);
                wait_ready(&mut c);
                lab.procs.push(Guard(c));
            }
            lab.rs.push(r);
        }
        let mut own = lab
            .dir
            .spawn(&[&probe, "tcp-server", "10.0.0.1:2222", "director"]);
        wait_ready(&mut own);
        lab.procs.push(Guard(own));
        let mut pass = lab.sw.spawn(&[&lab.bin("rvs-xdp-pass"), "vd"]);
        wait_ready(&mut pass);
        lab.procs.push(Guard(pass));
        lab
    }

    /// Another director on the bridge, at 10.0.0.`n`/24 (`n` from 2 to 9), without the VIP,
    /// with an rvsd of its own (its own private directory and bpffs) running the packet path
    /// on its `d0`.
    pub fn add_director(&mut self, n: u8) -> OtherDirector {
        self.add_director_with(n, &[], |_| {})
    }

    /// [`Lab::add_director`], with `prepare` run in the new namespace before rvsd starts
    /// there with `extra_args`.
    pub fn add_director_with(
        &mut self,
        n: u8,
        extra_args: &[&str],
        prepare: impl FnOnce(&Netns),
    ) -> OtherDirector {
        let ns = Netns::new(&format!("dir{n}"));
        let there = format!("vd{n}");
        port(&self.sw, &ns, "d0", &there);
        ns.sh(&["ip", "addr", "add", &format!("10.0.0.{n}/24"), "dev", "d0"]);
        let mut pass = self.sw.spawn(&[&self.bin("rvs-xdp-pass"), &there]);
        wait_ready(&mut pass);
        self.procs.push(Guard(pass));
        prepare(&ns);
        let mut daemon = Rvsd::prepare(&self.bins, &format!("lab{n}"));
        daemon.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        daemon.start(&ns, None, "lab", &["d0"], 65536);
        OtherDirector { daemon, ns }
    }

    /// Connects `ns` to the lab's bridge (`here` inside it, `there` on the bridge).
    pub fn plug(&self, ns: &Netns, here: &str, there: &str) {
        port(&self.sw, ns, here, there);
    }

    /// Keeps `child` running until the lab goes (its standard input is closed then).
    pub fn keep(&mut self, child: Child) {
        self.procs.push(Guard(child));
    }

    /// Stops real server `n`'s (0-based) TCP server: its port 8130 then refuses connections.
    pub fn stop_tcp_server(&mut self, n: usize) {
        self.tcp_servers[n] = None;
    }

    /// Starts real server `n`'s TCP server again.
    pub fn start_tcp_server(&mut self, n: usize) {
        let mut c = self.rs[n].spawn(&[
            &self.bin("rvs-probe"),
            "tcp-server",
            "[::]:8130",
            &format!("rs{}", n + 1),
        ]);
        wait_ready(&mut c);
        self.tcp_servers[n] = Some(Guard(c));
    }

    /// The path of a binary, as a string.
    pub fn bin(&self, name: &str) -> String {
        self.daemon.bin(name)
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.daemon.socket()
    }

    /// Starts rvsd in the director (the binary at `rvsd`, default the lab's) and waits for its
    /// socket.
    pub fn start_rvsd(&mut self, rvsd: Option<&Path>) {
        self.start_rvsd_sized(rvsd, 65536);
    }

    /// [`Lab::start_rvsd`] with a connection table of `conn_tab_size` entries.
    pub fn start_rvsd_sized(&mut self, rvsd: Option<&Path>, conn_tab_size: u32) {
        self.daemon
            .start(&self.dir, rvsd, "lab", &["d0"], conn_tab_size);
    }

    /// rvsd's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Signals rvsd and waits for it to exit.
    pub fn stop_rvsd(&mut self, signal: i32) {
        self.daemon.stop(signal);
    }

    /// Runs rvsadm (whitespace-separated arguments); panics if it fails.
    pub fn adm(&self, args: &str) -> String {
        self.daemon.adm(args)
    }

    /// Runs rvs with the lab's socket.
    pub fn rvs(&self, args: &[&str]) -> std::process::Output {
        self.daemon.rvs(args)
    }

    /// `rvs status --json`.
    pub fn status(&self) -> serde_json::Value {
        self.daemon.status()
    }

    /// The seed configuration: TCP and UDP services on the VIP (IPv4 and IPv6), wlc, three
    /// DR real servers of weight 3 each.
    pub fn configure_seed(&self) {
        for (svc, dests) in [
            (
                "-t 10.0.0.240:8130",
                ["10.0.0.241:8130", "10.0.0.242:8130", "10.0.0.243:8130"],
            ),
            (
                "-u 10.0.0.240:8130",
                ["10.0.0.241:8130", "10.0.0.242:8130", "10.0.0.243:8130"],
            ),
            (
                "-t [fd00::240]:8130",
                ["[fd00::241]:8130", "[fd00::242]:8130", "[fd00::243]:8130"],
            ),
            (
                "-u [fd00::240]:8130",
                ["[fd00::241]:8130", "[fd00::242]:8130", "[fd00::243]:8130"],
            ),
        ] {
            self.adm(&format!("-A {svc} -s wlc"));
            for d in dests {
                self.adm(&format!("-a {svc} -r {d} -g -w 3"));
            }
        }
    }

    /// Waits until the packet path has every dest's MAC.
    pub fn wait_resolved(&self) {
        self.daemon.wait_ready("d0");
    }

    /// Runs rvs-probe in client `c` and returns its output lines.
    pub fn probe(&self, c: usize, args: &[&str]) -> Vec<String> {
        let probe = self.bin("rvs-probe");
        let mut v = vec![probe.as_str()];
        v.extend_from_slice(args);
        self.clients[c].sh(&v).lines().map(str::to_string).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The daemon first, then the servers; the private directory goes with `daemon`.
        self.daemon.stop(libc::SIGKILL);
        self.procs.clear();
        self.tcp_servers.clear();
    }
}
