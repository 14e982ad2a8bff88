//! Each class of "a force writes it another way" or "misconduct looks
//! another way" that once cost the detectors recall or precision, on small
//! data written by hand: a force's own pay codes, overtime that extends a
//! shift, a shortfall confined to some weeks, a complaint rate raised over
//! two years, organisation names spelt differently, placeholders for "no
//! case", and a late shift's extension past midnight into leave. Each test
//! also holds the innocent look-alike of its class, and checks that the
//! finding says what it measured.

use std::collections::BTreeMap;
use std::path::Path;

use probity_core::Table;
use probity_detect::finding::Fact;
use probity_detect::{AnalysisReport, Finding, Plan, Silent};
use probity_store::Store;

use super::{new_store, rt};

/// A small force written row by row: every row names its columns, the rest
/// of the contract's columns are left empty.
struct Tiny {
    rows: BTreeMap<Table, Vec<BTreeMap<&'static str, String>>>,
}

impl Tiny {
    /// One site, one unit, and `people` as (id, rank, role, pattern, target).
    fn new(people: &[(&str, &str, &str, &str, Option<f64>)]) -> Tiny {
        let mut t = Tiny {
            rows: BTreeMap::new(),
        };
        t.row(
            Table::Sites,
            &[
                ("site_id", "S1"),
                ("name", "Central"),
                ("lat", "51.5"),
                ("lon", "-0.12"),
                ("radius_m", "150"),
            ],
        );
        t.row(
            Table::Units,
            &[("unit_id", "U1"), ("name", "Team A"), ("site_id", "S1")],
        );
        for (i, (id, rank, role, pattern, target)) in people.iter().enumerate() {
            let target = target.map(|x| x.to_string()).unwrap_or_default();
            let given = format!("Given{}", name_part(i));
            let family = format!("Family{}", name_part(i + 7));
            let dob = format!("19{}-0{}-1{}", 60 + i % 35, 1 + i % 9, i % 9);
            let pc = format!("E{} {}AB", 1 + i % 20, i % 10);
            t.row(
                Table::People,
                &[
                    ("person_id", id),
                    ("given_name", &given),
                    ("family_name", &family),
                    ("date_of_birth", &dob),
                    ("home_postcode", &pc),
                    ("rank", rank),
                    ("role", role),
                    ("unit_id", "U1"),
                    ("start_date", "2015-01-01"),
                    ("work_pattern", pattern),
                    ("office_days_target", &target),
                    ("contracted_hours_per_week", "40"),
                ],
            );
            for (table, key, prefix) in [
                (Table::BadgeCards, "card_id", "C"),
                (Table::Devices, "device_id", "D"),
            ] {
                let from = if table == Table::BadgeCards {
                    "valid_from"
                } else {
                    "issued_from"
                };
                t.row(
                    table,
                    &[
                        (key, &format!("{prefix}{id}")),
                        ("person_id", id),
                        (from, "2015-01-01"),
                    ],
                );
            }
            t.row(
                Table::Accounts,
                &[("account_id", &format!("A{id}")), ("person_id", id)],
            );
        }
        t
    }

    fn row(&mut self, table: Table, cells: &[(&'static str, &str)]) {
        let def = table.def();
        for (c, _) in cells {
            assert!(
                def.columns.iter().any(|d| d.name == *c),
                "{} has no column {c}",
                table.name()
            );
        }
        self.rows
            .entry(table)
            .or_default()
            .push(cells.iter().map(|(c, v)| (*c, v.to_string())).collect());
    }

    fn shift(&mut self, id: &str, person: &str, start: &str, end: &str, kind: &str, code: &str) {
        self.row(
            Table::Shifts,
            &[
                ("shift_id", id),
                ("person_id", person),
                ("unit_id", "U1"),
                ("start", start),
                ("end", end),
                ("kind", kind),
                ("pay_code", code),
            ],
        );
    }

    fn swipe(&mut self, id: &str, person: &str, at: &str, dir: &str) {
        self.row(
            Table::BadgeEvents,
            &[
                ("event_id", id),
                ("card_id", &format!("C{person}")),
                ("site_id", "S1"),
                ("at", at),
                ("direction", dir),
            ],
        );
    }

    fn session(&mut self, id: &str, person: &str, start: &str, end: &str, network: &str) {
        self.row(
            Table::DeviceSessions,
            &[
                ("session_id", id),
                ("device_id", &format!("D{person}")),
                ("account_id", &format!("A{person}")),
                ("start", start),
                ("end", end),
                ("network", network),
            ],
        );
    }

    /// Writes the tables as CSV, ingests them into a new store whose
    /// governance approves every detector, and runs `detector` alone.
    fn analyse(&self, dir: &Path, detector: &str) -> (Store, AnalysisReport) {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        for (table, rows) in &self.rows {
            let cols: Vec<&str> = table.def().columns.iter().map(|c| c.name).collect();
            let mut w = csv::Writer::from_path(data.join(format!("{}.csv", table.name()))).unwrap();
            w.write_record(&cols).unwrap();
            for r in rows {
                w.write_record(cols.iter().map(|c| r.get(c).map_or("", String::as_str)))
                    .unwrap();
            }
            w.flush().unwrap();
        }
        // PROBITY_KEEP_CLASS_DATA=DIR keeps each test's tables in DIR/<detector>
        // (to run another build of Probity over the same data).
        if let Ok(keep) = std::env::var("PROBITY_KEEP_CLASS_DATA") {
            let to = Path::new(&keep).join(detector);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(&data).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
        let store = dir.join("store");
        let mut s = new_store(&store);
        let rep = probity_ingest::ingest(&mut s, &data, &probity_ingest::Silent).unwrap();
        for t in &rep.tables {
            assert_eq!(
                t.rows_quarantined,
                0,
                "{}: {:?}",
                t.table.name(),
                t.examples
            );
        }
        drop(s);
        let s = Store::open(&store).unwrap();
        let mut plan = Plan::with_overrides(&s, &[detector]).unwrap();
        plan.retain(|d| d.id == detector);
        let report = rt().block_on(plan.run(&Silent)).unwrap();
        (s, report)
    }
}

/// Distinct letters for made-up names (`Givenab`, `Familyqk`).
fn name_part(i: usize) -> String {
    let a = b"abcdefghijklmnopqrstuvwxyz";
    format!("{}{}", a[i % 26] as char, a[(i * 7 + 3) % 26] as char)
}

/// The findings about a person (by real id: pseudonymised with the store key).
fn about<'a>(s: &Store, r: &'a AnalysisReport, person: &str) -> Vec<&'a Finding> {
    let p = s.person_pseudonym(person);
    r.findings.iter().filter(|f| f.person == p).collect()
}

fn num(f: &Finding, name: &str) -> f64 {
    f.facts
        .get(name)
        .and_then(Fact::num)
        .unwrap_or_else(|| panic!("{name} missing from {:?}", f.facts))
}

fn text<'a>(f: &'a Finding, name: &str) -> &'a str {
    f.facts
        .get(name)
        .and_then(Fact::text)
        .unwrap_or_else(|| panic!("{name} missing from {:?}", f.facts))
}

fn notes<'a>(r: &'a AnalysisReport, detector: &str) -> &'a probity_detect::Notes {
    &r.outcomes
        .iter()
        .find(|o| o.detector == detector)
        .unwrap()
        .notes
}

/// Day `d` of March 2026 at `hh:mm`, naive local time (GMT until the 29th).
fn mar(d: u32, hm: &str) -> String {
    format!("2026-03-{d:02}T{hm}:00")
}

/// Class 1: a force's own pay codes. A premium code is learned from the
/// shifts that carry it, not taken from a fixed list; a holiday code set on
/// a holiday (by day or by night) is an entitlement; a code nobody else
/// carries is reported; an overtime code set on an overtime shift is a
/// correction; time added at each end of a shift is judged on its own.
#[test]
fn pay_codes_are_learned_from_the_store() {
    let ids: Vec<String> = (1..=12).map(|i| format!("P{i:02}")).collect();
    let people: Vec<(&str, &str, &str, &str, Option<f64>)> = ids
        .iter()
        .map(|i| (i.as_str(), "constable", "response officer", "shift", None))
        .collect();
    let mut t = Tiny::new(&people);
    // Everyone works days 2..=27 on the force's standard code; 20 March is
    // a public holiday, on which duty carries "BHX". Overtime is "X15".
    for (k, p) in ids.iter().enumerate() {
        for d in 2..=27 {
            let code = if d == 20 { "BHX" } else { "BASIC" };
            // P07's shifts on the 5th and 9th stand as they were edited:
            // an hour earlier and an hour later.
            let (from, to) = if p == "P07" && [5, 9].contains(&d) {
                ("06:00", "18:00")
            } else {
                ("07:00", "17:00")
            };
            t.shift(
                &format!("S{p}-{d}"),
                p,
                &mar(d, from),
                &mar(d, to),
                "duty",
                code,
            );
        }
        if k < 4 {
            for d in [28, 29, 30] {
                t.shift(
                    &format!("O{p}-{d}"),
                    p,
                    &mar(d, "08:00"),
                    &mar(d, "16:00"),
                    "overtime",
                    "X15",
                );
            }
        }
    }
    let edit = |t: &mut Tiny, id: &str, p: &str, d: u32, old: &str, new: &str| {
        t.row(
            Table::RosterEdits,
            &[
                ("edit_id", id),
                ("shift_id", &format!("S{p}-{d}")),
                ("edited_by", p),
                ("edited_at", &mar(d, "19:00")),
                ("field", "PayCode"),
                ("old_value", old),
                ("new_value", new),
            ],
        );
    };
    // P01 sets the overtime code on ordinary duty; P02 the holiday code on
    // ordinary days; P03 corrects their own holiday shift to the holiday
    // code (twice: the holiday and a day that is not); P04 sets a code no
    // shift of the force carries.
    for (k, d) in [5, 9, 14].iter().enumerate() {
        edit(&mut t, &format!("E1{k}"), "P01", *d, "BASIC", "X15");
    }
    for (k, d) in [6, 11].iter().enumerate() {
        edit(&mut t, &format!("E2{k}"), "P02", *d, "BASIC", "bhx");
    }
    edit(&mut t, "E30", "P03", 20, "BASIC", "BHX");
    for (k, d) in [8, 12].iter().enumerate() {
        edit(&mut t, &format!("E4{k}"), "P04", *d, "BASIC", "ZZ9");
    }
    // P05 sets the overtime code on two of their own overtime shifts: a
    // correction of the code, not a gain.
    for d in [28, 29] {
        t.shift(
            &format!("S{}-{d}", "P05"),
            "P05",
            &mar(d, "08:00"),
            &mar(d, "16:00"),
            "overtime",
            "X15",
        );
        edit(&mut t, &format!("E5{d}"), "P05", d, "BASIC", "X15");
    }
    // P06 works the night into the holiday and sets the holiday code on it.
    t.shift(
        "NP06",
        "P06",
        &mar(19, "22:00"),
        &mar(20, "06:00"),
        "duty",
        "BHX",
    );
    t.row(
        Table::RosterEdits,
        &[
            ("edit_id", "E60"),
            ("shift_id", "NP06"),
            ("edited_by", "P06"),
            ("edited_at", &mar(19, "20:00")),
            ("field", "pay_code"),
            ("old_value", "BASIC"),
            ("new_value", "BHX"),
        ],
    );
    // P07 adds an hour at each end of two shifts; a swipe shows the later
    // hour worked, nothing shows the earlier one.
    for d in [5, 9] {
        for (k, (field, old, new)) in [
            ("Start Time", "07:00", "06:00"),
            ("End Time", "17:00", "18:00"),
        ]
        .iter()
        .enumerate()
        {
            t.row(
                Table::RosterEdits,
                &[
                    ("edit_id", &format!("E7{d}{k}")),
                    ("shift_id", &format!("SP07-{d}")),
                    ("edited_by", "P07"),
                    ("edited_at", &mar(d, "19:00")),
                    ("field", field),
                    ("old_value", old),
                    ("new_value", new),
                ],
            );
        }
        t.swipe(&format!("B7{d}"), "P07", &mar(d, "17:50"), "out");
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "roster_self_edit_pay");
    let p1 = about(&s, &r, "P01");
    assert_eq!(p1.len(), 1, "{:?}", r.findings);
    assert_eq!(num(p1[0], "premium_code_shifts"), 3.0);
    assert_eq!(text(p1[0], "premium_codes_learned"), "X15");
    assert!(
        p1[0]
            .summary
            .contains("X15 (learned: borne by 12 of its 12 shifts"),
        "{}",
        p1[0].summary
    );
    let p2 = about(&s, &r, "P02");
    assert_eq!(p2.len(), 1);
    assert_eq!(text(p2[0], "premium_codes_learned"), "BHX");
    assert!(
        p2[0].summary.contains("public holiday"),
        "{}",
        p2[0].summary
    );
    assert!(
        about(&s, &r, "P03").is_empty(),
        "a holiday code on a holiday"
    );
    assert!(
        about(&s, &r, "P04").is_empty(),
        "an unknown code is not a gain"
    );
    let n = notes(&r, "roster_self_edit_pay");
    assert!(
        n.notes
            .iter()
            .any(|l| l.contains("\"ZZ9\" ×2") && l.contains("premium_pay_codes")),
        "{:?}",
        n.notes
    );
    // The holiday code on the holiday, by day or by night.
    assert!(
        n.notes
            .iter()
            .any(|l| l.contains("2 self-edits set a holiday")),
        "{:?}",
        n.notes
    );
    assert!(about(&s, &r, "P05").is_empty(), "a code corrected");
    assert!(
        n.notes
            .iter()
            .any(|l| l.contains("2 self-edits set a premium pay code on a shift already")),
        "{:?}",
        n.notes
    );
    assert!(about(&s, &r, "P06").is_empty());
    // Each end judged on its own: the hour with nothing in it counts.
    let p7 = about(&s, &r, "P07");
    assert_eq!(p7.len(), 1, "{:?}", r.findings);
    assert_eq!(num(p7[0], "extended_shifts"), 2.0);
    assert_eq!(num(p7[0], "added_hours"), 2.0);
    let codes = &n.learned["pay_codes"]["codes"];
    assert_eq!(codes["BASIC"]["class"], "standard");
    assert_eq!(codes["X15"]["class"], "premium_overtime");
    assert_eq!(codes["BHX"]["class"], "premium_holiday");
    assert_eq!(codes["BHX"]["dominant_days"][0], "2026-03-20");
}

/// Class 2: overtime that extends a shift. The swipe-out that ends the
/// rostered shift does not evidence the hours claimed after it, whether
/// the claim names the shift or not; a person who stays is not flagged; a
/// long claim needs presence over a share of its hours; a call-out while on
/// call from home is not tested.
#[test]
fn overtime_extending_a_shift_needs_presence_inside_its_hours() {
    let mut t = Tiny::new(&[
        ("G1", "constable", "response officer", "shift", None),
        ("H1", "constable", "response officer", "shift", None),
        ("I1", "constable", "response officer", "shift", None),
        ("J1", "constable", "response officer", "shift", None),
    ]);
    // J1 is called out twice from home while on call: nothing at a site is
    // expected. One claim names the on-call shift, the other names none.
    for d in [10, 11] {
        t.shift(
            &format!("OC{d}"),
            "J1",
            &mar(d, "18:00"),
            &mar(d, "23:00"),
            "on_call",
            "OC",
        );
        t.row(
            Table::OvertimeClaims,
            &[
                ("claim_id", &format!("CJ1{d}")),
                ("person_id", "J1"),
                ("shift_id", if d == 10 { "OC10" } else { "" }),
                ("claimed_start", &mar(d, "19:00")),
                ("claimed_end", &mar(d, "22:00")),
                ("hours", "3"),
                ("reason", "call-out"),
            ],
        );
    }
    for p in ["G1", "H1"] {
        for d in [3, 4] {
            t.shift(
                &format!("S{p}{d}"),
                p,
                &mar(d, "07:00"),
                &mar(d, "17:00"),
                "duty",
                "STD",
            );
            t.swipe(&format!("B{p}{d}a"), p, &mar(d, "06:50"), "in");
            t.session(
                &format!("D{p}{d}a"),
                p,
                &mar(d, "07:05"),
                &mar(d, "16:55"),
                "office",
            );
        }
    }
    for d in [3, 4] {
        // G1 goes home at the end of the shift and claims three hours more.
        t.swipe(&format!("BG1{d}b"), "G1", &mar(d, "17:05"), "out");
        // H1 stays for them.
        t.swipe(&format!("BH1{d}b"), "H1", &mar(d, "20:10"), "out");
        t.session(
            &format!("DH1{d}b"),
            "H1",
            &mar(d, "17:00"),
            &mar(d, "19:55"),
            "office",
        );
        for p in ["G1", "H1"] {
            // One claim names the shift it extends, the other names none.
            let shift = if d == 3 {
                format!("S{p}{d}")
            } else {
                String::new()
            };
            t.row(
                Table::OvertimeClaims,
                &[
                    ("claim_id", &format!("C{p}{d}")),
                    ("person_id", p),
                    ("shift_id", &shift),
                    ("claimed_start", &mar(d, "17:00")),
                    ("claimed_end", &mar(d, "20:00")),
                    ("hours", "3"),
                    ("reason", "late arrest"),
                ],
            );
        }
    }
    // I1: an eight-hour rest-day overtime shift with one look-up, early on.
    t.shift(
        "OI1",
        "I1",
        &mar(7, "08:00"),
        &mar(7, "16:00"),
        "overtime",
        "OT",
    );
    t.row(
        Table::SystemQueries,
        &[
            ("query_id", "QI1"),
            ("account_id", "AI1"),
            ("system", "PNC"),
            ("at", &mar(7, "08:45")),
            ("subject_ref", "X1"),
            ("case_ref", "CASE1"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "overtime_without_presence");
    let g = about(&s, &r, "G1");
    assert_eq!(g.len(), 1, "{:?}", r.findings);
    assert_eq!(num(g[0], "unevidenced_shifts"), 2.0);
    assert_eq!(num(g[0], "extensions_of_rostered_shifts"), 2.0);
    assert_eq!(num(g[0], "covered_hours"), 0.0);
    assert_eq!(num(g[0], "uncovered_hours"), 5.0);
    assert!(
        g[0].summary.contains("2 claims extend a rostered shift"),
        "{}",
        g[0].summary
    );
    assert!(about(&s, &r, "H1").is_empty(), "{:?}", about(&s, &r, "H1"));
    assert!(about(&s, &r, "J1").is_empty(), "on call from home");
    let i = about(&s, &r, "I1");
    assert_eq!(i.len(), 1);
    assert_eq!(num(i[0], "partly_covered_claims"), 1.0);
    // The look-up covers half an hour either side; the rest is uncovered.
    assert_eq!(num(i[0], "covered_hours"), 0.75);
    assert_eq!(num(i[0], "uncovered_hours"), 6.75);
}

/// Class 3: a shortfall confined to some weeks. Six weeks far below target
/// inside a four-month period are found, and said; a block of recorded
/// leave (with the roster's planned shifts left in place) and a chance dip
/// of two weeks are not.
#[test]
fn a_shortfall_confined_to_some_weeks_is_found() {
    let mut t = Tiny::new(&[
        ("J1", "staff", "analyst", "hybrid", Some(0.6)),
        ("K1", "staff", "analyst", "hybrid", Some(0.6)),
        ("L1", "staff", "analyst", "hybrid", Some(0.6)),
    ]);
    // Sixteen weeks of weekday shifts from Monday 5 January 2026.
    let start = probity_core::time::date_to_days("2026-01-05".parse().unwrap());
    let day = |d: i32| probity_core::time::days_to_date(start + d);
    let mut n = 0;
    for p in ["J1", "K1", "L1"] {
        for w in 0..16 {
            for wd in 0..5 {
                let d = day(w * 7 + wd);
                t.shift(
                    &format!("S{p}{w}-{wd}"),
                    p,
                    &format!("{d}T09:00:00"),
                    &format!("{d}T17:00:00"),
                    "duty",
                    "STD",
                );
                // Four office days a week (not Fridays), except: J1 comes in
                // once in weeks 6-11; K1 is on leave in weeks 6-8; L1 comes in
                // once a week in weeks 9-10.
                let office = wd < 4
                    && match p {
                        "J1" => !(6..=11).contains(&w) || (w == 8 && wd == 1),
                        "K1" => !(6..=8).contains(&w),
                        _ => !(9..=10).contains(&w) || wd == 2,
                    };
                if office {
                    n += 1;
                    t.swipe(&format!("B{n}a"), p, &format!("{d}T08:55:00"), "in");
                    t.swipe(&format!("B{n}b"), p, &format!("{d}T17:05:00"), "out");
                } else if !(p == "K1" && (6..=8).contains(&w)) {
                    t.session(
                        &format!("R{n}-{p}{w}{wd}"),
                        p,
                        &format!("{d}T09:00:00"),
                        &format!("{d}T17:00:00"),
                        "vpn",
                    );
                }
            }
        }
    }
    t.row(
        Table::Absences,
        &[
            ("absence_id", "AK1"),
            ("person_id", "K1"),
            ("kind", "annual_leave"),
            ("start_date", &day(42).to_string()),
            ("end_date", &day(62).to_string()),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "office_attendance_shortfall");
    let j = about(&s, &r, "J1");
    assert_eq!(j.len(), 1, "{:?}", r.findings);
    // Over the period J1 is above the old whole-period bar (41 of 80, 51%).
    assert_eq!(num(j[0], "office_days"), 41.0);
    assert!(num(j[0], "rate") > 0.5);
    let window = text(j[0], "window");
    assert!(
        window.starts_with("2026-02-1") || window.starts_with("2026-02-0"),
        "{window}"
    );
    assert!(num(j[0], "window_office_days") <= 1.0);
    assert!(num(j[0], "window_probability_corrected") <= 0.001);
    assert!(j[0].summary.contains("weeks) on"), "{}", j[0].summary);
    // The finding covers the window, not the whole period.
    assert!(j[0].period_start >= start + 35 && j[0].period_end <= start + 84);
    assert!(about(&s, &r, "K1").is_empty(), "leave is not a shortfall");
    assert!(about(&s, &r, "L1").is_empty(), "a two-week dip is chance");
}

/// Class 4: a complaint rate raised over two years. Eight complaints spread
/// evenly over twenty-four months (never more than four in any twelve) are
/// found against peers receiving half a complaint a year; four are not.
#[test]
fn a_complaint_rate_raised_over_two_years_is_found() {
    let ids: Vec<String> = (1..=40).map(|i| format!("C{i:02}")).collect();
    let mut people: Vec<(&str, &str, &str, &str, Option<f64>)> = ids
        .iter()
        .map(|i| (i.as_str(), "constable", "response officer", "shift", None))
        .collect();
    people.push(("M1", "constable", "response officer", "shift", None));
    people.push(("N1", "constable", "response officer", "shift", None));
    let mut t = Tiny::new(&people);
    let end = probity_core::time::date_to_days("2026-04-30".parse().unwrap());
    let date = |d: i32| probity_core::time::days_to_date(d).to_string();
    let mut k = 0;
    let mut complaint = |t: &mut Tiny, p: &str, d: i32| {
        k += 1;
        t.row(
            Table::Complaints,
            &[
                ("complaint_id", &format!("K{k:04}")),
                ("person_id", p),
                ("received_on", &date(d)),
                ("category", "incivility"),
            ],
        );
    };
    // Peers: half a complaint a year each over three years (0, 1, 2 or 3).
    for (i, p) in ids.iter().enumerate() {
        for j in 0..(i % 4) {
            complaint(
                &mut t,
                p,
                end - 1095 + (i as i32 * 53 + j as i32 * 365) % 1095,
            );
        }
    }
    for j in 0..8 {
        complaint(&mut t, "M1", end - 710 + j * 100);
    }
    for j in 0..4 {
        complaint(&mut t, "N1", end - 700 + j * 180);
    }
    // A roster over the last four months makes the analysis period.
    for p in ["M1", "N1"] {
        t.shift(
            &format!("S{p}a"),
            p,
            &format!("{}T07:00:00", date(end - 119)),
            &format!("{}T17:00:00", date(end - 119)),
            "duty",
            "STD",
        );
        t.shift(
            &format!("S{p}b"),
            p,
            &format!("{}T07:00:00", date(end)),
            &format!("{}T17:00:00", date(end)),
            "duty",
            "STD",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "complaints_above_peers");
    let m = about(&s, &r, "M1");
    assert_eq!(m.len(), 1, "{:?}", r.findings);
    assert_eq!(text(m[0], "window"), "24 months");
    assert_eq!(num(m[0], "complaints_in_window"), 8.0);
    assert!(num(m[0], "probability_corrected") <= 0.002);
    assert!(
        m[0].summary
            .contains("allowing for the 3 window lengths tested")
    );
    assert!(about(&s, &r, "N1").is_empty());
}

/// Class 5: organisation names written differently. A declaration under
/// another spelling covers the register entry; a different organisation
/// with a similar name does not; a near match goes to clerical review,
/// never to a finding.
#[test]
fn organisations_spelt_differently_are_matched() {
    let ids: Vec<String> = (1..=40).map(|i| format!("Q{i:02}")).collect();
    let people: Vec<(&str, &str, &str, &str, Option<f64>)> = ids
        .iter()
        .map(|i| (i.as_str(), "constable", "response officer", "shift", None))
        .collect();
    let mut t = Tiny::new(&people);
    // Registers: strangers, and six staff members written exactly as HR does.
    for i in 0..60 {
        t.row(
            Table::ReferenceRecords,
            &[
                ("record_id", &format!("RS{i:03}")),
                ("list_name", "company_officers"),
                (
                    "full_name",
                    &format!("Stranger{} Person{}", name_part(i + 3), name_part(i)),
                ),
                (
                    "date_of_birth",
                    &format!("19{}-0{}-2{}", 50 + i % 40, 1 + i % 9, i % 8),
                ),
                ("postcode", &format!("W{} {}XY", 1 + i % 9, i % 10)),
                ("organisation", &format!("Stranger Trading {i} Ltd")),
                ("role", "director"),
                ("valid_from", "2020-01-01"),
            ],
        );
    }
    let cases = [
        (
            "Q01",
            "Lewisham Allotment Society",
            Some("Lewisham Allotments"),
        ),
        ("Q02", "ACME WIDGETS LIMITED", Some("Acme Widgets (UK) Ltd")),
        ("Q03", "Croydon Rugby Football Club", Some("Croydon RFC")),
        ("Q04", "Vanguard Security Ltd", Some("Vanguard Cleaning")),
        ("Q05", "Riverside Data Ltd", Some("Riverside")),
        ("Q06", "Zeta Holdings Ltd", None),
    ];
    for (k, (p, org, declared)) in cases.iter().enumerate() {
        let i = ids.iter().position(|x| x == p).unwrap();
        let given = format!("Given{}", name_part(i));
        let family = format!("Family{}", name_part(i + 7));
        t.row(
            Table::ReferenceRecords,
            &[
                ("record_id", &format!("RR{k}")),
                ("list_name", "membership_roll"),
                ("full_name", &format!("{given} {family}")),
                (
                    "date_of_birth",
                    &format!("19{}-0{}-1{}", 60 + i % 35, 1 + i % 9, i % 9),
                ),
                ("postcode", &format!("E{} {}AB", 1 + i % 20, i % 10)),
                ("organisation", org),
                ("role", "member"),
                ("valid_from", "2024-01-01"),
            ],
        );
        if let Some(d) = declared {
            t.row(
                Table::Declarations,
                &[
                    ("declaration_id", &format!("DC{k}")),
                    ("person_id", p),
                    ("kind", "membership"),
                    ("counterparty", d),
                    ("declared_on", "2023-12-01"),
                ],
            );
        }
    }
    t.shift(
        "S1",
        "Q01",
        &mar(2, "07:00"),
        &mar(2, "17:00"),
        "duty",
        "STD",
    );
    t.shift(
        "S2",
        "Q01",
        &mar(30, "07:00"),
        &mar(30, "17:00"),
        "duty",
        "STD",
    );
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "undeclared_register_entry");
    for p in ["Q01", "Q02", "Q03", "Q05"] {
        assert!(about(&s, &r, p).is_empty(), "{p}: {:?}", about(&s, &r, p));
    }
    let q4 = about(&s, &r, "Q04");
    assert_eq!(q4.len(), 1, "{:?}", r.findings);
    assert!(num(q4[0], "closest_declaration_similarity") < 0.5);
    assert!(
        text(q4[0], "closest_declaration").contains("only in the register: security"),
        "{:?}",
        q4[0].facts
    );
    let q6 = about(&s, &r, "Q06");
    assert_eq!(q6.len(), 1);
    assert!(q6[0].summary.contains("no declarations in force"));
    // Riverside vs Riverside Data: for a person to decide.
    let review = &notes(&r, "undeclared_register_entry").review;
    assert_eq!(review.len(), 1, "{review:?}");
    assert_eq!(review[0]["record_id"], "RR4");
    assert_eq!(review[0]["person"], s.person_pseudonym("Q05"));
}

/// Forces write "no case" and "no reason" their own way.
#[test]
fn placeholders_for_no_case_are_read_as_none() {
    let mut t = Tiny::new(&[
        ("U1", "constable", "response officer", "shift", None),
        ("V1", "constable", "response officer", "shift", None),
    ]);
    for (k, (p, case, reason)) in [
        ("U1", "N/A", "NONE"),
        ("U1", "-", ""),
        ("U1", "n/a", "n/a"),
        ("V1", "CR-0001", "N/A"),
        ("V1", "N/A", "stop_check"),
        ("V1", "CR-0002", ""),
    ]
    .iter()
    .enumerate()
    {
        t.row(
            Table::SystemQueries,
            &[
                ("query_id", &format!("Q{k}")),
                ("account_id", &format!("A{p}")),
                ("system", "PNC"),
                ("at", &mar(3 + k as u32, "10:00")),
                ("subject_ref", &format!("X{k}")),
                ("reason_code", reason),
                ("case_ref", case),
            ],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "lookup_without_purpose");
    let u = about(&s, &r, "U1");
    assert_eq!(u.len(), 1, "{:?}", r.findings);
    assert_eq!(num(u[0], "unexplained_lookups"), 3.0);
    assert!(about(&s, &r, "V1").is_empty());
    // The reviewer sees how "none" was written in the look-ups tested.
    let learned =
        &notes(&r, "lookup_without_purpose").learned["spellings_of_none_in_unexplained_lookups"];
    assert_eq!(learned["case_ref"]["N/A"], 1, "{learned}");
    assert_eq!(learned["case_ref"]["n/a"], 1, "{learned}");
    assert_eq!(learned["reason_code"]["NONE"], 1, "{learned}");
}

/// A late shift's extension past midnight belongs to the shift's day: not
/// overtime claimed on the first day of leave; overtime worked on a day of
/// leave is.
#[test]
fn an_extension_past_midnight_belongs_to_its_shift() {
    let mut t = Tiny::new(&[
        ("W1", "constable", "response officer", "shift", None),
        ("Y1", "constable", "response officer", "shift", None),
    ]);
    for p in ["W1", "Y1"] {
        t.shift(
            &format!("L{p}"),
            p,
            &mar(9, "14:00"),
            &mar(10, "00:00"),
            "duty",
            "STD",
        );
        t.row(
            Table::Absences,
            &[
                ("absence_id", &format!("A{p}")),
                ("person_id", p),
                ("kind", "annual_leave"),
                ("start_date", "2026-03-10"),
                ("end_date", "2026-03-14"),
            ],
        );
    }
    // W1 claims two hours after the late shift, naming no shift.
    t.row(
        Table::OvertimeClaims,
        &[
            ("claim_id", "CW1"),
            ("person_id", "W1"),
            ("claimed_start", &mar(10, "00:00")),
            ("claimed_end", &mar(10, "02:00")),
            ("hours", "2"),
        ],
    );
    // Y1 works an overtime shift in the middle of the leave.
    t.shift(
        "OY1",
        "Y1",
        &mar(12, "08:00"),
        &mar(12, "16:00"),
        "overtime",
        "OT",
    );
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = t.analyse(dir.path(), "overtime_during_absence");
    assert!(about(&s, &r, "W1").is_empty(), "{:?}", about(&s, &r, "W1"));
    assert_eq!(about(&s, &r, "Y1").len(), 1);
}

/// `[detectors.*]` in probity.toml is checked against the registry when the
/// file is loaded, and every example the default file suggests is valid.
#[test]
fn probity_toml_examples_are_valid_and_mistakes_are_named_on_load() {
    let uncommented: String = probity_store::config::DEFAULT_CONFIG
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.contains("\n[detectors.overtime_without_presence]\n"));
    let c = probity_store::Config::parse(&uncommented).unwrap();
    assert!(!c.detectors.is_empty() && c.resolve.link_at > 0.0);
    probity_detect::check_config(&c).unwrap();
    let c =
        probity_store::Config::parse("[detectors.ghost_overtime]\ngrace_minutes = 45\n").unwrap();
    let e = probity_detect::check_config(&c).unwrap_err().to_string();
    assert!(
        e.contains("ghost_overtime") && e.contains("overtime_without_presence"),
        "{e}"
    );
}
