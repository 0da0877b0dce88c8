// SPDX-License-Identifier: MIT OR Apache-2.0
//! Root-only: the real `rvsd` and `rvsadm` binaries over the real socket. Changes are only
//! accepted from uid 0, so these tests need root (CI runs as root); without it they say so
//! and skip.

use rvs_netns::is_root;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root (rvsd accepts changes only from uid 0)");
            return;
        }
    };
}

fn rvsadm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvsadm"))
}

fn rvsd_bin() -> PathBuf {
    let p = rvsadm_bin().with_file_name("rvsd");
    assert!(
        p.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

fn rvs_bin() -> PathBuf {
    let p = rvsadm_bin().with_file_name("rvs");
    assert!(
        p.exists(),
        "{} missing: build the workspace first",
        p.display()
    );
    p
}

/// A running rvsd in a private directory, killed when dropped.
struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Daemon { dir, child: None };
        d.spawn();
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/rvsd.sock")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rvsd.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("rvsd.log"))
            .unwrap();
        let child = Command::new(rvsd_bin())
            .arg("--socket")
            .arg(self.socket())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--conn-tab-size", "4096"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(self.socket()).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rvsd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "rvsd did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill on a child pid we own.
        unsafe { libc::kill(child.id() as i32, sig) };
        child.wait().unwrap()
    }

    fn restart(&mut self, sig: i32) {
        self.signal(sig);
        self.spawn();
    }

    fn adm(&self, args: &str) -> Output {
        self.adm_with(args, "")
    }

    fn adm_with(&self, args: &str, stdin: &str) -> Output {
        let mut child = Command::new(rvsadm_bin())
            .args(args.split_whitespace())
            .env("RVS_SOCKET", self.socket())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &str) -> String {
        let o = self.adm(args);
        assert!(
            o.status.success(),
            "rvsadm {args}: {} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A configuration that uses every option `-S` can express (and thresholds, which it cannot).
const EVERY_OPTION: &str = "\
-A -t 10.0.0.240:8130 -s wlc
-a -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w 3
-a -t 10.0.0.240:8130 -r 10.0.0.242:8130 -g -w 3 -x 100 -y 50
-a -t 10.0.0.240:8130 -r 10.0.0.243:8130 -g -w 0
-A -t 10.0.0.10:443 -s rr -p 600 -M 255.255.255.0
-a -t 10.0.0.10:443 -r 10.0.1.1:8443 -m -w 5
-A -u 10.0.0.10:53 -s sh -b sh-fallback,sh-port -o
-a -u 10.0.0.10:53 -r 10.0.1.2:5353 -m -w 2
-A --sctp-service 10.0.0.10:9000 -s mh -b mh-port
-a --sctp-service 10.0.0.10:9000 -r 10.0.1.3:9000 -i --tun-type gue --tun-port 6080 --tun-csum
-a --sctp-service 10.0.0.10:9000 -r 10.0.1.4:9000 -i --tun-type gre --tun-nocsum
-a --sctp-service 10.0.0.10:9000 -r 10.0.1.5:9000 -i --tun-type gue --tun-port 6081 --tun-remcsum
-a --sctp-service 10.0.0.10:9000 -r 10.0.1.8:9000 -i
-A -t 10.0.0.11:0 -s lc -p --pe sip
-A -f 7 -s wrr -p 120
-a -f 7 -r 10.0.1.6 -m -w 4
-A -f 8 -6 -s sed -p 60 -M 64
-a -f 8 -6 -r [2001:db8::6]:80 -m
-A -t [2001:db8::10]:80 -s nq -b flag-1,flag-2,flag-3
-a -t [2001:db8::10]:80 -r [2001:db8::11]:80 -g -w 65535
-A -u 10.0.0.12:0 -s fo -p 30 -o
-A -t 10.0.0.13:80 -s lblcr
-A -t 10.0.0.14:80 -s ovf
-A -t 10.0.0.15:80 -s dh
-A -t 10.0.0.16:80 -s twos
-A -t 10.0.0.17:80 -s lblc -p 10 -M 255.255.0.0
";

/// Views whose output must survive a restart unchanged.
const VIEWS: &[&str] = &[
    "-Sn",
    "-Ln",
    "-Ln --nosort",
    "-Ln --thresholds",
    "-L --timeout",
    "-L --daemon",
];

fn snapshot(d: &Daemon) -> Vec<String> {
    VIEWS.iter().map(|v| d.ok(v)).collect()
}

fn configure(d: &Daemon) {
    let o = d.adm_with("-R", EVERY_OPTION);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    d.ok("--set 1000 60 200");
    d.ok("--start-daemon backup --mcast-interface lo --syncid 9");
    // A dest edit keeps its list position; the restart must keep it too.
    d.ok("-e -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w 7");
}

#[test]
fn root_restart_keeps_configuration() {
    require_root!();
    let mut d = Daemon::start();
    configure(&d);
    let before = snapshot(&d);
    assert!(before[0].lines().count() > 20);
    let status = d.signal(libc::SIGTERM);
    assert!(status.success(), "SIGTERM exit: {status}");
    assert!(!d.socket().exists(), "socket left behind after SIGTERM");
    assert!(d.log().contains("SIGTERM"));
    d.spawn();
    assert_eq!(snapshot(&d), before);
}

#[test]
fn root_kill9_keeps_configuration() {
    require_root!();
    let mut d = Daemon::start();
    configure(&d);
    let before = snapshot(&d);
    d.restart(libc::SIGKILL);
    assert_eq!(snapshot(&d), before);
    // And again after more changes, so the second save is checked as well.
    d.ok("-D -t 10.0.0.13:80");
    d.ok("-d -t 10.0.0.240:8130 -r 10.0.0.243:8130");
    let before = snapshot(&d);
    d.restart(libc::SIGKILL);
    assert_eq!(snapshot(&d), before);
}

#[test]
fn root_save_clear_restore_is_identical() {
    require_root!();
    let d = Daemon::start();
    let o = d.adm_with("-R", EVERY_OPTION);
    assert!(o.status.success());
    // A tunnelled dest of another family (not allowed while a sync daemon runs).
    d.ok("-a -t [2001:db8::10]:80 -r 10.0.1.7 -i");
    let saved = d.ok("-Sn");
    assert!(saved.contains("-a -t [2001:db8::10]:80 -r 10.0.1.7:80 -i -w 1 --tun-type ipip\n"));
    d.ok("-C");
    assert_eq!(d.ok("-Sn"), "");
    let o = d.adm_with("-R", &saved);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.ok("-Sn"), saved);
}

#[test]
fn root_fifty_concurrent_clients() {
    require_root!();
    let d = Daemon::start();
    d.ok("-A -t 10.9.0.1:80 -s rr");
    let spawn_all = |cmds: Vec<String>| {
        let children: Vec<(String, Child)> = cmds
            .into_iter()
            .map(|c| {
                let child = Command::new(rvsadm_bin())
                    .args(c.split_whitespace())
                    .env("RVS_SOCKET", d.socket())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (c, child)
            })
            .collect();
        for (c, child) in children {
            let o = child.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "{c}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    };
    spawn_all(
        (1..=50)
            .map(|i| format!("-A -t 10.1.0.{i}:80 -s wlc"))
            .collect(),
    );
    spawn_all(
        (1..=50)
            .map(|i| format!("-a -t 10.9.0.1:80 -r 10.2.0.{i}:80 -w {i}"))
            .collect(),
    );
    spawn_all(
        (1..=50)
            .map(|i| format!("-a -t 10.1.0.{i}:80 -r 10.3.0.{i}:80 -m"))
            .collect(),
    );
    let saved = d.ok("-Sn");
    let lines: Vec<&str> = saved.lines().collect();
    let mut unique = lines.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "duplicated lines");
    assert_eq!(lines.iter().filter(|l| l.starts_with("-A ")).count(), 51);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("-a -t 10.9.0.1:80 "))
            .count(),
        50
    );
    for i in 1..=50 {
        assert!(saved.contains(&format!(
            "-A -t 10.1.0.{i}:80 -s wlc\n-a -t 10.1.0.{i}:80 -r 10.3.0.{i}:80 -m -w 1\n"
        )));
        assert!(saved.contains(&format!("-r 10.2.0.{i}:80 -g -w {i}\n")));
    }
}

/// Sends raw bytes, half-closes, and reads the one reply frame (if any).
fn raw_exchange(
    sock: &Path,
    bytes: &[u8],
    half_close: bool,
) -> (UnixStream, Option<serde_json::Value>) {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return (s, None);
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    (s, Some(serde_json::from_slice(&body).unwrap()))
}

fn frame(json: &str) -> Vec<u8> {
    let mut v = (json.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v
}

fn errno_of(reply: &serde_json::Value) -> i64 {
    reply["body"]["error"]["errno"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
}

#[test]
fn root_malformed_requests_change_nothing() {
    require_root!();
    let d = Daemon::start();
    d.ok("-A -t 10.0.0.1:80");
    let before = d.ok("-Sn");
    let sock = d.socket();

    // Not JSON: an error reply, and the connection keeps working.
    let (mut s, reply) = raw_exchange(&sock, &frame("{not json"), false);
    assert_eq!(errno_of(&reply.unwrap()), 71);
    s.write_all(&frame(r#"{"version":2,"body":"info"}"#))
        .unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();

    // Valid JSON, wrong shape; a wrong version; a bad value inside a valid request.
    for bad in [
        r#"{"version":2,"body":{"add_service":{"key":"nope"}}}"#,
        r#"{"version":3,"body":"flush"}"#,
        r#"{"version":2}"#,
        r#"{"version":2,"body":{"add_dest":{"service":{"addr":{"protocol":"tcp","addr":"10.0.0.1","port":80}},"dest":{"addr":"10.0.0.2","port":80,"fwd":"route","weight":-5,"u_threshold":0,"l_threshold":0}}}}"#,
        r#"{"version":2,"body":{"batch":["flush","info"]}}"#,
    ] {
        let (_, reply) = raw_exchange(&sock, &frame(bad), false);
        let e = errno_of(&reply.unwrap());
        assert!([71, 34, 22].contains(&e), "{bad}: errno {e}");
    }

    // Oversized: refused without reading it.
    let (_, reply) = raw_exchange(&sock, &u32::MAX.to_be_bytes(), false);
    assert_eq!(errno_of(&reply.unwrap()), 90);

    // Truncated: the length promises more than arrives.
    let mut t = frame(r#"{"version":2,"body":"flush"}"#);
    t.truncate(12);
    let (_, reply) = raw_exchange(&sock, &t, true);
    assert_eq!(errno_of(&reply.unwrap()), 71);

    // A length header cut short.
    let (_, reply) = raw_exchange(&sock, &[0, 0], true);
    assert_eq!(errno_of(&reply.unwrap()), 71);

    assert_eq!(
        d.ok("-Sn"),
        before,
        "malformed requests changed the configuration"
    );
    d.ok("-A -t 10.0.0.2:80");
}

#[test]
fn root_changes_need_root_and_socket_is_private() {
    require_root!();
    let d = Daemon::start();
    d.ok("-A -t 10.0.0.1:80");
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o002, 0, "socket is world-writable: {mode:o}");
    // Open the socket up so that the credential check itself is what refuses.
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        d.dir.path().join("run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let as_nobody = |args: &str| {
        Command::new(rvsadm_bin())
            .args(args.split_whitespace())
            .env("RVS_SOCKET", d.socket())
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let o = as_nobody("-A -t 10.0.0.2:80");
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Permission denied (you must be root)\n"
    );
    let o = as_nobody("-Ln");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("TCP  10.0.0.1:80 wlc"));
    assert_eq!(d.ok("-Sn"), "-A -t 10.0.0.1:80 -s wlc\n");
}

#[test]
fn no_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(rvsadm_bin())
        .arg("-Ln")
        .env("RVS_SOCKET", dir.path().join("none.sock"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach rvsd at") && err.contains("none.sock"),
        "{err}"
    );
    let o = Command::new(rvsadm_bin())
        .arg("-v")
        .env("RVS_SOCKET", dir.path().join("none.sock"))
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn root_daemon_refuses_what_it_cannot_do_safely() {
    require_root!();
    let d = Daemon::start();
    assert!(d.log().contains("control plane only"));
    // A second daemon on the same socket or state directory.
    for (sock, state) in [
        (d.socket(), d.dir.path().join("other-state")),
        (d.dir.path().join("other.sock"), d.state_dir()),
    ] {
        let o = Command::new(rvsd_bin())
            .arg("--socket")
            .arg(&sock)
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("another rvsd"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A configuration file it cannot read is left alone and the daemon does not start.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{broken").unwrap();
    let o = Command::new(rvsd_bin())
        .arg("--socket")
        .arg(dir.path().join("s"))
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a valid rvs configuration"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "{broken"
    );
}

#[test]
fn root_rvs_status_json() {
    require_root!();
    let d = Daemon::start();
    d.ok("-A -t 10.0.0.240:8130 -s wlc");
    d.ok("-a -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w 3");
    let o = Command::new(rvs_bin())
        .args(["status", "--json"])
        .env("RVS_SOCKET", d.socket())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["services"][0]["config"]["scheduler"], "wlc");
    assert_eq!(v["services"][0]["dests"][0]["config"]["weight"], 3);
    assert_eq!(v["services"][0]["dests"][0]["active_conns"], 0);
    assert_eq!(v["timeouts"]["tcp"], 900);
    assert_eq!(v["info"]["conn_tab_size"], 4096);
    assert!(
        v["packet_path"]
            .as_str()
            .unwrap()
            .contains("control plane only")
    );
    let o = Command::new(rvs_bin())
        .arg("status")
        .env("RVS_SOCKET", d.socket())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("TCP 10.0.0.240:8130 scheduler wlc"));
}

/// Without -n names come from the resolver; run in a network namespace of its own so that a
/// reverse lookup can never leave the machine.
#[test]
fn root_names_roundtrip_in_isolated_netns() {
    require_root!();
    if Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("skipped: unshare(1) not installed");
        return;
    }
    let d = Daemon::start();
    d.ok("-A -t 127.0.0.1:http -s rr");
    d.ok("-a -t 127.0.0.1:80 -r 10.0.0.2:80 -m");
    let isolated = |args: &str, stdin: &str| {
        let mut c = Command::new("unshare")
            .arg("--net")
            .arg(rvsadm_bin())
            .args(args.split_whitespace())
            .env("RVS_SOCKET", d.socket())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let listing = isolated("-L", "");
    assert!(
        listing.contains("TCP  localhost:http rr\n  -> 10.0.0.2:http "),
        "{listing}"
    );
    let saved = isolated("-S", "");
    assert_eq!(
        saved,
        "-A -t localhost:http -s rr\n-a -t localhost:http -r 10.0.0.2:http -m -w 1\n"
    );
    d.ok("-C");
    isolated("-R", &saved);
    assert_eq!(isolated("-S", ""), saved);
    assert_eq!(
        d.ok("-Sn"),
        "-A -t 127.0.0.1:80 -s rr\n-a -t 127.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n"
    );
}
