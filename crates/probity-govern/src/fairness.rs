//! The fairness audit of every analysis and scoring run, and the
//! governance option `[fairness] block_flagged` that withholds a flagged
//! detector's findings (or a model's scores) until a reviewer signs the
//! disparity off. Here, in the library, so that every front end runs the
//! same audit and the same blocking (see [`crate::analysis`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use probity_score::fairness::{Case, Disparity, Latest, SubjectAudit};
use probity_score::groups::Groups;
use probity_store::Store;

use crate::{Error, Result};

/// Statuses that uphold a finding (its flag was right).
const UPHELD: [&str; 3] = ["advice", "prevention_notice", "referral"];

/// The audit of each detector that ran in `report`: everyone active in the
/// analysis period, flagged when a finding of the detector names them;
/// outcomes from `truth` (synthetic data) or else from review outcomes in
/// the findings register (a flagged person whose findings were upheld, or
/// all closed with no further action; unflagged people have no outcome).
pub async fn detectors(
    store: &Store,
    report: &probity_detect::AnalysisReport,
    truth: Option<&Path>,
) -> Result<Vec<SubjectAudit>> {
    let ctx = store.session_context()?;
    let groups = Groups::load(&ctx).await?;
    let (p0, p1) = (
        probity_core::time::days_to_date(report.period.start),
        probity_core::time::days_to_date(report.period.end),
    );
    let batches = async {
        ctx.sql(&format!(
            "SELECT person_id FROM people WHERE start_date <= DATE '{p1}' \
             AND (end_date IS NULL OR end_date >= DATE '{p0}')"
        ))
        .await?
        .collect()
        .await
    }
    .await
    .map_err(|e| Error::query("people active in the period", e))?;
    let mut active = Vec::new();
    for b in &batches {
        let c = probity_detect::strs(b, "person_id");
        for i in 0..b.num_rows() {
            active.push(c.value(i).to_owned());
        }
    }
    let truth_rows = match truth {
        None => None,
        Some(p) => {
            let mut t = probity_detect::eval::read_truth(p)?;
            probity_detect::eval::pseudonymise(
                store.pseudonym_key(),
                t.iter_mut().map(|r| &mut r.person_id),
            );
            Some(t)
        }
    };
    let register = crate::register::Register::load(store)?;
    let persons: Vec<&str> = active.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for o in report.outcomes.iter().filter(|o| o.skipped.is_none()) {
        let mut flagged: BTreeSet<&str> = BTreeSet::new();
        for f in report.findings.iter().filter(|f| f.detector == o.detector) {
            flagged.insert(f.person.as_str());
        }
        // Review outcomes by person: Some(true) if any upheld, Some(false)
        // if every finding was closed with no further action.
        let mut reviewed: HashMap<&str, (bool, bool)> = HashMap::new();
        for r in register.items.values() {
            if r.finding.detector != o.detector {
                continue;
            }
            let e = reviewed
                .entry(r.finding.person_id.as_str())
                .or_insert((false, true));
            e.0 |= UPHELD.contains(&r.status.as_str());
            e.1 &= r.status == "no_further_action";
        }
        let positives: Option<BTreeSet<&str>> = truth_rows.as_ref().map(|t| {
            t.iter()
                .filter(|r| r.scenario == o.scenario)
                .map(|r| r.person_id.as_str())
                .collect()
        });
        let mut known_any = false;
        let cases: Vec<Case> = persons
            .iter()
            .map(|p| {
                let is_flagged = flagged.contains(p);
                let outcome = match &positives {
                    Some(pos) => Some(pos.contains(p)),
                    None if is_flagged => match reviewed.get(p) {
                        Some((true, _)) => Some(true),
                        Some((false, true)) => Some(false),
                        _ => None,
                    },
                    None => None,
                };
                known_any |= outcome.is_some();
                Case {
                    flagged: is_flagged,
                    outcome,
                }
            })
            .collect();
        out.push(SubjectAudit {
            subject: o.detector.to_owned(),
            version: o.version,
            run: "analyze".into(),
            at: crate::now(),
            population: persons.len(),
            flagged_people: cases.iter().filter(|c| c.flagged).count(),
            outcomes: match (&positives, known_any) {
                (Some(_), _) => "ground truth".into(),
                (None, true) => "review outcomes".into(),
                (None, false) => "none".into(),
            },
            attributes: groups.audit(&persons, &cases),
        });
    }
    Ok(out)
}

/// The audit of a scoring run: flagged = the top `budget` share of the
/// people scored at the run's date (no outcomes are known yet).
pub async fn scores(
    ctx: &datafusion::prelude::SessionContext,
    subject: &str,
    version: u32,
    scores: &[probity_score::run::Score],
    budget: f64,
) -> Result<SubjectAudit> {
    let groups = Groups::load(ctx).await?;
    let latest = scores.iter().map(|s| s.as_of.as_str()).max().unwrap_or("");
    let mut at: Vec<&probity_score::run::Score> =
        scores.iter().filter(|s| s.as_of == latest).collect();
    at.sort_by(|a, b| {
        b.log_odds
            .total_cmp(&a.log_odds)
            .then(a.person_id.cmp(&b.person_id))
    });
    let k = (budget * at.len() as f64).round() as usize;
    let persons: Vec<&str> = at.iter().map(|s| s.person_id.as_str()).collect();
    let cases: Vec<Case> = (0..at.len())
        .map(|i| Case {
            flagged: i < k,
            outcome: None,
        })
        .collect();
    Ok(SubjectAudit {
        subject: subject.to_owned(),
        version,
        run: format!("score run as of {latest} (top {:.0}%)", budget * 100.0),
        at: crate::now(),
        population: persons.len(),
        flagged_people: k,
        outcomes: "none".into(),
        attributes: groups.audit(&persons, &cases),
    })
}

/// Disparities reviewers have signed off, by (subject, version), from the
/// audit log's `fairness.sign_off` entries (one pass over the log).
pub fn sign_offs(store: &Store) -> Result<BTreeMap<(String, u32), BTreeSet<Disparity>>> {
    let f = probity_audit::Filter {
        action: Some("fairness.sign_off".into()),
        ..Default::default()
    };
    let mut out: BTreeMap<(String, u32), BTreeSet<Disparity>> = BTreeMap::new();
    for e in probity_audit::read(&store.audit_dir(), &f)? {
        let e = e?;
        let Some(version) = e.details["version"].as_u64() else {
            continue;
        };
        if e.action != "fairness.sign_off" {
            continue;
        }
        let signed = out.entry((e.object.clone(), version as u32)).or_default();
        for d in e.details["disparities"].as_array().into_iter().flatten() {
            if let (Some(a), Some(g), Some(m)) = (d[0].as_str(), d[1].as_str(), d[2].as_str()) {
                signed.insert((a.to_owned(), g.to_owned(), m.to_owned()));
            }
        }
    }
    Ok(out)
}

/// The flagged disparities of `a` that no reviewer has signed off.
pub fn open_disparities(
    a: &SubjectAudit,
    signed: &BTreeMap<(String, u32), BTreeSet<Disparity>>,
) -> Vec<Disparity> {
    let none = BTreeSet::new();
    let s = signed.get(&(a.subject.clone(), a.version)).unwrap_or(&none);
    a.flagged().into_iter().filter(|d| !s.contains(d)).collect()
}

/// Subjects to withhold: with `[fairness] block_flagged`, those whose
/// audit shows a significant disparity no reviewer has signed off, with the
/// disparities not signed off.
pub fn blocked(store: &Store, audits: &[SubjectAudit]) -> Result<BTreeMap<String, Vec<Disparity>>> {
    let mut out = BTreeMap::new();
    if !store.governance()?.fairness.block_flagged {
        return Ok(out);
    }
    let signed = sign_offs(store)?;
    for a in audits {
        let open = open_disparities(a, &signed);
        if !open.is_empty() {
            out.insert(a.subject.clone(), open);
        }
    }
    Ok(out)
}

/// Stores the audits as the latest and puts a summary on the audit log.
pub fn record(
    store: &Store,
    actor: &str,
    audits: &[SubjectAudit],
    withheld: &BTreeMap<String, Vec<Disparity>>,
) -> Result<()> {
    Latest::record(store.root(), audits)?;
    store
        .audit()?
        .append(
            probity_audit::Record::new(actor, "fairness", "").details(serde_json::json!({
                "subjects": audits.iter().map(|a| serde_json::json!({
                    "subject": a.subject,
                    "version": a.version,
                    "run": a.run,
                    "population": a.population,
                    "flagged_people": a.flagged_people,
                    "outcomes": a.outcomes,
                    "significant_disparities": a.flagged().len(),
                })).collect::<Vec<_>>(),
                "withheld": withheld.keys().collect::<Vec<_>>(),
            })),
        )?;
    Ok(())
}

/// Signs off the significant disparities of `subject`'s latest audit (a
/// reviewer, with a reason; audited), releasing it under `[fairness]
/// block_flagged`.
pub fn sign_off(s: &Store, user: &str, subject: &str, reason: Option<&str>) -> Result<SignedOff> {
    crate::authorise(
        s,
        user,
        probity_policy::Action::SignOffFairness,
        reason,
        true,
        "fairness.sign_off",
        subject,
    )?;
    let latest = Latest::load(s.root())?;
    let Some(a) = latest.subjects.get(subject) else {
        return Err(Error::Invalid(format!(
            "{subject}: no fairness audit of it in this store; the audited subjects are: {}",
            latest
                .subjects
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let flagged = a.flagged();
    if flagged.is_empty() {
        return Err(Error::Invalid(format!(
            "{subject}: its latest audit ({}) shows no significant disparity; nothing to sign off",
            a.at
        )));
    }
    s.audit()?.append(
        probity_audit::Record::new(user, "fairness.sign_off", subject)
            .reason(reason.unwrap_or_default())
            .details(serde_json::json!({
                "version": a.version,
                "audit_at": a.at,
                "disparities": flagged,
            })),
    )?;
    Ok(SignedOff {
        audit: a.clone(),
        disparities: flagged.len(),
    })
}

/// What [`sign_off`] released.
#[derive(Debug, Clone)]
pub struct SignedOff {
    /// The audit whose disparities were signed off.
    pub audit: SubjectAudit,
    /// How many.
    pub disparities: usize,
}
