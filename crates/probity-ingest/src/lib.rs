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
//! Tables are processed in dependency waves (a table after every table it
//! references), the tables of a wave in parallel on the machine's cores.
#![deny(missing_docs)]

mod duty;
mod job;
pub mod source;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use probity_core::Table;
use probity_store::keys::KeySet;
use probity_store::{BatchEntry, SourceFile, Store};

pub use duty::DutyIndex;

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
    let mut files = vec![];
    let mut sources = vec![];
    for f in found.files {
        let hash = hash_file(&f.path)?;
        if let Some(b) = store.manifest().batch_with_source(&hash) {
            report.already_ingested.push((f.name.clone(), b.id.clone()));
            continue;
        }
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
    match run_batch(store, &batch, &files, progress) {
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

fn hash_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
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

fn depth(t: Table) -> usize {
    dependencies(t)
        .into_iter()
        .map(|d| depth(d) + 1)
        .max()
        .unwrap_or(0)
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
    let mut keys: HashMap<Table, KeySet> = HashMap::new();
    // Referenced tables that this batch does not carry still need their
    // committed keys for foreign-key checks.
    for f in files {
        for d in dependencies(f.table) {
            if !keys.contains_key(&d) && d.def().primary_key.is_some() {
                keys.insert(d, KeySet::load(store, d.name())?);
            }
        }
    }
    let mut duty = has_locations.then(|| DutyIndex::new(grace));
    if let Some(d) = duty.as_mut() {
        d.load_committed(store)?;
    }
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let max_depth = files.iter().map(|f| depth(f.table)).max().unwrap_or(0);
    let mut outputs: Outputs = vec![];
    for level in 0..=max_depth {
        let mut wave: Vec<&source::SourceInfo> =
            files.iter().filter(|f| depth(f.table) == level).collect();
        if wave.is_empty() {
            continue;
        }
        // Largest first, so the long jobs start early.
        wave.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        if wave.iter().any(|f| f.table == Table::DeviceLocations)
            && let Some(d) = duty.as_mut()
        {
            d.seal();
        }
        let mut own: Vec<Option<KeySet>> = Vec::with_capacity(wave.len());
        for f in &wave {
            own.push(Some(match keys.remove(&f.table) {
                Some(k) => k,
                None if f.table.def().primary_key.is_some() => KeySet::load(store, f.table.name())?,
                None => KeySet::default(),
            }));
        }
        let own = Mutex::new(own);
        let ctx = job::JobContext {
            rules: &rules,
            key: store.pseudonym_key(),
            max_field_bytes: store.config().ingest.max_field_bytes,
            keys: &keys,
            duty: duty.as_ref(),
            collect_duty: has_locations,
            progress,
        };
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Result<job::JobOutput>>> = Mutex::new(vec![]);
        std::thread::scope(|scope| {
            for _ in 0..workers.min(wave.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(f) = wave.get(i) else { break };
                        let ks = own.lock().expect("no panic holding the lock")[i]
                            .take()
                            .expect("each job taken once");
                        let r = job::run(f, batch, ks, &ctx);
                        let failed = r.is_err();
                        results.lock().expect("no panic holding the lock").push(r);
                        if failed {
                            // Stop taking new jobs; the batch is lost anyway.
                            next.store(usize::MAX / 2, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        for r in results.into_inner().expect("threads joined") {
            let out = r?;
            if let Some(d) = duty.as_mut() {
                for (p, s, e) in &out.shifts {
                    d.add_shift(*p, *s, *e);
                }
                for (dev, p, from, to) in &out.devices {
                    d.add_device(*dev, *p, *from, *to);
                }
            }
            keys.insert(out.report.table, out.keys);
            outputs.push((out.report, out.output));
        }
    }
    Ok(outputs)
}
