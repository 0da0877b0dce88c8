// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf files written the way they are written in the wild (`tests/corpus`): every
//! one reads, and what a few of them say is checked setting by setting. Then small broken
//! variants, each of which must be refused at exactly its file and line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rvs_common::svc_flags;
use rvs_keepalived::{Check, Config, Error, load};
use rvs_model::{FwdMethod, Protocol, ServiceKey, TunCsum, TunType};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn read(name: &str) -> Config {
    load(&corpus().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr_key(protocol: Protocol, a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: ip(a),
        port,
    }
}

fn kinds(c: &Config) -> Vec<Vec<Vec<&'static str>>> {
    c.virtual_servers
        .iter()
        .map(|vs| {
            vs.real_servers
                .iter()
                .map(|rs| rs.checkers.iter().map(|ch| ch.check.name()).collect())
                .collect()
        })
        .collect()
}

/// The top-level `*.conf` of the corpus; `conf.d/` and `fragments/` are only included.
#[test]
fn every_corpus_file_reads() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        let c = load(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.virtual_servers.is_empty(), "{}", f.display());
        for vs in &c.virtual_servers {
            assert!(!vs.services.is_empty(), "{}: {}", f.display(), vs.name);
            assert!(!vs.real_servers.is_empty(), "{}: {}", f.display(), vs.name);
            assert!(vs.pos.line > 0);
        }
    }
}

#[test]
fn dr_web_farm() {
    let c = read("dr-web-farm.conf");
    assert_eq!(c.virtual_servers.len(), 2);
    // global_defs, vrrp_sync_group and two vrrp_instance blocks.
    assert_eq!(c.notes.len(), 4, "{:#?}", c.notes);
    assert!(
        c.notes[0].contains("dr-web-farm.conf:7: global_defs { }"),
        "{}",
        c.notes[0]
    );
    assert!(
        c.notes[3].contains("dr-web-farm.conf:43: vrrp_instance"),
        "{}",
        c.notes[3]
    );
    assert_eq!(
        kinds(&c),
        [vec![vec!["HTTP_GET"]; 3], vec![vec!["HTTP_GET"]; 2]]
    );

    let vs = &c.virtual_servers[0];
    assert_eq!(vs.name, "192.168.10.100 80");
    assert_eq!(vs.pos.line, 59);
    let s = &vs.services[0];
    assert_eq!(s.key, addr_key(Protocol::Tcp, "192.168.10.100", 80));
    assert_eq!((s.scheduler.as_str(), s.timeout), ("wlc", 300));
    assert!(s.persistent());
    assert_eq!(s.netmask, 0xffff_ff00);
    let weights: Vec<i32> = vs.real_servers.iter().map(|r| r.dest.weight).collect();
    assert_eq!(weights, [100, 100, 50]);
    for rs in &vs.real_servers {
        assert_eq!(rs.dest.fwd, FwdMethod::Route);
        assert_eq!(rs.dest.port, 80);
        let ch = &rs.checkers[0];
        assert_eq!(ch.timing.delay_loop_ms, 6000, "from the virtual_server");
        assert_eq!(ch.timing.connect_timeout_ms, 3000);
        assert_eq!(ch.timing.retry, 3);
        assert_eq!(ch.timing.delay_before_retry_ms, 3000);
        assert_eq!((ch.target.addr, ch.target.port), (rs.dest.addr, 80));
        let Check::Http {
            tls,
            urls,
            virtualhost,
            ..
        } = &ch.check
        else {
            panic!("{:?}", ch.check)
        };
        assert!(!tls);
        assert_eq!(
            virtualhost.as_deref(),
            Some("www.example.com"),
            "the virtual_server's virtualhost, as keepalived"
        );
        assert_eq!(urls.len(), 2);
        assert_eq!(urls[0].path, "/index.html");
        assert_eq!(urls[0].status, [(200, 299)], "the default");
        assert_eq!(
            urls[0].digest.as_deref(),
            Some("5d41402abc4b2a76b9719d911017c592")
        );
        assert_eq!(
            (urls[1].path.as_str(), &urls[1].status[..]),
            ("/healthz", &[(200, 200)][..])
        );
    }

    let vs = &c.virtual_servers[1];
    assert!(!vs.services[0].persistent());
    let ch = &vs.real_servers[1].checkers[0];
    assert_eq!(ch.target.port, 8080);
    assert_eq!(ch.timing.delay_loop_ms, 10_000);
    let Check::Http {
        urls, virtualhost, ..
    } = &ch.check
    else {
        panic!()
    };
    assert_eq!(
        virtualhost.as_deref(),
        Some("static.example.com"),
        "the checker's own virtualhost wins"
    );
    assert_eq!(
        urls[0].digest.as_deref(),
        Some("098f6bcd4621d373cade4e832627b4f6"),
        "lower-cased"
    );
}

#[test]
fn nat_with_tcp_checks_and_bang_comments() {
    let c = read("nat-tcp-check.conf");
    let names: Vec<&str> = c.virtual_servers.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["192.168.20.10 25", "192.168.20.10 993", "192.168.20.10 587"]
    );
    assert_eq!(c.notes.len(), 4, "{:#?}", c.notes);
    assert_eq!(kinds(&c), vec![vec![vec!["TCP_CHECK"]; 2]; 3]);
    for vs in &c.virtual_servers {
        assert!(
            vs.real_servers
                .iter()
                .all(|r| r.dest.fwd == FwdMethod::Masq)
        );
    }
    let smtp = &c.virtual_servers[0];
    assert_eq!(
        smtp.services[0].scheduler, "wrr",
        "the trailing ! comment is not a word"
    );
    assert_eq!(smtp.real_servers[0].dest.weight, 2);
    assert_eq!(smtp.real_servers[1].dest.weight, 1);
    assert_eq!(
        smtp.real_servers[1].checkers[0].timing.connect_timeout_ms,
        5000
    );
    let imaps = &c.virtual_servers[1];
    assert_eq!(
        imaps.real_servers.len(),
        2,
        "the commented-out real_server is not read"
    );
    assert_eq!(imaps.services[0].timeout, 1800);
    assert_eq!(
        imaps.real_servers[0].checkers[0].target.bindto,
        Some(ip("10.20.0.2"))
    );
    let sub = &c.virtual_servers[2];
    assert_eq!(
        sub.services[0].key,
        addr_key(Protocol::Tcp, "192.168.20.10", 587)
    );
    for rs in &sub.real_servers {
        assert_eq!(rs.dest.port, 25);
        assert_eq!(rs.checkers[0].target.port, 25);
        assert_eq!(rs.checkers[0].timing.connect_timeout_ms, 3000);
    }
}

#[test]
fn groups_expand_into_services() {
    let c = read("vs-group-ranges.conf");
    assert_eq!(c.virtual_servers.len(), 2);
    let web = &c.virtual_servers[0];
    assert_eq!(web.name, "group WEB_VIPS");
    let mut want: Vec<ServiceKey> = (10..=14)
        .map(|b| addr_key(Protocol::Tcp, &format!("192.168.30.{b}"), 80))
        .collect();
    want.push(addr_key(Protocol::Tcp, "192.168.30.20", 80));
    want.push(ServiceKey::Fwmark {
        mark: 10,
        ipv6: false,
    });
    let keys: Vec<ServiceKey> = web.services.iter().map(|s| s.key).collect();
    assert_eq!(keys, want);
    for s in &web.services {
        assert_eq!((s.scheduler.as_str(), s.flags), ("mh", svc_flags::SCHED2));
    }
    let tls = &c.virtual_servers[1];
    assert_eq!(tls.services.len(), 5);
    for s in &tls.services {
        assert_eq!(s.scheduler, "sh");
        assert_eq!(
            s.flags,
            svc_flags::PERSISTENT | svc_flags::SCHED1 | svc_flags::SCHED2
        );
        assert_eq!(s.timeout, 360, "persistence_timeout without a value");
    }
    assert_eq!(
        kinds(&c),
        [vec![vec!["HTTP_GET"]; 2], vec![vec!["SSL_GET"]; 2]]
    );
    let Check::Http { urls, .. } = &tls.real_servers[0].checkers[0].check else {
        panic!()
    };
    assert_eq!(urls[0].status, [(200, 299)]);
}

#[test]
fn fwmark_services_of_both_families() {
    let c = read("fwmark-inet6.conf");
    let v6 = &c.virtual_servers[0];
    assert_eq!(
        v6.services[0].key,
        ServiceKey::Fwmark {
            mark: 6,
            ipv6: true
        }
    );
    assert_eq!(v6.services[0].netmask, 64);
    assert_eq!(v6.real_servers.len(), 3);
    for rs in &v6.real_servers {
        assert!(rs.dest.addr.is_ipv6());
        assert_eq!(rs.dest.port, 0);
        let t = &rs.checkers[0].target;
        assert_eq!((t.addr, t.port), (rs.dest.addr, 443));
    }
    let v4 = &c.virtual_servers[1];
    assert_eq!(
        v4.services[0].key,
        ServiceKey::Fwmark {
            mark: 4,
            ipv6: false
        }
    );
    assert_eq!(v4.services[0].netmask, u32::MAX);
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn ipv6_vips_and_real_servers() {
    let c = read("ipv6-vip.conf");
    assert_eq!(
        c.virtual_servers[0].services[0].key,
        addr_key(Protocol::Tcp, "fd00:50::80", 80)
    );
    assert_eq!(
        c.virtual_servers[1].services[0].key,
        addr_key(Protocol::Tcp, "fd00:50::443", 443)
    );
    assert_eq!(c.virtual_servers[1].services[0].netmask, 64);
    let rs = &c.virtual_servers[0].real_servers[1];
    assert_eq!((rs.dest.addr, rs.dest.port), (ip("fd00:50:1::12"), 8080));
    let t = &rs.checkers[0].target;
    assert_eq!(
        (t.addr, t.port, t.bindto),
        (ip("fd00:50:2::12"), 9090, Some(ip("fd00:50:1::1")))
    );
    assert_eq!(
        kinds(&c),
        [vec![vec!["HTTP_GET"]; 2], vec![vec!["SSL_GET"]; 2]]
    );
    // global_defs and vrrp_instance; SSL_GET's enable_sni and sni_name are used.
    assert_eq!(c.notes.len(), 2, "{:#?}", c.notes);
    for rs in &c.virtual_servers[1].real_servers {
        let Check::Http { tls, sni, .. } = &rs.checkers[0].check else {
            panic!()
        };
        assert!(tls);
        assert_eq!(sni.as_deref(), Some("www.example.com"));
    }
}

#[test]
fn includes_of_a_glob_and_of_fragments() {
    let c = read("include-main.conf");
    // conf.d/*.conf is read in name order where the include is; *.conf.disabled is not read
    // (it would define 192.168.60.10 80 a second time).
    let names: Vec<&str> = c.virtual_servers.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "192.168.60.10 80",
            "192.168.60.10 443",
            "192.168.60.10 8080"
        ]
    );
    let web = &c.virtual_servers[0];
    assert_eq!(
        web.pos.file,
        corpus().join("conf.d/10-web.conf").display().to_string()
    );
    assert_eq!(web.pos.line, 2);
    assert_eq!(web.real_servers[1].pos.line, 14);
    assert!(
        c.virtual_servers[1]
            .pos
            .file
            .ends_with("conf.d/20-api.conf")
    );
    let app = &c.virtual_servers[2];
    assert!(app.pos.file.ends_with("include-main.conf"));
    assert_eq!(app.pos.line, 11);
    for rs in &app.real_servers {
        assert_eq!(rs.dest.weight, 10, "from the fragment");
        let ch = &rs.checkers[0];
        assert_eq!(ch.timing.retry, 2);
        assert_eq!(ch.timing.delay_loop_ms, 4000);
        let Check::Http { urls, .. } = &ch.check else {
            panic!()
        };
        assert_eq!(urls[0].status, [(200, 200), (204, 204)]);
    }
    assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
}

#[test]
fn misc_checks() {
    let c = read("misc-check.conf");
    let rs = &c.virtual_servers[0].real_servers;
    assert_eq!(kinds(&c), [vec![vec!["MISC_CHECK"]; 3]]);
    let Check::Misc {
        argv,
        timeout_ms,
        dynamic,
        user,
    } = &rs[0].checkers[0].check
    else {
        panic!()
    };
    assert_eq!(
        argv,
        &[
            "/usr/local/libexec/keepalived/check_mysql.sh",
            "192.168.70.21",
            "3306"
        ]
    );
    assert_eq!(*timeout_ms, 10_000);
    assert!(dynamic);
    assert_eq!(
        user,
        &Some((
            "keepalived_script".to_string(),
            Some("keepalived".to_string())
        ))
    );
    assert_eq!(rs[0].checkers[0].timing.retry, 0, "MISC_CHECK's default");
    let Check::Misc {
        argv,
        timeout_ms,
        dynamic,
        user,
    } = &rs[2].checkers[0].check
    else {
        panic!()
    };
    assert_eq!(
        argv,
        &[
            "/usr/bin/mysqladmin",
            "--host=192.168.70.23",
            "--connect-timeout=5",
            "ping"
        ]
    );
    assert_eq!(*timeout_ms, 15_000, "misc_timeout defaults to delay_loop");
    assert!(!dynamic);
    assert_eq!(user, &Some(("nobody".to_string(), None)));
}

#[test]
fn udp_services_with_udp_and_dns_checks() {
    let c = read("udp-dns.conf");
    let keys: Vec<ServiceKey> = c
        .virtual_servers
        .iter()
        .map(|v| v.services[0].key)
        .collect();
    assert_eq!(
        keys,
        [
            addr_key(Protocol::Udp, "192.168.80.53", 53),
            addr_key(Protocol::Tcp, "192.168.80.53", 53),
            addr_key(Protocol::Udp, "192.168.80.123", 123),
        ]
    );
    assert_eq!(c.virtual_servers[0].services[0].flags, svc_flags::ONEPACKET);
    assert_eq!(
        kinds(&c),
        [
            vec![vec!["DNS_CHECK"]; 2],
            vec![vec!["TCP_CHECK"]; 2],
            vec![vec!["UDP_CHECK"]; 2]
        ]
    );
    let dns = &c.virtual_servers[0].real_servers;
    assert_eq!(
        dns[0].checkers[0].check,
        Check::Dns {
            qtype: 1,
            name: "ns-health.example.internal".into()
        }
    );
    assert_eq!(dns[0].checkers[0].timing.retry, 2);
    assert_eq!(
        dns[1].checkers[0].check,
        Check::Dns {
            qtype: 6,
            name: ".".into()
        }
    );
    let t = dns[1].checkers[0].timing;
    assert_eq!(
        (t.retry, t.delay_before_retry_ms),
        (3, 5000),
        "DNS_CHECK's defaults"
    );
    let ntp = &c.virtual_servers[2].real_servers;
    let Check::Udp {
        payload,
        require_reply,
        min_reply_length,
        max_reply_length,
    } = &ntp[0].checkers[0].check
    else {
        panic!()
    };
    assert_eq!(payload.len(), 48);
    assert_eq!(payload[0], 0x1b);
    assert!(payload[1..].iter().all(|&b| b == 0));
    assert_eq!(require_reply.as_deref(), Some("1cxx"));
    assert_eq!((*min_reply_length, *max_reply_length), (48, 68));
    assert_eq!(
        ntp[1].checkers[0].check,
        Check::Udp {
            payload: vec![],
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 65535
        }
    );
}

#[test]
fn quorum_sorry_server_alpha_and_inhibit() {
    let c = read("quorum-sorry.conf");
    let vs = &c.virtual_servers[0];
    assert_eq!((vs.quorum, vs.hysteresis), (3, 1));
    assert_eq!(
        vs.quorum_up.as_ref().map(|s| s.line.as_str()),
        Some("/etc/keepalived/scripts/quorum.sh UP 192.168.90.10:443")
    );
    assert_eq!(
        vs.quorum_down.as_ref().map(|s| s.line.as_str()),
        Some("/etc/keepalived/scripts/quorum.sh DOWN 192.168.90.10:443")
    );
    let s = vs.sorry_server.as_ref().unwrap();
    assert_eq!(
        (s.addr, s.port, s.fwd, s.weight),
        (ip("10.90.0.250"), 8443, FwdMethod::Masq, 1)
    );
    assert!(vs.sorry_server_inhibit);
    assert_eq!(vs.real_servers.len(), 3);
    for rs in &vs.real_servers {
        assert!(
            rs.alpha && rs.inhibit_on_failure,
            "both cascade from the virtual_server"
        );
    }
    assert_eq!(
        vs.real_servers[0]
            .notify_up
            .as_ref()
            .map(|s| s.line.as_str()),
        Some("/etc/keepalived/scripts/notify.sh up shop-1")
    );
    assert_eq!(
        vs.real_servers[1]
            .notify_down
            .as_ref()
            .map(|s| s.line.as_str()),
        Some("/etc/keepalived/scripts/notify.sh down shop-2")
    );
    let d = &vs.real_servers[2].dest;
    assert_eq!((d.u_threshold, d.l_threshold), (2000, 1500));
    let t = vs.real_servers[2].checkers[0].timing;
    assert_eq!(
        (
            t.delay_loop_ms,
            t.connect_timeout_ms,
            t.retry,
            t.delay_before_retry_ms
        ),
        (3000, 2000, 2, 1000)
    );

    // A DR service whose sorry server is reached by NAT.
    let web = &c.virtual_servers[1];
    assert_eq!(web.quorum, 2);
    assert!(!web.sorry_server_inhibit);
    assert!(!web.real_servers[0].alpha && !web.real_servers[0].inhibit_on_failure);
    assert_eq!(web.real_servers[0].dest.fwd, FwdMethod::Route);
    let s = web.sorry_server.as_ref().unwrap();
    assert_eq!(
        (s.addr, s.port, s.fwd),
        (ip("10.90.0.250"), 8080, FwdMethod::Masq),
        "sorry_server_lvs_method"
    );
}

#[test]
fn tunnels() {
    let c = read("tun-gue.conf");
    let rs = &c.virtual_servers[0].real_servers;
    let t: Vec<(FwdMethod, TunType, u16)> = rs
        .iter()
        .map(|r| (r.dest.fwd, r.dest.tun_type, r.dest.tun_port))
        .collect();
    assert_eq!(t[0], (FwdMethod::Tunnel, TunType::Gue, 6080));
    assert_eq!(t[1], (FwdMethod::Tunnel, TunType::Gue, 6080));
    assert_eq!(t[2].0, FwdMethod::Tunnel);
    assert_eq!(t[2].1, TunType::Ipip);
    assert_eq!(t[3], (FwdMethod::Tunnel, TunType::Gue, 6080));
    assert_eq!(
        rs[3].dest.addr,
        ip("fd00:18::11"),
        "another family, tunnelled"
    );
    assert_eq!(rs[3].dest.tun_csum, TunCsum::Csum);
    assert_eq!(rs[0].dest.tun_csum, TunCsum::Nocsum);
    for r in &c.virtual_servers[1].real_servers {
        assert_eq!(
            (r.dest.fwd, r.dest.tun_type),
            (FwdMethod::Tunnel, TunType::Gre)
        );
    }
}

#[test]
fn old_alias_keywords() {
    let c = read("old-aliases.conf");
    let web = &c.virtual_servers[0];
    assert_eq!(web.services[0].scheduler, "wrr");
    assert_eq!(web.services[0].timeout, 50);
    for rs in &web.real_servers {
        assert_eq!((rs.dest.fwd, rs.dest.weight), (FwdMethod::Route, 3));
        let t = rs.checkers[0].timing;
        assert_eq!(t.retry, 3, "nb_get_retry");
        assert_eq!(t.connect_timeout_ms, 10_000);
    }
    let smtp = &c.virtual_servers[1];
    assert_eq!(smtp.real_servers[0].dest.fwd, FwdMethod::Masq);
    // SMTP_CHECK is noted and does not count; TCP_CHECK does.
    assert_eq!(
        kinds(&c),
        [vec![vec!["HTTP_GET"]; 2], vec![vec!["TCP_CHECK"]]]
    );
    assert_eq!(
        smtp.real_servers[0].checkers[0].timing.retry, 2,
        "nb_sock_retry"
    );
    let notes = c.notes.join("\n");
    assert_eq!(c.notes.len(), 3, "{notes}");
    assert!(
        notes.contains("old-aliases.conf:4: global_defs { }"),
        "{notes}"
    );
    assert!(
        notes.contains("old-aliases.conf:24: ha_suspend is not supported"),
        "{notes}"
    );
    assert!(
        notes.contains("old-aliases.conf:70: SMTP_CHECK is not supported"),
        "{notes}"
    );
}

#[test]
fn comments_and_quoted_scripts() {
    let c = read("comments-and-scripts.conf");
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.services[0].scheduler, "rr");
    assert_eq!(vs.real_servers.len(), 2);
    let r = &vs.real_servers[0];
    assert_eq!(r.dest.weight, 1);
    assert_eq!(
        r.notify_up.as_ref().map(|s| s.line.as_str()),
        Some("/usr/local/bin/lvs-notify.sh up 10.110.0.11 '#1 web'"),
        "# and ! inside quotes are not comments"
    );
    assert_eq!(
        r.notify_down.as_ref().map(|s| s.line.as_str()),
        Some("/usr/local/bin/lvs-notify.sh down 10.110.0.11 '!urgent'")
    );
    let Check::Http { urls, .. } = &r.checkers[0].check else {
        panic!()
    };
    assert_eq!(urls[0].path, "/health check.html");
    assert_eq!(
        vs.real_servers[1]
            .notify_up
            .as_ref()
            .map(|s| s.line.as_str()),
        Some("/usr/local/bin/lvs-up.sh")
    );
    assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
}

/// A broken configuration and where it must be refused.
struct Bad {
    /// What is wrong.
    what: &'static str,
    /// Files as (path relative to a fresh directory, text); the first is the one loaded.
    files: &'static [(&'static str, &'static str)],
    /// The file (one of `files`) and line of the refusal.
    at: (&'static str, u32),
    /// Part of the message.
    message: &'static str,
}

const BAD: &[Bad] = &[
    Bad {
        what: "a block left open",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_sched rr
    real_server 192.168.1.11 80 {
        weight 1
}
",
        )],
        at: ("keepalived.conf", 1),
        message: "has no matching }",
    },
    Bad {
        what: "one } too many",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_sched rr
}
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "without a block to close",
    },
    Bad {
        what: "a { with no keyword",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_sched rr
}
{
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "without a keyword",
    },
    Bad {
        what: "unterminated quote",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        notify_up \"/usr/local/bin/notify.sh up
    }
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "unterminated quoted string",
    },
    Bad {
        what: "unknown scheduler",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 6443 {
    delay_loop 6
    lb_algo loadbalance
    lb_kind DR
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "unknown scheduler \"loadbalance\"",
    },
    Bad {
        what: "unknown keyword in virtual_server",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 6443 {
    lb_algo rr
    lb_kind DR
    net_mask 255.255.255.0
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "unknown keyword \"net_mask\" in virtual_server",
    },
    Bad {
        what: "unknown keyword in real_server",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        wieght 2
    }
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "unknown keyword \"wieght\" in real_server",
    },
    Bad {
        what: "unknown keyword in a checker",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        HTTP_GET {
            url {
                path /
            }
            connect_timout 3
        }
    }
}
",
        )],
        at: ("keepalived.conf", 7),
        message: "unknown keyword \"connect_timout\" in HTTP_GET",
    },
    Bad {
        what: "unknown keyword in url",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        HTTP_GET {
            url {
                path /
                status 200
            }
        }
    }
}
",
        )],
        at: ("keepalived.conf", 6),
        message: "unknown keyword \"status\" in url",
    },
    Bad {
        what: "two statements on url's one line",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        HTTP_GET {
            url { path /health status_code 200 }
        }
    }
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "path takes one value",
    },
    Bad {
        what: "bad real server address",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_sched rr
    real_server 192.168.1.300 80 {
        weight 1
    }
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "not an IP address: \"192.168.1.300\"",
    },
    Bad {
        what: "bad virtual server port",
        files: &[(
            "keepalived.conf",
            "! web
virtual_server 192.168.1.10 http {
    lvs_sched rr
}
",
        )],
        at: ("keepalived.conf", 2),
        message: "not a port",
    },
    Bad {
        what: "weight out of range",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        weight 70000
    }
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "weight",
    },
    Bad {
        what: "digest too short",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        HTTP_GET {
            url {
                path /
                digest 5d41402abc4b2a76b9719d911017c59
            }
        }
    }
}
",
        )],
        at: ("keepalived.conf", 6),
        message: "not an MD5 sum",
    },
    Bad {
        what: "bad status code",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        HTTP_GET {
            url {
                path /
                status_code 2xx
            }
        }
    }
}
",
        )],
        at: ("keepalived.conf", 6),
        message: "bad code",
    },
    Bad {
        what: "HTTP_GET without url",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        weight 1
        HTTP_GET {
            connect_timeout 3
            retry 3
        }
    }
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "needs at least one url",
    },
    Bad {
        what: "MISC_CHECK without misc_path",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 3306 {
    real_server 192.168.1.11 3306 {
        MISC_CHECK {
            misc_timeout 5
            misc_dynamic
        }
    }
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "MISC_CHECK needs misc_path",
    },
    Bad {
        what: "bad DNS_CHECK type",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.53 53 {
    protocol UDP
    real_server 192.168.1.11 53 {
        DNS_CHECK {
            type ANY
        }
    }
}
",
        )],
        at: ("keepalived.conf", 5),
        message: "type: A, NS",
    },
    Bad {
        what: "UDP_CHECK payload of an odd number of hex digits",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.123 123 {
    protocol UDP
    real_server 192.168.1.11 123 {
        UDP_CHECK {
            payload 1b0
        }
    }
}
",
        )],
        at: ("keepalived.conf", 5),
        message: "hex digits in pairs",
    },
    Bad {
        what: "GUE without a port",
        files: &[(
            "keepalived.conf",
            "virtual_server 198.18.0.10 80 {
    lvs_sched rr
    lvs_method TUN type gue
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "type gue needs a port",
    },
    Bad {
        what: "unknown sorry_server_lvs_method",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_method DR
    sorry_server 10.1.0.250 80
    sorry_server_lvs_method MASQ
    real_server 192.168.1.11 80
}
",
        )],
        at: ("keepalived.conf", 4),
        message: "NAT, DR or TUN, not \"MASQ\"",
    },
    Bad {
        what: "an IPv6 prefix as an IPv4 granularity",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 443 {
    persistence_timeout 60
    persistence_granularity 64
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "an IPv4 mask",
    },
    Bad {
        what: "undefined group",
        files: &[(
            "keepalived.conf",
            "virtual_server_group web {
    192.168.1.10-12 80
}

virtual_server group WEB {
    lvs_sched rr
}
",
        )],
        at: ("keepalived.conf", 5),
        message: "no virtual_server_group named \"WEB\"",
    },
    Bad {
        what: "backwards group range",
        files: &[(
            "keepalived.conf",
            "virtual_server_group web {
    192.168.1.10 80
    192.168.1.20-12 80
}
",
        )],
        at: ("keepalived.conf", 3),
        message: "bad address range",
    },
    Bad {
        what: "duplicate real_server",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        weight 1
    }
    real_server 192.168.1.12 80 {
        weight 1
    }
    real_server 192.168.1.11 80 {
        weight 2
    }
}
",
        )],
        at: ("keepalived.conf", 8),
        message: "real_server 192.168.1.11 80 is already in this virtual_server",
    },
    Bad {
        what: "duplicate virtual_server",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80
}

virtual_server 192.168.1.10 80 {
    real_server 192.168.1.12 80
}
",
        )],
        at: ("keepalived.conf", 5),
        message: "already defined",
    },
    Bad {
        what: "a group member that is also a virtual_server",
        files: &[(
            "keepalived.conf",
            "virtual_server_group web {
    192.168.1.10-12 80
}
virtual_server group web {
    real_server 192.168.1.21 80
}
virtual_server 192.168.1.11 80 {
    real_server 192.168.1.22 80
}
",
        )],
        at: ("keepalived.conf", 7),
        message: "already defined",
    },
    Bad {
        what: "mixed families under NAT",
        files: &[(
            "keepalived.conf",
            "virtual_server 192.168.1.10 80 {
    lvs_method NAT
    real_server 192.168.1.11 80 {
        weight 1
    }
    real_server fd00:1::12 80 {
        weight 1
    }
}
",
        )],
        at: ("keepalived.conf", 6),
        message: "a different address family needs tunnelling",
    },
    Bad {
        what: "an IPv6 group member with an IPv4 real server under DR",
        files: &[(
            "keepalived.conf",
            "virtual_server_group web {
    192.168.1.10 80
    fd00:1::10 80
}
virtual_server group web {
    lvs_method DR
    real_server 192.168.1.21 80
}
",
        )],
        at: ("keepalived.conf", 7),
        message: "a different address family needs tunnelling",
    },
    Bad {
        what: "include of a missing file",
        files: &[(
            "keepalived.conf",
            "global_defs {
    router_id LVS_1
}
include conf.d/services.conf
",
        )],
        at: ("keepalived.conf", 4),
        message: "cannot read",
    },
    Bad {
        what: "include with two names",
        files: &[(
            "keepalived.conf",
            "global_defs {
    router_id LVS_1
}
include a.conf b.conf
",
        )],
        at: ("keepalived.conf", 4),
        message: "include takes one file name",
    },
    Bad {
        what: "a mistake in the second file of an include glob",
        files: &[
            (
                "keepalived.conf",
                "global_defs {
    router_id LVS_1
}
include conf.d/*.conf
",
            ),
            (
                "conf.d/10-web.conf",
                "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80
}
",
            ),
            (
                "conf.d/20-api.conf",
                "# api
virtual_server 192.168.1.10 443 {
    lvs_sched wlc
    real_server 192.168.1.11 443 {
        TCP_CHECK {
            connect_port 99999
        }
    }
}
",
            ),
        ],
        at: ("conf.d/20-api.conf", 6),
        message: "not a port",
    },
    Bad {
        what: "an unterminated quote in a fragment included inside a block",
        files: &[
            (
                "keepalived.conf",
                "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80 {
        include fragments/notify.inc
    }
}
",
            ),
            (
                "fragments/notify.inc",
                "! notify scripts
notify_up \"/usr/local/bin/notify.sh up
",
            ),
        ],
        at: ("fragments/notify.inc", 2),
        message: "unterminated quoted string",
    },
    Bad {
        what: "a block an included file opens and nobody closes",
        files: &[
            (
                "keepalived.conf",
                "include vs.inc
",
            ),
            (
                "vs.inc",
                "
virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80
",
            ),
        ],
        at: ("vs.inc", 2),
        message: "has no matching }",
    },
    Bad {
        what: "a virtual_server of the main file defined again by an include",
        files: &[
            (
                "keepalived.conf",
                "virtual_server 192.168.1.10 80 {
    real_server 192.168.1.11 80
}
include conf.d/*.conf
",
            ),
            (
                "conf.d/web.conf",
                "! copy of the above
virtual_server 192.168.1.10 80 {
    real_server 192.168.1.12 80
}
",
            ),
        ],
        at: ("conf.d/web.conf", 2),
        message: "already defined",
    },
];

fn refusal(dir: &Path, bad: &Bad) -> Result<Error, String> {
    for (path, text) in bad.files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    match load(&dir.join(bad.files[0].0)) {
        Ok(c) => Err(format!("read: {c:?}")),
        Err(e) => Ok(e),
    }
}

#[test]
fn mistakes_are_refused_at_their_file_and_line() {
    assert!(BAD.len() >= 15);
    let mut failures = Vec::new();
    for bad in BAD {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(bad.at.0).display().to_string();
        match refusal(dir.path(), bad) {
            Err(m) => failures.push(format!("{}: not refused ({m})", bad.what)),
            Ok(e) => {
                let shown = e.to_string();
                if e.pos.file != file
                    || e.pos.line != bad.at.1
                    || !e.message.contains(bad.message)
                    || shown != format!("{file}:{}: {}", bad.at.1, e.message)
                {
                    failures.push(format!(
                        "{}: refused as {shown:?}, expected {}:{}: ...{}...",
                        bad.what, bad.at.0, bad.at.1, bad.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An include glob that names nothing is not a mistake (keepalived ignores it).
#[test]
fn an_empty_include_glob_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("keepalived.conf");
    std::fs::write(
        &main,
        "include conf.d/*.conf\nvirtual_server 192.168.1.10 80 {\n    real_server 192.168.1.11 80\n}\n",
    )
    .unwrap();
    let c = load(&main).unwrap();
    assert_eq!(c.virtual_servers.len(), 1);
    assert_eq!(c.virtual_servers[0].pos.line, 2);
}
