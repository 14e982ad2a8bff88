//! Running a mapping: source files in, contract tables out, every source row
//! accounted for.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::expr::{self, Expr, Row};
use crate::spec::{Fill, Mapping, Source, Target};
use crate::{Error, Result};

pub use probity_core::SOURCE_COLUMN;

/// The directory, inside the output directory, with the report and the rows
/// the mapping rejected. Ingest ignores it.
pub const REPORT_DIR: &str = "_mapping";

/// What happened to the rows of one target table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    /// The contract table.
    pub table: String,
    /// The source file (or `mapping` for rows written in the mapping).
    pub source: String,
    /// Source rows read.
    pub read: u64,
    /// Rows written to the table file.
    pub written: u64,
    /// Rows left out by a skip rule, by its reason.
    pub skipped: BTreeMap<String, u64>,
    /// Rows rejected (a value could not be converted, a required lookup
    /// found nothing), by `column: reason`.
    pub rejected: BTreeMap<String, u64>,
    /// Rows identical to one already written (`distinct` tables only).
    pub merged: u64,
    /// The file of rejected rows, relative to the output directory.
    pub rejected_file: Option<String>,
}

impl TableReport {
    /// Rows read = written + skipped + rejected + merged: nothing is lost
    /// without a count.
    pub fn balances(&self) -> bool {
        self.read
            == self.written
                + self.skipped.values().sum::<u64>()
                + self.rejected.values().sum::<u64>()
                + self.merged
    }
}

/// The result of a mapping run, written to `_mapping/report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The mapping's name.
    pub mapping: String,
    /// BLAKE3 of the mapping file.
    pub mapping_hash: String,
    /// One entry per target table, in contract order.
    pub tables: Vec<TableReport>,
}

struct CsvSource {
    reader: csv::Reader<Box<dyn Read + Send>>,
    header: Vec<String>,
    file: String,
}

fn open(dir: &Path, s: &Source) -> Result<CsvSource> {
    let path = dir.join(&s.file);
    let f = File::open(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let inner: Box<dyn Read + Send> = if s.file.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            f,
        )))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(s.delimiter)
        .flexible(true)
        .from_reader(inner);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_err(&path, &e))?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    Ok(CsvSource {
        reader,
        header,
        file: s.file.clone(),
    })
}

fn csv_err(path: &Path, e: &csv::Error) -> Error {
    Error::Source {
        file: path.display().to_string(),
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    }
}

/// A source loaded for lookups: key → the referenced columns' values.
struct Lookup {
    rows: HashMap<String, Vec<String>>,
    columns: Vec<String>,
}

fn load_lookup(dir: &Path, s: &Source, columns: Vec<String>, repeats: &mut u64) -> Result<Lookup> {
    let mut src = open(dir, s)?;
    let path = dir.join(&s.file);
    let key = s.key.as_deref().expect("checked at load");
    let ki = index(
        &src.header,
        key,
        &s.file,
        &format!("[sources.{}] key", s.name),
    )?;
    let idx = columns
        .iter()
        .map(|c| index(&src.header, c, &s.file, &format!("{}.{c}", s.name)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = HashMap::new();
    let mut rec = csv::ByteRecord::new();
    while src
        .reader
        .read_byte_record(&mut rec)
        .map_err(|e| csv_err(&path, &e))?
    {
        let k = String::from_utf8_lossy(rec.get(ki).unwrap_or_default()).into_owned();
        let vals = idx
            .iter()
            .map(|&i| String::from_utf8_lossy(rec.get(i).unwrap_or_default()).into_owned())
            .collect();
        match rows.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => *repeats += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(vals);
            }
        }
    }
    Ok(Lookup { rows, columns })
}

fn index(header: &[String], column: &str, file: &str, used_by: &str) -> Result<usize> {
    header.iter().position(|h| h == column).ok_or_else(|| Error::Source {
        file: file.to_owned(),
        line: 1,
        message: format!(
            "{used_by} reads column {column:?}, which the header does not have; its columns are {}",
            header.join(", ")
        ),
    })
}

/// A source row with its joined rows, as expressions see it.
struct Current<'a> {
    header: &'a HashMap<String, usize>,
    fields: Vec<String>,
    joined: Vec<(&'a str, &'a Lookup, Option<&'a Vec<String>>)>,
}

impl Row for Current<'_> {
    fn get(&self, source: Option<&str>, column: &str) -> &str {
        match source {
            None => self
                .header
                .get(column)
                .and_then(|&i| self.fields.get(i))
                .map_or("", String::as_str),
            Some(s) => self
                .joined
                .iter()
                .find(|(name, _, _)| *name == s)
                .and_then(|(_, l, row)| {
                    let i = l.columns.iter().position(|c| c == column)?;
                    row.map(|r| r[i].as_str())
                })
                .unwrap_or(""),
        }
    }
}

/// Maps the sources in `source_dir` into contract tables in `out_dir`
/// (created if needed; table files there are replaced). `progress` is told
/// each table as it starts.
pub fn run(
    mapping: &Mapping,
    source_dir: &Path,
    out_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let report_dir = out_dir.join(REPORT_DIR);
    std::fs::create_dir_all(&report_dir).map_err(|e| Error::Io {
        path: report_dir.clone(),
        source: e,
    })?;
    // Which columns of each lookup source the mapping reads.
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &mapping.targets {
        if let Fill::From {
            columns,
            joins,
            skips,
            ..
        } = &t.fill
        {
            let exprs = columns
                .iter()
                .map(|c| &c.expr)
                .chain(joins.iter().map(|j| &j.on))
                .chain(skips.iter().map(|s| &s.when));
            for e in exprs {
                for (src, col) in e.columns() {
                    if let Some(src) = src {
                        let v = wanted.entry(src).or_default();
                        if !v.contains(&col) {
                            v.push(col);
                        }
                    }
                }
            }
        }
    }
    let mut lookups: BTreeMap<String, Lookup> = BTreeMap::new();
    for (name, cols) in wanted {
        progress(&format!("loading {name} for lookups"));
        let mut n = 0;
        let l = load_lookup(source_dir, &mapping.sources[&name], cols, &mut n)?;
        if n > 0 {
            return Err(Error::Source {
                file: mapping.sources[&name].file.clone(),
                line: 0,
                message: format!(
                    "{n} row(s) repeat a key of column {:?}, so lookups by it are ambiguous; \
                     choose a key that is unique in the file",
                    mapping.sources[&name].key.as_deref().unwrap_or("")
                ),
            });
        }
        lookups.insert(name, l);
    }

    let mut tables = Vec::new();
    for t in &mapping.targets {
        progress(t.table.name());
        tables.push(run_table(mapping, t, source_dir, out_dir, &lookups)?);
    }
    let report = Report {
        mapping: mapping.name.clone(),
        mapping_hash: mapping.hash.clone(),
        tables,
    };
    let path = report_dir.join("report.json");
    let json = serde_json::to_vec_pretty(&report).expect("report serialises");
    std::fs::write(&path, json).map_err(|e| Error::Io { path, source: e })?;
    Ok(report)
}

fn writer(path: &Path) -> Result<csv::Writer<File>> {
    csv::Writer::from_path(path).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn write(w: &mut csv::Writer<File>, path: &Path, row: &[&str]) -> Result<()> {
    w.write_record(row).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn run_table(
    mapping: &Mapping,
    t: &Target,
    source_dir: &Path,
    out_dir: &Path,
    lookups: &BTreeMap<String, Lookup>,
) -> Result<TableReport> {
    let name = t.table.name();
    let out_path = out_dir.join(format!("{name}.csv"));
    let mut rep = TableReport {
        table: name.to_owned(),
        ..TableReport::default()
    };
    let (source, joins, skips, distinct, columns) = match &t.fill {
        Fill::Rows(rows) => {
            rep.source = "mapping".into();
            let cols: Vec<&str> = t
                .table
                .def()
                .columns
                .iter()
                .map(|c| c.name)
                .filter(|c| rows.iter().any(|r| r.contains_key(*c)))
                .collect();
            let mut w = writer(&out_path)?;
            let mut header = cols.clone();
            header.push(SOURCE_COLUMN);
            write(&mut w, &out_path, &header)?;
            for (i, r) in rows.iter().enumerate() {
                let prov = format!("{}:rows[{i}]", mapping.path.display());
                let mut vals: Vec<&str> = cols
                    .iter()
                    .map(|c| r.get(*c).map_or("", String::as_str))
                    .collect();
                vals.push(&prov);
                write(&mut w, &out_path, &vals)?;
                rep.read += 1;
                rep.written += 1;
            }
            w.flush().map_err(|e| Error::Io {
                path: out_path.clone(),
                source: e,
            })?;
            return Ok(rep);
        }
        Fill::From {
            source,
            joins,
            skips,
            distinct,
            columns,
        } => (source, joins, skips, *distinct, columns),
    };
    let src_def = &mapping.sources[source];
    let mut src = open(source_dir, src_def)?;
    rep.source = src.file.clone();
    let src_path = source_dir.join(&src_def.file);
    let header: HashMap<String, usize> = src
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), i))
        .collect();
    // Every own-source column an expression reads must be in the header.
    let all_exprs: Vec<(&Expr, String)> = columns
        .iter()
        .map(|c| (&c.expr, format!("[tables.{name}] {}", c.name)))
        .chain(
            joins
                .iter()
                .map(|j| (&j.on, format!("[tables.{name}] join {}", j.source))),
        )
        .chain(
            skips
                .iter()
                .map(|s| (&s.when, format!("[tables.{name}] skip"))),
        )
        .collect();
    for (e, used_by) in &all_exprs {
        for (s, c) in e.columns() {
            if s.is_none() {
                index(&src.header, &c, &src.file, used_by)?;
            }
        }
    }

    let mut w = writer(&out_path)?;
    let mut head: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    head.push(SOURCE_COLUMN);
    write(&mut w, &out_path, &head)?;
    let rej_rel = format!("{REPORT_DIR}/rejected-{name}.csv");
    let rej_path = out_dir.join(&rej_rel);
    let mut rejw: Option<csv::Writer<File>> = None;
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut rec = csv::ByteRecord::new();
    let mut vals: Vec<String> = Vec::with_capacity(columns.len() + 1);
    loop {
        let more = src
            .reader
            .read_byte_record(&mut rec)
            .map_err(|e| csv_err(&src_path, &e))?;
        if !more {
            break;
        }
        rep.read += 1;
        let line = rec.position().map_or(0, csv::Position::line);
        let prov = format!("{}:{line}", src.file);
        let mut fields = Vec::with_capacity(rec.len());
        let mut bad_utf8 = None;
        for (i, f) in rec.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s.to_owned()),
                Err(_) => {
                    bad_utf8.get_or_insert(i);
                    fields.push(String::from_utf8_lossy(f).into_owned());
                }
            }
        }
        let mut cur = Current {
            header: &header,
            fields,
            joined: Vec::new(),
        };
        let outcome = (|| -> std::result::Result<Option<String>, (String, String, String)> {
            if let Some(i) = bad_utf8 {
                return Err((
                    src.header.get(i).cloned().unwrap_or_default(),
                    cur.fields[i].clone(),
                    "not valid UTF-8".into(),
                ));
            }
            for j in joins {
                let l = &lookups[&j.source];
                let key = expr::eval(&j.on, &cur, &mapping.values)
                    .map_err(|r| (format!("join {}", j.source), r.value, r.reason))?;
                let found = l.rows.get(&key);
                if found.is_none() && j.required {
                    return Err((
                        format!("join {}", j.source),
                        key,
                        format!("no row of {} has this key", j.source),
                    ));
                }
                cur.joined.push((j.source.as_str(), l, found));
            }
            for s in skips {
                let v = expr::eval(&s.when, &cur, &mapping.values)
                    .map_err(|r| ("skip".to_owned(), r.value, r.reason))?;
                if !v.is_empty() {
                    return Ok(Some(s.reason.clone()));
                }
            }
            vals.clear();
            for c in columns {
                let v = expr::eval(&c.expr, &cur, &mapping.values)
                    .map_err(|r| (c.name.clone(), r.value, r.reason))?;
                vals.push(v);
            }
            Ok(None)
        })();
        match outcome {
            Ok(Some(reason)) => *rep.skipped.entry(reason).or_default() += 1,
            Ok(None) => {
                if distinct {
                    let mut h = blake3::Hasher::new();
                    for v in &vals {
                        h.update(&(v.len() as u64).to_le_bytes());
                        h.update(v.as_bytes());
                    }
                    if !seen.insert(*h.finalize().as_bytes()) {
                        rep.merged += 1;
                        continue;
                    }
                }
                let mut row: Vec<&str> = vals.iter().map(String::as_str).collect();
                row.push(&prov);
                write(&mut w, &out_path, &row)?;
                rep.written += 1;
            }
            Err((column, value, reason)) => {
                *rep.rejected
                    .entry(format!("{column}: {reason}"))
                    .or_default() += 1;
                let rw = match rejw.as_mut() {
                    Some(r) => r,
                    None => {
                        let mut r = writer(&rej_path)?;
                        write(
                            &mut r,
                            &rej_path,
                            &["file", "line", "column", "value", "reason"],
                        )?;
                        rep.rejected_file = Some(rej_rel.clone());
                        rejw.insert(r)
                    }
                };
                write(
                    rw,
                    &rej_path,
                    &[&src.file, &line.to_string(), &column, &value, &reason],
                )?;
            }
        }
    }
    for (w, p) in [(Some(&mut w), &out_path), (rejw.as_mut(), &rej_path)] {
        if let Some(w) = w {
            w.flush().map_err(|e| Error::Io {
                path: PathBuf::from(p),
                source: e,
            })?;
        }
    }
    debug_assert!(rep.balances());
    Ok(rep)
}
