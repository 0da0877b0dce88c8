// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvsd`: see the library docs.

use clap::Parser;

fn main() {
    let opts = rvsd::Options::parse();
    rvsd::init_logging();
    if let Err(e) = rvsd::run(opts) {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}
