// SPDX-License-Identifier: MIT OR Apache-2.0
//! The hashing schedulers: sh, dh and mh (the kernel's `ip_vs_sh.c`, `ip_vs_dh.c`, `ip_vs_mh.c`).
//!
//! Each builds a lookup table from the dest list (user space computes it on every dest
//! change) and picks by hashing an address: the source for sh and mh, the destination for
//! dh. Tables hold indexes into the dest list (`None` for an empty table). Lookups take the
//! dests' current weight and OVERLOAD, as the kernel's `is_unavailable` does.

use std::net::IpAddr;

use crate::sched::{Candidate, gcd};

/// sh and dh table size (`CONFIG_IP_VS_SH_TAB_BITS` = `CONFIG_IP_VS_DH_TAB_BITS` = 8), as the
/// program has it.
pub const SH_TAB_SIZE: usize = rvs_common::maps::SH_TAB_SIZE as usize;
/// mh table size (`CONFIG_IP_VS_MH_TAB_INDEX` = 12 selects the prime 4093), as the program
/// has it.
pub const MH_TAB_SIZE: usize = rvs_common::maps::MH_TAB_SIZE as usize;
const _: () = assert!(SH_TAB_SIZE == 256 && MH_TAB_SIZE == 4093);
/// Half the mh table index: the weight bits mh keeps (`IP_VS_MH_TAB_BITS`).
const MH_TAB_BITS: u32 = 6;

pub use rvs_common::maps::hash_32;

/// The address as the kernel folds it (IPv4 in host order, IPv6 as the XOR of its four
/// words): the program's fold (`rvs_common::maps::addr_fold`).
pub fn addr_fold(a: &IpAddr) -> u32 {
    use rvs_common::maps::{AF_V4, AF_V6};
    match a {
        IpAddr::V4(v) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v.octets());
            rvs_common::maps::addr_fold(AF_V4, &b)
        }
        IpAddr::V6(v) => rvs_common::maps::addr_fold(AF_V6, &v.octets()),
    }
}

fn unavailable(c: &Candidate) -> bool {
    c.weight <= 0 || c.overload
}

/// sh's table (`ip_vs_sh_reassign`): walking the list cyclically, each dest takes `weight`
/// consecutive buckets, a weight-0 dest one.
pub fn sh_table(dests: &[Candidate]) -> Vec<Option<usize>> {
    let mut t = vec![None; SH_TAB_SIZE];
    if dests.is_empty() {
        return t;
    }
    let (mut i, mut count) = (0usize, 0i32);
    for slot in &mut t {
        *slot = Some(i);
        count += 1;
        if count >= dests[i].weight {
            i = (i + 1) % dests.len();
            count = 0;
        }
    }
    t
}

fn sh_hashkey(addr: u32, port: u16, offset: u32) -> usize {
    rvs_common::maps::sh_bucket(addr, port, offset) as usize
}

/// sh's pick for a client (`port` 0 unless `sh-port`); `fallback` is `sh-fallback`.
pub fn sh_pick(
    table: &[Option<usize>],
    dests: &[Candidate],
    client: &IpAddr,
    port: u16,
    fallback: bool,
) -> Option<usize> {
    let a = addr_fold(client);
    let ihash = sh_hashkey(a, port, 0);
    let first = table.get(ihash).copied().flatten()?;
    if !unavailable(&dests[first]) {
        return Some(first);
    }
    if !fallback {
        return None;
    }
    for offset in 0..SH_TAB_SIZE as u32 {
        let roffset = (offset + ihash as u32) % SH_TAB_SIZE as u32;
        let d = table.get(sh_hashkey(a, port, roffset)).copied().flatten()?;
        if !unavailable(&dests[d]) {
            return Some(d);
        }
    }
    None
}

/// dh's table (`ip_vs_dh_reassign`): one bucket per dest, cyclically, weights ignored.
pub fn dh_table(n: usize) -> Vec<Option<usize>> {
    (0..SH_TAB_SIZE).map(|i| (n > 0).then(|| i % n)).collect()
}

/// dh's pick for a packet to `daddr`: no fallback.
pub fn dh_pick(table: &[Option<usize>], dests: &[Candidate], daddr: &IpAddr) -> Option<usize> {
    let d = table
        .get(hash_32(addr_fold(daddr), 8) as usize)
        .copied()
        .flatten()?;
    (!unavailable(&dests[d])).then_some(d)
}

/// hsiphash of a 4-byte value on a 64-bit kernel, with the key `(k0, k1)` = `(k, k)` as mh
/// uses it (`rvs_common::maps::hsiphash_u32`, shared with the program).
pub fn hsiphash_u32(v: u32, k0: u64, k1: u64) -> u32 {
    debug_assert_eq!(k0, k1, "mh keys have equal halves");
    rvs_common::maps::hsiphash_u32(v, k0)
}

use rvs_common::maps::{MH_K1, MH_K2};

fn mh_hashkey(addr: u32, port: u16, key: u64, offset: u32) -> u32 {
    hsiphash_u32(
        offset.wrapping_add(u32::from(port)).wrapping_add(addr),
        key,
        key,
    )
}

/// A dest as mh's table build sees it.
#[derive(Clone, Copy, Debug)]
pub struct MhDest {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Last non-zero weight (`last_weight`).
    pub last_weight: i32,
}

/// mh's table (`ip_vs_mh_permutate` + `ip_vs_mh_populate`): Maglev over `last_weight`.
pub fn mh_table(dests: &[MhDest]) -> Vec<Option<usize>> {
    let g = dests
        .iter()
        .filter(|d| d.last_weight > 0)
        .fold(0, |g, d| gcd(d.last_weight, g));
    let mut table = vec![None; MH_TAB_SIZE];
    if g < 1 {
        return table;
    }
    let mw = dests.iter().map(|d| d.last_weight).max().unwrap_or(0) / g;
    let rshift = (32 - (mw as u32).leading_zeros()).saturating_sub(MH_TAB_BITS);
    struct Setup {
        perm: usize,
        skip: usize,
        turns: i32,
    }
    let mut ds: Vec<Setup> = dests
        .iter()
        .map(|d| {
            let a = addr_fold(&d.addr);
            let offset = mh_hashkey(a, d.port, MH_K1, 0) as usize % MH_TAB_SIZE;
            let skip = mh_hashkey(a, d.port, MH_K2, 0) as usize % (MH_TAB_SIZE - 1) + 1;
            let t = (d.last_weight / g) >> rshift;
            let turns = if t != 0 {
                t
            } else {
                i32::from(d.last_weight != 0)
            };
            Setup {
                perm: offset,
                skip,
                turns,
            }
        })
        .collect();
    let mut taken = vec![false; MH_TAB_SIZE];
    let mut n = 0;
    loop {
        for (i, d) in ds.iter_mut().enumerate() {
            for _ in 0..d.turns.max(0) {
                while taken[d.perm] {
                    d.perm = (d.perm + d.skip) % MH_TAB_SIZE;
                }
                taken[d.perm] = true;
                table[d.perm] = Some(i);
                n += 1;
                if n == MH_TAB_SIZE {
                    return table;
                }
            }
        }
    }
}

/// mh's pick for a client (`port` 0 unless `mh-port`); `fallback` is `mh-fallback`.
pub fn mh_pick(
    table: &[Option<usize>],
    dests: &[Candidate],
    client: &IpAddr,
    port: u16,
    fallback: bool,
) -> Option<usize> {
    let a = addr_fold(client);
    let ihash = mh_hashkey(a, port, MH_K1, 0) as usize % MH_TAB_SIZE;
    let first = table.get(ihash).copied().flatten()?;
    if !unavailable(&dests[first]) {
        return Some(first);
    }
    if !fallback {
        return None;
    }
    for offset in 0..MH_TAB_SIZE {
        let roffset = ((offset + ihash) % MH_TAB_SIZE) as u32;
        let slot = mh_hashkey(a, port, MH_K1, roffset) as usize % MH_TAB_SIZE;
        let d = table.get(slot).copied().flatten()?;
        if !unavailable(&dests[d]) {
            return Some(d);
        }
    }
    None
}

/// The first bucket a hashing scheduler looks at for a packet, and its table's size: sh and
/// mh hash the client (`port`: the client's port with `sh-port`/`mh-port`, else 0), dh the
/// destination. `None` for the schedulers that do not hash.
pub fn first_bucket(
    scheduler: &str,
    client: &IpAddr,
    daddr: &IpAddr,
    port: u16,
) -> Option<(usize, usize)> {
    match scheduler {
        "sh" => Some((sh_hashkey(addr_fold(client), port, 0), SH_TAB_SIZE)),
        "dh" => Some((hash_32(addr_fold(daddr), 8) as usize, SH_TAB_SIZE)),
        "mh" => Some((
            mh_hashkey(addr_fold(client), port, MH_K1, 0) as usize % MH_TAB_SIZE,
            MH_TAB_SIZE,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_buckets_are_those_the_picks_use() {
        let c: IpAddr = "10.1.2.3".parse().unwrap();
        let v: IpAddr = "10.0.0.100".parse().unwrap();
        let (b, n) = first_bucket("sh", &c, &v, 0).unwrap();
        assert_eq!((b, n), (sh_hashkey(addr_fold(&c), 0, 0), SH_TAB_SIZE));
        // dh's pick reads the bucket of the destination: one dest per bucket, cyclically.
        let dests = vec![
            Candidate {
                weight: 1,
                ..Candidate::default()
            };
            3
        ];
        let (b, _) = first_bucket("dh", &c, &v, 0).unwrap();
        assert_eq!(dh_pick(&dh_table(3), &dests, &v), Some(b % 3));
        assert!(first_bucket("mh", &c, &v, 80).unwrap().0 < MH_TAB_SIZE);
        assert_eq!(first_bucket("wlc", &c, &v, 0), None);
    }

    fn w(weights: &[i32]) -> Vec<Candidate> {
        weights
            .iter()
            .map(|&weight| Candidate {
                weight,
                ..Candidate::default()
            })
            .collect()
    }

    /// Spec 11.12: list [C(1), B(2), A(3)] fills C B B A A A C B B A A A ...
    #[test]
    fn sh_table_follows_weights() {
        let t = sh_table(&w(&[1, 2, 3]));
        let names: String = t[..12]
            .iter()
            .map(|i| ["C", "B", "A"][i.unwrap()])
            .collect();
        assert_eq!(names, "CBBAAACBBAAA");
        let t = sh_table(&w(&[0, 2]));
        assert_eq!(
            &t[..6],
            &[Some(0), Some(1), Some(1), Some(0), Some(1), Some(1)],
            "weight 0 gets one bucket"
        );
    }

    /// Spec 11.12: client 203.0.113.5 without port hashes to bucket 185, which holds A.
    #[test]
    fn sh_spec_example() {
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(hash_32(0xCB00_7105, 8), 185);
        let dests = w(&[1, 2, 3]);
        let t = sh_table(&dests);
        assert_eq!(sh_pick(&t, &dests, &a, 0, false), Some(2));
        let mut down = dests.clone();
        down[2].weight = 0;
        assert_eq!(sh_pick(&t, &down, &a, 0, false), None, "no fallback: fail");
        assert!(
            sh_pick(&t, &down, &a, 0, true).is_some_and(|i| i != 2),
            "fallback finds another"
        );
    }

    #[test]
    fn dh_one_bucket_per_dest() {
        let t = dh_table(3);
        assert_eq!(&t[..4], &[Some(0), Some(1), Some(2), Some(0)]);
        let dests = w(&[1, 1, 1]);
        let vip: IpAddr = "10.0.0.240".parse().unwrap();
        let pick = dh_pick(&t, &dests, &vip).unwrap();
        assert_eq!(pick, hash_32(addr_fold(&vip), 8) as usize % 3);
        assert_eq!(dh_table(0)[0], None);
    }

    fn mh_dests() -> Vec<MhDest> {
        // List [10.0.0.3, 10.0.0.2, 10.0.0.1], port 80, weights 1.
        ["10.0.0.3", "10.0.0.2", "10.0.0.1"]
            .iter()
            .map(|a| MhDest {
                addr: a.parse().unwrap(),
                port: 80,
                last_weight: 1,
            })
            .collect()
    }

    /// Spec 11.13's vectors (from an independent SipHash-1-3; not yet checked on a kernel).
    #[test]
    fn mh_spec_vectors() {
        assert_eq!(hsiphash_u32(0, MH_K1, MH_K1), 0x1d5a_77c2);
        for (a, off, skip) in [
            ("10.0.0.3", 1631, 3453),
            ("10.0.0.2", 1231, 3544),
            ("10.0.0.1", 3167, 700),
        ] {
            let f = addr_fold(&a.parse().unwrap());
            assert_eq!(
                mh_hashkey(f, 80, MH_K1, 0) as usize % MH_TAB_SIZE,
                off,
                "{a} offset"
            );
            assert_eq!(
                mh_hashkey(f, 80, MH_K2, 0) as usize % (MH_TAB_SIZE - 1) + 1,
                skip,
                "{a} skip"
            );
        }
        let t = mh_table(&mh_dests());
        let names = ["3", "2", "1"];
        let first: Vec<&str> = t[..12].iter().map(|i| names[i.unwrap()]).collect();
        assert_eq!(first.join(" "), "1 2 2 3 3 1 2 3 3 1 1 2");
        let count = |n: usize| t.iter().filter(|x| **x == Some(n)).count();
        assert_eq!((count(0), count(2), count(1)), (1365, 1364, 1364));
        let dests = w(&[1, 1, 1]);
        for (client, slot, dest) in [
            ("203.0.113.5", 3219, 0),
            ("198.51.100.7", 924, 2),
            ("192.0.2.1", 2891, 0),
        ] {
            let c: IpAddr = client.parse().unwrap();
            assert_eq!(
                mh_hashkey(addr_fold(&c), 0, MH_K1, 0) as usize % MH_TAB_SIZE,
                slot,
                "{client}"
            );
            assert_eq!(mh_pick(&t, &dests, &c, 0, false), Some(dest), "{client}");
        }
    }

    /// Issue 5's property: removing one of N dests moves only the clients that were on it
    /// (measured over 100,000 source addresses).
    #[test]
    fn mh_minimal_disruption() {
        let all: Vec<MhDest> = (1..=5)
            .map(|i| MhDest {
                addr: format!("10.0.0.{i}").parse().unwrap(),
                port: 80,
                last_weight: 1,
            })
            .collect();
        let before = mh_table(&all);
        let mut rest = all.clone();
        let removed = rest.remove(2);
        let after = mh_table(&rest);
        let cands = w(&[1; 5]);
        let cands_after = w(&[1; 4]);
        let mut moved_wrongly = 0;
        for i in 0..100_000u32 {
            let c = IpAddr::from(std::net::Ipv4Addr::from(0x0a80_0000 + i));
            let b = all[mh_pick(&before, &cands, &c, 0, false).unwrap()].addr;
            let a = rest[mh_pick(&after, &cands_after, &c, 0, false).unwrap()].addr;
            if b != removed.addr && a != b {
                moved_wrongly += 1;
            }
        }
        // Maglev keeps almost every client on its dest, not all: with the kernel's table
        // (this one) 553 of these 100,000 (0.55%) move between surviving dests. Existing
        // connections never move (they live in the connection table).
        assert!(
            moved_wrongly * 100 < 100_000,
            "{moved_wrongly} clients moved off surviving dests"
        );
    }
}
