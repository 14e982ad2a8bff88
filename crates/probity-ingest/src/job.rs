//! Ingest of one table file: every row read, validated, pseudonymised and
//! either written (store and vault) or quarantined with its reason.

use std::collections::HashMap;
use std::time::Instant;

use probity_core::schema::PERSON_VALUED_EDIT_FIELDS;
use probity_core::time::{TimeError, check_partial_date, parse_date};
use probity_core::{
    ColType, ColumnDef, Handling, IdDomain, PseudonymKey, Table, TableDef, TimeRules,
};
use probity_store::keys::{KeySet, Seen, SortedRuns, key_hash};
use probity_store::{StagedBatch, TableOutput};

use crate::duty::DutyIndex;
use crate::source::{self, FIRST_DAY, Format, LAST_DAY, RowReader, SourceInfo, Typed};
use crate::writer::{
    PartitionedWriter, QUARANTINE_PREFIX, QuarantineWriter, Row, Value, VaultWriter,
};
use crate::{Error, Progress, Result, TableReport};

/// Why a row was refused.
#[derive(Debug)]
pub(crate) struct RowError {
    field: &'static str,
    kind: &'static str,
    reason: String,
}

fn refuse(field: &'static str, kind: &'static str, reason: String) -> RowError {
    RowError {
        field,
        kind,
        reason,
    }
}

/// Everything a table job reads but does not own.
pub(crate) struct JobContext<'a> {
    pub rules: &'a TimeRules,
    pub key: &'a PseudonymKey,
    pub max_field_bytes: usize,
    /// Rows from which a table without keys is split across threads.
    pub split_rows: u64,
    /// Rows from which a table with keys that nothing refers to counts its
    /// keys in sorted runs before judging its rows.
    pub sort_keys_rows: u64,
    /// Key sets of tables already ingested (committed plus this batch).
    pub keys: &'a HashMap<Table, std::sync::Arc<KeySet>>,
    /// For `device_locations`: the duty-time rule.
    pub duty: Option<&'a DutyIndex>,
    /// Whether this batch needs shift windows and device holders collected.
    pub collect_duty: bool,
    pub progress: &'a dyn Progress,
}

/// What a finished table job hands back.
pub(crate) struct JobOutput {
    pub report: TableReport,
    pub output: TableOutput,
    pub keys: KeySet,
    /// (person hash, start, end) of stored shifts, when collected.
    pub shifts: Vec<(u64, i64, i64)>,
    /// (device hash, person hash) of stored devices, when collected.
    pub devices: Vec<(u64, u64, i32, i32)>,
}

/// Ingests one file. `committed`: the key index files of its table already
/// in the store.
pub(crate) fn run(
    src: &SourceInfo,
    batch: &StagedBatch,
    committed: &[std::path::PathBuf],
    ctx: &JobContext<'_>,
) -> Result<JobOutput> {
    let started = Instant::now();
    let table = src.table;
    let def = table.def();
    let mut report = TableReport::new(table, &src.name);
    let Some(mut reader) = RowReader::open(src)? else {
        report.notes.push(format!(
            "{}: empty file (0 bytes), nothing to ingest",
            src.name
        ));
        report.elapsed = started.elapsed();
        return Ok(JobOutput {
            report,
            output: TableOutput::default(),
            keys: KeySet::load_files(committed)?,
            shifts: vec![],
            devices: vec![],
        });
    };
    ctx.progress.table_started(table, &src.name, src.bytes);

    // Map contract columns to source columns.
    let header = reader.header().to_vec();
    let provenance = header
        .iter()
        .position(|h| h.as_slice() == probity_core::SOURCE_COLUMN.as_bytes());
    // A quarantine file being retried (`probity ingest --retry-quarantine`):
    // its first columns say where each row was first read and why it was
    // refused; the rest is the row as read. Rows refused again keep their
    // original file and line.
    let retry = header.len() > QUARANTINE_PREFIX.len()
        && header
            .iter()
            .zip(QUARANTINE_PREFIX)
            .all(|(h, q)| h.as_slice() == q.as_bytes());
    let skip = if retry { QUARANTINE_PREFIX.len() } else { 0 };
    let mut seen_names: HashMap<&[u8], usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(j) = seen_names.insert(h.as_slice(), i) {
            return Err(Error::Input {
                file: src.name.clone(),
                message: format!(
                    "column {:?} appears twice in the header (positions {} and {}); keep one",
                    String::from_utf8_lossy(h),
                    j + 1,
                    i + 1
                ),
            });
        }
    }
    let map: Vec<Option<usize>> = def
        .columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h.as_slice() == c.name.as_bytes())
        })
        .collect();
    for (c, m) in def.columns.iter().zip(&map) {
        if c.required && m.is_none() {
            return Err(Error::Input {
                file: src.name.clone(),
                message: format!(
                    "required column {} is missing from the header (line 1); the {} table needs: {}",
                    c.name,
                    table.name(),
                    def.columns
                        .iter()
                        .map(|c| if c.required {
                            c.name.to_string()
                        } else {
                            format!("{}?", c.name)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let unknown: Vec<String> = header
        .iter()
        .filter(|h| {
            let h = String::from_utf8_lossy(h);
            h != probity_core::SOURCE_COLUMN
                && def.column(&h).is_none()
                && !(retry && QUARANTINE_PREFIX.contains(&h.as_ref()))
        })
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    if !unknown.is_empty() {
        report.notes.push(format!(
            "{}: unknown column(s) {} ignored",
            src.name,
            unknown.join(", ")
        ));
    }

    // Output layout.
    let ncols = def.columns.len();
    let pk_col = def.primary_key.map(|p| col_index(&def, p));
    let holding_col = def.holding_start().map(|c| col_index(&def, c));
    // Vault rows: the real key, the stored key, then the vault columns.
    let vault_cols: Option<Vec<usize>> = def.vault_key().map(|_| {
        let mut v = vec![ncols, ncols + 1];
        v.extend(
            def.columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.handling == Handling::Vault)
                .map(|(i, _)| i),
        );
        v
    });
    let layout = Layout {
        table,
        src,
        ctx,
        ncols,
        header_len: header.len(),
        stored_cols: def
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.handling != Handling::Vault)
            .map(|(i, _)| i)
            .collect(),
        partition_col: def.partition_by.map(|p| col_index(&def, p)),
        pk_col,
        holding_col,
        vault_cols,
        person_field_col: (table == Table::RosterEdits).then(|| {
            (
                col_index(&def, "field"),
                col_index(&def, "old_value"),
                col_index(&def, "new_value"),
            )
        }),
        ordered: def
            .ordered
            .iter()
            .map(|o| {
                (
                    col_index(&def, o.start),
                    col_index(&def, o.end),
                    o.start,
                    o.end,
                )
            })
            .collect(),
        // Cells that feed the duty-time rule: (person or device, start or at, end).
        duty_cols: match table {
            Table::Shifts => Some((
                col_index(&def, "person_id"),
                col_index(&def, "start"),
                col_index(&def, "end"),
            )),
            Table::Devices => Some((
                col_index(&def, "device_id"),
                col_index(&def, "person_id"),
                col_index(&def, "issued_from"),
            )),
            Table::DeviceLocations => {
                Some((col_index(&def, "device_id"), col_index(&def, "at"), 0))
            }
            _ => None,
        },
        fk_sets: def
            .columns
            .iter()
            .map(|c| c.references.and_then(|t| ctx.keys.get(&t)).map(|k| &**k))
            .collect(),
        map,
        def,
        unit: reader.unit(),
        retry,
        skip,
        provenance,
        header,
    };
    let (q_abs, q_rel) = batch.quarantine_file(table)?;

    // A large table with keys that no table refers to counts its keys
    // first, in sorted runs on disk, and then holds only those that can be
    // duplicates; the others hold every key of the batch in memory, as
    // foreign-key checks of later tables need them. "Large" counts the
    // committed keys too: a daily batch of look-ups would otherwise load
    // the year's 32 million (260 MB) to check a hundred thousand.
    // Read once: for CSV it scans the file's first megabyte.
    let estimated_rows = reader.estimated_rows(src);
    let committed_keys: u64 = committed
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() / 8)
        .sum();
    let presort = pk_col.is_some()
        && holding_col.is_none()
        && !Table::ALL
            .iter()
            .any(|t| t.def().columns.iter().any(|c| c.references == Some(table)))
        && estimated_rows.saturating_add(committed_keys) >= ctx.sort_keys_rows;
    let (own_keys, spill) = if presort {
        let scratch = batch.scratch_dir()?;
        let counted = layout.count_keys(src, &scratch)?;
        crate::KEYS_COUNTED_IN_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (
            KeySet::presorted(counted, committed)?,
            Some(SortedRuns::new(
                &scratch,
                &format!("{}.stored", table.name()),
            )),
        )
    } else {
        (KeySet::load_files(committed)?, None)
    };

    // Self-references (people.line_manager_id): ids declared anywhere in this file.
    let self_ids = self_reference_ids(src, &layout.def, &own_keys, ctx)?;

    // A large table without keys (device locations) is checked and written
    // by several workers while this thread reads: its rows depend on
    // nothing but themselves and the committed sets, so blocks of rows are
    // dealt to the workers in turn and each writes its own files.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let splittable = pk_col.is_none()
        && layout.vault_cols.is_none()
        && self_ids.is_none()
        && !(ctx.collect_duty && matches!(table, Table::Shifts | Table::Devices));
    if splittable && estimated_rows >= ctx.split_rows {
        let (out, quarantined) =
            run_split(&layout, &mut reader, batch, &q_abs, workers, &mut report)?;
        let mut output = TableOutput {
            rows_read: report.rows_read,
            rows_stored: report.rows_stored,
            rows_quarantined: report.rows_quarantined,
            rows_minimised: report.rows_minimised,
            data_files: out,
            ..Default::default()
        };
        if quarantined {
            output.quarantine_file = Some(q_rel);
        }
        report.elapsed = started.elapsed();
        ctx.progress.table_finished(&report);
        return Ok(JobOutput {
            report,
            output,
            keys: own_keys,
            shifts: vec![],
            devices: vec![],
        });
    }

    let mut own_keys = own_keys;
    if pk_col.is_some() && holding_col.is_none() && spill.is_none() {
        own_keys.reserve(usize::try_from(estimated_rows).unwrap_or(usize::MAX));
    }
    let mut keys = KeyState {
        own: own_keys,
        holdings: HashMap::new(),
        self_ids,
        real_key: String::new(),
        stored: spill,
    };
    let mut sink = Sink::new(&layout, batch, 0, q_abs)?;
    let mut row = Row::default();
    let mut cache = IdCache::new(layout.ncols);
    let mut since_progress = 0u32;
    while let Some(line) = reader.next_row()? {
        report.rows_read += 1;
        since_progress += 1;
        if since_progress == 16_384 {
            since_progress = 0;
            ctx.progress.table_progress(table, reader.progress_bytes());
        }
        row.clear(ncols + 2);
        let outcome = layout.check(&reader, line, &mut row, &mut cache, Some(&mut keys));
        if let (Ok(true), Some(stored), Some(pk)) = (&outcome, keys.stored.as_mut(), pk_col) {
            stored.push(key_hash(
                row.text(pk).expect("primary key is required text"),
            ))?;
        }
        sink.handle(&layout, outcome, &reader, line, &mut row, Some(&keys))?;
    }
    ctx.progress.table_progress(table, src.bytes);

    let done = sink.finish(&mut report)?;
    let mut output = TableOutput {
        rows_read: report.rows_read,
        rows_stored: report.rows_stored,
        rows_quarantined: report.rows_quarantined,
        rows_minimised: report.rows_minimised,
        data_files: done.data_files,
        ..Default::default()
    };
    if let Some(rel) = done.vault {
        output.vault_files.push(rel);
    }
    if done.quarantine.is_some() {
        output.quarantine_file = Some(q_rel);
    }
    let own_keys = match keys.stored {
        // Nothing refers to this table: its keys are not handed on.
        Some(stored) => {
            if !stored.is_empty() {
                let (abs, rel) = batch.key_index_file(table)?;
                stored.write_index(&abs)?;
                output.key_index = Some(rel);
            }
            KeySet::default()
        }
        None => {
            let own_keys = keys.own;
            if pk_col.is_some() && own_keys.batch_len() > 0 {
                let (abs, rel) = batch.key_index_file(table)?;
                own_keys.write_batch_index(&abs)?;
                output.key_index = Some(rel);
            }
            own_keys
        }
    };
    report.elapsed = started.elapsed();
    ctx.progress.table_finished(&report);
    Ok(JobOutput {
        report,
        output,
        keys: own_keys,
        shifts: done.shifts,
        devices: done.devices,
    })
}

/// Rows in a block dealt to one worker.
const BLOCK_ROWS: usize = 4096;

/// The fields of the row being checked: the reader's current row, or a row
/// copied into a worker's block (a Parquet null in a text column becomes an
/// empty field, which every check reads the same way).
pub(crate) trait Fields {
    /// Number of fields.
    fn count(&self) -> usize;
    /// Field `i` as text, if present (not for a typed field).
    fn get(&self, i: usize) -> Option<&[u8]>;
    /// Field `i` as a typed value, or [`Typed::Text`] to read its text.
    fn typed(&self, i: usize) -> Typed;
    /// Field `i` as a quarantine file shows it: its text, or its typed
    /// value written out.
    fn shown(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        match self.typed(i) {
            Typed::Text => std::borrow::Cow::Borrowed(self.get(i).unwrap_or(b"")),
            t => std::borrow::Cow::Owned(t.render().into_bytes()),
        }
    }
    /// All fields as read.
    fn all(&self) -> Vec<std::borrow::Cow<'_, [u8]>> {
        (0..self.count()).map(|i| self.shown(i)).collect()
    }
}

impl Fields for RowReader {
    fn count(&self) -> usize {
        self.len()
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.field(i)
    }
    fn typed(&self, i: usize) -> Typed {
        RowReader::typed(self, i)
    }
}

/// A row of a [`Block`].
struct BlockRow<'a> {
    bytes: &'a [u8],
    /// Where the row's first field starts in `bytes`.
    start: usize,
    /// Where each of its fields ends.
    ends: &'a [usize],
    /// Each field's typed value (Parquet), or empty (CSV: all text).
    typed: &'a [Typed],
}

impl Fields for BlockRow<'_> {
    fn count(&self) -> usize {
        self.ends.len()
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let from = if i == 0 { self.start } else { self.ends[i - 1] };
        Some(&self.bytes[from..end])
    }
    fn typed(&self, i: usize) -> Typed {
        self.typed.get(i).copied().unwrap_or(Typed::Text)
    }
}

/// How one table's rows are read, checked and laid out: fixed for the job
/// and shared by its workers.
struct Layout<'a> {
    table: Table,
    def: TableDef,
    src: &'a SourceInfo,
    ctx: &'a JobContext<'a>,
    ncols: usize,
    header: Vec<Vec<u8>>,
    header_len: usize,
    map: Vec<Option<usize>>,
    stored_cols: Vec<usize>,
    partition_col: Option<usize>,
    pk_col: Option<usize>,
    holding_col: Option<usize>,
    vault_cols: Option<Vec<usize>>,
    person_field_col: Option<(usize, usize, usize)>,
    ordered: Vec<(usize, usize, &'static str, &'static str)>,
    duty_cols: Option<(usize, usize, usize)>,
    /// Per column, the key set of the table it refers to (another table).
    fk_sets: Vec<Option<&'a KeySet>>,
    unit: &'static str,
    retry: bool,
    skip: usize,
    provenance: Option<usize>,
}

/// What only a sequential job holds: the table's keys in file order.
struct KeyState {
    own: KeySet,
    holdings: HashMap<u64, u64>,
    self_ids: Option<KeySet>,
    real_key: String,
    /// For a presorted table: the keys of the rows stored, for its index.
    stored: Option<SortedRuns>,
}

impl Layout<'_> {
    /// Checks one row: `Ok(true)` to store it, `Ok(false)` when minimisation
    /// drops it, or why it is refused. Parses it into `row`.
    fn check(
        &self,
        rec: &dyn Fields,
        line: u64,
        row: &mut Row,
        cache: &mut IdCache,
        mut keys: Option<&mut KeyState>,
    ) -> std::result::Result<bool, RowError> {
        let (def, unit) = (&self.def, self.unit);
        if rec.count() != self.header_len {
            return Err(refuse(
                "",
                "wrong number of fields",
                format!(
                    "{unit} has {} fields but the header has {} (truncated or malformed line)",
                    rec.count(),
                    self.header_len
                ),
            ));
        }
        for (ci, col) in def.columns.iter().enumerate() {
            let Some(si) = self.map[ci] else { continue };
            let typed = rec.typed(si);
            if !matches!(typed, Typed::Text) {
                if let Some(v) = self.typed_value(col, typed)? {
                    row.cells[ci] = v;
                }
                continue;
            }
            let bytes = rec.get(si).unwrap_or(b"");
            let Some(s) = self.field_text(col, bytes)? else {
                continue;
            };
            row.cells[ci] = self.parse_field(ci, col, s, row, cache)?;
            if Some(ci) == self.pk_col
                && self.vault_cols.is_some()
                && let Some(k) = keys.as_deref_mut()
            {
                k.real_key.clear();
                k.real_key.push_str(s);
            }
        }
        self.check_rest(rec, line, row, keys)
    }

    /// A field's text, or `None` for an empty optional field; refuses a
    /// field too long, not UTF-8, or empty where required.
    fn field_text<'b>(
        &self,
        col: &ColumnDef,
        bytes: &'b [u8],
    ) -> std::result::Result<Option<&'b str>, RowError> {
        let ctx = self.ctx;
        if bytes.len() > ctx.max_field_bytes {
            return Err(refuse(
                col.name,
                "field too long",
                format!(
                    "{} is {} bytes long, over the limit of {} (ingest.max_field_bytes)",
                    col.name,
                    bytes.len(),
                    ctx.max_field_bytes
                ),
            ));
        }
        let s = std::str::from_utf8(bytes).map_err(|e| {
            refuse(
                col.name,
                "not UTF-8",
                format!(
                    "{} is not valid UTF-8 (bad byte at offset {}); re-export the file as UTF-8",
                    col.name,
                    e.valid_up_to()
                ),
            )
        })?;
        if s.trim().is_empty() {
            return absent(col);
        }
        Ok(Some(s))
    }

    /// The value of a typed Parquet field, checked as its text would be:
    /// `None` for a null in an optional column.
    fn typed_value(
        &self,
        col: &ColumnDef,
        typed: Typed,
    ) -> std::result::Result<Option<Value>, RowError> {
        let name = col.name;
        let unreadable = |expected: &'static str| {
            refuse(
                name,
                "unreadable value",
                format!(
                    "{name}: {}",
                    TimeError::Unparsable {
                        value: typed.render(),
                        expected,
                    }
                ),
            )
        };
        Ok(Some(match typed {
            Typed::Text => return Ok(None),
            Typed::Null => return absent(col),
            // The instants and dates text can hold (years 0000 to 9999).
            Typed::Instant(us) if jiff::Timestamp::from_microsecond(us).is_err() => {
                return Err(unreadable("a timestamp within the supported range"));
            }
            Typed::Instant(us) => Value::Timestamp(us),
            Typed::Day(d) if !(FIRST_DAY..=LAST_DAY).contains(&d) => {
                return Err(unreadable("a date YYYY-MM-DD"));
            }
            Typed::Day(d) => Value::Date(d),
            Typed::Number(f) => Value::Float(check_number(self.table, name, f, &typed.render())?),
        }))
    }

    /// The value of column `ci` from its text.
    fn parse_field(
        &self,
        ci: usize,
        col: &ColumnDef,
        s: &str,
        row: &mut Row,
        cache: &mut IdCache,
    ) -> std::result::Result<Value, RowError> {
        Ok(match col.handling {
            // Ids repeat from row to row (a device's pings, an
            // account's look-ups): their keyed hash is remembered.
            Handling::Pseudonymise(d) if col.ty == ColType::Str => {
                let (slot, v) = row.text_slot();
                cache.pseudonym_into(ci, d, s, self.ctx.key, slot);
                v
            }
            _ => parse_cell(self.table, col, s, self.ctx, row)?,
        })
    }

    /// The hash of the stored key of every row of the file that can be
    /// stored (a superset: a row refused later for another reason is
    /// counted too), in sorted runs in `scratch`. The key is derived as
    /// [`Layout::check`] derives it, so a key [`KeyState`] is asked about is
    /// always among them.
    fn count_keys(&self, src: &SourceInfo, scratch: &std::path::Path) -> Result<SortedRuns> {
        let pk = self.pk_col.expect("a table with keys");
        let col = &self.def.columns[pk];
        let si = self.map[pk].expect("the primary key is a required column");
        let name = format!("{}.read", self.table.name());
        let mut row = Row::default();
        let mut cache = IdCache::new(self.ncols);
        let mut key = |bytes: &[u8], runs: &mut SortedRuns| -> Result<()> {
            let Ok(Some(s)) = self.field_text(col, bytes) else {
                return Ok(());
            };
            row.clear(self.ncols + 2);
            if let Ok(v) = self.parse_field(pk, col, s, &mut row, &mut cache) {
                row.cells[pk] = v;
                if let Some(k) = row.text(pk) {
                    runs.push(key_hash(k))?;
                }
            }
            Ok(())
        };
        if src.format == Format::Csv {
            // Most exports quote nothing: their key column is found without
            // parsing every field of every line.
            let mut runs = SortedRuns::new(scratch, &name);
            if source::scan_plain_csv(&src.path, si, self.header_len, |b| key(b, &mut runs))? {
                return Ok(runs);
            }
            // Not plain: these runs and their files go before the full read.
        }
        let mut runs = SortedRuns::new(scratch, &name);
        let Some(mut reader) = RowReader::open(src)? else {
            return Ok(runs);
        };
        while reader.next_row()?.is_some() {
            if reader.len() != self.header_len {
                continue;
            }
            key(reader.field(si).unwrap_or(b""), &mut runs)?;
        }
        Ok(runs)
    }

    /// The checks after every field is parsed: person-valued edits, order,
    /// references, duty time and keys.
    fn check_rest(
        &self,
        rec: &dyn Fields,
        line: u64,
        row: &mut Row,
        keys: Option<&mut KeyState>,
    ) -> std::result::Result<bool, RowError> {
        let (def, ctx, table, unit) = (&self.def, self.ctx, self.table, self.unit);
        if let Some((f, old, new)) = self.person_field_col {
            let field = row.text(f).unwrap_or("");
            if PERSON_VALUED_EDIT_FIELDS.contains(&field) {
                for c in [old, new] {
                    if let Some(v) = row.text(c).map(str::to_owned) {
                        let (slot, val) = row.text_slot();
                        ctx.key.pseudonym_into(IdDomain::Person, &v, slot);
                        row.cells[c] = val;
                    }
                }
            }
        }
        for &(si, ei, start, end) in &self.ordered {
            let before = match (&row.cells[si], &row.cells[ei]) {
                (Value::Timestamp(s), Value::Timestamp(e)) => e < s,
                (Value::Date(s), Value::Date(e)) => e < s,
                _ => false,
            };
            if before {
                return Err(refuse(
                    end,
                    "end before start",
                    format!("{end} is before {start}"),
                ));
            }
        }
        for (ci, col) in def.columns.iter().enumerate() {
            let Some(target) = col.references else {
                continue;
            };
            let Some(stored) = row.text(ci) else { continue };
            let h = key_hash(stored);
            let known = if target == table {
                keys.as_deref()
                    .and_then(|k| k.self_ids.as_ref())
                    .is_some_and(|s| s.contains(h))
            } else {
                self.fk_sets[ci].is_some_and(|k| k.contains(h))
            };
            if !known {
                let raw = rec
                    .get(self.map[ci].expect("present"))
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                return Err(refuse(
                    col.name,
                    "unknown reference",
                    format!(
                        "{} {raw:?} is not in the {} table (neither in this batch nor in the store)",
                        col.name,
                        target.name()
                    ),
                ));
            }
        }
        if let (Some(duty), Table::DeviceLocations, Some((dev, at, _))) =
            (ctx.duty, table, self.duty_cols)
        {
            let device = key_hash(row.text(dev).expect("device_id required"));
            let Value::Timestamp(at) = row.cells[at] else {
                unreachable!("device_locations.at is a required timestamp")
            };
            if !duty.on_duty(device, at) {
                return Ok(false);
            }
        }
        let Some(keys) = keys else {
            debug_assert!(self.pk_col.is_none(), "keyed tables are checked in order");
            return Ok(true);
        };
        if let (Some(pk), Some(start)) = (self.pk_col, self.holding_col) {
            // A holding: the identifier may be held again later (a card
            // handed on), so (identifier, start) is what must be unique.
            let id = row.text(pk).expect("primary key is required text");
            let Value::Date(from) = row.cells[start] else {
                unreachable!("holding start is a required date")
            };
            let h = key_hash(&format!("{id}\u{1f}{from}"));
            if let Some(first) = keys.holdings.insert(h, line) {
                let name = def.columns[pk].name;
                return Err(refuse(
                    name,
                    "duplicate holding",
                    format!(
                        "duplicate {name} {id:?} from the same date: first seen at {unit} {first} of this file"
                    ),
                ));
            }
            let _ = keys.own.insert(key_hash(id), line);
        } else if let Some(pk) = self.pk_col {
            let h = key_hash(row.text(pk).expect("primary key is required text"));
            if let Err(seen) = keys.own.insert(h, line) {
                let raw = rec
                    .get(self.map[pk].expect("present"))
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let name = def.columns[pk].name;
                return Err(refuse(
                    name,
                    "duplicate id",
                    match seen {
                        Seen::InStore => format!(
                            "duplicate {name} {raw:?}: already in the store from an earlier batch"
                        ),
                        Seen::InBatch(first) => format!(
                            "duplicate {name} {raw:?}: first seen at {unit} {first} of this file"
                        ),
                    },
                ));
            }
        }
        Ok(true)
    }
}

/// Pseudonyms of the ids met most recently, per column: a direct-mapped
/// table indexed by a fast hash of the id as read, so a repeated id costs a
/// comparison instead of a keyed BLAKE3 hash.
struct IdCache {
    cols: Vec<Vec<(String, String)>>,
}

/// Entries per pseudonymised column (a power of two).
const ID_CACHE: usize = 1024;

impl IdCache {
    fn new(columns: usize) -> IdCache {
        IdCache {
            cols: vec![Vec::new(); columns],
        }
    }

    /// Writes the pseudonym of `id` (column `col`, domain `d`) into `out`.
    fn pseudonym_into(
        &mut self,
        col: usize,
        d: IdDomain,
        id: &str,
        key: &PseudonymKey,
        out: &mut String,
    ) {
        let entries = &mut self.cols[col];
        if entries.is_empty() {
            entries.resize(ID_CACHE, (String::new(), String::new()));
        }
        let slot = xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as usize & (ID_CACHE - 1);
        let (raw, pseudonym) = &mut entries[slot];
        if raw.as_str() != id || pseudonym.is_empty() {
            key.pseudonym_into(d, id, pseudonym);
            raw.clear();
            raw.push_str(id);
        }
        out.push_str(pseudonym);
    }
}

/// Where one worker's rows go: its data files (and the vault), its
/// quarantine file, its counts.
struct Sink<'a> {
    data: PartitionedWriter<'a>,
    vault: Option<VaultWriter<'a>>,
    quarantine: Option<QuarantineWriter>,
    q_abs: std::path::PathBuf,
    stored: u64,
    minimised: u64,
    quarantined: u64,
    reasons: std::collections::BTreeMap<String, u64>,
    /// Up to five examples with the line each was read at.
    examples: Vec<(u64, String)>,
    shifts: Vec<(u64, i64, i64)>,
    devices: Vec<(u64, u64, i32, i32)>,
}

/// What a finished sink hands back.
struct SinkDone {
    data_files: Vec<String>,
    vault: Option<String>,
    quarantine: Option<std::path::PathBuf>,
    shifts: Vec<(u64, i64, i64)>,
    devices: Vec<(u64, u64, i32, i32)>,
}

impl<'a> Sink<'a> {
    fn new(
        layout: &Layout<'_>,
        batch: &'a StagedBatch,
        part: usize,
        q_abs: std::path::PathBuf,
    ) -> Result<Sink<'a>> {
        let vault = match (&layout.vault_cols, layout.def.vault_schema()) {
            (Some(_), Some(schema)) => Some(VaultWriter::new(batch, layout.table, schema)?),
            _ => None,
        };
        Ok(Sink {
            data: PartitionedWriter::new_part(batch, layout.table, part),
            vault,
            quarantine: None,
            q_abs,
            stored: 0,
            minimised: 0,
            quarantined: 0,
            reasons: Default::default(),
            examples: vec![],
            shifts: vec![],
            devices: vec![],
        })
    }

    fn handle(
        &mut self,
        layout: &Layout<'_>,
        outcome: std::result::Result<bool, RowError>,
        rec: &dyn Fields,
        line: u64,
        row: &mut Row,
        keys: Option<&KeyState>,
    ) -> Result<()> {
        match outcome {
            Ok(true) => {
                let part = layout.partition_col.map(|p| &row.cells[p]);
                self.data.append(row, &layout.stored_cols, part)?;
                if let (Some(w), Some(cols), Some(pk), Some(k)) =
                    (self.vault.as_mut(), &layout.vault_cols, layout.pk_col, keys)
                {
                    let stored = row.text(pk).expect("pk").to_owned();
                    let (slot, v) = row.text_slot();
                    slot.push_str(&k.real_key);
                    row.cells[layout.ncols] = v;
                    let (slot, v) = row.text_slot();
                    slot.push_str(&stored);
                    row.cells[layout.ncols + 1] = v;
                    w.append(row, cols)?;
                }
                if let (true, Some(cols)) = (layout.ctx.collect_duty, layout.duty_cols) {
                    collect_duty(layout.table, row, cols, &mut self.shifts, &mut self.devices);
                }
                self.stored += 1;
            }
            Ok(false) => self.minimised += 1,
            Err(e) => {
                let q = match self.quarantine.as_mut() {
                    Some(q) => q,
                    None => self.quarantine.insert(QuarantineWriter::create(
                        &self.q_abs,
                        &layout.header[layout.skip..],
                    )?),
                };
                let (src, unit) = (layout.src, layout.unit);
                // Where the row was first read (a retried quarantine row
                // keeps its original file and line).
                let (first_file, first_line) = if layout.retry {
                    (
                        String::from_utf8_lossy(rec.get(0).unwrap_or_default()).into_owned(),
                        std::str::from_utf8(rec.get(1).unwrap_or_default())
                            .ok()
                            .and_then(|l| l.parse().ok())
                            .unwrap_or(line),
                    )
                } else {
                    (src.name.clone(), line)
                };
                q.write(
                    &first_file,
                    first_line,
                    e.field,
                    &e.reason,
                    rec.all().into_iter().skip(layout.skip),
                )?;
                self.quarantined += 1;
                let key = if e.field.is_empty() {
                    e.kind.to_string()
                } else {
                    format!("{}: {}", e.field, e.kind)
                };
                *self.reasons.entry(key).or_default() += 1;
                if self.examples.len() < 5 {
                    let text = match layout.provenance.and_then(|i| rec.get(i)) {
                        // A mapped row: cite the source row it came from.
                        Some(p) if !p.is_empty() => format!(
                            "{} {unit} {line} (from {}): {}",
                            src.name,
                            String::from_utf8_lossy(p),
                            e.reason
                        ),
                        _ if layout.retry => format!(
                            "{first_file} {unit} {first_line} (retried from {}): {}",
                            src.name, e.reason
                        ),
                        _ => format!("{} {unit} {line}: {}", src.name, e.reason),
                    };
                    self.examples.push((line, text));
                }
            }
        }
        Ok(())
    }

    /// Closes the files and adds the counts to `report`.
    fn finish(self, report: &mut TableReport) -> Result<SinkDone> {
        report.rows_stored += self.stored;
        report.rows_minimised += self.minimised;
        report.rows_quarantined += self.quarantined;
        for (k, n) in self.reasons {
            *report.reasons.entry(k).or_default() += n;
        }
        report
            .examples
            .extend(self.examples.into_iter().map(|(_, t)| t));
        let quarantine = match self.quarantine {
            Some(q) => {
                q.finish()?;
                Some(self.q_abs)
            }
            None => None,
        };
        Ok(SinkDone {
            data_files: self.data.finish()?,
            vault: self.vault.map(VaultWriter::finish).transpose()?.flatten(),
            quarantine,
            shifts: self.shifts,
            devices: self.devices,
        })
    }
}

/// What a worker of a split table hands back: its files, its examples with
/// their lines, its counts.
type WorkerDone = (SinkDone, Vec<(u64, String)>, TableReport);

/// A block of rows copied from the reader for one worker, flat: every
/// field's bytes one after another, so a worker reads the block front to
/// back instead of following a pointer per row (a record per row made the
/// first touch of each row a cache miss: 9% of the ingest's time).
#[derive(Default)]
struct Block {
    bytes: Vec<u8>,
    /// Where each field ends in `bytes`.
    ends: Vec<usize>,
    /// Each field's typed value, beside `ends` (Parquet; empty for CSV).
    typed: Vec<Typed>,
    /// Per row: the line it was read at, and its first field's index in
    /// `ends`.
    rows: Vec<(u64, usize)>,
}

impl Block {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.typed.clear();
        self.rows.clear();
    }

    /// Row `r` and the line it was read at.
    fn row(&self, r: usize) -> (BlockRow<'_>, u64) {
        let (line, first) = self.rows[r];
        let last = self.rows.get(r + 1).map_or(self.ends.len(), |n| n.1);
        let start = if first == 0 { 0 } else { self.ends[first - 1] };
        (
            BlockRow {
                bytes: &self.bytes,
                start,
                ends: &self.ends[first..last],
                typed: self.typed.get(first..last).unwrap_or_default(),
            },
            line,
        )
    }
}

/// Reads the file on this thread and deals blocks of rows to `workers`
/// threads in turn, each checking and writing its own files; merges their
/// quarantine files (in line order) into `q_abs`. Returns the data files
/// and whether any row was quarantined. The same rows are stored,
/// quarantined and dropped as by one thread; the files differ only in how
/// the rows are divided between them.
fn run_split(
    layout: &Layout<'_>,
    reader: &mut RowReader,
    batch: &StagedBatch,
    q_abs: &std::path::Path,
    workers: usize,
    report: &mut TableReport,
) -> Result<(Vec<String>, bool)> {
    use std::sync::mpsc;
    let table = layout.table;
    let ctx = layout.ctx;
    let part_path = |w: usize| {
        let mut p = q_abs.as_os_str().to_owned();
        p.push(format!(".{w}.part"));
        std::path::PathBuf::from(p)
    };
    let (ret_tx, ret_rx) = mpsc::channel::<Block>();
    let mut senders = Vec::with_capacity(workers);
    let results: Vec<Result<WorkerDone>> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Block>(2);
            senders.push(tx);
            let ret = ret_tx.clone();
            let q = part_path(w);
            handles.push(scope.spawn(move || {
                let mut sink = Sink::new(layout, batch, w, q)?;
                let mut row = Row::default();
                let mut cache = IdCache::new(layout.ncols);
                for block in rx {
                    for r in 0..block.rows.len() {
                        let (rec, line) = block.row(r);
                        row.clear(layout.ncols + 2);
                        let outcome = layout.check(&rec, line, &mut row, &mut cache, None);
                        sink.handle(layout, outcome, &rec, line, &mut row, None)?;
                    }
                    // The reader may have finished: a closed channel is fine.
                    let _ = ret.send(block);
                }
                let examples = std::mem::take(&mut sink.examples);
                let mut part = TableReport::new(table, &layout.src.name);
                let done = sink.finish(&mut part)?;
                Ok((done, examples, part))
            }));
        }
        drop(ret_tx);
        let read = (|| -> Result<()> {
            let mut made = 0;
            let mut next = 0usize;
            let mut since_progress = 0usize;
            loop {
                let mut block = if made < workers * 4 {
                    made += 1;
                    Block::default()
                } else {
                    match ret_rx.recv() {
                        Ok(b) => b,
                        // Every worker has stopped (an error): report it.
                        Err(_) => return Ok(()),
                    }
                };
                block.clear();
                while block.rows.len() < BLOCK_ROWS {
                    let Some(line) = reader.next_row()? else {
                        break;
                    };
                    block.rows.push((line, block.ends.len()));
                    reader.copy_row(&mut block.bytes, &mut block.ends, &mut block.typed);
                }
                let n = block.rows.len();
                if n == 0 {
                    return Ok(());
                }
                report.rows_read += n as u64;
                since_progress += n;
                if since_progress >= 16_384 {
                    since_progress = 0;
                    ctx.progress.table_progress(table, reader.progress_bytes());
                }
                if senders[next % workers].send(block).is_err() {
                    // That worker stopped with an error: report it.
                    return Ok(());
                }
                next += 1;
            }
        })();
        senders.clear();
        let mut out: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("ingest workers do not panic"))
            .collect();
        if let Err(e) = read {
            out.insert(0, Err(e));
        }
        out
    });
    ctx.progress.table_progress(table, layout.src.bytes);
    let mut files = vec![];
    let mut parts = vec![];
    let mut examples = vec![];
    for r in results {
        let (done, ex, part) = r?;
        report.rows_stored += part.rows_stored;
        report.rows_minimised += part.rows_minimised;
        report.rows_quarantined += part.rows_quarantined;
        for (k, n) in part.reasons {
            *report.reasons.entry(k).or_default() += n;
        }
        examples.extend(ex);
        files.extend(done.data_files);
        parts.extend(done.quarantine);
    }
    examples.sort_by_key(|(line, _)| *line);
    report
        .examples
        .extend(examples.into_iter().take(5).map(|(_, t)| t));
    let quarantined = !parts.is_empty();
    if quarantined {
        merge_quarantine(&parts, q_abs)?;
    }
    Ok((files, quarantined))
}

/// Merges workers' quarantine files (each in line order, same header) into
/// one file in line order, and removes them.
fn merge_quarantine(parts: &[std::path::PathBuf], out: &std::path::Path) -> Result<()> {
    let csv_err = |p: &std::path::Path, e: csv::Error| {
        Error::Internal(format!("merging quarantine files: {}: {e}", p.display()))
    };
    if let [one] = parts {
        std::fs::rename(one, out).map_err(|e| Error::io(out, e))?;
        return Ok(());
    }
    let mut readers = Vec::with_capacity(parts.len());
    for p in parts {
        let r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(p)
            .map_err(|e| csv_err(p, e))?;
        readers.push(r);
    }
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(out)
        .map_err(|e| csv_err(out, e))?;
    // Heads: the current record of each file (the header first).
    let mut heads: Vec<Option<csv::ByteRecord>> = Vec::with_capacity(parts.len());
    for (r, p) in readers.iter_mut().zip(parts) {
        let mut rec = csv::ByteRecord::new();
        let got = r.read_byte_record(&mut rec).map_err(|e| csv_err(p, e))?;
        heads.push(got.then_some(rec));
    }
    if let Some(Some(h)) = heads.first() {
        w.write_byte_record(h).map_err(|e| csv_err(out, e))?;
    }
    for (i, (r, p)) in readers.iter_mut().zip(parts).enumerate() {
        let mut rec = csv::ByteRecord::new();
        let got = r.read_byte_record(&mut rec).map_err(|e| csv_err(p, e))?;
        heads[i] = got.then_some(rec);
    }
    let line_of = |r: &csv::ByteRecord| {
        r.get(1)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|r| (line_of(r), i)))
            .min();
        let Some((_, i)) = next else { break };
        let rec = heads[i].take().expect("chosen head");
        w.write_byte_record(&rec).map_err(|e| csv_err(out, e))?;
        let mut again = rec;
        let got = readers[i]
            .read_byte_record(&mut again)
            .map_err(|e| csv_err(&parts[i], e))?;
        heads[i] = got.then_some(again);
    }
    w.flush().map_err(|e| Error::io(out, e))?;
    for p in parts {
        std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
    }
    Ok(())
}

fn col_index(def: &TableDef, name: &str) -> usize {
    def.columns
        .iter()
        .position(|c| c.name == name)
        .expect("known column")
}

fn collect_duty(
    table: Table,
    row: &Row,
    (a, b, c): (usize, usize, usize),
    shifts: &mut Vec<(u64, i64, i64)>,
    devices: &mut Vec<(u64, u64, i32, i32)>,
) {
    match (table, row.text(a), &row.cells[b], &row.cells[c]) {
        (Table::Shifts, Some(person), Value::Timestamp(s), Value::Timestamp(e)) => {
            shifts.push((key_hash(person), *s, *e));
        }
        (Table::Devices, Some(device), _, Value::Date(from)) => {
            if let Some(person) = row.text(b) {
                // issued_to follows issued_from in the contract.
                let to = match row.cells[c + 1] {
                    Value::Date(t) => t,
                    _ => i32::MAX,
                };
                devices.push((key_hash(device), key_hash(person), *from, to));
            }
        }
        _ => {}
    }
}

/// For a table whose key it references itself (people.line_manager_id), the
/// set of keys declared anywhere in the file plus those already stored, so
/// that a manager listed after their reports is still known.
fn self_reference_ids(
    src: &SourceInfo,
    def: &TableDef,
    own_keys: &KeySet,
    ctx: &JobContext<'_>,
) -> Result<Option<KeySet>> {
    if !def.columns.iter().any(|c| c.references == Some(src.table)) {
        return Ok(None);
    }
    let pk = def.primary_key.expect("self-referenced tables have a key");
    let col = def.column(pk).expect("pk");
    let mut set = own_keys.clone_stored();
    let Some(mut reader) = RowReader::open(src)? else {
        return Ok(Some(set));
    };
    let Some(i) = reader
        .header()
        .iter()
        .position(|h| h.as_slice() == pk.as_bytes())
    else {
        return Ok(Some(set));
    };
    let mut buf = String::new();
    while let Some(line) = reader.next_row()? {
        let Some(v) = reader.field(i).and_then(|b| std::str::from_utf8(b).ok()) else {
            continue;
        };
        let stored = match col.handling {
            Handling::Pseudonymise(d) => {
                ctx.key.pseudonym_into(d, v, &mut buf);
                buf.as_str()
            }
            _ => v,
        };
        let _ = set.insert(key_hash(stored), line);
    }
    Ok(Some(set))
}

fn parse_cell(
    table: Table,
    col: &ColumnDef,
    s: &str,
    ctx: &JobContext<'_>,
    row: &mut Row,
) -> std::result::Result<Value, RowError> {
    let name = col.name;
    let time_err = |e: TimeError| match e {
        TimeError::Nonexistent { .. } => {
            refuse(name, "nonexistent local time", format!("{name}: {e}"))
        }
        TimeError::Unparsable { .. } => refuse(name, "unreadable value", format!("{name}: {e}")),
    };
    Ok(match col.ty {
        ColType::Str => {
            let (slot, v) = row.text_slot();
            match col.handling {
                Handling::Pseudonymise(d) => ctx.key.pseudonym_into(d, s, slot),
                _ => slot.push_str(s),
            }
            v
        }
        ColType::Enum(values) => {
            if !values.contains(&s) {
                return Err(refuse(
                    name,
                    "unknown value",
                    format!("{name} {s:?} is not one of {}", values.join("|")),
                ));
            }
            let (slot, v) = row.text_slot();
            slot.push_str(s);
            v
        }
        ColType::Date => Value::Date(parse_date(s).map_err(time_err)?),
        ColType::PartialDate => {
            check_partial_date(s).map_err(time_err)?;
            let (slot, v) = row.text_slot();
            slot.push_str(s.trim());
            v
        }
        ColType::Timestamp => Value::Timestamp(ctx.rules.parse_timestamp(s).map_err(time_err)?),
        ColType::Float => {
            let f = s.trim().parse().unwrap_or(f64::NAN);
            Value::Float(check_number(table, name, f, s)?)
        }
    })
}

/// An empty field (or a null): refused in a required column, else no value.
fn absent<T>(col: &ColumnDef) -> std::result::Result<Option<T>, RowError> {
    if col.required {
        return Err(refuse(
            col.name,
            "empty required field",
            format!("{} is required but empty", col.name),
        ));
    }
    Ok(None)
}

/// A number of column `name`, refused if not finite or outside the column's
/// plausible range; `shown` is how the field was written.
fn check_number(
    table: Table,
    name: &'static str,
    f: f64,
    shown: &str,
) -> std::result::Result<f64, RowError> {
    if !f.is_finite() {
        return Err(refuse(
            name,
            "unreadable value",
            format!("{name} {shown:?} is not a number"),
        ));
    }
    if let Some((lo, hi)) = range(table, name)
        && !(lo..=hi).contains(&f)
    {
        return Err(refuse(
            name,
            "out of range",
            format!("{name} {f} is outside {lo}..{hi}"),
        ));
    }
    Ok(f)
}

/// Plausible ranges of numeric columns.
fn range(table: Table, column: &str) -> Option<(f64, f64)> {
    Some(match (table, column) {
        (_, "lat") => (-90.0, 90.0),
        (_, "lon") => (-180.0, 180.0),
        (Table::Sites, "radius_m") => (0.0, 100_000.0),
        (Table::People, "office_days_target") => (0.0, 1.0),
        (Table::People, "contracted_hours_per_week") => (0.0, 168.0),
        (Table::OvertimeClaims, "hours") => (0.0, 168.0),
        (Table::DeviceLocations, "accuracy_m") => (0.0, 1.0e7),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use probity_core::time::days_from_civil;

    #[test]
    fn typed_dates_are_bounded_as_text_dates_are() {
        assert_eq!(i64::from(FIRST_DAY), days_from_civil(0, 1, 1));
        assert_eq!(i64::from(LAST_DAY), days_from_civil(9999, 12, 31));
        assert_eq!(parse_date("0000-01-01"), Ok(FIRST_DAY));
        assert_eq!(parse_date("9999-12-31"), Ok(LAST_DAY));
    }
}
