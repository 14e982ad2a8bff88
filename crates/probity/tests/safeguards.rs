//! Safeguards as a user meets them: reveals only by a reviewer with a
//! reason (refusals audited), no identity in any output without a reveal,
//! the audit chain catching an edit and surviving a crash mid-append,
//! retention deleting exactly what is due, and the notice and subject report
//! stating the facts they must.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
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

fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn run(args: &[&str]) -> Output {
    probity().args(args).output().unwrap()
}

struct Demo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: String,
}

fn demo() -> Demo {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    ok(run(&[
        "demo",
        "--dir",
        dir.to_str().unwrap(),
        "--people",
        "300",
        "--days",
        "40",
        "--seed",
        "4",
        "--no-serve",
    ]));
    let store = dir.join("store").to_str().unwrap().to_string();
    Demo {
        _tmp: tmp,
        dir,
        store,
    }
}

fn finding_ids(d: &Demo) -> Vec<String> {
    std::fs::read_to_string(d.dir.join("findings/findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["finding_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn audit_lines(d: &Demo) -> Vec<serde_json::Value> {
    std::fs::read_to_string(Path::new(&d.store).join("audit/audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Person ids and full names of the synthetic staff.
fn identities(d: &Demo) -> Vec<String> {
    let mut r = csv::Reader::from_path(d.dir.join("data/people.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (id, g, f) = (col("person_id"), col("given_name"), col("family_name"));
    let mut out = vec![];
    for rec in r.records() {
        let rec = rec.unwrap();
        out.push(rec[id].to_string());
        out.push(format!("{} {}", &rec[g], &rec[f]));
        out.push(format!("{}, {}", &rec[f], &rec[g]));
    }
    out
}

fn files_under(p: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            files_under(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

fn leaks(files: &[PathBuf], ids: &[String]) -> Vec<String> {
    let mut found = vec![];
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for id in ids {
            // Person ids are P + 5 digits; match them as whole tokens.
            let hit = text.match_indices(id.as_str()).any(|(i, _)| {
                let next = text[i + id.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric())
            });
            if hit {
                found.push(format!("{} in {}", id, f.display()));
            }
        }
    }
    found
}

#[test]
fn reveals_are_for_reviewers_with_a_reason_and_every_attempt_is_audited() {
    let d = demo();
    let f = &finding_ids(&d)[0];
    let s = d.store.as_str();
    let e = refused(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "checking the roster pattern",
        "--as",
        "ana",
    ]));
    assert!(e.contains("only reviewer may reveal"), "{e}");
    let e = refused(run(&["reveal", f, "--store", s, "--as", "rev"]));
    assert!(e.contains("a reason is required"), "{e}");
    let e = refused(run(&[
        "reveal", f, "--store", s, "--reason", "short", "--as", "rev",
    ]));
    assert!(e.contains("a reason is required"), "{e}");
    let e = refused(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "checking the roster pattern",
        "--as",
        "aud",
    ]));
    assert!(e.contains("auditor"), "{e}");
    let e = refused(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "checking the roster pattern",
    ]));
    assert!(e.contains("no user \"os:"), "{e}");
    // Exports with identities need the same.
    let out = d.dir.join("revealed");
    let e = refused(run(&[
        "analyze",
        s,
        "--out",
        out.to_str().unwrap(),
        "--reveal",
        "--as",
        "ana",
        "--reason",
        "evaluation against truth",
    ]));
    assert!(e.contains("only reviewer may export identities"), "{e}");
    assert!(
        !out.exists(),
        "nothing is written when the export is refused"
    );

    let shown = ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "PSD case 2026/041 triage",
        "--as",
        "rev",
    ]));
    assert!(shown.contains("person    P"), "{shown}");

    let log = audit_lines(&d);
    let refusals: Vec<_> = log
        .iter()
        .filter(|e| e["action"] == "reveal.refused")
        .collect();
    // The demo's own refused attempt plus the five above.
    assert_eq!(refusals.len(), 6, "{refusals:#?}");
    assert!(
        refusals
            .iter()
            .any(|e| e["actor"] == "ana" && e["object"] == f.as_str())
    );
    assert!(
        log.iter()
            .any(|e| e["action"] == "export.identities.refused" && e["actor"] == "ana")
    );
    let reveal = log.iter().find(|e| e["action"] == "reveal").unwrap();
    assert_eq!(reveal["actor"], "rev");
    assert_eq!(reveal["reason"], "PSD case 2026/041 triage");
    assert!(reveal["person"].as_str().unwrap().starts_with("p-"));

    // Only an auditor reads the log; the reveal is there with its reason.
    let e = refused(run(&["audit", "show", s, "--as", "rev"]));
    assert!(e.contains("only auditor may read the audit log"), "{e}");
    let shown = ok(run(&[
        "audit", "show", s, "--as", "aud", "--action", "reveal", "--actor", "rev",
    ]));
    assert!(
        shown.contains("reason=\"PSD case 2026/041 triage\""),
        "{shown}"
    );
    assert!(!shown.contains("ana"), "filtered by actor: {shown}");
    let v = ok(run(&["audit", "verify", s]));
    assert!(v.starts_with("intact:"), "{v}");
}

#[test]
fn no_identity_appears_in_findings_exports_or_logs_without_a_reveal() {
    let d = demo();
    let ids = identities(&d);
    assert!(ids.len() > 600);
    let s = d.store.as_str();
    ok(run(&[
        "notice",
        s,
        "--out",
        d.dir.join("notice-2.html").to_str().unwrap(),
    ]));
    let f = &finding_ids(&d)[0];
    ok(run(&[
        "triage",
        f,
        "--store",
        s,
        "--outcome",
        "advice",
        "--reason",
        "pattern explained by swap agreement",
        "--as",
        "ana",
    ]));
    let mut files = vec![];
    files_under(&d.dir.join("findings"), &mut files);
    files_under(&Path::new(s).join("audit"), &mut files);
    files_under(&Path::new(s).join("findings"), &mut files);
    files.push(d.dir.join("notice.html"));
    files.push(d.dir.join("notice-2.html"));
    let shown = ok(run(&["audit", "show", s, "--as", "aud", "--json"]));
    let shown_path = d.dir.join("audit-show.jsonl");
    std::fs::write(&shown_path, shown).unwrap();
    files.push(shown_path);
    assert!(files.len() >= 8, "{files:?}");
    let found = leaks(&files, &ids);
    assert!(found.is_empty(), "identities leaked: {found:?}");

    // A reveal shows the identity to the reviewer, and still writes none
    // into the log (it records the pseudonym and the reason).
    let out = ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "PSD case 2026/041 triage",
        "--as",
        "rev",
    ]));
    let line = out.lines().find(|l| l.starts_with("person")).unwrap();
    assert!(ids.iter().any(|id| line.contains(id.as_str())), "{line}");
    // A refused subject report names the person only by pseudonym.
    refused(run(&[
        "report",
        "subject",
        "P00001",
        "--store",
        s,
        "--out",
        d.dir.join("sar").to_str().unwrap(),
        "--as",
        "ana",
        "--reason",
        "checking a request",
    ]));
    let mut files = vec![];
    files_under(&Path::new(s).join("audit"), &mut files);
    files_under(&Path::new(s).join("findings"), &mut files);
    let found = leaks(&files, &ids);
    assert!(found.is_empty(), "identities leaked: {found:?}");
}

#[test]
fn an_edited_audit_entry_is_named_and_a_crash_mid_append_is_recovered() {
    let d = demo();
    let s = d.store.as_str();
    let f = &finding_ids(&d)[0];
    // A crash half-way through writing the reveal's entry: the identity is
    // never shown, the log verifies (with a torn tail noted), and the next
    // append records the recovery.
    let out = probity()
        .args([
            "reveal",
            f,
            "--store",
            s,
            "--reason",
            "PSD case 2026/041 triage",
            "--as",
            "rev",
        ])
        .env("PROBITY_FAILPOINT", "audit.mid-append")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("person "),
        "identity shown before it was audited"
    );
    let v = ok(run(&["audit", "verify", s]));
    assert!(
        v.contains("interrupted append") && v.contains("intact:"),
        "{v}"
    );
    ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "PSD case 2026/041 triage",
        "--as",
        "rev",
    ]));
    let log = audit_lines(&d);
    let n = log.len();
    assert_eq!(log[n - 2]["action"], "audit.recovered");
    assert_eq!(log[n - 1]["action"], "reveal");
    let v = ok(run(&["audit", "verify", s]));
    assert!(v.starts_with(&format!("intact: {n} entries")), "{v}");

    // Killed after the entry is durable but before the identity is shown:
    // the log says a reveal was attempted; it stays consistent.
    let out = probity()
        .args([
            "reveal",
            f,
            "--store",
            s,
            "--reason",
            "PSD case 2026/041 triage",
            "--as",
            "rev",
        ])
        .env("PROBITY_FAILPOINT", "audit.after-append")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v = ok(run(&["audit", "verify", s]));
    assert!(v.contains(&format!("intact: {} entries", n + 1)), "{v}");
    assert!(v.contains("head file records entry"), "{v}");

    // Someone makes themselves a reviewer by editing users.json directly.
    let users_path = Path::new(s).join("users.json");
    let before = std::fs::read_to_string(&users_path).unwrap();
    std::fs::write(
        &users_path,
        before.replace("\"role\": \"analyst\"", "\"role\": \"reviewer\""),
    )
    .unwrap();
    let out = run(&["audit", "verify", s]);
    assert_eq!(out.status.code(), Some(1));
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(v.contains("MISMATCH: users.json differs"), "{v}");
    std::fs::write(&users_path, before).unwrap();
    assert!(ok(run(&["audit", "verify", s])).contains("intact:"));

    // Someone edits a reason in entry 5 after the fact.
    let path = Path::new(s).join("audit/audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = lines[4].replacen("\"actor\":\"admin\"", "\"actor\":\"someone\"", 1);
    assert_ne!(
        lines[4],
        text.lines().nth(4).unwrap(),
        "entry 5 is an admin's"
    );
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = run(&["audit", "verify", s]);
    assert_eq!(out.status.code(), Some(1));
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(v.contains("BROKEN at line 5 (entry 5)"), "{v}");
    // Later appends do not hide it: the break stays named at entry 5.
    ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "PSD case 2026/041 triage",
        "--as",
        "rev",
    ]));
    let v = String::from_utf8(run(&["audit", "verify", s]).stdout).unwrap();
    assert!(v.contains("BROKEN at line 5 (entry 5)"), "{v}");
}

fn sql_count(store: &str, q: &str) -> u64 {
    let out = ok(run(&["sql", store, q, "--format", "csv"]));
    out.lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn retention_deletes_exactly_what_is_due_and_is_safe_to_repeat() {
    let d = demo();
    let s = d.store.as_str();
    // Badge events kept 10 days and raw pings 5 days, as of 3 February 2026:
    // swipes before 24 January and pings before 29 January are due.
    let gov = std::fs::read_to_string(Path::new(s).join("governance.toml")).unwrap();
    let gov = gov
        .replace(
            "tables = { badge_events = 730,",
            "tables = { badge_events = 10,",
        )
        .replace("raw_location_days = 30", "raw_location_days = 5")
        .replace(
            "findings = { no_further_action = 90, advice = 365 }",
            "findings = { no_further_action = 90 }",
        );
    let file = d.dir.join("gov.toml");
    std::fs::write(&file, gov).unwrap();
    let e = refused(run(&[
        "governance",
        "apply",
        file.to_str().unwrap(),
        "--store",
        s,
        "--as",
        "ana",
    ]));
    assert!(e.contains("only admin may change governance"), "{e}");
    ok(run(&[
        "governance",
        "apply",
        file.to_str().unwrap(),
        "--store",
        s,
        "--as",
        "admin",
    ]));

    let swipes_cut = "TIMESTAMP '2026-01-24T00:00:00Z'";
    let pings_cut = "TIMESTAMP '2026-01-29T00:00:00Z'";
    let count = |q: &str| sql_count(s, q);
    let swipes_due = count(&format!(
        "SELECT count(*) FROM badge_events WHERE at < {swipes_cut}"
    ));
    let swipes_kept = count(&format!(
        "SELECT count(*) FROM badge_events WHERE at >= {swipes_cut}"
    ));
    let pings_due = count(&format!(
        "SELECT count(*) FROM device_locations WHERE at < {pings_cut}"
    ));
    let pings_kept = count(&format!(
        "SELECT count(*) FROM device_locations WHERE at >= {pings_cut}"
    ));
    let sessions = count("SELECT count(*) FROM device_sessions");
    assert!(swipes_due > 0 && swipes_kept > 0 && pings_due > 0 && pings_kept > 0);

    // Triage two findings: one closed as no further action, one as advice.
    let ids = finding_ids(&d);
    ok(run(&[
        "triage",
        &ids[0],
        "--store",
        s,
        "--outcome",
        "no_further_action",
        "--dismissal",
        "explained",
        "--reason",
        "swap agreed with the sergeant",
        "--as",
        "ana",
    ]));
    ok(run(&[
        "triage",
        &ids[1],
        "--store",
        s,
        "--outcome",
        "advice",
        "--reason",
        "advised on claim procedure",
        "--as",
        "ana",
    ]));

    let e = refused(run(&[
        "retention",
        "apply",
        s,
        "--as",
        "ana",
        "--today",
        "2026-02-03",
    ]));
    assert!(e.contains("only admin may apply retention"), "{e}");
    let r = ok(run(&[
        "retention",
        "apply",
        s,
        "--as",
        "admin",
        "--today",
        "2026-02-03",
    ]));
    assert!(
        r.contains(&format!(
            "location pings reduced to per-shift facts and deleted: {pings_due} "
        )),
        "{r}"
    );
    assert!(
        r.contains(&format!("rows before 2026-01-24 deleted: {swipes_due} ")),
        "{r}"
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM badge_events WHERE at < {swipes_cut}"
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM badge_events WHERE at >= {swipes_cut}"
        )),
        swipes_kept
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM device_locations WHERE at < {pings_cut}"
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM device_locations WHERE at >= {pings_cut}"
        )),
        pings_kept
    );
    assert_eq!(count("SELECT count(*) FROM device_sessions"), sessions);
    // What minimisation keeps: one fact per shift, on site or not.
    let facts = count("SELECT count(*) FROM location_facts");
    assert!(facts > 0);
    assert!(count("SELECT sum(pings) FROM location_facts") >= pings_due);
    // Findings are kept until their status's period is over.
    let r = ok(run(&[
        "retention",
        "apply",
        s,
        "--as",
        "admin",
        "--today",
        "2026-02-03",
    ]));
    assert!(r.contains("nothing was due"), "{r}");
    let register = Path::new(s).join("findings/register.jsonl");
    let held = std::fs::read_to_string(&register).unwrap().lines().count();
    let today = jiff::tz::TimeZone::get("Europe/London")
        .unwrap()
        .to_datetime(jiff::Timestamp::now())
        .date();
    let at = |days: i64| {
        today
            .checked_add(jiff::Span::new().days(days))
            .unwrap()
            .to_string()
    };
    let r = ok(run(&[
        "retention",
        "apply",
        s,
        "--as",
        "admin",
        "--today",
        &at(90),
    ]));
    assert!(!r.contains("findings purged"), "{r}");
    let r = ok(run(&[
        "retention",
        "apply",
        s,
        "--as",
        "admin",
        "--today",
        &at(91),
    ]));
    assert!(r.contains("findings purged (no_further_action): 1"), "{r}");
    let findings_in = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("{\"purged\""))
            .map(|l| l.to_string())
            .collect()
    };
    let after = std::fs::read_to_string(&register).unwrap();
    let kept = findings_in(&after);
    assert_eq!(kept.len(), held - 1);
    assert!(!kept.iter().any(|l| l.contains(&ids[0])) && kept.iter().any(|l| l.contains(&ids[1])));
    // A later analysis finds the same pattern again: the purged finding
    // does not come back as new (its outcome was decided).
    let out = ok(run(&[
        "analyze",
        s,
        "--out",
        d.dir.join("again").to_str().unwrap(),
    ]));
    assert!(out.contains("register: "), "{out}");
    let again = std::fs::read_to_string(&register).unwrap();
    assert!(!findings_in(&again).iter().any(|l| l.contains(&ids[0])));
    // The counts are on the audit log.
    let done: Vec<_> = audit_lines(&d)
        .into_iter()
        .filter(|e| e["action"] == "retention.done")
        .collect();
    assert_eq!(done.len(), 4);
    assert_eq!(
        done[0]["details"]["tables"]["badge_events"]["rows_deleted"],
        swipes_due
    );
    assert!(ok(run(&["audit", "verify", s])).starts_with("intact:"));
}

#[test]
fn notice_and_subject_report_state_what_they_must() {
    let d = demo();
    let s = d.store.as_str();
    let notice = std::fs::read_to_string(d.dir.join("notice.html")).unwrap();
    for must in [
        "Own roster edited for pay",
        "Overtime with no presence evidence",
        "Duty rosters",
        "Work-device locations",
        "30 minutes away from any of your shifts",
        "kept 30 days",
        "DPIA-DEMO-roster_self_edit_pay",
        "reveal who a finding is about, only with a written reason",
        "subject access report",
        "730 days",
    ] {
        assert!(notice.contains(must), "notice lacks {must:?}");
    }
    // The person a finding is about; revealed once, then their own report.
    let f = &finding_ids(&d)[0];
    let shown = ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "PSD case 2026/041 triage",
        "--as",
        "rev",
    ]));
    let line = shown.lines().find(|l| l.starts_with("person")).unwrap();
    let person = line.split_whitespace().nth(1).unwrap().to_string();
    let name = line.split(" — ").nth(1).unwrap().to_string();
    ok(run(&[
        "user", "add", "me", "--store", s, "--role", "subject", "--person", &person, "--as",
        "admin",
    ]));
    let e = refused(run(&[
        "report", "subject", "P00001", "--store", s, "--out", "/tmp/x", "--as", "me",
    ]));
    assert!(e.contains("only reviewer"), "{e}");
    let out = d.dir.join("sar");
    ok(run(&[
        "report",
        "subject",
        &person,
        "--store",
        s,
        "--out",
        out.to_str().unwrap(),
        "--as",
        "me",
    ]));
    let html = std::fs::read_to_string(out.join("subject-report.html")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("subject-report.json")).unwrap())
            .unwrap();
    assert!(html.contains(&name) && html.contains(&person));
    assert!(html.contains("Duty rosters") && html.contains("Building access"));
    assert!(html.contains(f.as_str()), "the finding is listed");
    assert!(
        html.contains("PSD case 2026/041 triage"),
        "the reveal and its reason are listed"
    );
    assert_eq!(json["person_id"], person.as_str());
    let held: Vec<&str> = json["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["table"].as_str().unwrap())
        .collect();
    assert!(
        held.contains(&"shifts") && held.contains(&"people"),
        "{held:?}"
    );
    let shifts = json["held"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["table"] == "shifts")
        .unwrap();
    let expected = sql_count(
        s,
        &format!(
            "SELECT count(*) FROM shifts WHERE person_id = '{}'",
            json["pseudonym"].as_str().unwrap()
        ),
    );
    assert_eq!(shifts["records"], expected);
    assert!(shifts["from"].as_str().unwrap().starts_with("2026-"));
    assert_eq!(json["findings"].as_array().unwrap().len(), 1);
    assert_eq!(json["findings"][0]["status"], "new");
    assert_eq!(json["runs"].as_array().unwrap().len(), 1);
    let accesses = json["accesses"].as_array().unwrap();
    assert!(accesses.iter().any(|a| a["action"] == "reveal"
        && a["actor"] == "rev"
        && a["reason"] == "PSD case 2026/041 triage"));
    assert!(
        accesses
            .iter()
            .any(|a| a["action"] == "report.subject" && a["actor"] == "me")
    );
}

#[test]
fn retention_killed_at_its_commit_leaves_the_store_whole_and_finishes_on_the_next_run() {
    let d = demo();
    let s = d.store.as_str();
    let gov = std::fs::read_to_string(Path::new(s).join("governance.toml"))
        .unwrap()
        .replace(
            "tables = { badge_events = 730,",
            "tables = { badge_events = 10,",
        );
    let file = d.dir.join("gov.toml");
    std::fs::write(&file, gov).unwrap();
    ok(run(&[
        "governance",
        "apply",
        file.to_str().unwrap(),
        "--store",
        s,
        "--as",
        "admin",
    ]));
    let cut = "SELECT count(*) FROM badge_events WHERE at < TIMESTAMP '2026-01-24T00:00:00Z'";
    let all = "SELECT count(*) FROM badge_events";
    let (due, total) = (sql_count(s, cut), sql_count(s, all));
    assert!(due > 0);
    let retention = |fail: Option<&str>| {
        let mut c = probity();
        c.args([
            "retention",
            "apply",
            s,
            "--as",
            "admin",
            "--today",
            "2026-02-03",
        ]);
        if let Some(f) = fail {
            c.env("PROBITY_FAILPOINT", f);
        }
        c.output().unwrap()
    };
    // Before the commit point: nothing changed for readers.
    assert!(!retention(Some("retention.before-commit")).status.success());
    assert_eq!((sql_count(s, cut), sql_count(s, all)), (due, total));
    // After it: the deletion holds; old files linger until the next run.
    assert!(!retention(Some("retention.after-commit")).status.success());
    assert_eq!((sql_count(s, cut), sql_count(s, all)), (0, total - due));
    let r = ok(retention(None));
    assert!(
        r.contains("files left by an interrupted earlier run deleted"),
        "{r}"
    );
    assert!(r.contains("nothing was due"), "{r}");
    assert_eq!((sql_count(s, cut), sql_count(s, all)), (0, total - due));
    let actions: Vec<String> = audit_lines(&d)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .filter(|a| a.starts_with("retention"))
        .collect();
    // Each committed deletion's counts were logged before its commit.
    assert_eq!(
        actions,
        [
            "retention.begin",
            "retention.commit",
            "retention.begin",
            "retention.commit",
            "retention.begin",
            "retention.done"
        ]
    );
    let commits: Vec<_> = audit_lines(&d)
        .into_iter()
        .filter(|e| e["action"] == "retention.commit")
        .collect();
    assert_eq!(
        commits[1]["details"]["tables"]["badge_events"]["rows_deleted"],
        due
    );
    assert!(ok(run(&["audit", "verify", s])).contains("intact:"));
}

#[test]
fn a_flagged_disparity_withholds_scores_until_a_reviewer_signs_it_off() {
    // 300 officers; 140 women, 160 men; 20 of the men (p140–p159) have ten
    // complaints each in 2019, nobody else any. The anomaly score's top 5%
    // (15 people) are all men: the women's flag rate is 0× the men's.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let mut people =
        String::from("person_id,given_name,family_name,rank,unit_id,start_date,work_pattern\n");
    let mut eq = String::from("person_id,sex,ethnicity\n");
    let mut complaints =
        String::from("complaint_id,person_id,received_on,category,outcome,closed_on\n");
    for i in 0..300 {
        people.push_str(&format!("p{i:03},Given,Family{i},PC,U1,2010-01-01,shift\n"));
        let sex = if i < 140 { "female" } else { "male" };
        eq.push_str(&format!("p{i:03},{sex},white\n"));
        if (140..160).contains(&i) {
            for k in 1..=10 {
                complaints.push_str(&format!("c{i}-{k},p{i:03},2019-{k:02}-10,RUDENESS,,\n"));
            }
        }
    }
    for (f, text) in [
        (
            "sites.csv",
            "site_id,name,lat,lon,radius_m\nS1,Station,51.5,-0.1,200\n".to_owned(),
        ),
        (
            "units.csv",
            "unit_id,name,site_id\nU1,Response,S1\n".to_owned(),
        ),
        ("people.csv", people),
        ("equality_monitoring.csv", eq),
        ("complaints.csv", complaints),
    ] {
        std::fs::write(data.join(f), text).unwrap();
    }
    ok(run(&["init", s]));
    ok(run(&["ingest", data.to_str().unwrap(), "--store", s]));
    let none = ok(run(&["fairness", s]));
    assert!(none.contains("no fairness audit yet"), "{none}");

    let score = |out: &str| {
        run(&[
            "score",
            "run",
            s,
            "--method",
            "anomaly",
            "--as-of",
            "2020-01-01",
            "--out",
            tmp.path().join(out).to_str().unwrap(),
        ])
    };
    // Without the governance option the disparity is reported, not blocking.
    let text = ok(score("out1"));
    assert!(text.contains("1 with a significant disparity"), "{text}");
    assert!(
        text.contains("sex female: flag rate 0.00× the reference (male)"),
        "{text}"
    );
    let table = ok(run(&["fairness", s]));
    assert!(
        table.contains("anomaly v1") && table.contains("by sex (reference: male)"),
        "{table}"
    );
    assert!(table.contains("flag rate !"), "{table}");

    let gov = std::fs::read_to_string(store.join("governance.toml")).unwrap();
    assert!(gov.contains("block_flagged = false"));
    let file = tmp.path().join("gov.toml");
    std::fs::write(
        &file,
        gov.replace("block_flagged = false", "block_flagged = true"),
    )
    .unwrap();
    ok(run(&[
        "governance",
        "apply",
        file.to_str().unwrap(),
        "--store",
        s,
        "--as",
        "admin",
    ]));
    let e = refused(score("out2"));
    assert!(e.contains("scores withheld"), "{e}");
    assert!(
        !tmp.path().join("out2/scores.jsonl").exists(),
        "withheld scores are not written"
    );

    // Only a reviewer signs off, and only with a reason.
    ok(run(&[
        "user", "add", "ana", "--store", s, "--role", "analyst", "--as", "admin",
    ]));
    ok(run(&[
        "user", "add", "rev", "--store", s, "--role", "reviewer", "--as", "admin",
    ]));
    let why = "Complaints concentrate on a response team that is mostly men; reviewed by PSD.";
    let e = refused(run(&[
        "fairness", "sign-off", "anomaly", "--store", s, "--as", "ana", "--reason", why,
    ]));
    assert!(e.contains("sign off a fairness disparity"), "{e}");
    refused(run(&[
        "fairness", "sign-off", "anomaly", "--store", s, "--as", "rev",
    ]));
    let signed = ok(run(&[
        "fairness", "sign-off", "anomaly", "--store", s, "--as", "rev", "--reason", why,
    ]));
    assert!(
        signed.contains("signed off 1 disparity of anomaly"),
        "{signed}"
    );
    ok(score("out3"));
    assert!(tmp.path().join("out3/scores.jsonl").exists());

    let log = std::fs::read_to_string(store.join("audit/audit.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sign: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["action"] == "fairness.sign_off")
        .collect();
    assert_eq!(sign.len(), 1);
    assert_eq!(sign[0]["actor"], "rev");
    assert_eq!(sign[0]["reason"], why);
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "fairness.sign_off.refused" && e["actor"] == "ana")
    );
    let audits = entries.iter().filter(|e| e["action"] == "fairness").count();
    assert_eq!(
        audits, 3,
        "every scoring run's audit is logged, the withheld one too"
    );
}
