// SPDX-License-Identifier: MIT OR Apache-2.0
//! A running rvsd's maps, opened through their pins from another process: for benchmarks and
//! tools that fill or watch its tables from outside.

use std::path::{Path, PathBuf};

use aya::maps::{Array, HashMap, Map, MapData};
use rvs_common::maps::{ConnKey, ConnVal, DestVal, name};

use crate::Error;

/// Map name to its (key, value) entries, sorted by key.
pub type RawDump = std::collections::BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

/// The maps pinned in one directory (rvsd's `--bpffs` and instance name).
pub struct PinnedMaps {
    dir: PathBuf,
}

impl PinnedMaps {
    /// The maps pinned in `dir`.
    pub fn new(dir: &Path) -> Self {
        PinnedMaps {
            dir: dir.to_path_buf(),
        }
    }

    fn open(&self, map: &'static str) -> Result<MapData, Error> {
        MapData::from_pin(self.dir.join(map)).map_err(|source| Error::Map { name: map, source })
    }

    /// Every entry of every map an instance pins (but the program array), as raw bytes:
    /// for tests that show something changed nothing. Per-CPU values hold every CPU's.
    pub fn raw_dump(&self) -> Result<RawDump, Error> {
        use std::os::fd::AsFd as _;
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| Error::Read(name::SCRATCH, e))?;
        let mut out = RawDump::new();
        for map in crate::MAPS.iter().filter(|m| **m != name::JUMP) {
            let data = self.open(map)?;
            let info = data
                .info()
                .map_err(|source| Error::Map { name: map, source })?;
            let per_cpu = matches!(
                info.map_type(),
                Ok(aya::maps::MapType::PerCpuArray
                    | aya::maps::MapType::PerCpuHash
                    | aya::maps::MapType::LruPerCpuHash)
            );
            let vs = info.value_size() as usize;
            let value_len = if per_cpu {
                vs.div_ceil(8) * 8 * cpus
            } else {
                vs
            };
            let mut entries = Vec::new();
            crate::trace::for_each_entry(
                data.fd().as_fd(),
                info.key_size() as usize,
                value_len,
                info.max_entries() as usize,
                |k, v| {
                    entries.push((k.to_vec(), v.to_vec()));
                    Ok(())
                },
            )
            .map_err(|e| Error::Read(map, e))?;
            entries.sort();
            out.insert(map, entries);
        }
        Ok(out)
    }

    /// Puts `entries` into the connection table as they are (no dest counts change: that is
    /// for tables made up for measuring).
    pub fn insert_conns(
        &self,
        entries: impl IntoIterator<Item = (ConnKey, ConnVal)>,
    ) -> Result<(), Error> {
        let map = name::CONNS;
        let mut conns: HashMap<_, ConnKey, ConnVal> =
            HashMap::try_from(Map::HashMap(self.open(map)?))
                .map_err(|source| Error::Map { name: map, source })?;
        for (k, v) in entries {
            conns
                .insert(k, v, 0)
                .map_err(|source| Error::Map { name: map, source })?;
        }
        Ok(())
    }

    /// A reader of the dests as the packet path has them.
    pub fn dests(&self) -> Result<PinnedDests, Error> {
        let map = name::DESTS;
        let dests = Array::try_from(Map::Array(self.open(map)?))
            .map_err(|source| Error::Map { name: map, source })?;
        Ok(PinnedDests(dests))
    }
}

/// The dests of [`PinnedMaps::dests`].
pub struct PinnedDests(Array<MapData, DestVal>);

impl PinnedDests {
    /// The dest with id `id`, if the map could be read.
    pub fn get(&self, id: u32) -> Option<DestVal> {
        self.0.get(&id, 0).ok()
    }
}
