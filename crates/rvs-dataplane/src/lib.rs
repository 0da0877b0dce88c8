// SPDX-License-Identifier: MIT OR Apache-2.0
//! The packet path seen from user space.
//!
//! This is the only crate that makes bpf() calls (through aya). It loads the XDP object built
//! from `crates/rvs-ebpf`, sizes the connection table, writes services, dests and timeouts
//! into the maps in the layouts of `rvs_common::maps`, reads counters and connections back,
//! and runs the program on test packets with `BPF_PROG_TEST_RUN`.
//!
//! [`director::Director`] turns the `rvs-model` table into map entries and runs the sweeper;
//! [`neigh`] finds the dests' MAC addresses.

use std::path::{Path, PathBuf};

pub mod batch;
pub mod decap;
pub mod director;
pub mod image;
pub mod neigh;
pub mod netlink;
pub mod pinned;
pub mod sync;
pub mod trace;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, ProgramArray};
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use rvs_common::maps::{
    BPF_F_MMAPABLE, CONFIG_COUNTS_NET, CONFIG_FWMARK_RULES, ConnKey, ConnVal, DestConns, DestList,
    DestVal, FWMARK_SLOTS, FwmarkRule, HashTab, LocalKey, LocalVal, MAX_DESTS, NeighKey, OutKey,
    PersistVal, SchedState, Stats, SvcKey, SvcVal, TIMEOUT_UDP, WalkList, WalkSlot, dest, jump,
    name,
};
use rvs_common::tcp::State;
use rvs_model::Timeouts;

/// What user space released when it removed an entry (see [`Dataplane::add_swept`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// A connection counted in ActiveConn.
    Active,
    /// A connection counted in InActConn.
    Inactive,
    /// A persistence template (PersistConn).
    Template,
}

/// Name of the XDP program in the object.
pub const PROGRAM: &str = "rvs_xdp";
/// The benchmarks' XDP_DROP baseline.
pub const DROP_PROGRAM: &str = "rvs_drop";
/// The benchmarks' live-frames traffic generator.
pub const GEN_PROGRAM: &str = "rvs_gen";
/// The benchmarks' counting sink.
pub const SINK_PROGRAM: &str = "rvs_sink";
/// The program for packets that start a connection (a tail call from [`MISS_PROGRAM`]).
pub const NEW_PROGRAM: &str = "rvs_xdp_new";
/// The program for ICMP(v6) errors about connections (a tail call from [`PROGRAM`]).
pub const ICMP_PROGRAM: &str = "rvs_xdp_icmp";
/// The program for packets without a connection entry (a tail call from [`PROGRAM`]).
pub const MISS_PROGRAM: &str = "rvs_xdp_miss";
/// The program that passes everything (for veth peers of an XDP_TX interface).
pub const PASS_PROGRAM: &str = "rvs_pass";
/// The benchmark baseline: swap MACs and transmit.
pub const MIN_TX_PROGRAM: &str = "rvs_min_tx";

/// The maps an instance pins (the program's own, not the benchmarks' or per-CPU scratch), so
/// that a restarted or upgraded rvsd adopts the connections and counters of the one before.
pub const MAPS: &[&str] = &[
    name::SERVICES,
    name::SVC_DESTS,
    name::SVC_WALK,
    name::DESTS,
    name::DEST_CONNS,
    name::DEST_SWEPT,
    name::DEST_OVERLOAD,
    name::CONFIG,
    name::CONNS,
    name::CONNS_OUT,
    name::EMBRYOS,
    name::EMBRYO_CURSORS,
    name::TIMEOUTS,
    name::SCHED,
    name::DEST_STATS,
    name::REASONS,
    name::HASH_TABS,
    name::PERSIST,
    name::FWMARKS,
    name::TUNNELS,
    name::LOCAL,
    // Pinned also so that its slot survives rvsd: the kernel empties a program array when
    // no file refers to it any more.
    name::JUMP,
];

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Whether this process shares its mount namespace with PID 1. Under `ip netns exec` (or
/// `unshare -m`) it does not: a mount made there ends with the namespace, that is, when the
/// last process in it exits. Where PID 1's namespace cannot be read (some sandboxes), the
/// ancestors' are compared instead: one in another namespace means ours was made for us.
pub fn same_mount_ns_as_init() -> bool {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let Some(own) = ns("self") else {
        return true;
    };
    if let Some(init) = ns("1") {
        return own == init;
    }
    let mut pid = parent_of("self");
    while let Some(p) = pid.filter(|&p| p > 1) {
        if ns(&p.to_string()).is_some_and(|n| n != own) {
            return false;
        }
        pid = parent_of(&p.to_string());
    }
    true
}

/// The parent process id of `pid` (from `/proc/PID/stat`, after the command's parenthesis).
fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `dir` is (the root of, or inside) a bpffs mount.
pub fn is_bpffs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid C string; `st` is a valid out-pointer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) }) == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// Makes sure `dir` is a bpffs mount, mounting one if needed. Returns whether it mounted.
///
/// Pins must outlive the process that makes them, so a bpffs is mounted only in PID 1's
/// mount namespace: in a private one (as under `ip netns exec`, which also remounts `/sys`)
/// the mount, and every pin in it, would vanish with this process. There the answer is an
/// error that says how to mount one outside and pass it (`--bpffs DIR`).
pub fn ensure_bpffs(dir: &Path) -> std::io::Result<bool> {
    ensure_bpffs_in(dir, same_mount_ns_as_init())
}

fn ensure_bpffs_in(dir: &Path, lasting_mounts: bool) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt as _;
    std::fs::create_dir_all(dir)?;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid C string; `st` is a valid out-pointer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.f_type as i64 == BPF_FS_MAGIC {
        return Ok(false);
    }
    if !lasting_mounts {
        return Err(std::io::Error::other(format!(
            "{d} is not a bpffs, and this process runs in a private mount namespace (as under \
             `ip netns exec`): a bpffs mounted here would be unmounted when the process exits, \
             and every pin in it (program, connections, counters) would go with it. Mount one \
             from the host's mount namespace and name it: `mkdir -p /run/rvs/bpffs && mount -t \
             bpf bpf /run/rvs/bpffs` (not under ip netns exec), then --bpffs /run/rvs/bpffs",
            d = dir.display()
        )));
    }
    let fstype = c"bpf";
    // SAFETY: all pointers are valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            c.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(true)
}

/// Removes an instance's pins: the XDP links (which detaches the program once no process
/// holds it) and the maps.
pub fn remove_pins(pin_dir: &Path) -> std::io::Result<()> {
    match std::fs::read_dir(pin_dir) {
        Ok(entries) => {
            for e in entries {
                std::fs::remove_file(e?.path())?;
            }
            std::fs::remove_dir(pin_dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// What can go wrong, with the map or program it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be read.
    #[error("reading the XDP object {path}: {source}")]
    Object {
        /// Path tried.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Loading the object (maps, BTF) failed.
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// The program was refused (verifier) or could not run.
    #[error("program {PROGRAM}: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map operation failed.
    #[error("map {name}: {source}")]
    Map {
        /// Map name.
        name: &'static str,
        /// Cause.
        source: aya::maps::MapError,
    },
    /// A link could not be pinned or adopted.
    #[error("XDP link: {0}")]
    Link(String),
    /// An interface name that cannot exist.
    #[error("bad interface name {0:?}")]
    Interface(String),
    /// Reading a map failed.
    #[error("reading map {0}: {1}")]
    Read(&'static str, std::io::Error),
    /// Pinned maps that this program cannot adopt.
    #[error("{0}")]
    Layout(String),
    /// A map is missing from the object.
    #[error("map {0} is missing from the XDP object")]
    MissingMap(&'static str),
}

/// Refuses maps pinned by an rvs whose map layout differs from `object`'s (type, key or value
/// size): adopting them would hand this program maps it misreads. Checked before anything is
/// loaded or attached, so the program already running keeps forwarding. Maps this object
/// has that are not pinned yet are fine (they are created); the connection table's size may
/// differ (it keeps the size it was made with).
fn check_pinned_layout(object: &[u8], dir: &Path) -> Result<(), Error> {
    let obj = aya_obj::Object::parse(object).map_err(|e| Error::Layout(e.to_string()))?;
    let mut differ = Vec::new();
    for name in MAPS {
        let pin = dir.join(name);
        if !pin.exists() {
            continue;
        }
        let Some(want) = obj.maps.get(*name) else {
            continue;
        };
        let have = aya::maps::MapInfo::from_pin(&pin).map_err(map_err(name))?;
        let have_type = have.map_type().map_or(u32::MAX, |t| t as u32);
        if have_type != want.map_type()
            || have.key_size() != want.key_size()
            || have.value_size() != want.value_size()
        {
            differ.push(format!(
                "{name} (pinned: type {have_type}, key {} bytes, value {} bytes; this rvsd: \
                 type {}, key {} bytes, value {} bytes)",
                have.key_size(),
                have.value_size(),
                want.map_type(),
                want.key_size(),
                want.value_size()
            ));
        }
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::Layout(format!(
        "the maps pinned in {d} were made by an rvs with another map layout: {list}. Nothing \
         was changed, and the program already attached keeps forwarding. To start this rvsd, \
         remove the old pins first (`rvs down`, or `rvs down --pin-dir {d}` when no rvsd \
         runs): the pinned connections and counters go with them, the configuration stays",
        d = dir.display(),
        list = differ.join("; ")
    )))
}

/// Where an eBPF object named `file` (`rvs-xdp.o`, `rvs-decap.o`) is: next to the running
/// binary (a build tree), else in `../lib/rvs/` from it (an installed or unpacked package:
/// `/usr/sbin/rvsd` finds `/usr/lib/rvs/`), else `fallback` (the build output of `./x` in
/// this source tree).
pub fn find_object(file: &str, fallback: PathBuf) -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for p in [dir.join(file), dir.join("../lib/rvs").join(file)] {
            if p.exists() {
                return p;
            }
        }
    }
    fallback
}

/// Where the XDP object is: `$RVS_BPF_OBJECT`, else as [`find_object`] finds `rvs-xdp.o`.
pub fn object_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RVS_BPF_OBJECT") {
        return p.into();
    }
    find_object(
        "rvs-xdp.o",
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../rvs-ebpf/target/bpfel-unknown-none/release/rvs-xdp"),
    )
}

/// The loaded program and its maps.
pub struct Dataplane {
    ebpf: Ebpf,
    /// `DEST_CONNS` mapped into this process, when it is mappable (not when it was pinned by
    /// an older rvs): released entries are then taken off the counts in place.
    counts: Option<SharedCounts>,
}

/// A shared, writable mapping of the `DEST_CONNS` array (`BPF_F_MMAPABLE`): the program's
/// values, side by side, `DestConns` each. Only ever accessed with atomic operations, as the
/// program changes the same counters with atomic adds.
struct SharedCounts {
    base: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory, valid until drop, and only ever accessed with
// atomic operations; nothing in it is tied to a thread.
unsafe impl Send for SharedCounts {}
// SAFETY: as above: every access is atomic.
unsafe impl Sync for SharedCounts {}

impl SharedCounts {
    /// Maps `map` if it was made mappable; `None` if it was not.
    fn map(map: &MapData) -> Result<Option<SharedCounts>, Error> {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        let name = name::DEST_CONNS;
        let info = map.info().map_err(map_err(name))?;
        if info.map_flags() & BPF_F_MMAPABLE == 0 {
            return Ok(None);
        }
        let bytes = info.max_entries() as usize * std::mem::size_of::<DestConns>();
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
        let len = bytes.div_ceil(page) * page;
        // SAFETY: a fresh shared mapping of the map's fd; the kernel checks the length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Read(name, std::io::Error::last_os_error()));
        }
        let base = std::ptr::NonNull::new(p.cast::<u8>()).ok_or(Error::MissingMap(name))?;
        Ok(Some(SharedCounts { base, len }))
    }

    /// Counter `field` (0 ActiveConn, 1 InActConn, 2 PersistConn) of dest `id`.
    fn counter(&self, id: u32, field: usize) -> Option<&std::sync::atomic::AtomicU64> {
        let off = id as usize * std::mem::size_of::<DestConns>() + field * 8;
        if field > 2 || off + 8 > self.len {
            return None;
        }
        // SAFETY: in bounds (checked), 8-byte aligned (page-aligned base, 24-byte values), and
        // valid while `self` lives; every access to the counters is atomic.
        Some(unsafe { std::sync::atomic::AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) })
    }
}

impl Drop for SharedCounts {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

impl Dataplane {
    /// Loads the object at [`object_path`] with a connection table of `conn_tab_size`
    /// entries, and loads (verifies) the program.
    pub fn load_default(conn_tab_size: u32) -> Result<Dataplane, Error> {
        let path = object_path();
        let bytes = std::fs::read(&path).map_err(|source| Error::Object { path, source })?;
        Dataplane::load(&bytes, conn_tab_size)
    }

    /// Loads an object from bytes.
    pub fn load(object: &[u8], conn_tab_size: u32) -> Result<Dataplane, Error> {
        Dataplane::load_with(object, conn_tab_size, None)
    }

    /// Loads the object at [`object_path`] with its maps pinned in `pin_dir` (reusing the maps
    /// already pinned there: their connections and counters carry on).
    pub fn load_pinned(conn_tab_size: u32, pin_dir: &Path) -> Result<Dataplane, Error> {
        let path = object_path();
        let bytes = std::fs::read(&path).map_err(|source| Error::Object { path, source })?;
        Dataplane::load_pinned_object(&bytes, conn_tab_size, pin_dir)
    }

    /// Like [`Dataplane::load_pinned`], from the object's bytes.
    pub fn load_pinned_object(
        object: &[u8],
        conn_tab_size: u32,
        pin_dir: &Path,
    ) -> Result<Dataplane, Error> {
        Dataplane::load_with(object, conn_tab_size, Some(pin_dir))
    }

    fn load_with(
        object: &[u8],
        conn_tab_size: u32,
        pin_dir: Option<&Path>,
    ) -> Result<Dataplane, Error> {
        if let Some(dir) = pin_dir {
            check_pinned_layout(object, dir)?;
        }
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(name::CONNS, conn_tab_size);
        loader.map_max_entries(name::CONNS_OUT, conn_tab_size);
        if let Some(dir) = pin_dir {
            for name in MAPS {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let fresh = pin_dir.is_none_or(|d| !d.join(name::TIMEOUTS).exists());
        let mut dp = Dataplane {
            ebpf: loader.load(object)?,
            counts: None,
        };
        // Before any program of this object runs: the walks read the counts switch.
        dp.share_counts()?;
        dp.xdp(PROGRAM)?.load()?;
        // The programs reached by tail calls; putting this object's in the (possibly adopted)
        // slots is what upgrades the rest of the packet path.
        for (slot, program) in [
            (jump::NEW, NEW_PROGRAM),
            (jump::MISS, MISS_PROGRAM),
            (jump::ICMP, ICMP_PROGRAM),
        ] {
            let p = dp.xdp(program)?;
            p.load()?;
            let fd = p
                .fd()?
                .try_clone()
                .map_err(|e| Error::Link(e.to_string()))?;
            let name = name::JUMP;
            let mut jump: ProgramArray<&mut MapData> =
                ProgramArray::try_from(dp.map(name)?).map_err(map_err(name))?;
            jump.set(slot, &fd, 0).map_err(map_err(name))?;
        }
        if fresh {
            dp.set_timeouts(&Timeouts::default())?;
        }
        Ok(dp)
    }

    /// Like [`Dataplane::attach`], but the XDP link is pinned at `pin_dir/link-IFACE`; if a
    /// pinned link is already there (an rvsd before this one), this program replaces the one
    /// in it atomically and the mode is reported as "adopted".
    pub fn attach_pinned(
        &mut self,
        program: &'static str,
        iface: &str,
        pin_dir: &Path,
    ) -> Result<&'static str, Error> {
        use aya::programs::links::{FdLink, PinnedLink};
        use aya::programs::xdp::XdpLink;
        let link_path = pin_dir.join(format!("link-{iface}"));
        if link_path.exists() {
            let pinned =
                PinnedLink::from_pin(&link_path).map_err(|e| Error::Link(e.to_string()))?;
            let link =
                XdpLink::try_from(FdLink::from(pinned)).map_err(|e| Error::Link(e.to_string()))?;
            let prog = self.xdp(program)?;
            prog.attach_to_link(link)?;
            return Ok("adopted");
        }
        let (mode, id) = self.attach_inner(program, iface)?;
        let prog = self.xdp(program)?;
        let link = prog.take_link(id)?;
        let fd = FdLink::try_from(link).map_err(|e| {
            Error::Link(format!(
                "{e} (the kernel attached without a bpf_link; it cannot be pinned)"
            ))
        })?;
        fd.pin(&link_path).map_err(|e| Error::Link(e.to_string()))?;
        Ok(mode)
    }

    /// Attaches `program` (this object's [`PROGRAM`], or the PASS program) to `iface`: native
    /// mode where the driver has it, generic otherwise. Returns the mode used. The program is
    /// detached when this `Dataplane` is dropped.
    pub fn attach(&mut self, program: &'static str, iface: &str) -> Result<&'static str, Error> {
        self.attach_inner(program, iface).map(|(mode, _)| mode)
    }

    fn attach_inner(
        &mut self,
        program: &'static str,
        iface: &str,
    ) -> Result<(&'static str, aya::programs::xdp::XdpLinkId), Error> {
        if iface.is_empty() || iface.len() > 15 || iface.contains(['\0', '/']) {
            return Err(Error::Interface(iface.to_string()));
        }
        let prog = self.xdp(program)?;
        if prog.fd().is_err() {
            prog.load()?;
        }
        match prog.attach(iface, XdpMode::Driver) {
            Ok(id) => Ok(("native", id)),
            Err(_) => Ok(("generic", prog.attach(iface, XdpMode::Skb)?)),
        }
    }

    /// The XDP program `name` of the object.
    fn xdp(&mut self, name: &'static str) -> Result<&mut Xdp, Error> {
        Ok(self
            .ebpf
            .program_mut(name)
            .ok_or(Error::MissingMap(name))?
            .try_into()?)
    }

    fn map(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, Error> {
        self.ebpf.map_mut(name).ok_or(Error::MissingMap(name))
    }

    fn array<T: aya::Pod>(&mut self, name: &'static str) -> Result<Array<&mut MapData, T>, Error> {
        Array::try_from(self.map(name)?).map_err(map_err(name))
    }

    /// Writes the per-state timeouts (`--set` values for ESTABLISHED, FIN_WAIT and UDP).
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), Error> {
        let mut a = self.array::<u32>(name::TIMEOUTS)?;
        for s in State::ALL {
            a.set(s as u32, t.tcp_state(s), 0)
                .map_err(map_err(name::TIMEOUTS))?;
        }
        a.set(TIMEOUT_UDP, t.udp, 0)
            .map_err(map_err(name::TIMEOUTS))
    }

    /// Inserts or replaces a service with its dest ids in list order (the lists are written
    /// first, so the program never sees more dests than they hold). The walk list
    /// (`SVC_WALK`) takes each dest's weight and flags from `DESTS`: the dests are written
    /// before their service, and a service is written again when one of its dests changes.
    pub fn put_service(&mut self, key: &SvcKey, val: &SvcVal, dests: &[u32]) -> Result<(), Error> {
        let n = dests.len().min(MAX_DESTS);
        let mut walk = WalkList {
            n: n as u32,
            _pad: 0,
            slots: [WalkSlot::default(); MAX_DESTS],
        };
        for (slot, &id) in walk.slots.iter_mut().zip(&dests[..n]) {
            let d = self.dest(id)?;
            let no_upper = if d.u_threshold == 0 {
                dest::NO_UPPER
            } else {
                0
            };
            *slot = WalkSlot {
                id,
                weight: d.weight,
                flags: d.flags | no_upper,
                _pad: 0,
            };
        }
        self.array::<WalkList>(name::SVC_WALK)?
            .set(val.id, walk, 0)
            .map_err(map_err(name::SVC_WALK))?;
        let mut list = DestList {
            dests: [0; MAX_DESTS],
        };
        list.dests[..n].copy_from_slice(&dests[..n]);
        self.array::<DestList>(name::SVC_DESTS)?
            .set(val.id, list, 0)
            .map_err(map_err(name::SVC_DESTS))?;
        let name = name::SERVICES;
        let mut m: HashMap<_, SvcKey, SvcVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.insert(key, val, 0).map_err(map_err(name))
    }

    /// Empties a service's walk list (`SVC_WALK`), as an rvs from before that map leaves it:
    /// the program then walks the dest list and `DESTS` instead. For tests.
    pub fn forget_walk_list(&mut self, svc_id: u32) -> Result<(), Error> {
        let empty = WalkList {
            n: 0,
            _pad: 0,
            slots: [WalkSlot::default(); MAX_DESTS],
        };
        self.array::<WalkList>(name::SVC_WALK)?
            .set(svc_id, empty, 0)
            .map_err(map_err(name::SVC_WALK))
    }

    /// A service's scheduler state.
    pub fn sched(&mut self, svc_id: u32) -> Result<SchedState, Error> {
        self.array::<SchedState>(name::SCHED)?
            .get(&svc_id, 0)
            .map_err(map_err(name::SCHED))
    }

    /// Sets a `CONFIG_*` switch.
    pub fn set_config(&mut self, index: u32, value: u32) -> Result<(), Error> {
        self.array::<u32>(name::CONFIG)?
            .set(index, value, 0)
            .map_err(map_err(name::CONFIG))
    }

    /// Writes a service's scheduler state (wrr's after a dest change).
    pub fn put_sched(&mut self, svc_id: u32, st: &SchedState) -> Result<(), Error> {
        self.array::<SchedState>(name::SCHED)?
            .set(svc_id, st, 0)
            .map_err(map_err(name::SCHED))
    }

    /// Deletes a connection entry; `false` if it was already gone (the program got there
    /// first, and released its count itself).
    pub fn remove_conn(&mut self, key: &ConnKey) -> Result<bool, Error> {
        let name = name::CONNS;
        let mut m: HashMap<_, ConnKey, ConnVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.remove(key) {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::KeyNotFound) => Ok(false),
            Err(e) => Err(Error::Map { name, source: e }),
        }
    }

    /// Replaces a connection entry (the sweeper re-arming a template).
    pub fn put_conn(&mut self, key: &ConnKey, val: &ConnVal) -> Result<(), Error> {
        let name = name::CONNS;
        let mut m: HashMap<_, ConnKey, ConnVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.insert(key, val, 0).map_err(map_err(name))
    }

    /// Records that user space released one entry of a dest: a connection (active or not)
    /// or a template.
    pub fn add_swept(&mut self, dest: u32, what: Released) -> Result<(), Error> {
        self.adjust_swept(dest, what, 1)
    }

    /// Records that user space entered one entry of a dest itself (a connection received
    /// from a sync master): the opposite of [`Dataplane::add_swept`].
    pub fn add_entered(&mut self, dest: u32, what: Released) -> Result<(), Error> {
        self.adjust_swept(dest, what, u64::MAX)
    }

    fn adjust_swept(&mut self, dest: u32, what: Released, delta: u64) -> Result<(), Error> {
        let field = match what {
            Released::Active => 0,
            Released::Inactive => 1,
            Released::Template => 2,
        };
        if let Some(c) = &self.counts {
            let name = name::DEST_CONNS;
            let counter = c.counter(dest, field).ok_or(Error::Map {
                name,
                source: aya::maps::MapError::OutOfBounds {
                    index: dest,
                    max_entries: (c.len / std::mem::size_of::<DestConns>()) as u32,
                },
            })?;
            counter.fetch_sub(delta, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        let name = name::DEST_SWEPT;
        let mut a = self.array::<DestConns>(name)?;
        let mut v = a.get(&dest, 0).map_err(map_err(name))?;
        let c = match field {
            0 => &mut v.active,
            1 => &mut v.inactive,
            _ => &mut v.persist,
        };
        *c = c.wrapping_add(delta);
        a.set(dest, v, 0).map_err(map_err(name))
    }

    /// The ring buffer of connections due to be sent by the sync master, taken out of this
    /// `Dataplane` (one reader; `None` once taken).
    pub fn take_sync_events(&mut self) -> Option<aya::maps::RingBuf<MapData>> {
        let map = self.ebpf.take_map(name::SYNC_EVENTS)?;
        aya::maps::RingBuf::try_from(map).ok()
    }

    /// Enters a connection only if its key is absent (`BPF_NOEXIST`): false if it is there.
    pub fn insert_new_conn(&mut self, key: &ConnKey, val: &ConnVal) -> Result<bool, Error> {
        let name = name::CONNS;
        let mut m: HashMap<_, ConnKey, ConnVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.insert(key, val, 1) {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(false)
            }
            Err(source) => Err(Error::Map { name, source }),
        }
    }

    /// Puts a NAT connection's reply-index entry.
    pub fn put_conn_out(&mut self, key: &OutKey, conn: &ConnKey) -> Result<(), Error> {
        let name = name::CONNS_OUT;
        let mut m: HashMap<_, OutKey, ConnKey> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.insert(key, conn, 0).map_err(map_err(name))
    }

    /// Maps `DEST_CONNS` if it is mappable, folds what an older rvsd left in `DEST_SWEPT`
    /// into it, and sets the counts switch (`CONFIG_COUNTS_NET`) to match.
    fn share_counts(&mut self) -> Result<(), Error> {
        let name = name::DEST_CONNS;
        let counts = match self.ebpf.map(name) {
            Some(aya::maps::Map::Array(data)) => SharedCounts::map(data)?,
            Some(_) => return Err(Error::Layout(format!("{name} is not an array"))),
            None => return Err(Error::MissingMap(name)),
        };
        let Some(counts) = counts else {
            // Pinned by an older rvs: released entries go on into DEST_SWEPT.
            return self.set_config(CONFIG_COUNTS_NET, 0);
        };
        // What an older rvsd released into DEST_SWEPT (over these same pins) moves into the
        // counts. Empty unless this instance ran an older rvsd since the maps were made.
        let swept_name = name::DEST_SWEPT;
        let mut swept = self.array::<DestConns>(swept_name)?;
        let left: Vec<(u32, DestConns)> = swept
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i as u32, v.ok()?)))
            .filter(|(_, v)| *v != DestConns::default())
            .collect();
        for (id, v) in left {
            for (field, n) in [(0, v.active), (1, v.inactive), (2, v.persist)] {
                if let Some(c) = counts.counter(id, field) {
                    c.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
            swept
                .set(id, DestConns::default(), 0)
                .map_err(map_err(swept_name))?;
        }
        self.counts = Some(counts);
        self.set_config(CONFIG_COUNTS_NET, 1)
    }

    /// Whether released entries are taken off `DEST_CONNS` in place (it is mappable).
    pub fn counts_shared(&self) -> bool {
        self.counts.is_some()
    }

    /// A dest's (ActiveConn, InActConn): counted by the program minus released by user space.
    pub fn conn_counts(&mut self, id: u32) -> Result<(u64, u64), Error> {
        let (a, i, _) = self.all_counts(id)?;
        Ok((a, i))
    }

    /// A dest's (ActiveConn, InActConn, PersistConn).
    pub fn all_counts(&mut self, id: u32) -> Result<(u64, u64, u64), Error> {
        let c = self.dest_conns(id)?;
        let s = self
            .array::<DestConns>(name::DEST_SWEPT)?
            .get(&id, 0)
            .map_err(map_err(name::DEST_SWEPT))?;
        Ok((
            c.active.wrapping_sub(s.active),
            c.inactive.wrapping_sub(s.inactive),
            c.persist.wrapping_sub(s.persist),
        ))
    }

    /// Writes a service's sh/dh/mh bucket table.
    pub fn put_hash_tab(&mut self, svc_id: u32, tab: &HashTab) -> Result<(), Error> {
        let name = name::HASH_TABS;
        let mut m: HashMap<_, u32, HashTab> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.insert(svc_id, tab, 0).map_err(map_err(name))
    }

    /// Removes a service's bucket table (if it had one).
    pub fn remove_hash_tab(&mut self, svc_id: u32) -> Result<(), Error> {
        let name = name::HASH_TABS;
        let mut m: HashMap<_, u32, HashTab> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.remove(&svc_id) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(Error::Map { name, source: e }),
        }
    }

    /// Removes a NAT connection's reply index entry (gone already is fine).
    pub fn remove_conn_out(&mut self, key: &OutKey) -> Result<(), Error> {
        let name = name::CONNS_OUT;
        let mut m: HashMap<_, OutKey, ConnKey> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.remove(key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(Error::Map { name, source: e }),
        }
    }

    /// Takes the next hops the program found without a neighbour entry.
    pub fn take_needed_neighbours(&mut self) -> Result<Vec<NeighKey>, Error> {
        let name = name::NEED_NEIGH;
        let mut m: HashMap<_, NeighKey, u32> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        let keys: Vec<NeighKey> = m.keys().filter_map(Result::ok).collect();
        for k in &keys {
            let _ = m.remove(k);
        }
        Ok(keys)
    }

    /// Every lblc/lblcr entry.
    pub fn local_entries(&mut self) -> Result<Vec<(LocalKey, LocalVal)>, Error> {
        let name = name::LOCAL;
        let m: HashMap<_, LocalKey, LocalVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(name))
    }

    /// Removes an lblc/lblcr entry (gone already is fine).
    pub fn remove_local(&mut self, key: &LocalKey) -> Result<(), Error> {
        let name = name::LOCAL;
        let mut m: HashMap<_, LocalKey, LocalVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.remove(key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(Error::Map { name, source: e }),
        }
    }

    /// Writes a tunnel dest's encapsulation parameters.
    pub fn put_tunnel(&mut self, id: u32, val: &rvs_common::maps::TunVal) -> Result<(), Error> {
        self.array::<rvs_common::maps::TunVal>(name::TUNNELS)?
            .set(id, val, 0)
            .map_err(map_err(name::TUNNELS))
    }

    /// Writes a service's template parameters.
    pub fn put_persist(&mut self, svc_id: u32, val: &PersistVal) -> Result<(), Error> {
        self.array::<PersistVal>(name::PERSIST)?
            .set(svc_id, val, 0)
            .map_err(map_err(name::PERSIST))
    }

    /// Writes the fwmark rules (slot order is match order) and how many are in use.
    pub fn set_fwmarks(&mut self, rules: &[FwmarkRule]) -> Result<(), Error> {
        let name = name::FWMARKS;
        if rules.len() > FWMARK_SLOTS as usize {
            return Err(Error::Map {
                name,
                source: aya::maps::MapError::OutOfBounds {
                    index: rules.len() as u32,
                    max_entries: FWMARK_SLOTS,
                },
            });
        }
        // Shrinking: lower the count first, so the program never reads a stale slot.
        self.set_config(CONFIG_FWMARK_RULES, rules.len() as u32)?;
        let mut a = self.array::<FwmarkRule>(name)?;
        for (i, r) in rules.iter().enumerate() {
            a.set(i as u32, r, 0).map_err(map_err(name))?;
        }
        Ok(())
    }

    /// Removes a service.
    pub fn remove_service(&mut self, key: &SvcKey) -> Result<(), Error> {
        let name = name::SERVICES;
        let mut m: HashMap<_, SvcKey, SvcVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        m.remove(key).map_err(map_err(name))
    }

    /// Writes a dest slot.
    pub fn put_dest(&mut self, id: u32, val: &DestVal) -> Result<(), Error> {
        self.array::<DestVal>(name::DESTS)?
            .set(id, val, 0)
            .map_err(map_err(name::DESTS))
    }

    /// A dest slot.
    pub fn dest(&mut self, id: u32) -> Result<DestVal, Error> {
        self.array::<DestVal>(name::DESTS)?
            .get(&id, 0)
            .map_err(map_err(name::DESTS))
    }

    /// A dest's OVERLOAD flag.
    pub fn overload(&mut self, id: u32) -> Result<bool, Error> {
        Ok(self
            .array::<u32>(name::DEST_OVERLOAD)?
            .get(&id, 0)
            .map_err(map_err(name::DEST_OVERLOAD))?
            != 0)
    }

    /// Sets or clears a dest's OVERLOAD flag.
    pub fn set_overload(&mut self, id: u32, on: bool) -> Result<(), Error> {
        self.array::<u32>(name::DEST_OVERLOAD)?
            .set(id, u32::from(on), 0)
            .map_err(map_err(name::DEST_OVERLOAD))
    }

    /// A dest's ActiveConn/InActConn as the packet path counts them.
    pub fn dest_conns(&mut self, id: u32) -> Result<DestConns, Error> {
        self.array::<DestConns>(name::DEST_CONNS)?
            .get(&id, 0)
            .map_err(map_err(name::DEST_CONNS))
    }

    fn per_cpu_sum(&mut self, name: &'static str, id: u32) -> Result<Stats, Error> {
        let a: PerCpuArray<_, Stats> =
            PerCpuArray::try_from(self.map(name)?).map_err(map_err(name))?;
        let vals = a.get(&id, 0).map_err(map_err(name))?;
        Ok(vals.iter().fold(Stats::default(), |mut acc, s| {
            acc.add(s);
            acc
        }))
    }

    /// Counters of a dest, summed over CPUs.
    pub fn dest_stats(&mut self, id: u32) -> Result<Stats, Error> {
        self.per_cpu_sum(name::DEST_STATS, id)
    }

    /// Why the program passed or dropped packets: counts by reason number
    /// (`rvs_common::reason`), summed over CPUs.
    pub fn reasons(&mut self) -> Result<Vec<u64>, Error> {
        let name = name::REASONS;
        let a: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.map(name)?).map_err(map_err(name))?;
        (0..rvs_common::reason::COUNT)
            .map(|i| Ok(a.get(&i, 0).map_err(map_err(name))?.iter().sum()))
            .collect()
    }

    /// One connection entry.
    pub fn conn(&mut self, key: &ConnKey) -> Result<Option<ConnVal>, Error> {
        let name = name::CONNS;
        let m: HashMap<_, ConnKey, ConnVal> =
            HashMap::try_from(self.map(name)?).map_err(map_err(name))?;
        match m.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(Error::Map { name, source: e }),
        }
    }

    /// Every connection entry (read in batches).
    pub fn conns(&mut self) -> Result<Vec<(ConnKey, ConnVal)>, Error> {
        self.conn_reader()?
            .entries()
            .map_err(|e| Error::Read(name::CONNS, e))
    }

    /// A reader of the connection table with a descriptor of its own, usable without this
    /// `Dataplane` (so without the lock that guards it).
    pub fn conn_reader(&mut self) -> Result<batch::TableReader<ConnKey, ConnVal>, Error> {
        use std::os::fd::AsFd as _;
        let name = name::CONNS;
        let data = match self.map(name)? {
            aya::maps::Map::HashMap(d) | aya::maps::Map::LruHashMap(d) => d,
            _ => return Err(Error::MissingMap(name)),
        };
        let fd = data
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Read(name, e))?;
        Ok(batch::TableReader::new(fd))
    }

    /// The kernel memory a map is charged for (`memlock` in its fdinfo), in bytes.
    pub fn map_memlock(&mut self, name: &'static str) -> Result<u64, Error> {
        use std::os::fd::{AsFd, AsRawFd};
        let fd = match self.map(name)? {
            aya::maps::Map::LruHashMap(m) | aya::maps::Map::HashMap(m) => {
                m.fd().as_fd().as_raw_fd()
            }
            aya::maps::Map::Array(m) | aya::maps::Map::PerCpuArray(m) => m.fd().as_fd().as_raw_fd(),
            _ => return Err(Error::MissingMap(name)),
        };
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
            .map_err(|e| Error::Link(e.to_string()))?;
        info.lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(Error::MissingMap(name))
    }

    /// Sets the benchmark generator: `flows` source ports, TCP `flags`.
    pub fn set_generator(&mut self, flows: u32, flags: u8) -> Result<(), Error> {
        let mut a = self.array::<u32>(name::GEN)?;
        a.set(0, flows, 0).map_err(map_err(name::GEN))?;
        a.set(1, u32::from(flags), 0).map_err(map_err(name::GEN))
    }

    /// Frames the benchmark sink has counted, over all CPUs.
    pub fn sink_count(&mut self) -> Result<u64, Error> {
        let name = name::SINK;
        let a: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.map(name)?).map_err(map_err(name))?;
        Ok(a.get(&0, 0).map_err(map_err(name))?.iter().sum())
    }

    /// Runs `program` (the generator) `repeat` times in live-frames mode on `frame`, as if it
    /// arrived on `ifindex`: what it transmits really leaves that interface. Returns the
    /// kernel's duration.
    pub fn live_run(
        &mut self,
        program: &'static str,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<std::time::Duration, Error> {
        let prog = self.xdp(program)?;
        if prog.fd().is_err() {
            prog.load()?;
        }
        let ctx = xdp_md(frame, ifindex);
        let r = prog.test_run(TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx),
            repeat,
            attrs: aya::programs::TestRunAttrs::new().xdp_live_frames(64),
            ..TestRunOptions::default()
        })?;
        Ok(r.duration)
    }

    /// Runs `program` once on `frame` as if it arrived on interface `ifindex` (which must
    /// exist in this network namespace): the XDP action and the frame as the program left
    /// it. Nothing is transmitted.
    pub fn run_on(
        &mut self,
        program: &'static str,
        frame: &[u8],
        ifindex: u32,
    ) -> Result<(u32, Vec<u8>), Error> {
        let ctx = xdp_md(frame, ifindex);
        let (action, out, _) = self.run_with(program, frame, Some(&ctx), 1)?;
        Ok((action, out))
    }

    /// Runs `program` once on `frame` with `meta` in front of it as its XDP metadata (how
    /// the first programs hand a tail-called one what they found: `rvs_common::maps::Carry`):
    /// the action, and the frame as left, metadata included if the program left any.
    pub fn run_with_meta(
        &mut self,
        program: &'static str,
        meta: &[u8],
        frame: &[u8],
    ) -> Result<(u32, Vec<u8>), Error> {
        let data = [meta, frame].concat();
        let mut ctx = xdp_md(&data, 0);
        // data_meta stays 0, data moves past the metadata.
        ctx[0..4].copy_from_slice(&(meta.len() as u32).to_ne_bytes());
        let (action, out, _) = self.run_with(program, &data, Some(&ctx), 1)?;
        Ok((action, out))
    }

    /// One `BPF_PROG_TEST_RUN` of `program` (`repeat` times on one buffer), with `ctx` as
    /// its `xdp_md` if given: the action, the frame as left, the average run time in ns.
    fn run_with(
        &mut self,
        program: &'static str,
        frame: &[u8],
        ctx: Option<&[u8]>,
        repeat: u32,
    ) -> Result<(u32, Vec<u8>, u64), Error> {
        let prog = self.xdp(program)?;
        if prog.fd().is_err() {
            prog.load()?;
        }
        let mut out = vec![0u8; frame.len() + 256];
        let r = prog.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: ctx,
            repeat,
            ..TestRunOptions::default()
        })?;
        out.truncate(r.data_size_out as usize);
        Ok((r.return_value, out, r.duration.as_nanos() as u64))
    }

    /// Runs the program once on `packet` with `BPF_PROG_TEST_RUN`: the XDP action and the
    /// packet as the program left it.
    pub fn test_run(&mut self, packet: &[u8]) -> Result<(u32, Vec<u8>), Error> {
        let (action, out, _) = self.timed_run(PROGRAM, packet, 1)?;
        Ok((action, out))
    }

    /// Runs `program` `repeat` times on one copy of `packet` (changes to the packet persist
    /// from one repetition to the next, as the kernel reuses the buffer) and returns the
    /// action, the packet, and the kernel's average run time in nanoseconds.
    pub fn timed_run(
        &mut self,
        program: &'static str,
        packet: &[u8],
        repeat: u32,
    ) -> Result<(u32, Vec<u8>, u64), Error> {
        self.run_with(program, packet, None, repeat)
    }
}

/// A `struct xdp_md` for a test run of `frame` arriving on `ifindex`: data, data_end,
/// data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
fn xdp_md(frame: &[u8], ifindex: u32) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program declares its maps under names written there again (`#[map(name)]` takes a
    /// literal): they are those of `rvs_common::maps::name`, all of them.
    #[test]
    fn the_object_has_the_maps_named_in_rvs_common() {
        let path = object_path();
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (./x build first)", path.display()));
        let obj = aya_obj::Object::parse(&bytes).unwrap();
        // Data sections (.rodata...) are maps to the loader too; the program's are named.
        let mut have: Vec<&str> = obj
            .maps
            .keys()
            .map(String::as_str)
            .filter(|m| !m.starts_with('.'))
            .collect();
        let mut want = name::DIRECTOR.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        assert_eq!(have, want);
        for m in MAPS {
            assert!(want.contains(m), "{m} is pinned but not a map");
        }
    }

    #[test]
    fn parent_process() {
        assert_eq!(parent_of("self"), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn no_bpffs_is_mounted_in_a_private_mount_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_bpffs_in(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("private mount namespace"), "{err}");
        assert!(err.contains("--bpffs"), "{err}");
        assert!(!is_bpffs(dir.path()), "nothing was mounted");
    }
}
