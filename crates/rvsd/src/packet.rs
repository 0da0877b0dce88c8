// SPDX-License-Identifier: MIT OR Apache-2.0
//! The packet path as rvsd runs it: the XDP program loaded with its maps pinned (adopting
//! an earlier rvsd's), attached to the interfaces, and the director's ids kept on disk.
//! Requests reach it through [`crate::state`].

use rvs_common::maps::name;
use rvs_dataplane::director::Director;

use crate::{Options, log};

/// What `rvs status` says without a packet path.
pub const PACKET_PATH: &str = "control plane only (no --interface)";

/// The XDP program, attached, and what the daemon knows about it.
pub struct Packet {
    pub(crate) director: Director,
    pub(crate) attached: Vec<(String, &'static str)>,
    pub(crate) expire_nodest_conn: bool,
    pub(crate) pin_dir: std::path::PathBuf,
    pub(crate) ids_path: std::path::PathBuf,
    pub(crate) saved_ids: rvs_dataplane::director::Ids,
    /// The object the program was loaded from (`rvs trace` loads it again, into a sandbox).
    pub(crate) object: std::sync::Arc<Vec<u8>>,
}

impl Packet {
    /// Loads the program with its maps pinned in the instance's directory (adopting what an
    /// earlier rvsd left there) and attaches it to every `--interface` through pinned links,
    /// so that forwarding goes on while no rvsd runs.
    pub fn start(opts: &Options) -> anyhow::Result<Packet> {
        use anyhow::Context;
        if rvs_dataplane::ensure_bpffs(&opts.bpffs)
            .with_context(|| format!("bpffs at {}", opts.bpffs.display()))?
        {
            log(format_args!("mounted bpffs at {}", opts.bpffs.display()));
        }
        let pin_dir = opts.pin_dir();
        std::fs::create_dir_all(&pin_dir)
            .with_context(|| format!("creating {}", pin_dir.display()))?;
        let ids_path = opts.state_dir.join("packet-ids.json");
        let adopting = pin_dir.join(name::TIMEOUTS).exists();
        let ids: rvs_dataplane::director::Ids = if adopting {
            match std::fs::read(&ids_path) {
                Ok(b) => serde_json::from_slice(&b)
                    .with_context(|| format!("{} is not readable", ids_path.display()))?,
                Err(_) => Default::default(),
            }
        } else {
            Default::default()
        };
        let path = rvs_dataplane::object_path();
        let object = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut dp =
            rvs_dataplane::Dataplane::load_pinned_object(&object, opts.conn_tab_size, &pin_dir)
                .with_context(|| format!("loading the XDP program from {}", path.display()))?;
        log(format_args!(
            "loaded the XDP program from {}",
            path.display()
        ));
        if adopting {
            log(format_args!(
                "adopted the maps pinned in {}",
                pin_dir.display()
            ));
        }
        let mut attached = Vec::new();
        for iface in &opts.interfaces {
            let mode = dp
                .attach_pinned(rvs_dataplane::PROGRAM, iface, &pin_dir)
                .with_context(|| format!("attaching XDP to {iface}"))?;
            if mode == "adopted" {
                log(format_args!(
                    "XDP on {iface}: adopted the pinned link, program replaced"
                ));
            } else {
                log(format_args!("XDP attached to {iface} in {mode} mode"));
            }
            attached.push((iface.clone(), mode));
        }
        let mut director = Director::with_ids(dp, ids.clone());
        director.expire_quiescent_template = opts.expire_quiescent_template;
        Ok(Packet {
            director,
            attached,
            expire_nodest_conn: opts.expire_nodest_conn,
            pin_dir,
            ids_path,
            saved_ids: ids,
            object: std::sync::Arc::new(object),
        })
    }

    /// Saves the director's ids when they changed (atomically and durably, like the
    /// configuration).
    pub(crate) fn save_ids(&mut self) {
        let ids = self.director.ids();
        if ids == self.saved_ids {
            return;
        }
        let r = serde_json::to_vec(&ids)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::persist::write_atomically(&self.ids_path, &b));
        match r {
            Ok(()) => self.saved_ids = ids,
            Err(e) => log(format_args!("saving {}: {e}", self.ids_path.display())),
        }
    }

    pub(crate) fn describe(&self) -> String {
        let ifaces: Vec<String> = self
            .attached
            .iter()
            .map(|(i, m)| format!("{i} ({m})"))
            .collect();
        format!("XDP on {}", ifaces.join(", "))
    }
}
