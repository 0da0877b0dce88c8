// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: persistence end to end (templates holding each client network on one real
//! server) with real TCP and UDP clients in namespaces, through the XDP packet path in
//! direct-routing mode.
//!
//! - A persistent rr service keeps each client on one real server across many connections,
//!   while a second client gets its own template (rr moves on); `-Lnc` shows the templates
//!   and `--persistent-conn` counts them.
//! - Weight 0 keeps a persistent client on its (quiesced) server; removing the server moves
//!   the client, which then sticks to the new one.
//! - An fwmark service made from an `rvs fwmark` rule over two ports, with `-M 255.255.255.0`:
//!   two clients of one /24 share one server across both ports.
//! - A port-0 service catches every port of the VIP and keeps a client on one server.
//! - A template expires on time once its connections are gone, and the client is then
//!   scheduled afresh; while a connection still lives, the template is kept alive.

use std::time::{Duration, Instant};

use rvs_netns::Guard;
use rvs_netns::lab::{Lab, wait_ready};

/// The real server names that answered `n` TCP connections from client `c` to `port`.
fn tcp(lab: &Lab, c: usize, port: u16, n: usize) -> Vec<String> {
    let out = lab.probe(
        c,
        &["tcp-clients", &format!("10.0.0.240:{port}"), &n.to_string()],
    );
    assert!(
        out.len() == n && out.iter().all(|l| l.starts_with("rs")),
        "client {c} port {port}: {out:?}"
    );
    out
}

/// The one server that answered everything, or a panic naming them all.
fn only(names: &[String]) -> String {
    let first = names[0].clone();
    assert!(
        names.iter().all(|n| *n == first),
        "not persistent: {names:?}"
    );
    first
}

/// The `-Lnc` lines that are templates (client port 0, state NONE or ASSURED) of protocol
/// `pro`. (As in the kernel, entries of a deleted service stay until they expire.)
fn templates(lab: &Lab, pro: &str) -> Vec<String> {
    lab.adm("-L -n -c")
        .lines()
        .filter(|l| {
            l.starts_with(&format!("{pro} "))
                && (l.contains(" NONE ") || l.contains(" ASSURED "))
                && l.contains(":0 ")
        })
        .map(str::to_string)
        .collect()
}

fn rs_addr(name: &str) -> String {
    format!("10.0.0.24{}", &name[2..])
}

#[test]
fn root_persistence_end_to_end() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 2) else {
        return;
    };
    // Every real server also serves port 8131 (the second port of the fwmark service).
    let probe = lab.bin("rvs-probe");
    let mut servers = Vec::new();
    for (i, r) in lab.rs.iter().enumerate() {
        let mut c = r.spawn(&[&probe, "tcp-server", "[::]:8131", &format!("rs{}", i + 1)]);
        wait_ready(&mut c);
        servers.push(Guard(c));
    }
    lab.start_rvsd(None);

    // 1. Per-client persistence on an rr service.
    lab.adm("-A -t 10.0.0.240:8130 -s rr -p 30");
    for n in 1..=3 {
        lab.adm(&format!(
            "-a -t 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -g -w 1"
        ));
    }
    let a = only(&tcp(&lab, 0, 8130, 12));
    let b = only(&tcp(&lab, 1, 8130, 12));
    assert_ne!(
        a, b,
        "rr gives the second client's template the next server"
    );
    let t = templates(&lab, "TCP");
    assert_eq!(t.len(), 2, "one template per client: {t:?}");
    assert!(
        t.iter()
            .any(|l| l.contains("10.0.0.10:0") && l.contains(&rs_addr(&a))),
        "{t:?}"
    );
    let pc = lab.adm("-L -n --persistent-conn");
    for line in pc.lines().filter(|l| l.contains("-> 10.0.0.24")) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let want = if line.contains(&rs_addr(&a)) || line.contains(&rs_addr(&b)) {
            "1"
        } else {
            "0"
        };
        assert_eq!(cols[3], want, "PersistConn: {line}\n{pc}");
    }

    // 2. Weight 0 keeps the client on its template's server (expire_quiescent_template=0).
    lab.adm(&format!(
        "-e -t 10.0.0.240:8130 -r {}:8130 -g -w 0",
        rs_addr(&a)
    ));
    assert_eq!(
        only(&tcp(&lab, 0, 8130, 5)),
        a,
        "quiesced server keeps its client"
    );
    // Removing it invalidates the template: the client moves, and sticks to the new one.
    lab.adm(&format!("-d -t 10.0.0.240:8130 -r {}:8130", rs_addr(&a)));
    let moved = only(&tcp(&lab, 0, 8130, 8));
    assert_ne!(moved, a, "removed server gets nothing");
    lab.adm("-C");

    // 3. fwmark over two ports, one template per /24.
    let out = lab.rvs(&[
        "fwmark",
        "add",
        "1",
        "--dst",
        "10.0.0.240",
        "--proto",
        "tcp",
        "--dports",
        "8130,8131",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&lab.rvs(&["fwmark", "list"]).stdout).into_owned();
    assert_eq!(
        list,
        "1 --dst 10.0.0.240/32 --proto tcp --dports 8130,8131\n"
    );
    lab.adm("-A -f 1 -s rr -p 30 -M 255.255.255.0");
    for n in 1..=3 {
        lab.adm(&format!("-a -f 1 -r 10.0.0.24{n} -g -w 1"));
    }
    let mut all = Vec::new();
    for c in 0..2 {
        for port in [8130, 8131] {
            all.extend(tcp(&lab, c, port, 5));
        }
    }
    only(&all);
    let t = templates(&lab, "IP");
    assert_eq!(t.len(), 1, "one template for the /24: {t:?}");
    assert!(
        t[0].starts_with("IP ") && t[0].contains("10.0.0.0:0") && t[0].contains("0.0.0.1:0"),
        "fwmark template as the kernel lists it: {t:?}"
    );
    let st = lab.adm("-L -n --stats");
    assert!(st.contains("FWM  1"), "{st}");
    lab.adm("-C");
    let out = lab.rvs(&["fwmark", "del", "1"]);
    assert!(out.status.success());
    assert!(lab.rvs(&["fwmark", "list"]).stdout.is_empty());

    // 4. A port-0 service catches every port and keeps the client on one server.
    lab.adm("-A -t 10.0.0.240:0 -s rr -p 30");
    for n in 1..=3 {
        lab.adm(&format!("-a -t 10.0.0.240:0 -r 10.0.0.24{n} -g -w 1"));
    }
    let mut all = tcp(&lab, 0, 8130, 5);
    all.extend(tcp(&lab, 0, 8131, 5));
    only(&all);
    lab.adm("-C");

    // 5. Template lifetime, over UDP with 1 s connections and a 2 s template.
    lab.adm("--set 0 0 1");
    lab.adm("-A -u 10.0.0.240:8130 -s rr -p 2");
    for n in 1..=3 {
        lab.adm(&format!(
            "-a -u 10.0.0.240:8130 -r 10.0.0.24{n}:8130 -g -w 1"
        ));
    }
    let udp = |n: usize| lab.probe(0, &["udp-clients", "10.0.0.240:8130", &n.to_string()]);
    let first = only(&udp(4));
    let created = Instant::now();
    let t = templates(&lab, "UDP");
    assert!(
        t.len() == 1 && t[0].contains(" NONE "),
        "DR sees no UDP reply: {t:?}"
    );
    // Expired on time: the connections go after 1 s, the template after its 2 s (the
    // sweeper runs every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !templates(&lab, "UDP").is_empty() {
        assert!(Instant::now() < deadline, "template never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let lived = created.elapsed();
    assert!(
        lived >= Duration::from_millis(1900) && lived < Duration::from_secs(5),
        "template lived {lived:?} with -p 2"
    );
    let second = only(&udp(3));
    assert_ne!(first, second, "a fresh template, and rr moved on");
    // A template whose connection is still alive is kept (for 60 s) when its timer fires.
    lab.adm("--set 0 0 30");
    udp(1);
    std::thread::sleep(Duration::from_secs(4));
    let t = templates(&lab, "UDP");
    assert_eq!(t.len(), 1, "kept alive by its connection: {t:?}");
    let expire = t[0].split_whitespace().nth(1).unwrap().to_string();
    assert!(
        expire.starts_with("00:5") || expire.starts_with("01:00"),
        "{t:?}"
    );
    drop(servers);
}
