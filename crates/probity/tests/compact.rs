//! `probity compact`: daily batches' small files merged per table and
//! month, atomically, with every row and answer unchanged; a crash before
//! the commit point leaves the store as it was; only an admin may do it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "probity failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PASSWORD: &str = "a long test password for ana";

fn with_line(mut cmd: Command, line: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    child.wait_with_output().unwrap()
}

/// Every row of the tables the batches split, in a fixed order, as CSV.
fn contents(store: &Path) -> String {
    let mut out = String::new();
    for q in [
        "SELECT * FROM shifts ORDER BY shift_id",
        "SELECT * FROM badge_events ORDER BY event_id",
        "SELECT * FROM people ORDER BY person_id",
    ] {
        let mut cmd = probity();
        cmd.args([
            "sql",
            store.to_str().unwrap(),
            q,
            "--format",
            "csv",
            "--as",
            "ana",
            "--password-stdin",
        ]);
        out.push_str(&ok(with_line(cmd, PASSWORD)));
    }
    out
}

fn data_files(store: &Path, table: &str) -> usize {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("manifest.json")).unwrap())
            .unwrap();
    m["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["tables"][table]["data_files"].as_array())
        .map(Vec::len)
        .sum()
}

fn parquet_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += parquet_files(&p);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            n += 1;
        }
    }
    n
}

/// Splits a CSV file's rows into `n` files of consecutive rows, each with
/// the header.
fn split(src: &Path, dirs: &[&Path]) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per = rows.len().div_ceil(dirs.len());
    for (k, d) in dirs.iter().enumerate() {
        let mut body = format!("{header}\n");
        for r in rows.iter().skip(k * per).take(per) {
            body.push_str(r);
            body.push('\n');
        }
        std::fs::write(d.join(src.file_name().unwrap()), body).unwrap();
    }
}

#[test]
fn daily_batches_compact_into_one_file_per_month_with_every_row_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    ok(probity()
        .args(["synth", "--out", data.to_str().unwrap()])
        .args(["--people", "120", "--days", "70", "--seed", "3"])
        .output()
        .unwrap());
    ok(probity().args(["init", s]).output().unwrap());
    // Three batches, as three days' exports would arrive: the first with
    // the reference tables, each with a third of the shifts and swipes.
    let days: Vec<_> = (1..=3)
        .map(|d| tmp.path().join(format!("day{d}")))
        .collect();
    for d in &days {
        std::fs::create_dir_all(d).unwrap();
    }
    for t in ["sites", "units", "people", "badge_cards"] {
        let f = format!("{t}.csv");
        std::fs::copy(data.join(&f), days[0].join(&f)).unwrap();
    }
    let refs: Vec<&Path> = days.iter().map(|d| d.as_path()).collect();
    split(&data.join("shifts.csv"), &refs);
    split(&data.join("badge_events.csv"), &refs);
    for d in &days {
        ok(probity()
            .args(["ingest", d.to_str().unwrap(), "--store", s])
            .output()
            .unwrap());
    }
    ok(probity()
        .args([
            "user", "add", "ana", "--store", s, "--role", "analyst", "--as", "admin",
        ])
        .output()
        .unwrap());
    let mut reset = probity();
    reset.args(["user", "reset", "ana", "--store", s, "--new-password-stdin"]);
    reset.args(["--as", "admin"]);
    ok(with_line(reset, PASSWORD));
    let before = contents(&store);
    let shift_files = data_files(&store, "shifts");
    assert!(shift_files >= 4, "{shift_files} shift files");

    // Only an admin compacts.
    let mut refused = probity();
    refused.args(["compact", s, "--as", "ana", "--password-stdin"]);
    let out = with_line(refused, PASSWORD);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));

    // A crash before the commit point: the store reads as before.
    let crashed = probity()
        .args(["compact", s, "--as", "admin"])
        .env("PROBITY_FAILPOINT", "retention.before-commit")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert_eq!(data_files(&store, "shifts"), shift_files);
    assert_eq!(
        contents(&store),
        before,
        "a crash changed what the store holds"
    );

    // Compacted: one file per month, the same rows, stray files swept.
    let said = ok(probity()
        .args(["compact", s, "--as", "admin"])
        .output()
        .unwrap());
    assert!(said.contains("compacted:"), "{said}");
    let months = before
        .lines()
        .filter_map(|l| {
            l.split(',')
                .find(|c| c.len() >= 7 && c.starts_with("2026-"))
        })
        .map(|c| &c[..7])
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let after_files = data_files(&store, "shifts");
    assert!(after_files < shift_files, "{after_files} of {shift_files}");
    assert!(
        after_files <= months + 1,
        "{after_files} files for {months} months"
    );
    assert_eq!(contents(&store), before, "compaction changed a row");
    let on_disk = parquet_files(&store.join("batches"));
    let listed: usize = [
        "sites",
        "units",
        "people",
        "badge_cards",
        "shifts",
        "badge_events",
    ]
    .iter()
    .map(|t| data_files(&store, t))
    .sum();
    // Nothing but the listed data files remains (vault files are `.enc`).
    assert_eq!(on_disk, listed, "stray files left behind");
    // The audit chain holds and names it.
    let verified = ok(probity().args(["audit", "verify", s]).output().unwrap());
    assert!(verified.contains("intact"), "{verified}");
}
