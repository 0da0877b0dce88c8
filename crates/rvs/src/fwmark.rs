// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs fwmark add|del|list`: the marking rules of fwmark services (see `rvs_model::marks`).

use anyhow::{Context, bail};
use rvs_ctl::{Client, Request, Response};
use rvs_model::Protocol;
use rvs_model::marks::{self, MarkRule};

/// The selector options after the mark: `--dst ADDR[/PREFIX] [--proto tcp|udp]
/// [--dports LIST]`.
fn rule(mark: &str, rest: &[&str]) -> anyhow::Result<MarkRule> {
    let mark: u32 = mark
        .parse()
        .ok()
        .filter(|&m| m != 0)
        .with_context(|| format!("bad mark {mark:?}: a number from 1 to 4294967295"))?;
    let (mut dst, mut proto, mut ports) = (None, None, Vec::new());
    let mut it = rest.iter();
    while let Some(opt) = it.next() {
        let mut val = || {
            it.next()
                .copied()
                .with_context(|| format!("{opt} needs a value"))
        };
        match *opt {
            "--dst" => {
                let v = val()?;
                let (a, p) = match v.split_once('/') {
                    Some((a, p)) => (
                        a,
                        Some(
                            p.parse::<u8>()
                                .with_context(|| format!("bad prefix in {v:?}"))?,
                        ),
                    ),
                    None => (v, None),
                };
                let addr = a.parse().with_context(|| {
                    format!("bad address {a:?} (a numeric IPv4 or IPv6 address)")
                })?;
                dst = Some((addr, p));
            }
            "--proto" => {
                proto = Some(match val()? {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    other => bail!("bad protocol {other:?}: tcp or udp"),
                });
            }
            "--dports" => ports = marks::parse_ports(val()?)?,
            other => bail!("unknown option {other:?}"),
        }
    }
    let Some((addr, prefix)) = dst else {
        bail!("--dst is required");
    };
    Ok(MarkRule::new(mark, addr, prefix, proto, ports)?)
}

fn call(req: &Request) -> anyhow::Result<Response> {
    let path = Client::socket_path();
    let mut client = Client::connect(&path)
        .with_context(|| format!("cannot reach rvsd at {} (is rvsd running?)", path.display()))?;
    match client.call(req)? {
        Response::Error(e) => bail!("{}", e.message),
        r => Ok(r),
    }
}

/// Runs `rvs fwmark ...` (the words after `fwmark`).
pub fn run(words: &[&str]) -> anyhow::Result<()> {
    match words {
        ["add", mark, rest @ ..] => {
            let r = rule(mark, rest)?;
            call(&Request::AddMark(r))?;
            Ok(())
        }
        ["del", mark] => {
            let m: u32 = mark.parse().with_context(|| format!("bad mark {mark:?}"))?;
            call(&Request::DelMark {
                mark: m,
                rule: None,
            })?;
            Ok(())
        }
        ["del", mark, rest @ ..] => {
            let r = rule(mark, rest)?;
            call(&Request::DelMark {
                mark: r.mark,
                rule: Some(r),
            })?;
            Ok(())
        }
        ["list"] => {
            let Response::Marks(rules) = call(&Request::ListMarks)? else {
                bail!("unexpected answer from rvsd");
            };
            for r in rules {
                println!("{r}");
            }
            Ok(())
        }
        _ => bail!(
            "usage: rvs fwmark add|del MARK --dst ADDR[/PREFIX] [--proto tcp|udp] [--dports LIST] | del MARK | list"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_iptables_equivalent() {
        let r = rule(
            "1",
            &[
                "--dst",
                "10.0.0.240",
                "--proto",
                "tcp",
                "--dports",
                "80,443",
            ],
        )
        .unwrap();
        assert_eq!(
            r.to_string(),
            "1 --dst 10.0.0.240/32 --proto tcp --dports 80,443"
        );
        assert!(rule("0", &["--dst", "10.0.0.240"]).is_err());
        assert!(rule("1", &[]).is_err(), "--dst required");
        assert!(rule("1", &["--dst", "10.0.0.240", "--proto", "icmp"]).is_err());
        assert!(rule("1", &["--dst", "10.0.0.240/40"]).is_err());
        assert!(rule("1", &["--dst", "10.0.0.240", "--dports", "80-90"]).is_err());
    }
}
