// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvsadm`: see the library docs.

use std::io::{self, Write};

fn main() {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let prog = argv.next().unwrap_or_else(|| "rvsadm".into());
    let args: Vec<String> = argv.collect();
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    let mut stderr = io::stderr().lock();
    let mut backend = rvsadm::SocketBackend::new(rvs_ctl::Client::socket_path());
    let code = rvsadm::run(
        &args,
        &mut rvsadm::Ctx {
            prog: &prog,
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            backend: &mut backend,
            resolver: &rvsadm::names::System,
        },
    );
    let _ = stdout.flush();
    std::process::exit(code);
}
