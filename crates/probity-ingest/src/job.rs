//! Ingest of one table file: every row read, validated, pseudonymised and
//! either written (store and vault) or quarantined with its reason.

use std::collections::HashMap;
use std::time::Instant;

use probity_core::schema::PERSON_VALUED_EDIT_FIELDS;
use probity_core::time::{TimeError, check_partial_date, parse_date};
use probity_core::{
    ColType, ColumnDef, Handling, IdDomain, PseudonymKey, Table, TableDef, TimeRules,
};
use probity_store::keys::{KeySet, Seen, key_hash};
use probity_store::{StagedBatch, TableOutput};

use crate::duty::DutyIndex;
use crate::source::{RowReader, SourceInfo};
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
    /// Key sets of tables already ingested (committed plus this batch).
    pub keys: &'a HashMap<Table, KeySet>,
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

pub(crate) fn run(
    src: &SourceInfo,
    batch: &StagedBatch,
    mut own_keys: KeySet,
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
            keys: own_keys,
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
    let stored_cols: Vec<usize> = def
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.handling != Handling::Vault)
        .map(|(i, _)| i)
        .collect();
    let partition_col = def.partition_by.map(|p| {
        def.columns
            .iter()
            .position(|c| c.name == p)
            .expect("partition column")
    });
    let pk_col = def.primary_key.map(|p| {
        def.columns
            .iter()
            .position(|c| c.name == p)
            .expect("pk column")
    });
    let holding_col = def.holding_start().map(|c| col_index(&def, c));
    let mut holdings_seen: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
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
    let mut data = PartitionedWriter::new(batch, table);
    let mut vault = def
        .vault_schema()
        .map(|schema| VaultWriter::new(batch, table, schema))
        .transpose()?;
    let mut quarantine: Option<QuarantineWriter> = None;
    let (q_abs, q_rel) = batch.quarantine_file(table)?;

    // Self-references (people.line_manager_id): ids declared anywhere in this file.
    let self_ids = self_reference_ids(src, &def, &own_keys, ctx)?;

    let person_field_col = (table == Table::RosterEdits).then(|| {
        (
            col_index(&def, "field"),
            col_index(&def, "old_value"),
            col_index(&def, "new_value"),
        )
    });
    let ordered: Vec<(usize, usize, &'static str, &'static str)> = def
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
        .collect();
    // Cells that feed the duty-time rule: (person or device, start or at, end).
    let duty_cols = match table {
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
        Table::DeviceLocations => Some((col_index(&def, "device_id"), col_index(&def, "at"), 0)),
        _ => None,
    };

    let mut row = Row::default();
    let mut real_key = String::new();
    let mut shifts_out = vec![];
    let mut devices_out = vec![];
    let unit = reader.unit();
    let mut since_progress = 0u32;
    while let Some(line) = reader.next_row()? {
        report.rows_read += 1;
        since_progress += 1;
        if since_progress == 16_384 {
            since_progress = 0;
            ctx.progress.table_progress(table, reader.progress_bytes());
        }
        row.clear(ncols + 2);
        let outcome = (|| -> std::result::Result<bool, RowError> {
            if reader.len() != header.len() {
                return Err(refuse(
                    "",
                    "wrong number of fields",
                    format!(
                        "{unit} has {} fields but the header has {} (truncated or malformed line)",
                        reader.len(),
                        header.len()
                    ),
                ));
            }
            for (ci, col) in def.columns.iter().enumerate() {
                let Some(si) = map[ci] else { continue };
                let bytes = reader.field(si).unwrap_or(b"");
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
                    if col.required {
                        return Err(refuse(
                            col.name,
                            "empty required field",
                            format!("{} is required but empty", col.name),
                        ));
                    }
                    continue;
                }
                row.cells[ci] = parse_cell(table, col, s, ctx, &mut row)?;
                if Some(ci) == pk_col && vault_cols.is_some() {
                    real_key.clear();
                    real_key.push_str(s);
                }
            }
            if let Some((f, old, new)) = person_field_col {
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
            for &(si, ei, start, end) in &ordered {
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
                    self_ids.as_ref().is_some_and(|s| s.contains(h))
                } else {
                    ctx.keys.get(&target).is_some_and(|k| k.contains(h))
                };
                if !known {
                    let raw = reader
                        .field(map[ci].expect("present"))
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
                (ctx.duty, table, duty_cols)
            {
                let device = key_hash(row.text(dev).expect("device_id required"));
                let Value::Timestamp(at) = row.cells[at] else {
                    unreachable!("device_locations.at is a required timestamp")
                };
                if !duty.on_duty(device, at) {
                    return Ok(false);
                }
            }
            if let (Some(pk), Some(start)) = (pk_col, holding_col) {
                // A holding: the identifier may be held again later (a card
                // handed on), so (identifier, start) is what must be unique.
                let id = row.text(pk).expect("primary key is required text");
                let Value::Date(from) = row.cells[start] else {
                    unreachable!("holding start is a required date")
                };
                let h = key_hash(&format!("{id}\u{1f}{from}"));
                if let Some(first) = holdings_seen.insert(h, line) {
                    let name = def.columns[pk].name;
                    return Err(refuse(
                        name,
                        "duplicate holding",
                        format!(
                            "duplicate {name} {id:?} from the same date: first seen at {unit} {first} of this file"
                        ),
                    ));
                }
                let _ = own_keys.insert(key_hash(id), line);
            } else if let Some(pk) = pk_col {
                let h = key_hash(row.text(pk).expect("primary key is required text"));
                if let Err(seen) = own_keys.insert(h, line) {
                    let raw = reader
                        .field(map[pk].expect("present"))
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
        })();
        match outcome {
            Ok(true) => {
                let part = partition_col.map(|p| &row.cells[p]);
                data.append(&row, &stored_cols, part)?;
                if let (Some(w), Some(cols), Some(pk)) = (vault.as_mut(), &vault_cols, pk_col) {
                    let stored = row.text(pk).expect("pk").to_owned();
                    let (slot, v) = row.text_slot();
                    slot.push_str(&real_key);
                    row.cells[ncols] = v;
                    let (slot, v) = row.text_slot();
                    slot.push_str(&stored);
                    row.cells[ncols + 1] = v;
                    w.append(&row, cols)?;
                }
                if let (true, Some(cols)) = (ctx.collect_duty, duty_cols) {
                    collect_duty(table, &row, cols, &mut shifts_out, &mut devices_out);
                }
                report.rows_stored += 1;
            }
            Ok(false) => report.rows_minimised += 1,
            Err(e) => {
                let q = match quarantine.as_mut() {
                    Some(q) => q,
                    None => quarantine.insert(QuarantineWriter::create(&q_abs, &header[skip..])?),
                };
                // Where the row was first read (a retried quarantine row
                // keeps its original file and line).
                let (first_file, first_line) = if retry {
                    (
                        String::from_utf8_lossy(reader.field(0).unwrap_or_default()).into_owned(),
                        std::str::from_utf8(reader.field(1).unwrap_or_default())
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
                    reader.raw().into_iter().skip(skip),
                )?;
                report.rows_quarantined += 1;
                let key = if e.field.is_empty() {
                    e.kind.to_string()
                } else {
                    format!("{}: {}", e.field, e.kind)
                };
                *report.reasons.entry(key).or_default() += 1;
                if report.examples.len() < 5 {
                    report
                        .examples
                        .push(match provenance.and_then(|i| reader.field(i)) {
                            // A mapped row: cite the source row it came from.
                            Some(p) if !p.is_empty() => format!(
                                "{} {unit} {line} (from {}): {}",
                                src.name,
                                String::from_utf8_lossy(p),
                                e.reason
                            ),
                            _ if retry => format!(
                                "{first_file} {unit} {first_line} (retried from {}): {}",
                                src.name, e.reason
                            ),
                            _ => format!("{} {unit} {line}: {}", src.name, e.reason),
                        });
                }
            }
        }
    }
    ctx.progress.table_progress(table, src.bytes);

    let mut output = TableOutput {
        rows_read: report.rows_read,
        rows_stored: report.rows_stored,
        rows_quarantined: report.rows_quarantined,
        rows_minimised: report.rows_minimised,
        data_files: data.finish()?,
        ..Default::default()
    };
    if let Some(rel) = vault.map(VaultWriter::finish).transpose()?.flatten() {
        output.vault_files.push(rel);
    }
    if let Some(q) = quarantine {
        q.finish()?;
        output.quarantine_file = Some(q_rel);
    }
    if pk_col.is_some() && own_keys.batch_len() > 0 {
        let (abs, rel) = batch.key_index_file(table)?;
        own_keys.write_batch_index(&abs)?;
        output.key_index = Some(rel);
    }
    report.elapsed = started.elapsed();
    ctx.progress.table_finished(&report);
    Ok(JobOutput {
        report,
        output,
        keys: own_keys,
        shifts: shifts_out,
        devices: devices_out,
    })
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
            let f: f64 = s
                .trim()
                .parse()
                .ok()
                .filter(|f: &f64| f.is_finite())
                .ok_or_else(|| {
                    refuse(
                        name,
                        "unreadable value",
                        format!("{name} {s:?} is not a number"),
                    )
                })?;
            if let Some((lo, hi)) = range(table, name)
                && !(lo..=hi).contains(&f)
            {
                return Err(refuse(
                    name,
                    "out of range",
                    format!("{name} {f} is outside {lo}..{hi}"),
                ));
            }
            Value::Float(f)
        }
    })
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
