//! Time rules of the contract, through the `jiff` time-zone library.
//!
//! - A timestamp with an offset (`2026-03-29T01:30:00+01:00`, or `Z`) is an
//!   exact instant.
//! - A naive local time (`2026-03-29 01:30:00` or with `T`) is read in the
//!   dataset time zone (default `Europe/London`). If it does not exist (the
//!   spring-forward gap) it is an error and the row is quarantined; if it is
//!   ambiguous (the fall-back overlap) it takes the earlier instant.
//! - Dates are `YYYY-MM-DD`.
//!
//! Instants are represented as microseconds since the Unix epoch (UTC), dates
//! as days since the epoch: the Arrow `Timestamp(µs, UTC)` and `Date32` forms.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::Error;

/// The dataset time zone used when none is configured.
pub const DEFAULT_TIME_ZONE: &str = "Europe/London";

/// Why a time value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not a timestamp or date in any accepted form.
    #[error("cannot read {value:?} as {expected}")]
    Unparsable {
        /// The text that was read.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A naive local time inside the spring-forward gap.
    #[error(
        "local time {value} does not exist in {zone} (clocks went forward); \
         write it with an explicit offset"
    )]
    Nonexistent {
        /// The text that was read.
        value: String,
        /// The zone it was read in.
        zone: String,
    },
}

/// The rules for reading times of one dataset.
#[derive(Debug, Clone)]
pub struct TimeRules {
    zone: TimeZone,
    zone_name: String,
}

impl TimeRules {
    /// Rules for a named IANA time zone, e.g. `Europe/London`.
    pub fn new(zone_name: &str) -> Result<Self, Error> {
        let zone = jiff::tz::db()
            .get(zone_name)
            .map_err(|e| Error::UnknownTimeZone(zone_name.to_string(), e.to_string()))?;
        Ok(TimeRules {
            zone,
            zone_name: zone_name.to_string(),
        })
    }

    /// The zone's IANA name.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The zone itself.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Reads a timestamp into microseconds since the epoch (UTC).
    pub fn parse_timestamp(&self, value: &str) -> Result<i64, TimeError> {
        let v = value.trim();
        if let Some(us) = fast_rfc3339(v) {
            return Ok(us);
        }
        if let Ok(ts) = v.parse::<Timestamp>() {
            return Ok(ts.as_microsecond());
        }
        let dt: DateTime = v.parse().map_err(|_| TimeError::Unparsable {
            value: value.to_string(),
            expected: "a timestamp (RFC 3339 with offset, or local YYYY-MM-DDTHH:MM:SS)",
        })?;
        self.local_to_micros(dt, value)
    }

    /// Converts a naive local date-time to an instant by the contract's rules.
    pub fn local_to_micros(&self, dt: DateTime, original: &str) -> Result<i64, TimeError> {
        let amb = self.zone.to_ambiguous_timestamp(dt);
        let offset = match amb.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { .. } => {
                return Err(TimeError::Nonexistent {
                    value: original.to_string(),
                    zone: self.zone_name.clone(),
                });
            }
            // The earlier instant of a fall-back overlap is the one with the
            // larger offset (before the clocks went back).
            AmbiguousOffset::Fold { before, .. } => before,
        };
        let ts = offset.to_timestamp(dt).map_err(|_| TimeError::Unparsable {
            value: original.to_string(),
            expected: "a timestamp within the supported range",
        })?;
        Ok(ts.as_microsecond())
    }

    /// The local civil date of an instant in the dataset zone.
    pub fn local_date(&self, micros: i64) -> Date {
        let ts = Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH);
        self.zone.to_offset(ts).to_datetime(ts).date()
    }

    /// Formats an instant as RFC 3339 with the dataset zone's offset at that instant.
    pub fn format_local(&self, micros: i64) -> String {
        let ts = Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH);
        let offset = self.zone.to_offset(ts);
        let dt = offset.to_datetime(ts);
        let secs = offset.seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        format!(
            "{}{}{:02}:{:02}",
            dt.strftime("%Y-%m-%dT%H:%M:%S"),
            sign,
            secs / 3600,
            (secs % 3600) / 60
        )
    }
}

/// Reads a date `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(value: &str) -> Result<i32, TimeError> {
    let v = value.trim();
    let unparsable = || TimeError::Unparsable {
        value: value.to_string(),
        expected: "a date YYYY-MM-DD",
    };
    if v.len() != 10 {
        return Err(unparsable());
    }
    let d: Date = v.parse().map_err(|_| unparsable())?;
    Ok(date_to_days(d))
}

/// Checks a possibly partial date of birth: `YYYY-MM-DD` or `YYYY-MM`.
pub fn check_partial_date(value: &str) -> Result<(), TimeError> {
    let v = value.trim();
    if v.len() == 10 {
        return parse_date(v).map(|_| ());
    }
    let b = v.as_bytes();
    let ok = v.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
        && (1..=12).contains(&v[5..].parse::<u8>().unwrap_or(0));
    if ok {
        Ok(())
    } else {
        Err(TimeError::Unparsable {
            value: value.to_string(),
            expected: "a date YYYY-MM-DD or YYYY-MM",
        })
    }
}

/// Days since 1970-01-01 of a civil date.
pub fn date_to_days(d: Date) -> i32 {
    days_from_civil(
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    ) as i32
}

/// The civil date of a day number (days since 1970-01-01).
pub fn days_to_date(days: i32) -> Date {
    let (y, m, d) = civil_from_days(i64::from(days));
    Date::new(y as i16, m as i8, d as i8).expect("day number within jiff's range")
}

/// Howard Hinnant's `days_from_civil`: exact for the proleptic Gregorian calendar.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month, day) of a day number, without allocation.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A fast path for the most common exact form, `YYYY-MM-DDTHH:MM:SS` followed
/// by `Z` or `±HH:MM` (no fractional seconds). Everything else, including any
/// value this rejects, goes through jiff's full parser, so this only has to be
/// right for what it accepts.
fn fast_rfc3339(v: &str) -> Option<i64> {
    let b = v.as_bytes();
    if !(b.len() == 20 || b.len() == 25) {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, s) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let offset_secs = match (b.len(), b[19]) {
        (20, b'Z') => 0,
        (25, sign @ (b'+' | b'-')) if b[22] == b':' => {
            let (oh, om) = (digits(20..22)?, digits(23..25)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) - offset_secs) * 1_000_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> TimeRules {
        TimeRules::new(DEFAULT_TIME_ZONE).unwrap()
    }

    fn us(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn offsets_are_exact_instants() {
        let r = london();
        assert_eq!(
            r.parse_timestamp("2026-03-29T01:30:00+01:00").unwrap(),
            us("2026-03-29T00:30:00Z")
        );
        assert_eq!(
            r.parse_timestamp("2026-06-01T12:00:00Z").unwrap(),
            us("2026-06-01T12:00:00Z")
        );
        assert_eq!(
            r.parse_timestamp("2026-06-01T12:00:00.250-05:00").unwrap(),
            us("2026-06-01T17:00:00.25Z")
        );
    }

    #[test]
    fn naive_local_time_uses_the_zone() {
        let r = london();
        // Winter: GMT; summer: BST (UTC+1).
        assert_eq!(
            r.parse_timestamp("2026-01-10T09:00:00").unwrap(),
            us("2026-01-10T09:00:00Z")
        );
        assert_eq!(
            r.parse_timestamp("2026-07-10 09:00:00").unwrap(),
            us("2026-07-10T08:00:00Z")
        );
    }

    #[test]
    fn spring_forward_gap_is_an_error() {
        let r = london();
        let err = r.parse_timestamp("2026-03-29T01:30:00").unwrap_err();
        assert!(matches!(err, TimeError::Nonexistent { .. }), "{err}");
        assert!(err.to_string().contains("does not exist in Europe/London"));
        // Either side of the gap is fine.
        assert_eq!(
            r.parse_timestamp("2026-03-29T00:59:59").unwrap(),
            us("2026-03-29T00:59:59Z")
        );
        assert_eq!(
            r.parse_timestamp("2026-03-29T02:00:00").unwrap(),
            us("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn fall_back_overlap_takes_the_earlier_instant() {
        let r = london();
        // 01:30 happens twice on 2026-10-25: first at 00:30Z (BST), then 01:30Z.
        assert_eq!(
            r.parse_timestamp("2026-10-25T01:30:00").unwrap(),
            us("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn garbage_and_impossible_values_are_unparsable() {
        let r = london();
        for bad in [
            "",
            "yesterday",
            "2026-02-30T10:00:00Z",
            "2026-13-01T00:00:00",
            "2026-03-16T25:00:00+00:00",
            "1712345678",
        ] {
            assert!(
                matches!(r.parse_timestamp(bad), Err(TimeError::Unparsable { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn fast_path_agrees_with_jiff() {
        for s in [
            "2026-03-16T06:42:00+00:00",
            "2026-03-29T01:30:00+01:00",
            "2024-02-29T23:59:59-07:30",
            "1969-12-31T23:59:59Z",
            "2000-01-01T00:00:00Z",
        ] {
            assert_eq!(fast_rfc3339(s), Some(us(s)), "{s}");
        }
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2026-03-29").unwrap(), 20_541);
        assert_eq!(days_to_date(20_541).to_string(), "2026-03-29");
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-3-1").is_err());
        for d in [-1000, -1, 0, 59, 60, 11_016, 20_541, 40_000] {
            assert_eq!(date_to_days(days_to_date(d)), d);
        }
        assert!(check_partial_date("1986-06").is_ok());
        assert!(check_partial_date("1986-06-23").is_ok());
        assert!(check_partial_date("1986-13").is_err());
        assert!(check_partial_date("86-06").is_err());
    }

    #[test]
    fn local_formatting_carries_the_offset() {
        let r = london();
        assert_eq!(
            r.format_local(us("2026-07-10T08:00:00Z")),
            "2026-07-10T09:00:00+01:00"
        );
        assert_eq!(
            r.format_local(us("2026-01-10T08:00:00Z")),
            "2026-01-10T08:00:00+00:00"
        );
        assert_eq!(
            r.local_date(us("2026-07-10T23:30:00Z")).to_string(),
            "2026-07-11"
        );
    }
}
