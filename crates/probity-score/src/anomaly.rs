//! The unsupervised anomaly score, for forces without outcome history: an
//! isolation forest (Liu, Ting and Zhou, 2008) over the same person-period
//! features as the supervised model. A person is unusual when random
//! splits isolate them in few steps; the score is `2^(-E[h(x)] / c(ψ))`,
//! in (0, 1], about 0.5 for an ordinary row and near 1 for an isolated one.
//!
//! Written here rather than taken from a crate: the Rust isolation-forest
//! crates fix the number of dimensions at compile time or are unmaintained,
//! and the algorithm is short. Its explanation is an occlusion: how much the
//! score falls when one feature is set to the population's median (the
//! model's documented equivalent of contributions; these do not add up to
//! the score, because an isolation depth is not additive in features).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::features::{Feature, FeatureTable};
use crate::{Error, Result};

/// Trees in a forest (the paper's default).
pub const TREES: usize = 100;
/// Rows drawn for each tree (the paper's ψ).
pub const SAMPLE: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Leaf {
        size: u32,
    },
    Split {
        feature: u32,
        value: f64,
        left: u32,
        right: u32,
    },
}

/// A trained isolation forest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    /// Features it reads, in order.
    pub features: Vec<Feature>,
    /// Rows drawn per tree.
    pub sample: usize,
    /// Median of each feature over the training rows (the occlusion value).
    pub medians: Vec<f64>,
    trees: Vec<Vec<Node>>,
}

/// The average path length of an unsuccessful search in a binary search
/// tree of `n` items: the normaliser `c(n)`.
pub fn average_path(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n < 2.5 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + 0.577_215_664_9) - 2.0 * (n - 1.0) / n
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

impl IsolationForest {
    /// Grows `trees` trees on random samples of `rows` of `t`.
    pub fn fit(
        t: &FeatureTable,
        rows: &[usize],
        trees: usize,
        sample: usize,
        seed: u64,
    ) -> Result<IsolationForest> {
        if rows.len() < 2 {
            return Err(Error::Input(format!(
                "an anomaly score needs at least 2 people, got {}",
                rows.len()
            )));
        }
        let nf = t.features.len();
        let sample = sample.min(rows.len());
        let limit = (sample as f64).log2().ceil() as usize;
        // Sample from the rows in an order of their content, not of the
        // pseudonyms: another store key grows the same forest.
        let mut rows = rows.to_vec();
        rows.sort_by(|&a, &b| t.content_cmp(a, b));
        let rows = &rows[..];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut forest = Vec::with_capacity(trees);
        for _ in 0..trees {
            // Sample without replacement (partial Fisher-Yates).
            let mut pool: Vec<usize> = rows.to_vec();
            for k in 0..sample {
                let j = rng.random_range(k..pool.len());
                pool.swap(k, j);
            }
            pool.truncate(sample);
            let mut nodes = Vec::new();
            grow(t, &mut pool, 0, limit, nf, &mut rng, &mut nodes);
            forest.push(nodes);
        }
        let medians = (0..nf)
            .map(|j| median(rows.iter().map(|&i| t.row(i)[j]).collect()))
            .collect();
        Ok(IsolationForest {
            features: t.features.clone(),
            sample,
            medians,
            trees: forest,
        })
    }

    fn check(&self, t: &FeatureTable) -> Result<()> {
        if t.features != self.features {
            return Err(Error::Input(
                "the features of this store differ from the ones the forest was grown on".into(),
            ));
        }
        Ok(())
    }

    fn score_row(&self, x: &[f64]) -> f64 {
        let mut total = 0.0;
        for tree in &self.trees {
            let mut at = 0usize;
            let mut depth = 0.0;
            loop {
                match &tree[at] {
                    Node::Leaf { size } => {
                        total += depth + average_path(f64::from(*size));
                        break;
                    }
                    Node::Split {
                        feature,
                        value,
                        left,
                        right,
                    } => {
                        depth += 1.0;
                        at = if x[*feature as usize] < *value {
                            *left as usize
                        } else {
                            *right as usize
                        };
                    }
                }
            }
        }
        let mean = total / self.trees.len() as f64;
        2f64.powf(-mean / average_path(self.sample as f64))
    }

    /// Anomaly scores of the given rows, in (0, 1].
    pub fn score(&self, t: &FeatureTable, rows: &[usize]) -> Result<Vec<f64>> {
        self.check(t)?;
        Ok(rows.iter().map(|&i| self.score_row(t.row(i))).collect())
    }

    /// For each row, per feature: the score minus the score with that
    /// feature set to its median (positive: the value makes the person more
    /// unusual).
    pub fn explain(&self, t: &FeatureTable, rows: &[usize]) -> Result<Vec<Vec<f64>>> {
        self.check(t)?;
        Ok(rows
            .iter()
            .map(|&i| {
                let x = t.row(i);
                let s = self.score_row(x);
                let mut y = x.to_vec();
                (0..x.len())
                    .map(|j| {
                        if x[j] == self.medians[j] {
                            return 0.0;
                        }
                        y[j] = self.medians[j];
                        let d = s - self.score_row(&y);
                        y[j] = x[j];
                        d
                    })
                    .collect()
            })
            .collect())
    }
}

fn grow(
    t: &FeatureTable,
    rows: &mut [usize],
    depth: usize,
    limit: usize,
    nf: usize,
    rng: &mut ChaCha8Rng,
    nodes: &mut Vec<Node>,
) -> u32 {
    let at = nodes.len() as u32;
    let leaf = Node::Leaf {
        size: rows.len() as u32,
    };
    if depth >= limit || rows.len() <= 1 {
        nodes.push(leaf);
        return at;
    }
    // A feature that varies among these rows, chosen at random.
    let start = rng.random_range(0..nf);
    let mut split = None;
    for k in 0..nf {
        let j = (start + k) % nf;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &i in rows.iter() {
            let v = t.row(i)[j];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi > lo {
            split = Some((j, lo + rng.random::<f64>() * (hi - lo)));
            break;
        }
    }
    let Some((j, value)) = split else {
        nodes.push(leaf);
        return at;
    };
    // `value` can equal `lo` when the draw is 0; keep both sides non-empty.
    let mut mid = 0;
    for k in 0..rows.len() {
        if t.row(rows[k])[j] < value {
            rows.swap(k, mid);
            mid += 1;
        }
    }
    if mid == 0 || mid == rows.len() {
        nodes.push(leaf);
        return at;
    }
    nodes.push(Node::Split {
        feature: j as u32,
        value,
        left: 0,
        right: 0,
    });
    let (l, r) = rows.split_at_mut(mid);
    let left = grow(t, l, depth + 1, limit, nf, rng, nodes);
    let right = grow(t, r, depth + 1, limit, nf, rng, nodes);
    if let Node::Split {
        left: ls,
        right: rs,
        ..
    } = &mut nodes[at as usize]
    {
        *ls = left;
        *rs = right;
    }
    at
}
