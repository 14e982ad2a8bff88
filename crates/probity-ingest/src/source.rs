//! Finding the tables in a data directory and reading their rows, from CSV or
//! Parquet, as raw byte fields with line (or row) numbers. A Parquet column
//! whose type is already the contract's (a timestamp with a time zone, a
//! date, a double) is read as its value, not through text.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Float64Array, StringArray};
use arrow::array::{TimestampMicrosecondArray, types};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use probity_core::time::{date_to_days, days_to_date};
use probity_core::{ColType, Table};

use crate::{Error, Result};

/// The format of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// A table file found in the data directory.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The table it holds.
    pub table: Table,
    /// Its path.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// Its format.
    pub format: Format,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Files `probity synth` writes beside the tables (the ground truth), which
/// a data directory may hold and ingest leaves alone.
pub const GROUND_TRUTH_FILES: &[&str] = &["truth", "confounders", "reference_links"];

/// The contract table whose file name `stem` most likely meant (a typo or a
/// singular), if one is close.
pub fn did_you_mean(stem: &str) -> Option<&'static str> {
    let stem = stem.to_ascii_lowercase();
    Table::ALL
        .iter()
        .map(|t| (strsim::levenshtein(&stem, t.name()), t.name()))
        .filter(|(d, name)| *d <= 2.max(name.len() / 5))
        .min()
        .map(|(_, name)| name)
}

/// The table files of a directory, and warnings about everything else in it.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Table files, in ingest order.
    pub files: Vec<SourceInfo>,
    /// Files that are not tables (ignored), one line each.
    pub warnings: Vec<String>,
}

/// How a text file ends its lines, judged from its first 64 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n` (or no line break seen).
    Lf,
    /// `\r\n`.
    CrLf,
    /// `\r` alone (old Mac exports).
    Cr,
}

impl LineEnding {
    /// Of the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<LineEnding> {
        use std::io::Read;
        let mut buf = vec![0u8; 64 * 1024];
        let mut f = File::open(path)?;
        let mut n = 0;
        while n < buf.len() {
            let k = f.read(&mut buf[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        let head = &buf[..n];
        Ok(if head.windows(2).any(|w| w == b"\r\n") {
            LineEnding::CrLf
        } else if head.contains(&b'\r') && !head.contains(&b'\n') {
            LineEnding::Cr
        } else {
            LineEnding::Lf
        })
    }
}

/// Field `field` of every record of a plain CSV file that has `fields`
/// fields, header excepted, as [`RowReader`] reads them, for a pass that
/// needs one column only (keys): line breaks and commas found with
/// `memchr`, without the CSV state machine. "Plain" is a file without a
/// quote character and without a carriage return other than before a line
/// feed; at the first sign that a file is not, the scan stops and returns
/// `Ok(false)` (having called `each` only for records read exactly as the
/// CSV reader reads them), and the caller reads the file with
/// [`RowReader`] instead. Blank lines are skipped, as the CSV reader skips
/// them.
pub fn scan_plain_csv(
    path: &Path,
    field: usize,
    fields: usize,
    each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<bool> {
    scan_plain_csv_in(path, field, fields, 8 << 20, each)
}

/// [`scan_plain_csv`] reading `chunk` bytes at a time (tests use small
/// chunks, so that lines and line breaks straddle them).
fn scan_plain_csv_in(
    path: &Path,
    field: usize,
    fields: usize,
    chunk: usize,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<bool> {
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; chunk.max(1)];
    // Bytes of an unfinished line carried to the front of `buf`.
    let mut carry = 0;
    let mut header = true;
    let mut line = |l: &[u8]| -> Result<bool> {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if memchr::memchr(b'\r', l).is_some() {
            return Ok(false);
        }
        if l.is_empty() {
            return Ok(true);
        }
        if std::mem::take(&mut header) {
            return Ok(true);
        }
        let (mut n, mut start, mut found) = (0, 0, None);
        for comma in memchr::memchr_iter(b',', l) {
            if n == field {
                found = Some(&l[start..comma]);
            }
            n += 1;
            start = comma + 1;
        }
        if n == field {
            found = Some(&l[start..]);
        }
        if n + 1 == fields {
            // A field past the last is empty, as the reader's is.
            each(found.unwrap_or(b""))?;
        }
        Ok(true)
    };
    loop {
        if carry == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let k = file
            .read(&mut buf[carry..])
            .map_err(|e| Error::io(path, e))?;
        let end = carry + k;
        if memchr::memchr(b'"', &buf[carry..end]).is_some() {
            return Ok(false);
        }
        if k == 0 {
            // The last line, without a line break.
            return if carry > 0 {
                line(&buf[..carry])
            } else {
                Ok(true)
            };
        }
        let mut from = 0;
        // The carried bytes hold no line break.
        for nl in memchr::memchr_iter(b'\n', &buf[carry..end]).map(|i| i + carry) {
            if !line(&buf[from..nl])? {
                return Ok(false);
            }
            from = nl + 1;
        }
        buf.copy_within(from..end, 0);
        carry = end - from;
    }
}

/// Lists the table files of `dir`. A `.csv` or `.parquet` file that names
/// no contract table is an error (with the table it most likely meant),
/// unless `allow_extra` (a folder holding other exports too) or it is the
/// synthetic ground truth; files of other kinds (a README) are noted and
/// ignored.
pub fn discover(dir: &Path, allow_extra: bool) -> Result<Discovery> {
    if !dir.is_dir() {
        return Err(Error::Input {
            file: dir.display().to_string(),
            message: "is not a directory; give the directory that holds the table files \
                      (people.csv, shifts.csv, …)"
                .into(),
        });
    }
    let mut out = Discovery::default();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // `_mapping/` and other names starting with `_` are tools' side
        // files next to the tables (a mapping's report), not input.
        if name.starts_with('_') {
            continue;
        }
        if !path.is_file() {
            out.warnings.push(format!("{name}: not a file, ignored"));
            continue;
        }
        let (stem, format) = match name.rsplit_once('.') {
            Some((s, "csv")) => (s, Format::Csv),
            Some((s, "parquet")) => (s, Format::Parquet),
            _ => {
                out.warnings.push(format!(
                    "{name}: not a table file (expected <table>.csv or <table>.parquet), ignored"
                ));
                continue;
            }
        };
        let Some(table) = Table::from_name(stem) else {
            if GROUND_TRUTH_FILES.contains(&stem) {
                out.warnings.push(format!(
                    "{name}: ground truth of a synthetic force, not ingested (give it to `probity eval`)"
                ));
                continue;
            }
            if allow_extra {
                out.warnings.push(format!(
                    "{name}: {stem:?} is not a table of the data contract, ignored (--allow-extra-files)"
                ));
                continue;
            }
            let ext = if format == Format::Csv {
                "csv"
            } else {
                "parquet"
            };
            return Err(Error::Input {
                file: name.clone(),
                message: match did_you_mean(stem) {
                    Some(t) => format!(
                        "{stem:?} is not a table of the data contract: did you mean {t}.{ext}? Rename the file \
                         (or pass --allow-extra-files to ingest the tables and ignore files that are not tables)"
                    ),
                    None => format!(
                        "{stem:?} is not a table of the data contract (the tables: {}); rename the file, \
                         or pass --allow-extra-files to ignore files that are not tables",
                        Table::ALL
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            });
        };
        if let Some(other) = out.files.iter().find(|f| f.table == table) {
            return Err(Error::Input {
                file: name,
                message: format!(
                    "table {} is given twice (also as {}); keep one of the two files",
                    table.name(),
                    other.name
                ),
            });
        }
        let bytes = entry.metadata().map_err(|e| Error::io(&path, e))?.len();
        out.files.push(SourceInfo {
            table,
            path,
            name,
            format,
            bytes,
        });
    }
    out.files
        .sort_by_key(|f| Table::ALL.iter().position(|t| *t == f.table));
    Ok(out)
}

/// A field of a typed Parquet column, read as its value. Every other field
/// (CSV, and Parquet text or a type the contract reads from text) is
/// [`Typed::Text`]: read its bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Typed {
    /// Not a typed field: read its text.
    Text,
    /// A null in a typed column.
    Null,
    /// An instant, microseconds since the epoch (a Parquet timestamp with a
    /// time zone: an exact instant, as RFC 3339 text with an offset is).
    Instant(i64),
    /// A date, days since the epoch (Parquet `date32`).
    Day(i32),
    /// A number (Parquet `double`).
    Number(f64),
}

impl Typed {
    /// The value as text, as a quarantine file shows a refused row's field
    /// (RFC 3339 in UTC, `YYYY-MM-DD`, the shortest decimal; empty for a
    /// null or a text field).
    pub fn render(&self) -> String {
        match *self {
            Typed::Text | Typed::Null => String::new(),
            Typed::Instant(us) => match jiff::Timestamp::from_microsecond(us) {
                Ok(ts) => ts.to_string(),
                Err(_) => format!("{us} microseconds since 1970-01-01T00:00:00Z"),
            },
            // Any date the time library can write (years -9999 to 9999).
            Typed::Day(d)
                if (date_to_days(jiff::civil::Date::MIN)
                    ..=date_to_days(jiff::civil::Date::MAX))
                    .contains(&d) =>
            {
                days_to_date(d).to_string()
            }
            Typed::Day(d) => format!("{d} days since 1970-01-01"),
            Typed::Number(f) => f.to_string(),
        }
    }
}

/// Days since the epoch of 0000-01-01 and 9999-12-31, the dates text can hold.
pub(crate) const FIRST_DAY: i32 = -719_528;
pub(crate) const LAST_DAY: i32 = 2_932_896;

/// How a Parquet column is read: decided once per file from its type and
/// the contract column of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cast to text (text already, or a type the contract reads from text:
    /// integers for ids, naive timestamps read in the force's zone,
    /// nanosecond timestamps, `float`, `date64`).
    Text,
    /// A timestamp with a time zone, in seconds, milliseconds or
    /// microseconds, for a contract timestamp.
    Instant,
    /// `date32` for a contract date.
    Day,
    /// `double` for a contract number.
    Number,
}

impl Kind {
    /// How a column of Parquet type `dt` is read for a contract column of
    /// type `ty` (`None`: not a contract column).
    pub fn of(dt: &DataType, ty: Option<ColType>) -> Kind {
        match (dt, ty) {
            (DataType::Timestamp(unit, Some(_)), Some(ColType::Timestamp))
                if *unit != TimeUnit::Nanosecond =>
            {
                Kind::Instant
            }
            (DataType::Date32, Some(ColType::Date)) => Kind::Day,
            (DataType::Float64, Some(ColType::Float)) => Kind::Number,
            _ => Kind::Text,
        }
    }
}

/// One column of the current Parquet batch.
pub enum PqColumn {
    /// Text, read as bytes.
    Text(StringArray),
    /// Instants in microseconds (UTC).
    Instant(TimestampMicrosecondArray),
    /// Days since the epoch.
    Day(Date32Array),
    /// Numbers.
    Number(Float64Array),
}

impl PqColumn {
    fn read(c: &ArrayRef, kind: Kind) -> std::result::Result<PqColumn, arrow::error::ArrowError> {
        Ok(match kind {
            Kind::Text => PqColumn::Text(
                cast(c, &DataType::Utf8)?
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8 gives a StringArray")
                    .clone(),
            ),
            Kind::Instant => {
                // Same zone, finer unit: the stored values stay UTC
                // instants, multiplied (an overflow is an error, not a null).
                let DataType::Timestamp(_, tz) = c.data_type() else {
                    unreachable!("an instant column is a timestamp")
                };
                let micros = cast_with_options(
                    c,
                    &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    &CastOptions {
                        safe: false,
                        ..Default::default()
                    },
                )?;
                PqColumn::Instant(
                    micros
                        .as_primitive::<types::TimestampMicrosecondType>()
                        .clone(),
                )
            }
            Kind::Day => PqColumn::Day(c.as_primitive::<types::Date32Type>().clone()),
            Kind::Number => PqColumn::Number(c.as_primitive::<types::Float64Type>().clone()),
        })
    }

    fn len(&self) -> usize {
        match self {
            PqColumn::Text(a) => a.len(),
            PqColumn::Instant(a) => a.len(),
            PqColumn::Day(a) => a.len(),
            PqColumn::Number(a) => a.len(),
        }
    }

    /// Row `r` as a typed value ([`Typed::Text`] for a text column).
    fn typed(&self, r: usize) -> Typed {
        match self {
            PqColumn::Text(_) => Typed::Text,
            PqColumn::Instant(a) if a.is_null(r) => Typed::Null,
            PqColumn::Day(a) if a.is_null(r) => Typed::Null,
            PqColumn::Number(a) if a.is_null(r) => Typed::Null,
            PqColumn::Instant(a) => Typed::Instant(a.value(r)),
            PqColumn::Day(a) => Typed::Day(a.value(r)),
            PqColumn::Number(a) => Typed::Number(a.value(r)),
        }
    }
}

/// A stream of raw rows from one source file.
pub enum RowReader {
    /// CSV rows.
    Csv {
        /// The CSV reader.
        reader: csv::Reader<File>,
        /// The current record.
        record: csv::ByteRecord,
        /// Header fields.
        header: Vec<Vec<u8>>,
        /// How the file ends its lines (the CSV reader counts `\n` only).
        ending: LineEnding,
        /// Records read so far (the header included).
        records: u64,
    },
    /// Parquet rows: typed columns as values, the rest cast to text.
    Parquet {
        /// The batch reader.
        reader: ParquetRecordBatchReader,
        /// Column names, in file order.
        header: Vec<Vec<u8>>,
        /// How each column is read.
        kinds: Vec<Kind>,
        /// Current batch, one column per header field.
        columns: Vec<PqColumn>,
        /// Row within the batch.
        row: usize,
        /// Rows before the current batch.
        base: u64,
        /// Bytes of the file (for progress).
        total_bytes: u64,
        /// Rows in the file.
        total_rows: u64,
        /// File name (for errors).
        name: String,
    },
}

/// Whether a Parquet column of type `dt` can hold a contract column of type `ty`.
fn parquet_type_fits(dt: &DataType, ty: ColType) -> bool {
    use DataType as D;
    let text = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View)
        || matches!(dt, D::Dictionary(_, v) if matches!(**v, D::Utf8 | D::LargeUtf8 | D::Utf8View));
    let number = dt.is_numeric();
    match ty {
        ColType::Str | ColType::Enum(_) => {
            text || matches!(
                dt,
                D::Int8
                    | D::Int16
                    | D::Int32
                    | D::Int64
                    | D::UInt8
                    | D::UInt16
                    | D::UInt32
                    | D::UInt64
            )
        }
        ColType::PartialDate => text || matches!(dt, D::Date32 | D::Date64),
        ColType::Date => text || matches!(dt, D::Date32 | D::Date64),
        ColType::Timestamp => text || matches!(dt, D::Timestamp(_, _)),
        ColType::Float => number,
    }
}

impl RowReader {
    /// Opens a source file and reads its header. `Ok(None)` for a zero-byte file.
    pub fn open(src: &SourceInfo) -> Result<Option<RowReader>> {
        match src.format {
            Format::Csv => {
                let file = File::open(&src.path).map_err(|e| Error::io(&src.path, e))?;
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(file);
                let mut record = csv::ByteRecord::new();
                let got = reader
                    .read_byte_record(&mut record)
                    .map_err(|e| Error::Input {
                        file: src.name.clone(),
                        message: format!("cannot read the header row: {e}"),
                    })?;
                if !got {
                    return Ok(None);
                }
                let header = record
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let f = if i == 0 {
                            f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
                        } else {
                            f
                        };
                        f.trim_ascii().to_vec()
                    })
                    .collect();
                let ending = LineEnding::of(&src.path).map_err(|e| Error::io(&src.path, e))?;
                Ok(Some(RowReader::Csv {
                    reader,
                    ending,
                    records: 1,
                    record,
                    header,
                }))
            }
            Format::Parquet => {
                if src.bytes == 0 {
                    return Ok(None);
                }
                let file = File::open(&src.path).map_err(|e| Error::io(&src.path, e))?;
                let bad = |e: parquet::errors::ParquetError| Error::Input {
                    file: src.name.clone(),
                    message: format!("is not a readable Parquet file: {e}"),
                };
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad)?;
                let schema = builder.schema().clone();
                let def = src.table.def();
                for field in schema.fields() {
                    if let Some(col) = def.column(field.name())
                        && !parquet_type_fits(field.data_type(), col.ty)
                    {
                        return Err(Error::Input {
                            file: src.name.clone(),
                            message: format!(
                                "column {} has Parquet type {}, but the contract needs {}; \
                                     write it as {}",
                                field.name(),
                                field.data_type(),
                                col.ty.describe(),
                                match col.ty {
                                    ColType::Float => "a floating-point or integer column",
                                    ColType::Date => "a date32 column or YYYY-MM-DD text",
                                    ColType::Timestamp => "a timestamp column or RFC 3339 text",
                                    _ => "a string column",
                                }
                            ),
                        });
                    }
                }
                let kinds = schema
                    .fields()
                    .iter()
                    .map(|f| Kind::of(f.data_type(), def.column(f.name()).map(|c| c.ty)))
                    .collect();
                let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
                let reader = builder.with_batch_size(8192).build().map_err(bad)?;
                Ok(Some(RowReader::Parquet {
                    reader,
                    kinds,
                    header: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_bytes().to_vec())
                        .collect(),
                    columns: vec![],
                    row: 0,
                    base: 0,
                    total_bytes: src.bytes,
                    total_rows,
                    name: src.name.clone(),
                }))
            }
        }
    }

    /// The header fields (column names).
    pub fn header(&self) -> &[Vec<u8>] {
        match self {
            RowReader::Csv { header, .. } | RowReader::Parquet { header, .. } => header,
        }
    }

    /// Whether line numbers are CSV lines (else Parquet row numbers).
    pub fn unit(&self) -> &'static str {
        match self {
            RowReader::Csv { .. } => "line",
            RowReader::Parquet { .. } => "row",
        }
    }

    /// Advances to the next row; returns its line (CSV, 1-based) or row
    /// number (Parquet, 1-based), or `None` at the end (and again on every
    /// call after it).
    pub fn next_row(&mut self) -> Result<Option<u64>> {
        match self {
            RowReader::Csv {
                reader,
                record,
                ending,
                records,
                ..
            } => match reader.read_byte_record(record) {
                Ok(true) => {
                    *records += 1;
                    let counted = record.position().map_or(0, csv::Position::line);
                    // The reader counts `\n`: at the start of a record after
                    // `\r\n` it has not yet counted that `\n`, and `\r` alone
                    // it never counts (a quoted field's own line breaks are
                    // then not counted either).
                    Ok(Some(match ending {
                        LineEnding::Lf => counted,
                        LineEnding::CrLf => counted + 1,
                        LineEnding::Cr => *records,
                    }))
                }
                Ok(false) => Ok(None),
                Err(e) => Err(Error::Internal(format!("reading CSV: {e}"))),
            },
            RowReader::Parquet {
                reader,
                header,
                kinds,
                columns,
                row,
                base,
                name,
                ..
            } => loop {
                if let Some(first) = columns.first()
                    && *row < first.len()
                {
                    *row += 1;
                    return Ok(Some(*base + *row as u64));
                }
                if let Some(first) = columns.first() {
                    *base += first.len() as u64;
                }
                // The batch is used up: drop it, so that a call after the
                // end finds the end again instead of the last batch.
                columns.clear();
                *row = 0;
                match reader.next() {
                    None => return Ok(None),
                    Some(Err(e)) => {
                        return Err(Error::Input {
                            file: name.clone(),
                            message: format!("cannot decode Parquet data: {e}"),
                        });
                    }
                    Some(Ok(batch)) => {
                        if batch.num_columns() == 0 {
                            return Ok(None);
                        }
                        let mut cols = Vec::with_capacity(batch.num_columns());
                        for ((c, kind), col) in
                            batch.columns().iter().zip(kinds.iter()).zip(header.iter())
                        {
                            cols.push(PqColumn::read(c, *kind).map_err(|e| Error::Input {
                                file: name.clone(),
                                message: format!(
                                    "cannot read column {} (row {} onwards): {e}; check the \
                                     column's type and unit (a timestamp in seconds, milliseconds \
                                     or microseconds with a time zone, a date32, a double or text)",
                                    String::from_utf8_lossy(col),
                                    *base + 1
                                ),
                            })?);
                        }
                        *columns = cols;
                    }
                }
            },
        }
    }

    /// Number of fields in the current row.
    pub fn len(&self) -> usize {
        match self {
            RowReader::Csv { record, .. } => record.len(),
            RowReader::Parquet { columns, .. } => columns.len(),
        }
    }

    /// Whether the current row has no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i` of the current row as text; `None` if absent or null, or
    /// a typed field (read that with [`RowReader::typed`]).
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        match self {
            RowReader::Csv { record, .. } => record.get(i),
            RowReader::Parquet { columns, row, .. } => {
                let PqColumn::Text(c) = columns.get(i)? else {
                    return None;
                };
                let r = row.checked_sub(1)?;
                if c.is_null(r) {
                    None
                } else {
                    Some(c.value(r).as_bytes())
                }
            }
        }
    }

    /// Field `i` of the current row as a typed value, or [`Typed::Text`]
    /// when it is read as text (every CSV field).
    pub fn typed(&self, i: usize) -> Typed {
        match self {
            RowReader::Csv { .. } => Typed::Text,
            RowReader::Parquet { columns, row, .. } => match (columns.get(i), row.checked_sub(1)) {
                (Some(c), Some(r)) => c.typed(r),
                _ => Typed::Text,
            },
        }
    }

    /// Appends the current row's fields to `bytes`, one after another, and
    /// where each ends to `ends` (a null or absent field is empty). For
    /// Parquet, also each field's typed value to `typed` (a typed field's
    /// bytes are empty); CSV leaves `typed` alone.
    pub fn copy_row(&self, bytes: &mut Vec<u8>, ends: &mut Vec<usize>, typed: &mut Vec<Typed>) {
        match self {
            RowReader::Csv { record, .. } => {
                // The record keeps its fields side by side already.
                let base = bytes.len();
                bytes.extend_from_slice(record.as_slice());
                let mut end = base;
                for f in record.iter() {
                    end += f.len();
                    ends.push(end);
                }
            }
            RowReader::Parquet { .. } => {
                for i in 0..self.len() {
                    bytes.extend_from_slice(self.field(i).unwrap_or(b""));
                    ends.push(bytes.len());
                    typed.push(self.typed(i));
                }
            }
        }
    }

    /// About how many rows the file holds: exact for Parquet (its
    /// metadata), for CSV from the line length of its first megabyte. Used
    /// to size the key table once instead of rebuilding it as it grows.
    pub fn estimated_rows(&self, src: &SourceInfo) -> u64 {
        match self {
            RowReader::Parquet { total_rows, .. } => *total_rows,
            RowReader::Csv { ending, .. } => {
                use std::io::Read;
                let mut head = Vec::with_capacity(1 << 20);
                let read = File::open(&src.path)
                    .and_then(|f| f.take(1 << 20).read_to_end(&mut head))
                    .unwrap_or(0);
                let mark = if *ending == LineEnding::Cr {
                    b'\r'
                } else {
                    b'\n'
                };
                let lines = head.iter().filter(|&&b| b == mark).count() as u64;
                if read == 0 || lines == 0 {
                    return 0;
                }
                (src.bytes.saturating_mul(lines) / read as u64).saturating_sub(1)
            }
        }
    }

    /// Progress through the file, in bytes.
    pub fn progress_bytes(&self) -> u64 {
        match self {
            RowReader::Csv { reader, .. } => reader.position().byte(),
            RowReader::Parquet {
                total_bytes,
                total_rows,
                base,
                row,
                ..
            } => {
                if *total_rows == 0 {
                    *total_bytes
                } else {
                    total_bytes * (*base + *row as u64) / total_rows
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn source(dir: &Path, name: &str, format: Format) -> SourceInfo {
        let path = dir.join(name);
        SourceInfo {
            table: Table::Sites,
            bytes: std::fs::metadata(&path).unwrap().len(),
            name: name.into(),
            path,
            format,
        }
    }

    /// Reads every row, then asks again twice: the end stays the end (the
    /// split reader asks once more after a short last block).
    fn lines_then_end(src: &SourceInfo) -> Vec<(u64, String)> {
        let mut r = RowReader::open(src).unwrap().unwrap();
        let mut seen = vec![];
        while let Some(line) = r.next_row().unwrap() {
            seen.push((line, String::from_utf8_lossy(r.field(0).unwrap()).into()));
        }
        assert_eq!(r.next_row().unwrap(), None, "{}", src.name);
        assert_eq!(r.next_row().unwrap(), None, "{}", src.name);
        seen
    }

    /// What the CSV reader gives for field `field` of every row of `fields`
    /// fields, and what the plain scan gives, at every chunk size from one
    /// byte up.
    type Fields = Vec<Vec<u8>>;

    fn keys_both_ways(text: &[u8], field: usize) -> (Fields, Vec<Option<Fields>>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sites.csv"), text).unwrap();
        let src = source(dir.path(), "sites.csv", Format::Csv);
        let mut r = RowReader::open(&src).unwrap().unwrap();
        let fields = r.header().len();
        let mut want = vec![];
        while r.next_row().unwrap().is_some() {
            if r.len() == fields {
                want.push(r.field(field).unwrap_or(b"").to_vec());
            }
        }
        let got = [1, 2, 3, 5, 8, 64, 1 << 20]
            .into_iter()
            .map(|chunk| {
                let mut got = vec![];
                let plain = scan_plain_csv_in(&src.path, field, fields, chunk, |f| {
                    got.push(f.to_vec());
                    Ok(())
                })
                .unwrap();
                plain.then_some(got)
            })
            .collect();
        (want, got)
    }

    #[test]
    fn the_plain_scan_reads_the_key_column_as_the_csv_reader_does() {
        let files: [&[u8]; 6] = [
            b"id,name,lat\nS1,Alpha,51.5\nS2,Beta,52.0\n",
            // Windows line ends, a BOM, blank lines, no final line break.
            b"\xEF\xBB\xBFid,name,lat\r\nS1,Alpha,51.5\r\n\r\n\nS2,Beta,52.0",
            // Rows with too few or too many fields, empty fields, spaces.
            b"id,name,lat\nS1,Alpha\nS2,Beta,52.0,extra\n,Gamma,1\n S3 ,, \n,,\n",
            // Blank lines before the header; a long line.
            b"\n\nid,name,lat\nS1,Alpha Alpha Alpha Alpha Alpha Alpha Alpha,51.5\n",
            // Only a header; then a header and one row of one field.
            b"id,name,lat\n",
            b"id\nS1\n\nS2",
        ];
        for text in files {
            for field in 0..3 {
                let (want, got) = keys_both_ways(text, field);
                for g in got {
                    assert_eq!(
                        g.as_ref(),
                        Some(&want),
                        "{:?} field {field}",
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
    }

    #[test]
    fn a_file_with_quotes_or_a_lone_carriage_return_is_not_plain() {
        let files: [&[u8]; 4] = [
            b"id,name\nS1,Alpha\nS2,\"Beta, the second\"\n",
            b"id,name\nS1,\"Alpha\nover two lines\"\nS2,Beta\n",
            // Old Mac line ends: the CSV reader splits at `\r`.
            b"id,name\rS1,Alpha\rS2,Beta\r",
            b"id,name\nS1,Al\rpha\n",
        ];
        for text in files {
            let (want, got) = keys_both_ways(text, 0);
            assert!(!want.is_empty());
            for g in got {
                assert_eq!(g, None, "{:?}", String::from_utf8_lossy(text));
            }
        }
    }

    #[test]
    fn the_end_of_a_file_stays_the_end_for_csv_and_parquet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sites.csv"), "site_id\nS1\nS2\nS3\n").unwrap();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("site_id", DataType::Utf8, false),
        ]));
        let file = File::create(dir.path().join("sites.parquet")).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        let col = Arc::new(StringArray::from(vec!["S1", "S2", "S3"]));
        w.write(&arrow::array::RecordBatch::try_new(schema, vec![col]).unwrap())
            .unwrap();
        w.close().unwrap();

        let want = |first: u64| -> Vec<(u64, String)> {
            (0..3).map(|i| (first + i, format!("S{}", i + 1))).collect()
        };
        assert_eq!(
            lines_then_end(&source(dir.path(), "sites.csv", Format::Csv)),
            want(2)
        );
        assert_eq!(
            lines_then_end(&source(dir.path(), "sites.parquet", Format::Parquet)),
            want(1)
        );
    }

    #[test]
    fn typed_columns_are_read_as_values_and_the_rest_as_text() {
        use arrow::array::{Date32Array, TimestampSecondArray};
        use arrow::datatypes::{Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let zone = Some("Europe/London".into());
        let schema = Arc::new(Schema::new(vec![
            Field::new("site_id", DataType::Utf8, false),
            Field::new("opened", DataType::Timestamp(TimeUnit::Second, zone), true),
            Field::new("since", DataType::Date32, true),
            Field::new("lat", DataType::Float64, true),
            // Not read as values: a naive time is local (the force's zone
            // decides), a float32 is read as the decimal it prints as.
            Field::new("local", DataType::Timestamp(TimeUnit::Second, None), true),
            Field::new("lon", DataType::Float32, true),
        ]));
        let batch = arrow::array::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["S1", "S2"])),
                Arc::new(
                    TimestampSecondArray::from(vec![Some(1_773_648_000), None])
                        .with_timezone("Europe/London"),
                ),
                Arc::new(Date32Array::from(vec![Some(20_528), None])),
                Arc::new(Float64Array::from(vec![Some(0.1), None])),
                Arc::new(TimestampSecondArray::from(vec![Some(1_773_648_000), None])),
                Arc::new(arrow::array::Float32Array::from(vec![Some(0.1), None])),
            ],
        )
        .unwrap();
        let file = File::create(dir.path().join("sites.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        // `opened` and `since` are not sites columns: they stay text too.
        let src = source(dir.path(), "sites.parquet", Format::Parquet);
        let mut r = RowReader::open(&src).unwrap().unwrap();
        r.next_row().unwrap();
        assert_eq!(r.typed(1), Typed::Text);
        assert_eq!(r.field(1), Some(&b"2026-03-16T08:00:00Z"[..]));
        assert_eq!(r.typed(3), Typed::Number(0.1));
        assert_eq!(r.field(3), None, "a typed field has no text");
        assert_eq!(r.field(5), Some(&b"0.1"[..]));
        // As columns of tables with timestamps, dates and numbers.
        let kinds: Vec<Kind> = [
            (
                DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                "start",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                "start",
            ),
            (DataType::Timestamp(TimeUnit::Millisecond, None), "start"),
            (DataType::Date32, "start"),
            (DataType::Float64, "shift_id"),
        ]
        .iter()
        .map(|(dt, name)| Kind::of(dt, Table::Shifts.def().column(name).map(|c| c.ty)))
        .collect();
        assert_eq!(
            kinds,
            [
                Kind::Instant,
                Kind::Text,
                Kind::Text,
                Kind::Text,
                Kind::Text
            ]
        );
        let people = |dt: &DataType, name: &str| {
            Kind::of(dt, Table::People.def().column(name).map(|c| c.ty))
        };
        assert_eq!(people(&DataType::Date32, "start_date"), Kind::Day);
        assert_eq!(people(&DataType::Date32, "date_of_birth"), Kind::Day);
        assert_eq!(
            people(&DataType::Float64, "office_days_target"),
            Kind::Number
        );

        let c: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![Some(1_773_648_000), None])
                .with_timezone("Europe/London"),
        );
        let col = PqColumn::read(&c, Kind::Instant).unwrap();
        assert_eq!(col.typed(0), Typed::Instant(1_773_648_000_000_000));
        assert_eq!(col.typed(1), Typed::Null);
        let c: ArrayRef = Arc::new(Date32Array::from(vec![20_528]));
        assert_eq!(
            PqColumn::read(&c, Kind::Day).unwrap().typed(0),
            Typed::Day(20_528)
        );
        // Seconds so large that microseconds overflow: an error naming the
        // cause, not a silent null.
        let c: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![i64::MAX / 10]).with_timezone("UTC"));
        assert!(PqColumn::read(&c, Kind::Instant).is_err());
    }

    #[test]
    fn a_typed_value_is_shown_as_the_text_it_stands_for() {
        assert_eq!(
            Typed::Instant(1_773_648_000_000_000).render(),
            "2026-03-16T08:00:00Z"
        );
        assert_eq!(
            Typed::Instant(1_773_648_000_123_000).render(),
            "2026-03-16T08:00:00.123Z"
        );
        assert_eq!(Typed::Day(20_528).render(), "2026-03-16");
        assert_eq!(Typed::Day(-719_528).render(), "0000-01-01");
        assert_eq!(Typed::Number(0.1).render(), "0.1");
        assert_eq!(Typed::Number(123.0).render(), "123");
        assert_eq!(Typed::Number(f64::NAN).render(), "NaN");
        assert_eq!(Typed::Null.render(), "");
        assert!(
            Typed::Instant(i64::MAX)
                .render()
                .contains("microseconds since")
        );
        assert!(Typed::Day(i32::MAX).render().contains("days since"));
    }
}
