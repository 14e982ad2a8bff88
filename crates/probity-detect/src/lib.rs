//! Probity's detectors: documented, parameterised queries over the store that
//! emit explainable findings, and the evaluation of findings against ground
//! truth.
//!
//! A [`Detector`] is a constant: its id, the contract scenario it serves, a
//! title, the purpose that makes it proportionate, the tables it needs, its
//! parameters with defaults, and a function from a [`Run`] to findings. The
//! set logic (joins, anti-joins, time windows) is DataFusion SQL over the
//! store's tables, so the same plans can run on a cluster; Rust groups the
//! selected records per person, applies thresholds and writes the sentence a
//! reviewer reads. The registry is [`detectors::ALL`].
//!
//! ```no_run
//! # async fn demo(store: &probity_store::Store) -> Result<(), probity_detect::Error> {
//! let plan = probity_detect::Plan::new(store)?;
//! let report = plan.run(&probity_detect::Silent).await?;
//! for f in &report.findings {
//!     println!("{} {} {}", f.scenario, f.person, f.summary);
//! }
//! # Ok(()) }
//! ```

pub mod detectors;
pub mod eval;
pub mod finding;
pub mod governance;
pub mod params;
mod run;
pub mod stats;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;
use futures::{StreamExt as _, TryStreamExt as _};
use probity_core::schema::Table;
use probity_core::{Scenario, TimeRules};
use probity_store::Store;

pub use finding::{Evidence, Finding};
pub use params::{Param, ParamValue, Params};
pub use run::{
    Notes, Period, Run, dates, day_start, floats, ints, is_none_udf, local_date_udf,
    local_date_zone, micros, opt_str, register_functions, strs,
};

/// Where detectors' queries execute. The default is this process; the
/// `probity-cluster` crate provides an Apache Ballista cluster. An engine
/// only makes sessions: which tables a session holds is decided by the
/// [`Plan`] (the detector's declared tables, nothing else), whatever the
/// engine.
pub trait Engine: std::fmt::Debug + Send + Sync {
    /// An empty session with `config` (the store session's settings), in
    /// which the plan registers the detector's tables and functions.
    fn session(
        &self,
        config: datafusion::prelude::SessionConfig,
    ) -> futures::future::BoxFuture<'_, Result<datafusion::prelude::SessionContext>>;

    /// How the run report and the audit log name the engine, e.g. `local`
    /// or `ballista df://10.0.0.5:50050`.
    fn describe(&self) -> String;
}

/// Queries run in this process (the default engine).
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Engine for Local {
    fn session(
        &self,
        config: datafusion::prelude::SessionConfig,
    ) -> futures::future::BoxFuture<'_, Result<datafusion::prelude::SessionContext>> {
        Box::pin(async move { Ok(datafusion::prelude::SessionContext::new_with_config(config)) })
    }

    fn describe(&self) -> String {
        "local".into()
    }
}

/// Errors of the detector library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed.
    #[error("query failed in detector {detector}: {source}")]
    Query {
        /// The detector.
        detector: String,
        /// The engine's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] probity_store::Error),
    /// `[detectors.…]` in probity.toml names something that does not exist
    /// or gives a value of the wrong kind.
    #[error("probity.toml [detectors.{detector}]: {reason}")]
    Config {
        /// The detector section.
        detector: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Record linkage could not run.
    #[error(transparent)]
    Resolve(#[from] probity_resolve::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A findings or truth file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Writing Parquet failed.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The store's configured time zone is unusable.
    #[error(transparent)]
    Time(#[from] probity_core::Error),
    /// An analysis was limited to a batch the store does not hold.
    #[error(
        "the store has no batch {batch}; its batches are {known} (`probity ingest` prints the \
         id of each batch it commits; `latest` names the last)"
    )]
    UnknownBatch {
        /// The id asked for.
        batch: String,
        /// The ids the store holds, oldest first.
        known: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A query of `detector` (or of a named step, e.g. `session`) failed.
    pub fn query(detector: &str, source: datafusion::error::DataFusionError) -> Self {
        Error::Query {
            detector: detector.to_string(),
            source,
        }
    }
}

/// A detector's function: from a run (session, period, parameters) to findings.
pub type DetectFn = for<'a> fn(&'a Run) -> LocalBoxFuture<'a, Result<Vec<Finding>>>;

/// What a detector learns from a store's own data before it detects (a
/// force's pay codes, its placeholders): recorded through [`Run::learned`].
/// `probity detectors --store` shows it without running the detection.
pub type LearnFn = for<'a> fn(&'a Run) -> LocalBoxFuture<'a, Result<()>>;

/// One detector: a small, documented unit. Each lives in its own file under
/// `detectors/` and is listed once in [`detectors::ALL`].
#[derive(Clone, Copy)]
pub struct Detector {
    /// Stable id, written into every finding.
    pub id: &'static str,
    /// Bumped whenever the logic changes what it finds.
    pub version: u32,
    /// The contract scenario it serves.
    pub scenario: Scenario,
    /// A short title.
    pub title: &'static str,
    /// Why running it is proportionate: the misconduct it targets and the
    /// innocent behaviour it is built not to flag.
    pub purpose: &'static str,
    /// Tables without which it cannot run (it is skipped, with a reason).
    pub needs: &'static [Table],
    /// Tables it uses when present (more context, fewer false flags).
    pub uses: &'static [Table],
    /// Whether it uses identities: the record links of `probity-resolve`,
    /// which the run brings up to date from the identity vault (names,
    /// dates of birth) and hands to the detector through [`Run::links`]. The
    /// detector itself never reads the vault; governance requires its
    /// purpose to enable the identity category.
    pub identities: bool,
    /// A comparison rule kept for evaluation, off unless enabled in
    /// `probity.toml`; its findings are written apart from the real ones.
    pub baseline: bool,
    /// Parameters and their defaults.
    pub params: &'static [Param],
    /// The detection itself.
    pub detect: DetectFn,
    /// What it learns from the store's data, if anything (the detection
    /// learns the same itself).
    pub learn: Option<LearnFn>,
    /// When an analysis is limited to a period (`probity analyze --batch`
    /// or `--period`): how many days before the period it reads to judge
    /// the period — the swipe-in the evening before a claim, or the
    /// trailing window its counts cover. Only tables partitioned by an
    /// instant (shifts, edits, claims, swipes, sessions, locations,
    /// look-ups) are limited; the others are always read whole.
    pub context_days: fn(&Params) -> u32,
}

impl Detector {
    /// Every table it declares: those it needs, then those it uses. Its
    /// session holds these and nothing else.
    pub fn declared(&self) -> Vec<Table> {
        self.needs.iter().chain(self.uses).copied().collect()
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("id", &self.id)
            .field("scenario", &self.scenario)
            .finish_non_exhaustive()
    }
}

/// Progress of an analysis run, for a terminal bar or a log.
pub trait Progress: Sync {
    /// A detector starts.
    fn start(&self, detector: &Detector, index: usize, total: usize);
    /// A detector finished (or was skipped).
    fn done(&self, outcome: &DetectorOutcome);
}

/// Progress that reports nothing.
#[derive(Debug, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &Detector, _: usize, _: usize) {}
    fn done(&self, _: &DetectorOutcome) {}
}

/// What happened to one detector in a run.
#[derive(Debug, Clone)]
pub struct DetectorOutcome {
    /// The detector's id.
    pub detector: &'static str,
    /// Its version.
    pub version: u32,
    /// Its scenario.
    pub scenario: Scenario,
    /// Whether it is a baseline rule.
    pub baseline: bool,
    /// `Some(reason)` when it did not run.
    pub skipped: Option<String>,
    /// Findings it produced.
    pub findings: usize,
    /// Distinct persons among them.
    pub persons: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The parameters it ran with.
    pub params: BTreeMap<String, ParamValue>,
    /// The governance purpose it ran for (`None` when it did not run).
    pub purpose: Option<String>,
    /// What it learned, its notes and its clerical-review items.
    pub notes: Notes,
}

impl DetectorOutcome {
    /// A detector that did not run, and why.
    fn skipped(
        d: &Detector,
        why: String,
        params: BTreeMap<String, ParamValue>,
        purpose: Option<String>,
    ) -> DetectorOutcome {
        DetectorOutcome {
            detector: d.id,
            version: d.version,
            scenario: d.scenario,
            baseline: d.baseline,
            skipped: Some(why),
            findings: 0,
            persons: 0,
            elapsed: Duration::ZERO,
            params,
            purpose,
            notes: Notes::default(),
        }
    }
}

/// The result of an analysis run.
#[derive(Debug, Clone)]
pub struct AnalysisReport {
    /// The analysis period (from the data).
    pub period: Period,
    /// Where the detectors' queries ran ([`Engine::describe`]).
    pub engine: String,
    /// The period the analysis was limited to, if it was.
    pub limit: Option<Limit>,
    /// Findings of the enabled detectors, sorted by scenario, person, period.
    pub findings: Vec<Finding>,
    /// Findings of enabled baseline rules, kept apart.
    pub baseline_findings: Vec<Finding>,
    /// One entry per detector in the registry.
    pub outcomes: Vec<DetectorOutcome>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// Which detectors run, with which parameters, over which store.
pub struct Plan {
    ctx: datafusion::prelude::SessionContext,
    engine: std::sync::Arc<dyn Engine>,
    /// For record linkage, when a selected detector uses identities: a
    /// session with the vault, the settings and the `links/` directory.
    linkage: Option<Linkage>,
    present: Vec<Table>,
    tz: TimeRules,
    selected: Vec<(Detector, Params, probity_policy::Permit)>,
    not_selected: Vec<(Detector, String)>,
    governance_hash: String,
    limit: Option<Limit>,
}

/// An analysis limited to a period: what a daily batch touched, or a period
/// a user names. Each detector judges that period from the data of the
/// period and its [`Detector::context_days`] before it; only findings that
/// touch the period are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The period judged.
    pub period: Period,
    /// When the limit comes from a batch: its id and the tables it holds
    /// (a detector that reads none of them has nothing new to judge).
    pub batch: Option<(String, Vec<Table>)>,
}

impl Limit {
    /// How `run.json` and the audit entry record the limit.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "from": probity_core::time::days_to_date(self.period.start).to_string(),
            "to": probity_core::time::days_to_date(self.period.end).to_string(),
            "batch": self.batch.as_ref().map(|(id, _)| id),
        })
    }
}

struct Linkage {
    ctx: datafusion::prelude::SessionContext,
    settings: probity_link::Settings,
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("selected", &self.selected.len())
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Every enabled detector of the registry that governance approves for
    /// today, with the parameters of the store's `probity.toml`. Unknown
    /// detectors or parameters there are errors naming them.
    pub fn new(store: &Store) -> Result<Plan> {
        Plan::with_overrides(store, &[])
    }

    /// Like [`Plan::new`], and also enables these detectors (e.g. baselines).
    pub fn with_overrides(store: &Store, also_enable: &[&str]) -> Result<Plan> {
        Plan::build(store, also_enable, governance_today(store))
    }

    /// Like [`Plan::with_overrides`], deciding approvals as of `today`.
    ///
    /// Purpose binding is enforced here, for every caller: a detector runs
    /// only if `governance.toml` approves it, its review date has not passed,
    /// and its purpose enables every data category it reads. Each detector
    /// then queries a session holding only the tables it declares, so a
    /// detector cannot read what its approval does not cover.
    pub fn build(store: &Store, also_enable: &[&str], today: jiff::civil::Date) -> Result<Plan> {
        let (gov_text, governance_hash) = store.governance_text()?;
        let governance = probity_policy::Governance::parse(&gov_text, &store.governance_path())
            .map_err(probity_store::Error::from)?;
        let known = governance::known_ids();
        governance
            .check_known(&known, &gov_text, &store.governance_path())
            .map_err(probity_store::Error::from)?;
        check_config(store.config())?;
        let cfg = &store.config().detectors;
        for id in also_enable {
            if detectors::by_id(id).is_none() {
                return Err(Error::Config {
                    detector: (*id).to_string(),
                    reason: "no detector has this id".into(),
                });
            }
        }
        let present: Vec<Table> = store.manifest().tables_held();
        let mut selected = vec![];
        let mut not_selected = vec![];
        for d in detectors::ALL {
            let section = cfg.get(d.id);
            let (enabled, params) = Params::resolve(d, section)?;
            let enabled = (enabled.unwrap_or(!d.baseline)) || also_enable.contains(&d.id);
            if !enabled {
                let why = if d.baseline && section.is_none() {
                    format!(
                        "a baseline rule for evaluation: it runs only with `analyze --baselines` \
                         (or `[detectors.{}] enabled = true` in probity.toml)",
                        d.id
                    )
                } else {
                    "disabled in probity.toml".to_string()
                };
                not_selected.push((*d, why));
                continue;
            }
            if let Some(missing) = d.needs.iter().find(|t| !present.contains(t)) {
                not_selected.push((
                    *d,
                    format!(
                        "table {} is absent from the store (it needs {})",
                        missing.name(),
                        d.needs
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                continue;
            }
            let tables = d.declared();
            // Protected characteristics serve the fairness audit only: no
            // detector may read them, whatever governance enables.
            if tables.contains(&Table::EqualityMonitoring) {
                not_selected.push((
                    *d,
                    "it declares equality_monitoring, which only the fairness audit may read"
                        .to_string(),
                ));
                continue;
            }
            match governance.decide(d.id, &tables, d.identities, today) {
                Ok(permit) => selected.push((*d, params, permit)),
                Err(refusal) => not_selected.push((*d, refusal.to_string())),
            }
        }
        let ctx = store.session_context()?;
        let tz = store.time_rules();
        run::register_functions(&ctx, &tz);
        // Detectors that use identities need the identity vault; without its
        // key (lost, or kept elsewhere) they are skipped with the reason and
        // the pseudonymised analysis runs.
        let linkage = if selected.iter().any(|(d, _, _)| d.identities) {
            match probity_resolve::vault_session(store) {
                Ok(ctx) => Some(Linkage {
                    ctx,
                    settings: probity_resolve::settings(store),
                    dir: probity_resolve::links_dir(store.root()),
                }),
                Err(probity_resolve::Error::Store(
                    e @ (probity_store::Error::VaultKeyMissing { .. }
                    | probity_store::Error::VaultKeyMismatch { .. }),
                )) => {
                    let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut selected)
                        .into_iter()
                        .partition(|(d, _, _)| !d.identities);
                    selected = keep;
                    not_selected.extend(drop.into_iter().map(|(d, _, _)| {
                        (
                            d,
                            format!(
                                "it uses identities (record links), which need the identity vault: {e}"
                            ),
                        )
                    }));
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        Ok(Plan {
            ctx,
            engine: std::sync::Arc::new(Local),
            linkage,
            present,
            tz,
            selected,
            not_selected,
            governance_hash,
            limit: None,
        })
    }

    /// Limits the analysis to a period (see [`Limit`]).
    pub fn limit_to(&mut self, limit: Limit) {
        self.limit = Some(limit);
    }

    /// Runs the detectors' queries on `engine` instead of in this process.
    /// Purpose binding is unchanged: each detector's session is made by the
    /// plan and holds only the tables the detector declares.
    pub fn on_engine(&mut self, engine: std::sync::Arc<dyn Engine>) {
        self.engine = engine;
    }

    /// The engine the detectors' queries run on.
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// The session a selected detector's queries run in: only the tables it
    /// declares, on the plan's engine. `None` when the detector is not
    /// selected (unknown, disabled, not approved).
    pub async fn session_for(
        &self,
        id: &str,
    ) -> Result<Option<datafusion::prelude::SessionContext>> {
        let Some((d, _, _)) = self.selected.iter().find(|(d, _, _)| d.id == id) else {
            return Ok(None);
        };
        let declared = d.declared();
        self.restricted(&declared, None).await.map(Some)
    }

    /// BLAKE3 of the governance file the plan was decided under.
    pub fn governance_hash(&self) -> &str {
        &self.governance_hash
    }

    /// Keeps only the detectors `keep` accepts; the others are reported as
    /// not selected.
    pub fn retain(&mut self, keep: impl Fn(&Detector) -> bool) {
        let (kept, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut self.selected)
            .into_iter()
            .partition(|(d, _, _)| keep(d));
        self.selected = kept;
        if !self.selected.iter().any(|(d, _, _)| d.identities) {
            // Nobody left to hand record links to: do not bring them up to date.
            self.linkage = None;
        }
        self.not_selected.extend(
            dropped
                .into_iter()
                .map(|(d, _, _)| (d, "not selected for this run".to_string())),
        );
    }

    /// The parameters each selected detector runs with, by detector id.
    pub fn parameters(&self) -> BTreeMap<&'static str, BTreeMap<String, ParamValue>> {
        self.selected
            .iter()
            .map(|(d, p, _)| (d.id, p.values().clone()))
            .collect()
    }

    /// The detectors that will run.
    pub fn selected(&self) -> impl Iterator<Item = &Detector> {
        self.selected.iter().map(|(d, _, _)| d)
    }

    /// The detectors that will not run, each with the reason (probity.toml,
    /// an absent table, governance, the identity vault).
    pub fn not_selected(&self) -> impl Iterator<Item = (&Detector, &str)> {
        self.not_selected.iter().map(|(d, why)| (d, why.as_str()))
    }

    /// Runs the selected detectors, two at a time, and collects their
    /// findings in a fixed order (whichever finished first).
    pub async fn run(&self, progress: &dyn Progress) -> Result<AnalysisReport> {
        let started = Instant::now();
        // Detector SQL puts the small side of every join first (the engine
        // builds its hash table on the left); keep that order even where
        // statistics after a filter are too vague for the optimiser to know.
        self.ctx
            .sql("SET datafusion.optimizer.join_reordering = false")
            .await
            .map_err(|e| Error::query("session", e))?;
        let period = run::analysis_period(&self.ctx).await?;
        // Record links, brought up to date once for the detectors that use
        // them (incrementally from what `probity resolve` stored; nothing is
        // written here).
        // (Not when every detector that would use them has nothing new to
        // judge in this batch.)
        let linking = self
            .selected
            .iter()
            .any(|(d, _, _)| d.identities && self.nothing_new(d).is_none());
        let links = match self.linkage.as_ref().filter(|_| linking) {
            Some(l) => Some(std::sync::Arc::new(
                probity_resolve::compute_in(
                    &l.ctx,
                    &l.settings,
                    &l.dir,
                    false,
                    probity_resolve::today(),
                )
                .await?
                .links,
            )),
            None => None,
        };
        let mut findings = vec![];
        let mut baseline_findings = vec![];
        let mut outcomes = vec![];
        for (d, reason) in &self.not_selected {
            let o = DetectorOutcome::skipped(d, reason.clone(), BTreeMap::new(), None);
            progress.done(&o);
            outcomes.push(o);
        }
        let total = self.selected.len();
        // Two detectors at a time (one per core on a 2-core machine, at most
        // two anywhere): each also uses every core through the query engine,
        // but a detector's own Rust work between its queries (tallies, window
        // scans, simulations) is on one core, and the other detector's queries
        // fill the other. More at once would only add memory.
        let at_once = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        // Those that read the longest history start first, so that the
        // short ones fill in at the end rather than a long one running alone.
        let mut launch: Vec<_> = self.selected.iter().enumerate().collect();
        launch.sort_by_key(|(_, (d, params, _))| std::cmp::Reverse((d.context_days)(params)));
        let ran: Vec<(DetectorOutcome, Vec<Finding>)> = futures::stream::iter(launch)
            .map(|(i, (d, params, permit))| {
                self.run_one(
                    d,
                    params,
                    permit,
                    period,
                    links.clone(),
                    (i, total),
                    progress,
                )
            })
            .buffer_unordered(at_once)
            .try_collect()
            .await?;
        for (o, found) in ran {
            if o.baseline {
                baseline_findings.extend(found);
            } else {
                findings.extend(found);
            }
            outcomes.push(o);
        }
        let order = |f: &Finding| {
            (
                Scenario::ALL.iter().position(|s| *s == f.scenario),
                f.person.clone(),
                f.period_start,
                f.finding_id.clone(),
            )
        };
        findings.sort_by_key(order);
        baseline_findings.sort_by_key(order);
        outcomes.sort_by_key(|o| {
            detectors::ALL
                .iter()
                .position(|d| d.id == o.detector)
                .unwrap_or(usize::MAX)
        });
        Ok(AnalysisReport {
            period: period.unwrap_or(Period { start: 0, end: 0 }),
            engine: self.engine.describe(),
            limit: self.limit.clone(),
            findings,
            baseline_findings,
            outcomes,
            elapsed: started.elapsed(),
        })
    }
}

impl Plan {
    /// Runs one detector: its restricted session, its findings (kept to the
    /// limit's days if the run has one), and its outcome.
    #[allow(clippy::too_many_arguments)]
    async fn run_one(
        &self,
        d: &Detector,
        params: &Params,
        permit: &probity_policy::Permit,
        period: Option<Period>,
        links: Option<std::sync::Arc<Vec<probity_resolve::RecordLinks>>>,
        (i, total): (usize, usize),
        progress: &dyn Progress,
    ) -> Result<(DetectorOutcome, Vec<Finding>)> {
        progress.start(d, i, total);
        let t = Instant::now();
        if let Some(why) = self.nothing_new(d) {
            let o = DetectorOutcome::skipped(
                d,
                why,
                params.values().clone(),
                Some(permit.purpose.clone()),
            );
            progress.done(&o);
            return Ok((o, vec![]));
        }
        // Limited to a period: the detector reads its context before
        // the period and judges up to the period's end.
        let (window, read) = match (&self.limit, period) {
            (Some(l), Some(p)) => {
                let from = l.period.start - (d.context_days)(params) as i32;
                // And the day after it: a claim that runs past midnight.
                let read = Period {
                    start: p.start.max(from),
                    end: p.end.min(l.period.end + 1),
                };
                (Some(read), (read.start <= read.end).then_some(read))
            }
            _ => (None, period),
        };
        let run = self.run_for(d, params, read, links, window).await?;
        let mut found = match read {
            Some(_) => (d.detect)(&run).await?,
            None => vec![],
        };
        for f in &mut found {
            f.finish();
        }
        if let Some(l) = &self.limit {
            found.retain(|f| f.period_end >= l.period.start && f.period_start <= l.period.end);
        }
        found.sort_by(|a, b| {
            (&a.person, a.period_start, &a.finding_id).cmp(&(
                &b.person,
                b.period_start,
                &b.finding_id,
            ))
        });
        found.dedup_by(|a, b| a.finding_id == b.finding_id);
        let persons = found
            .iter()
            .map(|f| f.person.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let o = DetectorOutcome {
            detector: d.id,
            version: d.version,
            scenario: d.scenario,
            baseline: d.baseline,
            skipped: read.is_none().then(|| {
                match period {
                    None => "the store holds no dated records to analyse",
                    Some(_) => "the store holds no dated records in the period",
                }
                .to_string()
            }),
            findings: found.len(),
            persons,
            elapsed: t.elapsed(),
            params: params.values().clone(),
            purpose: Some(permit.purpose.clone()),
            notes: run.report.take(),
        };
        progress.done(&o);
        Ok((o, found))
    }

    /// What a detector sees: a session over only its declared tables, the
    /// period, its parameters, and the record links if it uses identities.
    async fn run_for(
        &self,
        d: &Detector,
        params: &Params,
        period: Option<Period>,
        links: Option<std::sync::Arc<Vec<probity_resolve::RecordLinks>>>,
        window: Option<Period>,
    ) -> Result<Run> {
        let declared = d.declared();
        Ok(Run {
            detector: *d,
            ctx: self.restricted(&declared, window).await?,
            links: if d.identities { links } else { None },
            present: self.present.clone(),
            period,
            judged: self.limit.as_ref().map(|l| l.period),
            tz: self.tz.clone(),
            params: params.clone(),
            report: Default::default(),
        })
    }

    /// What each selected detector learns from this store's data (a force's
    /// pay codes, its placeholders), without detecting anything: for
    /// `probity detectors --store`. Detectors that learn nothing are left out.
    pub async fn learn(&self) -> Result<BTreeMap<&'static str, Notes>> {
        self.ctx
            .sql("SET datafusion.optimizer.join_reordering = false")
            .await
            .map_err(|e| Error::query("session", e))?;
        let period = run::analysis_period(&self.ctx).await?;
        let mut out = BTreeMap::new();
        if period.is_none() {
            return Ok(out);
        }
        for (d, params, _) in &self.selected {
            let Some(learn) = d.learn else { continue };
            let run = self.run_for(d, params, period, None, None).await?;
            learn(&run).await?;
            out.insert(d.id, run.report.take());
        }
        Ok(out)
    }

    /// A session over only the `tables` a detector declares: the full
    /// session's tables are shared (no files are re-listed), the rest are
    /// simply absent, so an undeclared read fails instead of succeeding.
    ///
    /// With a `window` (an analysis limited to a period), each table
    /// partitioned by an instant is a view of its rows from the window's
    /// first local day to the end of its last: Parquet row groups and files
    /// outside it are skipped unread.
    async fn restricted(
        &self,
        tables: &[Table],
        window: Option<Period>,
    ) -> Result<datafusion::prelude::SessionContext> {
        // Detector SQL puts the small side of every join first (the engine
        // builds its hash table on the left); keep that order even where
        // statistics after a filter are too vague for the optimiser to know.
        let mut config = self.ctx.copied_config();
        config.options_mut().optimizer.join_reordering = false;
        let ctx = self.engine.session(config).await?;
        let mut names: Vec<(&str, Option<Table>)> =
            tables.iter().map(|t| (t.name(), Some(*t))).collect();
        if tables.contains(&Table::DeviceLocations) {
            // What minimisation kept of deleted pings is the same category.
            names.push((probity_store::LOCATION_FACTS, None));
        }
        for (name, table) in names {
            let provider = self
                .ctx
                .table_provider(name)
                .await
                .map_err(|e| Error::query("session", e))?;
            let provider = match (window, table) {
                (Some(w), Some(t)) => {
                    run::within(t, provider, w, &self.tz).map_err(|e| Error::query("session", e))?
                }
                _ => provider,
            };
            ctx.register_table(name, provider)
                .map_err(|e| Error::query("session", e))?;
        }
        run::register_functions(&ctx, &self.tz);
        Ok(ctx)
    }

    /// Why a detector has nothing new to judge in a run limited to a
    /// batch: the batch holds none of the tables it reads.
    fn nothing_new(&self, d: &Detector) -> Option<String> {
        let (id, held) = self.limit.as_ref()?.batch.as_ref()?;
        if d.declared().iter().any(|t| held.contains(t)) {
            return None;
        }
        Some(format!(
            "batch {id} holds none of the tables it reads ({})",
            d.declared()
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Checks `[detectors.*]` of a store's `probity.toml` against the registry:
/// every section names a detector, every key one of its parameters, every
/// value the right kind. Plans call it; so does every command that opens a
/// store, so that a mistake is reported when the file is loaded, not when an
/// analysis happens to run.
pub fn check_config(config: &probity_store::Config) -> Result<()> {
    for (id, section) in &config.detectors {
        let Some(d) = detectors::by_id(id) else {
            return Err(Error::Config {
                detector: id.clone(),
                reason: format!(
                    "no detector has this id; the detectors are: {}",
                    detectors::ALL
                        .iter()
                        .map(|d| d.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        Params::resolve(d, Some(section))?;
    }
    Ok(())
}

/// Today's date in the store's time zone, for approval review dates.
pub fn governance_today(store: &Store) -> jiff::civil::Date {
    store
        .time_rules()
        .local_date(jiff::Timestamp::now().as_microsecond())
}

/// The limit of an analysis of what batch `id` (or `latest`) added: the
/// local dates its dated rows fall on, and the tables it holds (detectors
/// that read none of them are skipped). A batch of undated rows only
/// (people, cards, registers) touches the whole period of the store's data.
/// `None` when the store holds no dated rows at all.
pub async fn batch_limit(store: &Store, id: &str) -> Result<Option<Limit>> {
    use arrow::array::Array as _;
    let batches = &store.manifest().batches;
    let entry = match id {
        "latest" => batches.last(),
        _ => batches.iter().find(|b| b.id == id),
    };
    let Some(entry) = entry else {
        return Err(Error::UnknownBatch {
            batch: id.to_string(),
            known: match batches.len() {
                0 => "none".to_string(),
                _ => batches
                    .iter()
                    .map(|b| b.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        });
    };
    let ctx = store
        .batch_session(&entry.id)?
        .expect("the batch was just found in the manifest");
    run::register_functions(&ctx, &store.time_rules());
    let held: Vec<Table> = Table::ALL
        .iter()
        .copied()
        .filter(|t| {
            entry
                .tables
                .get(t.name())
                .is_some_and(|o| !o.data_files.is_empty())
        })
        .collect();
    let mut period: Option<Period> = None;
    for t in &held {
        let Some(column) = run::instant_partition(*t) else {
            continue;
        };
        let q = format!(
            "SELECT local_date(min(\"{column}\")) AS d0, local_date(max(\"{column}\")) AS d1 FROM {}",
            t.name()
        );
        let batches = run::collect(&ctx, "batch period", &q).await?;
        let (d0, d1) = (dates(&batches[0], "d0"), dates(&batches[0], "d1"));
        if d0.is_null(0) || d1.is_null(0) {
            continue;
        }
        let (a, b) = (d0.value(0), d1.value(0));
        period = Some(match period {
            Some(p) => Period {
                start: p.start.min(a),
                end: p.end.max(b),
            },
            None => Period { start: a, end: b },
        });
    }
    let period = match period {
        Some(p) => Some(p),
        None => {
            let ctx = store.session_context()?;
            run::register_functions(&ctx, &store.time_rules());
            run::analysis_period(&ctx).await?
        }
    };
    Ok(period.map(|period| Limit {
        period,
        batch: Some((entry.id.clone(), held)),
    }))
}

pub use probity_resolve::reveal_map;

/// Files written by [`write_outputs`].
#[derive(Debug, Clone)]
pub struct Outputs {
    /// `findings.jsonl`.
    pub jsonl: std::path::PathBuf,
    /// `findings.parquet`.
    pub parquet: std::path::PathBuf,
    /// `baseline-findings.jsonl`, when a baseline rule ran.
    pub baseline: Option<std::path::PathBuf>,
    /// `run.json`: period, detectors with versions, parameters, timings.
    pub run: std::path::PathBuf,
}

/// Writes an analysis into `dir`: findings (JSONL and Parquet), baseline
/// findings apart, and `run.json` describing the run.
pub fn write_outputs(
    dir: &std::path::Path,
    report: &AnalysisReport,
    who: &finding::Identity<'_>,
) -> Result<Outputs> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let jsonl = dir.join("findings.jsonl");
    let parquet = dir.join("findings.parquet");
    finding::write_jsonl(&jsonl, &report.findings, who)?;
    finding::write_parquet(&parquet, &report.findings, who)?;
    let baseline = if report
        .outcomes
        .iter()
        .any(|o| o.baseline && o.skipped.is_none())
    {
        let p = dir.join("baseline-findings.jsonl");
        finding::write_jsonl(&p, &report.baseline_findings, who)?;
        Some(p)
    } else {
        None
    };
    let run = dir.join("run.json");
    let detectors: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "detector": o.detector,
                "version": o.version,
                "scenario": o.scenario.id(),
                "baseline": o.baseline,
                "skipped": o.skipped,
                "findings": o.findings,
                "persons": o.persons,
                "seconds": o.elapsed.as_secs_f64(),
                "params": o.params,
                "learned": o.notes.learned,
                "notes": o.notes.notes,
                "clerical_review": o.notes.review,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "period_start": probity_core::time::days_to_date(report.period.start).to_string(),
        "period_end": probity_core::time::days_to_date(report.period.end).to_string(),
        "identities": matches!(who, finding::Identity::Revealed(_)),
        "engine": report.engine,
        "limited_to": report.limit.as_ref().map(Limit::to_json),
        "findings": report.findings.len(),
        "seconds": report.elapsed.as_secs_f64(),
        "detectors": detectors,
    });
    let text = serde_json::to_vec_pretty(&doc).expect("run document serialises");
    std::fs::write(&run, text).map_err(|source| Error::Io {
        path: run.clone(),
        source,
    })?;
    Ok(Outputs {
        jsonl,
        parquet,
        baseline,
        run,
    })
}
