//! One person's period, day by day: shifts, absences, swipes, device use,
//! look-ups, cases, overtime, roster edits, complaints; planted scenarios and
//! confounders with their ground truth.

use rand::{Rng, RngCore};

use crate::Out;
use crate::conventions::{EditTimeForm, Manipulation};
use crate::csvout::{Clock, Row};
use crate::data;
use crate::world::{Confounder, Person, Scenario, UnitKind, World};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Work,
    Rest,
    Leave,
    Sick,
}

/// Where the person is during a working period.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Presence {
    /// At a police site (badges, office network, look-ups).
    Site(usize),
    /// At court: no badge, mobile device, pings at the court.
    Court(usize),
    /// Working from home over VPN.
    Home,
    /// Badge in and straight out, then VPN from home.
    BadgeAndGo(usize),
    /// Not there at all (ghost overtime).
    Absent,
}

#[derive(Clone, Copy)]
struct Case {
    seq: usize,
    from: i32,
    to: i32,
    victim: u32,
    witness: Option<u32>,
    suspect: Option<u32>,
}

/// Output buffers of one person, one per output file.
pub type Chunk = Vec<Vec<u8>>;

struct Gen<'a> {
    w: &'a World,
    p: &'a Person,
    clock: &'a Clock,
    rng: &'a mut dyn RngCore,
    out: Chunk,
    n: usize,
    seq: [usize; 12],
    cases: Vec<Case>,
    relations: Vec<u32>,
    /// Day offsets no random absence may cover (a look-alike's set-up).
    reserved: Vec<i32>,
    /// Extra look-ups planted on days: (day, subject, case_ref seq, reason).
    planted: Vec<(i32, u32, Option<usize>, Option<&'static str>)>,
    truth_days: Vec<i32>,
    /// Shift intervals (Unix seconds) emitted, to keep off-duty pings off them.
    busy: Vec<(i64, i64)>,
}

const SQ_SHIFT: usize = 0;
const SQ_EDIT: usize = 1;
const SQ_CLAIM: usize = 2;
const SQ_ABS: usize = 3;
const SQ_BADGE: usize = 4;
const SQ_SESSION: usize = 5;
const SQ_QUERY: usize = 6;
const SQ_CASE: usize = 7;
const SQ_COMPLAINT: usize = 8;
const SQ_DECL: usize = 9;

fn poisson(rng: &mut dyn RngCore, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let (mut k, mut p) = (0u32, 1.0f64);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Generates everything about person `p`.
pub fn person(w: &World, p: &Person, clock: &Clock, rng: &mut dyn RngCore) -> Chunk {
    let mut g = Gen {
        w,
        p,
        clock,
        rng,
        out: vec![Vec::new(); Out::COUNT],
        n: p.idx + 1,
        seq: [0; 12],
        cases: vec![],
        relations: vec![],
        reserved: vec![],
        planted: vec![],
        truth_days: vec![],
        busy: vec![],
    };
    g.run();
    g.out
}

impl Gen<'_> {
    fn next(&mut self, k: usize) -> usize {
        self.seq[k] += 1;
        self.seq[k]
    }

    fn buf(&mut self, o: Out) -> &mut Vec<u8> {
        &mut self.out[o as usize]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }

    fn unit_on(&self, day: i32) -> usize {
        match self.p.moves_to {
            Some((d, u)) if day >= self.w.start + d as i32 => u,
            _ => self.p.unit,
        }
    }

    fn site_on(&self, day: i32) -> usize {
        self.w.units[self.unit_on(day)].site
    }

    fn manager_id(&self) -> Option<&str> {
        self.p.manager.map(|m| self.w.people[m].id.as_str())
    }

    fn run(&mut self) {
        let w = self.w;
        let p = self.p;
        let start = w.start;
        let days = w.days as i32;
        self.identity();
        // Day plan.
        let mut status: Vec<Status> = (0..days)
            .map(|d| {
                if self.rostered(start + d).is_some() {
                    Status::Work
                } else {
                    Status::Rest
                }
            })
            .collect();
        let conf = p.confounder;
        let conv = &w.conv;
        let holiday_fix = conf == Some(Confounder::HolidayCodeOnHoliday);
        if holiday_fix {
            // Works every bank holiday of the period (swapping if need be),
            // and corrects each shift's code to the holiday rate.
            for &h in &w.holidays {
                let d = h - start;
                status[d as usize] = Status::Work;
                self.reserved.push(d);
            }
        }
        // The night across the clock change (whichever the period holds, else
        // mid-period) is kept clear of leave and sickness.
        let dst_day = (conf == Some(Confounder::DstNight)).then(|| {
            (0..days - 1)
                .find(|&d| {
                    let a = self.clock.offset(self.clock.local(start + d, 12 * 60));
                    let b = self.clock.offset(self.clock.local(start + d + 1, 12 * 60));
                    a != b
                })
                .unwrap_or(days / 2)
        });
        self.reserved.extend(dst_day);
        // A look-alike's own absence block and the overtime day beside it
        // are fixed before any random leave or sickness, which then keep off
        // them: a random absence over the overtime day (or over the block's
        // edge) would make the innocent data guilty. A long sickness spell a
        // third of the way in with overtime the day after it; a leave block
        // mid-period with an overtime night on the evening before it.
        let sick_spell = (conf == Some(Confounder::GenuineSickness))
            .then(|| (days / 3, 14.min(days - days / 3 - 3)))
            .filter(|&(s, len)| len > 0 && s + len < days);
        let leave_block = (conf == Some(Confounder::NightIntoLeave))
            .then(|| {
                let s = (days / 2).max(2);
                (s, 5.min(days - s - 1))
            })
            .filter(|&(s, len)| len > 0 && s + len <= days);
        if let Some((s, len)) = sick_spell {
            self.reserved.extend(s..=s + len);
        }
        if let Some((s, len)) = leave_block {
            self.reserved.extend(s - 1..s + len);
        }
        self.plan_absences(&mut status);
        let scenario = p.scenario;

        // Office attendance plan (hybrid staff): fixed office weekdays.
        let target = p.office_target.unwrap_or(1.0);
        let workdays: Vec<usize> = (0..7).filter(|&d| p.workdays[d]).collect();
        let fixed = ((target * workdays.len() as f64).ceil() as usize).min(workdays.len());
        let mut office_days = [false; 7];
        let rot = self.range(0, workdays.len() as i64) as usize;
        for k in 0..fixed {
            office_days[workdays[(rot + k) % workdays.len()]] = true;
        }
        let (breach, blatant_breach) = match scenario {
            Some((Scenario::AttendanceBreach, b)) => (true, b),
            _ => (false, false),
        };
        let badge_and_go = breach && p.idx.is_multiple_of(2);
        // Other conventions confine a breach to some weeks of the period.
        let breach_window: Option<(i32, i32)> = (breach && conv.confined_breaches).then(|| {
            let weeks = (self.range(6, 11) as i32).min((days / 7 - 2).max(4));
            let len = (weeks * 7).min(days);
            let from = self.range(
                i64::from(7.min(days - len)),
                i64::from((days - len - 7).max(8)),
            ) as i32;
            (start + from, start + (from + len).min(days) - 1)
        });
        if let Some((a, b)) = breach_window {
            self.truth_days.extend([a, b]);
        }

        // Planted overtime days.
        let mut ghost_days = vec![];
        let mut overlap_days = vec![];
        let mut manip_days = vec![];
        let rest_days: Vec<i32> = (days / 5..days - 1)
            .filter(|&d| status[d as usize] == Status::Rest)
            .map(|d| start + d)
            .collect();
        let mut extension_ghosts = vec![];
        match scenario {
            Some((Scenario::GhostOvertime, b)) if conv.extension_ghosts => {
                // Claimed as extensions of rostered shifts (and, when blatant,
                // on rest days too), with nobody there.
                let work: Vec<i32> = (days / 5..days - 1)
                    .filter(|&d| status[d as usize] == Status::Work)
                    .map(|d| start + d)
                    .collect();
                let k = if b { self.range(3, 5) } else { 2 } as usize;
                extension_ghosts = self.sample(&work, k);
                if b {
                    let k = self.range(1, 3) as usize;
                    ghost_days = self.sample(&rest_days, k);
                }
            }
            Some((Scenario::GhostOvertime, b)) => {
                let k = if b { self.range(4, 7) } else { 2 } as usize;
                ghost_days = self.sample(&rest_days, k);
            }
            Some((Scenario::LeaveOverlapClaim, b)) => {
                let mut away: Vec<i32> = (days / 5..days - 1)
                    .filter(|&d| matches!(status[d as usize], Status::Leave | Status::Sick))
                    .map(|d| start + d)
                    .collect();
                if away.len() < 3 {
                    let s = days / 2;
                    let len = 6.min(days - s - 1);
                    for d in s..s + len {
                        status[d as usize] = Status::Sick;
                    }
                    self.absence("sickness", start + s, start + s + len - 1);
                    away = (s..s + len).map(|d| start + d).collect();
                }
                let k = if b { 3 } else { 1 };
                overlap_days = self.sample(&away, k);
            }
            Some((Scenario::RosterManipulation, b)) => {
                let work: Vec<i32> = (days / 5..days - 1)
                    .filter(|&d| status[d as usize] == Status::Work)
                    .map(|d| start + d)
                    .collect();
                let work: Vec<i32> = work
                    .into_iter()
                    .filter(|d| !w.holidays.contains(d))
                    .collect();
                let k = if b {
                    self.range(6, 10)
                } else {
                    self.range(2, 4)
                } as usize;
                manip_days = self.sample(&work, k);
            }
            _ => {}
        }
        let swap_count = match conf {
            Some(Confounder::SwapNoPayChange) => self.range(3, 6),
            _ if self.chance(0.08) => 1,
            _ => 0,
        };
        let work_all: Vec<i32> = (0..days - 1)
            .filter(|&d| status[d as usize] == Status::Work)
            .map(|d| start + d)
            .collect();
        let swap_days = self.sample(&work_all, swap_count as usize);
        let offsite_days = if conf == Some(Confounder::OffsiteDuty) {
            let k = self.range(2, 5) as usize;
            self.sample(&rest_days, k)
        } else {
            vec![]
        };
        // Rest days on call from home, with a call-out answered by phone; or
        // rest-day overtime whose pay code the person corrects.
        let oncall_days = if conf == Some(Confounder::OnCallCallOut) {
            let k = self.range(2, 5) as usize;
            self.sample(&rest_days, k)
        } else {
            vec![]
        };
        let recode_days = if conf == Some(Confounder::OvertimeCodeCorrection) {
            let k = self.range(2, 4) as usize;
            self.sample(&rest_days, k)
        } else {
            vec![]
        };
        // Confounder overtime placed just outside absences.
        let mut edge_days: Vec<(i32, bool)> = vec![];
        if let Some((s, len)) = sick_spell {
            for d in s..s + len {
                status[d as usize] = Status::Sick;
            }
            self.absence("sickness", start + s, start + s + len - 1);
            status[(s + len) as usize] = Status::Rest;
            edge_days.push((start + s + len, false));
        }
        if let Some((s, len)) = leave_block {
            status[(s - 1) as usize] = Status::Rest;
            for d in s..s + len {
                status[d as usize] = Status::Leave;
            }
            self.absence("annual_leave", start + s, start + s + len - 1);
            edge_days.push((start + s - 1, true));
        }
        if let Some(d) = dst_day {
            status[d as usize] = Status::Rest;
            edge_days.push((start + d, true));
        }
        self.plan_lookups(&status);

        // Rest-day blocks for shift workers (as rostering systems export them).
        if p.is_shift() {
            let mut d = 0;
            while d < days {
                if status[d as usize] == Status::Rest {
                    let s = d;
                    while d < days && status[d as usize] == Status::Rest {
                        d += 1;
                    }
                    self.absence("rest_day", start + s, start + d - 1);
                } else {
                    d += 1;
                }
            }
        }

        for d in 0..days {
            let day = start + d;
            let st = status[d as usize];
            match st {
                Status::Work => {
                    let (smin, dur) = self
                        .rostered(day)
                        .or_else(|| holiday_fix.then_some((7 * 60, 600)))
                        .expect("work day is rostered");
                    let wd = weekday(day);
                    let in_breach =
                        breach && breach_window.is_none_or(|(a, b)| day >= a && day <= b);
                    let presence_default = if p.pattern == "shift" {
                        Presence::Site(self.site_on(day))
                    } else if in_breach {
                        let prob = match (blatant_breach, breach_window.is_some()) {
                            (true, false) => 0.25,
                            (false, false) => (target - 0.25).max(0.2),
                            (true, true) => 0.05,
                            (false, true) => 0.15,
                        };
                        if self.chance(prob) {
                            Presence::Site(self.site_on(day))
                        } else if badge_and_go && self.chance(0.7) {
                            Presence::BadgeAndGo(self.site_on(day))
                        } else {
                            Presence::Home
                        }
                    } else if p.pattern == "office" || office_days[wd] || self.chance(0.45) {
                        Presence::Site(self.site_on(day))
                    } else {
                        Presence::Home
                    };
                    // Training and court days.
                    let holiday = w.holidays.contains(&day);
                    let duty_code = match &conv.holiday {
                        Some(h) if holiday && !holiday_fix => h.as_str(),
                        _ => conv.standard.as_str(),
                    };
                    let manipulated = manip_days.contains(&day);
                    // A manipulation converts an ordinary duty day (a court
                    // day turned into "overtime" would also look like ghost
                    // overtime, a different scenario).
                    let (kind, pay, presence) = if manipulated {
                        ("duty", duty_code, presence_default)
                    } else if self.chance(1.0 / 45.0) {
                        (
                            "training",
                            conv.training.as_str(),
                            Presence::Site(w.training_site),
                        )
                    } else if p.investigator && self.chance(1.0 / 35.0) {
                        let c = self.range(0, data::COURTS.len() as i64) as usize;
                        ("court", conv.standard.as_str(), Presence::Court(c))
                    } else {
                        ("duty", duty_code, presence_default)
                    };
                    let s = self.clock.local(day, smin);
                    let e = self.clock.local(day, smin + dur);
                    let swap = swap_days.contains(&day) && kind == "duty" && !manipulated;
                    let how = if !manipulated {
                        None
                    } else if conv.set == 0 {
                        Some(if self.chance(0.6) {
                            Manipulation::KindAndCode
                        } else {
                            Manipulation::Extension
                        })
                    } else {
                        let k = self.range(0, conv.manipulations.len() as i64) as usize;
                        Some(conv.manipulations[k])
                    };
                    let seq = self.next(SQ_SHIFT);
                    let (kind_out, pay_out, s_out, e_out) = match how {
                        Some(Manipulation::KindAndCode) => {
                            ("overtime", conv.overtime.as_str(), s, e)
                        }
                        Some(Manipulation::RestDay) => {
                            ("rest_day_working", conv.rest_day.as_str(), s, e)
                        }
                        Some(Manipulation::CodeOnly) => ("duty", conv.overtime.as_str(), s, e),
                        Some(Manipulation::HolidayCode) => (
                            "duty",
                            conv.holiday.as_deref().unwrap_or(&conv.overtime),
                            s,
                            e,
                        ),
                        Some(Manipulation::Extension) => {
                            let ext = self.range(2, 5) * 3600;
                            ("duty", conv.standard.as_str(), s, e + ext)
                        }
                        None if swap => {
                            let delta = self.range(-2, 3).max(1) * 3600;
                            (kind, pay, s + delta, e + delta)
                        }
                        None => (kind, pay, s, e),
                    };
                    let shift_no = seq;
                    self.shift(shift_no, day, s_out, e_out, kind_out, pay_out);
                    let me = p.id.clone();
                    if let Some(how) = how {
                        self.truth_days.push(day);
                        let retro = self.chance(0.75);
                        let at = if retro {
                            e + self.range(2 * 3600, 5 * 86_400)
                        } else {
                            s - self.range(3600, 4 * 86_400)
                        };
                        match how {
                            Manipulation::Extension => {
                                let (old, new) = (self.fmt_edit_ts(e), self.fmt_edit_ts(e_out));
                                self.edit(shift_no, &me, at, 3, Some(&old), Some(&new));
                            }
                            Manipulation::KindAndCode | Manipulation::RestDay => {
                                let (old, new) = (conv.kind("duty"), conv.kind(kind_out));
                                self.edit(shift_no, &me, at, 0, Some(&old), Some(&new));
                                let std = conv.standard.clone();
                                self.edit(shift_no, &me, at + 40, 1, Some(&std), Some(pay_out));
                            }
                            Manipulation::CodeOnly | Manipulation::HolidayCode => {
                                let std = conv.standard.clone();
                                self.edit(shift_no, &me, at, 1, Some(&std), Some(pay_out));
                            }
                        }
                    } else if swap {
                        let at = s - self.range(86_400, 10 * 86_400);
                        let (os, ns, oe, ne) = (
                            self.fmt_edit_ts(s),
                            self.fmt_edit_ts(s_out),
                            self.fmt_edit_ts(e),
                            self.fmt_edit_ts(e_out),
                        );
                        self.edit(shift_no, &me, at, 2, Some(&os), Some(&ns));
                        self.edit(shift_no, &me, at + 20, 3, Some(&oe), Some(&ne));
                    } else if holiday_fix && holiday && kind == "duty" {
                        // The holiday rate on a holiday: a correction, not a gain.
                        let at = e + self.range(3600, 3 * 86_400);
                        let (std, hol) = (
                            conv.standard.clone(),
                            conv.holiday.clone().unwrap_or_default(),
                        );
                        self.edit(shift_no, &me, at, 1, Some(&std), Some(&hol));
                    } else {
                        self.other_edits(shift_no, kind_out, s, e);
                    }
                    // Claims for more hours at the end of a rostered shift:
                    // planted with nobody there, or genuine with the person
                    // staying (and swiping out later).
                    let ghost_ext = extension_ghosts.contains(&day) && kind == "duty";
                    let genuine_ext = conv.set > 0
                        && !ghost_ext
                        && how.is_none()
                        && !swap
                        && kind == "duty"
                        && p.is_shift()
                        && self.chance(if conf == Some(Confounder::GenuineExtension) {
                            0.3
                        } else {
                            conv.extension_rate
                        });
                    let mut end = if how.is_some() { e } else { e_out };
                    if ghost_ext {
                        self.truth_days.push(day);
                        let ext = self.range(2, 5) * 3600;
                        let link = conv.claims_name_shift.then_some(shift_no);
                        self.claim_row(day, e, e + ext, link, None, false);
                    } else if genuine_ext {
                        let ext = self.range(1, 5) * 3600;
                        let link = conv.claims_name_shift.then_some(shift_no);
                        self.claim_row(day, end, end + ext, link, None, false);
                        end += ext;
                    }
                    // They worked the hours they were rostered, not the edited ones.
                    self.presence(day, s_out, end, presence);
                }
                Status::Leave | Status::Sick if conv.shifts_over_leave && p.pattern != "shift" => {
                    // The roster keeps the planned shift; the absence says why
                    // nobody came.
                    if let Some((smin, dur)) = self.rostered(day) {
                        let seq = self.next(SQ_SHIFT);
                        let (s, e) = (
                            self.clock.local(day, smin),
                            self.clock.local(day, smin + dur),
                        );
                        let std = conv.standard.clone();
                        self.shift(seq, day, s, e, "duty", &std);
                    }
                    self.home_pings(day);
                }
                Status::Rest => {
                    let ghost = ghost_days.contains(&day);
                    let offsite = offsite_days.contains(&day);
                    let edge = edge_days
                        .iter()
                        .find(|(d, _)| *d == day)
                        .map(|(_, night)| *night);
                    if ghost {
                        self.truth_days.push(day);
                        self.overtime(day, false, Presence::Absent, None);
                    } else if offsite {
                        let c = self.range(0, data::COURTS.len() as i64) as usize;
                        self.overtime(day, false, Presence::Court(c), Some("court attendance"));
                    } else if let Some(night) = edge {
                        self.overtime(day, night, Presence::Site(self.site_on(day)), None);
                    } else if oncall_days.contains(&day) {
                        self.on_call(day);
                    } else if recode_days.contains(&day) {
                        let (seq, pay, e) =
                            self.overtime(day, false, Presence::Site(self.site_on(day)), None);
                        // The roster went out with the standard code; they
                        // put it right, before or after the shift.
                        let at = e + self.range(-30 * 3600, 30 * 3600);
                        let (me, std) = (p.id.clone(), conv.standard.clone());
                        self.edit(seq, &me, at, 1, Some(&std), Some(&pay));
                    } else if p.is_shift() && self.chance(p.overtime_rate / 30.0 * 1.6) {
                        let site = if self.chance(0.2) {
                            self.range(0, (w.sites.len() - 2) as i64) as usize
                        } else {
                            self.site_on(day)
                        };
                        let night = self.chance(0.15);
                        self.overtime(day, night, Presence::Site(site), None);
                    }
                    self.home_pings(day);
                }
                Status::Leave | Status::Sick => {
                    if overlap_days.contains(&day) {
                        self.truth_days.push(day);
                        self.overtime(day, false, Presence::Site(self.site_on(day)), None);
                    }
                    self.home_pings(day);
                }
            }
        }
        self.complaints();
        self.declarations();
        self.case_rows();
        self.truth();
    }

    fn sample(&mut self, from: &[i32], k: usize) -> Vec<i32> {
        let mut v = from.to_vec();
        let mut out = vec![];
        while out.len() < k && !v.is_empty() {
            let i = self.range(0, v.len() as i64) as usize;
            out.push(v.swap_remove(i));
        }
        out.sort_unstable();
        out
    }

    /// The rostered (start minute, duration) of a day, if the person works it.
    fn rostered(&self, day: i32) -> Option<(i32, i32)> {
        let p = self.p;
        let wd = weekday(day);
        match self.w.units[self.unit_on(day)].kind {
            UnitKind::Response(team) => {
                let k = (day + 3 * i32::from(team)).rem_euclid(10);
                if p.hours < 30.0 && k % 2 == 1 {
                    return None;
                }
                match k {
                    0 | 1 => Some((7 * 60, 600)),
                    2 | 3 => Some((14 * 60, 600)),
                    4 | 5 => Some((22 * 60, 540)),
                    _ => None,
                }
            }
            UnitKind::Neighbourhood => {
                if wd >= 5 || (p.hours < 30.0 && wd >= 3) {
                    return None;
                }
                if (day / 7) % 2 == 0 {
                    Some((8 * 60, 480))
                } else {
                    Some((14 * 60, 480))
                }
            }
            UnitKind::Cid => (wd < 5).then_some((8 * 60, 540)),
            _ => p.workdays[wd].then_some((8 * 60 + 30, 480)),
        }
    }

    fn plan_absences(&mut self, status: &mut [Status]) {
        let start = self.w.start;
        let days = status.len() as i32;
        let leave_days = (27.0 * days as f64 / 365.0).round() as i32
            + if self.p.confounder == Some(Confounder::LeaveHeavyHybrid) {
                12
            } else {
                0
            };
        let mut placed = 0;
        if self.p.confounder == Some(Confounder::LeaveDip) {
            // Three weeks of recorded leave a third of the way in: the
            // office days stop, and nothing is wrong.
            let len = 21.min(days / 4).max(5);
            let s = days / 3;
            for d in s..(s + len).min(days) {
                status[d as usize] = Status::Leave;
                self.reserved.push(d);
            }
            self.absence("annual_leave", start + s, start + (s + len).min(days) - 1);
            placed += len;
        }
        let mut guard = 0;
        while placed < leave_days && guard < 50 {
            guard += 1;
            let len = (self.range(2, 10) as i32).min(days);
            let s = self.range(0, i64::from((days - len).max(1))) as i32;
            if (s..s + len).any(|d| {
                (status[d as usize] != Status::Work && status[d as usize] != Status::Rest)
                    || self.reserved.contains(&d)
            }) {
                continue;
            }
            if s > 0 && status[(s - 1) as usize] == Status::Leave {
                continue;
            }
            for d in s..(s + len).min(days) {
                status[d as usize] = Status::Leave;
            }
            placed += len;
            self.absence("annual_leave", start + s, start + (s + len).min(days) - 1);
        }
        // Sickness: more in winter.
        let mut d = 0;
        while d < days {
            let (_, m, _) = probity_core::time::civil_from_days(i64::from(start + d));
            let rate = if matches!(m, 12 | 1 | 2) {
                1.0 / 90.0
            } else {
                1.0 / 200.0
            };
            if status[d as usize] == Status::Work && self.chance(rate) {
                let len = if self.chance(0.1) {
                    self.range(6, 15)
                } else {
                    self.range(1, 5)
                } as i32;
                let e = (d + len).min(days);
                if (d..e).any(|k| self.reserved.contains(&k)) {
                    d += 1;
                    continue;
                }
                for k in d..e {
                    status[k as usize] = Status::Sick;
                }
                self.absence("sickness", start + d, start + e - 1);
                d = e + 1;
            } else {
                d += 1;
            }
        }
    }

    fn identity(&mut self) {
        let p = self.p;
        let w = self.w;
        let n = self.n;
        let start_date = w.start - p.start_days_ago as i32;
        let unit = &w.units[match p.moves_to {
            Some((_, u)) => u,
            None => p.unit,
        }];
        let dob = crate::csvout::day_of(p.dob.0, p.dob.1, p.dob.2);
        let manager = self.manager_id().map(str::to_owned);
        let hours = format!("{}", p.hours);
        Row::new(self.buf(Out::People))
            .s(&p.id)
            .s(&p.given)
            .s(&p.family)
            .date(dob)
            .s(&p.postcode)
            .s(p.rank)
            .s(p.role)
            .s(&unit.id)
            .opt(manager.as_deref())
            .date(start_date)
            .s("")
            .s(p.pattern)
            .s(&p.office_target.map(|t| format!("{t}")).unwrap_or_default())
            .s(&hours)
            .end();
        // Equality monitoring, drawn from its own stream (independent of
        // every planted scenario, so a fair detector shows no disparity
        // here beyond noise). Proportions near those of police officers in
        // England and Wales.
        let (sex, ethnicity) = crate::world::equality(p.idx);
        Row::new(self.buf(Out::EqualityMonitoring))
            .s(&p.id)
            .s(sex)
            .s(ethnicity)
            .end();
        for (k, reissue) in [
            (Out::BadgeCards, p.card_reissue),
            (Out::Devices, p.device_reissue),
        ] {
            let prefix = if k == Out::BadgeCards { "C" } else { "D" };
            match reissue {
                Some(r) => {
                    let cut = w.start + r as i32;
                    Row::new(self.buf(k))
                        .id(prefix, n, 6, 1, 1)
                        .s(&p.id)
                        .date(start_date)
                        .date(cut - 1)
                        .end();
                    Row::new(self.buf(k))
                        .id(prefix, n, 6, 2, 1)
                        .s(&p.id)
                        .date(cut)
                        .s("")
                        .end();
                }
                None => {
                    Row::new(self.buf(k))
                        .id(prefix, n, 6, 1, 1)
                        .s(&p.id)
                        .date(start_date)
                        .s("")
                        .end();
                }
            }
        }
        Row::new(self.buf(Out::Accounts))
            .id("AC", n, 6, 0, 0)
            .s(&p.id)
            .end();
        // Known relations: their own record and family.
        let own = self.subject();
        Row::new(self.buf(Out::KnownRelations))
            .s(&p.id)
            .id("S", own as usize, 8, 0, 0)
            .s("self")
            .end();
        let k = self.range(1, 5);
        for _ in 0..k {
            let s = self.subject();
            let rel = *["family", "family", "partner", "ex_partner", "associate"]
                .get(self.range(0, 5) as usize)
                .expect("index");
            Row::new(self.buf(Out::KnownRelations))
                .s(&p.id)
                .id("S", s as usize, 8, 0, 0)
                .s(rel)
                .end();
            self.relations.push(s);
        }
    }

    fn subject(&mut self) -> u32 {
        self.rng.random_range(1_000_000..99_999_999)
    }

    fn absence(&mut self, kind: &str, from: i32, to: i32) {
        let n = self.n;
        let seq = self.next(SQ_ABS);
        let id = self.p.id.clone();
        Row::new(self.buf(Out::Absences))
            .id("AB", n, 6, seq, 3)
            .s(&id)
            .s(kind)
            .date(from)
            .date(to)
            .end();
    }

    fn shift(&mut self, seq: usize, day: i32, s: i64, e: i64, kind: &str, pay: &str) {
        let n = self.n;
        let id = self.p.id.clone();
        let unit = self.w.units[self.unit_on(day)].id.clone();
        let clock = self.clock;
        Row::new(self.buf(Out::Shifts))
            .id("SH", n, 6, seq, 4)
            .s(&id)
            .s(&unit)
            .ts(clock, s)
            .ts(clock, e)
            .s(kind)
            .s(pay)
            .end();
        self.busy.push((s, e));
    }

    /// An edit of field `field` (0 kind, 1 pay code, 2 start, 3 end, named
    /// as this force names them).
    fn edit(
        &mut self,
        shift: usize,
        by: &str,
        at: i64,
        field: usize,
        old: Option<&str>,
        new: Option<&str>,
    ) {
        let n = self.n;
        let seq = self.next(SQ_EDIT);
        let clock = self.clock;
        let name = self.w.conv.fields[field].clone();
        Row::new(self.buf(Out::RosterEdits))
            .id("RE", n, 6, seq, 4)
            .id("SH", n, 6, shift, 4)
            .s(by)
            .ts(clock, at)
            .s(&name)
            .opt(old)
            .opt(new)
            .end();
    }

    /// An edited time as this force's edit log writes it.
    fn fmt_edit_ts(&self, secs: i64) -> String {
        let mut b = vec![];
        let row = Row::new(&mut b);
        match self.w.conv.edit_time {
            EditTimeForm::Instant => row.ts(self.clock, secs),
            EditTimeForm::Spaced => row.spaced(self.clock, secs),
            EditTimeForm::TimeOfDay => row.time_of_day(self.clock, secs),
        };
        String::from_utf8(b).expect("ascii")
    }

    /// Routine edits by managers and resourcing: training and court days
    /// booked in advance, start times moved.
    fn other_edits(&mut self, shift: usize, kind: &str, s: i64, e: i64) {
        let w = self.w;
        let manager_confounder = self
            .p
            .manager
            .is_some_and(|m| w.people[m].confounder == Some(Confounder::ManagerEditsOthers));
        let editor = if !w.resourcing.is_empty() && self.chance(0.5) {
            Some(
                w.people[w.resourcing[self.range(0, w.resourcing.len() as i64) as usize]]
                    .id
                    .clone(),
            )
        } else {
            self.manager_id().map(str::to_owned)
        };
        let Some(editor) = editor else { return };
        if kind == "training" || kind == "court" {
            let at = s - self.range(3 * 86_400, 20 * 86_400);
            let (old, new) = (self.w.conv.kind("duty"), self.w.conv.kind(kind));
            self.edit(shift, &editor, at, 0, Some(&old), Some(&new));
        } else if self.chance(if manager_confounder { 0.15 } else { 0.025 }) {
            let editor = if manager_confounder {
                self.manager_id().expect("has manager").to_owned()
            } else {
                editor
            };
            let at = s - self.range(2 * 3600, 6 * 86_400);
            if self.chance(0.5) {
                let (os, ns) = (self.fmt_edit_ts(s), self.fmt_edit_ts(s - 3600));
                self.edit(shift, &editor, at, 2, Some(&os), Some(&ns));
            } else {
                let (oe, ne) = (self.fmt_edit_ts(e), self.fmt_edit_ts(e + 3600));
                self.edit(shift, &editor, at, 3, Some(&oe), Some(&ne));
            }
        }
    }

    /// An overtime or rest-day-working shift with its claim; returns the
    /// shift's number, its pay code and its end.
    fn overtime(
        &mut self,
        day: i32,
        night: bool,
        presence: Presence,
        reason: Option<&str>,
    ) -> (usize, String, i64) {
        let (smin, dur) = if night {
            (22 * 60, 480)
        } else if self.chance(0.5) {
            (8 * 60, 480)
        } else {
            (10 * 60, 480)
        };
        let s = self.clock.local(day, smin);
        let e = self.clock.local(day, smin + dur);
        let court = matches!(presence, Presence::Court(_));
        let conv = &self.w.conv;
        let (kind, pay) = if court {
            ("court", conv.overtime.clone())
        } else if self.chance(0.5) {
            ("overtime", conv.overtime.clone())
        } else {
            ("rest_day_working", conv.rest_day.clone())
        };
        let seq = self.next(SQ_SHIFT);
        self.shift(seq, day, s, e, kind, &pay);
        self.claim_row(day, s, e, Some(seq), reason, court);
        self.presence(day, s, e, presence);
        (seq, pay, e)
    }

    /// An evening on call from home (18:00 to 02:00) with a call-out
    /// answered by phone and claimed: no site, session or look-up in it.
    /// The claim names the on-call shift where this force's claims name
    /// shifts.
    fn on_call(&mut self, day: i32) {
        let (s, e) = (
            self.clock.local(day, 18 * 60),
            self.clock.local(day, 26 * 60),
        );
        let seq = self.next(SQ_SHIFT);
        let code = self.w.conv.standard.clone();
        self.shift(seq, day, s, e, "on_call", &code);
        let from = s + self.range(1, 4) * 3600;
        let to = from + self.range(1, 3) * 3600;
        let link = self.w.conv.claims_name_shift.then_some(seq);
        self.claim_row(
            day,
            from,
            to,
            link,
            Some("call-out: advice by phone"),
            false,
        );
        self.presence(day, s, e, Presence::Absent);
    }

    /// An overtime claim for `s..e`, naming shift `shift` if any.
    fn claim_row(
        &mut self,
        day: i32,
        s: i64,
        e: i64,
        shift: Option<usize>,
        reason: Option<&str>,
        court: bool,
    ) {
        let n = self.n;
        let cseq = self.next(SQ_CLAIM);
        let id = self.p.id.clone();
        let hours = (e - s) as f64 / 3600.0;
        let reason = reason.unwrap_or_else(|| {
            [
                "staff shortage",
                "public order event",
                "major incident",
                "football match",
                "protest policing",
            ][self.rng.random_range(0..5)]
        });
        let incident = if court {
            format!("CR-{:06}{:03}", n, self.range(1, 20))
        } else if self.chance(0.5) {
            data::OPERATIONS[self.rng.random_range(0..data::OPERATIONS.len())].to_string()
        } else {
            format!("CAD{}/{}", self.range(1000, 9999), day)
        };
        let approver = if self.chance(0.9) {
            self.manager_id().map(str::to_owned)
        } else {
            None
        };
        let clock = self.clock;
        let row = Row::new(self.buf(Out::OvertimeClaims))
            .id("OC", n, 6, cseq, 3)
            .s(&id);
        let row = match shift {
            Some(seq) => row.id("SH", n, 6, seq, 4),
            None => row.s(""),
        };
        row.ts(clock, s)
            .ts(clock, e)
            .f(hours, 2)
            .s(reason)
            .s(&incident)
            .opt(approver.as_deref())
            .end();
    }

    fn card_on(&self, day: i32) -> usize {
        match self.p.card_reissue {
            Some(r) if day >= self.w.start + r as i32 => 2,
            _ => 1,
        }
    }

    fn device_on(&self, day: i32) -> usize {
        match self.p.device_reissue {
            Some(r) if day >= self.w.start + r as i32 => 2,
            _ => 1,
        }
    }

    /// The local date of an instant: a card or device re-issued at midnight
    /// is the new one for a swipe after it, whatever shift it belongs to.
    fn local_day(&self, secs: i64) -> i32 {
        (secs + i64::from(self.clock.offset(secs))).div_euclid(86_400) as i32
    }

    fn badge(&mut self, _day: i32, site: usize, at: i64, dir: &str) {
        let n = self.n;
        let seq = self.next(SQ_BADGE);
        let card = self.card_on(self.local_day(at));
        let door = if self.p.is_shift() { "yard" } else { "main" };
        let site_id = self.w.sites[site].id.clone();
        let clock = self.clock;
        Row::new(self.buf(Out::BadgeEvents))
            .id("BE", n, 6, seq, 5)
            .id("C", n, 6, card, 1)
            .s(&site_id)
            .s(door)
            .ts(clock, at)
            .s(dir)
            .end();
    }

    fn session(&mut self, _day: i32, s: i64, e: i64, net: &str) {
        if e <= s {
            return;
        }
        let n = self.n;
        let seq = self.next(SQ_SESSION);
        let dev = self.device_on(self.local_day(s));
        let clock = self.clock;
        Row::new(self.buf(Out::DeviceSessions))
            .id("DS", n, 6, seq, 5)
            .id("D", n, 6, dev, 1)
            .id("AC", n, 6, 0, 0)
            .ts(clock, s)
            .ts(clock, e)
            .s(net)
            .end();
    }

    fn ping(&mut self, _day: i32, at: i64, (lat, lon): (f64, f64), spread: f64) {
        let n = self.n;
        let dev = self.device_on(self.local_day(at));
        let la = lat + self.rng.random_range(-spread..=spread);
        let lo = lon + self.rng.random_range(-spread..=spread) * 1.6;
        let acc = self.range(4, 40) as f64;
        let clock = self.clock;
        Row::new(self.buf(Out::DeviceLocations))
            .id("D", n, 6, dev, 1)
            .ts(clock, at)
            .f(la, 5)
            .f(lo, 5)
            .f(acc, 0)
            .end();
    }

    fn pings(&mut self, day: i32, s: i64, e: i64, place: (f64, f64), spread: f64, every: i64) {
        let mut t = s + self.range(60, every);
        while t < e {
            self.ping(day, t, place, spread);
            t += every + self.range(-120, 120);
        }
    }

    /// What a working period leaves behind: swipes, sessions, pings, look-ups.
    fn presence(&mut self, day: i32, s: i64, e: i64, presence: Presence) {
        let w = self.w;
        let field = self.p.is_shift() && w.units[self.unit_on(day)].kind != UnitKind::Cid;
        match presence {
            Presence::Site(site) => {
                let st = &w.sites[site];
                let loc = (st.lat, st.lon);
                let tin = s - self.range(3 * 60, 20 * 60);
                let tout = e + self.range(0, 15 * 60);
                self.badge(day, site, tin, "in");
                if field {
                    let out1 = s + self.range(40 * 60, 90 * 60);
                    let in2 = e - self.range(60 * 60, 120 * 60);
                    self.session(day, s + 300, out1 - 120, "office");
                    self.badge(day, site, out1, "out");
                    self.session(day, out1 + 60, in2 - 60, "mobile");
                    self.badge(day, site, in2, "in");
                    self.session(day, in2 + 120, e - 300, "office");
                    self.pings(day, s, out1, loc, 0.0005, 1800);
                    self.pings(day, out1, in2, loc, 0.015, 1800);
                    self.pings(day, in2, e, loc, 0.0005, 1800);
                } else {
                    self.session(day, s + 600, e - 600, "office");
                    self.pings(day, s, e, loc, 0.0005, 3600);
                }
                self.badge(day, site, tout, "out");
                self.lookups(day, s + 600, e - 600);
            }
            Presence::Court(c) => {
                let (_, lat, lon) = data::COURTS[c];
                self.session(day, s + 1800, s + 5400, "mobile");
                self.pings(day, s, e, (lat, lon), 0.0008, 3600);
                // Planted look-ups still happen, on the phone between hearings.
                self.planted_lookups(day, s + 1800, s + 5400);
            }
            Presence::Home => {
                self.session(day, s + 300, e - 300, "vpn");
                self.pings(day, s, e, self.p.home, 0.0003, 3600);
                self.lookups(day, s + 600, e - 600);
            }
            Presence::BadgeAndGo(site) => {
                let st = &w.sites[site];
                let tin = s + self.range(0, 20 * 60);
                let tout = tin + self.range(2 * 60, 9 * 60);
                self.badge(day, site, tin, "in");
                self.badge(day, site, tout, "out");
                self.ping(day, tin + 60, (st.lat, st.lon), 0.0004);
                let home_from = tout + self.range(45 * 60, 70 * 60);
                self.session(day, home_from, e - 300, "vpn");
                self.pings(day, home_from, e, self.p.home, 0.0003, 3600);
                self.lookups(day, home_from + 60, e - 600);
            }
            Presence::Absent => {
                // At home with the phone on.
                self.pings(day, s, e, self.p.home, 0.0003, 3600);
            }
        }
    }

    /// Off-duty pings at home (later minimised away at ingest).
    fn home_pings(&mut self, day: i32) {
        for _ in 0..self.range(2, 4) {
            let t = self.clock.local(day, self.range(10 * 60, 21 * 60) as i32);
            if self
                .busy
                .iter()
                .any(|&(s, e)| t >= s - 7200 && t <= e + 7200)
            {
                continue;
            }
            self.ping(day, t, self.p.home, 0.0003);
        }
    }

    fn plan_lookups(&mut self, status: &[Status]) {
        let start = self.w.start;
        let days = status.len() as i32;
        let p = self.p;
        if p.lookups_per_day <= 0.0 {
            return;
        }
        let work: Vec<i32> = (0..days)
            .filter(|&d| status[d as usize] == Status::Work)
            .map(|d| start + d)
            .collect();
        if work.is_empty() {
            return;
        }
        // Cases this person holds.
        if p.investigator {
            let mut d = 0;
            while d < days {
                let rate = match self.w.units[p.unit].kind {
                    UnitKind::Cid => 0.12,
                    _ => 0.16,
                };
                if status[d as usize] == Status::Work && self.chance(rate) {
                    let len = match self.w.units[p.unit].kind {
                        UnitKind::Cid => self.range(15, 60),
                        _ => self.range(3, 14),
                    } as i32;
                    self.new_case(start + d, start + d + len);
                }
                d += 1;
            }
        }
        let scen = p.scenario;
        let after = |day: i32, work: &[i32]| work.iter().copied().find(|&w| w >= day);
        match (scen, p.confounder) {
            (Some((Scenario::PostCaseContact, b)), _) => {
                let from = start + days / 8;
                let len = self.range(7, 12) as i32;
                let c = self.new_case(from, from + len);
                let k = if b {
                    self.range(5, 9)
                } else {
                    self.range(2, 4)
                };
                let mut t = c.to + self.range(5, 15) as i32;
                for _ in 0..k {
                    if let Some(day) = after(t, &work) {
                        let subject = match c.witness {
                            Some(wi) if self.chance(0.4) => wi,
                            _ => c.victim,
                        };
                        let (case, reason) = if self.chance(0.6) {
                            (Some(c.seq), None)
                        } else {
                            (None, Some("intel_check"))
                        };
                        self.planted.push((day, subject, case, reason));
                        self.truth_days.push(day);
                    }
                    t += self.range(3, 10) as i32;
                }
            }
            (Some((Scenario::SystemMisuse, b)), _) => {
                let lo = days / 6;
                let mut picks: Vec<i32> =
                    work.iter().copied().filter(|&w| w >= start + lo).collect();
                if picks.is_empty() {
                    // A short period: any working day will do.
                    picks = work.clone();
                }
                if picks.is_empty() {
                    return;
                }
                let (k_free, k_rel) = if b {
                    (self.range(8, 14), self.range(2, 4))
                } else {
                    (0, self.range(3, 5))
                };
                for _ in 0..k_free {
                    let day = picks[self.range(0, picks.len() as i64) as usize];
                    let s = self.subject();
                    self.planted.push((day, s, None, None));
                    self.truth_days.push(day);
                }
                for _ in 0..k_rel {
                    let day = picks[self.range(0, picks.len() as i64) as usize];
                    if self.relations.is_empty() {
                        break;
                    }
                    let k = self.range(0, self.relations.len() as i64) as usize;
                    let s = self.relations[k];
                    let reason = if b { None } else { Some("intel_check") };
                    self.planted.push((day, s, None, reason));
                    self.truth_days.push(day);
                }
            }
            (_, Some(Confounder::CaseReassigned)) => {
                let from = start + days / 8;
                let c = self.new_case(from, from + 10);
                // Back on the same case later, with look-ups then.
                let again_from = c.to + 15;
                let again_to = again_from + 15;
                self.case_assignment(c.seq, again_from, again_to);
                if let Some(day) = after(c.to + 1, &work) {
                    self.planted.push((day, c.victim, Some(c.seq), None));
                }
                for k in 0..3 {
                    if let Some(day) = after(again_from + 2 + 4 * k, &work)
                        && day <= again_to
                    {
                        self.planted.push((day, c.victim, Some(c.seq), None));
                    }
                }
            }
            _ => {}
        }
    }

    fn new_case(&mut self, from: i32, to: i32) -> Case {
        let seq = self.next(SQ_CASE);
        let c = Case {
            seq,
            from,
            to,
            victim: self.subject(),
            witness: if self.chance(0.6) {
                Some(self.subject())
            } else {
                None
            },
            suspect: if self.chance(0.7) {
                Some(self.subject())
            } else {
                None
            },
        };
        self.cases.push(c);
        self.case_assignment(seq, from, to);
        c
    }

    fn case_assignment(&mut self, seq: usize, from: i32, to: i32) {
        let n = self.n;
        let id = self.p.id.clone();
        let role = if self.w.units[self.p.unit].kind == UnitKind::Cid {
            "officer_in_case"
        } else {
            "initial_investigator"
        };
        let end = self.w.start + self.w.days as i32 - 1;
        Row::new(self.buf(Out::CaseAssignments))
            .id("CR-", n, 6, seq, 3)
            .s(&id)
            .s(role)
            .date(from)
            .opt_date((to <= end).then_some(to))
            .end();
    }

    fn case_rows(&mut self) {
        let n = self.n;
        let cases = self.cases.clone();
        for c in cases {
            let mut subjects = vec![(c.victim, "victim")];
            if let Some(w) = c.witness {
                subjects.push((w, "witness"));
            }
            if let Some(s) = c.suspect {
                subjects.push((s, "suspect"));
            }
            for (s, role) in subjects {
                Row::new(self.buf(Out::CaseSubjects))
                    .id("CR-", n, 6, c.seq, 3)
                    .id("S", s as usize, 8, 0, 0)
                    .s(role)
                    .end();
            }
        }
    }

    fn lookups(&mut self, day: i32, s: i64, e: i64) {
        if e <= s {
            return;
        }
        let k = poisson(self.rng, self.p.lookups_per_day);
        let active: Vec<Case> = self
            .cases
            .iter()
            .copied()
            .filter(|c| c.from <= day && day <= c.to)
            .collect();
        for _ in 0..k {
            let at = self.range(s, e);
            if !active.is_empty() && self.chance(0.55) {
                let c = active[self.range(0, active.len() as i64) as usize];
                let subject = match (c.witness, c.suspect, self.range(0, 3)) {
                    (Some(w), _, 1) => w,
                    (_, Some(x), 2) => x,
                    _ => c.victim,
                };
                self.query(at, subject, Some(c.seq), None);
            } else {
                let subject = self.subject();
                let reason = data::REASON_CODES[self.rng.random_range(0..data::REASON_CODES.len())];
                self.query(at, subject, None, Some(reason));
            }
        }
        self.planted_lookups(day, s, e);
    }

    /// The planted look-ups of a day (misuse, post-case contact, a
    /// look-alike's re-assignment look-ups).
    fn planted_lookups(&mut self, day: i32, s: i64, e: i64) {
        let planted: Vec<_> = self
            .planted
            .iter()
            .copied()
            .filter(|(d, ..)| *d == day)
            .collect();
        for (_, subject, case, reason) in planted {
            let at = self.range(s, e);
            self.query(at, subject, case, reason);
        }
    }

    fn query(&mut self, at: i64, subject: u32, case: Option<usize>, reason: Option<&str>) {
        let n = self.n;
        let seq = self.next(SQ_QUERY);
        let system = data::SYSTEMS[self.rng.random_range(0..data::SYSTEMS.len())];
        let clock = self.clock;
        // "None" as this force writes it (empty in the house set).
        let none = self.w.conv.none.clone();
        let case_ref = match case {
            Some(c) => format!("CR-{n:06}{c:03}"),
            None => none.clone(),
        };
        Row::new(self.buf(Out::SystemQueries))
            .id("Q", n, 6, seq, 5)
            .id("AC", n, 6, 0, 0)
            .s(system)
            .ts(clock, at)
            .id("S", subject as usize, 8, 0, 0)
            .s(reason.unwrap_or(&none))
            .s(&case_ref)
            .end();
    }

    fn complaints(&mut self) {
        let w = self.w;
        let p = self.p;
        let start = w.start;
        let end = start + w.days as i32 - 1;
        let hist_from = start - 3 * 365;
        let mut dates: Vec<i32> = vec![];
        // Planted complaints fall in `span` days from `burst_from`: a year
        // (bunched), or two (a raised rate no single year shows, spread
        // evenly) in the other conventions.
        let long = w.conv.long_complaints;
        let (burst_from, span, burst) = match (p.scenario, p.confounder) {
            (Some((Scenario::ComplaintPattern, b)), _) if long => {
                let until = start + self.range(i64::from(w.days / 2), i64::from(w.days)) as i32;
                let n = if b {
                    self.range(9, 12)
                } else {
                    self.range(7, 9)
                };
                (until - 729, 730, n as usize)
            }
            (Some((Scenario::ComplaintPattern, b)), _) => {
                let until = start + self.range(i64::from(w.days / 2), i64::from(w.days)) as i32;
                (
                    until - 330,
                    330,
                    if b { self.range(6, 9) } else { 5 } as usize,
                )
            }
            (_, Some(Confounder::BusyRoleComplaints)) => {
                let until = start + self.range(i64::from(w.days / 2), i64::from(w.days)) as i32;
                (until - 330, 330, 3)
            }
            (_, Some(Confounder::LongBusyComplaints)) => {
                let until = start + self.range(i64::from(w.days / 2), i64::from(w.days)) as i32;
                (until - 729, 730, 4)
            }
            _ => (end + 1, 330, 0),
        };
        let years = f64::from(end - hist_from) / 365.0;
        for _ in 0..poisson(self.rng, p.complaint_rate * years) {
            let d = self.range(i64::from(hist_from), i64::from(end + 1)) as i32;
            // A look-alike's history stays clear of their 3-in-12-months window.
            if burst > 0 && d >= burst_from - 400 {
                continue;
            }
            dates.push(d);
        }
        let mut burst_days = vec![];
        // A busy role's three complaints in a year are spread over it too:
        // three bunched by chance into a few weeks would be unusual even for
        // the role, and the innocent look-alike's data guilty.
        let even = span > 330 || p.confounder == Some(Confounder::BusyRoleComplaints);
        for k in 0..burst {
            let d = if even {
                // Evenly over the span, a fortnight either way.
                let step = span as f64 / burst as f64;
                let mid = burst_from + ((k as f64 + 0.5) * step) as i32;
                (mid + self.range(-14, 15) as i32).clamp(burst_from, burst_from + span - 1)
            } else {
                self.range(i64::from(burst_from), i64::from(burst_from + span)) as i32
            };
            burst_days.push(d);
            dates.push(d);
        }
        if p.scenario
            .is_some_and(|(s, _)| s == Scenario::ComplaintPattern)
        {
            burst_days.sort_unstable();
            self.truth_days.extend(burst_days);
        }
        dates.sort_unstable();
        let n = self.n;
        let id = p.id.clone();
        for d in dates {
            let seq = self.next(SQ_COMPLAINT);
            let cat = data::COMPLAINT_CATEGORIES
                [self.rng.random_range(0..data::COMPLAINT_CATEGORIES.len())];
            let (outcome, closed) = if d > end - 120 {
                ("ongoing", None)
            } else {
                let r: f64 = self.rng.random();
                let o = if r < 0.1 {
                    "sustained"
                } else if r < 0.7 {
                    "not_sustained"
                } else {
                    "withdrawn"
                };
                let c = d + self.range(30, 300) as i32;
                if c > end {
                    ("ongoing", None)
                } else {
                    (o, Some(c))
                }
            };
            Row::new(self.buf(Out::Complaints))
                .id("CP", n, 6, seq, 2)
                .s(&id)
                .date(d)
                .s(cat)
                .s(outcome)
                .opt_date(closed)
                // Contract v1.2: every synthetic complaint names one person
                // (no complaint_ref: no co-accusal network) and who made it
                // is not recorded.
                .opt(None)
                .opt(None)
                .end();
        }
    }

    fn declarations(&mut self) {
        let n = self.n;
        let id = self.p.id.clone();
        for d in self.w.declarations[self.p.idx].clone() {
            let seq = self.next(SQ_DECL);
            Row::new(self.buf(Out::Declarations))
                .id("DC", n, 6, seq, 2)
                .s(&id)
                .s(d.kind)
                .s(&d.counterparty)
                .date(d.declared_on)
                .opt_date(d.valid_to)
                .end();
        }
    }

    fn truth(&mut self) {
        let p = self.p;
        let w = self.w;
        let id = p.id.clone();
        let (start, end) = (w.start, w.start + w.days as i32 - 1);
        let truth = p.scenario.and_then(|(s, _)| {
            let period = match s {
                Scenario::AttendanceBreach if w.conv.confined_breaches => self
                    .truth_days
                    .iter()
                    .min()
                    .zip(self.truth_days.iter().max())
                    .map(|(a, b)| (*a, *b)),
                Scenario::AttendanceBreach => Some((start, end)),
                Scenario::UndeclaredInterest => {
                    let r = w.records.iter().find(|r| r.person == Some(p.idx));
                    let from = r.and_then(|r| r.valid_from).unwrap_or(start).max(start);
                    Some((from, r.and_then(|r| r.valid_to).unwrap_or(end).min(end)))
                }
                _ => self
                    .truth_days
                    .iter()
                    .min()
                    .zip(self.truth_days.iter().max())
                    .map(|(a, b)| (*a, *b)),
            };
            period.map(|p| (s, p))
        });
        if let Some((s, (from, to))) = truth {
            Row::new(self.buf(Out::Truth))
                .s(&id)
                .s(s.id())
                .date(from)
                .date(to)
                .end();
        }
        if let Some(c) = p.confounder {
            let note = match c {
                Confounder::ManagerEditsOthers => "edits many rosters of the team they manage",
                Confounder::SwapNoPayChange => {
                    "self-edits that move shifts without changing hours or pay"
                }
                Confounder::OffsiteDuty => "rest-day court attendance: no badge, legitimately away",
                Confounder::HighEvidencedOvertime => "very frequent overtime, all with presence",
                Confounder::UnitMove => "moved unit and site a third of the way through",
                Confounder::DstNight => "night overtime across the clock change",
                Confounder::GenuineSickness => "two-week sickness spell, overtime the day after it",
                Confounder::NightIntoLeave => "overtime night ending on the first morning of leave",
                Confounder::PartTimeHybrid => "part-time hybrid (Mon, Wed, Fri)",
                Confounder::LeaveHeavyHybrid => "much leave, few due days, none missed",
                Confounder::Namesake => "a register holds someone else with the same name",
                Confounder::DeclaredInterest => "on a register and declared it",
                Confounder::CaseReassigned => "re-assigned to a case and looked up its victim then",
                Confounder::HighVolumeLegitimate => "many look-ups, all with a case or a reason",
                Confounder::BusyRoleComplaints => {
                    "three complaints in twelve months in a high-complaint role"
                }
                Confounder::GenuineExtension => {
                    "claims extensions of rostered shifts and stays for them"
                }
                Confounder::LeaveDip => "three weeks of recorded leave: no office days, none due",
                Confounder::VariantDeclaration => {
                    "on a register, and declared it under another spelling"
                }
                Confounder::LongBusyComplaints => "twice the role's complaint rate over two years",
                Confounder::HolidayCodeOnHoliday => {
                    "corrects bank-holiday shifts to the holiday pay code"
                }
                Confounder::OnCallCallOut => "on call from home; call-outs answered by phone",
                Confounder::OvertimeCodeCorrection => {
                    "corrects the pay code of own overtime shifts to the overtime code"
                }
            };
            Row::new(self.buf(Out::Confounders))
                .s(&id)
                .s(c.kind())
                .s(note)
                .s(c.scenario().id())
                .end();
        }
    }
}

/// Monday = 0.
pub fn weekday(day: i32) -> usize {
    // 1970-01-01 was a Thursday.
    ((day + 3).rem_euclid(7)) as usize
}
