//! `ghost_overtime`: overtime or rest-day working paid or claimed with
//! nothing showing the person at work during the hours claimed.

use std::collections::BTreeMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, Window, plural, short_day};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "overtime_without_presence",
    version: 2,
    scenario: Scenario::GhostOvertime,
    title: "Overtime with no presence evidence",
    purpose: "Finds overtime and rest-day working that was paid or claimed while nothing \
              shows the person working in the hours claimed: no swipe or stay at any site, \
              device session, record look-up, on-site device location or device movement \
              (as on patrol) inside those hours. Evidence must lie inside the claim past a \
              short grace after its start, so the swipe-out that ends a rostered shift does \
              not evidence an extension claimed after it; long claims need a share of their \
              hours covered. Court, training and on-call duty is away from police sites (or at \
              home) by nature and is not tested; presence anywhere in the force counts, so unit moves and \
              work at other stations are not flagged.",
    needs: &[Table::Shifts, Table::BadgeCards, Table::BadgeEvents],
    uses: &[
        Table::OvertimeClaims,
        Table::Devices,
        Table::DeviceSessions,
        Table::Accounts,
        Table::SystemQueries,
        Table::DeviceLocations,
        Table::Sites,
    ],
    identities: false,
    baseline: false,
    params: &[
        Param::num(
            "grace_minutes",
            30.0,
            "evidence in a claim's first minutes does not count (a claim shorter than four \
             times this uses a quarter of its length)",
        ),
        Param::num(
            "long_claim_hours",
            4.0,
            "claims at least this long need a share of their hours covered",
        ),
        Param::num(
            "min_covered_share",
            0.25,
            "share of a long claim's hours (after the grace) that presence must cover",
        ),
        Param::num(
            "evidence_radius_minutes",
            30.0,
            "a swipe, look-up or on-site location covers this long either side of it",
        ),
        Param::num(
            "movement_metres",
            500.0,
            "consecutive off-site device locations this far apart (within two hours) show \
             the person moving, as on patrol",
        ),
        Param::num(
            "min_shifts",
            1.0,
            "unevidenced overtime shifts or claims needed for a finding",
        ),
        Param::list(
            "untested_kinds",
            &["court", "training", "on_call"],
            "shift kinds worked away from police sites or at home by nature (a claim naming \
             such a shift is not tested)",
        ),
        Param::num(
            "min_hours",
            1.0,
            "overtime shorter than this is not tested (too short to leave a trace)",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
    learn: None,
    // Swipes from the evening before, sessions begun up to two days before.
    context_days: |_| 2,
};

/// How a claim's hours were tested.
struct Tested {
    o: common::Overtime,
    cover: common::Cover,
}

/// The rule: something inside the claim past its grace, and for a long claim
/// a share of the hours covered.
struct Rule {
    grace: i64,
    long_us: i64,
    share: f64,
    radius: i64,
}

impl Rule {
    fn from(&self, o: &common::Overtime) -> i64 {
        o.start + self.grace.min((o.end - o.start) / 4)
    }

    fn judge(&self, o: &common::Overtime, traces: &[common::Trace]) -> (common::Cover, bool) {
        let from = self.from(o);
        let c = common::cover(traces, from, o.end, self.radius);
        let long = o.end - o.start >= self.long_us;
        let share = c.covered as f64 / (o.end - from).max(1) as f64;
        let ok = c.any() && (!long || share >= self.share);
        (c, ok)
    }
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let minute = 60_000_000_f64;
    let rule = Rule {
        grace: (p.num("grace_minutes") * minute) as i64,
        long_us: (p.num("long_claim_hours") * 60.0 * minute) as i64,
        share: p.num("min_covered_share"),
        radius: (p.num("evidence_radius_minutes") * minute) as i64,
    };
    let min_shifts = p.num("min_shifts").max(1.0) as usize;
    let min_hours = p.num("min_hours");
    let ot: Vec<common::Overtime> = common::overtime(run, p.list("untested_kinds"))
        .await?
        .into_iter()
        .filter(|o| o.hours >= min_hours && o.end > o.start)
        // Limited to a period: the claims of that period; the days before
        // it are read only as their context.
        .filter(|o| {
            run.judged()
                .is_none_or(|j| (j.start..=j.end).contains(&o.day))
        })
        .collect();
    let windows: Vec<Window> = ot
        .iter()
        .map(|o| Window {
            person: o.person.clone(),
            from: o.start,
            to: o.end,
        })
        .collect();
    // Swipes from 16 hours before, so that a stay begun earlier is paired
    // with its "out"; locations only where the rest leaves a claim
    // unevidenced.
    let traces = common::traces(
        run,
        &windows,
        16 * 3_600_000_000,
        p.num("movement_metres"),
        |i, t| !rule.judge(&ot[i], t).1,
    )
    .await?;
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unevidenced: Vec<Tested> = vec![];
    for (o, t) in ot.iter().zip(&traces) {
        *total.entry(&o.person).or_default() += 1;
        let (cover, evidenced) = rule.judge(o, t);
        if !evidenced {
            unevidenced.push(Tested {
                o: o.clone(),
                cover,
            });
        }
    }
    // A claim extending a rostered shift belongs to that shift's day too.
    {
        let mut items: Vec<&mut common::Overtime> =
            unevidenced.iter_mut().map(|t| &mut t.o).collect();
        common::find_extensions(run, &mut items).await?;
    }
    let mut ghost: BTreeMap<&str, Vec<&Tested>> = BTreeMap::new();
    for t in &unevidenced {
        ghost.entry(&t.o.person).or_default().push(t);
    }
    let grace_min = rule.grace / 60_000_000;
    let mut out = vec![];
    for (person, list) in ghost {
        if list.len() < min_shifts {
            continue;
        }
        let n = list.len();
        let all = total[person];
        let hours: f64 = list.iter().map(|t| t.o.hours).sum();
        let covered: f64 = list.iter().map(|t| t.cover.covered as f64 / 3.6e9).sum();
        let tested_hours: f64 = list
            .iter()
            .map(|t| (t.o.end - rule.from(&t.o)) as f64 / 3.6e9)
            .sum();
        let uncovered = (tested_hours - covered).max(0.0);
        let partial = list.iter().filter(|t| t.cover.any()).count();
        let ext = list.iter().filter(|t| t.o.extends.is_some()).count();
        let first = list
            .iter()
            .map(|t| t.o.extends.map_or(t.o.day, |d| d.min(t.o.day)))
            .min()
            .expect("non-empty");
        let last = list.iter().map(|t| t.o.day).max().expect("non-empty");
        let mut parts = vec![format!(
            "{} of overtime or rest-day working claimed or paid ({hours:.1} hours) between {} \
             and {}; inside those hours, past the first {grace_min} minutes of each (a quarter \
             of any claim under {} minutes), presence covers {covered:.1} hours and leaves \
             {uncovered:.1} uncovered",
            plural(n, "shift", "shifts"),
            short_day(first),
            short_day(last),
            4 * grace_min,
        )];
        if partial > 0 {
            parts.push(format!(
                "{} a long claim with presence on too small a share of its hours",
                if partial == 1 {
                    "1 is".to_string()
                } else {
                    format!("{partial} are")
                }
            ));
        }
        if ext > 0 {
            parts.push(format!(
                "{} {} a rostered shift (a swipe at that shift's end is not evidence of the \
                 hours after it)",
                plural(ext, "claim", "claims"),
                if ext == 1 { "extends" } else { "extend" }
            ));
        }
        parts.push(format!(
            "{} of the person's {} overtime shifts or claims had presence evidence",
            all - n,
            all
        ));
        let summary = format!("{}.", parts.join("; "));
        let score = (0.5 + 0.1 * n as f64 + 0.2 * n as f64 / all as f64).min(1.0);
        out.push(
            Finding::new(
                Scenario::GhostOvertime,
                DETECTOR.id,
                person,
                (first, last),
                score,
                summary,
            )
            .fact("unevidenced_shifts", n as f64)
            .fact("unevidenced_hours", round2(hours))
            .fact("covered_hours", round2(covered))
            .fact("uncovered_hours", round2(uncovered))
            .fact("partly_covered_claims", partial as f64)
            .fact("extensions_of_rostered_shifts", ext as f64)
            .fact("grace_minutes", grace_min as f64)
            .fact("overtime_shifts", all as f64)
            .with_evidence(list.iter().flat_map(|t| t.o.evidence()).collect::<Vec<_>>()),
        );
    }
    Ok(out)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
