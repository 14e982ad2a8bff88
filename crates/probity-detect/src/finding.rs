//! Findings as the contract defines them, and their files:
//! `findings.jsonl` (one object per line) and `findings.parquet`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use probity_core::Scenario;
use probity_core::time::{days_to_date, parse_date};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A record that supports a finding: a table of the store and the row's key
/// (its primary key; `case_ref` for case tables).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    /// Contract table name.
    pub table: String,
    /// The row's id as stored.
    pub id: String,
}

impl Evidence {
    /// Evidence from a table and id.
    pub fn new(table: probity_core::schema::Table, id: impl Into<String>) -> Self {
        Evidence {
            table: table.name().to_string(),
            id: id.into(),
        }
    }
}

/// One of the things a finding measured: a number (hours covered, a
/// probability) or a word (the pay code learned, the window found).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fact {
    /// A number.
    Num(f64),
    /// Text: a code, a name, a date range.
    Text(String),
}

impl Fact {
    /// The number, if this fact is one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Fact::Num(n) => Some(*n),
            Fact::Text(_) => None,
        }
    }

    /// The text, if this fact is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Fact::Num(_) => None,
            Fact::Text(t) => Some(t),
        }
    }
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fact::Num(n) => write!(f, "{n}"),
            Fact::Text(t) => f.write_str(t),
        }
    }
}

/// One finding: a pattern in one person's records over a period, with the
/// numbers behind it and the records that support it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable id: the same input and configuration give the same id.
    pub finding_id: String,
    /// Contract scenario.
    pub scenario: Scenario,
    /// The detector that produced it.
    pub detector: String,
    /// The person as stored (pseudonym); replaced by the real id only when a
    /// run is authorised to reveal.
    pub person: String,
    /// First day covered (days since the epoch).
    pub period_start: i32,
    /// Last day covered.
    pub period_end: i32,
    /// 0..1, higher is stronger evidence.
    pub score: f64,
    /// One plain-English sentence citing the numbers.
    pub summary: String,
    /// What the summary cites, by name, so it can be checked.
    pub facts: BTreeMap<String, Fact>,
    /// Supporting records.
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// A finding; its id is assigned when the run collects it.
    pub fn new(
        scenario: Scenario,
        detector: &str,
        person: &str,
        (period_start, period_end): (i32, i32),
        score: f64,
        summary: String,
    ) -> Finding {
        Finding {
            finding_id: String::new(),
            scenario,
            detector: detector.to_string(),
            person: person.to_string(),
            period_start,
            period_end,
            score: score.clamp(0.0, 1.0),
            summary,
            facts: BTreeMap::new(),
            evidence: vec![],
        }
    }

    /// Adds a named number.
    pub fn fact(mut self, name: &str, value: f64) -> Self {
        self.facts.insert(name.to_string(), Fact::Num(value));
        self
    }

    /// Adds a named text (a code, a name, a window).
    pub fn fact_text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.facts
            .insert(name.to_string(), Fact::Text(value.into()));
        self
    }

    /// Adds supporting records.
    pub fn with_evidence(mut self, ev: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(ev);
        self
    }

    /// Sorts and de-duplicates the evidence and derives the stable id from
    /// detector, person (pseudonym), period and evidence.
    pub(crate) fn finish(&mut self) {
        self.evidence.sort();
        self.evidence.dedup();
        let mut h = blake3::Hasher::new();
        for part in [
            self.detector.as_str(),
            self.person.as_str(),
            &self.period_start.to_string(),
            &self.period_end.to_string(),
        ] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for e in &self.evidence {
            h.update(e.table.as_bytes());
            h.update(&[1]);
            h.update(e.id.as_bytes());
            h.update(&[0]);
        }
        let hex = h.finalize().to_hex();
        self.finding_id = format!("f-{}", &hex[..20]);
    }
}

/// The JSON form of one line of `findings.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Stable id.
    pub finding_id: String,
    /// Scenario id.
    pub scenario: String,
    /// Detector id.
    pub detector: String,
    /// Pseudonym, or the real id in a revealed run.
    pub person_id: String,
    /// `YYYY-MM-DD`.
    pub period_start: String,
    /// `YYYY-MM-DD`.
    pub period_end: String,
    /// 0..1.
    pub score: f64,
    /// The sentence.
    pub summary: String,
    /// What the sentence cites: numbers, and words such as a learned code.
    #[serde(default)]
    pub facts: BTreeMap<String, Fact>,
    /// Supporting records.
    pub evidence: Vec<Evidence>,
}

/// How person ids are written.
pub enum Identity<'a> {
    /// As stored: pseudonyms.
    Pseudonyms,
    /// Real ids, from the vault's pseudonym → id map.
    Revealed(&'a BTreeMap<String, String>),
}

/// The contract record of a finding, with person ids written as `who` says.
pub fn record(f: &Finding, who: &Identity<'_>) -> FindingRecord {
    let person_id = match who {
        Identity::Pseudonyms => f.person.clone(),
        Identity::Revealed(map) => map
            .get(&f.person)
            .cloned()
            .unwrap_or_else(|| f.person.clone()),
    };
    FindingRecord {
        finding_id: f.finding_id.clone(),
        scenario: f.scenario.id().to_string(),
        detector: f.detector.clone(),
        person_id,
        period_start: days_to_date(f.period_start).to_string(),
        period_end: days_to_date(f.period_end).to_string(),
        score: (f.score * 1e4).round() / 1e4,
        summary: f.summary.clone(),
        facts: f.facts.clone(),
        evidence: f.evidence.clone(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `findings.jsonl`.
pub fn write_jsonl(path: &Path, findings: &[Finding], who: &Identity<'_>) -> Result<()> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    let mut w = BufWriter::new(file);
    for f in findings {
        serde_json::to_writer(&mut w, &record(f, who)).map_err(|e| io(path)(e.into()))?;
        w.write_all(b"\n").map_err(io(path))?;
    }
    let file = w.into_inner().map_err(|e| io(path)(e.into_error()))?;
    file.sync_all().map_err(io(path))
}

/// The Arrow schema of `findings.parquet`.
pub fn parquet_schema() -> Arc<Schema> {
    let ev = Fields::from(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("finding_id", DataType::Utf8, false),
        Field::new("scenario", DataType::Utf8, false),
        Field::new("detector", DataType::Utf8, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("period_start", DataType::Date32, false),
        Field::new("period_end", DataType::Date32, false),
        Field::new("score", DataType::Float64, false),
        Field::new("summary", DataType::Utf8, false),
        Field::new("facts", DataType::Utf8, false),
        Field::new(
            "evidence",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(ev), true))),
            false,
        ),
    ]))
}

/// Writes `findings.parquet` (facts as a JSON object string).
pub fn write_parquet(path: &Path, findings: &[Finding], who: &Identity<'_>) -> Result<()> {
    let recs: Vec<FindingRecord> = findings.iter().map(|f| record(f, who)).collect();
    let schema = parquet_schema();
    let s = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let ev_fields = Fields::from(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
    ]);
    let mut ev = ListBuilder::new(StructBuilder::from_fields(ev_fields, 0)).with_field(Arc::new(
        Field::new(
            "item",
            DataType::Struct(Fields::from(vec![
                Field::new("table", DataType::Utf8, false),
                Field::new("id", DataType::Utf8, false),
            ])),
            true,
        ),
    ));
    for r in &recs {
        let sb = ev.values();
        for e in &r.evidence {
            sb.field_builder::<StringBuilder>(0)
                .expect("table field")
                .append_value(&e.table);
            sb.field_builder::<StringBuilder>(1)
                .expect("id field")
                .append_value(&e.id);
            sb.append(true);
        }
        ev.append(true);
    }
    let facts: Vec<String> = recs
        .iter()
        .map(|r| serde_json::to_string(&r.facts).expect("facts serialise"))
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            s(recs.iter().map(|r| r.finding_id.as_str()).collect()),
            s(recs.iter().map(|r| r.scenario.as_str()).collect()),
            s(recs.iter().map(|r| r.detector.as_str()).collect()),
            s(recs.iter().map(|r| r.person_id.as_str()).collect()),
            Arc::new(Date32Array::from(
                findings.iter().map(|f| f.period_start).collect::<Vec<_>>(),
            )),
            Arc::new(Date32Array::from(
                findings.iter().map(|f| f.period_end).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                recs.iter().map(|r| r.score).collect::<Vec<_>>(),
            )),
            s(recs.iter().map(|r| r.summary.as_str()).collect()),
            s(facts.iter().map(String::as_str).collect()),
            Arc::new(ev.finish()),
        ],
    )
    .expect("findings batch matches its schema");
    let file = std::fs::File::create(path).map_err(io(path))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level")))
        .build();
    let perr = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(perr)?;
    w.write(&batch).map_err(perr)?;
    let file = w.into_inner().map_err(perr)?;
    file.sync_all().map_err(io(path))
}

/// Reads `findings.jsonl` (any producer's, as long as it follows the
/// contract). Errors name the line and field.
pub fn read_jsonl(path: &Path) -> Result<Vec<FindingRecord>> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut out = vec![];
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let fmt = |reason: String| Error::Format {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let r: FindingRecord = serde_json::from_str(&line).map_err(|e| {
            fmt(format!(
                "{e}; each line must be a JSON object with finding_id, scenario, detector, \
                 person_id, period_start, period_end, score, summary, evidence"
            ))
        })?;
        if Scenario::from_id(&r.scenario).is_none() {
            return Err(fmt(format!(
                "scenario {:?} is not a contract scenario id",
                r.scenario
            )));
        }
        for (field, v) in [
            ("period_start", &r.period_start),
            ("period_end", &r.period_end),
        ] {
            parse_date(v).map_err(|e| fmt(format!("{field}: {e}")))?;
        }
        out.push(r);
    }
    Ok(out)
}
