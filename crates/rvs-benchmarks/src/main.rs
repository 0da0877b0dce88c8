// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-benchmarks [--out FILE] [packet] [pps] [conns] [scale]`: the benchmark suite behind
//! `./x bench`. Each part measures rvs next to a baseline in the same run, interleaved, and
//! prints Markdown; with `--out` the whole report (machine, kernel, CPU, date, every part) is
//! written to FILE as well. Parts can run alone. Needs root (namespaces, XDP, bpffs).
//!
//! - `packet`: ns per packet under `BPF_PROG_TEST_RUN` for every path (`rvs-bench`).
//! - `pps`: packets per second through veth, generated with live-frames test runs, the
//!   director's work on one core: rvs DR forwarding vs the minimal XDP_TX program.
//! - `conns`: short TCP connections through the lab topology: rvs (DR) vs HAProxy (TCP mode)
//!   vs nginx (stream), connections per second, latency, director CPU per 100,000.
//! - `scale`: connection table memory and fill time at 1M and 10M entries, `rvsadm -R` of
//!   10,000 services x 10 dests, `rvsadm -Lnc` with 1M live connections, and the time from
//!   `rvsadm -e` to the packet path.
//! - `lnc`: only the `rvsadm -Lnc` figure of `scale` (not in the default set).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rvs_common::conn_flags;
use rvs_common::maps::{AF_V4, ConnKey, ConnVal, KIND_CONN, name};
use rvs_common::tcp::State;
use rvs_dataplane::pinned::PinnedMaps;
use rvs_dataplane::{DROP_PROGRAM, Dataplane, GEN_PROGRAM, MIN_TX_PROGRAM, SINK_PROGRAM};
use rvs_netns::lab::Lab;
use rvs_netns::rvsd::Rvsd;
use rvs_netns::{Guard, Netns, sh};

fn bins() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(0.0, f64::max),
    )
}

/// `median (min–max)` of a series.
fn mmm(v: &[f64], digits: usize) -> String {
    let (lo, hi) = min_max(v);
    format!("{:.d$} ({lo:.d$}–{hi:.d$})", median(v), d = digits)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn header() -> String {
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let product = read("/sys/class/dmi/id/product_name").trim().to_string();
    let date = sh(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]);
    let kernel = sh(&["uname", "-r"]);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut o = String::new();
    let _ = writeln!(o, "# rvs benchmarks\n");
    let _ = writeln!(
        o,
        "Written by `./x bench` (`crates/rvs-benchmarks`). Every comparison below was measured in \
         the same run as its baseline, rounds interleaved, and each ratio is computed round by \
         round; figures are median (min–max) over the rounds. Nothing here is part of the test \
         suite's pass/fail.\n"
    );
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| machine | {} |",
        if product.is_empty() {
            "(no DMI product name)"
        } else {
            &product
        }
    );
    let _ = writeln!(o, "| CPU | {cpu}, {cores} cores |");
    let _ = writeln!(o, "| memory | {} GiB |", mem_kb / (1024 * 1024));
    let _ = writeln!(o, "| kernel | {} |", kernel.trim());
    let _ = writeln!(o, "| date | {} |", date.trim());
    o
}

// ---------------------------------------------------------------------------------------
// packet

/// Why the goals still short are short, from profiles (`rvs-bench profile` under `perf record
/// -a`) of this program on this kind of machine.
const PACKET_REASONS: &str = "\
Why the goals not met are not, from `perf record -a` while `rvs-bench profile PATH` runs:\n\n\
- Established packet, own cost over the MAC swap's: the MAC swap's own cost is a couple of \
  ns (two 6-byte moves), less than any lookup in a kernel hash map. About half of rvs's own \
  cost is the connection-table lookup itself (hashing the 40-byte key, `htab_map_hash`; the \
  bucket walk and key compare, `lookup_nulls_elem_raw`, `memcmp`); the rest is parsing, the \
  state step, one counter, the TTL and checksum, the MACs. 1.5x would leave about 4 ns for \
  all of it.\n\
- NAT reply: three lookups in large hash tables (the client-side key, which misses, in the \
  first program; the reply index and the entry in the second) and the kernel's FIB lookup \
  for the client's next hop (`bpf_fib_lookup`: `fib_table_lookup`), then a redirect.\n\
- SYN, any scheduler: a new connection misses in and then inserts into a preallocated table \
  of a million entries; both touch memory no cache holds (in the profile of a SYN the \
  kernel's hash-table functions, `lookup_nulls_elem_raw` first, take more time than the \
  three programs together). The fixed part of a SYN (rr, sh, dh, mh, wrr, a template) is \
  about ten times the MAC swap's whole call for that reason.\n\
- Counting schedulers: each dest of the walk reads its slot of the service's walk array \
  (id, weight, flags side by side) and its connection counts (one value in a mappable \
  array, which rvsd changes in place with atomic operations as the program does; OVERLOAD \
  is looked up only for dests with an upper threshold). The walk is a `bpf_loop` whose \
  callback takes eight dests, started from a global function so that the verifier checks \
  it once (one dest per callback cost 12-15 ns per dest here, most of it the callback's \
  own; a static function of several dests per callback ran the verifier out of \
  instructions, and a plain loop of 128 iterations did too). About 6 ns per dest is left: \
  the per-dest work itself (three loads, a flag test, the cross-multiplied comparison) and \
  the loop's. 3 ns would need the counts in the walk array itself and fewer checks per dest. \
  lblc, lblcr and twos walk twice.\n";

fn part_packet() -> String {
    // A namespace with a route and a neighbour entry for the client, so that NAT replies
    // find their next hop (`bpf_fib_lookup`), and forwarding on, as a NAT director has it.
    let ns = Netns::new("pkt");
    ns.sh(&[
        "ip", "link", "add", "b0", "type", "veth", "peer", "name", "b1",
    ]);
    ns.sh(&["ip", "link", "set", "b0", "up"]);
    ns.sh(&["ip", "link", "set", "b1", "up"]);
    ns.sh(&["ip", "addr", "add", "10.0.0.1/24", "dev", "b0"]);
    ns.sh(&[
        "ip",
        "neigh",
        "replace",
        "10.0.0.10",
        "lladdr",
        "02:00:00:00:00:10",
        "dev",
        "b0",
        "nud",
        "permanent",
    ]);
    ns.sysctl("net.ipv4.ip_forward", "1");
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(bins().join("rvs-bench"))
        .arg("5")
        .output()
        .expect("rvs-bench");
    assert!(
        out.status.success(),
        "rvs-bench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "## Per-packet cost, no I/O\n\n\
         `BPF_PROG_TEST_RUN` of the loaded program. Two figures per path. The whole call: one \
         run per call, averaged over many calls; it holds the call's fixed cost (the kernel's \
         timer, ~50–90 ns here), baselines included, and is what the goals' whole-call ratios \
         use. The program's own cost: ns above the empty program (XDP_PASS) in the same round. \
         For paths that stay on the same path when one buffer is run again (the TTL starts at \
         255), it comes from calls of 200 runs each, where the call's fixed cost is spread thin; \
         for the others (a NAT or tunnel rewrite moves the next run elsewhere; every SYN must be \
         a new flow) it is the whole call less the empty program's whole call, which is noisier. \
         The director is configured by the real `Director` from a table: one service per \
         scheduler with 100 DR dests of weights 1–4, plus UDP, IPv6, NAT and tunnel services, \
         and a wlc service of 10 dests (the walk's cost per dest is the difference to the \
         100-dest one); every SYN is a new flow. A NAT reply's next hop comes from the FIB \
         (`bpf_fib_lookup`), and it leaves by another interface than test runs arrive on (a \
         redirect). The goals are those of issue 12; the figure that decides each is the worst \
         path of its group.\n\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        PACKET_REASONS
    )
}

// ---------------------------------------------------------------------------------------
// pps

/// Runs `f` with this thread in network namespace `ns`, then returns to the original one.
fn in_netns<T>(ns: &str, f: impl FnOnce() -> T) -> T {
    let own = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    let target = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("netns");
    use std::os::fd::AsRawFd;
    // SAFETY: valid namespace fds; setns affects this thread only.
    unsafe {
        assert_eq!(
            libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET),
            0,
            "setns"
        );
    }
    let r = f();
    // SAFETY: as above.
    unsafe {
        libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET);
    }
    r
}

fn pin_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; the calls only change this thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU ticks (user + system) of a task.
fn task_ticks(pid: u32) -> u64 {
    let stat = read(&format!("/proc/{pid}/stat"));
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
    n(11) + n(12)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The threaded-NAPI kernel thread of interface `dev` (in any namespace), by name.
fn napi_thread(dev: &str) -> Option<u32> {
    let want = format!("napi/{dev}-");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        read(&format!("/proc/{pid}/comm"))
            .starts_with(&want)
            .then_some(pid)
    })
}

/// Pins the threaded-NAPI thread of `dev` to `cpu`; its pid.
fn pin_napi(dev: &str, cpu: usize) -> Option<u32> {
    let pid = napi_thread(dev)?;
    sh(&["taskset", "-p", "-c", &cpu.to_string(), &pid.to_string()]);
    Some(pid)
}

fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let s = ns.sh(&["cat", &format!("/sys/class/net/{dev}/address")]);
    let mut m = [0u8; 6];
    for (b, h) in m.iter_mut().zip(s.trim().split(':')) {
        *b = u8::from_str_radix(h, 16).unwrap_or(0);
    }
    m
}

fn ifindex_of(ns: &Netns, dev: &str) -> u32 {
    ns.sh(&["cat", &format!("/sys/class/net/{dev}/ifindex")])
        .trim()
        .parse()
        .unwrap_or(0)
}

/// An IPv4/TCP frame from 10.0.0.10 to the VIP's port 8130.
fn tcp_frame(dst: [u8; 6], src: [u8; 6], flags: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 10, 10, 0, 0, 240,
    ];
    let sum = {
        let mut s: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&1024u16.to_be_bytes());
    f.extend_from_slice(&8130u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

struct PpsResult {
    /// What the generator offered, Mpps.
    offered: f64,
    /// What the director's XDP program saw, Mpps.
    seen: f64,
    /// What it transmitted back out (XDP_TX accepted by the veth), Mpps.
    forwarded: f64,
    /// The director thread's CPU share.
    busy: f64,
    /// Forwarded frames per second of director CPU, millions.
    per_core: f64,
}

/// A counter of `ethtool -S DEV`.
fn nic_stat(ns: &Netns, dev: &str, name: &str) -> u64 {
    ns.sh(&["ethtool", "-S", dev])
        .lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One measurement: `frames` generated into g0 (CPU 0) towards d0.
fn pps_once(
    generator: &mut Dataplane,
    gen_ns: &Netns,
    dir: &Netns,
    frame: &[u8],
    frames: u32,
    napi: Option<u32>,
) -> PpsResult {
    let ifindex = ifindex_of(gen_ns, "g0");
    let seen0 = nic_stat(dir, "d0", "rx_queue_0_xdp_packets");
    let tx0 = nic_stat(dir, "d0", "rx_queue_0_xdp_tx");
    let ticks0 = napi.map_or(0, task_ticks);
    let t0 = Instant::now();
    in_netns(gen_ns.name(), || {
        generator
            .live_run(GEN_PROGRAM, frame, ifindex, frames)
            .expect("live-frames run")
    });
    let wall = t0.elapsed().as_secs_f64();
    // Let the last frames drain before reading the counters.
    std::thread::sleep(Duration::from_millis(50));
    let ticks = napi.map_or(0, task_ticks) - ticks0;
    let seen = nic_stat(dir, "d0", "rx_queue_0_xdp_packets") - seen0;
    let tx = nic_stat(dir, "d0", "rx_queue_0_xdp_tx") - tx0;
    let busy_s = ticks as f64 / clk_tck();
    PpsResult {
        offered: f64::from(frames) / wall / 1e6,
        seen: seen as f64 / wall / 1e6,
        forwarded: tx as f64 / wall / 1e6,
        busy: busy_s / wall,
        per_core: tx as f64 / busy_s.max(1e-9) / 1e6,
    }
}

fn part_pps() -> String {
    let bins = bins();
    let gen_ns = Netns::new("pgen");
    let dir = Netns::new("pdir");
    gen_ns.veth("g0", &dir, "d0");
    dir.sh(&["ip", "addr", "add", "10.0.0.1/24", "dev", "d0"]);
    dir.sh(&["ip", "addr", "add", "10.0.0.240/32", "dev", "d0"]);
    gen_ns.sh(&["ip", "addr", "add", "10.0.0.2/24", "dev", "g0"]);
    let g0_mac = mac_of(&gen_ns, "g0");
    let d0_mac = mac_of(&dir, "d0");
    let mac_text = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    // The dest, 10.0.0.2, is the generator's side: forwarded frames come back to g0's sink.
    dir.sh(&[
        "ip",
        "neigh",
        "replace",
        "10.0.0.2",
        "lladdr",
        &mac_text(g0_mac),
        "dev",
        "d0",
        "nud",
        "permanent",
    ]);
    // Threaded NAPI: the director's receive work runs in its own kernel thread, pinned to
    // CPU 1; the generator and the sink share CPU 0.
    // (veth has NAPI only with GRO or XDP; GRO keeps it while programs change.)
    for (ns, dev) in [(&dir, "d0"), (&gen_ns, "g0")] {
        ns.sh(&["ethtool", "-K", dev, "gro", "on"]);
        ns.sh(&[
            "sh",
            "-c",
            &format!("echo 1 > /sys/class/net/{dev}/threaded"),
        ]);
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    pin_napi("d0", cores - 1);
    pin_napi("g0", 0);
    pin_cpu(0);
    // The generator and the sink.
    let mut generator = Dataplane::load_default(4096).expect("load");
    in_netns(gen_ns.name(), || {
        generator.attach(SINK_PROGRAM, "g0").expect("sink on g0")
    });
    const FLOWS: u32 = 1024;
    const SYN_FLOWS: u32 = 60_000;
    const SYN_TABLE: u32 = 16_384;
    const FRAMES: u32 = 5_000_000;
    let syn = tcp_frame(d0_mac, g0_mac, 0x02);
    let ack = tcp_frame(d0_mac, g0_mac, 0x10);
    let mut daemon = Rvsd::prepare(&bins, "pps");
    let mut rounds: Vec<(PpsResult, PpsResult)> = Vec::new();
    let mut syn_rounds: Vec<(PpsResult, PpsResult)> = Vec::new();
    for _ in 0..3 {
        // rvs: rvsd attaches the program to d0; one pass of SYNs makes the flows.
        daemon.start(&dir, None, "pps", &["d0"], SYN_TABLE);
        daemon.adm("-C");
        daemon.adm("-A -t 10.0.0.240:8130 -s rr");
        daemon.adm("-a -t 10.0.0.240:8130 -r 10.0.0.2:8130 -g -w 1");
        daemon.wait_ready("d0");
        // (The thread is new whenever the program on d0 changes.)
        let napi = pin_napi("d0", cores - 1);
        generator.set_generator(FLOWS, 0x02).unwrap();
        // The flows' SYNs one at a time, so that none is lost to a full ring.
        let g0 = ifindex_of(&gen_ns, "g0");
        in_netns(gen_ns.name(), || {
            for _ in 0..FLOWS {
                generator.live_run(GEN_PROGRAM, &syn, g0, 1).expect("SYN");
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        let entries = daemon.adm("-L -n -c").lines().count();
        assert!(entries >= FLOWS as usize, "only {entries} lines in -Lnc");
        generator.set_generator(FLOWS, 0x10).unwrap();
        let r_rvs = pps_once(&mut generator, &gen_ns, &dir, &ack, FRAMES, napi);
        // Sustained new connections: SYNs from more source ports than the table holds, so
        // that every one makes an entry (evicting the oldest embryonic one once it is full).
        generator.set_generator(SYN_FLOWS, 0x02).unwrap();
        let r_syn = pps_once(&mut generator, &gen_ns, &dir, &syn, FRAMES, napi);
        let evicted = daemon
            .status()
            .get("packet_counters")
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .find(|c| c[0] == "embryonic entries evicted for new ones")
            .and_then(|c| c[1].as_u64())
            .unwrap_or(0);
        assert!(evicted > 0, "the SYNs never filled the table");
        let out = daemon.rvs(&["down"]);
        assert!(out.status.success(), "rvs down");
        daemon.stop(libc::SIGTERM);
        // The baseline on the same path.
        let mut base = Dataplane::load_default(4096).expect("load");
        in_netns(dir.name(), || {
            base.attach(MIN_TX_PROGRAM, "d0").expect("min tx")
        });
        // (The thread is new whenever the program on d0 changes.)
        let napi = pin_napi("d0", cores - 1);
        let r_min = pps_once(&mut generator, &gen_ns, &dir, &ack, FRAMES, napi);
        drop(base);
        rounds.push((r_rvs, r_min));
        // XDP_DROP on the same path, for the SYN row.
        let mut drop_all = Dataplane::load_default(4096).expect("load");
        in_netns(dir.name(), || {
            drop_all.attach(DROP_PROGRAM, "d0").expect("drop")
        });
        let napi = pin_napi("d0", cores - 1);
        let r_drop = pps_once(&mut generator, &gen_ns, &dir, &syn, FRAMES, napi);
        drop(drop_all);
        syn_rounds.push((r_syn, r_drop));
    }
    let col = |f: &dyn Fn(&(PpsResult, PpsResult)) -> f64| rounds.iter().map(f).collect::<Vec<_>>();
    let mut o = String::from("## Packets per second through veth\n\n");
    let _ = writeln!(
        o,
        "A generator namespace sends {FRAMES} frames per measurement with `BPF_PROG_TEST_RUN` \
         in live-frames mode (an XDP program transmitting the frame it is given, a new source \
         port for each of {FLOWS} established TCP flows) over a veth pair into the director \
         namespace, whose XDP program sends each frame back out of the same veth (DR: new \
         MACs, TTL; the baseline swaps the MACs) to a counting sink. The director's receive \
         work runs in a threaded-NAPI kernel thread pinned to its own core; the generator and \
         the sink share the other core. Counters are the veth's own (`ethtool -S`): frames the \
         director's program saw and frames it transmitted. 3 interleaved rounds, median \
         (min–max).\n"
    );
    let _ = writeln!(
        o,
        "| program on the director | offered Mpps | seen by the director, Mpps | forwarded, Mpps | director core busy | forwarded per director core-second, M |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for (name, pick) in [
        ("minimal XDP_TX (MAC swap)", 1usize),
        ("rvs, DR, 1024 flows", 0),
    ] {
        let get = |f: &dyn Fn(&PpsResult) -> f64| {
            col(&|r: &(PpsResult, PpsResult)| f(if pick == 0 { &r.0 } else { &r.1 }))
        };
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} % | {} |",
            mmm(&get(&|r| r.offered), 2),
            mmm(&get(&|r| r.seen), 2),
            mmm(&get(&|r| r.forwarded), 2),
            mmm(&get(&|r| r.busy * 100.0), 0),
            mmm(&get(&|r| r.per_core), 2)
        );
    }
    let seen_per_core = |r: &PpsResult| r.seen / r.busy.max(1e-9);
    let syn_col = |f: &dyn Fn(&PpsResult) -> f64, pick: usize| {
        syn_rounds
            .iter()
            .map(|r| f(if pick == 0 { &r.0 } else { &r.1 }))
            .collect::<Vec<_>>()
    };
    let _ = writeln!(
        o,
        "\nNew connections: SYNs from {SYN_FLOWS} source ports into a {SYN_TABLE}-entry \
         connection table, so that every SYN makes an entry (once the table is full, by \
         evicting the oldest embryonic one): the flood capacity of one director core. Beside \
         it XDP_DROP, which does nothing with the frame. Frames per director core-second are \
         what the program processed (seen) divided by the core time its thread took.\n\n\
         | program on the director | offered Mpps | seen, Mpps | forwarded, Mpps | director core busy | seen per director core-second, M |\n|---|---|---|---|---|---|"
    );
    for (name, pick) in [
        ("XDP_DROP", 1usize),
        ("rvs, DR, a new connection per SYN", 0),
    ] {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} % | {} |",
            mmm(&syn_col(&|r| r.offered, pick), 2),
            mmm(&syn_col(&|r| r.seen, pick), 2),
            mmm(&syn_col(&|r| r.forwarded, pick), 2),
            mmm(&syn_col(&|r| r.busy * 100.0, pick), 0),
            mmm(&syn_col(&seen_per_core, pick), 2)
        );
    }
    let syn_ratio: Vec<f64> = syn_rounds
        .iter()
        .map(|r| seen_per_core(&r.0) / seen_per_core(&r.1).max(1e-9))
        .collect();
    let _ = writeln!(
        o,
        "\nPer round, SYNs handled per director core-second, rvs over XDP_DROP: {}.\n",
        mmm(&syn_ratio, 2)
    );
    let ratio = col(&|r| r.0.per_core / r.1.per_core.max(1e-9));
    let ratio_fwd = col(&|r| r.0.forwarded / r.1.forwarded.max(1e-9));
    let _ = writeln!(
        o,
        "\nPer round, rvs over the minimal program: forwarded rate {}, forwarded per director \
         core-second {}. On this 2-core machine the forwarded rate of both is capped by the \
         way back: the sink shares its core with the generator, and frames it cannot take in \
         time are refused by the veth (seen but not forwarded). The director core-second figure \
         is therefore the fairer comparison of what each program costs.\n",
        mmm(&ratio_fwd, 2),
        mmm(&ratio, 2)
    );
    // The same figures as time: director core ns per forwarded frame, and rvs's part above
    // the minimal program's (its own cost in live forwarding).
    let ns_rvs = col(&|r| 1000.0 / r.0.per_core.max(1e-9));
    let ns_min = col(&|r| 1000.0 / r.1.per_core.max(1e-9));
    let ns_own = col(&|r| 1000.0 / r.0.per_core.max(1e-9) - 1000.0 / r.1.per_core.max(1e-9));
    let met = if median(&ratio) >= 0.9 {
        "met"
    } else {
        "not met"
    };
    let _ = writeln!(
        o,
        "Director core time per forwarded frame: rvs {} ns, the minimal program {} ns; rvs's own \
         part {} ns.\n\n\
         Goal (issue 12): forwarded frames per director core-second, rvs DR over the minimal \
         XDP_TX, ≥ 0.9: {} ({met}). Both figures carry the veth's own receive and transmit \
         work, which is the same for both and most of the minimal program's time. {}\n",
        mmm(&ns_rvs, 0),
        mmm(&ns_min, 0),
        mmm(&ns_own, 0),
        mmm(&ratio, 2),
        if met == "met" {
            ""
        } else {
            "Short because rvs's own part is the established packet's work (the packet part: \
             about half of it the connection-table lookup), and here, with 1024 flows and the \
             veth's own work between two frames, it costs more than in a test run, which repeats \
             one frame (cache misses, we think; not measured apart); 0.9 would leave rvs a tenth of the minimal \
             program's time per frame."
        }
    );
    o
}

// ---------------------------------------------------------------------------------------
// conns

/// Sums `run_time_ns` of the BPF programs rvsd holds (kernel.bpf_stats_enabled must be 1).
fn rvsd_bpf_ns(pid: u32) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let info = read(e.path().to_str().unwrap_or_default());
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(ns)) = (field("prog_id:"), field("run_time_ns:"))
            && seen.insert(id)
        {
            total += ns;
        }
    }
    total
}

/// The pids of processes whose command is `name`.
fn pids_of(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            (read(&format!("/proc/{pid}/comm")).trim() == name).then_some(pid)
        })
        .collect()
}

struct ConnsResult {
    cps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    cpu_per_100k: f64,
}

fn load_clients(lab: &Lab, secs: u64, threads: usize) -> (u64, u64, f64, f64) {
    let probe = lab.bin("rvs-probe");
    let spec = format!("{secs},{threads}");
    let children: Vec<_> = lab
        .clients
        .iter()
        .map(|c| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    c.name(),
                    &probe,
                    "bench-conns",
                    "10.0.0.240:8130",
                    &spec,
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("client")
        })
        .collect();
    let (mut conns, mut errors, mut p50, mut p99) = (0, 0, 0.0, 0.0);
    let n = children.len() as f64;
    for c in children {
        let out = c.wait_with_output().expect("client");
        let text = String::from_utf8_lossy(&out.stdout);
        let w: Vec<&str> = text.split_whitespace().collect();
        let get = |k: &str| {
            w.iter()
                .position(|x| *x == k)
                .and_then(|i| w.get(i + 1)?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        conns += get("conns");
        errors += get("errors");
        p50 += get("p50_us") as f64 / n;
        p99 += get("p99_us") as f64 / n;
    }
    (conns, errors, p50, p99)
}

fn part_conns() -> String {
    let bins = bins();
    // Run-time accounting costs every BPF program a little: on only for this part.
    let stats_before = read("/proc/sys/kernel/bpf_stats_enabled")
        .trim()
        .to_string();
    sh(&["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"]);
    let section = conns_with_stats(&bins);
    sh(&[
        "sysctl",
        "-q",
        "-w",
        &format!(
            "kernel.bpf_stats_enabled={}",
            if stats_before.is_empty() {
                "0"
            } else {
                &stats_before
            }
        ),
    ]);
    section
}

fn conns_with_stats(bins: &Path) -> String {
    const SECS: u64 = 8;
    const THREADS: usize = 8;
    let mut lab = Lab::build(bins, 2);
    let tmp = lab.tmp.clone();
    let haproxy_cfg = tmp.join("haproxy.cfg");
    std::fs::write(
        &haproxy_cfg,
        "global\n    maxconn 8000\n    nbthread 2\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend vip\n    bind 10.0.0.240:8130\n    default_backend rs\n\
         backend rs\n    balance leastconn\n\
             server rs1 10.0.0.241:8130\n    server rs2 10.0.0.242:8130\n    server rs3 10.0.0.243:8130\n",
    )
    .unwrap();
    let nginx_cfg = tmp.join("nginx.conf");
    let stream_module = [
        "/usr/lib/nginx/modules/ngx_stream_module.so",
        "/usr/share/nginx/modules/ngx_stream_module.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("/usr/lib/nginx/modules/ngx_stream_module.so");
    std::fs::write(
        &nginx_cfg,
        format!(
            "load_module {stream_module};\nworker_processes 2;\npid {}/nginx.pid;\nerror_log {}/nginx.err;\n\
             daemon off;\nevents {{ worker_connections 8000; }}\n\
             stream {{\n  upstream rs {{ least_conn; server 10.0.0.241:8130; server 10.0.0.242:8130; server 10.0.0.243:8130; }}\n\
               server {{ listen 10.0.0.240:8130; proxy_pass rs; proxy_connect_timeout 2s; }}\n}}\n",
            tmp.display(),
            tmp.display()
        ),
    )
    .unwrap();
    let mut results: Vec<[Option<ConnsResult>; 3]> = Vec::new();
    for _ in 0..3 {
        let mut round: [Option<ConnsResult>; 3] = [None, None, None];
        // rvs, DR.
        lab.start_rvsd(None);
        lab.configure_seed();
        lab.wait_resolved();
        let pid = lab_rvsd_pid(&lab);
        let ns0 = pid.map_or(0, rvsd_bpf_ns);
        let (c, e, p50, p99) = load_clients(&lab, SECS, THREADS);
        let ns = pid.map_or(0, rvsd_bpf_ns) - ns0;
        round[0] = Some(ConnsResult {
            cps: c as f64 / SECS as f64,
            p50,
            p99,
            errors: e,
            cpu_per_100k: ns as f64 / 1e9 / (c.max(1) as f64) * 1e5,
        });
        // Clear (the next round configures again) and take the packet path away.
        lab.adm("-C");
        let out = lab.rvs(&["down"]);
        assert!(out.status.success(), "rvs down");
        lab.stop_rvsd(libc::SIGTERM);
        // HAProxy and nginx in the director namespace, the VIP being the director's own.
        for (k, (name, args)) in [
            (
                "haproxy",
                vec!["haproxy", "-db", "-f", haproxy_cfg.to_str().unwrap()],
            ),
            ("nginx", vec!["nginx", "-c", nginx_cfg.to_str().unwrap()]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut argv = vec!["ip", "netns", "exec", lab.dir.name()];
            argv.extend(args);
            let child = Command::new(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(name);
            let guard = Guard(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !lab
                .dir
                .sh(&["ss", "-ltnH", "sport = :8130"])
                .contains("10.0.0.240")
            {
                assert!(Instant::now() < deadline, "{name} did not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
            let ticks = |pids: &[u32]| pids.iter().map(|p| task_ticks(*p)).sum::<u64>();
            let pids = pids_of(name);
            let t0 = ticks(&pids);
            let (c, e, p50, p99) = load_clients(&lab, SECS, THREADS);
            let t1 = ticks(&pids_of(name));
            round[1 + k] = Some(ConnsResult {
                cps: c as f64 / SECS as f64,
                p50,
                p99,
                errors: e,
                cpu_per_100k: (t1.saturating_sub(t0)) as f64 / clk_tck() / (c.max(1) as f64) * 1e5,
            });
            // SAFETY: signalling our own child's process group is not needed; TERM it.
            unsafe { libc::kill(guard.0.id() as i32, libc::SIGTERM) };
            for p in pids_of(name) {
                // SAFETY: plain signal to a benchmark process this run started.
                unsafe { libc::kill(p as i32, libc::SIGTERM) };
            }
            drop(guard);
            let deadline = Instant::now() + Duration::from_secs(10);
            while lab
                .dir
                .sh(&["ss", "-ltnH", "sport = :8130"])
                .contains("10.0.0.240")
            {
                assert!(Instant::now() < deadline, "{name} did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        results.push(round);
    }
    let names = [
        "rvs (DR, XDP)",
        "HAProxy 2.6 (TCP mode)",
        "nginx 1.22 (stream)",
    ];
    let get = |k: usize, f: &dyn Fn(&ConnsResult) -> f64| {
        results
            .iter()
            .filter_map(|r| r[k].as_ref().map(f))
            .collect::<Vec<f64>>()
    };
    let mut o = String::from("## Connections through the lab topology\n\n");
    let _ = writeln!(
        o,
        "The lab (two clients, the director, three real servers, each a namespace on one \
         bridge; all on this machine's cores). Each client runs {THREADS} threads making short \
         TCP connections to 10.0.0.240:8130 for {SECS} s (connect, send a line, read the \
         server's answer until it closes). rvs balances with wlc in DR mode (replies go \
         straight from the real servers to the clients); HAProxy (TCP mode, leastconn, 2 \
         threads) and nginx (stream, least_conn, 2 workers) run in the director namespace on \
         the VIP and proxy both directions. Director CPU: for rvs the kernel's run time of its \
         XDP programs (`kernel.bpf_stats_enabled`); for the proxies their processes' user and \
         system time (the kernel's TCP receive work in softirq is in neither). 3 interleaved \
         rounds.\n"
    );
    let _ = writeln!(
        o,
        "| director | connections/s | latency p50 (µs) | latency p99 (µs) | errors | director CPU s per 100,000 connections |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for (k, name) in names.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} |",
            mmm(&get(k, &|r| r.cps), 0),
            mmm(&get(k, &|r| r.p50), 0),
            mmm(&get(k, &|r| r.p99), 0),
            get(k, &|r| r.errors as f64).iter().sum::<f64>(),
            mmm(&get(k, &|r| r.cpu_per_100k), 3)
        );
    }
    let ratio = |k: usize, f: &dyn Fn(&ConnsResult) -> f64| {
        results
            .iter()
            .filter_map(|r| Some(f(r[0].as_ref()?) / f(r[k].as_ref()?).max(1e-12)))
            .collect::<Vec<f64>>()
    };
    for (k, name) in [(1, "HAProxy"), (2, "nginx")] {
        let _ = writeln!(
            o,
            "\nrvs vs {name}, per round: connections/s ratio {}, p99 latency ratio {}, director \
             CPU per connection ratio {}.",
            mmm(&ratio(k, &|r| r.cps), 2),
            mmm(&ratio(k, &|r| r.p99), 2),
            mmm(&ratio(k, &|r| r.cpu_per_100k), 4)
        );
    }
    let _ = writeln!(
        o,
        "\nOn one small machine the clients and real servers compete with the director for \
         the same cores, so connections per second mostly measure the endpoints; the director \
         CPU column is the director's own cost.\n"
    );
    o
}

fn lab_rvsd_pid(lab: &Lab) -> Option<u32> {
    let sock = lab.socket();
    pids_of("rvsd").into_iter().find(|p| {
        read(&format!("/proc/{p}/cmdline"))
            .split('\0')
            .any(|a| Path::new(a) == sock)
    })
}

// ---------------------------------------------------------------------------------------
// scale

fn conn_key(i: u32) -> ConnKey {
    let mut k = ConnKey {
        cport_be: ((i & 0xffff) as u16).to_be(),
        vport_be: 8130u16.to_be(),
        proto: 6,
        af: AF_V4,
        kind: KIND_CONN,
        ..ConnKey::default()
    };
    k.caddr[..4].copy_from_slice(&[10, 64 + (i >> 24) as u8, (i >> 16) as u8, 1]);
    k.vaddr[..4].copy_from_slice(&[10, 0, 0, 240]);
    k
}

fn live_conn(now: u64) -> ConnVal {
    ConnVal {
        last_ns: now,
        dest: 1,
        svc: 1,
        timeout: 900,
        flags: conn_flags::DROUTE | conn_flags::NOOUTPUT,
        state: State::Established as u8,
        _pad: 0,
        dport_be: 0,
        in_pkts: 0,
    }
}

/// Puts 1,000,000 live connections into the lab's table and times `rvsadm -L -n -c` `runs`
/// times: the times in seconds and the number of lines of the last listing.
fn million_lnc(lab: &Lab, runs: usize) -> (Vec<f64>, usize) {
    let pins = lab.tmp.join("bpffs/rvs/lab");
    {
        let now = rvs_dataplane::director::monotonic_ns();
        PinnedMaps::new(&pins)
            .insert_conns((0..1_000_000).map(|i| (conn_key(i), live_conn(now))))
            .expect("insert");
    }
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let lnc = lab.adm("-L -n -c");
        times.push(t0.elapsed().as_secs_f64());
        lines = lnc.lines().count();
    }
    (times, lines)
}

/// Only the `-Lnc` figure of the scale part (for work on the listing path).
fn part_lnc() -> String {
    let mut lab = Lab::build(&bins(), 1);
    lab.start_rvsd_sized(None, 10_000_000);
    lab.configure_seed();
    let (times, lines) = million_lnc(&lab, 5);
    format!(
        "## -Lnc\n\n`rvsadm -Lnc` with 1,000,000 live connections in a 10,000,000-entry table \
         ({lines} lines): {} s\n",
        mmm(&times, 2)
    )
}

fn part_scale() -> String {
    let bins = bins();
    let mut o = String::from("## Scale\n\n");
    // 1. Connection table memory and fill rate.
    let _ = writeln!(
        o,
        "Connection table (`RVS_CONNS`, a plain hash preallocated at load, and the NAT reply \
         index `RVS_CONNS_OUT` sized like it): kernel memory as the maps' `memlock`, and the \
         time to fill the table from user space one entry per `bpf()` call.\n\n| entries | \
         kernel memory (table + reply index) | bytes per entry | fill time | entries/s \
         |\n|---|---|---|---|---|"
    );
    for n in [1_000_000u32, 10_000_000] {
        let mut dp = Dataplane::load_default(n).expect("load");
        let mem =
            dp.map_memlock(name::CONNS).unwrap_or(0) + dp.map_memlock(name::CONNS_OUT).unwrap_or(0);
        let now = rvs_dataplane::director::monotonic_ns();
        let t0 = Instant::now();
        for i in 0..n {
            dp.put_conn(&conn_key(i), &live_conn(now)).expect("insert");
        }
        let fill = t0.elapsed().as_secs_f64();
        assert!(
            dp.conn(&conn_key(n - 1)).unwrap().is_some(),
            "last entry present"
        );
        let _ = writeln!(
            o,
            "| {n} | {:.0} MiB | {:.0} | {fill:.1} s | {:.0} |",
            mem as f64 / 1048576.0,
            mem as f64 / f64::from(n),
            f64::from(n) / fill
        );
    }
    // 2. rvsadm -R of 10,000 x 10, control plane only.
    let tmp = std::env::temp_dir().join(format!("rvs-scale-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let sock = tmp.join("rvsd.sock");
    let rvsd = Command::new(bins.join("rvsd"))
        .arg("--socket")
        .arg(&sock)
        .arg("--state-dir")
        .arg(tmp.join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("rvsd");
    let rvsd = Guard(rvsd);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "rvsd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rules = String::new();
    for s in 0..10_000u32 {
        let vip = format!("10.{}.{}.{}:80", 100 + s / 65536, (s / 256) % 256, s % 256);
        let _ = writeln!(rules, "-A -t {vip} -s wlc");
        for d in 0..10 {
            let _ = writeln!(
                rules,
                "-a -t {vip} -r 192.168.{d}.{}:80 -g -w {}",
                1 + s % 250,
                1 + d
            );
        }
    }
    let timed = |args: &[&str], input: Option<&str>| {
        let t0 = Instant::now();
        let mut c = Command::new(bins.join("rvsadm"))
            .args(args)
            .env("RVS_SOCKET", &sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("rvsadm");
        if let Some(i) = input {
            c.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
        }
        drop(c.stdin.take());
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "rvsadm {args:?}");
        (
            t0.elapsed().as_secs_f64(),
            out.stdout.iter().filter(|b| **b == b'\n').count(),
        )
    };
    let (r_time, _) = timed(&["-R"], Some(&rules));
    let (l_time, l_lines) = timed(&["-Ln"], None);
    drop(rvsd);
    let _ = std::fs::remove_dir_all(&tmp);
    // 3. The lab: a 10M-entry table with 1M live connections: -Lnc, rvsd's CPU (the sweep),
    //    and -e round trips while it sweeps.
    let mut lab = Lab::build(&bins, 1);
    lab.start_rvsd_sized(None, 10_000_000);
    lab.configure_seed();
    let pins = lab.tmp.join("bpffs/rvs/lab");
    let weight_latency = |lab: &Lab, span: Duration| {
        let dests = PinnedMaps::new(&pins).dests().expect("pinned dests");
        let mut v = Vec::new();
        let end = Instant::now() + span;
        let mut i = 0;
        while Instant::now() < end || v.len() < 10 {
            let w = 4 + (i % 2);
            i += 1;
            let t0 = Instant::now();
            lab.adm(&format!(
                "-e -t 10.0.0.240:8130 -r 10.0.0.241:8130 -g -w {w}"
            ));
            while dests.get(1).map_or(0, |d| d.weight) != w {
                std::thread::sleep(Duration::from_micros(100));
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "weight never arrived"
                );
            }
            v.push(t0.elapsed().as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(20));
        }
        v
    };
    let idle = weight_latency(&lab, Duration::from_secs(2));
    let (lnc_times, lnc_lines) = million_lnc(&lab, 3);
    let pid = lab.daemon.pid().expect("rvsd runs");
    let cpu = || {
        let stat = read(&format!("/proc/{pid}/stat"));
        let f: Vec<u64> = stat
            .rsplit_once(')')
            .map(|(_, r)| {
                r.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // utime and stime: fields 14 and 15, the 12th and 13th after the command.
        (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64
            // SAFETY: no preconditions.
            / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    };
    let (c0, t0) = (cpu(), Instant::now());
    let busy = weight_latency(&lab, Duration::from_secs(60));
    let share = (cpu() - c0) / t0.elapsed().as_secs_f64() * 100.0;
    drop(lab);
    let mut sorted = busy.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[(sorted.len() - 1) * 99 / 100];
    let _ = writeln!(
        o,
        "\n| operation | time |\n|---|---|\n\
         | `rvsadm -R` of 10,000 services × 10 dests (110,000 lines; rvsd without a packet path) | {r_time:.2} s |\n\
         | `rvsadm -Ln` of that configuration ({l_lines} lines) | {l_time:.2} s |\n\
         | `rvsadm -Lnc` with 1,000,000 live connections in a 10,000,000-entry table ({lnc_lines} lines) | {} s |\n\
         | `rvsadm -e` (weight) until the packet path's dest has it, empty table | {} ms |\n\
         | the same over 60 s with 1,000,000 live connections, the sweep running ({} changes) | {} ms, p99 {p99:.1} ms |\n\
         | rvsd's CPU over those 60 s (sweeping 1,000,000 live entries, and the changes) | {share:.1}% of one core |\n",
        mmm(&lnc_times, 2),
        mmm(&idle, 1),
        busy.len(),
        mmm(&busy, 1)
    );
    let _ = writeln!(
        o,
        "The packet path holds 4,096 services and 4,096 dests (the control plane takes any \
         number), so the 10,000 × 10 configuration is a control-plane figure. rvsd reads the \
         connection table in batches through a descriptor of its own, without its lock; the \
         sweep walks the whole table and, once a walk takes more than 40 ms, runs less often \
         (a walk that took t waits 25 t), which is what keeps its CPU share down at a million \
         entries; the price is that expired entries are given back some seconds late there.\n"
    );
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out: Option<PathBuf> = None;
    let mut parts: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "packet" | "pps" | "conns" | "scale" | "lnc" => parts.push(a.clone()),
            _ => {
                eprintln!(
                    "usage: rvs-benchmarks [--out FILE] [packet] [pps] [conns] [scale] [lnc]"
                );
                std::process::exit(2);
            }
        }
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("rvs-benchmarks: needs root (namespaces, XDP)");
        std::process::exit(2);
    }
    if parts.is_empty() {
        parts = ["packet", "pps", "conns", "scale"]
            .map(String::from)
            .to_vec();
    }
    let started = Instant::now();
    let mut report = header();
    for p in &parts {
        eprintln!("==> benchmark part {p}");
        let t0 = Instant::now();
        let section = match p.as_str() {
            "packet" => part_packet(),
            "pps" => part_pps(),
            "conns" => part_conns(),
            "lnc" => part_lnc(),
            _ => part_scale(),
        };
        eprintln!("    ({:.0} s)", t0.elapsed().as_secs_f64());
        print!("\n{section}");
        let _ = std::io::stdout().flush();
        report.push('\n');
        report.push_str(&section);
    }
    let _ = writeln!(
        report,
        "\nThe whole run took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = out {
        std::fs::write(&path, report).expect("write the report");
        eprintln!("wrote {}", path.display());
    }
}
