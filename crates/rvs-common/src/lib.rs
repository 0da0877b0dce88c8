// SPDX-License-Identifier: MIT OR Apache-2.0
//! Definitions shared by the rvs eBPF program and user space.
//!
//! This crate is `no_std` and has no dependencies so that the XDP program (built for
//! `bpfel-unknown-none`) and the user-space crates read the same constants and tables from one
//! source. It holds:
//!
//! * the IPVS flag and protocol numbers that appear in the control API and in map bytes
//!   ([`proto`], [`svc_flags`], [`conn_flags`], [`dest_flags`]);
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
}

/// Destination flags, `IP_VS_DEST_F_*`.
pub mod dest_flags {
    /// The dest belongs to a service.
    pub const AVAILABLE: u32 = 0x0001;
    /// The upper threshold was reached.
    pub const OVERLOAD: u32 = 0x0002;
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
