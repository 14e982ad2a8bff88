//! `probity score` on stores whose history is not Chicago's: the date a run
//! is for, where training starts and the cut-offs an evaluation tests at
//! come from the store's own data, said in words, with warnings (or a clear
//! error) when the data cannot support the score.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn probity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_probity"))
}

fn ok(out: Output) -> (String, String) {
    assert!(
        out.status.success(),
        "probity failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Runs probity as the admin who created the store (bound to this
/// operating-system account: no password).
fn run(args: &[&str]) -> Output {
    probity().args(args).output().unwrap()
}

/// A force of 300 officers (appointed 2005) with a deterministic complaint
/// history over `years`, in January to October of each year, each closed
/// 30 days after it arrived; about one complaint in `sustained_one_in`
/// is sustained, spread over the years. The last data is a complaint received on 1 December of the
/// last year and closed on the 15th. Ingested into a new store whose
/// governance approves the risk model; returns the store.
fn force(dir: &Path, years: std::ops::RangeInclusive<i16>, sustained_one_in: usize) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    let mut people =
        String::from("person_id,given_name,family_name,rank,unit_id,start_date,work_pattern\n");
    let mut complaints =
        String::from("complaint_id,person_id,received_on,category,outcome,closed_on\n");
    let days = |d: jiff::civil::Date, n: i64| d.checked_add(jiff::Span::new().days(n)).unwrap();
    let mut n = 0usize;
    for i in 0..300usize {
        people.push_str(&format!("p{i:03},Given,Family{i},PC,U1,2005-01-01,shift\n"));
        for y in years.clone() {
            if !(i * 7 + y as usize).is_multiple_of(5) {
                continue;
            }
            n += 1;
            let rec = jiff::civil::date(y, 1 + (i % 10) as i8, 1 + (i % 27) as i8);
            let outcome = if (i * 13 + y as usize * 7).is_multiple_of(sustained_one_in) {
                "sustained"
            } else {
                "not_sustained"
            };
            let cat = ["RUDENESS", "NEGLECT", "FORCE"][i % 3];
            complaints.push_str(&format!(
                "c{n},p{i:03},{rec},{cat},{outcome},{}\n",
                days(rec, 30)
            ));
        }
    }
    let last = years.end();
    complaints.push_str(&format!(
        "last,p000,{last}-12-01,RUDENESS,not_sustained,{last}-12-15\n"
    ));
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
        ("complaints.csv", complaints),
    ] {
        std::fs::write(data.join(f), text).unwrap();
    }
    ok(run(&["init", s]));
    ok(run(&["ingest", data.to_str().unwrap(), "--store", s]));
    // Scoring is profiling: it needs its own approval.
    let gov = std::fs::read_to_string(store.join("governance.toml")).unwrap();
    let approve = dir.join("approve.toml");
    std::fs::write(
        &approve,
        gov + "\n[purposes.early_warning]\ndescription = \"Early warning for supervision\"\n\
               categories = [\"staff_records\", \"complaints\", \"rosters\", \"overtime\", \
               \"sickness_and_leave\", \"device_use\", \"system_queries\"]\n\
               [detectors.risk_model]\npurpose = \"early_warning\"\n\
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
    store
}

#[test]
fn score_run_is_as_of_the_data_and_warns_about_few_outcomes() {
    let tmp = tempfile::tempdir().unwrap();
    // 2012–2019; one complaint in 40 sustained: a dozen or so in all.
    let store = force(tmp.path(), 2012..=2019, 40);
    let s = store.to_str().unwrap();
    let out = tmp.path().join("out");
    let (stdout, stderr) = ok(run(&[
        "score",
        "run",
        s,
        "--out",
        out.to_str().unwrap(),
        "--ensemble",
        "1",
    ]));
    // Not today (years after the data): the last date of data, said so.
    assert!(
        stdout.contains(
            "as of 2019-12-15, the last date of data in the store (pass --as-of to choose)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("scored 300 person-dates as of 2019-12-15"),
        "{stdout}"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["as_of"], "2019-12-15");
    // Training starts where the complaints do, not in 2000.
    let first = meta["training_cuts"][0].as_str().unwrap();
    assert!(
        first.starts_with("2012-") && first.ends_with("-01"),
        "{meta}"
    );
    assert!(
        stdout.contains(&format!(
            "training cut-offs from {first}, the start of the store's complaint history"
        )),
        "{stdout}"
    );
    // A handful of positive outcomes: said clearly, with the count and the
    // minimum, on standard error.
    let positives = meta["trained_on"][1].as_u64().unwrap();
    assert!(positives > 0 && positives < 30, "{meta}");
    assert!(
        stderr.contains(&format!(
            "warning: the model was trained on only {positives} positive outcomes"
        )) && stderr.contains("the minimum for a usable model is 30")
            && stderr.contains("unreliable"),
        "{stderr}"
    );

    // A date well after the data ends is warned about; training still uses
    // only outcome windows inside the data.
    let (stdout, stderr) = ok(run(&[
        "score",
        "run",
        s,
        "--out",
        tmp.path().join("late").to_str().unwrap(),
        "--as-of",
        "2020-06-01",
        "--ensemble",
        "1",
    ]));
    assert!(
        !stdout.contains("the last date of data in the store ("),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "warning: --as-of 2020-06-01 is 169 days after the last date of data in the store \
             (2019-12-15, in complaints.closed_on)"
        ),
        "{stderr}"
    );
    let late: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("late/run.json")).unwrap())
            .unwrap();
    assert_eq!(late["training_cuts"], meta["training_cuts"]);
}

#[test]
fn score_eval_picks_cut_offs_inside_the_store_history_or_says_it_is_too_short() {
    let tmp = tempfile::tempdir().unwrap();
    // 2010–2019, one complaint in four sustained.
    let store = force(&tmp.path().join("long"), 2010..=2019, 4);
    let s = store.to_str().unwrap();
    let (stdout, stderr) = ok(run(&["score", "eval", s, "--json", "--ensemble", "1"]));
    // What was picked and why, on standard error (standard output is JSON).
    assert!(
        stderr.contains("picked from the store's complaint history (2010-"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--test-from and --test-to choose"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cuts: Vec<jiff::civil::Date> = report["cuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cut"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(!cuts.is_empty());
    let last_complaint = jiff::civil::date(2019, 12, 1);
    for c in &cuts {
        // At least two yearly training cut-offs with 24 months of outcomes
        // after the history starts (2010) before it, and its own 24-month
        // outcome window before the last complaint.
        assert!(*c >= jiff::civil::date(2013, 1, 1), "{c}");
        let window_end = c.checked_add(jiff::Span::new().months(24)).unwrap();
        assert!(window_end <= last_complaint, "{c}");
        assert!(stderr.contains(&c.to_string()), "{stderr}");
    }
    for w in cuts.windows(2) {
        assert_eq!(
            w[0].checked_add(jiff::Span::new().months(12)).unwrap(),
            w[1]
        );
    }
    for c in report["cuts"].as_array().unwrap() {
        assert!(c["positives"].as_u64().unwrap() > 0, "{c}");
        assert!(c["trained_on"][1].as_u64().unwrap() > 0, "{c}");
    }
    // The audit log records the cut-offs used.
    let log = std::fs::read_to_string(store.join("audit/audit.jsonl")).unwrap();
    let eval = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|e| e["action"] == "score.eval")
        .unwrap();
    assert_eq!(
        eval["details"]["test_cuts"].as_array().unwrap().len(),
        cuts.len()
    );

    // Three years of complaints are too short for any honest test cut-off:
    // an error that says why and names the fix.
    let short = force(&tmp.path().join("short"), 2017..=2019, 4);
    let e = refused(run(&["score", "eval", short.to_str().unwrap()]));
    assert!(
        e.contains("the store's complaint history is too short for any test cut-off")
            && e.contains("2017-")
            && e.contains("2019-12-01")
            && e.contains("--test-from"),
        "{e}"
    );
}
