// SPDX-License-Identifier: MIT OR Apache-2.0
//! The ipvsadm argv parser: any argument list either parses or fails with a message and an
//! ipvsadm exit status; it never panics. Arguments are the input split at NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    if let Err(e) = rvsadm::opts::parse("ipvsadm", &args, &rvsadm::names::Offline) {
        assert!([2, 255].contains(&e.code), "exit {}", e.code);
        assert!(!e.message.is_empty());
    }
});
