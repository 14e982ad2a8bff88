//! Primary-key sets: duplicate detection within and across batches, and
//! foreign-key checks.
//!
//! Keys are held as 64-bit XXH3 hashes of their stored form (8 bytes each,
//! whatever the id's length), so memory grows with the number of keys but not
//! with their text. Each batch persists its keys as a sorted array of
//! little-endian `u64`; a later batch loads and merges them. At 100 million
//! keys the chance that two distinct ids share a hash is about 3 in 10,000
//! (birthday bound); such a collision is reported as a duplicate and so
//! quarantines a row with a reason, never loses one silently.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::{Error, Result, Store};

/// The 64-bit hash of an id.
pub fn key_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// A hasher that passes an already-hashed `u64` through.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Where a key was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// In an earlier, committed batch.
    InStore,
    /// Earlier in this batch, at this line or row.
    InBatch(u64),
}

/// The keys of one table: those committed before, and this batch's.
#[derive(Debug, Default)]
pub struct KeySet {
    stored: Vec<u64>,
    batch: HashMap<u64, u64, BuildHasherDefault<PassThrough>>,
}

impl KeySet {
    /// Loads the committed keys of `table` from the store.
    pub fn load(store: &Store, table: &str) -> Result<KeySet> {
        let mut stored = Vec::new();
        for rel in store.manifest().key_indexes(table) {
            read_index(&store.path(rel), &mut stored)?;
        }
        stored.sort_unstable();
        Ok(KeySet {
            stored,
            batch: HashMap::default(),
        })
    }

    /// A set with the same committed keys and none of this batch's.
    pub fn clone_stored(&self) -> KeySet {
        KeySet {
            stored: self.stored.clone(),
            batch: HashMap::default(),
        }
    }

    /// Whether the key is known (committed or in this batch).
    pub fn contains(&self, hash: u64) -> bool {
        self.batch.contains_key(&hash) || self.stored.binary_search(&hash).is_ok()
    }

    /// Records a key of this batch first seen at `line`; if it was seen
    /// before, says where and records nothing.
    pub fn insert(&mut self, hash: u64, line: u64) -> Result<(), Seen> {
        if self.stored.binary_search(&hash).is_ok() {
            return Err(Seen::InStore);
        }
        match self.batch.entry(hash) {
            std::collections::hash_map::Entry::Occupied(e) => Err(Seen::InBatch(*e.get())),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(line);
                Ok(())
            }
        }
    }

    /// Number of keys added by this batch.
    pub fn batch_len(&self) -> usize {
        self.batch.len()
    }

    /// Writes this batch's keys as a sorted index file.
    pub fn write_batch_index(&self, path: &Path) -> Result<()> {
        let mut keys: Vec<u64> = self.batch.keys().copied().collect();
        keys.sort_unstable();
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = BufWriter::new(f);
        for k in keys {
            w.write_all(&k.to_le_bytes())
                .map_err(|e| Error::io(path, e))?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    }
}

fn read_index(path: &Path, out: &mut Vec<u64>) -> Result<()> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() % 8 != 0 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "key index length is not a multiple of 8".into(),
        });
    }
    out.extend(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_with_their_first_line() {
        let mut k = KeySet::default();
        assert_eq!(k.insert(key_hash("a"), 2), Ok(()));
        assert_eq!(k.insert(key_hash("b"), 3), Ok(()));
        assert_eq!(k.insert(key_hash("a"), 9), Err(Seen::InBatch(2)));
        assert!(k.contains(key_hash("b")));
        assert!(!k.contains(key_hash("c")));
    }

    #[test]
    fn index_files_round_trip_into_the_stored_set() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = KeySet::default();
        for (i, id) in ["x", "y", "z"].iter().enumerate() {
            k.insert(key_hash(id), i as u64).unwrap();
        }
        let p = dir.path().join("t.keys");
        k.write_batch_index(&p).unwrap();
        let mut stored = vec![];
        read_index(&p, &mut stored).unwrap();
        let later = KeySet {
            stored,
            batch: HashMap::default(),
        };
        assert!(later.contains(key_hash("y")));
        let mut later = later;
        assert_eq!(later.insert(key_hash("z"), 1), Err(Seen::InStore));
    }
}
