//! What the web UI reads from the store: the findings register (brought
//! into review), people's units, and one person's activity for a timeline
//! — only from the data categories the finding's purpose enables.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::civil::Date;
use probity_core::Table;
use probity_govern::Register;
use probity_policy::{Category, Governance};
use probity_review::{Incoming, ReviewDb};
use probity_store::Store;

use crate::Result;
use crate::svg::Timeline;

/// Each person's unit (pseudonyms as stored), from `people`.
pub async fn person_units(store: &Store) -> Result<BTreeMap<String, String>> {
    let ctx = store.session_context()?;
    let mut out = BTreeMap::new();
    let Ok(df) = ctx.sql("SELECT person_id, unit_id FROM people").await else {
        return Ok(out);
    };
    let Ok(batches) = df.collect().await else {
        return Ok(out);
    };
    for b in &batches {
        let p = probity_detect::strs(b, "person_id");
        let u = probity_detect::strs(b, "unit_id");
        for i in 0..b.num_rows() {
            if let (Some(p), Some(u)) = (
                probity_detect::opt_str(&p, i),
                probity_detect::opt_str(&u, i),
            ) {
                out.insert(p.to_string(), u.to_string());
            }
        }
    }
    Ok(out)
}

/// Brings the register's findings into review (new ones with their
/// register status) and forgets those retention purged. Returns how many
/// were added.
pub async fn sync_register(
    store: &Store,
    db: &ReviewDb,
    units: &BTreeMap<String, String>,
) -> Result<usize> {
    let register = Register::load(store)?;
    let items: Vec<Incoming> = register
        .items
        .values()
        .map(|r| {
            let f = &r.finding;
            Incoming {
                finding_id: f.finding_id.clone(),
                detector: f.detector.clone(),
                scenario: f.scenario.clone(),
                person: f.person_id.clone(),
                unit_id: units.get(&f.person_id).cloned(),
                score: f.score,
                period_start: f.period_start.clone(),
                period_end: f.period_end.clone(),
                summary: f.summary.clone(),
                record: serde_json::to_string(f).unwrap_or_default(),
                status: r.status.clone(),
            }
        })
        .collect();
    let added = db.import(&items, probity_review::now_micros()).await?;
    let keep: HashSet<String> = register.items.keys().cloned().collect();
    db.forget_except(&keep).await?;
    Ok(added)
}

/// The data categories a finding of `detector` may show: those the purpose
/// of its approval in the governance in force enables. None when the
/// detector has no approval: then nothing beyond the finding itself is
/// shown. (The approval's dates do not matter here: a finding made while
/// it was in force stays under review after it lapses, for the purpose it
/// was made for.)
pub fn shown_categories(gov: &Governance, detector: &str) -> BTreeSet<Category> {
    gov.detectors
        .get(detector)
        .and_then(|a| gov.purposes.get(&a.purpose))
        .map(|p| {
            p.categories
                .iter()
                .filter_map(|c| Category::from_id(c))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether every one of `tables` is in a category of `shown`.
pub fn readable(tables: &[Table], shown: &BTreeSet<Category>) -> bool {
    tables
        .iter()
        .all(|t| shown.contains(&Category::of_table(*t)))
}

/// The parts of a timeline, each read from its own tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Rostered shifts.
    Shifts,
    /// Device sessions of the person's accounts.
    Sessions,
    /// Badge swipes of the person's cards.
    Swipes,
    /// Record look-ups from the person's accounts.
    Lookups,
    /// Absences.
    Absences,
}

impl Part {
    /// Every part.
    pub const ALL: &'static [Part] = &[
        Part::Shifts,
        Part::Sessions,
        Part::Swipes,
        Part::Lookups,
        Part::Absences,
    ];

    /// The tables it reads.
    pub fn tables(self) -> &'static [Table] {
        match self {
            Part::Shifts => &[Table::Shifts],
            Part::Sessions => &[Table::DeviceSessions, Table::Accounts],
            Part::Swipes => &[Table::BadgeEvents, Table::BadgeCards],
            Part::Lookups => &[Table::SystemQueries, Table::Accounts],
            Part::Absences => &[Table::Absences],
        }
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Part::Shifts => "rostered shifts",
            Part::Sessions => "device sessions",
            Part::Swipes => "badge swipes",
            Part::Lookups => "record look-ups",
            Part::Absences => "absences",
        }
    }

    /// The parts `shown` allows.
    pub fn allowed(shown: &BTreeSet<Category>) -> Vec<Part> {
        Part::ALL
            .iter()
            .copied()
            .filter(|p| readable(p.tables(), shown))
            .collect()
    }
}

/// A finding record (JSON) with only the evidence rows from tables in
/// `shown`; also returns how many rows were withheld. Evidence naming a
/// table that is not in the contract is withheld too.
pub fn evidence_shown(
    record: &serde_json::Value,
    shown: &BTreeSet<Category>,
) -> (serde_json::Value, usize) {
    let mut out = record.clone();
    let mut withheld = 0;
    if let Some(ev) = out
        .get_mut("evidence")
        .and_then(serde_json::Value::as_array_mut)
    {
        let before = ev.len();
        ev.retain(|e| {
            e["table"]
                .as_str()
                .and_then(Table::from_name)
                .is_some_and(|t| readable(&[t], shown))
        });
        withheld = before - ev.len();
    }
    (out, withheld)
}

/// Whether a string can be a stored pseudonym (it is put into SQL text).
pub fn is_pseudonym(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_date(s: &str) -> Option<Date> {
    s.get(..10)?.parse().ok()
}

/// The days a timeline shows for a period: three days either side, at
/// most 92 days.
pub fn window(period_start: &str, period_end: &str) -> Option<(Date, u32)> {
    let a = parse_date(period_start)?;
    let b = parse_date(period_end)?.max(a);
    let first = a.checked_sub(jiff::Span::new().days(3)).ok()?;
    let last = b.checked_add(jiff::Span::new().days(3)).ok()?;
    let days = (first.until(last).ok()?.get_days() as i64 + 1).clamp(1, 92) as u32;
    Some((first, days))
}

/// One person's shifts, absences, badge swipes, device sessions and
/// record look-ups over `days` days from `first`, in the store's time
/// zone: only the [`Part`]s in `parts` (the others' tables are not read at
/// all). Tables the store lacks are left out.
pub async fn timeline(
    store: &Store,
    person: &str,
    first: Date,
    days: u32,
    highlight: Option<(u32, u32)>,
    parts: &[Part],
) -> Result<Timeline> {
    let mut t = Timeline {
        first_day: first.to_string(),
        days,
        day_labels: (0..days)
            .map(|i| {
                first
                    .checked_add(jiff::Span::new().days(i64::from(i)))
                    .map(|d| d.strftime("%a %d %b").to_string())
                    .unwrap_or_default()
            })
            .collect(),
        shifts: vec![],
        absences: vec![],
        swipes: vec![],
        sessions: vec![],
        lookups: vec![],
        highlight,
    };
    if !is_pseudonym(person) {
        return Ok(t);
    }
    let rules = store.time_rules();
    let tz = rules.zone().clone();
    let Ok(lo) = tz.to_timestamp(first.to_datetime(jiff::civil::Time::midnight())) else {
        return Ok(t);
    };
    let end_day = first
        .checked_add(jiff::Span::new().days(i64::from(days)))
        .unwrap_or(first);
    let Ok(hi) = tz.to_timestamp(end_day.to_datetime(jiff::civil::Time::midnight())) else {
        return Ok(t);
    };
    let (lo_us, hi_us) = (lo.as_microsecond(), hi.as_microsecond());
    let place = |us: i64| -> Option<(u32, u32)> {
        let ts = jiff::Timestamp::from_microsecond(us).ok()?;
        let dt = tz.to_datetime(ts);
        let d = first.until(dt.date()).ok()?.get_days() as i64;
        if d < 0 || d >= i64::from(days) {
            return None;
        }
        Some((d as u32, dt.hour() as u32 * 60 + dt.minute() as u32))
    };
    let ctx = store.session_context()?;
    let run = |sql: String| {
        let ctx = ctx.clone();
        async move {
            match ctx.sql(&sql).await {
                Ok(df) => df.collect().await.unwrap_or_default(),
                Err(_) => vec![],
            }
        }
    };
    // Spans: split at midnight into per-day pieces.
    let spans = |start: i64, end: i64, label: String, out: &mut Vec<(u32, u32, u32, String)>| {
        let mut s = start.max(lo_us);
        let e = end.min(hi_us);
        while s < e {
            let Some((d, m)) = place(s) else { break };
            let day_end = first
                .checked_add(jiff::Span::new().days(i64::from(d) + 1))
                .ok()
                .and_then(|nd| {
                    tz.to_timestamp(nd.to_datetime(jiff::civil::Time::midnight()))
                        .ok()
                })
                .map(|x| x.as_microsecond())
                .unwrap_or(e);
            let piece_end = e.min(day_end);
            let end_min = if piece_end == day_end {
                1440
            } else {
                place(piece_end).map(|p| p.1).unwrap_or(1440)
            };
            out.push((d, m, end_min.max(m), label.clone()));
            s = piece_end;
        }
    };
    let p = person;
    // Rows are selected by person; the period is applied here.
    let read = |part: Part| parts.contains(&part);
    let q = format!("SELECT start AS s, \"end\" AS e, kind FROM shifts WHERE person_id = '{p}'");
    for b in if read(Part::Shifts) {
        run(q).await
    } else {
        vec![]
    } {
        let s = probity_detect::micros(&b, "s");
        let e = probity_detect::micros(&b, "e");
        let k = probity_detect::strs(&b, "kind");
        for i in 0..b.num_rows() {
            let label = probity_detect::opt_str(&k, i)
                .unwrap_or("shift")
                .to_string();
            spans(s.value(i), e.value(i), label, &mut t.shifts);
        }
    }
    let q = format!(
        "SELECT d.start AS s, d.\"end\" AS e, d.network FROM device_sessions d JOIN accounts a ON d.account_id = a.account_id WHERE a.person_id = '{p}'"
    );
    for b in if read(Part::Sessions) {
        run(q).await
    } else {
        vec![]
    } {
        let s = probity_detect::micros(&b, "s");
        let e = probity_detect::micros(&b, "e");
        let k = probity_detect::strs(&b, "network");
        for i in 0..b.num_rows() {
            let label = probity_detect::opt_str(&k, i)
                .unwrap_or("session")
                .to_string();
            spans(s.value(i), e.value(i), label, &mut t.sessions);
        }
    }
    let q = format!(
        "SELECT e.at AS t, e.direction FROM badge_events e JOIN badge_cards c ON e.card_id = c.card_id WHERE c.person_id = '{p}'"
    );
    for b in if read(Part::Swipes) {
        run(q).await
    } else {
        vec![]
    } {
        let at = probity_detect::micros(&b, "t");
        let k = probity_detect::strs(&b, "direction");
        for i in 0..b.num_rows() {
            if let Some((d, m)) = place(at.value(i)) {
                t.swipes.push((
                    d,
                    m,
                    probity_detect::opt_str(&k, i).unwrap_or("in").to_string(),
                ));
            }
        }
    }
    let q = format!(
        "SELECT s.at AS t, s.system FROM system_queries s JOIN accounts a ON s.account_id = a.account_id WHERE a.person_id = '{p}'"
    );
    for b in if read(Part::Lookups) {
        run(q).await
    } else {
        vec![]
    } {
        let at = probity_detect::micros(&b, "t");
        let k = probity_detect::strs(&b, "system");
        for i in 0..b.num_rows() {
            if let Some((d, m)) = place(at.value(i)) {
                t.lookups.push((
                    d,
                    m,
                    probity_detect::opt_str(&k, i)
                        .unwrap_or("look-up")
                        .to_string(),
                ));
            }
        }
    }
    let q = format!(
        "SELECT CAST(start_date AS VARCHAR) AS a, CAST(end_date AS VARCHAR) AS b, kind FROM absences WHERE person_id = '{p}'"
    );
    for b in if read(Part::Absences) {
        run(q).await
    } else {
        vec![]
    } {
        let a = probity_detect::strs(&b, "a");
        let e = probity_detect::strs(&b, "b");
        let k = probity_detect::strs(&b, "kind");
        for i in 0..b.num_rows() {
            let (Some(a), Some(e)) = (
                probity_detect::opt_str(&a, i).and_then(parse_date),
                probity_detect::opt_str(&e, i).and_then(parse_date),
            ) else {
                continue;
            };
            let da = first.until(a).map(|s| s.get_days() as i64).unwrap_or(0);
            let de = first.until(e).map(|s| s.get_days() as i64).unwrap_or(0);
            if de < 0 || da >= i64::from(days) {
                continue;
            }
            let label = probity_detect::opt_str(&k, i)
                .unwrap_or("absence")
                .to_string();
            t.absences
                .push((da.max(0) as u32, de.min(i64::from(days) - 1) as u32, label));
        }
    }
    Ok(t)
}

/// The highlighted rows for a finding's period within a window.
pub fn highlight(
    first: Date,
    days: u32,
    period_start: &str,
    period_end: &str,
) -> Option<(u32, u32)> {
    let a = first.until(parse_date(period_start)?).ok()?.get_days() as i64;
    let b = first.until(parse_date(period_end)?).ok()?.get_days() as i64;
    if b < 0 || a >= i64::from(days) {
        return None;
    }
    Some((a.max(0) as u32, b.min(i64::from(days) - 1) as u32))
}
