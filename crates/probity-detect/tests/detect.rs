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
    probity_synth::run(
        &probity_synth::SynthConfig {
            out: dir.to_path_buf(),
            people,
            days,
            start: "2026-01-05".into(),
            seed,
            format: probity_synth::Format::Csv,
            public_records: None,
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
        let fact = |name: &str| r.facts[name];
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
                let shifts = ids("shifts");
                let claims_only = n(format!(
                    "SELECT count(*) FROM overtime_claims WHERE claim_id IN ({}) AND shift_id IS NULL",
                    if ids("overtime_claims").is_empty() {
                        "NULL".into()
                    } else {
                        list("overtime_claims")
                    }
                ));
                assert_eq!(
                    shifts.len() as f64 + claims_only,
                    fact("unevidenced_shifts")
                );
                // No swipe on those shifts' days within their hours.
                let swipes = n(format!(
                    "SELECT count(*) FROM shifts s JOIN badge_cards c ON c.person_id = s.person_id \
                     JOIN badge_events e ON e.card_id = c.card_id \
                     WHERE s.shift_id IN ({}) AND e.at BETWEEN s.start - INTERVAL '30 minutes' \
                     AND s.\"end\" + INTERVAL '30 minutes'",
                    list("shifts")
                ));
                assert_eq!(swipes, 0.0, "{}", r.summary);
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
                assert_eq!(fact("due_days") - fact("office_days"), fact("missed_days"));
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
                assert_eq!(c, fact("complaints_in_window"));
                assert!(r.summary.starts_with(&format!("{c} complaints")));
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
            "[detectors.overtime_without_presence]\nmin_shifts = \"two\"\n",
            "min_shifts must be a number",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let s = Store::open(&copy).unwrap();
        let e = Plan::new(&s).unwrap_err().to_string();
        assert!(e.contains(expect), "{e}");
    }
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

/// A small force for record-linkage tests that add batches to their store.
fn small_store(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let store = dir.join("store");
    synth(&data, 400, 30, seed);
    let mut s = new_store(&store);
    probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
    (data, store)
}

const TODAY: probity_link::Today = probity_link::Today {
    year: 2026,
    month: 11,
    day: 27,
};

#[test]
fn resolve_links_incrementally_reports_bad_input_and_explains() {
    use probity_detect::resolve::{compute, evaluate_links, explain};
    use probity_link::Decision;
    let dir = tempfile::tempdir().unwrap();
    let (data, store_dir) = small_store(dir.path(), 9);
    let store = Store::open_for_write(&store_dir).unwrap();
    let first = rt().block_on(compute(&store, false, TODAY)).unwrap();
    assert_eq!(first.report.mode, "full");
    first.save(store.root()).unwrap();
    let e = evaluate_links(&store, &first.links, &data.join("reference_links.csv")).unwrap();
    assert!(e.precision >= 0.99 && e.recall >= 0.85, "{e:?}");
    assert!(e.true_links >= 10, "{e:?}");
    // Nothing new: nothing compared, same decisions.
    let again = rt().block_on(compute(&store, false, TODAY)).unwrap();
    assert_eq!(again.report.mode, "up to date");
    assert_eq!(again.report.records_compared, 0);
    assert_eq!(again.links, first.links);
    drop(store);

    // A new batch: a staff member's exact entry, the same entry again under
    // another id, a stranger, a nameless row and a future date of birth.
    let people = std::fs::read_to_string(data.join("people.csv")).unwrap();
    let row: Vec<&str> = people.lines().nth(5).unwrap().split(',').collect();
    let (pid, given, family, dob, pc) = (row[0], row[1], row[2], row[3], row[4]);
    let batch = dir.path().join("batch2");
    std::fs::create_dir_all(&batch).unwrap();
    let entry = format!("\"{}, {given}\",{dob},{pc}", family.to_uppercase());
    std::fs::write(
        batch.join("reference_records.csv"),
        format!(
            "record_id,list_name,full_name,date_of_birth,postcode,organisation,role,valid_from,valid_to\n\
             NEW1,company_officers,{entry},Zeta Widgets Ltd,director,2026-01-01,\n\
             NEW2,company_officers,{entry},Zeta Widgets Ltd,director,2026-01-01,\n\
             NEW3,membership_roll,Xanthe Quibell,1961-03-04,ZZ9 9ZZ,Rotary,member,,\n\
             NEW4,membership_roll,???,1970-01-01,,Rotary,member,,\n\
             NEW5,membership_roll,{given} {family},2031-05-05,,Rotary,member,,\n"
        ),
    )
    .unwrap();
    let mut s = Store::open_for_write(&store_dir).unwrap();
    probity_ingest::ingest(&mut s, &batch, &probity_ingest::Silent).unwrap();
    drop(s);
    let store = Store::open(&store_dir).unwrap();
    let next = rt().block_on(compute(&store, false, TODAY)).unwrap();
    let r = &next.report;
    assert_eq!(r.mode, "incremental");
    assert_eq!(r.records_compared, 5, "only the new records are compared");
    assert_eq!(r.staff_new, 0);
    assert_eq!(r.record_problems.unusable_name.examples, vec!["NEW4"]);
    assert_eq!(r.record_problems.future_dob.examples, vec!["NEW5"]);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.duplicate_examples, vec!["NEW2"]);
    let by_id = |id: &str| next.links.iter().find(|l| l.record == id).unwrap();
    let mut pseudonym = pid.to_string();
    pseudonymise(store.pseudonym_key(), std::iter::once(&mut pseudonym));
    for id in ["NEW1", "NEW2"] {
        assert_eq!(by_id(id).decision, Decision::Link, "{id}");
        assert_eq!(by_id(id).linked().unwrap().person, pseudonym);
    }
    assert_eq!(by_id("NEW3").decision, Decision::None);
    assert_eq!(by_id("NEW4").decision, Decision::None);
    // Earlier records keep their decisions.
    for l in &first.links {
        assert_eq!(by_id(&l.record).decision, l.decision, "{}", l.record);
    }

    // The explanation adds up and hides the staff side unless revealed.
    let x = rt()
        .block_on(explain(&store, "NEW1", false, TODAY))
        .unwrap();
    assert_eq!(x.decision, Decision::Link);
    let (key, real, w) = &x.pairs[0];
    assert_eq!(key, &pseudonym);
    assert!(real.is_none());
    let sum: f64 = w.prior_weight + w.steps.iter().map(|s| s.weight).sum::<f64>();
    assert!((sum - w.weight).abs() < 1e-9);
    assert!((probity_link::probability(w.weight) - w.probability).abs() < 1e-12);
    assert!(w.steps.iter().all(|s| s.staff == "(hidden)"));
    assert_eq!(w.steps[0].level, "exact");
    let text = w.to_string();
    assert!(text.contains("prior") && text.contains("date of birth") && text.contains("total"));
    let x = rt().block_on(explain(&store, "NEW1", true, TODAY)).unwrap();
    assert_eq!(x.pairs[0].1.as_deref(), Some(pid));
    let err = rt()
        .block_on(explain(&store, "NOPE", false, TODAY))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("NOPE"), "{err}");
}

#[test]
fn identity_graph_follows_reissues_and_reports_conflicts() {
    use probity_detect::resolve::identity_graph;
    use probity_link::identity::{Holder, Kind};
    let dir = tempfile::tempdir().unwrap();
    let (data, store_dir) = small_store(dir.path(), 10);
    let store = Store::open(&store_dir).unwrap();
    let g = rt().block_on(identity_graph(&store)).unwrap();
    let stats = g.stats();
    assert_eq!(stats.identifiers["account"], 400);
    assert!(stats.reissued.get("badge card").copied().unwrap_or(0) > 0);
    assert!(g.conflicts().is_empty());
    drop(store);
    // A card handed on to another person later, and one shared at once.
    let people = std::fs::read_to_string(data.join("people.csv")).unwrap();
    let ids: Vec<&str> = people
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let batch = dir.path().join("cards");
    std::fs::create_dir_all(&batch).unwrap();
    std::fs::write(
        batch.join("badge_cards.csv"),
        format!(
            "card_id,person_id,valid_from,valid_to\n\
             CX1,{a},2025-01-01,2025-06-30\n\
             CX1,{b},2025-07-01,\n\
             CX2,{a},2025-01-01,\n\
             CX2,{c},2025-03-01,2025-03-31\n\
             CX2,{c},2025-03-01,2025-03-31\n",
            a = ids[0],
            b = ids[1],
            c = ids[2]
        ),
    )
    .unwrap();
    let mut s = Store::open_for_write(&store_dir).unwrap();
    let rep = probity_ingest::ingest(&mut s, &batch, &probity_ingest::Silent).unwrap();
    let cards = rep
        .tables
        .iter()
        .find(|t| t.table == probity_core::schema::Table::BadgeCards)
        .unwrap();
    assert_eq!(
        (cards.rows_stored, cards.rows_quarantined),
        (4, 1),
        "an exact repeat is a duplicate holding"
    );
    drop(s);
    let store = Store::open(&store_dir).unwrap();
    let g = rt().block_on(identity_graph(&store)).unwrap();
    let p = |id: &str| {
        store
            .pseudonym_key()
            .pseudonym(probity_core::IdDomain::Person, id)
    };
    let card = |id: &str| {
        store
            .pseudonym_key()
            .pseudonym(probity_core::IdDomain::Card, id)
    };
    let day = |s: &str| probity_core::time::date_to_days(s.parse().unwrap());
    assert_eq!(
        g.holder(Kind::Card, &card("CX1"), day("2025-03-01")),
        Holder::Person(&p(ids[0]))
    );
    assert_eq!(
        g.holder(Kind::Card, &card("CX1"), day("2025-09-01")),
        Holder::Person(&p(ids[1]))
    );
    let conflicts = g.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].id, card("CX2"));
    assert_eq!(conflicts[0].from, Some(day("2025-03-01")));
    assert_eq!(conflicts[0].to, Some(day("2025-03-31")));
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
