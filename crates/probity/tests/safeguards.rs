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

/// Runs probity as a person would: `--as USER` is proved by the admin who
/// created the store through their operating-system account (the tests run
/// as that account), and by anyone else with their password on standard
/// input (`--password-stdin`). An unknown user has no password to give.
fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// [`run`] with environment variables (failpoints).
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let user = args.windows(2).find(|w| w[0] == "--as").map(|w| w[1]);
    match user.and_then(|u| password_for(args, u)) {
        None => probity()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap(),
        Some(p) => with_password(args, env, &p),
    }
}

/// Runs probity with `--password-stdin` and `password` on standard input.
fn with_password(args: &[&str], env: &[(&str, &str)], password: &str) -> Output {
    use std::io::Write;
    let mut child = probity()
        .args(args)
        .envs(env.iter().copied())
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// The store a command names: after `--store`, or a directory argument
/// holding a manifest.
fn store_arg(args: &[&str]) -> Option<PathBuf> {
    if let Some(w) = args.windows(2).find(|w| w[0] == "--store") {
        return Some(PathBuf::from(w[1]));
    }
    args.iter()
        .map(PathBuf::from)
        .find(|p| p.join("manifest.json").is_file())
}

/// `user`'s password: the demo's (`demo-logins.json` beside the store), or
/// one the admin sets (once per store and user). `None` for the admin, who
/// is bound to this account, and for users the store does not have.
fn password_for(args: &[&str], user: &str) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static SET: Mutex<Option<HashMap<(PathBuf, String), String>>> = Mutex::new(None);
    if user == "admin" {
        return None;
    }
    let store = store_arg(args)?;
    if let Ok(text) = std::fs::read_to_string(store.parent()?.join("demo-logins.json")) {
        let logins: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        if let Some(l) = logins.iter().find(|l| l["user"] == user) {
            return Some(l["password"].as_str().unwrap().to_string());
        }
    }
    let users = std::fs::read_to_string(store.join("users.json")).ok()?;
    if !users.contains(&format!("\"id\": \"{user}\"")) {
        return None;
    }
    let mut set = SET.lock().unwrap();
    let key = (store.clone(), user.to_string());
    if let Some(p) = set.get_or_insert_with(HashMap::new).get(&key) {
        return Some(p.clone());
    }
    let out = probity()
        .args(["user", "reset", user, "--store"])
        .arg(&store)
        .args(["--as", "admin"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let p = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("password for {user}: ")))?
        .to_string();
    set.get_or_insert_with(HashMap::new).insert(key, p.clone());
    Some(p)
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
    assert!(e.contains("needs `--as USER`"), "{e}");
    // Naming a reviewer proves nothing: without their password (or their
    // operating-system account) the reveal is refused, and so is a wrong one.
    let e = refused(
        probity()
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
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap(),
    );
    assert!(e.contains("must prove who they are"), "{e}");
    let e = refused(with_password(
        &[
            "reveal",
            f,
            "--store",
            s,
            "--reason",
            "PSD case 2026/041 triage",
            "--as",
            "rev",
        ],
        &[],
        "not the password",
    ));
    assert!(e.contains("wrong password"), "{e}");
    assert!(!e.contains("person "), "{e}");
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
    // The demo's own refused attempt plus the four role and reason
    // refusals above; the unproved attempts are refused before that.
    assert_eq!(refusals.len(), 5, "{refusals:#?}");
    let unproved: Vec<_> = log
        .iter()
        .filter(|e| e["action"] == "auth.refused")
        .collect();
    assert!(
        unproved
            .iter()
            .any(|e| e["actor"] == "rev" && e["details"]["proof"] == "none"),
        "{unproved:#?}"
    );
    assert!(
        unproved
            .iter()
            .any(|e| e["actor"] == "rev" && e["details"]["refusal"] == "wrong password"),
        "{unproved:#?}"
    );
    assert!(
        unproved.iter().any(|e| e["details"]["command"] == "reveal"),
        "{unproved:#?}"
    );
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
    let out = run_env(
        &[
            "reveal",
            f,
            "--store",
            s,
            "--reason",
            "PSD case 2026/041 triage",
            "--as",
            "rev",
        ],
        &[("PROBITY_FAILPOINT", "audit.mid-append")],
    );
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
    let out = run_env(
        &[
            "reveal",
            f,
            "--store",
            s,
            "--reason",
            "PSD case 2026/041 triage",
            "--as",
            "rev",
        ],
        &[("PROBITY_FAILPOINT", "audit.after-append")],
    );
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
    let out = ok(run(&["sql", store, q, "--format", "csv", "--as", "ana"]));
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

    // Scoring is profiling: refused (and audited) until governance.toml
    // approves it like a detector.
    let unapproved = refused(run(&[
        "score",
        "run",
        s,
        "--method",
        "anomaly",
        "--as-of",
        "2020-01-01",
        "--out",
        tmp.path().join("out0").to_str().unwrap(),
    ]));
    assert!(
        unapproved.contains("needs its own approval in governance.toml"),
        "{unapproved}"
    );
    assert!(!tmp.path().join("out0").exists());
    let log = std::fs::read_to_string(store.join("audit/audit.jsonl")).unwrap();
    assert!(log.contains("\"action\":\"score.refused\""), "{log}");
    let gov = std::fs::read_to_string(store.join("governance.toml")).unwrap();
    let approve = tmp.path().join("approve.toml");
    std::fs::write(
        &approve,
        gov + "\n[purposes.early_warning]\ndescription = \"Early warning for supervision\"\n\
               categories = [\"staff_records\", \"complaints\"]\n\
               [detectors.anomaly_score]\npurpose = \"early_warning\"\n\
               lawful_basis = \"DPA 2018 Part 3, prevention of misconduct\"\ndpia = \"DPIA-2026-07\"\n\
               alternative_considered = \"Supervisor review alone missed repeated patterns.\"\n\
               approver = \"Head of PSD\"\napproved_on = 2026-01-01\nreview_by = 2030-12-31\n\
               findings_retention_days = 365\n",
    )
    .unwrap();
    ok(run(&[
        "governance",
        "apply",
        approve.to_str().unwrap(),
        "--store",
        s,
        "--as",
        "admin",
    ]));

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
        !tmp.path().join("out2/scores.parquet").exists(),
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
    assert!(tmp.path().join("out3/scores.parquet").exists());

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

/// The real operating-system account running the tests (`id -un`).
fn os_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn an_insider_cannot_borrow_a_name_write_files_or_query_what_sql_must_not_reach() {
    let d = demo();
    let s = d.store.as_str();
    // `sql` names a user who proves it.
    let e = refused(run(&["sql", s, "SELECT 1"]));
    assert!(e.contains("needs `--as USER`"), "{e}");
    // Only queries: nothing is written, nothing in the session changes.
    let leak = d.dir.join("leak.csv");
    for q in [
        format!(
            "COPY (SELECT person_id FROM people) TO '{}' STORED AS CSV",
            leak.display()
        ),
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".into(),
        "CREATE TABLE t AS SELECT 1 AS x".into(),
        "INSERT INTO people SELECT * FROM people".into(),
        "SET datafusion.execution.batch_size = 1".into(),
    ] {
        let e = refused(run(&["sql", s, &q, "--as", "ana"]));
        assert!(e.contains("query failed"), "{q}: {e}");
    }
    assert!(!leak.exists(), "COPY wrote a file");
    // The identity vault and equality monitoring are not in the session.
    for t in [
        "equality_monitoring",
        "vault_people",
        "vault_reference_records",
    ] {
        let e = refused(run(&[
            "sql",
            s,
            &format!("SELECT count(*) FROM {t}"),
            "--as",
            "ana",
        ]));
        assert!(e.contains("not found"), "{t}: {e}");
    }
    let n = ok(run(&[
        "sql",
        s,
        "SELECT person_id FROM people LIMIT 7",
        "--format",
        "csv",
        "--as",
        "ana",
    ]));
    assert_eq!(n.lines().count(), 8);
    let log = audit_lines(&d);
    let last = log.iter().rev().find(|e| e["action"] == "sql").unwrap();
    assert_eq!(last["actor"], "ana");
    assert_eq!(
        last["details"]["query"],
        "SELECT person_id FROM people LIMIT 7"
    );
    assert_eq!(last["details"]["rows"], 7);
    assert!(
        log.iter().any(|e| e["action"] == "sql.failed"
            && e["details"]["query"].as_str().unwrap().starts_with("COPY")),
        "a refused query is on the log too"
    );

    // Unknown and disabled users are refused by every command that takes
    // `--as`, and the refusal names who was claimed.
    let out = d.dir.join("x");
    let o = out.to_str().unwrap();
    for args in [
        vec!["resolve", s, "--as", "nosuchuser"],
        vec!["analyze", s, "--out", o, "--as", "ghost"],
        vec![
            "score",
            "run",
            s,
            "--out",
            o,
            "--as-of",
            "2026-02-01",
            "--method",
            "anomaly",
            "--as",
            "ghost",
        ],
        vec!["detectors", "--store", s, "--as", "ghost"],
        vec!["ingest", o, "--store", s, "--as", "ghost"],
    ] {
        let e = refused(run(&args));
        assert!(e.contains("there is no user"), "{args:?}: {e}");
    }
    ok(run(&[
        "user", "disable", "aud", "--store", s, "--as", "admin",
    ]));
    let e = refused(run(&["audit", "show", s, "--as", "aud"]));
    assert!(e.contains("is disabled"), "{e}");
    let log = audit_lines(&d);
    for who in ["nosuchuser", "ghost", "aud"] {
        assert!(
            log.iter()
                .any(|e| e["action"] == "auth.refused" && e["actor"] == who),
            "no audited refusal for {who}"
        );
    }

    // Without `--as`, the actor is the real operating-system account, not
    // whatever $USER says.
    let shown = probity()
        .args(["detectors", "--store", s])
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .output()
        .unwrap();
    ok(shown);
    let log = audit_lines(&d);
    let learn = log
        .iter()
        .rev()
        .find(|e| e["action"] == "detectors.learn")
        .unwrap();
    assert_eq!(
        learn["actor"],
        format!("os:{}", os_name()).as_str(),
        "{learn}"
    );
    assert!(!learn.to_string().contains("mallory"), "{learn}");

    // One operating-system account binds to one user: the admin's account
    // cannot also be a reviewer's, so it cannot be both halves of a
    // four-eyes decision.
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let e = refused(run(&[
        "user",
        "bind",
        "rev",
        "--store",
        s,
        "--uid",
        uid.trim(),
        "--as",
        "admin",
    ]));
    assert!(e.contains("already bound to user \"admin\""), "{e}");
}

#[test]
fn every_reveal_and_scoring_run_reaches_the_subject_report() {
    let d = demo();
    let s = d.store.as_str();
    // A linkage explanation with identities shown: each staff member shown
    // is recorded by name of pseudonym.
    let links = std::fs::read_to_string(d.dir.join("data/reference_links.csv")).unwrap();
    let first = links.lines().nth(1).unwrap();
    let (record, person) = first.split_once(',').unwrap();
    let person = person.split(',').next().unwrap().to_string();
    let why = "Checking a register match for PSD case 2026/052";
    let shown = ok(run(&[
        "resolve",
        s,
        "--explain",
        record,
        "--reveal",
        "--reason",
        why,
        "--as",
        "rev",
    ]));
    assert!(shown.contains(&person), "{shown}");
    let log = audit_lines(&d);
    let revealed: Vec<_> = log
        .iter()
        .filter(|e| e["action"] == "resolve.reveal")
        .collect();
    assert!(!revealed.is_empty());
    assert!(
        revealed
            .iter()
            .all(|e| e["person"].as_str().is_some_and(|p| p.starts_with("p-")))
    );
    // A scoring run (the demo's governance approves it) covers everyone
    // employed at its date.
    let out = d.dir.join("scores");
    ok(run(&[
        "score",
        "run",
        s,
        "--method",
        "anomaly",
        "--as-of",
        "2026-02-01",
        "--out",
        out.to_str().unwrap(),
        "--as",
        "ana",
    ]));
    let sar = d.dir.join("sar");
    ok(run(&[
        "report",
        "subject",
        &person,
        "--store",
        s,
        "--out",
        sar.to_str().unwrap(),
        "--reason",
        "Subject access request SAR-2026-117",
        "--as",
        "rev",
    ]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sar.join("subject-report.json")).unwrap())
            .unwrap();
    let accesses = json["accesses"].as_array().unwrap();
    assert!(
        accesses
            .iter()
            .any(|a| a["action"] == "resolve.reveal" && a["actor"] == "rev" && a["reason"] == why),
        "{accesses:#?}"
    );
    let runs = json["runs"].as_array().unwrap();
    assert!(
        runs.iter().any(|r| r["period"] == "scored as of 2026-02-01"
            && r["detectors"][0].as_str().unwrap().contains("anomaly")),
        "{runs:#?}"
    );
}

#[test]
fn a_store_and_everything_probity_writes_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let d = demo();
    let mut files = vec![];
    files_under(&d.dir, &mut files);
    assert!(files.len() > 50);
    let open: Vec<String> = files
        .iter()
        .chain(std::iter::once(&d.dir))
        .filter_map(|f| {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| format!("{} {mode:o}", f.display()))
        })
        .collect();
    assert!(open.is_empty(), "readable by others: {open:#?}");
    // A folder made open to others before `init` is closed, and `init` says so.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = ok(run(&["init", store.to_str().unwrap()]));
    assert!(
        text.contains("was open to other local users (mode 755)"),
        "{text}"
    );
    let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn rewriting_the_log_and_its_head_together_is_caught_by_the_anchors() {
    let d = demo();
    let s = d.store.as_str();
    let f = &finding_ids(&d)[0];
    let audit = Path::new(s).join("audit");
    let (log_before, head_before) = (
        std::fs::read(audit.join("audit.jsonl")).unwrap(),
        std::fs::read(audit.join("head")).unwrap(),
    );
    // A reveal someone would like to take back.
    ok(run(&[
        "reveal",
        f,
        "--store",
        s,
        "--reason",
        "Curiosity dressed as PSD case 2026/099",
        "--as",
        "rev",
    ]));
    let v = ok(run(&["audit", "verify", s]));
    assert!(v.starts_with("intact:"), "{v}");
    // The log and its head put back as they were: a consistent chain, so
    // the log alone cannot tell; the head anchored in the review database
    // at the reveal can.
    std::fs::write(audit.join("audit.jsonl"), &log_before).unwrap();
    std::fs::write(audit.join("head"), &head_before).unwrap();
    let out = run(&["audit", "verify", s]);
    let v = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(v.contains("rewritten after anchoring"), "{v}");
}

#[test]
fn people_are_named_by_staff_id_or_pseudonym_and_unknown_ones_are_refused() {
    let d = demo();
    let s = d.store.as_str();
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
    let line = shown.lines().find(|l| l.starts_with("person ")).unwrap();
    let staff_id = line.split_whitespace().nth(1).unwrap().to_string();
    let pseudonym = shown
        .lines()
        .find(|l| l.starts_with("pseudonym"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    // The audit log, by either form of the person: the same entries.
    let by_id = ok(run(&[
        "audit", "show", s, "--as", "aud", "--person", &staff_id,
    ]));
    let by_pseudonym = ok(run(&[
        "audit", "show", s, "--as", "aud", "--person", &pseudonym,
    ]));
    assert!(by_id.contains("reveal"), "{by_id}");
    assert_eq!(by_id, by_pseudonym);
    let e = refused(run(&[
        "audit", "show", s, "--as", "aud", "--person", "P99999",
    ]));
    assert!(
        e.contains("no person \"P99999\" in this store's staff list"),
        "{e}"
    );
    // A subject report by pseudonym is the same person's.
    let out = d.dir.join("sar-p");
    let text = ok(run(&[
        "report",
        "subject",
        &pseudonym,
        "--store",
        s,
        "--out",
        out.to_str().unwrap(),
        "--reason",
        "Subject access request SAR-2026-120",
        "--as",
        "rev",
    ]));
    assert!(!text.contains(" 1 runs"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("subject-report.json")).unwrap())
            .unwrap();
    assert_eq!(json["person_id"], staff_id.as_str());
    assert_eq!(json["pseudonym"], pseudonym.as_str());
    // A subject user for someone the store does not hold is refused where
    // the person is named.
    let e = refused(run(&[
        "user", "add", "ghost", "--store", s, "--role", "subject", "--person", "12345", "--as",
        "admin",
    ]));
    assert!(e.contains("no person \"12345\""), "{e}");
    let added = ok(run(&[
        "user", "add", "pat2", "--store", s, "--role", "subject", "--person", &pseudonym, "--as",
        "admin",
    ]));
    assert!(
        added.contains("(a pseudonym)") && added.contains("user reset pat2"),
        "{added}"
    );
    // A time without a zone is the store's local time, and says so.
    let out = run(&[
        "audit",
        "show",
        s,
        "--as",
        "aud",
        "--since",
        "2099-01-01T03:22:03",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("has no zone: read as Europe/London local time"),
        "{err}"
    );
    assert!(text.trim().is_empty(), "entries before 2099 shown: {text}");
}

#[test]
fn eval_of_pseudonymised_findings_without_the_store_says_so() {
    let d = demo();
    let e = refused(run(&[
        "eval",
        "--findings",
        d.dir.join("findings/findings.jsonl").to_str().unwrap(),
        "--truth",
        d.dir.join("data/truth.csv").to_str().unwrap(),
    ]));
    assert!(
        e.contains("give the store they came from with --store STORE"),
        "{e}"
    );
    // One error, each cause said once.
    let lines: Vec<&str> = e.lines().collect();
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        let text = l
            .trim_start_matches("error: ")
            .trim_start_matches("  caused by: ");
        assert!(seen.insert(text), "said twice: {text}\n{e}");
    }
}

#[test]
fn governance_status_and_analyze_give_one_answer_about_what_runs() {
    let d = demo();
    let s = d.store.as_str();
    let status = ok(run(&["governance", "status", s]));
    // The demo approves the baseline rule, but it runs only when asked for.
    let line = status
        .lines()
        .find(|l| l.contains("complaint_threshold"))
        .unwrap();
    assert!(
        line.starts_with("skipped") && line.contains("analyze --baselines"),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("runs ") && l.contains("overtime_without_presence")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("approved") && l.contains("risk_model")),
        "{status}"
    );
    let out = d.dir.join("again");
    let text = ok(run(&[
        "analyze",
        s,
        "--out",
        out.to_str().unwrap(),
        "--as",
        "ana",
    ]));
    let ran: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("runs "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    for id in &ran {
        assert!(
            text.contains(id),
            "{id} said to run, absent from analyze: {text}"
        );
    }
    assert!(!text.contains("complaint_threshold  "), "{text}");
}
