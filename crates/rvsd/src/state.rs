// SPDX-License-Identifier: MIT OR Apache-2.0
//! Applying requests to the table.
//!
//! One mutex guards the table, its store and the packet path, so concurrent clients are
//! serialised: each change is validated by `rvs-model`, applied, saved, and written into the
//! packet path's maps before the next one starts. If the save fails the table is put back as
//! it was and the client is told; memory and disk never disagree. Listings first bring the
//! packet path's counters into the table.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::{Mutex, MutexGuard};

use rvs_common::maps::name;
use rvs_ctl::packed::{ConnRef, PackedConns};
use rvs_ctl::{DestView, ErrorReply, Info, Request, Response, ServiceView, StatusView};
use rvs_dataplane::director::{Director, SweepPlan};
use rvs_dataplane::neigh::Neigh;
use rvs_model::marks::{self, MarkError};
use rvs_model::{DestConfig, Errno, Service, ServiceConfig, ServiceKey, Table};

use crate::packet::{PACKET_PATH, Packet};
use crate::persist::Store;
use crate::warn;

/// How long rvsd waits for the kernel to resolve the MAC addresses of new dests before it
/// answers the change anyway (their packets are then dropped until the answer comes, and the
/// clients retransmit). ARP and neighbour discovery answer in well under a millisecond on a
/// LAN; the kernel retries a lost request after a second.
pub const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);
/// Expired entries removed per hold of the lock while sweeping (a few milliseconds).
const SWEEP_SLICE: usize = 512;

/// At most this many new dest addresses are resolved before a change is answered.
pub const RESOLVE_MAX: usize = 256;

struct Inner {
    table: Table,
    /// `None` for an in-memory state (tests, tools): nothing is saved.
    store: Option<Store>,
    packet: Option<Packet>,
}

impl Inner {
    /// Writes the table into the packet path; a failure is logged (the configuration stands,
    /// and the next change or housekeeping round tries again).
    fn push(&mut self) {
        if let Some(p) = &mut self.packet {
            if let Err(e) = p.director.apply(&self.table, p.expire_nodest_conn) {
                warn(format_args!("packet path update failed: {e}"));
            }
            p.save_ids();
        }
    }

    /// Brings counters from the packet path into the table.
    fn pull(&mut self) {
        if let Some(p) = &mut self.packet
            && let Err(e) = p.director.refresh(&mut self.table)
        {
            warn(format_args!("reading packet path counters failed: {e}"));
        }
    }
}

/// The daemon's shared state.
pub struct State {
    inner: Mutex<Inner>,
    conn_tab_size: u32,
    down: std::sync::atomic::AtomicBool,
    /// The configuration file and its checkers, when rvsd has them.
    health: std::sync::OnceLock<std::sync::Arc<crate::health::Health>>,
    /// The sweep's figures (for metrics).
    sweep_stats: Mutex<crate::metrics::SweepStats>,
    /// The sync daemons' shared part.
    pub(crate) sync: crate::sync::Sync,
}

/// What a configuration file wants of one service: these settings and exactly these dests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    /// The service.
    pub service: ServiceConfig,
    /// Its dests.
    pub dests: Vec<DestConfig>,
}

/// How changes name a service (as ipvsadm lists it).
pub fn service_text(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let p = protocol.name().to_uppercase();
            match addr {
                IpAddr::V4(a) => format!("{p} {a}:{port}"),
                IpAddr::V6(a) => format!("{p} [{a}]:{port}"),
            }
        }
        ServiceKey::Fwmark { mark, ipv6 } => {
            format!("FWM {mark}{}", if *ipv6 { " IPv6" } else { "" })
        }
    }
}

fn dest_text(d: &DestConfig) -> String {
    let a = match d.addr {
        IpAddr::V4(a) => format!("{a}:{}", d.port),
        IpAddr::V6(a) => format!("[{a}]:{}", d.port),
    };
    let m = match d.fwd {
        rvs_model::FwdMethod::Masq => "Masq",
        rvs_model::FwdMethod::Local => "Local",
        rvs_model::FwdMethod::Tunnel => "Tunnel",
        rvs_model::FwdMethod::Route => "Route",
    };
    format!("{a} {m} weight {}", d.weight)
}

/// The changes that make `t` hold `want` and lose `drop`, each with a line saying it.
fn diff(t: &Table, want: &[Want], drop: &[ServiceKey]) -> Vec<(Request, String)> {
    let mut out = Vec::new();
    for k in drop {
        if t.service(k).is_some() {
            out.push((
                Request::DelService(*k),
                format!("remove service {}", service_text(k)),
            ));
        }
    }
    for w in want {
        let key = w.service.key;
        let name = service_text(&key);
        let have = t.service(&key);
        match have {
            None => out.push((
                Request::AddService(w.service.clone()),
                format!("add service {name} scheduler {}", w.service.scheduler),
            )),
            Some(s) if s.config != w.service => out.push((
                Request::EditService(w.service.clone()),
                format!("edit service {name} scheduler {}", w.service.scheduler),
            )),
            Some(_) => {}
        }
        let current: &[rvs_model::Dest] = have.map_or(&[], |s| &s.dests);
        for d in current {
            if !w
                .dests
                .iter()
                .any(|x| x.addr == d.config.addr && x.port == d.config.port)
            {
                out.push((
                    Request::DelDest {
                        service: key,
                        addr: d.config.addr,
                        port: d.config.port,
                    },
                    format!("remove dest {name} -> {}", dest_text(&d.config)),
                ));
            }
        }
        // Added in reverse, so that the list reads as the file does (each goes first).
        for d in w.dests.iter().rev() {
            match current
                .iter()
                .find(|x| x.config.addr == d.addr && x.config.port == d.port)
            {
                None => out.push((
                    Request::AddDest {
                        service: key,
                        dest: d.clone(),
                    },
                    format!("add dest {name} -> {}", dest_text(d)),
                )),
                Some(x) if x.config != *d => out.push((
                    Request::EditDest {
                        service: key,
                        dest: d.clone(),
                    },
                    format!(
                        "edit dest {name} -> {} (was {})",
                        dest_text(d),
                        dest_text(&x.config)
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    out
}

fn error(errno: Errno, message: impl Into<String>) -> Response {
    Response::Error(ErrorReply {
        errno: errno.0,
        message: message.into(),
    })
}

/// The MTU of an interface in this network namespace, `None` if there is no such interface.
fn iface_mtu(name: &str) -> Option<u32> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Entries in each part of a connection listing (about 3 MB on the wire).
pub const CONNS_PART: usize = 65_536;

/// How `-Lc` shows a connection entry.
fn conn_ref(c: &rvs_dataplane::director::ConnEntry) -> ConnRef<'static> {
    ConnRef {
        protocol: c.protocol,
        caddr: c.caddr,
        cport: c.cport,
        vaddr: c.vaddr,
        vport: c.vport,
        daddr: c.daddr,
        dport: c.dport,
        // Templates have their own states (NONE, ASSURED), whatever the protocol.
        state: if c.template {
            if c.state == rvs_common::maps::TEMPLATE_ASSURED {
                "ASSURED"
            } else {
                "NONE"
            }
        } else if c.protocol == rvs_common::proto::TCP {
            rvs_common::tcp::State::from_u8(c.state).map_or("NONE", rvs_common::tcp::State::name)
        } else {
            "UDP"
        },
        expires: c.expires,
        pe_name: "",
        pe_data: "",
    }
}

fn service_view(s: &Service) -> ServiceView {
    ServiceView {
        config: s.config.clone(),
        stats: s.stats.shown(),
        rates: s.stats.est.rates(),
        dests: s
            .dests
            .iter()
            .map(|d| DestView {
                config: d.config.clone(),
                active_conns: d.active_conns,
                inact_conns: d.inact_conns,
                persist_conns: d.persist_conns,
                overload: d.overload,
                stats: d.stats.shown(),
                rates: d.stats.est.rates(),
            })
            .collect(),
    }
}

impl State {
    /// Wraps a loaded table and its store. The dests' MAC addresses are looked up first
    /// (waiting a moment for those the kernel must resolve), so that the first write into
    /// the packet path already has them.
    pub fn new(table: Table, store: Store, conn_tab_size: u32, packet: Option<Packet>) -> State {
        let mut inner = Inner {
            table,
            store: Some(store),
            packet,
        };
        if let Some(p) = &mut inner.packet {
            let addrs = Director::dest_addrs(&inner.table);
            p.director
                .set_neighbours(Director::resolve_waiting(&addrs, RESOLVE_WAIT));
        }
        inner.push();
        let events = inner
            .packet
            .as_mut()
            .and_then(|p| p.director.dataplane().take_sync_events());
        State {
            sync: crate::sync::Sync::new(events),
            inner: Mutex::new(inner),
            conn_tab_size,
            down: std::sync::atomic::AtomicBool::new(false),
            health: std::sync::OnceLock::new(),
            sweep_stats: Mutex::new(crate::metrics::SweepStats::default()),
        }
    }

    /// The dests a service has now (`None`: no such service).
    pub fn dests_of(&self, key: &ServiceKey) -> Option<Vec<DestConfig>> {
        self.lock()
            .table
            .service(key)
            .map(|s| s.dests.iter().map(|d| d.config.clone()).collect())
    }

    /// The sweep's figures so far.
    pub fn sweep_stats(&self) -> crate::metrics::SweepStats {
        *self.sweep_stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every pass/drop reason's count (zeros included; none without a packet path).
    pub fn reasons(&self) -> Vec<u64> {
        match &mut self.lock().packet {
            Some(p) => p.director.dataplane().reasons().unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The configuration file's keeper, if set.
    pub fn health(&self) -> Option<&std::sync::Arc<crate::health::Health>> {
        self.health.get()
    }

    /// Gives the state its configuration file's keeper (once, at start).
    pub fn set_health(&self, h: std::sync::Arc<crate::health::Health>) {
        let _ = self.health.set(h);
    }

    /// Makes the services of `want` hold exactly their settings and dests and removes the
    /// services of `drop`: every change or none (the table is put back if one is refused),
    /// saved once. With `dry_run` nothing changes. Answers one line per change.
    pub fn reconcile(
        &self,
        want: &[Want],
        drop: &[ServiceKey],
        dry_run: bool,
    ) -> Result<Vec<String>, String> {
        let planned = diff(&self.lock().table, want, drop);
        if dry_run {
            // Checked on a copy: what would be refused is refused now.
            let mut t = self.lock().table.clone();
            for (r, line) in planned.iter().cloned() {
                if let Response::Error(e) = apply(&mut t, r) {
                    return Err(format!("{line}: {}", e.message));
                }
            }
            return Ok(planned.into_iter().map(|(_, l)| l).collect());
        }
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        let resolved = self.resolve_new_dests(&Request::Batch(
            planned.iter().map(|(r, _)| r.clone()).collect(),
        ));
        let mut inner = self.lock();
        if let Some(p) = &mut inner.packet {
            p.director.set_neighbours(resolved);
        }
        // Again under the lock: the table may have changed meanwhile.
        let planned = diff(&inner.table, want, drop);
        let before = inner.table.clone();
        for (r, line) in planned.iter().cloned() {
            if let Response::Error(e) = apply(&mut inner.table, r) {
                inner.table = before;
                return Err(format!("{line}: {}", e.message));
            }
        }
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(store) = &inner.store
            && let Err(e) = store.save(&inner.table)
        {
            inner.table = before;
            return Err(format!("could not save the configuration: {e}"));
        }
        inner.push();
        Ok(planned.into_iter().map(|(_, l)| l).collect())
    }

    /// A state that keeps the table in memory only (for tests and tools).
    pub fn in_memory(table: Table, conn_tab_size: u32) -> State {
        State {
            inner: Mutex::new(Inner {
                table,
                store: None,
                packet: None,
            }),
            conn_tab_size,
            down: std::sync::atomic::AtomicBool::new(false),
            health: std::sync::OnceLock::new(),
            sweep_stats: Mutex::new(crate::metrics::SweepStats::default()),
            sync: crate::sync::Sync::default(),
        }
    }

    /// Whether `rvs down` was served: the daemon must exit now.
    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether an XDP program is attached.
    pub fn has_packet_path(&self) -> bool {
        self.lock().packet.is_some()
    }

    /// Expires idle connections (housekeeping, every second). The walk of the table runs
    /// without the lock; the expiries then take it a slice at a time, so a change waits for
    /// one slice at most, never for a whole walk.
    pub fn sweep(&self) {
        let input = {
            let mut inner = self.lock();
            match &mut inner.packet {
                Some(p) => p.director.sweep_input(),
                None => return,
            }
        };
        let t0 = std::time::Instant::now();
        let r = input.and_then(|input| input.walk(rvs_dataplane::director::monotonic_ns()));
        let plan = match r {
            Ok(plan) => plan,
            Err(e) => {
                warn(format_args!("sweeping connections failed: {e}"));
                return;
            }
        };
        let slices = plan.expire.chunks(SWEEP_SLICE).map(|c| SweepPlan {
            expire: c.to_vec(),
            keep_alive: Vec::new(),
        });
        let keep = std::iter::once(SweepPlan {
            expire: Vec::new(),
            keep_alive: plan.keep_alive.clone(),
        });
        for slice in keep.chain(slices) {
            let mut inner = self.lock();
            if let Some(p) = &mut inner.packet
                && let Err(e) = p.director.apply_sweep(&slice)
            {
                warn(format_args!("sweeping connections failed: {e}"));
                return;
            }
        }
        let mut st = self.sweep_stats.lock().unwrap_or_else(|p| p.into_inner());
        st.count += 1;
        st.last = t0.elapsed();
    }

    /// lblc/lblcr garbage collection (housekeeping, every minute).
    pub fn collect_local(&self) {
        let mut inner = self.lock();
        if let Some(p) = &mut inner.packet
            && let Err(e) = p.director.collect_local()
        {
            warn(format_args!("collecting lblc/lblcr entries failed: {e}"));
        }
    }

    /// The sync daemons the configuration asks for: (master, backup).
    pub fn sync_configs(
        &self,
    ) -> (
        Option<rvs_model::DaemonConfig>,
        Option<rvs_model::DaemonConfig>,
    ) {
        let inner = self.lock();
        (
            inner.table.master.as_ref().map(|d| d.config.clone()),
            inner.table.backup.as_ref().map(|d| d.config.clone()),
        )
    }

    /// The sync records of connections the program reported (those whose service or dest is
    /// gone are left out).
    pub fn sync_records(
        &self,
        events: &[rvs_common::maps::SyncEvent],
    ) -> Vec<rvs_model::sync::SyncConn> {
        let inner = self.lock();
        match &inner.packet {
            Some(p) => p.director.sync_records(events),
            None => Vec::new(),
        }
    }

    /// Enters a sync message's records in the packet path (a backup's work).
    pub fn install_synced(
        &self,
        conns: &[rvs_model::sync::SyncConn],
    ) -> rvs_dataplane::sync::Installed {
        let mut inner = self.lock();
        let Inner { table, packet, .. } = &mut *inner;
        let Some(p) = packet else {
            return rvs_dataplane::sync::Installed {
                ignored: conns.len() as u64,
                ..Default::default()
            };
        };
        match p.director.install_synced(table, conns) {
            Ok(done) => done,
            Err(e) => {
                warn(format_args!("entering synced connections failed: {e}"));
                rvs_dataplane::sync::Installed {
                    ignored: conns.len() as u64,
                    ..Default::default()
                }
            }
        }
    }

    /// Whether any of the kernel's announcements can change a dest's MAC address (see
    /// `Director::neighbour_event_matters`).
    pub fn neighbour_events_matter(&self, events: &[rvs_dataplane::neigh::Event]) -> bool {
        let inner = self.lock();
        let Some(p) = &inner.packet else {
            return false;
        };
        let dests = Director::dest_addrs(&inner.table);
        events
            .iter()
            .any(|e| p.director.neighbour_event_matters(&dests, e))
    }

    /// Whether every dest's MAC address is known (else rvsd looks again every second).
    pub fn neighbours_settled(&self) -> bool {
        let inner = self.lock();
        match &inner.packet {
            Some(p) => p
                .director
                .unresolved(&Director::dest_addrs(&inner.table))
                .is_empty(),
            None => true,
        }
    }

    /// Asks the kernel to resolve the next hops the program met without a neighbour entry:
    /// NAT replies' next hops (the program reads those from the kernel's neighbour table),
    /// and dests being resolved that had packets (picked up by the next round).
    pub fn ask_needed_neighbours(&self) {
        let needed = {
            let mut inner = self.lock();
            match &mut inner.packet {
                Some(p) => p.director.needed_neighbours().unwrap_or_default(),
                None => Default::default(),
            }
        };
        if !needed.is_empty() {
            Director::resolve(&needed);
        }
    }

    /// One round of dest MAC resolution; the slow part runs without the lock.
    pub fn follow_neighbours(&self) {
        let addrs = {
            let inner = self.lock();
            if inner.packet.is_none() {
                return;
            }
            Director::dest_addrs(&inner.table)
        };
        let found = Director::resolve(&addrs);
        self.ask_needed_neighbours();
        let mut inner = self.lock();
        let changed = match &mut inner.packet {
            Some(p) => p.director.set_neighbours(found),
            None => false,
        };
        if changed {
            inner.push();
        }
    }

    /// Reads counters and steps every rate estimator (every two seconds).
    pub fn estimate(&self) {
        let mut inner = self.lock();
        inner.pull();
        let t = &mut inner.table;
        let raw = t.total.raw;
        t.total.est.tick(&raw);
        for s in t.services_mut() {
            let raw = s.stats.raw;
            s.stats.est.tick(&raw);
            for d in &mut s.dests {
                let raw = d.stats.raw;
                d.stats.est.tick(&raw);
            }
        }
    }

    /// `-Lnc`: the table is walked without the lock, each entry packed as it is read and
    /// handed to `send` a part at a time ([`CONNS_PART`] entries in each
    /// [`Response::ConnsPart`], the rest in the closing [`Response::Conns`]), so that the
    /// client decodes one part while the next is read. Stops early, and answers false, when
    /// `send` does (the peer is gone).
    pub fn list_conns(&self, send: &mut dyn FnMut(Response) -> bool) -> bool {
        let taken = {
            let mut inner = self.lock();
            inner.packet.as_mut().map(|p| {
                p.director
                    .dataplane()
                    .conn_reader()
                    .map(|r| (r, p.director.dest_addrs_by_id()))
            })
        };
        let mut part = PackedConns::with_capacity(CONNS_PART);
        let mut gone = false;
        let walked = match taken {
            None => Ok(()),
            Some(taken) => taken.and_then(|(reader, dests)| {
                let now = rvs_dataplane::director::monotonic_ns();
                reader
                    .for_each(|keys, vals| {
                        for (k, v) in keys.iter().zip(vals) {
                            if let Some(c) =
                                rvs_dataplane::director::live_conn_entry(k, v, &dests, now)
                            {
                                part.push(conn_ref(&c));
                            }
                        }
                        if part.len() >= CONNS_PART {
                            let full = std::mem::replace(
                                &mut part,
                                PackedConns::with_capacity(CONNS_PART),
                            );
                            gone = !send(Response::ConnsPart(full));
                        }
                        if gone {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    })
                    .map_err(|e| rvs_dataplane::Error::Read(name::CONNS, e))
            }),
        };
        if gone {
            return false;
        }
        if let Err(e) = walked {
            // The listing ends with the error rather than looking whole (the parts already
            // sent have been shown).
            warn(format_args!("reading connections failed: {e}"));
            return send(error(
                Errno::EIO,
                format!("reading the connection table: {e}"),
            ));
        }
        send(Response::Conns(part))
    }

    /// Runs `f` on the table under the lock, for counter updates that do not change the
    /// configuration (nothing is saved).
    pub fn with_table<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        f(&mut self.lock().table)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the table half-changed: operations
        // validate before they mutate. So a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until no change is in progress and keeps it that way (for shutdown).
    pub fn quiesce(&self) -> impl Drop + '_ {
        self.lock()
    }

    /// The MAC addresses of the dests a change adds or edits that the packet path does not
    /// know yet, resolved before the change is applied (without the lock; at most
    /// [`RESOLVE_WAIT`] for all of them together, and for at most [`RESOLVE_MAX`] addresses:
    /// housekeeping does the rest). IPVS has the kernel resolve a dest's MAC with the first
    /// packet; here the program cannot, so rvsd does it before answering, and a client that
    /// connects right after `rvsadm -a` is served.
    fn resolve_new_dests(&self, req: &Request) -> std::collections::HashMap<IpAddr, Neigh> {
        let mut addrs = std::collections::HashSet::new();
        let one = |r: &Request, addrs: &mut std::collections::HashSet<IpAddr>| {
            if let Request::AddDest { dest, .. } | Request::EditDest { dest, .. } = r {
                addrs.insert(dest.addr);
            }
        };
        match req {
            Request::Batch(reqs) => reqs.iter().for_each(|r| one(r, &mut addrs)),
            r => one(r, &mut addrs),
        }
        if addrs.is_empty() {
            return Default::default();
        }
        let unknown: std::collections::HashSet<IpAddr> = {
            let inner = self.lock();
            match &inner.packet {
                Some(p) => p
                    .director
                    .unresolved(&addrs)
                    .into_iter()
                    .take(RESOLVE_MAX)
                    .collect(),
                None => return Default::default(),
            }
        };
        if unknown.is_empty() {
            return Default::default();
        }
        Director::resolve_waiting(&unknown, RESOLVE_WAIT)
    }

    /// `rvs trace`: runs the loaded object, in a sandbox filled from the live maps, on the
    /// packet `q` describes (see `rvs_dataplane::trace` for why nothing live changes). The
    /// table's lock is held only while the sandbox is filled.
    fn trace(&self, q: &rvs_ctl::TraceQuery) -> Result<rvs_ctl::TraceView, String> {
        use crate::trace;
        let flow = trace::flow_of(q)?;
        let (object, iface) = {
            let inner = self.lock();
            let Some(p) = &inner.packet else {
                return Err(format!("no packet path to trace: {PACKET_PATH}"));
            };
            let attached: Vec<&str> = p.attached.iter().map(|(i, _)| i.as_str()).collect();
            let iface = match &q.iface {
                Some(i) if attached.contains(&i.as_str()) => i.clone(),
                Some(i) => {
                    return Err(format!(
                        "the program is not attached to {i} (it is to {})",
                        attached.join(", ")
                    ));
                }
                None => attached
                    .first()
                    .ok_or("the program is attached to no interface")?
                    .to_string(),
            };
            (p.object.clone(), iface)
        };
        let (ifindex, mac) = trace::iface_info(&iface)?;
        let frame = flow.frame(mac, trace::CLIENT_MAC)?;
        let mut sandbox = rvs_dataplane::trace::Sandbox::load(&object)
            .map_err(|e| format!("loading the program's sandbox: {e}"))?;
        let (before, known) = {
            let mut inner = self.lock();
            inner.pull();
            let Inner { table, packet, .. } = &mut *inner;
            let p = packet.as_mut().ok_or("the packet path went away")?;
            let before = sandbox
                .copy_from(p.director.dataplane(), &flow)
                .map_err(|e| format!("reading the packet path: {e}"))?;
            let known = trace::Known {
                services: table.services().to_vec(),
                svc_keys: p.director.service_keys(),
                dest_addrs: p.director.dest_addrs_by_id(),
                dest_svcs: p.director.dest_services(),
                dest_ifindex: p.director.dest_ifindexes(),
            };
            (before, known)
        };
        let run = sandbox
            .run(&frame, ifindex)
            .map_err(|e| format!("running the program: {e}"))?;
        Ok(trace::explain(&flow, &iface, &frame, &before, &run, &known))
    }

    fn info(&self) -> Info {
        Info {
            ipvs_version: [1, 2, 1],
            conn_tab_size: self.conn_tab_size,
            rvsd_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Answers one request from a peer with user id `uid`.
    pub fn handle(&self, req: Request, uid: u32) -> Response {
        if req.needs_root() && uid != 0 {
            return error(
                Errno::EPERM,
                if req.is_change() {
                    "configuration changes need root"
                } else {
                    "tracing needs root"
                },
            );
        }
        if let Request::Batch(reqs) = &req
            && reqs.iter().any(|r| {
                !r.is_change() || matches!(r, Request::Batch(_) | Request::LoadConfig { .. })
            })
        {
            return error(Errno::EINVAL, "a batch may only hold single changes");
        }
        if matches!(req, Request::ListConns) {
            let mut all = PackedConns::default();
            self.list_conns(&mut |r| {
                if let Response::Conns(p) | Response::ConnsPart(p) = r {
                    all.append(p);
                }
                true
            });
            return Response::Conns(all);
        }
        if let Request::LoadConfig { path, dry_run } = &req {
            let Some(h) = self.health.get() else {
                return error(Errno::EINVAL, "this rvsd does not read configuration files");
            };
            return match h.load(self, path.as_deref(), *dry_run) {
                Ok(plan) => Response::Plan(plan),
                Err(e) => error(Errno::EINVAL, e),
            };
        }
        if let Request::Trace(q) = &req {
            return match self.trace(q) {
                Ok(v) => Response::Trace(Box::new(v)),
                Err(e) => error(Errno::EINVAL, e),
            };
        }
        // Taken before the table's lock (the checkers' keeper takes them in that order).
        let (config_view, health_view) = match (&req, self.health.get()) {
            (Request::Status, Some(h)) => (h.config_view(), h.view()),
            _ => (None, Vec::new()),
        };
        let resolved = self.resolve_new_dests(&req);
        let mut inner = self.lock();
        if !req.is_change() {
            inner.pull();
        }
        if let Some(p) = &mut inner.packet {
            p.director.set_neighbours(resolved);
        }
        match req {
            Request::Info => Response::Info(self.info()),
            Request::ListServices => {
                Response::Services(inner.table.services().iter().map(service_view).collect())
            }
            Request::GetService(key) => match inner.table.service(&key) {
                Some(s) => Response::Service(service_view(s)),
                None => error(Errno::ESRCH, "no such service"),
            },
            Request::ListConns => unreachable!("answered above, without the lock"),
            Request::LoadConfig { .. } => unreachable!("answered above, without the lock"),
            Request::Trace(_) => unreachable!("answered above"),
            Request::ListMarks => Response::Marks(inner.table.marks.clone()),
            Request::Down => {
                // Unpin links and maps: once this process exits nothing holds them, so the
                // program is detached and everything is freed. The configuration stays.
                if let Some(p) = &inner.packet
                    && let Err(e) = rvs_dataplane::remove_pins(&p.pin_dir)
                {
                    return error(Errno::EIO, format!("removing {}: {e}", p.pin_dir.display()));
                }
                self.down.store(true, std::sync::atomic::Ordering::SeqCst);
                // Hold the lock until exit: no change may start now.
                std::mem::forget(inner);
                Response::Ok
            }
            Request::GetTimeouts => Response::Timeouts(inner.table.timeouts),
            Request::ListDaemons => Response::Daemons(daemons(&inner.table)),
            Request::Status => Response::Status(Box::new(StatusView {
                info: self.info(),
                packet_path: inner
                    .packet
                    .as_ref()
                    .map_or(PACKET_PATH.to_string(), Packet::describe),
                packet_notes: inner
                    .packet
                    .as_ref()
                    .map(|p| p.director.notes.clone())
                    .unwrap_or_default(),
                services: inner.table.services().iter().map(service_view).collect(),
                timeouts: inner.table.timeouts,
                daemons: daemons(&inner.table),
                total: inner.table.total.shown(),
                total_rates: inner.table.total.est.rates(),
                packet_counters: match &mut inner.packet {
                    Some(p) => p
                        .director
                        .dataplane()
                        .reasons()
                        .unwrap_or_default()
                        .into_iter()
                        .zip(rvs_common::reason::NAMES)
                        .filter(|(n, _)| *n != 0)
                        .map(|(n, name)| (name.to_string(), n))
                        .collect(),
                    None => Vec::new(),
                },
                config: config_view,
                health: health_view,
                sync: self.sync.stats.view(),
            })),
            change => {
                let before = inner.table.clone();
                let (resp, changed) = match change {
                    Request::Batch(reqs) => {
                        let mut changed = false;
                        let resps = reqs
                            .into_iter()
                            .map(|r| {
                                let resp = apply(&mut inner.table, r);
                                changed |= resp == Response::Ok;
                                resp
                            })
                            .collect();
                        (Response::Batch(resps), changed)
                    }
                    r => {
                        let resp = apply(&mut inner.table, r);
                        let ok = resp == Response::Ok;
                        (resp, ok)
                    }
                };
                let saved = match (&inner.store, changed) {
                    (Some(store), true) => store.save(&inner.table),
                    _ => Ok(()),
                };
                if let Err(e) = saved {
                    inner.table = before;
                    let errno = match e.raw_os_error() {
                        Some(n) => Errno(n),
                        None => Errno::EIO,
                    };
                    return error(errno, format!("could not save the configuration: {e}"));
                }
                if changed {
                    inner.push();
                    drop(inner);
                    self.sync.poke();
                }
                resp
            }
        }
    }
}

fn daemons(t: &Table) -> Vec<rvs_model::DaemonConfig> {
    [&t.master, &t.backup]
        .into_iter()
        .flatten()
        .map(|d| d.config.clone())
        .collect()
}

/// Applies one change to the table.
fn apply(t: &mut Table, req: Request) -> Response {
    let marked = match &req {
        Request::AddMark(rule) => Some(marks::add(&mut t.marks, rule.clone())),
        Request::DelMark { mark, rule } => Some(marks::delete(&mut t.marks, *mark, rule.as_ref())),
        _ => None,
    };
    if let Some(r) = marked {
        return match r {
            Ok(()) => Response::Ok,
            Err(e) => {
                let errno = match e {
                    MarkError::Exists => Errno::EEXIST,
                    MarkError::NotFound => Errno::ENOENT,
                    MarkError::Full => Errno::ENOSPC,
                    MarkError::ZeroMark | MarkError::Prefix | MarkError::Ports => Errno::EINVAL,
                };
                error(errno, e.to_string())
            }
        };
    }
    let r = match req {
        Request::AddService(c) => t.add_service(c),
        Request::EditService(c) => t.edit_service(c),
        Request::DelService(k) => t.del_service(&k),
        Request::Flush => {
            t.flush();
            Ok(())
        }
        Request::AddDest { service, dest } => t.add_dest(&service, dest),
        Request::EditDest { service, dest } => t.edit_dest(&service, dest),
        Request::DelDest {
            service,
            addr,
            port,
        } => t.del_dest(&service, &addr, port),
        Request::Zero(k) => t.zero(k.as_ref()),
        Request::SetTimeouts { tcp, tcp_fin, udp } => t.set_timeouts(tcp, tcp_fin, udp),
        Request::StartDaemon(c) => {
            let mtu = iface_mtu(&c.mcast_ifn);
            t.start_daemon(c, mtu)
        }
        Request::StopDaemon(role) => t.stop_daemon(role),
        other => return error(Errno::EINVAL, format!("not a change: {other:?}")),
    };
    match r {
        Ok(()) => Response::Ok,
        Err(e) => error(e.errno(), e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_query() -> Request {
        Request::Trace(rvs_ctl::TraceQuery {
            protocol: rvs_model::Protocol::Tcp,
            client: "10.0.0.10:40000".parse().unwrap(),
            vip: "10.0.0.240:80".parse().unwrap(),
            syn: true,
            iface: None,
        })
    }

    #[test]
    fn traces_need_root_and_a_packet_path() {
        let st = State::in_memory(Table::new(), 1024);
        match st.handle(trace_query(), 1000) {
            Response::Error(e) => {
                assert_eq!(e.errno, Errno::EPERM.0);
                assert_eq!(e.message, "tracing needs root");
            }
            other => panic!("{other:?}"),
        }
        match st.handle(trace_query(), 0) {
            Response::Error(e) => assert!(e.message.contains("no packet path"), "{}", e.message),
            other => panic!("{other:?}"),
        }
        // Not a change: a batch may not hold it.
        match st.handle(Request::Batch(vec![trace_query()]), 0) {
            Response::Error(e) => assert_eq!(e.errno, Errno::EINVAL.0),
            other => panic!("{other:?}"),
        }
    }
}
