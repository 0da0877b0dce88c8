// SPDX-License-Identifier: MIT OR Apache-2.0
//! Network namespaces for tests and the lab.
//!
//! [`Netns`] creates a namespace with a unique name (prefix, process id, counter), brings its
//! loopback up and deletes it when dropped, on every exit path including a failing assertion.
//! Namespaces made here have no route to the outside: they are connected only to each other,
//! over veth pairs and bridges that live inside them.

pub mod lab;
pub mod rvsd;

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this process runs as root. Root-only tests check it first and, when it is not,
/// say "skipped: needs root (...)" and pass.
pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns its output, whatever the status.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]))
}

/// Polls `ok` every 100 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// How many entries of an `rvsadm -L -n -c` listing are ESTABLISHED connections from the
/// client address `client` (as the listing prints it, e.g. `10.0.0.10` or `[fd00::10]`).
pub fn established_from(list: &str, client: &str) -> usize {
    let from = format!(" {client}:");
    list.lines()
        .filter(|l| l.contains("ESTABLISHED") && l.contains(&from))
        .count()
}

/// A service's input packets in an `rvsadm -L -n --stats` listing (`service` as its line
/// starts, e.g. `TCP  10.0.0.240:8130`); 0 if it is not listed.
pub fn in_packets_of(stats: &str, service: &str) -> u64 {
    stats
        .lines()
        .find(|l| l.starts_with(service))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `rvs-<role>-<pid>-<n>` with `lo` up.
    pub fn new(role: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("rvs-{role}-{}-{n}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.sh(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn argv<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["ip", "netns", "exec", self.name.as_str()];
        v.extend_from_slice(args);
        v
    }

    /// Runs a command inside, panicking if it fails.
    pub fn sh(&self, args: &[&str]) -> String {
        sh(&self.argv(args))
    }

    /// Runs a command inside and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&self.argv(args))
    }

    /// Starts a command inside, with piped stdin/stdout (the child ends when stdin closes, for
    /// the tools that honour that) and stderr inherited.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let argv = self.argv(args);
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", args.join(" ")))
    }

    /// Sets a sysctl inside.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.sh(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// Creates a veth pair with `here` in this namespace and `there` in `other`, both up.
    pub fn veth(&self, here: &str, other: &Netns, there: &str) {
        self.sh(&[
            "ip",
            "link",
            "add",
            here,
            "type",
            "veth",
            "peer",
            "name",
            there,
            "netns",
            other.name(),
        ]);
        self.sh(&["ip", "link", "set", here, "up"]);
        other.sh(&["ip", "link", "set", there, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside keep nothing alive: deleting the name is enough for the
        // namespace to go once they exit, and the tests kill theirs first.
        let pids = run(&["ip", "netns", "pids", &self.name]).stdout;
        for pid in String::from_utf8_lossy(&pids).lines() {
            if let Ok(p) = pid.trim().parse::<i32>() {
                // SAFETY: kill has no memory preconditions.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// A child process killed (and reaped) on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
