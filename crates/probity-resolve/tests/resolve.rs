//! Record linkage and the identity graph over a real store: links kept and
//! brought up to date incrementally, bad input reported, explanations that
//! add up and hide the staff side unless revealed, cards re-issued and
//! handed on, conflicts reported.

use std::path::{Path, PathBuf};

use probity_detect::eval::pseudonymise;
use probity_store::Store;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
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
            conventions: 0,
        },
        &|_, _| {},
    )
    .unwrap();
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
    use probity_link::Decision;
    use probity_resolve::{compute, evaluate_links, explain};
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
    use probity_link::identity::{Holder, Kind};
    use probity_resolve::identity_graph;
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

/// Identities are read with the vault key (record linkage, reveal); without
/// it, or with another store's key, they fail with the store's typed error
/// naming the key file, and an analysis whose detectors do not use
/// identities runs with no vault key at all.
#[test]
fn identities_need_the_vault_key_and_pseudonymised_analysis_does_not() {
    use probity_resolve::{compute, reveal_map};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store_dir = dir.path().join("store");
    synth(&data, 120, 14, 12);
    let mut s = new_store(&store_dir);
    probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
    drop(s);
    let people = std::fs::read_to_string(data.join("people.csv")).unwrap();
    let pid = people.lines().nth(1).unwrap().split(',').next().unwrap();

    // With the key: linkage and reveal read identities.
    let store = Store::open(&store_dir).unwrap();
    let mut pseudonym = pid.to_string();
    pseudonymise(store.pseudonym_key(), std::iter::once(&mut pseudonym));
    let current = rt().block_on(compute(&store, false, TODAY)).unwrap();
    assert!(current.links.iter().any(|l| l.linked().is_some()));
    let map = rt().block_on(reveal_map(&store)).unwrap();
    assert_eq!(map.get(&pseudonym).map(String::as_str), Some(pid));

    // The key lost: the typed error naming the key file, no panic.
    let key_file = store_dir.join("keys/vault.key");
    let backup = dir.path().join("vault.key.backup");
    std::fs::rename(&key_file, &backup).unwrap();
    let missing = |e: probity_resolve::Error| match e {
        probity_resolve::Error::Store(probity_store::Error::VaultKeyMissing { key }) => {
            assert_eq!(key, key_file)
        }
        other => panic!("expected VaultKeyMissing, got {other:?}"),
    };
    let err = rt().block_on(compute(&store, false, TODAY)).err().unwrap();
    let msg = err.to_string();
    for part in [
        key_file.display().to_string().as_str(),
        "identities (real ids, names, dates of birth) cannot be read",
        "record linkage",
        "pseudonymised analysis still works",
        "Restore the key file from the store's backup",
    ] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    missing(err);
    missing(rt().block_on(reveal_map(&store)).err().unwrap());
    // A detector that uses identities needs record links, so the vault: the
    // plan leaves it out and says why; the others still run.
    let plan = probity_detect::Plan::new(&store).unwrap();
    assert!(
        plan.selected().all(|d| !d.identities),
        "an identity detector was planned without the vault key"
    );
    assert!(plan.selected().count() > 0);
    // Without such a detector, analysis runs with no vault key.
    let config = store_dir.join("probity.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[detectors.undeclared_register_entry]\nenabled = false\n");
    std::fs::write(&config, text).unwrap();
    let store = Store::open(&store_dir).unwrap();
    let mut plan = probity_detect::Plan::new(&store).unwrap();
    plan.retain(|d| d.id == "overtime_during_absence");
    let report = rt().block_on(plan.run(&probity_detect::Silent)).unwrap();
    let ran: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.skipped.is_none())
        .map(|o| o.detector)
        .collect();
    assert_eq!(ran, ["overtime_during_absence"]);

    // Another store's key: named as not matching this vault.
    let other = dir.path().join("other");
    drop(Store::init(&other).unwrap());
    std::fs::copy(other.join("keys/vault.key"), &key_file).unwrap();
    match rt().block_on(reveal_map(&store)).err().unwrap() {
        probity_resolve::Error::Store(e @ probity_store::Error::VaultKeyMismatch { .. }) => {
            assert!(
                e.to_string().contains("does not match this store's vault"),
                "{e}"
            );
        }
        other => panic!("expected VaultKeyMismatch, got {other:?}"),
    }

    // Restored from backup: identities read again.
    std::fs::rename(&backup, &key_file).unwrap();
    let map = rt().block_on(reveal_map(&store)).unwrap();
    assert_eq!(map.get(&pseudonym).map(String::as_str), Some(pid));
}
