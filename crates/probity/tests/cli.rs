//! The `probity` binary as a user runs it: help, init, and ingest killed at
//! every commit boundary and at random instants.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

/// The analyst the tests query as, and their password.
const ANALYST: (&str, &str) = ("ana", "a long test password for ana");

/// Adds the analyst (by the admin, who created the store from this
/// operating-system account and so is bound to it) and sets their password,
/// once per store.
fn add_analyst(store: &Path) {
    let users = std::fs::read_to_string(store.join("users.json")).unwrap();
    if users.contains(&format!("\"{}\"", ANALYST.0)) {
        return;
    }
    let s = store.to_str().unwrap();
    ok(probity()
        .args([
            "user", "add", ANALYST.0, "--store", s, "--role", "analyst", "--as", "admin",
        ])
        .output()
        .unwrap());
    let mut reset = probity();
    reset.args([
        "user",
        "reset",
        ANALYST.0,
        "--store",
        s,
        "--new-password-stdin",
        "--as",
        "admin",
    ]);
    ok(spawn_with_line(reset, ANALYST.1)
        .wait_with_output()
        .unwrap());
}

/// Starts `cmd` with its output piped and `line` on its standard input.
fn spawn_with_line(mut cmd: Command, line: &str) -> std::process::Child {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    child
}

/// `probity sql STORE QUERY …` as the analyst, their password on standard
/// input; `stdout` piped or captured.
fn sql_child(store: &Path, args: &[&str]) -> std::process::Child {
    add_analyst(store);
    let mut cmd = probity();
    cmd.arg("sql")
        .arg(store)
        .args(args)
        .args(["--as", ANALYST.0, "--password-stdin"]);
    spawn_with_line(cmd, ANALYST.1)
}

fn sql(store: &Path, args: &[&str]) -> Output {
    sql_child(store, args).wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "probity failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `probity ingest DATA --store STORE` with an optional failpoint.
fn ingest(data: &Path, store: &Path, failpoint: Option<&str>) -> Output {
    let mut cmd = probity();
    cmd.args([
        "ingest",
        data.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    if let Some(point) = failpoint {
        cmd.env("PROBITY_FAILPOINT", point);
    }
    cmd.output().unwrap()
}

fn counts(store: &Path) -> String {
    let tables = [
        "people",
        "shifts",
        "badge_events",
        "device_locations",
        "system_queries",
        "roster_edits",
        "complaints",
    ];
    let query = tables
        .iter()
        .map(|t| format!("SELECT '{t}' AS t, count(*) AS n FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY t";
    ok(sql(store, &[&query, "--format", "csv"]))
}

fn setup(people: &str, days: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = tmp.path().join("store");
    ok(probity()
        .args([
            "synth",
            "--out",
            data.to_str().unwrap(),
            "--people",
            people,
            "--days",
            days,
            "--seed",
            "2",
        ])
        .output()
        .unwrap());
    ok(probity()
        .args(["init", store.to_str().unwrap()])
        .output()
        .unwrap());
    (tmp, data, store)
}

fn tree(store: &Path) -> Vec<String> {
    fn walk(p: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            // The audit log records the attempt; it is checked apart.
            // So do the audit anchors in the review database.
            if rel == ".lock"
                || rel.starts_with("staging")
                || rel.starts_with("audit")
                || rel.starts_with("review.sqlite")
            {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), root, out);
            } else {
                out.push(format!(
                    "{rel}:{}",
                    std::fs::metadata(e.path()).unwrap().len()
                ));
            }
        }
    }
    let mut out = vec![];
    walk(store, store, &mut out);
    out.sort();
    out
}

#[test]
fn every_subcommand_has_help() {
    let top = ok(probity().arg("--help").output().unwrap());
    for sub in [
        "init",
        "synth",
        "ingest",
        "map",
        "sql",
        "reveal",
        "audit",
        "governance",
        "user",
        "retention",
        "notice",
        "report",
        "triage",
    ] {
        assert!(top.contains(sub), "{sub} missing from --help");
        let help = ok(probity().args([sub, "--help"]).output().unwrap());
        assert!(help.contains("Usage: probity"), "{sub}: {help}");
    }
}

#[test]
fn init_writes_a_private_key_and_refuses_a_used_directory() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    ok(probity()
        .args(["init", store.to_str().unwrap()])
        .output()
        .unwrap());
    let mode = std::fs::metadata(store.join("keys/pseudonym.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let vault_key = std::fs::metadata(store.join("keys/vault.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        vault_key & 0o777,
        0o600,
        "the identity vault's key is private"
    );
    assert!(store.join("probity.toml").is_file() && store.join("manifest.json").is_file());
    let again = probity()
        .args(["init", store.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn ingest_killed_at_each_commit_boundary_leaves_a_consistent_store() {
    let (_tmp, data, store) = setup("80", "14");
    let empty = counts(&store);
    let empty_tree = tree(&store);
    // Killed before the commit point: the store is exactly as before.
    let out = ingest(&data, &store, Some("before-commit"));
    assert!(!out.status.success(), "failpoint did not fire");
    assert_eq!(counts(&store), empty);
    assert_eq!(tree(&store), empty_tree);
    // Killed after the commit point, part-way through publishing: the batch
    // is committed, and the next open finishes the move.
    for point in ["after-commit", "mid-publish"] {
        let (_tmp2, data2, store2) = setup("80", "14");
        let out = ingest(&data2, &store2, Some(point));
        assert!(!out.status.success(), "{point} did not fire");
        let after = counts(&store2);
        assert_ne!(after, empty, "{point}: committed batch not visible");
        let rerun = ok(ingest(&data2, &store2, None));
        assert!(rerun.contains("nothing new"), "{point}: {rerun}");
        // The commit is on the audit log exactly once, recovered if the
        // crash came before it was written.
        let text = std::fs::read_to_string(store2.join("audit/audit.jsonl")).unwrap();
        let commits: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("\"action\":\"ingest.commit\""))
            .collect();
        assert_eq!(commits.len(), 1, "{point}: {text}");
        assert_eq!(
            commits[0].contains("\"recovered\":true"),
            point == "after-commit",
            "{point}"
        );
        assert_eq!(counts(&store2), after);
    }
    // The audit log holds the intent of the batch that never committed; the
    // next writer records that it was abandoned, and the chain verifies.
    let log = || std::fs::read_to_string(store.join("audit/audit.jsonl")).unwrap();
    // (`counts` above opened the store, which already recovered.)
    // (`sql` reads are on the log too; they are left out here.)
    let action = |l: &str| {
        l.split("\"action\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let text = log();
    let tail: Vec<String> = text.lines().map(action).filter(|a| a != "sql").collect();
    assert_eq!(
        tail[tail.len() - 2..],
        ["ingest.begin", "ingest.abandoned"],
        "{text}"
    );
    // The rerun after the first crash succeeds and a second rerun adds nothing.
    ok(ingest(&data, &store, None));
    let text = log();
    let actions: Vec<String> = text.lines().map(action).filter(|a| a != "sql").collect();
    assert_eq!(
        actions[actions.len() - 4..],
        [
            "ingest.begin",
            "ingest.abandoned",
            "ingest.begin",
            "ingest.commit"
        ]
    );
    let v = ok(probity()
        .args(["audit", "verify", store.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(v.starts_with("intact:"), "{v}");
    let full = counts(&store);
    assert_ne!(full, empty);
    ok(ingest(&data, &store, None));
    assert_eq!(counts(&store), full);
}

#[test]
fn ingest_killed_at_random_instants_converges_to_the_same_store() {
    let (_tmp, data, store) = setup("150", "21");
    // The reference: an uninterrupted ingest into a second store.
    let reference = store.with_file_name("reference");
    ok(probity()
        .args(["init", reference.to_str().unwrap()])
        .output()
        .unwrap());
    ok(ingest(&data, &reference, None));
    let want = counts(&reference);
    let empty = counts(&store);
    for delay_ms in [50u64, 150, 300, 600] {
        let mut child = probity()
            .args([
                "ingest",
                data.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = counts(&store);
        assert!(
            now == empty || now == want,
            "torn store after kill at {delay_ms} ms:\n{now}"
        );
        if now == want {
            break;
        }
    }
    ok(ingest(&data, &store, None));
    assert_eq!(counts(&store), want);
}

#[test]
fn a_bad_batch_prints_file_column_and_fix_and_exits_nonzero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("sites.csv"), "site_id,name,lat\nS1,X,51.5\n").unwrap();
    let store = tmp.path().join("s");
    ok(probity()
        .args(["init", store.to_str().unwrap()])
        .output()
        .unwrap());
    let out = ingest(&data, &store, None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store is unchanged"), "{err}");
    assert!(
        err.contains("sites.csv") && err.contains("required column lon"),
        "{err}"
    );
}

#[test]
fn demo_runs_the_main_job_end_to_end_and_refuses_a_foreign_directory() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let run = |d: &Path| {
        probity()
            .args([
                "demo",
                "--dir",
                d.to_str().unwrap(),
                "--people",
                "300",
                "--days",
                "40",
                "--seed",
                "2",
                "--no-serve",
            ])
            .output()
            .unwrap()
    };
    let text = ok(run(&work));
    for scenario in [
        "roster_manipulation",
        "ghost_overtime",
        "attendance_breach",
        "undeclared_interest",
        "system_misuse",
        "post_case_contact",
        "leave_overlap_claim",
        "complaint_pattern",
    ] {
        assert!(text.contains(scenario), "{scenario} missing:\n{text}");
    }
    assert!(text.contains("precision") && text.contains("overall"));
    assert!(text.contains("auto-linked"), "{text}");
    assert!(work.join("findings/findings.jsonl").exists());

    // resolve: the demo stored its links; nothing new to compare.
    let store = work.join("store");
    let s = store.to_str().unwrap();
    let out = ok(probity().args(["resolve", s]).output().unwrap());
    assert!(out.starts_with("up to date resolve"), "{out}");
    // A true link explained: the waterfall, the staff side hidden.
    let links = std::fs::read_to_string(work.join("data/reference_links.csv")).unwrap();
    let record = links
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let out = ok(probity()
        .args(["resolve", s, "--explain", &record])
        .output()
        .unwrap());
    for needle in [
        "prior",
        "given name",
        "family name",
        "date of birth",
        "postcode",
        "total",
        "(hidden)",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    let out = probity()
        .args(["resolve", s, "--explain", "NO-SUCH-RECORD"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO-SUCH-RECORD"));
    // A threshold mistake in probity.toml names the key and the rule.
    let toml = store.join("probity.toml");
    let good = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{good}\n[resolve]\nlink_at = 1.5\n")).unwrap();
    let out = probity().args(["resolve", s]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resolve.link_at") && err.contains("review_at < link_at < 1"),
        "{err}"
    );
    std::fs::write(
        &toml,
        format!("{good}\n[resolve]\nblocking = [\"surname\"]\n"),
    )
    .unwrap();
    let out = probity().args(["resolve", s]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("surname") && err.contains("family_sound_given_initial"),
        "{err}"
    );
    std::fs::write(&toml, good).unwrap();
    assert!(work.join("findings/findings.parquet").exists());
    // An earlier demo is replaced; a directory that is not a demo is not.
    ok(run(&work));
    let foreign = dir.path().join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let out = run(&foreign);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an earlier demo"));
    assert!(foreign.join("notes.txt").exists());

    // eval --json is machine-readable and agrees with the files.
    let json = ok(probity()
        .args([
            "eval",
            "--findings",
            work.join("findings/findings.jsonl").to_str().unwrap(),
            "--truth",
            work.join("data/truth.csv").to_str().unwrap(),
            "--store",
            work.join("store").to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let lines = std::fs::read_to_string(work.join("findings/findings.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(v["overall"]["findings"].as_u64().unwrap() as usize, lines);
}

#[test]
fn eval_names_the_line_and_field_of_a_bad_truth_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("findings.jsonl");
    std::fs::write(&f, "").unwrap();
    let t = dir.path().join("truth.csv");
    std::fs::write(
        &t,
        "person_id,scenario,period_start,period_end\nP1,ghost_overtime,2026-01-01,2026-01-02\nP2,ghost_overtime,2026-13-01,2026-01-02\n",
    )
    .unwrap();
    let out = probity()
        .args([
            "eval",
            "--findings",
            f.to_str().unwrap(),
            "--truth",
            t.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truth.csv, line 3") && err.contains("period_start"),
        "{err}"
    );
    std::fs::write(&f, "{\"finding_id\": 1}\n").unwrap();
    let out = probity()
        .args([
            "eval",
            "--findings",
            f.to_str().unwrap(),
            "--truth",
            t.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("findings.jsonl, line 1"), "{err}");
}

#[test]
fn a_mapped_source_ingests_with_rows_traced_to_their_source_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("hr.csv"),
        "id,first,last,unit,joined,left\n\
         1,Ann,Lee,U1,2020-01-01,\n\
         2,Bob,Roe,U1,2020-01-01,2019-01-01\n\
         3,Cy,Kaye,U2,2020-13-01,\n",
    )
    .unwrap();
    let mapping = tmp.path().join("hr.toml");
    std::fs::write(
        &mapping,
        r#"[mapping]
name = "hr"
[sources.hr]
file = "hr.csv"
[tables.sites]
rows = [{ site_id = "s", name = "S", lat = "0", lon = "0", radius_m = "100" }]
[tables.units]
from = "hr"
distinct = true
columns = { unit_id = "unit", name = "unit", site_id = "'s'" }
[tables.people]
from = "hr"
[tables.people.columns]
person_id = "id"
given_name = "first"
family_name = "last"
rank = "'PC'"
unit_id = "unit"
start_date = "joined | date"
end_date = "left | date"
work_pattern = "'shift'"
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let text = ok(probity()
        .args(["map", mapping.to_str().unwrap(), "--source"])
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap());
    assert!(
        text.contains("rejected 1 people rows: start_date: not a date"),
        "{text}"
    );
    assert!(out.join("_mapping/report.json").is_file());

    let store = tmp.path().join("store");
    ok(probity().arg("init").arg(&store).output().unwrap());
    let out = probity()
        .arg("ingest")
        .arg(&src)
        .arg("--store")
        .arg(&store)
        .arg("--mapping")
        .arg(&mapping)
        .output()
        .unwrap();
    let text = ok(out.clone());
    let err = String::from_utf8_lossy(&out.stderr);
    // Ingest validates mapped rows like any other and cites the source line.
    assert!(
        text.contains("people.csv line 3 (from hr.csv:3): end_date is before start_date"),
        "{text}"
    );
    assert!(
        !err.contains("_source") && !err.contains("_mapping"),
        "no warning for provenance: {err}"
    );
    let n = ok(sql(
        &store,
        &["SELECT count(*) AS n FROM people", "--format", "csv"],
    ));
    assert_eq!(n.trim(), "n\n1");
    // The mapped copy (names included) does not stay in the store.
    let leftovers: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mapped"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    // `probity sql … | head -1`: the output is larger than a pipe buffer and
    // the reader goes away after the first line.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    ok(probity().arg("init").arg(&store).output().unwrap());
    let mut child = sql_child(
        &store,
        &[
            "SELECT value, value * 2 AS twice FROM generate_series(1, 200000)",
            "--format",
            "csv",
        ],
    );
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(done.status.success(), "{:?} {err}", done.status);
}

#[test]
fn a_misnamed_table_file_is_an_error_with_the_table_it_meant() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, store) = (tmp.path().join("d"), tmp.path().join("s"));
    std::fs::create_dir(&data).unwrap();
    ok(probity().arg("init").arg(&store).output().unwrap());
    let sites = "site_id,name,lat,lon,radius_m\nS1,Station,51.5,-0.1,200\n";
    std::fs::write(data.join("site.csv"), sites).unwrap();
    std::fs::write(data.join("README.md"), "notes\n").unwrap();
    let out = ingest(&data, &store, None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("site.csv") && err.contains("did you mean sites.csv?"),
        "{err}"
    );
    // Told to ignore other exports, it ingests the tables it knows.
    let out = probity()
        .args([
            "ingest",
            data.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--allow-extra-files",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn line_numbers_are_right_whatever_the_line_endings() {
    for (name, eol) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let tmp = tempfile::tempdir().unwrap();
        let (data, store) = (tmp.path().join("d"), tmp.path().join("s"));
        std::fs::create_dir(&data).unwrap();
        ok(probity().arg("init").arg(&store).output().unwrap());
        // A quoted field spanning two lines (LF and CRLF files) pushes the
        // last row to line 6.
        let multi = if eol == "\r" { "\"one line\"" } else { "\"two" }.to_string()
            + if eol == "\r" { "" } else { eol }
            + if eol == "\r" { "" } else { "lines\"" };
        let rows = [
            "site_id,name,lat,lon,radius_m".to_string(),
            "S1,Station,51.5,-0.1,200".into(),
            "S2,Bad,xx,-0.1,200".into(),
            format!("S3,{multi},51.5,-0.1,200"),
            "S4,Bad,yy,-0.1,200".into(),
        ];
        std::fs::write(data.join("sites.csv"), rows.join(eol) + eol).unwrap();
        let text = ok(ingest(&data, &store, None));
        let last = if eol == "\r" { 5 } else { 6 };
        assert!(
            text.contains("sites.csv line 3: lat \"xx\""),
            "{name}: {text}"
        );
        assert!(
            text.contains(&format!("sites.csv line {last}: lat \"yy\"")),
            "{name}: {text}"
        );
    }
}

#[test]
fn the_commented_examples_of_probity_toml_work_when_uncommented() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    ok(probity().arg("init").arg(&store).output().unwrap());
    let path = store.join("probity.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut in_detectors = false;
    for line in text.lines() {
        if line.starts_with("# [detectors.") {
            in_detectors = true;
        } else if !line.starts_with("# ")
            || line.starts_with("# [") && !line.starts_with("# [detectors.")
        {
            in_detectors = false;
        }
        if in_detectors && line.starts_with("# ") {
            out.push_str(&line[2..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(
        out.contains("\n[detectors.overtime_without_presence]\n"),
        "{out}"
    );
    std::fs::write(&path, out).unwrap();
    // Every command that opens the store checks probity.toml against the
    // detector registry (ids, parameter names, types).
    ok(probity()
        .args(["detectors", "--store", store.to_str().unwrap()])
        .output()
        .unwrap());
}

/// Writes the governance template into `dir`, uncommented and filled as
/// the README says, and applies it to `store` as the admin.
fn approve_every_detector(dir: &Path, store: &Path) {
    let file = dir.join("governance.toml");
    let f = file.to_str().unwrap();
    ok(probity().args(["governance", "init", f]).output().unwrap());
    let template = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, uncomment_and_fill(&template, true)).unwrap();
    ok(probity()
        .args(["governance", "apply", f, "--store", store.to_str().unwrap()])
        .args(["--as", "admin"])
        .output()
        .unwrap());
}

/// Uncomments a governance template's blocks the way the README says
/// (the leading `# ` of block lines) and fills every TODO.
fn uncomment_and_fill(template: &str, fill: bool) -> String {
    let mut out = String::new();
    for l in template.lines() {
        let line = match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest
            }
            _ => l,
        };
        out.push_str(line);
        out.push('\n');
    }
    if fill {
        out.replace("\"TODO\"", "\"Agreed by the Deputy Chief Constable\"")
    } else {
        out
    }
}

#[test]
fn governance_from_the_template_in_one_pass_with_every_problem_and_the_change_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let s = store.to_str().unwrap();
    ok(probity().args(["init", s]).output().unwrap());
    let file = tmp.path().join("governance.toml");
    let f = file.to_str().unwrap();
    let said = ok(probity().args(["governance", "init", f]).output().unwrap());
    assert!(said.contains("valid as it stands"), "{said}");
    // As written: valid, approving nothing; never overwritten.
    ok(probity().args(["governance", "check", f]).output().unwrap());
    let again = probity().args(["governance", "init", f]).output().unwrap();
    assert!(!again.status.success());
    // Uncommented: one run of `check` lists every TODO, in file order.
    let template = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, uncomment_and_fill(&template, false)).unwrap();
    let out = probity().args(["governance", "check", f]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| l.trim().strip_prefix("line "))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let approvals = 4 * (lines.len() / 4);
    assert!(approvals >= 4 * 10, "{err}");
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "file order: {err}");
    assert!(
        err.contains(&format!("{} problems in", lines.len())),
        "{err}"
    );
    assert!(!err.contains("duplicate"), "{err}");
    // Filled: valid; applied, the change is said in words.
    std::fs::write(&file, uncomment_and_fill(&template, true)).unwrap();
    ok(probity().args(["governance", "check", f]).output().unwrap());
    let applied = ok(probity()
        .args(["governance", "apply", f, "--store", s, "--as", "admin"])
        .output()
        .unwrap());
    assert!(
        applied.contains("approved  overtime_without_presence (purpose ghost_overtime, until "),
        "{applied}"
    );
    assert!(applied.contains("approved  risk_model"), "{applied}");
    // Withdrawing one says so.
    let text = std::fs::read_to_string(&file).unwrap();
    let cut = text.find("[detectors.anomaly_score]").unwrap();
    std::fs::write(&file, &text[..cut]).unwrap();
    let applied = ok(probity()
        .args(["governance", "apply", f, "--store", s, "--as", "admin"])
        .output()
        .unwrap());
    assert!(applied.contains("withdrawn anomaly_score"), "{applied}");
    assert!(!applied.contains("approved "), "{applied}");
}

#[test]
fn status_notice_and_detectors_agree_that_an_approved_baseline_does_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let s = store.to_str().unwrap();
    ok(probity().args(["init", s]).output().unwrap());
    approve_every_detector(tmp.path(), &store);
    let status = ok(probity()
        .args(["governance", "status", s])
        .output()
        .unwrap());
    let line = status
        .lines()
        .find(|l| l.contains("complaint_threshold"))
        .unwrap();
    assert!(line.starts_with("skipped"), "{status}");
    let notice = tmp.path().join("notice.html");
    ok(probity()
        .args(["notice", s, "--out", notice.to_str().unwrap()])
        .output()
        .unwrap());
    let html = std::fs::read_to_string(&notice).unwrap();
    let threshold_title = "complaint_threshold";
    assert!(
        !html.contains(threshold_title),
        "the notice lists a check that does not run"
    );
    let detectors = ok(probity()
        .args(["detectors", "--store", s])
        .output()
        .unwrap());
    let block: String = detectors
        .split("\ncomplaint_threshold ")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  ") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("on this store: does not run"), "{block}");
}

#[test]
fn rows_quarantined_for_a_missing_parent_are_stored_by_retrying_the_quarantine() {
    let (tmp, data, store) = setup("60", "10");
    let s = store.to_str().unwrap();
    // People arrive before their units.
    let first = tmp.path().join("first");
    let later = tmp.path().join("later");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&later).unwrap();
    std::fs::copy(data.join("people.csv"), first.join("people.csv")).unwrap();
    for t in ["units", "sites"] {
        std::fs::copy(
            data.join(format!("{t}.csv")),
            later.join(format!("{t}.csv")),
        )
        .unwrap();
    }
    let out = ok(ingest(&first, &store, None));
    assert!(out.contains("quarantined 60 people rows"), "{out}");
    assert!(
        out.contains("--retry-quarantine b"),
        "the summary says what to do: {out}"
    );
    ok(ingest(&later, &store, None));
    // The same file again: skipped, and told how to retry.
    let again = ok(ingest(&first, &store, None));
    assert!(again.contains("already ingested in batch"), "{again}");
    let batch = again
        .split("--retry-quarantine ")
        .nth(1)
        .expect("the hint")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let retried = ok(probity()
        .args(["ingest", "--retry-quarantine", &batch, "--store", s])
        .output()
        .unwrap());
    let people = retried
        .lines()
        .find(|l| l.starts_with("people "))
        .expect("a people row");
    let cols: Vec<&str> = people.split_whitespace().collect();
    assert_eq!((cols[1], cols[2], cols[3]), ("60", "60", "0"), "{retried}");
    // The retried quarantine file (names as read) is gone, and so is the
    // batch's claim to quarantined rows.
    assert!(retried.contains("retried and deleted"), "{retried}");
    assert!(
        !store
            .join("quarantine")
            .join(&batch)
            .join("people.csv")
            .exists()
    );
    let twice = probity()
        .args(["ingest", "--retry-quarantine", &batch, "--store", s])
        .output()
        .unwrap();
    assert!(!twice.status.success());
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("no quarantined rows left"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    // A batch that does not exist is an error naming those that can be retried.
    let bad = probity()
        .args(["ingest", "--retry-quarantine", "b999999", "--store", s])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("batches with quarantined rows"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn a_mistyped_store_path_suggests_the_store_it_meant() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("mystore");
    ok(probity()
        .args(["init", store.to_str().unwrap()])
        .output()
        .unwrap());
    let typo = tmp.path().join("mystor");
    let out = probity()
        .args(["governance", "status", typo.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("did you mean {}?", store.display())),
        "{err}"
    );
    assert!(!err.contains("probity init"), "{err}");
}

/// Splits a synthetic force's CSV files as a daily export would arrive: the
/// dated rows of the last day (by their partition column's local date as
/// written) into `daily`, everything else into `history`. Returns the day.
fn split_last_day(data: &Path, history: &Path, daily: &Path) -> String {
    const DATED: &[(&str, &str)] = &[
        ("shifts", "start"),
        ("roster_edits", "edited_at"),
        ("overtime_claims", "claimed_start"),
        ("absences", "start_date"),
        ("badge_events", "at"),
        ("device_sessions", "start"),
        ("device_locations", "at"),
        ("system_queries", "at"),
        ("complaints", "received_on"),
    ];
    std::fs::create_dir_all(history).unwrap();
    std::fs::create_dir_all(daily).unwrap();
    let day_of = |table: &str, path: &Path| -> Vec<(String, csv::StringRecord)> {
        let column = DATED.iter().find(|(t, _)| *t == table).unwrap().1;
        let mut r = csv::Reader::from_path(path).unwrap();
        let at = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == column)
            .unwrap();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[at].chars().take(10).collect(), rec)
            })
            .collect()
    };
    let last = day_of("shifts", &data.join("shifts.csv"))
        .into_iter()
        .map(|(d, _)| d)
        .max()
        .unwrap();
    assert!(last.starts_with("2026-"), "dates written as {last}");
    for e in std::fs::read_dir(data).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(table) = name.strip_suffix(".csv") else {
            continue;
        };
        if !DATED.iter().any(|(t, _)| *t == table) {
            std::fs::copy(&path, history.join(&name)).unwrap();
            continue;
        }
        let headers = csv::Reader::from_path(&path)
            .unwrap()
            .headers()
            .unwrap()
            .clone();
        let mut h = csv::Writer::from_path(history.join(&name)).unwrap();
        let mut d = csv::Writer::from_path(daily.join(&name)).unwrap();
        h.write_record(&headers).unwrap();
        d.write_record(&headers).unwrap();
        for (day, rec) in day_of(table, &path) {
            if day == last { &mut d } else { &mut h }
                .write_record(&rec)
                .unwrap();
        }
    }
    last
}

/// The daily run: a batch of one day's records, then `analyze --batch
/// latest` judges that day, skips the detectors whose tables the batch does
/// not hold, and says so in run.json; a batch or period that cannot be is
/// refused with the fix.
#[test]
fn a_daily_batch_is_analysed_for_the_day_it_touches() {
    let (tmp, data, store) = setup("150", "40");
    let s = store.to_str().unwrap();
    let (history, daily) = (tmp.path().join("history"), tmp.path().join("daily"));
    let last = split_last_day(&data, &history, &daily);
    ok(ingest(&history, &store, None));
    ok(ingest(&daily, &store, None));
    approve_every_detector(tmp.path(), &store);
    add_analyst(&store);
    let analyze = |extra: &[&str], out: &Path| -> Output {
        let mut cmd = probity();
        cmd.args(["analyze", s, "--out", out.to_str().unwrap()])
            .args(extra)
            .args(["--as", ANALYST.0, "--password-stdin"]);
        spawn_with_line(cmd, ANALYST.1).wait_with_output().unwrap()
    };
    let out = tmp.path().join("daily-run");
    let said = ok(analyze(&["--batch", "latest"], &out));
    assert!(
        said.contains(&format!(
            "judged {last} to {last} (the days batch b000002 touched)"
        )),
        "{said}"
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["limited_to"]["from"], last.as_str());
    assert_eq!(run["limited_to"]["to"], last.as_str());
    assert_eq!(run["limited_to"]["batch"], "b000002");
    let outcome = |id: &str| {
        run["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["detector"] == id)
            .unwrap()
            .clone()
    };
    // Registers and people are not in a day's batch: nothing new to judge.
    let why = outcome("undeclared_register_entry")["skipped"].to_string();
    assert!(
        why.contains("batch b000002 holds none of the tables it reads"),
        "{why}"
    );
    assert!(outcome("overtime_without_presence")["skipped"].is_null());
    let findings = std::fs::read_to_string(out.join("findings.jsonl")).unwrap();
    for line in findings.lines() {
        let x: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            x["period_end"].as_str().unwrap() >= last.as_str(),
            "a finding that ends before the day: {line}"
        );
    }

    let refused = analyze(&["--batch", "b000009"], &tmp.path().join("x"));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("no batch b000009") && err.contains("b000001, b000002"),
        "{err}"
    );
    let refused = analyze(
        &["--period", "2026-02-10..2026-02-01"],
        &tmp.path().join("y"),
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("the first day is after the last"), "{err}");
}
