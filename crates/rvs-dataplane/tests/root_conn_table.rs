// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the connection table under pressure, under `BPF_PROG_TEST_RUN` with a table of
//! 16 entries. A flood of SYNs and single datagrams from new sources only ever evicts other
//! embryonic entries, oldest first; confirmed connections (the handshake's ACK seen, or a
//! second datagram) stay; a table full of confirmed entries refuses a new connection and says
//! so; and ActiveConn/InActConn equal the entries of each kind in the table throughout.

mod common;

use std::collections::HashMap;

use common::*;
use rvs_common::maps::{self, KIND_CONN, name};
use rvs_common::tcp::flags::{ACK, SYN};
use rvs_common::{conn_flags, proto, reason, tcp};
use rvs_dataplane::{Dataplane, Released};
use rvs_netns::is_root;

const TABLE: u32 = 16;

/// Per dest: (active, inactive) counted from the table's entries.
fn counted(dp: &mut Dataplane) -> HashMap<u32, (u64, u64)> {
    let mut m: HashMap<u32, (u64, u64)> = HashMap::new();
    for (k, v) in dp.conns().unwrap() {
        assert_eq!(k.kind, KIND_CONN);
        let e = m.entry(v.dest).or_default();
        let active = k.proto == proto::TCP && tcp::is_active_raw(v.state);
        assert_eq!(
            v.flags & conn_flags::INACTIVE == 0,
            active,
            "INACTIVE flag of {k:?}"
        );
        if active {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    m
}

fn assert_exact(dp: &mut Dataplane, when: &str) {
    let table = counted(dp);
    for id in [1, 2, 11, 12] {
        let want = table.get(&id).copied().unwrap_or_default();
        assert_eq!(
            dp.conn_counts(id).unwrap(),
            want,
            "{when}: dest {id}'s ActiveConn/InActConn against the table"
        );
    }
}

fn send(dp: &mut Dataplane, p: &Pkt) -> u32 {
    dp.test_run(&p.build()).unwrap().0
}

#[test]
fn root_flood_evicts_only_embryos() {
    if !is_root() {
        eprintln!("skipped: needs root for BPF_PROG_TEST_RUN");
        return;
    }
    let mut dp = Dataplane::load_default(TABLE).expect("load");
    for (svc, p, ids) in [(1, proto::TCP, [2u32, 1]), (2, proto::UDP, [12, 11])] {
        for id in ids {
            dp.put_dest(id, &dest(id, false, 1)).unwrap();
        }
        dp.put_service(&svc_key(false, p), &svc_val(svc, maps::sched::RR, 2), &ids)
            .unwrap();
    }
    // Six established connections that then sit idle, and a UDP flow of two datagrams.
    let est: Vec<Pkt> = (0..6).map(|i| Pkt::tcp(5000 + i, SYN)).collect();
    for p in &est {
        assert_eq!(send(&mut dp, p), XDP_TX);
        let ack = Pkt {
            flags: ACK,
            ..p.clone()
        };
        assert_eq!(send(&mut dp, &ack), XDP_TX);
    }
    let flow = Pkt::udp(6000);
    assert_eq!(send(&mut dp, &flow), XDP_TX);
    assert_eq!(send(&mut dp, &flow), XDP_TX);
    assert_exact(&mut dp, "before the flood");

    // 100 SYNs and 50 single datagrams from new sources: all forwarded, each beyond the
    // table's room evicting the oldest embryonic entry.
    for i in 0..100u16 {
        let mut p = Pkt::tcp(7000 + i, SYN);
        p.net = [192, 168, (i / 200) as u8];
        p.client = (i % 200) as u8 + 1;
        assert_eq!(send(&mut dp, &p), XDP_TX, "SYN {i}");
    }
    assert_exact(&mut dp, "after the SYN flood");
    for i in 0..50u16 {
        let mut p = Pkt::udp(8000 + i);
        p.net = [192, 168, 7];
        p.client = i as u8 + 1;
        assert_eq!(send(&mut dp, &p), XDP_TX, "datagram {i}");
    }
    assert_exact(&mut dp, "after the datagram flood");
    let conns = dp.conns().unwrap();
    assert_eq!(conns.len(), TABLE as usize, "the table is full");
    for p in &est {
        let c = dp
            .conn(&p.key())
            .unwrap()
            .expect("an established connection was evicted");
        assert_eq!(c.state, tcp::State::Established as u8);
        assert_eq!(c.flags & conn_flags::EMBRYO, 0);
    }
    let f = dp
        .conn(&flow.key())
        .unwrap()
        .expect("the UDP flow was evicted");
    assert_eq!(f.flags & conn_flags::EMBRYO, 0);
    // The newest embryos are the ones left: the last 9 datagrams' flows.
    for i in 41..50u16 {
        let mut p = Pkt::udp(8000 + i);
        p.net = [192, 168, 7];
        p.client = i as u8 + 1;
        assert!(dp.conn(&p.key()).unwrap().is_some(), "datagram {i}'s flow");
    }
    let reasons = dp.reasons().unwrap();
    assert_eq!(
        reasons[reason::EMBRYO_EVICTED as usize],
        100 + 50 - (TABLE as u64 - 7),
        "evictions counted"
    );

    // Established connections still work, idle as they were.
    for p in &est {
        let data = Pkt {
            flags: ACK,
            payload: b"more".to_vec(),
            ..p.clone()
        };
        assert_eq!(send(&mut dp, &data), XDP_TX);
    }

    // Confirm the nine embryos (a second datagram each): the table is full of confirmed
    // entries and a new connection is refused, visibly, with nothing evicted.
    for i in 41..50u16 {
        let mut p = Pkt::udp(8000 + i);
        p.net = [192, 168, 7];
        p.client = i as u8 + 1;
        assert_eq!(send(&mut dp, &p), XDP_TX);
    }
    let late = Pkt::tcp(9000, SYN);
    assert_eq!(send(&mut dp, &late), XDP_DROP, "table full: refused");
    assert!(dp.conn(&late.key()).unwrap().is_none());
    let reasons = dp.reasons().unwrap();
    assert_eq!(reasons[reason::TABLE_FULL as usize], 1, "refusal counted");
    assert_eq!(dp.conns().unwrap().len(), TABLE as usize);
    assert_exact(&mut dp, "table full");

    // Expiry: half the entries (the UDP ones) idle past their timeout; the sweep removes
    // them and gives their counts back, and a new connection gets in again.
    let now = rvs_dataplane::director::monotonic_ns();
    for (k, mut v) in dp.conns().unwrap() {
        if k.proto == proto::UDP {
            v.last_ns = now - u64::from(v.timeout + 1) * 1_000_000_000;
            dp.put_conn(&k, &v).unwrap();
        }
    }
    let mut director = rvs_dataplane::director::Director::new(dp);
    assert_eq!(director.sweep().unwrap(), 10, "the ten UDP flows expired");
    let dp = director.dataplane();
    assert_eq!(dp.conns().unwrap().len(), TABLE as usize - 10);
    assert_exact(dp, "after expiry");
    assert_eq!(send(dp, &late), XDP_TX, "room again");
    assert_exact(dp, "after expiry and a new connection");
}

/// Pins an LRU hash with the connection table's key and value sizes at `path`: the table as
/// the previous release of rvs made it.
fn pin_old_conn_table(path: &std::path::Path) {
    const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
    pin_map(
        path,
        BPF_MAP_TYPE_LRU_HASH,
        std::mem::size_of::<maps::ConnKey>() as u32,
        std::mem::size_of::<maps::ConnVal>() as u32,
        TABLE,
    );
}

/// Creates a map (no flags) and pins it at `path`, with plain syscalls: a map as an older rvs
/// made it.
fn pin_map(path: &std::path::Path, map_type: u32, key_size: u32, value_size: u32, max: u32) {
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_OBJ_PIN: libc::c_long = 6;
    #[repr(C)]
    #[derive(Default)]
    struct Create {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        pad: [u32; 27],
    }
    #[repr(C)]
    #[derive(Default)]
    struct Pin {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
        pad: [u32; 4],
    }
    let create = Create {
        map_type,
        key_size,
        value_size,
        max_entries: max,
        ..Create::default()
    };
    // SAFETY: a valid attribute of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            &create as *const Create,
            std::mem::size_of::<Create>() as u32,
        )
    };
    assert!(
        fd >= 0,
        "BPF_MAP_CREATE: {}",
        std::io::Error::last_os_error()
    );
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let pin = Pin {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd as u32,
        ..Pin::default()
    };
    // SAFETY: as above; `c` outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_PIN,
            &pin as *const Pin,
            std::mem::size_of::<Pin>() as u32,
        )
    };
    assert_eq!(rc, 0, "BPF_OBJ_PIN: {}", std::io::Error::last_os_error());
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd as i32) };
}

/// An rvsd of this release started over the pins of the previous one (an LRU connection
/// table) says, before it loads or attaches anything, that `rvs down` is needed; the old pins
/// stay as they were.
#[test]
fn root_old_layout_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root (bpffs, BPF maps)");
        return;
    }
    let bins = std::path::Path::new(env!("CARGO_BIN_EXE_rvs-xdp-pass"))
        .parent()
        .unwrap();
    let daemon = rvs_netns::rvsd::Rvsd::prepare(bins, "oldlayout");
    let pins = daemon.bpffs().join("rvs").join("old");
    std::fs::create_dir_all(&pins).unwrap();
    pin_old_conn_table(&pins.join(name::CONNS));
    let err = match Dataplane::load_pinned(TABLE, &pins) {
        Ok(_) => panic!("adopted an LRU connection table"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("RVS_CONNS (pinned: type 9"), "{err}");
    assert!(err.contains("rvs down"), "{err}");

    // In a namespace of its own, and bounded: were the check missing, rvsd would attach and
    // serve.
    let ns = rvs_netns::Netns::new("oldlayout");
    let out = ns.run(&[
        "timeout",
        "20",
        &daemon.bin("rvsd"),
        "--socket",
        daemon.socket().to_str().unwrap(),
        "--state-dir",
        daemon.dir.join("state").to_str().unwrap(),
        "--bpffs",
        daemon.bpffs().to_str().unwrap(),
        "--instance",
        "old",
        "--interface",
        "lo",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("another map layout"), "{said}");
    assert!(said.contains("rvs down --pin-dir"), "{said}");
    assert!(!pins.join("link-lo").exists(), "nothing attached");
    assert_eq!(
        std::fs::read_dir(&pins).unwrap().count(),
        1,
        "the old pins are left as they were"
    );
}

/// Three SYNs to a wlc service over dests 2 and 1 (list order): dest 2, dest 1, dest 2.
fn wlc_two_dests(dp: &mut Dataplane) {
    for id in [1, 2] {
        dp.put_dest(id, &dest(id, false, 1)).unwrap();
    }
    dp.put_service(
        &svc_key(false, proto::TCP),
        &svc_val(1, maps::sched::WLC, 2),
        &[2, 1],
    )
    .unwrap();
    for (sport, want) in [(41000, 2), (41001, 1), (41002, 2)] {
        let p = Pkt::tcp(sport, SYN);
        assert_eq!(send(dp, &p), XDP_TX);
        assert_eq!(
            dp.conn(&p.key()).unwrap().unwrap().dest,
            want,
            "SYN {sport}"
        );
    }
    assert_eq!(dp.conn_counts(2).unwrap(), (2, 0));
}

/// The dest the next SYN goes to.
fn next_pick(dp: &mut Dataplane, sport: u16) -> u32 {
    let p = Pkt::tcp(sport, SYN);
    assert_eq!(send(dp, &p), XDP_TX);
    dp.conn(&p.key()).unwrap().unwrap().dest
}

/// Connection counts over pins of older rvs releases. A `DEST_CONNS` pinned by one (not
/// mappable) is adopted: released entries go into `DEST_SWEPT`, and the program's walks
/// subtract them. Over mappable pins, what an older rvsd released into `DEST_SWEPT` is moved
/// into the counts at load; either way ActiveConn and wlc's choices stay exact.
#[test]
fn root_counts_over_older_pins() {
    if !is_root() {
        eprintln!("skipped: needs root (bpffs, BPF maps)");
        return;
    }
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    let bins = std::path::Path::new(env!("CARGO_BIN_EXE_rvs-xdp-pass"))
        .parent()
        .unwrap();
    let daemon = rvs_netns::rvsd::Rvsd::prepare(bins, "oldcounts");

    // An older rvs's DEST_CONNS.
    let pins = daemon.bpffs().join("rvs").join("unmappable");
    std::fs::create_dir_all(&pins).unwrap();
    pin_map(
        &pins.join(name::DEST_CONNS),
        BPF_MAP_TYPE_ARRAY,
        4,
        std::mem::size_of::<maps::DestConns>() as u32,
        maps::DEST_SLOTS,
    );
    let mut dp = Dataplane::load_pinned(TABLE, &pins).unwrap();
    assert!(!dp.counts_shared());
    wlc_two_dests(&mut dp);
    // Both of dest 2's connections expire (as the sweeper releases them).
    for sport in [41000, 41002] {
        assert!(dp.remove_conn(&Pkt::tcp(sport, SYN).key()).unwrap());
        dp.add_swept(2, Released::Active).unwrap();
    }
    assert_eq!(dp.conn_counts(2).unwrap(), (0, 0));
    // Dest 2 is idle now: wlc must see it so (it does not if the walk skips DEST_SWEPT).
    assert_eq!(next_pick(&mut dp, 41003), 2);
    assert_eq!(dp.conn_counts(2).unwrap(), (1, 0));
    drop(dp);

    // This release's mappable DEST_CONNS, with releases an older rvsd left in DEST_SWEPT.
    let pins = daemon.bpffs().join("rvs").join("folded");
    std::fs::create_dir_all(&pins).unwrap();
    let mut dp = Dataplane::load_pinned(TABLE, &pins).unwrap();
    assert!(dp.counts_shared());
    wlc_two_dests(&mut dp);
    drop(dp);
    {
        let data = aya::maps::MapData::from_pin(pins.join(name::DEST_SWEPT)).unwrap();
        let mut swept: aya::maps::Array<_, maps::DestConns> =
            aya::maps::Array::try_from(aya::maps::Map::Array(data)).unwrap();
        let released = maps::DestConns {
            active: 2,
            ..Default::default()
        };
        swept.set(2, released, 0).unwrap();
    }
    let mut dp = Dataplane::load_pinned(TABLE, &pins).unwrap();
    assert!(dp.counts_shared());
    assert_eq!(
        dp.conn_counts(2).unwrap(),
        (0, 0),
        "the release stays counted"
    );
    // The walks no longer read DEST_SWEPT: dest 2 is idle only if the release was folded in.
    assert_eq!(next_pick(&mut dp, 41003), 2);
    assert_eq!(dp.conn_counts(2).unwrap(), (1, 0));
    // In place from now on.
    assert!(dp.remove_conn(&Pkt::tcp(41003, SYN).key()).unwrap());
    dp.add_swept(2, Released::Active).unwrap();
    assert_eq!(dp.conn_counts(2).unwrap(), (0, 0));
}
