// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: rvsd follows a change of a real server's MAC address as soon as the kernel
//! announces the new neighbour entry (rtnetlink events), not at its 30-second round. Without
//! the events the first connection after the change would go to the old address and time
//! out (5 s) long before the round.

use rvs_netns::lab::Lab;

#[test]
fn root_neighbour_change_is_followed_at_once() {
    let Some(mut lab) = Lab::for_root_test(env!("CARGO_BIN_EXE_rvs-probe"), 1) else {
        return;
    };
    lab.start_rvsd(None);
    lab.adm("-A -t 10.0.0.240:8130 -s rr");
    lab.adm("-a -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w 1");
    assert_eq!(
        lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "2"]),
        ["rs1", "rs1"]
    );

    // rs1's interface gets a new MAC address, and the director's neighbour entry follows, as
    // a gratuitous ARP or an operator's `ip neigh replace` makes it.
    let new = "02:00:0a:00:02:41";
    lab.rs[0].sh(&["ip", "link", "set", "r0", "address", new]);
    lab.dir.sh(&[
        "ip",
        "neigh",
        "replace",
        "10.0.0.241",
        "lladdr",
        new,
        "dev",
        "d0",
        "nud",
        "reachable",
    ]);
    assert_eq!(
        lab.probe(0, &["tcp-clients", "10.0.0.240:8130", "3"]),
        ["rs1", "rs1", "rs1"],
        "rvsd log:\n{}",
        lab.log()
    );
}
