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
//! summed weight of live servers falls below `quorum` (minus `hysteresis`) and there is a
//! `sorry_server`, the sorry server alone serves until the quorum (plus `hysteresis`) is back.
//!
//! Services the file defines are rvsd's to manage: changes made to them with rvsadm last
//! until the next health change or reload. Services it never defined are left alone.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rvs_ctl::{CheckerView, ConfigPlan, ConfigView, RealServerHealth};
use rvs_keepalived::{Check, Checker, Config, VirtualServer};
use rvs_model::{DestConfig, ServiceKey};

use crate::log;
use crate::state::{State, Want};

pub mod probe;

/// A real server of a virtual server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RsKey {
    vs: String,
    addr: IpAddr,
    port: u16,
}

/// A checker of a real server (its position among equal ones, then what it is).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CheckKey {
    rs: RsKey,
    nth: usize,
    checker: Checker,
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

struct Cell {
    stop: AtomicBool,
    state: Mutex<CheckState>,
}

struct Inner {
    /// `--config`.
    path: Option<PathBuf>,
    config: Option<Config>,
    applied_at: Option<SystemTime>,
    error: Option<String>,
    checks: HashMap<CheckKey, Arc<Cell>>,
    /// Each real server's last state, for notify scripts and `since`.
    rs: HashMap<RsKey, (bool, SystemTime)>,
    /// Each virtual server's quorum state.
    quorum: HashMap<String, bool>,
    /// Services the file defines (saved: a restart knows what a reload may remove).
    owned: HashSet<ServiceKey>,
}

/// The configuration file, its checkers and what they found.
pub struct Health {
    inner: Mutex<Inner>,
    wake: Sender<()>,
    owned_file: Option<PathBuf>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn rs_key(vs: &VirtualServer, d: &DestConfig) -> RsKey {
    RsKey {
        vs: vs.name.clone(),
        addr: d.addr,
        port: d.port,
    }
}

fn check_keys(vs: &VirtualServer) -> impl Iterator<Item = CheckKey> + '_ {
    vs.real_servers.iter().flat_map(move |rs| {
        rs.checkers.iter().enumerate().map(move |(i, c)| CheckKey {
            rs: rs_key(vs, &rs.dest),
            nth: rs.checkers[..i].iter().filter(|o| *o == c).count(),
            checker: c.clone(),
        })
    })
}

fn describe(c: &Checker) -> String {
    let t = &c.target;
    let at = match t.addr {
        IpAddr::V4(a) => format!("{a}:{}", t.port),
        IpAddr::V6(a) => format!("[{a}]:{}", t.port),
    };
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

impl Inner {
    fn check_up(&self, k: &CheckKey, alpha: bool) -> (bool, Option<i32>) {
        match self.checks.get(k) {
            Some(c) => {
                let s = c.state.lock().unwrap_or_else(|p| p.into_inner());
                (s.up, s.weight)
            }
            // Not started yet (a dry run of a new checker): as it will start.
            None => (!alpha, None),
        }
    }

    fn plan(&self, vs: &VirtualServer) -> Plan {
        let mut dests = Vec::new();
        let mut live_weight: u64 = 0;
        let mut rs_changes = Vec::new();
        let mut live = Vec::new();
        let keys: Vec<CheckKey> = check_keys(vs).collect();
        for rs in &vs.real_servers {
            let key = rs_key(vs, &rs.dest);
            let mut up = true;
            let mut weight = rs.dest.weight;
            for k in keys.iter().filter(|k| k.rs == key) {
                let (u, w) = self.check_up(k, rs.alpha);
                up &= u;
                if let Some(w) = w {
                    weight = w;
                }
            }
            if self.rs.get(&key).map(|s| s.0) != Some(up) {
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
        let was = self.quorum.get(&vs.name).copied();
        let q = u64::from(vs.quorum);
        let h = u64::from(vs.hysteresis);
        let quorum = match was {
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

    fn wants(&self, config: &Config) -> (Vec<Want>, Vec<Plan>) {
        let mut wants = Vec::new();
        let mut plans = Vec::new();
        for vs in &config.virtual_servers {
            let plan = self.plan(vs);
            for s in &vs.services {
                wants.push(Want {
                    service: s.clone(),
                    dests: plan.dests.clone(),
                });
            }
            plans.push(plan);
        }
        (wants, plans)
    }
}

impl Health {
    /// The health keeper of a daemon following `path` (`None`: no `--config`); what it
    /// manages is remembered in `state_dir`.
    pub fn new(path: Option<PathBuf>, state_dir: &Path) -> (Arc<Health>, Receiver<()>) {
        let (wake, rx) = channel();
        let owned_file = state_dir.join("managed.json");
        let owned = std::fs::read(&owned_file)
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
            }),
            wake,
            owned_file: Some(owned_file),
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

    /// Applies the health found so far (the reconciler thread, woken by checkers).
    pub fn reconcile(&self, state: &State) {
        let mut inner = self.lock();
        let Some(config) = inner.config.clone() else {
            return;
        };
        let (wants, plans) = inner.wants(&config);
        match state.reconcile(&wants, &[], false) {
            Ok(changes) => {
                for c in &changes {
                    log(format_args!("health: {c}"));
                }
                Self::settle(&mut inner, &config, &plans);
            }
            Err(e) => log(format_args!(
                "health: applying failed, retried at the next change: {e}"
            )),
        }
    }

    /// Records what was applied and runs the notify scripts of the real servers and
    /// quorums that changed.
    fn settle(inner: &mut Inner, config: &Config, plans: &[Plan]) {
        let now = SystemTime::now();
        for (vs, plan) in config.virtual_servers.iter().zip(plans) {
            for (key, up) in &plan.rs_changes {
                let first = !inner.rs.contains_key(key);
                inner.rs.insert(key.clone(), (*up, now));
                if first {
                    continue;
                }
                log(format_args!(
                    "real server {}:{} of {} is {}",
                    key.addr,
                    key.port,
                    vs.name,
                    if *up { "up" } else { "down" }
                ));
                if let Some(rs) = vs.real_servers.iter().find(|r| rs_key(vs, &r.dest) == *key) {
                    let script = if *up { &rs.notify_up } else { &rs.notify_down };
                    if let Some(s) = script {
                        probe::notify(s, None);
                    }
                }
            }
            let was = inner.quorum.insert(vs.name.clone(), plan.quorum);
            if was.is_some_and(|w| w != plan.quorum) {
                log(format_args!(
                    "virtual server {}: quorum {}",
                    vs.name,
                    if plan.quorum { "regained" } else { "lost" }
                ));
                let script = if plan.quorum {
                    &vs.quorum_up
                } else {
                    &vs.quorum_down
                };
                if let Some(s) = script {
                    probe::notify(s, None);
                }
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
        let mut inner = self.lock();
        let own = inner.path.clone();
        let file = match (path, &own) {
            (Some(p), Some(o)) if p == o => o.clone(),
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
        let config = match rvs_keepalived::load(&file) {
            Ok(c) => c,
            Err(e) => {
                if !dry_run && own.as_deref() == Some(file.as_path()) {
                    inner.error = Some(e.to_string());
                    log(format_args!("configuration not applied: {e}"));
                }
                return Err(e.to_string());
            }
        };
        // Checkers: kept when unchanged, started when new, stopped when gone.
        let new_keys: Vec<CheckKey> = config.virtual_servers.iter().flat_map(check_keys).collect();
        let mut changes = Vec::new();
        for k in inner.checks.keys().filter(|k| !new_keys.contains(k)) {
            changes.push(format!(
                "stop checker {} of real server {}:{} ({})",
                k.checker.check.name(),
                k.rs.addr,
                k.rs.port,
                k.rs.vs
            ));
        }
        for k in new_keys.iter().filter(|k| !inner.checks.contains_key(k)) {
            changes.push(format!(
                "start checker {} {} of real server {}:{} ({})",
                k.checker.check.name(),
                describe(&k.checker),
                k.rs.addr,
                k.rs.port,
                k.rs.vs
            ));
        }
        let (wants, plans) = inner.wants(&config);
        let keys: HashSet<ServiceKey> = wants.iter().map(|w| w.service.key).collect();
        let gone: Vec<ServiceKey> = inner.owned.difference(&keys).copied().collect();
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
        inner.checks.retain(|k, cell| {
            let keep = new_keys.contains(k);
            if !keep {
                cell.stop.store(true, Ordering::SeqCst);
            }
            keep
        });
        inner.rs.retain(|k, _| {
            new_keys.iter().any(|n| n.rs == *k)
                || config.virtual_servers.iter().any(|v| v.name == k.vs)
        });
        inner
            .quorum
            .retain(|k, _| config.virtual_servers.iter().any(|v| v.name == *k));
        for vs in &config.virtual_servers {
            for rs in &vs.real_servers {
                for (i, c) in rs.checkers.iter().enumerate() {
                    let key = CheckKey {
                        rs: rs_key(vs, &rs.dest),
                        nth: rs.checkers[..i].iter().filter(|o| *o == c).count(),
                        checker: c.clone(),
                    };
                    if inner.checks.contains_key(&key) {
                        continue;
                    }
                    let cell = Arc::new(Cell {
                        stop: AtomicBool::new(false),
                        state: Mutex::new(CheckState {
                            up: !rs.alpha,
                            since: SystemTime::now(),
                            last_check: None,
                            last_error: None,
                            weight: None,
                            passes: 0,
                            failures: 0,
                            last_took: None,
                        }),
                    });
                    inner.checks.insert(key, Arc::clone(&cell));
                    let wake = self.wake.clone();
                    let checker = c.clone();
                    std::thread::spawn(move || run_checker(&checker, &cell, &wake));
                }
            }
        }
        Self::settle(&mut inner, &config, &plans);
        inner.owned = keys;
        if let Some(f) = &self.owned_file
            && let Err(e) = crate::persist::write_atomically(
                f,
                &serde_json::to_vec(&inner.owned).unwrap_or_default(),
            )
        {
            log(format_args!("saving {}: {e}", f.display()));
        }
        inner.config = Some(config);
        inner.applied_at = Some(SystemTime::now());
        inner.error = None;
        Ok(plan)
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
            let keys: Vec<CheckKey> = check_keys(vs).collect();
            for rs in &vs.real_servers {
                let key = rs_key(vs, &rs.dest);
                let (up, since) = inner
                    .rs
                    .get(&key)
                    .copied()
                    .unwrap_or((true, SystemTime::now()));
                let checkers = keys
                    .iter()
                    .filter(|k| k.rs == key)
                    .filter_map(|k| {
                        let cell = inner.checks.get(k)?;
                        let s = cell.state.lock().unwrap_or_else(|p| p.into_inner());
                        Some(CheckerView {
                            kind: k.checker.check.name().to_string(),
                            target: describe(&k.checker),
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
                    virtual_server: vs.name.clone(),
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

/// Sleeps `d`, or less if `stop` is set; whether to go on.
fn pause(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    false
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

fn run_checker(c: &Checker, cell: &Cell, wake: &Sender<()>) {
    let t = &c.timing;
    if !pause(&cell.stop, below(Duration::from_millis(t.warmup_ms))) {
        return;
    }
    let mut failures = 0u32;
    loop {
        let t0 = Instant::now();
        let r = probe::attempt(c);
        let took = t0.elapsed();
        if cell.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut changed = false;
        let mut next = Duration::from_millis(t.delay_loop_ms);
        {
            let mut s = cell.state.lock().unwrap_or_else(|p| p.into_inner());
            s.last_check = Some(SystemTime::now());
            s.last_took = Some(took);
            match r {
                Ok(pass) => {
                    s.passes += 1;
                    failures = 0;
                    let w = match pass {
                        probe::Pass::Up => None,
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
            let _ = wake.send(());
        }
        if !pause(&cell.stop, next) {
            return;
        }
    }
}

/// Starts the thread that applies health changes as checkers report them.
pub fn spawn_reconciler(health: Arc<Health>, state: Arc<State>, rx: Receiver<()>) {
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            // One application for every change reported meanwhile.
            while rx.try_recv().is_ok() {}
            health.reconcile(&state);
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
        }
    }

    /// Sets the state of every checker of real server `addr` (created if new).
    fn set(i: &mut Inner, c: &Config, addr: &str, up: bool, weight: Option<i32>) {
        for k in c.virtual_servers.iter().flat_map(check_keys) {
            if k.rs.addr.to_string() == addr {
                let cell = i.checks.entry(k).or_insert_with(|| {
                    Arc::new(Cell {
                        stop: AtomicBool::new(false),
                        state: Mutex::new(CheckState {
                            up,
                            since: SystemTime::now(),
                            last_check: None,
                            last_error: None,
                            weight,
                            passes: 0,
                            failures: 0,
                            last_took: None,
                        }),
                    })
                });
                let mut s = cell.state.lock().unwrap();
                s.up = up;
                s.weight = weight;
            }
        }
    }

    /// The planned dests as `addr:weight`, and whether quorum holds; records the plan as
    /// applied.
    fn step(i: &mut Inner, c: &Config) -> (Vec<String>, bool) {
        let plan = i.plan(&c.virtual_servers[0]);
        let out = plan
            .dests
            .iter()
            .map(|d| format!("{}:{}", d.addr, d.weight))
            .collect();
        let q = plan.quorum;
        Health::settle(i, c, &[plan]);
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
            vs: "10.0.0.1 80".into(),
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
    fn alpha_starts_down_and_new_checkers_count_as_they_will_start() {
        let c = config(
            "virtual_server 10.0.0.1 80 {\n alpha\n real_server 10.0.0.2 80 {\n TCP_CHECK {\n }\n }\n real_server 10.0.0.3 80\n}\n",
        );
        let i = inner();
        // Nothing started yet (a dry run): the alpha server would start down; the one
        // without checkers is always up.
        let plan = i.plan(&c.virtual_servers[0]);
        let d: Vec<String> = plan.dests.iter().map(|d| d.addr.to_string()).collect();
        assert_eq!(d, ["10.0.0.3"]);
    }
}
