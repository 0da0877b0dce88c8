// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS table: services, their dests (newest first), timeouts and sync daemons, with the
//! kernel's validation and errno for every operation (`ip_vs_ctl.c`), and each dest's
//! connection counts, thresholds and OVERLOAD flag.
//!
//! Every operation either succeeds completely or returns an [`Error`] and leaves the table
//! untouched: all checks run before the first change.

use std::collections::HashMap;
use std::net::IpAddr;

use rvs_common::maps::dest as dest_flags;
use rvs_common::svc_flags;
use serde::{Deserialize, Serialize};

use crate::stats::Stats;
use crate::{
    DaemonConfig, DestConfig, Error, Family, FwdMethod, PERSISTENCE_ENGINES, SCHEDULERS,
    ServiceConfig, ServiceKey, SyncRole, Timeouts, TunType,
};

/// A real server inside a service, with its live counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dest {
    /// Settings.
    pub config: DestConfig,
    /// Last non-zero weight (or the weight given on add), used by `mh`.
    pub last_weight: i32,
    /// Connections in an active state.
    pub active_conns: u32,
    /// Other connections.
    pub inact_conns: u32,
    /// Persistence templates pointing here.
    pub persist_conns: u32,
    /// `OVERLOAD` flag, set once the dest's connections reach `u_threshold`; schedulers skip it.
    pub overload: bool,
    /// Counters.
    pub stats: Stats,
}

impl Dest {
    fn new(config: DestConfig) -> Dest {
        Dest {
            last_weight: config.weight,
            config,
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
            overload: false,
            stats: Stats::default(),
        }
    }

    /// `IP_VS_DEST_F_*` bits as the kernel reports them.
    pub fn flags(&self) -> u32 {
        dest_flags::AVAILABLE
            | if self.overload {
                dest_flags::OVERLOAD
            } else {
                0
            }
    }

    /// Whether the dest's family differs from `family`.
    fn family(&self) -> Family {
        Family::of(&self.config.addr)
    }

    /// A new connection (not a template) is bound to the dest: count it and maybe set
    /// OVERLOAD (`ip_vs_bind_dest`). New entries start inactive, as in the kernel.
    pub fn bind_conn(&mut self) {
        self.inact_conns += 1;
        if rvs_common::maps::overload_on_bind(
            self.active_conns.into(),
            self.inact_conns.into(),
            self.config.u_threshold,
        ) {
            self.overload = true;
        }
    }

    /// A connection in the given activity class is released (`ip_vs_unbind_dest`).
    pub fn unbind_conn(&mut self, active: bool) {
        if active {
            self.active_conns = self.active_conns.saturating_sub(1);
        } else {
            self.inact_conns = self.inact_conns.saturating_sub(1);
        }
        if rvs_common::maps::overload_clears_on_unbind(
            self.active_conns.into(),
            self.inact_conns.into(),
            self.config.l_threshold,
            self.config.u_threshold,
        ) {
            self.overload = false;
        }
    }

    /// A connection moved between the active and inactive classes.
    pub fn move_conn(&mut self, to_active: bool) {
        if to_active {
            self.inact_conns = self.inact_conns.saturating_sub(1);
            self.active_conns += 1;
        } else {
            self.active_conns = self.active_conns.saturating_sub(1);
            self.inact_conns += 1;
        }
    }
}

/// A virtual service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Settings.
    pub config: ServiceConfig,
    /// Dests, most recently added first (the kernel's list order).
    pub dests: Vec<Dest>,
    /// Counters.
    pub stats: Stats,
    /// Bumped by every dest add, edit and delete: the moments the kernel runs the scheduler's
    /// update hook, even when an edit changes nothing visible.
    #[serde(default)]
    pub dest_changes: u64,
}

impl Service {
    /// The position of the dest `(addr, port)`.
    pub fn dest_index(&self, addr: &IpAddr, port: u16) -> Option<usize> {
        self.dests
            .iter()
            .position(|d| d.config.addr == *addr && d.config.port == port)
    }
}

/// The state of one sync daemon role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// Settings with the kernel defaults filled in.
    pub config: DaemonConfig,
}

/// Default sync multicast group.
pub const SYNC_GROUP_DEFAULT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 81));
/// Default sync port.
pub const SYNC_PORT_DEFAULT: u16 = 8848;

/// The whole IPVS configuration of a director.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    services: Vec<Service>,
    /// Timeouts set by `--set`.
    pub timeouts: Timeouts,
    /// Running sync daemon roles: master first, then backup.
    pub master: Option<SyncDaemon>,
    /// See `master`.
    pub backup: Option<SyncDaemon>,
    /// Counters of everything (`/proc/net/ip_vs_stats`).
    pub total: Stats,
    /// `rvs fwmark` rules, in match order (see [`crate::marks`]).
    #[serde(default)]
    pub marks: Vec<crate::marks::MarkRule>,
    #[serde(skip)]
    index: HashMap<ServiceKey, usize>,
}

fn is_unicast(addr: &IpAddr) -> bool {
    match addr {
        // `inet_addr_type`: 0.0.0.0/8 and 255.255.255.255 are RTN_BROADCAST, 224/4 multicast.
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] != 0 && !a.is_broadcast() && !a.is_multicast()
        }
        // `ipv6_addr_type`: must be unicast and not link-local. `::` (ANY), multicast and
        // v4-mapped `::ffff:0:0/96` (MAPPED) are not unicast.
        IpAddr::V6(a) => {
            !a.is_unspecified()
                && !a.is_multicast()
                && (a.segments()[0] & 0xffc0) != 0xfe80
                && a.to_ipv4_mapped().is_none()
        }
    }
}

impl Table {
    /// An empty table with default timeouts.
    pub fn new() -> Table {
        Table::default()
    }

    /// Rebuilds the lookup index (after deserialising).
    pub fn reindex(&mut self) {
        self.index = self
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.config.key, i))
            .collect();
    }

    /// Services in the order they were added.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// Mutable access to the services (counters only; the set of services is changed through
    /// the operations so that the index stays right).
    pub fn services_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        self.services.iter_mut()
    }

    /// Looks a service up.
    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.index.get(key).map(|&i| &self.services[i])
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Result<&mut Service, Error> {
        match self.index.get(key) {
            Some(&i) => Ok(&mut self.services[i]),
            None => Err(Error::NoSuchService),
        }
    }

    fn check_service(cfg: &ServiceConfig) -> Result<(), Error> {
        if !SCHEDULERS.contains(&cfg.scheduler.as_str()) {
            return Err(Error::SchedulerNotFound(cfg.scheduler.clone()));
        }
        if !cfg.pe.is_empty() && !PERSISTENCE_ENGINES.contains(&cfg.pe.as_str()) {
            return Err(Error::PeNotFound(cfg.pe.clone()));
        }
        if cfg.key.family() == Family::V6 && !(1..=128).contains(&cfg.netmask) {
            return Err(Error::BadNetmask);
        }
        Ok(())
    }

    /// `-A` (`ip_vs_add_service`).
    pub fn add_service(&mut self, cfg: ServiceConfig) -> Result<(), Error> {
        if self.index.contains_key(&cfg.key) {
            return Err(Error::ServiceExists);
        }
        Self::check_service(&cfg)?;
        self.index.insert(cfg.key, self.services.len());
        self.services.push(Service {
            config: ServiceConfig {
                flags: cfg.flags & !svc_flags::HASHED,
                ..cfg
            },
            dests: Vec::new(),
            stats: Stats::default(),
            dest_changes: 0,
        });
        Ok(())
    }

    /// `-E`: replaces every setting (`ip_vs_edit_service`).
    pub fn edit_service(&mut self, cfg: ServiceConfig) -> Result<(), Error> {
        let i = *self.index.get(&cfg.key).ok_or(Error::NoSuchService)?;
        Self::check_service(&cfg)?;
        self.services[i].config = ServiceConfig {
            flags: cfg.flags & !svc_flags::HASHED,
            ..cfg
        };
        Ok(())
    }

    /// `-D`.
    pub fn del_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        let i = self.index.remove(key).ok_or(Error::NoSuchService)?;
        self.services.remove(i);
        self.reindex();
        Ok(())
    }

    /// `-C`: removes every service.
    pub fn flush(&mut self) {
        self.services.clear();
        self.index.clear();
    }

    /// `-Z`: zero one service and its dests, or everything.
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), Error> {
        let zero_svc = |s: &mut Service| {
            s.stats.zero();
            s.dests.iter_mut().for_each(|d| d.stats.zero());
        };
        match key {
            Some(k) => zero_svc(self.service_mut(k)?),
            None => {
                self.services.iter_mut().for_each(zero_svc);
                self.total.zero();
            }
        }
        Ok(())
    }

    fn sync_running(&self) -> bool {
        self.master.is_some() || self.backup.is_some()
    }

    fn check_dest_family(&self, svc: &Service, cfg: &DestConfig) -> Result<(), Error> {
        if Family::of(&cfg.addr) != svc.config.key.family() {
            if self.sync_running() {
                return Err(Error::MixedFamilySync);
            }
            if cfg.fwd != FwdMethod::Tunnel {
                return Err(Error::MixedFamily);
            }
        }
        Ok(())
    }

    fn check_dest_values(cfg: &DestConfig) -> Result<(), Error> {
        if cfg.weight < 0 {
            return Err(Error::WeightRange);
        }
        if cfg.l_threshold > cfg.u_threshold {
            return Err(Error::ThresholdRange);
        }
        if cfg.fwd == FwdMethod::Tunnel && cfg.tun_type == TunType::Gue && cfg.tun_port == 0 {
            return Err(Error::GuePortZero);
        }
        Ok(())
    }

    /// `-a` (`ip_vs_add_dest`): the new dest goes to the head of the list.
    pub fn add_dest(&mut self, key: &ServiceKey, cfg: DestConfig) -> Result<(), Error> {
        let i = *self.index.get(key).ok_or(Error::NoSuchService)?;
        self.check_dest_family(&self.services[i], &cfg)?;
        Self::check_dest_values(&cfg)?;
        if self.services[i].dest_index(&cfg.addr, cfg.port).is_some() {
            return Err(Error::DestExists);
        }
        if !is_unicast(&cfg.addr) {
            return Err(Error::DestNotUnicast);
        }
        self.services[i].dests.insert(0, Dest::new(cfg));
        self.services[i].dest_changes += 1;
        Ok(())
    }

    /// `-e` (`ip_vs_edit_dest`): replaces every setting, keeps counters and list position.
    pub fn edit_dest(&mut self, key: &ServiceKey, cfg: DestConfig) -> Result<(), Error> {
        let i = *self.index.get(key).ok_or(Error::NoSuchService)?;
        self.check_dest_family(&self.services[i], &cfg)?;
        Self::check_dest_values(&cfg)?;
        let svc = &mut self.services[i];
        let j = svc
            .dest_index(&cfg.addr, cfg.port)
            .ok_or(Error::NoSuchDest)?;
        let d = &mut svc.dests[j];
        // `__ip_vs_update_dest`: a raised or removed upper threshold clears OVERLOAD.
        if cfg.u_threshold == 0 || cfg.u_threshold > d.config.u_threshold {
            d.overload = false;
        }
        if cfg.weight > 0 {
            d.last_weight = cfg.weight;
        }
        d.config = cfg;
        svc.dest_changes += 1;
        Ok(())
    }

    /// `-d`.
    pub fn del_dest(&mut self, key: &ServiceKey, addr: &IpAddr, port: u16) -> Result<(), Error> {
        let svc = self.service_mut(key)?;
        let j = svc.dest_index(addr, port).ok_or(Error::NoSuchDest)?;
        svc.dests.remove(j);
        svc.dest_changes += 1;
        Ok(())
    }

    /// `--set tcp tcpfin udp`.
    pub fn set_timeouts(&mut self, tcp: u32, tcp_fin: u32, udp: u32) -> Result<(), Error> {
        self.timeouts.set(tcp, tcp_fin, udp)
    }

    fn has_mixed_family_dests(&self) -> bool {
        self.services.iter().any(|s| {
            let f = s.config.key.family();
            s.dests.iter().any(|d| d.family() != f)
        })
    }

    /// `--start-daemon`. `iface_mtu` is the MTU of `cfg.mcast_ifn`, `None` if there is no such
    /// interface; the kernel's defaults are filled in (group 224.0.0.81, port 8848, TTL 1, and
    /// a maxlen from the role and the MTU).
    pub fn start_daemon(
        &mut self,
        mut cfg: DaemonConfig,
        iface_mtu: Option<u32>,
    ) -> Result<(), Error> {
        if self.has_mixed_family_dests() {
            return Err(Error::MixedFamilySync);
        }
        let slot = match cfg.role {
            SyncRole::Master => &self.master,
            SyncRole::Backup => &self.backup,
        };
        if slot.is_some() {
            return Err(Error::DaemonRunning);
        }
        let mtu = iface_mtu.ok_or(Error::NoSuchDevice)?;
        let group = *cfg.mcast_group.get_or_insert(SYNC_GROUP_DEFAULT);
        let hlen: u32 = if group.is_ipv6() { 48 } else { 28 };
        let max = 65535 - hlen;
        cfg.sync_maxlen = if cfg.sync_maxlen == 0 {
            match cfg.role {
                SyncRole::Master => 1500 - hlen,
                SyncRole::Backup => mtu.clamp(1500, 65535) - hlen,
            }
        } else {
            let min = match cfg.role {
                SyncRole::Master => 1,
                SyncRole::Backup => 1024,
            };
            u32::from(cfg.sync_maxlen).clamp(min, max)
        } as u16;
        if cfg.mcast_port == 0 {
            cfg.mcast_port = SYNC_PORT_DEFAULT;
        }
        if cfg.mcast_ttl == 0 {
            cfg.mcast_ttl = 1;
        }
        let d = Some(SyncDaemon { config: cfg });
        match d.as_ref().map(|d| d.config.role) {
            Some(SyncRole::Master) => self.master = d,
            _ => self.backup = d,
        }
        Ok(())
    }

    /// `--stop-daemon`.
    pub fn stop_daemon(&mut self, role: SyncRole) -> Result<(), Error> {
        let slot = match role {
            SyncRole::Master => &mut self.master,
            SyncRole::Backup => &mut self.backup,
        };
        slot.take().map(|_| ()).ok_or(Error::DaemonNotRunning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    fn vip(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.240".parse().unwrap(),
            port,
        }
    }

    fn svc(key: ServiceKey, sched: &str) -> ServiceConfig {
        ServiceConfig {
            key,
            scheduler: sched.into(),
            flags: 0,
            timeout: 0,
            netmask: u32::MAX,
            pe: String::new(),
        }
    }

    fn dest(addr: &str, weight: i32) -> DestConfig {
        DestConfig {
            addr: addr.parse().unwrap(),
            port: 8130,
            fwd: FwdMethod::Route,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_csum: Default::default(),
        }
    }

    fn seeded() -> Table {
        let mut t = Table::new();
        t.add_service(svc(vip(8130), "wlc")).unwrap();
        for a in ["10.0.0.241", "10.0.0.242", "10.0.0.243"] {
            t.add_dest(&vip(8130), dest(a, 3)).unwrap();
        }
        t
    }

    #[test]
    fn dests_are_newest_first() {
        let t = seeded();
        let order: Vec<String> = t
            .service(&vip(8130))
            .unwrap()
            .dests
            .iter()
            .map(|d| d.config.addr.to_string())
            .collect();
        assert_eq!(order, ["10.0.0.243", "10.0.0.242", "10.0.0.241"]);
    }

    #[test]
    fn service_errors_carry_kernel_errno() {
        let mut t = seeded();
        assert_eq!(
            t.add_service(svc(vip(8130), "wlc")).unwrap_err().errno(),
            crate::Errno::EEXIST
        );
        assert_eq!(
            t.add_service(svc(vip(1), "bogus")).unwrap_err().errno(),
            crate::Errno::ENOENT
        );
        assert_eq!(
            t.edit_service(svc(vip(2), "rr")).unwrap_err().errno(),
            crate::Errno::ESRCH
        );
        assert_eq!(
            t.del_service(&vip(2)).unwrap_err().errno(),
            crate::Errno::ESRCH
        );
        let mut v6 = svc(
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "2001:db8::1".parse().unwrap(),
                port: 80,
            },
            "rr",
        );
        v6.netmask = 129;
        assert_eq!(t.add_service(v6).unwrap_err().errno(), crate::Errno::EINVAL);
    }

    #[test]
    fn failed_operations_change_nothing() {
        let mut t = seeded();
        let before = t.clone();
        assert!(t.add_dest(&vip(8130), dest("10.0.0.241", 1)).is_err());
        assert!(t.add_dest(&vip(8130), dest("224.0.0.1", 1)).is_err());
        let mut bad = dest("10.0.0.9", 1);
        bad.l_threshold = 5;
        assert_eq!(
            t.add_dest(&vip(8130), bad).unwrap_err(),
            Error::ThresholdRange
        );
        assert!(t.edit_dest(&vip(8130), dest("10.0.0.9", 1)).is_err());
        assert!(t.set_timeouts(1, 1, u32::MAX).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn mixed_family_only_for_tunnels() {
        let mut t = seeded();
        let mut d = dest("2001:db8::5", 1);
        assert_eq!(
            t.add_dest(&vip(8130), d.clone()).unwrap_err(),
            Error::MixedFamily
        );
        d.fwd = FwdMethod::Tunnel;
        t.add_dest(&vip(8130), d).unwrap();
        let cfg = DaemonConfig {
            role: SyncRole::Master,
            mcast_ifn: "eth0".into(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        };
        assert_eq!(
            t.start_daemon(cfg, Some(1500)).unwrap_err(),
            Error::MixedFamilySync
        );
    }

    /// `ip_vs_new_dest`: an IPv6 dest must be `IPV6_ADDR_UNICAST` and not link-local by
    /// `ipv6_addr_type`; a v4-mapped address (`::ffff:0:0/96`) is `IPV6_ADDR_MAPPED` only,
    /// so it is refused (EINVAL) in an IPv6 service and as a tunnel dest of an IPv4 one.
    /// `::1` and v4-compatible addresses (`::a.b.c.d`) are unicast.
    #[test]
    fn ipv6_dest_address_types() {
        let v6 = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 8130,
        };
        let mut t = seeded();
        t.add_service(ServiceConfig {
            netmask: 128,
            ..svc(v6, "wlc")
        })
        .unwrap();
        let before = t.clone();
        for bad in [
            "::ffff:10.0.0.2",
            "::ffff:0.0.0.0",
            "::",
            "ff02::1",
            "fe80::1",
        ] {
            let e = t.add_dest(&v6, dest(bad, 1)).unwrap_err();
            assert_eq!(
                (e.errno(), e),
                (crate::Errno::EINVAL, Error::DestNotUnicast),
                "{bad}"
            );
        }
        let mut tun = dest("::ffff:10.0.0.2", 1);
        tun.fwd = FwdMethod::Tunnel;
        assert_eq!(
            t.add_dest(&vip(8130), tun).unwrap_err(),
            Error::DestNotUnicast
        );
        assert_eq!(t, before);
        for good in [
            "::1",
            "::10.0.0.2",
            "::ffff:0:a00:2",
            "fec0::1",
            "fd00::2",
            "2001:db8::2",
        ] {
            t.add_dest(&v6, dest(good, 1)).unwrap();
        }
    }

    #[test]
    fn daemon_defaults_filled_in() {
        let mut t = Table::new();
        let mut cfg = DaemonConfig {
            role: SyncRole::Master,
            mcast_ifn: "eth0".into(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        };
        assert_eq!(
            t.start_daemon(cfg.clone(), None).unwrap_err(),
            Error::NoSuchDevice
        );
        t.start_daemon(cfg.clone(), Some(9000)).unwrap();
        let m = &t.master.as_ref().unwrap().config;
        assert_eq!((m.sync_maxlen, m.mcast_port, m.mcast_ttl), (1472, 8848, 1));
        assert_eq!(
            t.start_daemon(cfg.clone(), Some(1500)).unwrap_err(),
            Error::DaemonRunning
        );
        cfg.role = SyncRole::Backup;
        t.start_daemon(cfg, Some(65536)).unwrap();
        assert_eq!(t.backup.as_ref().unwrap().config.sync_maxlen, 65507);
        t.stop_daemon(SyncRole::Master).unwrap();
        assert_eq!(
            t.stop_daemon(SyncRole::Master).unwrap_err(),
            Error::DaemonNotRunning
        );
    }

    /// Spec 8: OVERLOAD sets at total >= u, clears below l, or below 3/4 of u without l.
    #[test]
    fn overload_thresholds() {
        let mut d = Dest::new(DestConfig {
            u_threshold: 4,
            ..dest("10.0.0.1", 1)
        });
        for _ in 0..3 {
            d.bind_conn();
        }
        assert!(!d.overload);
        d.bind_conn();
        assert!(d.overload);
        d.unbind_conn(false); // 3 left: 12 < 12 is false
        assert!(d.overload);
        d.unbind_conn(false); // 2 left: 8 < 12
        assert!(!d.overload);

        let mut d = Dest::new(DestConfig {
            u_threshold: 10,
            l_threshold: 5,
            ..dest("10.0.0.1", 1)
        });
        for _ in 0..10 {
            d.bind_conn();
        }
        assert!(d.overload);
        for _ in 0..5 {
            d.unbind_conn(false);
        }
        assert!(d.overload, "5 is not below 5");
        d.unbind_conn(false);
        assert!(!d.overload);
    }

    #[test]
    fn edit_dest_keeps_position_and_last_weight() {
        let mut t = seeded();
        t.edit_dest(&vip(8130), dest("10.0.0.242", 0)).unwrap();
        let s = t.service(&vip(8130)).unwrap();
        assert_eq!(s.dests[1].config.weight, 0);
        assert_eq!(s.dests[1].last_weight, 3);
    }

    #[test]
    fn serde_roundtrip_keeps_order_and_index() {
        let t = seeded();
        let json = serde_json::to_string(&t).unwrap();
        let mut back: Table = serde_json::from_str(&json).unwrap();
        back.reindex();
        assert_eq!(back, t);
        assert!(back.service(&vip(8130)).is_some());
    }
}
