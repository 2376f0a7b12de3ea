//! Counter changes summed per cell before they are written.

use std::collections::HashMap;

use super::{Dimension, NO_DIMENSION, RunnerKeys};

/// One counter: the total (both dimensions ""), a single dimension (second ""), or a
/// pair in [`Dimension`] order. Ordered like the table's primary key, which is the order
/// rows are written in, so concurrent writers lock them in the same order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub dimension_a: &'static str,
    pub dimension_b: &'static str,
    pub key_a: String,
    pub key_b: String,
}

const NONE_INDEX: u64 = 15;

/// Counter changes summed per cell before they are written: one statement however many
/// registrations changed. Keys are interned per dimension so that tallying a million
/// runners costs integer hashing, not string building.
#[derive(Debug, Default)]
pub struct Tally {
    names: [Vec<String>; 8],
    ids: [HashMap<String, u32>; 8],
    counts: HashMap<u64, i64>,
}

impl Tally {
    fn intern(&mut self, dimension: usize, key: &str) -> u32 {
        if let Some(id) = self.ids[dimension].get(key) {
            return *id;
        }
        let id = self.names[dimension].len() as u32;
        self.names[dimension].push(key.to_owned());
        self.ids[dimension].insert(key.to_owned(), id);
        id
    }

    fn bump(&mut self, a: u64, key_a: u32, b: u64, key_b: u32, delta: i64) {
        let packed = (a << 60) | (u64::from(key_a) << 32) | (b << 28) | u64::from(key_b);
        *self.counts.entry(packed).or_default() += delta;
    }

    /// Adds `delta` (+1 to count a registration, -1 to take it back) to its 37 cells.
    pub fn add(&mut self, keys: &RunnerKeys, delta: i64) {
        let mut ids = [0_u32; 8];
        for (i, key) in keys.0.iter().enumerate() {
            ids[i] = self.intern(i, key);
        }
        self.bump(NONE_INDEX, 0, NONE_INDEX, 0, delta);
        for i in 0..8 {
            self.bump(i as u64, ids[i], NONE_INDEX, 0, delta);
            for j in i + 1..8 {
                self.bump(i as u64, ids[i], j as u64, ids[j], delta);
            }
        }
    }

    /// Moves one registration from `before` to `after`: cells both share cancel out.
    pub fn shift(&mut self, before: &RunnerKeys, after: &RunnerKeys) {
        self.add(before, -1);
        self.add(after, 1);
    }

    fn unpack(&self, packed: u64) -> Cell {
        let part = |dimension: u64, key: u64| -> (&'static str, String) {
            if dimension == NONE_INDEX {
                return (NO_DIMENSION, String::new());
            }
            let index = dimension as usize;
            (
                Dimension::ALL[index].code(),
                self.names[index]
                    .get(key as usize)
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        let (dimension_a, key_a) = part(packed >> 60, (packed >> 32) & 0x0FFF_FFFF);
        let (dimension_b, key_b) = part((packed >> 28) & 0xF, packed & 0x0FFF_FFFF);
        Cell {
            dimension_a,
            dimension_b,
            key_a,
            key_b,
        }
    }

    /// The changed cells, in primary-key order, without those that cancelled out.
    pub fn cells(&self) -> Vec<(Cell, i64)> {
        let mut cells: Vec<(Cell, i64)> = self
            .counts
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|(packed, delta)| (self.unpack(*packed), *delta))
            .collect();
        cells.sort_unstable();
        cells
    }

    pub fn is_empty(&self) -> bool {
        self.counts.values().all(|delta| *delta == 0)
    }
}
