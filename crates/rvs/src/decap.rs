// SPDX-License-Identifier: MIT OR Apache-2.0
//! The tunnel decapsulator on a real server (`rvs realserver setup --tunnel ...`): the small
//! XDP program `rvs-decap` (crates/rvs-ebpf/src/decap.rs), attached to the interface the
//! tunnel arrives on, its link pinned in bpffs so that it stays after `rvs` exits. Attaching
//! again replaces it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rvs_dataplane::decap::DecapError;

/// The tunnel kinds the decapsulator takes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IP in IP (IPv4 or IPv6 outer).
    Ipip,
    /// GUE to a UDP port.
    Gue(u16),
    /// GRE.
    Gre,
}

impl Kind {
    /// The `--tunnel` words that give this kind.
    pub fn args(self) -> String {
        match self {
            Kind::Ipip => "--tunnel ipip".into(),
            Kind::Gue(p) => format!("--tunnel gue --port {p}"),
            Kind::Gre => "--tunnel gre".into(),
        }
    }
}

/// The object file: `$RVS_DECAP_OBJECT`, else as `rvs_dataplane::find_object` finds
/// `rvs-decap.o` (next to this executable, in `../lib/rvs/`, or the eBPF build output).
fn object_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RVS_DECAP_OBJECT") {
        return p.into();
    }
    rvs_dataplane::find_object(
        "rvs-decap.o",
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../rvs-ebpf/target/bpfel-unknown-none/release/rvs-decap"),
    )
}

/// Where the link of `dev` is pinned: named after the interface and this network namespace,
/// so that several namespaces can share one bpffs.
pub fn pin_path(bpffs: &Path, dev: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino());
    bpffs.join("rvs-decap").join(format!("link-{dev}-{ns}"))
}

/// Attaches the decapsulator to `dev` (replacing an earlier one).
pub fn attach(bpffs: &Path, dev: &str, kind: Kind) -> anyhow::Result<()> {
    rvs_dataplane::ensure_bpffs(bpffs)
        .with_context(|| format!("mounting bpffs at {}", bpffs.display()))?;
    let pin = pin_path(bpffs, dev);
    std::fs::create_dir_all(pin.parent().unwrap_or(bpffs))?;
    let port = match kind {
        Kind::Gue(p) => p,
        _ => 0,
    };
    match rvs_dataplane::decap::attach(&object_path(), dev, port, &pin) {
        Ok(()) => Ok(()),
        Err(e @ DecapError::Attach { .. }) => match xdp_program_on(dev) {
            Some(other) => bail!(
                "{dev} already has an XDP program ({other}), and an interface holds one: \
                 the decapsulator cannot be attached beside it. Remove that program first \
                 (`ip link set dev {dev} xdp off`; one attached through a pinned bpf_link \
                 goes when its pin is removed, e.g. `rvs down` for rvsd's), or put the \
                 real server's tunnel on another interface (--dev)"
            ),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The XDP program attached to `dev`, as "name NAME, id N, MODE mode", if there is one.
fn xdp_program_on(dev: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", dev])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    describe_xdp(v.get(0)?.get("xdp")?)
}

/// [`xdp_program_on`]'s text from the `xdp` object of `ip -d -j link show`.
fn describe_xdp(xdp: &serde_json::Value) -> Option<String> {
    let prog = xdp
        .get("prog")
        .or_else(|| xdp.get("attached")?.get(0)?.get("prog"))?;
    let id = prog.get("id").and_then(|i| i.as_u64())?;
    let name = prog.get("name").and_then(|n| n.as_str()).unwrap_or("?");
    let mode = match xdp.get("mode").and_then(|m| m.as_u64()) {
        Some(1) => "native",
        Some(2) => "generic",
        Some(3) => "offloaded",
        _ => "unknown",
    };
    Some(format!("name {name}, id {id}, {mode} mode"))
}

/// Whether a decapsulator this tool attached is on `dev`.
pub fn attached(bpffs: &Path, dev: &str) -> anyhow::Result<bool> {
    if !pin_path(bpffs, dev).exists() {
        return Ok(false);
    }
    let out = std::process::Command::new("ip")
        .args(["-j", "link", "show", "dev", dev])
        .output()
        .context("running ip(8)")?;
    if !out.status.success() {
        bail!("ip link show dev {dev} failed");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(v.get(0).is_some_and(|l| l.get("xdp").is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_in_the_way_is_named() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"mode":2,"prog":{"id":41,"name":"rvs_pass","tag":"a04f5eef06a7f555","jited":1}}"#,
        )
        .unwrap();
        assert_eq!(
            describe_xdp(&v).as_deref(),
            Some("name rvs_pass, id 41, generic mode")
        );
        assert_eq!(describe_xdp(&serde_json::json!({})), None);
    }
}
