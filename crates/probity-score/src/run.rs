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
    /// Complaint category groups counted as their own features.
    pub categories: usize,
    /// The model's complexity budget.
    pub model_budget: f32,
    /// Contributions listed per person.
    pub top: usize,
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
    /// The model's log-odds (= baseline + every contribution).
    pub log_odds: f64,
    /// Share of people scored lower (0..1).
    pub percentile: f64,
    /// The log-odds of someone with average features.
    pub baseline: f64,
    /// The largest contributions, by size.
    pub top: Vec<Contribution>,
    /// One sentence a supervisor can check.
    pub summary: String,
}

/// The result of a run.
pub struct RunOutput {
    /// The model, trained at `as_of`.
    pub model: RiskModel,
    /// Scores, highest first.
    pub scores: Vec<Score>,
    /// Training cut-offs.
    pub training_cuts: Vec<Date>,
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Trains and scores.
pub async fn run(ctx: &SessionContext, cfg: &RunConfig) -> Result<RunOutput> {
    let mut training_cuts = Vec::new();
    let mut d = cfg.train_from;
    loop {
        let end = add_months(d, i64::from(cfg.horizon_months + cfg.settle_months))?;
        if end > cfg.as_of {
            break;
        }
        training_cuts.push(d);
        d = add_months(d, i64::from(cfg.step_months.max(1)))?;
    }
    if training_cuts.is_empty() {
        return Err(Error::Input(format!(
            "no training cut-off between {} and {} leaves {} + {} months of known outcomes; \
             start training earlier (--train-from) or shorten --settle-months",
            cfg.train_from, cfg.as_of, cfg.horizon_months, cfg.settle_months
        )));
    }
    let mut cuts = training_cuts.clone();
    cuts.push(cfg.as_of);
    let cats = features::top_categories(ctx, cfg.as_of, cfg.categories).await?;
    let t = features::compute(ctx, &cuts, &cats).await?;
    let known = labels::sustained_within(ctx, &t, cfg.horizon_months, Some(cfg.as_of)).await?;
    let train_rows: Vec<usize> = (0..t.len()).filter(|&i| t.cut[i] < cfg.as_of).collect();
    let y: Vec<f64> = train_rows.iter().map(|&i| known[i]).collect();
    let model = RiskModel::train(&t, &train_rows, &y, cfg.model_budget)?;
    let rows: Vec<usize> = (0..t.len()).filter(|&i| t.cut[i] == cfg.as_of).collect();
    if rows.is_empty() {
        return Err(Error::Input(format!("nobody is active on {}", cfg.as_of)));
    }
    let log_odds = model.score(&t, &rows)?;
    let contribs = model.contributions(&t, &rows)?;
    let mut sorted = log_odds.clone();
    sorted.sort_by(f64::total_cmp);
    let n = rows.len() as f64;
    let mut scores: Vec<Score> = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let c = &contribs[k];
            let nf = t.features.len();
            let mut order: Vec<usize> = (0..nf).collect();
            order.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()));
            let top: Vec<Contribution> = order
                .into_iter()
                .take(cfg.top)
                .filter(|&j| c[j] != 0.0)
                .map(|j| Contribution {
                    feature: t.features[j].name.clone(),
                    words: t.features[j].words.clone(),
                    value: t.row(i)[j],
                    contribution: c[j],
                })
                .collect();
            let below = sorted.partition_point(|v| *v < log_odds[k]) as f64;
            let p = probability(log_odds[k]);
            let top_share = ((n - below) / n * 100.0).max(0.1);
            let reasons: Vec<String> = top
                .iter()
                .take(3)
                .map(|x| {
                    format!(
                        "{} {} ({} the risk)",
                        x.words,
                        fmt_value(x.value),
                        if x.contribution > 0.0 {
                            "raises"
                        } else {
                            "lowers"
                        }
                    )
                })
                .collect();
            Score {
                person_id: t.person[i].clone(),
                as_of: cfg.as_of.to_string(),
                probability: p,
                log_odds: log_odds[k],
                percentile: below / n,
                baseline: c[nf],
                summary: format!(
                    "In the top {top_share:.1}% of the people scored for the risk of a \
                     sustained complaint within {} months; mainly: {}.",
                    cfg.horizon_months,
                    reasons.join("; ")
                ),
                top,
            }
        })
        .collect();
    scores.sort_by(|a, b| {
        b.log_odds
            .total_cmp(&a.log_odds)
            .then(a.person_id.cmp(&b.person_id))
    });
    Ok(RunOutput {
        model,
        scores,
        training_cuts,
    })
}
