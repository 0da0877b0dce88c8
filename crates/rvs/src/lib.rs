// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `rvs` command's definition (its command line), shared with the packaging tool that
//! writes its man page and completions.

pub mod cli;
