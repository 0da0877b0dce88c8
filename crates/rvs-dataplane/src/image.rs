// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the packet path's maps should hold for a configuration: the map image of an
//! `rvs-model` table, computed without touching the maps ([`image`]). [`crate::director`]
//! writes the difference between the image it wrote last and a new one.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use rvs_common::conn_flags;
use rvs_common::maps::{
    self, AF_V4, AF_V6, DestVal, FwmarkRule, HashTab, MAX_DESTS, PersistVal, SvcKey, SvcVal, TunVal,
};
use rvs_model::hashing::{self, MhDest};
use rvs_model::sched::Candidate;
use rvs_model::{FwdMethod, Protocol, ServiceKey, Table, Timeouts, TunCsum, TunType};

use crate::neigh::Neigh;

/// A dest's identity in the model: its service, address and port.
pub type DestKey = (ServiceKey, IpAddr, u16);

/// What a director remembers from one configuration to the next: the ids it gave out
/// (connections in the pinned maps refer to them, so they stay, and are never reused) and
/// mh's last non-zero weight of each dest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Memory {
    /// Service ids.
    pub svc_ids: HashMap<ServiceKey, u32>,
    /// Dest ids, including those of dests since removed.
    pub dest_ids: HashMap<DestKey, u32>,
    /// The next service id to give out.
    pub next_svc: u32,
    /// The next dest id to give out.
    pub next_dest: u32,
    /// mh's last non-zero weight by dest id (a dest added at weight 0 has none).
    pub last_weight: HashMap<u32, i32>,
}

impl Memory {
    /// Nothing given out yet: ids start at 1.
    pub fn new() -> Memory {
        Memory {
            next_svc: 1,
            next_dest: 1,
            ..Memory::default()
        }
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
}

/// The runtime switches that are not in the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switches {
    /// `expire_nodest_conn`.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template`.
    pub expire_quiescent_template: bool,
}

/// The maps' contents for one configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Image {
    /// `RVS_TIMEOUTS`' source.
    pub timeouts: Timeouts,
    /// `RVS_CONFIG` slots and values.
    pub config: Vec<(u32, u32)>,
    /// `RVS_FWMARKS`, in match order.
    pub marks: Vec<FwmarkRule>,
    /// Services with their dest id lists (`RVS_SERVICES`, `RVS_SVC_DESTS`).
    pub services: HashMap<SvcKey, (SvcVal, Vec<u32>)>,
    /// The dests of those services, by id (`RVS_DESTS`).
    pub dests: HashMap<u32, DestVal>,
    /// Tunnel parameters by dest id, for tunnel dests with a known route (`RVS_TUNNELS`).
    pub tunnels: HashMap<u32, TunVal>,
    /// sh/dh/mh bucket tables by service id (`RVS_HASH_TABS`).
    pub hash_tabs: HashMap<u32, Box<HashTab>>,
    /// Persistence settings by service id (`RVS_PERSIST`).
    pub persist: HashMap<u32, PersistVal>,
    /// wrr services' dests as wrr's state is computed from them.
    pub wrr: HashMap<SvcKey, Vec<Candidate>>,
    /// Each service's dest-change count (`Service::dest_changes`): whether wrr must start
    /// again.
    pub dest_changes: HashMap<SvcKey, u64>,
    /// Why parts of the configuration are not in the packet path, for `rvs status`.
    pub notes: Vec<String>,
}

impl Image {
    /// The ids of the dests in a service.
    pub fn live_dests(&self) -> HashSet<u32> {
        self.dests.keys().copied().collect()
    }
}

/// The program's address layout: 16 bytes (IPv4 in the first four) and the family.
pub(crate) fn addr16(a: &IpAddr) -> ([u8; 16], u8) {
    match a {
        IpAddr::V4(v) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v.octets());
            (b, AF_V4)
        }
        IpAddr::V6(v) => (v.octets(), AF_V6),
    }
}

fn sched_code(name: &str) -> Option<u32> {
    Some(match name {
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
        _ => return None,
    })
}

/// The map image of `table`, with the dests' next hops from `neigh` (a dest without an
/// entry there is being resolved). Ids come from, and new ones go to, `memory`.
pub fn image(
    table: &Table,
    neigh: &HashMap<IpAddr, Neigh>,
    switches: Switches,
    memory: &mut Memory,
) -> Image {
    let mut img = Image {
        timeouts: table.timeouts,
        config: vec![
            (
                maps::CONFIG_EXPIRE_NODEST_CONN,
                u32::from(switches.expire_nodest_conn),
            ),
            (
                maps::CONFIG_LBLCR_EXPIRATION,
                rvs_model::locality::EXPIRATION as u32,
            ),
            (
                maps::CONFIG_EXPIRE_QUIESCENT,
                u32::from(switches.expire_quiescent_template),
            ),
            (maps::CONFIG_SYNC_MASTER, u32::from(table.master.is_some())),
            (maps::CONFIG_SYNC_THRESHOLD, maps::SYNC_THRESHOLD),
            (maps::CONFIG_SYNC_PERIOD, maps::SYNC_PERIOD),
        ],
        marks: table.marks.iter().map(fwmark_rule).collect(),
        ..Image::default()
    };
    let notes = &mut img.notes;
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
        let Some(sched) = sched_code(&cfg.scheduler) else {
            notes.push(format!(
                "{label}: scheduler {} not in the packet path yet",
                cfg.scheduler
            ));
            continue;
        };
        let Some(svc_id) = Memory::id_for(
            &mut memory.svc_ids,
            &mut memory.next_svc,
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
            let Some(id) = Memory::id_for(
                &mut memory.dest_ids,
                &mut memory.next_dest,
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
            match neigh.get(&dc.addr) {
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
                        img.tunnels.insert(
                            id,
                            TunVal {
                                saddr: path.src.map_or([0; 16], |a| addr16(&a).0),
                                mtu: path.mtu,
                                port_be: dc.tun_port.to_be(),
                                kind: match dc.tun_type {
                                    TunType::Ipip => rvs_common::tun::TYPE_IPIP,
                                    TunType::Gue => rvs_common::tun::TYPE_GUE,
                                    TunType::Gre => rvs_common::tun::TYPE_GRE,
                                },
                                af,
                            },
                        );
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
            img.dests.insert(id, dv);
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
                memory.last_weight.get(&id).copied().unwrap_or(0)
            };
            memory.last_weight.insert(id, lw);
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
        let buckets = match sched {
            maps::sched::SH => Some(hashing::sh_table(&cands)),
            maps::sched::DH => Some(hashing::dh_table(list_ids.len())),
            maps::sched::MH => Some(hashing::mh_table(&mh_dests)),
            _ => None,
        };
        if let Some(b) = buckets {
            let mut tab = Box::new(HashTab {
                dests: [0; maps::HASH_TAB_SLOTS],
            });
            for (slot, i) in tab.dests.iter_mut().zip(b) {
                *slot = i.map_or(0, |i| list_ids[i]);
            }
            img.hash_tabs.insert(svc_id, tab);
        }
        img.persist.insert(svc_id, persist_val(cfg, af));
        if sched == maps::sched::WRR {
            img.wrr.insert(key, cands);
        }
        img.dest_changes.insert(key, s.dest_changes);
        img.services.insert(key, (val, list_ids));
    }
    img
}

/// A marking rule in the program's layout.
fn fwmark_rule(r: &rvs_model::marks::MarkRule) -> FwmarkRule {
    let (addr, af) = addr16(&r.dst);
    let mut v = FwmarkRule {
        addr,
        mask: r.mask_bytes(),
        mark: r.mark,
        af,
        proto: r.protocol.map_or(0, Protocol::number),
        nports: r.ports.len().min(maps::FWMARK_PORT_RANGES) as u8,
        ..FwmarkRule::default()
    };
    for (slot, (l, h)) in v.ports.iter_mut().zip(&r.ports) {
        *slot = [*l, *h];
    }
    v
}

/// What the program needs to make a service's template keys: the client address masked by
/// the persistence netmask, the service's address, protocol and port (port 0 for FTP, so
/// that its data connections follow the control connection), and the timeout.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neigh::Path;
    use rvs_model::{DestConfig, ServiceConfig};

    fn tcp(vip: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: vip.parse().unwrap(),
            port,
        }
    }

    fn svc(key: ServiceKey, sched: &str) -> ServiceConfig {
        ServiceConfig {
            key,
            scheduler: sched.into(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe: String::new(),
        }
    }

    fn dest(addr: &str, fwd: FwdMethod, weight: i32) -> DestConfig {
        DestConfig {
            addr: addr.parse().unwrap(),
            port: 80,
            fwd,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: TunCsum::Nocsum,
        }
    }

    fn known(mac: u8) -> Neigh {
        Neigh::Known {
            mac: [2, 0, 0, 0, 0, mac],
            ifindex: 7,
            src_mac: [2, 0, 0, 0, 0, 1],
            dev: "d0".into(),
            path: Path {
                src: Some("10.0.0.1".parse().unwrap()),
                mtu: 1500,
                via_gateway: false,
            },
        }
    }

    fn ids_of(img: &Image, key: &ServiceKey) -> Vec<u32> {
        let (proto, addr, port) = match key {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => (protocol.number(), addr16(addr), *port),
            ServiceKey::Fwmark { .. } => unreachable!(),
        };
        let k = SvcKey {
            addr: addr.0,
            port_be: port.to_be(),
            proto,
            af: addr.1,
        };
        img.services[&k].1.clone()
    }

    #[test]
    fn ids_stay_with_their_dests_and_are_never_reused() {
        let key = tcp("10.0.0.240", 80);
        let mut t = Table::new();
        t.add_service(svc(key, "rr")).unwrap();
        for a in ["10.0.0.241", "10.0.0.242"] {
            t.add_dest(&key, dest(a, FwdMethod::Route, 1)).unwrap();
        }
        let mut mem = Memory::new();
        let neigh = HashMap::new();
        let first = image(&t, &neigh, Switches::default(), &mut mem);
        // Dest lists are newest first; ids follow the order dests were met.
        assert_eq!(ids_of(&first, &key), vec![1, 2]);
        let a241: IpAddr = "10.0.0.241".parse().unwrap();
        let id_241 = mem.dest_ids[&(key, a241, 80)];
        t.del_dest(&key, &a241, 80).unwrap();
        t.add_dest(&key, dest("10.0.0.243", FwdMethod::Route, 1))
            .unwrap();
        let second = image(&t, &neigh, Switches::default(), &mut mem);
        let ids = ids_of(&second, &key);
        assert!(!ids.contains(&id_241), "{ids:?}");
        assert!(ids.contains(&3), "a new dest gets a new id: {ids:?}");
        t.add_dest(&key, dest("10.0.0.241", FwdMethod::Route, 1))
            .unwrap();
        let third = image(&t, &neigh, Switches::default(), &mut mem);
        assert!(ids_of(&third, &key).contains(&id_241), "back with its id");
        assert_eq!(second.dests.len(), 2);
        assert!(
            !second.dests.contains_key(&id_241),
            "a removed dest is not live"
        );
    }

    #[test]
    fn dest_state_follows_what_is_known_of_its_next_hop() {
        let key = tcp("10.0.0.240", 80);
        let mut t = Table::new();
        t.add_service(svc(key, "wlc")).unwrap();
        let addrs = [
            "10.0.0.241",
            "10.0.0.242",
            "10.0.0.243",
            "10.0.0.244",
            "10.0.0.245",
        ];
        for a in addrs {
            t.add_dest(&key, dest(a, FwdMethod::Route, 1)).unwrap();
        }
        let mut neigh = HashMap::new();
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        neigh.insert(ip(addrs[0]), known(0x41));
        neigh.insert(ip(addrs[1]), Neigh::Pending("asked".into()));
        neigh.insert(ip(addrs[2]), Neigh::Unknown("no route".into()));
        let mut via = known(0x44);
        if let Neigh::Known { path, .. } = &mut via {
            path.via_gateway = true;
        }
        neigh.insert(ip(addrs[3]), via);
        // addrs[4]: never looked up.
        let mut mem = Memory::new();
        let img = image(&t, &neigh, Switches::default(), &mut mem);
        let flags = |a: &str| img.dests[&mem.dest_ids[&(key, ip(a), 80)]].flags;
        let d = &img.dests[&mem.dest_ids[&(key, ip(addrs[0]), 80)]];
        assert_eq!(d.mac, [2, 0, 0, 0, 0, 0x41]);
        assert_eq!(d.ifindex, 7);
        assert_eq!(
            flags(addrs[0]),
            maps::dest::AVAILABLE | maps::dest::MAC_KNOWN
        );
        assert_eq!(
            flags(addrs[1]),
            maps::dest::AVAILABLE | maps::dest::RESOLVING
        );
        assert_eq!(flags(addrs[2]), maps::dest::AVAILABLE, "unreachable");
        assert_eq!(
            flags(addrs[3]),
            maps::dest::AVAILABLE,
            "DR behind a gateway"
        );
        assert_eq!(
            flags(addrs[4]),
            maps::dest::AVAILABLE | maps::dest::RESOLVING
        );
        for (a, says) in [
            (addrs[2], "no route"),
            (addrs[3], "behind a gateway"),
            (addrs[4], "not resolved yet"),
        ] {
            assert!(
                img.notes.iter().any(|n| n.contains(a) && n.contains(says)),
                "{a}: {:?}",
                img.notes
            );
        }
    }

    #[test]
    fn what_the_packet_path_cannot_do_is_noted_not_written() {
        let sctp = ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: "10.0.0.240".parse().unwrap(),
            port: 80,
        };
        let key = tcp("10.0.0.240", 81);
        let mut t = Table::new();
        t.add_service(svc(sctp, "rr")).unwrap();
        t.add_service(svc(key, "rr")).unwrap();
        t.add_dest(&key, dest("10.0.0.241", FwdMethod::Local, 1))
            .unwrap();
        let img = image(&t, &HashMap::new(), Switches::default(), &mut Memory::new());
        assert_eq!(img.services.len(), 1, "the SCTP service is not written");
        assert_eq!(ids_of(&img, &key), Vec::<u32>::new(), "nor the local dest");
        assert!(
            img.notes.iter().any(|n| n.contains("SCTP")),
            "{:?}",
            img.notes
        );
        assert!(
            img.notes.iter().any(|n| n.contains("local")),
            "{:?}",
            img.notes
        );
    }

    #[test]
    fn hashing_wrr_and_persistence_get_what_their_walks_need() {
        let sh = tcp("10.0.0.240", 80);
        let wrr = tcp("10.0.0.240", 81);
        let mut t = Table::new();
        t.add_service(svc(sh, "sh")).unwrap();
        let mut p = svc(wrr, "wrr");
        p.flags = rvs_common::svc_flags::PERSISTENT;
        p.timeout = 300;
        t.add_service(p).unwrap();
        for k in [sh, wrr] {
            for (a, w) in [("10.0.0.241", 1), ("10.0.0.242", 3)] {
                t.add_dest(&k, dest(a, FwdMethod::Route, w)).unwrap();
            }
        }
        let mut mem = Memory::new();
        let img = image(&t, &HashMap::new(), Switches::default(), &mut mem);
        let (sh_id, wrr_id) = (mem.svc_ids[&sh], mem.svc_ids[&wrr]);
        let tab = &img.hash_tabs[&sh_id];
        let sh_dests = ids_of(&img, &sh);
        let used = &tab.dests[..SH_TAB as usize];
        assert!(
            used.iter().all(|id| sh_dests.contains(id)),
            "buckets hold its dests"
        );
        // Weights 1 and 3: a quarter and three quarters of the buckets.
        let heavy = used.iter().filter(|&&id| id == sh_dests[0]).count();
        assert_eq!(heavy, 3 * SH_TAB as usize / 4);
        assert!(!img.hash_tabs.contains_key(&wrr_id), "no table for wrr");
        assert_eq!(img.wrr.values().next().map(Vec::len), Some(2));
        assert_eq!(img.persist[&wrr_id].timeout, 300);
        assert_eq!(img.persist[&sh_id].timeout, 0, "not persistent");
    }

    const SH_TAB: u32 = maps::SH_TAB_SIZE;
}
