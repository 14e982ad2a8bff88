//! Turning raw staff rows and register rows into comparable entities, and
//! counting what cannot be used — each with an example a user can look up.

use serde::Serialize;

use crate::compare::Entity;
use crate::text::{self, Dob};

/// A count of records with one problem, with a few example ids.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Problem {
    /// How many.
    pub count: u64,
    /// Up to five record ids.
    pub examples: Vec<String>,
}

impl Problem {
    fn add(&mut self, id: &str) {
        self.count += 1;
        if self.examples.len() < 5 {
            self.examples.push(id.to_string());
        }
    }
}

/// What was wrong with the input, by kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Problems {
    /// No letters in the name: cannot be linked.
    pub unusable_name: Problem,
    /// A date of birth that is neither `YYYY-MM-DD` nor `YYYY-MM`: ignored.
    pub unreadable_dob: Problem,
    /// A date of birth after today: ignored.
    pub future_dob: Problem,
}

impl Problems {
    /// Plain-English lines, one per non-empty problem.
    pub fn lines(&self, what: &str) -> Vec<String> {
        let mut out = vec![];
        let ex = |p: &Problem| p.examples.join(", ");
        if self.unusable_name.count > 0 {
            out.push(format!(
                "{} {what} have no usable name (no letters), so they cannot be linked (e.g. {}); fix the name in the source",
                self.unusable_name.count,
                ex(&self.unusable_name)
            ));
        }
        if self.unreadable_dob.count > 0 {
            out.push(format!(
                "{} {what} have a date of birth that is not YYYY-MM-DD or YYYY-MM; it was ignored (e.g. {})",
                self.unreadable_dob.count,
                ex(&self.unreadable_dob)
            ));
        }
        if self.future_dob.count > 0 {
            out.push(format!(
                "{} {what} have a date of birth in the future; it was ignored (e.g. {})",
                self.future_dob.count,
                ex(&self.future_dob)
            ));
        }
        out
    }
}

/// Today, for rejecting dates of birth in the future.
#[derive(Debug, Clone, Copy)]
pub struct Today {
    /// Year.
    pub year: i32,
    /// Month.
    pub month: u8,
    /// Day.
    pub day: u8,
}

fn checked_dob(id: &str, dob: Option<Dob>, today: Today, problems: &mut Problems) -> Option<Dob> {
    let d = dob?;
    if d.is_after(today.year, today.month, today.day) {
        problems.future_dob.add(id);
        return None;
    }
    Some(d)
}

/// A staff member from the personnel system (separate name fields).
pub fn staff_entity(
    id: &str,
    given: &str,
    family: &str,
    dob: Option<Dob>,
    postcode: Option<&str>,
    today: Today,
    problems: &mut Problems,
) -> Entity {
    let e = Entity::new(
        &text::normalise(given),
        &text::normalise(family),
        checked_dob(id, dob, today, problems),
        postcode.and_then(text::norm_postcode),
    );
    if !e.has_name() {
        problems.unusable_name.add(id);
    }
    e
}

/// A reference record (one full-name field, date of birth as text).
pub fn record_entity(
    id: &str,
    full_name: &str,
    dob: Option<&str>,
    postcode: Option<&str>,
    today: Today,
    problems: &mut Problems,
) -> Entity {
    let (given, family) = text::split_full_name(full_name);
    let dob = match dob.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Dob::parse(s) {
            Some(d) => Some(d),
            None => {
                problems.unreadable_dob.add(id);
                None
            }
        },
    };
    let e = Entity::new(
        &given,
        &family,
        checked_dob(id, dob, today, problems),
        postcode.and_then(text::norm_postcode),
    );
    if !e.has_name() {
        problems.unusable_name.add(id);
    }
    e
}
