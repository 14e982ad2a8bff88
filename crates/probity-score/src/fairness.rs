//! Fairness audit in the manner of Aequitas: for each attribute (rank,
//! unit, …) and each of its groups, how often people are flagged, how often
//! a flag is right, and how errors fall — each as a ratio to a reference
//! group, flagged when outside 0.8–1.25, with a warning where a group is too
//! small for its rates to mean much.

use std::collections::BTreeMap;

use serde::Serialize;

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
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    pub disparities: Vec<&'static str>,
    /// Set when the group is too small for its rates to be relied on.
    pub small_group: bool,
}

/// The audit of one attribute.
#[derive(Debug, Clone, Serialize)]
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
            small_group: a.n < SMALL_GROUP,
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
                    g.disparities.push(METRICS[k]);
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
