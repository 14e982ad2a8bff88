//! How a force writes its data and how its misconduct looks: the things one
//! force does differently from another. Set 0 is the house style every
//! earlier figure was measured on; every other set is drawn from its own
//! random stream (independent of `--seed`, which draws the people), so that
//! detectors can be tested on conventions they were not written against.
//!
//! A set varies: the timestamp form (offset, UTC, naive local), the time
//! form of edited values in the roster's log, the pay-code vocabulary (and
//! whether public holidays carry their own code), the names of edited fields
//! and the spelling of shift kinds in the log, the placeholder written for
//! "no case" and "no reason", how declarations write organisation names,
//! whether rostered shifts stay on the roster over leave, and the shape of
//! planted misconduct: attendance breaches confined to some weeks, ghost
//! overtime claimed as extensions of rostered shifts, roster manipulation by
//! pay code alone (an overtime or a holiday code), complaint rates raised
//! over two years rather than bunched in one.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How instants are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    /// `2026-03-02T07:00:00+00:00` (local time with its offset).
    Offset,
    /// `2026-03-02T07:00:00Z`.
    Utc,
    /// `2026-03-02T07:00:00`, local time without an offset.
    Naive,
}

/// How edited start and end times are written in the roster's edit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTimeForm {
    /// As every other instant.
    Instant,
    /// `2026-03-02 07:00` (naive local, a space, no seconds).
    Spaced,
    /// `07:00`: the time of day only.
    TimeOfDay,
}

/// How shift kinds are spelt in the edit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindSpelling {
    /// `overtime`, `rest_day_working`.
    Contract,
    /// `Overtime`, `Rest Day Working`.
    Title,
    /// `OT`, `RDW`, `DUTY`.
    Abbreviated,
}

/// How a planted roster manipulation raises pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manipulation {
    /// Kind to overtime and the overtime pay code.
    KindAndCode,
    /// Kind to rest-day working and its code.
    RestDay,
    /// The overtime pay code alone; the kind stays duty.
    CodeOnly,
    /// The public-holiday code on an ordinary day.
    HolidayCode,
    /// The end time pushed out, with nothing showing a stay.
    Extension,
}

/// One force's conventions.
#[derive(Debug, Clone)]
pub struct Conventions {
    /// The set's number (0 = house).
    pub set: u32,
    /// Instants.
    pub time: TimeForm,
    /// Edited times in the roster log.
    pub edit_time: EditTimeForm,
    /// Standard duty pay code.
    pub standard: String,
    /// Overtime pay code (also court attendance on a rest day).
    pub overtime: String,
    /// Rest-day-working pay code.
    pub rest_day: String,
    /// Training pay code.
    pub training: String,
    /// The code duty shifts carry on public holidays, if the force has one.
    pub holiday: Option<String>,
    /// Edit-log field names: kind, pay code, start, end.
    pub fields: [String; 4],
    /// Shift kinds in the edit log.
    pub kinds: KindSpelling,
    /// Written where a look-up has no case or no reason.
    pub none: String,
    /// Chance that a declaration writes its organisation another way.
    pub org_variants: f64,
    /// Whether rostered duty shifts stay on the roster over recorded leave.
    pub shifts_over_leave: bool,
    /// Attendance breaches confined to a window of weeks.
    pub confined_breaches: bool,
    /// Ghost overtime claimed as extensions of rostered shifts.
    pub extension_ghosts: bool,
    /// Whether a claim extending a shift names that shift (else no shift).
    pub claims_name_shift: bool,
    /// Ordinary staff claim genuine extensions on this share of duty days.
    pub extension_rate: f64,
    /// Complaint patterns raised over two years, never bunched in one.
    pub long_complaints: bool,
    /// How roster manipulation raises pay (drawn per shift from these).
    pub manipulations: Vec<Manipulation>,
}

impl Conventions {
    /// The house conventions (set 0): what every figure before conventions
    /// were measured on.
    pub fn house() -> Conventions {
        Conventions {
            set: 0,
            time: TimeForm::Offset,
            edit_time: EditTimeForm::Instant,
            standard: "STD".into(),
            overtime: "OT15".into(),
            rest_day: "RDW".into(),
            training: "TRN".into(),
            holiday: None,
            fields: ["kind", "pay_code", "start", "end"].map(String::from),
            kinds: KindSpelling::Contract,
            none: String::new(),
            org_variants: 0.0,
            shifts_over_leave: false,
            confined_breaches: false,
            extension_ghosts: false,
            claims_name_shift: false,
            extension_rate: 0.0,
            long_complaints: false,
            manipulations: vec![Manipulation::KindAndCode, Manipulation::Extension],
        }
    }

    /// Set `n`: the house conventions for 0, otherwise drawn from a stream of
    /// its own. Every set past 0 plants the new shapes of misconduct (some
    /// weeks of absence from the office, extensions claimed without
    /// presence, pay codes alone, two years of complaints) beside the old
    /// ones, and varies how everything is written.
    pub fn draw(n: u32) -> Conventions {
        if n == 0 {
            return Conventions::house();
        }
        let mut r = ChaCha8Rng::seed_from_u64(0x636f_6e76_656e_7469 ^ u64::from(n));
        let pick = |r: &mut ChaCha8Rng, xs: &[&str]| -> String {
            xs.choose(r).expect("non-empty").to_string()
        };
        let standard = pick(
            &mut r,
            &["BASIC", "NORM", "B01", "ORD", "S1", "STD", "PLAIN"],
        );
        let overtime = pick(
            &mut r,
            &["X15", "OVT", "T1.5", "OT-150", "EXTRA", "OTP", "OT15"],
        );
        let rest_day = pick(&mut r, &["RD1", "RDWK", "RESTOT", "R15", "RDW", "RDX"]);
        let training = pick(&mut r, &["TRAIN", "CPD", "TRN", "LEARN"]);
        let holiday = if r.random_bool(0.75) {
            Some(pick(
                &mut r,
                &["BHX", "PHOL", "BANKHOL", "ENH2", "BH200", "HOL"],
            ))
        } else {
            None
        };
        let fields = [
            pick(&mut r, &["kind", "shift_type", "Duty Type", "KIND"]),
            pick(&mut r, &["pay_code", "PayCode", "pay", "rate_code"]),
            pick(&mut r, &["start", "start_time", "StartTime", "shift_start"]),
            pick(&mut r, &["end", "end_time", "Finish", "shift_end"]),
        ];
        let time = *[TimeForm::Offset, TimeForm::Utc, TimeForm::Naive]
            .choose(&mut r)
            .expect("non-empty");
        let edit_time = *[
            EditTimeForm::Instant,
            EditTimeForm::Spaced,
            EditTimeForm::TimeOfDay,
        ]
        .choose(&mut r)
        .expect("non-empty");
        let kinds = *[
            KindSpelling::Contract,
            KindSpelling::Title,
            KindSpelling::Abbreviated,
        ]
        .choose(&mut r)
        .expect("non-empty");
        let none = pick(&mut r, &["", "N/A", "NONE", "-", "n/a", "0"]);
        let mut manipulations = vec![Manipulation::CodeOnly, Manipulation::Extension];
        for m in [Manipulation::KindAndCode, Manipulation::RestDay] {
            if r.random_bool(0.5) {
                manipulations.push(m);
            }
        }
        if holiday.is_some() {
            manipulations.push(Manipulation::HolidayCode);
        }
        Conventions {
            set: n,
            time,
            edit_time,
            standard,
            overtime,
            rest_day,
            training,
            holiday,
            fields,
            kinds,
            none,
            org_variants: r.random_range(0.5..0.9),
            shifts_over_leave: r.random_bool(0.5),
            confined_breaches: true,
            extension_ghosts: true,
            claims_name_shift: r.random_bool(0.5),
            extension_rate: r.random_range(0.03..0.08),
            long_complaints: true,
            manipulations,
        }
    }

    /// A shift kind as this force's edit log writes it.
    pub fn kind(&self, kind: &str) -> String {
        match self.kinds {
            KindSpelling::Contract => kind.to_string(),
            KindSpelling::Title => kind
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
            KindSpelling::Abbreviated => match kind {
                "overtime" => "OT".into(),
                "rest_day_working" => "RDW".into(),
                "on_call" => "ONCALL".into(),
                other => other.to_uppercase(),
            },
        }
    }

    /// One line describing the set, for the synth report.
    pub fn describe(&self) -> String {
        if self.set == 0 {
            return "house conventions (set 0)".into();
        }
        format!(
            "conventions set {}: times {:?}, edited times {:?}, pay codes standard {} overtime \
             {} rest day {} holiday {}; edit fields {}; kinds {:?}; no case written {:?}; \
             organisation variants {:.0}%; shifts kept over leave {}; claims extending a shift \
             {} it",
            self.set,
            self.time,
            self.edit_time,
            self.standard,
            self.overtime,
            self.rest_day,
            self.holiday.as_deref().unwrap_or("(none)"),
            self.fields.join("/"),
            self.kinds,
            self.none,
            self.org_variants * 100.0,
            self.shifts_over_leave,
            if self.claims_name_shift {
                "name"
            } else {
                "do not name"
            }
        )
    }
}

/// Easter Sunday (days since the epoch), anonymous Gregorian algorithm.
fn easter(y: i32) -> i32 {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    crate::csvout::day_of(y, month as u8, day as u8)
}

/// Monday = 0.
fn weekday(day: i32) -> i32 {
    (day + 3).rem_euclid(7)
}

/// Bank holidays in England and Wales in year `y` (the regular ones, with
/// substitute days; one-off holidays left out).
pub fn bank_holidays(y: i32) -> Vec<i32> {
    let d = |m: u8, dd: u8| crate::csvout::day_of(y, m, dd);
    let first_monday = |m: u8| {
        let s = d(m, 1);
        s + (7 - weekday(s)) % 7
    };
    let last_monday = |m: u8, last: u8| {
        let e = d(m, last);
        e - weekday(e)
    };
    let mut out = vec![];
    let ny = d(1, 1);
    out.push(match weekday(ny) {
        5 => ny + 2,
        6 => ny + 1,
        _ => ny,
    });
    let e = easter(y);
    out.extend([e - 2, e + 1]);
    out.push(first_monday(5));
    out.push(last_monday(5, 31));
    out.push(last_monday(8, 31));
    let (xmas, boxing) = (d(12, 25), d(12, 26));
    match weekday(xmas) {
        5 => out.extend([xmas + 2, boxing + 2]),
        6 => out.extend([xmas + 2, boxing]),
        4 => out.extend([xmas, boxing + 2]),
        _ => out.extend([xmas, boxing]),
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvout::day_of;

    #[test]
    fn bank_holidays_of_england_and_wales() {
        assert_eq!(
            bank_holidays(2026),
            vec![
                day_of(2026, 1, 1),
                day_of(2026, 4, 3),
                day_of(2026, 4, 6),
                day_of(2026, 5, 4),
                day_of(2026, 5, 25),
                day_of(2026, 8, 31),
                day_of(2026, 12, 25),
                day_of(2026, 12, 28),
            ]
        );
        // 2021: Christmas on a Saturday, Boxing Day on a Sunday.
        let h = bank_holidays(2021);
        assert!(h.contains(&day_of(2021, 12, 27)) && h.contains(&day_of(2021, 12, 28)));
        assert!(h.contains(&day_of(2021, 4, 2)) && h.contains(&day_of(2021, 4, 5)));
    }

    #[test]
    fn sets_differ_and_the_house_set_is_fixed() {
        assert_eq!(Conventions::draw(0).standard, "STD");
        let (a, b) = (Conventions::draw(1), Conventions::draw(2));
        assert_ne!(a.describe(), b.describe());
        assert_eq!(Conventions::draw(1).describe(), a.describe());
        assert!(!a.kind("rest_day_working").is_empty());
        let t = Conventions {
            kinds: KindSpelling::Title,
            ..Conventions::house()
        };
        assert_eq!(t.kind("rest_day_working"), "Rest Day Working");
    }
}
