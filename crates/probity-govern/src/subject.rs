//! A subject access report: for one person, every category of data held
//! about them (counts and date ranges), every detector run over the store
//! while they were in it, their findings with status and outcome, and
//! every access to their data recorded on the audit log (who, when, why).
//!
//! Producing it is itself an access: it is authorised (the person
//! themselves, or a reviewer with a reason) and audited before it is
//! written, so the report lists its own production.

use std::path::{Path, PathBuf};

use probity_audit::{Filter, Record};
use probity_policy::{Action, Category, Role};
use probity_store::Store;
use serde::Serialize;
use serde_json::json;

use crate::notice::{STYLE, esc};
use crate::{Error, Register, Result};

/// Data held in one table.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    /// Category id.
    pub category: String,
    /// Category title.
    pub title: String,
    /// Table.
    pub table: String,
    /// Records about the person.
    pub records: u64,
    /// First date.
    pub from: Option<String>,
    /// Last date.
    pub to: Option<String>,
}

/// One analysis run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSeen {
    /// When.
    pub at: String,
    /// Who ran it.
    pub actor: String,
    /// Period analysed.
    pub period: String,
    /// Detectors that ran (id, version, purpose).
    pub detectors: Vec<String>,
}

/// A finding about the person.
#[derive(Debug, Clone, Serialize)]
pub struct FindingSeen {
    /// Id.
    pub finding_id: String,
    /// Scenario.
    pub scenario: String,
    /// Detector.
    pub detector: String,
    /// Period.
    pub period: String,
    /// The sentence.
    pub summary: String,
    /// Status (new or the triage outcome).
    pub status: String,
    /// Reason recorded with the status.
    pub status_reason: Option<String>,
    /// When the status was set.
    pub status_at: String,
}

/// An access to the person's data.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What (audit action).
    pub action: String,
    /// Which object (finding id, ...).
    pub object: String,
    /// Why (the reason recorded).
    pub reason: Option<String>,
    /// Audit entry.
    pub seq: u64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectReport {
    /// When produced.
    pub produced_at: String,
    /// By whom.
    pub produced_by: String,
    /// The organisation.
    pub organisation: String,
    /// The person's id.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// Their pseudonym in the analytical store.
    pub pseudonym: String,
    /// Data held.
    pub held: Vec<Held>,
    /// Analysis runs.
    pub runs: Vec<RunSeen>,
    /// Findings.
    pub findings: Vec<FindingSeen>,
    /// Accesses.
    pub accesses: Vec<Access>,
}

/// Files written.
#[derive(Debug, Clone)]
pub struct Written {
    /// `subject-report.html`.
    pub html: PathBuf,
    /// `subject-report.json`.
    pub json: PathBuf,
    /// The report.
    pub report: SubjectReport,
}

fn tables_sql(p: &str) -> Vec<(&'static str, String)> {
    let p = format!("'{}'", p.replace('\'', "''"));
    let cards = format!("SELECT card_id FROM badge_cards WHERE person_id = {p}");
    let devices = format!("SELECT device_id FROM devices WHERE person_id = {p}");
    let accounts = format!("SELECT account_id FROM accounts WHERE person_id = {p}");
    let ts = |t: &str, col: &str, w: String| {
        format!(
            "SELECT count(*) AS n, CAST(local_date(min({col})) AS VARCHAR) AS d0, CAST(local_date(max({col})) AS VARCHAR) AS d1 FROM {t} WHERE {w}"
        )
    };
    let dt = |t: &str, c0: &str, c1: &str, w: String| {
        format!(
            "SELECT count(*) AS n, CAST(min({c0}) AS VARCHAR) AS d0, CAST(max({c1}) AS VARCHAR) AS d1 FROM {t} WHERE {w}"
        )
    };
    vec![
        (
            "people",
            dt(
                "people",
                "start_date",
                "coalesce(end_date, start_date)",
                format!("person_id = {p}"),
            ),
        ),
        ("shifts", ts("shifts", "start", format!("person_id = {p}"))),
        (
            "roster_edits",
            ts(
                "roster_edits",
                "edited_at",
                format!(
                    "edited_by = {p} OR shift_id IN (SELECT shift_id FROM shifts WHERE person_id = {p})"
                ),
            ),
        ),
        (
            "overtime_claims",
            ts(
                "overtime_claims",
                "claimed_start",
                format!("person_id = {p}"),
            ),
        ),
        (
            "absences",
            dt(
                "absences",
                "start_date",
                "end_date",
                format!("person_id = {p}"),
            ),
        ),
        (
            "badge_cards",
            dt(
                "badge_cards",
                "valid_from",
                "coalesce(valid_to, valid_from)",
                format!("person_id = {p}"),
            ),
        ),
        (
            "badge_events",
            ts("badge_events", "at", format!("card_id IN ({cards})")),
        ),
        (
            "accounts",
            format!(
                "SELECT count(*) AS n, CAST(NULL AS VARCHAR) AS d0, CAST(NULL AS VARCHAR) AS d1 FROM accounts WHERE person_id = {p}"
            ),
        ),
        (
            "devices",
            dt(
                "devices",
                "issued_from",
                "coalesce(issued_to, issued_from)",
                format!("person_id = {p}"),
            ),
        ),
        (
            "device_sessions",
            ts(
                "device_sessions",
                "start",
                format!("device_id IN ({devices})"),
            ),
        ),
        (
            "device_locations",
            ts(
                "device_locations",
                "at",
                format!("device_id IN ({devices})"),
            ),
        ),
        (
            "location_facts",
            ts("location_facts", "start", format!("person_id = {p}")),
        ),
        (
            "system_queries",
            ts(
                "system_queries",
                "at",
                format!("account_id IN ({accounts})"),
            ),
        ),
        (
            "case_assignments",
            dt(
                "case_assignments",
                "assigned_from",
                "coalesce(assigned_to, assigned_from)",
                format!("person_id = {p}"),
            ),
        ),
        (
            "known_relations",
            format!(
                "SELECT count(*) AS n, CAST(NULL AS VARCHAR) AS d0, CAST(NULL AS VARCHAR) AS d1 FROM known_relations WHERE person_id = {p}"
            ),
        ),
        (
            "declarations",
            dt(
                "declarations",
                "declared_on",
                "coalesce(valid_to, declared_on)",
                format!("person_id = {p}"),
            ),
        ),
        (
            "complaints",
            dt(
                "complaints",
                "received_on",
                "received_on",
                format!("person_id = {p}"),
            ),
        ),
        (
            "equality_monitoring",
            format!(
                "SELECT count(*) AS n, CAST(NULL AS VARCHAR) AS d0, CAST(NULL AS VARCHAR) AS d1 FROM equality_monitoring WHERE person_id = {p}"
            ),
        ),
    ]
}

/// Produces the subject access report for `person_id` into `out`.
/// Allowed for the person themselves (a `subject` user linked to them) or a
/// reviewer with a reason; audited before anything is written.
pub async fn report(
    store: &Store,
    person_id: &str,
    user: &str,
    reason: Option<&str>,
    out: &Path,
) -> Result<Written> {
    // A staff id or a pseudonym; an unknown person is refused after the
    // authorisation below, so the answer does not tell the unauthorised
    // who exists.
    let pseudonym = match crate::find_person(store, person_id).await {
        Ok((p, _)) => p,
        Err(_) => store.person_pseudonym(person_id),
    };
    report_pseudonym(store, &pseudonym, user, reason, out).await
}

/// [`report`] for a person known by their pseudonym (the web UI's subject
/// user carries only the pseudonym).
pub async fn report_pseudonym(
    store: &Store,
    pseudonym: &str,
    user: &str,
    reason: Option<&str>,
    out: &Path,
) -> Result<Written> {
    let pseudonym = pseudonym.to_string();
    let users = store.users()?;
    let own = users.get(user).is_some_and(|u| {
        u.role == Role::Subject && !u.disabled && u.person.as_deref() == Some(&pseudonym)
    });
    if !own {
        crate::authorise(
            store,
            user,
            Action::SubjectReport,
            reason,
            true,
            "report.subject",
            &pseudonym,
        )?;
    }
    let who = crate::person_identity(store, &pseudonym).await?;
    let gov = store.governance()?;
    let entry = store.audit()?.append(
        Record::new(user, "report.subject", "")
            .person(&pseudonym)
            .reason(reason.unwrap_or(if own {
                "own subject access request"
            } else {
                ""
            }))
            .details(json!({"out": out.display().to_string()})),
    )?;

    let ctx = store.session_context()?;
    probity_detect::register_functions(&ctx, &store.time_rules());
    let mut held = vec![];
    held.push(Held {
        category: Category::Identity.id().into(),
        title: Category::Identity.title().into(),
        table: "identity vault".into(),
        records: 1,
        from: None,
        to: None,
    });
    for (table, q) in tables_sql(&pseudonym) {
        let batches = ctx
            .sql(&q)
            .await
            .map_err(|e| Error::query(table, e))?
            .collect()
            .await
            .map_err(|e| Error::query(table, e))?;
        let b = &batches[0];
        let n = probity_detect::ints(b, "n").value(0) as u64;
        if n == 0 {
            continue;
        }
        let (d0, d1) = (probity_detect::strs(b, "d0"), probity_detect::strs(b, "d1"));
        let cat = probity_core::Table::from_name(table)
            .map_or(Category::DeviceLocations, Category::of_table);
        held.push(Held {
            category: cat.id().into(),
            title: cat.title().into(),
            table: table.into(),
            records: n,
            from: probity_detect::opt_str(&d0, 0).map(str::to_string),
            to: probity_detect::opt_str(&d1, 0).map(str::to_string),
        });
    }

    // Risk scoring scores everyone employed at its date: the person's
    // employment decides which scoring runs covered them.
    let employed = {
        let q = format!(
            "SELECT CAST(start_date AS VARCHAR) AS s, CAST(end_date AS VARCHAR) AS e FROM people WHERE person_id = '{}'",
            pseudonym.replace('\'', "''")
        );
        let batches = ctx
            .sql(&q)
            .await
            .map_err(|e| Error::query("people", e))?
            .collect()
            .await
            .map_err(|e| Error::query("people", e))?;
        batches.iter().find(|b| b.num_rows() > 0).map(|b| {
            let (s, e) = (probity_detect::strs(b, "s"), probity_detect::strs(b, "e"));
            (
                probity_detect::opt_str(&s, 0).map(str::to_string),
                probity_detect::opt_str(&e, 0).map(str::to_string),
            )
        })
    };
    let covers = |day: &str| {
        employed.as_ref().is_some_and(|(s, e)| {
            s.as_deref().is_none_or(|s| s <= day) && e.as_deref().is_none_or(|e| e >= day)
        })
    };
    let mut runs = vec![];
    for e in probity_audit::read(&store.audit_dir(), &Filter::default())? {
        let e = e?;
        let d = &e.details;
        if e.action == "score" || e.action == "score.eval" {
            let days: Vec<String> = match e.action.as_str() {
                "score" => d["as_of"]
                    .as_str()
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
                _ => d["test_cuts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let covered: Vec<&String> = days.iter().filter(|d| covers(d)).collect();
            if covered.is_empty() {
                continue;
            }
            runs.push(RunSeen {
                at: e.at.to_string(),
                actor: e.actor.clone(),
                period: format!(
                    "scored as of {}",
                    covered
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                detectors: vec![format!(
                    "risk scoring: {} ({}{})",
                    d["method"].as_str().unwrap_or("risk_model"),
                    if e.action == "score" {
                        "a scoring run"
                    } else {
                        "an evaluation of the model"
                    },
                    d["purpose"]
                        .as_str()
                        .map(|p| format!(", purpose {p}"))
                        .unwrap_or_default()
                )],
            });
            continue;
        }
        if e.action != "analyze" {
            continue;
        }
        let detectors = d["detectors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["ran"].as_bool().unwrap_or(false))
                    .map(|x| {
                        format!(
                            "{} v{} ({})",
                            x["detector"].as_str().unwrap_or(""),
                            x["version"],
                            x["purpose"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.push(RunSeen {
            at: e.at.to_string(),
            actor: e.actor.clone(),
            period: format!(
                "{} to {}",
                d["period_start"].as_str().unwrap_or("?"),
                d["period_end"].as_str().unwrap_or("?")
            ),
            detectors,
        });
    }

    let register = Register::load(store)?;
    let findings = register
        .about(&pseudonym)
        .map(|r| FindingSeen {
            finding_id: r.finding.finding_id.clone(),
            scenario: r.finding.scenario.clone(),
            detector: r.finding.detector.clone(),
            period: format!("{} to {}", r.finding.period_start, r.finding.period_end),
            summary: r.finding.summary.clone(),
            status: r.status.clone(),
            status_reason: r.status_reason.clone(),
            status_at: r.status_at.clone(),
        })
        .collect();

    let f = Filter {
        person: Some(pseudonym.clone()),
        ..Default::default()
    };
    let mut accesses = vec![];
    for e in probity_audit::read(&store.audit_dir(), &f)? {
        let e = e?;
        accesses.push(Access {
            at: e.at.to_string(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            reason: e.reason.clone(),
            seq: e.seq,
        });
    }

    let report = SubjectReport {
        produced_at: entry.at.to_string(),
        produced_by: user.to_string(),
        organisation: gov.organisation.name.clone(),
        person_id: who.person_id.clone(),
        name: who.name.clone(),
        pseudonym,
        held,
        runs,
        findings,
        accesses,
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let json_path = out.join("subject-report.json");
    let html_path = out.join("subject-report.html");
    let text = serde_json::to_vec_pretty(&report).expect("report serialises");
    std::fs::write(&json_path, text).map_err(|e| Error::io(&json_path, e))?;
    std::fs::write(&html_path, render(&report)).map_err(|e| Error::io(&html_path, e))?;
    Ok(Written {
        html: html_path,
        json: json_path,
        report,
    })
}

/// Renders the report as a page.
pub fn render(r: &SubjectReport) -> String {
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Subject access report: {name}</title><style>{STYLE}</style></head><body>\
         <h1>Subject access report</h1><p><strong>{name}</strong> (staff id {id}) &mdash; {org}. Produced {at} by {by}. In the analytical store you appear only as the pseudonym <code>{ps}</code>.</p>",
        name = esc(&r.name),
        id = esc(&r.person_id),
        org = esc(&r.organisation),
        at = esc(&r.produced_at),
        by = esc(&r.produced_by),
        ps = esc(&r.pseudonym)
    );
    h.push_str("<h2>Data held about you</h2><table><tr><th>Category</th><th>Records</th><th>Count</th><th>From</th><th>To</th></tr>");
    for x in &r.held {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&x.title),
            esc(&x.table),
            x.records,
            esc(x.from.as_deref().unwrap_or("")),
            esc(x.to.as_deref().unwrap_or(""))
        ));
    }
    h.push_str("</table>");
    h.push_str(&format!(
        "<h2>Checks run over the records ({})</h2>",
        r.runs.len()
    ));
    if r.runs.is_empty() {
        h.push_str("<p>No check has run.</p>");
    } else {
        h.push_str("<table><tr><th>When</th><th>By</th><th>Period</th><th>Checks (version, purpose)</th></tr>");
        for x in &r.runs {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.at),
                esc(&x.actor),
                esc(&x.period),
                esc(&x.detectors.join(", "))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str(&format!(
        "<h2>Findings about you ({})</h2>",
        r.findings.len()
    ));
    if r.findings.is_empty() {
        h.push_str("<p>There are no findings about you.</p>");
    } else {
        h.push_str("<table><tr><th>Finding</th><th>Check</th><th>Period</th><th>What it says</th><th>Status</th><th>Outcome reason</th></tr>");
        for f in &r.findings {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
                esc(&f.finding_id),
                esc(&f.detector),
                esc(&f.period),
                esc(&f.summary),
                esc(&f.status.replace('_', " ")),
                esc(&f.status_at),
                esc(f.status_reason.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str(&format!(
        "<h2>Who accessed your data ({})</h2>",
        r.accesses.len()
    ));
    h.push_str("<table><tr><th>When</th><th>Who</th><th>What</th><th>Object</th><th>Why</th><th>Audit entry</th></tr>");
    for a in &r.accesses {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.at),
            esc(&a.actor),
            esc(&a.action),
            esc(&a.object),
            esc(a.reason.as_deref().unwrap_or("")),
            a.seq
        ));
    }
    h.push_str("</table></body></html>\n");
    h
}
