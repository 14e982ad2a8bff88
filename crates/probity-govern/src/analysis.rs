//! An analysis run from start to finish, with every safeguard on the way:
//! who runs it (authorised, or the operating-system account), the identity
//! gate for `--reveal`, purpose binding (the detector [`Plan`]), the fairness
//! audit and `[fairness] block_flagged`, the register and the audit log —
//! all before any file leaves the store. Every front end calls [`run`];
//! none can skip a step.
//!
//! [`Plan`]: probity_detect::Plan

use std::collections::BTreeMap;
use std::path::PathBuf;

use probity_detect::AnalysisReport;
use probity_policy::Action;
use probity_score::fairness::{Disparity, SubjectAudit};
use probity_store::Store;

use crate::{Error, Result, authorise, authorise_identities, fairness, record_analysis, register};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The Probity user running it (already authenticated by the front
    /// end); `None` records the operating-system account.
    pub actor: Option<String>,
    /// Where findings are written.
    pub out: PathBuf,
    /// Write real person ids (a reviewer, with `reason`).
    pub reveal: bool,
    /// Why identities are written.
    pub reason: Option<String>,
    /// Also run the baseline rules.
    pub baselines: bool,
    /// Only these detectors (ids).
    pub only: Vec<String>,
    /// Ground truth for the fairness audit's outcomes (synthetic data).
    pub truth: Option<PathBuf>,
    /// Where the detectors' queries run: this process when `None`, or a
    /// cluster (`probity-cluster`). Purpose binding and the audit are the
    /// same either way.
    pub engine: Option<std::sync::Arc<dyn probity_detect::Engine>>,
    /// Limit the analysis to what a batch added (its id, or `latest`) or to
    /// a period; `None` analyses everything.
    pub limit: Option<Scope>,
}

/// What an analysis is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The dates a batch's rows fall on, and the detectors that read its
    /// tables (the daily run after a daily batch).
    Batch(String),
    /// These local dates.
    Period(probity_detect::Period),
}

impl Scope {
    /// `--period` as users write it: `FROM..TO` or a single day, dates as
    /// YYYY-MM-DD.
    pub fn period(text: &str) -> Result<Scope> {
        let (from, to) = text.split_once("..").unwrap_or((text, text));
        let day = |v: &str| {
            probity_core::time::parse_date(v.trim()).map_err(|e| {
                Error::Invalid(format!(
                    "--period {text}: {e}; write FROM..TO as YYYY-MM-DD..YYYY-MM-DD (or one day)"
                ))
            })
        };
        let (from, to) = (day(from)?, day(to)?);
        if from > to {
            return Err(Error::Invalid(format!(
                "--period {text}: the first day is after the last; write FROM..TO"
            )));
        }
        Ok(Scope::Period(probity_detect::Period {
            start: from,
            end: to,
        }))
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Analysis {
    /// The report, without the findings of withheld detectors.
    pub report: AnalysisReport,
    /// The fairness audit of every detector that ran.
    pub audits: Vec<SubjectAudit>,
    /// Detectors withheld under `[fairness] block_flagged`, with the
    /// disparities nobody signed off.
    pub withheld: BTreeMap<String, Vec<Disparity>>,
    /// The `analyze` audit entry.
    pub audit_seq: u64,
    /// What the register gained.
    pub merged: register::Merged,
    /// The files written.
    pub outputs: probity_detect::Outputs,
}

/// Runs the analysis; `progress` hears about each detector.
pub async fn run(
    store: &Store,
    req: &Request,
    progress: &dyn probity_detect::Progress,
) -> Result<Analysis> {
    for id in &req.only {
        if probity_detect::detectors::by_id(id).is_none() {
            return Err(Error::Invalid(format!(
                "--only {id}: no such detector; `probity detectors` lists them"
            )));
        }
    }
    let who = match &req.actor {
        Some(a) => {
            authorise(store, a, Action::RunAnalysis, None, false, "analyze", "")?;
            a.clone()
        }
        None => probity_store::os_actor(),
    };
    if req.reveal {
        authorise_identities(
            store,
            &who,
            req.reason.as_deref(),
            &format!("analyze --reveal --out {}", req.out.display()),
        )?;
    }
    let mut enable: Vec<&str> = if req.baselines {
        probity_detect::detectors::ALL
            .iter()
            .filter(|d| d.baseline)
            .map(|d| d.id)
            .collect()
    } else {
        vec![]
    };
    enable.extend(req.only.iter().map(String::as_str));
    let mut plan = probity_detect::Plan::with_overrides(store, &enable)?;
    if !req.only.is_empty() {
        plan.retain(|d| req.only.iter().any(|o| o == d.id));
    }
    if let Some(engine) = &req.engine {
        plan.on_engine(engine.clone());
    }
    match &req.limit {
        None => {}
        Some(Scope::Period(period)) => plan.limit_to(probity_detect::Limit {
            period: *period,
            batch: None,
        }),
        Some(Scope::Batch(id)) => {
            if let Some(limit) = probity_detect::batch_limit(store, id).await? {
                plan.limit_to(limit);
            }
        }
    }
    let mut report = plan.run(progress).await?;
    // Fairness of every detector that ran; with `[fairness] block_flagged`,
    // the findings of a detector with a significant disparity nobody signed
    // off are withheld (never registered, never written).
    let audits = fairness::detectors(store, &report, req.truth.as_deref()).await?;
    let withheld = fairness::blocked(store, &audits)?;
    if !withheld.is_empty() {
        report
            .findings
            .retain(|f| !withheld.contains_key(f.detector.as_str()));
        for o in &mut report.outcomes {
            if withheld.contains_key(o.detector) {
                o.findings = 0;
                o.persons = 0;
            }
        }
    }
    fairness::record(store, &who, &audits, &withheld)?;
    let map = if req.reveal {
        Some(probity_detect::reveal_map(store).await?)
    } else {
        None
    };
    let identity = match &map {
        Some(m) => probity_detect::finding::Identity::Revealed(m),
        None => probity_detect::finding::Identity::Pseudonyms,
    };
    // The run is on the audit log (and its findings in the register) before
    // any file leaves the store.
    let (audit_seq, merged) = record_analysis(
        store,
        &who,
        &report,
        plan.governance_hash(),
        &req.out,
        req.reveal,
    )?;
    let outputs = probity_detect::write_outputs(&req.out, &report, &identity).map_err(|e| {
        Error::Invalid(format!(
            "cannot write findings to {}: {e}",
            req.out.display()
        ))
    })?;
    Ok(Analysis {
        report,
        audits,
        withheld,
        audit_seq,
        merged,
        outputs,
    })
}

/// The fairness gate of a scoring run: audits the top `budget` share of
/// `scores` and records the audit; under `[fairness] block_flagged`, a
/// disparity no reviewer signed off withholds the scores (an error naming
/// the disparities and how to release them). Returns the audit to report.
pub async fn gate_scores(
    store: &Store,
    actor: &str,
    ctx: &datafusion::prelude::SessionContext,
    subject: &str,
    version: u32,
    scores: &[probity_score::run::Score],
    budget: f64,
) -> Result<SubjectAudit> {
    let audit = fairness::scores(ctx, subject, version, scores, budget).await?;
    let withheld = fairness::blocked(store, std::slice::from_ref(&audit))?;
    fairness::record(store, actor, std::slice::from_ref(&audit), &withheld)?;
    if let Some(open) = withheld.get(subject) {
        let listed: Vec<String> = open
            .iter()
            .map(|(attr, group, metric)| format!("{metric} for {attr} = {group}"))
            .collect();
        return Err(Error::Invalid(format!(
            "scores withheld: the {subject} fairness audit shows {} significant disparit{} no reviewer \
             has signed off ([fairness] block_flagged): {}; `probity fairness {}` shows them and \
             `probity fairness sign-off {subject} --store {} --reason …` (a reviewer) releases them",
            open.len(),
            if open.len() == 1 { "y" } else { "ies" },
            listed.join("; "),
            store.root().display(),
            store.root().display()
        )));
    }
    Ok(audit)
}
