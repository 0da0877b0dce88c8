// SPDX-License-Identifier: MIT OR Apache-2.0
//! The locality schedulers lblc and lblcr (the kernel's `ip_vs_lblc.c`, `ip_vs_lblcr.c`).
//!
//! Both keep, per service, an entry per packet destination address: lblc the dest it last
//! used, lblcr a set of dests. A dest is named by a key `K` the caller chooses (an id that
//! survives list changes); the current dest list is passed in on each call as `(key,
//! candidate)` pairs in list order, and a key that is not in it is a dest no longer in the
//! service (not AVAILABLE). Time is passed in, in seconds.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::sched::{Candidate, wlc};

/// Members an lblcr set keeps: rvs bounds the kernel's unbounded sets; a full set drops its
/// oldest member when a new one comes in.
pub const MAX_SET: usize = rvs_common::maps::LOCAL_SET;

/// `lblc_expiration` / `lblcr_expiration` default: 24 hours.
pub const EXPIRATION: u64 = 24 * 60 * 60;

/// The locality schedulers' "overloaded": more active connections than weight, while some
/// dest of the service has fewer than half its weight active (`is_overloaded`).
pub fn overloaded(d: &Candidate, all: &[Candidate]) -> bool {
    i64::from(d.active) > i64::from(d.weight)
        && all
            .iter()
            .any(|x| i64::from(x.active) * 2 < i64::from(x.weight))
}

fn find<K: PartialEq>(dests: &[(K, Candidate)], k: &K) -> Option<Candidate> {
    dests.iter().find(|(x, _)| x == k).map(|(_, c)| *c)
}

fn pick_wlc<K: Copy>(dests: &[(K, Candidate)]) -> Option<K> {
    let cands: Vec<Candidate> = dests.iter().map(|(_, c)| *c).collect();
    wlc(&cands).map(|i| dests[i].0)
}

/// lblc's table.
#[derive(Clone, Debug, Default)]
pub struct Lblc<K> {
    /// Destination address → (dest, last use).
    pub entries: HashMap<IpAddr, (K, u64)>,
}

impl<K: Copy + PartialEq> Lblc<K> {
    /// `ip_vs_lblc_schedule`: the entry's dest if it is in the service, has a weight and is
    /// not [`overloaded`] (its OVERLOAD flag is not looked at); otherwise wlc over the
    /// service, and the entry now names that dest.
    pub fn schedule(&mut self, now: u64, daddr: IpAddr, dests: &[(K, Candidate)]) -> Option<K> {
        let all: Vec<Candidate> = dests.iter().map(|(_, c)| *c).collect();
        if let Some(e) = self.entries.get_mut(&daddr) {
            e.1 = now;
            if let Some(c) = find(dests, &e.0)
                && c.weight > 0
                && !overloaded(&c, &all)
            {
                return Some(e.0);
            }
        }
        let k = pick_wlc(dests)?;
        self.entries.insert(daddr, (k, now));
        Some(k)
    }
}

/// One lblcr entry: its dest set, newest first, and times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestSet<K> {
    /// Members, newest first.
    pub members: Vec<K>,
    /// Last use.
    pub lastuse: u64,
    /// Last change of the set.
    pub lastmod: u64,
}

/// lblcr's table.
#[derive(Clone, Debug, Default)]
pub struct Lblcr<K> {
    /// Destination address → dest set.
    pub entries: HashMap<IpAddr, DestSet<K>>,
    /// `lblcr_expiration` in seconds ([`EXPIRATION`] by default).
    pub expiration: u64,
}

impl<K: Copy + PartialEq> Lblcr<K> {
    /// `ip_vs_dest_set_min`: the member with the least overhead per weight; OVERLOAD members
    /// are skipped, the first candidate needs a weight, and every one must be in the service.
    fn set_min(set: &[K], dests: &[(K, Candidate)]) -> Option<(K, Candidate)> {
        let mut least: Option<(K, Candidate)> = None;
        for k in set {
            let Some(c) = find(dests, k) else { continue };
            if c.overload {
                continue;
            }
            match least {
                None if c.weight > 0 => least = Some((*k, c)),
                Some((_, l))
                    if l.overhead() * i64::from(c.weight) > c.overhead() * i64::from(l.weight) =>
                {
                    least = Some((*k, c));
                }
                _ => {}
            }
        }
        least
    }

    /// `ip_vs_dest_set_max`: the member with the most overhead per weight among those with a
    /// weight (a member no longer in the service counts with its last state, which the
    /// caller does not have: it is skipped).
    fn set_max(set: &[K], dests: &[(K, Candidate)]) -> Option<K> {
        let mut most: Option<(K, Candidate)> = None;
        for k in set {
            let Some(c) = find(dests, k) else { continue };
            if c.weight <= 0 {
                continue;
            }
            match most {
                None => most = Some((*k, c)),
                Some((_, m))
                    if m.overhead() * i64::from(c.weight) < c.overhead() * i64::from(m.weight) =>
                {
                    most = Some((*k, c));
                }
                _ => {}
            }
        }
        most.map(|(k, _)| k)
    }

    /// `ip_vs_lblcr_schedule`: the set's least loaded member unless it is [`overloaded`];
    /// otherwise wlc over the service, added to the set. A set of more than one member that
    /// has not changed for `expiration` loses its most loaded member first.
    pub fn schedule(&mut self, now: u64, daddr: IpAddr, dests: &[(K, Candidate)]) -> Option<K> {
        let all: Vec<Candidate> = dests.iter().map(|(_, c)| *c).collect();
        let expiration = self.expiration;
        if let Some(e) = self.entries.get_mut(&daddr) {
            e.lastuse = now;
            let min = Self::set_min(&e.members, dests);
            if e.members.len() > 1
                && now > e.lastmod + expiration
                && let Some(m) = Self::set_max(&e.members, dests)
            {
                e.members.retain(|x| *x != m);
                e.lastmod = now;
            }
            if let Some((k, c)) = min
                && !overloaded(&c, &all)
            {
                return Some(k);
            }
            let k = pick_wlc(dests)?;
            if !e.members.contains(&k) {
                e.members.insert(0, k);
                e.members.truncate(MAX_SET);
                e.lastmod = now;
            }
            return Some(k);
        }
        let k = pick_wlc(dests)?;
        self.entries.insert(
            daddr,
            DestSet {
                members: vec![k],
                lastuse: now,
                lastmod: now,
            },
        );
        Some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(weight: i32, active: u32) -> Candidate {
        Candidate {
            weight,
            active,
            ..Candidate::default()
        }
    }

    const VIP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 240));

    /// Spec 11.9: sticky until the dest has more active connections than weight while
    /// another is under half its weight.
    #[test]
    fn lblc_sticks_until_overloaded() {
        let mut l = Lblc::default();
        let mut d = vec![(1u32, c(2, 0)), (2, c(2, 0))];
        assert_eq!(l.schedule(0, VIP, &d), Some(1));
        d[0].1.active = 2;
        assert_eq!(l.schedule(1, VIP, &d), Some(1), "at its weight: stays");
        d[0].1.active = 3;
        assert_eq!(
            l.schedule(2, VIP, &d),
            Some(2),
            "over, and 2 is idle: moves"
        );
        assert_eq!(l.entries[&VIP], (2, 2));
        d[1].1.weight = 0;
        assert_eq!(l.schedule(3, VIP, &d), Some(1), "weight 0: rescheduled");
        assert_eq!(l.schedule(4, VIP, &[(2, c(1, 0))]), Some(2), "1 removed");
    }

    /// Spec 11.10: the set grows when its best member is overloaded, and sheds its most
    /// loaded member after the expiration.
    #[test]
    fn lblcr_grows_and_sheds() {
        let mut l = Lblcr {
            expiration: 100,
            ..Lblcr::default()
        };
        let mut d = vec![(1u32, c(1, 0)), (2, c(1, 0))];
        assert_eq!(l.schedule(0, VIP, &d), Some(1));
        d[0].1.active = 2;
        d[1].1.active = 0;
        assert_eq!(l.schedule(1, VIP, &d), Some(2), "1 overloaded: wlc adds 2");
        assert_eq!(l.entries[&VIP].members, vec![2, 1]);
        d[1].1.active = 1;
        assert_eq!(l.schedule(50, VIP, &d), Some(2), "least loaded member");
        assert_eq!(l.schedule(200, VIP, &d), Some(2));
        assert_eq!(l.entries[&VIP].members, vec![2], "most loaded member shed");
        assert_eq!(l.entries[&VIP].lastmod, 200);
    }
}
