//! `probity synth`: a synthetic London police force in contract form.
//!
//! The force has stations and headquarters, response teams on rotating
//! earlies, lates and nights (across midnight and the clock changes),
//! neighbourhood and CID teams, office and hybrid staff (chief inspectors and
//! above with an 80% office target), part-timers, badge swipes, device
//! sessions and location pings (including off-duty pings at home, which
//! ingest must drop), cases and look-ups, overtime tied to incidents, roster
//! edits by managers and resourcing, seasonal sickness and leave,
//! declarations, reference lists with namesakes and name variants, and
//! complaint histories by role.
//!
//! Every scenario id of the contract is planted at about 1% of staff, half
//! blatant and half subtle, together with innocent look-alikes. `truth.csv`
//! and `confounders.csv` say who is who; `reference_links.csv` says which
//! reference records are truly staff.
//!
//! Output is deterministic for a seed: each person has their own random
//! stream, people are generated on all cores, and their rows are written in
//! person order, streaming (memory does not grow with the period).
#![deny(missing_docs)]

mod conventions;
mod csvout;
mod data;
mod person;
mod world;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use probity_core::{Table, TimeRules};

pub use conventions::Conventions;
pub use world::{Confounder, Scenario};

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Parquet or Arrow failed.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The request makes no sense.
    #[error("{0}")]
    Invalid(String),
}

/// The synth crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Output file format for the contract tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<table>.csv`.
    Csv,
    /// `<table>.parquet` with typed columns.
    Parquet,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Output directory (created).
    pub out: PathBuf,
    /// Number of staff.
    pub people: usize,
    /// Number of days.
    pub days: u32,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Random seed.
    pub seed: u64,
    /// Table format.
    pub format: Format,
    /// Reference-list records of members of the public (namesakes and
    /// strangers); default 35% of the staff count. Large values make the
    /// record-linkage benchmark.
    pub public_records: Option<usize>,
    /// The force's conventions: 0 for the house set, any other number for
    /// a set drawn from its own stream ([`Conventions::draw`]).
    pub conventions: u32,
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct SynthReport {
    /// Rows per contract table.
    pub rows: BTreeMap<&'static str, u64>,
    /// Rows of `truth.csv`.
    pub truth_rows: u64,
    /// Rows of `confounders.csv`.
    pub confounder_rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The conventions used, in words.
    pub conventions: String,
}

impl SynthReport {
    /// Rows over all contract tables.
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Output files: the contract tables (in `Table::ALL` order), then the answer keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
#[allow(missing_docs)]
pub enum Out {
    Sites,
    Units,
    People,
    BadgeCards,
    Accounts,
    Devices,
    Shifts,
    RosterEdits,
    OvertimeClaims,
    Absences,
    BadgeEvents,
    DeviceSessions,
    DeviceLocations,
    SystemQueries,
    CaseAssignments,
    CaseSubjects,
    KnownRelations,
    Declarations,
    ReferenceRecords,
    Complaints,
    EqualityMonitoring,
    Truth,
    Confounders,
    Links,
}

impl Out {
    /// Number of output files.
    pub const COUNT: usize = 24;

    fn table(i: usize) -> Option<Table> {
        Table::ALL.get(i).copied()
    }

    fn file_name(i: usize, format: Format) -> String {
        match Out::table(i) {
            Some(t) => match format {
                Format::Csv => format!("{}.csv", t.name()),
                Format::Parquet => format!("{}.parquet", t.name()),
            },
            None => ["truth.csv", "confounders.csv", "reference_links.csv"][i - Table::ALL.len()]
                .to_string(),
        }
    }

    fn header(i: usize) -> String {
        match Out::table(i) {
            Some(t) => t
                .def()
                .columns
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(","),
            None => [
                "person_id,scenario,period_start,period_end",
                "person_id,kind,note,scenario",
                "record_id,person_id",
            ][i - Table::ALL.len()]
            .to_string(),
        }
    }
}

enum Sink {
    Csv(BufWriter<File>),
    Parquet {
        writer: Box<ArrowWriter<File>>,
        schema: Arc<Schema>,
        pending: Vec<u8>,
    },
}

struct Sinks {
    sinks: Vec<Sink>,
    paths: Vec<PathBuf>,
    rows: Vec<u64>,
}

/// The full contract schema of a table as written by a producer (vault
/// columns included).
fn input_schema(t: Table) -> Arc<Schema> {
    Arc::new(Schema::new(
        t.def()
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.arrow_type(), !c.required))
            .collect::<Vec<_>>(),
    ))
}

impl Sinks {
    fn create(dir: &Path, format: Format) -> Result<Sinks> {
        let mut sinks = vec![];
        let mut paths = vec![];
        for i in 0..Out::COUNT {
            let path = dir.join(Out::file_name(i, format));
            let file = File::create(&path).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            let sink =
                match (Out::table(i), format) {
                    (Some(t), Format::Parquet) => {
                        let schema = input_schema(t);
                        let props = parquet::file::properties::WriterProperties::builder()
                            .set_compression(parquet::basic::Compression::SNAPPY)
                            .build();
                        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
                            .map_err(|e| Error::Parquet {
                                path: path.clone(),
                                message: e.to_string(),
                            })?;
                        Sink::Parquet {
                            writer: Box::new(writer),
                            schema,
                            pending: vec![],
                        }
                    }
                    _ => {
                        let mut w = BufWriter::with_capacity(1 << 20, file);
                        writeln!(w, "{}", Out::header(i)).map_err(|e| Error::Io {
                            path: path.clone(),
                            source: e,
                        })?;
                        Sink::Csv(w)
                    }
                };
            sinks.push(sink);
            paths.push(path);
        }
        Ok(Sinks {
            sinks,
            paths,
            rows: vec![0; Out::COUNT],
        })
    }

    fn write(&mut self, i: usize, bytes: &[u8]) -> Result<()> {
        self.rows[i] += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let path = &self.paths[i];
        match &mut self.sinks[i] {
            Sink::Csv(w) => w.write_all(bytes).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            }),
            Sink::Parquet { pending, .. } => {
                pending.extend_from_slice(bytes);
                if pending.len() > 8 << 20 {
                    self.flush_parquet(i)?;
                }
                Ok(())
            }
        }
    }

    fn flush_parquet(&mut self, i: usize) -> Result<()> {
        let path = self.paths[i].clone();
        let Sink::Parquet {
            writer,
            schema,
            pending,
        } = &mut self.sinks[i]
        else {
            return Ok(());
        };
        if pending.is_empty() {
            return Ok(());
        }
        let err = |e: arrow::error::ArrowError| Error::Parquet {
            path: path.clone(),
            message: e.to_string(),
        };
        let reader = arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(false)
            .with_batch_size(64 * 1024)
            .build(std::io::Cursor::new(std::mem::take(pending)))
            .map_err(err)?;
        for batch in reader {
            writer
                .write(&batch.map_err(err)?)
                .map_err(|e| Error::Parquet {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(Vec<u64>, u64)> {
        let mut bytes = 0;
        for i in 0..Out::COUNT {
            self.flush_parquet(i)?;
        }
        for (sink, path) in self.sinks.into_iter().zip(&self.paths) {
            match sink {
                Sink::Csv(mut w) => w.flush().map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?,
                Sink::Parquet { writer, .. } => {
                    writer.close().map_err(|e| Error::Parquet {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                }
            }
            bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        }
        Ok((self.rows, bytes))
    }
}

/// Generates the force described by `cfg`; `progress(done, total)` is called
/// as people are written.
pub fn run(cfg: &SynthConfig, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<SynthReport> {
    let started = Instant::now();
    if cfg.people < 10 {
        return Err(Error::Invalid(format!(
            "--people {} is too few; use at least 10",
            cfg.people
        )));
    }
    if cfg.days < 7 {
        return Err(Error::Invalid(format!(
            "--days {} is too few; use at least 7",
            cfg.days
        )));
    }
    let start_date = probity_core::time::parse_date(&cfg.start)
        .map_err(|e| Error::Invalid(format!("--start: {e}")))?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::Io {
        path: cfg.out.clone(),
        source: e,
    })?;
    let rules = TimeRules::new(probity_core::time::DEFAULT_TIME_ZONE).expect("bundled zone");
    let conv = Conventions::draw(cfg.conventions);
    let clock = csvout::Clock::with_form(rules, start_date, cfg.days, conv.time);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let world = world::World::build(
        cfg.people,
        start_date,
        cfg.days,
        cfg.public_records,
        conv,
        &mut rng,
    );
    let mut sinks = Sinks::create(&cfg.out, cfg.format)?;

    // Force-wide tables.
    let mut buf = vec![];
    for s in &world.sites {
        csvout::Row::new(&mut buf)
            .s(&s.id)
            .s(&s.name)
            .f(s.lat, 5)
            .f(s.lon, 5)
            .f(150.0, 0)
            .end();
    }
    sinks.write(Out::Sites as usize, &std::mem::take(&mut buf))?;
    for u in &world.units {
        csvout::Row::new(&mut buf)
            .s(&u.id)
            .s(&u.name)
            .s(&world.sites[u.site].id)
            .end();
    }
    sinks.write(Out::Units as usize, &std::mem::take(&mut buf))?;
    let mut links = vec![];
    for r in &world.records {
        csvout::Row::new(&mut buf)
            .s(&r.id)
            .s(r.list)
            .s(&r.full_name)
            .opt(r.dob.as_deref())
            .opt(r.postcode.as_deref())
            .s(&r.organisation)
            .s(r.role)
            .opt_date(r.valid_from)
            .opt_date(r.valid_to)
            .end();
        if let Some(p) = r.person {
            csvout::Row::new(&mut links)
                .s(&r.id)
                .s(&world.people[p].id)
                .end();
        }
    }
    sinks.write(Out::ReferenceRecords as usize, &std::mem::take(&mut buf))?;
    sinks.write(Out::Links as usize, &links)?;

    // People, in parallel, written in order.
    let n = world.people.len();
    let workers = std::thread::available_parallelism()
        .map_or(2, |c| c.get())
        .max(1);
    let (tx, rx) = sync_channel::<(usize, person::Chunk)>(workers * 16);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let seed = cfg.seed;
    let mut result = Ok(());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (world, clock, next) = (&world, &clock, &next);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let mut rng = ChaCha8Rng::seed_from_u64(
                        seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let chunk = person::person(world, &world.people[i], clock, &mut rng);
                    if tx.send((i, chunk)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, person::Chunk> = BTreeMap::new();
        let mut next_out = 0;
        for (i, chunk) in rx {
            waiting.insert(i, chunk);
            while let Some(chunk) = waiting.remove(&next_out) {
                if result.is_ok() {
                    for (k, bytes) in chunk.iter().enumerate() {
                        if let Err(e) = sinks.write(k, bytes) {
                            result = Err(e);
                            break;
                        }
                    }
                }
                next_out += 1;
                if next_out % 64 == 0 || next_out == n {
                    progress(next_out, n);
                }
            }
        }
    });
    result?;
    let (rows, bytes) = sinks.finish()?;
    let mut report = SynthReport {
        bytes,
        conventions: world.conv.describe(),
        ..Default::default()
    };
    for (i, r) in rows.iter().enumerate() {
        match Out::table(i) {
            Some(t) => {
                report.rows.insert(t.name(), *r);
            }
            None if i == Out::Truth as usize => report.truth_rows = *r,
            None if i == Out::Confounders as usize => report.confounder_rows = *r,
            None => {}
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_slots_follow_the_contract_table_order() {
        // `Out::table` maps slot i to `Table::ALL[i]`: the two lists must agree.
        let pairs = [
            (Out::Sites, Table::Sites),
            (Out::People, Table::People),
            (Out::Shifts, Table::Shifts),
            (Out::DeviceLocations, Table::DeviceLocations),
            (Out::ReferenceRecords, Table::ReferenceRecords),
            (Out::Complaints, Table::Complaints),
            (Out::EqualityMonitoring, Table::EqualityMonitoring),
        ];
        for (out, table) in pairs {
            assert_eq!(Out::table(out as usize), Some(table));
        }
        assert_eq!(Out::Truth as usize, Table::ALL.len());
        assert_eq!(Out::Links as usize + 1, Out::COUNT);
    }
}
