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

/// P(X ≥ k) for X ~ Poisson(λ).
pub fn poisson_sf(k: u32, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if f64::from(k) <= lambda {
        // 1 − P(X ≤ k−1): the tail is large, no cancellation to fear.
        let mut term = (-lambda).exp();
        let mut cdf = term;
        for i in 1..k {
            term *= lambda / f64::from(i);
            cdf += term;
        }
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    // The upper tail summed directly (in logs), so that tiny probabilities
    // keep their digits: ln P(X = k) = −λ + k ln λ − ln k!.
    let ln_fact: f64 = (1..=k).map(|i| f64::from(i).ln()).sum();
    let mut ln_term = -lambda + f64::from(k) * lambda.ln() - ln_fact;
    let mut sum = 0.0;
    let mut i = k;
    loop {
        let t = ln_term.exp();
        sum += t;
        if t < sum * 1e-17 || i > k + 10_000 {
            break;
        }
        i += 1;
        ln_term += lambda.ln() - f64::from(i).ln();
    }
    sum.min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, p), summed in logs (no underflow for long
/// windows or extreme p).
pub fn binomial_cdf(k: u32, n: u32, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut ln_term = f64::from(n) * lq; // P(X = 0)
    let mut terms = vec![ln_term];
    for i in 0..k {
        ln_term += (f64::from(n - i) / f64::from(i + 1)).ln() + lp - lq;
        terms.push(ln_term);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_tails_match_hand_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        // P(X ≥ 3 | λ = 0.5) = 1 − e^-0.5 (1 + 0.5 + 0.125) = 0.014388
        assert!((poisson_sf(3, 0.5) - 0.014_388).abs() < 1e-5);
        assert_eq!(poisson_sf(0, 2.0), 1.0);
        // Tiny tails keep their digits: P(X ≥ 20 | λ = 1) ≈ 1.5875e-19.
        let t = poisson_sf(20, 1.0);
        assert!((t / 1.5875e-19 - 1.0).abs() < 1e-3, "{t}");
        assert!((poisson_sf(2, 3.0) - (1.0 - 4.0 * (-3.0f64).exp())).abs() < 1e-12);
        // P(X ≤ 1 | n = 4, p = 0.5) = 5/16; P(X ≤ 6 | 30, 0.6) ≈ 9.2223e-6.
        assert!((binomial_cdf(1, 4, 0.5) - 5.0 / 16.0).abs() < 1e-12);
        let b = binomial_cdf(6, 30, 0.6);
        assert!((b / 9.2223e-6 - 1.0).abs() < 1e-3, "{b}");
        assert_eq!(binomial_cdf(4, 4, 0.3), 1.0);
        assert!(binomial_cdf(0, 400, 0.8) > 0.0, "no underflow");
        // Peers all 0: the floor keeps the score finite.
        assert_eq!(robust_z(3.0, &[0.0, 0.0, 0.0], 1.0), 3.0);
    }
}
