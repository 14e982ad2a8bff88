//! Typed row values and the Parquet writers they go to: the analytical table
//! (one file per month for event tables), the identity vault (built in
//! memory and sealed by the store: its plaintext never reaches the disk),
//! and the quarantine CSV.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use probity_core::Table;
use probity_core::time::civil_from_days;
use probity_store::StagedBatch;

use crate::{Error, Result};

/// Rows buffered in Arrow builders before they are handed to the Parquet writer.
const FLUSH_ROWS: usize = 32 * 1024;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// One parsed cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// Empty optional cell.
    #[default]
    Null,
    /// Text; the string lives in the row's text buffer at this index.
    Text(usize),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    /// A number.
    Float(f64),
}

/// One row ready to write: cells in contract column order, with the text
/// they refer to.
#[derive(Debug, Default)]
pub struct Row {
    /// Cells, one per contract column.
    pub cells: Vec<Value>,
    /// Text storage for `Value::Text`.
    pub texts: Vec<String>,
    used_texts: usize,
}

impl Row {
    /// Empties the row, keeping its allocations.
    pub fn clear(&mut self, columns: usize) {
        self.cells.clear();
        self.cells.resize(columns, Value::Null);
        self.used_texts = 0;
    }

    /// A text buffer to fill, and the value that refers to it.
    pub fn text_slot(&mut self) -> (&mut String, Value) {
        if self.used_texts == self.texts.len() {
            self.texts.push(String::new());
        }
        let i = self.used_texts;
        self.used_texts += 1;
        let s = &mut self.texts[i];
        s.clear();
        (s, Value::Text(i))
    }

    /// The text of a cell, if it is text.
    pub fn text(&self, col: usize) -> Option<&str> {
        match self.cells[col] {
            Value::Text(i) => Some(&self.texts[i]),
            _ => None,
        }
    }
}

enum ColBuilder {
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Float(Float64Builder),
}

impl ColBuilder {
    fn new(ty: &DataType) -> Self {
        match ty {
            DataType::Utf8 => ColBuilder::Text(StringBuilder::new()),
            DataType::Date32 => ColBuilder::Date(Date32Builder::new()),
            DataType::Timestamp(_, tz) => ColBuilder::Timestamp(
                TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()),
            ),
            DataType::Float64 => ColBuilder::Float(Float64Builder::new()),
            other => unreachable!("no stored column has type {other} (a bug)"),
        }
    }

    fn append(&mut self, v: &Value, row: &Row) {
        match (self, v) {
            (ColBuilder::Text(b), Value::Text(i)) => b.append_value(&row.texts[*i]),
            (ColBuilder::Date(b), Value::Date(d)) => b.append_value(*d),
            (ColBuilder::Timestamp(b), Value::Timestamp(t)) => b.append_value(*t),
            (ColBuilder::Float(b), Value::Float(f)) => b.append_value(*f),
            (ColBuilder::Text(b), Value::Null) => b.append_null(),
            (ColBuilder::Date(b), Value::Null) => b.append_null(),
            (ColBuilder::Timestamp(b), Value::Null) => b.append_null(),
            (ColBuilder::Float(b), Value::Null) => b.append_null(),
            (_, v) => unreachable!("value {v:?} does not fit its column (a bug)"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Text(b) => Arc::new(b.finish()),
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColBuilder::Float(b) => Arc::new(b.finish()),
        }
    }
}

/// Bytes a table's open month files may buffer (their unfinished row
/// groups) before the largest is cut short: rows arrive person by person,
/// so every month of a year is open at once, and at 256k rows a row group
/// of look-ups is about 20 MB.
const BUFFER_BUDGET: usize = 32 << 20;

fn writer_properties(unique: Option<&str>) -> WriterProperties {
    let b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    match unique {
        // A primary key never repeats: a dictionary of it only costs time
        // until the writer gives up on it at each row group.
        Some(column) => b
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .build(),
        None => b.build(),
    }
}

/// A Parquet file being written from rows, to a file or (`W = Vec<u8>`)
/// to memory.
pub struct PartWriter<W: Write + Send = File> {
    schema: SchemaRef,
    builders: Vec<ColBuilder>,
    buffered: usize,
    writer: ArrowWriter<W>,
    path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

impl PartWriter<File> {
    /// Creates the file (of a table whose column `unique` holds its key).
    fn create_keyed(path: &Path, schema: SchemaRef, unique: Option<&str>) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        PartWriter::new(file, path, schema, unique)
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer
            .close()
            .map_err(|e| Error::parquet(&self.path, e))?;
        Ok(self.rows)
    }
}

impl PartWriter<Vec<u8>> {
    /// A Parquet file built in memory; `label` names it in errors.
    pub fn in_memory(label: &Path, schema: SchemaRef) -> Result<Self> {
        PartWriter::new(Vec::new(), label, schema, None)
    }

    /// Flushes and closes the file; returns the rows and the file's bytes.
    pub fn finish_bytes(mut self) -> Result<(u64, Vec<u8>)> {
        self.flush()?;
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| Error::parquet(&self.path, e))?;
        Ok((self.rows, bytes))
    }
}

impl<W: Write + Send> PartWriter<W> {
    fn new(sink: W, path: &Path, schema: SchemaRef, unique: Option<&str>) -> Result<Self> {
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties(unique)))
            .map_err(|e| Error::parquet(path, e))?;
        Ok(PartWriter {
            builders: schema
                .fields()
                .iter()
                .map(|f| ColBuilder::new(f.data_type()))
                .collect(),
            schema,
            buffered: 0,
            writer,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    /// Appends the cells `row.cells[i]` for each `i` in `columns`, in order.
    pub fn append(&mut self, row: &Row, columns: &[usize]) -> Result<()> {
        for (b, &c) in self.builders.iter_mut().zip(columns) {
            b.append(&row.cells[c], row);
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Bytes held for the unfinished row group.
    fn buffered_bytes(&self) -> usize {
        self.writer.memory_size()
    }

    /// Ends the current row group early.
    fn end_row_group(&mut self) -> Result<()> {
        self.flush()?;
        self.writer
            .flush()
            .map_err(|e| Error::parquet(&self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays = self.builders.iter_mut().map(ColBuilder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::Internal(format!("building a record batch: {e}")))?;
        self.buffered = 0;
        self.writer
            .write(&batch)
            .map_err(|e| Error::parquet(&self.path, e))
    }
}

/// A table's identity-vault part: Parquet built in memory (the vault is
/// small: one row per person or record), sealed and written by the store
/// when finished.
pub struct VaultWriter<'a> {
    batch: &'a StagedBatch,
    table: Table,
    part: PartWriter<Vec<u8>>,
}

impl<'a> VaultWriter<'a> {
    /// A writer of `table`'s vault rows (`schema`: its vault schema) in `batch`.
    pub fn new(batch: &'a StagedBatch, table: Table, schema: SchemaRef) -> Result<Self> {
        let label = PathBuf::from(format!("identity vault of {}", table.name()));
        Ok(VaultWriter {
            batch,
            table,
            part: PartWriter::in_memory(&label, schema)?,
        })
    }

    /// Appends the cells `row.cells[i]` for each `i` in `columns`, in order.
    pub fn append(&mut self, row: &Row, columns: &[usize]) -> Result<()> {
        self.part.append(row, columns)
    }

    /// Seals and writes the part if it holds any row; returns its
    /// store-relative path.
    pub fn finish(self) -> Result<Option<String>> {
        let (rows, bytes) = self.part.finish_bytes()?;
        if rows == 0 {
            return Ok(None);
        }
        Ok(Some(self.batch.write_vault(self.table, bytes)?))
    }
}

/// The month (UTC) of an instant or date, as `year * 12 + month - 1`:
/// cheap to compute for every row, and sortable.
fn month_key(v: &Value) -> Option<i32> {
    let days = match v {
        Value::Date(d) => *d,
        Value::Timestamp(us) => us.div_euclid(86_400_000_000) as i32,
        _ => return None,
    };
    Some(month_of_day(days))
}

/// The month of a day number (days since 1970-01-01), as
/// `year * 12 + month - 1` — the store's partition key.
pub(crate) fn month_of_day(days: i32) -> i32 {
    let (y, m, _) = civil_from_days(i64::from(days));
    (y * 12 + m - 1) as i32
}

/// The partition directory's name for a month key (`YYYY-MM`).
pub(crate) fn month_name(key: i32) -> String {
    format!("{:04}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1)
}

/// The month key of a partitioned file from its store-relative path
/// (`…/month=YYYY-MM/…`); `None` for a file outside any month.
pub(crate) fn month_in_path(rel: &str) -> Option<i32> {
    let at = rel.find("month=")? + "month=".len();
    let ym = rel.get(at..at + 7)?;
    let (y, m) = ym.split_once('-')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// Writers of one table's analytical rows, one file per month partition
/// (or a single file for tables that are not partitioned).
pub struct PartitionedWriter<'a> {
    batch: &'a StagedBatch,
    table: Table,
    part: usize,
    open: BTreeMap<Option<i32>, (String, PartWriter)>,
    /// Rows since the buffers were last measured.
    since_check: usize,
}

impl<'a> PartitionedWriter<'a> {
    /// A writer for `table`'s stored schema in `batch`; `part` numbers its
    /// files within each partition when several workers write the same
    /// table (0 when one does).
    pub fn new_part(batch: &'a StagedBatch, table: Table, part: usize) -> Self {
        PartitionedWriter {
            batch,
            table,
            part,
            open: BTreeMap::new(),
            since_check: 0,
        }
    }

    /// Appends a row; `partition` is the cell that decides its month, `None`
    /// for tables that are not partitioned.
    pub fn append(
        &mut self,
        row: &Row,
        columns: &[usize],
        partition: Option<&Value>,
    ) -> Result<()> {
        let key = partition.and_then(month_key);
        let (_, writer) = match self.open.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let month = key.map(month_name);
                let (abs, rel) =
                    self.batch
                        .data_file_part(self.table, month.as_deref(), self.part)?;
                let def = self.table.def();
                let w = PartWriter::create_keyed(&abs, def.stored_schema(), def.primary_key)?;
                e.insert((rel, w))
            }
        };
        writer.append(row, columns)?;
        self.since_check += 1;
        if self.since_check >= FLUSH_ROWS && self.open.len() > 1 {
            self.since_check = 0;
            let held: usize = self.open.values().map(|(_, w)| w.buffered_bytes()).sum();
            if held > BUFFER_BUDGET
                && let Some((_, w)) = self
                    .open
                    .values_mut()
                    .max_by_key(|(_, w)| w.buffered_bytes())
            {
                w.end_row_group()?;
            }
        }
        Ok(())
    }

    /// Closes every partition; returns the store-relative file names.
    pub fn finish(self) -> Result<Vec<String>> {
        let mut files = Vec::with_capacity(self.open.len());
        for (_, (rel, w)) in self.open {
            w.finish()?;
            files.push(rel);
        }
        Ok(files)
    }
}

/// The columns a quarantine file starts with, before the row as read (a
/// file with this header being ingested is a retried quarantine).
pub(crate) const QUARANTINE_PREFIX: [&str; 4] = ["_source_file", "_line", "_field", "_reason"];

/// The quarantine CSV of one table: the reason, then the row as it was read.
pub struct QuarantineWriter {
    writer: csv::Writer<File>,
    path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

impl QuarantineWriter {
    /// Creates the file with a header: `source_file,line,field,reason` then the
    /// source's own column names, so a fixed file can be ingested again.
    pub fn create(path: &Path, source_header: &[Vec<u8>]) -> Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        let mut header: Vec<&[u8]> = QUARANTINE_PREFIX.iter().map(|c| c.as_bytes()).collect();
        header.extend(source_header.iter().map(Vec::as_slice));
        writer
            .write_record(header)
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        Ok(QuarantineWriter {
            writer,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    /// Writes one refused row with its raw fields, byte for byte.
    pub fn write(
        &mut self,
        source: &str,
        line: u64,
        field: &str,
        reason: &str,
        raw: impl Iterator<Item = impl AsRef<[u8]>>,
    ) -> Result<()> {
        let line = line.to_string();
        let mut rec = csv::ByteRecord::new();
        for f in [
            source.as_bytes(),
            line.as_bytes(),
            field.as_bytes(),
            reason.as_bytes(),
        ] {
            rec.push_field(f);
        }
        for f in raw {
            rec.push_field(f.as_ref());
        }
        self.writer
            .write_byte_record(&rec)
            .map_err(|e| Error::Internal(format!("{}: {e}", self.path.display())))?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<u64> {
        self.writer.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(self.rows)
    }
}
