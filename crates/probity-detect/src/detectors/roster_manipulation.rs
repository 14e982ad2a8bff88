//! `roster_manipulation`: a person editing their own shifts so that they are
//! paid more — duty converted to overtime or rest-day working, a premium pay
//! code set, or the end time pushed out with nothing showing they stayed.

use std::collections::{BTreeMap, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, plural, short_day};
use crate::finding::Evidence;
use crate::run::{micros, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "roster_self_edit_pay",
    version: 1,
    scenario: Scenario::RosterManipulation,
    title: "Own roster edited for pay",
    purpose: "Finds people who edit their own shifts so that they are paid more: duty turned \
              into overtime or rest-day working, a premium pay code, or a later end time with \
              no swipe, session or look-up in the added hours. Edits by managers and \
              resourcing staff, and self-edits that move a shift without changing its length \
              or pay (swaps), are not counted.",
    needs: &[Table::Shifts, Table::RosterEdits, Table::People],
    uses: &[
        Table::BadgeCards,
        Table::BadgeEvents,
        Table::Devices,
        Table::DeviceSessions,
        Table::Accounts,
        Table::SystemQueries,
    ],
    identities: false,
    baseline: false,
    params: PARAMS,
    detect: |r| Box::pin(detect(r)),
};

const PARAMS: &[Param] = &[
    Param::num(
        "min_shifts",
        2.0,
        "pay-raising self-edited shifts needed for a finding",
    ),
    Param::num(
        "min_added_minutes",
        30.0,
        "a self-edit that lengthens a shift by at least this much raises pay",
    ),
    Param::num(
        "stay_evidence_after_minutes",
        20.0,
        "presence this long after the original end shows the person really stayed",
    ),
    Param::list(
        "paid_kinds",
        &["overtime", "rest_day_working"],
        "shift kinds paid at a premium",
    ),
    Param::list(
        "premium_pay_codes",
        &["OT", "OT15", "OT2", "OT20", "RDW", "BH", "PH"],
        "pay codes paid at a premium",
    ),
];

#[derive(Default)]
struct ShiftEdits {
    person: String,
    unit: String,
    start: i64,
    end: i64,
    edit_ids: Vec<String>,
    kind_to_paid: bool,
    premium_code: bool,
    start_delta: i64,
    end_delta: i64,
    unparsed: bool,
    last_edit: i64,
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let paid_kinds = p.list("paid_kinds");
    let codes = p.list("premium_pay_codes");
    let min_added = p.num("min_added_minutes") * 60e6;
    let stay_after = p.num("stay_evidence_after_minutes") * 60e6;
    let min_shifts = p.num("min_shifts").max(1.0) as usize;
    // Self-edits: the editor is the person whose shift it is.
    let q = "SELECT e.edit_id, e.shift_id, e.edited_at, e.field, e.old_value, e.new_value,
                    s.person_id, s.unit_id, s.start, s.\"end\"
             FROM roster_edits e JOIN shifts s ON e.shift_id = s.shift_id
             WHERE e.edited_by = s.person_id
             ORDER BY e.shift_id, e.edited_at, e.edit_id";
    let batches = run.sql(q).await?;
    let tz = run.tz();
    let mut shifts: BTreeMap<String, ShiftEdits> = BTreeMap::new();
    for b in &batches {
        let (eid, sid, field, old, new, pid, unit) = (
            strs(b, "edit_id"),
            strs(b, "shift_id"),
            strs(b, "field"),
            strs(b, "old_value"),
            strs(b, "new_value"),
            strs(b, "person_id"),
            strs(b, "unit_id"),
        );
        let (at, s, e) = (micros(b, "edited_at"), micros(b, "start"), micros(b, "end"));
        for i in 0..b.num_rows() {
            let se = shifts.entry(sid.value(i).to_string()).or_default();
            se.person = pid.value(i).to_string();
            se.unit = unit.value(i).to_string();
            se.start = s.value(i);
            se.end = e.value(i);
            se.edit_ids.push(eid.value(i).to_string());
            se.last_edit = se.last_edit.max(at.value(i));
            let (o, n) = (opt_str(&old, i), opt_str(&new, i));
            let delta = || -> Option<i64> {
                Some(tz.parse_timestamp(n?.trim()).ok()? - tz.parse_timestamp(o?.trim()).ok()?)
            };
            match field.value(i) {
                "kind" => {
                    let was_paid = o.is_some_and(|o| paid_kinds.iter().any(|k| k == o));
                    let now_paid = n.is_some_and(|n| paid_kinds.iter().any(|k| k == n));
                    se.kind_to_paid |= now_paid && !was_paid;
                }
                "pay_code" => {
                    let prem = |v: Option<&str>| {
                        v.is_some_and(|v| codes.iter().any(|c| c.eq_ignore_ascii_case(v.trim())))
                    };
                    se.premium_code |= prem(n) && !prem(o);
                }
                "start" => match delta() {
                    Some(d) => se.start_delta += d,
                    None => se.unparsed = true,
                },
                "end" => match delta() {
                    Some(d) => se.end_delta += d,
                    None => se.unparsed = true,
                },
                _ => {}
            }
        }
    }
    // Shifts lengthened: did anything show the person there after the
    // original end?
    let lengthened: Vec<(&String, &ShiftEdits)> = shifts
        .iter()
        .filter(|(_, s)| (s.end_delta - s.start_delta) as f64 >= min_added && s.end_delta > 0)
        .collect();
    let windows: Vec<(String, i64, i64)> = lengthened
        .iter()
        .map(|(_, s)| {
            let orig_end = s.end - s.end_delta;
            (s.person.clone(), orig_end + stay_after as i64, s.end)
        })
        .collect();
    let stayed = common::presence(run, &windows).await?;
    let stayed: HashMap<&String, bool> = lengthened
        .iter()
        .zip(&stayed)
        .map(|((id, _), p)| (*id, p.any()))
        .collect();

    struct Gain<'a> {
        shift: &'a str,
        edits: &'a ShiftEdits,
        converted: bool,
        added_min: i64,
        retro: bool,
        day: i32,
    }
    let mut by_person: BTreeMap<&str, Vec<Gain<'_>>> = BTreeMap::new();
    for (sid, s) in &shifts {
        let added = s.end_delta - s.start_delta;
        let converted = s.kind_to_paid || s.premium_code;
        let extended = added as f64 >= min_added && !stayed.get(sid).copied().unwrap_or(false);
        if !converted && !extended {
            continue;
        }
        let orig_end = s.end - s.end_delta;
        by_person.entry(&s.person).or_default().push(Gain {
            shift: sid,
            edits: s,
            converted,
            added_min: if extended { added / 60_000_000 } else { 0 },
            retro: s.last_edit > orig_end,
            day: probity_core::time::date_to_days(tz.local_date(s.start)),
        });
    }
    // Peers: pay-raising self-edited shifts per person in the same unit.
    let people = common::people(run).await?;
    let counts: HashMap<String, f64> = by_person
        .iter()
        .map(|(p, g)| (p.to_string(), g.len() as f64))
        .collect();
    let peer = common::peer_median(&people, &counts, |p| p.unit.clone());
    let mut out = vec![];
    for (person, gains) in by_person {
        if gains.len() < min_shifts {
            continue;
        }
        let n = gains.len();
        let converted = gains.iter().filter(|g| g.converted).count();
        let extended = gains.iter().filter(|g| g.added_min > 0).count();
        let added_hours = gains.iter().map(|g| g.added_min).sum::<i64>() as f64 / 60.0;
        let retro = gains.iter().filter(|g| g.retro).count();
        let first = gains.iter().map(|g| g.day).min().expect("non-empty");
        let last = gains.iter().map(|g| g.day).max().expect("non-empty");
        let unit = gains[0].edits.unit.clone();
        let unit_of_person = people.get(person).map_or(unit, |p| p.unit.clone());
        let median = peer.get(&unit_of_person).copied().unwrap_or(0.0);
        let mut parts = vec![];
        if converted > 0 {
            parts.push(format!(
                "converting {} to overtime, rest-day working or a premium pay code",
                plural(converted, "shift", "shifts")
            ));
        }
        if extended > 0 {
            parts.push(format!(
                "extending {} by {added_hours:.1} hours in total with no swipe, session or \
                 look-up after the original end",
                plural(extended, "shift", "shifts")
            ));
        }
        let summary = format!(
            "Edited own roster to raise pay on {} between {} and {}, {}; {} of them after the \
             shift had ended; unit peer median {}.",
            plural(n, "shift", "shifts"),
            short_day(first),
            short_day(last),
            parts.join(" and "),
            retro,
            median
        );
        let score = (0.45
            + 0.08 * n as f64
            + 0.25 * retro as f64 / n as f64
            + if median == 0.0 { 0.1 } else { 0.0 })
        .min(1.0);
        let evidence = gains.iter().flat_map(|g| {
            std::iter::once(Evidence::new(Table::Shifts, g.shift)).chain(
                g.edits
                    .edit_ids
                    .iter()
                    .map(|e| Evidence::new(Table::RosterEdits, e.as_str())),
            )
        });
        out.push(
            Finding::new(
                Scenario::RosterManipulation,
                DETECTOR.id,
                person,
                (first, last),
                score,
                summary,
            )
            .fact("shifts", n as f64)
            .fact("converted_shifts", converted as f64)
            .fact("extended_shifts", extended as f64)
            .fact("added_hours", added_hours)
            .fact("retrospective_shifts", retro as f64)
            .fact("unit_peer_median", median)
            .with_evidence(evidence.collect::<Vec<_>>()),
        );
    }
    Ok(out)
}
