//! `probity retention apply`: deletes what the governance file says is due,
//! and nothing else.
//!
//! 1. **Minimisation.** Raw device-location pings older than
//!    `[minimisation] raw_location_days` are reduced to one fact per shift
//!    of the device's holder (pings within the shift and its grace, and how
//!    many of them were on a site) in the derived table `location_facts`,
//!    and the raw rows are deleted.
//! 2. **Rows** of dated tables older than `[retention] tables` (by the
//!    table's date column, in the dataset time zone).
//! 3. **Quarantine files** of batches committed more than
//!    `quarantine_days` ago (they hold rows as read, identities included).
//! 4. **Findings** whose status is older than `[retention] findings` for
//!    that status, or last seen longer ago than their detector's
//!    `findings_retention_days`.
//!
//! Files are rewritten without the due rows and swapped in by one atomic
//! manifest commit; the counts go on the audit log before the run is
//! reported done. A second run on the same day finds nothing due.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use jiff::civil::Date;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use probity_audit::Record;
use probity_core::Table;
use probity_policy::Action;
use probity_store::{Replacement, Retirement, Store};
use serde::Serialize;
use serde_json::json;

use crate::{Error, Register, Result};

/// What one table lost.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableRetention {
    /// Rows before this date (local) were due.
    pub cutoff: String,
    /// Rows deleted.
    pub rows_deleted: u64,
    /// Files rewritten without the due rows.
    pub files_rewritten: usize,
    /// Files deleted whole.
    pub files_deleted: usize,
}

/// What a retention run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RetentionReport {
    /// The day it ran as of.
    pub today: String,
    /// Raw location pings reduced to facts and deleted.
    pub locations_minimised: u64,
    /// Per-shift facts written for them.
    pub location_facts: u64,
    /// Per table.
    pub tables: BTreeMap<String, TableRetention>,
    /// Quarantine files deleted.
    pub quarantine_files_deleted: usize,
    /// Findings purged, by status.
    pub findings_purged: BTreeMap<String, usize>,
    /// Stray files of an interrupted earlier run deleted.
    pub stray_files_deleted: usize,
}

impl RetentionReport {
    /// Whether anything was deleted.
    pub fn deleted_anything(&self) -> bool {
        self.locations_minimised > 0
            || self.tables.values().any(|t| t.rows_deleted > 0)
            || self.quarantine_files_deleted > 0
            || self.findings_purged.values().any(|n| *n > 0)
    }
}

#[derive(Clone, Copy)]
enum Cutoff {
    /// Keep timestamps at or after this instant (µs).
    Micros(i64),
    /// Keep dates at or after this day (days since the epoch).
    Day(i32),
}

/// Applies retention as of `today` (admin only).
pub async fn apply(store: &mut Store, user: &str, today: Date) -> Result<RetentionReport> {
    crate::authorise(
        store,
        user,
        Action::ApplyRetention,
        None,
        false,
        "retention",
        "",
    )?;
    let gov = store.governance()?;
    let tz = store.time_rules();
    let begin = store
        .audit()?
        .append(Record::new(user, "retention.begin", "").details(json!({
            "today": today.to_string(),
            "minimisation": gov.minimisation,
            "retention": gov.retention,
        })))?;
    let tag = format!("r{:08}", begin.seq);
    let mut report = RetentionReport {
        today: today.to_string(),
        stray_files_deleted: store.sweep_unreferenced()?,
        ..Default::default()
    };
    let day = |d: Date| probity_core::time::date_to_days(d);
    let mut retirement = Retirement::default();

    // Cut-offs per table: the later of minimisation and retention.
    let mut cutoffs: BTreeMap<Table, i32> = BTreeMap::new();
    for (name, days) in &gov.retention.tables {
        let t = Table::from_name(name).expect("validated");
        cutoffs.insert(t, day(today) - *days as i32);
    }
    let loc_cut = day(today) - gov.minimisation.raw_location_days as i32;
    let e = cutoffs.entry(Table::DeviceLocations).or_insert(loc_cut);
    *e = (*e).max(loc_cut);

    // 1. Facts for the pings about to go.
    let loc_day = cutoffs[&Table::DeviceLocations];
    let loc_us = probity_detect::day_start(&tz, loc_day);
    if !store
        .manifest()
        .data_files(Table::DeviceLocations.name())
        .is_empty()
    {
        let (rel, n) =
            location_facts(store, loc_us, gov.minimisation.location_grace_minutes, &tag).await?;
        if let Some(rel) = rel {
            retirement.location_facts.push(rel);
        }
        report.location_facts = n;
    }

    // 2. Rows.
    for (table, cut_day) in &cutoffs {
        let col = probity_policy::governance::retention_column(*table).expect("dated table");
        let is_date = matches!(
            table
                .def()
                .stored_schema()
                .field_with_name(col)
                .map(|f| f.data_type().clone()),
            Ok(DataType::Date32)
        );
        let cutoff = if is_date {
            Cutoff::Day(*cut_day)
        } else {
            Cutoff::Micros(probity_detect::day_start(&tz, *cut_day))
        };
        let mut tr = TableRetention {
            cutoff: probity_core::time::days_to_date(*cut_day).to_string(),
            ..Default::default()
        };
        let files: Vec<String> = store
            .manifest()
            .data_files(table.name())
            .into_iter()
            .map(str::to_string)
            .collect();
        for rel in files {
            if let Some(r) = filter_file(store.root(), &rel, col, cutoff, &tag)? {
                tr.rows_deleted += r.rows_removed;
                if r.new.is_some() {
                    tr.files_rewritten += 1;
                } else {
                    tr.files_deleted += 1;
                }
                retirement.replace.push(r);
            }
        }
        if *table == Table::DeviceLocations {
            report.locations_minimised = tr.rows_deleted;
        }
        if tr.rows_deleted > 0 || gov.retention.tables.contains_key(table.name()) {
            report.tables.insert(table.name().to_string(), tr);
        }
    }

    // 3. Quarantine files.
    let q_cut = day(today) - gov.retention.quarantine_days as i32;
    for b in &store.manifest().batches {
        let committed = b
            .committed_at
            .parse::<jiff::Timestamp>()
            .map(|t| day(tz.local_date(t.as_microsecond())))
            .unwrap_or(i32::MAX);
        if committed < q_cut {
            for out in b.tables.values() {
                if let Some(q) = &out.quarantine_file {
                    retirement.drop_quarantine.push(q.clone());
                }
            }
        }
    }
    report.quarantine_files_deleted = retirement.drop_quarantine.len();

    // Commit the file changes (one manifest write), then the findings.
    if !retirement.replace.is_empty()
        || !retirement.location_facts.is_empty()
        || !retirement.drop_quarantine.is_empty()
    {
        // What is about to be deleted is on the log before the commit, so a
        // crash after the commit still leaves the counts recorded.
        store
            .audit()?
            .append(Record::new(user, "retention.commit", "").details(json!({
                "locations_minimised": report.locations_minimised,
                "location_facts": report.location_facts,
                "tables": report.tables,
                "quarantine_files_deleted": report.quarantine_files_deleted,
                "files": retirement.replace.iter().map(|r| json!({
                    "old": r.old, "new": r.new, "rows_removed": r.rows_removed,
                })).collect::<Vec<_>>(),
            })))?;
        store.retire(&retirement)?;
    }

    // 4. Findings.
    let _lock = crate::lock(store, "findings")?;
    let mut register = Register::load(store)?;
    let local_day = |rfc: &str| {
        rfc.parse::<jiff::Timestamp>()
            .map(|t| day(tz.local_date(t.as_microsecond())))
            .unwrap_or(i32::MAX)
    };
    let mut purged: BTreeMap<String, usize> = BTreeMap::new();
    let mut tombstones: Vec<(String, String)> = vec![];
    register.items.retain(|_, r| {
        let by_status = gov
            .retention
            .findings
            .get(&r.status)
            .is_some_and(|d| local_day(&r.status_at) + (*d as i32) < day(today));
        let by_detector = gov.detectors.get(&r.finding.detector).is_some_and(|a| {
            local_day(&r.last_seen) + (a.findings_retention_days as i32) < day(today)
        });
        if by_status || by_detector {
            *purged.entry(r.status.clone()).or_default() += 1;
            tombstones.push((r.finding.finding_id.clone(), r.status.clone()));
            false
        } else {
            true
        }
    });
    if !purged.is_empty() {
        let at = crate::now();
        for (id, status) in tombstones {
            register.purged.insert(id, (status, at.clone()));
        }
        register.save()?;
    }
    report.findings_purged = purged;

    store.audit()?.append(
        Record::new(user, "retention.done", "")
            .details(serde_json::to_value(&report).expect("report serialises")),
    )?;
    Ok(report)
}

/// Writes per-shift facts for pings before `cutoff_us`; returns the file
/// (store-relative) and the number of facts.
async fn location_facts(
    store: &Store,
    cutoff_us: i64,
    grace_min: u32,
    tag: &str,
) -> Result<(Option<String>, u64)> {
    let ctx = store.session_context()?;
    probity_detect::register_functions(&ctx, &store.time_rules());
    let g = i64::from(grace_min) * 60_000_000;
    let q = format!(
        "SELECT s.shift_id, s.person_id, s.start, s.\"end\",
                count(*) AS pings, sum(p.on_site) AS on_site_pings
         FROM shifts s
         JOIN devices d ON d.person_id = s.person_id
         JOIN (SELECT l.device_id, l.at,
                      max(CASE WHEN st.site_id IS NOT NULL AND
                          sqrt(power((l.lat - st.lat) * 110540.0, 2)
                             + power((l.lon - st.lon) * 111320.0 * cos(radians(st.lat)), 2))
                          <= st.radius_m + coalesce(l.accuracy_m, 0) THEN 1 ELSE 0 END) AS on_site
               FROM device_locations l LEFT JOIN sites st ON 1 = 1
               WHERE CAST(arrow_cast(l.at, 'Int64') AS BIGINT) < {cutoff_us}
               GROUP BY l.device_id, l.at) p
           ON p.device_id = d.device_id
          AND CAST(arrow_cast(p.at, 'Int64') AS BIGINT)
              BETWEEN CAST(arrow_cast(s.start, 'Int64') AS BIGINT) - {g}
                  AND CAST(arrow_cast(s.\"end\", 'Int64') AS BIGINT) + {g}
          AND local_date(p.at) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
         GROUP BY s.shift_id, s.person_id, s.start, s.\"end\"
         ORDER BY s.start, s.shift_id"
    );
    let batches = ctx
        .sql(&q)
        .await
        .map_err(|e| Error::query("location facts", e))?
        .collect()
        .await
        .map_err(|e| Error::query("location facts", e))?;
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if n == 0 {
        return Ok((None, 0));
    }
    let schema = probity_store::location_facts_schema();
    let rel = format!("derived/location_facts/{tag}.parquet");
    let path = store.root().join(&rel);
    let dir = path.parent().expect("has a directory");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w =
        ArrowWriter::try_new(file, schema.clone(), Some(props())).map_err(|e| pq(&path, e))?;
    for b in &batches {
        let cols = schema
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| pq(&path, e.into()))?;
        let out = RecordBatch::try_new(schema.clone(), cols).map_err(|e| pq(&path, e.into()))?;
        w.write(&out).map_err(|e| pq(&path, e))?;
    }
    w.close().map_err(|e| pq(&path, e))?;
    probity_store::fsio::fsync_file(&path)?;
    probity_store::fsio::fsync_dir(dir)?;
    Ok((Some(rel), n as u64))
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .build()
}

fn pq(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Filters one data file: `None` when nothing in it is due; otherwise its
/// replacement (a rewritten copy, or nothing when every row is due).
fn filter_file(
    root: &Path,
    rel: &str,
    col: &str,
    cutoff: Cutoff,
    tag: &str,
) -> Result<Option<Replacement>> {
    let path = root.join(rel);
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq(&path, e))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| pq(&path, e))?;
    let mut kept: Vec<RecordBatch> = vec![];
    let mut removed = 0u64;
    for b in reader {
        let b = b.map_err(|e| pq(&path, e.into()))?;
        let c = b
            .column_by_name(col)
            .ok_or_else(|| Error::Invalid(format!("{}: no column {col}", path.display())))?;
        let keep: arrow::array::BooleanArray = match cutoff {
            Cutoff::Micros(us) => {
                let v = cast(c, &DataType::Int64).map_err(|e| pq(&path, e.into()))?;
                let v = v
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("cast to Int64");
                v.iter().map(|x| Some(x.is_none_or(|x| x >= us))).collect()
            }
            Cutoff::Day(d) => {
                let v = cast(c, &DataType::Int32).map_err(|e| pq(&path, e.into()))?;
                let v = v
                    .as_any()
                    .downcast_ref::<arrow::array::Int32Array>()
                    .expect("cast to Int32");
                v.iter().map(|x| Some(x.is_none_or(|x| x >= d))).collect()
            }
        };
        let n_keep = keep.true_count();
        removed += (b.num_rows() - n_keep) as u64;
        if n_keep > 0 {
            kept.push(filter_record_batch(&b, &keep).map_err(|e| pq(&path, e.into()))?);
        }
    }
    if removed == 0 {
        return Ok(None);
    }
    if kept.is_empty() {
        return Ok(Some(Replacement {
            old: rel.to_string(),
            new: None,
            rows_removed: removed,
        }));
    }
    let new_rel = match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{}-{tag}.parquet", name.trim_end_matches(".parquet")),
        None => format!("{rel}-{tag}.parquet"),
    };
    let new_path = root.join(&new_rel);
    let out = std::fs::File::create(&new_path).map_err(|e| Error::io(&new_path, e))?;
    let mut w = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props()))
        .map_err(|e| pq(&new_path, e))?;
    for b in &kept {
        w.write(b).map_err(|e| pq(&new_path, e))?;
    }
    w.close().map_err(|e| pq(&new_path, e))?;
    probity_store::fsio::fsync_file(&new_path)?;
    probity_store::fsio::fsync_dir(new_path.parent().expect("has a directory"))?;
    Ok(Some(Replacement {
        old: rel.to_string(),
        new: Some(new_rel),
        rows_removed: removed,
    }))
}
