//! Governance files generated from the detector registry, and the
//! approvals risk scoring needs.

use probity_core::Table;

/// Risk scoring is profiling: like a detector, it runs only under an
/// approval in `governance.toml` (`[detectors.<id>]` with a purpose,
/// lawful basis, DPIA and review date). These are its ids: the supervised
/// risk model and the isolation-forest anomaly score.
pub const SCORING: &[&str] = &["risk_model", "anomaly_score"];

/// The purpose [`governance_approving_all`] gives scoring.
pub const SCORING_PURPOSE: &str = "early_warning";

/// The tables the scoring features can read (`probity-score`'s feature
/// plan); the approval's purpose must enable the categories of those the
/// store holds. `equality_monitoring` is not among them: only the fairness
/// audit reads it.
pub const SCORING_TABLES: &[Table] = &[
    Table::People,
    Table::Complaints,
    Table::Shifts,
    Table::Accounts,
    Table::SystemQueries,
    Table::RosterEdits,
    Table::OvertimeClaims,
    Table::Absences,
];

/// Every id a governance file may approve: the detectors and scoring.
pub fn known_ids() -> Vec<&'static str> {
    crate::detectors::ALL
        .iter()
        .map(|d| d.id)
        .chain(SCORING.iter().copied())
        .collect()
}

/// What each id a governance file may approve reads: every detector (the
/// categories of the tables it needs or uses, and identities if it reads
/// the vault: the plan checks all of them) and scoring (the categories of
/// people and complaints always, of the other [`SCORING_TABLES`] where the
/// store holds them, as `authorise_scoring` decides). `governance check`
/// and `apply` require an approval's purpose to enable them.
pub fn registry() -> Vec<probity_policy::Reads> {
    use probity_policy::{Category, Reads};
    let always_scored = [Table::People, Table::Complaints];
    crate::detectors::ALL
        .iter()
        .map(|d| {
            let tables = d.declared();
            Reads {
                id: d.id,
                always: Category::read_by(&tables, d.identities),
                where_held: vec![],
            }
        })
        .chain(SCORING.iter().map(|id| {
            let always = Category::read_by(&always_scored, false);
            Reads {
                id,
                where_held: Category::read_by(SCORING_TABLES, false)
                    .into_iter()
                    .filter(|c| !always.contains(c))
                    .collect(),
                always,
            }
        }))
        .collect()
}

/// The categories a scenario's purpose must enable: every category any of
/// its detectors reads, by id in alphabetical order (as governance files
/// list them).
pub fn scenario_categories(scenario: probity_core::Scenario) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = registry()
        .into_iter()
        .filter(|r| {
            crate::detectors::ALL
                .iter()
                .any(|d| d.id == r.id && d.scenario == scenario)
        })
        .flat_map(|r| r.always.into_iter().map(|c| c.id()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Plain-English purpose of each scenario, for governance files.
pub fn scenario_purpose(s: probity_core::Scenario) -> &'static str {
    use probity_core::Scenario::*;
    match s {
        RosterManipulation => {
            "Detect staff editing their own roster for pay they are not entitled to."
        }
        GhostOvertime => "Detect overtime claimed or paid when no record shows the person working.",
        AttendanceBreach => {
            "Check office attendance against the agreed target, and badge-in-and-leave."
        }
        UndeclaredInterest => {
            "Find business interests and memberships that were not declared as policy requires."
        }
        SystemMisuse => {
            "Detect look-ups in police systems with no policing purpose, or of one's own relations."
        }
        PostCaseContact => {
            "Detect repeated look-ups of victims or witnesses after the officer's role in the case ended."
        }
        LeaveOverlapClaim => {
            "Detect overtime or rest-day working claimed during recorded sickness or leave."
        }
        ComplaintPattern => {
            "Identify complaint histories far above those of comparable colleagues, for early support."
        }
    }
}

/// A complete governance file approving every detector of the registry
/// (baselines included) for `days` from `approved_on`, one purpose per
/// scenario enabling exactly the categories its detectors read. For the
/// demonstration and tests on synthetic data; a force writes its own.
pub fn governance_approving_all(
    approver: &str,
    approved_on: jiff::civil::Date,
    days: i64,
) -> String {
    use std::fmt::Write;
    let review = approved_on
        .checked_add(jiff::Span::new().days(days))
        .expect("date in range");
    let mut s = String::from(probity_policy::TEMPLATE_HEAD);
    for sc in probity_core::Scenario::ALL {
        let c: Vec<String> = scenario_categories(sc)
            .iter()
            .map(|c| format!("{c:?}"))
            .collect();
        let _ = write!(
            s,
            "\n[purposes.{}]\ndescription = {:?}\ncategories = [{}]\n",
            sc.id(),
            scenario_purpose(sc),
            c.join(", ")
        );
    }
    let scoring: Vec<String> = probity_policy::Category::read_by(SCORING_TABLES, false)
        .iter()
        .map(|c| format!("{:?}", c.id()))
        .collect();
    let _ = write!(
        s,
        "\n[purposes.{SCORING_PURPOSE}]\ndescription = \"Early warning: rank staff whose records suggest they may need support or supervision, for a human review.\"\ncategories = [{}]\n",
        scoring.join(", ")
    );
    let ids = crate::detectors::ALL
        .iter()
        .map(|d| (d.id, d.scenario.id()))
        .chain(SCORING.iter().map(|id| (*id, SCORING_PURPOSE)));
    for (id, p) in ids {
        let _ = write!(
            s,
            "\n[detectors.{id}]\npurpose = \"{p}\"\nlawful_basis = \"Law enforcement processing for the prevention and detection of misconduct and crime by staff (DPA 2018 Part 3); synthetic data\"\ndpia = \"DPIA-DEMO-{id}\"\nalternative_considered = \"Manual sampling by supervisors: reviewed and found to miss repeated patterns while exposing more people to scrutiny.\"\napprover = {approver:?}\napproved_on = {approved_on}\nreview_by = {review}\nfindings_retention_days = 365\n",
        );
    }
    s
}
