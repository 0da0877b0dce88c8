// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-xdp-pass IFACE...`: attaches rvs's XDP_PASS program to each interface and keeps it
//! there until standard input closes or the process is signalled.
//!
//! The veth peer of an interface that transmits with XDP_TX only receives those frames when it
//! runs an XDP program itself; the lab and the tests put this one on such peers.

use std::io::Read;

fn main() {
    let ifaces: Vec<String> = std::env::args().skip(1).collect();
    if ifaces.is_empty() {
        eprintln!("usage: rvs-xdp-pass IFACE...");
        std::process::exit(2);
    }
    let mut dp = match rvs_dataplane::Dataplane::load_default(1024) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("rvs-xdp-pass: {e}");
            std::process::exit(1);
        }
    };
    for i in &ifaces {
        match dp.attach(rvs_dataplane::PASS_PROGRAM, i) {
            Ok(mode) => eprintln!("rvs-xdp-pass: XDP_PASS on {i} ({mode})"),
            Err(e) => {
                eprintln!("rvs-xdp-pass: {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("ready");
    // Hold the attachment until told to go.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
