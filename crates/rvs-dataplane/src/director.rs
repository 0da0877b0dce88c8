// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model, written into the packet path.
//!
//! [`Director`] keeps stable ids for services and dests, turns the `rvs-model` table into map
//! entries on every change ([`Director::apply`]), expires idle connections
//! ([`Director::sweep`]) and brings counters and connection counts back into the table
//! ([`Director::refresh`]).
//!
//! What the packet path handles in this release: TCP and UDP address, port-0 and fwmark
//! services, IPv4 and IPv6, persistent or not, every IPVS scheduler, with DR, NAT and tunnel
//! dests. Anything else (SCTP, local and bypass forwarding) is left to the director's stack
//! and reported in [`Director::notes`].

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use rvs_common::conn_flags;
use rvs_common::maps::{
    self, AF_V4, ConnKey, ConnVal, DestVal, KIND_CONN, KIND_TEMPLATE, PersistVal, SchedState, name,
};
use rvs_model::persist::KEEP_ALIVE;
use rvs_model::sched::{Candidate, RoundRobin, WeightedRoundRobin};
use rvs_model::stats::Counters;
use rvs_model::{ServiceKey, Table};

use crate::image::{self, Image, Memory, Switches};
use crate::neigh::{self, Neigh};
use crate::{Dataplane, Error, Released};

/// A connection as `-Lc` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnEntry {
    /// Protocol number.
    pub protocol: u8,
    /// Client.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// State byte.
    pub state: u8,
    /// A persistence template (client port 0; state `TEMPLATE_NONE` or `TEMPLATE_ASSURED`).
    pub template: bool,
    /// Seconds left.
    pub expires: u32,
}

fn from16(b: &[u8; 16], af: u8) -> IpAddr {
    if af == AF_V4 {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    } else {
        IpAddr::from(*b)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds, the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The ids a director gave out. Connections in the (pinned) maps refer to dests by id, so a
/// restarted rvsd must give every service and dest the id it had.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ids {
    /// Service ids.
    pub services: Vec<(ServiceKey, u32)>,
    /// Dest ids (including dests since removed: their ids are never reused).
    pub dests: Vec<(ServiceKey, IpAddr, u16, u32)>,
}

/// The packet path and the bookkeeping that maps the model onto it.
pub struct Director {
    pub(crate) dp: Dataplane,
    /// Ids given out, mh's last weights.
    pub(crate) memory: Memory,
    /// The image as last written (`None` before the first write).
    written: Option<Image>,
    neigh: HashMap<IpAddr, Neigh>,
    /// The dest slots as last configured, kept after a dest's removal (as the kernel keeps
    /// the dest object while connections refer to it).
    pub(crate) dest_vals: HashMap<u32, DestVal>,
    /// The `expire_quiescent_template` sysctl (written by [`Director::apply`]).
    pub expire_quiescent_template: bool,
    /// Why parts of the configuration are not in the packet path, for `rvs status`.
    pub notes: Vec<String>,
}

impl Director {
    /// Wraps a loaded program.
    pub fn new(dp: Dataplane) -> Director {
        Director {
            dp,
            memory: Memory::new(),
            written: None,
            neigh: HashMap::new(),
            dest_vals: HashMap::new(),
            expire_quiescent_template: false,
            notes: Vec::new(),
        }
    }

    /// A director that carries on with the ids of an earlier one.
    pub fn with_ids(dp: Dataplane, ids: Ids) -> Director {
        let mut d = Director::new(dp);
        let m = &mut d.memory;
        m.svc_ids = ids.services.into_iter().collect();
        m.dest_ids = ids
            .dests
            .into_iter()
            .map(|(k, a, p, id)| ((k, a, p), id))
            .collect();
        m.next_svc = m.svc_ids.values().max().map_or(1, |m| m + 1);
        m.next_dest = m.dest_ids.values().max().map_or(1, |m| m + 1);
        d
    }

    /// The ids given out so far.
    pub fn ids(&self) -> Ids {
        let m = &self.memory;
        let mut services: Vec<_> = m.svc_ids.iter().map(|(k, id)| (*k, *id)).collect();
        services.sort_by_key(|x| x.1);
        let mut dests: Vec<_> = m
            .dest_ids
            .iter()
            .map(|((k, a, p), id)| (*k, *a, *p, *id))
            .collect();
        dests.sort_by_key(|x| x.3);
        Ids { services, dests }
    }

    /// The program and maps.
    pub fn dataplane(&mut self) -> &mut Dataplane {
        &mut self.dp
    }

    /// Next hops the program met without a neighbour entry (NAT replies to new clients):
    /// resolve them with [`Director::resolve`] so that the next packet finds one.
    pub fn needed_neighbours(&mut self) -> Result<HashSet<IpAddr>, Error> {
        Ok(self
            .dp
            .take_needed_neighbours()?
            .iter()
            .map(|k| from16(&k.addr, k.af))
            .collect())
    }

    /// The dest addresses whose MACs are needed.
    pub fn dest_addrs(table: &Table) -> HashSet<IpAddr> {
        table
            .services()
            .iter()
            .flat_map(|s| s.dests.iter().map(|d| d.config.addr))
            .collect()
    }

    /// Resolves `addrs` (slow: asks the kernel; call it without holding other locks).
    pub fn resolve(addrs: &HashSet<IpAddr>) -> HashMap<IpAddr, Neigh> {
        neigh::resolve_all(addrs)
    }

    /// Resolves `addrs` as [`Director::resolve`] does, waiting up to `wait` for answers.
    pub fn resolve_waiting(addrs: &HashSet<IpAddr>, wait: Duration) -> HashMap<IpAddr, Neigh> {
        neigh::resolve_waiting(addrs, wait)
    }

    /// Whether an announced neighbour change can change what the packet path has: a usable
    /// entry with another MAC than the one known for a dest (or for a dest not known yet),
    /// or any usable entry while some dest is reached through a gateway (its entry is the
    /// gateway's).
    pub fn neighbour_event_matters(&self, dests: &HashSet<IpAddr>, e: &neigh::Event) -> bool {
        let neigh::Event::Neighbour { addr, mac, usable } = e else {
            return true;
        };
        if !*usable || mac.is_none() {
            return false;
        }
        if dests.contains(addr) {
            let known = match self.neigh.get(addr) {
                Some(Neigh::Known { mac, .. }) => Some(*mac),
                _ => None,
            };
            return known != *mac;
        }
        self.neigh
            .values()
            .any(|n| matches!(n, Neigh::Known { path, .. } if path.via_gateway))
    }

    /// Those of `addrs` whose MAC address is not known.
    pub fn unresolved(&self, addrs: &HashSet<IpAddr>) -> HashSet<IpAddr> {
        addrs
            .iter()
            .filter(|a| !matches!(self.neigh.get(a), Some(Neigh::Known { .. })))
            .copied()
            .collect()
    }

    /// Takes resolution results; `true` if anything changed (then `apply` again). A known MAC
    /// stays while its entry is being resolved again (a stale or failed entry that the kernel
    /// is re-checking): packets keep going to it, as the kernel's neighbour code would send
    /// them, rather than being dropped; a new answer replaces it. Addresses not in `n` keep
    /// what they had.
    pub fn set_neighbours(&mut self, n: HashMap<IpAddr, Neigh>) -> bool {
        let mut changed = false;
        for (addr, new) in n {
            let old = self.neigh.get(&addr);
            if matches!(new, Neigh::Pending(_)) && matches!(old, Some(Neigh::Known { .. })) {
                continue;
            }
            if old != Some(&new) {
                self.neigh.insert(addr, new);
                changed = true;
            }
        }
        changed
    }

    /// Writes the table into the maps: its image ([`image::image`]), as far as it differs
    /// from the one written last.
    pub fn apply(&mut self, table: &Table, expire_nodest_conn: bool) -> Result<(), Error> {
        let switches = Switches {
            expire_nodest_conn,
            expire_quiescent_template: self.expire_quiescent_template,
        };
        let img = image::image(table, &self.neigh, switches, &mut self.memory);
        self.write(img)
    }

    /// Writes what differs between `img` and the image written last (everything, the first
    /// time), in an order that keeps every state a packet can meet consistent: dests before
    /// the services that list them, services before what is removed.
    fn write(&mut self, img: Image) -> Result<(), Error> {
        // The image written last stays the reference until this one is all written: after a
        // failed write the next compares with it again, so nothing it must remove is missed
        // (the writes are idempotent).
        let old = self.written.take();
        match self.write_difference(old.as_ref(), img) {
            Ok(img) => {
                self.written = Some(img);
                Ok(())
            }
            Err(e) => {
                self.written = old;
                Err(e)
            }
        }
    }

    fn write_difference(&mut self, old: Option<&Image>, mut img: Image) -> Result<Image, Error> {
        let first = old.is_none();
        let empty = Image::default();
        let old = old.unwrap_or(&empty);
        if first || old.timeouts != img.timeouts {
            self.dp.set_timeouts(&img.timeouts)?;
        }
        for &(slot, v) in &img.config {
            if first || !old.config.contains(&(slot, v)) {
                self.dp.set_config(slot, v)?;
            }
        }
        if first || old.marks != img.marks {
            self.dp.set_fwmarks(&img.marks)?;
        }
        for (id, t) in &img.tunnels {
            if old.tunnels.get(id) != Some(t) {
                self.dp.put_tunnel(*id, t)?;
            }
        }
        let old_live = old.live_dests();
        // Dests written now: their services' walk lists are written again below.
        let mut rewritten = HashSet::new();
        for (&id, &dv) in &img.dests {
            let prev = self.dest_vals.get(&id).copied();
            if prev != Some(dv) || !old_live.contains(&id) {
                // `__ip_vs_update_dest`: a removed or raised upper threshold clears
                // OVERLOAD (compared with the dest's last settings, kept after removal
                // as the kernel keeps the dest object).
                let old_u = prev.map_or(0, |p| p.u_threshold);
                if dv.u_threshold == 0 || dv.u_threshold > old_u {
                    self.dp.set_overload(id, false)?;
                }
                self.dp.put_dest(id, &dv)?;
                self.dest_vals.insert(id, dv);
                rewritten.insert(id);
            }
        }
        for (key, (val, dests)) in &img.services {
            let before = old.services.get(key);
            if before.is_none_or(|(v, d)| v != val || d != dests)
                || dests.iter().any(|id| rewritten.contains(id))
            {
                self.dp.put_service(key, val, dests)?;
            }
            // The scheduler's update hooks, as the kernel runs them on a dest change.
            let cur = match before {
                Some(_) => self.dp.sched(val.id)?,
                None => SchedState {
                    cursor: -1,
                    ..SchedState::default()
                },
            };
            let next = match val.sched {
                maps::sched::RR => {
                    let mut rr = RoundRobin {
                        cursor: usize::try_from(cur.cursor).ok(),
                    };
                    match before.map(|(_, o)| list_change(o, dests)) {
                        Some(ListChange::Same) => {}
                        Some(ListChange::Added) => rr.dest_added(),
                        Some(ListChange::Removed(j)) => rr.dest_removed(j),
                        Some(ListChange::Other) | None => rr.cursor = None,
                    }
                    SchedState {
                        cursor: rr.cursor.map_or(-1, |c| c as i32),
                        ..cur
                    }
                }
                maps::sched::WRR => {
                    let cands = img.wrr.get(key).map_or(&[][..], Vec::as_slice);
                    let touched = old.dest_changes.get(key) != img.dest_changes.get(key);
                    if before.is_some() && !touched {
                        cur
                    } else if before.is_none() {
                        wrr_state(cands)
                    } else {
                        let mut w = WeightedRoundRobin::from_parts(cur.cw, cur.mw, cur.di);
                        w.dests_changed(cands);
                        let (cw, mw, di) = w.parts();
                        SchedState {
                            cursor: -1,
                            cw,
                            mw,
                            di,
                        }
                    }
                }
                _ => cur,
            };
            if next != cur || before.is_none() {
                self.dp.put_sched(val.id, &next)?;
            }
        }
        for (id, p) in &img.persist {
            if old.persist.get(id) != Some(p) {
                self.dp.put_persist(*id, p)?;
            }
        }
        for (id, t) in &img.hash_tabs {
            if old.hash_tabs.get(id) != Some(t) {
                self.dp.put_hash_tab(*id, t)?;
            }
        }
        for id in old.hash_tabs.keys() {
            if !img.hash_tabs.contains_key(id) {
                self.dp.remove_hash_tab(*id)?;
            }
        }
        for key in old.services.keys() {
            if !img.services.contains_key(key) {
                self.dp.remove_service(key)?;
            }
        }
        // Dests that left their service: their connections see a dest that is not AVAILABLE;
        // the thresholds stay, for the OVERLOAD rules of the connections still bound to it.
        for gone in old_live.difference(&img.live_dests()) {
            let mut dv = self.dest_vals.get(gone).copied().unwrap_or_default();
            dv.flags &= !maps::dest::AVAILABLE;
            self.dp.put_dest(*gone, &dv)?;
        }
        let masq = img
            .dests
            .values()
            .any(|d| u32::from(d.fwd) == conn_flags::MASQ);
        let forwarding = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
        if masq && !forwarding("/proc/sys/net/ipv4/ip_forward") {
            img.notes.push(
                "NAT dests: replies are not forwarded until net.ipv4.ip_forward=1 (the FIB \
                 lookup refuses)"
                    .into(),
            );
        }
        self.notes = img.notes.clone();
        Ok(img)
    }

    /// Removes connection entries idle for longer than their timeout and gives their dest
    /// counts back; a template that still controls a live connection of its dest is kept for
    /// [`KEEP_ALIVE`] seconds instead, and its timeout stays at that, as in the kernel.
    /// Returns how many entries were removed. (rvsd splits this in three: [`Director::
    /// sweep_input`] under its lock, the walk ([`SweepInput::walk`]) without, then
    /// [`Director::apply_sweep`] in slices under the lock again.)
    pub fn sweep(&mut self) -> Result<usize, Error> {
        let plan = self.sweep_input()?.walk(monotonic_ns())?;
        self.apply_sweep(&plan)
    }

    /// What a sweep needs of the director: a reader of the table and the templates' settings.
    pub fn sweep_input(&mut self) -> Result<SweepInput, Error> {
        Ok(SweepInput {
            reader: self.dp.conn_reader()?,
            persist: self
                .written
                .as_ref()
                .map(|i| i.persist.clone())
                .unwrap_or_default(),
        })
    }

    /// Carries a plan out: each entry is looked at again and expired only if it is still
    /// idle past its timeout (a packet may have come since the walk); templates are kept
    /// alive. Returns how many entries were removed.
    pub fn apply_sweep(&mut self, plan: &SweepPlan) -> Result<usize, Error> {
        let now = monotonic_ns();
        let mut removed = 0;
        for k in &plan.keep_alive {
            if let Some(mut v) = self.dp.conn(k)?
                && idle(&v, now)
            {
                v.timeout = KEEP_ALIVE;
                v.last_ns = now;
                self.dp.put_conn(k, &v)?;
            }
        }
        for k in &plan.expire {
            if self.dp.conn(k)?.is_some_and(|v| idle(&v, now)) && self.expire(k)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Expires one entry now, as its timer would: the entry goes and its dest count is given
    /// back; for a connection, OVERLOAD is re-evaluated (`ip_vs_unbind_dest`). `false` if the
    /// entry was already gone.
    pub fn expire(&mut self, key: &ConnKey) -> Result<bool, Error> {
        let Some(v) = self.dp.conn(key)? else {
            return Ok(false);
        };
        if !self.dp.remove_conn(key)? {
            return Ok(false);
        }
        if key.kind == KIND_TEMPLATE {
            self.dp.add_swept(v.dest, Released::Template)?;
            return Ok(true);
        }
        if v.flags & conn_flags::FWD_MASK == conn_flags::MASQ
            && let Some(d) = self.dest_vals.get(&v.dest)
        {
            let mut ok = maps::OutKey::default();
            maps::out_key(&mut ok, key, &d.addr, v.dport_be);
            self.dp.remove_conn_out(&ok)?;
        }
        let what = if v.flags & conn_flags::INACTIVE == 0 {
            Released::Active
        } else {
            Released::Inactive
        };
        self.dp.add_swept(v.dest, what)?;
        let (a, i) = self.dp.conn_counts(v.dest)?;
        let d = self.dp.dest(v.dest)?;
        if maps::overload_clears_on_unbind(a, i, d.l_threshold, d.u_threshold) {
            self.dp.set_overload(v.dest, false)?;
        }
        Ok(true)
    }

    /// lblc's and lblcr's garbage collection (run it every minute): entries unused for
    /// [`rvs_model::locality::EXPIRATION`], and those of services no longer in the packet
    /// path, go. (Beyond its size the table drops its least recently used entries itself.)
    /// Returns how many were removed.
    pub fn collect_local(&mut self) -> Result<usize, Error> {
        let now = monotonic_ns();
        let live: HashSet<u32> = self
            .written
            .iter()
            .flat_map(|i| i.services.values().map(|(v, _)| v.id))
            .collect();
        let limit = rvs_model::locality::EXPIRATION * 1_000_000_000;
        let mut removed = 0;
        for (k, v) in self.dp.local_entries()? {
            if !live.contains(&k.svc) || now.saturating_sub(v.lastuse_ns) > limit {
                self.dp.remove_local(&k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Copies counters and connection counts from the maps into the table. The program counts
    /// by dest only: a service's counters are the sum of those of every dest it ever had
    /// (dest ids are never reused, and a removed dest's counts stay with its service, as
    /// IPVS's service counters keep them), the total the sum of every dest's.
    pub fn refresh(&mut self, table: &mut Table) -> Result<(), Error> {
        let dest_ids = self.memory.dest_ids.clone();
        let mut total = maps::Stats::default();
        let mut by_svc: HashMap<ServiceKey, maps::Stats> = HashMap::new();
        let mut by_dest: HashMap<u32, maps::Stats> = HashMap::new();
        for ((key, _, _), &id) in &dest_ids {
            let st = self.dp.dest_stats(id)?;
            total.add(&st);
            by_svc.entry(*key).or_default().add(&st);
            by_dest.insert(id, st);
        }
        table.total.raw = counters(&total);
        for s in table.services_mut() {
            s.stats.raw = counters(&by_svc.get(&s.config.key).copied().unwrap_or_default());
            let key = s.config.key;
            for d in &mut s.dests {
                let Some(&id) = dest_ids.get(&(key, d.config.addr, d.config.port)) else {
                    continue;
                };
                d.stats.raw = counters(&by_dest.get(&id).copied().unwrap_or_default());
                let (a, i, p) = self.dp.all_counts(id)?;
                d.active_conns = a as u32;
                d.inact_conns = i as u32;
                d.persist_conns = p as u32;
                d.overload = self.dp.overload(id)?;
            }
        }
        Ok(())
    }

    /// Live connection entries.
    pub fn conn_entries(&mut self) -> Result<Vec<ConnEntry>, Error> {
        let entries = self.dp.conns()?;
        Ok(conn_entries_from(
            &entries,
            &self.dest_addrs_by_id(),
            monotonic_ns(),
        ))
    }

    /// Each service id's key.
    pub fn service_keys(&self) -> HashMap<u32, ServiceKey> {
        self.memory
            .svc_ids
            .iter()
            .map(|(k, id)| (*id, *k))
            .collect()
    }

    /// Each dest id's interface, as last written (dests since removed included).
    pub fn dest_ifindexes(&self) -> HashMap<u32, u32> {
        self.dest_vals
            .iter()
            .map(|(id, v)| (*id, v.ifindex))
            .collect()
    }

    /// Each dest id's service (dests since removed included).
    pub fn dest_services(&self) -> HashMap<u32, ServiceKey> {
        self.memory
            .dest_ids
            .iter()
            .map(|((k, _, _), id)| (*id, *k))
            .collect()
    }

    /// Each dest id's address and port (dests since removed included).
    pub fn dest_addrs_by_id(&self) -> HashMap<u32, (IpAddr, u16)> {
        self.memory
            .dest_ids
            .iter()
            .map(|((_, a, p), id)| (*id, (*a, *p)))
            .collect()
    }
}

/// Whether an entry has been idle for longer than its timeout.
fn idle(v: &ConnVal, now: u64) -> bool {
    now.saturating_sub(v.last_ns) > u64::from(v.timeout) * 1_000_000_000
}

/// A sweep's view of the director, taken under rvsd's lock and used without it.
pub struct SweepInput {
    /// The connection table.
    pub reader: crate::batch::TableReader<ConnKey, ConnVal>,
    persist: HashMap<u32, PersistVal>,
}

/// What a sweep found to do.
#[derive(Debug, Default)]
pub struct SweepPlan {
    /// Entries idle past their timeout.
    pub expire: Vec<ConnKey>,
    /// Templates idle past their timeout that still control a live connection.
    pub keep_alive: Vec<ConnKey>,
}

impl SweepInput {
    /// Sorts the entries of one walk (no I/O).
    pub fn plan(&self, entries: &[(ConnKey, ConnVal)], now: u64) -> SweepPlan {
        let mut planner = self.planner(now);
        for (k, v) in entries {
            planner.feed(k, v);
        }
        planner.finish()
    }

    /// Walks the table and sorts its entries as they come, keeping only the idle ones (no
    /// copy of the whole table).
    pub fn walk(&self, now: u64) -> Result<SweepPlan, Error> {
        let mut planner = self.planner(now);
        self.reader
            .for_each(|keys, vals| {
                for (k, v) in keys.iter().zip(vals) {
                    planner.feed(k, v);
                }
                std::ops::ControlFlow::Continue(())
            })
            .map_err(|e| Error::Read(name::CONNS, e))?;
        Ok(planner.finish())
    }

    fn planner(&self, now: u64) -> Planner<'_> {
        Planner {
            persist: &self.persist,
            now,
            controlling: HashSet::new(),
            idle: Vec::new(),
        }
    }
}

/// One sweep's sorting: the idle entries, and the (template, dest) pairs that live
/// connections keep alive.
struct Planner<'a> {
    persist: &'a HashMap<u32, PersistVal>,
    now: u64,
    controlling: HashSet<(ConnKey, u32)>,
    idle: Vec<(ConnKey, u32)>,
}

impl Planner<'_> {
    fn feed(&mut self, k: &ConnKey, v: &ConnVal) {
        if idle(v, self.now) {
            self.idle.push((*k, v.dest));
            return;
        }
        if k.kind != KIND_CONN {
            return;
        }
        if let Some(p) = self.persist.get(&v.svc).filter(|p| p.timeout != 0) {
            let mut t = ConnKey::default();
            maps::template_key(&mut t, &k.caddr, k.af, p);
            self.controlling.insert((t, v.dest));
        }
    }

    fn finish(self) -> SweepPlan {
        let mut plan = SweepPlan::default();
        for (k, dest) in self.idle {
            if k.kind == KIND_TEMPLATE && self.controlling.contains(&(k, dest)) {
                plan.keep_alive.push(k);
            } else {
                plan.expire.push(k);
            }
        }
        plan
    }
}

/// `-Lnc`'s entries from one walk of the table: see [`live_conn_entry`].
pub fn conn_entries_from(
    entries: &[(ConnKey, ConnVal)],
    dests: &HashMap<u32, (IpAddr, u16)>,
    now: u64,
) -> Vec<ConnEntry> {
    entries
        .iter()
        .filter_map(|(k, v)| live_conn_entry(k, v, dests, now))
        .collect()
}

/// `-Lnc`'s entry for one entry of the table, with its dest's address from `dests`; `None`
/// for an entry past its timeout that the sweep has not removed yet, or one whose dest is
/// gone.
pub fn live_conn_entry(
    k: &ConnKey,
    v: &ConnVal,
    dests: &HashMap<u32, (IpAddr, u16)>,
    now: u64,
) -> Option<ConnEntry> {
    let idle = now.saturating_sub(v.last_ns) / 1_000_000_000;
    let left = u64::from(v.timeout).checked_sub(idle)?;
    let &(daddr, dport) = dests.get(&v.dest)?;
    // A template's destination port is the dest's only when it has a virtual port; a
    // connection's is the one it was made with.
    let dport = if k.kind == KIND_TEMPLATE && k.vport_be == 0 {
        0
    } else if k.kind == KIND_CONN && v.dport_be != 0 {
        u16::from_be(v.dport_be)
    } else {
        dport
    };
    Some(conn_entry(k, v, daddr, dport, left as u32))
}

fn conn_entry(k: &ConnKey, v: &ConnVal, daddr: IpAddr, dport: u16, left: u32) -> ConnEntry {
    ConnEntry {
        protocol: k.proto,
        caddr: from16(&k.caddr, k.af),
        cport: u16::from_be(k.cport_be),
        vaddr: from16(&k.vaddr, k.af),
        vport: u16::from_be(k.vport_be),
        daddr,
        dport,
        state: v.state,
        template: k.kind == KIND_TEMPLATE,
        expires: left,
    }
}

fn counters(s: &maps::Stats) -> Counters {
    Counters {
        conns: s.conns,
        inpkts: s.inpkts,
        outpkts: s.outpkts,
        inbytes: s.inbytes,
        outbytes: s.outbytes,
    }
}

/// How a service's dest list changed between two syncs (one configuration request changes
/// it by one step at most).
enum ListChange {
    Same,
    Added,
    Removed(usize),
    Other,
}

fn list_change(old: &[u32], new: &[u32]) -> ListChange {
    if old == new {
        ListChange::Same
    } else if new.len() == old.len() + 1 && new[1..] == *old {
        ListChange::Added
    } else if new.len() + 1 == old.len() {
        let j = (0..new.len())
            .find(|&i| old[i] != new[i])
            .unwrap_or(new.len());
        if old[..j] == new[..j] && old[j + 1..] == new[j..] {
            ListChange::Removed(j)
        } else {
            ListChange::Other
        }
    } else {
        ListChange::Other
    }
}

/// wrr's state for a fresh dest list, computed by the model (`ip_vs_wrr_init_svc`).
pub fn wrr_state(cands: &[Candidate]) -> SchedState {
    let w = WeightedRoundRobin::new(cands);
    let (cw, mw, di) = w.parts();
    SchedState {
        cursor: -1,
        cw,
        mw,
        di,
    }
}
