//! `leave_overlap_claim`: overtime or rest-day working paid or claimed on a
//! day of recorded sickness or leave.

use std::collections::BTreeMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "overtime_during_absence",
    version: 2,
    scenario: Scenario::LeaveOverlapClaim,
    title: "Overtime claimed over sickness or leave",
    purpose: "Finds overtime and rest-day working that starts on a day the person was \
              recorded sick or on leave. A shift belongs to the day it starts, and a claim \
              extending a rostered shift to that shift's day, so a night that begins before a \
              leave block and ends on its first morning, a late shift's extension past \
              midnight, or overtime the day after a sickness spell ends, is not flagged.",
    needs: &[Table::Shifts, Table::Absences],
    uses: &[Table::OvertimeClaims],
    identities: false,
    baseline: false,
    params: &[
        Param::list(
            "absence_kinds",
            &["sickness", "annual_leave", "parental"],
            "absence kinds during which paid overtime is a conflict",
        ),
        Param::num(
            "min_shifts",
            1.0,
            "overlapping overtime shifts or claims needed for a finding",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // Each shift or claim is judged on its own; absences are read whole.
    context_days: |_| 0,
};

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let kinds = run.params().list("absence_kinds");
    let min_shifts = run.params().num("min_shifts").max(1.0) as usize;
    let kinds_sql = super::sql_list(kinds);
    // A shift belongs to the local day it starts on.
    let q = format!(
        "SELECT o.*, a.absence_id, a.kind AS absence_kind, a.start_date AS absence_from,
                a.end_date AS absence_to
         FROM ({}) o
         JOIN absences a ON a.person_id = o.person_id
          AND o.day BETWEEN a.start_date AND a.end_date
         WHERE a.kind IN ({kinds_sql})
           AND (o.kind IS NULL OR o.kind NOT IN ('court', 'training'))
         ORDER BY o.person_id, o.start",
        common::OVERTIME_SQL
    );
    let batches = run.sql(&q).await?;
    let mut ot = common::overtime_rows(&batches)?;
    let mut absence: Vec<(String, String, i32, i32)> = vec![];
    for b in &batches {
        let (id, k) = (strs(b, "absence_id"), strs(b, "absence_kind"));
        let (from, to) = (dates(b, "absence_from"), dates(b, "absence_to"));
        for i in 0..b.num_rows() {
            absence.push((
                id.value(i).to_string(),
                k.value(i).to_string(),
                from.value(i),
                to.value(i),
            ));
        }
    }
    // Overtime extending a rostered shift belongs to that shift's day: a
    // late shift's extension past midnight into the first day of leave is
    // not overtime claimed on leave.
    {
        let mut items: Vec<&mut common::Overtime> = ot.iter_mut().collect();
        common::find_extensions(run, &mut items).await?;
    }
    type Hit<'a> = (&'a common::Overtime, &'a (String, String, i32, i32));
    let mut hits: BTreeMap<&str, Vec<Hit<'_>>> = BTreeMap::new();
    for (o, a) in ot.iter().zip(&absence) {
        if o.extends.is_some_and(|d| d < a.2 || d > a.3) {
            continue;
        }
        hits.entry(&o.person).or_default().push((o, a));
    }
    let mut out = vec![];
    for (person, list) in hits {
        if list.len() < min_shifts {
            continue;
        }
        let n = list.len();
        let sick = list.iter().filter(|(_, a)| a.1 == "sickness").count();
        let hours: f64 = list.iter().map(|(o, _)| o.hours).sum();
        let first = list.iter().map(|(o, _)| o.day).min().expect("non-empty");
        let last = list.iter().map(|(o, _)| o.day).max().expect("non-empty");
        let summary = format!(
            "{} of overtime or rest-day working ({hours:.1} hours) starting on days recorded \
             as sickness or leave between {} and {} ({} during sickness, {} during leave).",
            plural(n, "shift", "shifts"),
            short_day(first),
            short_day(last),
            sick,
            n - sick
        );
        let score = (0.6 + 0.1 * n as f64 + if sick > 0 { 0.1 } else { 0.0 }).min(1.0);
        let mut ev: Vec<Evidence> = vec![];
        for (o, a) in &list {
            ev.extend(o.evidence());
            ev.push(Evidence::new(Table::Absences, a.0.as_str()));
        }
        out.push(
            Finding::new(
                Scenario::LeaveOverlapClaim,
                DETECTOR.id,
                person,
                (first, last),
                score,
                summary,
            )
            .fact("overlapping_shifts", n as f64)
            .fact("during_sickness", sick as f64)
            .fact("hours", hours)
            .with_evidence(ev),
        );
    }
    Ok(out)
}
