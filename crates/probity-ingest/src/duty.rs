//! The duty-time rule for device locations (data minimisation).
//!
//! A location ping is kept only if it falls inside one of its device
//! holder's shifts, widened by a grace period (default 30 minutes) on both
//! sides. Everything else is off duty: it is dropped before anything is
//! written and only counted. Shifts come from the batch being ingested and
//! from the store's earlier batches.
//!
//! The store's shifts are read a month at a time, when a ping first needs
//! that month (shift files are partitioned by the UTC month a shift starts
//! in, and each file's footer says when its last shift ends), so a daily
//! batch reads the shifts of its own weeks, not of every year held.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;
use probity_store::Store;
use probity_store::keys::{PassThrough, key_hash};

use crate::writer::{month_in_path, month_of_day};
use crate::{Error, Result};

type Map<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;
type Windows = Map<Vec<(i64, i64)>>;

const DAY_US: i64 = 86_400_000_000;

/// Duty windows per person and device holders, keyed by hashed stored ids.
#[derive(Debug, Default)]
pub struct DutyIndex {
    grace_us: i64,
    /// This batch's shifts, merged per person by [`DutyIndex::seal`].
    windows: Windows,
    holders: Map<Vec<(u64, i32, i32)>>,
    /// The store's shift files by month, oldest first, each read on first use.
    months: Vec<Month>,
    /// `reach[i]`: the latest end of a shift in `months[..=i]`.
    reach: Vec<i64>,
    /// The first error reading a month's shifts (a ping cannot report it).
    failed: Mutex<Option<Error>>,
}

/// The committed shifts that start in one UTC month.
#[derive(Debug)]
struct Month {
    /// `year * 12 + month - 1`; `i32::MIN` for files without a month.
    key: i32,
    files: Vec<PathBuf>,
    /// The latest end of a shift in the files (their footers' statistics).
    last_end: i64,
    windows: OnceLock<Windows>,
}

impl DutyIndex {
    /// An empty index with the given grace.
    pub fn new(grace_minutes: u32) -> Self {
        DutyIndex {
            grace_us: i64::from(grace_minutes) * 60_000_000,
            ..Default::default()
        }
    }

    /// Adds a shift of this batch of a person (hash of the person's
    /// pseudonym).
    pub fn add_shift(&mut self, person: u64, start_us: i64, end_us: i64) {
        self.windows
            .entry(person)
            .or_default()
            .push((start_us - self.grace_us, end_us + self.grace_us));
    }

    /// Records who holds a device (hashes of the stored ids) over which days
    /// (`to` = `i32::MAX` while still held).
    pub fn add_device(&mut self, device: u64, person: u64, from: i32, to: i32) {
        self.holders
            .entry(device)
            .or_default()
            .push((person, from, to));
    }

    /// Sorts and merges each person's windows; call once, before lookups.
    pub fn seal(&mut self) {
        for w in self.windows.values_mut() {
            merge(w);
        }
    }

    /// Whether a ping of `device` at `at_us` is within the duty time of a
    /// person holding the device that day. Holdings are local dates; a day
    /// either side absorbs the offset from UTC, and the duty window decides.
    pub fn on_duty(&self, device: u64, at_us: i64) -> bool {
        let Some(holders) = self.holders.get(&device) else {
            return false;
        };
        let day = at_us.div_euclid(DAY_US) as i32;
        holders.iter().any(|(person, from, to)| {
            if day < from.saturating_sub(1) || day > to.saturating_add(1) {
                return false;
            }
            covers(self.windows.get(person), at_us) || self.committed_covers(*person, at_us)
        })
    }

    /// Whether a committed shift of `person` (widened by the grace) covers
    /// `at_us`: only months whose shifts start by then and end after it are
    /// read.
    fn committed_covers(&self, person: u64, at_us: i64) -> bool {
        if self.months.is_empty() {
            return false;
        }
        let latest = month_of(at_us.saturating_add(self.grace_us));
        let mut i = self.months.partition_point(|m| m.key <= latest);
        while i > 0 {
            i -= 1;
            if self.reach[i].saturating_add(self.grace_us) < at_us {
                break;
            }
            let m = &self.months[i];
            if m.last_end.saturating_add(self.grace_us) < at_us {
                continue;
            }
            let w = m.windows.get_or_init(|| self.read_month(m));
            if covers(w.get(&person), at_us) {
                return true;
            }
        }
        false
    }

    fn read_month(&self, m: &Month) -> Windows {
        let mut w = Windows::default();
        for path in &m.files {
            let read = read_columns(path, &["person_id", "start", "end"]).map(|batches| {
                for batch in batches {
                    let person = batch.column(0).as_string::<i32>();
                    let start = batch.column(1).as_primitive::<TimestampMicrosecondType>();
                    let end = batch.column(2).as_primitive::<TimestampMicrosecondType>();
                    for i in 0..batch.num_rows() {
                        w.entry(key_hash(person.value(i)))
                            .or_default()
                            .push((start.value(i) - self.grace_us, end.value(i) + self.grace_us));
                    }
                }
            });
            if let Err(e) = read {
                let mut failed = self.failed.lock().expect("not poisoned");
                failed.get_or_insert(e);
            }
        }
        for v in w.values_mut() {
            merge(v);
        }
        w
    }

    /// The first error met reading the store's shifts, if any: the pings
    /// judged since were judged without them, so the batch must fail.
    pub fn take_error(&self) -> Option<Error> {
        self.failed.lock().expect("not poisoned").take()
    }

    /// Finds the shifts already committed to the store (read a month at a
    /// time when first needed) and loads the devices.
    pub fn load_committed(&mut self, store: &Store) -> Result<()> {
        let mut by_month: BTreeMap<i32, (Vec<PathBuf>, i64)> = BTreeMap::new();
        for rel in store.manifest().data_files("shifts") {
            let path = store.path(rel);
            let key = month_in_path(rel).unwrap_or(i32::MIN);
            let end = last_end(&path)?;
            let e = by_month.entry(key).or_insert((vec![], i64::MIN));
            e.0.push(path);
            e.1 = e.1.max(end);
        }
        self.months = by_month
            .into_iter()
            .map(|(key, (files, last_end))| Month {
                key,
                files,
                last_end,
                windows: OnceLock::new(),
            })
            .collect();
        self.reach = self
            .months
            .iter()
            .scan(i64::MIN, |r, m| {
                *r = (*r).max(m.last_end);
                Some(*r)
            })
            .collect();
        for rel in store.manifest().data_files("devices") {
            let path = store.path(rel);
            for batch in read_columns(
                &path,
                &["device_id", "person_id", "issued_from", "issued_to"],
            )? {
                let device = batch.column(0).as_string::<i32>();
                let person = batch.column(1).as_string::<i32>();
                let from = batch
                    .column(2)
                    .as_primitive::<arrow::datatypes::Date32Type>();
                let to = batch
                    .column(3)
                    .as_primitive::<arrow::datatypes::Date32Type>();
                for i in 0..batch.num_rows() {
                    if device.is_valid(i) && person.is_valid(i) {
                        self.add_device(
                            key_hash(device.value(i)),
                            key_hash(person.value(i)),
                            from.value(i),
                            if to.is_valid(i) {
                                to.value(i)
                            } else {
                                i32::MAX
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Sorts windows and merges those that overlap.
fn merge(w: &mut Vec<(i64, i64)>) {
    w.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(w.len());
    for &(s, e) in w.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *w = merged;
}

/// Whether sorted, merged windows cover an instant.
fn covers(w: Option<&Vec<(i64, i64)>>, at_us: i64) -> bool {
    let Some(w) = w else { return false };
    let i = w.partition_point(|&(s, _)| s <= at_us);
    i > 0 && at_us <= w[i - 1].1
}

/// The UTC month of an instant (the store's partition key).
fn month_of(us: i64) -> i32 {
    month_of_day(us.div_euclid(DAY_US) as i32)
}

/// The latest `end` in a shift file, from its footer (`i64::MAX` if the
/// statistics do not say, so the file is always read).
fn last_end(path: &Path) -> Result<i64> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    let meta = builder.metadata();
    let Some(col) = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "end")
    else {
        return Ok(i64::MAX);
    };
    let mut last = i64::MIN;
    for rg in meta.row_groups() {
        match rg.column(col).statistics() {
            Some(Statistics::Int64(s)) => match s.max_opt() {
                Some(m) => last = last.max(*m),
                None if rg.num_rows() == 0 => {}
                None => return Ok(i64::MAX),
            },
            _ => return Ok(i64::MAX),
        }
    }
    Ok(last)
}

fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<arrow::array::RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| Error::parquet(path, e))?;
    reader
        .map(|b| b.map_err(|e| Error::Internal(format!("{}: {e}", path.display()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    #[test]
    fn pings_inside_shifts_plus_grace_are_on_duty() {
        let mut d = DutyIndex::new(30);
        d.add_device(1, 10, 0, i32::MAX);
        d.add_shift(10, 1000 * MIN, 1600 * MIN);
        d.add_shift(10, 1590 * MIN, 1700 * MIN); // overlapping: merged
        d.add_shift(10, 3000 * MIN, 3100 * MIN);
        d.seal();
        assert!(d.on_duty(1, 970 * MIN), "grace before start");
        assert!(!d.on_duty(1, 969 * MIN));
        assert!(d.on_duty(1, 1650 * MIN));
        assert!(d.on_duty(1, 1730 * MIN), "grace after end");
        assert!(!d.on_duty(1, 1731 * MIN));
        assert!(!d.on_duty(1, 2500 * MIN), "between shifts: off duty");
        assert!(d.on_duty(1, 3050 * MIN));
        assert!(!d.on_duty(2, 3050 * MIN), "unknown device");
    }

    #[test]
    fn a_handed_on_device_follows_its_holder_of_the_day() {
        const DAY: i64 = 1440 * MIN;
        let mut d = DutyIndex::new(0);
        // Device 1: person 10 on days 0..=9, person 20 from day 20.
        d.add_device(1, 10, 0, 9);
        d.add_device(1, 20, 20, i32::MAX);
        for day in [5, 25] {
            d.add_shift(10, day * DAY + 480 * MIN, day * DAY + 960 * MIN);
        }
        d.add_shift(20, 25 * DAY + 1000 * MIN, 25 * DAY + 1200 * MIN);
        d.seal();
        assert!(d.on_duty(1, 5 * DAY + 600 * MIN), "first holder on duty");
        assert!(
            !d.on_duty(1, 25 * DAY + 600 * MIN),
            "first holder on duty, but no longer holds the device: off-duty for its holder"
        );
        assert!(d.on_duty(1, 25 * DAY + 1100 * MIN), "second holder on duty");
    }
}
