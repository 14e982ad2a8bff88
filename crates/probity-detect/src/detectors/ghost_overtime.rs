//! `ghost_overtime`: overtime or rest-day working paid or claimed with
//! nothing at all showing the person at work during it.

use std::collections::BTreeMap;

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, plural, short_day};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "overtime_without_presence",
    version: 1,
    scenario: Scenario::GhostOvertime,
    title: "Overtime with no presence evidence",
    purpose: "Finds overtime and rest-day working that was paid or claimed while no swipe at \
              any site, no device session, no record look-up and no on-site device location \
              shows the person working. Court and training duty is away from police sites by \
              nature and is not tested; presence anywhere in the force counts, so unit moves \
              and work at other stations are not flagged.",
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
            "presence this long before the start or after the end still counts",
        ),
        Param::num(
            "min_shifts",
            1.0,
            "unevidenced overtime shifts or claims needed for a finding",
        ),
        Param::num(
            "min_hours",
            1.0,
            "overtime shorter than this is not tested (too short to leave a trace)",
        ),
    ],
    detect: |r| Box::pin(detect(r)),
};

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let grace = (run.params().num("grace_minutes") * 60e6) as i64;
    let min_shifts = run.params().num("min_shifts").max(1.0) as usize;
    let min_hours = run.params().num("min_hours");
    let ot: Vec<common::Overtime> = common::overtime(run)
        .await?
        .into_iter()
        .filter(|o| o.hours >= min_hours)
        .collect();
    let windows: Vec<(String, i64, i64)> = ot
        .iter()
        .map(|o| (o.person.clone(), o.start - grace, o.end + grace))
        .collect();
    let presence = common::presence(run, &windows).await?;
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ghost: BTreeMap<&str, Vec<&common::Overtime>> = BTreeMap::new();
    for (o, p) in ot.iter().zip(&presence) {
        *total.entry(&o.person).or_default() += 1;
        if !p.any() {
            ghost.entry(&o.person).or_default().push(o);
        }
    }
    let mut out = vec![];
    for (person, list) in ghost {
        if list.len() < min_shifts {
            continue;
        }
        let n = list.len();
        let all = total[person];
        let hours: f64 = list.iter().map(|o| o.hours).sum();
        let first = list.iter().map(|o| o.day).min().expect("non-empty");
        let last = list.iter().map(|o| o.day).max().expect("non-empty");
        let summary = format!(
            "{} of overtime or rest-day working ({hours:.1} hours) between {} and {} with no \
             swipe, device session, look-up or on-site location within {} minutes of the \
             hours; {} of the person's {} overtime shifts had presence evidence.",
            plural(n, "shift", "shifts"),
            short_day(first),
            short_day(last),
            grace / 60_000_000,
            all - n,
            all
        );
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
            .fact("unevidenced_hours", hours)
            .fact("overtime_shifts", all as f64)
            .with_evidence(list.iter().flat_map(|o| o.evidence()).collect::<Vec<_>>()),
        );
    }
    Ok(out)
}
