// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-pkg`: the man pages and shell completions of rvsd, rvsadm and rvs, written from the
//! same definitions their command lines are parsed with, and the Debian package.
//!
//! ```text
//! rvs-pkg docs OUTDIR                      man/*.8 and completions/{bash,zsh,fish}/*
//! rvs-pkg deb --bins DIR --out FILE.deb    the package, from the binaries and eBPF objects
//!                                          in DIR (what `./x build` leaves in target/release)
//! ```
//!
//! The package installs `/usr/sbin/rvsd`, `/usr/sbin/rvsadm`, `/usr/bin/rvs`, the eBPF
//! objects in `/usr/lib/rvs/` (where the binaries look, `../lib/rvs` from their own
//! directory), the systemd unit, `/etc/default/rvsd` (a conffile), the man pages and the
//! completions. Its maintainer scripts reload systemd and stop rvsd on removal; they never
//! start it (rvsd needs its interfaces in `/etc/default/rvsd` first).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::CommandFactory;
use clap_complete::Shell;

const UNIT: &str = include_str!("../../../packaging/rvsd.service");
const DEFAULTS: &str = include_str!("../../../packaging/rvsd.default");
const README: &str = include_str!("../../../README.md");

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn man(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut out)?;
    Ok(out)
}

/// Writes `man/{rvsd,rvsadm,rvs}.8` and the completions under `out`; the files written,
/// relative to `out`.
fn docs(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |rel: PathBuf, bytes: Vec<u8>| -> anyhow::Result<()> {
        write(&out.join(&rel), bytes)?;
        written.push(rel);
        Ok(())
    };
    put("man/rvsd.8".into(), man(rvsd::Options::command())?)?;
    put("man/rvs.8".into(), man(rvs::cli::Cli::command())?)?;
    put("man/rvsadm.8".into(), rvsadm::man_page().into_bytes())?;
    for (name, mut cmd) in [
        ("rvsd", rvsd::Options::command()),
        ("rvs", rvs::cli::Cli::command()),
    ] {
        for (shell, rel) in [
            (Shell::Bash, format!("completions/bash/{name}")),
            (Shell::Zsh, format!("completions/zsh/_{name}")),
            (Shell::Fish, format!("completions/fish/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut buf);
            put(rel.into(), buf)?;
        }
    }
    put(
        "completions/bash/rvsadm".into(),
        rvsadm::bash_completion().into_bytes(),
    )?;
    Ok(written)
}

fn copy_exec(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(d) = to.parent() {
        fs::create_dir_all(d)?;
    }
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    // Debug information stays in the build tree.
    let _ = Command::new("strip").arg("--strip-debug").arg(to).status();
    set_mode(to, 0o755)
}

fn set_mode(p: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", p.display()))
}

fn gzip(p: &Path) -> anyhow::Result<()> {
    let st = Command::new("gzip")
        .args(["-9", "-n", "-f"])
        .arg(p)
        .status()?;
    if !st.success() {
        bail!("gzip {} failed", p.display());
    }
    Ok(())
}

const POSTINST: &str = "#!/bin/sh
set -e
# rvsd is not started here: it needs its interfaces in /etc/default/rvsd first.
if [ \"$1\" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
exit 0
";

const PRERM: &str = "#!/bin/sh
set -e
# Stopping rvsd keeps its XDP program and maps pinned (forwarding goes on);
# `rvs down` before removal detaches them.
if [ \"$1\" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop rvsd.service || true
fi
exit 0
";

const POSTRM: &str = "#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
if [ \"$1\" = purge ]; then
    rm -rf /var/lib/rvs
fi
exit 0
";

/// Builds the package from the binaries in `bins` into `out`.
fn deb(bins: &Path, out: &Path) -> anyhow::Result<()> {
    let stage = tempdir(out)?;
    let root = stage.join("root");
    for (bin, to) in [
        ("rvsd", "usr/sbin/rvsd"),
        ("rvsadm", "usr/sbin/rvsadm"),
        ("rvs", "usr/bin/rvs"),
    ] {
        copy_exec(&bins.join(bin), &root.join(to))?;
    }
    for obj in ["rvs-xdp.o", "rvs-decap.o"] {
        let to = root.join("usr/lib/rvs").join(obj);
        write(
            &to,
            fs::read(bins.join(obj)).with_context(|| {
                format!(
                    "{} missing: build first (./x build)",
                    bins.join(obj).display()
                )
            })?,
        )?;
        set_mode(&to, 0o644)?;
    }
    write(&root.join("lib/systemd/system/rvsd.service"), UNIT)?;
    write(&root.join("etc/default/rvsd"), DEFAULTS)?;
    let docs_dir = stage.join("docs");
    docs(&docs_dir)?;
    for page in ["rvsd.8", "rvsadm.8", "rvs.8"] {
        let to = root.join("usr/share/man/man8").join(page);
        write(&to, fs::read(docs_dir.join("man").join(page))?)?;
        gzip(&to)?;
    }
    for (from, to) in [
        (
            "completions/bash/rvsd",
            "usr/share/bash-completion/completions/rvsd",
        ),
        (
            "completions/bash/rvs",
            "usr/share/bash-completion/completions/rvs",
        ),
        (
            "completions/bash/rvsadm",
            "usr/share/bash-completion/completions/rvsadm",
        ),
        (
            "completions/zsh/_rvsd",
            "usr/share/zsh/vendor-completions/_rvsd",
        ),
        (
            "completions/zsh/_rvs",
            "usr/share/zsh/vendor-completions/_rvs",
        ),
        (
            "completions/fish/rvsd.fish",
            "usr/share/fish/vendor_completions.d/rvsd.fish",
        ),
        (
            "completions/fish/rvs.fish",
            "usr/share/fish/vendor_completions.d/rvs.fish",
        ),
    ] {
        write(&root.join(to), fs::read(docs_dir.join(from))?)?;
    }
    write(&root.join("usr/share/doc/rvs/README.md"), README)?;
    write(
        &root.join("usr/share/doc/rvs/copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: rvs\n\nFiles: *\nCopyright: the rvs authors\nLicense: MIT or Apache-2.0\n",
    )?;
    let installed_kb: u64 = walk(&root)?
        .iter()
        .map(|p| p.metadata().map_or(0, |m| m.len()))
        .sum::<u64>()
        / 1024;
    let control = format!(
        "Package: rvs\n\
         Version: {}\n\
         Architecture: amd64\n\
         Maintainer: rvs developers <rvs@localhost>\n\
         Installed-Size: {installed_kb}\n\
         Depends: libc6 (>= 2.36), iproute2\n\
         Section: net\n\
         Priority: optional\n\
         Homepage: https://example.invalid/rvs\n\
         Description: IPVS-compatible layer-4 load balancer on XDP\n \
         rvs is Linux Virtual Server rebuilt in Rust: rvsd forwards with an XDP\n \
         program (direct routing, NAT, tunnels, every IPVS scheduler), rvsadm is\n \
         ipvsadm 1.31 byte for byte, and rvs adds status, keepalived.conf health\n \
         checks, real-server setup and more.\n",
        env!("CARGO_PKG_VERSION")
    );
    let debian = root.join("DEBIAN");
    write(&debian.join("control"), control)?;
    write(&debian.join("conffiles"), "/etc/default/rvsd\n")?;
    for (name, text) in [("postinst", POSTINST), ("prerm", PRERM), ("postrm", POSTRM)] {
        write(&debian.join(name), text)?;
        set_mode(&debian.join(name), 0o755)?;
    }
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&root)
        .arg(out)
        .status()
        .context("running dpkg-deb")?;
    fs::remove_dir_all(&stage)?;
    if !st.success() {
        bail!("dpkg-deb failed");
    }
    Ok(())
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// A staging directory beside `out`.
fn tempdir(out: &Path) -> anyhow::Result<PathBuf> {
    let base = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let d = base.join(format!(".rvs-pkg-{}", std::process::id()));
    if d.exists() {
        fs::remove_dir_all(&d)?;
    }
    fs::create_dir_all(&d)?;
    Ok(d)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["docs", out] => {
            for f in docs(Path::new(out))? {
                println!("{}", Path::new(out).join(f).display());
            }
            Ok(())
        }
        ["deb", "--bins", bins, "--out", out] => {
            deb(Path::new(bins), Path::new(out))?;
            println!("{out}");
            Ok(())
        }
        _ => bail!("usage: rvs-pkg docs OUTDIR | rvs-pkg deb --bins DIR --out FILE.deb"),
    }
}
