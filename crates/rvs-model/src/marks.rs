// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packet marking for fwmark services (`rvs fwmark`).
//!
//! With IPVS, operators mark packets with netfilter (`iptables -t mangle -A PREROUTING -d VIP
//! -p tcp -m multiport --dports 80,443 -j MARK --set-mark 1`) and balance the mark with
//! `ipvsadm -A -f 1`. XDP runs before netfilter, so rvs keeps its own rules with the same
//! meaning: destination address or prefix, protocol, destination ports. The first rule that
//! matches, in the order they were added, gives the packet its mark. Rules are part of the
//! saved configuration; `ipvsadm -C` leaves them alone, as it leaves iptables alone.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Protocol;

/// Rules a director holds (the packet path's slots).
pub const MAX_RULES: usize = 64;
/// Port ranges in one rule (iptables' multiport takes 15 too).
pub const MAX_PORT_RANGES: usize = 15;

/// One marking rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRule {
    /// The mark (non-zero).
    pub mark: u32,
    /// Destination network address (host bits zero).
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix: u8,
    /// Protocol, or any (TCP and UDP).
    pub protocol: Option<Protocol>,
    /// Inclusive destination port ranges; empty for every port.
    pub ports: Vec<(u16, u16)>,
}

/// Why a rule is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkError {
    /// Mark 0 means "no mark".
    ZeroMark,
    /// Prefix longer than the address.
    Prefix,
    /// A port range with its ends reversed, or too many ranges.
    Ports,
    /// The same rule is already there.
    Exists,
    /// No rule matches what was given to delete.
    NotFound,
    /// All slots are in use.
    Full,
}

impl fmt::Display for MarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MarkError::ZeroMark => "the mark must be between 1 and 4294967295",
            MarkError::Prefix => "prefix length too long for the address",
            MarkError::Ports => "bad port list (at most 15 ports or LOW:HIGH ranges, LOW <= HIGH)",
            MarkError::Exists => "the same rule already exists",
            MarkError::NotFound => "no such rule",
            MarkError::Full => "no rule slot left (64 rules)",
        })
    }
}

impl std::error::Error for MarkError {}

impl MarkRule {
    /// A rule, checked and with the address reduced to its network.
    pub fn new(
        mark: u32,
        dst: IpAddr,
        prefix: Option<u8>,
        protocol: Option<Protocol>,
        ports: Vec<(u16, u16)>,
    ) -> Result<MarkRule, MarkError> {
        let bits = if dst.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if mark == 0 {
            return Err(MarkError::ZeroMark);
        }
        if prefix > bits {
            return Err(MarkError::Prefix);
        }
        if ports.len() > MAX_PORT_RANGES || ports.iter().any(|(l, h)| l > h) {
            return Err(MarkError::Ports);
        }
        let dst = network(&dst, prefix);
        Ok(MarkRule {
            mark,
            dst,
            prefix,
            protocol,
            ports,
        })
    }

    /// Whether a packet to `daddr:dport` over `protocol` matches.
    pub fn matches(&self, protocol: Protocol, daddr: &IpAddr, dport: u16) -> bool {
        daddr.is_ipv4() == self.dst.is_ipv4()
            && network(daddr, self.prefix) == self.dst
            && self.protocol.is_none_or(|p| p == protocol)
            && (self.ports.is_empty() || self.ports.iter().any(|(l, h)| (*l..=*h).contains(&dport)))
    }

    /// The address mask, as address bytes (IPv4 in the first four).
    pub fn mask_bytes(&self) -> [u8; 16] {
        let mut m = [0u8; 16];
        if self.dst.is_ipv4() {
            let v = if self.prefix == 0 {
                0
            } else {
                u32::MAX << (32 - self.prefix)
            };
            m[..4].copy_from_slice(&v.to_be_bytes());
        } else {
            let v = if self.prefix == 0 {
                0
            } else {
                u128::MAX << (128 - self.prefix)
            };
            m = v.to_be_bytes();
        }
        m
    }
}

/// `a` with the bits after `prefix` cleared.
pub fn network(a: &IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix.min(32))
            };
            IpAddr::from((u32::from(*v) & m).to_be_bytes())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix.min(128))
            };
            IpAddr::from((u128::from(*v) & m).to_be_bytes())
        }
    }
}

/// The rule as `rvs fwmark list` prints it, which is also how it is given to `rvs fwmark add`.
impl fmt::Display for MarkRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} --dst {}/{}", self.mark, self.dst, self.prefix)?;
        if let Some(p) = self.protocol {
            write!(f, " --proto {}", p.name())?;
        }
        if !self.ports.is_empty() {
            let list: Vec<String> = self
                .ports
                .iter()
                .map(|(l, h)| {
                    if l == h {
                        l.to_string()
                    } else {
                        format!("{l}:{h}")
                    }
                })
                .collect();
            write!(f, " --dports {}", list.join(","))?;
        }
        Ok(())
    }
}

/// Parses a port list: `80,443`, `8000:8100`, or a mix.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, MarkError> {
    s.split(',')
        .map(|part| {
            let (l, h) = part.split_once(':').unwrap_or((part, part));
            let l: u16 = l.trim().parse().map_err(|_| MarkError::Ports)?;
            let h: u16 = h.trim().parse().map_err(|_| MarkError::Ports)?;
            if l > h {
                return Err(MarkError::Ports);
            }
            Ok((l, h))
        })
        .collect()
}

/// The marks of a director, in match order.
pub fn add(rules: &mut Vec<MarkRule>, rule: MarkRule) -> Result<(), MarkError> {
    if rules.contains(&rule) {
        return Err(MarkError::Exists);
    }
    if rules.len() >= MAX_RULES {
        return Err(MarkError::Full);
    }
    rules.push(rule);
    Ok(())
}

/// Deletes `rule`, or with `None` every rule of `mark`.
pub fn delete(
    rules: &mut Vec<MarkRule>,
    mark: u32,
    rule: Option<&MarkRule>,
) -> Result<(), MarkError> {
    let before = rules.len();
    rules.retain(|r| match rule {
        Some(x) => r != x,
        None => r.mark != mark,
    });
    if rules.len() == before {
        return Err(MarkError::NotFound);
    }
    Ok(())
}

/// The mark the rules give a packet (0 for none): the first match.
pub fn mark_of(rules: &[MarkRule], protocol: Protocol, daddr: &IpAddr, dport: u16) -> u32 {
    rules
        .iter()
        .find(|r| r.matches(protocol, daddr, dport))
        .map_or(0, |r| r.mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str, proto: Option<Protocol>, ports: &str) -> MarkRule {
        let (a, p) = s
            .split_once('/')
            .map_or((s, None), |(a, p)| (a, Some(p.parse().unwrap())));
        let ports = if ports.is_empty() {
            vec![]
        } else {
            parse_ports(ports).unwrap()
        };
        MarkRule::new(1, a.parse().unwrap(), p, proto, ports).unwrap()
    }

    #[test]
    fn matches_like_iptables() {
        let r = rule("10.0.0.240", Some(Protocol::Tcp), "80,443");
        let vip: IpAddr = "10.0.0.240".parse().unwrap();
        assert!(r.matches(Protocol::Tcp, &vip, 80));
        assert!(r.matches(Protocol::Tcp, &vip, 443));
        assert!(!r.matches(Protocol::Tcp, &vip, 8080));
        assert!(!r.matches(Protocol::Udp, &vip, 80));
        assert!(!r.matches(Protocol::Tcp, &"10.0.0.241".parse().unwrap(), 80));
        let net = rule("10.0.0.77/24", None, "8000:8100");
        assert_eq!(
            net.dst,
            "10.0.0.0".parse::<IpAddr>().unwrap(),
            "host bits cleared"
        );
        assert!(net.matches(Protocol::Udp, &"10.0.0.9".parse().unwrap(), 8050));
        assert!(!net.matches(Protocol::Udp, &"10.0.1.9".parse().unwrap(), 8050));
        assert!(!net.matches(Protocol::Udp, &"10.0.0.9".parse().unwrap(), 8101));
        let v6 = rule("fd00::240", None, "");
        assert!(v6.matches(Protocol::Tcp, &"fd00::240".parse().unwrap(), 1));
        assert!(!v6.matches(Protocol::Tcp, &vip, 1), "family must match");
    }

    #[test]
    fn refusals() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            MarkRule::new(0, a, None, None, vec![]),
            Err(MarkError::ZeroMark)
        );
        assert_eq!(
            MarkRule::new(1, a, Some(33), None, vec![]),
            Err(MarkError::Prefix)
        );
        assert_eq!(parse_ports("90:80"), Err(MarkError::Ports));
        assert_eq!(parse_ports("http"), Err(MarkError::Ports));
        let mut rules = Vec::new();
        let r = rule("10.0.0.240", None, "80");
        add(&mut rules, r.clone()).unwrap();
        assert_eq!(add(&mut rules, r.clone()), Err(MarkError::Exists));
        assert_eq!(delete(&mut rules, 2, None), Err(MarkError::NotFound));
        assert_eq!(
            mark_of(&rules, Protocol::Tcp, &"10.0.0.240".parse().unwrap(), 80),
            1
        );
        delete(&mut rules, 1, Some(&r)).unwrap();
        assert!(rules.is_empty());
    }

    #[test]
    fn display_round_trips_through_the_cli_syntax() {
        let r = rule("10.0.0.240", Some(Protocol::Tcp), "80,443,8000:8100");
        assert_eq!(
            r.to_string(),
            "1 --dst 10.0.0.240/32 --proto tcp --dports 80,443,8000:8100"
        );
    }
}
