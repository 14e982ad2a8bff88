//! Queries several detectors share: who people are, the overtime they were
//! paid or claimed, and whether anything shows them present in a window.

use std::collections::{BTreeMap, HashMap};

use probity_core::schema::Table;

use crate::finding::Evidence;
use crate::run::{dates, floats, micros, opt_str, strs, utc_day, windows_batch};
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

/// Overtime paid (an overtime or rest-day-working shift) or claimed (a
/// claim with no shift).
#[derive(Debug, Clone)]
pub struct Overtime {
    /// Person.
    pub person: String,
    /// The shift, if rostered.
    pub shift_id: Option<String>,
    /// The claim, if any.
    pub claim_id: Option<String>,
    /// Start, µs.
    pub start: i64,
    /// End, µs.
    pub end: i64,
    /// Local date of the start.
    pub day: i32,
    /// overtime | rest_day_working | None (claim only).
    pub kind: Option<String>,
    /// Hours claimed, or the shift's length.
    pub hours: f64,
    /// The claim's reason.
    pub reason: Option<String>,
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

/// All paid or claimed overtime, except kinds that are by definition away
/// from a police site (court, training), which the roster itself explains.
pub async fn overtime(run: &Run) -> Result<Vec<Overtime>> {
    let batches = run.sql(&format!("SELECT * FROM ({OVERTIME_SQL})")).await?;
    let mut out = overtime_rows(&batches)?;
    out.sort_by(|a, b| (&a.person, a.start).cmp(&(&b.person, b.start)));
    Ok(out)
}

/// Paid or claimed overtime as SQL (columns shift_id, person_id, start,
/// end, kind, claim_id, hours, reason, day), for detectors that join it
/// further.
pub const OVERTIME_SQL: &str = "SELECT s.shift_id, s.person_id, s.start, s.\"end\", s.kind, \
        c.claim_id, c.hours, c.reason, local_date(s.start) AS day
     FROM shifts s LEFT JOIN overtime_claims c ON c.shift_id = s.shift_id
     WHERE s.kind IN ('overtime', 'rest_day_working')
     UNION ALL
     SELECT NULL, c.person_id, c.claimed_start, c.claimed_end, NULL, c.claim_id, c.hours,
            c.reason, local_date(c.claimed_start)
     FROM overtime_claims c WHERE c.shift_id IS NULL";

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
        let day = dates(b, "day");
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
            });
        }
    }
    Ok(out)
}

/// Counts of presence evidence found in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    /// Badge swipes at any site.
    pub swipes: u32,
    /// Device sessions overlapping the window.
    pub sessions: u32,
    /// Record-system look-ups.
    pub lookups: u32,
    /// Device locations within a site's radius.
    pub on_site_pings: u32,
}

impl Presence {
    /// Whether anything at all shows the person working.
    pub fn any(&self) -> bool {
        self.swipes + self.sessions + self.lookups + self.on_site_pings > 0
    }
}

enum Source {
    Swipe,
    Session,
    Lookup,
    Ping,
}

/// For each window `(person, start µs, end µs)`, what shows the person
/// present: swipes, sessions, look-ups, on-site device locations. Joins use
/// the person and the UTC day as equality keys, so the cost follows the
/// windows, not the size of the event tables.
pub async fn presence(run: &Run, windows: &[(String, i64, i64)]) -> Result<Vec<Presence>> {
    let mut out = vec![Presence::default(); windows.len()];
    if windows.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(i64, String, i64, i64)> = windows
        .iter()
        .enumerate()
        .map(|(i, (p, s, e))| (i as i64, p.clone(), *s, *e))
        .collect();
    let name = format!("presence_windows_{}", run.detector.id);
    run.register(&name, windows_batch(&rows))?;
    let (be, ss, se, qa, la) = (
        utc_day("e.at"),
        utc_day("s.start"),
        utc_day("s.\"end\""),
        utc_day("q.at"),
        utc_day("l.at"),
    );
    let branches = [
        (
            Source::Swipe,
            format!(
                "SELECT wid, count(DISTINCT id) AS n FROM (
                    SELECT w.wid, e.event_id AS id FROM {name} w
                    JOIN badge_cards c ON c.person_id = w.person_id
                    JOIN badge_events e ON e.card_id = c.card_id AND {be} = w.day
                     AND local_date(e.at) BETWEEN c.valid_from AND coalesce(c.valid_to, DATE '9999-12-31')
                    WHERE e.at BETWEEN w.ws AND w.we) GROUP BY wid"
            ),
        ),
        (
            Source::Session,
            format!(
                "SELECT wid, count(DISTINCT id) AS n FROM (
                    SELECT w.wid, s.session_id AS id FROM {name} w
                    JOIN devices d ON d.person_id = w.person_id
                    JOIN device_sessions s ON s.device_id = d.device_id AND {ss} = w.day
                     AND local_date(s.start) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
                    WHERE s.start <= w.we AND s.\"end\" >= w.ws
                    UNION ALL
                    SELECT w.wid, s.session_id FROM {name} w
                    JOIN devices d ON d.person_id = w.person_id
                    JOIN device_sessions s ON s.device_id = d.device_id AND {se} = w.day
                     AND local_date(s.\"end\") BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
                    WHERE s.start <= w.we AND s.\"end\" >= w.ws) GROUP BY wid"
            ),
        ),
        (
            Source::Lookup,
            format!(
                "SELECT wid, count(DISTINCT id) AS n FROM (
                    SELECT w.wid, q.query_id AS id FROM {name} w
                    JOIN accounts a ON a.person_id = w.person_id
                    JOIN system_queries q ON q.account_id = a.account_id AND {qa} = w.day
                    WHERE q.at BETWEEN w.ws AND w.we) GROUP BY wid"
            ),
        ),
        (
            Source::Ping,
            format!(
                "SELECT wid, CAST(sum(n) AS BIGINT) AS n FROM (
                    SELECT wid, count(*) AS n FROM (
                    SELECT DISTINCT w.wid, l.device_id, l.at FROM {name} w
                    JOIN devices d ON d.person_id = w.person_id
                    JOIN device_locations l ON l.device_id = d.device_id AND {la} = w.day
                     AND local_date(l.at) BETWEEN d.issued_from AND coalesce(d.issued_to, DATE '9999-12-31')
                    CROSS JOIN sites st
                    WHERE l.at BETWEEN w.ws AND w.we
                      AND sqrt(power((l.lat - st.lat) * 110540.0, 2)
                             + power((l.lon - st.lon) * 111320.0 * cos(radians(st.lat)), 2))
                          <= st.radius_m + coalesce(l.accuracy_m, 0)) GROUP BY wid
                    UNION ALL
                    -- Pings past their raw retention survive as per-shift facts;
                    -- a shift's facts count only for a window that holds the shift.
                    SELECT w.wid, sum(f.on_site_pings) AS n FROM {name} w
                    JOIN location_facts f ON f.person_id = w.person_id
                    WHERE f.start >= w.ws AND f.\"end\" <= w.we AND f.on_site_pings > 0
                    GROUP BY w.wid) GROUP BY wid"
            ),
        ),
    ];
    for (src, q) in &branches {
        // A source whose tables the detector does not declare is not read.
        let tables: &[&str] = match src {
            Source::Swipe => &["badge_cards", "badge_events"],
            Source::Session => &["devices", "device_sessions"],
            Source::Lookup => &["accounts", "system_queries"],
            Source::Ping => &["devices", "device_locations", "sites"],
        };
        if !tables.iter().all(|t| run.can_read(t)) {
            continue;
        }
        if matches!(src, Source::Ping) {
            // Locations are the largest table and matter only where nothing
            // else shows presence: test just those windows.
            let rest: Vec<(i64, String, i64, i64)> = rows
                .iter()
                .filter(|(i, ..)| !out[*i as usize].any())
                .cloned()
                .collect();
            if rest.is_empty() {
                break;
            }
            run.register(&name, windows_batch(&rest))?;
        }
        let batches = match run.sql(q).await {
            Ok(b) => b,
            Err(e) => {
                run.deregister(&name)?;
                return Err(e);
            }
        };
        for b in &batches {
            let (wid, n) = (crate::run::ints(b, "wid"), crate::run::ints(b, "n"));
            for i in 0..b.num_rows() {
                let p = &mut out[wid.value(i) as usize];
                let n = n.value(i) as u32;
                match src {
                    Source::Swipe => p.swipes += n,
                    Source::Session => p.sessions += n,
                    Source::Lookup => p.lookups += n,
                    Source::Ping => p.on_site_pings += n,
                }
            }
        }
    }
    run.deregister(&name)?;
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
