//! The staff-facing transparency notice, rendered from the governance file
//! and the detector registry: every active check in plain English, the data
//! it uses and why, how long things are kept, who may see what, and how to
//! get one's own report.

use jiff::civil::Date;
use probity_core::Table;
use probity_policy::{Category, Governance, Role};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The stylesheet of the notice and the subject report (served as a file
/// by the web UI, whose CSP allows no inline styles).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.05rem;margin-bottom:.2rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f2f2f2}.muted{color:#555}.check{border-left:4px solid #2a6;padding-left:1rem;margin:1rem 0}";

/// One detector as the notice describes it.
#[derive(Debug, Clone)]
pub struct NoticeCheck {
    /// Detector id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// What it looks for and what it is built not to flag.
    pub what: &'static str,
    /// Categories it reads.
    pub categories: Vec<Category>,
}

/// The detectors `analyze` runs on `store` today: the same plan it acts
/// on (governance, probity.toml, the tables held, the identity vault), so
/// the notice, `governance status` and `analyze` give one answer. Baseline
/// rules, which run only with `analyze --baselines` and raise nothing
/// against anyone, are not among them.
pub fn running(store: &probity_store::Store) -> crate::Result<std::collections::BTreeSet<String>> {
    let plan = probity_detect::Plan::new(store)?;
    Ok(plan.selected().map(|d| d.id.to_string()).collect())
}

/// The detectors that run today under `gov` (approved, not lapsed,
/// categories enabled) and are in `runs` (see [`running`]), and how many
/// others exist but do not run.
pub fn active_checks(
    gov: &Governance,
    today: Date,
    runs: &std::collections::BTreeSet<String>,
) -> (Vec<NoticeCheck>, usize) {
    let mut active = vec![];
    let mut inactive = 0;
    for d in probity_detect::detectors::ALL {
        let tables = d.declared();
        match gov.decide(d.id, &tables, d.identities, today) {
            Ok(p) if runs.contains(d.id) => active.push(NoticeCheck {
                id: d.id,
                title: d.title,
                what: d.purpose,
                categories: p.categories,
            }),
            _ => inactive += 1,
        }
    }
    // Risk scoring is profiling: staff are told when it runs, like any check.
    for (id, title, what) in [
        (
            "risk_model",
            "Early-warning risk score (trained model)",
            "Ranks staff by a model trained on past complaint outcomes, so that supervisors can offer support early; a score is a prompt for a human conversation, never a finding or a sanction.",
        ),
        (
            "anomaly_score",
            "Early-warning anomaly score",
            "Ranks staff whose records differ most from their peers', for a human review; it uses no complaint outcomes and decides nothing.",
        ),
    ] {
        let tables: Vec<Table> = probity_detect::governance::SCORING_TABLES.to_vec();
        if let Ok(p) = gov.decide(id, &tables, false, today) {
            active.push(NoticeCheck {
                id,
                title,
                what,
                categories: p.categories,
            });
        }
    }
    (active, inactive)
}

/// Renders the notice.
pub fn render(gov: &Governance, today: Date, runs: &std::collections::BTreeSet<String>) -> String {
    let (checks, inactive) = active_checks(gov, today, runs);
    let org = &gov.organisation;
    let mut h = String::new();
    h.push_str(&format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>How {} checks the integrity of its own staff</title><style>{STYLE}</style></head><body>",
        esc(&org.name)
    ));
    h.push_str(&format!(
        "<h1>How {} checks the integrity of its own staff</h1>\
         <p>This notice explains every automated check the Professional Standards Department runs with Probity over records about you as a member of staff, the data each check uses and why, how long it is kept, who may see what, and how to get your own report. It is generated from the approved governance file in force on {today}; a check not listed here does not run.</p>",
        esc(&org.name)
    ));
    h.push_str("<p><strong>No check decides anything about you.</strong> A check produces a <em>finding</em>: a pattern in records that a person must review. Reviewers see findings under a pseudonym; a name is revealed only to a reviewer, with a written reason that is logged. Before a prevention notice you are told and can respond. Every reveal, export and decision is on a tamper-evident audit log.</p>");
    if let Some(c) = &org.consultation {
        h.push_str(&format!("<p><strong>Consultation.</strong> {}</p>", esc(c)));
    }
    h.push_str(&format!("<h2>The checks that run ({})</h2>", checks.len()));
    if checks.is_empty() {
        h.push_str("<p>No check is approved at present.</p>");
    }
    for c in &checks {
        let a = &gov.detectors[c.id];
        let p = &gov.purposes[&a.purpose];
        h.push_str(&format!(
            "<div class=\"check\" id=\"{id}\"><h3>{title}</h3>\
             <p><strong>What it looks for.</strong> {what}</p>\
             <p><strong>Why.</strong> {why}</p>\
             <p><strong>Data it uses.</strong> {data}</p>\
             <p><strong>Legal basis.</strong> {basis}. Impact assessment {dpia}.</p>\
             <p><strong>Less intrusive alternative considered.</strong> {alt}</p>\
             <p><strong>Findings kept for</strong> {keep} days after last seen. Approved by {appr} on {on}; must be reviewed by {rev}.</p></div>",
            id = esc(c.id),
            title = esc(c.title),
            what = esc(c.what),
            why = esc(&p.description),
            data = c
                .categories
                .iter()
                .map(|k| format!("{} ({})", esc(k.title()), esc(k.description())))
                .collect::<Vec<_>>()
                .join("; "),
            basis = esc(&a.lawful_basis),
            dpia = esc(&a.dpia),
            alt = esc(&a.alternative_considered),
            keep = a.findings_retention_days,
            appr = esc(&a.approver),
            on = a.approved(),
            rev = a.review_date(),
        ));
    }
    if inactive > 0 {
        h.push_str(&format!(
            "<p class=\"muted\">{inactive} other check(s) exist in the software but are not approved, or their approval has lapsed, and do not run.</p>"
        ));
    }
    let m = &gov.minimisation;
    h.push_str(&format!(
        "<h2>What is not collected, and what is reduced</h2>\
         <ul><li>Work-device locations more than {g} minutes away from any of your shifts are off duty: they are discarded on arrival and never stored, only counted.</li>\
         <li>Raw on-duty locations are kept {d} days; after that only one fact per shift remains (whether the device was on a police site), and the raw points are deleted.</li>\
         <li>Names, dates of birth and home postcodes are kept apart from everything else; the analysis works on pseudonyms.</li></ul>",
        g = m.location_grace_minutes,
        d = m.raw_location_days
    ));
    h.push_str(
        "<h2>How long records are kept</h2><table><tr><th>Records</th><th>Kept for</th></tr>",
    );
    for (t, days) in &gov.retention.tables {
        let cat = Table::from_name(t).map(Category::of_table);
        h.push_str(&format!(
            "<tr><td>{} ({})</td><td>{days} days</td></tr>",
            esc(cat.map_or(t.as_str(), |c| c.title())),
            esc(t)
        ));
    }
    h.push_str(&format!(
        "<tr><td>Raw work-device locations</td><td>{} days, then one fact per shift</td></tr>\
         <tr><td>Rows rejected at import (kept for correction)</td><td>{} days</td></tr>",
        m.raw_location_days, gov.retention.quarantine_days
    ));
    for (s, days) in &gov.retention.findings {
        h.push_str(&format!(
            "<tr><td>Findings closed as {}</td><td>{days} days after the decision</td></tr>",
            esc(&s.replace('_', " "))
        ));
    }
    h.push_str("</table><p class=\"muted\">Records not listed are kept under the force's general records policy.</p>");
    h.push_str("<h2>Who may see what</h2><table><tr><th>Role</th><th>May see and do</th></tr>");
    for r in Role::ALL {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&r.id().replace('_', " ")),
            esc(r.sees())
        ));
    }
    h.push_str("</table>");
    h.push_str(&format!(
        "<h2>Your own report</h2><p>{}</p><p>Questions: {}.</p>",
        esc(&org.subject_access),
        esc(&org.contact)
    ));
    h.push_str("</body></html>\n");
    h
}
