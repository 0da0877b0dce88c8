// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvsadm`: ipvsadm 1.31 for rvs.
//!
//! Every command line goes through the same three steps as in ipvsadm: parse and check it
//! ([`opts`]), turn it into requests to `rvsd` (this module), and print the answer
//! ([`list`]) or the error in ipvsadm's words ([`errors`]). `-R` runs the same steps for each
//! line of its input, sending consecutive changes to the daemon in batches.
//!
//! The program's I/O, the daemon and name lookups are all passed in, so tests drive the whole
//! tool without a daemon or a network.

use std::io::{BufRead, Write};

use rvs_ctl::packed::PackedConns;
use rvs_ctl::{Request, Response};
use rvs_model::ServiceKey;

pub mod cnum;
pub mod errors;
pub mod list;
pub mod names;
pub mod opts;

use errors::Op;
use names::Resolver;
use opts::{Cmd, Command, Exit, Format, Invocation, opt};

/// How `rvsadm` reaches the daemon.
pub trait Backend {
    /// Sends one request; `Err` carries a sentence saying why the daemon could not be asked.
    fn call(&mut self, req: &Request) -> Result<Response, String>;

    /// Like `call`, with the parts of a connection listing given to `part` as they arrive
    /// (the last one is in the answer). By default everything comes in the answer.
    fn call_in_parts(
        &mut self,
        req: &Request,
        part: &mut dyn FnMut(PackedConns),
    ) -> Result<Response, String> {
        let _ = part;
        self.call(req)
    }
}

/// The daemon at a Unix socket, connected on first use.
pub struct SocketBackend {
    path: std::path::PathBuf,
    client: Option<rvs_ctl::Client>,
}

impl SocketBackend {
    /// A backend for `path`.
    pub fn new(path: std::path::PathBuf) -> SocketBackend {
        SocketBackend { path, client: None }
    }
}

impl SocketBackend {
    fn client(&mut self) -> Result<&mut rvs_ctl::Client, String> {
        if self.client.is_none() {
            let path = self.path.display();
            let c = rvs_ctl::Client::connect(&self.path).map_err(|e| {
                format!("cannot reach rvsd at {path}: {e} (is rvsd running? RVS_SOCKET selects another socket)")
            })?;
            self.client = Some(c);
        }
        self.client.as_mut().ok_or_else(|| "not connected".into())
    }

    fn lost(&mut self, e: rvs_ctl::FrameError) -> String {
        self.client = None;
        format!("lost rvsd at {}: {e}", self.path.display())
    }
}

impl Backend for SocketBackend {
    fn call(&mut self, req: &Request) -> Result<Response, String> {
        let r = self.client()?.call(req);
        r.map_err(|e| self.lost(e))
    }

    fn call_in_parts(
        &mut self,
        req: &Request,
        part: &mut dyn FnMut(PackedConns),
    ) -> Result<Response, String> {
        let r = self.client()?.call_in_parts(req, part);
        r.map_err(|e| self.lost(e))
    }
}

/// Everything a run needs from outside.
pub struct Ctx<'a> {
    /// argv\[0\].
    pub prog: &'a str,
    /// Standard input (for `-R`).
    pub stdin: &'a mut dyn BufRead,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error.
    pub stderr: &'a mut dyn Write,
    /// The daemon.
    pub backend: &'a mut dyn Backend,
    /// Name lookups.
    pub resolver: &'a dyn Resolver,
}

/// `Err(code)`: stop the whole program with this status now.
type Flow = Result<i32, i32>;

impl Ctx<'_> {
    fn out(&mut self, s: &str) {
        // A closed stdout (`rvsadm -Ln | head`) is not an error worth reporting.
        let _ = self.stdout.write_all(s.as_bytes());
        let _ = self.stdout.flush();
    }

    fn err(&mut self, s: &str) {
        let _ = writeln!(self.stderr, "{s}");
    }

    fn call(&mut self, req: &Request) -> Result<Response, i32> {
        self.backend.call(req).map_err(|e| {
            let prog = self.prog.to_string();
            self.err(&format!("{prog}: {e}"));
            2
        })
    }

    /// Prints a daemon refusal in ipvsadm's words.
    fn refusal(&mut self, op: Op, resp: &Response) {
        match resp {
            Response::Error(e) => {
                let msg = errors::message(op, e);
                self.err(&msg);
            }
            other => {
                let msg = format!("unexpected answer from rvsd: {other:?}");
                self.err(&msg);
            }
        }
    }
}

/// Runs `rvsadm` with `args` (without argv\[0\]) and returns the exit status.
pub fn run(args: &[String], ctx: &mut Ctx<'_>) -> i32 {
    if args.is_empty() {
        // ipvsadm with no arguments lists the table, names resolved.
        return match list_all(ctx, &Format::default()) {
            Ok(c) | Err(c) => c,
        };
    }
    match opts::parse(ctx.prog, args, ctx.resolver) {
        Err(e) => report(ctx, &e),
        Ok(Invocation::Help) => {
            let h = help(ctx.prog);
            ctx.out(&h);
            0
        }
        Ok(Invocation::Version) => {
            ctx.out(&version());
            0
        }
        Ok(Invocation::Command(c)) if c.cmd == Cmd::Restore => restore(ctx),
        Ok(Invocation::Command(c)) => match execute(ctx, &c) {
            Ok(code) | Err(code) => code,
        },
    }
}

fn report(ctx: &mut Ctx<'_>, e: &Exit) -> i32 {
    let _ = writeln!(ctx.stderr, "{}", e.message);
    e.code
}

/// The `-v` text.
pub fn version() -> String {
    format!(
        "rvsadm {} (rvs) - ipvsadm v1.31 compatible, IPVS v1.2.1 semantics\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The `-h` text.
pub fn help(prog: &str) -> String {
    let mut s = version();
    s.push_str(&format!(
        "\
Usage:
  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe engine] [-b sched-flags]
  {p} -D virtual-service
  {p} -C
  {p} -R
  {p} -S [-n]
  {p} -a|e virtual-service -r server-address [options]
  {p} -d virtual-service -r server-address
  {p} -L|l [virtual-service] [options]
  {p} -Z [virtual-service]
  {p} --set tcp tcpfin udp
  {p} --start-daemon {{master|backup}} [daemon-options]
  {p} --stop-daemon {{master|backup}}
  {p} -h

Commands (long or short form):
  --add-service     -A   add a virtual service
  --edit-service    -E   replace every setting of a virtual service
  --delete-service  -D   delete a virtual service and its real servers
  --clear           -C   delete every virtual service
  --restore         -R   read commands from standard input, one per line ('#' lines skipped)
  --save            -S   print the table as commands for -R
  --add-server      -a   add a real server to a service
  --edit-server     -e   replace every setting of a real server
  --delete-server   -d   remove a real server
  --list            -L|-l  list services, or connections, timeouts, sync daemons
  --zero            -Z   zero the counters of one service or of all
  --set tcp tcpfin udp   set the three timeouts in seconds (0 keeps a value)
  --start-daemon         start a connection sync daemon (settings only in this release)
  --stop-daemon          stop it
  --help            -h   this text
  --version         -v   the version

virtual-service:
  --tcp-service|-t  host[:port]
  --udp-service|-u  host[:port]
  --sctp-service    host[:port]
  --fwmark-service|-f mark   a mark of 1 or more (-6 after it for IPv6)

Options:
  --scheduler    -s name     rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos (default wlc)
  --persistent   -p [secs]   persistent service (default 360 seconds)
  --netmask      -M mask     persistence granularity (IPv4 mask or IPv6 prefix length)
  --pe           engine      persistence engine (sip)
  --sched-flags  -b flags    flag-1,flag-2,flag-3, sh-fallback,sh-port, mh-fallback,mh-port
  --ops          -o          one-packet scheduling (UDP)
  --ipv6         -6          the fwmark service is IPv6
  --real-server  -r host[:port]
  --gatewaying   -g          direct routing (default)
  --ipip         -i          tunnelling
  --masquerading -m          NAT
  --tun-type     ipip|gue|gre      --tun-port port
  --tun-nocsum | --tun-csum | --tun-remcsum
  --weight       -w weight   0..65535 (default 1)
  --u-threshold  -x n        upper connection threshold (0 = none)
  --l-threshold  -y n        lower connection threshold (0 = none)
  --connection   -c          list connections
  --timeout | --daemon | --stats | --rate | --thresholds | --persistent-conn | --tun-info
  --exact        -X          full numbers
  --nosort                   table order, not sorted
  --sort                     accepted, does nothing
  --numeric      -n          no name lookups
Daemon options:
  --syncid id (default 0)  --sync-maxlen len  --mcast-interface if (default eth0)
  --mcast-group addr  --mcast-port port  --mcast-ttl ttl

rvsadm talks to rvsd at $RVS_SOCKET (default /run/rvs/rvsd.sock).
",
        p = prog
    ));
    s
}

fn roff_escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    // A line starting with . or ' would be a request.
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// rvsadm's man page (roff, section 8), written from the `-h` text and popt's option table.
pub fn man_page() -> String {
    let help = help("rvsadm");
    let mut o = String::new();
    o.push_str(&format!(
        ".TH RVSADM 8 \"\" \"rvs {}\" \"System Administration\"\n",
        env!("CARGO_PKG_VERSION")
    ));
    o.push_str(
        ".SH NAME\nrvsadm \\- administer the rvs director's virtual services, as ipvsadm does\n",
    );
    o.push_str(".SH SYNOPSIS\n.nf\n");
    let mut lines = help
        .lines()
        .skip_while(|l| !l.starts_with("Usage:"))
        .skip(1);
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
        o.push_str(&roff_escape(l.trim()));
        o.push('\n');
    }
    o.push_str(".fi\n.SH DESCRIPTION\n");
    o.push_str(
        "rvsadm is ipvsadm 1.31 for rvs: the same commands, options, messages, exit \
         statuses and output, byte for byte, so that scripts and habits written for ipvsadm \
         keep working. It talks to \\fBrvsd\\fR(8) over its control socket ($RVS_SOCKET, \
         default /run/rvs/rvsd.sock) instead of the kernel.\n",
    );
    o.push_str(".SH COMMANDS AND OPTIONS\n.nf\n");
    for l in lines {
        o.push_str(&roff_escape(l));
        o.push('\n');
    }
    o.push_str(".fi\n.SH EVERY OPTION\n");
    for (long, short, arg) in opts::options() {
        let mut head = format!("\\fB\\-\\-{}\\fR", roff_escape(long));
        if let Some(c) = short {
            head.push_str(&format!(", \\fB\\-{c}\\fR"));
        }
        if arg {
            head.push_str(" \\fIarg\\fR");
        }
        o.push_str(&format!(".TP\n{head}\n"));
        // The -h line that describes it.
        let needle = format!("--{long}");
        let line = help.lines().map(str::trim).find(|l| {
            l.split(|c: char| c.is_whitespace() || c == '|')
                .any(|w| w == needle)
        });
        match line {
            Some(l) => o.push_str(&format!("{}\n", roff_escape(l))),
            None => o.push_str("As in ipvsadm.\n"),
        }
    }
    o.push_str(".SH SEE ALSO\n\\fBrvsd\\fR(8), \\fBrvs\\fR(8), \\fBipvsadm\\fR(8)\n");
    o
}

/// A bash completion for rvsadm: its options, and scheduler names after `-s`.
pub fn bash_completion() -> String {
    let mut words = Vec::new();
    for (long, short, _) in opts::options() {
        words.push(format!("--{long}"));
        if let Some(c) = short {
            words.push(format!("-{c}"));
        }
    }
    words.sort();
    words.dedup();
    format!(
        "# bash completion for rvsadm (generated)\n\
_rvsadm() {{\n\
    local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
    case \"$prev\" in\n\
        -s|--scheduler) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;\n\
        --start-daemon|--stop-daemon) COMPREPLY=($(compgen -W \"master backup\" -- \"$cur\")); return ;;\n\
    esac\n\
    COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n\
}}\n\
complete -F _rvsadm rvsadm\n",
        rvs_model::SCHEDULERS
            .iter()
            .filter(|s| **s != "none")
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        words.join(" ")
    )
}

/// The request a changing command sends, with the operation it reports errors as.
fn change_request(c: &Command) -> Option<(Request, Op)> {
    Some(match c.cmd {
        Cmd::Add => (Request::AddService(c.service_config()?), Op::AddService),
        Cmd::Edit => (Request::EditService(c.service_config()?), Op::UpdateService),
        Cmd::Del => (Request::DelService(c.service_key()?), Op::DelService),
        Cmd::Flush => (Request::Flush, Op::Flush),
        Cmd::AddDest => (
            Request::AddDest {
                service: c.service_key()?,
                dest: c.dest_config()?,
            },
            Op::AddDest,
        ),
        Cmd::EditDest => (
            Request::EditDest {
                service: c.service_key()?,
                dest: c.dest_config()?,
            },
            Op::UpdateDest,
        ),
        Cmd::DelDest => (
            Request::DelDest {
                service: c.service_key()?,
                addr: c.dest.addr?,
                port: c.dest.port,
            },
            Op::DelDest,
        ),
        Cmd::Zero => {
            let key = if c.options & opt::SERVICE != 0 {
                Some(c.service_key()?)
            } else {
                None
            };
            // `ipvs_zero_service` sends the service only if its fwmark, address or port is
            // set; without one the kernel zeroes everything, whatever the protocol.
            let key = key.filter(|k| match k {
                ServiceKey::Addr { addr, port, .. } => !addr.is_unspecified() || *port != 0,
                ServiceKey::Fwmark { .. } => true,
            });
            (Request::Zero(key), Op::ZeroService)
        }
        Cmd::Timeout => (
            Request::SetTimeouts {
                tcp: c.timeouts.0,
                tcp_fin: c.timeouts.1,
                udp: c.timeouts.2,
            },
            Op::SetTimeout,
        ),
        Cmd::StartDaemon => (Request::StartDaemon(c.daemon.clone()), Op::StartDaemon),
        Cmd::StopDaemon => (Request::StopDaemon(c.daemon.role), Op::StopDaemon),
        Cmd::List | Cmd::Save | Cmd::Restore => return None,
    })
}

fn execute(ctx: &mut Ctx<'_>, c: &Command) -> Flow {
    match c.cmd {
        Cmd::List => list(ctx, c),
        Cmd::Save => {
            let f = Format {
                rule: true,
                numeric: c.format.numeric,
                ..Format::default()
            };
            list_all(ctx, &f)
        }
        Cmd::Restore => {
            let e = opts::tryhelp(ctx.prog);
            Err(report(ctx, &e))
        }
        _ => {
            let Some((req, op)) = change_request(c) else {
                ctx.err("rvsadm: internal error: incomplete command");
                return Err(2);
            };
            match ctx.call(&req)? {
                Response::Ok => Ok(0),
                other => {
                    ctx.refusal(op, &other);
                    Ok(255)
                }
            }
        }
    }
}

fn list(ctx: &mut Ctx<'_>, c: &Command) -> Flow {
    let f = c.format;
    let mut out = String::new();
    if c.options & opt::CONNECTION != 0 {
        return list_conns(ctx, &f);
    } else if c.options & opt::SERVICE != 0 {
        let Some(key) = c.service_key() else {
            return Err(2);
        };
        let mut svc = match ctx.call(&Request::GetService(key))? {
            Response::Service(s) => s,
            other => return listing_failed(ctx, Op::GetService, &other),
        };
        if !f.nosort {
            list::msort(&mut svc.dests, &list::cmp_dests);
        }
        list::title(&mut out, &f);
        list::service_entry(&mut out, &svc, &f, ctx.resolver);
    } else if c.options & opt::TIMEOUT != 0 {
        match ctx.call(&Request::GetTimeouts)? {
            Response::Timeouts(t) => list::timeouts(&mut out, &t),
            other => return listing_failed(ctx, Op::GetTimeout, &other),
        }
    } else if c.options & opt::DAEMON != 0 {
        match ctx.call(&Request::ListDaemons)? {
            Response::Daemons(d) => list::daemons(&mut out, &d),
            other => return listing_failed(ctx, Op::GetDaemon, &other),
        }
    } else {
        return list_all(ctx, &f);
    }
    ctx.out(&out);
    Ok(0)
}

/// `-L -c`: each part of the listing is printed as it arrives (a large table is read while
/// the first lines are shown), the title before the first.
fn list_conns(ctx: &mut Ctx<'_>, f: &Format) -> Flow {
    let mut titled = false;
    let answer = {
        let Ctx {
            backend,
            stdout,
            resolver,
            ..
        } = &mut *ctx;
        let mut show = |p: &PackedConns| show_conns(&mut **stdout, &mut titled, p, f, *resolver);
        backend.call_in_parts(&Request::ListConns, &mut |p| show(&p))
    };
    match answer {
        Ok(Response::Conns(last)) => {
            show_conns(&mut *ctx.stdout, &mut titled, &last, f, ctx.resolver);
            let _ = ctx.stdout.flush();
            Ok(0)
        }
        Ok(other) => {
            // Lines already shown come before the error.
            let _ = ctx.stdout.flush();
            listing_failed(ctx, Op::GetConns, &other)
        }
        Err(e) => {
            let _ = ctx.stdout.flush();
            let prog = ctx.prog.to_string();
            ctx.err(&format!("{prog}: {e}"));
            Err(2)
        }
    }
}

/// Prints a part of a connection listing, after the title if it is the first.
fn show_conns(
    stdout: &mut dyn Write,
    titled: &mut bool,
    p: &PackedConns,
    f: &Format,
    resolver: &dyn Resolver,
) {
    let mut out = String::new();
    if !*titled {
        list::conns_title(&mut out, f);
        *titled = true;
    }
    list::conn_lines(&mut out, p, f, resolver);
    // A closed stdout (`rvsadm -Lnc | head`) is not an error worth reporting.
    let _ = stdout.write_all(out.as_bytes());
}

fn listing_failed(ctx: &mut Ctx<'_>, op: Op, resp: &Response) -> Flow {
    ctx.refusal(op, resp);
    Err(1)
}

fn list_all(ctx: &mut Ctx<'_>, f: &Format) -> Flow {
    let mut out = String::new();
    if !f.rule {
        match ctx.call(&Request::Info)? {
            Response::Info(i) => list::header(&mut out, i.ipvs_version, i.conn_tab_size),
            other => return listing_failed(ctx, Op::GetInfo, &other),
        }
    }
    let mut services = match ctx.call(&Request::ListServices)? {
        Response::Services(s) => s,
        other => return listing_failed(ctx, Op::GetServices, &other),
    };
    list::sort_services(&mut services, f);
    list::title(&mut out, f);
    for s in &services {
        list::service_entry(&mut out, s, f, ctx.resolver);
    }
    ctx.out(&out);
    Ok(0)
}

/// Changes sent to the daemon in one batch during `-R`.
const RESTORE_BATCH: usize = 4096;

/// Splits a `-R` line into words as `config_stream.c` does, dropping the word `ipvsadm`.
pub fn restore_words(line: &str) -> Vec<String> {
    line.split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty() && *w != "ipvsadm")
        .map(str::to_string)
        .collect()
}

/// Sends the pending changes; returns the status of the last one.
fn flush_batch(
    ctx: &mut Ctx<'_>,
    pending: &mut Vec<(Request, Op)>,
    last: &mut i32,
) -> Result<(), i32> {
    if pending.is_empty() {
        return Ok(());
    }
    let (reqs, ops): (Vec<Request>, Vec<Op>) = std::mem::take(pending).into_iter().unzip();
    let n = reqs.len();
    let resps = match ctx.call(&Request::Batch(reqs))? {
        Response::Batch(r) if r.len() == n => r,
        other => {
            ctx.refusal(Op::Other, &other);
            return Err(255);
        }
    };
    for (resp, op) in resps.iter().zip(ops) {
        if *resp == Response::Ok {
            *last = 0;
        } else {
            ctx.refusal(op, resp);
            *last = 255;
        }
    }
    Ok(())
}

/// `-R`: one command per line. A line that fails ipvsadm's own checks stops the restore
/// (lines before it are applied); a popt error (unknown option, missing argument) or a
/// refusal by the daemon is printed and the next line runs; the exit status is the last
/// line's. Lines starting with `#` are skipped (ipvsadm's own comment handling never worked;
/// its `ipvsadm-restore` wrapper strips them with grep).
fn restore(ctx: &mut Ctx<'_>) -> i32 {
    let mut pending: Vec<(Request, Op)> = Vec::new();
    let mut last = 0;
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match ctx.stdin.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => lines.push(String::from_utf8_lossy(&buf).into_owned()),
            Err(e) => {
                let m = format!("{}: reading standard input: {e}", ctx.prog);
                ctx.err(&m);
                return 2;
            }
        }
    }
    for line in lines {
        let words = restore_words(&line);
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        let parsed = opts::parse(ctx.prog, &words, ctx.resolver);
        let step: Result<(), i32> = (|| match parsed {
            Err(e) => {
                flush_batch(ctx, &mut pending, &mut last)?;
                let code = report(ctx, &e);
                if e.returned {
                    last = code;
                    Ok(())
                } else {
                    Err(code)
                }
            }
            Ok(Invocation::Help) => {
                flush_batch(ctx, &mut pending, &mut last)?;
                let h = help(ctx.prog);
                ctx.out(&h);
                Err(0)
            }
            Ok(Invocation::Version) => {
                flush_batch(ctx, &mut pending, &mut last)?;
                ctx.out(&version());
                Err(0)
            }
            Ok(Invocation::Command(c)) => {
                if let Some(change) = change_request(&c) {
                    pending.push(change);
                    if pending.len() >= RESTORE_BATCH {
                        flush_batch(ctx, &mut pending, &mut last)?;
                    }
                    Ok(())
                } else {
                    flush_batch(ctx, &mut pending, &mut last)?;
                    last = execute(ctx, &c)?;
                    Ok(())
                }
            }
        })();
        if let Err(code) = step {
            return code;
        }
    }
    match flush_batch(ctx, &mut pending, &mut last) {
        Ok(()) => last,
        Err(code) => code,
    }
}
