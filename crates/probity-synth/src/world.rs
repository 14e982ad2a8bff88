//! The force as a whole: sites, units, people, who manages whom, and which
//! people carry a planted scenario or an innocent look-alike.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use crate::conventions::Conventions;
use crate::data;

pub use probity_core::Scenario;

/// An innocent look-alike: behaviour a careless detector would flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confounder {
    /// A manager who edits many of their team's rosters (including overtime).
    ManagerEditsOthers,
    /// Self-edits that swap shift times with no change of hours or pay.
    SwapNoPayChange,
    /// Overtime at court or training, away from any police site.
    OffsiteDuty,
    /// Much overtime, all of it evidenced.
    HighEvidencedOvertime,
    /// Moved unit mid-period; works at a new site.
    UnitMove,
    /// Night overtime across the clock change.
    DstNight,
    /// Long genuine sickness; overtime only outside it.
    GenuineSickness,
    /// Overtime night that starts before a leave block and ends on its first morning.
    NightIntoLeave,
    /// Part-time hybrid worker meeting the target over their own working days.
    PartTimeHybrid,
    /// Hybrid worker with much leave, training and court: few office days, none missed.
    LeaveHeavyHybrid,
    /// Shares a name with someone on a register who is not them.
    Namesake,
    /// On a register, and declared it.
    DeclaredInterest,
    /// Re-assigned to a case after the first assignment ended.
    CaseReassigned,
    /// Very many look-ups, every one with a case or a reason.
    HighVolumeLegitimate,
    /// Three complaints in twelve months in a high-complaint role.
    BusyRoleComplaints,
    /// Claims extensions of rostered shifts and stays for them.
    GenuineExtension,
    /// Hybrid worker whose office days stop for weeks of recorded leave.
    LeaveDip,
    /// On a register, and declared it under another spelling.
    VariantDeclaration,
    /// Twice the role's complaint rate over two years: busy, not unusual.
    LongBusyComplaints,
    /// Corrects their bank-holiday shift to the holiday pay code.
    HolidayCodeOnHoliday,
    /// On call from home on rest days; claims call-outs answered by phone.
    OnCallCallOut,
    /// Corrects the pay code of their own overtime shifts to the overtime code.
    OvertimeCodeCorrection,
}

impl Confounder {
    /// The kind as written in `confounders.csv`.
    pub fn kind(self) -> &'static str {
        match self {
            Confounder::ManagerEditsOthers => "manager_edits_others",
            Confounder::SwapNoPayChange => "swap_no_pay_change",
            Confounder::OffsiteDuty => "offsite_duty",
            Confounder::HighEvidencedOvertime => "high_evidenced_overtime",
            Confounder::UnitMove => "unit_move",
            Confounder::DstNight => "dst_night",
            Confounder::GenuineSickness => "genuine_sickness",
            Confounder::NightIntoLeave => "night_into_leave",
            Confounder::PartTimeHybrid => "part_time_hybrid",
            Confounder::LeaveHeavyHybrid => "leave_heavy_hybrid",
            Confounder::Namesake => "namesake",
            Confounder::DeclaredInterest => "declared_interest",
            Confounder::CaseReassigned => "case_reassigned",
            Confounder::HighVolumeLegitimate => "high_volume_legitimate",
            Confounder::BusyRoleComplaints => "busy_role_complaints",
            Confounder::GenuineExtension => "genuine_extension",
            Confounder::LeaveDip => "leave_dip",
            Confounder::VariantDeclaration => "variant_declaration",
            Confounder::LongBusyComplaints => "long_busy_complaints",
            Confounder::HolidayCodeOnHoliday => "holiday_code_on_holiday",
            Confounder::OnCallCallOut => "on_call_call_out",
            Confounder::OvertimeCodeCorrection => "overtime_code_correction",
        }
    }

    /// The scenario this look-alike must not be flagged for.
    pub fn scenario(self) -> Scenario {
        use Confounder as C;
        match self {
            C::ManagerEditsOthers
            | C::SwapNoPayChange
            | C::HolidayCodeOnHoliday
            | C::OvertimeCodeCorrection => Scenario::RosterManipulation,
            C::OffsiteDuty
            | C::HighEvidencedOvertime
            | C::UnitMove
            | C::DstNight
            | C::GenuineExtension
            | C::OnCallCallOut => Scenario::GhostOvertime,
            C::GenuineSickness | C::NightIntoLeave => Scenario::LeaveOverlapClaim,
            C::PartTimeHybrid | C::LeaveHeavyHybrid | C::LeaveDip => Scenario::AttendanceBreach,
            C::Namesake | C::DeclaredInterest | C::VariantDeclaration => {
                Scenario::UndeclaredInterest
            }
            C::CaseReassigned => Scenario::PostCaseContact,
            C::HighVolumeLegitimate => Scenario::SystemMisuse,
            C::BusyRoleComplaints | C::LongBusyComplaints => Scenario::ComplaintPattern,
        }
    }

    /// The look-alikes only a conventions set past 0 plants (the house set
    /// keeps the fifteen above, so its output is unchanged).
    pub const NEW: [Confounder; 7] = [
        Confounder::GenuineExtension,
        Confounder::LeaveDip,
        Confounder::VariantDeclaration,
        Confounder::LongBusyComplaints,
        Confounder::HolidayCodeOnHoliday,
        Confounder::OnCallCallOut,
        Confounder::OvertimeCodeCorrection,
    ];

    /// Every kind of the house set.
    pub const ALL: [Confounder; 15] = [
        Confounder::ManagerEditsOthers,
        Confounder::SwapNoPayChange,
        Confounder::OffsiteDuty,
        Confounder::HighEvidencedOvertime,
        Confounder::UnitMove,
        Confounder::DstNight,
        Confounder::GenuineSickness,
        Confounder::NightIntoLeave,
        Confounder::PartTimeHybrid,
        Confounder::LeaveHeavyHybrid,
        Confounder::Namesake,
        Confounder::DeclaredInterest,
        Confounder::CaseReassigned,
        Confounder::HighVolumeLegitimate,
        Confounder::BusyRoleComplaints,
    ];
}

/// A site.
#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// What a unit does, which decides its people's working pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// 24/7 response team (A–D), rotating earlies, lates and nights.
    Response(u8),
    /// Neighbourhood policing: days and lates on weekdays.
    Neighbourhood,
    /// Criminal investigation: weekday days.
    Cid,
    /// Headquarters departments (office and hybrid staff).
    Resourcing,
    /// Intelligence analysis.
    Intelligence,
    /// Professional standards.
    Standards,
    /// Senior command.
    Command,
    /// Human resources and finance.
    Corporate,
}

/// A unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub site: usize,
    pub kind: UnitKind,
}

/// A member of staff and everything the day-by-day generator needs about them.
#[derive(Debug, Clone)]
pub struct Person {
    pub idx: usize,
    pub id: String,
    pub given: String,
    pub family: String,
    pub dob: (i32, u8, u8),
    pub postcode: String,
    pub home: (f64, f64),
    pub rank: &'static str,
    pub role: &'static str,
    pub unit: usize,
    pub manager: Option<usize>,
    pub start_days_ago: u32,
    pub pattern: &'static str,
    pub office_target: Option<f64>,
    pub hours: f64,
    /// Weekdays worked (Mon = 0) for office and hybrid staff.
    pub workdays: [bool; 7],
    /// Look-ups per working day (0 = no record-system access).
    pub lookups_per_day: f64,
    /// Whether the person holds investigations (case assignments).
    pub investigator: bool,
    /// Overtime shifts per 30 days.
    pub overtime_rate: f64,
    /// Unit moved to, from this day on.
    pub moves_to: Option<(u32, usize)>,
    pub card_reissue: Option<u32>,
    pub device_reissue: Option<u32>,
    pub scenario: Option<(Scenario, bool)>,
    pub confounder: Option<Confounder>,
    /// Complaints per year typical of the role.
    pub complaint_rate: f64,
}

impl Person {
    /// Whether the person works rotating or weekday shifts at a station.
    pub fn is_shift(&self) -> bool {
        self.pattern == "shift"
    }
}

/// A reference-list record (register or roll).
#[derive(Debug, Clone)]
pub struct RefRecord {
    pub id: String,
    pub list: &'static str,
    pub full_name: String,
    pub dob: Option<String>,
    pub postcode: Option<String>,
    pub organisation: String,
    pub role: &'static str,
    pub valid_from: Option<i32>,
    pub valid_to: Option<i32>,
    /// The staff member it truly is, if any.
    pub person: Option<usize>,
}

/// A declaration a person made.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub kind: &'static str,
    pub counterparty: String,
    pub declared_on: i32,
    pub valid_to: Option<i32>,
}

/// The whole synthetic force.
#[derive(Debug)]
pub struct World {
    pub sites: Vec<Site>,
    pub units: Vec<Unit>,
    pub people: Vec<Person>,
    pub records: Vec<RefRecord>,
    /// Declarations per person index.
    pub declarations: Vec<Vec<Declaration>>,
    /// Resourcing officers (they edit rosters).
    pub resourcing: Vec<usize>,
    /// First simulated day (days since the epoch).
    pub start: i32,
    /// Number of simulated days.
    pub days: u32,
    pub training_site: usize,
    /// How this force writes its data and how its misconduct looks.
    pub conv: Conventions,
    /// Bank holidays within the period (days since the epoch).
    pub holidays: Vec<i32>,
}

fn pick<'a, T>(rng: &mut impl RngCore, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

/// A plausible postcode in a district.
pub fn postcode(rng: &mut impl RngCore, district: &str) -> String {
    const L: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    format!(
        "{district} {}{}{}",
        rng.random_range(1..10),
        L[rng.random_range(0..L.len())] as char,
        L[rng.random_range(0..L.len())] as char
    )
}

impl World {
    /// Builds the force for `n` people.
    pub fn build(
        n: usize,
        start: i32,
        days: u32,
        public_records: Option<usize>,
        conv: Conventions,
        rng: &mut impl RngCore,
    ) -> World {
        let n_stations = (n / 110).clamp(2, data::STATIONS.len());
        let mut sites: Vec<Site> = data::STATIONS[..n_stations]
            .iter()
            .enumerate()
            .map(|(i, (name, lat, lon))| Site {
                id: format!("SITE{:02}", i + 1),
                name: (*name).to_string(),
                lat: *lat,
                lon: *lon,
            })
            .collect();
        let hq = sites.len();
        sites.push(Site {
            id: format!("SITE{:02}", hq + 1),
            name: data::HQ.0.into(),
            lat: data::HQ.1,
            lon: data::HQ.2,
        });
        let training_site = sites.len();
        sites.push(Site {
            id: format!("SITE{:02}", training_site + 1),
            name: data::TRAINING.0.into(),
            lat: data::TRAINING.1,
            lon: data::TRAINING.2,
        });

        let mut units = vec![];
        for (s, site) in sites.iter().enumerate().take(n_stations) {
            let place = site.name.trim_end_matches(" Police Station").to_string();
            for team in 0..4u8 {
                units.push(Unit {
                    id: String::new(),
                    name: format!("{place} Response Team {}", (b'A' + team) as char),
                    site: s,
                    kind: UnitKind::Response(team),
                });
            }
            units.push(Unit {
                id: String::new(),
                name: format!("{place} Neighbourhood Team"),
                site: s,
                kind: UnitKind::Neighbourhood,
            });
            units.push(Unit {
                id: String::new(),
                name: format!("{place} CID"),
                site: s,
                kind: UnitKind::Cid,
            });
        }
        for (name, kind) in [
            ("Resourcing Unit", UnitKind::Resourcing),
            ("Intelligence Bureau", UnitKind::Intelligence),
            ("Professional Standards", UnitKind::Standards),
            ("Command Team", UnitKind::Command),
            ("HR and Finance", UnitKind::Corporate),
        ] {
            units.push(Unit {
                id: String::new(),
                name: name.into(),
                site: hq,
                kind,
            });
        }
        for (i, u) in units.iter_mut().enumerate() {
            u.id = format!("U{:03}", i + 1);
        }

        // Share of staff per kind of unit.
        let weight = |k: UnitKind| -> f64 {
            match k {
                UnitKind::Response(_) => 0.56 / (4.0 * n_stations as f64),
                UnitKind::Neighbourhood => 0.12 / n_stations as f64,
                UnitKind::Cid => 0.11 / n_stations as f64,
                UnitKind::Resourcing => 0.03,
                UnitKind::Intelligence => 0.05,
                UnitKind::Standards => 0.02,
                UnitKind::Command => 0.03,
                UnitKind::Corporate => 0.08,
            }
        };
        let mut unit_of = Vec::with_capacity(n);
        let mut acc = 0.0;
        for (ui, u) in units.iter().enumerate() {
            acc += weight(u.kind) * n as f64;
            while (unit_of.len() as f64) < acc.round() && unit_of.len() < n {
                unit_of.push(ui);
            }
        }
        while unit_of.len() < n {
            unit_of.push(rng.random_range(0..units.len()));
        }

        let width = (n.to_string().len()).max(5);
        let mut people: Vec<Person> = Vec::with_capacity(n);
        let mut first_in_unit: Vec<Option<usize>> = vec![None; units.len()];
        for (idx, &ui) in unit_of.iter().enumerate() {
            let kind = units[ui].kind;
            let lead = first_in_unit[ui].is_none();
            if lead {
                first_in_unit[ui] = Some(idx);
            }
            let (rank, role, pattern, target, lookups, investigator, ot, crate_rate) = match kind {
                UnitKind::Response(_) if lead => (
                    "sergeant",
                    "response sergeant",
                    "shift",
                    None,
                    2.0,
                    true,
                    1.2,
                    0.35,
                ),
                UnitKind::Response(_) => (
                    "constable",
                    "response officer",
                    "shift",
                    None,
                    3.0,
                    true,
                    1.5,
                    0.5,
                ),
                UnitKind::Neighbourhood if lead => (
                    "inspector",
                    "neighbourhood inspector",
                    "shift",
                    None,
                    1.0,
                    false,
                    0.5,
                    0.12,
                ),
                UnitKind::Neighbourhood => (
                    "constable",
                    "neighbourhood officer",
                    "shift",
                    None,
                    2.0,
                    true,
                    1.0,
                    0.3,
                ),
                UnitKind::Cid if lead => (
                    "detective inspector",
                    "cid manager",
                    "shift",
                    None,
                    2.0,
                    true,
                    0.6,
                    0.15,
                ),
                UnitKind::Cid => (
                    "detective constable",
                    "investigator",
                    "shift",
                    None,
                    5.0,
                    true,
                    1.0,
                    0.25,
                ),
                UnitKind::Resourcing => (
                    "staff",
                    "resourcing officer",
                    "hybrid",
                    Some(0.6),
                    0.0,
                    false,
                    0.0,
                    0.02,
                ),
                UnitKind::Intelligence => (
                    "staff",
                    "intelligence analyst",
                    "hybrid",
                    Some(0.6),
                    14.0,
                    false,
                    0.0,
                    0.03,
                ),
                UnitKind::Standards => (
                    "detective sergeant",
                    "standards investigator",
                    "hybrid",
                    Some(0.6),
                    4.0,
                    false,
                    0.0,
                    0.05,
                ),
                UnitKind::Command => {
                    let r = *pick(
                        rng,
                        &[
                            "chief inspector",
                            "chief inspector",
                            "superintendent",
                            "chief superintendent",
                        ],
                    );
                    (
                        r,
                        "senior leader",
                        "hybrid",
                        Some(0.8),
                        0.0,
                        false,
                        0.0,
                        0.08,
                    )
                }
                UnitKind::Corporate if rng.random_bool(0.4) => (
                    "staff",
                    "finance officer",
                    "office",
                    None,
                    0.0,
                    false,
                    0.0,
                    0.02,
                ),
                UnitKind::Corporate => (
                    "staff",
                    "hr advisor",
                    "hybrid",
                    Some(0.6),
                    0.0,
                    false,
                    0.0,
                    0.02,
                ),
            };
            let given = pick(rng, data::GIVEN).to_string();
            let given = if rng.random_bool(0.08) {
                format!("{given} {}", pick(rng, data::GIVEN))
            } else {
                given
            };
            let family = pick(rng, data::FAMILY).to_string();
            let age = rng.random_range(21..60);
            let (y, _, _) = probity_core::time::civil_from_days(i64::from(start));
            let dob = (
                y as i32 - age,
                rng.random_range(1..=12u8),
                rng.random_range(1..=28u8),
            );
            let (district, dlat, dlon) = *pick(rng, data::DISTRICTS);
            let part_time = rng.random_bool(if pattern == "shift" { 0.04 } else { 0.14 });
            let mut workdays = [true, true, true, true, true, false, false];
            let hours = if part_time {
                let k = rng.random_range(0..3);
                for (d, w) in workdays.iter_mut().enumerate() {
                    *w = d < 5 && (d == k || d == k + 1 || d == k + 2);
                }
                22.5
            } else if rank == "staff" {
                36.0
            } else {
                40.0
            };
            let tenure_years = rng.random_range(0..(age - 19).max(1)) as u32;
            people.push(Person {
                idx,
                id: format!("P{idx:0width$}", idx = idx + 1),
                given,
                family,
                dob,
                postcode: postcode(rng, district),
                home: (
                    dlat + rng.random_range(-0.012..0.012),
                    dlon + rng.random_range(-0.018..0.018),
                ),
                rank,
                role,
                unit: ui,
                manager: None,
                start_days_ago: tenure_years * 365 + rng.random_range(30..365),
                pattern,
                office_target: target,
                hours,
                workdays,
                lookups_per_day: lookups,
                investigator,
                overtime_rate: if rng.random_bool(0.4) { ot } else { ot * 0.15 },
                moves_to: None,
                card_reissue: None,
                device_reissue: None,
                scenario: None,
                confounder: None,
                complaint_rate: crate_rate,
            });
        }
        // Line management: the unit lead manages the unit; leads report to a
        // senior leader in the command team.
        let command: Vec<usize> = people
            .iter()
            .filter(|p| units[p.unit].kind == UnitKind::Command)
            .map(|p| p.idx)
            .collect();
        for i in 0..people.len() {
            let ui = people[i].unit;
            let lead = first_in_unit[ui].expect("unit has people");
            people[i].manager = if lead != i {
                Some(lead)
            } else if !command.is_empty() && units[ui].kind != UnitKind::Command {
                Some(command[i % command.len()])
            } else {
                None
            };
        }
        let resourcing: Vec<usize> = people
            .iter()
            .filter(|p| units[p.unit].kind == UnitKind::Resourcing)
            .map(|p| p.idx)
            .collect();
        for p in people.iter_mut() {
            if rng.random_bool(0.03) {
                p.card_reissue = Some(rng.random_range(5..days.max(6)));
            }
            if rng.random_bool(0.03) {
                p.device_reissue = Some(rng.random_range(5..days.max(6)));
            }
        }

        let end = start + days as i32 - 1;
        let (y0, _, _) = probity_core::time::civil_from_days(i64::from(start));
        let (y1, _, _) = probity_core::time::civil_from_days(i64::from(end));
        let holidays = (y0 as i32..=y1 as i32)
            .flat_map(crate::conventions::bank_holidays)
            .filter(|d| *d >= start && *d <= end)
            .collect();
        let mut world = World {
            sites,
            units,
            people,
            records: vec![],
            declarations: vec![vec![]; n],
            resourcing,
            start,
            days,
            training_site,
            conv,
            holidays,
        };
        world.plant(rng);
        world.build_records(public_records, rng);
        world
    }

    /// Chooses scenario and confounder people: about 1% of staff each,
    /// disjoint, half of the scenario people blatant and half subtle.
    fn plant(&mut self, rng: &mut impl RngCore) {
        let n = self.people.len();
        let per = ((n as f64) * 0.01).round().max(2.0) as usize;
        let new: &[Confounder] = if self.conv.set > 0 {
            &Confounder::NEW
        } else {
            &[]
        };
        let holiday_code = self.conv.holiday.is_some() && !self.holidays.is_empty();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let mut taken = vec![false; n];
        let units = self.units.clone();
        let people = &mut self.people;
        let kind = |p: &Person| units[p.unit].kind;
        let frontline = |p: &Person| {
            matches!(kind(p), UnitKind::Response(_) | UnitKind::Neighbourhood)
                && p.rank != "inspector"
                && p.hours > 30.0
        };
        type Pred<'a> = Box<dyn Fn(&Person) -> bool + 'a>;
        let scenario_pred = |s: Scenario| -> Pred<'_> {
            match s {
                Scenario::RosterManipulation
                | Scenario::GhostOvertime
                | Scenario::LeaveOverlapClaim => Box::new(frontline),
                Scenario::AttendanceBreach => Box::new(|p: &Person| {
                    p.pattern == "hybrid" && p.office_target.is_some() && p.hours > 30.0
                }),
                Scenario::SystemMisuse | Scenario::PostCaseContact => {
                    Box::new(|p: &Person| p.investigator && p.lookups_per_day > 0.0)
                }
                Scenario::ComplaintPattern => {
                    Box::new(|p: &Person| p.is_shift() && p.rank.contains("constable"))
                }
                Scenario::UndeclaredInterest => Box::new(|_: &Person| true),
            }
        };
        for s in Scenario::ALL {
            let pred = scenario_pred(s);
            let mut got = 0;
            for &i in &order {
                if got == per {
                    break;
                }
                if !taken[i] && pred(&people[i]) {
                    taken[i] = true;
                    people[i].scenario = Some((s, got % 2 == 0));
                    got += 1;
                }
            }
        }
        order.shuffle(rng);
        for c in Confounder::ALL.iter().chain(new).copied() {
            let pred: Pred<'_> = match c {
                Confounder::ManagerEditsOthers => Box::new(|p: &Person| {
                    matches!(kind(p), UnitKind::Response(_) | UnitKind::Neighbourhood)
                        && p.rank != "constable"
                }),
                Confounder::SwapNoPayChange
                | Confounder::OffsiteDuty
                | Confounder::HighEvidencedOvertime
                | Confounder::UnitMove
                | Confounder::DstNight
                | Confounder::GenuineSickness
                | Confounder::NightIntoLeave => Box::new(frontline),
                Confounder::PartTimeHybrid => {
                    Box::new(|p: &Person| p.pattern == "hybrid" && p.office_target.is_some())
                }
                Confounder::LeaveHeavyHybrid => Box::new(|p: &Person| {
                    p.pattern == "hybrid" && p.office_target.is_some() && p.hours > 30.0
                }),
                Confounder::Namesake | Confounder::DeclaredInterest => Box::new(|_: &Person| true),
                Confounder::CaseReassigned => {
                    Box::new(|p: &Person| p.investigator && p.lookups_per_day > 0.0)
                }
                Confounder::HighVolumeLegitimate => Box::new(|p: &Person| p.lookups_per_day > 0.0),
                // Busy only in a high-complaint role (a neighbourhood
                // officer's peers receive far fewer), and in it since before
                // the complaint records begin: a busy year before they
                // joined would be a raised rate over a short service.
                Confounder::BusyRoleComplaints | Confounder::LongBusyComplaints => {
                    Box::new(|p: &Person| {
                        matches!(kind(p), UnitKind::Response(_))
                            && p.rank == "constable"
                            && p.start_days_ago >= 3 * 365
                    })
                }
                Confounder::GenuineExtension
                | Confounder::OnCallCallOut
                | Confounder::OvertimeCodeCorrection => Box::new(frontline),
                Confounder::HolidayCodeOnHoliday if holiday_code => Box::new(frontline),
                Confounder::HolidayCodeOnHoliday => Box::new(|_: &Person| false),
                Confounder::LeaveDip => Box::new(|p: &Person| {
                    p.pattern == "hybrid" && p.office_target.is_some() && p.hours > 30.0
                }),
                Confounder::VariantDeclaration => Box::new(|_: &Person| true),
            };
            let mut got = 0;
            for &i in &order {
                if got == per {
                    break;
                }
                if !taken[i] && pred(&people[i]) {
                    taken[i] = true;
                    people[i].confounder = Some(c);
                    got += 1;
                }
            }
        }
        // Confounders that change the person's set-up.
        let n_units = self.units.len();
        for i in 0..n {
            match self.people[i].confounder {
                Some(Confounder::PartTimeHybrid) => {
                    let p = &mut self.people[i];
                    p.hours = 22.5;
                    p.workdays = [true, false, true, false, true, false, false];
                }
                Some(Confounder::UnitMove) => {
                    let cur = self.people[i].unit;
                    let cur_kind = self.units[cur].kind;
                    let target = (1..n_units)
                        .map(|k| (cur + k * 6) % n_units)
                        .find(|&u| {
                            self.units[u].kind == cur_kind
                                && self.units[u].site != self.units[cur].site
                        })
                        .or_else(|| {
                            (0..n_units).find(|&u| u != cur && self.units[u].kind == cur_kind)
                        });
                    if let Some(t) = target {
                        self.people[i].moves_to = Some((self.days / 3, t));
                    }
                }
                Some(Confounder::HighEvidencedOvertime) => self.people[i].overtime_rate = 8.0,
                Some(Confounder::HighVolumeLegitimate) => self.people[i].lookups_per_day *= 4.0,
                _ => {}
            }
            if self.people[i].scenario.is_some() || self.people[i].confounder.is_some() {
                // Planted people keep their own identity artefacts simple.
                self.people[i].card_reissue = None;
                self.people[i].device_reissue = None;
            }
        }
    }

    /// The reference lists: a company-officer register and a membership roll
    /// of the public (some sharing staff names by chance), plus staff entries
    /// written with variants, declared or not.
    fn build_records(&mut self, public_records: Option<usize>, rng: &mut impl RngCore) {
        let n = self.people.len();
        let mut records = vec![];
        let public = public_records.unwrap_or((n as f64 * 0.35) as usize);
        let (y0, _, _) = probity_core::time::civil_from_days(i64::from(self.start));
        let y0 = y0 as i32;
        for k in 0..public {
            let company = k % 3 != 2;
            let mut given = pick(rng, data::GIVEN).to_string();
            let mut family = pick(rng, data::FAMILY).to_string();
            let mut dob = (
                y0 - rng.random_range(20..75),
                rng.random_range(1..=12u8),
                rng.random_range(1..=28u8),
            );
            if k % 50 == 7 && n > 0 {
                // One public entry in fifty is a namesake of a staff member
                // born the same year: only month, day and address tell them
                // apart. Never of a look-alike for undeclared interests
                // (whose register entries are theirs by construction): a
                // chance likeness would make their innocent data guilty.
                let first = rng.random_range(0..n);
                let p = (0..n)
                    .map(|j| &self.people[(first + j) % n])
                    .find(|p| {
                        p.confounder
                            .is_none_or(|c| c.scenario() != Scenario::UndeclaredInterest)
                    })
                    .unwrap_or(&self.people[first]);
                given = p.given.split(' ').next().unwrap_or(&p.given).to_string();
                family = p.family.clone();
                let month = (p.dob.1 + rng.random_range(1..12u8) - 1) % 12 + 1;
                dob = (p.dob.0, month, rng.random_range(1..=28u8));
            }
            let (district, _, _) = *pick(rng, data::DISTRICTS);
            let from = self.start - rng.random_range(30..4000);
            let pc = postcode(rng, district);
            records.push(self.record(
                rng,
                company,
                &given,
                &family,
                Some(dob),
                Some(pc),
                from,
                None,
            ));
        }
        for i in 0..n {
            let p = self.people[i].clone();
            let scen = p
                .scenario
                .filter(|(s, _)| *s == Scenario::UndeclaredInterest);
            let conf = p.confounder;
            let extra_declared = scen.is_none() && conf.is_none() && rng.random_bool(0.02);
            if let Some((_, blatant)) = scen {
                let company = rng.random_bool(0.6);
                let from = self.start + rng.random_range(0..(self.days as i32 / 2).max(1))
                    - rng.random_range(0..400);
                let (given, family, dob, pc) = self.variant(rng, &p, !blatant);
                let mut r = self.record(rng, company, &given, &family, dob, pc, from, None);
                r.person = Some(i);
                records.push(r);
            } else if matches!(
                conf,
                Some(Confounder::DeclaredInterest | Confounder::VariantDeclaration)
            ) || extra_declared
            {
                let company = rng.random_bool(0.5);
                let from = self.start - rng.random_range(30..2000);
                let subtle = rng.random_bool(0.5);
                let (given, family, dob, pc) = self.variant(rng, &p, subtle);
                let mut r = self.record(rng, company, &given, &family, dob, pc, from, None);
                r.person = Some(i);
                // The house set declares the register's spelling; other sets
                // often write the organisation their own way.
                let declared_as = if conf == Some(Confounder::VariantDeclaration)
                    || (self.conv.set > 0 && rng.random_bool(self.conv.org_variants))
                {
                    org_variant(rng, &r.organisation)
                } else {
                    r.organisation.clone()
                };
                self.declarations[i].push(Declaration {
                    kind: if company {
                        "business_interest"
                    } else {
                        "membership"
                    },
                    counterparty: declared_as,
                    declared_on: from - rng.random_range(0..60),
                    valid_to: None,
                });
                records.push(r);
            } else if conf == Some(Confounder::Namesake) {
                // Same name, different person: another date of birth and
                // address, never one a register's slip could make of theirs
                // (a year one digit out in the same month, in the same
                // postcode district, reads as the same person): another
                // month and another district.
                let company = rng.random_bool(0.5);
                let dob = (
                    p.dob.0 + if rng.random_bool(0.5) { 7 } else { -9 },
                    (p.dob.1 + rng.random_range(1..12u8) - 1) % 12 + 1,
                    rng.random_range(1..=28u8),
                );
                let own = p.postcode.split(' ').next().unwrap_or(&p.postcode);
                let others: Vec<&str> = data::DISTRICTS
                    .iter()
                    .map(|(d, _, _)| *d)
                    .filter(|d| *d != own)
                    .collect();
                let district = *pick(rng, &others);
                let from = self.start - rng.random_range(30..3000);
                let pc = postcode(rng, district);
                let r = self.record(
                    rng,
                    company,
                    &p.given,
                    &p.family,
                    Some(dob),
                    Some(pc),
                    from,
                    None,
                );
                records.push(r);
            }
            // Ordinary declarations with no register entry.
            if rng.random_bool(0.04) {
                self.declarations[i].push(Declaration {
                    kind: ["secondary_employment", "gift_hospitality", "association"]
                        [rng.random_range(0..3)],
                    counterparty: pick(
                        rng,
                        &[
                            "Self-employed personal trainer",
                            "Driving instructor (weekends)",
                            "Hospitality: supplier dinner",
                            "Family business (bakery)",
                            "School governor",
                        ],
                    )
                    .to_string(),
                    declared_on: self.start - rng.random_range(10..1500),
                    valid_to: None,
                });
            }
        }
        records.shuffle(rng);
        for (k, r) in records.iter_mut().enumerate() {
            r.id = format!("RR{:07}", k + 1);
        }
        self.records = records;
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        rng: &mut impl RngCore,
        company: bool,
        given: &str,
        family: &str,
        dob: Option<(i32, u8, u8)>,
        postcode: Option<String>,
        valid_from: i32,
        valid_to: Option<i32>,
    ) -> RefRecord {
        let (list, organisation, role, full_name) = if company {
            (
                "company_officers",
                format!(
                    "{} {} Ltd",
                    pick(rng, data::COMPANY_WORDS),
                    pick(rng, data::COMPANY_TRADES)
                ),
                *pick(
                    rng,
                    &[
                        "director",
                        "director",
                        "secretary",
                        "person with significant control",
                    ],
                ),
                format!("{}, {}", family.to_uppercase(), given),
            )
        } else {
            (
                "membership_roll",
                pick(rng, data::CLUBS).to_string(),
                *pick(rng, &["member", "member", "committee member", "treasurer"]),
                format!("{given} {family}"),
            )
        };
        let partial = rng.random_bool(if company { 0.5 } else { 0.2 });
        RefRecord {
            id: String::new(),
            list,
            full_name,
            dob: dob.map(|(y, m, d)| {
                if partial {
                    format!("{y:04}-{m:02}")
                } else {
                    format!("{y:04}-{m:02}-{d:02}")
                }
            }),
            postcode: postcode.filter(|_| rng.random_bool(0.8)),
            organisation,
            role,
            valid_from: Some(valid_from),
            valid_to,
            person: None,
        }
    }

    /// How a register writes a staff member: exact, or with a variant.
    #[allow(clippy::type_complexity)]
    fn variant(
        &self,
        rng: &mut impl RngCore,
        p: &Person,
        subtle: bool,
    ) -> (String, String, Option<(i32, u8, u8)>, Option<String>) {
        let first = p.given.split(' ').next().unwrap_or(&p.given).to_string();
        if !subtle {
            return (
                p.given.clone(),
                p.family.clone(),
                Some(p.dob),
                Some(p.postcode.clone()),
            );
        }
        let (given, family) = match rng.random_range(0..4) {
            0 => {
                let nick = data::NICKNAMES
                    .iter()
                    .find(|(n, _)| *n == first)
                    .map(|(_, v)| pick(rng, v).to_string());
                (
                    nick.unwrap_or_else(|| format!("{}.", &first[..1])),
                    p.family.clone(),
                )
            }
            1 => (format!("{}.", &first[..1]), p.family.clone()),
            2 => {
                // A one-letter typo in the family name.
                let mut f: Vec<char> = p.family.chars().collect();
                if f.len() > 3 {
                    let k = rng.random_range(1..f.len() - 1);
                    f.swap(k, k + 1);
                }
                (first.clone(), f.into_iter().collect())
            }
            _ => (p.family.clone(), first.clone()), // transposed
        };
        // Registers also mistype dates of birth and lag behind house moves.
        let (y, m, d) = p.dob;
        let dob = match rng.random_range(0..30) {
            0 if d <= 12 && d != m => (y, d, m), // day and month swapped
            1 if d < 19 => (y, m, d + 10),       // one digit of the day
            2 => (if y % 10 == 9 { y - 1 } else { y + 1 }, m, d), // one digit of the year
            _ => p.dob,
        };
        let postcode = match rng.random_range(0..10) {
            0 => {
                let district = p
                    .postcode
                    .split(' ')
                    .next()
                    .unwrap_or(&p.postcode)
                    .to_string();
                postcode(rng, &district)
            }
            1 => {
                let (district, _, _) = *pick(rng, data::DISTRICTS);
                postcode(rng, district)
            }
            _ => p.postcode.clone(),
        };
        (given, family, Some(dob), Some(postcode))
    }
}

/// The same organisation written another way, as a person declaring it
/// might: case, the legal form spelt out or dropped, `&` for "and", a
/// generic word dropped or added, "The" in front, a role around it, an
/// acronym, a plural, a typo. One or two of these at once.
pub fn org_variant(rng: &mut impl RngCore, name: &str) -> String {
    let legal = [" Ltd", " Limited", " LLP", " PLC"];
    let generic = [
        " Club",
        " Society",
        " Association",
        " Group",
        " Services",
        " Solutions",
    ];
    let mut out = name.to_string();
    let steps = rng.random_range(1..=2);
    for _ in 0..steps {
        out = match rng.random_range(0..10) {
            0 => out.to_uppercase(),
            1 => match legal.iter().find(|l| out.ends_with(*l)) {
                Some(l) if rng.random_bool(0.5) => out[..out.len() - l.len()].to_string(),
                Some(&" Ltd") => format!("{} Limited", &out[..out.len() - 4]),
                Some(&" Limited") => format!("{} Ltd", &out[..out.len() - 8]),
                _ => format!("{out} Ltd"),
            },
            2 if out.contains(" and ") => out.replacen(" and ", " & ", 1),
            2 => format!("The {out}"),
            3 => match generic.iter().find(|g| out.contains(*g)) {
                Some(g) => out.replacen(g, "", 1),
                None => format!("{out} Club"),
            },
            4 => format!("Director, {out}"),
            5 => format!("{out} (member)"),
            6 => {
                // An acronym of the last three words, as "Croydon RFC" for
                // Croydon Rugby Football Club (letters only, legal form and
                // anything after the name left off).
                let base = legal
                    .iter()
                    .find(|l| name.ends_with(*l))
                    .map_or(name, |l| &name[..name.len() - l.len()]);
                let words: Vec<&str> = base.split(' ').collect();
                let alpha = |w: &&str| w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic());
                if words.len() >= 4 && words.iter().all(alpha) {
                    let k = words.len() - 3;
                    let acronym: String = words[k..]
                        .iter()
                        .filter_map(|w| w.chars().next())
                        .collect::<String>()
                        .to_uppercase();
                    format!("{} {acronym}", words[..k].join(" "))
                } else {
                    out.to_lowercase()
                }
            }
            7 => {
                // A typo: two letters swapped inside the longest word.
                let longest = out
                    .split(' ')
                    .max_by_key(|w| w.len())
                    .unwrap_or("")
                    .to_string();
                if longest.len() >= 6 && longest.is_ascii() {
                    let mut c: Vec<char> = longest.chars().collect();
                    let k = rng.random_range(1..c.len() - 2);
                    c.swap(k, k + 1);
                    out.replacen(&longest, &c.into_iter().collect::<String>(), 1)
                } else {
                    out
                }
            }
            8 => {
                // A plural on a word of the name.
                let words: Vec<&str> = out.split(' ').collect();
                let k = rng.random_range(0..words.len());
                if words[k].len() > 3
                    && words[k]
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_uppercase())
                    && !words[k].ends_with('s')
                {
                    let mut w: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    w[k].push('s');
                    w.join(" ")
                } else {
                    out
                }
            }
            _ => out.replace(['.', ','], ""),
        };
    }
    out
}

/// Sex and ethnicity for equality monitoring of person `idx`: a stream of
/// its own seeded by the index (not the generator's streams, so adding this table changed no
/// other output), in proportions near those of police officers in England
/// and Wales (about 35% women; 92% White, 3% Asian, 2% Mixed, 1.5% Black,
/// 1% other; 3% not stated).
pub fn equality(idx: usize) -> (&'static str, &'static str) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6571_7561_6c69_7479 ^ idx as u64);
    let sex = if rng.random_bool(0.35) {
        "female"
    } else {
        "male"
    };
    let b: f64 = rng.random();
    let ethnicity = match b {
        x if x < 0.03 => "",
        x if x < 0.03 + 0.03 => "asian",
        x if x < 0.06 + 0.02 => "mixed",
        x if x < 0.08 + 0.015 => "black",
        x if x < 0.095 + 0.01 => "other",
        _ => "white",
    };
    (sex, ethnicity)
}
