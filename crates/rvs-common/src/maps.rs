// SPDX-License-Identifier: MIT OR Apache-2.0
//! Map keys and values shared by the XDP program and `rvs-dataplane`.
//!
//! Every type is `#[repr(C)]` with explicit padding and a size assertion, holds integers only
//! (no enums or bools: the kernel may hand back any byte), and keeps network byte order in
//! fields whose names end in `_be`. Pinned maps outlive processes, so layouts are append-only:
//! a real change renames the map.

/// Most dests one service can hold in the packet path.
pub const MAX_DESTS: usize = 64;
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
}

/// sh and dh table size.
pub const SH_TAB_SIZE: u32 = 256;
/// mh table size (the prime 4093).
pub const MH_TAB_SIZE: u32 = 4093;
/// mh's first hsiphash key (both halves).
pub const MH_K1: u64 = 2_654_435_761;

/// Key of `SCHED_TABLE`: service id in the high half, slot in the low half.
pub const fn sched_table_key(svc_id: u32, slot: u32) -> u64 {
    ((svc_id as u64) << 32) | slot as u64
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

/// [`DestVal::flags`] bits.
pub mod dest {
    /// The dest is in its service (AVAILABLE).
    pub const AVAILABLE: u32 = 0x1;
    /// OVERLOAD (upper threshold reached).
    pub const OVERLOAD: u32 = 0x2;
    /// The dest's MAC address is known; without it the dest takes no new connections.
    pub const MAC_KNOWN: u32 = 0x4;
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
    /// Dest ids in list order (newest first).
    pub dests: [u32; MAX_DESTS],
}
const _: () = assert!(core::mem::size_of::<SvcVal>() == 16 + 4 * MAX_DESTS);

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

/// Value of the `DEST_CONNS` array (counts the program added, with atomic adds) and of the
/// `DEST_SWEPT` array (counts user space took away when it expired entries; user space is its
/// only writer). A dest's ActiveConn is `DEST_CONNS.active - DEST_SWEPT.active`, so neither
/// side ever read-modify-writes a counter the other one changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestConns {
    /// ActiveConn (64-bit: the BPF target has 64-bit atomics only).
    pub active: u64,
    /// InActConn.
    pub inactive: u64,
}
const _: () = assert!(core::mem::size_of::<DestConns>() == 16);

/// Index of `expire_nodest_conn` in the `CONFIG` array (0 or 1).
pub const CONFIG_EXPIRE_NODEST_CONN: u32 = 0;
/// Entries in the `CONFIG` array.
pub const CONFIG_SLOTS: u32 = 8;

/// Value of the per-CPU `SVC_STATS`, `DEST_STATS` and `TOTAL_STATS` arrays.
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
    /// Padding, zero.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<ConnKey>() == 40);

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
    pub _pad: [u8; 7],
}
const _: () = assert!(core::mem::size_of::<ConnVal>() == 32);

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
