// SPDX-License-Identifier: MIT OR Apache-2.0
//! Test harness: runs `rvsadm` in-process against rvsd's real request handling (in memory, no
//! socket), with name lookups that never touch the network.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use rvs_ctl::{ConnView, Request, Response};
use rvs_model::Table;
use rvsadm::names::Resolver;
use rvsadm::{Backend, Ctx};

/// rvsd's state, in memory, plus connection entries to show (the packet path's job later).
pub struct InProc {
    pub state: rvsd::state::State,
    pub conns: Vec<ConnView>,
}

impl InProc {
    pub fn new() -> InProc {
        InProc {
            state: rvsd::state::State::in_memory(Table::new(), 4096),
            conns: Vec::new(),
        }
    }
}

impl Backend for InProc {
    fn call(&mut self, req: &Request) -> Result<Response, String> {
        if *req == Request::ListConns {
            return Ok(Response::Conns(self.conns.iter().collect()));
        }
        Ok(self.state.handle(req.clone(), 0))
    }
}

/// What one run printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rvsadm` with whitespace-separated `args` and `stdin`.
pub fn run_in(b: &mut dyn Backend, args: &str, stdin: &str) -> Out {
    let argv: Vec<String> = args.split_whitespace().map(str::to_string).collect();
    run_argv(b, &argv, stdin)
}

pub fn run_argv(b: &mut dyn Backend, argv: &[String], stdin: &str) -> Out {
    run_argv_with(b, argv, stdin, &rvsadm::names::Offline)
}

/// Runs `rvsadm` with whitespace-separated `args` and the name lookups of `resolver`.
pub fn run_with(b: &mut dyn Backend, args: &str, resolver: &dyn Resolver) -> Out {
    let argv: Vec<String> = args.split_whitespace().map(str::to_string).collect();
    run_argv_with(b, &argv, "", resolver)
}

pub fn run_argv_with(
    b: &mut dyn Backend,
    argv: &[String],
    stdin: &str,
    resolver: &dyn Resolver,
) -> Out {
    let mut input = stdin.as_bytes();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = rvsadm::run(
        argv,
        &mut Ctx {
            prog: "ipvsadm",
            stdin: &mut input,
            stdout: &mut stdout,
            stderr: &mut stderr,
            backend: b,
            resolver,
        },
    );
    Out {
        code,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// Runs and asserts success.
pub fn ok(b: &mut dyn Backend, args: &str) -> String {
    let o = run_in(b, args, "");
    assert_eq!(o.code, 0, "`{args}` failed: {o:?}");
    assert_eq!(o.stderr, "", "`{args}`");
    o.stdout
}

/// A golden file with `$` marking line ends, so that trailing spaces show.
pub fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|l| format!("{}\n", l.strip_suffix('$').unwrap_or(l)))
        .collect()
}

/// Compares with a framed diff on failure.
#[track_caller]
pub fn assert_text(got: &str, want: &str) {
    if got != want {
        let mark = |s: &str| s.lines().map(|l| format!("{l}$\n")).collect::<String>();
        panic!(
            "output differs\n--- want\n{}--- got\n{}---",
            mark(want),
            mark(got)
        );
    }
}
