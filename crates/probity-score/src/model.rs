//! The supervised risk model: gradient-boosted trees (the `perpetual` crate:
//! maintained, pure Rust, one complexity budget instead of a grid of
//! hyper-parameters), with contributions that add up to the score.

use perpetual::objective::Objective;
use perpetual::{ContributionsMethod, Matrix, PerpetualBooster};
use serde::{Deserialize, Serialize};

use crate::features::{Feature, FeatureTable};
use crate::{Error, Result};

/// The model's format version: bump when saved models change meaning.
pub const MODEL_VERSION: u32 = 1;

/// A trained model with the features it expects.
#[derive(Serialize, Deserialize)]
pub struct RiskModel {
    /// Format version.
    pub version: u32,
    /// Feature names and words, in the order the trees read them.
    pub features: Vec<Feature>,
    /// The complexity budget it was trained with.
    pub budget: f32,
    /// Rows and positives it was trained on.
    pub trained_on: (usize, usize),
    /// The complaint category groups its `cat*` features count.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The ranks its `rank*` indicator features stand for (empty: rank
    /// was not a feature).
    #[serde(default)]
    pub ranks: Vec<String>,
    booster: PerpetualBooster,
}

/// Column-major copy of some rows of a feature table.
fn matrix_data(t: &FeatureTable, rows: &[usize]) -> Vec<f64> {
    let n = t.features.len();
    let mut data = Vec::with_capacity(rows.len() * n);
    for j in 0..n {
        data.extend(rows.iter().map(|&i| t.row(i)[j]));
    }
    data
}

impl RiskModel {
    /// Trains on the given rows of `t` with 0/1 labels `y` (one per row of
    /// `rows`). `budget` is perpetual's complexity budget (0.5 is modest).
    pub fn train(t: &FeatureTable, rows: &[usize], y: &[f64], budget: f32) -> Result<RiskModel> {
        if rows.len() != y.len() {
            return Err(Error::Internal("one label per training row".into()));
        }
        let positives = y.iter().filter(|v| **v > 0.5).count();
        if positives == 0 || positives == rows.len() {
            return Err(Error::Input(format!(
                "cannot train on {} rows with {positives} positive outcomes: the training \
                 period needs both outcomes (choose earlier cut-offs or a longer history)",
                rows.len()
            )));
        }
        let data = matrix_data(t, rows);
        let m = Matrix::new(&data, rows.len(), t.features.len());
        let mut booster = PerpetualBooster::default()
            .set_objective(Objective::LogLoss)
            .set_budget(budget)
            .set_seed(7)
            .set_num_threads(Some(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ));
        booster
            .fit(&m, y, None, None)
            .map_err(|e| Error::Model(e.to_string()))?;
        Ok(RiskModel {
            version: MODEL_VERSION,
            features: t.features.clone(),
            budget,
            trained_on: (rows.len(), positives),
            categories: Vec::new(),
            ranks: Vec::new(),
            booster,
        })
    }

    fn check(&self, t: &FeatureTable) -> Result<()> {
        if t.features != self.features {
            return Err(Error::Input(
                "the features of this store differ from the ones the model was trained on \
                 (categories or version); retrain the model"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Scores (log-odds of the outcome) of the given rows.
    pub fn score(&self, t: &FeatureTable, rows: &[usize]) -> Result<Vec<f64>> {
        self.check(t)?;
        let data = matrix_data(t, rows);
        let m = Matrix::new(&data, rows.len(), t.features.len());
        Ok(self.booster.predict(&m, true))
    }

    /// Per-row contributions (log-odds): one per feature and a last one for
    /// the baseline; each row's sum is its score. They are tree-path
    /// attributions (what XGBoost calls approximate contributions: along
    /// each tree's path, the change of the node's mean prediction is
    /// credited to the split's feature), 140× faster here than exact
    /// tree-SHAP (0.6 s against 85.6 s for 39,000 people) and, like it,
    /// adding up exactly to the score.
    pub fn contributions(&self, t: &FeatureTable, rows: &[usize]) -> Result<Vec<Vec<f64>>> {
        self.check(t)?;
        let data = matrix_data(t, rows);
        let m = Matrix::new(&data, rows.len(), t.features.len());
        let flat = self
            .booster
            .predict_contributions(&m, ContributionsMethod::Average, true);
        let w = t.features.len() + 1;
        Ok(flat.chunks(w).map(<[f64]>::to_vec).collect())
    }

    /// Saves as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Model(e.to_string()))
    }

    /// Loads from JSON; refuses another format version.
    pub fn from_json(s: &str) -> Result<RiskModel> {
        let m: RiskModel = serde_json::from_str(s).map_err(|e| Error::Model(e.to_string()))?;
        if m.version != MODEL_VERSION {
            return Err(Error::Input(format!(
                "saved model has format version {} but this Probity reads {MODEL_VERSION}; retrain",
                m.version
            )));
        }
        Ok(m)
    }
}

/// The logistic function: log-odds → probability.
pub fn probability(log_odds: f64) -> f64 {
    1.0 / (1.0 + (-log_odds).exp())
}
