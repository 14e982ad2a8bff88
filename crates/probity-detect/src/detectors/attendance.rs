//! `attendance_breach`: office attendance below the person's own target over
//! the days they were due to work, or attendance faked by swiping in and
//! leaving within minutes to work remotely.

use std::collections::BTreeMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{plural, short_day};
use crate::finding::Evidence;
use crate::run::{dates, floats, ints, micros, strs, utc_day, windows_batch};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "office_attendance_shortfall",
    version: 1,
    scenario: Scenario::AttendanceBreach,
    title: "Office attendance below target, or badge-and-go",
    purpose: "Compares each hybrid or office worker's office days with their own \
              office_days_target, over the days they were rostered for ordinary duty only: \
              leave, sickness, training, court and part-time non-working days are not due \
              days. Also finds days when the person swiped in and out within minutes and then \
              worked over VPN or mobile (attendance faked for the record).",
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
            "flag when the attendance rate is at least this far below the target",
        ),
        Param::num(
            "min_due_days",
            20.0,
            "due days needed before a rate is judged",
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
    let q = "WITH tp AS (
                SELECT person_id, office_days_target AS target FROM people
                WHERE office_days_target IS NOT NULL AND work_pattern IN ('hybrid', 'office')),
             sh AS (
                SELECT s.shift_id, s.person_id, s.start, s.\"end\", s.kind,
                       local_date(s.start) AS day
                FROM tp JOIN shifts s ON tp.person_id = s.person_id),
             away AS (
                SELECT sh.shift_id FROM sh JOIN absences a ON a.person_id = sh.person_id
                  AND sh.day BETWEEN a.start_date AND a.end_date
                WHERE a.kind <> 'rest_day'
                UNION
                SELECT d.shift_id FROM sh d JOIN sh o ON o.person_id = d.person_id
                  AND o.day = d.day AND o.kind IN ('training', 'court'))
             SELECT sh.shift_id, sh.person_id, sh.start, sh.\"end\", sh.day, tp.target
             FROM sh JOIN tp ON tp.person_id = sh.person_id
             WHERE sh.kind = 'duty' AND sh.shift_id NOT IN (SELECT shift_id FROM away)
             ORDER BY sh.person_id, sh.start";
    let batches = run.sql(q).await?;
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
    if due.is_empty() {
        return Ok(vec![]);
    }
    // Swipes and remote sessions around each due shift (two hours either side).
    let margin = 2 * 3_600_000_000_i64;
    let rows: Vec<(i64, String, i64, i64)> = due
        .iter()
        .enumerate()
        .map(|(i, d)| (i as i64, d.person.clone(), d.start - margin, d.end + margin))
        .collect();
    run.register("attendance_windows", windows_batch(&rows))?;
    let (be, ss) = (utc_day("e.at"), utc_day("s.start"));
    let q = format!(
        "SELECT DISTINCT w.wid, e.event_id, e.at, e.direction FROM attendance_windows w
         JOIN badge_cards c ON c.person_id = w.person_id
         JOIN badge_events e ON e.card_id = c.card_id AND {be} = w.day
                     AND local_date(e.at) BETWEEN c.valid_from AND coalesce(c.valid_to, DATE '9999-12-31')
         WHERE e.at BETWEEN w.ws AND w.we"
    );
    let swipes = run.sql(&q).await;
    let q = format!(
        "SELECT DISTINCT w.wid, s.session_id, s.start FROM attendance_windows w
         JOIN devices d ON d.person_id = w.person_id
         JOIN device_sessions s ON s.device_id = d.device_id AND {ss} = w.day
                     AND local_date(s.start) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
         WHERE s.start BETWEEN w.ws AND w.we AND s.network IN ('vpn', 'mobile')"
    );
    let remote = run.sql(&q).await;
    run.deregister("attendance_windows")?;
    let mut logs: Vec<DayLog> = (0..due.len()).map(|_| DayLog::default()).collect();
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

    #[derive(Default)]
    struct Tally<'a> {
        target: f64,
        due: usize,
        office: usize,
        missed: Vec<&'a Due>,
        bag: Vec<(&'a Due, Vec<String>)>,
    }
    let mut per: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for (d, log) in due.iter().zip(logs.iter_mut()) {
        let t = per.entry(&d.person).or_default();
        t.target = d.target;
        t.due += 1;
        log.swipes.sort();
        match classify(log, d.end, office_us, short_us) {
            Day::Office => t.office += 1,
            Day::BadgeAndGo(ids) => {
                t.bag.push((d, ids));
                t.missed.push(d);
            }
            Day::Away => t.missed.push(d),
        }
    }
    let mut out = vec![];
    for (person, t) in per {
        let rate = t.office as f64 / t.due as f64;
        let shortfall = t.due >= min_due && rate <= t.target - tol;
        let faked = t.bag.len() >= min_bag;
        if !shortfall && !faked {
            continue;
        }
        let (Some(first), Some(last)) = (
            t.missed.iter().map(|d| d.day).min(),
            t.missed.iter().map(|d| d.day).max(),
        ) else {
            continue;
        };
        let mut summary = format!(
            "In the office on {} of {} due days ({:.0}%) against a target of {:.0}%",
            t.office,
            t.due,
            rate * 100.0,
            t.target * 100.0
        );
        if !t.bag.is_empty() {
            summary.push_str(&format!(
                "; on {} swiped in and out within {} minutes and then worked remotely",
                plural(t.bag.len(), "day", "days"),
                short_us / 60_000_000
            ));
        }
        summary.push_str(&format!(
            "; {} missed between {} and {} (leave, sickness, training and court are not due days).",
            plural(t.missed.len(), "due day", "due days"),
            short_day(first),
            short_day(last)
        ));
        let gap = ((t.target - rate) / t.target.max(0.05)).clamp(0.0, 1.0);
        let score = (0.4 + 0.5 * gap + 0.05 * t.bag.len() as f64).min(1.0);
        let mut ev: Vec<Evidence> = t
            .missed
            .iter()
            .map(|d| Evidence::new(Table::Shifts, d.shift.as_str()))
            .collect();
        for (_, ids) in &t.bag {
            ev.extend(
                ids.iter()
                    .map(|i| Evidence::new(Table::BadgeEvents, i.as_str())),
            );
        }
        out.push(
            Finding::new(
                Scenario::AttendanceBreach,
                DETECTOR.id,
                person,
                (first, last),
                score,
                summary,
            )
            .fact("due_days", t.due as f64)
            .fact("office_days", t.office as f64)
            .fact("missed_days", t.missed.len() as f64)
            .fact("target", t.target)
            .fact("rate", (rate * 1e4).round() / 1e4)
            .fact("badge_and_go_days", t.bag.len() as f64)
            .with_evidence(ev),
        );
    }
    Ok(out)
}

enum Day {
    Office,
    BadgeAndGo(Vec<String>),
    Away,
}

/// An office day: time on site (in→out pairs; an in with no later out
/// counts to the end of the shift) of at least `office_us`. Badge-and-go: a
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
        on_site += (shift_end - t).max(office_us);
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
