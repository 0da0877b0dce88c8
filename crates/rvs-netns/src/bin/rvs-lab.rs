// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvs-lab [--keep]`: the README's main job. Builds the lab (two clients, the director and
//! three real servers on one bridge, each in a namespace), starts rvsd with the XDP program on
//! the director, applies the seed configuration, drives real TCP connections and UDP flows
//! from the clients, and prints what an operator looks at. Everything is torn down at the end;
//! with `--keep` the lab stays up until Enter (or Ctrl-C) so that any namespace can be explored
//! with `ip netns exec NAME bash`.

use std::io::BufRead;
use std::path::PathBuf;

use rvs_netns::lab::Lab;

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM end the wait (the read returns EINTR) instead of the process, so the
/// lab is still torn down.
fn catch_signals() {
    // SAFETY: the handler only stores to an atomic; no SA_RESTART, so blocking reads return.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as *const () as usize;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

fn show(lab: &Lab, view: &str) {
    println!("\n$ rvsadm {view}");
    print!("{}", lab.adm(view));
}

fn main() {
    let keep = std::env::args().any(|a| a == "--keep");
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("rvs-lab: needs root (network namespaces, XDP)");
        std::process::exit(2);
    }
    catch_signals();
    let bins: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    eprintln!("rvs-lab: building the lab: 2 clients, a director, 3 real servers on one bridge");
    let mut lab = Lab::build(&bins, 2);
    lab.start_rvsd(None);
    eprintln!(
        "rvs-lab: seed configuration: VIP 10.0.0.240:8130 (and fd00::240), wlc, real servers 10.0.0.241-243 with -g -w 3"
    );
    lab.configure_seed();
    eprintln!(
        "rvs-lab: traffic per client: 30 TCP connections and 20 UDP flows over IPv4, 5 of each over IPv6"
    );
    let mut answered = 0;
    for c in 0..lab.clients.len() {
        for (kind, vip, n) in [
            ("tcp-clients", "10.0.0.240:8130", "30"),
            ("udp-clients", "10.0.0.240:8130", "20"),
            ("tcp-clients", "[fd00::240]:8130", "5"),
            ("udp-clients", "[fd00::240]:8130", "5"),
        ] {
            let out = lab.probe(c, &[kind, vip, n]);
            answered += out.iter().filter(|l| l.starts_with("rs")).count();
            if let Some(f) = out.iter().find(|l| l.starts_with("FAIL")) {
                eprintln!("rvs-lab: a client request failed: {f}");
            }
        }
    }
    eprintln!("rvs-lab: {answered} requests answered by the real servers");
    show(&lab, "-Ln");
    show(&lab, "-L -n --stats -t 10.0.0.240:8130");
    show(&lab, "-L -n --connection");
    if keep && !INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        println!("\nThe lab is up. Explore it from another terminal:");
        for (role, ns) in [("director", &lab.dir)]
            .into_iter()
            .chain(lab.clients.iter().map(|c| ("client", c)))
            .chain(lab.rs.iter().map(|r| ("real server", r)))
        {
            println!("  {role:<12} ip netns exec {} bash", ns.name());
        }
        println!(
            "  rvsadm       RVS_SOCKET={} rvsadm -Ln",
            lab.socket().display()
        );
        println!("Press Enter (or Ctrl-C) to tear it down.");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    eprintln!("rvs-lab: tearing down");
    drop(lab);
}
