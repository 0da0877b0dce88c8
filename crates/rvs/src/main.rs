// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs`: the command for everything beyond ipvsadm.
//!
//! `rvs status [--json]` reports the whole configuration and its counters; `--json` is the
//! stable form for scripts (the `StatusView` of `rvs-ctl`, documented in its PROTOCOL.md).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};

mod decap;
mod fwmark;
mod realserver;
mod top;
use clap::Parser;
use rvs::cli::{Cli, Command, FwmarkAction, RealserverAction};
use rvs_ctl::{Client, Request, Response, StatusView};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvs: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn words(w: &[String]) -> Vec<&str> {
    w.iter().map(String::as_str).collect()
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Realserver {
            action: RealserverAction::Setup(args),
        } => {
            let w = args.words();
            let spec = realserver::parse(&words(&w))?;
            let done = spec.setup()?;
            if done.is_empty() {
                println!("already set up: nothing changed");
            }
            for d in &done {
                println!("applied: {d}");
            }
            let left = spec.check()?;
            if !left.is_empty() {
                bail!("still wrong after setup: {}", left[0].problem);
            }
            println!("\nTo make this permanent:\n\n{}", spec.permanent());
            Ok(())
        }
        Command::Realserver {
            action: RealserverAction::Check(args),
        } => {
            let w = args.words();
            let spec = realserver::parse(&words(&w))?;
            let findings = spec.check()?;
            if findings.is_empty() {
                println!("ok: this host is set up as a direct-routing real server");
                return Ok(());
            }
            for f in &findings {
                println!("WRONG {}\n      fix: {}", f.problem, f.fix);
            }
            std::process::exit(1);
        }
        Command::Fwmark { action } => {
            let mut w: Vec<String> = Vec::new();
            match action {
                FwmarkAction::Add { mark, rule } => {
                    w.extend(["add".into(), mark]);
                    w.extend(rule.words());
                }
                FwmarkAction::Del { mark, rule } => {
                    w.extend(["del".into(), mark]);
                    w.extend(rule.words());
                }
                FwmarkAction::List => w.push("list".into()),
            }
            fwmark::run(&words(&w))
        }
        Command::Status { json } => status(json),
        Command::Trace {
            protocol,
            client,
            vip,
            syn,
            iface,
            json,
        } => trace(
            rvs_ctl::TraceQuery {
                protocol: if protocol == "udp" {
                    rvs_model::Protocol::Udp
                } else {
                    rvs_model::Protocol::Tcp
                },
                client,
                vip,
                syn,
                iface,
            },
            json,
        ),
        Command::Top { once } => top::run(once),
        Command::Reload { dry_run } => load(None, dry_run),
        Command::Apply { file, dry_run } => load(Some(&file.to_string_lossy()), dry_run),
        Command::Down { pin_dir: None } => down(),
        Command::Down { pin_dir: Some(dir) } => {
            remove_pins(&dir)?;
            println!("removed {}", dir.display());
            Ok(())
        }
    }
}

fn remove_pins(dir: &std::path::Path) -> anyhow::Result<()> {
    // Only files that an rvsd pins: maps RVS_* and links link-*.
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for e in entries {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !(name.starts_with("RVS_") || name.starts_with("link-")) {
            bail!(
                "{} does not look like an rvs pin; nothing removed",
                p.display()
            );
        }
    }
    for e in std::fs::read_dir(dir)? {
        std::fs::remove_file(e?.path())?;
    }
    std::fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))
}

fn down() -> anyhow::Result<()> {
    let path = Client::socket_path();
    let mut client = Client::connect(&path).with_context(|| {
        format!(
            "cannot reach rvsd at {} (if none runs, `rvs down --pin-dir DIR` removes its pins)",
            path.display()
        )
    })?;
    match client.call(&Request::Down)? {
        Response::Ok => {
            println!("rvsd stopped; packet path detached and its pins removed");
            Ok(())
        }
        Response::Error(e) => bail!("rvsd refused: {}", e.message),
        other => bail!("unexpected answer from rvsd: {other:?}"),
    }
}

fn load(file: Option<&str>, dry_run: bool) -> anyhow::Result<()> {
    let path = match file {
        Some(f) => Some(std::path::absolute(f).with_context(|| format!("{f}: not a usable path"))?),
        None => None,
    };
    if let Some(p) = &path
        && !p.is_file()
    {
        bail!("{}: no such file", p.display());
    }
    let sock = Client::socket_path();
    let mut client = Client::connect(&sock)
        .with_context(|| format!("cannot reach rvsd at {} (is rvsd running?)", sock.display()))?;
    match client.call(&Request::LoadConfig { path, dry_run })? {
        Response::Plan(plan) => {
            let mut o = String::new();
            for n in &plan.notes {
                let _ = writeln!(o, "note: {n}");
            }
            let verb = if plan.dry_run { "would" } else { "did" };
            if plan.changes.is_empty() {
                let _ = writeln!(o, "{}: nothing to change", plan.file);
            } else {
                let _ = writeln!(
                    o,
                    "{}: {} {} change(s):",
                    plan.file,
                    verb,
                    plan.changes.len()
                );
                for c in &plan.changes {
                    let _ = writeln!(o, "  {c}");
                }
            }
            let _ = std::io::stdout().write_all(o.as_bytes());
            Ok(())
        }
        Response::Error(e) => bail!("{}", e.message),
        other => bail!("unexpected answer from rvsd: {other:?}"),
    }
}

fn trace(q: rvs_ctl::TraceQuery, json: bool) -> anyhow::Result<()> {
    let sock = Client::socket_path();
    let mut client = Client::connect(&sock)
        .with_context(|| format!("cannot reach rvsd at {} (is rvsd running?)", sock.display()))?;
    let v = match client.call(&Request::Trace(q))? {
        Response::Trace(v) => v,
        Response::Error(e) => bail!("{}", e.message),
        other => bail!("unexpected answer from rvsd: {other:?}"),
    };
    let text = if json {
        let mut t = serde_json::to_string_pretty(&v)?;
        t.push('\n');
        t
    } else {
        trace_text(&v)
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

/// `rvs trace`'s answer as text: one labelled line per step.
fn trace_text(v: &rvs_ctl::TraceView) -> String {
    let mut o = String::new();
    let none = "-".to_string();
    let _ = writeln!(o, "packet:   {}", v.packet);
    let _ = writeln!(
        o,
        "service:  {}",
        v.service.as_deref().unwrap_or("none (not for a service)")
    );
    let _ = writeln!(o, "entry:    {}", v.entry);
    for (i, w) in v.why.iter().enumerate() {
        let _ = writeln!(o, "{}{w}", if i == 0 { "why:      " } else { "          " });
    }
    let _ = writeln!(o, "dest:     {}", v.dest.as_ref().unwrap_or(&none));
    let _ = writeln!(o, "method:   {}", v.method.as_ref().unwrap_or(&none));
    if v.rewrite.is_empty() {
        let _ = writeln!(o, "rewrite:  none");
    }
    for (i, r) in v.rewrite.iter().enumerate() {
        let _ = writeln!(o, "{}{r}", if i == 0 { "rewrite:  " } else { "          " });
    }
    let _ = writeln!(o, "verdict:  {}", v.verdict);
    for (i, r) in v.reasons.iter().enumerate() {
        let _ = writeln!(o, "{}{r}", if i == 0 { "reason:   " } else { "          " });
    }
    if let Some(a) = &v.after {
        let _ = writeln!(o, "after:    {a}");
    }
    for (i, c) in v.counters.iter().enumerate() {
        let _ = writeln!(o, "{}{c}", if i == 0 { "counters: " } else { "          " });
    }
    let _ = writeln!(o, "(traced in a sandbox: nothing live changed)");
    o
}

fn when(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{}s ago", now.saturating_sub(secs))
}

fn fetch() -> anyhow::Result<StatusView> {
    let path = Client::socket_path();
    let mut client = Client::connect(&path)
        .with_context(|| format!("cannot reach rvsd at {} (is rvsd running?)", path.display()))?;
    match client.call(&Request::Status)? {
        Response::Status(s) => Ok(*s),
        Response::Error(e) => bail!("rvsd refused: {}", e.message),
        other => bail!("unexpected answer from rvsd: {other:?}"),
    }
}

fn status(json: bool) -> anyhow::Result<()> {
    let s = fetch()?;
    let text = if json {
        let mut t = serde_json::to_string_pretty(&s)?;
        t.push('\n');
        t
    } else {
        human(&s)
    };
    // A closed pipe is not an error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

fn human(s: &StatusView) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "rvsd {}", s.info.rvsd_version);
    let _ = writeln!(o, "packet path: {}", s.packet_path);
    for n in &s.packet_notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(o, "connection table: {} entries", s.info.conn_tab_size);
    for (name, n) in &s.packet_counters {
        let _ = writeln!(o, "  packets: {name}: {n}");
    }
    let t = &s.timeouts;
    let _ = writeln!(
        o,
        "timeouts: tcp {} tcpfin {} udp {}",
        t.tcp, t.tcp_fin, t.udp
    );
    for d in &s.daemons {
        let _ = writeln!(
            o,
            "sync daemon: {} on {} (syncid {})",
            d.role.name(),
            d.mcast_ifn,
            d.syncid
        );
    }
    if !s.daemons.is_empty() {
        let y = &s.sync;
        let _ = writeln!(
            o,
            "sync: sent {} messages ({} connections, {} not sent); received {} ({} \
             connections: {} new, {} updated, {} left aside), {} dropped as malformed, {} of \
             another syncid",
            y.sent_messages,
            y.sent_conns,
            y.send_errors,
            y.received_messages,
            y.received_conns,
            y.created,
            y.updated,
            y.ignored,
            y.dropped_messages,
            y.other_syncid
        );
    }
    let _ = writeln!(
        o,
        "total: {} conns, {} in packets, {} out packets",
        s.total.conns, s.total.inpkts, s.total.outpkts
    );
    if let Some(c) = &s.config {
        let _ = writeln!(
            o,
            "config: {}{}",
            c.file,
            c.applied_at
                .map_or(" (never applied)".to_string(), |t| format!(
                    ", applied {}",
                    when(t)
                ))
        );
        if let Some(e) = &c.error {
            let _ = writeln!(o, "  last reload failed: {e}");
        }
        for n in &c.notes {
            let _ = writeln!(o, "  note: {n}");
        }
    }
    if !s.health.is_empty() {
        let _ = writeln!(o, "real servers:");
    }
    for r in &s.health {
        let at = match r.addr {
            std::net::IpAddr::V4(a) => format!("{a}:{}", r.port),
            std::net::IpAddr::V6(a) => format!("[{a}]:{}", r.port),
        };
        let _ = writeln!(
            o,
            "  {at} of {}: {} since {}",
            r.virtual_server,
            if r.up { "UP" } else { "DOWN" },
            when(r.since)
        );
        for c in &r.checkers {
            let _ = writeln!(
                o,
                "    {} {}: {} since {}{}{}",
                c.kind,
                c.target,
                if c.up { "passing" } else { "failing" },
                when(c.since),
                c.dynamic_weight
                    .map_or(String::new(), |w| format!(", weight {w}")),
                c.last_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(", last error: {e}"))
            );
        }
    }
    let _ = writeln!(o, "services: {}", s.services.len());
    for svc in &s.services {
        let c = &svc.config;
        let _ = writeln!(
            o,
            "  {} scheduler {}{}: {} dests, {} conns",
            c.key.label(),
            c.scheduler,
            if c.persistent() {
                format!(" persistent {}s", c.timeout)
            } else {
                String::new()
            },
            svc.dests.len(),
            svc.stats.conns
        );
        for d in &svc.dests {
            let _ = writeln!(
                o,
                "    -> {} port {} {:?} weight {} active {} inactive {}{}",
                d.config.addr,
                d.config.port,
                d.config.fwd,
                d.config.weight,
                d.active_conns,
                d.inact_conns,
                if d.overload { " OVERLOADED" } else { "" }
            );
        }
    }
    o
}
