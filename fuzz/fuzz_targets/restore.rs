// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `-R` reader, end to end against rvsd's request handling in memory: any input ends with
//! one of ipvsadm's exit statuses, never a panic, and whatever was applied lists cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_ctl::{Request, Response};

struct InMemory(rvsd::state::State);

impl rvsadm::Backend for InMemory {
    fn call(&mut self, req: &Request) -> Result<Response, String> {
        if *req == Request::ListConns {
            return Ok(Response::Conns(Default::default()));
        }
        Ok(self.0.handle(req.clone(), 0))
    }
}

fn run(b: &mut InMemory, args: &[&str], input: &[u8]) -> i32 {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut stdin = input;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    rvsadm::run(
        &args,
        &mut rvsadm::Ctx {
            prog: "ipvsadm",
            stdin: &mut stdin,
            stdout: &mut out,
            stderr: &mut err,
            backend: b,
            resolver: &rvsadm::names::Offline,
        },
    )
}

fuzz_target!(|data: &[u8]| {
    let mut b = InMemory(rvsd::state::State::in_memory(rvs_model::Table::new(), 4096));
    let code = run(&mut b, &["-R"], data);
    assert!([0, 1, 2, 255].contains(&code), "exit {code}");
    assert_eq!(run(&mut b, &["-Sn"], b""), 0);
    assert_eq!(run(&mut b, &["-Ln", "--stats"], b""), 0);
});
