//! The governance workflow a DPO follows: the template uncommented is valid
//! TOML, `check` lists every problem at once in file order, and a filled-in
//! template approves what it says.

use std::path::Path;

use probity_govern::{Error, check_governance, governance_template};

fn today() -> jiff::civil::Date {
    "2026-12-06".parse().unwrap()
}

/// What a user does with the template: remove the leading `# ` of the
/// block lines (headers and `key = value` lines), leave notes alone.
fn uncomment(template: &str) -> String {
    template
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest.to_string()
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn problems(text: &str) -> Vec<probity_policy::PolicyError> {
    match check_governance(text, Path::new("g.toml"), None) {
        Ok(_) => vec![],
        Err(Error::GovernanceProblems(p)) => p,
        Err(e) => panic!("not a list of problems: {e}"),
    }
}

#[test]
fn the_template_is_valid_as_written_and_approves_nothing() {
    let t = governance_template(today());
    let g = check_governance(&t, Path::new("g.toml"), None).expect("valid as written");
    assert!(g.detectors.is_empty());
    assert!(t.contains("approved_on = 2026-12-06"), "real dates to edit");
    assert!(t.contains("review_by = 2027-12-06"));
    assert!(!t.contains("YYYY"));
}

#[test]
fn uncommented_the_template_is_valid_toml_whose_only_problems_are_its_todos_all_at_once() {
    let text = uncomment(&governance_template(today()));
    let ps = problems(&text);
    let approvals = probity_detect::governance::known_ids().len();
    // Four TODO fields per approval, no syntax error, no duplicate purpose.
    assert_eq!(ps.len(), 4 * approvals, "{ps:#?}");
    assert!(
        ps.iter().all(|p| p.reason.contains("placeholder")),
        "{ps:#?}"
    );
    let lines: Vec<usize> = ps.iter().map(|p| p.line.unwrap()).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "file order");
    for p in &ps {
        let line = text.lines().nth(p.line.unwrap() - 1).unwrap();
        let key = p.field.rsplit('.').next().unwrap();
        assert!(
            line.starts_with(key) && line.contains("TODO"),
            "{p:?} → {line}"
        );
    }
    // Filled in, it approves every detector and scoring.
    let filled = text.replace("\"TODO\"", "\"Filled in by the DPO\"");
    let g = check_governance(&filled, Path::new("g.toml"), None).expect("valid once filled");
    assert_eq!(g.detectors.len(), approvals);
}

#[test]
fn a_purpose_that_does_not_enable_what_its_detector_reads_is_a_problem_with_the_fix() {
    let filled = uncomment(&governance_template(today())).replace("\"TODO\"", "\"Filled in\"");
    // ghost_overtime's purpose without the building-access category.
    let start = filled.find("[purposes.ghost_overtime]").unwrap();
    let cats = start + filled[start..].find("categories = [").unwrap();
    let end = cats + filled[cats..].find('\n').unwrap();
    let line = &filled[cats..end];
    assert!(line.contains("\"building_access\""), "{line}");
    let broken = format!(
        "{}{}{}",
        &filled[..cats],
        line.replace("\"building_access\", ", "")
            .replace(", \"building_access\"", ""),
        &filled[end..]
    );
    let ps = problems(&broken);
    assert!(!ps.is_empty());
    assert!(
        ps.iter().all(
            |p| p.reason.contains("'building_access'") && p.reason.contains("would be refused")
        ),
        "{ps:#?}"
    );
    assert!(
        ps.iter()
            .any(|p| p.field == "detectors.overtime_without_presence.purpose"),
        "{ps:#?}"
    );
}

#[test]
fn a_duplicated_section_is_named_with_both_lines() {
    let text = format!(
        "{}\n[purposes.pay]\ndescription = \"a\"\ncategories = [\"rosters\"]\n\n[purposes.pay]\ndescription = \"b\"\ncategories = [\"rosters\"]\n",
        probity_policy::TEMPLATE_HEAD
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let msg = ps[0].to_string();
    assert!(msg.contains("purposes.pay"), "{msg}");
    let first = text.lines().position(|l| l == "[purposes.pay]").unwrap() + 1;
    assert!(msg.contains(&format!("line {first}")), "{msg}");
}

#[test]
fn the_change_is_said_in_words() {
    let filled = uncomment(&governance_template(today())).replace("\"TODO\"", "\"Filled in\"");
    let old = check_governance(&filled, Path::new("g.toml"), None).unwrap();
    let mut new_text = filled.replace(
        "review_by = 2027-12-06\nfindings_retention_days = 365\n\n# ---- purpose",
        "review_by = 2027-06-01\nfindings_retention_days = 365\n\n# ---- purpose",
    );
    assert_ne!(new_text, filled);
    // Withdraw anomaly_score (the last block).
    let cut = new_text.rfind("[detectors.anomaly_score]").unwrap();
    new_text.truncate(cut);
    let new = check_governance(&new_text, Path::new("g.toml"), None).unwrap();
    let change = probity_govern::governance_diff(Some(&old), &new);
    let lines = change.lines().join("\n");
    assert!(lines.contains("withdrawn anomaly_score"), "{lines}");
    assert!(
        lines.contains("review_by: 2027-12-06 → 2027-06-01"),
        "{lines}"
    );
    let all_new = probity_govern::governance_diff(None, &new)
        .lines()
        .join("\n");
    assert!(
        all_new.contains(
            "approved  overtime_without_presence (purpose ghost_overtime, until 2027-06-01)"
        ),
        "{all_new}"
    );
    let same = probity_govern::governance_diff(Some(&new), &new);
    assert!(same.is_empty());
    assert!(same.lines()[0].starts_with("no change"));
}

#[test]
fn scoring_needs_only_the_categories_of_the_tables_a_store_holds() {
    use probity_policy::{Category, Governance};
    let text = format!(
        "{}\n[purposes.early_warning]\ndescription = \"Early warning\"\ncategories = [\"staff_records\", \"complaints\"]\n\n\
         [detectors.risk_model]\npurpose = \"early_warning\"\nlawful_basis = \"Part 3\"\ndpia = \"DPIA-1\"\n\
         alternative_considered = \"Supervisors' judgement alone\"\napprover = \"DCC\"\napproved_on = 2026-12-06\n\
         review_by = 2027-12-06\nfindings_retention_days = 365\n",
        probity_policy::TEMPLATE_HEAD
    );
    let registry = probity_detect::governance::registry();
    let path = Path::new("g.toml");
    // A force holding only staff records and complaints: minimal and valid.
    let held = [Category::StaffRecords, Category::Complaints];
    assert!(Governance::check(&text, path, &registry, Some(&held)).is_ok());
    assert!(Governance::check(&text, path, &registry, None).is_ok());
    // A store that also holds rosters: scoring would read them, so the
    // purpose must say so.
    let held = [
        Category::StaffRecords,
        Category::Complaints,
        Category::Rosters,
    ];
    let ps = Governance::check(&text, path, &registry, Some(&held)).unwrap_err();
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert!(
        ps[0].reason.contains("'rosters' (held in this store)"),
        "{ps:#?}"
    );
    // Without complaints it can never run.
    let no_complaints = text.replace(", \"complaints\"]", "]");
    let ps = Governance::check(&no_complaints, path, &registry, None).unwrap_err();
    assert!(ps[0].reason.contains("'complaints'"), "{ps:#?}");
}
