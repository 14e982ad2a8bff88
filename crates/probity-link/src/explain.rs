//! A pair's match weight as a waterfall: the prior, then each comparison's
//! level and its log2(m/u), then the total and the probability — the
//! arithmetic a reviewer can check by hand.

use std::fmt::Write;

use serde::Serialize;

use crate::compare::{COMPARISONS, Compared, Entity};
use crate::model::{Model, probability};

/// One step of the waterfall.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// Comparison.
    pub comparison: String,
    /// Level label.
    pub level: String,
    /// The record's value.
    pub record: String,
    /// The staff member's value (hidden unless revealed).
    pub staff: String,
    /// P(level | match), absent for a missing value.
    pub m: Option<f64>,
    /// P(level | non-match).
    pub u: Option<f64>,
    /// log2(m/u), 0 for a missing value.
    pub weight: f64,
}

/// A pair's explanation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    /// log2 prior odds.
    pub prior_weight: f64,
    /// Per comparison.
    pub steps: Vec<Step>,
    /// Total match weight.
    pub weight: f64,
    /// Match probability.
    pub probability: f64,
    /// Whether the record's names were read transposed.
    pub transposed: bool,
}

/// Explains a compared pair. `reveal` shows the staff member's values;
/// otherwise they are replaced by `(hidden)`.
pub fn explain(model: &Model, r: &Entity, s: &Entity, c: Compared, reveal: bool) -> Explanation {
    let levels = c.pattern.levels();
    let r_eff = if c.transposed {
        r.transposed()
    } else {
        r.clone()
    };
    let values = |e: &Entity| -> [String; 4] {
        [
            e.first.clone(),
            e.family.clone(),
            e.dob.map(|d| d.to_string()).unwrap_or_default(),
            e.postcode.clone().unwrap_or_default(),
        ]
    };
    let (rv, sv) = (values(&r_eff), values(s));
    let mut steps = vec![];
    for k in 0..4 {
        let l = levels[k] as usize;
        let (m, u, weight) = if l == 0 {
            (None, None, 0.0)
        } else {
            let p = &model.comparisons[k].levels[l - 1];
            (Some(p.m), Some(p.u), p.weight())
        };
        steps.push(Step {
            comparison: COMPARISONS[k].name.to_string(),
            level: COMPARISONS[k].levels[l].to_string(),
            record: rv[k].clone(),
            staff: if reveal {
                sv[k].clone()
            } else {
                "(hidden)".to_string()
            },
            m,
            u,
            weight,
        });
    }
    let prior_weight = model.prior_weight();
    let weight = prior_weight + steps.iter().map(|s| s.weight).sum::<f64>();
    Explanation {
        prior_weight,
        steps,
        weight,
        probability: probability(weight),
        transposed: c.transposed,
    }
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bar = |w: f64| {
            let n = (w.abs() * 1.5).round().min(30.0) as usize;
            if w >= 0.0 {
                format!("{:>30}|{}", "", "+".repeat(n))
            } else {
                format!("{:>30}|", "-".repeat(n))
            }
        };
        let mut running = self.prior_weight;
        let mut out = String::new();
        writeln!(
            out,
            "  {:<14} {:<40} {:>8} {:>9}  (log2 odds; bar: 1.5 characters per bit)",
            "", "level", "weight", "running"
        )?;
        writeln!(
            out,
            "  {:<14} {:<40} {:>+8.2} {:>+9.2}  {}",
            "prior",
            "λ: any pair is a match",
            self.prior_weight,
            running,
            bar(self.prior_weight)
        )?;
        for s in &self.steps {
            running += s.weight;
            writeln!(
                out,
                "  {:<14} {:<40} {:>+8.2} {:>+9.2}  {}",
                s.comparison,
                s.level,
                s.weight,
                running,
                bar(s.weight)
            )?;
            let mu = match (s.m, s.u) {
                (Some(m), Some(u)) => format!("m={m:.4} u={u:.6}"),
                _ => "no weight: a value is missing".to_string(),
            };
            writeln!(
                out,
                "  {:<14}   record {:?} vs staff {:?}; {mu}",
                "", s.record, s.staff
            )?;
        }
        writeln!(
            out,
            "  {:<14} {:<40} {:>+8.2}            probability {:.6}{}",
            "total",
            "",
            self.weight,
            self.probability,
            if self.transposed {
                " (record's given and family names read transposed)"
            } else {
                ""
            }
        )?;
        f.write_str(&out)
    }
}
