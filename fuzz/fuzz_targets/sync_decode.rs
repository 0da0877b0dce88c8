// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS sync decoder: any datagram is decoded or refused, never a panic; what it decodes
//! from a v1 message encodes back to records that decode to the same connections.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_model::sync::{self, SyncConn};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(m)) = sync::decode(data, 0) else {
        return;
    };
    assert!(m.conns.len() + m.skipped <= 255);
    if m.version != 1 {
        return;
    }
    let conns: Vec<SyncConn> = m
        .conns
        .iter()
        .map(|c| SyncConn {
            flags: c.flags & !0x40,
            ..c.clone()
        })
        .collect();
    let Ok(msgs) = sync::encode(m.syncid, &conns, 65507) else {
        return;
    };
    let back: Vec<SyncConn> = msgs
        .iter()
        .flat_map(|b| sync::decode(b, 0).unwrap().unwrap().conns)
        .collect();
    assert_eq!(back, conns);
});
