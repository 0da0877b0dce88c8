// SPDX-License-Identifier: MIT OR Apache-2.0
//! A running rvsd's maps, opened through their pins from another process: for benchmarks and
//! tools that fill or watch its tables from outside.

use std::path::{Path, PathBuf};

use aya::maps::{Array, HashMap, Map, MapData};
use rvs_common::maps::{ConnKey, ConnVal, DestVal, name};

use crate::Error;

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
