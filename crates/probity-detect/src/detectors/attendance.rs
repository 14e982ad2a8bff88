//! `attendance_breach`: office attendance below the person's own target over
//! the days they were due to work, or attendance faked by swiping in and
//! leaving within minutes to work remotely.

use std::collections::{BTreeMap, HashMap};

use probity_core::stats::BinomialTails;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, floats, ints, micros, strs, utc_day, windows_batch};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "office_attendance_shortfall",
    version: 2,
    scenario: Scenario::AttendanceBreach,
    title: "Office attendance below target, or badge-and-go",
    purpose: "Compares each hybrid or office worker's office days with their own \
              office_days_target, over the days they were rostered for ordinary duty only: \
              leave, sickness, training, court and part-time non-working days are not due \
              days. Over the whole period the rate must be below target by the tolerance; \
              within it, windows of four to thirteen weeks are scanned for a sustained \
              shortfall, reported only when so few office days would be very unlikely at the \
              target (binomial tail, corrected for the windows scanned), so a chance dip \
              does not trip it. Also finds days when the person swiped in and out within \
              minutes and then worked over VPN or mobile (attendance faked for the record).",
    needs: &[
        Table::People,
        Table::Shifts,
        Table::BadgeCards,
        Table::BadgeEvents,
    ],
    uses: &[Table::Absences, Table::Devices, Table::DeviceSessions],
    identities: false,
    baseline: false,
    params: &[
        Param::num(
            "tolerance",
            0.10,
            "flag when the attendance rate (over the period, or in a window) is at least this \
             far below the target",
        ),
        Param::num(
            "min_due_days",
            20.0,
            "due days needed before a rate is judged",
        ),
        Param::num(
            "window_weeks_min",
            4.0,
            "shortest window scanned for a shortfall confined to part of the period",
        ),
        Param::num("window_weeks_max", 13.0, "longest window scanned"),
        Param::num(
            "min_window_due_days",
            10.0,
            "due days a window needs before it is judged",
        ),
        Param::num(
            "max_probability",
            0.001,
            "report a window when a window as unlikely would turn up among those scanned at \
             most this often for someone coming in at the target (simulated)",
        ),
        Param::num(
            "min_office_minutes",
            120.0,
            "time on site that makes a due day an office day",
        ),
        Param::num(
            "badge_and_go_minutes",
            15.0,
            "a stay this short followed by remote work is badge-and-go",
        ),
        Param::num(
            "min_badge_and_go_days",
            3.0,
            "badge-and-go days that make a finding on their own",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // The longest window scanned.
    context_days: |p| (p.num("window_weeks_max").max(1.0) * 7.0) as u32,
};

struct Due {
    shift: String,
    person: String,
    day: i32,
    target: f64,
    start: i64,
    end: i64,
}

#[derive(Default)]
struct DayLog {
    swipes: Vec<(i64, bool, String)>,
    remote_starts: Vec<i64>,
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let tol = p.num("tolerance");
    let min_due = p.num("min_due_days") as usize;
    let office_us = (p.num("min_office_minutes") * 60e6) as i64;
    let short_us = (p.num("badge_and_go_minutes") * 60e6) as i64;
    let min_bag = p.num("min_badge_and_go_days").max(1.0) as usize;
    // Due days: ordinary duty shifts of people with a target, not covered by
    // an absence (other than a rest day) and not a training or court day.
    // The shifts of people with a target are read once and kept (a small
    // share of the force), then judged against absences and each other.
    let q = "SELECT s.shift_id, s.person_id, s.start, s.\"end\", s.kind,
                    local_date(s.start) AS day, tp.target
             FROM (SELECT person_id, office_days_target AS target FROM people
                   WHERE office_days_target IS NOT NULL
                     AND work_pattern IN ('hybrid', 'office')) tp
             JOIN shifts s ON tp.person_id = s.person_id";
    let batches = if run.register_rows("attendance_shifts", run.sql(q).await?)? {
        let q = "WITH away AS (
                    SELECT sh.shift_id FROM attendance_shifts sh JOIN absences a
                      ON a.person_id = sh.person_id AND sh.day BETWEEN a.start_date AND a.end_date
                    WHERE a.kind <> 'rest_day'
                    UNION
                    SELECT d.shift_id FROM attendance_shifts o JOIN attendance_shifts d
                      ON d.person_id = o.person_id AND d.day = o.day
                    WHERE o.kind IN ('training', 'court'))
                 SELECT sh.shift_id, sh.person_id, sh.start, sh.\"end\", sh.day, sh.target
                 FROM attendance_shifts sh
                 WHERE sh.kind = 'duty' AND sh.shift_id NOT IN (SELECT shift_id FROM away)
                 ORDER BY sh.person_id, sh.start";
        let due = run.sql(q).await;
        run.deregister("attendance_shifts")?;
        due?
    } else {
        vec![]
    };
    let mut due: Vec<Due> = vec![];
    for b in &batches {
        let (sid, pid) = (strs(b, "shift_id"), strs(b, "person_id"));
        let (s, e, d, t) = (
            micros(b, "start"),
            micros(b, "end"),
            dates(b, "day"),
            floats(b, "target"),
        );
        for i in 0..b.num_rows() {
            due.push(Due {
                shift: sid.value(i).to_string(),
                person: pid.value(i).to_string(),
                day: d.value(i),
                target: t.value(i),
                start: s.value(i),
                end: e.value(i),
            });
        }
    }
    // One due day counts once even if it has two duty shifts.
    due.dedup_by(|a, b| a.person == b.person && a.day == b.day);
    // Attendance is measured against rostered days: say how many people
    // with a target the roster gives none (a force that does not roster its
    // office staff cannot be judged here, and should know it).
    let with_target = run
        .sql(
            "SELECT count(*) AS n FROM people WHERE office_days_target IS NOT NULL \
             AND work_pattern IN ('hybrid', 'office')",
        )
        .await?;
    let with_target = with_target.first().map_or(0, |b| ints(b, "n").value(0));
    let judged = due
        .iter()
        .map(|d| d.person.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    if with_target > judged {
        run.note(format!(
            "{} of {with_target} people with an office target have no ordinary duty \
             rostered in the period (after leave, sickness, training and court) and were not \
             judged",
            with_target - judged
        ));
    }
    if due.is_empty() {
        return Ok(vec![]);
    }
    // Swipes and remote sessions around each due shift.
    let mut logs: Vec<DayLog> = (0..due.len()).map(|_| DayLog::default()).collect();
    let judged_only: Option<std::collections::HashSet<&str>> = match run.judged() {
        None => {
            let all: Vec<usize> = (0..due.len()).collect();
            day_logs(run, &due, &all, &mut logs).await?;
            None
        }
        Some(judged) => {
            // A run limited to a period reports a finding only if it
            // touches the period, and a finding runs from the first to the
            // last missed due day it cites: only someone who missed a due
            // day on or after the period's first day can have one. Read
            // those days for everyone first, then the whole context only
            // for the people who missed one of them.
            let recent: Vec<usize> = (0..due.len())
                .filter(|&i| due[i].day >= judged.start)
                .collect();
            day_logs(run, &due, &recent, &mut logs).await?;
            let missed: std::collections::HashSet<&str> = recent
                .iter()
                .filter(|&&i| {
                    !matches!(
                        classify(&logs[i], due[i].end, office_us, short_us),
                        Day::Office
                    )
                })
                .map(|&i| due[i].person.as_str())
                .collect();
            let earlier: Vec<usize> = (0..due.len())
                .filter(|&i| due[i].day < judged.start && missed.contains(due[i].person.as_str()))
                .collect();
            day_logs(run, &due, &earlier, &mut logs).await?;
            Some(missed)
        }
    };

    #[derive(Default)]
    struct Tally<'a> {
        target: f64,
        due: usize,
        office: usize,
        /// Every due day in order: (day, in the office).
        days: Vec<(i32, bool)>,
        missed: Vec<&'a Due>,
        bag: Vec<(&'a Due, Vec<String>)>,
    }
    let mut per: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for (d, log) in due.iter().zip(logs.iter()) {
        if judged_only
            .as_ref()
            .is_some_and(|p| !p.contains(d.person.as_str()))
        {
            continue;
        }
        let t = per.entry(&d.person).or_default();
        t.target = d.target;
        t.due += 1;
        let office = match classify(log, d.end, office_us, short_us) {
            Day::Office => {
                t.office += 1;
                true
            }
            Day::BadgeAndGo(ids) => {
                t.bag.push((d, ids));
                t.missed.push(d);
                false
            }
            Day::Away => {
                t.missed.push(d);
                false
            }
        };
        t.days.push((d.day, office));
    }
    let period = run.period();
    let scan = Scan {
        min_weeks: p.num("window_weeks_min").max(1.0) as i32,
        max_weeks: p.num("window_weeks_max").max(1.0) as i32,
        min_due: p.num("min_window_due_days").max(1.0) as u32,
        tolerance: tol,
        period: (period.start, period.end),
    };
    let alpha = p.num("max_probability");
    let mut tables = HashMap::new();
    let mut out = vec![];
    for (person, t) in per {
        let rate = t.office as f64 / t.due as f64;
        let whole = t.due >= min_due && rate <= t.target - tol;
        let window = scan
            .best(&t.days, t.target, alpha, person, &mut tables)
            .filter(|w| w.corrected <= alpha);
        let faked = t.bag.len() >= min_bag;
        if !whole && window.is_none() && !faked {
            continue;
        }
        // The span the finding is about: the whole period's missed days, or
        // the window's, or the badge-and-go days.
        let (lo, hi) = match (&window, whole) {
            (Some(w), false) => (w.from, w.to),
            _ if whole => (i32::MIN, i32::MAX),
            _ => (
                t.bag.iter().map(|(d, _)| d.day).min().unwrap_or(i32::MIN),
                t.bag.iter().map(|(d, _)| d.day).max().unwrap_or(i32::MAX),
            ),
        };
        let missed: Vec<&Due> = t
            .missed
            .iter()
            .copied()
            .filter(|d| d.day >= lo && d.day <= hi)
            .collect();
        let (Some(first), Some(last)) = (
            missed.iter().map(|d| d.day).min(),
            missed.iter().map(|d| d.day).max(),
        ) else {
            continue;
        };
        let mut summary = format!(
            "In the office on {} of {} due days ({:.0}%) over the period against a target of {:.0}%",
            t.office,
            t.due,
            rate * 100.0,
            t.target * 100.0
        );
        if let Some(w) = &window {
            summary.push_str(&format!(
                "; between {} and {} ({} weeks) on {} of {} due days ({:.0}%): coming in at {:.0}% \
                 of days, {} or fewer would happen by chance with probability {:.1e}, and a window this \
                 unlikely somewhere among the {} windows of {} to {} weeks scanned with \
                 probability {}{:.1e} ({})",
                short_day(w.from),
                short_day(w.to),
                w.weeks,
                w.office,
                w.due,
                w.rate * 100.0,
                t.target.min(MAX_MODELLED) * 100.0,
                w.office,
                w.probability,
                w.windows,
                scan.min_weeks,
                scan.max_weeks,
                if w.simulated { "" } else { "at most " },
                w.corrected,
                if w.simulated {
                    "simulated on the same due days"
                } else {
                    "Bonferroni over the windows"
                }
            ));
        }
        let bag_in: Vec<&(&Due, Vec<String>)> = t
            .bag
            .iter()
            .filter(|(d, _)| d.day >= lo && d.day <= hi)
            .collect();
        if !bag_in.is_empty() {
            summary.push_str(&format!(
                "; on {} swiped in and out within {} minutes and then worked remotely",
                plural(bag_in.len(), "day", "days"),
                short_us / 60_000_000
            ));
        }
        summary.push_str(&format!(
            "; {} missed between {} and {} (leave, sickness, training and court are not due days).",
            plural(missed.len(), "due day", "due days"),
            short_day(first),
            short_day(last)
        ));
        let gap_rate = window.as_ref().map_or(rate, |w| w.rate.min(rate));
        let gap = ((t.target - gap_rate) / t.target.max(0.05)).clamp(0.0, 1.0);
        let score = (0.4 + 0.5 * gap + 0.05 * bag_in.len() as f64).min(1.0);
        let mut ev: Vec<Evidence> = missed
            .iter()
            .map(|d| Evidence::new(Table::Shifts, d.shift.as_str()))
            .collect();
        for (_, ids) in &bag_in {
            ev.extend(
                ids.iter()
                    .map(|i| Evidence::new(Table::BadgeEvents, i.as_str())),
            );
        }
        let mut f = Finding::new(
            Scenario::AttendanceBreach,
            DETECTOR.id,
            person,
            (first, last),
            score,
            summary,
        )
        .fact("due_days", t.due as f64)
        .fact("office_days", t.office as f64)
        // The due days cited (those of the window found, if one was) and
        // those of the whole period.
        .fact("missed_days", missed.len() as f64)
        .fact(
            "missed_days_in_period",
            t.due.saturating_sub(t.office) as f64,
        )
        .fact("target", t.target)
        .fact("rate", (rate * 1e4).round() / 1e4)
        .fact("badge_and_go_days", bag_in.len() as f64);
        if let Some(w) = &window {
            f = f
                .fact_text(
                    "window",
                    format!(
                        "{} to {}",
                        probity_core::time::days_to_date(w.from),
                        probity_core::time::days_to_date(w.to)
                    ),
                )
                .fact("window_weeks", f64::from(w.weeks))
                .fact("window_due_days", f64::from(w.due))
                .fact("window_office_days", f64::from(w.office))
                .fact("window_rate", (w.rate * 1e4).round() / 1e4)
                .fact("window_probability", w.probability)
                .fact("window_probability_corrected", w.corrected)
                .fact("windows_scanned", f64::from(w.windows));
        }
        out.push(f.with_evidence(ev));
    }
    Ok(out)
}

/// Fills `logs[i]` for the due days `which` (indices into `due`): the
/// swipes and the remote sessions begun within two hours either side of
/// each due shift, swipes in order.
async fn day_logs(run: &Run, due: &[Due], which: &[usize], logs: &mut [DayLog]) -> Result<()> {
    if which.is_empty() {
        return Ok(());
    }
    let margin = 2 * 3_600_000_000_i64;
    let rows: Vec<(i64, String, i64, i64)> = which
        .iter()
        .map(|&i| {
            let d = &due[i];
            (i as i64, d.person.clone(), d.start - margin, d.end + margin)
        })
        .collect();
    let from = rows.iter().map(|r| r.2).min().unwrap_or(i64::MIN);
    let to = rows.iter().map(|r| r.3).max().unwrap_or(i64::MAX);
    run.register("attendance_windows", windows_batch(&rows))?;
    // Only the span the windows cover is read (all of the context, or a
    // limited run's latest days).
    run.register_slice("attendance_badge_events", Table::BadgeEvents, from, to)
        .await?;
    run.register_slice("attendance_sessions", Table::DeviceSessions, from, to)
        .await?;
    let (be, ss) = (utc_day("e.at"), utc_day("s.start"));
    let q = format!(
        "SELECT DISTINCT w.wid, e.event_id, e.at, e.direction FROM attendance_windows w
         JOIN badge_cards c ON c.person_id = w.person_id
         JOIN attendance_badge_events e ON e.card_id = c.card_id AND {be} = w.day
                     AND local_date(e.at) BETWEEN c.valid_from AND coalesce(c.valid_to, DATE '9999-12-31')
         WHERE e.at BETWEEN w.ws AND w.we"
    );
    let swipes = run.sql(&q).await;
    let q = format!(
        "SELECT DISTINCT w.wid, s.session_id, s.start FROM attendance_windows w
         JOIN devices d ON d.person_id = w.person_id
         JOIN attendance_sessions s ON s.device_id = d.device_id AND {ss} = w.day
                     AND local_date(s.start) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
         WHERE s.start BETWEEN w.ws AND w.we AND s.network IN ('vpn', 'mobile')"
    );
    let remote = run.sql(&q).await;
    for name in [
        "attendance_windows",
        "attendance_badge_events",
        "attendance_sessions",
    ] {
        run.deregister(name)?;
    }
    for b in &swipes? {
        let (w, id, at, dir) = (
            ints(b, "wid"),
            strs(b, "event_id"),
            micros(b, "at"),
            strs(b, "direction"),
        );
        for i in 0..b.num_rows() {
            logs[w.value(i) as usize].swipes.push((
                at.value(i),
                dir.value(i) == "in",
                id.value(i).to_string(),
            ));
        }
    }
    for b in &remote? {
        let (w, s) = (ints(b, "wid"), micros(b, "start"));
        for i in 0..b.num_rows() {
            logs[w.value(i) as usize].remote_starts.push(s.value(i));
        }
    }
    for &i in which {
        logs[i].swipes.sort();
    }
    Ok(())
}

/// The scan for a shortfall confined to part of the period.
struct Scan {
    min_weeks: i32,
    max_weeks: i32,
    min_due: u32,
    tolerance: f64,
    period: (i32, i32),
}

/// The highest chance of an office day the scan models: targets above it
/// are modelled at it.
const MAX_MODELLED: f64 = 0.9;

/// The most improbable window of a person's due days.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    from: i32,
    to: i32,
    weeks: i32,
    due: u32,
    office: u32,
    rate: f64,
    /// P(this few office days or fewer | the target), binomial.
    probability: f64,
    /// The chance that some window scanned would look at least this
    /// improbable if the person came in on each due day with probability
    /// equal to the target: by simulation on the person's own due days, or
    /// bounded from above by Bonferroni when that bound is already small.
    corrected: f64,
    /// Whether `corrected` was simulated (else it is the Bonferroni bound).
    simulated: bool,
    windows: u32,
}

impl Scan {
    /// The windows scanned over a person's due days: `min_weeks..=max_weeks`
    /// weeks, starting every week from the first due day and ending within
    /// the period, with at least `min_due` due days: (first index, end
    /// index, weeks).
    fn windows(&self, days: &[(i32, bool)]) -> Vec<(usize, usize, i32)> {
        let (Some(&(first, _)), Some(&(last, _))) = (days.first(), days.last()) else {
            return vec![];
        };
        let mut out = vec![];
        for weeks in self.min_weeks..=self.max_weeks {
            let len = weeks * 7;
            // Both ends only move forward as the window slides a week.
            let (mut lo, mut hi) = (0, 0);
            let mut start = first;
            while start <= last && start + len - 1 <= self.period.1.max(first + len - 1) {
                let end = start + len - 1;
                while lo < days.len() && days[lo].0 < start {
                    lo += 1;
                }
                while hi < days.len() && days[hi].0 <= end {
                    hi += 1;
                }
                if (hi - lo) as u32 >= self.min_due {
                    out.push((lo, hi, weeks));
                }
                start += 7;
            }
        }
        out
    }

    /// The window whose office days are least likely at the target (among
    /// those at least `tolerance` below it), and the chance of so unlikely a
    /// window somewhere in the scan: simulated only when the window alone is
    /// unlikely enough to matter (at most `alpha`), from a stream seeded by
    /// the person so that a run is repeatable.
    fn best(
        &self,
        days: &[(i32, bool)],
        target: f64,
        alpha: f64,
        seed: &str,
        tables: &mut HashMap<u64, BinomialTails>,
    ) -> Option<Window> {
        let windows = self.windows(days);
        let max_n = windows.iter().map(|(lo, hi, _)| hi - lo).max()?;
        // Chance is modelled at the target, but never above MAX_MODELLED: at
        // a target of 100% any missed day would be "impossible", and nobody
        // is in every day of a window by chance alone.
        let p = target.min(MAX_MODELLED);
        // Targets are few (60%, 80%): one table each, as long as the longest
        // window.
        let tails = tables
            .entry(p.to_bits())
            .and_modify(|t| {
                if t.max_n() < max_n {
                    *t = BinomialTails::new(max_n, p);
                }
            })
            .or_insert_with(|| BinomialTails::new(max_n.max(7 * self.max_weeks as usize), p));
        // The least likely window of a prefix sum of office days.
        let least = |prefix: &[usize]| -> Option<(f64, usize)> {
            let mut best: Option<(f64, usize)> = None;
            for (i, (lo, hi, _)) in windows.iter().enumerate() {
                let n = hi - lo;
                let k = prefix[*hi] - prefix[*lo];
                if k as f64 / n as f64 <= target - self.tolerance {
                    let p = tails.get(k, n);
                    if best.is_none_or(|b| p < b.0) {
                        best = Some((p, i));
                    }
                }
            }
            best
        };
        let mut prefix = vec![0usize; days.len() + 1];
        for (i, (_, o)) in days.iter().enumerate() {
            prefix[i + 1] = prefix[i] + usize::from(*o);
        }
        let (probability, i) = least(&prefix)?;
        let (lo, hi, weeks) = windows[i];
        // Bonferroni over the windows bounds the chance from above: when
        // even that bound is small enough, nothing needs simulating (the
        // clearest shortfalls); in between, simulation gives the exact
        // chance, which overlapping windows make much smaller.
        let bound = (probability * windows.len() as f64).min(1.0);
        let (corrected, simulated) = if probability > alpha {
            (1.0, false)
        } else if bound <= alpha {
            (bound, false)
        } else {
            // A draw is as extreme as the data when some window holds at most
            // as many office days as would make it as unlikely: one integer
            // comparison per window.
            // Windows too short to be that unlikely whatever happens are left
            // out of the check.
            let most: Vec<(usize, usize, usize)> = windows
                .iter()
                .filter_map(|(lo, hi, _)| {
                    let n = hi - lo;
                    (0..=n)
                        .take_while(|k| {
                            *k as f64 / n as f64 <= target - self.tolerance
                                && tails.get(*k, n) <= probability
                        })
                        .last()
                        .map(|m| (*lo, *hi, m))
                })
                .collect();
            let sim =
                probity_core::stats::scan_chance(days.len(), p, &most, alpha, seed.as_bytes());
            (sim.max(probability), true)
        };
        let office = (prefix[hi] - prefix[lo]) as u32;
        Some(Window {
            from: days[lo].0,
            to: days[hi - 1].0,
            weeks,
            due: (hi - lo) as u32,
            office,
            rate: f64::from(office) / (hi - lo) as f64,
            probability,
            corrected,
            simulated,
            windows: windows.len() as u32,
        })
    }
}

enum Day {
    Office,
    BadgeAndGo(Vec<String>),
    Away,
}

/// An office day: time on site (in→out pairs) of at least `office_us`, or
/// an in with no later out that day (a forgotten swipe-out is common and the
/// person has the benefit of the doubt: the day counts in full). Badge-and-go: a
/// stay of at most `short_us` followed by a remote session, and no longer
/// stay that day.
fn classify(log: &DayLog, shift_end: i64, office_us: i64, short_us: i64) -> Day {
    let mut on_site = 0;
    let mut open: Option<(i64, &str)> = None;
    let mut short: Option<(i64, Vec<String>)> = None;
    for (at, inward, id) in &log.swipes {
        if *inward {
            if open.is_none() {
                open = Some((*at, id));
            }
        } else if let Some((t, in_id)) = open.take() {
            let stay = at - t;
            on_site += stay;
            if stay <= short_us && short.is_none() {
                short = Some((*at, vec![in_id.to_string(), id.clone()]));
            }
        }
    }
    if let Some((t, _)) = open {
        on_site += (shift_end - t).max(office_us); // always enough: see above
    }
    if on_site >= office_us {
        return Day::Office;
    }
    if let Some((out_at, ids)) = short
        && log.remote_starts.iter().any(|s| *s >= out_at)
    {
        return Day::BadgeAndGo(ids);
    }
    Day::Away
}
