// SPDX-License-Identifier: MIT OR Apache-2.0
//! Configuration values: what identifies a service, and the settings of services, dests and
//! sync daemons, as the control API carries them.

use std::net::IpAddr;

use rvs_common::{conn_flags, proto, svc_flags, tun};
use serde::{Deserialize, Serialize};

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 (`AF_INET`, 2).
    V4,
    /// IPv6 (`AF_INET6`, 10).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The Linux `AF_*` number (used where ipvsadm compares families numerically).
    pub fn af(self) -> i32 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }
}

/// Transport protocol of an address service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => proto::TCP,
            Protocol::Udp => proto::UDP,
            Protocol::Sctp => proto::SCTP,
        }
    }

    /// Lower-case name as used by `/etc/services`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// What identifies a virtual service: `(protocol, VIP, port)` or `(family, fwmark)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKey {
    /// An address service.
    Addr {
        /// Protocol.
        protocol: Protocol,
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port (0: persistent catch-all).
        port: u16,
    },
    /// A firewall-mark service.
    Fwmark {
        /// The mark, 1..=u32::MAX.
        mark: u32,
        /// Whether it is the IPv6 service of that mark.
        ipv6: bool,
    },
}

impl ServiceKey {
    /// The service as `rvs status`, `rvs top` and `rvs trace` name it: `TCP 10.0.0.1:80`,
    /// `UDP [fd00::1]:53`, `FWM 7`, `FWM 7 IPv6`.
    pub fn label(&self) -> String {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => format!(
                "{} {}",
                protocol.name().to_uppercase(),
                std::net::SocketAddr::new(*addr, *port)
            ),
            ServiceKey::Fwmark { mark, ipv6 } => {
                format!("FWM {mark}{}", if *ipv6 { " IPv6" } else { "" })
            }
        }
    }

    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { ipv6: true, .. } => Family::V6,
            ServiceKey::Fwmark { ipv6: false, .. } => Family::V4,
        }
    }

    /// The protocol the kernel stores for this service: fwmark services are stored as TCP
    /// (ipvsadm sets it so). The kernel does not report it for a fwmark service (libipvs
    /// leaves 0), so ipvsadm names no port of one.
    pub fn protocol(&self) -> Protocol {
        match self {
            ServiceKey::Addr { protocol, .. } => *protocol,
            ServiceKey::Fwmark { .. } => Protocol::Tcp,
        }
    }

    /// The virtual port; 0 for fwmark services.
    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }

    /// The fwmark; 0 for address services.
    pub fn fwmark(&self) -> u32 {
        match self {
            ServiceKey::Addr { .. } => 0,
            ServiceKey::Fwmark { mark, .. } => *mark,
        }
    }
}

/// Scheduler names the kernel knows (`ip_vs_<name>.c`), plus `none`.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
    "none",
];

/// Persistence engines the kernel knows.
pub const PERSISTENCE_ENGINES: &[&str] = &["sip"];

/// The settings of a virtual service, as `-A`/`-E` send them (every field, every time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name.
    pub scheduler: String,
    /// `svc_flags` bits (PERSISTENT, ONEPACKET, SCHED1..3).
    pub flags: u32,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// Persistence granularity: an IPv4 mask (host-order u32) or an IPv6 prefix length.
    pub netmask: u32,
    /// Persistence engine name, empty for none.
    #[serde(default)]
    pub pe: String,
}

impl ServiceConfig {
    /// Whether the service is persistent.
    pub fn persistent(&self) -> bool {
        self.flags & svc_flags::PERSISTENT != 0
    }
}

/// Forwarding method of a dest (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FwdMethod {
    /// NAT (`-m`, `Masq`).
    Masq,
    /// Local node (`Local`; never set by current kernels).
    Local,
    /// IP tunnelling (`-i`, `Tunnel`).
    Tunnel,
    /// Direct routing (`-g`, `Route`).
    Route,
}

impl FwdMethod {
    /// The conn flag value.
    pub fn conn_flag(self) -> u32 {
        match self {
            FwdMethod::Masq => conn_flags::MASQ,
            FwdMethod::Local => conn_flags::LOCALNODE,
            FwdMethod::Tunnel => conn_flags::TUNNEL,
            FwdMethod::Route => conn_flags::DROUTE,
        }
    }
}

/// Tunnel encapsulation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunType {
    /// IP in IP (default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation.
    Gue,
    /// GRE.
    Gre,
}

impl TunType {
    /// The uapi number.
    pub fn number(self) -> u8 {
        match self {
            TunType::Ipip => tun::TYPE_IPIP,
            TunType::Gue => tun::TYPE_GUE,
            TunType::Gre => tun::TYPE_GRE,
        }
    }
}

/// Tunnel checksum mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunCsum {
    /// No checksum (default).
    #[default]
    Nocsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload.
    Remcsum,
}

/// The settings of a dest, as `-a`/`-e` send them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestConfig {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Weight (ipvsadm sends 0..=65535; the kernel refuses negatives).
    pub weight: i32,
    /// Upper connection threshold, 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub l_threshold: u32,
    /// Tunnel type (meaningful for `Tunnel` only).
    #[serde(default)]
    pub tun_type: TunType,
    /// GUE destination port.
    #[serde(default)]
    pub tun_port: u16,
    /// Tunnel checksum mode.
    #[serde(default)]
    pub tun_csum: TunCsum,
}

/// Which sync daemon role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncRole {
    /// Sends connection state.
    Master,
    /// Receives it.
    Backup,
}

impl SyncRole {
    /// `master` or `backup`.
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// Sync daemon settings as `--start-daemon` sends them (0 / `None` = kernel default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// Role.
    pub role: SyncRole,
    /// Multicast interface.
    pub mcast_ifn: String,
    /// Sync id, 0..=255.
    pub syncid: u8,
    /// Maximum message length, 0 = default.
    pub sync_maxlen: u16,
    /// Multicast group, `None` = default 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    /// UDP port, 0 = default 8848.
    pub mcast_port: u16,
    /// TTL, 0 = default 1.
    pub mcast_ttl: u8,
}
