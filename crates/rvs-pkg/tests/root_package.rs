// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Debian package, inspected as dpkg sees it: fields, every installed path, conffiles,
//! maintainer scripts that are executable and parse, a unit that `systemd-analyze verify`
//! accepts, man pages that `man` renders, completions; then, as root, rvsd run from the
//! unpacked tree in a network namespace, loading the XDP object from the package's
//! `/usr/lib/rvs`, and serving the unpacked rvsadm.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bins() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvs-pkg"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package into `dir` and unpacks it into `dir/root`.
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let deb = dir.join("rvs.deb");
    run(Command::new(env!("CARGO_BIN_EXE_rvs-pkg"))
        .args(["deb", "--bins"])
        .arg(bins())
        .arg("--out")
        .arg(&deb));
    let root = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    (deb, root)
}

#[test]
fn package_contents_scripts_unit_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (deb, root) = build(dir.path());
    let field = |f: &str| run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    assert_eq!(field("Package").trim(), "rvs");
    assert_eq!(field("Architecture").trim(), "amd64");
    assert!(field("Depends").contains("iproute2"));

    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let paths: Vec<(&str, &str)> = listing
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0], *w.last().unwrap())
        })
        .collect();
    for (mode, path) in [
        ("-rwxr-xr-x", "./usr/sbin/rvsd"),
        ("-rwxr-xr-x", "./usr/sbin/rvsadm"),
        ("-rwxr-xr-x", "./usr/bin/rvs"),
        ("-rw-r--r--", "./usr/lib/rvs/rvs-xdp.o"),
        ("-rw-r--r--", "./usr/lib/rvs/rvs-decap.o"),
        ("-rw-r--r--", "./lib/systemd/system/rvsd.service"),
        ("-rw-r--r--", "./etc/default/rvsd"),
        ("-rw-r--r--", "./usr/share/man/man8/rvsd.8.gz"),
        ("-rw-r--r--", "./usr/share/man/man8/rvsadm.8.gz"),
        ("-rw-r--r--", "./usr/share/man/man8/rvs.8.gz"),
        (
            "-rw-r--r--",
            "./usr/share/bash-completion/completions/rvsadm",
        ),
        ("-rw-r--r--", "./usr/share/bash-completion/completions/rvs"),
        ("-rw-r--r--", "./usr/share/zsh/vendor-completions/_rvsd"),
        (
            "-rw-r--r--",
            "./usr/share/fish/vendor_completions.d/rvs.fish",
        ),
        ("-rw-r--r--", "./usr/share/doc/rvs/copyright"),
    ] {
        assert!(
            paths.contains(&(mode, path)),
            "{mode} {path} not in the package:\n{listing}"
        );
    }
    assert!(
        listing.lines().all(|l| l.contains("root/root")),
        "{listing}"
    );

    // Maintainer scripts: executable, valid sh, and none starts rvsd.
    let ctl = dir.path().join("ctl");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctl));
    assert_eq!(
        std::fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/default/rvsd\n"
    );
    for s in ["postinst", "prerm", "postrm"] {
        let p = ctl.join(s);
        let mode = std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{s}");
        run(Command::new("sh").arg("-n").arg(&p));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("systemctl start"), "{s} starts rvsd");
    }

    // The unit, checked against the unpacked tree (with the host's targets and kill).
    let sys = root.join("lib/systemd/system");
    for t in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        if t.file_name().to_string_lossy().ends_with(".target") {
            let _ = std::fs::copy(t.path(), sys.join(t.file_name()));
        }
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/kill", root.join("bin/kill")).unwrap();
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let out = Command::new("systemd-analyze")
            .arg(format!("--root={}", root.display()))
            .args(["--man=no", "verify", "/lib/systemd/system/rvsd.service"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "{err}");
    } else {
        eprintln!("systemd-analyze not here: the unit was not verified");
    }
    let unit = std::fs::read_to_string(sys.join("rvsd.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("Restart=on-failure"));

    // Man pages render, and name every option of their command.
    for (page, words) in [
        ("rvsd.8.gz", &["--interface", "--config", "--metrics"][..]),
        ("rvs.8.gz", &["status", "reload", "realserver"][..]),
        (
            "rvsadm.8.gz",
            &["--add-service", "--tun-info", "--sched-flags"][..],
        ),
    ] {
        let out = Command::new("man")
            .env("MANWIDTH", "100")
            .args(["-P", "cat", "-l"])
            .arg(root.join("usr/share/man/man8").join(page))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("NAME"), "{page}: {text}");
        for w in words {
            // man renders the hyphens of options as plain ones (or Unicode minus signs).
            let plain = text.replace(['\u{2010}', '\u{2212}'], "-");
            assert!(plain.contains(w), "{page} lacks {w}:\n{text}");
        }
    }
    // Completions are shell scripts that the shell reads.
    let bash = root.join("usr/share/bash-completion/completions");
    for f in ["rvsd", "rvs", "rvsadm"] {
        run(Command::new("bash").arg("-n").arg(bash.join(f)));
    }
    let rvsadm = std::fs::read_to_string(bash.join("rvsadm")).unwrap();
    assert!(rvsadm.contains("--add-service") && rvsadm.contains("wlc"));
}

#[test]
fn root_rvsd_runs_from_the_unpacked_tree() {
    if !rvs_netns::is_root() {
        eprintln!("skipped: needs root (namespaces, XDP)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_deb, root) = build(dir.path());
    let sbin = root.join("usr/sbin");
    let ns = rvs_netns::Netns::new("pkg");
    let peer = rvs_netns::Netns::new("pkgpeer");
    ns.veth("p0", &peer, "p1");
    let mut daemon = rvs_netns::rvsd::Rvsd::prepare(&sbin, "pkg");
    daemon.start(&ns, None, "pkg", &["p0"], 4096);
    let log = daemon.log();
    let object = sbin.join("../lib/rvs/rvs-xdp.o");
    assert!(
        log.contains(&format!("loaded the XDP program from {}", object.display())),
        "{log}"
    );
    assert!(log.contains("XDP attached to p0"), "{log}");
    daemon.adm("-A -t 10.0.0.1:80 -s rr");
    daemon.adm("-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g");
    let listing = daemon.adm("-Ln");
    assert!(listing.contains("TCP  10.0.0.1:80 rr"), "{listing}");
    assert!(listing.contains("-> 10.0.0.2:80"), "{listing}");
    let out = Command::new(root.join("usr/bin/rvs"))
        .env("RVS_SOCKET", daemon.socket())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["packet_path"].as_str().unwrap().contains("p0"),
        "{status}"
    );
}
