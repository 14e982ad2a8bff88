//! Scoring and deciding: every blocked pair gets a match weight; a record
//! links to a staff member above the auto-link threshold when nobody else
//! comes close, goes to clerical review in the band below it (or when two
//! staff members fit), and links to nobody otherwise.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::block::{Index, OversizedBlock, Rule};
use crate::compare::{Entity, compare};
use crate::model::{Model, probability};

/// Linkage settings (`[resolve]` in `probity.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Blocking rules; a pair is compared when any rule puts it together.
    pub blocking: Vec<Rule>,
    /// Match probability at or above which a record is linked automatically.
    pub link_at: f64,
    /// Match probability at or above which (and below `link_at`) a record
    /// goes to clerical review as a possible match.
    pub review_at: f64,
    /// A key whose records × staff exceed this is not compared under that
    /// rule (its records still are under the others); reported.
    pub max_pairs_per_block: u64,
    /// Random pairs sampled to measure u.
    pub u_pairs: usize,
    /// Distinct records sampled for EM.
    pub em_records: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            blocking: Rule::DEFAULT.to_vec(),
            link_at: 0.8,
            review_at: 0.2,
            max_pairs_per_block: 5_000_000,
            u_pairs: 1_000_000,
            em_records: 200_000,
        }
    }
}

impl Settings {
    /// Checks the thresholds and rules; the message names the key and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.review_at > 0.0 && self.review_at < self.link_at && self.link_at < 1.0) {
            return Err(format!(
                "resolve.review_at ({}) and resolve.link_at ({}) must satisfy 0 < review_at < link_at < 1",
                self.review_at, self.link_at
            ));
        }
        if self.blocking.is_empty() {
            return Err(format!(
                "resolve.blocking is empty: name at least one of {}",
                Rule::ALL.map(Rule::name).join(", ")
            ));
        }
        Ok(())
    }
}

/// A staff member a record was compared with, and how well they fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index into the staff slice.
    pub staff: u32,
    /// Match weight including the prior (log2 odds).
    pub weight: f64,
    /// Levels.
    pub pattern: crate::compare::Pattern,
    /// Whether the record's names were read transposed.
    pub transposed: bool,
}

impl Candidate {
    /// Match probability.
    pub fn probability(&self) -> f64 {
        probability(self.weight)
    }
}

/// What happens to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Linked to its best candidate.
    Link,
    /// A possible match for clerical review; never a finding.
    Review,
    /// Linked to nobody.
    None,
}

impl Decision {
    /// Name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Link => "link",
            Decision::Review => "review",
            Decision::None => "none",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Decision> {
        [Decision::Link, Decision::Review, Decision::None]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Candidates kept per record (best first).
pub const KEEP: usize = 3;

/// Decides a record from its candidates (best first), returning the
/// decision and, for review, why. A record is one person at most, so the
/// best candidate's chance is its odds over one plus everyone's odds: a
/// runner-up who also fits takes probability away from the best.
pub fn decide(cands: &[Candidate], s: &Settings) -> (Decision, Option<&'static str>) {
    let p = |i: usize| cands.get(i).map_or(0.0, Candidate::probability);
    let odds: Vec<f64> = cands.iter().map(|c| c.weight.exp2()).collect();
    let best = odds
        .first()
        .map_or(0.0, |o| o / (1.0 + odds.iter().sum::<f64>()));
    if best >= s.link_at {
        (Decision::Link, None)
    } else if p(0) >= s.review_at {
        if p(1) >= s.review_at {
            (Decision::Review, Some("more than one staff member fits"))
        } else {
            (
                Decision::Review,
                Some("possible match below the auto-link threshold"),
            )
        }
    } else {
        (Decision::None, None)
    }
}

/// Scores records against staff: up to [`KEEP`] best candidates per record
/// with probability of at least `floor`, best first.
pub struct Scorer<'a> {
    staff: &'a [Entity],
    index: Index,
    weights: Vec<f64>,
    prior: f64,
}

impl<'a> Scorer<'a> {
    /// Indexes the staff under the settings' rules.
    pub fn new(staff: &'a [Entity], model: &Model, settings: &Settings) -> Scorer<'a> {
        Scorer {
            staff,
            index: Index::new(&settings.blocking, staff),
            weights: model.pattern_weights(),
            prior: model.prior_weight(),
        }
    }

    /// Marks blocks too large to compare; returns them for the report.
    pub fn limit(
        &mut self,
        records: &[Entity],
        ids: impl Fn(usize) -> String,
        max_pairs: u64,
    ) -> Vec<OversizedBlock> {
        self.index.limit(records, ids, max_pairs)
    }

    /// Scores every record; returns candidates per record and pairs compared.
    pub fn score(&self, records: &[Entity], floor: f64) -> (Vec<Vec<Candidate>>, u64) {
        let out: Vec<(Vec<Candidate>, u64)> = records
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(keys, cands), r| {
                    if !r.has_name() {
                        return (vec![], 0);
                    }
                    self.index.candidates(r, keys, cands);
                    let mut best: Vec<Candidate> = Vec::with_capacity(KEEP + 1);
                    for s in cands.iter() {
                        let c = compare(r, &self.staff[*s as usize]);
                        let weight = self.prior + self.weights[c.pattern.0 as usize];
                        if probability(weight) < floor {
                            continue;
                        }
                        best.push(Candidate {
                            staff: *s,
                            weight,
                            pattern: c.pattern,
                            transposed: c.transposed,
                        });
                        best.sort_by(|a, b| {
                            b.weight.total_cmp(&a.weight).then(a.staff.cmp(&b.staff))
                        });
                        best.truncate(KEEP);
                    }
                    (best, cands.len() as u64)
                },
            )
            .collect();
        let pairs = out.iter().map(|(_, n)| n).sum();
        (out.into_iter().map(|(c, _)| c).collect(), pairs)
    }
}

/// Distinct comparison signatures of records: identical name, date of birth
/// and postcode are compared once. Returns the distinct entities and, per
/// record, the index of its signature.
pub fn distinct(records: Vec<Entity>) -> (Vec<Entity>, Vec<u32>) {
    let mut seen: HashMap<(String, String, Option<crate::text::Dob>, Option<String>), u32> =
        HashMap::new();
    let mut unique = vec![];
    let mut of = Vec::with_capacity(records.len());
    for e in records {
        let key = (e.given.clone(), e.family.clone(), e.dob, e.postcode.clone());
        let next = unique.len() as u32;
        let i = *seen.entry(key).or_insert(next);
        if i == next {
            unique.push(e);
        }
        of.push(i);
    }
    (unique, of)
}
