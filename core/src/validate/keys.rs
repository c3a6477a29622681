//! Key indices: a table's string keys → their row, built once per table while its
//! duplicates are reported, looked up for every reference to it (a visit's user and
//! service, a user's service, a service's département).

use super::problems::{Ctx, Problems, Rule};

/// Key → row index of a table. aHash: lookups of millions of short string keys are the
/// bulk of validating visits; the map is never iterated, so its order does not matter.
/// Keys of a table → their row, the keys' bytes copied once into one buffer (a national
/// users table is 800,000 keys: one allocation, not one per key, to build and to free).
#[derive(Debug)]
pub(super) struct KeyIndex {
    bytes: Vec<u8>,
    /// Where each key starts in `bytes`, and where the last one ends.
    offsets: Vec<usize>,
    /// Rows of the first occurrence of each key, found by the hash of the key.
    table: hashbrown::HashTable<u32>,
    hasher: ahash::RandomState,
}

impl KeyIndex {
    pub(super) fn key(&self, row: u32) -> &[u8] {
        let r = row as usize;
        &self.bytes[self.offsets[r]..self.offsets[r + 1]]
    }

    /// The row of `key`, if the table has it.
    pub(super) fn get(&self, key: &str) -> Option<&u32> {
        let hash = self.hasher.hash_one(key.as_bytes());
        self.table
            .find(hash, |&row| self.key(row) == key.as_bytes())
    }
}

/// Records duplicate keys (the first occurrence wins) and returns the key → index map.
pub(super) fn unique_index(
    ctx: &Ctx<'_>,
    column: &str,
    keys: &[String],
    p: &mut Problems,
) -> KeyIndex {
    let mut index = KeyIndex {
        bytes: Vec::with_capacity(keys.iter().map(String::len).sum()),
        offsets: Vec::with_capacity(keys.len() + 1),
        table: hashbrown::HashTable::with_capacity(keys.len()),
        // Fixed seeds: nothing depends on the table's order, but runs stay alike.
        hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
    };
    index.offsets.push(0);
    for k in keys {
        index.bytes.extend_from_slice(k.as_bytes());
        index.offsets.push(index.bytes.len());
    }
    for (i, k) in keys.iter().enumerate() {
        let hash = index.hasher.hash_one(k.as_bytes());
        let (bytes, offsets) = (&index.bytes, &index.offsets);
        let key_of = |row: u32| &bytes[offsets[row as usize]..offsets[row as usize + 1]];
        match index.table.entry(
            hash,
            |&row| key_of(row) == k.as_bytes(),
            |&row| index.hasher.hash_one(key_of(row)),
        ) {
            hashbrown::hash_table::Entry::Occupied(first) => p.push(ctx.problem(
                Some(i as u64 + 1),
                Some(column),
                Some(k.clone()),
                Rule::Duplicate {
                    first_row: u64::from(*first.get()) + 1,
                },
            )),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(i as u32);
            }
        }
    }
    index
}
