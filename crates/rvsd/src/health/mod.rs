// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf's virtual servers, kept true: each checker runs in a thread of its own,
//! and every change of a real server's health, and every reload, is turned into the changes
//! of the table that make it match the file (changes only: a dest that stays as it is keeps
//! its connections, counters and checker state).
//!
//! keepalived's rules: a real server is up when all its checkers pass (one without checkers
//! always is), starting up unless `alpha`; a passing checker that fails is tried `retry`
//! more times, `delay_before_retry` apart, before its server goes down; one pass brings it
//! back. A down server is removed, or kept with weight 0 under `inhibit_on_failure`. When the
//! summed weight of live servers falls below `quorum` (minus `hysteresis`), or to 0, and
//! there is a `sorry_server`, the sorry server alone serves until the quorum (plus
//! `hysteresis`) is back.
//!
//! A checker is known by its real server, its kind and its place among that server's
//! checkers of that kind: a reload that changes its settings restarts it with the state it
//! had. After a restart of rvsd, checkers start as the saved table shows their servers (a
//! server that health had removed starts down), so a restart changes nothing by itself.
//!
//! Services the file defines are rvsd's to manage: changes made to them with rvsadm last
//! until their virtual server's next health change, or the next reload. Services it never
//! defined are left alone.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rvs_ctl::{CheckerView, ConfigPlan, ConfigView, RealServerHealth};
use rvs_keepalived::config::Script;
use rvs_keepalived::{Check, Checker, Config, RealServer, VirtualServer};
use rvs_model::{DestConfig, ServiceKey};
use serde::{Deserialize, Serialize};

use crate::state::{State, Want};
use crate::{log, warn};

pub mod probe;

/// How often changes that could not be applied are tried again.
const RETRY_APPLY: Duration = Duration::from_secs(5);

/// A real server of a virtual server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RsKey {
    /// The virtual server's [`VirtualServer::id`].
    vs: String,
    addr: IpAddr,
    port: u16,
}

/// A checker's identity: its real server, its kind, and its place among that server's
/// checkers of that kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CheckId {
    rs: RsKey,
    kind: &'static str,
    nth: usize,
}

#[derive(Clone, Debug)]
struct CheckState {
    up: bool,
    since: SystemTime,
    last_check: Option<SystemTime>,
    last_error: Option<String>,
    weight: Option<i32>,
    /// Attempts that passed and failed, and how long the last one took.
    passes: u64,
    failures: u64,
    last_took: Option<Duration>,
}

impl CheckState {
    fn new(up: bool) -> CheckState {
        CheckState {
            up,
            since: SystemTime::now(),
            last_check: None,
            last_error: None,
            weight: None,
            passes: 0,
            failures: 0,
            last_took: None,
        }
    }
}

struct Cell {
    stopped: Mutex<bool>,
    wake: Condvar,
    state: Mutex<CheckState>,
}

impl Cell {
    fn new(state: CheckState) -> Arc<Cell> {
        Arc::new(Cell {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, CheckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps `d`, or less if stopped meanwhile; whether to go on.
    fn pause(&self, d: Duration) -> bool {
        let g = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = self
            .wake
            .wait_timeout_while(g, d, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        !*g
    }
}

/// A checker with its thread (once started).
struct Running {
    checker: Checker,
    cell: Arc<Cell>,
}

type Checks = HashMap<CheckId, Running>;

struct Inner {
    /// `--config`.
    path: Option<PathBuf>,
    config: Option<Config>,
    applied_at: Option<SystemTime>,
    error: Option<String>,
    checks: Checks,
    /// Each real server's last state, for notify scripts and `since`.
    rs: HashMap<RsKey, (bool, SystemTime)>,
    /// Each virtual server's quorum state.
    quorum: HashMap<String, bool>,
    /// Services the file defines (saved: a restart knows what a reload may remove).
    owned: HashSet<ServiceKey>,
    /// Virtual servers whose health changes could not be applied yet.
    pending: HashSet<String>,
}

/// The configuration file, its checkers and what they found.
pub struct Health {
    inner: Mutex<Inner>,
    wake: Sender<String>,
    /// The state directory: the managed services and the last applied file are kept there.
    dir: PathBuf,
}

/// The last configuration applied, kept so that rvsd checks its servers even when the file
/// cannot be read at start.
#[derive(Serialize, Deserialize)]
struct Applied {
    file: String,
    config: Config,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn rs_key(vs: &VirtualServer, d: &DestConfig) -> RsKey {
    RsKey {
        vs: vs.id.clone(),
        addr: d.addr,
        port: d.port,
    }
}

/// Every checker of a virtual server with its identity and real server.
fn check_ids(vs: &VirtualServer) -> Vec<(CheckId, &Checker, &RealServer)> {
    let mut out = Vec::new();
    for rs in &vs.real_servers {
        for (i, c) in rs.checkers.iter().enumerate() {
            let kind = c.check.name();
            out.push((
                CheckId {
                    rs: rs_key(vs, &rs.dest),
                    kind,
                    nth: rs.checkers[..i]
                        .iter()
                        .filter(|o| o.check.name() == kind)
                        .count(),
                },
                c,
                rs,
            ));
        }
    }
    out
}

fn describe(c: &Checker) -> String {
    let t = &c.target;
    let at = std::net::SocketAddr::new(t.addr, t.port).to_string();
    match &c.check {
        Check::Http { urls, .. } => {
            let paths: Vec<&str> = urls.iter().map(|u| u.path.as_str()).collect();
            format!("{at} {}", paths.join(" "))
        }
        Check::Misc { argv, .. } => argv.join(" "),
        _ => at,
    }
}

/// What one virtual server's services should hold now.
struct Plan {
    dests: Vec<DestConfig>,
    quorum: bool,
    /// Real servers whose up/down state this plan changes: (key, up).
    rs_changes: Vec<(RsKey, bool)>,
}

/// The plan for `vs` given its checkers' states and what was applied last.
fn plan(
    checks: &Checks,
    rs_states: &HashMap<RsKey, (bool, SystemTime)>,
    quorum_states: &HashMap<String, bool>,
    vs: &VirtualServer,
) -> Plan {
    let mut states: HashMap<RsKey, (bool, Option<i32>)> = HashMap::new();
    for (id, _, rs) in check_ids(vs) {
        let (up, w) = match checks.get(&id) {
            Some(r) => {
                let s = r.cell.state();
                (s.up, s.weight)
            }
            None => (!rs.alpha, None),
        };
        let e = states.entry(id.rs).or_insert((true, None));
        e.0 &= up;
        if w.is_some() {
            e.1 = w;
        }
    }
    let mut dests = Vec::new();
    let mut live_weight: u64 = 0;
    let mut rs_changes = Vec::new();
    let mut live = Vec::new();
    for rs in &vs.real_servers {
        let key = rs_key(vs, &rs.dest);
        let (up, w) = states.get(&key).copied().unwrap_or((true, None));
        let weight = w.unwrap_or(rs.dest.weight);
        if rs_states.get(&key).map(|s| s.0) != Some(up) {
            rs_changes.push((key, up));
        }
        if up {
            live_weight += weight.max(0) as u64;
            live.push(DestConfig {
                weight,
                ..rs.dest.clone()
            });
        } else if rs.inhibit_on_failure {
            dests.push(DestConfig {
                weight: 0,
                ..rs.dest.clone()
            });
        }
    }
    let q = u64::from(vs.quorum);
    let h = u64::from(vs.hysteresis);
    // As keepalived: no live weight at all is no quorum, whatever `quorum` says.
    let quorum = live_weight > 0
        && match quorum_states.get(&vs.id) {
            None => live_weight >= q,
            Some(true) => live_weight + h >= q,
            Some(false) => live_weight >= q + h,
        };
    match (&vs.sorry_server, quorum) {
        (Some(s), false) => dests.push(s.clone()),
        (s, _) => {
            dests.extend(live);
            if let Some(s) = s.as_ref().filter(|_| vs.sorry_server_inhibit) {
                dests.push(DestConfig {
                    weight: 0,
                    ..s.clone()
                });
            }
        }
    }
    Plan {
        dests,
        quorum,
        rs_changes,
    }
}

/// The wants and plans of the virtual servers of `config` that `only` names (all: `None`).
fn wants(
    checks: &Checks,
    inner: &Inner,
    config: &Config,
    only: Option<&HashSet<String>>,
) -> (Vec<Want>, Vec<(usize, Plan)>) {
    let mut wants = Vec::new();
    let mut plans = Vec::new();
    for (i, vs) in config.virtual_servers.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&vs.id)) {
            continue;
        }
        let p = plan(checks, &inner.rs, &inner.quorum, vs);
        for s in &vs.services {
            wants.push(Want {
                service: s.clone(),
                dests: p.dests.clone(),
            });
        }
        plans.push((i, p));
    }
    (wants, plans)
}

fn notify(s: &Option<Script>) {
    if let Some(s) = s {
        probe::notify(&s.line, s.user.as_ref());
    }
}

impl Health {
    /// The health keeper of a daemon following `path` (`None`: no `--config`); what it
    /// manages is remembered in `state_dir`.
    pub fn new(path: Option<PathBuf>, state_dir: &Path) -> (Arc<Health>, Receiver<String>) {
        let (wake, rx) = channel();
        let owned = std::fs::read(state_dir.join("managed.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let h = Health {
            inner: Mutex::new(Inner {
                path: path.map(|p| std::path::absolute(&p).unwrap_or(p)),
                config: None,
                applied_at: None,
                error: None,
                checks: HashMap::new(),
                rs: HashMap::new(),
                quorum: HashMap::new(),
                owned,
                pending: HashSet::new(),
            }),
            wake,
            dir: state_dir.to_path_buf(),
        };
        (Arc::new(h), rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether rvsd follows a configuration file.
    pub fn has_config(&self) -> bool {
        self.lock().path.is_some()
    }

    fn save_owned(&self, owned: &HashSet<ServiceKey>) {
        let f = self.dir.join("managed.json");
        let bytes = serde_json::to_vec(owned).unwrap_or_default();
        if let Err(e) = crate::persist::write_atomically(&f, &bytes) {
            log(format_args!("saving {}: {e}", f.display()));
        }
    }

    /// At start: applies the `--config` file; if it cannot be read, the configuration
    /// applied last (saved in the state directory) is checked instead, and the error stays
    /// in `rvs status` until a reload succeeds.
    pub fn start(self: &Arc<Self>, state: &State) {
        let Err(e) = self.load(state, None, false) else {
            return;
        };
        log(format_args!("{e}"));
        let saved = std::fs::read(self.dir.join("applied-config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Applied>(&b).ok());
        let Some(saved) = saved else {
            log("no configuration was applied before: no health checks until a reload succeeds");
            return;
        };
        log(format_args!(
            "checking the real servers of the configuration applied last ({})",
            saved.file
        ));
        if let Err(e2) = self.apply(state, Path::new(&saved.file), saved.config, false) {
            log(format_args!("{e2}"));
        }
        self.lock().error = Some(e);
    }

    /// Applies the health changes of the virtual servers `ids` (the reconciler thread);
    /// false if they could not be applied (they are tried again).
    pub fn reconcile(&self, state: &State, ids: &HashSet<String>) -> bool {
        let mut inner = self.lock();
        let Some(config) = inner.config.clone() else {
            return true;
        };
        let mut ids = ids.clone();
        ids.extend(inner.pending.drain());
        let (wants, plans) = wants(&inner.checks, &inner, &config, Some(&ids));
        match state.reconcile(&wants, &[], false) {
            Ok(changes) => {
                for c in &changes {
                    log(format_args!("health: {c}"));
                }
                Self::settle(&mut inner, &config, &plans);
                true
            }
            Err(e) => {
                log(format_args!(
                    "health: applying failed, tried again in {} s: {e}",
                    RETRY_APPLY.as_secs()
                ));
                inner.pending = ids;
                false
            }
        }
    }

    /// Records what was applied and runs the notify scripts of the real servers and
    /// quorums that changed.
    fn settle(inner: &mut Inner, config: &Config, plans: &[(usize, Plan)]) {
        let now = SystemTime::now();
        for (i, plan) in plans {
            let vs = &config.virtual_servers[*i];
            for (key, up) in &plan.rs_changes {
                let first = !inner.rs.contains_key(key);
                inner.rs.insert(key.clone(), (*up, now));
                if first {
                    continue;
                }
                log(format_args!(
                    "real server {} of {} is {}",
                    std::net::SocketAddr::new(key.addr, key.port),
                    vs.id,
                    if *up { "up" } else { "down" }
                ));
                if let Some(rs) = vs.real_servers.iter().find(|r| rs_key(vs, &r.dest) == *key) {
                    notify(if *up { &rs.notify_up } else { &rs.notify_down });
                }
            }
            let was = inner.quorum.insert(vs.id.clone(), plan.quorum);
            if was.is_some_and(|w| w != plan.quorum) {
                log(format_args!(
                    "virtual server {}: quorum {}",
                    vs.id,
                    if plan.quorum { "regained" } else { "lost" }
                ));
                notify(if plan.quorum {
                    &vs.quorum_up
                } else {
                    &vs.quorum_down
                });
            }
        }
    }

    /// Reads `path` (`None`: the `--config` file) and applies it, or with `dry_run` says what
    /// applying it would change.
    pub fn load(
        self: &Arc<Self>,
        state: &State,
        path: Option<&Path>,
        dry_run: bool,
    ) -> Result<ConfigPlan, String> {
        let own = self.lock().path.clone();
        let same = |p: &Path, o: &Path| {
            p == o
                || matches!((std::fs::canonicalize(p), std::fs::canonicalize(o)), (Ok(a), Ok(b)) if a == b)
        };
        let file = match (path, &own) {
            (Some(p), Some(o)) if same(p, o) => o.clone(),
            (Some(p), _) if dry_run => p.to_path_buf(),
            (Some(p), _) => {
                return Err(format!(
                    "rvsd applies only its --config file{}; to apply {}, install it there and run `rvs reload` (or check it with --dry-run)",
                    own.as_ref()
                        .map(|o| format!(" ({})", o.display()))
                        .unwrap_or_default(),
                    p.display()
                ));
            }
            (None, Some(o)) => o.clone(),
            (None, None) => {
                return Err("rvsd runs without --config: there is no file to reload".into());
            }
        };
        // Read without the lock: a large file or slow include does not hold up status.
        let config = match rvs_keepalived::load(&file) {
            Ok(c) => c,
            Err(e) => {
                if !dry_run && own.as_deref() == Some(file.as_path()) {
                    self.lock().error = Some(e.to_string());
                    warn(format_args!("configuration not applied: {e}"));
                }
                return Err(e.to_string());
            }
        };
        self.apply(state, &file, config, dry_run)
    }

    /// Applies (or with `dry_run` plans) a configuration read from `file`.
    fn apply(
        self: &Arc<Self>,
        state: &State,
        file: &Path,
        config: Config,
        dry_run: bool,
    ) -> Result<ConfigPlan, String> {
        let mut inner = self.lock();
        let first = inner.config.is_none();
        // The checkers the file has: kept when unchanged; restarted with their state when
        // their settings changed; new ones start up (down with alpha), or, at rvsd's start,
        // as the saved table shows their servers.
        let mut changes = Vec::new();
        let mut next: Checks = HashMap::new();
        let mut fresh = Vec::new();
        for vs in &config.virtual_servers {
            let table = if first && vs.services.iter().all(|s| inner.owned.contains(&s.key)) {
                vs.services.first().and_then(|s| state.dests_of(&s.key))
            } else {
                None
            };
            for (id, c, rs) in check_ids(vs) {
                let at = std::net::SocketAddr::new(id.rs.addr, id.rs.port);
                match inner.checks.get(&id) {
                    Some(r) if r.checker == *c => {
                        next.insert(
                            id,
                            Running {
                                checker: c.clone(),
                                cell: Arc::clone(&r.cell),
                            },
                        );
                    }
                    old => {
                        let st = match (old, &table) {
                            (Some(r), _) => {
                                changes.push(format!(
                                    "restart checker {} {} of real server {at} ({}) with new settings",
                                    id.kind,
                                    describe(c),
                                    vs.id
                                ));
                                r.cell.state().clone()
                            }
                            (None, Some(dests)) => {
                                let d = dests
                                    .iter()
                                    .find(|d| d.addr == rs.dest.addr && d.port == rs.dest.port);
                                let up = match d {
                                    None => false,
                                    Some(d) => {
                                        !(d.weight == 0
                                            && rs.inhibit_on_failure
                                            && rs.dest.weight > 0)
                                    }
                                };
                                CheckState::new(up)
                            }
                            (None, None) => {
                                changes.push(format!(
                                    "start checker {} {} of real server {at} ({})",
                                    id.kind,
                                    describe(c),
                                    vs.id
                                ));
                                CheckState::new(!rs.alpha)
                            }
                        };
                        let cell = Cell::new(st);
                        fresh.push((id.clone(), Arc::clone(&cell)));
                        next.insert(
                            id,
                            Running {
                                checker: c.clone(),
                                cell,
                            },
                        );
                    }
                }
            }
        }
        for (id, r) in &inner.checks {
            if !next.contains_key(id) {
                changes.push(format!(
                    "stop checker {} {} of real server {} ({})",
                    id.kind,
                    describe(&r.checker),
                    std::net::SocketAddr::new(id.rs.addr, id.rs.port),
                    id.rs.vs
                ));
            }
        }
        let (wants, plans) = wants(&next, &inner, &config, None);
        let keys: HashSet<ServiceKey> = wants.iter().map(|w| w.service.key).collect();
        let gone: Vec<ServiceKey> = inner.owned.difference(&keys).copied().collect();
        if !dry_run {
            // Before the table changes: a crash in between leaves no service unrecorded.
            let union: HashSet<ServiceKey> = inner.owned.union(&keys).copied().collect();
            self.save_owned(&union);
        }
        let table = state.reconcile(&wants, &gone, dry_run).map_err(|e| {
            let e = format!("{}: not applied: {e}", file.display());
            if !dry_run {
                inner.error = Some(e.clone());
            }
            e
        })?;
        let mut all = table;
        all.extend(changes);
        let plan = ConfigPlan {
            file: file.display().to_string(),
            changes: all,
            notes: config.notes.clone(),
            dry_run,
        };
        if dry_run {
            return Ok(plan);
        }
        for c in &plan.changes {
            log(format_args!("config: {c}"));
        }
        for n in &plan.notes {
            log(format_args!("config: {n}"));
        }
        // Applied: stop what went, start what came.
        for (id, r) in &inner.checks {
            let kept = next.get(id).is_some_and(|n| Arc::ptr_eq(&n.cell, &r.cell));
            if !kept {
                r.cell.stop();
            }
        }
        for (id, cell) in fresh {
            let checker = next[&id].checker.clone();
            let wake = self.wake.clone();
            let vs = id.rs.vs.clone();
            let name = format!(
                "check {}",
                std::net::SocketAddr::new(id.rs.addr, id.rs.port)
            );
            let c = Arc::clone(&cell);
            if let Err(e) = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_checker(&checker, &c, &wake, &vs))
            {
                warn(format_args!("cannot start a checker thread: {e}"));
                cell.state().last_error = Some(format!("checker not running: {e}"));
            }
        }
        inner.checks = next;
        let live_rs: HashSet<RsKey> = config
            .virtual_servers
            .iter()
            .flat_map(|vs| vs.real_servers.iter().map(|r| rs_key(vs, &r.dest)))
            .collect();
        inner.rs.retain(|k, _| live_rs.contains(k));
        inner
            .quorum
            .retain(|k, _| config.virtual_servers.iter().any(|v| v.id == *k));
        Self::settle(&mut inner, &config, &plans);
        self.save_owned(&keys);
        inner.owned = keys;
        let applied = Applied {
            file: file.display().to_string(),
            config,
        };
        if let Err(e) = crate::persist::write_atomically(
            &self.dir.join("applied-config.json"),
            &serde_json::to_vec(&applied).unwrap_or_default(),
        ) {
            log(format_args!("saving the applied configuration: {e}"));
        }
        inner.config = Some(applied.config);
        inner.applied_at = Some(SystemTime::now());
        inner.error = None;
        inner.pending.clear();
        Ok(plan)
    }

    /// At shutdown: for each virtual server with `omega`, the notify_down of its live real
    /// servers and, if it had quorum, its quorum_down, each waited for (at most 5 s).
    pub fn shutdown(&self) {
        let inner = self.lock();
        let Some(config) = &inner.config else {
            return;
        };
        let wait = Duration::from_secs(5);
        for vs in config.virtual_servers.iter().filter(|v| v.omega) {
            for rs in &vs.real_servers {
                let up = inner.rs.get(&rs_key(vs, &rs.dest)).is_some_and(|s| s.0);
                if let (true, Some(s)) = (up, &rs.notify_down) {
                    probe::notify_now(&s.line, s.user.as_ref(), wait);
                }
            }
            if let (Some(true), Some(s)) = (inner.quorum.get(&vs.id), &vs.quorum_down) {
                probe::notify_now(&s.line, s.user.as_ref(), wait);
            }
        }
    }

    /// The file followed, for `rvs status`.
    pub fn config_view(&self) -> Option<ConfigView> {
        let inner = self.lock();
        let path = inner.path.as_ref()?;
        Some(ConfigView {
            file: path.display().to_string(),
            applied_at: inner.applied_at.map(secs),
            error: inner.error.clone(),
            notes: inner
                .config
                .as_ref()
                .map(|c| c.notes.clone())
                .unwrap_or_default(),
        })
    }

    /// Every configured real server and its checkers, for `rvs status`.
    pub fn view(&self) -> Vec<RealServerHealth> {
        let inner = self.lock();
        let Some(config) = &inner.config else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for vs in &config.virtual_servers {
            let ids = check_ids(vs);
            for rs in &vs.real_servers {
                let key = rs_key(vs, &rs.dest);
                let (up, since) = inner
                    .rs
                    .get(&key)
                    .copied()
                    .unwrap_or((true, SystemTime::now()));
                let checkers = ids
                    .iter()
                    .filter(|(id, _, _)| id.rs == key)
                    .filter_map(|(id, c, _)| {
                        let r = inner.checks.get(id)?;
                        let s = r.cell.state();
                        Some(CheckerView {
                            kind: id.kind.to_string(),
                            target: describe(c),
                            up: s.up,
                            since: secs(s.since),
                            last_check: s.last_check.map(secs),
                            last_error: s.last_error.clone(),
                            dynamic_weight: s.weight,
                            passes: s.passes,
                            failures: s.failures,
                            last_duration_ms: s.last_took.map(|d| d.as_secs_f64() * 1000.0),
                        })
                    })
                    .collect();
                out.push(RealServerHealth {
                    virtual_server: vs.id.clone(),
                    addr: key.addr,
                    port: key.port,
                    up,
                    since: secs(since),
                    checkers,
                });
            }
        }
        out
    }
}

/// A random duration below `max` (warmup spreads the first checks).
fn below(max: Duration) -> Duration {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos() as u64
        ^ (std::process::id() as u64).wrapping_mul(0x9e37_79b9);
    let ms = max.as_millis() as u64;
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(n % ms)
    }
}

fn run_checker(c: &Checker, cell: &Cell, wake: &Sender<String>, vs: &str) {
    let t = &c.timing;
    if !cell.pause(below(Duration::from_millis(t.warmup_ms))) {
        return;
    }
    let mut failures = 0u32;
    loop {
        let t0 = Instant::now();
        let r = probe::attempt(c);
        let took = t0.elapsed();
        if cell.is_stopped() {
            return;
        }
        let mut changed = false;
        let mut next = Duration::from_millis(t.delay_loop_ms);
        {
            let mut s = cell.state();
            s.last_check = Some(SystemTime::now());
            s.last_took = Some(took);
            match r {
                Ok(pass) => {
                    s.passes += 1;
                    failures = 0;
                    // misc_dynamic: exit 0 leaves the weight as it is.
                    let w = match pass {
                        probe::Pass::Up => s.weight,
                        probe::Pass::Weight(w) => Some(w),
                    };
                    if !s.up || s.weight != w {
                        changed = true;
                        if !s.up {
                            s.since = SystemTime::now();
                        }
                        s.up = true;
                        s.weight = w;
                    }
                }
                Err(e) => {
                    s.failures += 1;
                    if s.up {
                        failures += 1;
                        if failures > t.retry {
                            s.up = false;
                            s.since = SystemTime::now();
                            changed = true;
                            failures = 0;
                        } else {
                            next = Duration::from_millis(t.delay_before_retry_ms);
                        }
                    }
                    s.last_error = Some(e);
                }
            }
        }
        if changed {
            let _ = wake.send(vs.to_string());
        }
        if !cell.pause(next) {
            return;
        }
    }
}

/// Starts the thread that applies health changes as checkers report them (and retries
/// those that could not be applied).
pub fn spawn_reconciler(health: Arc<Health>, state: Arc<State>, rx: Receiver<String>) {
    std::thread::spawn(move || {
        let mut failed = false;
        loop {
            let mut ids = HashSet::new();
            match rx.recv_timeout(RETRY_APPLY) {
                Ok(id) => {
                    ids.insert(id);
                }
                Err(RecvTimeoutError::Timeout) if failed => {}
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // One application for every change reported meanwhile.
            while let Ok(id) = rx.try_recv() {
                ids.insert(id);
            }
            failed = !health.reconcile(&state, &ids);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFiles;
    impl rvs_keepalived::syntax::Source for NoFiles {
        fn expand(&self, _: &Path, p: &str) -> Result<Vec<(PathBuf, String)>, String> {
            Err(format!("no {p}"))
        }
    }

    fn config(text: &str) -> Config {
        rvs_keepalived::parse(text, Path::new("t.conf"), &NoFiles).unwrap()
    }

    fn inner() -> Inner {
        Inner {
            path: None,
            config: None,
            applied_at: None,
            error: None,
            checks: HashMap::new(),
            rs: HashMap::new(),
            quorum: HashMap::new(),
            owned: HashSet::new(),
            pending: HashSet::new(),
        }
    }

    /// Sets the state of every checker of real server `addr` (created if new).
    fn set(i: &mut Inner, c: &Config, addr: &str, up: bool, weight: Option<i32>) {
        for (id, ch, _) in c.virtual_servers.iter().flat_map(check_ids) {
            if id.rs.addr.to_string() == addr {
                let r = i.checks.entry(id).or_insert_with(|| Running {
                    checker: ch.clone(),
                    cell: Cell::new(CheckState::new(up)),
                });
                let mut s = r.cell.state();
                s.up = up;
                s.weight = weight;
            }
        }
    }

    /// The planned dests as `addr:weight`, and whether quorum holds; records the plan as
    /// applied.
    fn step(i: &mut Inner, c: &Config) -> (Vec<String>, bool) {
        let p = plan(&i.checks, &i.rs, &i.quorum, &c.virtual_servers[0]);
        let out = p
            .dests
            .iter()
            .map(|d| format!("{}:{}", d.addr, d.weight))
            .collect();
        let q = p.quorum;
        Health::settle(i, c, &[(0, p)]);
        (out, q)
    }

    const TWO: &str = "virtual_server 10.0.0.1 80 {\n quorum 4\n hysteresis 1\n sorry_server 10.0.0.9 80\n real_server 10.0.0.2 80 {\n weight 3\n TCP_CHECK {\n }\n }\n real_server 10.0.0.3 80 {\n weight 2\n inhibit_on_failure\n MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }\n }\n}\n";

    #[test]
    fn down_servers_leave_or_get_weight_zero() {
        let c = config(TWO);
        let mut i = inner();
        set(&mut i, &c, "10.0.0.2", true, None);
        set(&mut i, &c, "10.0.0.3", true, None);
        assert_eq!(
            step(&mut i, &c),
            (vec!["10.0.0.2:3".into(), "10.0.0.3:2".into()], true)
        );
        // misc_dynamic sets the weight.
        set(&mut i, &c, "10.0.0.3", true, Some(7));
        assert_eq!(step(&mut i, &c).0, ["10.0.0.2:3", "10.0.0.3:7"]);
        set(&mut i, &c, "10.0.0.3", false, None);
        // 3 live: below 4 but not below 4 - 1 (hysteresis): quorum holds.
        assert_eq!(
            step(&mut i, &c),
            (vec!["10.0.0.3:0".into(), "10.0.0.2:3".into()], true)
        );
        let rs3 = RsKey {
            vs: "TCP 10.0.0.1:80".into(),
            addr: "10.0.0.3".parse().unwrap(),
            port: 80,
        };
        assert!(!i.rs[&rs3].0, "recorded as down");
    }

    #[test]
    fn quorum_with_hysteresis_brings_in_the_sorry_server() {
        let c = config(TWO);
        let mut i = inner();
        set(&mut i, &c, "10.0.0.2", true, None);
        set(&mut i, &c, "10.0.0.3", true, None);
        step(&mut i, &c);
        set(&mut i, &c, "10.0.0.2", false, None);
        // 2 live < 4 - 1: lost; the sorry server alone (the inhibited one stays at 0).
        assert_eq!(step(&mut i, &c), (vec!["10.0.0.9:1".into()], false));
        set(&mut i, &c, "10.0.0.2", true, None);
        set(&mut i, &c, "10.0.0.3", false, None);
        // 3 live, but regaining needs 4 + 1.
        assert_eq!(
            step(&mut i, &c),
            (vec!["10.0.0.3:0".into(), "10.0.0.9:1".into()], false)
        );
        set(&mut i, &c, "10.0.0.3", true, None);
        assert_eq!(
            step(&mut i, &c),
            (vec!["10.0.0.2:3".into(), "10.0.0.3:2".into()], true)
        );
    }

    #[test]
    fn no_live_weight_is_no_quorum_even_with_quorum_zero() {
        let c = config(
            "virtual_server 10.0.0.1 80 {\n quorum 0\n sorry_server 10.0.0.9 80\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n }\n}\n",
        );
        let mut i = inner();
        set(&mut i, &c, "10.0.0.2", false, None);
        assert_eq!(step(&mut i, &c), (vec!["10.0.0.9:1".into()], false));
    }

    #[test]
    fn alpha_starts_down_and_new_checkers_count_as_they_will_start() {
        let c = config(
            "virtual_server 10.0.0.1 80 {\n alpha\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n }\n real_server 10.0.0.3 80\n}\n",
        );
        let i = inner();
        // Nothing started yet (a dry run): the alpha server would start down; the one
        // without checkers is always up.
        let p = plan(&i.checks, &i.rs, &i.quorum, &c.virtual_servers[0]);
        let d: Vec<String> = p.dests.iter().map(|d| d.addr.to_string()).collect();
        assert_eq!(d, ["10.0.0.3"]);
    }

    #[test]
    fn a_tcp_and_a_udp_service_on_one_address_are_two_virtual_servers() {
        let c = config(
            "virtual_server 10.0.0.1 53 {\n protocol UDP\n real_server 10.0.0.2 53 {\n DNS_CHECK {\n }\n }\n}\nvirtual_server 10.0.0.1 53 {\n protocol TCP\n real_server 10.0.0.2 53 {\n TCP_CHECK {\n }\n }\n}\n",
        );
        let ids: HashSet<CheckId> = c
            .virtual_servers
            .iter()
            .flat_map(check_ids)
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(c.virtual_servers[0].id, "UDP 10.0.0.1:53");
    }

    #[test]
    fn checker_identity_ignores_settings() {
        let a = config(
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n connect_timeout 3\n }\n TCP_CHECK {\n connect_port 81\n }\n }\n}\n",
        );
        let b = config(
            "virtual_server 10.0.0.1 80 {\n connect_timeout 2\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n TCP_CHECK {\n connect_port 82\n }\n }\n}\n",
        );
        let ids = |c: &Config| -> Vec<CheckId> {
            check_ids(&c.virtual_servers[0])
                .into_iter()
                .map(|(id, _, _)| id)
                .collect()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(ids(&a)[1].nth, 1);
    }
}
