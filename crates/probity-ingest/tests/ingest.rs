//! Ingest end to end: synthetic force in, store out, and every kind of bad
//! input the contract names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use probity_ingest::{IngestReport, Silent, ingest};
use probity_store::Store;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn query_i64(ctx: &SessionContext, sql: &str) -> i64 {
    rt().block_on(async {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let col = cast(batches[0].column(0), &DataType::Int64).unwrap();
        col.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0)
    })
}

fn synth(dir: &Path, people: usize, days: u32, seed: u64) -> probity_synth::SynthReport {
    synth_as(
        dir,
        people,
        days,
        seed,
        "2026-03-16",
        probity_synth::Format::Csv,
    )
}

fn synth_as(
    dir: &Path,
    people: usize,
    days: u32,
    seed: u64,
    start: &str,
    format: probity_synth::Format,
) -> probity_synth::SynthReport {
    probity_synth::run(
        &probity_synth::SynthConfig {
            out: dir.to_path_buf(),
            people,
            days,
            start: start.into(),
            seed,
            format,
            public_records: None,
            conventions: 0,
        },
        &|_, _| {},
    )
    .unwrap()
}

fn new_store(root: &Path) -> Store {
    Store::init(&root.join("store")).unwrap()
}

/// Duty-time check as SQL: locations of a device whose holder has no shift
/// within 30 minutes of the ping.
const OFF_DUTY_SQL: &str = "SELECT count(*) FROM device_locations l \
    JOIN devices d ON l.device_id = d.device_id \
    WHERE NOT EXISTS (SELECT 1 FROM shifts s WHERE s.person_id = d.person_id \
      AND l.at >= s.start - INTERVAL '30 minutes' AND l.at <= s.\"end\" + INTERVAL '30 minutes')";

#[test]
fn synthetic_force_round_trips_with_counts_minimisation_and_no_plain_identities() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let made = synth(&data, 250, 28, 11);
    let mut store = new_store(tmp.path());
    let report = ingest(&mut store, &data, &Silent).unwrap();
    assert!(report.batch_id.is_some());
    let ctx = store.session_context().unwrap();
    for t in &report.tables {
        let n = query_i64(&ctx, &format!("SELECT count(*) FROM {}", t.table.name()));
        let synthesised = made.rows[t.table.name()];
        assert_eq!(t.rows_read, synthesised, "{}", t.table.name());
        assert_eq!(
            n as u64,
            synthesised - t.rows_quarantined - t.rows_minimised,
            "{}",
            t.table.name()
        );
        assert_eq!(
            t.rows_quarantined,
            0,
            "{}: {:?}",
            t.table.name(),
            t.examples
        );
    }
    // Minimisation: nothing off duty in the store, but there was in the input.
    assert_eq!(query_i64(&ctx, OFF_DUTY_SQL), 0);
    let raw = SessionContext::new();
    rt().block_on(async {
        for t in ["device_locations", "devices", "shifts"] {
            raw.register_csv(
                t,
                data.join(format!("{t}.csv")).to_str().unwrap(),
                CsvReadOptions::new(),
            )
            .await
            .unwrap();
        }
    });
    let raw_off_duty = query_i64(
        &raw,
        &OFF_DUTY_SQL
            .replace("l.at", "CAST(l.at AS TIMESTAMP)")
            .replace("s.start", "CAST(s.start AS TIMESTAMP)")
            .replace("s.\"end\"", "CAST(s.\"end\" AS TIMESTAMP)"),
    );
    let minimised = report
        .tables
        .iter()
        .find(|t| t.table.name() == "device_locations")
        .unwrap()
        .rows_minimised;
    assert!(raw_off_duty > 0, "synth generated no off-duty pings");
    assert_eq!(raw_off_duty as u64, minimised);

    // No person id, name or date of birth in the analytical Parquet files.
    let mut people = csv::Reader::from_path(data.join("people.csv")).unwrap();
    let mut forbidden: HashSet<String> = HashSet::new();
    for r in people.records() {
        let r = r.unwrap();
        forbidden.insert(r[0].to_string());
        forbidden.insert(format!("{} {}", &r[1], &r[2]));
        forbidden.insert(r[2].to_string());
        forbidden.insert(r[3].to_string());
    }
    let mut cells = 0u64;
    for table in probity_core::Table::ALL {
        for rel in store.manifest().data_files(table.name()) {
            assert!(!rel.contains("/vault/"));
            let file = std::fs::File::open(store.path(rel)).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                    if field.data_type() != &DataType::Utf8 {
                        continue;
                    }
                    let s = col.as_string::<i32>();
                    for i in 0..s.len() {
                        if s.is_valid(i) {
                            cells += 1;
                            let v = s.value(i);
                            assert!(
                                !forbidden.contains(v),
                                "{}.{} holds {v:?} in plain text",
                                table.name(),
                                field.name()
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(cells > 100_000);
}

/// The identity vault is sealed at rest: no real id, name or postcode of the
/// input in any vault file, no other file in a vault folder, nothing left in
/// `staging/`, and the vault read back through the store in memory. (The
/// round-trip test above checks the analytical files.)
#[test]
fn the_identity_vault_is_encrypted_at_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 60, 7, 21);
    let mut store = new_store(tmp.path());
    ingest(&mut store, &data, &Silent).unwrap();
    // Identities of five bytes or more: shorter strings could turn up in
    // ciphertext by chance.
    let mut identities: HashSet<String> = HashSet::new();
    let mut people = csv::Reader::from_path(data.join("people.csv")).unwrap();
    for r in people.records() {
        let r = r.unwrap();
        assert!(r[0].len() >= 5, "person ids this short are not checked");
        identities.extend([0, 1, 2, 4].iter().map(|&i| r[i].to_string()));
    }
    let mut records = csv::Reader::from_path(data.join("reference_records.csv")).unwrap();
    let name_col = records
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "full_name")
        .unwrap();
    for r in records.records() {
        identities.insert(r.unwrap()[name_col].to_string());
    }
    identities.retain(|s| s.len() >= 5);
    assert!(identities.len() > 100, "{}", identities.len());
    let vault_files: Vec<String> = ["people", "reference_records"]
        .iter()
        .flat_map(|t| store.manifest().vault_files(t))
        .map(str::to_string)
        .collect();
    assert_eq!(vault_files.len(), 2, "{vault_files:?}");
    let mut files = vec![];
    let mut stack = vec![store.root().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let mut sealed = 0;
    for f in &files {
        let rel = f.strip_prefix(store.root()).unwrap().to_string_lossy();
        assert!(!rel.starts_with("staging/"), "left in staging: {rel}");
        if !rel.contains("/vault/") {
            continue;
        }
        assert!(vault_files.iter().any(|v| *v == rel), "stray {rel}");
        let bytes = std::fs::read(f).unwrap();
        assert!(
            bytes.starts_with(probity_store::vault::MAGIC),
            "{rel} is not sealed"
        );
        assert!(
            !bytes.windows(4).any(|w| w == b"PAR1"),
            "{rel}: Parquet in clear"
        );
        if let Some(found) = identities
            .iter()
            .find(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        {
            panic!("{rel} holds {found:?} in plain text");
        }
        sealed += 1;
    }
    assert_eq!(sealed, 2);
    // Read back with the key: every person, real ids and names.
    let ctx = SessionContext::new();
    store.register_vault(&ctx).unwrap();
    assert_eq!(query_i64(&ctx, "SELECT count(*) FROM vault_people"), 60);
    assert_eq!(
        query_i64(
            &ctx,
            "SELECT count(*) FROM vault_people WHERE person_id = 'P00001' AND length(family_name) > 0"
        ),
        1
    );
}

#[test]
fn reingest_is_a_no_op_and_later_batches_append() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 120, 14, 3);
    // Day one: everything but the badge swipes; day two: the swipes alone.
    let later = tmp.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::rename(
        data.join("badge_events.csv"),
        later.join("badge_events.csv"),
    )
    .unwrap();
    let mut store = new_store(tmp.path());
    ingest(&mut store, &data, &Silent).unwrap();
    let before = std::fs::read(store.root().join("manifest.json")).unwrap();
    let again = ingest(&mut store, &data, &Silent).unwrap();
    assert_eq!(again.batch_id, None);
    assert!(!again.already_ingested.is_empty());
    assert_eq!(
        std::fs::read(store.root().join("manifest.json")).unwrap(),
        before
    );

    let second = ingest(&mut store, &later, &Silent).unwrap();
    assert_eq!(second.batch_id.as_deref(), Some("b000002"));
    let badges = &second.tables[0];
    assert!(badges.rows_read > 0);
    assert_eq!(badges.rows_quarantined, 0, "{:?}", badges.examples);
    let ctx = store.session_context().unwrap();
    assert_eq!(
        query_i64(&ctx, "SELECT count(*) FROM badge_events") as u64,
        badges.rows_stored
    );
    // The same swipes a second time: each is a duplicate of a stored row.
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    let mut text = std::fs::read_to_string(later.join("badge_events.csv")).unwrap();
    text.push('\n');
    std::fs::write(again.join("badge_events.csv"), text).unwrap();
    let third = ingest(&mut store, &again, &Silent).unwrap();
    assert_eq!(third.tables[0].rows_stored, 0);
    assert_eq!(third.tables[0].rows_quarantined, badges.rows_read);
    assert!(third.tables[0].examples[0].contains("already in the store"));

    // A file of the same size as an ingested one but other content (one
    // event id changed) is read, not skipped as already ingested.
    let mut bytes = std::fs::read(later.join("badge_events.csv")).unwrap();
    let row = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let comma = row + bytes[row..].iter().position(|&b| b == b',').unwrap();
    bytes[comma - 1] = if bytes[comma - 1] == b'Z' { b'Y' } else { b'Z' };
    let same_size = tmp.path().join("same_size");
    std::fs::create_dir_all(&same_size).unwrap();
    std::fs::write(same_size.join("badge_events.csv"), bytes).unwrap();
    let fourth = ingest(&mut store, &same_size, &Silent).unwrap();
    assert!(fourth.already_ingested.is_empty());
    assert_eq!(fourth.tables[0].rows_read, badges.rows_read);
    assert_eq!(fourth.tables[0].rows_stored, 1);
}

// ---------------------------------------------------------------------------
// Bad input. A tiny valid force, then one defect at a time.

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn tiny(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    write(
        dir,
        "sites.csv",
        "site_id,name,lat,lon,radius_m\nS1,Brixton,51.46,-0.116,150\n",
    );
    write(dir, "units.csv", "unit_id,name,site_id\nU1,Response A,S1\n");
    write(
        dir,
        "people.csv",
        "person_id,given_name,family_name,date_of_birth,rank,unit_id,line_manager_id,start_date,work_pattern\n\
         P1,Ada,Okafor,1990-02-03,constable,U1,P2,2020-01-01,shift\n\
         P2,Ben,Marsh,1980-05-06,sergeant,U1,,2015-01-01,shift\n",
    );
    write(
        dir,
        "badge_cards.csv",
        "card_id,person_id,valid_from,valid_to\nC1,P1,2020-01-01,\n",
    );
    write(
        dir,
        "devices.csv",
        "device_id,person_id,issued_from,issued_to\nD1,P1,2020-01-01,\n",
    );
    write(dir, "accounts.csv", "account_id,person_id\nA1,P1\n");
    write(
        dir,
        "shifts.csv",
        "shift_id,person_id,unit_id,start,end,kind,pay_code\n\
         SH1,P1,U1,2026-03-16T07:00:00+00:00,2026-03-16T17:00:00+00:00,duty,STD\n\
         SH2,P1,U1,2026-03-28 22:00:00,2026-03-29 07:00:00,duty,STD\n",
    );
}

fn run(
    dir: &Path,
) -> (
    Store,
    probity_ingest::Result<IngestReport>,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = new_store(tmp.path());
    let r = ingest(&mut store, dir, &Silent);
    (store, r, tmp)
}

fn table<'a>(r: &'a IngestReport, name: &str) -> &'a probity_ingest::TableReport {
    r.tables.iter().find(|t| t.table.name() == name).unwrap()
}

fn quarantine(store: &Store, name: &str) -> Vec<csv::ByteRecord> {
    let path = store
        .root()
        .join("quarantine/b000001")
        .join(format!("{name}.csv"));
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .unwrap();
    rd.byte_records().map(Result::unwrap).collect()
}

fn assert_unchanged(store: &Store) {
    let m = probity_store::Manifest::load(&store.root().join("manifest.json")).unwrap();
    assert!(m.batches.is_empty(), "a failed batch committed");
    let staging: Vec<PathBuf> = std::fs::read_dir(store.root().join("staging"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(staging.is_empty(), "staging left behind: {staging:?}");
    assert_eq!(
        std::fs::read_dir(store.root().join("batches"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn the_tiny_force_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let (_, r, _t) = run(tmp.path());
    let r = r.unwrap();
    for t in &r.tables {
        assert_eq!(
            t.rows_quarantined,
            0,
            "{}: {:?}",
            t.table.name(),
            t.examples
        );
    }
    assert_eq!(
        table(&r, "people").rows_stored,
        2,
        "manager listed after report"
    );
}

#[test]
fn a_missing_required_column_stops_the_batch_and_names_file_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    write(tmp.path(), "units.csv", "unit_id,name\nU1,Response A\n");
    let (store, r, _t) = run(tmp.path());
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("units.csv") && e.contains("site_id") && e.contains("line 1"),
        "{e}"
    );
    assert_unchanged(&store);
}

#[test]
fn a_parquet_column_of_the_wrong_type_stops_the_batch() {
    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    std::fs::remove_file(tmp.path().join("shifts.csv")).unwrap();
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("shift_id", DataType::Utf8, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("unit_id", DataType::Utf8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("end", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    let s = |v: &str| std::sync::Arc::new(StringArray::from(vec![v])) as _;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            s("SH1"),
            s("P1"),
            s("U1"),
            std::sync::Arc::new(Int64Array::from(vec![1_700_000_000])),
            std::sync::Arc::new(Int64Array::from(vec![1_700_030_000])),
            s("duty"),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(tmp.path().join("shifts.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (store, r, _t) = run(tmp.path());
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("shifts.parquet") && e.contains("column start") && e.contains("Int64"),
        "{e}"
    );
    assert_unchanged(&store);
}

#[test]
fn parquet_input_with_typed_columns_stores_what_the_same_force_in_csv_stores() {
    // The same force written both ways: Parquet with the contract's types
    // (timestamps with a zone, dates, doubles: read as values) and CSV
    // (read from text) must store the same rows, byte for byte.
    let tmp = tempfile::tempdir().unwrap();
    let (csv, pq) = (tmp.path().join("csv"), tmp.path().join("parquet"));
    synth_as(&csv, 60, 10, 5, "2026-10-20", probity_synth::Format::Csv);
    synth_as(&pq, 60, 10, 5, "2026-10-20", probity_synth::Format::Parquet);
    let (from_csv, r1) = ingest_within_limit(tmp.path(), "a", "a", None, &csv);
    let (from_pq, r2) = ingest_within_limit(tmp.path(), "b", "a", None, &pq);
    for a in &r1.tables {
        let name = a.table.name();
        let b = table(&r2, name);
        assert_eq!(
            (
                a.rows_read,
                a.rows_stored,
                a.rows_quarantined,
                a.rows_minimised
            ),
            (
                b.rows_read,
                b.rows_stored,
                b.rows_quarantined,
                b.rows_minimised
            ),
            "{name}: {:?}",
            b.examples
        );
        assert_eq!(b.rows_quarantined, 0, "{name}: {:?}", b.examples);
        assert_eq!(rows_of(&from_csv, name), rows_of(&from_pq, name), "{name}");
    }
    assert!(table(&r2, "shifts").rows_stored > 100);
    assert!(table(&r2, "device_locations").rows_stored > 1_000);
}

/// The tiny force with `device_locations` in Parquet, typed as a producer
/// would write it (milliseconds in the force's zone): six pings of D1, the
/// same as [`TYPED_PINGS_CSV`].
fn typed_pings(dir: &Path) {
    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};
    use std::sync::Arc;
    tiny(dir);
    let zone = "Europe/London";
    let schema = Arc::new(Schema::new(vec![
        Field::new("device_id", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into())),
            true,
        ),
        Field::new("lat", DataType::Float64, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("accuracy_m", DataType::Float64, true),
    ]));
    // 2026-03-16T08:00:00Z in milliseconds.
    let t0 = 1_773_648_000_000_i64;
    let hour = 3_600_000;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["D1"; 6])),
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(t0),
                    Some(t0 + hour + 123),
                    Some(t0 + 2 * hour),
                    None,
                    Some(t0 + 3 * hour),
                    Some(t0 + 15 * hour),
                ])
                .with_timezone(zone),
            ),
            Arc::new(Float64Array::from(vec![
                51.5,
                f64::NAN,
                123.0,
                51.5,
                51.25,
                51.5,
            ])),
            Arc::new(Float64Array::from(vec![
                -0.1, -0.1, -0.1, -0.1, -0.125, -0.1,
            ])),
            Arc::new(Float64Array::from(vec![
                Some(10.0),
                Some(5.0),
                Some(5.0),
                Some(5.0),
                None,
                Some(5.0),
            ])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(dir.join("device_locations.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The pings of [`typed_pings`] as CSV text.
const TYPED_PINGS_CSV: &str = "device_id,at,lat,lon,accuracy_m\n\
    D1,2026-03-16T08:00:00Z,51.5,-0.1,10\n\
    D1,2026-03-16T09:00:00.123Z,NaN,-0.1,5\n\
    D1,2026-03-16T10:00:00Z,123,-0.1,5\n\
    D1,,51.5,-0.1,5\n\
    D1,2026-03-16T11:00:00Z,51.25,-0.125,\n\
    D1,2026-03-16T23:00:00Z,51.5,-0.1,5\n";

#[test]
fn typed_parquet_values_are_refused_and_quarantined_as_their_text_would_be() {
    let tmp = tempfile::tempdir().unwrap();
    let (csv, pq) = (tmp.path().join("csv"), tmp.path().join("parquet"));
    tiny(&csv);
    write(&csv, "device_locations.csv", TYPED_PINGS_CSV);
    typed_pings(&pq);
    let (from_csv, r1) = ingest_within_limit(tmp.path(), "a", "a", None, &csv);
    let (from_pq, r2) = ingest_within_limit(tmp.path(), "b", "a", None, &pq);
    let (split, r3) = ingest_within_limit(tmp.path(), "c", "a", Some(("split_rows", 1)), &pq);
    let want: std::collections::BTreeMap<String, u64> = [
        ("lat: unreadable value", 1),
        ("lat: out of range", 1),
        ("at: empty required field", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    for (r, store, how) in [
        (&r1, &from_csv, "csv"),
        (&r2, &from_pq, "parquet"),
        (&r3, &split, "split"),
    ] {
        let t = table(r, "device_locations");
        // Two stored, one off duty (23:00, after the 07:00-17:00 shift).
        assert_eq!(counts(t), (6, 2, 3, 1), "{how}: {:?}", t.examples);
        assert_eq!(t.reasons, want, "{how}");
        assert_eq!(
            rows_of(store, "device_locations"),
            rows_of(&from_csv, "device_locations"),
            "{how}"
        );
    }
    let stored = rows_of(&from_pq, "device_locations");
    assert!(
        stored[0].contains("2026-03-16T08:00:00") && stored[0].ends_with("|51.5|-0.1|10.0"),
        "{stored:?}"
    );
    assert!(stored[1].ends_with("|51.25|-0.125|∅"), "{stored:?}");
    // A refused typed field is shown in the quarantine file as text, so the
    // reviewer sees what was refused (source row numbers, 1-based).
    let q: Vec<Vec<String>> = quarantine(&from_pq, "device_locations")
        .iter()
        .map(|r| {
            r.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect()
        })
        .collect();
    let row = |n: &str| {
        q.iter()
            .find(|r| r[1] == n)
            .unwrap_or_else(|| panic!("row {n}: {q:?}"))
    };
    assert_eq!(
        row("2")[2..],
        [
            "lat",
            "lat \"NaN\" is not a number",
            "D1",
            "2026-03-16T09:00:00.123Z",
            "NaN",
            "-0.1",
            "5"
        ]
    );
    assert_eq!(
        row("3")[2..],
        [
            "lat",
            "lat 123 is outside -90..90",
            "D1",
            "2026-03-16T10:00:00Z",
            "123",
            "-0.1",
            "5"
        ]
    );
    assert_eq!(
        row("4")[2..],
        [
            "at",
            "at is required but empty",
            "D1",
            "",
            "51.5",
            "-0.1",
            "5"
        ]
    );
}

/// Writes one extra shifts row and returns the quarantine record for it.
fn bad_shift(row: &str) -> (csv::ByteRecord, u64) {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let mut text = std::fs::read_to_string(tmp.path().join("shifts.csv")).unwrap();
    text.push_str(row);
    text.push('\n');
    write(tmp.path(), "shifts.csv", &text);
    let (store, r, _t) = run(tmp.path());
    let r = r.unwrap();
    let t = table(&r, "shifts");
    assert_eq!(
        t.rows_read,
        t.rows_stored + t.rows_quarantined,
        "a row was lost"
    );
    assert_eq!(t.rows_quarantined, 1, "{:?}", t.examples);
    let q = quarantine(&store, "shifts");
    assert_eq!(&q[0][0], b"shifts.csv");
    assert_eq!(&q[0][1], b"4", "line number");
    (q[0].clone(), t.rows_stored)
}

fn reason(rec: &csv::ByteRecord) -> (String, String) {
    (
        String::from_utf8_lossy(&rec[2]).into_owned(),
        String::from_utf8_lossy(&rec[3]).into_owned(),
    )
}

#[test]
fn row_defects_are_quarantined_with_field_line_and_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "SH3,P1,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,dutty,STD",
            "kind",
            "not one of duty|overtime",
        ),
        (
            "SH3,P1,U1,17/03/2026 07:00,2026-03-17T17:00:00Z,duty,STD",
            "start",
            "cannot read",
        ),
        (
            "SH3,P1,U1,2026-03-29T01:30:00,2026-03-29T09:00:00,duty,STD",
            "start",
            "does not exist in Europe/London",
        ),
        (
            "SH3,P1,U1,2026-03-17T17:00:00Z,2026-03-17T07:00:00Z,duty,STD",
            "end",
            "end is before start",
        ),
        (
            "SH3,P9,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,STD",
            "person_id",
            "\"P9\" is not in the people table",
        ),
        (
            "SH3,P1,U9,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,STD",
            "unit_id",
            "not in the units table",
        ),
        (
            "SH1,P1,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,STD",
            "shift_id",
            "first seen at line 2",
        ),
        (
            "SH3,,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,STD",
            "person_id",
            "required but empty",
        ),
        (
            "SH3,P1,U1,2026-03-17T07:00:00Z",
            "",
            "has 4 fields but the header has 7",
        ),
    ];
    for (row, field, why) in cases {
        let (rec, stored) = bad_shift(row);
        let (f, r) = reason(&rec);
        assert_eq!(&f, field, "{row}");
        assert!(r.contains(why), "{row}: {r}");
        assert_eq!(stored, 2, "{row}");
        // The row itself is kept as read.
        assert_eq!(&rec[4], row.split(',').next().unwrap().as_bytes());
    }
}

#[test]
fn ambiguous_fall_back_time_takes_the_earlier_instant() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let mut text = std::fs::read_to_string(tmp.path().join("shifts.csv")).unwrap();
    text.push_str("SH3,P1,U1,2026-10-24T22:00:00,2026-10-25T01:30:00,duty,STD\n");
    write(tmp.path(), "shifts.csv", &text);
    let (store, r, _t) = run(tmp.path());
    assert_eq!(table(&r.unwrap(), "shifts").rows_stored, 3);
    let ctx = store.session_context().unwrap();
    let ok = query_i64(
        &ctx,
        "SELECT count(*) FROM shifts WHERE shift_id = 'SH3' \
         AND \"end\" = TIMESTAMP '2026-10-25T00:30:00Z'",
    );
    assert_eq!(ok, 1);
}

#[test]
fn non_utf8_bytes_are_quarantined_and_kept_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let mut bytes = std::fs::read(tmp.path().join("shifts.csv")).unwrap();
    bytes.extend_from_slice(
        b"SH3,P1,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,ST\xff\xfeD\n",
    );
    std::fs::write(tmp.path().join("shifts.csv"), bytes).unwrap();
    let (store, r, _t) = run(tmp.path());
    assert_eq!(table(&r.unwrap(), "shifts").rows_quarantined, 1);
    let q = quarantine(&store, "shifts");
    let (f, why) = reason(&q[0]);
    assert_eq!(f, "pay_code");
    assert!(why.contains("not valid UTF-8"), "{why}");
    assert_eq!(&q[0][10], b"ST\xff\xfeD");
}

#[test]
fn a_truncated_last_line_is_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let mut text = std::fs::read_to_string(tmp.path().join("shifts.csv")).unwrap();
    text.push_str("SH3,P1,U1,2026-03-17T07:00:00Z,2026-03-17T1"); // no newline, cut short
    write(tmp.path(), "shifts.csv", &text);
    let (_, r, _t) = run(tmp.path());
    let t = table(&r.unwrap(), "shifts").clone();
    assert_eq!((t.rows_read, t.rows_stored, t.rows_quarantined), (3, 2, 1));
    assert!(t.examples[0].contains("line 4"), "{:?}", t.examples);
}

#[test]
fn a_ten_megabyte_field_is_quarantined_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    let mut text = std::fs::read_to_string(tmp.path().join("shifts.csv")).unwrap();
    text.push_str("SH3,P1,U1,2026-03-17T07:00:00Z,2026-03-17T17:00:00Z,duty,");
    text.push_str(&"X".repeat(10 << 20));
    text.push('\n');
    write(tmp.path(), "shifts.csv", &text);
    let (_, r, _t) = run(tmp.path());
    let t = table(&r.unwrap(), "shifts").clone();
    assert_eq!(t.rows_quarantined, 1);
    assert!(
        t.examples[0].contains("10485760 bytes long"),
        "{:?}",
        t.examples
    );
}

#[test]
fn unknown_card_device_and_account_ids_are_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    write(
        tmp.path(),
        "badge_events.csv",
        "event_id,card_id,site_id,door,at,direction\nE1,C1,S1,,2026-03-16T06:50:00Z,in\nE2,C9,S1,,2026-03-16T06:50:00Z,in\n",
    );
    write(
        tmp.path(),
        "device_sessions.csv",
        "session_id,device_id,account_id,start,end,network\nX1,D1,A1,2026-03-16T08:00:00Z,2026-03-16T09:00:00Z,office\nX2,D9,A1,2026-03-16T08:00:00Z,2026-03-16T09:00:00Z,office\nX3,D1,A9,2026-03-16T08:00:00Z,2026-03-16T09:00:00Z,office\n",
    );
    write(
        tmp.path(),
        "device_locations.csv",
        "device_id,at,lat,lon,accuracy_m\nD1,2026-03-16T08:00:00Z,51.46,-0.116,10\nD1,2026-03-16T21:00:00Z,51.5,-0.1,10\nD7,2026-03-16T08:00:00Z,51.46,-0.116,10\n",
    );
    let (_, r, _t) = run(tmp.path());
    let r = r.unwrap();
    assert_eq!(table(&r, "badge_events").rows_quarantined, 1);
    assert_eq!(table(&r, "device_sessions").rows_quarantined, 2);
    let loc = table(&r, "device_locations");
    assert_eq!(
        (loc.rows_stored, loc.rows_minimised, loc.rows_quarantined),
        (1, 1, 1)
    );
}

#[test]
fn later_pings_are_judged_against_the_shifts_of_earlier_batches() {
    // A daily batch of pings alone: duty time comes from the shifts
    // committed before, read a month at a time. SH3 starts in March (UTC) and
    // ends in April, so an April ping needs March's shifts.
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    tiny(&first);
    write(
        &first,
        "shifts.csv",
        "shift_id,person_id,unit_id,start,end,kind,pay_code\n\
         SH1,P1,U1,2026-03-16T07:00:00+00:00,2026-03-16T17:00:00+00:00,duty,STD\n\
         SH3,P1,U1,2026-03-31T22:00:00Z,2026-04-01T08:00:00Z,duty,STD\n",
    );
    let store_dir = tempfile::tempdir().unwrap();
    let mut store = new_store(store_dir.path());
    ingest(&mut store, &first, &Silent).unwrap();
    let day = tmp.path().join("day");
    std::fs::create_dir_all(&day).unwrap();
    write(
        &day,
        "device_locations.csv",
        "device_id,at,lat,lon,accuracy_m\n\
         D1,2026-04-01T07:00:00Z,51.46,-0.116,10\n\
         D1,2026-04-01T08:29:00Z,51.46,-0.116,10\n\
         D1,2026-04-01T08:31:00Z,51.46,-0.116,10\n\
         D1,2026-03-16T08:00:00Z,51.46,-0.116,10\n\
         D1,2026-03-20T12:00:00Z,51.46,-0.116,10\n\
         D1,2026-05-01T07:00:00Z,51.46,-0.116,10\n",
    );
    let r = ingest(&mut store, &day, &Silent).unwrap();
    let loc = table(&r, "device_locations");
    assert_eq!(
        (loc.rows_stored, loc.rows_minimised, loc.rows_quarantined),
        (3, 3, 0),
        "kept: in SH3 (a March shift) and its grace, and in SH1; dropped: past the grace, \
         between shifts, and in a month with no shifts"
    );
}

#[test]
fn empty_files_and_non_table_files_only_warn() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    write(tmp.path(), "complaints.csv", "");
    write(
        tmp.path(),
        "absences.csv",
        "absence_id,person_id,kind,start_date,end_date\n",
    );
    write(tmp.path(), "notes.txt", "hello");
    write(
        tmp.path(),
        "truth.csv",
        "person_id,scenario,period_start,period_end\n",
    );
    write(tmp.path(), "payroll.csv", "a,b\n1,2\n");
    // A .csv that names no table is refused (it may be a misnamed table)...
    let (_, r, _t) = run(tmp.path());
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("payroll.csv") && e.contains("--allow-extra-files"),
        "{e}"
    );
    // ... unless the folder is declared to hold other exports too.
    let store_dir = tempfile::tempdir().unwrap();
    let mut store = new_store(store_dir.path());
    let r = probity_ingest::ingest_with(&mut store, tmp.path(), &Silent, true).unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("notes.txt")));
    assert!(r.warnings.iter().any(|w| w.contains("payroll.csv")));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("truth.csv") && w.contains("ground truth"))
    );
    assert!(table(&r, "complaints").notes[0].contains("empty file"));
    assert_eq!(table(&r, "absences").rows_read, 0);
}

#[test]
fn unknown_columns_are_ignored_with_one_warning() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path());
    write(
        tmp.path(),
        "units.csv",
        "unit_id,name,site_id,colour\nU1,Response A,S1,blue\n",
    );
    let (_, r, _t) = run(tmp.path());
    let r = r.unwrap();
    let notes = &table(&r, "units").notes;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("colour"));
}

/// Every stored row of a table, as text, sorted: the table's content
/// whatever the files it is divided into.
fn rows_of(store: &Store, table: &str) -> Vec<String> {
    let ctx = store.session_context().unwrap();
    rt().block_on(async {
        let batches = ctx
            .sql(&format!("SELECT * FROM {table}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut rows = vec![];
        for b in &batches {
            let cols: Vec<_> = b
                .columns()
                .iter()
                .map(|c| cast(c, &DataType::Utf8).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                let cells: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        if c.is_null(i) {
                            "∅".to_string()
                        } else {
                            c.value(i).to_string()
                        }
                    })
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        rows.sort();
        rows
    })
}

/// A table's rows read, stored, quarantined and minimised.
fn counts(t: &probity_ingest::TableReport) -> (u64, u64, u64, u64) {
    (
        t.rows_read,
        t.rows_stored,
        t.rows_quarantined,
        t.rows_minimised,
    )
}

/// A store at `dir/name` with one `[ingest]` setting changed from its
/// default of 1000000. Stores after the first (`first`) take its pseudonym
/// key, so their rows compare.
fn store_to_compare(dir: &Path, name: &str, first: &str, setting: Option<(&str, u64)>) -> Store {
    let root = dir.join(name);
    drop(Store::init(&root).unwrap());
    if name != first {
        std::fs::copy(
            dir.join(first).join("keys/pseudonym.key"),
            root.join("keys/pseudonym.key"),
        )
        .unwrap();
    }
    if let Some((key, n)) = setting {
        let config = root.join("probity.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(&format!("\n{key} = 1000000\n"), &format!("\n{key} = {n}\n"));
        assert!(text.contains(&format!("\n{key} = {n}\n")), "{key}");
        std::fs::write(&config, text).unwrap();
    }
    Store::open_for_write(&root).unwrap()
}

#[test]
fn a_table_split_across_threads_stores_and_quarantines_exactly_what_one_thread_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 250, 28, 11);
    // Defects spread through the file, so that every worker meets some:
    // an unknown device, an unreadable time, a short line, a latitude out
    // of range.
    let path = data.join("device_locations.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let total = lines.len();
    assert!(total > 8 * 4096, "enough rows for several blocks: {total}");
    for (k, i) in (1..total).step_by(2_999).enumerate() {
        let f: Vec<&str> = lines[i].split(',').collect();
        lines[i] = match k % 4 {
            0 => format!("D9999999,{},{},{},{}", f[1], f[2], f[3], f[4]),
            1 => format!("{},2026-13-40T25:00:00Z,{},{},{}", f[0], f[2], f[3], f[4]),
            2 => format!("{},{}", f[0], f[1]),
            _ => format!("{},{},91.5,{},{}", f[0], f[1], f[3], f[4]),
        };
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let ingest_with = |name: &str, split_rows: Option<u64>| {
        let mut store = store_to_compare(
            tmp.path(),
            name,
            "one",
            split_rows.map(|n| ("split_rows", n)),
        );
        let report = ingest(&mut store, &data, &Silent).unwrap();
        (store, report)
    };
    let (one, r1) = ingest_with("one", None);
    let (split, r2) = ingest_with("split", Some(1));

    let (a, b) = (
        table(&r1, "device_locations"),
        table(&r2, "device_locations"),
    );
    assert!(a.rows_quarantined >= 8, "{a:?}");
    assert_eq!(counts(a), counts(b));
    assert_eq!(a.reasons, b.reasons);
    assert_eq!(a.examples, b.examples, "the first five, in line order");
    // The split table was written as several files per month.
    let files = |s: &Store| s.manifest().data_files("device_locations").len();
    assert!(
        files(&split) > files(&one),
        "{} vs {}",
        files(&split),
        files(&one)
    );
    // The same rows stored, and one quarantine file in line order, byte for
    // byte the same.
    assert_eq!(
        rows_of(&one, "device_locations"),
        rows_of(&split, "device_locations")
    );
    let q = |s: &Store| {
        std::fs::read(s.root().join("quarantine/b000001/device_locations.csv")).unwrap()
    };
    assert_eq!(q(&one), q(&split));
    let leftovers: Vec<_> = std::fs::read_dir(split.root().join("quarantine/b000001"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Tables with keys are never split: the same files either way.
    assert_eq!(
        one.manifest().data_files("shifts").len(),
        split.manifest().data_files("shifts").len()
    );
}

#[test]
fn keys_counted_in_sorted_runs_refuse_exactly_the_duplicates_a_key_table_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 120, 21, 5);
    // Two batches: the look-ups of the first two weeks, then the rest with
    // some of the first batch's ids again.
    let path = data.join("system_queries.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    assert!(header.starts_with("query_id,"), "{header}");
    let total = lines.len();
    assert!(total > 2_000, "enough look-ups: {total}");
    let (mut first, mut second) = (lines[..total / 2].to_vec(), lines[total / 2..].to_vec());
    let id = |l: &str| l.split(',').next().unwrap().to_string();
    let with_id = |l: &str, new: &str| format!("{new}{}", &l[l.find(',').unwrap()..]);
    // In the first batch: an id repeated at once and one repeated far
    // later; an id whose first row is refused for another reason (so its
    // later row is the first stored); a row with too few fields.
    let a = id(&first[10]);
    first.insert(11, with_id(&first[12], &a));
    let b = id(&first[20]);
    let far = first.len() - 3;
    first[far] = with_id(&first[far], &b);
    let c = id(&first[40]);
    let mut fields: Vec<String> = with_id(&first[30], &c)
        .split(',')
        .map(String::from)
        .collect();
    fields[3] = "not-a-time".into();
    first[30] = fields.join(",");
    let short = first[50].split(',').take(2).collect::<Vec<_>>().join(",");
    first[50] = short;
    // In the second: ids committed by the first batch, one of them twice.
    let d = id(&first[100]);
    second[5] = with_id(&second[5], &d);
    second[6] = with_id(&second[6], &d);
    let e = id(&first[200]);
    let last = second.len() - 1;
    second[last] = with_id(&second[last], &e);
    // The second file quotes a field late on, so the key pass that finds
    // the key column of an unquoted file with `memchr` gives up there and
    // reads the whole file with the CSV reader again.
    let mut quoted: Vec<String> = second[last - 2].split(',').map(String::from).collect();
    quoted[2] = format!("\"{}\"", quoted[2]);
    second[last - 2] = quoted.join(",");

    let one_batch = |dir: &Path, rows: &[String], others: bool| {
        std::fs::create_dir_all(dir).unwrap();
        if others {
            for f in std::fs::read_dir(&data).unwrap() {
                let f = f.unwrap();
                if f.file_name() != "system_queries.csv" && f.file_name() != "truth.csv" {
                    std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
                }
            }
        }
        let mut body = header.clone() + "\n";
        body.push_str(&rows.join("\n"));
        body.push('\n');
        std::fs::write(dir.join("system_queries.csv"), body).unwrap();
    };
    let (d1, d2) = (tmp.path().join("b1"), tmp.path().join("b2"));
    one_batch(&d1, &first, true);
    one_batch(&d2, &second, false);

    let ingest_with = |name: &str, sort_keys_rows: Option<u64>| {
        let mut store = store_to_compare(
            tmp.path(),
            name,
            "table",
            sort_keys_rows.map(|n| ("sort_keys_rows", n)),
        );
        let r1 = ingest(&mut store, &d1, &Silent).unwrap();
        let r2 = ingest(&mut store, &d2, &Silent).unwrap();
        (store, r1, r2)
    };
    let counted =
        || probity_ingest::KEYS_COUNTED_IN_RUNS.load(std::sync::atomic::Ordering::Relaxed);
    let before = counted();
    let (kept, k1, k2) = ingest_with("table", None);
    assert_eq!(counted(), before, "small tables hold their keys in memory");
    let (sorted, s1, s2) = ingest_with("sorted", Some(1));
    assert!(
        counted() >= before + 2,
        "both batches' look-ups counted their keys in runs"
    );

    for (k, s, batch) in [(&k1, &s1, "b000001"), (&k2, &s2, "b000002")] {
        let (k, s) = (table(k, "system_queries"), table(s, "system_queries"));
        assert_eq!(
            (k.rows_read, k.rows_stored, k.rows_quarantined),
            (s.rows_read, s.rows_stored, s.rows_quarantined),
            "{batch}"
        );
        assert_eq!(k.reasons, s.reasons, "{batch}");
        assert_eq!(k.examples, s.examples, "{batch}");
        let q = |st: &Store| {
            std::fs::read(
                st.root()
                    .join(format!("quarantine/{batch}/system_queries.csv")),
            )
            .unwrap()
        };
        assert_eq!(
            q(&kept),
            q(&sorted),
            "{batch}: the same quarantine, byte for byte"
        );
        let index = |st: &Store| {
            std::fs::read(
                st.root()
                    .join(format!("batches/{batch}/index/system_queries.keys")),
            )
            .unwrap()
        };
        assert_eq!(index(&kept), index(&sorted), "{batch}: the same key index");
        assert!(
            !sorted
                .root()
                .join(format!("batches/{batch}/scratch"))
                .exists(),
            "no sorted runs are left in the store"
        );
    }
    // What the planted rows did.
    let (r1, r2) = (table(&s1, "system_queries"), table(&s2, "system_queries"));
    assert_eq!(r1.reasons.get("query_id: duplicate id"), Some(&2), "{r1:?}");
    assert_eq!(r1.rows_quarantined, 4, "{r1:?}");
    assert_eq!(r2.reasons.get("query_id: duplicate id"), Some(&3), "{r2:?}");
    assert!(
        r2.examples
            .iter()
            .filter(|e| e.contains("already in the store"))
            .count()
            == 3,
        "{:?}",
        r2.examples
    );
    assert!(
        r1.examples
            .iter()
            .any(|e| e.contains(&format!("{a:?}: first seen at line 12"))),
        "{:?}",
        r1.examples
    );
    // Every table, counted in runs or not (with the threshold at 1, the
    // swipes, sessions, claims, edits, ... were too), stored the same.
    let sums = |r: &IngestReport| -> std::collections::BTreeSet<(String, u64, u64, u64)> {
        r.tables
            .iter()
            .map(|t| {
                (
                    t.table.name().to_string(),
                    t.rows_read,
                    t.rows_stored,
                    t.rows_quarantined,
                )
            })
            .collect()
    };
    assert_eq!(sums(&k1), sums(&s1));
    for t in [
        "system_queries",
        "badge_events",
        "device_sessions",
        "overtime_claims",
    ] {
        assert_eq!(rows_of(&kept, t), rows_of(&sorted, t), "{t}");
    }
}

/// Ingests `data` into a store compared with `first`, on another thread,
/// failing instead of hanging if it has not finished in two minutes (a
/// batch of this size takes under a second).
fn ingest_within_limit(
    dir: &Path,
    name: &str,
    first: &str,
    setting: Option<(&str, u64)>,
    data: &Path,
) -> (Store, IngestReport) {
    let mut store = store_to_compare(dir, name, first, setting);
    let data = data.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = ingest(&mut store, &data, &Silent);
        let _ = tx.send((store, r));
    });
    let (store, r) = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{name}: ingest did not finish"));
    (store, r.unwrap())
}

#[test]
fn every_table_split_across_threads_reads_csv_and_parquet_as_one_thread_does() {
    for format in [probity_synth::Format::Parquet, probity_synth::Format::Csv] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        synth_as(&data, 60, 10, 5, "2026-10-20", format);
        let (one, r1) = ingest_within_limit(tmp.path(), "one", "one", None, &data);
        // Every table without keys takes the split path.
        let (split, r2) =
            ingest_within_limit(tmp.path(), "split", "one", Some(("split_rows", 1)), &data);
        let mut split_tables = 0;
        for a in &r1.tables {
            let name = a.table.name();
            let b = table(&r2, name);
            assert_eq!(counts(a), counts(b), "{format:?} {name}");
            assert_eq!(a.reasons, b.reasons, "{format:?} {name}");
            assert_eq!(
                rows_of(&one, name),
                rows_of(&split, name),
                "{format:?} {name}"
            );
            if a.rows_stored > 0 && a.table.def().primary_key.is_none() {
                split_tables += 1;
            }
        }
        assert!(split_tables >= 2, "{format:?}: {split_tables} tables split");
        assert!(
            table(&r1, "device_locations").rows_stored > 1_000,
            "{format:?}"
        );
    }
}
