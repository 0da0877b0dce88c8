// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf's reader: any text (the input, lossily UTF-8) either reads into a
//! configuration or is refused with a message at a file and line; it never panics. Includes
//! are served from memory, so that `include` (plain names, globs, nesting, a file that includes
//! itself, a missing file) is fuzzed without touching the disk.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use rvs_keepalived::syntax::Source;

/// A fragment meant to be included inside a `real_server` block.
const CHECK_INC: &str = "weight 2\nHTTP_GET {\n    url {\n        path /health\n        status_code 200-299\n    }\n    connect_timeout 2\n}\n";
/// Whole virtual servers, as a `conf.d/*.conf` glob would find them.
const WEB_CONF: &str = "virtual_server 192.168.1.10 80 {\n    lvs_sched rr\n    real_server 192.168.1.11 80 {\n        include ../check.inc\n    }\n}\n";
const API_CONF: &str = "virtual_server_group api {\n    192.168.1.20-22 443\n}\nvirtual_server group api {\n    lvs_method DR\n    real_server 192.168.1.21 443 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n}\n";
/// A file that includes itself, which must be refused by the nesting limit.
const LOOP_INC: &str = "! again\ninclude loop.inc\n";
/// A file that opens a block it does not close.
const OPEN_INC: &str = "real_server 192.168.1.12 80 {\n    weight 1\n";

/// Serves the files above whatever directory they are asked for from.
struct InMemory;

impl Source for InMemory {
    fn expand(&self, dir: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String> {
        let files: &[(&str, &str)] = match pattern {
            "check.inc" => &[("check.inc", CHECK_INC)],
            "../check.inc" => &[("../check.inc", CHECK_INC)],
            "conf.d/*.conf" | "conf.d/*" => &[
                ("conf.d/10-web.conf", WEB_CONF),
                ("conf.d/20-api.conf", API_CONF),
            ],
            "conf.d/10-web.conf" => &[("conf.d/10-web.conf", WEB_CONF)],
            "conf.d/20-api.conf" => &[("conf.d/20-api.conf", API_CONF)],
            "loop.inc" => &[("loop.inc", LOOP_INC)],
            "open.inc" => &[("open.inc", OPEN_INC)],
            // A glob that matches nothing is not an error.
            p if p.contains(['*', '?', '[']) => &[],
            p => {
                return Err(format!(
                    "cannot read {}: No such file or directory",
                    dir.join(p).display()
                ));
            }
        };
        Ok(files
            .iter()
            .map(|(name, text)| (dir.join(name), text.to_string()))
            .collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match rvs_keepalived::parse(
        &text,
        Path::new("/etc/keepalived/keepalived.conf"),
        &InMemory,
    ) {
        Ok(config) => {
            for vs in &config.virtual_servers {
                assert!(vs.pos.line >= 1);
                for rs in &vs.real_servers {
                    assert!(rs.pos.line >= 1);
                    for ch in &rs.checkers {
                        assert!(ch.timing.delay_loop_ms > 0 && ch.timing.connect_timeout_ms > 0);
                    }
                }
            }
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(e.pos.line >= 1, "{e}");
            assert!(e.pos.file.starts_with("/etc/keepalived/"), "{e}");
            assert_eq!(
                e.to_string(),
                format!("{}:{}: {}", e.pos.file, e.pos.line, e.message)
            );
        }
    }
});
