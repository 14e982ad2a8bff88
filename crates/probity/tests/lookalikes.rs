//! The demo's promise that no innocent look-alike is flagged, held across
//! force sizes, periods, seeds and conventions: the generator keeps every
//! look-alike's set-up clear of its random events (leave, sickness and the
//! rest-day working beside them, complaints bunched by chance, chance
//! likenesses of a namesake), so the look-alike is innocent by construction
//! and any finding on one is a detector's or the generator's defect.

use std::path::Path;
use std::process::Command;

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

/// One demo: (people, days, seed, conventions).
type Case = (usize, u32, u64, u32);

/// Forces at which the generator once flagged look-alikes: random leave or
/// sickness over a look-alike's overtime day or leave block (a genuine
/// sickness spell or a night into leave; 40 and 60 days leave the set-up
/// little room), a busy role's three complaints bunched by chance into a
/// few weeks by someone who joined during them (800 people, seed 4), two
/// busy years in a role with few complaints (45 days, conventions 2), a
/// namesake drawn in the staff member's own birth month and postcode
/// district (conventions 3); and the default seed and period. Two sizes,
/// several seeds, four convention sets.
const AT_300: [Case; 7] = [
    (300, 40, 2, 0),
    (300, 40, 3, 0),
    (300, 40, 4, 0),
    (300, 40, 7, 0),
    (300, 45, 2, 2),
    (300, 60, 9, 3),
    (300, 120, 7, 0),
];
const AT_800: [Case; 4] = [
    (800, 40, 1, 0),
    (800, 40, 2, 1),
    (800, 40, 4, 0),
    (800, 120, 1, 3),
];

/// Runs the demo in `dir` and returns the look-alikes flagged, each as
/// "kind in finding id: summary".
fn flagged(dir: &Path, (people, days, seed, conventions): Case) -> Vec<String> {
    let out = probity()
        .args(["demo", "--dir"])
        .arg(dir)
        .args([
            "--people",
            &people.to_string(),
            "--days",
            &days.to_string(),
            "--seed",
            &seed.to_string(),
            "--conventions",
            &conventions.to_string(),
            "--no-serve",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo {people} people, {days} days, seed {seed}, conventions {conventions} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = dir.join("findings/findings.jsonl");
    let out = probity()
        .args(["eval", "--json", "--findings"])
        .arg(&findings)
        .arg("--truth")
        .arg(dir.join("data/truth.csv"))
        .arg("--confounders")
        .arg(dir.join("data/confounders.csv"))
        .arg("--store")
        .arg(dir.join("store"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = e["confounder_hits"].as_array().unwrap();
    assert_eq!(
        e["overall"]["confounders_flagged"].as_u64().unwrap() as usize,
        hits.len()
    );
    let lines = std::fs::read_to_string(&findings).unwrap();
    hits.iter()
        .map(|h| {
            let (kind, id) = (h[1].as_str().unwrap(), h[2].as_str().unwrap());
            let summary = lines
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|f| f["finding_id"] == id)
                .map(|f| f["summary"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            format!("{kind} in finding {id}: {summary}")
        })
        .collect()
}

/// Runs every case and fails naming each look-alike flagged.
fn check(cases: &[Case]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    for (k, &case) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("demo-{k}"));
        let (people, days, seed, conventions) = case;
        for hit in flagged(&dir, case) {
            failures.push(format!(
                "{people} people, {days} days, seed {seed}, conventions {conventions}: {hit}"
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        failures.is_empty(),
        "innocent look-alikes flagged:\n{}",
        failures.join("\n")
    );
}

#[test]
fn no_look_alike_is_flagged_at_300_people() {
    check(&AT_300);
}

#[test]
fn no_look_alike_is_flagged_at_800_people() {
    check(&AT_800);
}
