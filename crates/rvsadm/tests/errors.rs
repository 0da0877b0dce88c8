// SPDX-License-Identifier: MIT OR Apache-2.0
//! Every error ipvsadm 1.31 prints for a misplaced command, a bad address, option value or
//! option combination, and a refusal by the daemon: the text on stderr and the exit status,
//! and that a refused command changes nothing.

mod common;

use common::{InProc, ok, run_in};

/// (arguments, exit status, stderr)
const LOCAL: &[(&str, i32, &str)] = &[
    // The command comes first; popt errors.
    (
        "-nL",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
    (
        "-t 1.2.3.4:80 -A",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
    (
        "foo",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
    (
        "--foo",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
    ("-A -t 1.2.3.4:80 --foo", 255, "--foo: unknown option\n"),
    ("-A -t", 255, "-t: missing argument\n"),
    ("-A -t 1.2.3.4:80 -s", 255, "-s: missing argument\n"),
    (
        "-L --numeric=1",
        255,
        "--numeric=1: option does not take an argument\n",
    ),
    (
        "-A -t -s rr",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    ("-L -a", 2, "invalid option `-a'\n"),
    ("-L -h", 2, "invalid option `-h'\n"),
    ("-A -t 1.2.3.4:80 -v", 2, "invalid option `-v'\n"),
    ("-L foo", 2, "unexpected argument foo\n"),
    ("--set 1 2", 2, "--set option requires 3 timeout values\n"),
    ("--set 1 2 3 4", 2, "unexpected argument 4\n"),
    ("--set 1 2 x", 2, "invalid timeout value `x' specified\n"),
    (
        "--set 1 2 2678401",
        2,
        "invalid timeout value `2678401' specified\n",
    ),
    // Service and real-server addresses and ports.
    (
        "-A -t 80",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-A -t [2001:db8::1]",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-A -t [2001:db8::1]:",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-A -t 1.2.3.4:nosuchport",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-A -t 1.2.3.4:65536",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-A -t no.such.host.invalid:80",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 80",
        2,
        "illegal real server address[:port] specified\n",
    ),
    (
        "-A -t 1.2.3.4:0",
        2,
        "Zero port specified for non-persistent service\n",
    ),
    (
        "-A -t 1.2.3.4",
        2,
        "Zero port specified for non-persistent service\n",
    ),
    (
        "-E -t 1.2.3.4:0 -s rr",
        2,
        "Zero port specified for non-persistent service\n",
    ),
    (
        "-A -t 1.2.3.4:53 -o",
        2,
        "One-Packet Scheduling is only for UDP virtual services\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r [2001:db8::1]:80",
        2,
        "Different address family is allowed only for tunneling servers\n",
    ),
    // fwmark and -6.
    ("-A -f 0", 2, "invalid fwmark value `0' specified\n"),
    (
        "-A -f 4294967296",
        2,
        "invalid fwmark value `4294967296' specified\n",
    ),
    ("-A -f 1x", 2, "invalid fwmark value `1x' specified\n"),
    ("-A -f -1", 2, "invalid fwmark value `-1' specified\n"),
    ("-A -6 -f 1", 2, "-6 used before -f\n\n"),
    ("-A -t 1.2.3.4:80 -6", 2, "-6 used before -f\n\n"),
    // Option values.
    (
        "-A -t 1.2.3.4:80 -p 0",
        2,
        "invalid timeout value `0' specified\n",
    ),
    (
        "-A -t 1.2.3.4:80 -p 2678401",
        2,
        "invalid timeout value `2678401' specified\n",
    ),
    (
        "-A -t [::1]:80 -p -M 129",
        2,
        "illegal ipv6 netmask specified\n",
    ),
    (
        "-A -t [::1]:80 -p -M x",
        2,
        "illegal ipv6 netmask specified\n",
    ),
    (
        "-A -t 1.2.3.4:80 -p -M no.such.mask.invalid",
        2,
        "illegal virtual server persistent mask specified\n",
    ),
    (
        "-A -t 1.2.3.4:80 -b sh-port",
        2,
        "incompatible scheduler flag `sh-port'\n",
    ),
    (
        "-A -t 1.2.3.4:80 -s sh -b mh-fallback",
        2,
        "incompatible scheduler flag `mh-fallback'\n",
    ),
    (
        "-A -t 1.2.3.4:80 -b foo",
        2,
        "invalid scheduler flag `foo'\n",
    ),
    (
        "-A -t 1.2.3.4:80 -b flag-1,bar",
        2,
        "invalid scheduler flag `bar'\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -w 65536",
        2,
        "illegal weight specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -w -1",
        2,
        "illegal weight specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -x 2147483648",
        2,
        "illegal u_threshold specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -y x",
        2,
        "illegal l_threshold specified\n",
    ),
    (
        "--start-daemon foo",
        2,
        "illegal start-daemon parameter specified\n",
    ),
    ("--stop-daemon foo", 2, "illegal start_daemon specified\n"),
    (
        "--start-daemon master --syncid 256",
        2,
        "illegal syncid specified\n",
    ),
    (
        "--start-daemon master --sync-maxlen 0",
        2,
        "illegal sync-maxlen specified\n",
    ),
    (
        "--start-daemon master --sync-maxlen 65508",
        2,
        "illegal sync-maxlen specified\n",
    ),
    (
        "--start-daemon master --mcast-group 10.0.0.1",
        2,
        "invalid IPv4 mcast-group `10.0.0.1'\n",
    ),
    (
        "--start-daemon master --mcast-group 2001:db8::1",
        2,
        "invalid IPv6 mcast-group `2001:db8::1'\n",
    ),
    (
        "--start-daemon master --mcast-port 0",
        2,
        "illegal mcast-port specified\n",
    ),
    (
        "--start-daemon master --mcast-ttl 256",
        2,
        "illegal mcast-ttl specified\n",
    ),
    // Tunnel options by tunnel type.
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type foo",
        2,
        "illegal tunnel type specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 0",
        2,
        "illegal tunnel port specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue",
        2,
        "You need to supply the 'tun-port' option for the 'gue' tunnel type\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-csum",
        2,
        "Illegal 'tun-csum' option with the 'ipip' tunnel type\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-port 5",
        2,
        "Illegal 'tun-port' option with the 'gre' tunnel type\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-remcsum",
        2,
        "Illegal 'tun-remcsum' option with the 'gre' tunnel type\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 6080 --tun-nocsum --tun-csum",
        2,
        "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -m --tun-type gue --tun-port 6080",
        2,
        "Tunnel options conflict with forward method\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 --tun-nocsum",
        2,
        "Tunnel options conflict with forward method\n",
    ),
    // The command × option matrix and repeated options.
    (
        "-A",
        2,
        "You need to supply the 'service-address' option for the 'add-service' command\n",
    ),
    (
        "-a -t 1.2.3.4:80",
        2,
        "You need to supply the 'real-server' option for the 'add-server' command\n",
    ),
    (
        "-A -t 1.2.3.4:80 -n",
        2,
        "Illegal 'numeric' option with the 'add-service' command\n",
    ),
    (
        "-A -t 1.2.3.4:80 -x 5",
        2,
        "Illegal 'u-threshold' option with the 'add-service' command\n",
    ),
    (
        "-D -t 1.2.3.4:80 -s rr",
        2,
        "Illegal 'scheduler' option with the 'delete-service' command\n",
    ),
    (
        "-C -n",
        2,
        "Illegal 'numeric' option with the 'flush' command\n",
    ),
    (
        "-Z -n",
        2,
        "Illegal 'numeric' option with the 'zero' command\n",
    ),
    (
        "-S --nosort",
        2,
        "Illegal 'nosort' option with the 'save' command\n",
    ),
    (
        "-R -n",
        2,
        "Illegal 'numeric' option with the 'restore' command\n",
    ),
    (
        "-d -t 1.2.3.4:80 -r 10.0.0.1 -w 2",
        2,
        "Illegal 'weight' option with the 'delete-server' command\n",
    ),
    (
        "--set 1 2 3 -t 1.2.3.4:80",
        2,
        "Illegal 'service-address' option with the 'set' command\n",
    ),
    (
        "--stop-daemon master --mcast-interface lo",
        2,
        "Illegal 'mcast-interface' option with the 'stop-daemon' command\n",
    ),
    (
        "-L -c -t 1.2.3.4:80",
        2,
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n",
    ),
    (
        "-L --timeout --daemon",
        2,
        "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n",
    ),
    ("-L -n -n", 2, "multiple 'numeric' options specified\n"),
    ("-Ln -n", 2, "multiple 'numeric' options specified\n"),
    (
        "-A -t 1.2.3.4:80 -u 1.2.3.4:80",
        2,
        "multiple 'service-address' options specified\n",
    ),
    (
        "-A -t 1.2.3.4:80 -f 3",
        2,
        "multiple 'service-address' options specified\n",
    ),
    (
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -g -m",
        2,
        "multiple 'forwarding-method' options specified\n",
    ),
    (
        "-A -t 1.2.3.4:80 -p 10 -p 20",
        2,
        "multiple 'persistent' options specified\n",
    ),
    (
        "-L --stats -c",
        2,
        "options conflicts in the list command\n",
    ),
    (
        "-L --daemon --rate",
        2,
        "options conflicts in the list command\n",
    ),
    (
        "-L --timeout --persistent-conn",
        2,
        "options conflicts in the list command\n",
    ),
];

#[test]
fn local_errors_have_ipvsadm_text_and_status() {
    let mut failures = Vec::new();
    for (args, code, stderr) in LOCAL {
        let mut b = InProc::new();
        let o = run_in(&mut b, args, "");
        if o.code != *code || o.stderr != *stderr || !o.stdout.is_empty() {
            failures.push(format!(
                "{args}: got {} {:?}, want {code} {stderr:?}",
                o.code, o.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Accepted quirks: these must *not* fail.
#[test]
fn accepted_forms() {
    let mut b = InProc::new();
    for args in [
        "-L -c --persistent-conn",
        "-L --syncid 3",
        "-L --sort",
        "-Ln --exact --stats --nosort",
        "-lnX",
        "-C --sort",
        "-A -t 1.2.3.4:80 -b sh-port -s sh",
        "-A --tcp-service=1.2.3.5:http --scheduler=rr --persistent=30",
        "-A -t1.2.3.6:80 -srr",
        "-A -u 1.2.3.4:53 -o",
        "-A -f 1 -6 -s rr",
        "-A -t [2001:db8::1]:80 -p -M 64",
        "-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 6080 --tun-csum",
        "-a -t 1.2.3.4:80 -r 2001:db8::9 -i",
        "-a -t 1.2.3.4:80 -r [2001:db8::a]:80 -i",
        "-A -t 1.2.3.4:0 -p",
        "-Z",
        "-Z -t 1.2.3.4:80",
    ] {
        ok(&mut b, args);
    }
}

/// What the daemon refuses, in ipvsadm's words, exit 255 (1 for listings).
#[test]
fn daemon_refusals() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.240:80 -s wlc");
    ok(&mut b, "-a -t 10.0.0.240:80 -r 10.0.0.1");
    let before = ok(&mut b, "-Sn");
    let cases: &[(&str, i32, &str)] = &[
        ("-A -t 10.0.0.240:80", 255, "Service already exists\n"),
        (
            "-A -t 10.0.0.241:80 -s bogus",
            255,
            "Scheduler or persistence engine not found\n",
        ),
        (
            "-A -t 10.0.0.241:80 -p --pe bogus",
            255,
            "Scheduler or persistence engine not found\n",
        ),
        (
            "-E -t 10.0.0.240:80 -s bogus",
            255,
            "Scheduler or persistence engine not found\n",
        ),
        ("-E -t 10.0.0.9:80", 255, "No such service\n"),
        ("-D -t 10.0.0.9:80", 255, "No such service\n"),
        ("-Z -t 10.0.0.9:80", 255, "No such service\n"),
        (
            "-a -t 10.0.0.9:80 -r 10.0.0.1",
            255,
            "Service not defined\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r 10.0.0.1",
            255,
            "Destination already exists\n",
        ),
        (
            "-e -t 10.0.0.9:80 -r 10.0.0.1",
            255,
            "Service not defined\n",
        ),
        (
            "-e -t 10.0.0.240:80 -r 10.0.0.2",
            255,
            "No such destination\n",
        ),
        (
            "-d -t 10.0.0.9:80 -r 10.0.0.1",
            255,
            "Service not defined\n",
        ),
        (
            "-d -t 10.0.0.240:80 -r 10.0.0.2",
            255,
            "No such destination\n",
        ),
        (
            "-d -t 10.0.0.240:80 -r 10.0.0.1:81",
            255,
            "No such destination\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r 10.0.0.3 -y 5",
            255,
            "Numerical result out of range\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r 10.0.0.3 -x 5 -y 6",
            255,
            "Numerical result out of range\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r 224.0.0.1",
            255,
            "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r 0.0.0.0",
            255,
            "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
        ),
        ("--stop-daemon master", 255, "No daemon is running\n"),
        (
            "--start-daemon master --mcast-interface nosuchif0",
            255,
            "No such device\n",
        ),
        ("-L -t 10.0.0.9:80", 1, "No such service\n"),
        ("-L -n -f 9", 1, "No such service\n"),
    ];
    let mut failures = Vec::new();
    for (args, code, stderr) in cases {
        let o = run_in(&mut b, args, "");
        if o.code != *code || o.stderr != *stderr {
            failures.push(format!(
                "{args}: got {} {:?}, want {code} {stderr:?}",
                o.code, o.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(
        ok(&mut b, "-Sn"),
        before,
        "refused commands changed the table"
    );

    ok(&mut b, "--start-daemon master --mcast-interface lo");
    let o = run_in(&mut b, "--start-daemon master --mcast-interface lo", "");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (255, "Daemon has already run\n")
    );
}

/// `-R` runs each line; ipvsadm's own checks stop it (status 2) with earlier lines applied;
/// daemon refusals are printed and the next line runs; the status is the last line's.
#[test]
fn restore_semantics() {
    let mut b = InProc::new();
    let input = "\
ipvsadm -A -t 10.0.0.1:80
-A -t 10.0.0.1:80
# a comment line is skipped
\t-a   -t 10.0.0.1:80\t-r 10.0.0.5 ipvsadm -w 2\r

-A -t 10.0.0.2:80 -s rr
";
    let o = run_in(&mut b, "-R", input);
    assert_eq!(o.stderr, "Service already exists\n");
    assert_eq!(o.code, 0, "the last line succeeded");
    assert_eq!(
        ok(&mut b, "-Sn"),
        "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.0.5:80 -g -w 2\n-A -t 10.0.0.2:80 -s rr\n"
    );

    let o = run_in(&mut b, "-R", "-A -t 10.0.0.3:80\n-A -t 10.0.0.3:80\n");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (255, "Service already exists\n")
    );

    let o = run_in(
        &mut b,
        "-R",
        "-A -t 10.0.0.14:80\n-A -t 10.0.0.9:0\n-A -t 10.0.0.15:80\n",
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (2, "Zero port specified for non-persistent service\n")
    );
    let saved = ok(&mut b, "-Sn");
    assert!(saved.contains("10.0.0.14:80") && !saved.contains("10.0.0.15:80"));

    let o = run_in(&mut b, "-R", "-R\n");
    assert_eq!(o.code, 255);
    assert_eq!(
        o.stderr,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
    );

    let o = run_in(&mut b, "-R", "-L --timeout\n");
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Timeout (tcp tcpfin udp): 900 120 300\n")
    );
}

#[test]
fn help_and_version_succeed_without_a_daemon() {
    struct Down;
    impl rvsadm::Backend for Down {
        fn call(&mut self, _: &rvs_ctl::Request) -> Result<rvs_ctl::Response, String> {
            Err("cannot reach rvsd at /nowhere: No such file or directory".into())
        }
    }
    let o = run_in(&mut Down, "-v", "");
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("rvsadm"));
    let o = run_in(&mut Down, "--help", "");
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("--add-service"));
    let o = run_in(&mut Down, "-Ln", "");
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.starts_with("ipvsadm: cannot reach rvsd"),
        "{}",
        o.stderr
    );
}

/// `ip_vs_new_dest` refuses an IPv6 dest that `ipv6_addr_type` does not call unicast; a
/// v4-mapped address (`::ffff:a.b.c.d`) is only `IPV6_ADDR_MAPPED`, so adding one is EINVAL
/// (exit 255). ipvsadm itself takes it as any IPv6 address: only its family check (exit 2)
/// comes first, for an IPv4 service without `-i`. `-e` of such a dest finds none (ENOENT).
#[test]
fn v4_mapped_dest_is_not_unicast() {
    let mut b = InProc::new();
    ok(&mut b, "-A -t [2001:db8::1]:80");
    ok(&mut b, "-A -t 10.0.0.240:80");
    let before = ok(&mut b, "-Sn");
    let einval = "Invalid operation.  Possibly wrong module version, address not unicast, ...\n";
    let cases: &[(&str, i32, &str)] = &[
        (
            "-a -t [2001:db8::1]:80 -r [::ffff:10.0.0.2]:80 -m",
            255,
            einval,
        ),
        ("-a -t [2001:db8::1]:80 -r ::ffff:10.0.0.2", 255, einval),
        ("-a -t 10.0.0.240:80 -r ::ffff:10.0.0.2 -i", 255, einval),
        (
            "-e -t [2001:db8::1]:80 -r [::ffff:10.0.0.2]:80 -m",
            255,
            "No such destination\n",
        ),
        (
            "-a -t 10.0.0.240:80 -r ::ffff:10.0.0.2",
            2,
            "Different address family is allowed only for tunneling servers\n",
        ),
    ];
    for (args, code, stderr) in cases {
        let o = run_in(&mut b, args, "");
        assert_eq!((o.code, o.stderr.as_str()), (*code, *stderr), "{args}");
    }
    assert_eq!(ok(&mut b, "-Sn"), before);
    // A v4-compatible address (`::a.b.c.d`) is unicast.
    ok(&mut b, "-a -t [2001:db8::1]:80 -r [::10.0.0.2]:80 -m");
}

/// libipvs's `ipvs_zero_service` puts the service in the request only when its fwmark,
/// address or port is set; without one the kernel zeroes everything. So an all-zero service
/// of any protocol and family (`-t 0.0.0.0:0`, `-u 0.0.0.0`, `-t [::]:0`) is `-Z` alone.
/// fwmark 0 cannot be given at all.
#[test]
fn zero_with_an_all_zero_service_zeroes_everything() {
    use rvs_model::stats::Counters;
    let mut b = InProc::new();
    ok(&mut b, "-A -t 10.0.0.1:80");
    ok(&mut b, "-a -t 10.0.0.1:80 -r 10.0.0.2");
    ok(&mut b, "-A -u [2001:db8::1]:53");
    ok(&mut b, "-A -f 7");
    ok(&mut b, "-a -f 7 -r 10.0.0.3");
    let count = |b: &mut InProc| {
        b.state.with_table(|t| {
            for s in t.services_mut() {
                s.stats.raw.conns += 5;
                for d in &mut s.dests {
                    d.stats.raw.inpkts += 7;
                }
            }
            t.total.raw.conns += 15;
        })
    };
    let all_zero = |b: &mut InProc| {
        b.state.with_table(|t| {
            t.total.shown() == Counters::default()
                && t.services().iter().all(|s| {
                    s.stats.shown() == Counters::default()
                        && s.dests
                            .iter()
                            .all(|d| d.stats.shown() == Counters::default())
                })
        })
    };
    for args in [
        "-Z -t 0.0.0.0:0",
        "-Z -u 0.0.0.0",
        "-Z --sctp-service 0:0",
        "-Z -t [::]:0",
        "-Z -u [::]:0",
    ] {
        count(&mut b);
        assert!(!all_zero(&mut b));
        let o = run_in(&mut b, args, "");
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.as_str()),
            (0, "", ""),
            "{args}"
        );
        assert!(all_zero(&mut b), "{args}");
    }
    count(&mut b);
    let cases: &[(&str, i32, &str)] = &[
        ("-Z -t 0.0.0.0:80", 255, "No such service\n"),
        ("-Z -t 10.0.0.9:0", 255, "No such service\n"),
        ("-Z -u [::1]:0", 255, "No such service\n"),
        ("-Z -f 0", 2, "invalid fwmark value `0' specified\n"),
    ];
    for (args, code, stderr) in cases {
        let o = run_in(&mut b, args, "");
        assert_eq!((o.code, o.stderr.as_str()), (*code, *stderr), "{args}");
    }
    assert!(!all_zero(&mut b), "a refused -Z zeroed something");
}

/// `-R`: a popt error on a line (unknown option, missing argument) makes ipvsadm's
/// `parse_options` print `OPTION: MESSAGE` on stderr and return -1 instead of exiting, so
/// the restore goes on with the next line; the status is still the last line's (255 when it
/// is the bad one). A first word that is not a command still ends it all ("Try ...").
#[test]
fn restore_goes_on_after_a_popt_error() {
    let mut b = InProc::new();
    let o = run_in(
        &mut b,
        "-R",
        "-A -t 10.0.0.1:80 --bogus\n-A -t 10.0.0.2:80\n-A -t 10.0.0.3:80 -s\n-A -t 10.0.0.4:80\n",
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (0, "--bogus: unknown option\n-s: missing argument\n")
    );
    assert_eq!(
        ok(&mut b, "-Sn"),
        "-A -t 10.0.0.2:80 -s wlc\n-A -t 10.0.0.4:80 -s wlc\n"
    );

    let o = run_in(
        &mut b,
        "-R",
        "-A -t 10.0.0.5:80\n-D -t 10.0.0.9:80\n-A -t 10.0.0.6:80 --bogus\n",
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (255, "No such service\n--bogus: unknown option\n")
    );
    let saved = ok(&mut b, "-Sn");
    assert!(saved.contains("10.0.0.5:80") && !saved.contains("10.0.0.6:80"));

    let o = run_in(
        &mut b,
        "-R",
        "--bogus -A -t 10.0.0.7:80\n-A -t 10.0.0.8:80\n",
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            255,
            "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
        )
    );
    assert!(!ok(&mut b, "-Sn").contains("10.0.0.8:80"));
}
