// SPDX-License-Identifier: MIT OR Apache-2.0
//! rvsd in a namespace, for the lab, the end-to-end tests and the benchmarks: a private
//! directory (socket, state, log, captures) with its own bpffs mounted outside `/sys` (a
//! bpffs that rvsd mounted under `ip netns exec` would end with it), the daemon started with
//! the packet path on the given interfaces, rvsadm and rvs pointed at its socket. Dropping it
//! stops the daemon, removes every pin, unmounts the bpffs and removes the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Netns, run, sh};

/// A private rvsd.
pub struct Rvsd {
    /// Where the binaries are.
    pub bins: PathBuf,
    /// The private directory.
    pub dir: PathBuf,
    /// More arguments for rvsd (e.g. `--config FILE`), given at every start.
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Rvsd {
    /// Makes the private directory (named after `tag`) and mounts its bpffs.
    pub fn prepare(bins: &Path, tag: &str) -> Rvsd {
        let dir = std::env::temp_dir().join(format!(
            "rvs-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(dir.join("bpffs")).expect("private directory");
        sh(&[
            "mount",
            "-t",
            "bpf",
            "bpf",
            dir.join("bpffs").to_str().unwrap(),
        ]);
        Rvsd {
            bins: bins.to_path_buf(),
            dir,
            extra_args: Vec::new(),
            child: None,
        }
    }

    /// The path of a binary, as a string.
    pub fn bin(&self, name: &str) -> String {
        let p = self.bins.join(name);
        assert!(
            p.exists(),
            "{} missing: build the workspace first (./x build)",
            p.display()
        );
        p.to_string_lossy().into_owned()
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("rvsd.sock")
    }

    /// The bpffs mount.
    pub fn bpffs(&self) -> PathBuf {
        self.dir.join("bpffs")
    }

    /// Starts rvsd (the binary at `rvsd`, default the one in `bins`) in `ns` with the packet
    /// path on `interfaces`, pins under instance `instance`, and waits for its socket.
    pub fn start(
        &mut self,
        ns: &Netns,
        rvsd: Option<&Path>,
        instance: &str,
        interfaces: &[&str],
        conn_tab_size: u32,
    ) {
        let bin = rvsd.map_or_else(|| self.bin("rvsd"), |p| p.to_string_lossy().into_owned());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rvsd.log"))
            .expect("log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name(), &bin, "--socket"])
            .arg(self.socket())
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("--bpffs")
            .arg(self.bpffs())
            .args(["--instance", instance, "--conn-tab-size"])
            .arg(conn_tab_size.to_string());
        for i in interfaces {
            cmd.args(["--interface", i]);
        }
        cmd.args(&self.extra_args);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("rvsd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(
                Instant::now() < deadline,
                "rvsd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// rvsd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rvsd.log")).unwrap_or_default()
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Signals rvsd and waits for it to exit.
    pub fn stop(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, signal) };
            let _ = c.wait();
        }
    }

    /// Runs rvsadm (whitespace-separated arguments); panics if it fails.
    pub fn adm(&self, args: &str) -> String {
        let out = Command::new(self.bin("rvsadm"))
            .args(args.split_whitespace())
            .env("RVS_SOCKET", self.socket())
            .output()
            .expect("rvsadm");
        assert!(
            out.status.success(),
            "rvsadm {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs rvs against this rvsd.
    pub fn rvs(&self, args: &[&str]) -> Output {
        Command::new(self.bin("rvs"))
            .args(args)
            .env("RVS_SOCKET", self.socket())
            .output()
            .expect("rvs")
    }

    /// `rvs status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.rvs(&["status", "--json"]).stdout)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the packet path runs on `interface` with nothing left out (every dest's
    /// MAC resolved).
    pub fn wait_ready(&self, interface: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.status();
            if st["packet_notes"].as_array().is_some_and(Vec::is_empty)
                && st["packet_path"]
                    .as_str()
                    .is_some_and(|p| p.contains(interface))
            {
                return;
            }
            assert!(Instant::now() < deadline, "packet path not ready: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        self.stop(libc::SIGKILL);
        // Every pin (instances, decapsulator links), then the mount.
        fn clear(dir: &Path) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    clear(&p);
                    let _ = std::fs::remove_dir(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        clear(&self.bpffs());
        let _ = run(&[
            "umount",
            "-l",
            self.bpffs().to_str().unwrap_or("/nonexistent"),
        ]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
