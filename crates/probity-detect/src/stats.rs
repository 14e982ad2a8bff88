//! Small statistics used to compare a person with their peers.

/// The median of a slice (0 for an empty one).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Robust z-score of `x` against peers: (x − median) / (1.4826 · MAD), with
/// the MAD floored at `floor` so that a peer group where almost everyone has
/// the same value does not turn a small difference into a huge score.
pub fn robust_z(x: f64, peers: &[f64], floor: f64) -> f64 {
    let m = median(peers);
    let dev: Vec<f64> = peers.iter().map(|p| (p - m).abs()).collect();
    let mad = (1.4826 * median(&dev)).max(floor);
    (x - m) / mad
}

pub use probity_core::stats::{binomial_cdf, poisson_sf};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_robust_scores_match_hand_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);

        // Peers all 0: the floor keeps the score finite.
        assert_eq!(robust_z(3.0, &[0.0, 0.0, 0.0], 1.0), 3.0);
    }
}
