//! `complaint_pattern`: a complaint rate far above the person's peers (same
//! rank and role) over rolling windows of six, twelve and twenty-four
//! months; and, beside it, the classic threshold rule (three complaints in
//! twelve months) as the baseline the comparison is made against.

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
    version: 2,
    scenario: Scenario::ComplaintPattern,
    title: "Complaints far above peers",
    purpose: "Compares the complaints a person received in the six, twelve and twenty-four \
              months up to any day of the analysis period with what their peer group (same \
              rank and role) receives per person-year, and reports only counts that would be \
              very unlikely at the peer rate, after allowing for the windows tested: a rate \
              several times the peers' sustained over two years is found even when no single \
              year stands out. Complaints received on one day count once (one incident can \
              bring several), and a window reaching before the complaint records begin or \
              before the person joined expects only what it can hold. Busy front-line roles \
              attract complaints; a fixed threshold flags them for doing the job, which this \
              detector is built not to do.",
    needs: &[Table::Complaints, Table::People],
    uses: &[],
    identities: false,
    baseline: false,
    params: &[
        Param::num(
            "short_window_days",
            182.0,
            "the shortest rolling window tested (0 leaves it out)",
        ),
        Param::num(
            "window_days",
            365.0,
            "the middle rolling window (0 leaves it out)",
        ),
        Param::num(
            "long_window_days",
            730.0,
            "the longest rolling window tested (0 leaves it out)",
        ),
        Param::num(
            "min_complaints",
            3.0,
            "complaints in the window needed for a finding",
        ),
        Param::num(
            "max_probability",
            0.001,
            "flag when the count is at most this likely at the peer rate (Poisson), after \
             multiplying by the number of window lengths tested",
        ),
        Param::num(
            "min_peer_group",
            20.0,
            "smaller rank-and-role groups fall back to the rank alone, and smaller ranks to \
             everyone",
        ),
    ],
    detect: |r| Box::pin(detect_peer(r)),
    learn: None,
    // Complaints are read whole.
    context_days: |_| 0,
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
    learn: None,
    // Complaints are read whole.
    context_days: |_| 0,
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

/// The trailing windows of `window` days that end within the analysis
/// period, as (end day, first index, end index exclusive) of `list`: the
/// count only rises on a complaint date, so the ends worth looking at are
/// the period's first day and each complaint date within the period.
/// Windows holding no complaint are left out.
fn trailing_windows(
    list: &[(i32, String)],
    window: i32,
    (from, to): (i32, i32),
) -> impl Iterator<Item = (i32, usize, usize)> + '_ {
    std::iter::once(from)
        .chain(
            list.iter()
                .map(|(d, _)| *d)
                .filter(move |d| *d >= from && *d <= to),
        )
        .map(move |t| {
            let lo = list.partition_point(|(d, _)| *d <= t - window);
            let hi = list.partition_point(|(d, _)| *d <= t);
            (t, lo, hi)
        })
        .filter(|(_, lo, hi)| hi > lo)
}

/// The busiest trailing window ending within the period. Returns (count,
/// index of the first complaint, index of the last).
fn best_window(
    list: &[(i32, String)],
    window: i32,
    period: (i32, i32),
) -> Option<(usize, usize, usize)> {
    let mut best: Option<(usize, usize, usize)> = None;
    for (_, lo, hi) in trailing_windows(list, window, period) {
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

/// One window of one person: its complaints and how unlikely they are.
struct Tested {
    window: i32,
    /// Index of the first and last complaint in the window.
    lo: usize,
    hi: usize,
    /// Distinct days complaints were received on.
    occasions: usize,
    /// Expected occasions at the peer rate over the part of the window the
    /// records and the person's service cover.
    expected: f64,
    probability: f64,
}

/// The distinct received days among `list[lo..=hi]`.
fn occasions(list: &[(i32, String)]) -> usize {
    let mut days: Vec<i32> = list.iter().map(|(d, _)| *d).collect();
    days.dedup();
    days.len()
}

/// For one window length, the trailing window (ending on the period's first
/// day or on a complaint day within the period), among those with at least
/// `min` occasions, whose count is least likely
/// at `rate` per person-year, counting only the days of the window within
/// `covered` (the records' span and the person's service).
fn least_likely(
    list: &[(i32, String)],
    window: i32,
    period: (i32, i32),
    covered: (i32, i32),
    rate: f64,
    min: usize,
) -> Option<Tested> {
    let mut best: Option<Tested> = None;
    for (t, lo, hi) in trailing_windows(list, window, period) {
        let occ = occasions(&list[lo..hi]);
        if occ < min {
            continue;
        }
        let days = (t.min(covered.1) - (t - window + 1).max(covered.0) + 1).max(1);
        let expected = rate * f64::from(days) / 365.25;
        let probability = poisson_sf(occ as u32, expected);
        if best.as_ref().is_none_or(|b| probability < b.probability) {
            best = Some(Tested {
                window,
                lo,
                hi: hi - 1,
                occasions: occ,
                expected,
                probability,
            });
        }
    }
    best
}

async fn detect_peer(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let windows: Vec<i32> = ["short_window_days", "window_days", "long_window_days"]
        .iter()
        .map(|k| p.num(k).round() as i32)
        .filter(|w| *w > 0)
        .collect();
    let min = p.num("min_complaints").max(1.0) as usize;
    let alpha = p.num("max_probability");
    let min_group = p.num("min_peer_group") as usize;
    let period = run.period();
    let end = period.end;
    let (by, first_complaint, _) = complaints(run).await?;
    let people = common::people(run).await?;
    // Peer rates: complaint occasions per person-year over the span of the
    // records while in service. Complaints from before the recorded start
    // date (a transfer from another force brings its history) extend the
    // span back to the first of them.
    // Likewise complaints received after a recorded end date (they often
    // come late) extend it to the last of them.
    let span = |id: &str, info: &PersonInfo| -> (i32, i32) {
        let own = by.get(id);
        let own_first = own.and_then(|l| l.first()).map_or(i32::MAX, |c| c.0);
        let own_last = own.and_then(|l| l.last()).map_or(i32::MIN, |c| c.0);
        (
            info.start_date.min(own_first).max(first_complaint),
            info.end_date.unwrap_or(end).max(own_last).min(end),
        )
    };
    let exposure = |id: &str, info: &PersonInfo| -> f64 {
        let (from, to) = span(id, info);
        (f64::from(to - from + 1) / 365.25).max(0.0)
    };
    let mut group_years: HashMap<(String, String), (f64, usize, usize)> = HashMap::new();
    let mut rank_years: HashMap<String, (f64, usize, usize)> = HashMap::new();
    for (id, info) in &people {
        let n = by.get(id).map_or(0, |l| occasions(l));
        let e = exposure(id, info);
        let g = group_years.entry(info.peer_group()).or_default();
        g.0 += e;
        g.1 += n;
        g.2 += 1;
        let r = rank_years.entry(info.rank.clone()).or_default();
        r.0 += e;
        r.1 += n;
        r.2 += 1;
    }
    let all = rank_years
        .values()
        .fold((0.0, 0, 0), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + r.2));
    let lengths = windows.len().max(1) as f64;
    let mut out = vec![];
    for (person, list) in &by {
        let Some(info) = people.get(person) else {
            continue;
        };
        // The narrowest group with enough people: rank and role, the rank,
        // or (for the few at the top) everyone.
        let (years, count, size, group) = {
            let g = &group_years[&info.peer_group()];
            let r = &rank_years[&info.rank];
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
            } else if r.2 >= min_group {
                (r.0, r.1, r.2, format!("{}s", info.rank))
            } else {
                (all.0, all.1, all.2, "everyone".to_string())
            }
        };
        // Leave the person out of their own baseline; half a complaint added
        // to the peers' count (Jeffreys' prior) keeps a group whose others
        // have none from making every complaint "impossible".
        let rate =
            ((count - occasions(list)) as f64 + 0.5) / (years - exposure(person, info)).max(1.0);
        let Some(best) = windows
            .iter()
            .filter_map(|w| {
                least_likely(
                    list,
                    *w,
                    (period.start, period.end),
                    span(person, info),
                    rate,
                    min,
                )
            })
            .min_by(|a, b| a.probability.total_cmp(&b.probability))
        else {
            continue;
        };
        let corrected = (best.probability * lengths).min(1.0);
        if corrected > alpha {
            continue;
        }
        let Tested {
            window,
            lo,
            hi,
            occasions: n,
            expected,
            probability,
        } = best;
        let rows = hi - lo + 1;
        let tested: Vec<String> = windows.iter().map(|w| months(*w)).collect();
        let summary = format!(
            "{n} complaints in {} between {} and {}{}; peers ({group}, {size} people) receive \
             {:.2} a year, {expected:.2} in that window, so {n} or more would happen by chance \
             with probability {probability:.1e} ({corrected:.1e} allowing for the {} window \
             lengths tested: {}; windows end on the period's first day and on each complaint \
             day within it).",
            months(window),
            short_day(list[lo].0),
            short_day(list[hi].0),
            if rows > n {
                format!(" ({rows} complaints received on {n} days)")
            } else {
                String::new()
            },
            rate,
            tested.len(),
            tested.join(", "),
        );
        let score = (-corrected.max(1e-12).log10() / 8.0).clamp(0.3, 1.0);
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
            .fact("complaint_rows_in_window", rows as f64)
            .fact("window_days", f64::from(window))
            .fact_text("window", months(window))
            .fact("peer_rate_per_year", (rate * 1e4).round() / 1e4)
            .fact("peer_expected", (expected * 1e4).round() / 1e4)
            .fact("probability", probability)
            .fact("probability_corrected", corrected)
            .with_evidence(window_evidence(&list[lo..=hi])),
        );
    }
    Ok(out)
}

/// "12 months" for 365 days and the like.
fn months(days: i32) -> String {
    let m = (f64::from(days) / 30.44).round() as i32;
    if m >= 1 && (f64::from(days) - f64::from(m) * 30.44).abs() <= 4.0 {
        format!("{m} months")
    } else {
        format!("{days} days")
    }
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
