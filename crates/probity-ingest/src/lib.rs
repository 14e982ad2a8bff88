//! Ingest of contract data into a Probity store.
//!
//! [`ingest`] reads a directory of contract tables (CSV or Parquet), validates
//! every row, quarantines bad rows with file, line, field and reason, drops
//! off-duty device locations (counting them), pseudonymises identifiers with
//! the store's key, sends identifying columns to the identity vault, and
//! writes Parquet. The whole directory is one batch, committed atomically by
//! the store's manifest; files already ingested (same content hash) are
//! skipped, so re-ingesting is a no-op.
//!
//! A table is processed once every table it references is done, several at
//! once on the machine's cores (and a large table without keys split across
//! them).
#![deny(missing_docs)]

mod duty;
mod job;
pub mod source;
mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use probity_core::Table;
use probity_store::keys::KeySet;
use probity_store::{BatchEntry, SourceFile, Store};

pub use duty::DutyIndex;

/// Table files whose keys were counted in sorted runs before their rows
/// were judged (`ingest.sort_keys_rows`), in this process; lets a test see
/// which way a table went.
#[doc(hidden)]
pub static KEYS_COUNTED_IN_RUNS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Errors that stop a batch. Row-level problems are not errors: they
/// quarantine the row and the batch goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with an input file as a whole (header, format, type).
    #[error("{file}: {message}")]
    Input {
        /// The file.
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing or reading Parquet failed.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The store refused.
    #[error(transparent)]
    Store(#[from] probity_store::Error),
    /// An invariant broke: this is a bug.
    #[error("internal error (this is a bug): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn parquet(path: &Path, e: impl std::fmt::Display) -> Self {
        Error::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// The ingest crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Receives progress while a batch is ingested. Called from worker threads.
pub trait Progress: Sync {
    /// A table file is being read; `bytes` is its size.
    fn table_started(&self, _table: Table, _file: &str, _bytes: u64) {}
    /// `done` bytes of the table's file are read.
    fn table_progress(&self, _table: Table, _done: u64) {}
    /// The table is finished.
    fn table_finished(&self, _report: &TableReport) {}
}

/// A [`Progress`] that reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// What happened to one table of a batch.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// The table.
    pub table: Table,
    /// The file it was read from.
    pub file: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Rows dropped by minimisation (off-duty locations).
    pub rows_minimised: u64,
    /// Quarantine counts by `field: kind of problem`.
    pub reasons: BTreeMap<String, u64>,
    /// Up to five quarantined rows as `file line N: reason`.
    pub examples: Vec<String>,
    /// Warnings about the file (unknown columns, empty file).
    pub notes: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl TableReport {
    fn new(table: Table, file: &str) -> Self {
        TableReport {
            table,
            file: file.to_string(),
            rows_read: 0,
            rows_stored: 0,
            rows_quarantined: 0,
            rows_minimised: 0,
            reasons: BTreeMap::new(),
            examples: vec![],
            notes: vec![],
            elapsed: Duration::ZERO,
        }
    }
}

/// What a call to [`ingest`] did.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// The committed batch, or `None` if there was nothing new to ingest.
    pub batch_id: Option<String>,
    /// Per table, in ingest order.
    pub tables: Vec<TableReport>,
    /// Files of the directory that are not tables.
    pub warnings: Vec<String>,
    /// Files skipped because the same content was already ingested: (file, batch).
    pub already_ingested: Vec<(String, String)>,
    /// Quarantine files a retry replaced (store-relative), now deleted.
    pub superseded_quarantine: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl IngestReport {
    /// Rows read over all tables.
    pub fn rows_read(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_read).sum()
    }
}

/// Ingests the contract tables in `dir` into `store` as one atomic batch.
///
/// On any error the batch is discarded and the store is left as it was.
pub fn ingest(store: &mut Store, dir: &Path, progress: &dyn Progress) -> Result<IngestReport> {
    ingest_with(store, dir, progress, false)
}

/// [`ingest`], with `allow_extra_files`: `.csv`/`.parquet` files that name
/// no contract table are ignored with a warning instead of refused.
pub fn ingest_with(
    store: &mut Store,
    dir: &Path,
    progress: &dyn Progress,
    allow_extra_files: bool,
) -> Result<IngestReport> {
    let started = Instant::now();
    let found = source::discover(dir, allow_extra_files)?;
    let mut report = IngestReport {
        warnings: found.warnings,
        ..Default::default()
    };
    // A file can only be one already ingested if a committed source has
    // its size: only those are hashed before the batch starts. The others
    // (every file of a new day's export, as a rule) are hashed on another
    // thread while they are ingested; the hash is needed only to commit.
    let committed_sizes: HashSet<u64> = store
        .manifest()
        .batches
        .iter()
        .flat_map(|b| b.sources.iter().map(|s| s.bytes))
        .collect();
    let mut files = vec![];
    let mut sources = vec![];
    let mut hash_later = vec![];
    for f in found.files {
        let hash = if committed_sizes.contains(&f.bytes) {
            let hash = hash_file(&f.path, &AtomicBool::new(false))?;
            if let Some(b) = store.manifest().batch_with_source(&hash) {
                report.already_ingested.push((f.name.clone(), b.id.clone()));
                continue;
            }
            hash
        } else {
            hash_later.push((sources.len(), f.path.clone()));
            String::new()
        };
        sources.push(SourceFile {
            name: f.name.clone(),
            table: f.table.name().to_string(),
            blake3: hash,
            bytes: f.bytes,
        });
        files.push(f);
    }
    if files.is_empty() {
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    let batch = store.begin_batch()?;
    let stop = AtomicBool::new(false);
    let (outcome, hashed) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            hash_later
                .iter()
                .map(|(i, path)| Ok((*i, hash_file(path, &stop)?)))
                .collect::<Result<Vec<_>>>()
        });
        let outcome = run_batch(store, &batch, &files, progress);
        if outcome.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        (outcome, hasher.join().expect("hashing does not panic"))
    });
    let outcome = outcome.and_then(|outputs| {
        for (i, hash) in hashed? {
            sources[i].blake3 = hash;
        }
        Ok(outputs)
    });
    match outcome {
        Ok(outputs) => {
            let mut entry = BatchEntry {
                id: batch.id().to_string(),
                committed_at: jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                source: dir.display().to_string(),
                sources,
                tables: BTreeMap::new(),
            };
            for (rep, out) in outputs {
                entry.tables.insert(rep.table.name().to_string(), out);
                report.tables.push(rep);
            }
            report
                .tables
                .sort_by_key(|t| Table::ALL.iter().position(|x| *x == t.table));
            let id = batch.id().to_string();
            store.commit(batch, entry)?;
            report.batch_id = Some(id);
            report.elapsed = started.elapsed();
            Ok(report)
        }
        Err(e) => {
            store.abort(batch)?;
            Err(e)
        }
    }
}

/// Ingests again the rows batch `batch_id` quarantined, as a new batch:
/// rows whose reason has gone (a parent table ingested since, a fixed
/// vocabulary) are stored, the others quarantined again with their
/// original file, line and new reason. The quarantine files are read where
/// the store keeps them and deleted once the new batch is committed (its
/// own quarantine holds what is still refused, and can be retried in turn).
pub fn retry_quarantine(
    store: &mut Store,
    batch_id: &str,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let with_quarantine: Vec<(String, u64)> = store
        .manifest()
        .batches
        .iter()
        .map(|b| {
            (
                b.id.clone(),
                b.tables
                    .values()
                    .filter(|t| t.quarantine_file.is_some())
                    .map(|t| t.rows_quarantined)
                    .sum::<u64>(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let Some(batch) = store.manifest().batches.iter().find(|b| b.id == batch_id) else {
        return Err(Error::Input {
            file: batch_id.to_string(),
            message: format!(
                "no batch {batch_id} in this store; batches with quarantined rows: {}",
                list_or_none(&with_quarantine)
            ),
        });
    };
    let files: Vec<&str> = batch
        .tables
        .values()
        .filter_map(|t| t.quarantine_file.as_deref())
        .collect();
    if files.is_empty() {
        return Err(Error::Input {
            file: batch_id.to_string(),
            message: format!(
                "batch {batch_id} has no quarantined rows left (none were quarantined, a retry already stored or re-quarantined them, or retention deleted them); batches with quarantined rows: {}",
                list_or_none(&with_quarantine)
            ),
        });
    }
    let dir = store.root().join("quarantine").join(batch_id);
    for f in &files {
        let p = store.root().join(f);
        if p.parent() != Some(dir.as_path()) || !p.is_file() {
            return Err(Error::Input {
                file: f.to_string(),
                message: "the quarantine file the manifest names is missing; it cannot be retried"
                    .into(),
            });
        }
    }
    let files: Vec<String> = files.into_iter().map(str::to_string).collect();
    let mut report = ingest_with(store, &dir, progress, false)?;
    // Every retried row is now stored or quarantined again by the new
    // batch, so the old quarantine files (identities as read) go: one more
    // manifest commit. A crash before it leaves them listed, and a second
    // retry of the same files is skipped as already ingested.
    if report.batch_id.is_some() {
        store.retire(&probity_store::Retirement {
            drop_quarantine: files.clone(),
            ..Default::default()
        })?;
        report.superseded_quarantine = files;
    }
    Ok(report)
}

fn list_or_none(batches: &[(String, u64)]) -> String {
    if batches.is_empty() {
        return "none".into();
    }
    batches
        .iter()
        .map(|(b, n)| format!("{b} ({n} row{})", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The BLAKE3 of a file's bytes, hex; stops early (an empty hash) once
/// `stop` is set.
fn hash_file(path: &Path, stop: &AtomicBool) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(String::new());
        }
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// The tables a table must wait for: those it references, and for device
/// locations also the shifts that define duty time.
fn dependencies(t: Table) -> Vec<Table> {
    let mut deps: Vec<Table> = t
        .def()
        .columns
        .iter()
        .filter_map(|c| c.references)
        .filter(|r| *r != t)
        .collect();
    if t == Table::DeviceLocations {
        deps.push(Table::Shifts);
    }
    deps
}

type Outputs = Vec<(TableReport, probity_store::TableOutput)>;

fn run_batch(
    store: &Store,
    batch: &probity_store::StagedBatch,
    files: &[source::SourceInfo],
    progress: &dyn Progress,
) -> Result<Outputs> {
    let rules = store.time_rules();
    let has_locations = files.iter().any(|f| f.table == Table::DeviceLocations);
    // Off-duty location exclusion is governed: its grace comes from the
    // governance file in force, which must be valid to ingest locations.
    let grace = if has_locations {
        store.governance()?.minimisation.location_grace_minutes
    } else {
        0
    };
    let in_batch: Vec<Table> = files.iter().map(|f| f.table).collect();
    // Referenced tables that this batch does not carry still need their
    // committed keys for foreign-key checks.
    let mut keys: HashMap<Table, Arc<KeySet>> = HashMap::new();
    for f in files {
        for d in dependencies(f.table) {
            if !in_batch.contains(&d) && !keys.contains_key(&d) && d.def().primary_key.is_some() {
                keys.insert(d, Arc::new(KeySet::load(store, d.name())?));
            }
        }
    }
    let mut duty = has_locations.then(|| DutyIndex::new(grace));
    if let Some(d) = duty.as_mut() {
        d.load_committed(store)?;
    }
    // One job more than cores: the tables do not divide evenly between the
    // cores (at a Met-sized year the locations take 70 s, the look-ups 50),
    // and a third job keeps both busy when one finishes early (2 cores, 46k
    // x 366: 101-109 s instead of 110-119 s, peak 1.13 GB instead of 0.97).
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() + 1)
        .clamp(1, 4);
    // Largest first, so the long jobs start early.
    let mut pending: Vec<usize> = (0..files.len()).collect();
    pending.sort_by_key(|&i| std::cmp::Reverse(files[i].bytes));
    let state = Mutex::new(Schedule {
        pending,
        done: vec![],
        running: 0,
        keys,
        duty,
        sealed: None,
        outputs: vec![],
        failed: None,
    });
    let wake = Condvar::new();
    let max_field_bytes = store.config().ingest.max_field_bytes;
    let split_rows = store.config().ingest.split_rows;
    let sort_keys_rows = store.config().ingest.sort_keys_rows;
    // A table starts as soon as the tables it refers to are done (not when a
    // whole level of the dependency order is): the look-ups and swipes need
    // only accounts and cards, so they run while the shifts are read.
    std::thread::scope(|scope| {
        for _ in 0..workers.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let mut st = state.lock().expect("no panic holding the lock");
                    let i = loop {
                        if st.failed.is_some() || st.pending.is_empty() {
                            return;
                        }
                        let ready = st.pending.iter().position(|&i| {
                            dependencies(files[i].table)
                                .iter()
                                .all(|d| !in_batch.contains(d) || st.done.contains(d))
                        });
                        if let Some(pos) = ready {
                            break st.pending.remove(pos);
                        }
                        if st.running == 0 {
                            st.failed = Some(Error::Internal(
                                "ingest: no table can start (a dependency cycle; a bug)".into(),
                            ));
                            wake.notify_all();
                            return;
                        }
                        st = wake.wait(st).expect("no panic holding the lock");
                    };
                    let f = &files[i];
                    st.running += 1;
                    if f.table == Table::DeviceLocations
                        && let Some(mut d) = st.duty.take()
                    {
                        // Every shift and device of the batch is in it now.
                        d.seal();
                        st.sealed = Some(Arc::new(d));
                    }
                    let snapshot = st.keys.clone();
                    let sealed = st.sealed.clone();
                    drop(st);
                    let r = (|| {
                        let committed = if f.table.def().primary_key.is_some() {
                            KeySet::committed_files(store, f.table.name())
                        } else {
                            vec![]
                        };
                        let ctx = job::JobContext {
                            rules: &rules,
                            key: store.pseudonym_key(),
                            max_field_bytes,
                            split_rows,
                            sort_keys_rows,
                            keys: &snapshot,
                            duty: sealed.as_deref(),
                            collect_duty: has_locations,
                            progress,
                        };
                        let out = job::run(f, batch, &committed, &ctx)?;
                        // A month of the store's shifts that could not be read
                        // fails the batch: its pings were judged without it.
                        let failed = (f.table == Table::DeviceLocations)
                            .then(|| sealed.as_deref().and_then(DutyIndex::take_error))
                            .flatten();
                        failed.map_or(Ok(out), Err)
                    })();
                    drop(snapshot);
                    let mut st = state.lock().expect("no panic holding the lock");
                    st.running -= 1;
                    match r {
                        Ok(out) => st.finish(f.table, out, files),
                        Err(e) => {
                            if st.failed.is_none() {
                                st.failed = Some(e);
                            }
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    let st = state.into_inner().expect("threads joined");
    match st.failed {
        Some(e) => Err(e),
        None => Ok(st.outputs),
    }
}

/// The shared state of a batch's table jobs.
struct Schedule {
    /// Files not yet started, largest first.
    pending: Vec<usize>,
    /// Tables finished.
    done: Vec<Table>,
    running: usize,
    /// Key sets that tables not yet started refer to.
    keys: HashMap<Table, Arc<KeySet>>,
    /// The duty-time rule, filled by the shifts and devices jobs...
    duty: Option<DutyIndex>,
    /// ...and sealed when the locations start.
    sealed: Option<Arc<DutyIndex>>,
    outputs: Outputs,
    failed: Option<Error>,
}

impl Schedule {
    fn finish(&mut self, table: Table, out: job::JobOutput, files: &[source::SourceInfo]) {
        if let Some(d) = self.duty.as_mut() {
            for (p, s, e) in &out.shifts {
                d.add_shift(*p, *s, *e);
            }
            for (dev, p, from, to) in &out.devices {
                d.add_device(*dev, *p, *from, *to);
            }
        }
        self.done.push(table);
        // Key sets are held only while a table still to start refers to
        // them: at a Met-sized year the look-ups, badge events and sessions
        // alone hold 85 million keys that nothing else reads.
        let wanted: Vec<Table> = self
            .pending
            .iter()
            .flat_map(|&i| dependencies(files[i].table))
            .collect();
        if wanted.contains(&table) {
            self.keys.insert(table, Arc::new(out.keys));
        }
        self.keys.retain(|t, _| wanted.contains(t));
        self.outputs.push((out.report, out.output));
    }
}
