// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs top`: services and dests with their rates, connections and health, refreshed every
//! second in the terminal (ratatui); `q` (or Esc, Ctrl-C) quits. Laid out for 80 columns,
//! so that it fits an ssh session's 80x24. `--once` prints one frame as text, 80 columns
//! wide, and exits (for scripts and tests: the same drawing code).

use std::time::Duration;

use anyhow::{Context, bail};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use rvs_ctl::{Client, Request, Response, StatusView};
use rvs_model::FwdMethod;

/// 1234567 as 1.2M: rates and counts in at most 6 characters.
fn short(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=99_999_999 => format!("{:.1}K", n as f64 / 1e3).replace(".0K", "K"),
        100_000_000..=99_999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

fn fetch(client: &mut Client) -> anyhow::Result<StatusView> {
    match client.call(&Request::Status)? {
        Response::Status(s) => Ok(*s),
        Response::Error(e) => bail!("rvsd refused: {}", e.message),
        other => bail!("unexpected answer from rvsd: {other:?}"),
    }
}

/// Draws one frame of `s` on `terminal`.
fn draw<B: Backend>(terminal: &mut Terminal<B>, s: &StatusView) -> anyhow::Result<()> {
    let entries: u64 = s
        .services
        .iter()
        .flat_map(|v| &v.dests)
        .map(|d| u64::from(d.active_conns + d.inact_conns + d.persist_conns))
        .sum();
    let head = format!(
        "rvs top - rvsd {} - {} services - {} of {} entries - {}",
        s.info.rvsd_version,
        s.services.len(),
        short(entries),
        short(u64::from(s.info.conn_tab_size)),
        s.packet_path
    );
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let header = Row::new(
        [
            "Service / -> dest",
            "Fwd",
            "Wgt",
            "ActConn",
            "InAct",
            "CPS",
            "InPPS",
            "Health",
        ]
        .map(Cell::from),
    )
    .style(bold);
    let mut rows = Vec::new();
    for svc in &s.services {
        let name = svc.config.key.label();
        rows.push(
            Row::new(vec![
                Cell::from(format!("{name} {}", svc.config.scheduler)),
                Cell::from(""),
                Cell::from(""),
                Cell::from(short(
                    svc.dests.iter().map(|d| u64::from(d.active_conns)).sum(),
                )),
                Cell::from(short(
                    svc.dests.iter().map(|d| u64::from(d.inact_conns)).sum(),
                )),
                Cell::from(short(svc.rates.cps)),
                Cell::from(short(svc.rates.inpps)),
                Cell::from(""),
            ])
            .style(bold),
        );
        for d in &svc.dests {
            let at = std::net::SocketAddr::new(d.config.addr, d.config.port);
            let health = s
                .health
                .iter()
                .find(|h| {
                    h.virtual_server == name && h.addr == d.config.addr && h.port == d.config.port
                })
                .or_else(|| {
                    s.health
                        .iter()
                        .find(|h| h.addr == d.config.addr && h.port == d.config.port)
                })
                .map_or("-", |h| if h.up { "up" } else { "DOWN" });
            rows.push(Row::new(vec![
                Cell::from(format!(" -> {at}")),
                Cell::from(match d.config.fwd {
                    FwdMethod::Masq => "Masq",
                    FwdMethod::Local => "Local",
                    FwdMethod::Tunnel => "Tunnel",
                    FwdMethod::Route => "Route",
                }),
                Cell::from(d.config.weight.to_string()),
                Cell::from(short(u64::from(d.active_conns))),
                Cell::from(short(u64::from(d.inact_conns))),
                Cell::from(short(d.rates.cps)),
                Cell::from(short(d.rates.inpps)),
                Cell::from(if d.overload { "OVERLOAD" } else { health }),
            ]));
        }
    }
    let widths = [
        Constraint::Length(29),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
    ];
    let down = s.health.iter().filter(|h| !h.up).count();
    let foot = format!(
        "{} real servers down - total {} conns, {} in pkts - q quits",
        down,
        short(s.total.conns),
        short(s.total.inpkts)
    );
    terminal.draw(|f| {
        let [top, mid, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(f.area());
        f.render_widget(Paragraph::new(Line::from(head.as_str())), top);
        f.render_widget(
            Table::new(rows, widths).header(header).column_spacing(1),
            mid,
        );
        f.render_widget(Paragraph::new(Line::from(foot.as_str())), bottom);
    })?;
    Ok(())
}

/// Runs `rvs top`.
pub fn run(once: bool) -> anyhow::Result<()> {
    let path = Client::socket_path();
    let mut client = Client::connect(&path)
        .with_context(|| format!("cannot reach rvsd at {} (is rvsd running?)", path.display()))?;
    if once {
        let s = fetch(&mut client)?;
        let mut t = Terminal::new(TestBackend::new(80, 24))?;
        draw(&mut t, &s)?;
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        print!("{}", out.trim_end_matches('\n'));
        println!();
        return Ok(());
    }
    enable_raw_mode()?;
    let mut stdout = std::io::stdout();
    execute!(stdout, EnterAlternateScreen)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
    let result = (|| -> anyhow::Result<()> {
        loop {
            let s = fetch(&mut client)?;
            draw(&mut terminal, &s)?;
            if event::poll(Duration::from_secs(1))?
                && let Event::Key(k) = event::read()?
            {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                    return Ok(());
                }
            }
        }
    })();
    disable_raw_mode()?;
    execute!(terminal.backend_mut(), LeaveAlternateScreen)?;
    result
}
