// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the kernel's IPVS selftest scenarios (`ipvs.sh` in the kernel's netfilter
//! selftests: DR, NAT and TUN, one after the other on a fresh topology) written as our own
//! test against rvs: the same three namespaces and two L2 segments, the same ipvsadm
//! commands (through rvsadm), the same 32 random bytes sent from the client to the VIP and
//! compared with what the real server received. The selftest's public VIP 207.175.44.110 is
//! replaced by the benchmark address 198.18.44.110.
//!
//! Differences an XDP director needs, compared with kernel IPVS: rvsd runs the program on both
//! director interfaces, and the veth peers that receive frames the program sends (the client
//! bridge's port and the real server's server-side interface) carry an XDP_PASS program; the
//! endpoints compute their own TCP checksums. For TUN, this kernel has no IPIP module:
//! `rvs realserver setup --tunnel ipip` puts rvs's decapsulator where the script brings `tunl0`
//! up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rvs_netns::is_root;
use rvs_netns::lab::wait_ready;
use rvs_netns::rvsd::Rvsd;
use rvs_netns::{Guard, Netns};

const VIP: &str = "198.18.44.110";

fn bins() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rvs-probe"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The selftest's topology (its `setup()`), with rvsd on the director.
struct Topology {
    ns0: Netns,
    ns1: Netns,
    ns2: Netns,
    procs: Vec<Guard>,
    daemon: Rvsd,
    tmp: PathBuf,
}

impl Topology {
    /// `tun`: the real server's server-side interface gets the decapsulator later, instead
    /// of the XDP_PASS program.
    fn new(tun: bool) -> Topology {
        let daemon = Rvsd::prepare(&bins(), "selftest");
        let tmp = daemon.dir.clone();
        let (ns0, ns1, ns2) = (Netns::new("ns0"), Netns::new("ns1"), Netns::new("ns2"));
        ns0.veth("veth01", &ns1, "veth10");
        ns0.veth("veth02", &ns2, "veth20");
        ns1.veth("veth12", &ns2, "veth21");
        ns0.sh(&["ip", "link", "add", "br0", "type", "bridge"]);
        for p in ["veth01", "veth02"] {
            ns0.sh(&["ip", "link", "set", p, "master", "br0"]);
        }
        ns0.sh(&["ip", "link", "set", "br0", "up"]);
        ns0.sh(&["ip", "addr", "add", "10.0.0.2/24", "dev", "br0"]);
        ns1.sh(&["ip", "addr", "add", "10.0.0.1/24", "dev", "veth10"]);
        ns1.sh(&["ip", "addr", "add", "172.16.0.1/24", "dev", "veth12"]);
        ns2.sh(&["ip", "addr", "add", "10.0.0.3/24", "dev", "veth20"]);
        ns2.sh(&["ip", "addr", "add", "172.16.0.2/24", "dev", "veth21"]);
        // All three scenarios start with this.
        ns0.sh(&["ip", "route", "add", VIP, "via", "10.0.0.1", "dev", "br0"]);
        let mut t = Topology {
            ns0,
            ns1,
            ns2,
            procs: Vec::new(),
            daemon,
            tmp,
        };
        let pass = t.bin("rvs-xdp-pass");
        let peers: &[(&Netns, &str)] = if tun {
            &[(&t.ns0, "veth01")]
        } else {
            &[(&t.ns0, "veth01"), (&t.ns2, "veth21")]
        };
        for (ns, dev) in peers {
            let mut p = ns.spawn(&[&pass, dev]);
            wait_ready(&mut p);
            t.procs.push(Guard(p));
        }
        for (ns, dev) in [(&t.ns0, "br0"), (&t.ns2, "veth20"), (&t.ns2, "veth21")] {
            ns.sh(&["ethtool", "-K", dev, "tx", "off"]);
        }
        t
    }

    fn bin(&self, name: &str) -> String {
        self.daemon.bin(name)
    }

    fn start_rvsd(&mut self) {
        self.daemon
            .start(&self.ns1, None, "selftest", &["veth10", "veth12"], 1 << 20);
    }

    /// `ipvsadm ARGS` in ns1, as the selftest runs it.
    fn ipvsadm(&self, args: &str) -> String {
        self.daemon.adm(args)
    }

    /// The director's part of every scenario: rvsd, the service with its one real server
    /// (`method`: the forwarding option before `-t`, as the script writes it), the VIP on
    /// `lo:1`.
    fn director(&mut self, method: &str) {
        self.start_rvsd();
        self.ipvsadm(&format!("-A -t {VIP}:8080 -s rr"));
        self.ipvsadm(&format!("-a {method}-t {VIP}:8080 -r 172.16.0.2:8080"));
        vip_on_lo(&self.ns1);
    }

    /// The selftest's `test_service`: 32 random bytes from the client to VIP:8080 must arrive
    /// unchanged at the real server.
    fn test_service(&mut self) {
        let infile = self.tmp.join("infile");
        let outfile = self.tmp.join("outfile");
        let _ = std::fs::remove_file(&outfile);
        let mut random = [0u8; 32];
        let mut f = std::fs::File::open("/dev/urandom").unwrap();
        std::io::Read::read_exact(&mut f, &mut random).unwrap();
        std::fs::write(&infile, random).unwrap();
        let probe = self.bin("rvs-probe");
        let mut server = self.ns2.spawn(&[
            &probe,
            "tcp-recv",
            "0.0.0.0:8080",
            outfile.to_str().unwrap(),
        ]);
        wait_ready(&mut server);
        let sent = self.ns0.sh(&[
            &probe,
            "tcp-send",
            &format!("{VIP}:8080"),
            infile.to_str().unwrap(),
        ]);
        assert_eq!(sent.trim(), "OK", "client: {sent}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "server never finished");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            std::fs::read(&outfile).unwrap(),
            random,
            "cmp infile outfile"
        );
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.daemon.stop(libc::SIGKILL);
        self.procs.clear();
    }
}

/// `ip addr add VIP/32 dev lo label lo:1`, as the script does on the director and the real
/// server.
fn vip_on_lo(ns: &Netns) {
    ns.sh(&[
        "ip",
        "addr",
        "add",
        &format!("{VIP}/32"),
        "dev",
        "lo",
        "label",
        "lo:1",
    ]);
}

/// What `ipvsadm -Ln` shows on the director during a scenario, for the method shown.
fn listing(method: &str) -> String {
    format!(
        "IP Virtual Server version 1.2.1 (size=1048576)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  {VIP}:8080 rr\n  \
         -> 172.16.0.2:8080              {method:<7} 1      0          0         \n"
    )
}

#[test]
fn root_selftest_dr() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let mut t = Topology::new(false);
    t.ns1.sysctl("net.ipv4.ip_forward", "1");
    t.director("");
    for k in ["all.arp_ignore", "all.arp_announce"] {
        let v = if k.ends_with("ignore") { "1" } else { "2" };
        t.ns2.sysctl(&format!("net.ipv4.conf.{k}"), v);
    }
    t.ns2.sysctl("net.ipv4.conf.all.rp_filter", "0");
    t.ns2.sysctl("net.ipv4.conf.veth21.rp_filter", "0");
    vip_on_lo(&t.ns2);
    assert_eq!(t.ipvsadm("-Ln"), listing("Route"));
    t.test_service();
    let stats = t.ipvsadm("-Ln --stats");
    assert!(stats.contains(&format!("TCP  {VIP}:8080")), "{stats}");
}

#[test]
fn root_selftest_nat() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let mut t = Topology::new(false);
    t.ns1.sysctl("net.ipv4.ip_forward", "1");
    t.director("-m ");
    t.ns2.sh(&["ip", "link", "del", "veth20"]);
    t.ns2.sh(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        "172.16.0.1",
        "dev",
        "veth21",
    ]);
    assert_eq!(t.ipvsadm("-Ln"), listing("Masq"));
    t.test_service();
    // Both directions crossed the director: the connection was counted both ways.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = t.ipvsadm(&format!("-L -n --stats -t {VIP}:8080"));
        let line = stats
            .lines()
            .find(|l| l.starts_with("TCP"))
            .unwrap_or_default()
            .to_string();
        let cols: Vec<u64> = line
            .split_whitespace()
            .skip(2)
            .filter_map(|v| v.parse().ok())
            .collect();
        if cols.len() == 5 && cols[0] == 1 && cols[1] > 0 && cols[2] > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn root_selftest_tun() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let mut t = Topology::new(true);
    // The script: tunl0 up, forwarding off, no redirects, then the service.
    t.ns1.sysctl("net.ipv4.ip_forward", "0");
    t.ns1.sysctl("net.ipv4.conf.all.send_redirects", "0");
    t.ns1.sysctl("net.ipv4.conf.default.send_redirects", "0");
    t.director("-i ");
    // The real server: the script's sysctls, tunl0 and the VIP, by rvs realserver.
    let rvs = t.bin("rvs");
    let bpffs = t.daemon.bpffs();
    let out = t.ns2.run(&[
        &rvs,
        "realserver",
        "setup",
        "--vip",
        VIP,
        "--tunnel",
        "ipip",
        "--dev",
        "veth21",
        "--bpffs",
        bpffs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.ns2.sysctl("net.ipv4.conf.veth20.rp_filter", "0");
    assert_eq!(t.ipvsadm("-Ln"), listing("Tunnel"));
    t.test_service();
}
