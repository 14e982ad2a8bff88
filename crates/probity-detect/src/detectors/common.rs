//! Queries several detectors share: who people are, the overtime they were
//! paid or claimed, and whether anything shows them present in a window.

use std::collections::{BTreeMap, HashMap};

use probity_core::schema::Table;

use crate::finding::Evidence;
use crate::run::{DAY_US, dates, floats, ints, micros, opt, opt_str, strs, utc_day, windows_batch};
use crate::{Result, Run};

/// What the detectors need to know about a person (no identities).
#[derive(Debug, Clone)]
pub struct PersonInfo {
    /// Unit.
    pub unit: String,
    /// Rank.
    pub rank: String,
    /// Role, if recorded.
    pub role: Option<String>,
    /// shift | office | hybrid.
    pub pattern: String,
    /// Share of due days to be spent in the office.
    pub target: Option<f64>,
    /// First day of service.
    pub start_date: i32,
    /// Last day of service.
    pub end_date: Option<i32>,
}

impl PersonInfo {
    /// The peer group key: rank and role.
    pub fn peer_group(&self) -> (String, String) {
        (self.rank.clone(), self.role.clone().unwrap_or_default())
    }
}

/// Every person by stored key.
pub async fn people(run: &Run) -> Result<HashMap<String, PersonInfo>> {
    let batches = run
        .sql(
            "SELECT person_id, unit_id, rank, role, work_pattern, office_days_target, \
             start_date, end_date FROM people",
        )
        .await?;
    let mut out = HashMap::new();
    for b in &batches {
        let (id, unit, rank, role, pat) = (
            strs(b, "person_id"),
            strs(b, "unit_id"),
            strs(b, "rank"),
            strs(b, "role"),
            strs(b, "work_pattern"),
        );
        let target = floats(b, "office_days_target");
        let (sd, ed) = (dates(b, "start_date"), dates(b, "end_date"));
        for i in 0..b.num_rows() {
            out.insert(
                id.value(i).to_string(),
                PersonInfo {
                    unit: unit.value(i).to_string(),
                    rank: rank.value(i).to_string(),
                    role: opt_str(&role, i).map(str::to_string),
                    pattern: pat.value(i).to_string(),
                    target: (!arrow::array::Array::is_null(&target, i)).then(|| target.value(i)),
                    start_date: sd.value(i),
                    end_date: (!arrow::array::Array::is_null(&ed, i)).then(|| ed.value(i)),
                },
            );
        }
    }
    Ok(out)
}

/// Overtime paid or claimed: every claim at its claimed hours (on its own,
/// naming an overtime or rest-day-working shift, or extending a rostered
/// duty shift), and every overtime or rest-day-working shift nobody claimed
/// separately.
#[derive(Debug, Clone)]
pub struct Overtime {
    /// Person.
    pub person: String,
    /// The shift it is or names, if any.
    pub shift_id: Option<String>,
    /// The claim, if any.
    pub claim_id: Option<String>,
    /// Start, µs.
    pub start: i64,
    /// End, µs.
    pub end: i64,
    /// Local date of the start.
    pub day: i32,
    /// The kind of that shift (`overtime`, `rest_day_working`, or `duty`
    /// for a claim extending a rostered shift); `None` for a claim on its own.
    pub kind: Option<String>,
    /// Hours claimed, or the shift's length.
    pub hours: f64,
    /// The claim's reason.
    pub reason: Option<String>,
    /// Local date of the shift it is or names.
    pub shift_day: Option<i32>,
    /// When it extends a rostered duty shift (names one, or begins within
    /// 15 minutes of one's end): that shift's local start date. Filled by
    /// [`find_extensions`].
    pub extends: Option<i32>,
}

impl Overtime {
    /// The records behind it.
    pub fn evidence(&self) -> Vec<Evidence> {
        let mut v = vec![];
        if let Some(s) = &self.shift_id {
            v.push(Evidence::new(Table::Shifts, s));
        }
        if let Some(c) = &self.claim_id {
            v.push(Evidence::new(Table::OvertimeClaims, c));
        }
        v
    }
}

/// All paid or claimed overtime, except claims on `untested_kinds` of shift:
/// duty by definition away from a police site or at home (court, training,
/// on call), which the roster itself explains — whether the claim names
/// that shift or, naming none, lies within one of the person's.
pub async fn overtime(run: &Run, untested_kinds: &[String]) -> Result<Vec<Overtime>> {
    let batches = run.sql(&format!("SELECT * FROM ({OVERTIME_SQL})")).await?;
    let mut out = overtime_rows(&batches)?;
    out.retain(|o| !o.kind.as_ref().is_some_and(|k| untested_kinds.contains(k)));
    if !untested_kinds.is_empty() && out.iter().any(|o| o.kind.is_none()) {
        // Claims filed on their own (no shift named) inside an untested
        // shift of the same person, within a quarter of an hour either side.
        let q = format!(
            "SELECT person_id, start, \"end\" FROM shifts WHERE kind IN ({})",
            super::sql_list(untested_kinds)
        );
        let mut away: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for b in &run.sql(&q).await? {
            let (pid, s, e) = (strs(b, "person_id"), micros(b, "start"), micros(b, "end"));
            for i in 0..b.num_rows() {
                away.entry(pid.value(i).to_string())
                    .or_default()
                    .push((s.value(i), e.value(i)));
            }
        }
        let slack = 15 * 60_000_000;
        out.retain(|o| {
            o.kind.is_some()
                || !away.get(&o.person).is_some_and(|v| {
                    v.iter()
                        .any(|(s, e)| s - slack <= o.start && o.end <= e + slack)
                })
        });
    }
    out.sort_by(|a, b| (&a.person, a.start).cmp(&(&b.person, b.start)));
    Ok(out)
}

/// Paid or claimed overtime as SQL (columns shift_id, person_id, start,
/// end, kind, claim_id, hours, reason, day), for detectors that join it
/// further. A claim is tested at the hours it claims, whatever shift it
/// names: a claim naming the rostered shift it extends is overtime too.
/// (A single scan with a full join was tried: slower.)
pub const OVERTIME_SQL: &str = "SELECT s.shift_id, c.person_id, c.claimed_start AS start, \
        c.claimed_end AS \"end\", s.kind, c.claim_id, c.hours, c.reason, \
        local_date(c.claimed_start) AS day, local_date(s.start) AS shift_day
     FROM overtime_claims c LEFT JOIN shifts s ON s.shift_id = c.shift_id
     UNION ALL
     SELECT s.shift_id, s.person_id, s.start, s.\"end\", s.kind, NULL, NULL, NULL,
            local_date(s.start), local_date(s.start)
     FROM shifts s
     WHERE s.kind IN ('overtime', 'rest_day_working')
       AND s.shift_id NOT IN (SELECT shift_id FROM overtime_claims WHERE shift_id IS NOT NULL)";

/// Reads rows shaped like [`OVERTIME_SQL`].
pub fn overtime_rows(batches: &[arrow::array::RecordBatch]) -> Result<Vec<Overtime>> {
    let mut out = vec![];
    for b in batches {
        let (sid, pid, kind, cid, reason) = (
            strs(b, "shift_id"),
            strs(b, "person_id"),
            strs(b, "kind"),
            strs(b, "claim_id"),
            strs(b, "reason"),
        );
        let (s, e) = (micros(b, "start"), micros(b, "end"));
        let hours = floats(b, "hours");
        let (day, shift_day) = (dates(b, "day"), dates(b, "shift_day"));
        for i in 0..b.num_rows() {
            let len = (e.value(i) - s.value(i)) as f64 / 3.6e9;
            out.push(Overtime {
                person: pid.value(i).to_string(),
                shift_id: opt_str(&sid, i).map(str::to_string),
                claim_id: opt_str(&cid, i).map(str::to_string),
                start: s.value(i),
                end: e.value(i),
                day: day.value(i),
                kind: opt_str(&kind, i).map(str::to_string),
                hours: if arrow::array::Array::is_null(&hours, i) {
                    len
                } else {
                    hours.value(i)
                },
                reason: opt_str(&reason, i).map(str::to_string),
                shift_day: (!arrow::array::Array::is_null(&shift_day, i))
                    .then(|| shift_day.value(i)),
                extends: None,
            });
        }
    }
    Ok(out)
}

/// Marks the items that extend a rostered duty shift with that shift's
/// local start date: a claim naming a duty shift, or a claim on its own that
/// begins within 15 minutes of the end of one of the person's duty shifts.
/// Overtime that extends a shift belongs to the shift's day (a late shift's
/// extension past midnight is not overtime on the next day).
pub async fn find_extensions(run: &Run, items: &mut [&mut Overtime]) -> Result<()> {
    let mut rest = vec![];
    for (i, o) in items.iter_mut().enumerate() {
        match o.kind.as_deref() {
            Some("duty") => o.extends = o.shift_day,
            None => rest.push((
                i as i64,
                o.person.clone(),
                o.start - 15 * 60_000_000,
                o.start + 15 * 60_000_000,
            )),
            _ => {}
        }
    }
    if rest.is_empty() || !run.can_read("shifts") {
        return Ok(());
    }
    let name = format!("extension_windows_{}", run.detector.id);
    run.register(&name, windows_batch(&rest))?;
    let se = utc_day("s.\"end\"");
    let q = format!(
        "SELECT w.wid, min(local_date(s.start)) AS day FROM {name} w JOIN shifts s
           ON s.person_id = w.person_id AND {se} = w.day
         WHERE s.kind = 'duty' AND s.\"end\" BETWEEN w.ws AND w.we
         GROUP BY w.wid"
    );
    let res = run.sql(&q).await;
    run.deregister(&name)?;
    for b in &res? {
        let (wid, day) = (ints(b, "wid"), dates(b, "day"));
        for i in 0..b.num_rows() {
            items[wid.value(i) as usize].extends = Some(day.value(i));
        }
    }
    Ok(())
}

/// Where a trace of presence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A badge swipe at a site (a stay between an "in" and its "out" is an
    /// interval; a swipe on its own a moment).
    Swipe,
    /// A device session (an interval).
    Session,
    /// A record-system look-up (a moment).
    Lookup,
    /// A device location within a site's radius (a moment).
    OnSite,
    /// Device locations away from any site that move (as on patrol): the
    /// time between two of them at least `movement_metres` apart.
    Movement,
    /// What minimisation kept of expired locations: on-site pings during a
    /// shift (the shift's interval).
    LocationFact,
}

impl Source {
    /// The source in words.
    pub fn noun(self) -> &'static str {
        match self {
            Source::Swipe => "badge swipes",
            Source::Session => "device sessions",
            Source::Lookup => "look-ups",
            Source::OnSite => "on-site device locations",
            Source::Movement => "device movement",
            Source::LocationFact => "on-site location summaries",
        }
    }
}

/// One trace of presence: a moment (`from == to`) or an interval, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    /// Its source.
    pub source: Source,
    /// Start.
    pub from: i64,
    /// End (equal to `from` for a moment).
    pub to: i64,
}

/// How the traces of a window cover an interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cover {
    /// Microseconds of the interval covered: intervals clipped to it, and
    /// each moment inside it counted `radius` either side.
    pub covered: i64,
    /// Traces that touch the interval, by source.
    pub inside: BTreeMap<Source, u32>,
}

impl Cover {
    /// Whether anything shows presence inside the interval.
    pub fn any(&self) -> bool {
        !self.inside.is_empty()
    }

    /// The sources found, in words ("badge swipes, look-ups").
    pub fn sources(&self) -> String {
        self.inside
            .keys()
            .map(|s| s.noun())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How `traces` cover `[from, to]`.
pub fn cover(traces: &[Trace], from: i64, to: i64, radius: i64) -> Cover {
    let mut spans: Vec<(i64, i64)> = vec![];
    let mut inside: BTreeMap<Source, u32> = BTreeMap::new();
    for t in traces {
        let (a, b) = if t.from == t.to {
            if t.from < from || t.from > to {
                continue;
            }
            (t.from - radius, t.to + radius)
        } else {
            if t.to <= from || t.from >= to {
                continue;
            }
            (t.from, t.to)
        };
        *inside.entry(t.source).or_default() += 1;
        let (a, b) = (a.max(from), b.min(to));
        if a < b {
            spans.push((a, b));
        }
    }
    spans.sort_unstable();
    let mut covered = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (a, b) in spans {
        match cur {
            Some((s, e)) if a <= e => cur = Some((s, e.max(b))),
            Some((s, e)) => {
                covered += e - s;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((s, e)) = cur {
        covered += e - s;
    }
    Cover { covered, inside }
}

/// A window to look for presence in: a person, the interval, and how far
/// before it swipes are read (so that a stay that began earlier, an "in"
/// hours before, is paired with its "out").
#[derive(Debug, Clone)]
pub struct Window {
    /// Person (stored key).
    pub person: String,
    /// Start, µs.
    pub from: i64,
    /// End, µs.
    pub to: i64,
}

/// Swipes are paired into stays only this long.
const MAX_STAY_US: i64 = 16 * 3_600_000_000;

/// Pairs a person's swipes (time, is "in") into stays and moments.
fn stays(mut swipes: Vec<(i64, bool)>) -> Vec<Trace> {
    swipes.sort_unstable();
    swipes.dedup();
    let mut out = vec![];
    let mut open: Option<i64> = None;
    for (at, inward) in swipes {
        if inward {
            match open {
                // A second "in" with no "out" between: the first one stays
                // open (a double swipe at a door), this one is a moment too.
                Some(_) => out.push(Trace {
                    source: Source::Swipe,
                    from: at,
                    to: at,
                }),
                None => open = Some(at),
            }
        } else {
            match open.take() {
                Some(t) if at - t <= MAX_STAY_US => out.push(Trace {
                    source: Source::Swipe,
                    from: t,
                    to: at,
                }),
                Some(t) => {
                    for m in [t, at] {
                        out.push(Trace {
                            source: Source::Swipe,
                            from: m,
                            to: m,
                        });
                    }
                }
                None => out.push(Trace {
                    source: Source::Swipe,
                    from: at,
                    to: at,
                }),
            }
        }
    }
    if let Some(t) = open {
        out.push(Trace {
            source: Source::Swipe,
            from: t,
            to: t,
        });
    }
    out
}

/// Adds the (wid, start, end) rows of a query to their windows' traces.
fn intervals(out: &mut [Vec<Trace>], batches: &[arrow::array::RecordBatch], source: Source) {
    for b in batches {
        let (wid, s, e) = (ints(b, "wid"), micros(b, "start"), micros(b, "end"));
        for i in 0..b.num_rows() {
            out[wid.value(i) as usize].push(Trace {
                source,
                from: s.value(i),
                to: e.value(i).max(s.value(i) + 1),
            });
        }
    }
}

/// Distance in metres between two points (equirectangular; sites and pings
/// are kilometres apart at most).
pub fn metres(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let dy = (lat1 - lat2) * 110_540.0;
    let dx = (lon1 - lon2) * 111_320.0 * ((lat1 + lat2) / 2.0).to_radians().cos();
    (dx * dx + dy * dy).sqrt()
}

/// One device location in a window.
#[derive(Clone)]
struct Ping<'a> {
    device: &'a str,
    at: i64,
    lat: f64,
    lon: f64,
    /// Whether it has both coordinates (the contract requires them).
    placed: bool,
    /// Metres (0 when not given).
    accuracy: f64,
}

impl<'a> Ping<'a> {
    /// One ping per device, instant and place: repeats of a ping (a file
    /// ingested under two names, a device reporting twice) count once,
    /// and the largest accuracy given for it is the one tested.
    fn distinct(mut list: Vec<Ping<'a>>) -> Vec<Ping<'a>> {
        list.sort_by(|a, b| {
            (a.device, a.at)
                .cmp(&(b.device, b.at))
                .then(a.lat.total_cmp(&b.lat))
                .then(a.lon.total_cmp(&b.lon))
                .then(a.placed.cmp(&b.placed))
        });
        let mut out: Vec<Ping<'a>> = Vec::with_capacity(list.len());
        for p in list {
            match out.last_mut() {
                Some(q)
                    if (q.device, q.at, q.placed) == (p.device, p.at, p.placed)
                        && q.lat.to_bits() == p.lat.to_bits()
                        && q.lon.to_bits() == p.lon.to_bits() =>
                {
                    q.accuracy = q.accuracy.max(p.accuracy);
                }
                _ => out.push(p),
            }
        }
        out
    }
}

/// The sites, for testing whether a ping lies within one.
pub(crate) struct Sites(Vec<[f64; 3]>);

impl Sites {
    async fn read(run: &Run) -> Result<Sites> {
        let mut out = vec![];
        for b in &run.sql("SELECT lat, lon, radius_m FROM sites").await? {
            let (lat, lon, radius) = (floats(b, "lat"), floats(b, "lon"), floats(b, "radius_m"));
            for i in 0..b.num_rows() {
                if let (Some(a), Some(o), Some(r)) = (opt(&lat, i), opt(&lon, i), opt(&radius, i)) {
                    out.push([a, o, r]);
                }
            }
        }
        Ok(Sites(out))
    }

    /// Whether a point lies within a site's radius plus `accuracy` metres:
    /// the equirectangular distance at the site's latitude, operation for
    /// operation as the store's SQL computes it (`retention.rs`,
    /// `bench/duckdb_peer.py`), so both give the same answer at the edge.
    pub(crate) fn near(&self, lat: f64, lon: f64, accuracy: f64) -> bool {
        self.0.iter().any(|&[slat, slon, radius]| {
            let reach = radius + accuracy;
            let dy = (lat - slat) * 110540.0;
            // Far north or south of the circle: the distance is at least
            // this far (a metre's margin for rounding).
            if dy.abs() > reach + 1.0 {
                return false;
            }
            let dx = (lon - slon) * 111320.0 * slat.to_radians().cos();
            (dy.powf(2.0) + dx.powf(2.0)).sqrt() <= reach
        })
    }
}

/// Off-site pings (time, lat, lon) that move: each two consecutive ones at
/// least `min_metres` apart and at most two hours apart make an interval.
fn movement(mut pings: Vec<(i64, f64, f64)>, min_metres: f64) -> Vec<Trace> {
    // By time, then place: two devices' pings at one instant pair the same
    // way on every run.
    pings.sort_by(|a, b| {
        (a.0.cmp(&b.0))
            .then(a.1.total_cmp(&b.1))
            .then(a.2.total_cmp(&b.2))
    });
    pings
        .windows(2)
        .filter(|w| {
            w[1].0 - w[0].0 <= 2 * 3_600_000_000
                && metres(w[0].1, w[0].2, w[1].1, w[1].2) >= min_metres
        })
        .map(|w| Trace {
            source: Source::Movement,
            from: w[0].0,
            to: w[1].0,
        })
        .collect()
}

/// The traces of presence in each window: swipes (from `lookback` before
/// the window to as long after it, paired into stays), device sessions
/// overlapping it, look-ups
/// in it; then, only for the windows `unjudged` still asks about (locations
/// are the largest table), on-site device locations, device movement off
/// site (`movement_metres`) and minimisation's location summaries. Joins use the person and the UTC day as equality keys, so the
/// cost follows the windows, not the size of the event tables. A source
/// whose tables the detector does not declare is not read.
pub async fn traces(
    run: &Run,
    windows: &[Window],
    lookback: i64,
    movement_metres: f64,
    unjudged: impl Fn(usize, &[Trace]) -> bool,
) -> Result<Vec<Vec<Trace>>> {
    let mut out: Vec<Vec<Trace>> = vec![vec![]; windows.len()];
    if windows.is_empty() {
        return Ok(out);
    }
    let name = format!("presence_windows_{}", run.detector.id);
    let rows =
        |pick: &dyn Fn(usize) -> bool, back: i64, ahead: i64| -> Vec<(i64, String, i64, i64)> {
            windows
                .iter()
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .map(|(i, w)| (i as i64, w.person.clone(), w.from - back, w.to + ahead))
                .collect()
        };
    let all = |_: usize| true;
    let (be, ss, qa, la) = (
        utc_day("e.at"),
        utc_day("s.start"),
        utc_day("q.at"),
        utc_day("l.at"),
    );
    // Each presence query has its own windows table, so that the three run
    // at once: none needs another's answer, and together they keep both
    // cores busy through each one's single-threaded build and collect.
    let (swipes_w, sessions_w) = (format!("{name}_swipes"), format!("{name}_sessions"));
    // No DISTINCT here or for look-ups: a trace met twice covers the same
    // hours once (`cover` counts sources, not traces; `stays` drops a
    // repeated swipe), so a repeat costs nothing but the grouping of every
    // row would.
    let swipes_q = format!(
        "SELECT w.wid, e.at, e.direction FROM {swipes_w} w
         JOIN badge_cards c ON c.person_id = w.person_id
         JOIN badge_events e ON e.card_id = c.card_id AND {be} = w.day
          AND local_date(e.at) BETWEEN c.valid_from AND coalesce(c.valid_to, DATE '9999-12-31')
         WHERE e.at BETWEEN w.ws AND w.we"
    );
    let swipes = |out: &mut Vec<Vec<Trace>>, batches: &[arrow::array::RecordBatch]| {
        let mut by: Vec<Vec<(i64, bool)>> = vec![vec![]; out.len()];
        for b in batches {
            let (wid, at, dir) = (ints(b, "wid"), micros(b, "at"), strs(b, "direction"));
            for i in 0..b.num_rows() {
                by[wid.value(i) as usize].push((at.value(i), dir.value(i) == "in"));
            }
        }
        for (i, s) in by.into_iter().enumerate() {
            if !s.is_empty() {
                out[i].extend(stays(s));
            }
        }
    };
    let badges = run.can_read("badge_cards") && run.can_read("badge_events");
    let sessions = run.can_read("devices") && run.can_read("device_sessions");
    let lookups = run.can_read("accounts") && run.can_read("system_queries");
    let result = async {
        // Swipes from `lookback` before each window to as long after it, so
        // that a stay begun earlier (an "in" hours before) or ending later
        // (an "out" after the window) is paired into one stay. (One scan of
        // the swipes either way: the cost is the table, not the windows.)
        let swipes_rows = async {
            if !badges {
                return Ok(None);
            }
            run.register(&swipes_w, windows_batch(&rows(&all, lookback, lookback)))?;
            run.sql(&swipes_q).await.map(Some)
        };
        // Sessions by the day they start, from two days before the window (a
        // session begun up to two days earlier and still open counts; one
        // scan of the table, where joining on start and end days took two).
        // A session is its holder's from the day it starts. `cover` keeps
        // only what overlaps the window itself.
        let sessions_rows = async {
            if !sessions {
                return Ok(None);
            }
            run.register(&sessions_w, windows_batch(&rows(&all, 2 * DAY_US, 0)))?;
            let q = format!(
                "SELECT w.wid, s.start, s.\"end\" FROM {sessions_w} w
                 JOIN devices d ON d.person_id = w.person_id
                 JOIN device_sessions s ON s.device_id = d.device_id AND {ss} = w.day
                  AND local_date(s.start) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
                 WHERE s.start <= w.we AND s.\"end\" >= w.ws"
            );
            run.sql(&q).await.map(Some)
        };
        run.register(&name, windows_batch(&rows(&all, 0, 0)))?;
        let lookup_rows = async {
            if !lookups {
                return Ok(None);
            }
            let q = format!(
                "SELECT w.wid, q.at FROM {name} w
                 JOIN accounts a ON a.person_id = w.person_id
                 JOIN system_queries q ON q.account_id = a.account_id AND {qa} = w.day
                 WHERE q.at BETWEEN w.ws AND w.we"
            );
            run.sql(&q).await.map(Some)
        };
        let (sw, se, lk) = futures::try_join!(swipes_rows, sessions_rows, lookup_rows)?;
        // Added in one order whatever finished first.
        if let Some(b) = sw {
            swipes(&mut out, &b);
        }
        if let Some(b) = se {
            intervals(&mut out, &b, Source::Session);
        }
        for b in lk.iter().flatten() {
            let (wid, at) = (ints(b, "wid"), micros(b, "at"));
            for i in 0..b.num_rows() {
                out[wid.value(i) as usize].push(Trace {
                    source: Source::Lookup,
                    from: at.value(i),
                    to: at.value(i),
                });
            }
        }
        let locations = ["devices", "device_locations", "sites"]
            .iter()
            .all(|t| run.can_read(t));
        if locations {
            let ask: Vec<bool> = (0..windows.len())
                .map(|i| unjudged(i, &out[i]))
                .collect();
            let rest = rows(&|i| ask[i], 0, 0);
            if !rest.is_empty() {
                run.register(&name, windows_batch(&rest))?;
                // The window's pings, tested against the sites here: in SQL
                // that was a cross join with every site and a grouping of
                // pings × sites rows, most of the query's time.
                let sites = Sites::read(run).await?;
                let q = format!(
                    "SELECT w.wid, l.device_id, l.at, l.lat, l.lon, l.accuracy_m
                     FROM {name} w
                     JOIN devices d ON d.person_id = w.person_id
                     JOIN device_locations l ON l.device_id = d.device_id AND {la} = w.day
                      AND local_date(l.at) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
                     WHERE l.at BETWEEN w.ws AND w.we"
                );
                let batches = run.sql(&q).await?;
                let devices: Vec<arrow::array::StringArray> =
                    batches.iter().map(|b| strs(b, "device_id")).collect();
                let mut pings: Vec<Vec<Ping>> = vec![vec![]; windows.len()];
                for (b, dev) in batches.iter().zip(&devices) {
                    let (wid, at) = (ints(b, "wid"), micros(b, "at"));
                    let (lat, lon, acc) = (floats(b, "lat"), floats(b, "lon"), floats(b, "accuracy_m"));
                    for i in 0..b.num_rows() {
                        pings[wid.value(i) as usize].push(Ping {
                            device: dev.value(i),
                            at: at.value(i),
                            lat: lat.value(i),
                            lon: lon.value(i),
                            placed: opt(&lat, i).is_some() && opt(&lon, i).is_some(),
                            accuracy: opt(&acc, i).unwrap_or(0.0),
                        });
                    }
                }
                let mut off: Vec<Vec<(i64, f64, f64)>> = vec![vec![]; windows.len()];
                for (w, list) in pings.into_iter().enumerate() {
                    for p in Ping::distinct(list) {
                        if p.placed && sites.near(p.lat, p.lon, p.accuracy) {
                            out[w].push(Trace {
                                source: Source::OnSite,
                                from: p.at,
                                to: p.at,
                            });
                        } else {
                            off[w].push((p.at, p.lat, p.lon));
                        }
                    }
                }
                for (i, pings) in off.into_iter().enumerate() {
                    out[i].extend(movement(pings, movement_metres));
                }
                // Pings past their raw retention survive as per-shift facts.
                let q = format!(
                    "SELECT DISTINCT w.wid, f.start, f.\"end\" FROM {name} w
                     JOIN location_facts f ON f.person_id = w.person_id
                     WHERE f.start <= w.we AND f.\"end\" >= w.ws AND f.on_site_pings > 0"
                );
                intervals(&mut out, &run.sql(&q).await?, Source::LocationFact);
            }
        }
        Ok::<(), crate::Error>(())
    }
    .await;
    // Every windows table goes, whatever failed; a query's error is the
    // one reported.
    let removed: Vec<Result<()>> = [&name, &swipes_w, &sessions_w]
        .into_iter()
        .map(|n| run.deregister(n))
        .collect();
    result?;
    removed.into_iter().collect::<Result<()>>()?;
    Ok(out)
}

/// Median of a per-person count over a peer group (people with no events
/// count as 0).
pub fn peer_median<K: Ord + Clone>(
    people: &HashMap<String, PersonInfo>,
    counts: &HashMap<String, f64>,
    group: impl Fn(&PersonInfo) -> K,
) -> BTreeMap<K, f64> {
    let mut by: BTreeMap<K, Vec<f64>> = BTreeMap::new();
    for (id, p) in people {
        by.entry(group(p))
            .or_default()
            .push(counts.get(id).copied().unwrap_or(0.0));
    }
    by.into_iter()
        .map(|(k, v)| (k, crate::stats::median(&v)))
        .collect()
}

/// "5 March" style for summaries.
pub fn short_day(d: i32) -> String {
    probity_core::time::days_to_date(d)
        .strftime("%-d %B %Y")
        .to_string()
}

/// "1 time" / "3 times" and the like.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn table(cols: Vec<(&str, Arc<dyn arrow::array::Array>)>) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
                .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    /// Pings at, just inside and just outside each site's edge, at every
    /// bearing, judged on-site by [`Sites::near`] exactly when the store's
    /// SQL (retention's location facts, the DuckDB peer) judges them so.
    #[tokio::test]
    async fn a_ping_is_on_site_in_rust_exactly_when_the_sql_formula_says_so() {
        let sites = [
            [51.5074, -0.1278, 100.0],
            [53.4808, -2.2426, 250.5],
            [-33.86, 151.21, 40.0],
        ];
        let (mut lat, mut lon, mut acc) = (vec![], vec![], vec![]);
        for [slat, slon, r] in sites {
            for bearing in (0..360).step_by(7) {
                let b = f64::from(bearing).to_radians();
                for a in [0.0, 12.5] {
                    let reach: f64 = r + a;
                    for d in [
                        reach,
                        reach * (1.0 - 1e-12),
                        reach * (1.0 + 1e-12),
                        reach - 0.01,
                        reach + 0.01,
                        reach + 1.5,
                        0.0,
                    ] {
                        lat.push(slat + d * b.cos() / 110540.0);
                        lon.push(slon + d * b.sin() / (111320.0 * slat.to_radians().cos()));
                        acc.push(a);
                    }
                }
            }
        }
        let n = lat.len();
        let ctx = SessionContext::new();
        ctx.register_table(
            "pings",
            table(vec![
                ("id", Arc::new(Int64Array::from_iter_values(0..n as i64))),
                ("lat", Arc::new(Float64Array::from(lat.clone()))),
                ("lon", Arc::new(Float64Array::from(lon.clone()))),
                ("accuracy_m", Arc::new(Float64Array::from(acc.clone()))),
            ]),
        )
        .unwrap();
        let col = |i: usize| Arc::new(Float64Array::from_iter_values(sites.iter().map(|s| s[i])));
        ctx.register_table(
            "sites",
            table(vec![("lat", col(0)), ("lon", col(1)), ("radius_m", col(2))]),
        )
        .unwrap();
        let batches = ctx
            .sql(
                "SELECT l.id, max(CASE WHEN sqrt(power((l.lat - st.lat) * 110540.0, 2)
                       + power((l.lon - st.lon) * 111320.0 * cos(radians(st.lat)), 2))
                       <= st.radius_m + coalesce(l.accuracy_m, 0) THEN 1 ELSE 0 END) AS on_site
                 FROM pings l CROSS JOIN sites st GROUP BY l.id",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let test = Sites(sites.to_vec());
        let (mut seen, mut inside, mut outside) = (0, 0, 0);
        for b in &batches {
            let (id, on) = (ints(b, "id"), ints(b, "on_site"));
            for i in 0..b.num_rows() {
                let k = id.value(i) as usize;
                let rust = test.near(lat[k], lon[k], acc[k]);
                assert_eq!(
                    rust,
                    on.value(i) == 1,
                    "ping {k} at ({}, {})",
                    lat[k],
                    lon[k]
                );
                seen += 1;
                if rust {
                    inside += 1;
                } else {
                    outside += 1;
                }
            }
        }
        assert_eq!(seen, n);
        // The edge cases fall on both sides.
        assert!(
            inside > n / 3 && outside > n / 4,
            "{inside} in, {outside} out"
        );
    }
}
