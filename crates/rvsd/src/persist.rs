// SPDX-License-Identifier: MIT OR Apache-2.0
//! The saved configuration.
//!
//! `config.json` in the state directory holds the whole table. Every change rewrites it
//! atomically: write a temporary file, fsync it, rename it over the old one, fsync the
//! directory. A crash at any moment leaves either the old or the new file, never a mix. A file
//! that cannot be read is never overwritten: the daemon refuses to start and says why.
//!
//! The directory is locked (`flock` on `lock`) so that two daemons never share one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rvs_model::Table;
use serde::{Deserialize, Serialize};

/// Version of the file layout.
const FORMAT: u32 = 1;
const FILE: &str = "config.json";

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    table: Table,
}

/// The state directory, locked for this process.
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    /// Creates (if needed) and locks the state directory.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            bail!(
                "state directory {} is in use by another rvsd",
                dir.display()
            );
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// Reads the saved table; an empty one if nothing was saved yet.
    pub fn load(&self) -> anyhow::Result<Table> {
        let path = self.dir.join(FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Table::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let saved: Saved = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a valid rvs configuration (left untouched)",
                path.display()
            )
        })?;
        if saved.format != FORMAT {
            bail!(
                "{} has format {}, this rvsd reads format {FORMAT}",
                path.display(),
                saved.format
            );
        }
        let mut table = saved.table;
        table.reindex();
        Ok(table)
    }

    /// Writes the table atomically.
    pub fn save(&self, table: &Table) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&SavedRef {
            format: FORMAT,
            table,
        })
        .map_err(std::io::Error::other)?;
        write_atomically(&self.dir.join(FILE), &bytes)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, never
/// a mix: a temporary file beside it, fsynced, renamed over it, and the directory fsynced.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(std::path::Path::new(".")))?.sync_all()
}

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    table: &'a Table,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), Table::new());
        let mut t = Table::new();
        t.set_timeouts(10, 20, 30).unwrap();
        store.save(&t).unwrap();
        assert_eq!(store.load().unwrap(), t);
        assert!(Store::open(dir.path()).is_err(), "second open must fail");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), t);
    }

    #[test]
    fn corrupt_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.load().is_err());
        assert_eq!(fs::read(dir.path().join(FILE)).unwrap(), b"{not json");
    }
}
