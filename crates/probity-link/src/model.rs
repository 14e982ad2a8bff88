//! The Fellegi–Sunter model: for every comparison level, m (how often true
//! matches show it) and u (how often unrelated pairs do), and λ, the prior
//! chance that a record–staff pair is a match. u is measured on randomly
//! sampled pairs; m is estimated without labels by expectation–maximisation
//! over blocked pairs, each comparison from a blocking session that does not
//! fix it (the approach Splink takes); λ from the blocked pairs under the
//! estimated m and u.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::block::{Index, Rule};
use crate::compare::{COMPARISONS, Entity, PATTERNS, Pattern, compare};

/// One comparison level's parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LevelParams {
    /// Label.
    pub label: String,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match).
    pub u: f64,
}

impl LevelParams {
    /// The level's match weight, log2(m/u).
    pub fn weight(&self) -> f64 {
        (self.m / self.u).log2()
    }
}

/// One comparison's parameters and where its m came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComparisonParams {
    /// Field.
    pub name: String,
    /// Levels 1.. (level 0, "missing", carries no weight and is not listed).
    pub levels: Vec<LevelParams>,
    /// How m was obtained: the EM sessions that estimated it, or "default".
    pub m_source: String,
}

/// A blocking session of EM training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// Blocking rule of the session.
    pub rule: String,
    /// Comparisons estimated in it.
    pub estimates: Vec<String>,
    /// Pairs.
    pub pairs: u64,
    /// Iterations until convergence (or the cap).
    pub iterations: u32,
    /// Whether it converged.
    pub converged: bool,
    /// Estimated share of matches among its pairs.
    pub match_share: f64,
}

/// A trained model, saved with the store's links.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// Format version.
    pub version: u32,
    /// λ: prior probability that a random record–staff pair is a match.
    pub prior: f64,
    /// Parameters per comparison, in pattern order.
    pub comparisons: Vec<ComparisonParams>,
    /// Distinct records and staff it was trained on.
    pub trained_records: u64,
    /// Staff.
    pub trained_staff: u64,
    /// Random pairs used to measure u.
    pub u_pairs: u64,
    /// EM sessions.
    pub sessions: Vec<Session>,
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct Training {
    /// Random pairs sampled for u.
    pub u_pairs: usize,
    /// Records (distinct) sampled for EM.
    pub em_records: usize,
    /// EM iteration cap.
    pub max_iterations: u32,
    /// Seed of the samplers (training is deterministic).
    pub seed: u64,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            u_pairs: 1_000_000,
            em_records: 200_000,
            max_iterations: 200,
            seed: 0x5EED,
        }
    }
}

/// m used for a comparison no session could estimate (too few pairs): the
/// share of true matches expected at each level, conservative.
const DEFAULT_M: [&[f64]; 4] = [
    &[0.80, 0.08, 0.05, 0.04, 0.02, 0.01],
    &[0.85, 0.06, 0.03, 0.02, 0.02, 0.02],
    &[0.85, 0.08, 0.04, 0.01, 0.02],
    &[0.70, 0.15, 0.15],
];

/// Version of the saved model's meaning (levels and pattern packing); a
/// stored model of another version is retrained.
pub const MODEL_VERSION: u32 = 2;

/// Pseudo-matches added to every EM M-step, spread as [`DEFAULT_M`].
const PSEUDO_MATCHES: f64 = 10.0;

/// Fewest expected matches for an EM session's m to be used.
const MIN_SESSION_MATCHES: f64 = 30.0;

/// Fewest pairs for an EM session to be trusted.
const MIN_SESSION_PAIRS: u64 = 50;

impl Model {
    /// Trains on staff and distinct records.
    pub fn train(staff: &[Entity], records: &[Entity], t: &Training) -> Model {
        let u = estimate_u(staff, records, t);
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed ^ 0xE4);
        let sample: Vec<&Entity> = if records.len() <= t.em_records {
            records.iter().collect()
        } else {
            // In sampled order, so any prefix is a random sample too.
            rand::seq::index::sample(&mut rng, records.len(), t.em_records)
                .into_iter()
                .map(|i| &records[i])
                .collect()
        };
        // Each session fixes what it blocks on and learns the rest: the date
        // of birth session learns names and postcode, the name session date of
        // birth and postcode, the postcode session names and date of birth.
        // Each comparison takes its m from the accepted session where matches
        // are densest: there namesakes (same name, another person) blur the
        // match class least.
        let plan: [(Rule, &[usize]); 3] = [
            (Rule::Dob, &[0, 1, 3]),
            (Rule::FamilySoundGivenInitial, &[2, 3]),
            (Rule::Postcode, &[0, 1, 2]),
        ];
        let index = Index::new(&plan.map(|(r, _)| r), staff);
        let mut chosen: Vec<Option<(f64, Vec<f64>, &str)>> = vec![None; 4];
        let mut sessions = vec![];
        let mut dob_counts = vec![];
        for (si, (rule, free)) in plan.iter().enumerate() {
            let counts = pattern_counts(&index, Some(si), staff, &sample);
            if *rule == Rule::Dob {
                dob_counts = counts.clone();
            }
            let pairs: u64 = counts.iter().sum();
            let mut session = Session {
                rule: rule.name().to_string(),
                estimates: free
                    .iter()
                    .map(|c| COMPARISONS[*c].name.to_string())
                    .collect(),
                pairs,
                iterations: 0,
                converged: false,
                match_share: 0.0,
            };
            if pairs >= MIN_SESSION_PAIRS {
                let (m, share, it, ok) = em(&counts, &u, free, t.max_iterations);
                session.iterations = it;
                session.converged = ok;
                session.match_share = share;
                // Too few expected matches to learn from: keep the defaults.
                if ok && share * pairs as f64 >= MIN_SESSION_MATCHES {
                    for c in *free {
                        if chosen[*c].as_ref().is_none_or(|(best, _, _)| share > *best) {
                            chosen[*c] = Some((share, m[*c].clone(), rule.name()));
                        }
                    }
                }
            }
            sessions.push(session);
        }
        let comparisons: Vec<ComparisonParams> = (0..4)
            .map(|c| {
                let (m, source) = match &chosen[c] {
                    Some((_, m, rule)) => (m.clone(), format!("EM, blocking on {rule}")),
                    None => (
                        DEFAULT_M[c].to_vec(),
                        "default (too few matches to estimate)".to_string(),
                    ),
                };
                ComparisonParams {
                    name: COMPARISONS[c].name.to_string(),
                    levels: (0..m.len())
                        .map(|l| LevelParams {
                            label: COMPARISONS[c].levels[l + 1].to_string(),
                            m: m[l].max(1e-6),
                            u: u[c][l],
                        })
                        .collect(),
                    m_source: source,
                }
            })
            .collect();
        let model_prior = 1e-6;
        let mut model = Model {
            version: MODEL_VERSION,
            prior: model_prior,
            comparisons,
            trained_records: records.len() as u64,
            trained_staff: staff.len() as u64,
            u_pairs: (t.u_pairs as u64).min(records.len() as u64 * staff.len() as u64),
            sessions,
        };
        // λ, the way Splink's deterministic-rule estimate works, with the
        // rule's recall taken from the estimated m rather than guessed: pairs
        // that agree exactly on given name, family name and full date of
        // birth, less those expected by chance (u), divided by the share of
        // true matches that agree on all three (m), over all pairs.
        let agree = |p: usize| {
            let [g, f, d, _] = Pattern(p as u16).levels();
            g == 1 && f == 1 && d == 1
        };
        let exact: u64 = dob_counts
            .iter()
            .enumerate()
            .filter(|(p, _)| agree(*p))
            .map(|(_, c)| c)
            .sum();
        let level = |c: usize| &model.comparisons[c].levels[0];
        let (m_all, u_all) = (
            level(0).m * level(1).m * level(2).m,
            level(0).u * level(1).u * level(2).u,
        );
        // Only records with a full date of birth can agree on it exactly.
        let full_dob = sample
            .iter()
            .filter(|r| r.dob.is_some_and(|d| d.day.is_some()))
            .count();
        let space = full_dob as f64 * staff.len() as f64;
        let matches = (exact as f64 - space * u_all).max(1.0) / m_all.max(1e-6);
        model.prior = (matches / space.max(1.0)).clamp(1e-12, 0.5);
        model
    }

    /// Match weight of every pattern (without the prior).
    pub fn pattern_weights(&self) -> Vec<f64> {
        (0..PATTERNS)
            .map(|p| {
                let levels = Pattern(p as u16).levels();
                levels
                    .iter()
                    .zip(&self.comparisons)
                    .filter(|(l, _)| **l > 0)
                    .map(|(l, c)| c.levels[*l as usize - 1].weight())
                    .sum()
            })
            .collect()
    }

    /// log2 of the prior odds.
    pub fn prior_weight(&self) -> f64 {
        (self.prior / (1.0 - self.prior)).log2()
    }
}

/// Probability from a match weight (log2 odds).
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// u per comparison and level (levels 1..), from random pairs: all pairs
/// when there are few enough.
fn estimate_u(staff: &[Entity], records: &[Entity], t: &Training) -> Vec<Vec<f64>> {
    let total = records.len() as u64 * staff.len() as u64;
    let mut counts: Vec<Vec<f64>> = COMPARISONS
        .iter()
        .map(|c| vec![0.0; c.levels.len()])
        .collect();
    let mut add = |p: Pattern| {
        for (c, l) in p.levels().iter().enumerate() {
            counts[c][*l as usize] += 1.0;
        }
    };
    if total <= t.u_pairs as u64 {
        for r in records {
            for s in staff {
                add(compare(r, s).pattern);
            }
        }
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed);
        let pairs: Vec<(usize, usize)> = (0..t.u_pairs)
            .map(|_| {
                (
                    rng.random_range(0..records.len()),
                    rng.random_range(0..staff.len()),
                )
            })
            .collect();
        let patterns: Vec<Pattern> = pairs
            .par_iter()
            .map(|(r, s)| compare(&records[*r], &staff[*s]).pattern)
            .collect();
        for p in patterns {
            add(p);
        }
    }
    counts
        .iter()
        .map(|c| {
            // Level 0 (missing) is not part of the distribution; half a pair
            // per level keeps unseen levels finite.
            let n: f64 = c[1..].iter().sum();
            let k = (c.len() - 1) as f64;
            c[1..].iter().map(|x| (x + 0.5) / (n + 0.5 * k)).collect()
        })
        .collect()
}

/// Pattern counts over blocked pairs of the sample: under one rule of the
/// index, or under any.
fn pattern_counts(
    index: &Index,
    rule: Option<usize>,
    staff: &[Entity],
    sample: &[&Entity],
) -> Vec<u64> {
    sample
        .par_chunks(4096)
        .map(|chunk| {
            let mut counts = vec![0u64; PATTERNS];
            let (mut keys, mut cands) = (vec![], vec![]);
            for r in chunk {
                match rule {
                    Some(ri) => index.candidates_by(ri, r, &mut keys, &mut cands),
                    None => index.candidates(r, &mut keys, &mut cands),
                }
                for s in &cands {
                    counts[compare(r, &staff[*s as usize]).pattern.0 as usize] += 1;
                }
            }
            counts
        })
        .reduce(
            || vec![0u64; PATTERNS],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// EM over pattern counts with u fixed, estimating m for the `free`
/// comparisons and the session's match share. Returns (m per comparison,
/// share, iterations, converged).
fn em(
    counts: &[u64],
    u: &[Vec<f64>],
    free: &[usize],
    max_iterations: u32,
) -> (Vec<Vec<f64>>, f64, u32, bool) {
    let mut m: Vec<Vec<f64>> = DEFAULT_M.iter().map(|v| v.to_vec()).collect();
    let mut share = 0.1f64;
    let active: Vec<(usize, [u8; 4])> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(p, _)| (p, Pattern(p as u16).levels()))
        .collect();
    for it in 1..=max_iterations {
        let mut m_num: Vec<Vec<f64>> = m.iter().map(|v| vec![0.0; v.len()]).collect();
        let (mut matched, mut total) = (0.0, 0.0);
        for (p, levels) in &active {
            let c = counts[*p] as f64;
            let (mut pm, mut pu) = (share, 1.0 - share);
            for k in free {
                let l = levels[*k] as usize;
                if l > 0 {
                    pm *= m[*k][l - 1];
                    pu *= u[*k][l - 1];
                }
            }
            let w = pm / (pm + pu);
            matched += c * w;
            total += c;
            for k in free {
                let l = levels[*k] as usize;
                if l > 0 {
                    m_num[*k][l - 1] += c * w;
                }
            }
        }
        let mut delta = 0.0f64;
        for k in free {
            // A few pseudo-matches spread as the default m: a level never
            // seen among a small sample of matches is unlikely, not impossible.
            for (x, d) in m_num[*k].iter_mut().zip(DEFAULT_M[*k]) {
                *x += PSEUDO_MATCHES * d;
            }
            let sum: f64 = m_num[*k].iter().sum();
            if sum <= 0.0 {
                continue;
            }
            for (old, new) in m[*k].iter_mut().zip(&m_num[*k]) {
                let v = (new / sum).max(1e-6);
                delta = delta.max((v - *old).abs());
                *old = v;
            }
        }
        let next = (matched / total).clamp(1e-9, 1.0 - 1e-9);
        delta = delta.max((next - share).abs());
        share = next;
        if delta < 1e-7 {
            return (m, share, it, true);
        }
    }
    (m, share, max_iterations, false)
}
