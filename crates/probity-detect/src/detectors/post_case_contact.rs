//! `post_case_contact`: repeated look-ups of a victim or witness of a case
//! after the person's assignment to that case ended.

use std::collections::BTreeMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "post_case_lookup",
    version: 1,
    scenario: Scenario::PostCaseContact,
    title: "Victim or witness looked up after the case",
    purpose: "Finds repeated look-ups of a case's victim or witness by someone whose \
              assignment to that case has ended. Look-ups while the person holds any case \
              involving that subject (including a later re-assignment to the same case), and \
              within a short grace after hand-over, are not counted.",
    needs: &[
        Table::SystemQueries,
        Table::Accounts,
        Table::CaseAssignments,
        Table::CaseSubjects,
    ],
    uses: &[],
    identities: false,
    baseline: false,
    params: &[
        Param::num(
            "min_lookups",
            2.0,
            "look-ups after the assignment ended needed for a finding",
        ),
        Param::num(
            "grace_days",
            2.0,
            "days after the assignment ends in which look-ups are still hand-over work",
        ),
        Param::list(
            "subject_roles",
            &["victim", "witness"],
            "subject roles whose later look-up is a concern",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // Look-ups after a case counted over the four weeks up to the period's end.
    context_days: |_| 28,
};

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let min = p.num("min_lookups").max(1.0) as usize;
    let grace = p.num("grace_days").round() as i64;
    let roles = super::sql_list(p.list("subject_roles"));
    // The look-ups of a subject of a case after the person's assignment to
    // it ended: few, so they are collected first...
    let hits = match run.judged() {
        None => run.sql(&ended_lookups_sql(&roles, grace, None)).await?,
        Some(judged) => {
            // A run limited to a period reports a finding only if it
            // touches the period, and a finding runs from the first to the
            // last look-up it cites: only a person and case with a look-up
            // on or after the period's first day can have one. Find those
            // from the latest days' look-ups first, then read the whole
            // context for them alone.
            let from = crate::run::day_start(run.tz(), judged.start);
            run.register_slice("post_case_recent", Table::SystemQueries, from, i64::MAX)
                .await?;
            let recent = run
                .sql(&format!(
                    "WITH r AS (
                        SELECT q.query_id, a.person_id, q.at, q.subject_ref
                        FROM accounts a JOIN post_case_recent q ON a.account_id = q.account_id),
                     rs AS (
                        SELECT r.person_id, r.at, cs.case_ref
                        FROM r JOIN case_subjects cs ON cs.subject_ref = r.subject_ref
                        WHERE cs.subject_role IN ({roles}))
                     SELECT DISTINCT rs.person_id, rs.case_ref
                     FROM rs JOIN case_assignments ca
                       ON ca.case_ref = rs.case_ref AND ca.person_id = rs.person_id
                     WHERE ca.assigned_to IS NOT NULL
                       AND local_date(rs.at) > ca.assigned_to + INTERVAL '{grace} days'"
                ))
                .await;
            run.deregister("post_case_recent")?;
            if !run.register_rows("post_case_keys", recent?)? {
                return Ok(vec![]);
            }
            let hits = run
                .sql(&ended_lookups_sql(&roles, grace, Some("post_case_keys")))
                .await;
            run.deregister("post_case_keys")?;
            hits?
        }
    };
    if !run.register_rows("post_case_hits", hits)? {
        return Ok(vec![]);
    }
    // ...then those made while the person held the subject through another
    // case (or within the grace after it) are set aside: only the
    // assignments of the people and subjects looked up are read, not every
    // assignment joined to every subject.
    let q = format!(
        "WITH keys AS (SELECT DISTINCT person_id, subject_ref FROM post_case_hits),
         held AS (
            SELECT ca.person_id, cs.subject_ref, ca.assigned_from, ca.assigned_to
            FROM keys k JOIN case_assignments ca ON ca.person_id = k.person_id
            JOIN case_subjects cs ON cs.case_ref = ca.case_ref AND cs.subject_ref = k.subject_ref)
         SELECT DISTINCT h.query_id, h.person_id, h.day, h.case_ref, h.subject_ref,
                h.subject_role, h.assigned_to
         FROM post_case_hits h LEFT JOIN held
           ON held.person_id = h.person_id AND held.subject_ref = h.subject_ref
          AND h.day >= held.assigned_from
          AND (held.assigned_to IS NULL OR h.day <= held.assigned_to + INTERVAL '{grace} days')
         WHERE held.person_id IS NULL
         ORDER BY h.person_id, h.case_ref, h.day"
    );
    let batches = run.sql(&q).await;
    run.deregister("post_case_hits")?;
    let batches = batches?;
    struct Hit {
        query: String,
        day: i32,
        subject: String,
        role: String,
        ended: i32,
    }
    let mut by: BTreeMap<(String, String), Vec<Hit>> = BTreeMap::new();
    for b in &batches {
        let (qid, pid, case, subj, role) = (
            strs(b, "query_id"),
            strs(b, "person_id"),
            strs(b, "case_ref"),
            strs(b, "subject_ref"),
            strs(b, "subject_role"),
        );
        let (day, to) = (dates(b, "day"), dates(b, "assigned_to"));
        for i in 0..b.num_rows() {
            by.entry((pid.value(i).to_string(), case.value(i).to_string()))
                .or_default()
                .push(Hit {
                    query: qid.value(i).to_string(),
                    day: day.value(i),
                    subject: subj.value(i).to_string(),
                    role: role.value(i).to_string(),
                    ended: to.value(i),
                });
        }
    }
    let mut out = vec![];
    for ((person, case), hits) in by {
        if hits.len() < min {
            continue;
        }
        let first = hits.iter().map(|h| h.day).min().expect("non-empty");
        let last = hits.iter().map(|h| h.day).max().expect("non-empty");
        let ended = hits[0].ended;
        let subjects: std::collections::BTreeSet<(&str, &str)> = hits
            .iter()
            .map(|h| (h.subject.as_str(), h.role.as_str()))
            .collect();
        let roles: Vec<&str> = subjects.iter().map(|(_, r)| *r).collect();
        let summary = format!(
            "Looked up {} of case {} ({}) {} between {} and {}, after their assignment to \
             the case ended on {} ({} to {} days later).",
            plural(subjects.len(), "subject", "subjects"),
            case,
            roles.join(", "),
            plural(hits.len(), "time", "times"),
            short_day(first),
            short_day(last),
            short_day(ended),
            first - ended,
            last - ended
        );
        let score = (0.5 + 0.08 * hits.len() as f64).min(1.0);
        let mut ev = vec![Evidence::new(Table::CaseAssignments, case.as_str())];
        ev.extend(
            hits.iter()
                .map(|h| Evidence::new(Table::SystemQueries, h.query.as_str())),
        );
        out.push(
            Finding::new(
                Scenario::PostCaseContact,
                DETECTOR.id,
                &person,
                (first, last),
                score,
                summary,
            )
            .fact("lookups_after_end", hits.len() as f64)
            .fact("subjects", subjects.len() as f64)
            .fact("days_after_end_first", f64::from(first - ended))
            .with_evidence(ev),
        );
    }
    Ok(out)
}

/// The look-ups of a case's subject (in `roles`) by a person after their
/// assignment to the case ended and the grace after it: (query_id,
/// person_id, day, case_ref, subject_ref, subject_role, assigned_to). With
/// `keys`, a registered table of (person_id, case_ref), only those people's
/// assignments to those cases, and only their look-ups, are read.
fn ended_lookups_sql(roles: &str, grace: i64, keys: Option<&str>) -> String {
    let (assignments, accounts) = match keys {
        None => ("case_assignments ca".to_string(), "accounts a".to_string()),
        Some(k) => (
            format!(
                "{k} k JOIN case_assignments ca \
                 ON ca.person_id = k.person_id AND ca.case_ref = k.case_ref"
            ),
            format!(
                "(SELECT DISTINCT person_id FROM {k}) kp \
                 JOIN accounts a ON a.person_id = kp.person_id"
            ),
        ),
    };
    format!(
        "WITH ended AS (
            SELECT ca.person_id, ca.case_ref, cs.subject_ref, cs.subject_role, ca.assigned_to
            FROM {assignments} JOIN case_subjects cs ON cs.case_ref = ca.case_ref
            WHERE cs.subject_role IN ({roles}) AND ca.assigned_to IS NOT NULL),
         q AS (
            SELECT q.query_id, a.person_id, q.at, q.subject_ref
            FROM {accounts} JOIN system_queries q ON a.account_id = q.account_id)
         SELECT q.query_id, q.person_id, local_date(q.at) AS day, ended.case_ref,
                ended.subject_ref, ended.subject_role, ended.assigned_to
         FROM ended JOIN q ON ended.person_id = q.person_id
                          AND ended.subject_ref = q.subject_ref
         WHERE local_date(q.at) > ended.assigned_to + INTERVAL '{grace} days'"
    )
}
