//! `system_misuse`: record-system look-ups with no policing purpose — no
//! case link and no reason code, or of the person's own relations.

use std::collections::{BTreeMap, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, ints, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "lookup_without_purpose",
    version: 2,
    scenario: Scenario::SystemMisuse,
    title: "Look-ups without a policing purpose",
    purpose: "Finds record-system look-ups with neither a case link nor a reason code, and \
              look-ups without a case link of the person's own recorded relations (self, \
              family, partner, ex-partner, associate). A high volume of look-ups is reported \
              against the peer median but is never a finding on its own: busy roles with a \
              case or reason for every look-up are doing their job. Forces write \"no case\" \
              and \"no reason\" their own way (blank, N/A, NONE, 0, a dash): common \
              spellings are read as none, and a force names its own in none_values; the \
              spellings met are reported.",
    needs: &[Table::SystemQueries, Table::Accounts, Table::People],
    uses: &[Table::KnownRelations],
    identities: false,
    baseline: false,
    params: &[
        Param::num(
            "min_unexplained",
            3.0,
            "look-ups with no case and no reason needed for a finding",
        ),
        Param::num(
            "min_relation_lookups",
            2.0,
            "look-ups of own relations without a case needed for a finding",
        ),
        Param::list(
            "legitimate_reason_codes",
            &[],
            "if not empty, only these reason codes explain a look-up without a case",
        ),
        Param::list(
            "none_values",
            &[],
            "this force's own spellings of \"no case\" or \"no reason\" (besides blank, N/A, \
             NONE, NULL, 0, a dash and the like, which are always read as none)",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // Look-ups counted over the four weeks up to the period's end.
    context_days: |_| 28,
};

/// SQL true when `column` means "none": null, a common spelling of none
/// (any case, spaces around it), this force's own (`extra`), or nothing but
/// punctuation (`is_none`, tested in place on every row: no sample to miss a
/// spelling).
fn none_sql(column: &str, extra: &[String]) -> String {
    let mut args = vec![column.to_string()];
    if !extra.is_empty() {
        args.push(super::sql_list(extra));
    }
    format!("is_none({})", args.join(", "))
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let min_free = p.num("min_unexplained").max(1.0) as usize;
    let min_rel = p.num("min_relation_lookups").max(1.0) as usize;
    let codes = p.list("legitimate_reason_codes");
    let extra = p.list("none_values");
    let no_reason = if codes.is_empty() {
        none_sql("q.reason_code", extra)
    } else {
        format!(
            "({} OR q.reason_code NOT IN ({}))",
            none_sql("q.reason_code", extra),
            super::sql_list(codes)
        )
    };
    // The spellings of none met, as the filters themselves judged them:
    // every case reference here is one; a reason code only where it is.
    let spelt = format!(
        "CASE WHEN {} THEN q.reason_code END AS reason_none",
        none_sql("q.reason_code", extra)
    );
    let no_case = none_sql("q.case_ref", extra);
    // One pass over the look-ups without a case link: the small relations
    // table is the build side of the join (the engine builds its hash table
    // on the left) and every look-up probes it once; a look-up is kept when
    // it is of a relation, or when it has no reason either. A look-up of a
    // relation with no reason is one row (a relation look-up), not two.
    let q = format!(
        "SELECT q.query_id, q.person_id, local_date(q.at) AS day, q.subject_ref, kr.relation,
                q.case_ref, {spelt}
         FROM known_relations kr RIGHT JOIN (
             SELECT q.query_id, a.person_id, q.at, q.subject_ref, q.reason_code, q.case_ref
             FROM accounts a JOIN system_queries q ON a.account_id = q.account_id
             WHERE {no_case}) q
           ON kr.person_id = q.person_id AND kr.subject_ref = q.subject_ref
         WHERE kr.person_id IS NOT NULL OR {no_reason}"
    );
    let batches = run.sql(&q).await?;
    struct Hit {
        query: String,
        day: i32,
        relation: Option<String>,
        subject: String,
    }
    let mut hits: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
    // How "none" is written among them (blank and null left out).
    let mut spellings: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for b in &batches {
        let (qid, pid, rel, subj) = (
            strs(b, "query_id"),
            strs(b, "person_id"),
            strs(b, "relation"),
            strs(b, "subject_ref"),
        );
        let day = dates(b, "day");
        for (column, values) in [
            ("case_ref", strs(b, "case_ref")),
            ("reason_code", strs(b, "reason_none")),
        ] {
            for i in 0..b.num_rows() {
                if let Some(v) = opt_str(&values, i).filter(|v| !v.trim().is_empty()) {
                    *spellings
                        .entry(column)
                        .or_default()
                        .entry(v.to_string())
                        .or_default() += 1;
                }
            }
        }
        for i in 0..b.num_rows() {
            hits.entry(pid.value(i).to_string()).or_default().push(Hit {
                query: qid.value(i).to_string(),
                day: day.value(i),
                relation: opt_str(&rel, i).map(str::to_string),
                subject: subj.value(i).to_string(),
            });
        }
    }
    run.learned("spellings_of_none_in_unexplained_lookups", &spellings);
    for list in hits.values_mut() {
        // A look-up of two recorded relations (the same subject recorded
        // twice) counts once.
        list.sort_by(|a, b| {
            (&a.query, a.relation.is_none()).cmp(&(&b.query, b.relation.is_none()))
        });
        list.dedup_by(|a, b| a.query == b.query);
        list.sort_by(|a, b| (a.day, &a.query).cmp(&(b.day, &b.query)));
    }
    // Volume against peers (context for the reviewer, not a trigger).
    let batches = run
        .sql(
            // Counted per account first: the join then meets one row per
            // account, not one per look-up.
            "SELECT a.person_id, CAST(sum(q.n) AS BIGINT) AS n FROM accounts a
             JOIN (SELECT account_id, count(*) AS n FROM system_queries GROUP BY account_id) q
               ON a.account_id = q.account_id GROUP BY a.person_id",
        )
        .await?;
    let mut volume: HashMap<String, f64> = HashMap::new();
    for b in &batches {
        let (pid, n) = (strs(b, "person_id"), ints(b, "n"));
        for i in 0..b.num_rows() {
            volume.insert(pid.value(i).to_string(), n.value(i) as f64);
        }
    }
    let people = common::people(run).await?;
    let peer = common::peer_median(&people, &volume, |p| p.peer_group());
    let mut out = vec![];
    for (person, list) in hits {
        let relation: Vec<&Hit> = list.iter().filter(|h| h.relation.is_some()).collect();
        let free: Vec<&Hit> = list.iter().filter(|h| h.relation.is_none()).collect();
        if relation.len() < min_rel && free.len() < min_free {
            continue;
        }
        let first = list.iter().map(|h| h.day).min().expect("non-empty");
        let last = list.iter().map(|h| h.day).max().expect("non-empty");
        let total = volume.get(&person).copied().unwrap_or(0.0);
        let median = people
            .get(&person)
            .and_then(|p| peer.get(&p.peer_group()))
            .copied()
            .unwrap_or(0.0);
        let mut parts = vec![];
        if !free.is_empty() {
            parts.push(format!(
                "{} with no case link and no reason code",
                plural(free.len(), "look-up", "look-ups")
            ));
        }
        if !relation.is_empty() {
            let subjects: std::collections::BTreeSet<&str> =
                relation.iter().map(|h| h.subject.as_str()).collect();
            let kinds: std::collections::BTreeSet<&str> = relation
                .iter()
                .filter_map(|h| h.relation.as_deref())
                .collect();
            parts.push(format!(
                "{} of {} of their own recorded relations ({}) with no case link",
                plural(relation.len(), "look-up", "look-ups"),
                subjects.len(),
                kinds.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let summary = format!(
            "Between {} and {}: {}; {} look-ups in all, peer median {}.",
            short_day(first),
            short_day(last),
            parts.join("; "),
            total,
            median
        );
        let score = (0.4 + 0.04 * free.len() as f64 + 0.12 * relation.len() as f64).min(1.0);
        out.push(
            Finding::new(
                Scenario::SystemMisuse,
                DETECTOR.id,
                &person,
                (first, last),
                score,
                summary,
            )
            .fact("unexplained_lookups", free.len() as f64)
            .fact("relation_lookups", relation.len() as f64)
            .fact("total_lookups", total)
            .fact("peer_median_lookups", median)
            .with_evidence(
                list.iter()
                    .map(|h| Evidence::new(Table::SystemQueries, h.query.as_str()))
                    .collect::<Vec<_>>(),
            ),
        );
    }
    Ok(out)
}
