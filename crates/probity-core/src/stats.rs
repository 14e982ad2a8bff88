//! Tail probabilities, and how likely a scan over many windows is to find
//! one as extreme as the data by chance. Pure functions; the detectors use
//! them for complaint counts against a peer rate and office days against a
//! target. (Here, in the crate built with full optimisation even in
//! development builds, because the simulation is a tight loop.)

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

/// Binomial lower tails P(X ≤ k | n, p) for every n up to a bound: each
/// row from the one before (P(X_n = k) = p·P(X_{n-1} = k-1) + q·P(X_{n-1} =
/// k)), so a table costs n² additions, not n² sums.
#[derive(Debug, Clone)]
pub struct BinomialTails {
    p: f64,
    rows: Vec<Vec<f64>>,
}

impl BinomialTails {
    /// The table for success probability `p` up to `max_n` trials.
    pub fn new(max_n: usize, p: f64) -> BinomialTails {
        let q = 1.0 - p;
        let mut rows: Vec<Vec<f64>> = Vec::with_capacity(max_n + 1);
        let mut pmf = vec![1.0];
        for n in 0..=max_n {
            if n > 0 {
                let mut next = vec![0.0; n + 1];
                for (k, m) in pmf.iter().enumerate() {
                    next[k] += q * m;
                    next[k + 1] += p * m;
                }
                pmf = next;
            }
            let mut acc = 0.0;
            rows.push(
                pmf.iter()
                    .map(|m| {
                        acc += m;
                        acc.min(1.0)
                    })
                    .collect(),
            );
        }
        BinomialTails { p, rows }
    }

    /// The success probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The largest number of trials covered.
    pub fn max_n(&self) -> usize {
        self.rows.len() - 1
    }

    /// P(X ≤ k | n).
    pub fn get(&self, k: usize, n: usize) -> f64 {
        self.rows[n][k]
    }
}

/// Simulated sequences at most per scan.
pub const SCAN_DRAWS: u32 = 20_000;

/// How often a scan finds a window as extreme as `windows` describes when
/// each of `n` days is a success with probability `p`, independently: each
/// window is (first day, end day exclusive, the most successes that are as
/// extreme), and a sequence is as extreme when any window holds no more
/// than that. Returns (hits + 1) / (draws + 1), the usual Monte Carlo
/// estimate that is never zero, from a stream seeded by `seed` (a run is
/// repeatable); stops as soon as the answer is clear either way: well below
/// `alpha` (checked every 2,000 draws) or well above it (4·alpha of all the
/// draws, at least 20, already seen).
pub fn scan_chance(
    n: usize,
    p: f64,
    windows: &[(usize, usize, usize)],
    alpha: f64,
    seed: &[u8],
) -> f64 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::from_seed(*blake3::hash(seed).as_bytes());
    let mut prefix = vec![0usize; n + 1];
    let mut hits = 0u32;
    let estimate = |hits: u32, draws: u32| f64::from(hits + 1) / f64::from(draws + 1);
    let above = (4.0 * alpha * f64::from(SCAN_DRAWS)).ceil().max(20.0) as u32;
    // Four days per random word: 16 bits each, compared with p scaled to
    // 2^16 (p is then exact to 1/65,536).
    let threshold = (p.clamp(0.0, 1.0) * 65_536.0).round() as u64;
    for draw in 1..=SCAN_DRAWS {
        let mut word = 0u64;
        for i in 0..n {
            if i % 4 == 0 {
                word = rng.random::<u64>();
            }
            prefix[i + 1] = prefix[i] + usize::from((word & 0xffff) < threshold);
            word >>= 16;
        }
        if windows
            .iter()
            .any(|&(lo, hi, m)| prefix[hi] - prefix[lo] <= m)
        {
            hits += 1;
            if hits >= above {
                return estimate(hits, draw);
            }
        }
        if draw % 2_000 == 0 && estimate(hits, draw) <= alpha / 3.0 {
            return estimate(hits, draw);
        }
    }
    estimate(hits, SCAN_DRAWS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_match_hand_values() {
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
        // The table agrees with the sums.
        let t = BinomialTails::new(40, 0.6);
        for (k, n) in [(6, 30), (0, 10), (10, 10), (17, 40)] {
            let d = t.get(k, n) - binomial_cdf(k as u32, n as u32, 0.6);
            assert!(d.abs() < 1e-12, "{k} of {n}: {d}");
        }
    }

    #[test]
    fn a_scan_finds_chance_extremes_as_often_as_they_happen() {
        // One window of all 10 days, "as extreme" = at most 2 successes at
        // p = 0.6: P = 0.012291 exactly; all 20,000 draws (alpha 0.02 is
        // far from the answer either way, so nothing stops early) put the
        // estimate near it.
        let exact = binomial_cdf(2, 10, 0.6);
        let est = scan_chance(10, 0.6, &[(0, 10, 2)], 0.02, b"test");
        assert!((est / exact - 1.0).abs() < 0.15, "{est} vs {exact}");
        // Two disjoint windows: about twice as often.
        let two = scan_chance(20, 0.6, &[(0, 10, 2), (10, 20, 2)], 0.02, b"test");
        let exact2 = 1.0 - (1.0 - exact).powi(2);
        assert!((two / exact2 - 1.0).abs() < 0.15, "{two} vs {exact2}");
        // Repeatable for a seed.
        assert_eq!(est, scan_chance(10, 0.6, &[(0, 10, 2)], 0.02, b"test"));
        // Far below alpha: stops after 2,000 draws, still never zero.
        let rare = scan_chance(10, 0.6, &[(0, 10, 0)], 0.5, b"test");
        assert!(rare > 0.0 && rare <= 1.0 / 2001.0 + 1e-12, "{rare}");
    }
}
