//! The generator's promises: determinism per seed, every scenario planted with
//! ground truth, every confounder present, files that follow the contract.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use probity_synth::{Format, SynthConfig, run};

fn make(dir: &Path, seed: u64, people: usize) -> probity_synth::SynthReport {
    make_with(dir, seed, people, 0)
}

fn make_with(dir: &Path, seed: u64, people: usize, conventions: u32) -> probity_synth::SynthReport {
    run(
        &SynthConfig {
            out: dir.to_path_buf(),
            people,
            days: 60,
            start: "2026-03-02".into(),
            seed,
            format: Format::Csv,
            public_records: None,
            conventions,
        },
        &|_, _| {},
    )
    .unwrap()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_files_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    make(&a, 42, 300);
    make(&b, 42, 300);
    make(&c, 43, 300);
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(fa.len(), 24);
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between two runs of one seed"
        );
    }
    assert_ne!(fa["shifts.csv"], fc["shifts.csv"]);
}

#[test]
fn every_scenario_is_planted_with_truth_and_every_confounder_present() {
    let tmp = tempfile::tempdir().unwrap();
    let report = make(tmp.path(), 9, 1500);
    let mut truth = csv::Reader::from_path(tmp.path().join("truth.csv")).unwrap();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    let mut truth_people = BTreeSet::new();
    for r in truth.records() {
        let r = r.unwrap();
        *per.entry(r[1].to_string()).or_default() += 1;
        assert!(r[2] <= r[3], "period runs backwards: {r:?}");
        truth_people.insert(r[0].to_string());
    }
    for s in probity_synth::Scenario::ALL {
        let n = per.get(s.id()).copied().unwrap_or(0);
        // About 1% of 1,500 staff each.
        assert!((12..=16).contains(&n), "{}: {n} truth rows", s.id());
    }
    let mut conf = csv::Reader::from_path(tmp.path().join("confounders.csv")).unwrap();
    let mut kinds = BTreeSet::new();
    for r in conf.records() {
        let r = r.unwrap();
        kinds.insert(r[1].to_string());
        assert!(
            !truth_people.contains(&r[0]),
            "{} is both planted and a look-alike",
            &r[0]
        );
    }
    assert_eq!(kinds.len(), probity_synth::Confounder::ALL.len());
    assert_eq!(report.truth_rows as usize, per.values().sum::<usize>());
    // Off-duty pings, nights across midnight, name variants: spot checks.
    assert!(report.rows["device_locations"] > report.rows["shifts"] * 5);
    let shifts = std::fs::read_to_string(tmp.path().join("shifts.csv")).unwrap();
    assert!(shifts.contains("T22:00:00+00:00") && shifts.contains("T22:00:00+01:00"));
    let refs = std::fs::read_to_string(tmp.path().join("reference_records.csv")).unwrap();
    assert!(
        refs.lines()
            .any(|l| l.split(',').nth(3).is_some_and(|d| d.len() == 7)),
        "no partial DOB"
    );
}

#[test]
fn another_conventions_set_writes_the_force_its_own_way() {
    let tmp = tempfile::tempdir().unwrap();
    let (house, other) = (tmp.path().join("house"), tmp.path().join("other"));
    make(&house, 4, 1500);
    let report = make_with(&other, 4, 1500, 2);
    let conv = probity_synth::Conventions::draw(2);
    assert!(report.conventions.starts_with("conventions set 2"));
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    // Its own pay codes, and its placeholder for "no case".
    let shifts = read(&other, "shifts.csv");
    assert!(shifts.contains(&format!(",{}\n", conv.standard)));
    if conv.standard != "STD" {
        assert!(!shifts.contains(",STD\n"));
    }
    if !conv.none.is_empty() {
        assert!(read(&other, "system_queries.csv").contains(&format!(",{}\n", conv.none)));
    }
    // Every look-alike kind, the new ones included.
    let conf = read(&other, "confounders.csv");
    for c in probity_synth::Confounder::ALL
        .iter()
        .chain(&probity_synth::Confounder::NEW)
    {
        if *c == probity_synth::Confounder::HolidayCodeOnHoliday && conv.holiday.is_none() {
            continue;
        }
        assert!(conf.contains(&format!(",{},", c.kind())), "no {}", c.kind());
    }
    // Attendance breaches confined to weeks, complaint patterns over two years.
    let mut truth = csv::Reader::from_path(other.join("truth.csv")).unwrap();
    for r in truth.records() {
        let r = r.unwrap();
        let (a, b) = (
            probity_core::time::parse_date(&r[2]).unwrap(),
            probity_core::time::parse_date(&r[3]).unwrap(),
        );
        match &r[1] {
            "attendance_breach" => assert!((35..=80).contains(&(b - a)), "{r:?}"),
            "complaint_pattern" => assert!(b - a > 500, "{r:?}"),
            _ => {}
        }
    }
    // The house set still plants none of the new look-alikes.
    let house_conf = read(&house, "confounders.csv");
    assert!(!house_conf.contains(",genuine_extension,"));
}
