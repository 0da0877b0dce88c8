// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-probe`: the servers and clients of the lab and the end-to-end tests.
//!
//! ```text
//! rvs-probe tcp-server ADDR:PORT NAME     answer every connection with NAME, then close
//! rvs-probe udp-server ADDR:PORT NAME     answer every datagram with NAME
//! rvs-probe tcp-clients ADDR:PORT N       N connections one after the other; print each answer
//! rvs-probe udp-clients ADDR:PORT N       N datagrams from N source ports; print each answer
//! rvs-probe download ADDR:PORT BYTES      fetch BYTES of a known pattern slowly (about 4 s)
//!                                         and check every byte; print `OK n` or `FAIL ...`
//! rvs-probe bench-conns ADDR:PORT SECS,C   C threads making short connections (connect, send,
//!                                         read the answer to the close) for SECS seconds;
//!                                         print `conns N errors E p50_us A p90_us B p99_us C`
//! rvs-probe tcp-recv ADDR:PORT FILE       print `ready`, accept one connection, write what
//!                                         it sends to FILE, exit (the selftest's server)
//! rvs-probe tcp-send ADDR:PORT FILE       connect, send FILE, close (the selftest's client)
//! rvs-probe hold ADDR:PORT N              open N connections and exchange a message on each
//!                                         every 50 ms until standard input closes; then
//!                                         print `OK rounds` or `FAIL ...`
//! rvs-probe hold-each ADDR:PORT N         as hold, but each connection goes on alone when another
//!                                         fails; at the end one line per connection:
//!                                         `SERVER OK rounds` or `SERVER FAIL ...`
//! rvs-probe idle ADDR:PORT N              open N echo connections, print `ready`, leave them
//!                                         idle until a line (or EOF) on standard input, then
//!                                         exchange one message on each: `OK N` or `FAIL ...`
//! rvs-probe udp-session ADDR:PORT N       from one socket, N datagrams (each answered); print
//!                                         `ready PORT NAME`; on a line (or EOF) on standard
//!                                         input one more: print the answer
//! rvs-probe syn-flood ADDR:PORT N         N TCP SYNs from random sources in 198.18.0.0/15
//!                                         (raw socket, as fast as it can); print `sent N`
//! rvs-probe udp-flood ADDR:PORT N         the same with single UDP datagrams
//! rvs-probe tcp-from ADDR:PORT SPORT      one connection from source port SPORT; print the
//!                                         answer (as tcp-clients)
//! rvs-probe udp-from ADDR:PORT SPORT      one datagram from source port SPORT; print the answer
//! rvs-probe download-slow ADDR:PORT BYTES as download, over about 12 s
//! rvs-probe mcast-send IFACE GROUP:PORT HEX  one UDP datagram (bytes in hex) to an IPv4
//!                                         multicast group out of IFACE
//! rvs-probe garp IFACE IPV4               announce IPV4 at IFACE's MAC: three gratuitous ARP
//!                                         requests, 100 ms apart (as VRRP does on takeover)
//! ```
//! Servers run until standard input closes. A tcp-server answers `DOWNLOAD n` with n pattern
//! bytes, `ECHO` by echoing lines until the client closes, an HTTP `GET` with `200 OK` and
//! its NAME as the body, anything else with its NAME. Every
//! client operation has a 5 s timeout; a failure prints `FAIL <reason>` for that attempt.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: rvs-probe tcp-server|udp-server ADDR:PORT NAME | tcp-clients|udp-clients ADDR:PORT N"
    );
    std::process::exit(2);
}

fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 4 && args[0] == "mcast-send" {
        match mcast_send(&args[1], &args[2], &args[3]) {
            Ok(()) => println!("sent"),
            Err(e) => println!("FAIL {e}"),
        }
        return;
    }
    if args.len() != 3 {
        usage();
    }
    if args[0] == "garp" {
        match garp(&args[1], &args[2]) {
            Ok(()) => println!("sent"),
            Err(e) => println!("FAIL {e}"),
        }
        return;
    }
    let addr: SocketAddr = args[1].parse().unwrap_or_else(|_| usage());
    let t = Some(Duration::from_secs(5));
    match args[0].as_str() {
        "tcp-server" => {
            let name = args[2].clone();
            let l = TcpListener::bind(addr).expect("bind");
            println!("ready");
            exit_when_stdin_closes();
            for s in l.incoming().flatten() {
                let name = name.clone();
                std::thread::spawn(move || {
                    let mut s = s;
                    let _ = s.set_read_timeout(t);
                    let mut buf = [0u8; 512];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let download: Option<(usize, u64)> =
                        req.strip_prefix("DOWNLOAD ").and_then(|v| {
                            let mut w = v.split_whitespace();
                            let len = w.next()?.parse().ok()?;
                            let secs = w.next().map_or(Some(4), |s| s.parse().ok())?;
                            Some((len, secs))
                        });
                    if let Some((len, secs)) = download {
                        // About `secs` (4 unless asked) seconds for any size: 100 chunks.
                        let chunk = len.div_ceil(100).max(1);
                        let mut sent = 0;
                        while sent < len {
                            let n = chunk.min(len - sent);
                            let data: Vec<u8> = (sent..sent + n).map(|i| (i % 251) as u8).collect();
                            if s.write_all(&data).is_err() {
                                return;
                            }
                            sent += n;
                            std::thread::sleep(Duration::from_millis(secs * 10));
                        }
                    } else if req.starts_with("ECHO") {
                        let _ = s.set_read_timeout(None);
                        if req.starts_with("ECHON") {
                            let _ = s.write_all(format!("ECHO {name}\n").as_bytes());
                        } else {
                            let _ = s.write_all(b"ECHO\n");
                        }
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    } else if req.starts_with("GET ") {
                        // Enough HTTP for health checks: 200 and the name for any path.
                        let body = format!("{name}\n");
                        let _ = s.write_all(
                            format!(
                                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        );
                    } else {
                        let _ = s.write_all(name.as_bytes());
                    }
                });
            }
        }
        "udp-server" => {
            let s = UdpSocket::bind(addr).expect("bind");
            println!("ready");
            exit_when_stdin_closes();
            let mut buf = [0u8; 1500];
            while let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(args[2].as_bytes(), from);
            }
        }
        "tcp-clients" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            for _ in 0..n {
                let r = (|| -> std::io::Result<String> {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                    s.set_read_timeout(t)?;
                    s.write_all(b"hello\n")?;
                    let mut out = String::new();
                    s.read_to_string(&mut out)?;
                    Ok(out)
                })();
                match r {
                    Ok(name) if !name.is_empty() => println!("{name}"),
                    Ok(_) => println!("FAIL empty answer"),
                    Err(e) => println!("FAIL {e}"),
                }
            }
        }
        "download" | "download-slow" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let secs = if args[0] == "download" { 4 } else { 12 };
            let r = (|| -> Result<usize, String> {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                s.set_read_timeout(t).map_err(|e| e.to_string())?;
                s.write_all(format!("DOWNLOAD {n} {secs}\n").as_bytes())
                    .map_err(|e| e.to_string())?;
                let mut got = 0usize;
                let mut buf = vec![0u8; 65536];
                loop {
                    let k = s
                        .read(&mut buf)
                        .map_err(|e| format!("after {got} bytes: {e}"))?;
                    if k == 0 {
                        break;
                    }
                    for (i, b) in buf[..k].iter().enumerate() {
                        if *b != ((got + i) % 251) as u8 {
                            return Err(format!("byte {} corrupt", got + i));
                        }
                    }
                    got += k;
                }
                if got == n {
                    Ok(got)
                } else {
                    Err(format!("{got} of {n} bytes"))
                }
            })();
            match r {
                Ok(n) => println!("OK {n}"),
                Err(e) => println!("FAIL {e}"),
            }
        }
        "hold" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let _ = std::io::stdin().read_to_end(&mut Vec::new());
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                });
            }
            let r = (|| -> Result<u64, String> {
                let mut conns = open_echo(addr, n, t)?;
                println!("ready");
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    for (i, s) in conns.iter_mut().enumerate() {
                        echo(s, &format!("{i}:{rounds}\n"))
                            .map_err(|e| format!("conn {i} round {rounds}: {e}"))?;
                    }
                    rounds += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(rounds)
            })();
            match r {
                Ok(k) => println!("OK {k}"),
                Err(e) => println!("FAIL {e}"),
            }
        }
        "hold-each" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let _ = std::io::stdin().read_to_end(&mut Vec::new());
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                });
            }
            let mut conns: Vec<(TcpStream, String)> = Vec::new();
            for _ in 0..n {
                let r = (|| -> Result<(TcpStream, String), String> {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                        .map_err(|e| e.to_string())?;
                    s.set_read_timeout(t).map_err(|e| e.to_string())?;
                    s.write_all(b"ECHON\n").map_err(|e| e.to_string())?;
                    let mut line = Vec::new();
                    let mut b = [0u8; 1];
                    while b[0] != b'\n' {
                        s.read_exact(&mut b).map_err(|e| e.to_string())?;
                        line.push(b[0]);
                    }
                    let name = String::from_utf8_lossy(&line)
                        .trim()
                        .trim_start_matches("ECHO ")
                        .to_string();
                    Ok((s, name))
                })();
                match r {
                    Ok((s, name)) => conns.push((s, name)),
                    Err(e) => {
                        println!("FAIL opening: {e}");
                        return;
                    }
                }
            }
            println!("ready");
            // A thread per connection: one that hangs does not slow the others.
            let threads: Vec<_> = conns
                .into_iter()
                .enumerate()
                .map(|(i, (mut s, name))| {
                    let stop = std::sync::Arc::clone(&stop);
                    std::thread::spawn(move || {
                        let mut rounds = 0u64;
                        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                            if let Err(e) = echo(&mut s, &format!("{i}:{rounds}\n")) {
                                return format!("{name} FAIL round {rounds}: {e}");
                            }
                            rounds += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        format!("{name} OK {rounds}")
                    })
                })
                .collect();
            for t in threads {
                println!("{}", t.join().unwrap_or_else(|_| "? FAIL panicked".into()));
            }
        }
        "udp-clients" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let any: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            }
            .parse()
            .unwrap_or_else(|_| usage());
            // Every socket stays open until the last has its answer: the kernel picks UDP
            // source ports at random and would otherwise reuse one now and then, and a
            // reused port is the same flow to a director, not a new one.
            let mut open = Vec::with_capacity(n);
            for _ in 0..n {
                let r = (|| -> std::io::Result<String> {
                    let s = UdpSocket::bind(any)?;
                    s.connect(addr)?;
                    s.set_read_timeout(t)?;
                    s.send(b"hello")?;
                    let mut buf = [0u8; 1500];
                    let len = s.recv(&mut buf)?;
                    open.push(s);
                    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
                })();
                match r {
                    Ok(name) => println!("{name}"),
                    Err(e) => println!("FAIL {e}"),
                }
            }
        }
        "tcp-from" | "udp-from" => {
            let sport: u16 = args[2].parse().unwrap_or_else(|_| usage());
            match from_port(addr, sport, args[0] == "tcp-from", t) {
                Ok(name) if !name.is_empty() => println!("{name}"),
                Ok(_) => println!("FAIL empty answer"),
                Err(e) => println!("FAIL {e}"),
            }
        }
        "tcp-recv" => {
            let l = TcpListener::bind(addr).expect("bind");
            println!("ready");
            let (mut s, _) = l.accept().expect("accept");
            let _ = s.set_read_timeout(t);
            let mut data = Vec::new();
            let _ = s.read_to_end(&mut data);
            std::fs::write(&args[2], data).expect("write");
        }
        "tcp-send" => {
            let data = std::fs::read(&args[2]).expect("read");
            let r = (|| -> std::io::Result<()> {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
                s.set_write_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(&data)?;
                s.shutdown(std::net::Shutdown::Write)?;
                // Wait for the server's close, so that the data surely arrived.
                s.set_read_timeout(t)?;
                let _ = s.read(&mut [0u8; 1]);
                Ok(())
            })();
            match r {
                Ok(()) => println!("OK"),
                Err(e) => println!("FAIL {e}"),
            }
        }
        "idle" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let r = (|| -> Result<usize, String> {
                let mut conns = open_echo(addr, n, t)?;
                println!("ready");
                let _ = std::io::stdin().read_line(&mut String::new());
                for (i, s) in conns.iter_mut().enumerate() {
                    echo(s, &format!("still {i}\n")).map_err(|e| format!("conn {i}: {e}"))?;
                }
                Ok(conns.len())
            })();
            match r {
                Ok(k) => println!("OK {k}"),
                Err(e) => println!("FAIL {e}"),
            }
        }
        "udp-session" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let any = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(any).expect("bind");
            s.connect(addr).expect("connect");
            s.set_read_timeout(t).expect("timeout");
            let ask = |s: &UdpSocket| -> String {
                let mut buf = [0u8; 1500];
                match s.send(b"hello").and_then(|_| s.recv(&mut buf)) {
                    Ok(len) => String::from_utf8_lossy(&buf[..len]).into_owned(),
                    Err(e) => format!("FAIL {e}"),
                }
            };
            let mut name = String::new();
            for _ in 0..n {
                name = ask(&s);
            }
            let port = s.local_addr().map_or(0, |a| a.port());
            println!("ready {port} {name}");
            let _ = std::io::stdin().read_line(&mut String::new());
            println!("{}", ask(&s));
        }
        "syn-flood" | "udp-flood" => {
            let n: u64 = args[2].parse().unwrap_or_else(|_| usage());
            let SocketAddr::V4(to) = addr else { usage() };
            let sent = flood(to, n, args[0] == "syn-flood");
            println!("sent {sent}");
        }
        "bench-conns" => {
            let (secs, threads) = args[2]
                .split_once(',')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
                .unwrap_or_else(|| usage());
            bench_conns(addr, Duration::from_secs(secs), threads);
        }
        _ => usage(),
    }
}

/// Short connections as fast as `threads` threads can make them, for `span`.
fn bench_conns(addr: SocketAddr, span: Duration, threads: usize) {
    let end = std::time::Instant::now() + span;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut buf = [0u8; 512];
                while std::time::Instant::now() < end {
                    let t0 = std::time::Instant::now();
                    let r = (|| -> std::io::Result<usize> {
                        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
                        s.set_read_timeout(Some(Duration::from_secs(2)))?;
                        s.write_all(b"hello\n")?;
                        let mut total = 0;
                        loop {
                            match s.read(&mut buf)? {
                                0 => return Ok(total),
                                n => total += n,
                            }
                        }
                    })();
                    match r {
                        Ok(n) if n > 0 => lat.push(t0.elapsed().as_micros() as u64),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        if let Ok((l, e)) = w.join() {
            all.extend(l);
            errors += e;
        }
    }
    all.sort_unstable();
    let pct = |p: usize| {
        all.get(all.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "conns {} errors {errors} p50_us {} p90_us {} p99_us {}",
        all.len(),
        pct(50),
        pct(90),
        pct(99)
    );
}

/// `n` connections to an `ECHO` server, each past its greeting.
fn open_echo(addr: SocketAddr, n: usize, t: Option<Duration>) -> Result<Vec<TcpStream>, String> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(t).map_err(|e| e.to_string())?;
            s.write_all(b"ECHO\n").map_err(|e| e.to_string())?;
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).map_err(|e| e.to_string())?;
            Ok(s)
        })
        .collect()
}

/// Sends `msg` on an echo connection and checks that it comes back.
fn echo(s: &mut TcpStream, msg: &str) -> Result<(), String> {
    s.write_all(msg.as_bytes()).map_err(|e| e.to_string())?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).map_err(|e| e.to_string())?;
    if back != msg.as_bytes() {
        return Err("wrong echo".into());
    }
    Ok(())
}

/// One's complement sum of `data` added to `sum` (RFC 1071, not folded).
fn sum16(data: &[u8], mut sum: u32) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends `n` spoofed packets to `to` from random addresses in 198.18.0.0/15 (the benchmark
/// range) and random ports: TCP SYNs, or UDP datagrams of 4 bytes. A raw IPv4 socket with
/// the header included (the kernel routes it and fills in nothing but the MACs). Returns how
/// many were sent.
fn flood(to: std::net::SocketAddrV4, n: u64, syn: bool) -> u64 {
    // SAFETY: plain socket calls on a descriptor this function owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let dst = to.ip().octets();
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(dst),
        },
        sin_zero: [0; 8],
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut sent = 0;
    for _ in 0..n {
        // xorshift64: fast, and good enough to spread sources.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = [198, 18 + (x & 1) as u8, (x >> 8) as u8, (x >> 16) as u8 | 1];
        let sport = 1024 + ((x >> 24) as u16 % 60000);
        let mut l4 = Vec::with_capacity(20);
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&to.port().to_be_bytes());
        let proto = if syn {
            l4.extend_from_slice(&((x >> 32) as u32).to_be_bytes());
            l4.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
            libc::IPPROTO_TCP as u8
        } else {
            l4.extend_from_slice(&[0, 12, 0, 0]);
            l4.extend_from_slice(b"ping");
            libc::IPPROTO_UDP as u8
        };
        let mut pseudo = sum16(&src, 0);
        pseudo = sum16(&dst, pseudo);
        pseudo += u32::from(proto) + l4.len() as u32;
        let c = fold(sum16(&l4, pseudo));
        let at = if syn { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        let tot = (20 + l4.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&tot.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = fold(sum16(&ip, 0));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&l4);
        // SAFETY: valid buffer and address of the sizes given.
        let r = unsafe {
            libc::sendto(
                fd,
                ip.as_ptr().cast(),
                ip.len(),
                0,
                (&raw const sa).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r > 0 {
            sent += 1;
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
            std::thread::yield_now();
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    sent
}

/// One TCP connection (or UDP datagram) to `addr` from source port `sport`: the answer.
fn from_port(
    addr: SocketAddr,
    sport: u16,
    tcp: bool,
    t: Option<Duration>,
) -> std::io::Result<String> {
    use socket2::{Domain, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let kind = if tcp { Type::STREAM } else { Type::DGRAM };
    let s = Socket::new(domain, kind, None)?;
    s.set_reuse_address(true)?;
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, sport).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, sport).into()
    };
    s.bind(&local.into())?;
    if tcp {
        s.connect_timeout(&addr.into(), Duration::from_secs(5))?;
        let mut s: TcpStream = s.into();
        s.set_read_timeout(t)?;
        s.write_all(b"hello\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    } else {
        let s: UdpSocket = s.into();
        s.connect(addr)?;
        s.set_read_timeout(t)?;
        s.send(b"hello")?;
        let mut buf = [0u8; 1500];
        let len = s.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }
}

/// Three gratuitous ARP requests for `ip` from interface `iface`'s MAC, 100 ms apart.
fn garp(iface: &str, ip: &str) -> std::io::Result<()> {
    let ip: std::net::Ipv4Addr = ip
        .parse()
        .map_err(|_| std::io::Error::other(format!("not an IPv4 address: {ip}")))?;
    let mac_text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?;
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(mac_text.trim().split(':')) {
        *m = u8::from_str_radix(p, 16).map_err(std::io::Error::other)?;
    }
    let name = std::ffi::CString::new(iface).map_err(std::io::Error::other)?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(std::io::Error::other(format!("no interface {iface}")));
    }
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.octets());
    let proto = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a zeroed sockaddr_ll is a valid value to fill in.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto;
    sa.sll_ifindex = ifindex as i32;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let mut r = Ok(());
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: the frame and address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            r = Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    r
}

/// One datagram of the bytes `hex` to multicast `group` out of interface `iface`.
fn mcast_send(iface: &str, group: &str, hex: &str) -> std::io::Result<()> {
    let to: SocketAddr = group
        .parse()
        .map_err(|_| std::io::Error::other(format!("not ADDR:PORT: {group}")))?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| std::io::Error::other("bad hex"))?;
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    s.bind_device(Some(iface.as_bytes()))?;
    let addr = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))?;
    let ifindex: u32 = addr.trim().parse().map_err(std::io::Error::other)?;
    let m = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a valid option value of its own size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&m as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    s.send_to(&bytes, &to.into())?;
    Ok(())
}
