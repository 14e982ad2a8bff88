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
    /// When the batch's keys were counted beforehand ([`KeySet::presorted`]):
    /// the only keys that occur more than once in the batch, in order. A key
    /// outside them and outside `stored` cannot be a duplicate and is not
    /// recorded.
    tracked: Option<Vec<u64>>,
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
        Self::load_files(&Self::committed_files(store, table))
    }

    /// The committed key index files of `table`.
    pub fn committed_files(store: &Store, table: &str) -> Vec<std::path::PathBuf> {
        store
            .manifest()
            .key_indexes(table)
            .iter()
            .map(|rel| store.path(rel))
            .collect()
    }

    /// Loads the committed keys held in these index files.
    pub fn load_files(files: &[std::path::PathBuf]) -> Result<KeySet> {
        let mut stored = Vec::new();
        for path in files {
            read_index(path, &mut stored)?;
        }
        // Each file is sorted: one needs nothing more.
        if files.len() > 1 {
            stored.sort_unstable();
        }
        Ok(KeySet {
            stored,
            batch: BatchKeys::default(),
            tracked: None,
        })
    }

    /// A set with the same committed keys and none of this batch's.
    pub fn clone_stored(&self) -> KeySet {
        KeySet {
            stored: self.stored.clone(),
            batch: BatchKeys::default(),
            tracked: None,
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

    /// Whether the key is known (committed or in this batch). Not for a
    /// [presorted](KeySet::presorted) set, which records only the keys that
    /// can be duplicates.
    pub fn contains(&self, hash: u64) -> bool {
        debug_assert!(
            self.tracked.is_none(),
            "a presorted key set cannot answer for every key (a bug)"
        );
        self.batch.get(hash).is_some() || self.stored.binary_search(&hash).is_ok()
    }

    /// Records a key of this batch first seen at `line`; if it was seen
    /// before, says where and records nothing.
    pub fn insert(&mut self, hash: u64, line: u64) -> Result<(), Seen> {
        if self.stored.binary_search(&hash).is_ok() {
            return Err(Seen::InStore);
        }
        if let Some(t) = &self.tracked
            && t.binary_search(&hash).is_err()
        {
            // Met once in the whole batch and never committed.
            return Ok(());
        }
        self.batch.insert(hash, line).map_err(Seen::InBatch)
    }

    /// The key set of a batch whose keys were all counted before any row is
    /// judged (`counted`: the stored key of every row that could be stored,
    /// in file order or any other), against the committed index files
    /// `committed`. Holds only the keys that can make a row a duplicate —
    /// those met more than once in the batch, and those of the batch
    /// already committed — so its memory follows the duplicates, not the
    /// table: at a Met-sized year the look-ups' 32 million keys took 0.5 GB
    /// in a [`KeySet`] that holds them all. [`KeySet::insert`] answers as it
    /// would with every key recorded, provided `counted` held every key
    /// later inserted.
    pub fn presorted(counted: SortedRuns, committed: &[std::path::PathBuf]) -> Result<KeySet> {
        let mut repeated = Vec::new();
        let mut stored = Vec::new();
        let mut old = Merge::new(
            committed
                .iter()
                .map(|p| IndexReader::open(p).map(Source::File))
                .collect::<Result<Vec<_>>>()?,
        )?;
        let mut last: Option<u64> = None;
        let mut old_head = old.next()?;
        counted.merged(|k| {
            if last == Some(k) {
                if repeated.last() != Some(&k) {
                    repeated.push(k);
                }
                return Ok(());
            }
            last = Some(k);
            while let Some(o) = old_head
                && o < k
            {
                old_head = old.next()?;
            }
            if old_head == Some(k) {
                stored.push(k);
            }
            Ok(())
        })?;
        Ok(KeySet {
            stored,
            batch: BatchKeys::with_capacity(repeated.len()),
            tracked: Some(repeated),
        })
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

/// Keys too many to hold in memory at once, kept as sorted runs on disk: a
/// run of up to [`SortedRuns::RUN`] keys is sorted in memory and written
/// out when full, and [`SortedRuns::merged`] reads them back in one
/// ascending stream. Memory is one run (32 MB) whatever the count; the run
/// files are removed when the runs are merged or dropped.
#[derive(Debug)]
pub struct SortedRuns {
    dir: std::path::PathBuf,
    name: String,
    run: usize,
    buf: Vec<u64>,
    files: Vec<std::path::PathBuf>,
    len: u64,
}

impl SortedRuns {
    /// Keys a run holds in memory before it is written out.
    pub const RUN: usize = 4 << 20;

    /// Runs written to `dir` (which must exist) as `NAME.N.run`.
    pub fn new(dir: &Path, name: &str) -> SortedRuns {
        Self::with_run(dir, name, Self::RUN)
    }

    /// With runs of `run` keys (tests use small runs to exercise the merge).
    pub fn with_run(dir: &Path, name: &str, run: usize) -> SortedRuns {
        SortedRuns {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            run: run.max(1),
            buf: Vec::new(),
            files: vec![],
            len: 0,
        }
    }

    /// Adds a key.
    pub fn push(&mut self, key: u64) -> Result<()> {
        if self.buf.len() == self.run {
            self.spill()?;
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.run.min(1 << 16));
        }
        self.buf.push(key);
        self.len += 1;
        Ok(())
    }

    /// Keys added.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable();
        let path = self
            .dir
            .join(format!("{}.{}.run", self.name, self.files.len()));
        let f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        self.files.push(path.clone());
        let mut w = BufWriter::with_capacity(1 << 16, f);
        for k in &self.buf {
            w.write_all(&k.to_le_bytes())
                .map_err(|e| Error::io(&path, e))?;
        }
        w.flush().map_err(|e| Error::io(&path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// Calls `emit` with every key added, in ascending order (a key added
    /// twice comes twice); stops at the first error.
    pub fn merged(mut self, emit: impl FnMut(u64) -> Result<()>) -> Result<()> {
        self.buf.sort_unstable();
        let mut sources = Vec::with_capacity(self.files.len() + 1);
        for p in &self.files {
            sources.push(Source::File(IndexReader::open(p)?));
        }
        sources.push(Source::Memory(std::mem::take(&mut self.buf).into_iter()));
        Merge::new(sources)?.each(emit)
    }

    /// Writes the keys, each once, as a sorted key index file.
    pub fn write_index(self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = BufWriter::new(f);
        let mut last = None;
        self.merged(|k| {
            if last != Some(k) {
                last = Some(k);
                w.write_all(&k.to_le_bytes())
                    .map_err(|e| Error::io(path, e))?;
            }
            Ok(())
        })?;
        w.flush().map_err(|e| Error::io(path, e))
    }
}

impl Drop for SortedRuns {
    fn drop(&mut self) {
        for p in &self.files {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A sorted key index file read a block at a time, its order checked as it
/// is read.
struct IndexReader {
    path: std::path::PathBuf,
    file: std::io::BufReader<std::fs::File>,
    last: Option<u64>,
}

impl IndexReader {
    fn open(path: &Path) -> Result<IndexReader> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        if len % 8 != 0 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "key index length is not a multiple of 8".into(),
            });
        }
        Ok(IndexReader {
            path: path.to_path_buf(),
            file: std::io::BufReader::with_capacity(1 << 16, f),
            last: None,
        })
    }

    fn next(&mut self) -> Result<Option<u64>> {
        let mut b = [0u8; 8];
        match self.file.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io(&self.path, e)),
        }
        let k = u64::from_le_bytes(b);
        if self.last.is_some_and(|l| l > k) {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                reason: "key index is not sorted".into(),
            });
        }
        self.last = Some(k);
        Ok(Some(k))
    }
}

enum Source {
    File(IndexReader),
    Memory(std::vec::IntoIter<u64>),
}

impl Source {
    fn next(&mut self) -> Result<Option<u64>> {
        match self {
            Source::File(r) => r.next(),
            Source::Memory(i) => Ok(i.next()),
        }
    }
}

/// Sorted sources merged into one ascending stream.
struct Merge {
    sources: Vec<Source>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
}

impl Merge {
    fn new(mut sources: Vec<Source>) -> Result<Merge> {
        let mut heap = std::collections::BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(k) = s.next()? {
                heap.push(std::cmp::Reverse((k, i)));
            }
        }
        Ok(Merge { sources, heap })
    }

    fn next(&mut self) -> Result<Option<u64>> {
        let Some(std::cmp::Reverse((k, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(n) = self.sources[i].next()? {
            self.heap.push(std::cmp::Reverse((n, i)));
        }
        Ok(Some(k))
    }

    fn each(mut self, mut emit: impl FnMut(u64) -> Result<()>) -> Result<()> {
        while let Some(k) = self.next()? {
            emit(k)?;
        }
        Ok(())
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
            tracked: None,
        };
        assert!(later.contains(key_hash("y")));
        let mut later = later;
        assert_eq!(later.insert(key_hash("z"), 1), Err(Seen::InStore));
    }

    #[test]
    fn a_presorted_set_answers_every_insert_as_a_full_set_does() {
        let dir = tempfile::tempdir().unwrap();
        // Committed before: every third of 0..300.
        let mut before = KeySet::default();
        for k in (0..300u64).step_by(3) {
            before
                .insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1)
                .unwrap();
        }
        let committed = dir.path().join("old.keys");
        before.write_batch_index(&committed).unwrap();
        // This batch: 0..200 with some keys again, in an order that is not
        // sorted; runs of 7 keys so the merge reads many files.
        let batch: Vec<u64> = (0..200u64)
            .chain([5, 17, 17, 150, 199])
            .chain((0..40).rev())
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let mut runs = SortedRuns::with_run(dir.path(), "t", 7);
        for &k in &batch {
            runs.push(k).unwrap();
        }
        assert_eq!(runs.len(), batch.len() as u64);
        let mut sorted = KeySet::presorted(runs, std::slice::from_ref(&committed)).unwrap();
        let mut full = KeySet::load_files(&[committed]).unwrap();
        let mut stored = SortedRuns::with_run(dir.path(), "s", 5);
        for (line, &k) in batch.iter().enumerate() {
            let (a, b) = (full.insert(k, line as u64), sorted.insert(k, line as u64));
            assert_eq!(a, b, "key {k} at {line}");
            if b.is_ok() {
                stored.push(k).unwrap();
            }
        }
        assert!(
            sorted.batch_len() < 50,
            "only keys that can be duplicates are held: {}",
            sorted.batch_len()
        );
        let (p, q) = (dir.path().join("a.keys"), dir.path().join("b.keys"));
        full.write_batch_index(&p).unwrap();
        stored.write_index(&q).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&q).unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".run"))
            .collect();
        assert!(left.is_empty(), "run files are removed: {left:?}");
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
