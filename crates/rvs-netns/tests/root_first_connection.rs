// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: a dest serves the first client that connects after `rvsadm -a` returns, on a
//! director that has never exchanged a packet with it (no neighbour entry yet), as IPVS does;
//! and a dest whose neighbour entry the kernel drops keeps serving while it is resolved again.

use rvs_netns::lab::Lab;

#[test]
fn root_first_connection_after_add() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    for rs in ["10.0.0.241", "fd00::242"] {
        let n = lab.dir.sh(&["ip", "neigh", "show", rs]);
        assert!(n.trim().is_empty(), "the director already knows {rs}: {n}");
    }

    lab.adm("-A -t 10.0.0.240:8130 -s rr");
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g");
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "1"]);
    assert_eq!(out, ["rs1"], "{}", lab.log());

    lab.adm("-A -u [fd00::240]:8130 -s rr");
    lab.adm("-a -u [fd00::240]:8130 -r [fd00::242]:8130 -g");
    let out = lab.probe(0, &["udp-clients", "[fd00::240]:8130", "1"]);
    assert_eq!(out, ["rs2"], "{}", lab.log());

    // An edit that brings a new real server in: served at once as well.
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.243:8130 -g -w 0");
    lab.adm("-e -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w 0");
    lab.adm("-e -t 10.0.0.240:8130 -r 10.0.0.243:8130 -g -w 1");
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "2"]);
    assert_eq!(out, ["rs3", "rs3"], "{}", lab.log());

    // The kernel forgets the neighbours (as when entries fail or are flushed): the dests keep
    // serving while they are resolved again.
    lab.dir.sh(&["ip", "neigh", "flush", "dev", "d0"]);
    lab.dir.sh(&["ip", "-6", "neigh", "flush", "dev", "d0"]);
    let out = lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]);
    assert_eq!(out, ["rs3", "rs3", "rs3"], "{}", lab.log());
    let out = lab.probe(0, &["udp-clients", "[fd00::240]:8130", "2"]);
    assert_eq!(out, ["rs2", "rs2"], "{}", lab.log());
}
