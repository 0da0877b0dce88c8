// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reading a whole hash map many entries per `bpf()` call (`BPF_MAP_LOOKUP_BATCH`, about ten
//! times cheaper per entry than one `BPF_MAP_GET_NEXT_KEY` and one lookup each), from a
//! descriptor of its own: a [`TableReader`] needs nothing else of the loaded program, so
//! rvsd walks the connection table without holding its lock.

use std::os::fd::{AsRawFd, OwnedFd};

/// Entries per call.
const CHUNK: usize = 8192;

/// `BPF_MAP_LOOKUP_BATCH`.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// A hash map's entries, read through its own descriptor.
pub struct TableReader<K, V> {
    fd: OwnedFd,
    _types: std::marker::PhantomData<(K, V)>,
}

impl<K: aya::Pod, V: aya::Pod> TableReader<K, V> {
    /// Wraps a descriptor of a hash map whose keys are `K` and values `V`.
    pub fn new(fd: OwnedFd) -> Self {
        TableReader {
            fd,
            _types: std::marker::PhantomData,
        }
    }

    /// Calls `f` with every entry, a chunk at a time, until it says to stop. Entries changed
    /// while it reads may be seen before or after the change (or, if moved between buckets,
    /// not at all), as with any walk of a live table.
    pub fn for_each(
        &self,
        mut f: impl FnMut(&[K], &[V]) -> std::ops::ControlFlow<()>,
    ) -> std::io::Result<()> {
        // SAFETY: `Pod` types are valid for any bit pattern, zeroes included.
        let mut keys: Vec<K> = vec![unsafe { std::mem::zeroed() }; CHUNK];
        // SAFETY: as above.
        let mut values: Vec<V> = vec![unsafe { std::mem::zeroed() }; CHUNK];
        // The hash table's batch token is a bucket index (u32); it goes in and out.
        let mut token: u64 = 0;
        let mut first = true;
        loop {
            let mut attr = BatchAttr {
                in_batch: if first { 0 } else { (&raw const token) as u64 },
                out_batch: (&raw mut token) as u64,
                map_fd: self.fd.as_raw_fd() as u32,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: CHUNK as u32,
                ..BatchAttr::default()
            };
            // SAFETY: the attribute points at buffers of `count` keys and values and at a
            // token of at least the table's batch size, all alive for the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    BPF_MAP_LOOKUP_BATCH,
                    &mut attr as *mut BatchAttr,
                    std::mem::size_of::<BatchAttr>() as u32,
                )
            };
            let err = (rc < 0).then(std::io::Error::last_os_error);
            let n = (attr.count as usize).min(CHUNK);
            let got = rc == 0
                || err.as_ref().and_then(std::io::Error::raw_os_error) == Some(libc::ENOENT);
            if got && f(&keys[..n], &values[..n]).is_break() {
                return Ok(());
            }
            match err {
                None => first = false,
                Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Some(e) => return Err(e),
            }
        }
    }

    /// Every entry.
    pub fn entries(&self) -> std::io::Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        self.for_each(|k, v| {
            out.extend(k.iter().copied().zip(v.iter().copied()));
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(out)
    }
}
