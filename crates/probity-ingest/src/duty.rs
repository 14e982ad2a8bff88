//! The duty-time rule for device locations (data minimisation).
//!
//! A location ping is kept only if it falls inside one of its device
//! holder's shifts, widened by a grace period (default 30 minutes) on both
//! sides. Everything else is off duty: it is dropped before anything is
//! written and only counted. Shifts come from the store's earlier batches and
//! from the batch being ingested.

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use probity_store::Store;
use probity_store::keys::{PassThrough, key_hash};

use crate::{Error, Result};

type Map<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Duty windows per person and device holders, keyed by hashed stored ids.
#[derive(Debug, Default)]
pub struct DutyIndex {
    grace_us: i64,
    windows: Map<Vec<(i64, i64)>>,
    holders: Map<Vec<(u64, i32, i32)>>,
}

impl DutyIndex {
    /// An empty index with the given grace.
    pub fn new(grace_minutes: u32) -> Self {
        DutyIndex {
            grace_us: i64::from(grace_minutes) * 60_000_000,
            ..Default::default()
        }
    }

    /// Adds a shift of a person (hash of the person's pseudonym).
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
    }

    /// Whether a ping of `device` at `at_us` is within the duty time of a
    /// person holding the device that day. Holdings are local dates; a day
    /// either side absorbs the offset from UTC, and the duty window decides.
    pub fn on_duty(&self, device: u64, at_us: i64) -> bool {
        let Some(holders) = self.holders.get(&device) else {
            return false;
        };
        let day = at_us.div_euclid(86_400_000_000) as i32;
        holders.iter().any(|(person, from, to)| {
            if day < from.saturating_sub(1) || day > to.saturating_add(1) {
                return false;
            }
            let Some(w) = self.windows.get(person) else {
                return false;
            };
            let i = w.partition_point(|&(s, _)| s <= at_us);
            i > 0 && at_us <= w[i - 1].1
        })
    }

    /// Loads the shifts and devices already committed to the store.
    pub fn load_committed(&mut self, store: &Store) -> Result<()> {
        for rel in store.manifest().data_files("shifts") {
            let path = store.path(rel);
            for batch in read_columns(&path, &["person_id", "start", "end"])? {
                let person = batch.column(0).as_string::<i32>();
                let start = batch.column(1).as_primitive::<TimestampMicrosecondType>();
                let end = batch.column(2).as_primitive::<TimestampMicrosecondType>();
                for i in 0..batch.num_rows() {
                    self.add_shift(key_hash(person.value(i)), start.value(i), end.value(i));
                }
            }
        }
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

fn read_columns(path: &std::path::Path, names: &[&str]) -> Result<Vec<arrow::array::RecordBatch>> {
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
