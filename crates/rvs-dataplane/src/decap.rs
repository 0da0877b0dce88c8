// SPDX-License-Identifier: MIT OR Apache-2.0
//! The real servers' tunnel decapsulator (`rvs-decap`, crates/rvs-ebpf/src/decap.rs): loaded,
//! given its GUE port, attached to an interface and its link pinned, so that it stays after
//! the process that attached it exits.

use std::path::Path;

use aya::maps::Array;
use aya::programs::links::FdLink;
use aya::programs::{Xdp, XdpMode};
use rvs_common::maps::name;

/// Why the decapsulator could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum DecapError {
    /// The object could not be read.
    #[error("reading the decapsulator {path}: {source} (./x build)")]
    Object {
        /// Path tried.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Loading, configuring or attaching failed for another reason.
    #[error("{0}")]
    Load(String),
    /// The interface refused it in native and in generic mode; `0` is the kernel's answer.
    /// (An interface holds one XDP program: often the cause is one that is there already.)
    #[error("attaching the decapsulator to {dev}: {source}")]
    Attach {
        /// The interface.
        dev: String,
        /// Cause.
        source: aya::programs::ProgramError,
    },
}

/// Loads the decapsulator from `object`, sets the UDP port it takes GUE from (0: none),
/// attaches it to `dev` (native mode where the driver has it, generic otherwise) and pins its
/// link at `pin` (whose directory must exist on a bpffs). A decapsulator pinned there already
/// is detached first.
pub fn attach(object: &Path, dev: &str, gue_port: u16, pin: &Path) -> Result<(), DecapError> {
    let load = |e: &dyn std::fmt::Display| DecapError::Load(e.to_string());
    // The link pinned there holds the interface's XDP slot: it goes first.
    if pin.exists() {
        std::fs::remove_file(pin)
            .map_err(|e| DecapError::Load(format!("removing {}: {e}", pin.display())))?;
    }
    let bytes = std::fs::read(object).map_err(|source| DecapError::Object {
        path: object.to_path_buf(),
        source,
    })?;
    let mut ebpf = aya::Ebpf::load(&bytes).map_err(|e| load(&e))?;
    let map = ebpf
        .map_mut(name::DECAP)
        .ok_or_else(|| DecapError::Load(format!("map {} missing", name::DECAP)))?;
    let mut cfg: Array<_, u32> = Array::try_from(map).map_err(|e| load(&e))?;
    cfg.set(0, u32::from(gue_port), 0).map_err(|e| load(&e))?;
    let prog: &mut Xdp = ebpf
        .program_mut("rvs_decap")
        .ok_or_else(|| DecapError::Load("program rvs_decap missing".into()))?
        .try_into()
        .map_err(|e| load(&e))?;
    prog.load().map_err(|e| load(&e))?;
    let id = match prog.attach(dev, XdpMode::Driver) {
        Ok(id) => id,
        Err(_) => prog
            .attach(dev, XdpMode::Skb)
            .map_err(|source| DecapError::Attach {
                dev: dev.to_string(),
                source,
            })?,
    };
    let link = FdLink::try_from(prog.take_link(id).map_err(|e| load(&e))?)
        .map_err(|e| DecapError::Load(format!("{e} (the kernel attached without a bpf_link)")))?;
    link.pin(pin)
        .map_err(|e| DecapError::Load(format!("pinning {}: {e}", pin.display())))?;
    Ok(())
}
