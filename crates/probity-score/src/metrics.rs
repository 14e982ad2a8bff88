//! Ranking metrics with honest ties: when several people share the score at
//! the edge of a budget, the budget takes part of them at random, and the
//! metrics count the expected number of true positives among them (so a
//! coarse ranking such as "complaints in the last 24 months" is neither
//! flattered nor penalised by an arbitrary tie order).

/// Precision and recall of flagging a number of people.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtBudget {
    /// People flagged.
    pub flagged: f64,
    /// Expected true positives among them.
    pub true_positives: f64,
    /// Expected precision.
    pub precision: f64,
    /// Expected recall.
    pub recall: f64,
}

/// Groups of equal scores, highest first: (size, positives).
fn tie_groups(scores: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(f64, f64)> = Vec::new();
    let mut last = f64::NAN;
    for i in idx {
        if groups.is_empty() || scores[i].total_cmp(&last).is_ne() {
            groups.push((0.0, 0.0));
            last = scores[i];
        }
        let g = groups.last_mut().expect("pushed");
        g.0 += 1.0;
        g.1 += y[i];
    }
    groups
}

/// Flag the `k` highest-scoring people (ties at the edge shared out at random).
pub fn at_count(scores: &[f64], y: &[f64], k: f64) -> AtBudget {
    let positives: f64 = y.iter().sum();
    let mut left = k.min(scores.len() as f64);
    let mut tp = 0.0;
    for (n, p) in tie_groups(scores, y) {
        if left <= 0.0 {
            break;
        }
        let take = left.min(n);
        tp += p * take / n;
        left -= take;
    }
    let flagged = k.min(scores.len() as f64);
    AtBudget {
        flagged,
        true_positives: tp,
        precision: if flagged > 0.0 { tp / flagged } else { 0.0 },
        recall: if positives > 0.0 { tp / positives } else { 0.0 },
    }
}

/// Flag the top `fraction` of people.
pub fn at_fraction(scores: &[f64], y: &[f64], fraction: f64) -> AtBudget {
    at_count(scores, y, (fraction * scores.len() as f64).round())
}

/// Area under the ROC curve (Mann–Whitney, ties count one half).
pub fn auc(scores: &[f64], y: &[f64]) -> f64 {
    let groups = tie_groups(scores, y);
    let pos: f64 = y.iter().sum();
    let neg = scores.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    // Walk from the lowest scores up: each positive beats the negatives
    // below it, and half of the negatives tied with it.
    let mut neg_below = 0.0;
    let mut sum = 0.0;
    for (n, p) in groups.into_iter().rev() {
        let ng = n - p;
        sum += p * (neg_below + ng / 2.0);
        neg_below += ng;
    }
    sum / (pos * neg)
}

/// Average precision: precision at each distinct score threshold, weighted by
/// the recall it adds (as in scikit-learn).
pub fn average_precision(scores: &[f64], y: &[f64]) -> f64 {
    let pos: f64 = y.iter().sum();
    if pos == 0.0 {
        return f64::NAN;
    }
    let (mut seen, mut tp, mut ap) = (0.0, 0.0, 0.0);
    for (n, p) in tie_groups(scores, y) {
        seen += n;
        tp += p;
        ap += (p / pos) * (tp / seen);
    }
    ap
}

/// A threshold rule ("at least `min` complaints in the last 12 months")
/// under a flag budget of `k` people: it flags everyone who qualifies if
/// that fits the budget, else `k` of them chosen at random (it has no way to
/// rank them); it never flags someone who does not qualify.
pub fn rule_at_count(qualifies: &[bool], y: &[f64], k: f64) -> AtBudget {
    let positives: f64 = y.iter().sum();
    let n = qualifies.iter().filter(|q| **q).count() as f64;
    let p: f64 = qualifies
        .iter()
        .zip(y)
        .filter(|(q, _)| **q)
        .map(|(_, y)| y)
        .sum();
    let flagged = n.min(k);
    let tp = if n > 0.0 { p * flagged / n } else { 0.0 };
    AtBudget {
        flagged,
        true_positives: tp,
        precision: if flagged > 0.0 { tp / flagged } else { 0.0 },
        recall: if positives > 0.0 { tp / positives } else { 0.0 },
    }
}
