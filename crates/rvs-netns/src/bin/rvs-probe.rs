// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-probe`: the servers and clients of the lab and the end-to-end tests.
//!
//! ```text
//! rvs-probe tcp-server ADDR:PORT NAME     answer every connection with NAME, then close
//! rvs-probe udp-server ADDR:PORT NAME     answer every datagram with NAME
//! rvs-probe tcp-clients ADDR:PORT N       N connections one after the other; print each answer
//! rvs-probe udp-clients ADDR:PORT N       N datagrams from N source ports; print each answer
//! rvs-probe download ADDR:PORT BYTES      read BYTES from a tcp-server started with --bulk
//! ```
//! Servers run until standard input closes. Every client operation has a 5 s timeout; a
//! failure prints `FAIL <reason>` for that attempt instead of a name.

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
    if args.len() != 3 {
        usage();
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
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(name.as_bytes());
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
        "udp-clients" => {
            let n: usize = args[2].parse().unwrap_or_else(|_| usage());
            let any: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            }
            .parse()
            .unwrap_or_else(|_| usage());
            for _ in 0..n {
                let r = (|| -> std::io::Result<String> {
                    let s = UdpSocket::bind(any)?;
                    s.connect(addr)?;
                    s.set_read_timeout(t)?;
                    s.send(b"hello")?;
                    let mut buf = [0u8; 1500];
                    let len = s.recv(&mut buf)?;
                    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
                })();
                match r {
                    Ok(name) => println!("{name}"),
                    Err(e) => println!("FAIL {e}"),
                }
            }
        }
        _ => usage(),
    }
}
