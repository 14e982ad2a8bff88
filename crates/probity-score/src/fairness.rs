//! Fairness audit in the manner of Aequitas: for each attribute (rank,
//! unit, …) and each of its groups, how often people are flagged, how often
//! a flag is right, and how errors fall — each as a ratio to a reference
//! group, flagged when outside 0.8–1.25, with a warning where a group is too
//! small for its rates to mean much.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The band inside which a ratio to the reference group is not a disparity.
pub const BAND: (f64, f64) = (0.8, 1.25);

/// Groups smaller than this (people) get a small-group warning.
pub const SMALL_GROUP: usize = 50;

/// One person-period's part in the audit.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Flagged by the detector or model.
    pub flagged: bool,
    /// The outcome (truth or review outcome), if known.
    pub outcome: Option<bool>,
}

/// One group's rates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupRates {
    /// The group's value of the attribute.
    pub group: String,
    /// People (person-periods) in it.
    pub people: usize,
    /// Of them, flagged.
    pub flagged: usize,
    /// Flagged / people.
    pub flag_rate: f64,
    /// True positives / flagged (None if none flagged or no outcomes).
    pub precision: Option<f64>,
    /// False positives / people without the outcome.
    pub false_positive_rate: Option<f64>,
    /// False negatives / people with the outcome.
    pub false_negative_rate: Option<f64>,
    /// Ratios to the reference group, in the same order: flag rate,
    /// precision, false-positive rate, false-negative rate.
    pub ratios: [Option<f64>; 4],
    /// Which of the four ratios are outside [`BAND`].
    pub disparities: Vec<String>,
    /// Of those, the ones that are not chance: the group is not small, a
    /// two-proportion z-test against the reference gives |z| ≥ 1.96, and
    /// the test's approximation holds (5 expected either way in each group);
    /// over a whole detector's audit, [`holm`] then keeps only those that
    /// survive Holm's correction for the number of tests.
    /// Only these count as flagged (and can block, see governance).
    #[serde(default)]
    pub significant: Vec<String>,
    /// Set when the group is too small for its rates to be relied on.
    pub small_group: bool,
    /// The denominators of the four rates (people, flagged with a known
    /// outcome, people without the outcome, people with it).
    #[serde(default)]
    pub denominators: [usize; 4],
    /// The numerators of the four rates.
    #[serde(default)]
    pub numerators: [usize; 4],
    /// Two-sided p-values of the disparities that qualify for significance
    /// (outside the band, not a small group, approximation holds).
    #[serde(default)]
    pub p_values: [Option<f64>; 4],
}

/// The audit of one attribute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttributeAudit {
    /// The attribute ("rank", "unit").
    pub attribute: String,
    /// The reference group (the largest, not counting "other").
    pub reference: String,
    /// Every group, largest first.
    pub groups: Vec<GroupRates>,
}

const METRICS: [&str; 4] = [
    "flag rate",
    "precision",
    "false-positive rate",
    "false-negative rate",
];

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The z statistic of two proportions `a.0/a.1` and `b.0/b.1` (pooled
/// standard error); 0 when either denominator is 0 or nobody differs.
pub fn two_proportion_z(a: (usize, usize), b: (usize, usize)) -> f64 {
    if a.1 == 0 || b.1 == 0 {
        return 0.0;
    }
    let (pa, pb) = (a.0 as f64 / a.1 as f64, b.0 as f64 / b.1 as f64);
    let p = (a.0 + b.0) as f64 / (a.1 + b.1) as f64;
    let se = (p * (1.0 - p) * (1.0 / a.1 as f64 + 1.0 / b.1 as f64)).sqrt();
    if se == 0.0 { 0.0 } else { (pa - pb) / se }
}

/// The two-sided p-value of a standard normal statistic (complementary
/// error function by Abramowitz and Stegun 7.1.26, error below 1.5e-7).
pub fn two_sided_p(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (poly * (-x * x).exp()).clamp(0.0, 1.0)
}

/// Holm's correction over every test of one detector's or model's audit
/// (all attributes, groups and rates): a disparity stays significant only
/// if its p-value clears Holm's step-down threshold at 5%, so that testing
/// many groups does not by itself produce flagged disparities.
pub fn holm(attrs: &mut [AttributeAudit]) {
    let mut tests: Vec<(f64, usize, usize, usize)> = Vec::new();
    for (ai, a) in attrs.iter().enumerate() {
        for (gi, g) in a.groups.iter().enumerate() {
            for (k, p) in g.p_values.iter().enumerate() {
                if let Some(p) = p {
                    tests.push((*p, ai, gi, k));
                }
            }
        }
    }
    tests.sort_by(|a, b| a.0.total_cmp(&b.0));
    let m = tests.len();
    let mut keep = std::collections::HashSet::new();
    for (rank, (p, ai, gi, k)) in tests.iter().enumerate() {
        if *p > 0.05 / (m - rank) as f64 {
            break;
        }
        keep.insert((*ai, *gi, *k));
    }
    for (ai, a) in attrs.iter_mut().enumerate() {
        for (gi, g) in a.groups.iter_mut().enumerate() {
            g.significant = (0..4)
                .filter(|k| {
                    keep.contains(&(ai, gi, *k)) && g.disparities.iter().any(|d| d == METRICS[*k])
                })
                .map(|k| METRICS[k].to_owned())
                .collect();
        }
    }
}

/// Whether the z-test's normal approximation holds: at least 5 expected
/// successes and 5 expected failures in each group at the pooled rate. A
/// detector flagging 2 of 60 people in a group is not evidence of anything.
pub fn approximation_holds(a: (usize, usize), b: (usize, usize)) -> bool {
    if a.1 == 0 || b.1 == 0 {
        return false;
    }
    let p = (a.0 + b.0) as f64 / (a.1 + b.1) as f64;
    [a.1, b.1]
        .iter()
        .all(|&n| n as f64 * p >= 5.0 && n as f64 * (1.0 - p) >= 5.0)
}

/// Audits one attribute: `groups[i]` is case `i`'s group.
pub fn audit(attribute: &str, groups: &[String], cases: &[Case]) -> AttributeAudit {
    #[derive(Default)]
    struct Acc {
        n: usize,
        flagged: usize,
        tp: usize,
        fp: usize,
        fneg: usize,
        pos: usize,
        neg: usize,
        known_flagged: usize,
    }
    let mut acc: BTreeMap<&str, Acc> = BTreeMap::new();
    for (g, c) in groups.iter().zip(cases) {
        let a = acc.entry(g.as_str()).or_default();
        a.n += 1;
        a.flagged += usize::from(c.flagged);
        if let Some(o) = c.outcome {
            if c.flagged {
                a.known_flagged += 1;
            }
            match (c.flagged, o) {
                (true, true) => a.tp += 1,
                (true, false) => a.fp += 1,
                (false, true) => a.fneg += 1,
                (false, false) => {}
            }
            if o {
                a.pos += 1;
            } else {
                a.neg += 1;
            }
        }
    }
    let mut groups: Vec<GroupRates> = acc
        .into_iter()
        .map(|(g, a)| GroupRates {
            group: g.to_owned(),
            people: a.n,
            flagged: a.flagged,
            flag_rate: a.flagged as f64 / a.n as f64,
            precision: (a.known_flagged > 0).then(|| a.tp as f64 / a.known_flagged as f64),
            false_positive_rate: (a.neg > 0).then(|| a.fp as f64 / a.neg as f64),
            false_negative_rate: (a.pos > 0).then(|| a.fneg as f64 / a.pos as f64),
            ratios: [None; 4],
            disparities: Vec::new(),
            significant: Vec::new(),
            small_group: a.n < SMALL_GROUP,
            denominators: [a.n, a.known_flagged, a.neg, a.pos],
            numerators: [a.flagged, a.tp, a.fp, a.fneg],
            p_values: [None; 4],
        })
        .collect();
    groups.sort_by(|a, b| b.people.cmp(&a.people).then(a.group.cmp(&b.group)));
    // The largest group is the reference, unless it is the "other" bucket.
    let reference = groups
        .iter()
        .find(|g| g.group != "other")
        .or(groups.first())
        .cloned();
    if let Some(r) = &reference {
        let rv = [
            Some(r.flag_rate),
            r.precision,
            r.false_positive_rate,
            r.false_negative_rate,
        ];
        for g in &mut groups {
            let gv = [
                Some(g.flag_rate),
                g.precision,
                g.false_positive_rate,
                g.false_negative_rate,
            ];
            for k in 0..4 {
                g.ratios[k] = ratio(gv[k], rv[k]);
                if let Some(x) = g.ratios[k]
                    && !(BAND.0..=BAND.1).contains(&x)
                {
                    g.disparities.push(METRICS[k].to_owned());
                    let z = two_proportion_z(
                        (g.numerators[k], g.denominators[k]),
                        (r.numerators[k], r.denominators[k]),
                    );
                    if g.group != r.group
                        && !g.small_group
                        && approximation_holds(
                            (g.numerators[k], g.denominators[k]),
                            (r.numerators[k], r.denominators[k]),
                        )
                    {
                        g.p_values[k] = Some(two_sided_p(z));
                        if z.abs() >= 1.96 {
                            g.significant.push(METRICS[k].to_owned());
                        }
                    }
                }
            }
        }
    }
    AttributeAudit {
        attribute: attribute.to_owned(),
        reference: reference.map(|r| r.group).unwrap_or_default(),
        groups,
    }
}

/// Keeps the `k` largest groups of an attribute and puts the rest in
/// "other" (units are many and mostly small).
pub fn top_groups(values: &[String], k: usize) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = counts.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let keep: Vec<&str> = order.iter().take(k).map(|(v, _)| *v).collect();
    values
        .iter()
        .map(|v| {
            if keep.contains(&v.as_str()) {
                v.clone()
            } else {
                "other".to_owned()
            }
        })
        .collect()
}

/// The fairness audit of one detector or model in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectAudit {
    /// The detector id, or `risk_model` / `anomaly`.
    pub subject: String,
    /// Its version (a detector's version, the model format version).
    pub version: u32,
    /// What ran (`analyze`, `score run`, `score eval`).
    pub run: String,
    /// When (RFC 3339).
    pub at: String,
    /// People in the audit (person-periods for a pooled evaluation).
    pub population: usize,
    /// Of them, flagged.
    pub flagged_people: usize,
    /// Where outcomes came from: `ground truth`, `review outcomes`,
    /// `sustained complaints` or `none` (flag rates only).
    pub outcomes: String,
    /// One audit per attribute.
    pub attributes: Vec<AttributeAudit>,
}

/// A disparity that counts: (attribute, group, metric).
pub type Disparity = (String, String, String);

impl SubjectAudit {
    /// The significant disparities (not small groups, |z| ≥ 1.96, outside
    /// the band), which governance can block on.
    pub fn flagged(&self) -> Vec<Disparity> {
        let mut out = Vec::new();
        for a in &self.attributes {
            for g in &a.groups {
                for m in &g.significant {
                    out.push((a.attribute.clone(), g.group.clone(), m.clone()));
                }
            }
        }
        out
    }

    /// The flagged disparities in words, e.g. "rank DETECTIVE: flag rate
    /// 0.44× the reference (POLICE OFFICER)".
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.attributes {
            for g in &a.groups {
                for m in &g.significant {
                    let k = METRICS.iter().position(|x| x == m).unwrap_or(0);
                    out.push(format!(
                        "{} {}: {} {}× the reference ({})",
                        a.attribute,
                        g.group,
                        m,
                        g.ratios[k].map_or("?".into(), |r| format!("{r:.2}")),
                        a.reference
                    ));
                }
            }
        }
        out
    }
}

/// The latest audit of every detector and model of a store:
/// `STORE/fairness/latest.json`, replaced atomically after each run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latest {
    /// By subject.
    pub subjects: BTreeMap<String, SubjectAudit>,
}

impl Latest {
    /// The file under a store root.
    pub fn path(store_root: &std::path::Path) -> std::path::PathBuf {
        store_root.join("fairness").join("latest.json")
    }

    /// Reads it (empty when no run has been audited yet).
    pub fn load(store_root: &std::path::Path) -> crate::Result<Latest> {
        let p = Latest::path(store_root);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| crate::Error::Input(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Latest::default()),
            Err(e) => Err(crate::Error::Input(format!("{}: {e}", p.display()))),
        }
    }

    /// Records audits (replacing earlier ones of the same subjects) and
    /// writes the file (temporary file, then rename).
    pub fn record(store_root: &std::path::Path, audits: &[SubjectAudit]) -> crate::Result<Latest> {
        let mut l = Latest::load(store_root)?;
        for a in audits {
            l.subjects.insert(a.subject.clone(), a.clone());
        }
        let p = Latest::path(store_root);
        let io = |e: std::io::Error| crate::Error::Input(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(p.parent().expect("has a parent")).map_err(io)?;
        let tmp = p.with_extension("json.tmp");
        let bytes =
            serde_json::to_vec_pretty(&l).map_err(|e| crate::Error::Internal(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &p).map_err(io)?;
        Ok(l)
    }
}
