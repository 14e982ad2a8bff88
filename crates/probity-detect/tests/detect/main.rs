//! Detectors end to end on a synthetic force: planted misconduct is found,
//! innocent look-alikes are not, every finding's evidence exists in the store
//! and its numbers can be recomputed from that evidence.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use probity_detect::eval::{evaluate, pseudonymise, read_confounders, read_truth};
use probity_detect::finding::{FindingRecord, Identity, read_jsonl};
use probity_detect::{AnalysisReport, Plan, Silent, write_outputs};
use probity_store::Store;

mod classes;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    store: PathBuf,
    out: PathBuf,
    report: AnalysisReport,
}

/// One synthetic force (1,000 staff × 120 days, seed 3), ingested and
/// analysed once for all tests here.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = dir.path().join("store");
        let out = dir.path().join("out");
        synth(&data, 1000, 120, 3);
        let mut s = new_store(&store);
        probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
        let s = Store::open(&store).unwrap();
        let report = analyse(&s, &["complaint_threshold"]);
        write_outputs(&out, &report, &Identity::Pseudonyms).unwrap();
        Fixture {
            _dir: dir,
            data,
            store,
            out,
            report,
        }
    })
}

/// A new store whose governance approves every detector (as the demo's).
fn new_store(path: &Path) -> Store {
    let s = Store::init(path).unwrap();
    let approved: jiff::civil::Date = "2026-01-01".parse().unwrap();
    s.install_governance(&probity_detect::governance::governance_approving_all(
        "test approver",
        approved,
        100_000,
    ))
    .unwrap();
    s
}

fn synth(dir: &Path, people: usize, days: u32, seed: u64) {
    synth_with(dir, people, days, seed, 0);
}

fn synth_with(dir: &Path, people: usize, days: u32, seed: u64, conventions: u32) {
    probity_synth::run(
        &probity_synth::SynthConfig {
            out: dir.to_path_buf(),
            people,
            days,
            start: "2026-01-05".into(),
            seed,
            format: probity_synth::Format::Csv,
            public_records: None,
            conventions,
        },
        &|_, _| {},
    )
    .unwrap();
}

fn analyse(s: &Store, enable: &[&str]) -> AnalysisReport {
    let plan = Plan::with_overrides(s, enable).unwrap();
    rt().block_on(plan.run(&Silent)).unwrap()
}

fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    rt().block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() })
}

fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    let mut out = vec![];
    for b in batches {
        let c = cast(b.column(col), &DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        for i in 0..c.len() {
            out.push(c.value(i).to_string());
        }
    }
    out
}

fn number(batches: &[RecordBatch]) -> f64 {
    let c = cast(batches[0].column(0), &DataType::Float64).unwrap();
    let c = c.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    if c.is_null(0) { 0.0 } else { c.value(0) }
}

#[test]
fn planted_misconduct_is_found_and_lookalikes_are_not() {
    let f = fixture();
    let s = Store::open(&f.store).unwrap();
    let findings = read_jsonl(&f.out.join("findings.jsonl")).unwrap();
    let mut truth = read_truth(&f.data.join("truth.csv")).unwrap();
    let mut conf = read_confounders(&f.data.join("confounders.csv")).unwrap();
    pseudonymise(
        s.pseudonym_key(),
        truth.iter_mut().map(|t| &mut t.person_id),
    );
    pseudonymise(s.pseudonym_key(), conf.iter_mut().map(|c| &mut c.person_id));
    let e = evaluate(&findings, &truth, &conf);
    println!("{}", e.table());
    for (scenario, m) in &e.scenarios {
        assert!(m.truth >= 8, "{scenario}: only {} planted", m.truth);
        assert!(
            m.precision >= 0.9,
            "{scenario}: precision {:.3}",
            m.precision
        );
        assert!(m.recall >= 0.9, "{scenario}: recall {:.3}", m.recall);
    }
    assert!(
        e.confounder_hits.is_empty(),
        "look-alikes flagged: {:?}",
        e.confounder_hits
    );
    // The threshold baseline flags the busy-role look-alikes the
    // peer-relative detector leaves alone: the comparison the detector is
    // built to win.
    let baseline = read_jsonl(&f.out.join("baseline-findings.jsonl")).unwrap();
    let eb = evaluate(&baseline, &truth, &conf);
    let (m, mb) = (
        &e.scenarios["complaint_pattern"],
        &eb.scenarios["complaint_pattern"],
    );
    assert!(mb.confounders_flagged > 0);
    assert!(mb.precision < m.precision);
}

/// Forces that write their data another way, and whose misconduct looks
/// another way (three convention sets drawn apart from the house set: other
/// pay codes and timestamp forms, field names, placeholders, organisation
/// spellings; breaches confined to weeks, extensions claimed without
/// presence, pay codes alone, two-year complaint rates; new look-alikes).
#[test]
fn detectors_hold_on_other_conventions() {
    for set in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        synth_with(&data, 1000, 120, 3, set);
        let mut s = new_store(&dir.path().join("store"));
        probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
        drop(s);
        let s = Store::open(&dir.path().join("store")).unwrap();
        let report = analyse(&s, &[]);
        let out = dir.path().join("out");
        write_outputs(&out, &report, &Identity::Pseudonyms).unwrap();
        let findings = read_jsonl(&out.join("findings.jsonl")).unwrap();
        let mut truth = read_truth(&data.join("truth.csv")).unwrap();
        let mut conf = read_confounders(&data.join("confounders.csv")).unwrap();
        pseudonymise(
            s.pseudonym_key(),
            truth.iter_mut().map(|t| &mut t.person_id),
        );
        pseudonymise(s.pseudonym_key(), conf.iter_mut().map(|c| &mut c.person_id));
        let kinds: std::collections::BTreeSet<&str> =
            conf.iter().map(|c| c.kind.as_str()).collect();
        for k in [
            "genuine_extension",
            "leave_dip",
            "variant_declaration",
            "long_busy_complaints",
            "on_call_call_out",
            "overtime_code_correction",
        ] {
            assert!(kinds.contains(k), "set {set}: no {k} look-alike planted");
        }
        let e = evaluate(&findings, &truth, &conf);
        println!("conventions set {set}\n{}", e.table());
        for (scenario, m) in &e.scenarios {
            assert!(
                m.truth >= 8,
                "set {set} {scenario}: only {} planted",
                m.truth
            );
            assert!(
                m.precision >= 0.9,
                "set {set} {scenario}: precision {:.3}",
                m.precision
            );
            assert!(
                m.recall >= 0.9,
                "set {set} {scenario}: recall {:.3}",
                m.recall
            );
        }
        assert!(
            e.confounder_hits.is_empty(),
            "set {set}: look-alikes flagged: {:?}",
            e.confounder_hits
        );
    }
}

/// The shared data directory (`../shared/data` next to the repository, or
/// `PROBITY_SHARED_DATA`); `.ci/run` sets the variable and fails if the data
/// is missing, so CI always runs the real-data tests.
fn shared_data() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("PROBITY_SHARED_DATA") {
        return Some(PathBuf::from(d));
    }
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: no shared data; set PROBITY_SHARED_DATA to ../shared/data");
        None
    }
}

/// Contract data from a producer that is not this project: every row is
/// stored (none quarantined, none lost: off-duty locations dropped and
/// counted), and the detectors read its conventions: the pay-code
/// vocabulary is learned from it (its bank-holiday code on Good Friday and
/// Easter Monday), and the overtime claimed after a rostered shift with
/// nobody there is found.
#[test]
fn the_independent_sample_ingests_losslessly_and_is_read_in_its_own_terms() {
    let Some(shared) = shared_data() else { return };
    let data = shared.join("contract-sample");
    let dir = tempfile::tempdir().unwrap();
    let mut s = new_store(&dir.path().join("store"));
    let rep = probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
    for t in &rep.tables {
        let file = data.join(format!("{}.csv", t.table.name()));
        let lines = std::fs::read_to_string(&file).unwrap().lines().count() as u64 - 1;
        assert_eq!(t.rows_read, lines, "{}", t.table.name());
        assert_eq!(
            t.rows_quarantined,
            0,
            "{}: {:?}",
            t.table.name(),
            t.examples
        );
        assert_eq!(
            t.rows_stored + t.rows_minimised,
            t.rows_read,
            "{}",
            t.table.name()
        );
    }
    drop(s);
    let s = Store::open(&dir.path().join("store")).unwrap();
    let r = analyse(&s, &[]);
    let notes = |id: &str| &r.outcomes.iter().find(|o| o.detector == id).unwrap().notes;
    let codes = &notes("roster_self_edit_pay").learned["pay_codes"]["codes"];
    assert_eq!(codes["STD"]["class"], "standard");
    assert_eq!(codes["OT15"]["class"], "premium_overtime");
    assert_eq!(codes["RDW"]["class"], "premium_overtime");
    assert_eq!(codes["BHOL"]["class"], "premium_holiday");
    assert_eq!(
        codes["BHOL"]["dominant_days"],
        serde_json::json!(["2026-04-03", "2026-04-06"])
    );
    // P00061 is paid ten overtime shifts that start as a rostered shift
    // ends, and goes home: the swipe-out at each duty shift's end is all
    // there is.
    let p = s.person_pseudonym("P00061");
    let ghost: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.person == p && f.detector == "overtime_without_presence")
        .collect();
    assert_eq!(ghost.len(), 1, "{:?}", r.findings);
    assert_eq!(ghost[0].facts["unevidenced_shifts"].num(), Some(10.0));
    assert_eq!(ghost[0].facts["covered_hours"].num(), Some(0.0));
}

#[test]
fn every_evidence_record_exists_and_the_numbers_recompute() {
    let f = fixture();
    let s = Store::open(&f.store).unwrap();
    let ctx = s.session_context().unwrap();
    let findings = read_jsonl(&f.out.join("findings.jsonl")).unwrap();
    assert!(!findings.is_empty());
    // Evidence exists: every id is a key of its table.
    let mut by_table: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for r in &findings {
        assert!(!r.evidence.is_empty(), "{} has no evidence", r.finding_id);
        for e in &r.evidence {
            by_table.entry(&e.table).or_default().insert(&e.id);
        }
    }
    for (table, ids) in &by_table {
        let key = match *table {
            "case_assignments" => "case_ref".to_string(),
            t => probity_core::Table::from_name(t)
                .unwrap()
                .def()
                .primary_key
                .unwrap()
                .to_string(),
        };
        let have: HashSet<String> = strings(
            &query(&ctx, &format!("SELECT DISTINCT {key} FROM {table}")),
            0,
        )
        .into_iter()
        .collect();
        for id in ids {
            assert!(have.contains(*id), "{table} has no row {id}");
        }
    }
    // The summary's numbers follow from the evidence.
    for r in &findings {
        let ids = |table: &str| -> Vec<&str> {
            r.evidence
                .iter()
                .filter(|e| e.table == table)
                .map(|e| e.id.as_str())
                .collect()
        };
        let list = |table: &str| -> String {
            ids(table)
                .iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let fact = |name: &str| {
            r.facts[name]
                .num()
                .unwrap_or_else(|| panic!("{name} is not a number"))
        };
        let n = |sql: String| number(&query(&ctx, &sql));
        match r.detector.as_str() {
            "roster_self_edit_pay" => {
                assert_eq!(ids("shifts").len() as f64, fact("shifts"), "{}", r.summary);
                // Every cited edit was made by the shift's own holder.
                let self_edits = n(format!(
                    "SELECT count(*) FROM roster_edits e JOIN shifts s ON s.shift_id = e.shift_id \
                     WHERE e.edit_id IN ({}) AND e.edited_by = s.person_id AND s.person_id = '{}'",
                    list("roster_edits"),
                    r.person_id
                ));
                assert_eq!(self_edits, ids("roster_edits").len() as f64);
                assert!(r.summary.contains(&format!("{} shift", fact("shifts"))));
            }
            "overtime_without_presence" => {
                let claims = ids("overtime_claims");
                let claim_list = if claims.is_empty() {
                    "NULL".to_string()
                } else {
                    list("overtime_claims")
                };
                // Items: every claim, and every shift no cited claim names.
                let unclaimed = n(format!(
                    "SELECT count(*) FROM shifts WHERE shift_id IN ({}) AND shift_id NOT IN \
                     (SELECT shift_id FROM overtime_claims WHERE claim_id IN ({claim_list}) \
                      AND shift_id IS NOT NULL)",
                    list("shifts")
                ));
                assert_eq!(
                    claims.len() as f64 + unclaimed,
                    fact("unevidenced_shifts"),
                    "{}",
                    r.summary
                );
                // With no item partly covered, nothing at all lies inside
                // the hours past the grace: no swipe there.
                if fact("partly_covered_claims") == 0.0 {
                    let swipes = n(format!(
                        "WITH items AS (
                           SELECT person_id, claimed_start AS s, claimed_end AS e FROM overtime_claims
                           WHERE claim_id IN ({claim_list})
                           UNION ALL SELECT person_id, start, \"end\" FROM shifts
                           WHERE shift_id IN ({}) AND shift_id NOT IN
                             (SELECT shift_id FROM overtime_claims WHERE claim_id IN ({claim_list})
                              AND shift_id IS NOT NULL))
                         SELECT count(*) FROM items i JOIN badge_cards c ON c.person_id = i.person_id
                         JOIN badge_events e ON e.card_id = c.card_id
                         WHERE e.at BETWEEN i.s + INTERVAL '30 minutes' AND i.e",
                        list("shifts")
                    ));
                    assert_eq!(swipes, 0.0, "{}", r.summary);
                    assert_eq!(fact("covered_hours"), 0.0, "{}", r.summary);
                }
                assert!(
                    r.summary
                        .contains(&format!("{:.1} uncovered", fact("uncovered_hours")))
                );
            }
            "overtime_during_absence" => {
                assert_eq!(
                    ids("shifts").len() as f64,
                    fact("overlapping_shifts"),
                    "{}",
                    r.summary
                );
                let sick = n(format!(
                    "SELECT count(DISTINCT s.shift_id) FROM shifts s JOIN absences a \
                     ON a.person_id = s.person_id AND CAST(s.start AS DATE) BETWEEN a.start_date AND a.end_date \
                     WHERE s.shift_id IN ({}) AND a.kind = 'sickness'",
                    list("shifts")
                ));
                assert_eq!(sick, fact("during_sickness"), "{}", r.summary);
            }
            "office_attendance_shortfall" => {
                assert_eq!(ids("shifts").len() as f64, fact("missed_days"));
                // Missed days of the whole period, or of the window found.
                let whole = fact("due_days") - fact("office_days");
                assert_eq!(whole, fact("missed_days_in_period"), "{}", r.summary);
                let window = r
                    .facts
                    .get("window_due_days")
                    .map(|_| fact("window_due_days") - fact("window_office_days"));
                assert!(
                    fact("missed_days") == whole || Some(fact("missed_days")) == window,
                    "{}",
                    r.summary
                );
                let rate = fact("office_days") / fact("due_days");
                assert!((rate - fact("rate")).abs() < 1e-3);
                let duty = n(format!(
                    "SELECT count(*) FROM shifts WHERE shift_id IN ({}) AND kind = 'duty' \
                     AND person_id = '{}'",
                    list("shifts"),
                    r.person_id
                ));
                assert_eq!(duty, fact("missed_days"));
            }
            "lookup_without_purpose" => {
                let q = ids("system_queries");
                assert_eq!(
                    q.len() as f64,
                    fact("unexplained_lookups") + fact("relation_lookups")
                );
                let relation = n(format!(
                    "SELECT count(*) FROM system_queries q JOIN accounts a ON a.account_id = q.account_id \
                     JOIN known_relations k ON k.person_id = a.person_id AND k.subject_ref = q.subject_ref \
                     WHERE q.query_id IN ({})",
                    list("system_queries")
                ));
                assert_eq!(relation, fact("relation_lookups"), "{}", r.summary);
                let total = n(format!(
                    "SELECT count(*) FROM system_queries q JOIN accounts a ON a.account_id = q.account_id \
                     WHERE a.person_id = '{}'",
                    r.person_id
                ));
                assert_eq!(total, fact("total_lookups"));
            }
            "post_case_lookup" => {
                let q = ids("system_queries");
                assert_eq!(q.len() as f64, fact("lookups_after_end"));
                let after = n(format!(
                    "SELECT count(*) FROM system_queries q JOIN case_subjects cs ON cs.subject_ref = q.subject_ref \
                     JOIN case_assignments ca ON ca.case_ref = cs.case_ref \
                     WHERE q.query_id IN ({}) AND ca.case_ref IN ({}) AND ca.person_id = '{}' \
                     AND CAST(q.at AS DATE) > ca.assigned_to",
                    list("system_queries"),
                    list("case_assignments"),
                    r.person_id
                ));
                assert!(after >= q.len() as f64, "{}", r.summary);
            }
            "complaints_above_peers" => {
                let c = n(format!(
                    "SELECT count(*) FROM complaints WHERE complaint_id IN ({}) AND person_id = '{}'",
                    list("complaints"),
                    r.person_id
                ));
                assert_eq!(c, fact("complaint_rows_in_window"));
                assert!(fact("complaints_in_window") <= c);
                assert!(
                    r.summary
                        .starts_with(&format!("{} complaints", fact("complaints_in_window")))
                );
            }
            "undeclared_register_entry" => {
                assert_eq!(
                    ids("reference_records").len() as f64,
                    fact("register_entries")
                );
                let declared = n(format!(
                    "SELECT count(*) FROM declarations d JOIN reference_records r \
                     ON lower(d.counterparty) = lower(r.organisation) \
                     WHERE r.record_id IN ({}) AND d.person_id = '{}'",
                    list("reference_records"),
                    r.person_id
                ));
                assert_eq!(declared, 0.0, "{}", r.summary);
                assert!(fact("match_probability") >= 0.8, "{}", r.summary);
            }
            other => panic!("unexpected detector {other}"),
        }
    }
}

#[test]
fn findings_are_stable_and_carry_no_identities() {
    let f = fixture();
    let s = Store::open(&f.store).unwrap();
    let again = analyse(&s, &["complaint_threshold"]);
    let ids = |r: &AnalysisReport| -> Vec<String> {
        r.findings.iter().map(|f| f.finding_id.clone()).collect()
    };
    assert_eq!(ids(&f.report), ids(&again));
    // No real person id or name reaches the findings file.
    let text = std::fs::read_to_string(f.out.join("findings.jsonl")).unwrap();
    let mut rdr = csv::Reader::from_path(f.data.join("people.csv")).unwrap();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let id = &rec[0];
        assert!(
            !text.contains(&format!("\"{id}\"")),
            "real id {id} in findings"
        );
        // A name is the given and family name together, in either register
        // style (a lone family name can be part of an organisation's name).
        let (given, family) = (&rec[1], &rec[2]);
        for name in [
            format!("{given} {family}"),
            format!("{}, {given}", family.to_uppercase()),
        ] {
            assert!(!text.contains(&name), "name {name} in findings");
        }
    }
    let recs: Vec<FindingRecord> = read_jsonl(&f.out.join("findings.jsonl")).unwrap();
    assert!(recs.iter().all(|r| r.person_id.starts_with("p-")));
    assert!(recs.iter().all(|r| (0.0..=1.0).contains(&r.score)));
}

#[test]
fn a_detector_without_its_tables_is_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 60, 20, 1);
    // Keep only what the complaint detectors need.
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !["people.csv", "units.csv", "sites.csv", "complaints.csv"].contains(&name.as_str()) {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mut s = new_store(&dir.path().join("store"));
    probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
    let s = Store::open(&dir.path().join("store")).unwrap();
    let r = analyse(&s, &[]);
    let ghost = r
        .outcomes
        .iter()
        .find(|o| o.detector == "overtime_without_presence")
        .unwrap();
    let why = ghost.skipped.as_deref().unwrap();
    assert!(why.contains("table shifts is absent"), "{why}");
    let peer = r
        .outcomes
        .iter()
        .find(|o| o.detector == "complaints_above_peers")
        .unwrap();
    assert!(peer.skipped.is_none());
}

#[test]
fn probity_toml_overrides_and_mistakes() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // A copy of the store with its own configuration.
    let copy = dir.path().join("store");
    copy_dir(&f.store, &copy);
    let cfg = copy.join("probity.toml");
    std::fs::write(
        &cfg,
        "[detectors.overtime_without_presence]\nmin_shifts = 1000\n",
    )
    .unwrap();
    let s = Store::open(&copy).unwrap();
    let r = analyse(&s, &[]);
    assert!(
        r.findings
            .iter()
            .all(|f| f.detector != "overtime_without_presence")
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.detector == "roster_self_edit_pay")
    );

    std::fs::write(
        &cfg,
        "[detectors.lookup_without_purpose]\nenabled = false\n",
    )
    .unwrap();
    let s = Store::open(&copy).unwrap();
    let r = analyse(&s, &[]);
    let o = r
        .outcomes
        .iter()
        .find(|o| o.detector == "lookup_without_purpose")
        .unwrap();
    assert_eq!(o.skipped.as_deref(), Some("disabled in probity.toml"));

    for (text, expect) in [
        (
            "[detectors.ghost]\nmin_shifts = 1\n",
            "no detector has this id",
        ),
        (
            "[detectors.overtime_without_presence]\nmin_shift = 1\n",
            "unknown parameter \"min_shift\"",
        ),
        (
            "[detectors.overtime_without_presence]\nmin_shifts = [\"1\", \"2\"]\n",
            "min_shifts must be a number",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let s = Store::open(&copy).unwrap();
        let e = Plan::new(&s).unwrap_err().to_string();
        assert!(e.contains(expect), "{e}");
    }
    // A value of no parameter's kind is refused when the file is loaded,
    // at the line that holds it.
    std::fs::write(
        &cfg,
        "[detectors.overtime_without_presence]\nmin_shifts = \"two\"\n",
    )
    .unwrap();
    let e = Store::open(&copy).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("a number") && e.contains("list of strings"),
        "{e}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.file_name().unwrap() == ".lock" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Purpose binding: a detector runs only when governance approves it, its
/// review date has not passed, and its purpose enables every data category
/// it reads; the run says which it skipped and why.
#[test]
fn governance_decides_which_detectors_run() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut s = Store::init(&store).unwrap();
    probity_ingest::ingest(&mut s, &f.data, &probity_ingest::Silent).unwrap();
    let approved: jiff::civil::Date = "2026-01-01".parse().unwrap();
    let all = probity_detect::governance::governance_approving_all("t", approved, 100_000);
    // Withdraw one approval, let one lapse, and take sickness data away from
    // the leave-overlap purpose.
    let mut text = String::new();
    let mut skip = false;
    for line in all.lines() {
        if line.starts_with('[') {
            skip = line == "[detectors.post_case_lookup]";
        }
        if skip {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    let text = text
        .replacen(
            "[detectors.complaints_above_peers]\npurpose = \"complaint_pattern\"",
            "[detectors.complaints_above_peers]\npurpose = \"complaint_pattern_lapsed\"",
            1,
        )
        .replace("\"sickness_and_leave\"", "\"rosters\"")
        + "\n[purposes.complaint_pattern_lapsed]\ndescription = \"Lapsed.\"\ncategories = [\"complaints\", \"staff_records\"]\n";
    // The lapsed approval: review date in the past.
    let text = {
        let i = text.find("purpose = \"complaint_pattern_lapsed\"").unwrap();
        let j = i + text[i..].find("review_by = ").unwrap();
        let k = j + text[j..].find('\n').unwrap();
        format!("{}review_by = 2026-01-02{}", &text[..j], &text[k..])
    };
    s.install_governance(&text).unwrap();
    let s = Store::open(&store).unwrap();
    let plan = Plan::build(&s, &[], "2026-11-27".parse().unwrap()).unwrap();
    let r = rt().block_on(plan.run(&Silent)).unwrap();
    let why = |id: &str| {
        r.outcomes
            .iter()
            .find(|o| o.detector == id)
            .unwrap()
            .skipped
            .clone()
            .unwrap_or_default()
    };
    assert!(
        why("post_case_lookup").contains("not approved"),
        "{}",
        why("post_case_lookup")
    );
    assert!(
        why("complaints_above_peers").contains("review date 2026-01-02 has passed"),
        "{}",
        why("complaints_above_peers")
    );
    assert!(
        why("overtime_during_absence").contains("'sickness_and_leave'"),
        "{}",
        why("overtime_during_absence")
    );
    // Attendance also reads absences (to excuse leave): it does not run either.
    assert!(why("office_attendance_shortfall").contains("'sickness_and_leave'"));
    for id in [
        "post_case_lookup",
        "complaints_above_peers",
        "overtime_during_absence",
    ] {
        assert!(
            r.findings.iter().all(|x| x.detector != id),
            "{id} produced findings"
        );
    }
    // The others ran and found what they find under full approval.
    let ran = r
        .outcomes
        .iter()
        .find(|o| o.detector == "roster_self_edit_pay")
        .unwrap();
    assert!(ran.skipped.is_none());
    assert_eq!(ran.purpose.as_deref(), Some("roster_manipulation"));
    let full = f
        .report
        .outcomes
        .iter()
        .find(|o| o.detector == "roster_self_edit_pay")
        .unwrap();
    assert_eq!(ran.findings, full.findings);

    // A file edited behind governance's back is refused outright.
    std::fs::write(s.governance_path(), all.replace("365", "366")).unwrap();
    let e = Plan::new(&s).unwrap_err().to_string();
    assert!(e.contains("probity governance apply"), "{e}");
}

/// A detector's findings in a report that touch `period`, by finding id.
fn touching(
    r: &AnalysisReport,
    detector: &str,
    period: probity_detect::Period,
) -> Vec<probity_detect::Finding> {
    let mut v: Vec<_> = r
        .findings
        .iter()
        .filter(|x| x.detector == detector)
        .filter(|x| x.period_end >= period.start && x.period_start <= period.end)
        .cloned()
        .collect();
    v.sort_by(|a, b| a.finding_id.cmp(&b.finding_id));
    v
}

/// An analysis limited to the last 30 days (the daily run after a batch)
/// judges the overtime of those days exactly as the full analysis does —
/// the same claims unevidenced, from the same traces — reads no more than
/// each detector's context before them, and reports only findings that
/// touch them.
#[test]
fn a_run_limited_to_a_period_judges_its_days_as_the_full_run_does() {
    let f = fixture();
    let s = Store::open(&f.store).unwrap();
    let end = f.report.period.end;
    let period = probity_detect::Period {
        start: end - 29,
        end,
    };
    let mut plan = Plan::with_overrides(&s, &["complaint_threshold"]).unwrap();
    plan.limit_to(probity_detect::Limit {
        period,
        batch: None,
    });
    let limited = rt().block_on(plan.run(&Silent)).unwrap();
    assert_eq!(limited.limit.as_ref().map(|l| l.period), Some(period));

    // The local date of every claim and shift, to place each piece of evidence.
    let ctx = s.session_context().unwrap();
    probity_detect::register_functions(&ctx, &s.time_rules());
    let mut day: BTreeMap<String, i32> = BTreeMap::new();
    for q in [
        "SELECT claim_id, CAST(local_date(claimed_start) AS VARCHAR) FROM overtime_claims",
        "SELECT shift_id, CAST(local_date(start) AS VARCHAR) FROM shifts",
    ] {
        let b = query(&ctx, q);
        for (id, d) in strings(&b, 0).into_iter().zip(strings(&b, 1)) {
            day.insert(id, probity_core::time::parse_date(&d).unwrap());
        }
    }
    let ghost = |r: &AnalysisReport, keep: &dyn Fn(i32) -> bool| -> HashSet<String> {
        r.findings
            .iter()
            .filter(|f| f.detector == "overtime_without_presence")
            .flat_map(|f| f.evidence.iter())
            .filter(|e| day.get(&e.id).is_some_and(|d| keep(*d)))
            .map(|e| e.id.clone())
            .collect()
    };
    let inside = |d: i32| d >= period.start && d <= period.end;
    let full = ghost(&f.report, &inside);
    assert!(
        full.len() >= 5,
        "only {} unevidenced claims in the period",
        full.len()
    );
    assert_eq!(ghost(&limited, &inside), full);
    // Overtime before the period is not judged again (a claim may extend a
    // shift begun the evening before).
    assert!(ghost(&limited, &|d| d < period.start - 1).is_empty());

    // Attendance's context (13 weeks) reaches back over the whole fixture,
    // so the limited run sees what the full run saw. It reads every day
    // before the period only for people who missed a due day in it; what it
    // reports must be exactly what the full run found that touches the
    // period, finding for finding.
    let attendance = |r: &AnalysisReport| touching(r, "office_attendance_shortfall", period);
    let full_attendance = attendance(&f.report);
    assert!(
        full_attendance.len() >= 3,
        "only {} attendance findings touch the period",
        full_attendance.len()
    );
    assert_eq!(attendance(&limited), full_attendance);

    // Post-case look-ups count four weeks of context: limited to the days
    // from the 21st on, the run reads the whole fixture again. It finds the
    // people and cases with a look-up in the period first and reads the
    // earlier look-ups only for them; its findings must be the full run's
    // that touch the period.
    let later = probity_detect::Period {
        start: f.report.period.start + 20,
        end,
    };
    let mut plan = Plan::with_overrides(&s, &["complaint_threshold"]).unwrap();
    plan.limit_to(probity_detect::Limit {
        period: later,
        batch: None,
    });
    let from_day_21 = rt().block_on(plan.run(&Silent)).unwrap();
    let post_case = |r: &AnalysisReport| touching(r, "post_case_lookup", later);
    let full_post_case = post_case(&f.report);
    assert!(
        full_post_case.len() >= 2,
        "only {} post-case findings touch the days from the 21st",
        full_post_case.len()
    );
    assert_eq!(post_case(&from_day_21), full_post_case);

    for x in &limited.findings {
        assert!(
            x.period_end >= period.start && x.period_start <= period.end,
            "{} ({}) does not touch the period",
            x.finding_id,
            x.detector
        );
        // Nothing older than the detector's context was read.
        let d = probity_detect::detectors::by_id(&x.detector).unwrap();
        let (_, p) = probity_detect::Params::resolve(d, None).unwrap();
        let context = (d.context_days)(&p) as i32;
        if ![
            "complaints_above_peers",
            "complaint_threshold",
            "undeclared_register_entry",
        ]
        .contains(&x.detector.as_str())
        {
            assert!(
                x.period_start >= period.start - context,
                "{} ({}) begins {} days before the period, context {context}",
                x.finding_id,
                x.detector,
                period.start - x.period_start
            );
        }
    }
    // Detectors over look-ups count the four weeks before as well: some
    // finding there began before the period.
    assert!(
        limited
            .findings
            .iter()
            .any(|x| x.detector == "lookup_without_purpose" && x.period_start < period.start)
    );
}
