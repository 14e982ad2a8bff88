//! `probity score`: risk scores and their evaluation.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use jiff::civil::Date;
use probity_score::eval::{self, EvalConfig, EvalReport};
use probity_score::history;

/// Today's date (UTC).
fn today() -> Date {
    let secs = jiff::Timestamp::now().as_second();
    probity_core::time::days_to_date(secs.div_euclid(86_400) as i32)
}

/// Prints a warning, if any, on standard error.
fn warn(w: Option<String>) {
    if let Some(w) = w {
        eprintln!("warning: {w}");
    }
}

/// Which score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Gradient-boosted trees trained on sustained complaints.
    RiskModel,
    /// Isolation forest, no outcomes.
    Anomaly,
}

/// What `probity score` does.
#[derive(Debug, Subcommand)]
pub enum ScoreCommand {
    /// Train the risk model on the history known at --as-of and score
    /// everyone active then; writes scores with their explanations.
    Run {
        /// The store.
        store: PathBuf,
        /// Output directory: scores.parquet, model.json, run.json.
        #[arg(long)]
        out: PathBuf,
        /// The date scores are for (default: the last date of data in the
        /// store); only data known by then is used.
        #[arg(long)]
        as_of: Option<Date>,
        /// Earliest training cut-off (default: the start of the store's
        /// complaint history).
        #[arg(long)]
        train_from: Option<Date>,
        /// Months between training cut-offs.
        #[arg(long, default_value_t = 12)]
        step_months: u32,
        /// Outcome window the model predicts, in months.
        #[arg(long, default_value_t = 24)]
        horizon: u32,
        /// Months a training window must have been closed before --as-of
        /// (default: the time within which 90% of sustained complaints
        /// decided by --as-of were decided, from the data).
        #[arg(long)]
        settle_months: Option<u32>,
        /// Complaint category groups counted as their own features.
        #[arg(long, default_value_t = 8)]
        categories: usize,
        /// The model's complexity budget.
        #[arg(long, default_value_t = 0.5)]
        model_budget: f32,
        /// People listed on the terminal.
        #[arg(long, default_value_t = 10)]
        show: usize,
        /// Also score the first day of each of this many months before
        /// --as-of (a score trajectory per person).
        #[arg(long, default_value_t = 0)]
        history_months: u32,
        /// Score with this saved model (STORE/models/risk-….json) instead of
        /// training one.
        #[arg(long)]
        model: Option<PathBuf>,
        /// `risk-model` (supervised, needs outcome history) or `anomaly`
        /// (isolation forest over the same features, no outcomes: for a
        /// force without a history of decided complaints).
        #[arg(long, value_enum, default_value_t = Method::RiskModel)]
        method: Method,
        /// Rank indicators as features (the store holds current ranks:
        /// at past training cut-offs they may be ranks reached later).
        #[arg(long)]
        rank_feature: bool,
        /// Share of people the fairness audit treats as flagged (the top
        /// scores).
        #[arg(long, default_value_t = 0.05)]
        fairness_budget: f64,
        /// Boosters averaged in the model, each trained on the rows in
        /// another order (one booster's results vary with that order).
        #[arg(long, default_value_t = probity_score::model::ENSEMBLE)]
        ensemble: usize,
        /// The learner: `linear` (a ridge logistic regression on
        /// signed-log, standardised features, its penalty chosen on the
        /// training cut-offs alone; no seed) or `boosted` (the mean of
        /// --ensemble gradient-boosted tree models).
        #[arg(long, value_enum, default_value_t = LearnerArg::Linear)]
        learner: LearnerArg,
    },
    /// Rolling temporal evaluation of the risk model against the threshold
    /// rule and "rank by complaints in the last 24 months": for each test
    /// cut-off, train on earlier cut-offs (outcomes as known then), score the
    /// people active at it, and compare with what happened in the next
    /// --horizon months.
    Eval {
        /// The store.
        store: PathBuf,
        /// First test cut-off (YYYY-MM-DD; with --test-to). Default: the
        /// latest few cut-offs the store's complaint history allows, each
        /// with training cut-offs before it and its outcome window (and
        /// time to decide it) before the last complaint on record.
        #[arg(long, requires = "test_to")]
        test_from: Option<Date>,
        /// Last test cut-off (YYYY-MM-DD; with --test-from).
        #[arg(long, requires = "test_from")]
        test_to: Option<Date>,
        /// Months between test cut-offs (and between training cut-offs).
        #[arg(long, default_value_t = 12)]
        step_months: u32,
        /// Earliest training cut-off (default: the start of the store's
        /// complaint history, on the test cut-offs' grid).
        #[arg(long)]
        train_from: Option<Date>,
        /// Outcome window after a cut-off, in months.
        #[arg(long, default_value_t = 24)]
        horizon: u32,
        /// Months a training row's outcome window must have been closed
        /// before a test cut-off (outcomes decided after the cut-off are
        /// never used). Default: the time within which 90% of the sustained
        /// complaints decided before the first test cut-off were decided.
        #[arg(long)]
        settle_months: Option<u32>,
        /// The threshold rule: at least this many complaints ...
        #[arg(long, default_value_t = 3.0)]
        rule_min: f64,
        /// ... in this many months (1, 3, 6, 12 or 24).
        #[arg(long, default_value_t = 12)]
        rule_months: u32,
        /// Complaint category groups counted as their own features.
        #[arg(long, default_value_t = 8)]
        categories: usize,
        /// The model's complexity budget (higher: more trees).
        #[arg(long, default_value_t = 0.5)]
        model_budget: f32,
        /// Rank indicators as features (see `score run --rank-feature`).
        #[arg(long)]
        rank_feature: bool,
        /// Boosters averaged in each model (see `score run --ensemble`).
        #[arg(long, default_value_t = probity_score::model::ENSEMBLE)]
        ensemble: usize,
        /// The learner: `linear` (a ridge logistic regression on
        /// signed-log, standardised features, its penalty chosen on the
        /// training cut-offs alone; no seed) or `boosted` (the mean of
        /// --ensemble gradient-boosted tree models).
        #[arg(long, value_enum, default_value_t = LearnerArg::Linear)]
        learner: LearnerArg,
        /// The outcome predicted and judged: `sustained` (a complaint
        /// received in the window and sustained) or `any` (any complaint
        /// received in the window).
        #[arg(long, value_enum, default_value_t = OutcomeArg::Sustained)]
        outcome: OutcomeArg,
        /// Models trained per test cut-off, each on the training rows in
        /// another order (as a store with another key would hold them) and,
        /// boosted, with other seeds; the report gives their mean and the
        /// lowest and highest recall.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The learner of `score run` and `score eval` (`--learner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LearnerArg {
    /// A ridge logistic regression.
    Linear,
    /// Gradient-boosted trees.
    Boosted,
}

impl From<LearnerArg> for probity_score::model::Learner {
    fn from(l: LearnerArg) -> Self {
        match l {
            LearnerArg::Linear => probity_score::model::Learner::Linear,
            LearnerArg::Boosted => probity_score::model::Learner::Boosted,
        }
    }
}

/// The outcome of `score eval --outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeArg {
    /// A complaint received in the window that is sustained.
    Sustained,
    /// Any complaint received in the window.
    Any,
}

/// Who runs a scoring command (authorised to run analyses) and under which
/// approval: scoring is profiling and needs its own in `governance.toml`.
fn authorise(
    s: &probity_store::Store,
    who: &crate::auth::Who,
    id: &str,
    action: &str,
) -> Result<(String, probity_policy::Permit)> {
    let user = who.user(s)?;
    Ok(probity_govern::authorise_scoring(
        s,
        user.as_deref(),
        id,
        action,
    )?)
}

/// Runs a `probity score` command.
pub fn run(cmd: ScoreCommand, who: &crate::auth::Who) -> Result<()> {
    match cmd {
        ScoreCommand::Run {
            store,
            out,
            as_of,
            train_from,
            step_months,
            horizon,
            settle_months,
            categories,
            model_budget,
            show,
            history_months,
            model,
            method,
            rank_feature,
            fairness_budget,
            ensemble,
            learner,
        } => {
            let s = crate::open_store(&store)?;
            if method == Method::Anomaly && model.is_some() {
                bail!(
                    "--model is a saved risk model; the anomaly score grows its forest at --as-of"
                );
            }
            let id = match method {
                Method::RiskModel => "risk_model",
                Method::Anomaly => "anomaly_score",
            };
            let (actor, permit) = authorise(&s, who, id, "score")?;
            let ctx = session(&s)?;
            let hist = crate::runtime()?.block_on(history::load(&ctx))?;
            let as_of = match as_of {
                Some(d) => {
                    warn(history::as_of_warning(&hist, d));
                    d
                }
                None => {
                    let (d, why) = history::default_as_of(&hist, today())?;
                    println!("{why}");
                    d
                }
            };
            // Training starts where the complaint history does (only a
            // model trained here needs it).
            let train_from = match train_from {
                Some(d) => d,
                None if method == Method::RiskModel && model.is_none() => {
                    let d = history::default_train_from(&hist)?;
                    println!(
                        "training cut-offs from {d}, the start of the store's complaint history \
                         (pass --train-from to choose)"
                    );
                    d
                }
                None => as_of,
            };
            let mut cfg = probity_score::run::RunConfig {
                as_of,
                train_from,
                step_months,
                horizon_months: horizon,
                settle_months: 0,
                outcomes_to: hist.outcomes.map(|o| o.to),
                categories,
                model_budget,
                top: 5,
                history_months,
                rank_feature,
                ensemble,
                learner: learner.into(),
            };
            cfg.settle_months = settle(&ctx, settle_months, as_of, false)?;
            let started = std::time::Instant::now();
            if method == Method::Anomaly {
                return anomaly_run(
                    &s,
                    (&actor, &permit),
                    &ctx,
                    &cfg,
                    &out,
                    show,
                    fairness_budget,
                    started,
                );
            }
            let saved = match &model {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read model {}", path.display()))?;
                    Some(
                        probity_score::model::RiskModel::from_json(&text)
                            .with_context(|| format!("model {}", path.display()))?,
                    )
                }
            };
            let r = crate::runtime()?.block_on(probity_score::run::run(&ctx, &cfg, saved))?;
            let audit = crate::runtime()?.block_on(probity_govern::analysis::gate_scores(
                &s,
                &actor,
                &ctx,
                "risk_model",
                probity_score::model::MODEL_VERSION,
                &r.scores,
                fairness_budget,
            ))?;
            crate::fairness::print_summary(std::slice::from_ref(&audit), &Default::default());
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let model_json = r.model.to_json()?;
            let model_hash = blake3::hash(model_json.as_bytes()).to_hex().to_string();
            // A trained model is kept in the store, named by its hash; a
            // given one is already saved.
            let saved = match &model {
                Some(given) => given.clone(),
                None => {
                    let models = store.join("models");
                    std::fs::create_dir_all(&models)?;
                    let path = models.join(format!("risk-{}.json", &model_hash[..16]));
                    std::fs::write(&path, &model_json)?;
                    path
                }
            };
            std::fs::write(out.join("model.json"), &model_json)?;
            // Every person-date, explained a chunk at a time as it is written.
            let writing = std::time::Instant::now();
            r.scored.write_parquet(&out.join("scores.parquet"))?;
            let mut timings = r.timings.clone();
            timings.scoring += writing.elapsed().as_secs_f64();
            let secs = started.elapsed().as_secs_f64();
            let meta = serde_json::json!({
                "method": "risk_model",
                "purpose": permit.purpose,
                "as_of": as_of.to_string(),
                "horizon_months": horizon,
                "settle_months": cfg.settle_months,
                "training_cuts": r.training_cuts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "trained_on": r.model.trained_on,
                "model": saved.file_name().map(|f| f.to_string_lossy().into_owned()),
                "model_blake3": model_hash,
                "features": r.model.features.iter().map(|f| &f.name).collect::<Vec<_>>(),
                "people_scored": r.scored.len(),
                "seconds": secs,
                "timings": timings,
                "model_given": model.as_ref().map(|p| p.display().to_string()),
            });
            std::fs::write(out.join("run.json"), serde_json::to_vec_pretty(&meta)?)?;
            s.audit()?
                .append(probity_audit::Record::new(&actor, "score", "").details(meta.clone()))?;
            println!(
                "scored {} person-dates as of {as_of} in {secs:.1} s (model trained on {} rows, {} with the outcome; saved as {})",
                r.scored.len(),
                r.model.trained_on.0,
                r.model.trained_on.1,
                saved.display()
            );
            print_scores(&r.scores, show, &timings, "training", &out);
            warn(history::positives_warning(r.model.trained_on));
            Ok(())
        }
        cmd @ ScoreCommand::Eval { .. } => run_eval(cmd, who),
    }
}

/// `score run --method anomaly`.
#[allow(clippy::too_many_arguments)]
fn anomaly_run(
    s: &probity_store::Store,
    (actor, permit): (&str, &probity_policy::Permit),
    ctx: &datafusion::prelude::SessionContext,
    cfg: &probity_score::run::RunConfig,
    out: &std::path::Path,
    show: usize,
    fairness_budget: f64,
    started: std::time::Instant,
) -> Result<()> {
    let r = crate::runtime()?.block_on(probity_score::run::run_anomaly(ctx, cfg))?;
    let audit = crate::runtime()?.block_on(probity_govern::analysis::gate_scores(
        s,
        actor,
        ctx,
        "anomaly",
        1,
        &r.scores,
        fairness_budget,
    ))?;
    crate::fairness::print_summary(std::slice::from_ref(&audit), &Default::default());
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // Every person-date, explained a chunk at a time as it is written.
    let writing = std::time::Instant::now();
    r.scored.write_parquet(&out.join("scores.parquet"))?;
    let mut timings = r.timings.clone();
    timings.scoring += writing.elapsed().as_secs_f64();
    let secs = started.elapsed().as_secs_f64();
    let meta = serde_json::json!({
        "method": "anomaly",
        "purpose": permit.purpose,
        "as_of": cfg.as_of.to_string(),
        "trees": probity_score::anomaly::TREES,
        "sample": r.forest.sample,
        "features": r.forest.features.iter().map(|f| &f.name).collect::<Vec<_>>(),
        "people_scored": r.scored.len(),
        "seconds": secs,
        "timings": timings,
    });
    std::fs::write(out.join("run.json"), serde_json::to_vec_pretty(&meta)?)?;
    s.audit()?
        .append(probity_audit::Record::new(actor, "score", "").details(meta))?;
    println!(
        "scored {} person-dates as of {} in {secs:.1} s with an isolation forest ({} trees of {} people; no outcomes used)",
        r.scored.len(),
        cfg.as_of,
        probity_score::anomaly::TREES,
        r.forest.sample
    );
    print_scores(&r.scores, show, &timings, "forest", out);
    Ok(())
}

/// The store's session with the findings register as a table (findings by
/// scenario become features).
fn session(s: &probity_store::Store) -> Result<datafusion::prelude::SessionContext> {
    let ctx = s.session_context()?;
    probity_score::features::register_findings(
        &ctx,
        &s.root().join("findings").join("register.jsonl"),
    )?;
    Ok(ctx)
}

/// `--settle-months`, or the data's own: the months within which 90% of
/// the sustained complaints decided before `before` were decided.
fn settle(
    ctx: &datafusion::prelude::SessionContext,
    given: Option<u32>,
    before: Date,
    json: bool,
) -> Result<u32> {
    if let Some(m) = given {
        return Ok(m);
    }
    let m = crate::runtime()?.block_on(probity_score::labels::settle_months(
        ctx,
        before,
        history::SETTLE_SHARE,
    ))?;
    note(
        json,
        &format!(
            "settle months: {m} (90% of the sustained complaints decided before {before} were \
             decided within that time; --settle-months sets it)"
        ),
    );
    Ok(m)
}

/// A line about what was chosen: on standard output, or standard error
/// when standard output is JSON.
fn note(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

fn print_scores(
    scores: &[probity_score::run::Score],
    show: usize,
    t: &probity_score::run::Timings,
    fit: &str,
    out: &std::path::Path,
) {
    for sc in scores.iter().take(show) {
        println!("{}  {}", sc.person_id, sc.summary);
    }
    println!(
        "time: features {:.1} s, {fit} {:.1} s, scoring and explanations {:.1} s",
        t.features, t.training, t.scoring
    );
    println!(
        "scores and explanations: {}",
        out.join("scores.parquet").display()
    );
}

fn run_eval(cmd: ScoreCommand, who: &crate::auth::Who) -> Result<()> {
    match cmd {
        ScoreCommand::Run { .. } => unreachable!("only Eval comes here"),
        ScoreCommand::Eval {
            store,
            test_from,
            test_to,
            step_months,
            train_from,
            horizon,
            settle_months,
            rule_min,
            rule_months,
            categories,
            model_budget,
            rank_feature,
            ensemble,
            outcome,
            repeats,
            learner,
            json,
        } => {
            if step_months == 0 {
                bail!("--step-months must be at least 1");
            }
            let s = crate::open_store(&store)?;
            let (actor, permit) = authorise(&s, who, "risk_model", "score.eval")?;
            let ctx = session(&s)?;
            let rt = crate::runtime()?;
            let hist = rt.block_on(history::load(&ctx))?;
            let (test_cuts, grid_from) = match (test_from, test_to) {
                (Some(test_from), Some(test_to)) => {
                    if test_to < test_from {
                        bail!("--test-to {test_to} is before --test-from {test_from}");
                    }
                    let mut test_cuts = Vec::new();
                    let mut d = test_from;
                    while d <= test_to {
                        test_cuts.push(d);
                        d = eval::add_months(d, i64::from(step_months))?;
                    }
                    warn(history::late_tests_warning(&hist, &test_cuts, horizon));
                    let from = match train_from {
                        Some(d) => d,
                        None => {
                            let d = history::train_from_for(&hist, test_from, step_months)?;
                            note(
                                json,
                                &format!(
                                    "training cut-offs from {d}, the first on the test \
                                     cut-offs' grid inside the store's complaint history \
                                     (pass --train-from to choose)"
                                ),
                            );
                            d
                        }
                    };
                    (test_cuts, from)
                }
                _ => {
                    let picked = rt.block_on(history::eval_defaults(
                        &ctx,
                        &hist,
                        horizon,
                        step_months,
                        settle_months,
                    ))?;
                    note(json, &picked.why);
                    (picked.tests, train_from.unwrap_or(picked.train_from))
                }
            };
            let first_test = test_cuts[0];
            let mut cfg = EvalConfig {
                test_cuts,
                first_train: grid_from,
                step_months,
                horizon_months: horizon,
                settle_months: 0,
                budgets: vec![0.01, 0.02, 0.05, 0.10],
                rule_min,
                rule_months,
                categories,
                model_budget,
                rank_feature,
                ensemble,
                outcome: match outcome {
                    OutcomeArg::Sustained => probity_score::labels::Outcome::Sustained,
                    OutcomeArg::Any => probity_score::labels::Outcome::AnyComplaint,
                },
                repeats,
                learner: learner.into(),
            };
            // Whether someone had a complaint is known when it is received:
            // only a sustained finding needs time to be decided.
            cfg.settle_months = match cfg.outcome {
                probity_score::labels::Outcome::AnyComplaint => settle_months.unwrap_or(0),
                probity_score::labels::Outcome::Sustained => {
                    settle(&ctx, settle_months, first_test, json)?
                }
            };
            let started = std::time::Instant::now();
            let report = rt.block_on(eval::evaluate(&ctx, &cfg))?;
            let audit = report.fairness_audit(jiff::Timestamp::now().to_string());
            probity_govern::fairness::record(
                &s,
                &actor,
                std::slice::from_ref(&audit),
                &Default::default(),
            )?;
            // The evaluation reads every person's complaint history: it goes
            // on the audit log like a scoring run, with what it concluded.
            let disparities: usize = report
                .fairness
                .iter()
                .flat_map(|a| &a.groups)
                .filter(|g| !g.disparities.is_empty())
                .count();
            s.audit()?.append(
                probity_audit::Record::new(&actor, "score.eval", "").details(serde_json::json!({
                    "method": "risk_model",
                    "purpose": permit.purpose,
                    "test_cuts": cfg.test_cuts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "train_from": cfg.first_train.to_string(),
                    "horizon_months": cfg.horizon_months,
                    "settle_months": cfg.settle_months,
                    "rule": report.rule,
                    "model_budget": cfg.model_budget,
                    "outcome": cfg.outcome,
                    "learner": cfg.learner,
                    "repeats": cfg.repeats,
                    "people_per_cut": report.cuts.iter().map(|c| c.people).collect::<Vec<_>>(),
                    "groups_with_disparities": disparities,
                })),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_eval(&report);
                println!("evaluated in {:.1} s", started.elapsed().as_secs_f64());
            }
            warn(history::eval_positives_warning(&report.cuts));
            Ok(())
        }
    }
}

fn print_eval(r: &EvalReport) {
    println!(
        "outcome: {} received within {} months of the cut-off",
        r.outcome.words(),
        r.horizon_months
    );
    println!("threshold rule: {} (flags at most the budget)", r.rule);
    match r.learner {
        probity_score::model::Learner::Linear => println!(
            "model: a ridge logistic regression, its penalty chosen on the training cut-offs \
             alone, trained {} times on the rows in other orders as other store keys would give \
             them (the lowest-highest recall in brackets)",
            r.repeats
        ),
        probity_score::model::Learner::Boosted => println!(
            "model: the mean of {} models trained on the rows in other orders with other seeds \
             (their lowest-highest recall in brackets)",
            r.repeats
        ),
    }
    println!(
        "lift = precision / the share with the outcome; R/rank = the model's recall over the \
         24-month rank's"
    );
    println!(
        "{:<11} {:>6} {:>5} {:>4} | {:>30} | {:>20} | {:>20} | {:>13} | {:>6}",
        "cut-off",
        "people",
        "pos",
        "top",
        "model P / R [R range] lift",
        "threshold P / R lift",
        "recent-24m P / R lift",
        "anomaly P / R",
        "R/rank"
    );
    let lift = |m: &eval::Metric, base: f64| if base > 0.0 { m.precision / base } else { 0.0 };
    let pr = |m: &eval::Metric, base: f64| {
        format!(
            "{:.3} / {:.3} {:>4.1}",
            m.precision,
            m.recall,
            lift(m, base)
        )
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let budgets = r.cuts.first().map_or(0, |c| c.rows.len());
    // Per budget: sums of model P, R, lift, threshold P, R, lift, recent P,
    // R, lift, anomaly P, R, R/rank; lowest R/rank; cut-offs at 1.2x.
    let mut sums = vec![[0.0f64; 12]; budgets];
    let mut worst = vec![f64::INFINITY; budgets];
    let mut met = vec![0usize; budgets];
    let mut matched = [0.0f64; 4];
    for c in &r.cuts {
        for (k, row) in c.rows.iter().enumerate() {
            let q = ratio(row.model.recall, row.recent.recall);
            println!(
                "{:<11} {:>6} {:>5} {:>3.0}% | {:>17} [{:.3}-{:.3}] | {:>20} | {:>20} | {:>13} | {:>6.2}",
                if k == 0 { c.cut.as_str() } else { "" },
                if k == 0 {
                    c.people.to_string()
                } else {
                    String::new()
                },
                if k == 0 {
                    c.positives.to_string()
                } else {
                    String::new()
                },
                row.budget * 100.0,
                pr(&row.model, c.base_rate),
                row.model_recall_range.0,
                row.model_recall_range.1,
                pr(&row.threshold, c.base_rate),
                pr(&row.recent, c.base_rate),
                format!("{:.3} / {:.3}", row.anomaly.precision, row.anomaly.recall),
                q
            );
            let s = &mut sums[k];
            for (j, v) in [
                row.model.precision,
                row.model.recall,
                lift(&row.model, c.base_rate),
                row.threshold.precision,
                row.threshold.recall,
                lift(&row.threshold, c.base_rate),
                row.recent.precision,
                row.recent.recall,
                lift(&row.recent, c.base_rate),
                row.anomaly.precision,
                row.anomaly.recall,
                q,
            ]
            .into_iter()
            .enumerate()
            {
                s[j] += v;
            }
            worst[k] = worst[k].min(q);
            if q >= 1.2 {
                met[k] += 1;
            }
        }
        matched[0] += c.matched.0.precision;
        matched[1] += c.matched.0.recall;
        matched[2] += c.matched.1.precision;
        matched[3] += c.matched.1.recall;
        println!(
            "{:<11} at the rule's own {} flags: model {:.3} / {:.3}, threshold {:.3} / {:.3}",
            "",
            c.rule_flags,
            c.matched.0.precision,
            c.matched.0.recall,
            c.matched.1.precision,
            c.matched.1.recall
        );
        println!(
            "{:<11} AUC model {:.3}, recent-24m {:.3}, anomaly {:.3}; average precision model {:.3}, recent-24m {:.3}; trained on {} rows ({} positive)",
            "",
            c.auc.0,
            c.auc.1,
            c.anomaly_auc,
            c.average_precision.0,
            c.average_precision.1,
            c.trained_on.0,
            c.trained_on.1
        );
        if let Some((ridge, tried)) = &c.ridge {
            let tried: Vec<String> = tried
                .iter()
                .map(|(p, recall)| format!("{p} → {recall:.3}"))
                .collect();
            println!(
                "{:<11} ridge penalty {ridge} (top-5% recall on the latest training cut-off: {})",
                "",
                if tried.is_empty() {
                    "too little history to compare".to_owned()
                } else {
                    tried.join(", ")
                }
            );
        }
    }
    let n = r.cuts.len().max(1) as f64;
    if let Some(first) = r.cuts.first() {
        for (k, row) in first.rows.iter().enumerate() {
            let s = sums[k];
            println!(
                "{:<11} {:>6} {:>5} {:>3.0}% | {:>30} | {:>20} | {:>20} | {:>13} | {:>6.2}",
                if k == 0 { "mean" } else { "" },
                "",
                "",
                row.budget * 100.0,
                format!("{:.3} / {:.3} {:>4.1}", s[0] / n, s[1] / n, s[2] / n),
                format!("{:.3} / {:.3} {:>4.1}", s[3] / n, s[4] / n, s[5] / n),
                format!("{:.3} / {:.3} {:>4.1}", s[6] / n, s[7] / n, s[8] / n),
                format!("{:.3} / {:.3}", s[9] / n, s[10] / n),
                s[11] / n,
            );
        }
        for (k, row) in first.rows.iter().enumerate() {
            println!(
                "at the top {:.0}%: the model's recall is at least 1.2x the 24-month rank's at {} \
                 of {} cut-offs (lowest ratio {:.2})",
                row.budget * 100.0,
                met[k],
                r.cuts.len(),
                worst[k]
            );
        }
        println!(
            "{:<11} at the rule's own flags: model {:.3} / {:.3}, threshold {:.3} / {:.3}",
            "",
            matched[0] / n,
            matched[1] / n,
            matched[2] / n,
            matched[3] / n
        );
        print_fairness(r);
    }
}

fn print_fairness(r: &EvalReport) {
    println!(
        "fairness of the model's flags at the top {:.0}%, pooled over the test cut-offs \
         (ratios to the reference group; outside {}–{} is a disparity, ! when significant; \
         * fewer than {} people)",
        r.fairness_budget * 100.0,
        probity_score::fairness::BAND.0,
        probity_score::fairness::BAND.1,
        probity_score::fairness::SMALL_GROUP
    );
    crate::fairness::print_attributes(&r.fairness);
}
