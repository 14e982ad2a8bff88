//! Blocking: which record–staff pairs are compared at all. A pair is a
//! candidate when it shares the key of at least one rule, so the work grows
//! with the records rather than with records × staff.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::compare::Entity;

/// A blocking rule, named in `probity.toml` as `[resolve] blocking = […]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The same full date of birth.
    Dob,
    /// The same year and month of birth and first letter of the family name
    /// (reaches registers that publish only year and month).
    DobMonthFamilyInitial,
    /// Family names that sound alike (Double Metaphone) and the same given
    /// initial; records are also tried with given and family exchanged.
    FamilySoundGivenInitial,
    /// The same postcode.
    Postcode,
    /// The same family name and year of birth.
    FamilyBirthYear,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 5] = [
        Rule::Dob,
        Rule::DobMonthFamilyInitial,
        Rule::FamilySoundGivenInitial,
        Rule::Postcode,
        Rule::FamilyBirthYear,
    ];

    /// The rules used when none are configured.
    pub const DEFAULT: [Rule; 4] = [
        Rule::Dob,
        Rule::DobMonthFamilyInitial,
        Rule::FamilySoundGivenInitial,
        Rule::Postcode,
    ];

    /// Configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Dob => "dob",
            Rule::DobMonthFamilyInitial => "dob_month_family_initial",
            Rule::FamilySoundGivenInitial => "family_sound_given_initial",
            Rule::Postcode => "postcode",
            Rule::FamilyBirthYear => "family_birth_year",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Keys of an entity under this rule (none: the entity is not blocked by
    /// it). `both_ways` adds the keys of the transposed name.
    pub fn keys(self, e: &Entity, both_ways: bool, out: &mut Vec<u64>) {
        out.clear();
        let tag = self as u64;
        match self {
            Rule::Dob => {
                if let Some(d) = e.dob
                    && let Some(day) = d.day
                {
                    out.push(key((tag, d.year, d.month, day)));
                }
            }
            Rule::DobMonthFamilyInitial => {
                if let Some(d) = e.dob {
                    if let Some(c) = e.family_compact.chars().next() {
                        out.push(key((tag, d.year, d.month, c)));
                    }
                    if both_ways && let Some(c) = e.first.chars().next() {
                        out.push(key((tag, d.year, d.month, c)));
                    }
                }
            }
            Rule::FamilySoundGivenInitial => {
                if let Some(i) = e.initial()
                    && !e.family_codes.0.is_empty()
                {
                    out.push(key((tag, &e.family_codes.0, i)));
                }
                if both_ways && !e.first.is_empty() {
                    let t = e.transposed();
                    if let Some(i) = t.initial()
                        && !t.family_codes.0.is_empty()
                    {
                        out.push(key((tag, &t.family_codes.0, i)));
                    }
                }
            }
            Rule::Postcode => {
                if let Some(p) = &e.postcode {
                    out.push(key((tag, p)));
                }
            }
            Rule::FamilyBirthYear => {
                if let Some(d) = e.dob
                    && !e.family_compact.is_empty()
                {
                    out.push(key((tag, &e.family_compact, d.year)));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

fn key(v: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Staff indexed by every rule's keys.
pub struct Index {
    rules: Vec<Rule>,
    maps: Vec<HashMap<u64, Vec<u32>>>,
    /// Keys skipped because records × staff in them exceed the pair limit.
    skipped: Vec<HashSet<u64>>,
}

/// A block too large to compare, reported to the user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OversizedBlock {
    /// Rule name.
    pub rule: String,
    /// Records sharing the key.
    pub records: u64,
    /// Staff sharing the key.
    pub staff: u64,
    /// An example record id.
    pub example: String,
}

impl Index {
    /// Indexes staff under the rules.
    pub fn new(rules: &[Rule], staff: &[Entity]) -> Index {
        let mut maps = vec![HashMap::<u64, Vec<u32>>::new(); rules.len()];
        let mut keys = vec![];
        for (i, s) in staff.iter().enumerate() {
            for (r, map) in rules.iter().zip(maps.iter_mut()) {
                r.keys(s, false, &mut keys);
                for k in &keys {
                    map.entry(*k).or_default().push(i as u32);
                }
            }
        }
        Index {
            rules: rules.to_vec(),
            skipped: vec![HashSet::new(); rules.len()],
            maps,
        }
    }

    /// Counts records per key and marks keys whose records × staff exceed
    /// `max_pairs` as skipped; returns them for the report.
    pub fn limit(
        &mut self,
        records: &[Entity],
        ids: impl Fn(usize) -> String,
        max_pairs: u64,
    ) -> Vec<OversizedBlock> {
        let mut out = vec![];
        let mut keys = vec![];
        for (ri, rule) in self.rules.iter().enumerate() {
            let mut counts: HashMap<u64, (u64, usize)> = HashMap::new();
            for (i, r) in records.iter().enumerate() {
                rule.keys(r, true, &mut keys);
                for k in &keys {
                    if self.maps[ri].contains_key(k) {
                        counts.entry(*k).or_insert((0, i)).0 += 1;
                    }
                }
            }
            for (k, (n, first)) in counts {
                let staff = self.maps[ri][&k].len() as u64;
                if n.saturating_mul(staff) > max_pairs {
                    self.skipped[ri].insert(k);
                    out.push(OversizedBlock {
                        rule: rule.name().to_string(),
                        records: n,
                        staff,
                        example: ids(first),
                    });
                }
            }
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.records.saturating_mul(b.staff)));
        out
    }

    /// Candidate staff of a record (deduplicated, ascending).
    pub fn candidates(&self, r: &Entity, keys: &mut Vec<u64>, out: &mut Vec<u32>) {
        out.clear();
        for (ri, rule) in self.rules.iter().enumerate() {
            rule.keys(r, true, keys);
            for k in keys.iter() {
                if self.skipped[ri].contains(k) {
                    continue;
                }
                if let Some(v) = self.maps[ri].get(k) {
                    out.extend_from_slice(v);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Candidate staff of a record under one rule only.
    pub fn candidates_by(&self, rule: usize, r: &Entity, keys: &mut Vec<u64>, out: &mut Vec<u32>) {
        out.clear();
        self.rules[rule].keys(r, true, keys);
        for k in keys.iter() {
            if let Some(v) = self.maps[rule].get(k) {
                out.extend_from_slice(v);
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}
