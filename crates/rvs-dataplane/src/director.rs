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

use rvs_common::maps::name;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rvs_common::conn_flags;
use rvs_common::maps::{
    self, AF_V4, AF_V6, ConnKey, ConnVal, DestVal, HashTab, KIND_CONN, KIND_TEMPLATE, MAX_DESTS,
    PersistVal, SchedState, SvcKey, SvcVal,
};
use rvs_model::hashing::{self, MhDest};
use rvs_model::persist::KEEP_ALIVE;
use rvs_model::sched::{Candidate, RoundRobin, WeightedRoundRobin};
use rvs_model::stats::Counters;
use rvs_model::{FwdMethod, Protocol, ServiceKey, Table, TunCsum, TunType};

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

fn addr16(a: &IpAddr) -> ([u8; 16], u8) {
    match a {
        IpAddr::V4(v) => {
            let mut x = [0u8; 16];
            x[..4].copy_from_slice(&v.octets());
            (x, AF_V4)
        }
        IpAddr::V6(v) => (v.octets(), AF_V6),
    }
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

type DestKey = (ServiceKey, IpAddr, u16);

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
    dp: Dataplane,
    svc_ids: HashMap<ServiceKey, u32>,
    dest_ids: HashMap<DestKey, u32>,
    next_svc: u32,
    next_dest: u32,
    /// Services as last written, with their dest id lists.
    installed: HashMap<SvcKey, (SvcVal, Vec<u32>)>,
    live_dests: HashSet<u32>,
    neigh: HashMap<IpAddr, Neigh>,
    /// The dest slots as last configured (kept after removal).
    dest_vals: HashMap<u32, DestVal>,
    /// `Service::dest_changes` as last written, per service.
    dest_changes: HashMap<SvcKey, u64>,
    /// Tunnel parameters as last written, by dest id.
    tunnels: HashMap<u32, maps::TunVal>,
    /// mh's `last_weight` per dest id.
    last_weight: HashMap<u32, i32>,
    /// Bucket tables as last written, by service id.
    hash_tabs: HashMap<u32, Box<HashTab>>,
    /// Template parameters as last written, by service id.
    persist: HashMap<u32, PersistVal>,
    /// The fwmark rules as last written.
    marks: Option<Vec<maps::FwmarkRule>>,
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
            svc_ids: HashMap::new(),
            dest_ids: HashMap::new(),
            next_svc: 1,
            next_dest: 1,
            installed: HashMap::new(),
            live_dests: HashSet::new(),
            neigh: HashMap::new(),
            dest_changes: HashMap::new(),
            dest_vals: HashMap::new(),
            last_weight: HashMap::new(),
            tunnels: HashMap::new(),
            hash_tabs: HashMap::new(),
            persist: HashMap::new(),
            marks: None,
            expire_quiescent_template: false,
            notes: Vec::new(),
        }
    }

    /// A director that carries on with the ids of an earlier one.
    pub fn with_ids(dp: Dataplane, ids: Ids) -> Director {
        let mut d = Director::new(dp);
        d.svc_ids = ids.services.into_iter().collect();
        d.dest_ids = ids
            .dests
            .into_iter()
            .map(|(k, a, p, id)| ((k, a, p), id))
            .collect();
        d.next_svc = d.svc_ids.values().max().map_or(1, |m| m + 1);
        d.next_dest = d.dest_ids.values().max().map_or(1, |m| m + 1);
        d
    }

    /// The ids given out so far.
    pub fn ids(&self) -> Ids {
        let mut services: Vec<_> = self.svc_ids.iter().map(|(k, id)| (*k, *id)).collect();
        services.sort_by_key(|x| x.1);
        let mut dests: Vec<_> = self
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

    fn id_for<K: std::hash::Hash + Eq>(
        ids: &mut HashMap<K, u32>,
        next: &mut u32,
        key: K,
        limit: u32,
    ) -> Option<u32> {
        if let Some(&id) = ids.get(&key) {
            return Some(id);
        }
        // Ids start at 1 and are never reused (they are saved across restarts), so a
        // connection of a deleted dest can never be sent to a new one.
        let id = (*next).max(1);
        (id < limit).then(|| {
            ids.insert(key, id);
            *next = id + 1;
            id
        })
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
        addrs.iter().map(|a| (*a, neigh::resolve(a))).collect()
    }

    /// Resolves `addrs` as [`Director::resolve`] does, waiting up to `wait` for answers.
    pub fn resolve_waiting(addrs: &HashSet<IpAddr>, wait: Duration) -> HashMap<IpAddr, Neigh> {
        neigh::resolve_waiting(addrs, wait)
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

    /// Writes the table into the maps.
    pub fn apply(&mut self, table: &Table, expire_nodest_conn: bool) -> Result<(), Error> {
        self.dp.set_timeouts(&table.timeouts)?;
        self.dp.set_config(
            maps::CONFIG_EXPIRE_NODEST_CONN,
            u32::from(expire_nodest_conn),
        )?;
        self.dp.set_config(
            maps::CONFIG_LBLCR_EXPIRATION,
            rvs_model::locality::EXPIRATION as u32,
        )?;
        self.dp.set_config(
            maps::CONFIG_EXPIRE_QUIESCENT,
            u32::from(self.expire_quiescent_template),
        )?;
        let marks: Vec<maps::FwmarkRule> = table.marks.iter().map(fwmark_rule).collect();
        if self.marks.as_ref() != Some(&marks) {
            self.dp.set_fwmarks(&marks)?;
            self.marks = Some(marks);
        }
        let mut notes = Vec::new();
        let mut wanted: HashMap<SvcKey, (SvcVal, Vec<u32>)> = HashMap::new();
        let mut live = HashSet::new();
        let mut wrr_states = Vec::new();
        let mut generations: HashMap<SvcKey, u64> = HashMap::new();
        let mut hash_tabs: HashMap<u32, Box<HashTab>> = HashMap::new();
        let mut persist: HashMap<u32, PersistVal> = HashMap::new();
        for s in table.services() {
            let cfg = &s.config;
            let label = match cfg.key {
                ServiceKey::Addr { addr, port, .. } => SocketAddr::new(addr, port).to_string(),
                ServiceKey::Fwmark { mark, .. } => format!("fwmark {mark}"),
            };
            // The service's key: fwmark services are keyed by (mark, family) with protocol 0.
            let (proto, vaddr, af, port) = match cfg.key {
                ServiceKey::Addr {
                    protocol,
                    addr,
                    port,
                } => {
                    let proto = match protocol {
                        Protocol::Tcp => rvs_common::proto::TCP,
                        Protocol::Udp => rvs_common::proto::UDP,
                        Protocol::Sctp => {
                            notes.push(format!("SCTP service {label}: not in the packet path yet"));
                            continue;
                        }
                    };
                    let (a, af) = addr16(&addr);
                    (proto, a, af, port)
                }
                ServiceKey::Fwmark { mark, ipv6 } => {
                    let mut a = [0u8; 16];
                    a[..4].copy_from_slice(&mark.to_be_bytes());
                    (0, a, if ipv6 { AF_V6 } else { AF_V4 }, 0)
                }
            };
            let sched = match cfg.scheduler.as_str() {
                "rr" => maps::sched::RR,
                "wrr" => maps::sched::WRR,
                "lc" => maps::sched::LC,
                "wlc" => maps::sched::WLC,
                "sed" => maps::sched::SED,
                "nq" => maps::sched::NQ,
                "fo" => maps::sched::FO,
                "ovf" => maps::sched::OVF,
                "sh" => maps::sched::SH,
                "dh" => maps::sched::DH,
                "mh" => maps::sched::MH,
                "lblc" => maps::sched::LBLC,
                "lblcr" => maps::sched::LBLCR,
                "twos" => maps::sched::TWOS,
                other => {
                    notes.push(format!(
                        "{label}: scheduler {other} not in the packet path yet"
                    ));
                    continue;
                }
            };
            let Some(svc_id) = Self::id_for(
                &mut self.svc_ids,
                &mut self.next_svc,
                cfg.key,
                maps::SVC_SLOTS,
            ) else {
                notes.push(format!("{label}: no service slot left"));
                continue;
            };
            let mut val = SvcVal {
                id: svc_id,
                sched,
                ndests: 0,
                flags: cfg.flags,
            };
            let mut list_ids: Vec<u32> = Vec::new();
            let mut cands = Vec::new();
            let mut mh_dests = Vec::new();
            for d in &s.dests {
                let dc = &d.config;
                let fwd = match dc.fwd {
                    FwdMethod::Route => conn_flags::DROUTE,
                    FwdMethod::Masq => conn_flags::MASQ,
                    FwdMethod::Tunnel => conn_flags::TUNNEL,
                    _ => {
                        notes.push(format!(
                            "{label} -> {}: local and bypass forwarding are not in the packet path",
                            dc.addr
                        ));
                        continue;
                    }
                };
                if val.ndests as usize >= MAX_DESTS {
                    notes.push(format!(
                        "{label}: more than {MAX_DESTS} dests; the rest get no traffic"
                    ));
                    break;
                }
                let Some(id) = Self::id_for(
                    &mut self.dest_ids,
                    &mut self.next_dest,
                    (cfg.key, dc.addr, dc.port),
                    maps::DEST_SLOTS,
                ) else {
                    notes.push(format!("{label}: no dest slot left"));
                    continue;
                };
                let (daddr, af) = addr16(&dc.addr);
                let mut dv = DestVal {
                    addr: daddr,
                    weight: dc.weight,
                    flags: maps::dest::AVAILABLE,
                    ifindex: 0,
                    port_be: dc.port.to_be(),
                    mac: [0; 6],
                    src_mac: [0; 6],
                    af,
                    fwd: fwd as u8,
                    _pad: [0; 4],
                    u_threshold: dc.u_threshold,
                    l_threshold: dc.l_threshold,
                };
                match self.neigh.get(&dc.addr) {
                    Some(Neigh::Known { path, .. })
                        if path.via_gateway && fwd == conn_flags::DROUTE =>
                    {
                        notes.push(format!(
                            "dest {}: behind a gateway, and direct routing needs it on-link; it \
                             takes no new connections",
                            dc.addr
                        ));
                    }
                    Some(Neigh::Known { path, .. })
                        if fwd == conn_flags::TUNNEL
                            && path.src.is_none_or(|a| a.is_ipv4() != dc.addr.is_ipv4()) =>
                    {
                        notes.push(format!(
                            "dest {}: no source address towards it for the tunnel; it takes no \
                             new connections",
                            dc.addr
                        ));
                    }
                    Some(Neigh::Known {
                        mac,
                        ifindex,
                        src_mac,
                        path,
                        ..
                    }) => {
                        dv.flags |= maps::dest::MAC_KNOWN;
                        dv.mac = *mac;
                        dv.src_mac = *src_mac;
                        dv.ifindex = *ifindex;
                        if fwd == conn_flags::TUNNEL {
                            let t = maps::TunVal {
                                saddr: path.src.map_or([0; 16], |a| addr16(&a).0),
                                mtu: path.mtu,
                                port_be: dc.tun_port.to_be(),
                                kind: match dc.tun_type {
                                    TunType::Ipip => rvs_common::tun::TYPE_IPIP,
                                    TunType::Gue => rvs_common::tun::TYPE_GUE,
                                    TunType::Gre => rvs_common::tun::TYPE_GRE,
                                },
                                af,
                            };
                            if self.tunnels.get(&id) != Some(&t) {
                                self.dp.put_tunnel(id, &t)?;
                                self.tunnels.insert(id, t);
                            }
                            if dc.tun_csum != TunCsum::Nocsum {
                                notes.push(format!(
                                    "dest {}: tunnel checksums are not computed (sent as \
                                     --tun-nocsum)",
                                    dc.addr
                                ));
                            }
                        }
                    }
                    Some(Neigh::Unknown(why)) => notes.push(format!(
                        "dest {}: {why}; it takes no new connections",
                        dc.addr
                    )),
                    Some(Neigh::Pending(why)) => {
                        dv.flags |= maps::dest::RESOLVING;
                        notes.push(format!(
                            "dest {}: {why}; its packets are dropped (the clients retransmit) \
                             until it answers",
                            dc.addr
                        ));
                    }
                    None => {
                        dv.flags |= maps::dest::RESOLVING;
                        notes.push(format!(
                            "dest {}: MAC address not resolved yet; its packets are dropped (the \
                             clients retransmit) until it is",
                            dc.addr
                        ));
                    }
                }
                let prev = self.dest_vals.get(&id).copied();
                if prev != Some(dv) || !self.live_dests.contains(&id) {
                    // `__ip_vs_update_dest`: a removed or raised upper threshold clears
                    // OVERLOAD (compared with the dest's last settings, kept after removal
                    // as the kernel keeps the dest object).
                    let old_u = prev.map_or(0, |p| p.u_threshold);
                    if dc.u_threshold == 0 || dc.u_threshold > old_u {
                        self.dp.set_overload(id, false)?;
                    }
                    self.dp.put_dest(id, &dv)?;
                    self.dest_vals.insert(id, dv);
                }
                live.insert(id);
                list_ids.push(id);
                val.ndests += 1;
                cands.push(Candidate {
                    weight: dc.weight,
                    ..Candidate::default()
                });
                // mh builds on the last non-zero weight (a dest added at 0 has none).
                let lw = if dc.weight > 0 {
                    dc.weight
                } else {
                    self.last_weight.get(&id).copied().unwrap_or(0)
                };
                self.last_weight.insert(id, lw);
                mh_dests.push(MhDest {
                    addr: dc.addr,
                    port: dc.port,
                    last_weight: lw,
                });
            }
            let key = SvcKey {
                addr: vaddr,
                port_be: port.to_be(),
                proto,
                af,
            };
            let list = &list_ids;
            let buckets = match sched {
                maps::sched::SH => Some(hashing::sh_table(&cands)),
                maps::sched::DH => Some(hashing::dh_table(list.len())),
                maps::sched::MH => Some(hashing::mh_table(&mh_dests)),
                _ => None,
            };
            if let Some(b) = buckets {
                let mut tab = Box::new(HashTab {
                    dests: [0; maps::HASH_TAB_SLOTS],
                });
                for (slot, i) in tab.dests.iter_mut().zip(b) {
                    *slot = i.map_or(0, |i| list[i]);
                }
                hash_tabs.insert(svc_id, tab);
            }
            persist.insert(svc_id, persist_val(cfg, af));
            if sched == maps::sched::WRR {
                wrr_states.push((key, cands));
            }
            generations.insert(key, s.dest_changes);
            wanted.insert(key, (val, list_ids));
        }
        for (key, (val, dests)) in &wanted {
            let old = self.installed.get(key);
            if old.is_none_or(|(v, d)| v != val || d != dests) {
                self.dp.put_service(key, val, dests)?;
            }
            // The scheduler's update hooks, as the kernel runs them on a dest change.
            let cur = match old {
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
                    match old.map(|(_, o)| list_change(o, dests)) {
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
                    let cands = wrr_states
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, c)| c.as_slice())
                        .unwrap_or(&[]);
                    let touched = self.dest_changes.get(key) != generations.get(key);
                    if old.is_some() && !touched {
                        cur
                    } else if old.is_none() {
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
            if next != cur || old.is_none() {
                self.dp.put_sched(val.id, &next)?;
            }
        }
        self.dest_changes = generations;
        for (id, p) in &persist {
            if self.persist.get(id) != Some(p) {
                self.dp.put_persist(*id, p)?;
            }
        }
        for (id, t) in &hash_tabs {
            if self.hash_tabs.get(id) != Some(t) {
                self.dp.put_hash_tab(*id, t)?;
            }
        }
        for id in self.hash_tabs.keys() {
            if !hash_tabs.contains_key(id) {
                self.dp.remove_hash_tab(*id)?;
            }
        }
        self.persist = persist;
        self.hash_tabs = hash_tabs;
        for key in self.installed.keys() {
            if !wanted.contains_key(key) {
                self.dp.remove_service(key)?;
            }
        }
        // Dests that left their service: their connections see a dest that is not AVAILABLE;
        // the thresholds stay, for the OVERLOAD rules of the connections still bound to it.
        for gone in self.live_dests.difference(&live) {
            let mut dv = self.dest_vals.get(gone).copied().unwrap_or_default();
            dv.flags &= !maps::dest::AVAILABLE;
            self.dp.put_dest(*gone, &dv)?;
        }
        let masq = self
            .dest_vals
            .iter()
            .any(|(id, d)| live.contains(id) && u32::from(d.fwd) == conn_flags::MASQ);
        let forwarding = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
        if masq && !forwarding("/proc/sys/net/ipv4/ip_forward") {
            notes.push(
                "NAT dests: replies are not forwarded until net.ipv4.ip_forward=1 (the FIB \
                 lookup refuses)"
                    .into(),
            );
        }
        self.installed = wanted;
        self.live_dests = live;
        self.notes = notes;
        Ok(())
    }

    /// Removes connection entries idle for longer than their timeout and gives their dest
    /// counts back; a template that still controls a live connection of its dest is kept for
    /// [`KEEP_ALIVE`] seconds instead, and its timeout stays at that (ipvs-semantics.md 10.3).
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
            persist: self.persist.clone(),
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
        let live: HashSet<u32> = self.installed.values().map(|(v, _)| v.id).collect();
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

    /// Copies counters and connection counts from the maps into the table.
    pub fn refresh(&mut self, table: &mut Table) -> Result<(), Error> {
        let total = self.dp.total_stats()?;
        table.total.raw = counters(&total);
        let svc_ids = self.svc_ids.clone();
        let dest_ids = self.dest_ids.clone();
        for s in table.services_mut() {
            let Some(&sid) = svc_ids.get(&s.config.key) else {
                continue;
            };
            s.stats.raw = counters(&self.dp.service_stats(sid)?);
            let key = s.config.key;
            for d in &mut s.dests {
                let Some(&id) = dest_ids.get(&(key, d.config.addr, d.config.port)) else {
                    continue;
                };
                d.stats.raw = counters(&self.dp.dest_stats(id)?);
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

    /// Each dest id's address and port (dests since removed included).
    pub fn dest_addrs_by_id(&self) -> HashMap<u32, (IpAddr, u16)> {
        self.dest_ids
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

/// A marking rule in the program's layout.
fn fwmark_rule(r: &rvs_model::marks::MarkRule) -> maps::FwmarkRule {
    let (addr, af) = addr16(&r.dst);
    let mut v = maps::FwmarkRule {
        addr,
        mask: r.mask_bytes(),
        mark: r.mark,
        af,
        proto: r.protocol.map_or(0, Protocol::number),
        nports: r.ports.len().min(maps::FWMARK_PORT_RANGES) as u8,
        ..maps::FwmarkRule::default()
    };
    for (slot, (l, h)) in v.ports.iter_mut().zip(&r.ports) {
        *slot = [*l, *h];
    }
    v
}

/// What the program needs to make a service's template keys (ipvs-semantics.md 10.1).
fn persist_val(cfg: &rvs_model::ServiceConfig, af: u8) -> PersistVal {
    if !cfg.persistent() {
        return PersistVal::default();
    }
    let mut p = PersistVal {
        timeout: cfg.timeout.max(1),
        ..PersistVal::default()
    };
    if af == AF_V4 {
        p.mask[..4].copy_from_slice(&cfg.netmask.to_be_bytes());
    } else {
        let bits = cfg.netmask.min(128);
        let m = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        p.mask = m.to_be_bytes();
    }
    match cfg.key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            p.vaddr = addr16(&addr).0;
            p.proto = protocol.number();
            // FTP's template has port 0, so that its data connections follow it.
            p.vport_be = if port == 21 { 0 } else { port.to_be() };
        }
        ServiceKey::Fwmark { mark, .. } => {
            p.vaddr[..4].copy_from_slice(&mark.to_be_bytes());
        }
    }
    p
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
