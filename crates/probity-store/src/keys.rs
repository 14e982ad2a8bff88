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
    batch: BatchKeys,
}

/// This batch's keys with the line each was first seen at: an
/// open-addressing table of the 64-bit hashes (already uniform, so a hash is
/// its own bucket address) with the 32-bit line beside each — 12 bytes a
/// slot, at most 80% full, so about 15 bytes a key where a general hash map
/// of `(u64, u64)` takes 19 to 38 (16-byte entries, a control byte, and a
/// table between 44% and 88% full after doubling). At a Met-sized year
/// (32 million look-ups in one batch) that is 0.5 GB instead of 1.1 GB.
#[derive(Debug, Default)]
struct BatchKeys {
    /// Hash and first line side by side, so a probe touches one cache line.
    slots: Vec<Slot>,
    len: usize,
    zero: Option<u64>,
    /// Lines that do not fit in 32 bits (files of over four billion lines).
    far: HashMap<u64, u64, BuildHasherDefault<PassThrough>>,
}

/// A slot of [`BatchKeys`]: 12 bytes. `hash == 0` marks an empty slot (the
/// hash 0 itself is kept in `zero`); `line == u32::MAX` means "see `far`".
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed(4))]
struct Slot {
    hash: u64,
    line: u32,
}

impl BatchKeys {
    fn with_capacity(keys: usize) -> BatchKeys {
        let mut b = BatchKeys::default();
        b.resize(Self::slots_for(keys));
        b
    }

    fn slots_for(keys: usize) -> usize {
        (keys.saturating_mul(5) / 4).max(1024)
    }

    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot holding `hash`, or the empty slot where it would go.
    fn find(&self, hash: u64) -> (usize, bool) {
        let n = self.slots.len();
        let mut i = self.home(hash);
        loop {
            let h = self.slots[i].hash;
            match h {
                0 => return (i, false),
                h if h == hash => return (i, true),
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }

    fn line_at(&self, i: usize) -> u64 {
        let Slot { hash, line } = self.slots[i];
        match line {
            u32::MAX => self.far[&hash],
            l => u64::from(l),
        }
    }

    fn get(&self, hash: u64) -> Option<u64> {
        if hash == 0 {
            return self.zero;
        }
        if self.slots.is_empty() {
            return None;
        }
        let (i, found) = self.find(hash);
        found.then(|| self.line_at(i))
    }

    /// Inserts a new key; if it is present, returns its first line.
    fn insert(&mut self, hash: u64, line: u64) -> Result<(), u64> {
        if hash == 0 {
            return match self.zero {
                Some(first) => Err(first),
                None => {
                    self.zero = Some(line);
                    self.len += 1;
                    Ok(())
                }
            };
        }
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.resize(Self::slots_for(self.len + 1).max(self.slots.len() * 2));
        }
        let (i, found) = self.find(hash);
        if found {
            return Err(self.line_at(i));
        }
        let line = match u32::try_from(line) {
            Ok(l) if l != u32::MAX => l,
            _ => {
                self.far.insert(hash, line);
                u32::MAX
            }
        };
        self.slots[i] = Slot { hash, line };
        self.len += 1;
        Ok(())
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots]);
        for s in old {
            let h = s.hash;
            if h != 0 {
                let (i, _) = self.find(h);
                self.slots[i] = s;
            }
        }
    }
}

impl KeySet {
    /// Loads the committed keys of `table` from the store.
    pub fn load(store: &Store, table: &str) -> Result<KeySet> {
        let files = store.manifest().key_indexes(table);
        let mut stored = Vec::new();
        for rel in &files {
            read_index(&store.path(rel), &mut stored)?;
        }
        // Each file is sorted: one needs nothing more.
        if files.len() > 1 {
            stored.sort_unstable();
        }
        Ok(KeySet {
            stored,
            batch: BatchKeys::default(),
        })
    }

    /// A set with the same committed keys and none of this batch's.
    pub fn clone_stored(&self) -> KeySet {
        KeySet {
            stored: self.stored.clone(),
            batch: BatchKeys::default(),
        }
    }

    /// Makes room for about `keys` keys of this batch at once (an estimate
    /// from the file's size), so the table is not rebuilt as it grows.
    pub fn reserve(&mut self, keys: usize) {
        if BatchKeys::slots_for(keys) > self.batch.slots.len() && self.batch.len == 0 {
            self.batch = BatchKeys::with_capacity(keys);
        }
    }

    /// Forgets this batch's keys (after its index file is written, when no
    /// later table of the batch refers to them); the committed keys stay.
    pub fn drop_batch(&mut self) {
        self.batch = BatchKeys::default();
    }

    /// Whether the key is known (committed or in this batch).
    pub fn contains(&self, hash: u64) -> bool {
        self.batch.get(hash).is_some() || self.stored.binary_search(&hash).is_ok()
    }

    /// Records a key of this batch first seen at `line`; if it was seen
    /// before, says where and records nothing.
    pub fn insert(&mut self, hash: u64, line: u64) -> Result<(), Seen> {
        if self.stored.binary_search(&hash).is_ok() {
            return Err(Seen::InStore);
        }
        self.batch.insert(hash, line).map_err(Seen::InBatch)
    }

    /// Number of keys added by this batch.
    pub fn batch_len(&self) -> usize {
        self.batch.len
    }

    /// Writes this batch's keys as a sorted index file.
    pub fn write_batch_index(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = BufWriter::new(f);
        let mut io = Ok(());
        self.batch.sorted(|k| {
            if io.is_ok() {
                io = w.write_all(&k.to_le_bytes());
            }
        });
        io.and_then(|()| w.flush()).map_err(|e| Error::io(path, e))
    }
}

impl BatchKeys {
    /// Calls `emit` with every key in ascending order without copying the
    /// table (at 32 million keys a sorted copy was another 260 MB at the
    /// batch's peak). A key's home slot rises with its hash, so the table is
    /// already in order but for each cluster of occupied slots, where
    /// linear probing displaced keys: a cluster is sorted on its own. The
    /// cluster that runs off the end of the table continues at slot 0 (its
    /// keys there sit before their home); it is sorted with the keys of the
    /// last cluster and comes last.
    fn sorted(&self, mut emit: impl FnMut(u64)) {
        if self.zero.is_some() {
            emit(0);
        }
        let n = self.slots.len();
        let wraps = n > 0 && self.slots[n - 1].hash != 0;
        let mut tail = vec![];
        let mut cluster = vec![];
        for (i, s) in self.slots.iter().enumerate() {
            let h = s.hash;
            if h == 0 {
                cluster.sort_unstable();
                cluster.drain(..).for_each(&mut emit);
                continue;
            }
            if wraps && i < self.home(h) {
                tail.push(h);
            } else {
                cluster.push(h);
            }
        }
        // What is left is the last cluster (or, without a wrap, nothing).
        tail.append(&mut cluster);
        tail.sort_unstable();
        tail.into_iter().for_each(emit);
    }
}

fn read_index(path: &Path, out: &mut Vec<u64>) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len % 8 != 0 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "key index length is not a multiple of 8".into(),
        });
    }
    // Read in blocks straight into the keys: no copy of the whole file (at
    // a Met-sized year the look-ups' index alone is 260 MB).
    out.reserve((len / 8) as usize);
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(buf.len());
        f.read_exact(&mut buf[..n])
            .map_err(|e| Error::io(path, e))?;
        out.extend(
            buf[..n]
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
        );
        left -= n;
    }
    let first = out.len() - (len / 8) as usize;
    if !out[first..].is_sorted() {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: "key index is not sorted".into(),
        });
    }
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
            batch: BatchKeys::default(),
        };
        assert!(later.contains(key_hash("y")));
        let mut later = later;
        assert_eq!(later.insert(key_hash("z"), 1), Err(Seen::InStore));
    }

    #[test]
    fn a_damaged_index_file_is_refused_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.keys");
        let mut out = vec![];
        std::fs::write(&p, [9u64, 3].map(u64::to_le_bytes).concat()).unwrap();
        assert!(
            matches!(read_index(&p, &mut out), Err(Error::Corrupt { reason, .. }) if reason.contains("not sorted")),
            "an unsorted index would make look-ups miss committed keys"
        );
        std::fs::write(&p, [1u8; 12]).unwrap();
        assert!(matches!(
            read_index(&p, &mut out),
            Err(Error::Corrupt { .. })
        ));
        // Many blocks' worth, appended after keys already read.
        let keys: Vec<u64> = (0..20_000u64).map(|i| i * 3).collect();
        std::fs::write(
            &p,
            keys.iter()
                .flat_map(|k| k.to_le_bytes())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let mut out = vec![u64::MAX];
        read_index(&p, &mut out).unwrap();
        assert_eq!(out.len(), 20_001);
        assert_eq!(&out[1..], &keys[..]);
    }

    #[test]
    fn the_compact_table_keeps_every_key_and_first_line_through_growth() {
        // From an empty table (no reserve), through several doublings, with
        // the zero hash, colliding home slots and a line past 32 bits.
        let mut k = KeySet::default();
        let n = 50_000u64;
        for i in 0..n {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(k.insert(h, i + 2), Ok(()), "key {i}");
        }
        // Hashes that share the top bits land in the same home slot.
        for i in 0..100u64 {
            assert_eq!(k.insert(0xFFFF_0000_0000_0000 | i, 1), Ok(()));
        }
        assert_eq!(k.insert(7, u64::from(u32::MAX) + 5), Ok(()));
        assert_eq!(k.batch_len(), n as usize + 101);
        for i in 0..n {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert!(k.contains(h));
            assert_eq!(k.insert(h, 999_999), Err(Seen::InBatch(i + 2)));
        }
        assert_eq!(
            k.insert(0, 3),
            Err(Seen::InBatch(2)),
            "the zero hash is key 0"
        );
        assert_eq!(k.insert(0xFFFF_0000_0000_0063, 9), Err(Seen::InBatch(1)));
        assert_eq!(k.insert(7, 1), Err(Seen::InBatch(u64::from(u32::MAX) + 5)));
        assert!(!k.contains(0xFFFF_0000_0000_0064));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.keys");
        k.write_batch_index(&p).unwrap();
        let mut stored = vec![];
        read_index(&p, &mut stored).unwrap();
        assert_eq!(stored.len(), n as usize + 101);
        assert!(stored.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");

        k.drop_batch();
        assert_eq!(k.batch_len(), 0);
        assert!(!k.contains(7));
        let mut r = KeySet::default();
        r.reserve(1_000_000);
        assert!(r.batch.slots.len() >= 1_250_000);
        assert_eq!(r.insert(7, 2), Ok(()));
    }
}
