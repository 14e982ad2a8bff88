//! `complaint_pattern`: a complaint rate far above the person's peers (same
//! rank and role) over a rolling twelve-month window; and, beside it, the
//! classic threshold rule (three complaints in twelve months) as the
//! baseline the comparison is made against.

use std::collections::{BTreeMap, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, PersonInfo, short_day};
use crate::finding::Evidence;
use crate::run::{dates, strs};
use crate::stats::poisson_sf;
use crate::{Detector, Finding, Param, Result, Run};

/// The peer-relative detector.
pub const PEER: Detector = Detector {
    id: "complaints_above_peers",
    version: 1,
    scenario: Scenario::ComplaintPattern,
    title: "Complaints far above peers",
    purpose: "Compares the complaints a person received in the twelve months up to any day \
              of the analysis period with what their peer group (same rank and role) receives \
              per person-year, and reports only counts that would be very unlikely at the \
              peer rate. Busy front-line roles attract complaints; a fixed threshold flags them \
              for doing the job, which this detector is built not to do.",
    needs: &[Table::Complaints, Table::People],
    uses: &[],
    identities: false,
    baseline: false,
    params: &[
        Param::num("window_days", 365.0, "length of the rolling window"),
        Param::num(
            "min_complaints",
            3.0,
            "complaints in the window needed for a finding",
        ),
        Param::num(
            "max_probability",
            0.001,
            "flag when the count is at most this likely at the peer rate (Poisson)",
        ),
        Param::num(
            "min_peer_group",
            20.0,
            "smaller rank-and-role groups fall back to the rank alone",
        ),
    ],
    detect: |r| Box::pin(detect_peer(r)),
};

/// The threshold baseline.
pub const THRESHOLD: Detector = Detector {
    id: "complaint_threshold",
    version: 1,
    scenario: Scenario::ComplaintPattern,
    title: "Three complaints in twelve months (baseline rule)",
    purpose: "The early-intervention threshold many forces use, kept as the baseline the \
              peer-relative detector is measured against. Off unless enabled.",
    needs: &[Table::Complaints],
    uses: &[],
    identities: false,
    baseline: true,
    params: &[
        Param::num("window_days", 365.0, "length of the rolling window"),
        Param::num("threshold", 3.0, "complaints in the window that trigger"),
    ],
    detect: |r| Box::pin(detect_threshold(r)),
};

type Complaints = BTreeMap<String, Vec<(i32, String)>>;

async fn complaints(run: &Run) -> Result<(Complaints, i32, i32)> {
    let batches = run
        .sql("SELECT complaint_id, person_id, received_on FROM complaints ORDER BY person_id, received_on, complaint_id")
        .await?;
    let mut by: Complaints = BTreeMap::new();
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for b in &batches {
        let (id, p, d) = (
            strs(b, "complaint_id"),
            strs(b, "person_id"),
            dates(b, "received_on"),
        );
        for i in 0..b.num_rows() {
            lo = lo.min(d.value(i));
            hi = hi.max(d.value(i));
            by.entry(p.value(i).to_string())
                .or_default()
                .push((d.value(i), id.value(i).to_string()));
        }
    }
    Ok((by, lo, hi))
}

/// The busiest trailing window: for each day `t` of the analysis period,
/// the complaints received in the `window` days up to and including `t`.
/// The count only rises on a complaint date, so the candidates are the
/// period's first day and each complaint date within the period. Returns
/// (count, index of the first complaint, index of the last).
fn best_window(
    list: &[(i32, String)],
    window: i32,
    (from, to): (i32, i32),
) -> Option<(usize, usize, usize)> {
    let mut best: Option<(usize, usize, usize)> = None;
    let ends = std::iter::once(from).chain(
        list.iter()
            .map(|(d, _)| *d)
            .filter(|d| *d >= from && *d <= to),
    );
    for t in ends {
        let lo = list.partition_point(|(d, _)| *d <= t - window);
        let hi = list.partition_point(|(d, _)| *d <= t);
        if hi == lo {
            continue;
        }
        let n = hi - lo;
        if best.is_none_or(|b| n > b.0) {
            best = Some((n, lo, hi - 1));
        }
    }
    best
}

/// The complaints of a window, as evidence.
fn window_evidence(window: &[(i32, String)]) -> Vec<Evidence> {
    window
        .iter()
        .map(|(_, id)| Evidence::new(Table::Complaints, id.as_str()))
        .collect()
}

async fn detect_threshold(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let window = p.num("window_days") as i32;
    let threshold = p.num("threshold").max(1.0) as usize;
    let period = run.period();
    let (by, _, _) = complaints(run).await?;
    let mut out = vec![];
    for (person, list) in by {
        let Some((n, lo, hi)) = best_window(&list, window, (period.start, period.end)) else {
            continue;
        };
        if n < threshold {
            continue;
        }
        let summary = format!(
            "{n} complaints in {window} days between {} and {} (threshold rule: {threshold}).",
            short_day(list[lo].0),
            short_day(list[hi].0)
        );
        out.push(
            Finding::new(
                Scenario::ComplaintPattern,
                THRESHOLD.id,
                &person,
                (list[lo].0, list[hi].0),
                0.5,
                summary,
            )
            .fact("complaints_in_window", n as f64)
            .with_evidence(window_evidence(&list[lo..=hi])),
        );
    }
    Ok(out)
}

async fn detect_peer(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let window = p.num("window_days") as i32;
    let min = p.num("min_complaints").max(1.0) as usize;
    let alpha = p.num("max_probability");
    let min_group = p.num("min_peer_group") as usize;
    let period = run.period();
    let end = period.end;
    let (by, first_complaint, _) = complaints(run).await?;
    let people = common::people(run).await?;
    // Peer rates: complaints per person-year over the span of the data.
    let exposure = |info: &PersonInfo| -> f64 {
        let from = info.start_date.max(first_complaint);
        let to = info.end_date.unwrap_or(end).min(end);
        (f64::from(to - from + 1) / 365.25).max(0.0)
    };
    let mut group_years: HashMap<(String, String), (f64, usize, usize)> = HashMap::new();
    let mut rank_years: HashMap<String, (f64, usize, usize)> = HashMap::new();
    for (id, info) in &people {
        let n = by.get(id).map_or(0, Vec::len);
        let e = exposure(info);
        let g = group_years.entry(info.peer_group()).or_default();
        g.0 += e;
        g.1 += n;
        g.2 += 1;
        let r = rank_years.entry(info.rank.clone()).or_default();
        r.0 += e;
        r.1 += n;
        r.2 += 1;
    }
    let mut out = vec![];
    for (person, list) in &by {
        let Some(info) = people.get(person) else {
            continue;
        };
        let Some((n, lo, hi)) = best_window(list, window, (period.start, period.end)) else {
            continue;
        };
        if n < min {
            continue;
        }
        let (years, count, size, group) = {
            let g = &group_years[&info.peer_group()];
            if g.2 >= min_group {
                (
                    g.0,
                    g.1,
                    g.2,
                    format!(
                        "{}s ({})",
                        info.rank,
                        info.role.as_deref().unwrap_or("any role")
                    ),
                )
            } else {
                let r = &rank_years[&info.rank];
                (r.0, r.1, r.2, format!("{}s", info.rank))
            }
        };
        // Leave the person out of their own baseline.
        let own_years = exposure(info);
        let rate = (count - list.len()) as f64 / (years - own_years).max(1.0);
        let expected = rate * f64::from(window) / 365.25;
        let prob = poisson_sf(n as u32, expected);
        if prob > alpha {
            continue;
        }
        let summary = format!(
            "{n} complaints in {window} days between {} and {}; peers ({group}, {size} people) \
             average {expected:.2} in {window} days, so {n} or more would happen by chance with \
             probability {prob:.1e}.",
            short_day(list[lo].0),
            short_day(list[hi].0),
        );
        let score = (-prob.max(1e-12).log10() / 8.0).clamp(0.3, 1.0);
        out.push(
            Finding::new(
                Scenario::ComplaintPattern,
                PEER.id,
                person,
                (list[lo].0, list[hi].0),
                score,
                summary,
            )
            .fact("complaints_in_window", n as f64)
            .fact("peer_expected", (expected * 1e4).round() / 1e4)
            .fact("probability", prob)
            .with_evidence(window_evidence(&list[lo..=hi])),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_trailing_window_within_the_period_is_found() {
        let l: Vec<(i32, String)> = [0, 10, 400, 500, 600, 700, 1200]
            .iter()
            .map(|d| (*d, format!("c{d}")))
            .collect();
        // 400, 500, 600, 700 lie within 365 days up to day 700.
        assert_eq!(best_window(&l, 365, (0, 2000)), Some((4, 2, 5)));
        // A period starting on day 720 still sees the year up to its first day.
        assert_eq!(best_window(&l, 365, (720, 800)), Some((4, 2, 5)));
        // Windows must end within the period: day 1100's year holds nothing,
        // day 1200's holds one complaint.
        assert_eq!(best_window(&l, 365, (1100, 1300)), Some((1, 6, 6)));
        assert_eq!(best_window(&l, 365, (1700, 1800)), None);
    }
}
