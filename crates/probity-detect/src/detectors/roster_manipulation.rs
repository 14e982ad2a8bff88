//! `roster_manipulation`: a person editing their own shifts so that they are
//! paid more — duty converted to overtime or rest-day working, a premium pay
//! code set, or the shift lengthened with nothing showing they stayed.
//!
//! Which pay codes are premium is learned from the store's own shifts (see
//! [`super::vocabulary::learn_pay_codes`]): forces name their codes
//! differently and change them from year to year.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use probity_core::Scenario;
use probity_core::schema::Table;

use super::common::{self, plural, short_day};
use super::vocabulary::{self, CodeClass, Field, PayCodes};
use crate::finding::Evidence;
use crate::run::{dates, micros, opt_str, strs};
use crate::{Detector, Finding, Param, Result, Run};

/// The detector.
pub const DETECTOR: Detector = Detector {
    id: "roster_self_edit_pay",
    version: 2,
    scenario: Scenario::RosterManipulation,
    title: "Own roster edited for pay",
    purpose: "Finds people who edit their own shifts so that they are paid more: duty turned \
              into overtime or rest-day working, a premium pay code, or a longer shift with \
              no swipe, session or look-up in the added hours. Which pay codes are premium is \
              learned from the store's own shifts (codes borne by overtime and rest-day \
              working, and codes most duty shifts carry on public holidays), and a holiday \
              code set on a holiday is an entitlement, not a gain. Edits by managers and \
              resourcing staff, and self-edits that move a shift without changing its length \
              or pay (swaps), are not counted; codes, kinds and fields it cannot read are \
              reported, never taken as no change.",
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
    learn: Some(|r| Box::pin(learn(r))),
    // A quarter of shifts: enough to learn the pay codes and to count the
    // self-edits of recent weeks.
    context_days: |_| 91,
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
        "presence this long past the original end (or before the original start) shows \
         the person really stayed",
    ),
    Param::list(
        "paid_kinds",
        &["overtime", "rest_day_working"],
        "shift kinds paid at a premium",
    ),
    Param::list(
        "premium_pay_codes",
        &[],
        "pay codes paid at a premium whatever the data say (an override: by default the \
         store's own vocabulary is learned from its shifts)",
    ),
    Param::list(
        "standard_pay_codes",
        &[],
        "pay codes never premium (an override of what is learned)",
    ),
];

#[derive(Default)]
struct ShiftEdits {
    person: String,
    unit: String,
    start: i64,
    end: i64,
    day: i32,
    /// Local date of the shift's end (a night shift ends the next day).
    end_day: i32,
    edit_ids: Vec<String>,
    kind_to_paid: bool,
    /// Whether the shift is of a paid kind as it stands.
    paid_now: bool,
    /// Whether the shift was of a paid kind before its holder's edits (the
    /// first readable kind edit's old value, else the kind it has).
    was_paid_kind: Option<bool>,
    /// Premium codes set (learned class in words).
    premium_codes: Vec<String>,
    /// Unknown codes set.
    unknown_codes: Vec<String>,
    start_delta: i64,
    end_delta: i64,
    last_edit: i64,
}

/// What could not be read in the store's self-edits, by kind and value.
#[derive(Default, serde::Serialize)]
struct Unread {
    /// Pay codes no unedited shift carries: their rate is unknown.
    codes: BTreeMap<String, u32>,
    /// Shift-kind values not recognised.
    kinds: BTreeMap<String, u32>,
    /// Time values not readable.
    times: BTreeMap<String, u32>,
    /// Field names not recognised.
    fields: BTreeMap<String, u32>,
}

/// Self-edits (the editor is the person whose shift it is), with the shift
/// as it stands.
async fn self_edits(run: &Run) -> Result<Vec<arrow::array::RecordBatch>> {
    run.sql(
        "SELECT e.edit_id, e.shift_id, e.edited_at, e.field, e.old_value, e.new_value,
                s.person_id, s.unit_id, s.start, s.\"end\", local_date(s.start) AS day,
                local_date(s.\"end\") AS end_day, s.kind, upper(trim(coalesce(s.pay_code, ''))) AS code
         FROM roster_edits e JOIN shifts s ON e.shift_id = s.shift_id
         WHERE e.edited_by = s.person_id
         ORDER BY e.shift_id, e.edited_at, e.edit_id",
    )
    .await
}

/// The code, kind and day of each self-edited shift, once per shift.
fn edited_shifts(batches: &[arrow::array::RecordBatch]) -> Vec<(String, String, i32)> {
    let mut seen: BTreeMap<String, (String, String, i32)> = BTreeMap::new();
    for b in batches {
        let (sid, code, kind, day) = (
            strs(b, "shift_id"),
            strs(b, "code"),
            strs(b, "kind"),
            dates(b, "day"),
        );
        for i in 0..b.num_rows() {
            seen.entry(sid.value(i).to_string()).or_insert_with(|| {
                (
                    code.value(i).to_string(),
                    kind.value(i).to_string(),
                    day.value(i),
                )
            });
        }
    }
    seen.into_values().collect()
}

async fn vocabulary(run: &Run, edits: &[arrow::array::RecordBatch]) -> Result<PayCodes> {
    let p = run.params();
    let v = vocabulary::learn_pay_codes(
        run,
        &edited_shifts(edits),
        p.list("paid_kinds"),
        p.list("premium_pay_codes"),
        p.list("standard_pay_codes"),
    )
    .await?;
    run.learned("pay_codes", &v);
    Ok(v)
}

async fn learn(run: &Run) -> Result<()> {
    let edits = self_edits(run).await?;
    let v = vocabulary(run, &edits).await?;
    // The field names of self-edits, as read.
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for b in &edits {
        let f = strs(b, "field");
        for i in 0..b.num_rows() {
            let raw = f.value(i).to_string();
            let read = vocabulary::field_of(&raw).map_or("not understood".to_string(), |f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            });
            fields.insert(raw, read);
        }
    }
    run.learned("edit_fields", &fields);
    let premium = v.of(CodeClass::premium);
    run.note(format!(
        "pay codes learned: premium {}; standard {}",
        if premium.is_empty() {
            "none".to_string()
        } else {
            premium.join(", ")
        },
        v.of(|c| c == CodeClass::Standard).join(", ")
    ));
    Ok(())
}

async fn detect(run: &Run) -> Result<Vec<Finding>> {
    let p = run.params();
    let paid_kinds = p.list("paid_kinds");
    let min_added = p.num("min_added_minutes") * 60e6;
    let stay_after = (p.num("stay_evidence_after_minutes") * 60e6) as i64;
    let min_shifts = p.num("min_shifts").max(1.0) as usize;
    let batches = self_edits(run).await?;
    let codes = vocabulary(run, &batches).await?;
    let tz = run.tz();
    let mut shifts: BTreeMap<String, ShiftEdits> = BTreeMap::new();
    let mut unread = Unread::default();
    let mut entitled = 0u32;
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
        let (day, end_day, kind) = (dates(b, "day"), dates(b, "end_day"), strs(b, "kind"));
        let paid = |k: Option<&str>| k.is_some_and(|k| paid_kinds.iter().any(|p| p == k));
        for i in 0..b.num_rows() {
            let se = shifts.entry(sid.value(i).to_string()).or_default();
            se.person = pid.value(i).to_string();
            se.unit = unit.value(i).to_string();
            se.start = s.value(i);
            se.end = e.value(i);
            se.day = day.value(i);
            se.end_day = end_day.value(i);
            se.paid_now = paid(Some(kind.value(i)));
            se.edit_ids.push(eid.value(i).to_string());
            se.last_edit = se.last_edit.max(at.value(i));
            let (o, n) = (opt_str(&old, i), opt_str(&new, i));
            let raw_field = field.value(i);
            match vocabulary::field_of(raw_field) {
                Some(Field::Kind) => {
                    let mut read = |v: Option<&str>| -> Option<&'static str> {
                        let v = v.filter(|v| !v.trim().is_empty())?;
                        let k = vocabulary::kind_of(v);
                        if k.is_none() {
                            *unread.kinds.entry(v.trim().to_string()).or_default() += 1;
                        }
                        k
                    };
                    let (was, now) = (read(o), read(n));
                    if se.was_paid_kind.is_none() && was.is_some() {
                        se.was_paid_kind = Some(paid(was));
                    }
                    se.kind_to_paid |= paid(now) && !paid(was);
                }
                Some(Field::PayCode) => {
                    let (was, now) = (vocabulary::code_key(o), vocabulary::code_key(n));
                    let premium = |c: &str| codes.class(c).is_some_and(CodeClass::premium);
                    match codes.class(&now) {
                        _ if now == was || now.is_empty() => {}
                        Some(CodeClass::PremiumHoliday)
                            if codes.holiday(&now, se.day) || codes.holiday(&now, se.end_day) =>
                        {
                            // The holiday rate on a holiday: an entitlement.
                            entitled += 1;
                        }
                        Some(c) if c.premium() && !premium(&was) => {
                            if !se.premium_codes.contains(&now) {
                                se.premium_codes.push(now);
                            }
                        }
                        Some(_) => {}
                        None => {
                            *unread.codes.entry(now.clone()).or_default() += 1;
                            se.unknown_codes.push(now);
                        }
                    }
                }
                Some(f @ (Field::Start | Field::End)) => {
                    match o.zip(n).and_then(|(o, n)| vocabulary::time_delta(tz, o, n)) {
                        Some(d) if f == Field::Start => se.start_delta += d,
                        Some(d) => se.end_delta += d,
                        None => {
                            let v = format!("{} -> {}", o.unwrap_or(""), n.unwrap_or(""));
                            *unread.times.entry(v).or_default() += 1;
                        }
                    }
                }
                None => *unread.fields.entry(raw_field.to_string()).or_default() += 1,
            }
        }
    }
    // A premium code set on a shift that was already overtime or rest-day
    // working corrects its code rather than raising its pay.
    let mut recoded = 0u32;
    for se in shifts.values_mut() {
        if se.was_paid_kind.unwrap_or(se.paid_now) && !se.premium_codes.is_empty() {
            recoded += se.premium_codes.len() as u32;
            se.premium_codes.clear();
        }
    }
    if recoded > 0 {
        run.note(format!(
            "{recoded} self-edits set a premium pay code on a shift already of a paid kind \
             (overtime or rest-day working): a correction of its code, not counted"
        ));
    }
    report_unread(run, &unread, entitled);
    // Shifts lengthened: did anything show the person there in the added
    // time, past a short grace?
    let lengthened: Vec<(&String, &ShiftEdits)> = shifts
        .iter()
        .filter(|(_, s)| (s.end_delta - s.start_delta) as f64 >= min_added)
        .collect();
    // The time added at each end (from, to, minutes added): the window is
    // empty when the addition is no longer than the grace.
    let added_sides = |s: &ShiftEdits| -> Vec<(i64, i64, i64)> {
        let mut w = vec![];
        if s.end_delta > 0 {
            w.push((s.end - s.end_delta + stay_after, s.end, s.end_delta));
        }
        if s.start_delta < 0 {
            w.push((
                s.start,
                s.start - s.start_delta - stay_after,
                -s.start_delta,
            ));
        }
        w
    };
    let windows: Vec<common::Window> = lengthened
        .iter()
        .flat_map(|(_, s)| {
            added_sides(s)
                .into_iter()
                .filter(|(from, to, _)| from < to)
                .map(|(from, to, _)| common::Window {
                    person: s.person.clone(),
                    from,
                    to,
                })
        })
        .collect();
    let traces = common::traces(run, &windows, 16 * 3_600_000_000, 500.0, |_, t| {
        t.is_empty()
    })
    .await?;
    // Each side judged on its own: time added at the end with a swipe in
    // it does not excuse time added at the start with nothing. A side with
    // presence past the grace counts as worked in full; a side no longer
    // than the grace cannot be judged and is not counted.
    let mut shown: HashMap<&String, i64> = HashMap::new();
    let mut k = 0;
    for (id, s) in &lengthened {
        for (from, to, add) in added_sides(s) {
            let worked = if from < to {
                k += 1;
                common::cover(&traces[k - 1], from, to, 0).any()
            } else {
                true
            };
            if worked {
                *shown.entry(id).or_default() += add;
            }
        }
    }

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
        // Added minutes with nothing showing the person there.
        let added = (s.end_delta - s.start_delta - shown.get(sid).copied().unwrap_or(0)).max(0);
        let converted = s.kind_to_paid || !s.premium_codes.is_empty();
        let extended = added as f64 >= min_added;
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
            day: s.day,
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
        let kinds = gains.iter().filter(|g| g.edits.kind_to_paid).count();
        let coded: Vec<&Gain<'_>> = gains
            .iter()
            .filter(|g| !g.edits.premium_codes.is_empty())
            .collect();
        let code_names: BTreeSet<&str> = coded
            .iter()
            .flat_map(|g| g.edits.premium_codes.iter().map(String::as_str))
            .collect();
        let converted = gains.iter().filter(|g| g.converted).count();
        let extended = gains.iter().filter(|g| g.added_min > 0).count();
        let added_hours = gains.iter().map(|g| g.added_min).sum::<i64>() as f64 / 60.0;
        let retro = gains.iter().filter(|g| g.retro).count();
        let unknown: BTreeSet<&str> = gains
            .iter()
            .flat_map(|g| g.edits.unknown_codes.iter().map(String::as_str))
            .collect();
        let first = gains.iter().map(|g| g.day).min().expect("non-empty");
        let last = gains.iter().map(|g| g.day).max().expect("non-empty");
        let unit = gains[0].edits.unit.clone();
        let unit_of_person = people.get(person).map_or(unit, |p| p.unit.clone());
        let median = peer.get(&unit_of_person).copied().unwrap_or(0.0);
        let mut parts = vec![];
        if kinds > 0 {
            parts.push(format!(
                "changing {} to overtime or rest-day working",
                plural(kinds, "shift", "shifts")
            ));
        }
        if !coded.is_empty() {
            let learned: Vec<String> = code_names
                .iter()
                .map(|c| match codes.codes.get(*c) {
                    Some(u) => match u.class {
                        CodeClass::PremiumHoliday => format!(
                            "{c} (learned: the code most duty shifts carry on {} public \
                             holiday{}, set here on ordinary days)",
                            u.dominant_days.len(),
                            if u.dominant_days.len() == 1 { "" } else { "s" }
                        ),
                        CodeClass::PremiumConfigured => {
                            format!("{c} (premium by this store's configuration)")
                        }
                        _ => format!(
                            "{c} (learned: borne by {} of its {} shifts that are overtime or \
                             rest-day working)",
                            u.paid_kind_shifts, u.shifts
                        ),
                    },
                    None => c.to_string(),
                })
                .collect();
            parts.push(format!(
                "setting premium pay code {} on {}",
                learned.join(" and "),
                plural(coded.len(), "shift", "shifts")
            ));
        }
        if extended > 0 {
            parts.push(format!(
                "lengthening {} by {added_hours:.1} hours in total with no swipe, session or \
                 look-up in the added time",
                plural(extended, "shift", "shifts")
            ));
        }
        let mut summary = format!(
            "Edited own roster to raise pay on {} between {} and {}, {}; {} of them after the \
             shift had ended; unit peer median {}",
            plural(n, "shift", "shifts"),
            short_day(first),
            short_day(last),
            parts.join(", "),
            retro,
            median
        );
        if !unknown.is_empty() {
            summary.push_str(&format!(
                "; also set pay code{} {} that no other shift carries (rate unknown)",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        summary.push('.');
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
        let mut f = Finding::new(
            Scenario::RosterManipulation,
            DETECTOR.id,
            person,
            (first, last),
            score,
            summary,
        )
        .fact("shifts", n as f64)
        .fact("converted_shifts", converted as f64)
        .fact("kind_changed_shifts", kinds as f64)
        .fact("premium_code_shifts", coded.len() as f64)
        .fact("extended_shifts", extended as f64)
        .fact("added_hours", added_hours)
        .fact("retrospective_shifts", retro as f64)
        .fact("unit_peer_median", median);
        if !code_names.is_empty() {
            f = f.fact_text(
                "premium_codes_learned",
                code_names.iter().copied().collect::<Vec<_>>().join(", "),
            );
        }
        if !unknown.is_empty() {
            f = f.fact_text(
                "unknown_codes",
                unknown.iter().copied().collect::<Vec<_>>().join(", "),
            );
        }
        out.push(f.with_evidence(evidence.collect::<Vec<_>>()));
    }
    Ok(out)
}

/// Says what could not be read, so that a force can name its codes in
/// `probity.toml` instead of losing findings silently.
fn report_unread(run: &Run, u: &Unread, entitled: u32) {
    let list = |m: &BTreeMap<String, u32>| {
        m.iter()
            .map(|(k, n)| format!("{k:?} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !u.codes.is_empty() {
        run.note(format!(
            "pay codes set by self-edits that no other shift carries, so their rate is unknown \
             (name them in [detectors.{}] premium_pay_codes or standard_pay_codes): {}",
            DETECTOR.id,
            list(&u.codes)
        ));
    }
    if !u.kinds.is_empty() {
        run.note(format!(
            "shift kinds in self-edits not recognised: {}",
            list(&u.kinds)
        ));
    }
    if !u.times.is_empty() {
        run.note(format!(
            "edited times not readable (the shift's length change is unknown): {}",
            list(&u.times)
        ));
    }
    if !u.fields.is_empty() {
        run.note(format!(
            "fields of self-edits not recognised (not judged): {}",
            list(&u.fields)
        ));
    }
    if entitled > 0 {
        run.note(format!(
            "{entitled} self-edits set a holiday pay code on a public holiday: an entitlement, \
             not counted"
        ));
    }
    run.learned("unread", u);
}
