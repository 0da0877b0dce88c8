// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs realserver setup|check`: the usual LVS direct-routing setup of a real server, and
//! with `--tunnel ipip|gue|gre` the tunnel one: relaxed reverse-path filtering and rvs's
//! decapsulator on the interface ([`crate::decap`]).
//!
//! For each VIP: `net.ipv4.conf.all.arp_ignore=1` and `arp_announce=2` (and on the interface
//! facing the VIP network, where the kernel takes the larger of `all` and the interface), set
//! before the VIP goes up; then the VIP on `lo` as a host address (`/32 scope host`, `/128` for
//! IPv6). `setup` applies what is missing and changes nothing that is right, so it can run any
//! number of times; it prints the lines that make the settings permanent. `check` reports every
//! missing or wrong setting with the command that fixes it, and exits 1 if there is any.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use crate::decap;

use anyhow::{Context, bail};

/// What to set up or check.
pub struct Spec {
    /// The VIPs.
    pub vips: Vec<IpAddr>,
    /// The interface facing the VIP network; default: the default route's.
    pub dev: Option<String>,
    /// Tunnelled real server: the kind the decapsulator takes off.
    pub tunnel: Option<decap::Kind>,
    /// bpffs for the decapsulator's pin.
    pub bpffs: PathBuf,
}

/// One finding of `check`.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong.
    pub problem: String,
    /// The command that fixes it.
    pub fix: String,
}

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn read_sysctl(key: &str) -> anyhow::Result<i64> {
    let v = std::fs::read_to_string(sysctl_path(key)).with_context(|| format!("reading {key}"))?;
    v.trim().parse().with_context(|| format!("{key} is {v:?}"))
}

fn write_sysctl(key: &str, v: i64) -> anyhow::Result<()> {
    std::fs::write(sysctl_path(key), format!("{v}\n")).with_context(|| format!("setting {key}={v}"))
}

/// Runs `ip ARGS` and returns its standard output; a failure carries ip's message.
fn ip(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip(8)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn ip_json(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let mut v = vec!["-j"];
    v.extend_from_slice(args);
    Ok(serde_json::from_slice(&ip(&v)?)?)
}

/// Where each VIP is configured now: (interface, prefix length).
fn vip_placements(vip: &IpAddr) -> anyhow::Result<Vec<(String, u64)>> {
    let mut found = Vec::new();
    for link in ip_json(&["addr", "show"])?.as_array().into_iter().flatten() {
        let dev = link["ifname"].as_str().unwrap_or_default().to_string();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["local"].as_str().and_then(|l| l.parse::<IpAddr>().ok()) == Some(*vip) {
                found.push((dev.clone(), a["prefixlen"].as_u64().unwrap_or(0)));
            }
        }
    }
    Ok(found)
}

fn default_dev() -> Option<String> {
    let routes = ip_json(&["route", "show", "default"]).ok()?;
    routes.get(0)?["dev"].as_str().map(str::to_string)
}

impl Spec {
    fn dev(&self) -> Option<String> {
        self.dev.clone().or_else(default_dev)
    }

    fn has_v4(&self) -> bool {
        self.vips.iter().any(IpAddr::is_ipv4)
    }

    /// The sysctls the recipe needs: (key, value, whether the kernel uses max(all, dev)).
    fn sysctls(&self) -> Vec<(String, i64)> {
        if !self.has_v4() {
            return Vec::new();
        }
        let mut v = vec![
            ("net.ipv4.conf.all.arp_ignore".to_string(), 1),
            ("net.ipv4.conf.all.arp_announce".to_string(), 2),
        ];
        if let Some(d) = self.dev() {
            v.push((format!("net.ipv4.conf.{d}.arp_ignore"), 1));
            v.push((format!("net.ipv4.conf.{d}.arp_announce"), 2));
        }
        // Decapsulated packets come from the client but arrive on the tunnel's interface:
        // strict reverse-path filtering would drop them (the kernel takes the larger value).
        if self.tunnel.is_some() {
            v.push(("net.ipv4.conf.all.rp_filter".to_string(), 0));
            if let Some(d) = self.dev() {
                v.push((format!("net.ipv4.conf.{d}.rp_filter"), 0));
            }
        }
        v
    }

    fn tunnel_dev(&self) -> anyhow::Result<String> {
        self.dev()
            .context("no interface for the tunnel: give --dev (there is no default route)")
    }

    /// Every missing or wrong setting.
    pub fn check(&self) -> anyhow::Result<Vec<Finding>> {
        let mut out = Vec::new();
        for (key, want) in self.sysctls() {
            let got = read_sysctl(&key)?;
            // For an interface the kernel uses the larger of `all` and the interface's value.
            let effective = match key
                .strip_prefix("net.ipv4.conf.")
                .and_then(|k| k.split_once('.'))
            {
                Some((dev, name)) if dev != "all" => {
                    got.max(read_sysctl(&format!("net.ipv4.conf.all.{name}"))?)
                }
                _ => got,
            };
            if effective != want {
                out.push(Finding {
                    problem: format!("{key} is {got} (in effect {effective}), must be {want}"),
                    fix: format!("sysctl -w {key}={want}"),
                });
            }
        }
        for vip in &self.vips {
            let (plen, extra) = if vip.is_ipv4() {
                (32, " scope host")
            } else {
                (128, "")
            };
            let placed = vip_placements(vip)?;
            let right = placed.iter().any(|(d, p)| d == "lo" && *p == plen);
            let add = format!("ip addr add {vip}/{plen} dev lo{extra}");
            for (d, p) in placed.iter().filter(|(d, p)| !(d == "lo" && *p == plen)) {
                let del = format!("ip addr del {vip}/{p} dev {d}");
                let (problem, fix) = if d == "lo" && !right {
                    (
                        format!("VIP {vip} is on lo as /{p}, must be /{plen}"),
                        format!("{del} && {add}"),
                    )
                } else {
                    (
                        format!(
                            "VIP {vip} is on {d} as /{p}: on a real server it belongs on lo as /{plen} only"
                        ),
                        del,
                    )
                };
                out.push(Finding { problem, fix });
            }
            if !right && !placed.iter().any(|(d, _)| d == "lo") {
                out.push(Finding {
                    problem: format!("VIP {vip} is not on lo as /{plen}"),
                    fix: add,
                });
            }
        }
        if let Some(kind) = self.tunnel {
            let dev = self.tunnel_dev()?;
            if !decap::attached(&self.bpffs, &dev)? {
                let vips: Vec<String> = self.vips.iter().map(|v| format!("--vip {v}")).collect();
                let fix = format!(
                    "rvs realserver setup {} {} --dev {dev} --bpffs {}",
                    vips.join(" "),
                    kind.args(),
                    self.bpffs.display()
                );
                let lasting =
                    rvs_dataplane::is_bpffs(&self.bpffs) || rvs_dataplane::same_mount_ns_as_init();
                out.push(if lasting {
                    Finding {
                        problem: format!("the tunnel decapsulator is not attached to {dev}"),
                        fix,
                    }
                } else {
                    Finding {
                        problem: format!(
                            "the tunnel decapsulator is not attached to {dev}, and {} is no \
                             bpffs that outlives a command run in this private mount namespace \
                             (as under ip netns exec)",
                            self.bpffs.display()
                        ),
                        fix: format!(
                            "mkdir -p /run/rvs/bpffs && mount -t bpf bpf /run/rvs/bpffs (from \
                             the host's mount namespace), then {}",
                            fix.replace(
                                &format!("--bpffs {}", self.bpffs.display()),
                                "--bpffs /run/rvs/bpffs"
                            )
                        ),
                    }
                });
            }
        }
        Ok(out)
    }

    /// Applies what is missing, in the recipe's order (sysctls before the VIP), changing
    /// nothing that is already right.
    pub fn setup(&self) -> anyhow::Result<Vec<String>> {
        if self.tunnel.is_some() {
            // Before anything changes: the decapsulator's pin needs a bpffs that outlives
            // this command (refused with the way out in a private mount namespace).
            rvs_dataplane::ensure_bpffs(&self.bpffs)
                .with_context(|| format!("bpffs at {}", self.bpffs.display()))?;
        }
        let mut done = Vec::new();
        for (key, want) in self.sysctls() {
            if read_sysctl(&key)? != want {
                write_sysctl(&key, want)?;
                done.push(format!("sysctl -w {key}={want}"));
            }
        }
        for vip in &self.vips {
            let (plen, v6) = if vip.is_ipv4() {
                (32, false)
            } else {
                (128, true)
            };
            let placed = vip_placements(vip)?;
            for (d, p) in placed.iter().filter(|(d, p)| !(d == "lo" && *p == plen)) {
                ip(&["addr", "del", &format!("{vip}/{p}"), "dev", d])?;
                done.push(format!("ip addr del {vip}/{p} dev {d}"));
            }
            if !placed.iter().any(|(d, p)| d == "lo" && *p == plen) {
                let a = format!("{vip}/{plen}");
                if v6 {
                    ip(&["addr", "add", &a, "dev", "lo", "nodad"])?;
                } else {
                    ip(&["addr", "add", &a, "dev", "lo", "scope", "host"])?;
                }
                done.push(format!("ip addr add {a} dev lo"));
            }
        }
        if let Some(kind) = self.tunnel {
            let dev = self.tunnel_dev()?;
            decap::attach(&self.bpffs, &dev, kind)?;
            done.push(format!(
                "tunnel decapsulator ({}) attached to {dev}",
                kind.args()
            ));
        }
        Ok(done)
    }

    /// The `/etc/network/interfaces` stanza and sysctl lines that make it permanent.
    pub fn permanent(&self) -> String {
        let mut s = String::from("# /etc/sysctl.d/90-rvs-realserver.conf\n");
        for (key, v) in self.sysctls() {
            s.push_str(&format!("{key} = {v}\n"));
        }
        s.push_str("\n# /etc/network/interfaces (the sysctls above load before the interfaces)\nauto lo\niface lo inet loopback\n");
        for vip in &self.vips {
            let (plen, extra) = if vip.is_ipv4() {
                (32, " scope host")
            } else {
                (128, " nodad")
            };
            s.push_str(&format!(
                "    post-up ip addr add {vip}/{plen} dev lo{extra} || true\n"
            ));
            s.push_str(&format!(
                "    pre-down ip addr del {vip}/{plen} dev lo || true\n"
            ));
        }
        s
    }
}

/// Parses `--vip VIP... [--dev IF]`.
pub fn parse(args: &[&str]) -> anyhow::Result<Spec> {
    let mut spec = Spec {
        vips: Vec::new(),
        dev: None,
        tunnel: None,
        bpffs: PathBuf::from("/sys/fs/bpf"),
    };
    let mut kind: Option<&str> = None;
    let mut port: Option<u16> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--vip" => {
                let v = it.next().context("--vip needs an address")?;
                spec.vips.push(
                    v.parse()
                        .with_context(|| format!("--vip: not an address: {v}"))?,
                );
            }
            "--dev" => {
                let d = it.next().context("--dev needs an interface")?;
                if d.is_empty() || d.len() > 15 || d.contains(['/', '.', ' ']) {
                    bail!("--dev: not an interface name: {d:?}");
                }
                if !std::path::Path::new(&format!("/sys/class/net/{d}")).exists() {
                    bail!("--dev: no interface {d} here");
                }
                spec.dev = Some(d.to_string());
            }
            "--tunnel" => {
                let k = it.next().context("--tunnel needs ipip, gue or gre")?;
                if !["ipip", "gue", "gre"].contains(k) {
                    bail!("--tunnel: {k:?} is not ipip, gue or gre");
                }
                kind = Some(k);
            }
            "--port" => {
                let p = it.next().context("--port needs a UDP port")?;
                port = Some(
                    p.parse()
                        .ok()
                        .filter(|&p| p != 0)
                        .with_context(|| format!("--port: not a port: {p}"))?,
                );
            }
            "--bpffs" => {
                spec.bpffs = it.next().context("--bpffs needs a directory")?.into();
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if spec.vips.is_empty() {
        bail!("give the VIP with --vip");
    }
    spec.tunnel = match (kind, port) {
        (None, Some(_)) => bail!("--port goes with --tunnel gue"),
        (None, None) => None,
        (Some("gue"), Some(p)) => Some(decap::Kind::Gue(p)),
        (Some("gue"), None) => {
            bail!("--tunnel gue needs the UDP port (--port, the director's --tun-port)")
        }
        (Some(_), Some(_)) => bail!("--port goes with --tunnel gue only"),
        (Some("gre"), None) => Some(decap::Kind::Gre),
        (Some(_), None) => Some(decap::Kind::Ipip),
    };
    Ok(spec)
}
