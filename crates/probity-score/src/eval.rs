//! Rolling temporal evaluation: for each test cut-off, train on earlier
//! cut-offs whose outcome window had closed by then (with only the outcomes
//! decided by then), score the people active at the test cut-off, and judge
//! the model and two baselines on what happened next.

use datafusion::prelude::SessionContext;
use jiff::civil::Date;
use serde::Serialize;

use crate::features::{self, FeatureTable};
use crate::labels::{self, Outcome};
use crate::metrics::{self, AtBudget};
use crate::model::{Learner, RiskModel, Training};
use crate::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Cut-offs the model is tested at.
    pub test_cuts: Vec<Date>,
    /// Earliest cut-off used for training.
    pub first_train: Date,
    /// Months between training cut-offs.
    pub step_months: u32,
    /// Outcome window after a cut-off, in months.
    pub horizon_months: u32,
    /// Months after a training row's outcome window before it is used, so
    /// that most of its complaints have been decided by the test cut-off
    /// (outcomes decided later are never used: they were not known then).
    pub settle_months: u32,
    /// Flag budgets, as fractions of the people active at a cut-off.
    pub budgets: Vec<f64>,
    /// The threshold rule: at least this many complaints ...
    pub rule_min: f64,
    /// ... in this many months (1, 3, 6, 12 or 24).
    pub rule_months: u32,
    /// Complaint category groups counted as their own features.
    pub categories: usize,
    /// The model's complexity budget.
    pub model_budget: f32,
    /// Rank indicators as features (the store holds current ranks, which
    /// at a past cut-off may be ranks reached later).
    pub rank_feature: bool,
    /// Boosters averaged in each model (see `model::ENSEMBLE`).
    pub ensemble: usize,
    /// The outcome predicted and judged.
    pub outcome: Outcome,
    /// The kind of model.
    pub learner: Learner,
    /// Models trained per test cut-off, each on the training rows in
    /// another order (as another store key would give them) and, for the
    /// boosted learner, with other seeds: the model's figures are their
    /// mean, with the lowest and highest beside it.
    pub repeats: usize,
}

/// One method at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Budget as a fraction of people.
    pub budget: f64,
    /// The model (the mean over the repeats).
    pub model: Metric,
    /// The lowest and highest recall of the repeats.
    pub model_recall_range: (f64, f64),
    /// The lowest and highest precision of the repeats.
    pub model_precision_range: (f64, f64),
    /// The threshold rule.
    pub threshold: Metric,
    /// Rank by complaints in the last 24 months.
    pub recent: Metric,
    /// The unsupervised anomaly score (isolation forest, no outcomes).
    pub anomaly: Metric,
}

/// Precision and recall.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    /// People flagged.
    pub flagged: f64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
}

impl From<AtBudget> for Metric {
    fn from(a: AtBudget) -> Metric {
        Metric {
            flagged: a.flagged,
            precision: a.precision,
            recall: a.recall,
        }
    }
}

/// The result at one test cut-off.
#[derive(Debug, Clone, Serialize)]
pub struct CutResult {
    /// The cut-off.
    pub cut: String,
    /// People active at it.
    pub people: usize,
    /// Of them, with the outcome in the window.
    pub positives: usize,
    /// The share with the outcome (precision of a random choice: lift is
    /// precision over this).
    pub base_rate: f64,
    /// Training rows and positives.
    pub trained_on: (usize, usize),
    /// The linear model's ridge penalty, and the penalties tried with the
    /// top-5% recall each gave on the latest training cut-off.
    pub ridge: Option<(f64, Vec<(f64, f64)>)>,
    /// People the threshold rule flags when unconstrained.
    pub rule_flags: usize,
    /// At the rule's own number of flags: the model's top that many, and
    /// the rule (the comparison of the same flag budget).
    pub matched: (Metric, Metric),
    /// Per budget.
    pub rows: Vec<Row>,
    /// AUC of model and rank by 24-month complaints.
    pub auc: (f64, f64),
    /// AUC of the anomaly score.
    pub anomaly_auc: f64,
    /// Average precision of model and rank by 24-month complaints.
    pub average_precision: (f64, f64),
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The outcome predicted.
    pub outcome: Outcome,
    /// The kind of model.
    pub learner: Learner,
    /// Models per test cut-off (see `EvalConfig::repeats`).
    pub repeats: usize,
    /// Outcome window in months.
    pub horizon_months: u32,
    /// The rule, in words.
    pub rule: String,
    /// Features used.
    pub features: Vec<String>,
    /// One entry per test cut-off.
    pub cuts: Vec<CutResult>,
    /// The budget the fairness audit flags at.
    pub fairness_budget: f64,
    /// Fairness of the model's flags at that budget, pooled over the test
    /// cut-offs, by rank, unit (the 10 largest, the rest as "other"),
    /// working hours, and sex and ethnicity where the store records them.
    pub fairness: Vec<crate::fairness::AttributeAudit>,
}

impl EvalReport {
    /// The fairness part as the audit of the risk model, stamped `at`.
    pub fn fairness_audit(&self, at: String) -> crate::fairness::SubjectAudit {
        crate::fairness::SubjectAudit {
            subject: "risk_model".into(),
            version: crate::model::MODEL_VERSION,
            run: format!(
                "score eval, top {:.0}% pooled over {} test cut-offs",
                self.fairness_budget * 100.0,
                self.cuts.len()
            ),
            at,
            population: self.cuts.iter().map(|c| c.people).sum(),
            flagged_people: self
                .fairness
                .first()
                .map_or(0, |a| a.groups.iter().map(|g| g.flagged).sum()),
            outcomes: match self.outcome {
                Outcome::Sustained => "sustained complaints".into(),
                Outcome::AnyComplaint => "complaints".into(),
            },
            attributes: self.fairness.clone(),
        }
    }
}

/// `d` plus `m` months.
pub fn add_months(d: Date, m: i64) -> Result<Date> {
    d.checked_add(jiff::Span::new().months(m))
        .map_err(|e| Error::Input(e.to_string()))
}

/// Rows usable to train a model at `test`: cut-offs from `first` whose
/// outcome window plus settling time (`gap_months`) ended by `test`.
fn training_rows(t: &FeatureTable, first: Date, gap_months: u32, test: Date) -> Vec<usize> {
    (0..t.len())
        .filter(|&i| {
            t.cut[i] >= first
                && add_months(t.cut[i], i64::from(gap_months)).is_ok_and(|end| end <= test)
        })
        .collect()
}

/// Runs the evaluation.
pub async fn evaluate(ctx: &SessionContext, cfg: &EvalConfig) -> Result<EvalReport> {
    let Some(&first_test) = cfg.test_cuts.iter().min() else {
        return Err(Error::Input("give at least one test cut-off".into()));
    };
    let last_test = *cfg.test_cuts.iter().max().expect("non-empty");
    // Training and test cut-offs on one grid.
    let mut cuts = Vec::new();
    let mut d = cfg.first_train;
    while d <= last_test {
        cuts.push(d);
        d = add_months(d, i64::from(cfg.step_months.max(1)))?;
    }
    for c in &cfg.test_cuts {
        if !cuts.contains(c) {
            cuts.push(*c);
        }
    }
    cuts.sort();
    // Category groups chosen from complaints before the first test cut-off.
    let cats = features::top_categories(ctx, first_test, cfg.categories).await?;
    let ranks = if cfg.rank_feature {
        features::top_ranks(ctx, 8).await?
    } else {
        Vec::new()
    };
    let t = features::compute(ctx, &cuts, &cats, &ranks).await?;
    let groups = crate::groups::Groups::load(ctx).await?;
    let truth = labels::outcome_within(ctx, &t, cfg.horizon_months, None, cfg.outcome).await?;
    let rule_col = t
        .column(&format!("complaints_{}m", cfg.rule_months))
        .ok_or_else(|| {
            Error::Input(format!(
                "the rule's window must be one of {:?} months",
                features::WINDOWS
            ))
        })?;
    let recent = t.column("complaints_24m").expect("always computed");

    let mut out = Vec::new();
    let fairness_budget = 0.05;
    let mut audited: Vec<(usize, crate::fairness::Case)> = Vec::new();
    for &test in &cfg.test_cuts {
        // Train on cut-offs whose whole outcome window ended by `test`,
        // with outcomes as decided by `test`.
        let train_rows = training_rows(
            &t,
            cfg.first_train,
            cfg.horizon_months + cfg.settle_months,
            test,
        );
        let known =
            labels::outcome_within(ctx, &t, cfg.horizon_months, Some(test), cfg.outcome).await?;
        let y_train: Vec<f64> = train_rows.iter().map(|&i| known[i]).collect();
        let test_rows: Vec<usize> = (0..t.len()).filter(|&i| t.cut[i] == test).collect();
        let mut repeats: Vec<Vec<f64>> = Vec::new();
        let mut trained_on = (0, 0);
        let mut ridge = None;
        for seed in 0..cfg.repeats.max(1) as u64 {
            // Each repeat after the first sees the training rows in another
            // order, as a store with another key would hold them (and, for
            // the boosted learner, other seeds): the spread measures what
            // the key and the seeds move.
            let (mut rows, mut y) = (train_rows.clone(), y_train.clone());
            if seed > 0 {
                let mut order: Vec<usize> = (0..rows.len()).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                rows = order.iter().map(|&k| train_rows[k]).collect();
                y = order.iter().map(|&k| y_train[k]).collect();
            }
            let how = Training {
                learner: cfg.learner,
                horizon_months: cfg.horizon_months,
                budget: cfg.model_budget,
                ensemble: cfg.ensemble,
                seed,
            };
            let model = RiskModel::train_with(&how, &t, &rows, &y)?;
            trained_on = model.trained_on;
            ridge = model.linear.as_ref().map(|l| (l.ridge, l.tried.clone()));
            repeats.push(model.score(&t, &test_rows)?);
        }
        let scores = repeats[0].clone();
        // The anomaly score sees the same features and no outcome at all.
        let forest = crate::anomaly::IsolationForest::fit(
            &t,
            &test_rows,
            crate::anomaly::TREES,
            crate::anomaly::SAMPLE,
            7,
        )?;
        let anomaly = forest.score(&t, &test_rows)?;
        let y: Vec<f64> = test_rows.iter().map(|&i| truth[i]).collect();
        let rec: Vec<f64> = test_rows.iter().map(|&i| recent[i]).collect();
        let qualifies: Vec<bool> = test_rows
            .iter()
            .map(|&i| rule_col[i] >= cfg.rule_min)
            .collect();
        let n = test_rows.len() as f64;
        // Who exactly is flagged at the fairness budget (ties by id).
        let mut order: Vec<usize> = (0..test_rows.len()).collect();
        order.sort_by(|&a, &b| {
            scores[b]
                .total_cmp(&scores[a])
                .then(t.person[test_rows[a]].cmp(&t.person[test_rows[b]]))
        });
        let k = (fairness_budget * n).round() as usize;
        let mut flagged = vec![false; test_rows.len()];
        for &o in order.iter().take(k) {
            flagged[o] = true;
        }
        for (j, &i) in test_rows.iter().enumerate() {
            audited.push((
                i,
                crate::fairness::Case {
                    flagged: flagged[j],
                    outcome: Some(y[j] > 0.5),
                },
            ));
        }
        let rows = cfg
            .budgets
            .iter()
            .map(|&b| {
                let k = (b * n).round();
                let each: Vec<AtBudget> = repeats
                    .iter()
                    .map(|s| metrics::at_count(s, &y, k))
                    .collect();
                let r = each.len() as f64;
                let range = |f: fn(&AtBudget) -> f64| {
                    each.iter()
                        .map(f)
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
                            (a.0.min(v), a.1.max(v))
                        })
                };
                Row {
                    budget: b,
                    model: Metric {
                        flagged: each.iter().map(|a| a.flagged).sum::<f64>() / r,
                        precision: each.iter().map(|a| a.precision).sum::<f64>() / r,
                        recall: each.iter().map(|a| a.recall).sum::<f64>() / r,
                    },
                    model_recall_range: range(|a| a.recall),
                    model_precision_range: range(|a| a.precision),
                    threshold: metrics::rule_at_count(&qualifies, &y, k).into(),
                    recent: metrics::at_count(&rec, &y, k).into(),
                    anomaly: metrics::at_count(&anomaly, &y, k).into(),
                }
            })
            .collect();
        out.push(CutResult {
            cut: test.to_string(),
            people: test_rows.len(),
            positives: y.iter().filter(|v| **v > 0.5).count(),
            base_rate: y.iter().filter(|v| **v > 0.5).count() as f64 / n.max(1.0),
            trained_on,
            ridge,
            rule_flags: qualifies.iter().filter(|q| **q).count(),
            matched: {
                let k = qualifies.iter().filter(|q| **q).count() as f64;
                (
                    metrics::at_count(&scores, &y, k).into(),
                    metrics::rule_at_count(&qualifies, &y, k).into(),
                )
            },
            rows,
            auc: (metrics::auc(&scores, &y), metrics::auc(&rec, &y)),
            anomaly_auc: metrics::auc(&anomaly, &y),
            average_precision: (
                metrics::average_precision(&scores, &y),
                metrics::average_precision(&rec, &y),
            ),
        });
    }
    let cases: Vec<crate::fairness::Case> = audited.iter().map(|(_, c)| *c).collect();
    let persons: Vec<&str> = audited.iter().map(|(i, _)| t.person[*i].as_str()).collect();
    let fairness = groups.audit(&persons, &cases);
    Ok(EvalReport {
        outcome: cfg.outcome,
        learner: cfg.learner,
        repeats: cfg.repeats.max(1),
        fairness_budget,
        fairness,
        horizon_months: cfg.horizon_months,
        rule: format!(
            "at least {} complaints in the last {} months",
            cfg.rule_min, cfg.rule_months
        ),
        features: t.features.iter().map(|f| f.name.clone()).collect(),
        cuts: out,
    })
}

/// The evaluation's feature table and model for a single test cut-off, for
/// callers that want to inspect them (tests, explanations).
pub async fn train_for(
    ctx: &SessionContext,
    cuts: &[Date],
    test: Date,
    horizon_months: u32,
    categories: &[String],
    budget: f32,
) -> Result<(FeatureTable, RiskModel, Vec<usize>)> {
    let t = features::compute(ctx, cuts, categories, &[]).await?;
    let known = labels::sustained_within(ctx, &t, horizon_months, Some(test)).await?;
    let first = t.cut.iter().min().copied().unwrap_or(test);
    let train_rows = training_rows(&t, first, horizon_months, test);
    let y: Vec<f64> = train_rows.iter().map(|&i| known[i]).collect();
    let model = RiskModel::train(&t, &train_rows, &y, budget, crate::model::ENSEMBLE)?;
    let test_rows = (0..t.len()).filter(|&i| t.cut[i] == test).collect();
    Ok((t, model, test_rows))
}
