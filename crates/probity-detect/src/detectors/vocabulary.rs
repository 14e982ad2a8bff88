//! How a force writes things: pay codes, shift kinds and field names in the
//! roster's edit log, times in edited values, and the placeholders that mean
//! "no case" or "no reason". Every force spells these its own way, and
//! changes them from year to year; detectors read them through this module,
//! which learns a store's vocabulary from the store's own data where it can
//! and recognises common spellings where it cannot, and says what it did
//! not understand instead of treating it as "nothing happened".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::run::{dates, ints, strs};
use crate::{Result, Run};

/// A pay code as compared: trimmed, upper case; an empty cell is `""`.
pub fn code_key(raw: Option<&str>) -> String {
    raw.map(|s| s.trim().to_uppercase()).unwrap_or_default()
}

/// The contract's shift kinds.
pub const KINDS: [&str; 6] = [
    "duty",
    "overtime",
    "rest_day_working",
    "on_call",
    "training",
    "court",
];

/// Reads a shift kind as a force might write it in an edit log ("Overtime",
/// "OT", "Rest Day Working", "RDW", "on-call", "Normal duty"); `None` when
/// the spelling is not recognised.
pub fn kind_of(raw: &str) -> Option<&'static str> {
    let lower = raw.trim().to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    let joined = words.join("_");
    if let Some(k) = KINDS.iter().find(|k| **k == joined) {
        return Some(k);
    }
    let has = |w: &str| words.contains(&w);
    let starts = |p: &str| words.iter().any(|w| w.starts_with(p));
    // "Not overtime", "no RDW", "rest day (off)": a negated kind is not read
    // as that kind (nor as any other).
    if ["not", "non", "no", "off", "without", "cancelled", "nil"]
        .iter()
        .any(|w| has(w))
    {
        return None;
    }
    let rest = has("rest") || has("restday") || has("rd");
    let work = starts("work") || has("wkg") || has("wk") || has("ot") || has("overtime");
    if has("rdw") || has("rdot") || (rest && work) {
        return Some("rest_day_working");
    }
    if has("overtime") || has("ot") || has("ovt") || joined.starts_with("over_time") {
        return Some("overtime");
    }
    if starts("court") {
        return Some("court");
    }
    if starts("train") {
        return Some("training");
    }
    if joined == "oncall" || joined.contains("on_call") || has("standby") {
        return Some("on_call");
    }
    if [
        "duty", "normal", "standard", "rostered", "ordinary", "tour", "shift",
    ]
    .iter()
    .any(|w| has(w))
    {
        return Some("duty");
    }
    None
}

/// What an edited field is, read from the name a force gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The shift's kind.
    Kind,
    /// Its pay code.
    PayCode,
    /// Its start time.
    Start,
    /// Its end time.
    End,
}

/// Reads an edit-log field name ("end", "End Time", "shift_finish",
/// "PayCode", "duty type"); `None` when not recognised.
pub fn field_of(raw: &str) -> Option<Field> {
    let lower = raw.trim().to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let text = words.join("");
    let has = |w: &str| words.contains(&w);
    if text.contains("pay") || has("code") || has("rate") {
        return Some(Field::PayCode);
    }
    if text.contains("kind") || text.contains("type") || has("category") || has("class") {
        return Some(Field::Kind);
    }
    if text.contains("start") || text.contains("begin") || has("from") || has("on") {
        return Some(Field::Start);
    }
    if text.contains("end")
        || text.contains("finish")
        || text.contains("stop")
        || has("to")
        || has("off")
    {
        return Some(Field::End);
    }
    None
}

/// The difference `new - old` of two edited time values, in microseconds:
/// full timestamps (RFC 3339 with an offset or `Z`, or naive local with `T`
/// or a space, seconds optional), or times of day (`07:00`, `0700`) whose
/// difference is taken within twelve hours either way. `None` if either
/// cannot be read.
pub fn time_delta(tz: &probity_core::TimeRules, old: &str, new: &str) -> Option<i64> {
    let (o, n) = (old.trim(), new.trim());
    if let (Some(a), Some(b)) = (instant(tz, o), instant(tz, n)) {
        return Some(b - a);
    }
    let (a, b) = (time_of_day(o)?, time_of_day(n)?);
    let day = 86_400_000_000_i64;
    let mut d = (b - a).rem_euclid(day);
    if d > day / 2 {
        d -= day;
    }
    Some(d)
}

fn instant(tz: &probity_core::TimeRules, s: &str) -> Option<i64> {
    if let Ok(t) = tz.parse_timestamp(s) {
        return Some(t);
    }
    // "2026-03-02 07:00", "2026-03-02T07:00", "02/03/2026 07:00" are not
    // RFC 3339; read them as naive local times.
    let normalised = s.replacen(' ', "T", 1);
    let with_seconds = if normalised.len() == 16 {
        format!("{normalised}:00")
    } else {
        normalised
    };
    if let Ok(t) = tz.parse_timestamp(&with_seconds) {
        return Some(t);
    }
    let dt: jiff::civil::DateTime = with_seconds.parse().ok()?;
    tz.local_to_micros(dt, "").ok()
}

fn time_of_day(s: &str) -> Option<i64> {
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let (h, m, sec) = match (s.contains(':'), digits.len()) {
        (true, _) => {
            let mut parts = s.split(':');
            let h: i64 = parts.next()?.trim().parse().ok()?;
            let m: i64 = parts.next()?.trim().parse().ok()?;
            let sec: i64 = parts.next().map_or(Some(0), |x| x.trim().parse().ok())?;
            (h, m, sec)
        }
        (false, 4) => (digits[..2].parse().ok()?, digits[2..].parse().ok()?, 0),
        _ => return None,
    };
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000)
}

/// Cells that mean "nothing": a case reference or reason code a force fills
/// in when there is none (lower case, trimmed).
pub const PLACEHOLDERS: &[&str] = &[
    "",
    "-",
    "--",
    "---",
    "n/a",
    "na",
    "n.a.",
    "none",
    "nil",
    "null",
    "no",
    "no case",
    "nocase",
    "not applicable",
    "unknown",
    "unk",
    "tbc",
    "tba",
    "0",
    "00",
    "000",
    "x",
    "?",
    "blank",
];

/// Whether a free-text cell is a placeholder for "none".
pub fn is_placeholder(raw: &str) -> bool {
    let t = raw.trim().to_lowercase();
    PLACEHOLDERS.contains(&t.as_str()) || t.chars().all(|c| !c.is_alphanumeric())
}

/// How a pay code is used in this store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeClass {
    /// The code most duty shifts carry.
    Standard,
    /// Borne mostly by overtime or rest-day-working shifts.
    PremiumOvertime,
    /// Borne by duty shifts on a few days on which most duty shifts carry
    /// it: public holidays.
    PremiumHoliday,
    /// Named premium in `probity.toml`.
    PremiumConfigured,
    /// Seen, but neither standard nor premium (training, on-call, court…).
    Other,
}

impl CodeClass {
    /// Whether shifts with this code are paid at a premium.
    pub fn premium(self) -> bool {
        matches!(
            self,
            CodeClass::PremiumOvertime | CodeClass::PremiumHoliday | CodeClass::PremiumConfigured
        )
    }
}

/// One learned code.
#[derive(Debug, Clone, Serialize)]
pub struct CodeUse {
    /// Its class.
    pub class: CodeClass,
    /// Shifts carrying it (self-edited shifts left out).
    pub shifts: u64,
    /// Of which overtime or rest-day working.
    pub paid_kind_shifts: u64,
    /// Of which duty.
    pub duty_shifts: u64,
    /// Days (local dates) on which most duty shifts carried it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dominant_days: Vec<String>,
}

/// A store's pay-code vocabulary, learned from its shifts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PayCodes {
    /// By code key.
    pub codes: BTreeMap<String, CodeUse>,
    /// Days (days since the epoch) dominated by a holiday code, per code.
    #[serde(skip)]
    pub holiday_days: BTreeMap<String, BTreeSet<i32>>,
}

impl PayCodes {
    /// The class of a code, if it was seen on any shift.
    pub fn class(&self, code: &str) -> Option<CodeClass> {
        self.codes.get(code).map(|c| c.class)
    }

    /// Whether `code` is a holiday code and `day` one of its days.
    pub fn holiday(&self, code: &str, day: i32) -> bool {
        self.holiday_days
            .get(code)
            .is_some_and(|d| d.contains(&day))
    }

    /// Codes of a class, for sentences.
    pub fn of(&self, pred: impl Fn(CodeClass) -> bool) -> Vec<&str> {
        self.codes
            .iter()
            .filter(|(_, u)| pred(u.class))
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

/// Learns the pay-code vocabulary of the store's shifts: the code most duty
/// shifts carry is standard; a code at least half of whose shifts are of a
/// paid kind (`paid_kinds`: overtime, rest-day working) and at most a fifth
/// duty is premium; a code that most duty shifts carry on a few days (at
/// most one in twenty, at most four in a row) and rarely otherwise marks
/// public holidays and is premium on them. Shifts whose holder edited them
/// (`edited`: code, kind and local day of each) are left out, so an edit
/// cannot teach the vocabulary it is judged by.
/// `configured` codes are premium whatever the data say; `standard`
/// codes never are.
pub async fn learn_pay_codes(
    run: &Run,
    edited: &[(String, String, i32)],
    paid_kinds: &[String],
    configured: &[String],
    standard: &[String],
) -> Result<PayCodes> {
    // Shifts by code and kind, less the self-edited ones (`edited`: their
    // code, kind and local day as they stand).
    let q = "SELECT upper(trim(coalesce(pay_code, ''))) AS code, kind, count(*) AS n
             FROM shifts GROUP BY 1, 2";
    let mut by_kind: BTreeMap<(String, String), i64> = BTreeMap::new();
    for b in &run.sql(q).await? {
        let (c, k, n) = (strs(b, "code"), strs(b, "kind"), ints(b, "n"));
        for i in 0..b.num_rows() {
            *by_kind
                .entry((c.value(i).to_string(), k.value(i).to_string()))
                .or_default() += n.value(i);
        }
    }
    for (c, k, _) in edited {
        *by_kind.entry((c.clone(), k.clone())).or_default() -= 1;
    }
    let mut uses: BTreeMap<String, CodeUse> = BTreeMap::new();
    for ((code, kind), n) in &by_kind {
        let n = (*n).max(0) as u64;
        if n == 0 {
            continue;
        }
        let u = uses.entry(code.clone()).or_insert(CodeUse {
            class: CodeClass::Other,
            shifts: 0,
            paid_kind_shifts: 0,
            duty_shifts: 0,
            dominant_days: vec![],
        });
        u.shifts += n;
        if paid_kinds.iter().any(|k| k == kind) {
            u.paid_kind_shifts += n;
        }
        if kind == "duty" {
            u.duty_shifts += n;
        }
    }
    // Codes that could mark public holidays: on a few duty shifts, neither
    // the standard code nor premium by kind. Only for them are days counted.
    let all_duty: u64 = uses.values().map(|u| u.duty_shifts).sum();
    let standard_code = uses
        .iter()
        .max_by_key(|(c, u)| (u.duty_shifts, std::cmp::Reverse((*c).clone())))
        .filter(|(_, u)| u.duty_shifts > 0)
        .map(|(c, _)| c.clone());
    let candidates: Vec<String> = uses
        .iter()
        .filter(|(c, u)| {
            Some(c.as_str()) != standard_code.as_deref()
                && u.duty_shifts >= 3
                && u.duty_shifts * 5 <= all_duty
                && u.paid_kind_shifts * 2 < u.shifts
        })
        .map(|(c, _)| c.clone())
        .collect();
    let mut duty_by_day: BTreeMap<i32, i64> = BTreeMap::new();
    let mut code_day_duty: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if !candidates.is_empty() {
        let q = "SELECT local_date(start) AS day, count(*) AS n FROM shifts
                 WHERE kind = 'duty' GROUP BY 1";
        for b in &run.sql(q).await? {
            let (d, n) = (dates(b, "day"), ints(b, "n"));
            for i in 0..b.num_rows() {
                duty_by_day.insert(d.value(i), n.value(i));
            }
        }
        let q = format!(
            "SELECT upper(trim(coalesce(pay_code, ''))) AS code, local_date(start) AS day,
                    count(*) AS n
             FROM shifts WHERE kind = 'duty' AND upper(trim(coalesce(pay_code, ''))) IN ({})
             GROUP BY 1, 2",
            super::sql_list(&candidates)
        );
        for b in &run.sql(&q).await? {
            let (c, d, n) = (strs(b, "code"), dates(b, "day"), ints(b, "n"));
            for i in 0..b.num_rows() {
                code_day_duty.insert((c.value(i).to_string(), d.value(i)), n.value(i));
            }
        }
        for (c, k, d) in edited {
            if k == "duty" {
                *duty_by_day.entry(*d).or_default() -= 1;
                if let Some(n) = code_day_duty.get_mut(&(c.clone(), *d)) {
                    *n -= 1;
                }
            }
        }
    }
    let duty_days = duty_by_day.len().max(1);
    let mut holiday_days: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (code, u) in uses.iter_mut() {
        let key = code.as_str();
        if standard.iter().any(|c| code_key(Some(c)) == key)
            || standard_code.as_deref() == Some(key)
        {
            u.class = CodeClass::Standard;
            continue;
        }
        if configured.iter().any(|c| code_key(Some(c)) == key) {
            u.class = CodeClass::PremiumConfigured;
            continue;
        }
        // Premium by kind: mostly overtime or rest-day working and seldom
        // ordinary duty (a code a fifth of whose shifts are duty is a
        // general code that overtime also carries).
        if u.shifts >= 3 && u.paid_kind_shifts * 2 >= u.shifts && u.duty_shifts * 5 <= u.shifts {
            u.class = CodeClass::PremiumOvertime;
            continue;
        }
        // Days on which this code is what most duty shifts carry.
        let days: BTreeSet<i32> = code_day_duty
            .iter()
            .filter(|((c, _), _)| c == code)
            .filter(|((_, d), n)| **n * 2 > duty_by_day[d] && duty_by_day[d] >= 3)
            .map(|((_, d), _)| *d)
            .collect();
        let on_those: i64 = days
            .iter()
            .map(|d| code_day_duty[&(code.clone(), *d)])
            .sum();
        // Public holidays are few (eight a year in England and Wales) and
        // come at most four in a row (Christmas to a substitute day): a code
        // that dominates weeks on end marks something else (an operation,
        // a rota change).
        if u.duty_shifts >= 3
            && !days.is_empty()
            && on_those as f64 >= 0.8 * u.duty_shifts as f64
            && days.len() as f64 <= (0.05 * duty_days as f64).max(3.0)
            && longest_run(&days) <= 4
        {
            u.class = CodeClass::PremiumHoliday;
            u.dominant_days = days
                .iter()
                .map(|d| probity_core::time::days_to_date(*d).to_string())
                .collect();
            holiday_days.insert(code.clone(), days);
        }
    }
    // A configured premium code nobody's shift carries is still premium.
    for c in configured {
        uses.entry(code_key(Some(c))).or_insert(CodeUse {
            class: CodeClass::PremiumConfigured,
            shifts: 0,
            paid_kind_shifts: 0,
            duty_shifts: 0,
            dominant_days: vec![],
        });
    }
    Ok(PayCodes {
        codes: uses,
        holiday_days,
    })
}

/// The longest run of consecutive days.
fn longest_run(days: &BTreeSet<i32>) -> usize {
    let (mut best, mut run, mut prev) = (0, 0, None);
    for d in days {
        run = if prev == Some(d - 1) { run + 1 } else { 1 };
        best = best.max(run);
        prev = Some(*d);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_as_forces_write_them() {
        for (raw, kind) in [
            ("overtime", Some("overtime")),
            ("Overtime", Some("overtime")),
            ("OT", Some("overtime")),
            ("Rest Day Working", Some("rest_day_working")),
            ("RDW", Some("rest_day_working")),
            ("rest-day OT", Some("rest_day_working")),
            ("Normal Duty", Some("duty")),
            ("on-call", Some("on_call")),
            ("Court", Some("court")),
            ("TRAINING", Some("training")),
            ("Rest day worked", Some("rest_day_working")),
            ("Overtime (rest day)", Some("rest_day_working")),
            ("Restraint training", Some("training")),
            ("Arrest enquiries overtime", Some("overtime")),
            ("Arrest enquiries", None),
            ("Rest day", None),
            ("Not overtime", None),
            ("Non-RDW", None),
            ("Day off", None),
            ("", None),
            ("zz", None),
        ] {
            assert_eq!(kind_of(raw), kind, "{raw:?}");
        }
    }

    #[test]
    fn field_names_are_read_as_forces_write_them() {
        for (raw, f) in [
            ("end", Some(Field::End)),
            ("End Time", Some(Field::End)),
            ("shift_finish", Some(Field::End)),
            ("start", Some(Field::Start)),
            ("StartTime", Some(Field::Start)),
            ("pay_code", Some(Field::PayCode)),
            ("PayCode", Some(Field::PayCode)),
            ("kind", Some(Field::Kind)),
            ("duty type", Some(Field::Kind)),
            ("notes", None),
        ] {
            assert_eq!(field_of(raw), f, "{raw:?}");
        }
    }

    #[test]
    fn edited_times_are_read_in_several_forms() {
        let tz = probity_core::TimeRules::new("Europe/London").unwrap();
        let h = 3_600_000_000;
        for (old, new, d) in [
            (
                "2026-03-02T17:00:00+00:00",
                "2026-03-02T20:00:00+00:00",
                3 * h,
            ),
            ("2026-03-02T17:00:00Z", "2026-03-02T19:30:00Z", 5 * h / 2),
            ("2026-03-02 17:00", "2026-03-02 19:00", 2 * h),
            ("2026-07-02T17:00:00", "2026-07-02T18:00:00", h),
            ("17:00", "20:00", 3 * h),
            ("23:00", "01:00", 2 * h),
            ("0700", "0600", -h),
        ] {
            assert_eq!(time_delta(&tz, old, new), Some(d), "{old} -> {new}");
        }
        assert_eq!(time_delta(&tz, "soon", "later"), None);
    }

    #[test]
    fn runs_of_days_are_measured() {
        let days = |d: &[i32]| d.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(longest_run(&days(&[])), 0);
        assert_eq!(longest_run(&days(&[5])), 1);
        // Christmas, Boxing Day, a substitute day after a weekend.
        assert_eq!(longest_run(&days(&[358, 359, 362, 365])), 2);
        assert_eq!(longest_run(&days(&[1, 2, 3, 4, 5, 9])), 5);
    }

    #[test]
    fn placeholders_mean_none() {
        for p in ["", " ", "N/A", "none", "NULL", "-", "0", "n/a "] {
            assert!(is_placeholder(p), "{p:?}");
        }
        for v in ["CR-000123", "intel_check", "A"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
    }
}
