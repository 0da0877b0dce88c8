// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packet captures in namespaces (tcpdump), for the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use rvs_netns::Netns;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits for a child to print its first line ("ready", or tcpdump's "listening on").
pub fn wait_line(child: &mut std::process::Child, from_stderr: bool) {
    let line = if from_stderr {
        let mut r = BufReader::new(child.stderr.as_mut().unwrap());
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l
    } else {
        let mut r = BufReader::new(child.stdout.as_mut().unwrap());
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l
    };
    assert!(!line.is_empty(), "child exited before it was ready");
}

/// A tcpdump writing to a file; stopped with SIGINT so that it flushes.
pub struct Capture {
    child: Option<std::process::Child>,
    file: PathBuf,
}

impl Capture {
    pub fn start(ns: &Netns, dev: &str, filter: &str, file: PathBuf) -> Capture {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "tcpdump",
                "-Z",
                "root",
                "--immediate-mode",
                "-i",
                dev,
                "-U",
                "-n",
                // Headers are enough; a large buffer so that a transfer loses nothing.
                "-s",
                "128",
                "-B",
                "32768",
                "-w",
                s(&file),
                filter,
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tcpdump (./x setup installs it)");
        wait_line(&mut child, true);
        Capture {
            child: Some(child),
            file,
        }
    }

    /// Stops the capture and returns each frame's (IP datagram length, source port).
    pub fn finish(mut self) -> Vec<(u32, u16)> {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait().unwrap();
        ip_lengths(&std::fs::read(&self.file).unwrap())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// (IP datagram length, source port) of the Ethernet frames in a pcap file.
pub fn ip_lengths(pcap: &[u8]) -> Vec<(u32, u16)> {
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let f = &pcap[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        let port = |l4: usize| u16::from_be_bytes([f[l4], f[l4 + 1]]);
        match u16::from_be_bytes([f[12], f[13]]) {
            0x0800 => out.push((
                u32::from(u16::from_be_bytes([f[16], f[17]])),
                port(14 + usize::from(f[14] & 0xf) * 4),
            )),
            0x86dd => out.push((40 + u32::from(u16::from_be_bytes([f[18], f[19]])), port(54))),
            _ => {}
        }
    }
    out
}
