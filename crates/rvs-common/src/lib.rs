// SPDX-License-Identifier: MIT OR Apache-2.0
//! Definitions shared by the rvs eBPF program and user space.
//!
//! This crate is `no_std` and has no dependencies so that the XDP program (built for
//! `bpfel-unknown-none`) and the user-space crates read the same constants and tables from one
//! source. It holds:
//!
//! * the IPVS flag and protocol numbers that appear in the control API and in map bytes
//!   ([`proto`], [`svc_flags`], [`conn_flags`], and [`maps::dest`] for the dests);
//! * the TCP state machine of IPVS as plain tables ([`tcp`]), stepped identically by the
//!   packet path and by `rvs-model`.
//!
//! Map key/value layouts land here with the packet path; every `#[repr(C)]` type gets a size
//! assertion next to it.
#![cfg_attr(not(feature = "user"), no_std)]

pub mod maps;
pub mod tcp;

/// IP protocol numbers used by IPVS services.
pub mod proto {
    /// Persistence templates of fwmark services use protocol 0 ("IP").
    pub const IP: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Service flags, as in `include/uapi/linux/ip_vs.h` (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    /// Persistent service (`-p`).
    pub const PERSISTENT: u32 = 0x0001;
    /// Internal: the service is hashed. Never shown.
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling (`-o`).
    pub const ONEPACKET: u32 = 0x0004;
    /// Scheduler flag 1 (`sh-fallback`, `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2 (`sh-port`, `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;
    /// All three scheduler flag bits.
    pub const SCHED_MASK: u32 = SCHED1 | SCHED2 | SCHED3;
}

/// Connection (and dest forwarding) flags, `IP_VS_CONN_F_*`.
pub mod conn_flags {
    /// Mask of the forwarding method bits.
    pub const FWD_MASK: u32 = 0x0007;
    /// NAT (masquerading).
    pub const MASQ: u32 = 0;
    /// Local node.
    pub const LOCALNODE: u32 = 1;
    /// IP tunnelling.
    pub const TUNNEL: u32 = 2;
    /// Direct routing.
    pub const DROUTE: u32 = 3;
    /// Cache bypass.
    pub const BYPASS: u32 = 4;
    /// Created from a sync message.
    pub const SYNC: u32 = 0x0020;
    /// No server-to-client packet seen yet: use the INPUT-ONLY TCP table.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Counted in inactconns.
    pub const INACTIVE: u32 = 0x0100;
    /// Client port not known yet.
    pub const NO_CPORT: u32 = 0x0800;
    /// Persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling entry.
    pub const ONE_PACKET: u32 = 0x2000;
    /// rvs's own bit (no IPVS flag): an embryonic entry, that is, a TCP connection that has
    /// seen nothing but a SYN, a UDP flow that has sent one datagram, or a persistence
    /// template no such entry has confirmed yet. Only embryonic entries are ever evicted to
    /// make room (oldest first), so a flood of new sources cannot push out connections that
    /// proved they are real. Cleared by the first packet that is not a SYN (the handshake's
    /// ACK, which direct routing sees), or a second datagram.
    pub const EMBRYO: u32 = 0x0100_0000;
}

/// Why the packet path passed or dropped a packet, or what it did besides forwarding: the
/// indexes of the per-CPU `RVS_REASONS` counters, shared by the program and `rvs status`.
pub mod reason {
    /// Not IPv4/IPv6, not TCP/UDP, or not for a service.
    pub const NOT_SERVICE: u32 = 0;
    /// Truncated or malformed headers.
    pub const MALFORMED: u32 = 1;
    /// A fragment (the stack reassembles).
    pub const FRAGMENT: u32 = 2;
    /// A TCP segment that cannot start a connection and has none.
    pub const NO_CONN_NOT_SYN: u32 = 3;
    /// No dest could take the connection (ICMP port unreachable).
    pub const NO_DEST: u32 = 4;
    /// The connection's dest was removed.
    pub const DEST_GONE: u32 = 5;
    /// TTL/hop limit would reach zero: the stack answers.
    pub const TTL_EXCEEDED: u32 = 6;
    /// Two copies of one SYN raced; the second was dropped.
    pub const CONN_INSERT: u32 = 7;
    /// Not counted: once how the first programs handed a new connection on (they now say
    /// so apart from the reasons); the number stays so that the others keep theirs.
    pub const SCHEDULE: u32 = 8;
    /// A next hop or dest without a neighbour entry yet (dropped; resolved by user space).
    pub const NO_NEIGHBOUR: u32 = 9;
    /// A NAT reply without a route (to the stack).
    pub const NO_ROUTE: u32 = 10;
    /// Not counted: as [`SCHEDULE`], for a packet without a connection entry.
    pub const MISS: u32 = 11;
    /// Too big to encapsulate without DF.
    pub const TOO_BIG: u32 = 12;
    /// ICMP where only TCP and UDP were expected (a new connection's program met it; the
    /// first program hands ICMP to its own, uncounted).
    pub const ICMP: u32 = 13;
    /// The connection table is full of confirmed entries: a new connection was refused
    /// (dropped; the client retransmits).
    pub const TABLE_FULL: u32 = 14;
    /// An embryonic entry was evicted to make room for a new one (the packet was forwarded).
    pub const EMBRYO_EVICTED: u32 = 15;
    /// How many there are (the size of `RVS_REASONS`).
    pub const COUNT: u32 = 16;
    /// Names for `rvs status`, by index.
    pub const NAMES: [&str; COUNT as usize] = [
        "not for a service (passed)",
        "malformed (passed)",
        "fragment (passed)",
        "TCP without a connection, not a SYN (passed)",
        "no dest available (port unreachable sent)",
        "dest removed (dropped)",
        "TTL exceeded (passed)",
        "duplicate SYN raced (dropped)",
        "scheduled",
        "neighbour being resolved (dropped)",
        "NAT reply without a route (passed)",
        "no connection entry",
        "too big to encapsulate (dropped)",
        "ICMP",
        "connection table full (new connection dropped)",
        "embryonic entries evicted for new ones",
    ];
    /// Short names for metrics labels, by index.
    pub const LABELS: [&str; COUNT as usize] = [
        "not_service",
        "malformed",
        "fragment",
        "no_conn_not_syn",
        "no_dest",
        "dest_gone",
        "ttl_exceeded",
        "conn_insert",
        "schedule",
        "no_neighbour",
        "no_route",
        "miss",
        "too_big",
        "icmp",
        "table_full",
        "embryo_evicted",
    ];
}

/// Tunnel encapsulation types and flags (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
pub mod tun {
    /// IP-in-IP.
    pub const TYPE_IPIP: u8 = 0;
    /// Generic UDP encapsulation.
    pub const TYPE_GUE: u8 = 1;
    /// GRE.
    pub const TYPE_GRE: u8 = 2;
    /// No checksum.
    pub const FLAG_NOCSUM: u16 = 0;
    /// Checksum.
    pub const FLAG_CSUM: u16 = 1;
    /// Remote checksum offload.
    pub const FLAG_REMCSUM: u16 = 2;
}
