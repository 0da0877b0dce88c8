// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf's LVS part for rvs: `virtual_server`, `virtual_server_group`,
//! `real_server`, `sorry_server` and the checkers, read with every error placed at its
//! file and line.
//!
//! [`syntax`] reads words, blocks, comments and includes; [`config`] gives them meaning. The
//! result says what rvsd should configure and check; it does no I/O beyond reading the files.
#![deny(unsafe_code)]

use std::path::Path;

pub mod config;
pub mod syntax;

pub use config::{Check, Checker, Config, RealServer, Target, Timing, Url, VirtualServer};
pub use syntax::{Error, Pos};

/// Reads a configuration file and the files it includes.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error {
        pos: Pos {
            file: path.display().to_string(),
            line: 0,
        },
        message: format!("cannot read it: {e}"),
    })?;
    parse(&text, path, &syntax::Files)
}

/// Reads `text` as the contents of `file`, reading includes through `source`.
pub fn parse(text: &str, file: &Path, source: &dyn syntax::Source) -> Result<Config, Error> {
    config::read(&syntax::parse(text, file, source)?)
}
