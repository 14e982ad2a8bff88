//! Compaction: daily batches leave one small Parquet file per table and
//! month in every batch; queries open every one of them. `compact` merges
//! the files of each table and month (or each unpartitioned table) into one,
//! committed atomically like every other change to the store: the merged
//! files are written and fsynced first, the manifest swap is the commit
//! point, the old files are deleted after it (and a crash between the two
//! leaves only unreferenced files, which the next sweep deletes). Rows,
//! their values and every query's answer are unchanged; the batch history
//! (what each batch read, stored and quarantined) is kept.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use probity_audit::Record;
use probity_policy::Action;
use probity_store::{Replacement, Retirement, Store};
use serde::Serialize;
use serde_json::json;

use crate::{Error, Result};

/// Rows per row group of a merged file (as ingest writes them).
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CompactReport {
    /// Per table: (files before, files after, rows in the merged files).
    pub tables: BTreeMap<String, (usize, usize, u64)>,
    /// Groups left alone because their files' schemas differ.
    pub skipped: Vec<String>,
    /// The audit entry recording it.
    pub audit_seq: u64,
}

impl CompactReport {
    /// Data files before and after, over all tables.
    pub fn files(&self) -> (usize, usize) {
        self.tables
            .values()
            .fold((0, 0), |(b, a), (fb, fa, _)| (b + fb, a + fa))
    }
}

/// Merges every group (table and month) of at least `min_files` data files
/// into one file (admin only; audited). The merged file takes the place of
/// the group's file in its latest batch.
pub fn compact(store: &mut Store, user: &str, min_files: usize) -> Result<CompactReport> {
    crate::authorise(
        store,
        user,
        Action::ApplyRetention,
        None,
        false,
        "compact",
        "",
    )?;
    let min_files = min_files.max(2);
    let begin = store.audit()?.append(
        Record::new(user, "compact.begin", "").details(json!({ "min_files": min_files })),
    )?;
    let tag = format!("c{:08}", begin.seq);
    // Groups: (table, directory of the file below `data/`) → files in
    // batch order.
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for b in &store.manifest().batches {
        for (table, out) in &b.tables {
            for f in &out.data_files {
                let part = f
                    .split_once("/data/")
                    .map(|(_, rest)| rest.rsplit_once('/').map_or("", |(dir, _)| dir))
                    .unwrap_or("")
                    .to_string();
                groups
                    .entry((table.clone(), part))
                    .or_default()
                    .push(f.clone());
            }
        }
    }
    let mut report = CompactReport::default();
    let mut retirement = Retirement::default();
    for ((table, part), files) in &groups {
        let entry = report.tables.entry(table.clone()).or_default();
        entry.0 += files.len();
        if files.len() < min_files {
            entry.1 += files.len();
            continue;
        }
        let last = files.last().expect("a group has files");
        let (dir, name) = last.rsplit_once('/').unwrap_or(("", last));
        let rel = format!("{dir}/{}-{tag}.parquet", name.trim_end_matches(".parquet"));
        match merge(store, files, &rel)? {
            Some(rows) => {
                entry.1 += 1;
                entry.2 += rows;
                for f in files {
                    retirement.replace.push(Replacement {
                        old: f.clone(),
                        new: (f == last).then(|| rel.clone()),
                        rows_removed: 0,
                    });
                }
            }
            None => {
                entry.1 += files.len();
                report.skipped.push(format!("{table} {part}"));
            }
        }
    }
    if !retirement.replace.is_empty() {
        store.retire(&retirement)?;
    }
    let (before, after) = report.files();
    let end = store
        .audit()?
        .append(Record::new(user, "compact", "").details(json!({
            "begin": begin.seq,
            "files_before": before,
            "files_after": after,
            "tables": report.tables,
            "skipped": report.skipped,
        })))?;
    report.audit_seq = end.seq;
    Ok(report)
}

/// Writes the rows of `files`, in order, into one new file at `rel` (store
/// relative), fsynced. `None` (nothing written) when their schemas differ.
fn merge(store: &Store, files: &[String], rel: &str) -> Result<Option<u64>> {
    let pq = |path: &std::path::Path, e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        source: e,
    };
    let mut readers = vec![];
    for f in files {
        let path = store.root().join(f);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq(&path, e))?;
        readers.push((path, builder));
    }
    let schema = Arc::clone(readers[0].1.schema());
    if readers
        .iter()
        .any(|(_, b)| b.schema().fields() != schema.fields())
    {
        return Ok(None);
    }
    let path = store.root().join(rel);
    let out = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut w =
        ArrowWriter::try_new(out, Arc::clone(&schema), Some(props)).map_err(|e| pq(&path, e))?;
    let mut rows = 0u64;
    for (src, builder) in readers {
        let reader = builder.build().map_err(|e| pq(&src, e))?;
        for b in reader {
            let b = b.map_err(|e| pq(&src, e.into()))?;
            rows += b.num_rows() as u64;
            w.write(&b).map_err(|e| pq(&path, e))?;
        }
    }
    w.close().map_err(|e| pq(&path, e))?;
    probity_store::fsio::fsync_file(&path)?;
    if let Some(dir) = path.parent() {
        probity_store::fsio::fsync_dir(dir)?;
    }
    Ok(Some(rows))
}
