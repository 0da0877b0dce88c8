// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: three directors behind an ECMP router. A router namespace runs BIRD 2 with BGP
//! sessions to the three directors and puts the VIP's route into its kernel as one multipath
//! route (`merge paths`), hashed on the L4 tuple (`fib_multipath_hash_policy=1`). Each
//! director's BIRD announces the VIP from a dummy-like interface, `rvsvip`, which rvsd sets up while
//! it serves and down when it stops (`rvsd --announce rvsvip`). A client behind the router
//! holds 30 connections; one director is removed (rvsd stopped, which withdraws its route;
//! then its link goes down). With mh and every director running sync master and backup
//! (syncid 0), the flows the router moves to the other directors go on to the same real
//! servers: 0 broken. The negative control, rr without sync, breaks some.

use std::time::Duration;

use rvs_netns::lab::{Lab, OtherDirector, wait_ready};
use rvs_netns::{Netns, established_from, in_packets_of, wait_until};

const SERVICE: &str = "-t 10.0.0.240:8130";
/// The service's line in `--stats` listings.
const SERVICE_LINE: &str = "TCP  10.0.0.240:8130";

/// A director's BIRD: the VIP from `rvsvip`, to the router over eBGP.
fn director_bird(n: u8) -> String {
    format!(
        r#"router id 10.0.0.{n};
protocol device {{ scan time 1; }}
protocol direct vip {{
    ipv4;
    interface "rvsvip";
}}
protocol bgp uplink {{
    local 10.0.0.{n} as 6500{n};
    neighbor 10.0.0.254 as 65000;
    hold time 3; keepalive time 1; connect retry time 1;
    ipv4 {{ import none; export where proto = "vip" && net = 10.0.0.240/32; }};
}}
"#
    )
}

/// The router's BIRD: routes from the three directors, merged into one multipath route.
const ROUTER_BIRD: &str = r#"router id 10.0.0.254;
protocol device { scan time 1; }
protocol kernel {
    ipv4 { import none; export all; };
    merge paths on;
}
template bgp director {
    local 10.0.0.254 as 65000;
    hold time 3; keepalive time 1; connect retry time 1;
    ipv4 { import all; export none; };
}
protocol bgp d1 from director { neighbor 10.0.0.1 as 65001; }
protocol bgp d2 from director { neighbor 10.0.0.2 as 65002; }
protocol bgp d3 from director { neighbor 10.0.0.3 as 65003; }
"#;

/// Starts BIRD in `ns` with `config` (files in `tmp`); it goes with the namespace.
fn bird(tmp: &std::path::Path, ns: &Netns, tag: &str, config: &str) -> std::process::Child {
    let conf = tmp.join(format!("bird-{tag}.conf"));
    std::fs::write(&conf, config).unwrap();
    let sock = tmp.join(format!("bird-{tag}.ctl"));
    ns.spawn(&[
        "bird",
        "-f",
        "-c",
        conf.to_str().unwrap(),
        "-s",
        sock.to_str().unwrap(),
    ])
}

/// The interface the VIP is announced from, down until rvsd sets it up. (Where the kernel
/// has the dummy driver, `ip link add rvsvip type dummy` is the usual choice; this kernel has
/// none, so a veth pair with its other end up stands in.)
fn vip_dummy(ns: &Netns) {
    ns.sh(&[
        "ip",
        "link",
        "add",
        "rvsvip",
        "type",
        "veth",
        "peer",
        "name",
        "rvsvip-peer",
    ]);
    ns.sh(&["ip", "link", "set", "rvsvip-peer", "up"]);
    ns.sh(&["ip", "addr", "add", "10.0.0.240/32", "dev", "rvsvip"]);
}

/// The next hops of the router's route to the VIP.
fn next_hops(router: &Netns) -> usize {
    router
        .sh(&["ip", "route", "show", "10.0.0.240"])
        .lines()
        .filter(|l| l.contains("nexthop"))
        .count()
}

struct Ecmp {
    // Dropped in this order: the client and router, the added directors, then the lab.
    client: Netns,
    router: Netns,
    others: Vec<OtherDirector>,
    lab: Lab,
}

impl Ecmp {
    /// Every director's rvsadm.
    fn adm_all(&self, args: &str) {
        self.lab.adm(args);
        for d in &self.others {
            d.daemon.adm(args);
        }
    }
}

/// The topology, configured with scheduler `sched`, and sync on every director if `sync`.
fn build(sched: &str, sync: bool) -> Option<Ecmp> {
    let mut lab = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 0)?;
    // Director 1 is the lab's own, without the VIP on its link (the router routes to it).
    lab.dir
        .sh(&["ip", "addr", "del", "10.0.0.240/32", "dev", "d0"]);
    vip_dummy(&lab.dir);
    lab.daemon.extra_args = vec!["--announce".into(), "rvsvip".into()];
    lab.start_rvsd(None);
    let others: Vec<OtherDirector> = [2, 3]
        .into_iter()
        .map(|n| lab.add_director_with(n, &["--announce", "rvsvip"], vip_dummy))
        .collect();
    let router = Netns::new("rt");
    let client = Netns::new("ecl");
    lab.plug(&router, "r0", "vrt");
    router.sh(&["ip", "addr", "add", "10.0.0.254/24", "dev", "r0"]);
    client.veth("c0", &router, "r1");
    router.sh(&["ip", "addr", "add", "10.1.0.1/24", "dev", "r1"]);
    client.sh(&["ip", "addr", "add", "10.1.0.2/24", "dev", "c0"]);
    client.sh(&["ip", "route", "add", "default", "via", "10.1.0.1"]);
    router.sysctl("net.ipv4.ip_forward", "1");
    router.sysctl("net.ipv4.fib_multipath_hash_policy", "1");
    // Frames forwarded as they are need their checksums filled in by their senders.
    client.sh(&["ethtool", "-K", "c0", "tx", "off"]);
    router.sh(&["ethtool", "-K", "r0", "tx", "off"]);
    for rs in &lab.rs {
        rs.sh(&["ip", "route", "add", "10.1.0.0/24", "via", "10.0.0.254"]);
    }
    let mut e = Ecmp {
        client,
        router,
        others,
        lab,
    };
    let flags = if sched == "mh" { " -b mh-port" } else { "" };
    e.adm_all(&format!("-A {SERVICE} -s {sched}{flags}"));
    for n in 1..=3 {
        e.adm_all(&format!("-a {SERVICE} -r 10.0.0.24{n}:8130 -g -w 1"));
    }
    if sync {
        e.adm_all("--start-daemon master --mcast-interface d0 --syncid 0");
        e.adm_all("--start-daemon backup --mcast-interface d0 --syncid 0");
    }
    let mut birds = vec![bird(&e.lab.tmp, &e.lab.dir, "d1", &director_bird(1))];
    for (i, d) in e.others.iter().enumerate() {
        let n = i as u8 + 2;
        birds.push(bird(&e.lab.tmp, &d.ns, &format!("d{n}"), &director_bird(n)));
    }
    birds.push(bird(&e.lab.tmp, &e.router, "rt", ROUTER_BIRD));
    for b in birds {
        e.lab.keep(b);
    }
    wait_until(
        "three next hops on the router",
        Duration::from_secs(30),
        || next_hops(&e.router) == 3,
    );
    Some(e)
}

/// Holds 30 connections from the client, removes director 2 (rvsd stopped: its route is
/// withdrawn; then its link goes down), and returns each connection's outcome.
fn remove_a_director_under_load(e: &mut Ecmp, sync: bool) -> Vec<String> {
    let probe = e.lab.bin("rvs-probe");
    let mut hold = e
        .client
        .spawn(&[&probe, "hold-each", "10.0.0.240:8130", "30"]);
    wait_ready(&mut hold);
    if sync {
        // Every director knows every connection (each at its third packet, within 2 s).
        wait_until(
            "every director to list the 30 connections",
            Duration::from_secs(15),
            || {
                established_from(&e.lab.adm("-L -n -c"), "10.1.0.2") >= 30
                    && e.others
                        .iter()
                        .all(|d| established_from(&d.daemon.adm("-L -n -c"), "10.1.0.2") >= 30)
            },
        );
    }
    let gone = &mut e.others[0];
    // The router spreads the connections: director 2 carries some of them.
    assert!(
        in_packets_of(&gone.daemon.adm("-L -n --stats"), SERVICE_LINE) > 0,
        "the router sent nothing to director 2"
    );
    gone.daemon.stop(libc::SIGTERM);
    wait_until(
        "the router to drop director 2",
        Duration::from_secs(15),
        || next_hops(&e.router) == 2,
    );
    gone.ns.sh(&["ip", "link", "set", "d0", "down"]);
    // The moved connections go on through directors 1 and 3 for many rounds.
    let count = |e: &Ecmp| {
        in_packets_of(&e.lab.adm("-L -n --stats"), SERVICE_LINE)
            + in_packets_of(&e.others[1].daemon.adm("-L -n --stats"), SERVICE_LINE)
    };
    let before = count(e);
    wait_until(
        "traffic through the other directors",
        Duration::from_secs(15),
        || count(e) > before + 600,
    );
    drop(hold.stdin.take());
    let out = hold.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn root_ecmp_mh_with_sync_breaks_nothing_when_a_director_goes() {
    let Some(mut e) = build("mh", true) else {
        return;
    };
    let lines = remove_a_director_under_load(&mut e, true);
    assert_eq!(lines.len(), 30, "{lines:?}");
    for l in &lines {
        assert!(l.contains(" OK "), "a connection broke: {l}\n{lines:?}");
    }
}

#[test]
fn root_ecmp_rr_without_sync_breaks_moved_connections() {
    let Some(mut e) = build("rr", false) else {
        return;
    };
    let lines = remove_a_director_under_load(&mut e, false);
    assert!(
        lines.iter().any(|l| l.contains(" FAIL ")),
        "the negative control broke nothing: {lines:?}"
    );
}
