// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPVS connection sync daemon (`--start-daemon master|backup`), compatible with the
//! kernel's on the wire (`rvs_model::sync`).
//!
//! A supervisor thread runs one master and one backup thread as the configuration says, and
//! restarts them when it changes (a change request pokes it); a daemon whose socket could
//! not be set up (logged) tries again every 10 s.
//!
//! - **Master**: the program reports connections due to be sent (the kernel's triggers:
//!   `rvs_common::maps::sync_needed`, threshold 3 and period 50 packets, state changes) in
//!   its ring buffer; the thread turns them into records and sends them to the group (default
//!   224.0.0.81) at port 8848 (or the configured ones) out of the multicast interface, TTL 1
//!   by default, multicast loop off. Records wait at most 2 s (the kernel's
//!   `IPVS_SYNC_FLUSH_TIME`) and a message never exceeds `--sync-maxlen` (default 1472).
//! - **Backup**: joins the group on the interface, drops malformed, truncated and
//!   other-syncid messages (counted), and enters the records in the packet path
//!   (`Director::install_synced`), so that a backup that becomes active forwards them.
//!
//! Not done as the kernel does: persistence templates are not sent (a failed-over client of
//! a persistent service keeps its connections but its next one is scheduled afresh), and
//! there is one sync thread per role (`sync_ports` 1).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};
use rvs_common::maps::SyncEvent;
use rvs_model::DaemonConfig;
use rvs_model::sync::{DEFAULT_GROUP, DEFAULT_MAXLEN_V4, DEFAULT_PORT, HEADER_LEN, SyncConn};
use socket2::{Domain, Protocol, Socket, Type};

use crate::state::State;
use crate::{log, warn};

/// The longest a record waits in the master's buffer (`IPVS_SYNC_FLUSH_TIME`).
const FLUSH_TIME: Duration = Duration::from_secs(2);
/// How often the threads look at their stop flag.
const TICK: Duration = Duration::from_millis(100);

/// Counters of the sync daemons (for metrics).
#[derive(Debug, Default)]
pub struct SyncStats {
    /// Messages sent.
    pub sent_messages: AtomicU64,
    /// Connection records sent.
    pub sent_conns: AtomicU64,
    /// Messages that could not be sent.
    pub send_errors: AtomicU64,
    /// Messages received and used.
    pub received_messages: AtomicU64,
    /// Connection records received.
    pub received_conns: AtomicU64,
    /// Messages dropped: malformed, truncated, wrong version.
    pub dropped_messages: AtomicU64,
    /// Messages of another syncid, ignored.
    pub other_syncid: AtomicU64,
    /// Records entered as new connections.
    pub created: AtomicU64,
    /// Records that updated a connection.
    pub updated: AtomicU64,
    /// Records left aside (no such service or dest, templates, stale).
    pub ignored: AtomicU64,
}

impl SyncStats {
    /// The counters as `rvs status` shows them.
    pub fn view(&self) -> rvs_ctl::SyncView {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        rvs_ctl::SyncView {
            sent_messages: g(&self.sent_messages),
            sent_conns: g(&self.sent_conns),
            send_errors: g(&self.send_errors),
            received_messages: g(&self.received_messages),
            received_conns: g(&self.received_conns),
            dropped_messages: g(&self.dropped_messages),
            other_syncid: g(&self.other_syncid),
            created: g(&self.created),
            updated: g(&self.updated),
            ignored: g(&self.ignored),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// The sync daemons' shared part, held by [`State`].
#[derive(Default)]
pub struct Sync {
    poked: Mutex<bool>,
    wake: Condvar,
    /// The program's ring buffer while no master reads it.
    events: Mutex<Option<RingBuf<MapData>>>,
    /// Counters.
    pub stats: SyncStats,
}

impl Sync {
    /// With the packet path's ring buffer, if there is one.
    pub fn new(events: Option<RingBuf<MapData>>) -> Sync {
        Sync {
            events: Mutex::new(events),
            ..Sync::default()
        }
    }

    /// Tells the supervisor the configuration may have changed.
    pub fn poke(&self) {
        *self.poked.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    fn wait_poke(&self, timeout: Duration) {
        let g = self.poked.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) = self
            .wake
            .wait_timeout_while(g, timeout, |p| !*p)
            .unwrap_or_else(|p| p.into_inner());
        *g = false;
    }
}

struct Running {
    config: DaemonConfig,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    started: Instant,
}

/// How long a daemon that gave up (its socket could not be set up) waits before it tries
/// again.
const RETRY: Duration = Duration::from_secs(10);

/// Starts the supervisor.
pub fn spawn(state: Arc<State>) {
    std::thread::spawn(move || {
        let mut master: Option<Running> = None;
        let mut backup: Option<Running> = None;
        loop {
            let (m, b) = state.sync_configs();
            follow(&mut master, m, &state, run_master);
            follow(&mut backup, b, &state, run_backup);
            state.sync.wait_poke(Duration::from_secs(1));
        }
    });
}

/// Stops the thread in `slot` and starts one for `want` when they differ.
fn follow(
    slot: &mut Option<Running>,
    want: Option<DaemonConfig>,
    state: &Arc<State>,
    run: fn(Arc<State>, DaemonConfig, Arc<AtomicBool>),
) {
    let gave_up = slot
        .as_ref()
        .is_some_and(|r| r.thread.is_finished() && r.started.elapsed() >= RETRY);
    if slot.as_ref().map(|r| &r.config) == want.as_ref() && !gave_up {
        return;
    }
    if let Some(r) = slot.take() {
        r.stop.store(true, Ordering::SeqCst);
        let _ = r.thread.join();
    }
    if let Some(config) = want {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, config, stop) = (Arc::clone(state), config.clone(), Arc::clone(&stop));
            std::thread::spawn(move || run(state, config, stop))
        };
        *slot = Some(Running {
            config,
            stop,
            thread,
            started: Instant::now(),
        });
    }
}

/// Where a daemon sends or listens: group, port, TTL, interface index.
fn endpoint(c: &DaemonConfig) -> Result<(SocketAddr, u32, u32), String> {
    let group = c.mcast_group.unwrap_or(IpAddr::V4(DEFAULT_GROUP));
    let port = if c.mcast_port == 0 {
        DEFAULT_PORT
    } else {
        c.mcast_port
    };
    let ttl = if c.mcast_ttl == 0 {
        1
    } else {
        u32::from(c.mcast_ttl)
    };
    let name = std::ffi::CString::new(c.mcast_ifn.as_str())
        .map_err(|_| format!("bad interface name {:?}", c.mcast_ifn))?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("no interface {}", c.mcast_ifn));
    }
    Ok((SocketAddr::new(group, port), ttl, ifindex))
}

/// `IP_MULTICAST_IF` by interface index (`struct ip_mreqn`).
fn multicast_if_v4(s: &Socket, ifindex: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let m = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    };
    // SAFETY: a valid option value of its own size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&m as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn master_socket(c: &DaemonConfig) -> Result<Socket, String> {
    let (to, ttl, ifindex) = endpoint(c)?;
    let s = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| e.to_string())?;
    s.bind_device(Some(c.mcast_ifn.as_bytes()))
        .map_err(|e| format!("binding to {}: {e}", c.mcast_ifn))?;
    match to.ip() {
        IpAddr::V4(_) => {
            multicast_if_v4(&s, ifindex).map_err(|e| e.to_string())?;
            s.set_multicast_loop_v4(false).map_err(|e| e.to_string())?;
            s.set_multicast_ttl_v4(ttl).map_err(|e| e.to_string())?;
        }
        IpAddr::V6(_) => {
            s.set_multicast_if_v6(ifindex).map_err(|e| e.to_string())?;
            s.set_multicast_loop_v6(false).map_err(|e| e.to_string())?;
            s.set_multicast_hops_v6(ttl).map_err(|e| e.to_string())?;
        }
    }
    s.connect(&to.into()).map_err(|e| e.to_string())?;
    Ok(s)
}

fn backup_socket(c: &DaemonConfig) -> Result<Socket, String> {
    let (group, _, ifindex) = endpoint(c)?;
    let s = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| e.to_string())?;
    s.set_reuse_address(true).map_err(|e| e.to_string())?;
    s.bind_device(Some(c.mcast_ifn.as_bytes()))
        .map_err(|e| format!("binding to {}: {e}", c.mcast_ifn))?;
    s.bind(&group.into())
        .map_err(|e| format!("binding to {group}: {e}"))?;
    match group.ip() {
        IpAddr::V4(g) => s
            .join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex))
            .map_err(|e| format!("joining {g}: {e}"))?,
        IpAddr::V6(g) => s
            .join_multicast_v6(&g, ifindex)
            .map_err(|e| format!("joining {g}: {e}"))?,
    }
    s.set_read_timeout(Some(TICK)).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Waits up to `timeout` for the ring buffer to have records.
fn wait_readable(ring: &RingBuf<MapData>, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: ring.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) };
}

/// The ring buffer while a master holds it: given back to [`Sync`] however the master ends
/// (a panic included), for the next master.
struct Ring {
    state: Arc<State>,
    ring: Option<RingBuf<MapData>>,
}

impl Drop for Ring {
    fn drop(&mut self) {
        if let Some(r) = self.ring.take() {
            *self
                .state
                .sync
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(r);
        }
    }
}

fn run_master(state: Arc<State>, c: DaemonConfig, stop: Arc<AtomicBool>) {
    let taken = state
        .sync
        .events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(ring) = taken else {
        warn(format_args!(
            "sync master: no packet path here, so no connections to send"
        ));
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
        }
        return;
    };
    let mut held = Ring {
        state: Arc::clone(&state),
        ring: Some(ring),
    };
    let Some(ring) = held.ring.as_mut() else {
        return;
    };
    let sock = match master_socket(&c) {
        Ok(s) => s,
        Err(e) => {
            warn(format_args!(
                "sync master on {}: {e} (trying again in 10 s)",
                c.mcast_ifn
            ));
            return;
        }
    };
    // Room for one IPv6 record at least: a smaller --sync-maxlen could send nothing.
    let maxlen = if c.sync_maxlen == 0 {
        DEFAULT_MAXLEN_V4
    } else {
        usize::from(c.sync_maxlen)
    }
    .max(HEADER_LEN + rvs_model::sync::V6_LEN);
    log(format_args!(
        "sync master: sending on {} with syncid {}",
        c.mcast_ifn, c.syncid
    ));
    let stats = &state.sync.stats;
    let mut pending: Vec<SyncConn> = Vec::new();
    let mut since: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            wait_readable(ring, TICK);
        }
        let mut events = Vec::new();
        while let Some(item) = ring.next() {
            if item.len() >= std::mem::size_of::<SyncEvent>() {
                // SAFETY: the program writes whole `SyncEvent`s; read without alignment
                // assumptions.
                events.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<SyncEvent>()) });
            }
        }
        if !events.is_empty() {
            let records = state.sync_records(&events);
            if since.is_none() && !records.is_empty() {
                since = Some(Instant::now());
            }
            pending.extend(records);
        }
        let size: usize = HEADER_LEN + pending.iter().map(|r| r.record_len() + 3).sum::<usize>();
        let due = since.is_some_and(|t| t.elapsed() >= FLUSH_TIME);
        if !pending.is_empty() && (due || stopping || size >= maxlen || pending.len() >= 255) {
            match rvs_model::sync::encode(c.syncid, &pending, maxlen) {
                Ok(messages) => {
                    for m in &messages {
                        match sock.send(m) {
                            Ok(_) => add(&stats.sent_messages, 1),
                            Err(_) => add(&stats.send_errors, 1),
                        }
                    }
                    add(&stats.sent_conns, pending.len() as u64);
                }
                Err(e) => {
                    warn(format_args!("sync master: {e:?}"));
                    add(&stats.send_errors, 1);
                }
            }
            pending.clear();
            since = None;
        }
        if stopping {
            break;
        }
    }
    log(format_args!("sync master on {} stopped", c.mcast_ifn));
}

fn run_backup(state: Arc<State>, c: DaemonConfig, stop: Arc<AtomicBool>) {
    let sock = match backup_socket(&c) {
        Ok(s) => s,
        Err(e) => {
            warn(format_args!(
                "sync backup on {}: {e} (trying again in 10 s)",
                c.mcast_ifn
            ));
            return;
        }
    };
    log(format_args!(
        "sync backup: listening on {} for syncid {}",
        c.mcast_ifn,
        if c.syncid == 0 {
            "any".to_string()
        } else {
            c.syncid.to_string()
        }
    ));
    let stats = &state.sync.stats;
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 65536];
    while !stop.load(Ordering::SeqCst) {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                warn(format_args!("sync backup: {e}"));
                std::thread::sleep(TICK);
                continue;
            }
        };
        // SAFETY: `recv` initialised the first `n` bytes.
        let msg: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        match rvs_model::sync::decode(msg, c.syncid) {
            Err(_) => add(&stats.dropped_messages, 1),
            Ok(None) => add(&stats.other_syncid, 1),
            Ok(Some(m)) => {
                add(&stats.received_messages, 1);
                add(&stats.received_conns, m.conns.len() as u64);
                add(&stats.ignored, m.skipped as u64);
                let done = state.install_synced(&m.conns);
                add(&stats.created, done.created);
                add(&stats.updated, done.updated);
                add(&stats.ignored, done.ignored);
            }
        }
    }
    log(format_args!("sync backup on {} stopped", c.mcast_ifn));
}
