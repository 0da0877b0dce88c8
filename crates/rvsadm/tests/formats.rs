// SPDX-License-Identifier: MIT OR Apache-2.0
//! ipvsadm 1.31's listing output: number scaling, name truncation, service flags text, tunnel
//! info, daemons, sorting (with the wrap-around comparison) and name resolution.

mod common;

use common::{InProc, assert_text, ok};
use rvsadm::list::largenum;

fn num(v: u64, exact: bool) -> String {
    let mut s = String::new();
    largenum(&mut s, v, exact);
    s
}

/// `print_largenum`: decimal K/M/G/T steps at 10^8, 10^9, 10^11, 10^14, truncating.
#[test]
fn largenum_scaling() {
    assert_eq!(num(0, false), "        0");
    assert_eq!(num(99_999_999, false), " 99999999");
    assert_eq!(num(100_000_000, false), "  100000K");
    assert_eq!(num(999_999_999, false), "  999999K");
    // Still nine columns: `%8llu` of the quotient, then the letter.
    assert_eq!(num(1_000_000_000, false), "    1000M");
    assert_eq!(num(99_999_999_999, false), "   99999M");
    assert_eq!(num(100_000_000_000, false), "     100G");
    assert_eq!(num(99_999_999_999_999, false), "   99999G");
    assert_eq!(num(100_000_000_000_000, false), "     100T");
    assert_eq!(num(12_345, true), "    12345");
    assert_eq!(num(12_345_678, true), " 12345678");
    assert_eq!(num(123_456_789, true), " 123456789");
    assert_eq!(num(9_876_543_210, true), " 9876543210");
}

/// IPv4 service names are cut to 33 characters, IPv4 servers to 28; IPv6 names are not cut;
/// FWM IPv6 services say so.
#[test]
fn names_truncation_and_ipv6() {
    let mut b = InProc::new();
    ok(
        &mut b,
        "-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -s rr",
    );
    ok(
        &mut b,
        "-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -r [2001:db8:1234:5678:9abc:def0:1234:9999]:65535 -m",
    );
    ok(&mut b, "-A -f 5 -6 -s rr -p");
    ok(&mut b, "-A -f 4294967295 -s rr");
    // Mark 4294967295 minus fwmark 0 is -1 as libipvs's `int`, so it sorts first.
    let out = ok(&mut b, "-Ln");
    assert_text(
        &out,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         FWM  4294967295 rr\n\
         TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 rr\n  \
         -> [2001:db8:1234:5678:9abc:def0:1234:9999]:65535 Masq    1      0          0         \n\
         FWM  5 IPv6 rr persistent 360\n",
    );
    let stats = ok(&mut b, "-Ln --stats");
    assert!(stats.contains("TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0"));
    assert!(ok(&mut b, "-Sn").contains("-A -f 5 -6 -s rr -p 360\n"));
}

#[test]
fn service_flags_text() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.1:80 -s sh -b flag-3");
    ok(&mut b, "-A -t 10.0.0.1:81 -s mh -b mh-port,mh-fallback");
    ok(
        &mut b,
        "-A -t 10.0.0.1:82 -s rr -b flag-1,flag-3 -p 60 -M 255.255.255.0 --pe sip",
    );
    ok(&mut b, "-A -u 10.0.0.1:53 -o -s rr --pe sip");
    ok(&mut b, "-A -t [2001:db8::1]:80 -p 100 -M 64");
    let out = ok(&mut b, "-Ln");
    let lines: Vec<&str> = out.lines().skip(3).collect();
    assert_eq!(
        lines,
        [
            // The sh quirk: flag-3 has no sh name, the parentheses still print.
            "TCP  10.0.0.1:80 sh ()",
            "TCP  10.0.0.1:81 mh (mh-fallback,mh-port)",
            "TCP  10.0.0.1:82 rr (flag-1,flag-3) persistent 60 mask 255.255.255.0 pe sip",
            "UDP  10.0.0.1:53 rr ops",
            "TCP  [2001:db8::1]:80 wlc persistent 100 mask 64",
        ]
    );
    assert_text(
        &ok(&mut b, "-Sn"),
        "-A -t 10.0.0.1:80 -s sh -b \n\
         -A -t 10.0.0.1:81 -s mh -b mh-fallback,mh-port\n\
         -A -t 10.0.0.1:82 -s rr -p 60 -M 255.255.255.0 --pe sip -b flag-1,flag-3\n\
         -A -u 10.0.0.1:53 -s rr --pe sip -o\n\
         -A -t [2001:db8::1]:80 -s wlc -p 100 -M 64\n",
    );
}

#[test]
fn tunnel_info_and_save() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.1:80");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.1.0.1 -i");
    ok(
        &mut b,
        "-a -t 10.0.0.1:80 -r 10.1.0.2 -i --tun-type gue --tun-port 6080 --tun-remcsum",
    );
    ok(
        &mut b,
        "-a -t 10.0.0.1:80 -r 10.1.0.3 -i --tun-type gre --tun-csum",
    );
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.1.0.4:99 -m -w 2");
    assert_text(
        &ok(&mut b, "-Ln --tun-info"),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n\
         TCP  10.0.0.1:80 wlc\n  \
         -> 10.1.0.1:80                  Tunnel  ipip          1      0          0         \n  \
         -> 10.1.0.2:80                  Tunnel  gue:6080:r+c  1      0          0         \n  \
         -> 10.1.0.3:80                  Tunnel  gre:+c        1      0          0         \n  \
         -> 10.1.0.4:99                  Masq    n/a           2      0          0         \n",
    );
    assert_text(
        &ok(&mut b, "-Sn"),
        "-A -t 10.0.0.1:80 -s wlc\n\
         -a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 1 --tun-type ipip\n\
         -a -t 10.0.0.1:80 -r 10.1.0.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n\
         -a -t 10.0.0.1:80 -r 10.1.0.3:80 -i -w 1 --tun-type gre --tun-csum\n\
         -a -t 10.0.0.1:80 -r 10.1.0.4:99 -m -w 2\n",
    );
}

/// Sort order: fwmark, then family, protocol, address, port; the address comparison wraps
/// like libipvs's `int` subtraction, so 200.0.0.1 sorts before 10.0.0.1.
#[test]
fn sorting() {
    let mut b = InProc::new();
    for s in [
        "-A -f 2",
        "-A -f 1",
        "-A -t [2001:db8::1]:80",
        "-A -u 10.0.0.1:53",
        "-A -t 10.0.0.1:80",
        "-A -t 10.0.0.1:8",
        "-A -t 200.0.0.1:80",
        "-A --sctp-service 10.0.0.1:80",
    ] {
        ok(&mut b, s);
    }
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.9:80");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.3:80");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.20:80");
    let out = ok(&mut b, "-Ln");
    let firsts: Vec<&str> = out.lines().skip(3).collect();
    assert_eq!(
        firsts,
        [
            "TCP  200.0.0.1:80 wlc",
            "TCP  10.0.0.1:8 wlc",
            "TCP  10.0.0.1:80 wlc",
            "  -> 10.0.0.3:80                  Route   1      0          0         ",
            "  -> 10.0.0.9:80                  Route   1      0          0         ",
            "  -> 10.0.0.20:80                 Route   1      0          0         ",
            "UDP  10.0.0.1:53 wlc",
            "SCTP 10.0.0.1:80 wlc",
            "TCP  [2001:db8::1]:80 wlc",
            "FWM  1 wlc",
            "FWM  2 wlc",
        ]
    );
}

#[test]
fn daemons_and_timeouts() {
    let mut b = InProc::new();
    ok(
        &mut b,
        "--start-daemon backup --mcast-interface lo --syncid 7",
    );
    ok(
        &mut b,
        "--start-daemon master --mcast-interface lo --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 1000",
    );
    assert_text(
        &ok(&mut b, "-L --daemon"),
        "master sync daemon (mcast=lo, syncid=0, maxlen=1000, group=239.1.2.3, port=9000, ttl=3)\n\
         backup sync daemon (mcast=lo, syncid=7, maxlen=65507, group=224.0.0.81, port=8848, ttl=1)\n",
    );
    ok(&mut b, "--stop-daemon master");
    ok(&mut b, "--stop-daemon backup");
    assert_eq!(ok(&mut b, "-L --daemon"), "");
    ok(&mut b, "--set 0 30 0");
    assert_eq!(
        ok(&mut b, "-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 30 300\n"
    );
}

/// Without -n, ports are named from /etc/services (hosts too, where known; these tests run
/// with no host lookups).
#[test]
fn names_without_numeric() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.1:http");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.2");
    ok(&mut b, "-A -u 10.0.0.1:domain");
    let out = ok(&mut b, "-L");
    assert!(
        out.contains("TCP  10.0.0.1:http wlc\n  -> 10.0.0.2:http "),
        "{out}"
    );
    assert!(out.contains("UDP  10.0.0.1:domain wlc\n"), "{out}");
    assert!(ok(&mut b, "-S").contains("-a -t 10.0.0.1:http -r 10.0.0.2:http -g -w 1\n"));
    // ipvsadm with no arguments at all lists like -L.
    assert_eq!(common::run_in(&mut b, "", "").stdout, out);
}

/// A services file of the test's own, so that names do not depend on the machine's
/// `/etc/services`: `http` for TCP and UDP, and for SCTP only `discard`.
struct Services;

const SERVICES: &[(&str, u16, &str)] = &[
    ("http", 80, "tcp"),
    ("http", 80, "udp"),
    ("discard", 9, "sctp"),
];

impl rvsadm::names::Resolver for Services {
    fn host_v4(&self, _name: &str) -> Option<std::net::Ipv4Addr> {
        None
    }

    fn service_port(&self, name: &str, proto: &str) -> Option<u16> {
        SERVICES
            .iter()
            .find(|s| s.0 == name && s.2 == proto)
            .map(|s| s.1)
    }

    fn host_name(&self, _addr: &std::net::IpAddr) -> Option<String> {
        None
    }

    fn service_name(&self, port: u16, proto: &str) -> Option<String> {
        SERVICES
            .iter()
            .find(|s| s.1 == port && s.2 == proto)
            .map(|s| s.0.to_string())
    }
}

/// `port_to_service` names a port only for the service's own protocol: an SCTP port without
/// an `sctp` entry stays numeric even where TCP has a name. A fwmark service has no protocol
/// in libipvs's listing (the kernel sends none; the entry is zeroed), so its real servers'
/// ports are never named.
#[test]
fn port_names_follow_the_service_protocol() {
    let mut b = InProc::new();
    ok(&mut b, "-A --sctp-service 10.0.0.1:80");
    ok(&mut b, "-a --sctp-service 10.0.0.1:80 -r 10.0.0.2");
    ok(&mut b, "-A --sctp-service 10.0.0.1:9");
    ok(&mut b, "-A -t 10.0.0.1:80");
    ok(&mut b, "-A -f 7");
    ok(&mut b, "-a -f 7 -r 10.0.0.3:80 -m");
    ok(&mut b, "-a -f 7 -r 10.0.0.4:9 -m");
    let o = common::run_with(&mut b, "-L", &Services);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_text(
        &o.stdout,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.1:http wlc\n\
         SCTP 10.0.0.1:discard wlc\n\
         SCTP 10.0.0.1:80 wlc\n  \
         -> 10.0.0.2:80                  Route   1      0          0         \n\
         FWM  7 wlc\n  \
         -> 10.0.0.3:80                  Masq    1      0          0         \n  \
         -> 10.0.0.4:9                   Masq    1      0          0         \n",
    );
    let o = common::run_with(&mut b, "-L -f 7", &Services);
    assert!(o.stdout.ends_with("FWM  7 wlc\n  -> 10.0.0.3:80                  Masq    1      0          0         \n  -> 10.0.0.4:9                   Masq    1      0          0         \n"), "{o:?}");
    let o = common::run_with(&mut b, "-S", &Services);
    assert_text(
        &o.stdout,
        "-A -t 10.0.0.1:http -s wlc\n\
         -A --sctp-service 10.0.0.1:discard -s wlc\n\
         -A --sctp-service 10.0.0.1:80 -s wlc\n\
         -a --sctp-service 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n\
         -A -f 7 -s wlc\n\
         -a -f 7 -r 10.0.0.3:80 -m -w 1\n\
         -a -f 7 -r 10.0.0.4:9 -m -w 1\n",
    );
}

/// Address forms accepted by inet_aton and the bracket rules.
#[test]
fn address_forms() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.1:80");
    ok(&mut b, "-A -t 0x0a000002:80");
    ok(&mut b, "-A -t 012.0.0.3:080");
    ok(&mut b, "-A -t 2001:db8::1:80 -p");
    ok(&mut b, "-A -t [10.0.0.4]:80 -p");
    let out = ok(&mut b, "-Sn");
    assert_text(
        &out,
        "-A -t 10.0.0.1:80 -s wlc\n\
         -A -t 10.0.0.2:80 -s wlc\n\
         -A -t 10.0.0.3:80 -s wlc\n\
         -A -t 10.0.0.4:0 -s wlc -p 360\n\
         -A -t [2001:db8::1:80]:0 -s wlc -p 360\n",
    );
}

/// -r without a port takes the service port; DR and TUN force it; NAT keeps its own; -r
/// before -t has no service port to copy.
#[test]
fn real_server_port_rules() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.1:80");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.2:8080");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.4:8080 -i");
    ok(&mut b, "-a -r 10.0.0.5 -m -t 10.0.0.1:80");
    ok(&mut b, "-A -f 9");
    ok(&mut b, "-a -f 9 -r 10.0.0.6:443 -g");
    assert_text(
        &ok(&mut b, "-Sn"),
        "-A -t 10.0.0.1:80 -s wlc\n\
         -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n\
         -a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 1\n\
         -a -t 10.0.0.1:80 -r 10.0.0.4:80 -i -w 1 --tun-type ipip\n\
         -a -t 10.0.0.1:80 -r 10.0.0.5:0 -m -w 1\n\
         -A -f 9 -s wlc\n\
         -a -f 9 -r 10.0.0.6:443 -g -w 1\n",
    );
    // -e is a full replacement: weight back to 1, method back to DR, thresholds to 0.
    ok(&mut b, "-e -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 5 -x 9");
    ok(&mut b, "-e -t 10.0.0.1:80 -r 10.0.0.3:8080 -m");
    assert!(ok(&mut b, "-Ln --thresholds").contains(
        "  -> 10.0.0.3:8080                0          0          0          0         \n"
    ));
    // -E is a full replacement too: no -s means wlc, no -p means not persistent.
    ok(&mut b, "-E -t 10.0.0.1:80 -s rr -p 30");
    ok(&mut b, "-E -t 10.0.0.1:80");
    assert!(ok(&mut b, "-Sn").starts_with("-A -t 10.0.0.1:80 -s wlc\n"));
}

/// The `-L --daemon` line a current kernel reports for a master started with ipvsadm's
/// defaults (interface eth0, everything else filled in by the kernel rules).
#[test]
fn daemon_line_with_kernel_defaults() {
    let mut t = rvs_model::Table::new();
    let cfg = rvs_model::DaemonConfig {
        role: rvs_model::SyncRole::Master,
        mcast_ifn: "eth0".into(),
        syncid: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    t.start_daemon(cfg, Some(1500)).unwrap();
    let mut out = String::new();
    rvsadm::list::daemons(&mut out, &[t.master.unwrap().config]);
    assert_eq!(
        out,
        "master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
}

/// Connection listing: `-c --persistent-conn` adds the PE columns; entries without PE data
/// keep the plain line.
#[test]
fn connection_listing_with_pe_columns() {
    let mut b = InProc::new();
    let conn = |pe: &str, data: &str| rvs_ctl::ConnView {
        protocol: 17,
        caddr: "10.1.0.5".parse().unwrap(),
        cport: 5060,
        vaddr: "10.0.0.10".parse().unwrap(),
        vport: 5060,
        daddr: "10.0.1.1".parse().unwrap(),
        dport: 5060,
        state: "UDP".into(),
        expires: 61,
        pe_name: pe.into(),
        pe_data: data.into(),
    };
    b.conns = vec![conn("sip", "call-1@host"), conn("", "")];
    assert_text(
        &ok(&mut b, "-L -c -n --persistent-conn"),
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination        pe name          pe_data\n\
         UDP 01:01  UDP         10.1.0.5:5060      10.0.0.10:5060     10.0.1.1:5060    sip                call-1@host\n\
         UDP 01:01  UDP         10.1.0.5:5060      10.0.0.10:5060     10.0.1.1:5060\n",
    );
}
