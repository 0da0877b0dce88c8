// SPDX-License-Identifier: MIT OR Apache-2.0
//! One attempt of each checker, bounded as a whole by a deadline (not per read: a server
//! that dribbles its answer cannot stretch a check past `connect_timeout`).
//!
//! MISC_CHECK and the notify scripts are the only programs rvsd starts: each runs in a
//! process group of its own as an unprivileged user (`nobody` unless the checker names
//! one), and is killed, with its group, at its deadline.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rvs_keepalived::{Check, Checker, Url};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// What a passing attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Up.
    Up,
    /// Up, with this weight (`misc_dynamic`).
    Weight(i32),
}

/// The largest HTTP answer read (its body's digest is of what was read).
const MAX_ANSWER: usize = 4 << 20;
/// The user that checker programs run as unless told otherwise.
pub const DEFAULT_USER: &str = "nobody";

fn socket(c: &Checker, ty: Type, proto: Protocol) -> Result<(Socket, SockAddr), String> {
    let to = SocketAddr::new(c.target.addr, c.target.port);
    let s = Socket::new(Domain::for_address(to), ty, Some(proto))
        .map_err(|e| format!("socket: {e}"))?;
    if c.target.bindto.is_some() || c.target.bind_port.is_some() {
        let ip = c.target.bindto.unwrap_or(match to {
            SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        });
        let from = SocketAddr::new(ip, c.target.bind_port.unwrap_or(0));
        s.bind(&from.into())
            .map_err(|e| format!("bind {from}: {e}"))?;
    }
    Ok((s, to.into()))
}

fn left(deadline: Instant) -> Result<Duration, String> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err("timed out".into())
    } else {
        Ok(d)
    }
}

fn connect(c: &Checker, deadline: Instant) -> Result<Socket, String> {
    let (s, to) = socket(c, Type::STREAM, Protocol::TCP)?;
    s.connect_timeout(&to, left(deadline)?)
        .map_err(|e| format!("connect {}:{}: {e}", c.target.addr, c.target.port))?;
    Ok(s)
}

/// Runs one attempt of `c`.
pub fn attempt(c: &Checker) -> Result<Pass, String> {
    let deadline = Instant::now() + Duration::from_millis(c.timing.connect_timeout_ms);
    match &c.check {
        Check::Tcp => connect(c, deadline).map(|_| Pass::Up),
        Check::Http { urls, .. } => {
            for u in urls {
                http_get(c, u, deadline)?;
            }
            Ok(Pass::Up)
        }
        Check::Misc {
            argv,
            timeout_ms,
            dynamic,
            user,
        } => {
            let user = user
                .as_ref()
                .map_or((DEFAULT_USER, None), |(u, g)| (u.as_str(), g.as_deref()));
            let status = run(argv, user, Duration::from_millis(*timeout_ms))?;
            match (status, dynamic) {
                (0, _) => Ok(Pass::Up),
                (2..=255, true) => Ok(Pass::Weight(status - 2)),
                (n, _) => Err(format!("exit status {n}")),
            }
        }
        Check::Udp {
            payload,
            require_reply,
            min_reply_length,
            max_reply_length,
        } => udp(
            c,
            payload,
            require_reply.as_deref(),
            *min_reply_length,
            *max_reply_length,
            deadline,
        ),
        Check::Dns { qtype, name } => dns(c, *qtype, name, deadline),
    }
}

/// TLS for SSL_GET: as keepalived without an `SSL { ca ... }` block, the server's certificate
/// is not verified (a real server's certificate is usually issued for the VIP's name); the
/// handshake's signatures are.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        // Later rustls 0.23 releases deprecate ring's provider for lacking post-quantum key
        // exchange; a health check protects no secret, and ring builds with a C compiler
        // alone (aws-lc-rs needs cmake).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Arc::new(config)
    }))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn http_get(c: &Checker, u: &Url, deadline: Instant) -> Result<(), String> {
    let Check::Http {
        tls,
        virtualhost,
        sni,
        ..
    } = &c.check
    else {
        unreachable!("http_get is only called for HTTP_GET and SSL_GET")
    };
    let tcp = std::net::TcpStream::from(connect(c, deadline)?);
    let host = virtualhost.clone().unwrap_or_else(|| match c.target.addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    });
    let req = format!(
        "GET {} HTTP/1.0\r\nUser-Agent: rvs-check\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        u.path
    );
    // The timeouts are set on a second handle of the same socket, so that they also bound
    // the TLS stream's reads and writes.
    let timeouts = tcp.try_clone().map_err(|e| e.to_string())?;
    let answer = if *tls {
        let name = match sni {
            Some(n) => {
                ServerName::try_from(n.clone()).map_err(|e| format!("sni_name {n:?}: {e}"))?
            }
            // An address: rustls sends no SNI for it.
            None => ServerName::IpAddress(c.target.addr.into()),
        };
        let conn =
            rustls::ClientConnection::new(tls_config(), name).map_err(|e| format!("TLS: {e}"))?;
        // rustls reads and writes the socket many times within one call: each of those
        // gets only the time left.
        let bounded = Deadlined { s: tcp, deadline };
        exchange(
            &mut rustls::StreamOwned::new(conn, bounded),
            &timeouts,
            &req,
            &u.path,
            deadline,
        )?
    } else {
        let mut tcp = tcp;
        exchange(&mut tcp, &timeouts, &req, &u.path, deadline)?
    };
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {}: not an HTTP answer", u.path))?;
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .filter(|_| head.starts_with("HTTP/"))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET {}: not an HTTP answer", u.path))?;
    if !u.status.iter().any(|&(lo, hi)| (lo..=hi).contains(&status)) {
        return Err(format!("GET {}: status {status}", u.path));
    }
    if let Some(want) = &u.digest {
        let body = &answer[head_end + 4..];
        let got: String = Md5::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &got != want {
            return Err(format!("GET {}: digest {got}, expected {want}", u.path));
        }
    }
    Ok(())
}

/// Sends `req` and reads the answer to its end, all before `deadline`.
fn exchange(
    s: &mut dyn ReadWrite,
    timeouts: &std::net::TcpStream,
    req: &str,
    path: &str,
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    let late = || format!("GET {path}: no whole answer in time");
    timeouts
        .set_write_timeout(Some(left(deadline).map_err(|_| late())?))
        .map_err(|e| e.to_string())?;
    timeouts
        .set_read_timeout(Some(left(deadline).map_err(|_| late())?))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes())
        .and_then(|()| s.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => late(),
            _ => format!("GET {path}: sending the request: {e}"),
        })?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        timeouts
            .set_read_timeout(Some(left(deadline).map_err(|_| late())?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(answer),
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > MAX_ANSWER {
                    return Err(format!("GET {path}: answer larger than {MAX_ANSWER} bytes"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A TLS server that closes without close_notify has still answered.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {
                return Ok(answer);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(late());
            }
            Err(e) => return Err(format!("GET {path}: reading the answer: {e}")),
        }
    }
}

/// A socket whose every read and write ends at `deadline` (TimedOut after it).
struct Deadlined {
    s: std::net::TcpStream,
    deadline: Instant,
}

impl Deadlined {
    fn left(&self) -> std::io::Result<Duration> {
        left(self.deadline).map_err(|e| std::io::Error::new(std::io::ErrorKind::TimedOut, e))
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.s.set_read_timeout(Some(self.left()?))?;
        self.s.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.s.set_write_timeout(Some(self.left()?))?;
        self.s.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.s.flush()
    }
}

/// A byte stream: plain TCP or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn udp(
    c: &Checker,
    payload: &[u8],
    require: Option<&str>,
    min: usize,
    max: usize,
    deadline: Instant,
) -> Result<Pass, String> {
    let (s, to) = socket(c, Type::DGRAM, Protocol::UDP)?;
    s.connect(&to).map_err(|e| format!("connect: {e}"))?;
    s.send(payload).map_err(|e| format!("send: {e}"))?;
    let s = std::net::UdpSocket::from(s);
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(left(deadline)?))
        .map_err(|e| e.to_string())?;
    match s.recv(&mut buf) {
        Ok(n) => {
            let got = &buf[..n];
            if n < min || n > max {
                return Err(format!("reply of {n} bytes, expected {min} to {max}"));
            }
            if let Some(want) = require
                && !hex_matches(want, got)
            {
                return Err("reply does not match require_reply".into());
            }
            Ok(Pass::Up)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err("refused (ICMP port unreachable)".into())
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            if require.is_some() {
                Err("no reply in time".into())
            } else {
                // Without require_reply only a refusal is a failure.
                Ok(Pass::Up)
            }
        }
        Err(e) => Err(format!("recv: {e}")),
    }
}

/// Whether `got` starts with the bytes of `want` (hex digits, `x` any nibble).
pub fn hex_matches(want: &str, got: &[u8]) -> bool {
    let nibbles: Vec<u8> = got.iter().flat_map(|b| [b >> 4, b & 15]).collect();
    want.len() <= nibbles.len()
        && want
            .bytes()
            .zip(nibbles)
            .all(|(w, n)| w == b'x' || (w as char).to_digit(16) == Some(u32::from(n)))
}

/// A DNS query for `name`/`qtype`, class IN, with id `id` and recursion desired.
pub fn dns_query(id: u16, qtype: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn dns(c: &Checker, qtype: u16, name: &str, deadline: Instant) -> Result<Pass, String> {
    let (s, to) = socket(c, Type::DGRAM, Protocol::UDP)?;
    s.connect(&to).map_err(|e| format!("connect: {e}"))?;
    let id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        >> 8) as u16;
    s.send(&dns_query(id, qtype, name))
        .map_err(|e| format!("send: {e}"))?;
    let s = std::net::UdpSocket::from(s);
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(
            left(deadline).map_err(|_| "no answer in time".to_string())?,
        ))
        .map_err(|e| e.to_string())?;
        let n = match s.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("no answer in time".into());
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        if n < 12 || buf[..2] != id.to_be_bytes() || buf[2] & 0x80 == 0 {
            continue;
        }
        return match buf[3] & 0x0f {
            0 => Ok(Pass::Up),
            rc => Err(format!("answer code {rc}")),
        };
    }
}

/// A user's uid and gid, and a group's gid, from /etc/passwd and /etc/group.
fn ids(user: &str, group: Option<&str>) -> Result<(u32, u32), String> {
    let find = |file: &str, name: &str, field: usize| -> Option<u32> {
        std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(field)?.parse().ok())?
        })
    };
    // nobody is 65534 on Debian even where /etc/passwd lacks it.
    let fallback = (user == DEFAULT_USER).then_some(65534);
    let uid = find("/etc/passwd", user, 2)
        .or(fallback)
        .ok_or_else(|| format!("no user {user:?}"))?;
    let gid = match group {
        Some(g) => find("/etc/group", g, 2).ok_or_else(|| format!("no group {g:?}"))?,
        None => find("/etc/passwd", user, 3)
            .or(fallback)
            .ok_or_else(|| format!("no user {user:?}"))?,
    };
    Ok((uid, gid))
}

fn command(argv: &[String], user: (&str, Option<&str>)) -> Result<Command, String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let (uid, gid) = ids(user.0, user.1)?;
        // std drops the supplementary groups when it sets the uid.
        cmd.uid(uid).gid(gid);
    }
    Ok(cmd)
}

/// Runs `argv` as `user` and waits at most `timeout`; the exit status, or why there is none.
pub fn run(argv: &[String], user: (&str, Option<&str>), timeout: Duration) -> Result<i32, String> {
    let mut child = command(argv, user)?
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let group = -(child.id() as i32);
    // The whole group goes when the check ends, however it ends: a script's children
    // (`slow & exit 0`) do not pile up.
    let kill_group = || {
        // SAFETY: signalling a process group we created.
        unsafe { libc::kill(group, libc::SIGKILL) };
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                kill_group();
                return st
                    .code()
                    .ok_or_else(|| format!("{} killed by a signal", argv[0]));
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                return Err(format!(
                    "{} timed out after {} ms",
                    argv[0],
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group();
                let _ = child.wait();
                return Err(format!("waiting for {}: {e}", argv[0]));
            }
        }
    }
}

/// Runs a notify or quorum script and waits for it (at most `timeout`).
pub fn notify_now(script: &str, user: Option<&(String, Option<String>)>, timeout: Duration) {
    let argv = rvs_keepalived::config::split_command(script);
    if argv.is_empty() {
        return;
    }
    let (u, g) = user.map_or((DEFAULT_USER, None), |(u, g)| (u.as_str(), g.as_deref()));
    if let Err(e) = run(&argv, (u, g), timeout) {
        crate::warn(format_args!("script {}: {e}", argv[0]));
    }
}

/// Runs a notify or quorum script in the background (as the default user, at most 30 s).
pub fn notify(script: &str, user: Option<&(String, Option<String>)>) {
    let argv = rvs_keepalived::config::split_command(script);
    if argv.is_empty() {
        return;
    }
    let user = user.map_or((DEFAULT_USER.to_string(), None), |(u, g)| {
        (u.clone(), g.clone())
    });
    std::thread::spawn(move || {
        if let Err(e) = run(&argv, (&user.0, user.1.as_deref()), Duration::from_secs(30)) {
            crate::log(format_args!("script {}: {e}", argv[0]));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_keepalived::{Target, Timing};
    use std::net::{Ipv4Addr, TcpListener};

    fn checker(check: Check, port: u16) -> Checker {
        Checker {
            check,
            target: Target {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
                bindto: None,
                bind_port: None,
            },
            timing: Timing {
                delay_loop_ms: 1000,
                connect_timeout_ms: 1000,
                retry: 0,
                delay_before_retry_ms: 1000,
                warmup_ms: 0,
            },
        }
    }

    fn http_server(answer: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
            }
        });
        port
    }

    fn url(path: &str, digest: Option<&str>) -> Url {
        Url {
            path: path.into(),
            status: vec![(200, 299)],
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn http_status_and_digest() {
        let port = http_server("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        let http = |u| Check::Http {
            tls: false,
            urls: vec![u],
            virtualhost: None,
            sni: None,
        };
        let wrong = "2b2f4a3a9d3b7c5c5a6b2d2cbb1c6fa1";
        let real: String = Md5::digest(b"ok\n")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(attempt(&checker(http(url("/", None)), port)), Ok(Pass::Up));
        assert_eq!(
            attempt(&checker(http(url("/", Some(&real))), port)),
            Ok(Pass::Up)
        );
        let e = attempt(&checker(http(url("/", Some(wrong))), port)).unwrap_err();
        assert!(e.contains("digest"), "{e}");
        let port = http_server("HTTP/1.1 503 Busy\r\n\r\n");
        let e = attempt(&checker(http(url("/h", None)), port)).unwrap_err();
        assert_eq!(e, "GET /h: status 503");
    }

    #[test]
    fn tcp_refused_and_silent_http_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(attempt(&checker(Check::Tcp, port)), Ok(Pass::Up));
        // Accepted by the kernel, never answered: the whole attempt's deadline ends it.
        let t0 = Instant::now();
        let e = attempt(&checker(
            Check::Http {
                tls: false,
                urls: vec![url("/", None)],
                virtualhost: None,
                sni: None,
            },
            port,
        ))
        .unwrap_err();
        assert!(e.contains("in time"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(3));
        drop(l);
        assert!(
            attempt(&checker(Check::Tcp, port))
                .unwrap_err()
                .contains("refused")
        );
    }

    #[test]
    fn misc_exit_codes_and_timeout() {
        let sh = |s: &str, dynamic, timeout_ms| Check::Misc {
            argv: vec!["/bin/sh".into(), "-c".into(), s.into()],
            timeout_ms,
            dynamic,
            user: None,
        };
        assert_eq!(
            attempt(&checker(sh("exit 0", false, 2000), 0)),
            Ok(Pass::Up)
        );
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Run by root, a checker script is still nobody's.
            let nobody = ids("nobody", None).unwrap().0;
            let as_nobody = format!("test \"$(id -u)\" = {nobody}");
            assert_eq!(
                attempt(&checker(sh(&as_nobody, false, 2000), 0)),
                Ok(Pass::Up)
            );
        }
        assert_eq!(
            attempt(&checker(sh("exit 1", false, 2000), 0)),
            Err("exit status 1".to_string())
        );
        assert_eq!(
            attempt(&checker(sh("exit 7", true, 2000), 0)),
            Ok(Pass::Weight(5))
        );
        assert!(attempt(&checker(sh("exit 7", false, 2000), 0)).is_err());
        // A script that leaves a child behind: the child goes with it.
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("left");
        let bg = format!("(sleep 1; touch {}) & exit 0", mark.display());
        let prog = Check::Misc {
            argv: vec!["/bin/sh".into(), "-c".into(), bg],
            timeout_ms: 2000,
            dynamic: false,
            user: Some(("root".into(), None)),
        };
        assert_eq!(attempt(&checker(prog, 0)), Ok(Pass::Up));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!mark.exists(), "the script's child outlived the check");
        let t0 = Instant::now();
        let e = attempt(&checker(sh("sleep 5 & sleep 5", false, 200), 0)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn udp_refusal_is_a_failure_and_replies_are_matched() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 100];
            while let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&[0xab, 0xcd, 0x01], from);
            }
        });
        let udp = |req: Option<&str>| Check::Udp {
            payload: vec![1, 2],
            require_reply: req.map(str::to_string),
            min_reply_length: 0,
            max_reply_length: 100,
        };
        assert_eq!(attempt(&checker(udp(Some("abxd")), port)), Ok(Pass::Up));
        assert!(attempt(&checker(udp(Some("ab00")), port)).is_err());
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let cport = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(
            attempt(&checker(udp(None), cport))
                .unwrap_err()
                .contains("refused")
        );
    }

    #[test]
    fn dns_query_layout() {
        let q = dns_query(0x1234, 6, "example.org");
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07example\x03org\x00\x00\x06\x00\x01");
        assert_eq!(dns_query(1, 6, ".")[12..], [0, 0, 6, 0, 1]);
    }

    #[test]
    fn ssl_get_against_openssl_s_server() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=rs.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("the openssl command (Debian: openssl)");
        assert!(made.success());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "s_server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let ssl = |sni: Option<&str>| Check::Http {
            tls: true,
            urls: vec![url("/", None)],
            virtualhost: None,
            sni: sni.map(str::to_string),
        };
        let r1 = attempt(&checker(ssl(None), port));
        let r2 = attempt(&checker(ssl(Some("rs.test")), port));
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(r1, Ok(Pass::Up));
        assert_eq!(r2, Ok(Pass::Up));
        // TLS to a plain HTTP server fails; to a silent one it times out.
        let plain = http_server("HTTP/1.0 200 OK\r\n\r\nok\n");
        assert!(attempt(&checker(ssl(None), plain)).is_err());
        // A server that dribbles bytes (each read succeeds): the deadline still holds.
        let dribbler = TcpListener::bind("127.0.0.1:0").unwrap();
        let dport = dribbler.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in dribbler.incoming() {
                let mut s = s.unwrap();
                std::thread::spawn(move || {
                    // A TLS record header that announces a long handshake, then a byte at a time.
                    let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
                    while s.write_all(&[0x02]).is_ok() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            }
        });
        let t0 = Instant::now();
        let e = attempt(&checker(ssl(None), dport)).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(3), "{e}");
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let e = attempt(&checker(ssl(None), silent.local_addr().unwrap().port())).unwrap_err();
        assert!(e.contains("in time"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(3));
    }
}
