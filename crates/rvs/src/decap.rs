// SPDX-License-Identifier: MIT OR Apache-2.0
//! The tunnel decapsulator on a real server (`rvs realserver setup --tunnel ...`): the small
//! XDP program `rvs-decap` (crates/rvs-ebpf/src/decap.rs), attached to the interface the
//! tunnel arrives on, its link pinned in bpffs so that it stays after `rvs` exits. Attaching
//! again replaces it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aya::maps::Array;
use aya::programs::links::FdLink;
use aya::programs::{Xdp, XdpMode};

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

/// The object file: `$RVS_DECAP_OBJECT`, next to this executable, or the eBPF build output.
fn object_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RVS_DECAP_OBJECT") {
        return p.into();
    }
    if let Some(p) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("rvs-decap.o")))
        .filter(|p| p.exists())
    {
        return p;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../rvs-ebpf/target/bpfel-unknown-none/release/rvs-decap")
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
    if pin.exists() {
        std::fs::remove_file(&pin).with_context(|| format!("removing {}", pin.display()))?;
    }
    let path = object_path();
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the decapsulator {} (./x build)", path.display()))?;
    let mut ebpf = aya::Ebpf::load(&bytes).context("loading the decapsulator")?;
    let port = match kind {
        Kind::Gue(p) => u32::from(p),
        _ => 0,
    };
    let mut cfg: Array<_, u32> =
        Array::try_from(ebpf.map_mut("RVS_DECAP").context("map RVS_DECAP")?)?;
    cfg.set(0, port, 0)?;
    let prog: &mut Xdp = ebpf
        .program_mut("rvs_decap")
        .context("program rvs_decap")?
        .try_into()?;
    prog.load()?;
    let id = match prog.attach(dev, XdpMode::Driver) {
        Ok(id) => id,
        Err(_) => prog.attach(dev, XdpMode::Skb)?,
    };
    let link = FdLink::try_from(prog.take_link(id)?)
        .map_err(|e| anyhow::anyhow!("{e} (the kernel attached without a bpf_link)"))?;
    link.pin(&pin)
        .map_err(|e| anyhow::anyhow!("pinning {}: {e}", pin.display()))?;
    Ok(())
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
