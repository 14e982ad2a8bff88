//! A scoring run: train on the history known at a date, score everyone
//! active at it, explain each score by its largest contributions.

use datafusion::prelude::SessionContext;
use jiff::civil::Date;
use serde::Serialize;

use crate::eval::add_months;
use crate::features;
use crate::labels;
use crate::model::{RiskModel, probability};
use crate::{Error, Result};

/// What to score.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The date scores are for; only data known by then is used.
    pub as_of: Date,
    /// Earliest training cut-off.
    pub train_from: Date,
    /// Months between training cut-offs.
    pub step_months: u32,
    /// Outcome window the model predicts, in months.
    pub horizon_months: u32,
    /// Months a training window must have been closed before `as_of`.
    pub settle_months: u32,
    /// The last date the store holds outcomes for (the last complaint
    /// received, `history::Outcomes::to`): a training window must also have
    /// closed, with its settling time, by the day after it, or its outcomes
    /// would be undercounted. `None`: `as_of` alone decides.
    pub outcomes_to: Option<Date>,
    /// Complaint category groups counted as their own features.
    pub categories: usize,
    /// The model's complexity budget.
    pub model_budget: f32,
    /// Contributions listed per person.
    pub top: usize,
    /// Rank indicators as features (see `EvalConfig::rank_feature`).
    pub rank_feature: bool,
    /// Boosters averaged in the model (see `model::ENSEMBLE`).
    pub ensemble: usize,
    /// The kind of model.
    pub learner: crate::model::Learner,
    /// Also score the first day of each of this many months before
    /// `as_of` (a trajectory per person); 0 scores `as_of` only.
    pub history_months: u32,
}

/// Seconds spent in each phase of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Features of every cut-off (one DataFusion plan) and labels.
    pub features: f64,
    /// Training (0 with a saved model).
    pub training: f64,
    /// Scores, contributions and sentences.
    pub scoring: f64,
}

/// One feature's part in a score.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    /// Feature name.
    pub feature: String,
    /// What it means.
    pub words: String,
    /// The person's value.
    pub value: f64,
    /// Its signed contribution to the log-odds.
    pub contribution: f64,
}

/// One person's score.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    /// The person (pseudonym).
    pub person_id: String,
    /// The date.
    pub as_of: String,
    /// The model's probability of the outcome within the horizon. Not
    /// calibrated: read it as a ranking, and the evaluation's precision in
    /// the person's band as the chance (`probity score eval`).
    pub probability: f64,
    /// The model's log-odds (= baseline + every contribution). For an
    /// anomaly run: the anomaly score (as `probability`).
    pub log_odds: f64,
    /// Share of people scored lower (0..1).
    pub percentile: f64,
    /// The log-odds of someone with average features.
    pub baseline: f64,
    /// The largest contributions, by size.
    pub top: Vec<Contribution>,
    /// One sentence a supervisor can check.
    pub summary: String,
    /// `risk_model` (supervised) or `anomaly` (isolation forest).
    pub method: &'static str,
}

/// The result of a run.
pub struct RunOutput {
    /// The model, trained at `as_of`.
    pub model: std::sync::Arc<RiskModel>,
    /// The scores of the date scored (`as_of`), highest first, explained:
    /// what the fairness audit and the summary read.
    pub scores: Vec<Score>,
    /// Every person-date scored (with `history_months`, a million at a
    /// Met-sized force), explained a chunk at a time as they are written.
    pub scored: Scored,
    /// Training cut-offs (none with a saved model).
    pub training_cuts: Vec<Date>,
    /// Where the time went.
    pub timings: Timings,
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Trains (or takes `saved`) and scores.
pub async fn run(
    ctx: &SessionContext,
    cfg: &RunConfig,
    saved: Option<RiskModel>,
) -> Result<RunOutput> {
    let clock = std::time::Instant::now();
    let mut timings = Timings::default();
    let mut training_cuts = Vec::new();
    // Windows close by `as_of`, and by the end of the outcomes on record.
    let (limit, which) = match cfg.outcomes_to {
        Some(to) if to < cfg.as_of => (
            to.tomorrow().map_err(|e| Error::Input(e.to_string()))?,
            format!("the day after the last complaint on record ({to})"),
        ),
        _ => (cfg.as_of, "the date scored".to_owned()),
    };
    let mut d = cfg.train_from;
    while saved.is_none() {
        let end = add_months(d, i64::from(cfg.horizon_months + cfg.settle_months))?;
        if end > limit {
            break;
        }
        training_cuts.push(d);
        d = add_months(d, i64::from(cfg.step_months.max(1)))?;
    }
    if training_cuts.is_empty() && saved.is_none() {
        return Err(Error::Input(format!(
            "no training cut-off from {} (every {} months) has its {}-month outcome window and \
             {} months to decide it closed by {limit}, {which}: the complaint history is too \
             short for the risk model at this date. Start training earlier (--train-from) if \
             the store's complaints go back further, shorten --horizon or --settle-months, or \
             use --method anomaly, which needs no outcomes",
            cfg.train_from,
            cfg.step_months.max(1),
            cfg.horizon_months,
            cfg.settle_months
        )));
    }
    let mut scored = vec![cfg.as_of];
    for m in 1..=i64::from(cfg.history_months) {
        let d = add_months(cfg.as_of, -m)?;
        scored.push(d.first_of_month());
    }
    scored.sort();
    scored.dedup();
    let mut cuts = training_cuts.clone();
    cuts.extend(scored.iter().copied());
    cuts.sort();
    cuts.dedup();
    let (cats, ranks) = match &saved {
        Some(m) => (m.categories.clone(), m.ranks.clone()),
        None => (
            features::top_categories(ctx, cfg.as_of, cfg.categories).await?,
            if cfg.rank_feature {
                features::top_ranks(ctx, 8).await?
            } else {
                Vec::new()
            },
        ),
    };
    let t = features::compute(ctx, &cuts, &cats, &ranks).await?;
    let model = match saved {
        Some(m) => {
            timings.features = clock.elapsed().as_secs_f64();
            m
        }
        None => {
            let known =
                labels::sustained_within(ctx, &t, cfg.horizon_months, Some(cfg.as_of)).await?;
            timings.features = clock.elapsed().as_secs_f64();
            let train_rows: Vec<usize> = (0..t.len())
                .filter(|&i| training_cuts.contains(&t.cut[i]))
                .collect();
            let y: Vec<f64> = train_rows.iter().map(|&i| known[i]).collect();
            let how = crate::model::Training {
                learner: cfg.learner,
                horizon_months: cfg.horizon_months,
                budget: cfg.model_budget,
                ensemble: cfg.ensemble,
                seed: 0,
            };
            let mut m = RiskModel::train_with(&how, &t, &train_rows, &y)?;
            m.categories = cats;
            m.ranks = ranks;
            timings.training = clock.elapsed().as_secs_f64() - timings.features;
            m
        }
    };
    let scoring_started = std::time::Instant::now();
    let rows: Vec<usize> = (0..t.len())
        .filter(|&i| scored.binary_search(&t.cut[i]).is_ok())
        .collect();
    if rows.is_empty() {
        return Err(Error::Input(format!("nobody is active on {}", cfg.as_of)));
    }
    let log_odds = model.score(&t, &rows)?;
    let model = std::sync::Arc::new(model);
    let scored = Scored::new(
        t,
        rows,
        log_odds,
        cfg.top,
        Explainer::Risk {
            model: std::sync::Arc::clone(&model),
            horizon: cfg.horizon_months,
        },
    );
    let scores = scored.explain(0..scored.first_date_rows())?;
    timings.scoring = scoring_started.elapsed().as_secs_f64();
    Ok(RunOutput {
        model,
        scores,
        scored,
        training_cuts,
        timings,
    })
}

/// How a run's scores are explained.
enum Explainer {
    /// The risk model: path contributions, probabilities, its horizon.
    Risk {
        model: std::sync::Arc<RiskModel>,
        horizon: u32,
    },
    /// The isolation forest: occlusion explanations.
    Anomaly {
        forest: crate::anomaly::IsolationForest,
    },
}

/// Every person-date of a run, scored: the features, the scores, and each
/// date's sorted scores for percentiles. Explanations (contributions and
/// sentences, most of a run's memory when held for a million rows) are
/// made on demand for a range of rows, in output order: the latest date
/// first, then the highest score first.
pub struct Scored {
    t: features::FeatureTable,
    /// Feature-table rows in output order.
    rows: Vec<usize>,
    /// Their scores.
    values: Vec<f64>,
    by_cut: std::collections::BTreeMap<Date, Vec<f64>>,
    top: usize,
    explainer: Explainer,
}

/// Rows explained at a time when writing: bounds the memory of
/// contributions and sentences.
const EXPLAIN_CHUNK: usize = 64 * 1024;

impl Scored {
    fn new(
        t: features::FeatureTable,
        rows: Vec<usize>,
        values: Vec<f64>,
        top: usize,
        explainer: Explainer,
    ) -> Scored {
        let mut by_cut: std::collections::BTreeMap<Date, Vec<f64>> =
            std::collections::BTreeMap::new();
        for (k, &i) in rows.iter().enumerate() {
            by_cut.entry(t.cut[i]).or_default().push(values[k]);
        }
        for v in by_cut.values_mut() {
            v.sort_by(f64::total_cmp);
        }
        // Latest date first, then highest score first.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| {
            let (ia, ib) = (rows[a], rows[b]);
            t.cut[ib]
                .cmp(&t.cut[ia])
                .then(values[b].total_cmp(&values[a]))
                .then(t.person[ia].cmp(&t.person[ib]))
        });
        Scored {
            rows: order.iter().map(|&k| rows[k]).collect(),
            values: order.iter().map(|&k| values[k]).collect(),
            t,
            by_cut,
            top,
            explainer,
        }
    }

    /// Person-dates scored.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing was scored.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many of the first rows (in output order) belong to the latest
    /// date.
    pub fn first_date_rows(&self) -> usize {
        let Some(&first) = self.rows.first() else {
            return 0;
        };
        let latest = self.t.cut[first];
        self.rows
            .iter()
            .take_while(|&&i| self.t.cut[i] == latest)
            .count()
    }

    /// The scores of rows `range` (in output order), explained.
    pub fn explain(&self, range: std::ops::Range<usize>) -> Result<Vec<Score>> {
        let rows = &self.rows[range.clone()];
        let values = &self.values[range];
        let nf = self.t.features.len();
        let (contribs, method) = match &self.explainer {
            Explainer::Risk { model, .. } => (model.contributions(&self.t, rows)?, "risk_model"),
            Explainer::Anomaly { forest } => (forest.explain(&self.t, rows)?, "anomaly"),
        };
        let prob = |k: usize| match &self.explainer {
            Explainer::Risk { .. } => (probability(values[k]), contribs[k][nf]),
            Explainer::Anomaly { .. } => (values[k], 0.5),
        };
        let sentence = |share: f64, reasons: String| match &self.explainer {
            Explainer::Risk { horizon, .. } => format!(
                "In the top {share:.1}% of the people scored for the risk of a sustained \
                 complaint within {horizon} months; mainly: {reasons}."
            ),
            Explainer::Anomaly { .. } => format!(
                "In the top {share:.1}% of the people scored for how unusual their record is \
                 (isolation forest, no outcomes used); mainly: {reasons}."
            ),
        };
        Ok(explain(
            &self.t,
            &self.by_cut,
            rows,
            values,
            &contribs,
            self.top,
            &prob,
            &sentence,
            method,
        ))
    }

    /// Every score, explained (for small runs and tests; a large run is
    /// written with [`Scored::write_parquet`] instead).
    pub fn all(&self) -> Result<Vec<Score>> {
        self.explain(0..self.len())
    }

    /// Writes every score to `path` as Parquet, explaining
    /// [`EXPLAIN_CHUNK`] rows at a time. Returns the rows written.
    pub fn write_parquet(&self, path: &std::path::Path) -> Result<u64> {
        let mut w = crate::output::ScoresWriter::create(path)?;
        let mut start = 0;
        while start < self.len() {
            let end = (start + EXPLAIN_CHUNK).min(self.len());
            w.write(&self.explain(start..end)?)?;
            start = end;
        }
        w.finish()
    }
}

/// Scores and sentences for `rows`: `values` ranks them (percentiles among
/// the people of the same date), `contribs` explains them (largest first),
/// `prob` gives a row's probability and baseline.
/// `by_cut` holds every date's sorted scores (the percentiles are among all
/// the people of the date, not only `rows`). The scores keep `rows`' order.
#[allow(clippy::too_many_arguments)]
fn explain(
    t: &features::FeatureTable,
    by_cut: &std::collections::BTreeMap<Date, Vec<f64>>,
    rows: &[usize],
    values: &[f64],
    contribs: &[Vec<f64>],
    top_n: usize,
    prob: &(dyn Fn(usize) -> (f64, f64) + Sync),
    sentence: &(dyn Fn(f64, String) -> String + Sync),
    method: &'static str,
) -> Vec<Score> {
    let nf = t.features.len();
    // Sentences for a million person-dates take most of a run: in
    // parallel, in order.
    use rayon::prelude::*;
    rows.par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let c = &contribs[k];
            let mut order: Vec<usize> = (0..nf).collect();
            order.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()));
            let top: Vec<Contribution> = order
                .into_iter()
                .take(top_n)
                .filter(|&j| c[j] != 0.0)
                .map(|j| Contribution {
                    feature: t.features[j].name.clone(),
                    words: t.features[j].words.clone(),
                    value: t.row(i)[j],
                    contribution: c[j],
                })
                .collect();
            let sorted = &by_cut[&t.cut[i]];
            let n = sorted.len() as f64;
            let below = sorted.partition_point(|v| *v < values[k]) as f64;
            let (p, baseline) = prob(k);
            let top_share = ((n - below) / n * 100.0).max(0.1);
            let reasons: Vec<String> = top
                .iter()
                .take(3)
                .map(|x| {
                    format!(
                        "{} {} ({} the {})",
                        x.words,
                        fmt_value(x.value),
                        if x.contribution > 0.0 {
                            "raises"
                        } else {
                            "lowers"
                        },
                        if method == "anomaly" { "score" } else { "risk" }
                    )
                })
                .collect();
            Score {
                person_id: t.person[i].clone(),
                as_of: t.cut[i].to_string(),
                probability: p,
                log_odds: values[k],
                percentile: below / n,
                baseline,
                summary: sentence(top_share, reasons.join("; ")),
                top,
                method,
            }
        })
        .collect()
}

/// The result of an anomaly run.
pub struct AnomalyOutput {
    /// The forest, grown on the people active at `as_of`.
    pub forest: crate::anomaly::IsolationForest,
    /// The scores of `as_of`, highest first, explained.
    pub scores: Vec<Score>,
    /// Every person-date scored (see [`RunOutput::scored`]).
    pub scored: Scored,
    /// Where the time went.
    pub timings: Timings,
}

/// The unsupervised run, for a force without outcome history: grow an
/// isolation forest on the people active at `as_of` (their features as
/// known then; no outcome is read) and score them, and the earlier dates
/// of `history_months`, with occlusion explanations.
pub async fn run_anomaly(ctx: &SessionContext, cfg: &RunConfig) -> Result<AnomalyOutput> {
    let clock = std::time::Instant::now();
    let mut timings = Timings::default();
    let mut scored = vec![cfg.as_of];
    for m in 1..=i64::from(cfg.history_months) {
        scored.push(add_months(cfg.as_of, -m)?.first_of_month());
    }
    scored.sort();
    scored.dedup();
    let cats = features::top_categories(ctx, cfg.as_of, cfg.categories).await?;
    let ranks = if cfg.rank_feature {
        features::top_ranks(ctx, 8).await?
    } else {
        Vec::new()
    };
    let t = features::compute(ctx, &scored, &cats, &ranks).await?;
    timings.features = clock.elapsed().as_secs_f64();
    let fit_rows: Vec<usize> = (0..t.len()).filter(|&i| t.cut[i] == cfg.as_of).collect();
    if fit_rows.is_empty() {
        return Err(Error::Input(format!("nobody is active on {}", cfg.as_of)));
    }
    let forest = crate::anomaly::IsolationForest::fit(
        &t,
        &fit_rows,
        crate::anomaly::TREES,
        crate::anomaly::SAMPLE,
        7,
    )?;
    timings.training = clock.elapsed().as_secs_f64() - timings.features;
    let started = std::time::Instant::now();
    let rows: Vec<usize> = (0..t.len()).collect();
    let values = forest.score(&t, &rows)?;
    let scored = Scored::new(
        t,
        rows,
        values,
        cfg.top,
        Explainer::Anomaly {
            forest: forest.clone(),
        },
    );
    let scores = scored.explain(0..scored.first_date_rows())?;
    timings.scoring = started.elapsed().as_secs_f64();
    Ok(AnomalyOutput {
        forest,
        scores,
        scored,
        timings,
    })
}
