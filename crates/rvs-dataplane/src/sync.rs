// SPDX-License-Identifier: MIT OR Apache-2.0
//! Connection sync seen from the maps: a due connection reported by the program becomes a
//! sync record ([`Director::sync_record`]), and records received from a master become
//! connection entries ([`Director::install_synced`]) as the kernel's backup makes them
//! (`ip_vs_proc_conn`): bound to the dest with the same address and port, counted in its
//! ActiveConn or InActConn, aging on the received timeout.

use std::collections::HashMap;
use std::net::IpAddr;

use rvs_common::conn_flags;
use rvs_common::maps::{self, AF_V4, AF_V6, ConnKey, ConnVal, KIND_CONN, SyncEvent};
use rvs_common::tcp::State;
use rvs_model::sync::{BACKUP_UPD_MASK, SyncConn};
use rvs_model::{Protocol, ServiceKey, Table};

use crate::director::{Director, monotonic_ns};
use crate::{Error, Released};

/// What installing one message's records did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// New entries.
    pub created: u64,
    /// Entries updated (state, timeout, INACTIVE).
    pub updated: u64,
    /// Records left aside: no such service or dest here, a template, a protocol the packet
    /// path does not carry, or a stale record about a replaced connection.
    pub ignored: u64,
}

/// An entry stepped by this director's program within this long is one it forwards.
const ACTIVE_HERE_NS: u64 = 2_000_000_000;

fn addr_of(af: u8, b: &[u8; 16]) -> IpAddr {
    if af == AF_V4 {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    } else {
        IpAddr::from(*b)
    }
}

fn bytes16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&v.octets());
            o
        }
        IpAddr::V6(v) => v.octets(),
    }
}

/// The flags a master sends: IPVS's own bits (`cp->flags` without HASHED), not rvs's
/// internal ones.
fn sent_flags(flags: u32) -> u32 {
    flags & 0xffff & !0x0040
}

impl Director {
    /// The sync records of connections the program reported (those whose service or dest
    /// this director no longer knows are left out).
    pub fn sync_records(&self, events: &[SyncEvent]) -> Vec<SyncConn> {
        let services: HashMap<u32, ServiceKey> = self
            .memory
            .svc_ids
            .iter()
            .map(|(k, id)| (*id, *k))
            .collect();
        let dests: HashMap<u32, IpAddr> = self
            .memory
            .dest_ids
            .iter()
            .map(|((_, a, _), id)| (*id, *a))
            .collect();
        events
            .iter()
            .filter_map(|ev| {
                let (k, v) = (&ev.key, &ev.val);
                let service = services.get(&v.svc)?;
                let daddr = *dests.get(&v.dest)?;
                let fwmark = match service {
                    ServiceKey::Fwmark { mark, .. } => *mark,
                    ServiceKey::Addr { .. } => 0,
                };
                Some(SyncConn {
                    protocol: k.proto,
                    flags: sent_flags(v.flags),
                    state: if k.proto == rvs_common::proto::TCP {
                        u16::from(v.state)
                    } else {
                        0
                    },
                    cport: u16::from_be(k.cport_be),
                    vport: u16::from_be(k.vport_be),
                    dport: u16::from_be(v.dport_be),
                    fwmark,
                    timeout: v.timeout,
                    caddr: addr_of(k.af, &k.caddr),
                    vaddr: addr_of(k.af, &k.vaddr),
                    daddr,
                    seq: None,
                    pe: None,
                })
            })
            .collect()
    }

    /// Enters the records of a sync message as a backup does (see the module's
    /// documentation). Templates are left aside: this master sends none.
    pub fn install_synced(
        &mut self,
        table: &Table,
        conns: &[SyncConn],
    ) -> Result<Installed, Error> {
        let mut done = Installed::default();
        let now = monotonic_ns();
        for r in conns {
            match self.install_one(table, r, now)? {
                Some(true) => done.created += 1,
                Some(false) => done.updated += 1,
                None => done.ignored += 1,
            }
        }
        Ok(done)
    }

    /// One record: `Some(true)` created, `Some(false)` updated, `None` left aside.
    fn install_one(
        &mut self,
        table: &Table,
        r: &SyncConn,
        now: u64,
    ) -> Result<Option<bool>, Error> {
        let protocol = match r.protocol {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            _ => return Ok(None),
        };
        if r.flags & conn_flags::TEMPLATE != 0 || r.caddr.is_ipv4() != r.vaddr.is_ipv4() {
            return Ok(None);
        }
        let keys = if r.fwmark != 0 {
            vec![ServiceKey::Fwmark {
                mark: r.fwmark,
                ipv6: r.caddr.is_ipv6(),
            }]
        } else {
            [r.vport, 0]
                .into_iter()
                .map(|port| ServiceKey::Addr {
                    protocol,
                    addr: r.vaddr,
                    port,
                })
                .collect()
        };
        let key = ConnKey {
            caddr: bytes16(r.caddr),
            vaddr: bytes16(r.vaddr),
            cport_be: r.cport.to_be(),
            vport_be: r.vport.to_be(),
            proto: r.protocol,
            af: if r.caddr.is_ipv4() { AF_V4 } else { AF_V6 },
            kind: KIND_CONN,
            _pad: 0,
        };
        let inactive = r.flags & conn_flags::INACTIVE != 0;
        let bound = keys
            .into_iter()
            .find(|k| table.service(k).is_some())
            .and_then(|service| {
                Some((
                    *self.memory.svc_ids.get(&service)?,
                    *self.memory.dest_ids.get(&(service, r.daddr, r.dport))?,
                ))
            });
        let Some((svc, dest)) = bound else {
            // No such service or dest here. An entry of the same connection bound elsewhere
            // is expired (the kernel would keep the connection unbound, which forwards
            // nothing either); the record itself is left aside.
            if !inactive && let Some(old) = self.dp.conn(&key)? {
                let same = self
                    .dest_vals
                    .get(&old.dest)
                    .is_some_and(|d| d.addr == bytes16(r.daddr) && d.port_be == r.dport.to_be());
                if !same {
                    self.expire(&key)?;
                }
            }
            return Ok(None);
        };
        let timeout = if r.timeout != 0 {
            r.timeout
        } else if protocol == Protocol::Tcp {
            State::from_u8(r.state as u8)
                .map_or(table.timeouts.tcp, |s| table.timeouts.tcp_state(s))
        } else {
            table.timeouts.udp
        };
        let counted = |inactive: bool| {
            if inactive {
                Released::Inactive
            } else {
                Released::Active
            }
        };
        // The forwarding method (and so NOOUTPUT) is the backup's dest's, as
        // `ip_vs_bind_dest` does for synced connections.
        let fwd = self
            .dest_vals
            .get(&dest)
            .map_or(r.flags & conn_flags::FWD_MASK, |d| u32::from(d.fwd));
        let mut flags = r.backup_flags() & !(conn_flags::FWD_MASK | conn_flags::NOOUTPUT);
        flags |= fwd;
        if fwd != conn_flags::MASQ {
            flags |= conn_flags::NOOUTPUT;
        }
        let v = ConnVal {
            last_ns: now,
            dest,
            svc,
            timeout,
            flags,
            state: r.state as u8,
            _pad: 0,
            dport_be: r.dport.to_be(),
            in_pkts: maps::SYNC_THRESHOLD,
        };
        for _ in 0..2 {
            if let Some(mut old) = self.dp.conn(&key)? {
                if old.dest != dest {
                    if inactive {
                        // A late record about a connection since replaced.
                        return Ok(None);
                    }
                    self.expire(&key)?;
                    continue;
                }
                // An entry this director's program has stepped since the last record (its
                // packet count moved off the mark a record leaves) is one it forwards now:
                // its own view wins, and no write here can race the program's.
                if old.in_pkts != maps::SYNC_THRESHOLD
                    && now.saturating_sub(old.last_ns) < ACTIVE_HERE_NS
                {
                    return Ok(None);
                }
                let was_inactive = old.flags & conn_flags::INACTIVE != 0;
                old.flags = (old.flags & !BACKUP_UPD_MASK) | (r.flags & BACKUP_UPD_MASK);
                old.state = r.state as u8;
                old.timeout = timeout;
                old.last_ns = now;
                old.in_pkts = maps::SYNC_THRESHOLD;
                self.dp.put_conn(&key, &old)?;
                if was_inactive != inactive {
                    self.dp.add_swept(dest, counted(was_inactive))?;
                    self.dp.add_entered(dest, counted(inactive))?;
                }
                return Ok(Some(false));
            }
            // Entered only if still absent: an entry the program made meanwhile stays (and
            // the loop goes round to update it).
            if !self.dp.insert_new_conn(&key, &v)? {
                continue;
            }
            self.dp.add_entered(dest, counted(inactive))?;
            if fwd == conn_flags::MASQ {
                let mut ok = maps::OutKey::default();
                maps::out_key(&mut ok, &key, &bytes16(r.daddr), v.dport_be);
                self.dp.put_conn_out(&ok, &key)?;
            }
            return Ok(Some(true));
        }
        Ok(None)
    }
}
