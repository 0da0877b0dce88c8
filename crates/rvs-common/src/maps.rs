// SPDX-License-Identifier: MIT OR Apache-2.0
//! Map keys and values shared by the XDP program and `rvs-dataplane`.
//!
//! Every type is `#[repr(C)]` with explicit padding and a size assertion, holds integers only
//! (no enums or bools: the kernel may hand back any byte), and keeps network byte order in
//! fields whose names end in `_be`. Pinned maps outlive processes, so layouts are append-only:
//! a real change renames the map.

/// Most dests one service can hold in the packet path.
pub const MAX_DESTS: usize = 128;
/// `BPF_F_MMAPABLE`: an array map user space can map into its memory (`DEST_CONNS`).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// Slots in the dest array (ids are allocated by user space).
pub const DEST_SLOTS: u32 = 4096;
/// Services the packet path can hold.
pub const SVC_SLOTS: u32 = 4096;

/// `af` values.
pub const AF_V4: u8 = 4;
/// IPv6.
pub const AF_V6: u8 = 6;

/// Scheduler ids in [`SvcVal::sched`].
pub mod sched {
    /// Round robin.
    pub const RR: u32 = 1;
    /// Weighted round robin.
    pub const WRR: u32 = 2;
    /// Least connection.
    pub const LC: u32 = 3;
    /// Weighted least connection.
    pub const WLC: u32 = 4;
    /// Shortest expected delay.
    pub const SED: u32 = 5;
    /// Never queue.
    pub const NQ: u32 = 6;
    /// Weighted failover.
    pub const FO: u32 = 7;
    /// Weighted overflow.
    pub const OVF: u32 = 8;
    /// Source hashing.
    pub const SH: u32 = 9;
    /// Destination hashing.
    pub const DH: u32 = 10;
    /// Maglev hashing.
    pub const MH: u32 = 11;
    /// Locality-based least connection.
    pub const LBLC: u32 = 12;
    /// Locality-based least connection with replication.
    pub const LBLCR: u32 = 13;
    /// Weighted random power of two choices.
    pub const TWOS: u32 = 14;
}

/// Key of the `LOCAL` LRU hash: lblc's and lblcr's entry for a destination address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LocalKey {
    /// The packet's destination address.
    pub addr: [u8; 16],
    /// Service id.
    pub svc: u32,
    /// Family.
    pub af: u8,
    /// Padding, zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<LocalKey>() == 24);

/// Members an lblcr set holds at most (the kernel's sets are unbounded; a full set replaces
/// its oldest member).
pub const LOCAL_SET: usize = 16;
/// Entries of the `LOCAL` LRU hash (the kernel collects beyond 16,384 per service).
pub const LOCAL_SLOTS: u32 = 65536;

/// Value of `LOCAL`: the dest (lblc: `dests[0]`) or dest set (lblcr, newest first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalVal {
    /// `bpf_ktime_get_ns` of the last use.
    pub lastuse_ns: u64,
    /// `bpf_ktime_get_ns` of the last change of the set.
    pub lastmod_ns: u64,
    /// Members in use.
    pub n: u32,
    /// Padding, zero.
    pub _pad: u32,
    /// Dest ids, newest first.
    pub dests: [u32; LOCAL_SET],
}
const _: () = assert!(core::mem::size_of::<LocalVal>() == 24 + 4 * LOCAL_SET);

/// sh and dh table size.
pub const SH_TAB_SIZE: u32 = 256;
/// mh table size (the prime 4093).
pub const MH_TAB_SIZE: u32 = 4093;
/// mh's first hsiphash key (both halves).
pub const MH_K1: u64 = 2_654_435_761;
/// mh's second hsiphash key (both halves), used for the permutation's skip.
pub const MH_K2: u64 = 2_654_446_892;
/// Buckets in a [`HashTab`]: a power of two that holds mh's 4093 (and sh's/dh's 256).
pub const HASH_TAB_SLOTS: usize = 4096;

/// Value of `HASH_TABS` (by service id): the bucket table of sh, dh or mh, computed in user
/// space by `rvs-model` on every dest change. Each bucket holds a dest id, 0 for none.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashTab {
    /// Dest id by bucket.
    pub dests: [u32; HASH_TAB_SLOTS],
}

/// The kernel's IPv6 address fold for the hashing schedulers: the XOR of the four 32-bit
/// words; IPv4 is its own address. Host order.
#[inline(always)]
pub fn addr_fold(af: u8, a: &[u8; 16]) -> u32 {
    let w = |i: usize| u32::from_be_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    if af == AF_V4 {
        w(0)
    } else {
        w(0) ^ w(4) ^ w(8) ^ w(12)
    }
}

/// sh's bucket (`ip_vs_sh_hashkey`): `(offset + hash_32(port + addr, 8)) & 255`.
#[inline(always)]
pub const fn sh_bucket(addr: u32, port: u16, offset: u32) -> u32 {
    offset.wrapping_add(hash_32((port as u32).wrapping_add(addr), 8)) & (SH_TAB_SIZE - 1)
}

/// mh's slot (`ip_vs_mh_hashkey` with the first key, modulo the table size).
#[inline(always)]
pub fn mh_slot(addr: u32, port: u16, offset: u32) -> u32 {
    hsiphash_u32(offset.wrapping_add(port as u32).wrapping_add(addr), MH_K1) % MH_TAB_SIZE
}

/// `hash_32(v, bits)` of the kernel: multiplicative hash, top `bits` bits.
pub const fn hash_32(v: u32, bits: u32) -> u32 {
    v.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// hsiphash of a 4-byte value on a 64-bit kernel: SipHash-1-3 with key `(k, k)`, truncated
/// to 32 bits. mh hashes with it; the program and the model share this one definition.
#[inline(always)]
pub fn hsiphash_u32(v: u32, k: u64) -> u32 {
    let mut v0 = 0x736f_6d65_7073_6575u64 ^ k;
    let mut v1 = 0x646f_7261_6e64_6f6du64 ^ k;
    let mut v2 = 0x6c79_6765_6e65_7261u64 ^ k;
    let mut v3 = 0x7465_6462_7974_6573u64 ^ k;
    macro_rules! round {
        () => {
            v0 = v0.wrapping_add(v1);
            v1 = v1.rotate_left(13);
            v1 ^= v0;
            v0 = v0.rotate_left(32);
            v2 = v2.wrapping_add(v3);
            v3 = v3.rotate_left(16);
            v3 ^= v2;
            v0 = v0.wrapping_add(v3);
            v3 = v3.rotate_left(21);
            v3 ^= v0;
            v2 = v2.wrapping_add(v1);
            v1 = v1.rotate_left(17);
            v1 ^= v2;
            v2 = v2.rotate_left(32);
        };
    }
    let b = (4u64 << 56) | v as u64;
    v3 ^= b;
    round!();
    v0 ^= b;
    v2 ^= 0xff;
    round!();
    round!();
    round!();
    ((v0 ^ v1) ^ (v2 ^ v3)) as u32
}

/// The maps' names. The program declares each under its name (`#[map(name = ...)]` takes
/// only a literal, so the names are written there as well; a test of `rvs-dataplane` checks
/// the built object against [`name::DIRECTOR`]); user space opens and pins them by these.
pub mod name {
    /// Services by (family, protocol, VIP, port); fwmark services by mark.
    pub const SERVICES: &str = "RVS_SERVICES";
    /// Each service's dest ids in list order.
    pub const SVC_DESTS: &str = "RVS_SVC_DESTS";
    /// Each service's dests as the counting schedulers' walks read them (`WalkList`).
    pub const SVC_WALK: &str = "RVS_SVC_WALK";
    /// Dests by id.
    pub const DESTS: &str = "RVS_DESTS";
    /// ActiveConn, InActConn and PersistConn by dest id.
    pub const DEST_CONNS: &str = "RVS_DEST_CONNS";
    /// The counts user space gave back when sweeping, by dest id.
    pub const DEST_SWEPT: &str = "RVS_DEST_SWEPT";
    /// OVERLOAD by dest id.
    pub const DEST_OVERLOAD: &str = "RVS_DEST_OVERLOAD";
    /// Runtime switches (`CONFIG_*` slots).
    pub const CONFIG: &str = "RVS_CONFIG";
    /// Connections and persistence templates.
    pub const CONNS: &str = "RVS_CONNS";
    /// NAT connections by their replies' addresses.
    pub const CONNS_OUT: &str = "RVS_CONNS_OUT";
    /// The embryonic entries, oldest first (a ring).
    pub const EMBRYOS: &str = "RVS_EMBRYOS";
    /// The ring's head and tail.
    pub const EMBRYO_CURSORS: &str = "RVS_EMBRYO_CURSORS";
    /// Timeouts by TCP state, and UDP.
    pub const TIMEOUTS: &str = "RVS_TIMEOUTS";
    /// rr's and wrr's cursors by service id.
    pub const SCHED: &str = "RVS_SCHED";
    /// Per-CPU counters by dest id (a service's are the sum of its dests', the total the sum
    /// of all: the program counts each packet once).
    pub const DEST_STATS: &str = "RVS_DEST_STATS";
    /// Per-CPU counts of why packets were not forwarded (`crate::reason`).
    pub const REASONS: &str = "RVS_REASONS";
    /// sh/dh/mh bucket tables by service id.
    pub const HASH_TABS: &str = "RVS_HASH_TABS";
    /// Persistence settings by service id.
    pub const PERSIST: &str = "RVS_PERSIST";
    /// The `rvs fwmark` rules, in match order.
    pub const FWMARKS: &str = "RVS_FWMARKS";
    /// Tunnel parameters by dest id.
    pub const TUNNELS: &str = "RVS_TUNNELS";
    /// lblc/lblcr entries by (service, destination address).
    pub const LOCAL: &str = "RVS_LOCAL";
    /// The tail-called programs, at the `JUMP_*` slots.
    pub const JUMP: &str = "RVS_JUMP";
    /// Next hops without a neighbour entry, for user space to resolve.
    pub const NEED_NEIGH: &str = "RVS_NEED_NEIGH";
    /// Connections due to be sent by the sync master (ring buffer of `SyncEvent`).
    pub const SYNC_EVENTS: &str = "RVS_SYNC_EVENTS";
    /// Per-CPU scratch space (not pinned).
    pub const SCRATCH: &str = "RVS_SCRATCH";
    /// The list walks' state (not pinned).
    pub const LIST_WALK: &str = "RVS_LIST_WALK";
    /// wrr's walk state (not pinned).
    pub const WRR_WALK: &str = "RVS_WRR_WALK";
    /// The benchmark generator's settings.
    pub const GEN: &str = "RVS_GEN";
    /// The benchmark generator's frame count.
    pub const GEN_COUNT: &str = "RVS_GEN_COUNT";
    /// The benchmark sink's frame count.
    pub const SINK: &str = "RVS_SINK";
    /// The decapsulator's settings (`rvs-decap`).
    pub const DECAP: &str = "RVS_DECAP";
    /// Every map of the director program (`rvs-xdp`), its benchmark programs' included.
    pub const DIRECTOR: &[&str] = &[
        SERVICES,
        SVC_DESTS,
        SVC_WALK,
        DESTS,
        DEST_CONNS,
        DEST_SWEPT,
        DEST_OVERLOAD,
        CONFIG,
        CONNS,
        CONNS_OUT,
        EMBRYOS,
        EMBRYO_CURSORS,
        TIMEOUTS,
        SCHED,
        DEST_STATS,
        REASONS,
        HASH_TABS,
        PERSIST,
        FWMARKS,
        TUNNELS,
        LOCAL,
        JUMP,
        NEED_NEIGH,
        SYNC_EVENTS,
        SCRATCH,
        LIST_WALK,
        WRR_WALK,
        GEN,
        GEN_COUNT,
        SINK,
    ];
}

/// Slots of the program array [`name::JUMP`]: where the first program's tail calls go.
pub mod jump {
    /// `rvs_xdp_new`: a packet that starts a connection.
    pub const NEW: u32 = 0;
    /// `rvs_xdp_miss`: no connection entry (a NAT reply, or a packet for a service).
    pub const MISS: u32 = 1;
    /// `rvs_xdp_icmp`: ICMP(v6), possibly an error about a balanced connection.
    pub const ICMP: u32 = 2;
    /// Slots in all.
    pub const SLOTS: u32 = 3;
}

/// [`DestVal::flags`] bits; the first two are the kernel's `IP_VS_DEST_F_*`.
pub mod dest {
    /// The dest is in its service (AVAILABLE).
    pub const AVAILABLE: u32 = 0x1;
    /// OVERLOAD (upper threshold reached).
    pub const OVERLOAD: u32 = 0x2;
    /// The dest's MAC address is known (and with it the interface and source MAC).
    pub const MAC_KNOWN: u32 = 0x4;
    /// The dest's MAC address is being resolved: it is scheduled as usual (as IPVS, which
    /// leaves resolution to the kernel's neighbour code), but its packets are dropped and its
    /// address handed to user space (`RVS_NEED_NEIGH`) until the MAC is known; the client's
    /// retransmission then gets through. Never set together with [`MAC_KNOWN`].
    pub const RESOLVING: u32 = 0x8;
    /// Either: the dest can be reached (now, or once resolved) and may take new connections.
    pub const REACHABLE: u32 = MAC_KNOWN | RESOLVING;
    /// Only in a walk slot ([`super::WalkSlot`]): the dest has no upper threshold, so it is
    /// never OVERLOAD (setting one needs it, and an edit that removes it clears the flag, as
    /// `__ip_vs_update_dest`) and the walk does not look its OVERLOAD up. A slot without
    /// this bit (as one written by an older rvs) has the flag looked up.
    pub const NO_UPPER: u32 = 0x10;
}

/// Key of `SERVICES`: an address service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SvcKey {
    /// Virtual address; IPv4 in the first four bytes, the rest zero.
    pub addr: [u8; 16],
    /// Virtual port, network order.
    pub port_be: u16,
    /// IP protocol.
    pub proto: u8,
    /// [`AF_V4`] or [`AF_V6`].
    pub af: u8,
}
const _: () = assert!(core::mem::size_of::<SvcKey>() == 20);

/// Value of `SERVICES`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvcVal {
    /// Index into per-service arrays (stats, scheduler state).
    pub id: u32,
    /// Scheduler ([`sched`]).
    pub sched: u32,
    /// Number of valid entries in `dests`.
    pub ndests: u32,
    /// `svc_flags` bits.
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<SvcVal>() == 16);

/// What one of the XDP programs hands the program it tail-calls in the frame's XDP metadata
/// (`bpf_xdp_adjust_meta`): the packet as it parsed it and, once found, its service, so that
/// the next program neither parses nor looks the service up again (the addresses are read
/// from the frame again, at their fixed places). 32 bytes, the most the kernel allows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carry {
    /// [`CARRY_MAGIC`].
    pub magic: u16,
    /// The transport header's offset in the frame.
    pub l4: u16,
    /// The packet's service, when `has_svc` is 1.
    pub svc: SvcVal,
    /// The IP datagram's length.
    pub ip_len: u32,
    /// [`AF_V4`] or [`AF_V6`].
    pub af: u8,
    /// TCP or UDP.
    pub proto: u8,
    /// The TCP flags byte (0 for UDP).
    pub tcp_flags: u8,
    /// 1 when `svc` holds the packet's service.
    pub has_svc: u8,
    /// Source port, network order.
    pub sport_be: u16,
    /// Destination port, network order.
    pub dport_be: u16,
}
const _: () = assert!(core::mem::size_of::<Carry>() == 32);

/// [`Carry::magic`]: "r" and the layout's version. A change to [`Carry`] changes the
/// version, so that the programs of two builds (an old first program tail-calling a new
/// second one during an upgrade) never read each other's carry.
pub const CARRY_MAGIC: u16 = 0x7201;

impl Carry {
    /// The bytes as they stand in front of the frame (for tests that hand a program a carry).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..2].copy_from_slice(&self.magic.to_ne_bytes());
        b[2..4].copy_from_slice(&self.l4.to_ne_bytes());
        b[4..8].copy_from_slice(&self.svc.id.to_ne_bytes());
        b[8..12].copy_from_slice(&self.svc.sched.to_ne_bytes());
        b[12..16].copy_from_slice(&self.svc.ndests.to_ne_bytes());
        b[16..20].copy_from_slice(&self.svc.flags.to_ne_bytes());
        b[20..24].copy_from_slice(&self.ip_len.to_ne_bytes());
        b[24] = self.af;
        b[25] = self.proto;
        b[26] = self.tcp_flags;
        b[27] = self.has_svc;
        b[28..30].copy_from_slice(&self.sport_be.to_ne_bytes());
        b[30..32].copy_from_slice(&self.dport_be.to_ne_bytes());
        b
    }
}

/// One dest as the walks of the counting schedulers read it: its id (for its connection
/// counts and OVERLOAD), weight and [`dest`] flags, copied from its `DestVal`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkSlot {
    /// Dest id.
    pub id: u32,
    /// Weight.
    pub weight: i32,
    /// [`dest`] bits.
    pub flags: u32,
    /// Zero.
    pub _pad: u32,
}

/// Value of the `SVC_WALK` array (by service id): the service's dests in list order, each
/// with what a walk needs of it, side by side (one map and contiguous memory per walk instead
/// of the dest list and each dest's value apart). Written by user space with the service and
/// again whenever one of its dests changes. A program reads it only while `n` equals the
/// service's `ndests` (it is written before the service); otherwise, as after an upgrade from
/// an rvs without this map until the first write, the walk reads `SVC_DESTS` and `DESTS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkList {
    /// Valid slots.
    pub n: u32,
    /// Zero.
    pub _pad: u32,
    /// The dests, in list order.
    pub slots: [WalkSlot; MAX_DESTS],
}

/// Value of the `SVC_DESTS` array (by service id): the service's dest ids in list order
/// (newest first), `SvcVal::ndests` of them. Apart from the service so that the program's
/// walks read it in place instead of copying it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestList {
    /// Dest ids.
    pub dests: [u32; MAX_DESTS],
}

/// Value of the `DESTS` array, indexed by dest id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestVal {
    /// Real server address (IPv4 in the first four bytes).
    pub addr: [u8; 16],
    /// Weight.
    pub weight: i32,
    /// [`dest`] bits.
    pub flags: u32,
    /// Interface the dest is reached through.
    pub ifindex: u32,
    /// Real server port, network order.
    pub port_be: u16,
    /// Destination MAC.
    pub mac: [u8; 6],
    /// Source MAC to use (the egress interface's).
    pub src_mac: [u8; 6],
    /// Family.
    pub af: u8,
    /// Forwarding method (`conn_flags` FWD values).
    pub fwd: u8,
    /// Padding, zero.
    pub _pad: [u8; 4],
    /// Upper connection threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub l_threshold: u32,
}
const _: () = assert!(core::mem::size_of::<DestVal>() == 56);

/// Whether a dest is overloaded after a connection was bound to it (`ip_vs_bind_dest`):
/// active + inactive reached a non-zero upper threshold.
pub const fn overload_on_bind(active: u64, inactive: u64, u_threshold: u32) -> bool {
    u_threshold != 0 && active + inactive >= u_threshold as u64
}

/// Whether OVERLOAD clears after a connection left a dest (`ip_vs_unbind_dest`): below the
/// lower threshold if there is one, else below 3/4 of the upper, and always without either.
pub const fn overload_clears_on_unbind(active: u64, inactive: u64, l: u32, u: u32) -> bool {
    let total = active + inactive;
    if l != 0 {
        total < l as u64
    } else if u != 0 {
        total * 4 < u as u64 * 3
    } else {
        true
    }
}

/// Value of the `DEST_CONNS` array (the counts, changed with atomic adds) and of the
/// `DEST_SWEPT` array (counts user space took away when it expired entries; user space is its
/// only writer). A dest's ActiveConn is `DEST_CONNS.active - DEST_SWEPT.active`, so neither
/// side ever read-modify-writes a counter the other one changes.
///
/// `DEST_CONNS` is made mappable ([`BPF_F_MMAPABLE`]): user space then adds and subtracts
/// atomically in place, through a shared mapping, as the program does, leaves `DEST_SWEPT` at
/// zero and sets [`CONFIG_COUNTS_NET`], and the walks read one map per dest for its counts.
/// One pinned by an older rvs cannot be mapped: user space keeps writing `DEST_SWEPT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestConns {
    /// ActiveConn (64-bit: the BPF target has 64-bit atomics only).
    pub active: u64,
    /// InActConn.
    pub inactive: u64,
    /// PersistConn: the dest's persistence templates.
    pub persist: u64,
}
const _: () = assert!(core::mem::size_of::<DestConns>() == 24);

/// Index of `expire_nodest_conn` in the `CONFIG` array (0 or 1).
pub const CONFIG_EXPIRE_NODEST_CONN: u32 = 0;
/// Index of `expire_quiescent_template` in the `CONFIG` array (0 or 1).
pub const CONFIG_EXPIRE_QUIESCENT: u32 = 1;
/// Index of the number of fwmark rules in use in the `CONFIG` array.
pub const CONFIG_FWMARK_RULES: u32 = 2;
/// Index of `lblcr_expiration` (seconds) in the `CONFIG` array.
pub const CONFIG_LBLCR_EXPIRATION: u32 = 3;
/// Index of the sync master switch in the `CONFIG` array: nonzero while rvsd runs a sync
/// master, which makes the program report due connections in `SYNC_EVENTS`.
pub const CONFIG_SYNC_MASTER: u32 = 4;
/// Index of `sync_threshold` in the `CONFIG` array.
pub const CONFIG_SYNC_THRESHOLD: u32 = 5;
/// Index of `sync_period` in the `CONFIG` array.
pub const CONFIG_SYNC_PERIOD: u32 = 6;
/// Index of the counts switch in the `CONFIG` array: 1 while `DEST_CONNS` holds the counts
/// net of what user space released (it changes them in place, and `DEST_SWEPT` is zero), so
/// the walks over many dests need not read `DEST_SWEPT`; 0 (as in maps made by an older rvs)
/// while `DEST_SWEPT` holds what was released.
pub const CONFIG_COUNTS_NET: u32 = 7;
/// Entries in the `CONFIG` array.
pub const CONFIG_SLOTS: u32 = 8;

/// Slots of `RVS_EMBRYOS`, the ring that remembers embryonic entries in the order they were
/// made (a power of two). When the connection table is full, the oldest remembered entry
/// that is still embryonic is evicted for the new one; an embryonic entry older than the
/// ring remembers just waits for its timeout.
pub const EMBRYO_RING: u32 = 1 << 16;
/// How many ring slots one new entry may look at for an embryonic entry to evict.
pub const EVICT_TRIES: u32 = 8;

/// Value of the per-CPU `DEST_STATS` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections.
    pub conns: u64,
    /// Input packets.
    pub inpkts: u64,
    /// Output packets.
    pub outpkts: u64,
    /// Input bytes (IP datagram bytes).
    pub inbytes: u64,
    /// Output bytes.
    pub outbytes: u64,
}

impl Stats {
    /// Adds `o`'s counters to these (wrapping, as the counters themselves do).
    pub fn add(&mut self, o: &Stats) {
        self.conns = self.conns.wrapping_add(o.conns);
        self.inpkts = self.inpkts.wrapping_add(o.inpkts);
        self.outpkts = self.outpkts.wrapping_add(o.outpkts);
        self.inbytes = self.inbytes.wrapping_add(o.inbytes);
        self.outbytes = self.outbytes.wrapping_add(o.outbytes);
    }
}
const _: () = assert!(core::mem::size_of::<Stats>() == 40);

/// Key of the `CONNS` LRU hash: the client side of a flow, as the kernel's input lookup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Client address.
    pub caddr: [u8; 16],
    /// Virtual address.
    pub vaddr: [u8; 16],
    /// Client port, network order.
    pub cport_be: u16,
    /// Virtual port, network order.
    pub vport_be: u16,
    /// Protocol.
    pub proto: u8,
    /// Family.
    pub af: u8,
    /// [`KIND_CONN`] or [`KIND_TEMPLATE`]: templates live in the same table, and no
    /// connection key can equal a template's.
    pub kind: u8,
    /// Padding, zero.
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<ConnKey>() == 40);

/// [`ConnKey::kind`] of a connection.
pub const KIND_CONN: u8 = 0;
/// [`ConnKey::kind`] of a persistence template: `(protocol or 0, client network, 0, VIP or
/// fwmark, vport or 0)`, keyed as the kernel keys it: an fwmark service's template has
/// protocol 0 and the mark as its address, and port-0 and FTP services' templates vport 0.
pub const KIND_TEMPLATE: u8 = 1;

/// [`ConnVal::state`] of a template: created.
pub const TEMPLATE_NONE: u8 = 0;
/// [`ConnVal::state`] of a template: a connection made through it reached ESTABLISHED.
pub const TEMPLATE_ASSURED: u8 = 1;

/// Value of the `PERSIST` array (by service id): what the program needs to make a service's
/// template key. A timeout of 0 means the service is not persistent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistVal {
    /// Client network mask (`-M`, or the IPv6 prefix), as address bytes.
    pub mask: [u8; 16],
    /// Template virtual address: the VIP, or the fwmark as an IPv4 address.
    pub vaddr: [u8; 16],
    /// Template timeout in seconds (`-p`).
    pub timeout: u32,
    /// Template virtual port, network order: the service port, or 0 (port-0, fwmark, FTP).
    pub vport_be: u16,
    /// Template protocol: the service's, or 0 for fwmark services.
    pub proto: u8,
    /// Padding, zero.
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<PersistVal>() == 40);

/// Fills `out` with the template key of a client address on a service with parameters `p`:
/// the program (on a new connection) and the sweeper (finding the templates that still
/// control connections) both use it.
#[inline(always)]
pub fn template_key(out: &mut ConnKey, caddr: &[u8; 16], af: u8, p: &PersistVal) {
    for ((o, c), m) in out.caddr.iter_mut().zip(caddr).zip(&p.mask) {
        *o = c & m;
    }
    out.vaddr = p.vaddr;
    out.cport_be = 0;
    out.vport_be = p.vport_be;
    out.proto = p.proto;
    out.af = af;
    out.kind = KIND_TEMPLATE;
    out._pad = 0;
}

/// Port ranges in one [`FwmarkRule`] (iptables' multiport takes 15 ports too).
pub const FWMARK_PORT_RANGES: usize = 15;
/// Slots of the `FWMARKS` array.
pub const FWMARK_SLOTS: u32 = 64;

/// Value of the `FWMARKS` array: one `rvs fwmark` rule, the equivalent of
/// `iptables -t mangle -A PREROUTING -d DST -p PROTO -m multiport --dports PORTS -j MARK
/// --set-mark MARK`. The first matching rule (in slot order) marks the packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FwmarkRule {
    /// Destination address (masked).
    pub addr: [u8; 16],
    /// Destination mask.
    pub mask: [u8; 16],
    /// The mark.
    pub mark: u32,
    /// Family.
    pub af: u8,
    /// Protocol, 0 for any (TCP or UDP).
    pub proto: u8,
    /// Port ranges in use, 0 for any port.
    pub nports: u8,
    /// Padding, zero.
    pub _pad: u8,
    /// Inclusive destination port ranges `(low, high)`, host order.
    pub ports: [[u16; 2]; FWMARK_PORT_RANGES],
}
const _: () = assert!(core::mem::size_of::<FwmarkRule>() == 100);

/// Value of `CONNS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnVal {
    /// `bpf_ktime_get_ns` of the last packet.
    pub last_ns: u64,
    /// Dest id.
    pub dest: u32,
    /// Service id.
    pub svc: u32,
    /// Idle timeout in seconds.
    pub timeout: u32,
    /// `conn_flags` bits (method, NOOUTPUT, INACTIVE).
    pub flags: u32,
    /// TCP state index (`tcp::State`), 0 for UDP.
    pub state: u8,
    /// Padding, zero.
    pub _pad: u8,
    /// The real server's port of this connection, network order (NAT rewrites to it).
    pub dport_be: u16,
    /// Packets from the client (wrapping), for the sync daemon's threshold and period; an
    /// entry user space writes starts at 0. (Zero padding in entries of earlier releases.)
    pub in_pkts: u32,
}
const _: () = assert!(core::mem::size_of::<ConnVal>() == 32);

/// One record of the `SYNC_EVENTS` ring buffer: a connection the sync master should send
/// (see [`sync_needed`]), as it was after the packet that made it due.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncEvent {
    /// The connection's key.
    pub key: ConnKey,
    /// Its entry.
    pub val: ConnVal,
}
const _: () = assert!(core::mem::size_of::<SyncEvent>() == 72);

/// The kernel's default `sync_threshold` (packets).
pub const SYNC_THRESHOLD: u32 = 3;
/// The kernel's default `sync_period` (packets).
pub const SYNC_PERIOD: u32 = 50;

/// Whether a connection is due to be sent to the backups after a packet
/// (`ip_vs_sync_conn_needed` with `sync_refresh_period` 0 and `sync_persist_mode` 0): never
/// one-packet connections; TCP only in ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT and
/// TIME_WAIT, at once on a change into a state other than ESTABLISHED; otherwise when the
/// packet count `pkts` reaches `threshold` modulo `period` (once, at `threshold`, when
/// `period` is 0).
#[inline(always)]
pub const fn sync_needed(
    tcp: bool,
    flags: u32,
    old_state: u8,
    state: u8,
    pkts: u32,
    threshold: u32,
    period: u32,
) -> bool {
    use crate::tcp::State;
    if flags & crate::conn_flags::ONE_PACKET != 0 {
        return false;
    }
    if tcp {
        let syncable = state == State::Established as u8
            || state == State::FinWait as u8
            || state == State::Close as u8
            || state == State::CloseWait as u8
            || state == State::TimeWait as u8;
        if !syncable {
            return false;
        }
        if state != old_state && state != State::Established as u8 {
            return true;
        }
    }
    if period > 0 {
        pkts % period == threshold
    } else {
        pkts == threshold
    }
}

/// Key of the `CONNS_OUT` hash: a NAT connection as its real server's replies show it
/// (the kernel's "out" lookup). The value is the connection's [`ConnKey`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OutKey {
    /// Real server address (the reply's source).
    pub raddr: [u8; 16],
    /// Client address (the reply's destination).
    pub caddr: [u8; 16],
    /// Real server port, network order.
    pub rport_be: u16,
    /// Client port, network order.
    pub cport_be: u16,
    /// Protocol.
    pub proto: u8,
    /// Family.
    pub af: u8,
    /// Padding, zero.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<OutKey>() == 40);

/// The [`OutKey`] of a NAT connection to real server `raddr:rport_be`.
#[inline(always)]
pub fn out_key(out: &mut OutKey, ck: &ConnKey, raddr: &[u8; 16], rport_be: u16) {
    out.raddr = *raddr;
    out.caddr = ck.caddr;
    out.rport_be = rport_be;
    out.cport_be = ck.cport_be;
    out.proto = ck.proto;
    out.af = ck.af;
    out._pad = [0; 2];
}

/// Value of the `TUNNELS` array (by dest id): how to encapsulate for a tunnel dest.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunVal {
    /// Outer source address: the director's source towards the dest (IPv4 in the first 4).
    pub saddr: [u8; 16],
    /// The egress interface's MTU.
    pub mtu: u32,
    /// `--tun-port` (GUE), network order.
    pub port_be: u16,
    /// `crate::tun::TYPE_*`.
    pub kind: u8,
    /// Outer family ([`AF_V4`] or [`AF_V6`], the dest's).
    pub af: u8,
}
const _: () = assert!(core::mem::size_of::<TunVal>() == 24);

/// Key of the `NEED_NEIGH` LRU hash: a next hop the program found without a neighbour entry
/// (user space resolves it and removes the key). The value is the interface index.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NeighKey {
    /// Address (IPv4 in the first four bytes).
    pub addr: [u8; 16],
    /// Family.
    pub af: u8,
    /// Padding, zero.
    pub _pad: [u8; 3],
}
const _: () = assert!(core::mem::size_of::<NeighKey>() == 20);

/// Index of the UDP timeout in the `TIMEOUTS` array; TCP states use their state index.
pub const TIMEOUT_UDP: u32 = 11;
/// Entries in the `TIMEOUTS` array.
pub const TIMEOUT_SLOTS: u32 = 12;

/// Value of the `SCHED_STATE` array (per service): rr's cursor and wrr's state.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedState {
    /// Index in the dest list of the last pick, or -1 for the list head.
    pub cursor: i32,
    /// wrr current weight.
    pub cw: i32,
    /// wrr max weight minus (gcd - 1).
    pub mw: i32,
    /// wrr gcd.
    pub di: i32,
}
const _: () = assert!(core::mem::size_of::<SchedState>() == 16);

// SAFETY: every type above is `#[repr(C)]`, `Copy`, made of integers with explicit padding,
// so any byte pattern is a valid value.
#[cfg(feature = "user")]
unsafe impl aya::Pod for SvcKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SvcVal {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for DestVal {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for DestConns {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for Stats {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for ConnKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for ConnVal {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SchedState {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for HashTab {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for DestList {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for WalkList {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for PersistVal {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for FwmarkRule {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for LocalKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for OutKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for TunVal {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for NeighKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for LocalVal {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::State;

    const EST: u8 = State::Established as u8;

    #[test]
    fn sync_triggers_are_the_kernels() {
        let due = |tcp, flags, old: State, new: State, pkts| {
            sync_needed(
                tcp,
                flags,
                old as u8,
                new as u8,
                pkts,
                SYNC_THRESHOLD,
                SYNC_PERIOD,
            )
        };
        // Not before ESTABLISHED.
        assert!(!due(true, 0, State::None, State::SynRecv, 3));
        // In ESTABLISHED at packets 3, 53, 103, and only then.
        for (pkts, want) in [(2, false), (3, true), (4, false), (53, true), (103, true)] {
            assert_eq!(
                due(true, 0, State::Established, State::Established, pkts),
                want
            );
        }
        // Reaching ESTABLISHED is not forced; any other change into a synced state is.
        assert!(!due(true, 0, State::SynRecv, State::Established, 2));
        assert!(due(true, 0, State::Established, State::FinWait, 7));
        assert!(due(true, 0, State::FinWait, State::TimeWait, 8));
        assert!(!due(true, 0, State::TimeWait, State::TimeWait, 9));
        assert!(!due(true, 0, State::Established, State::SynSent, 3));
        // UDP by packet count; one-packet connections never.
        assert!(due(false, 0, State::None, State::None, 3));
        assert!(!due(false, 0, State::None, State::None, 4));
        assert!(!due(
            false,
            crate::conn_flags::ONE_PACKET,
            State::None,
            State::None,
            3
        ));
        // Period 0: once, at the threshold.
        assert!(sync_needed(true, 0, EST, EST, 3, 3, 0));
        assert!(!sync_needed(true, 0, EST, EST, 53, 3, 0));
    }
}
