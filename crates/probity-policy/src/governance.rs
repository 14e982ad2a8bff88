//! `governance.toml`: what may run, why, on which data, for how long.
//!
//! Every detector must be approved here before `analyze` runs it: a purpose
//! (which enables data categories), the lawful basis, the DPIA reference, the
//! less intrusive alternative that was considered, who approved it and when,
//! the date by which the approval must be reviewed, and how long its findings
//! are kept. The file also configures minimisation and retention. Unknown
//! keys, empty or placeholder values, impossible dates and unknown
//! categories, tables or statuses are errors naming the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use probity_core::Table;
use serde::{Deserialize, Serialize};

use crate::category::Category;

/// Finding statuses that retention can be set for. `new` is a finding no one
/// has triaged yet; the others are the triage outcomes of the review
/// workflow.
pub const FINDING_STATUSES: &[&str] = &[
    "new",
    "no_further_action",
    "advice",
    "prevention_notice",
    "referral",
];

/// A mistake in governance.toml.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {field}: {reason}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct PolicyError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, where it can be located.
    pub line: Option<usize>,
    /// The field, as a dotted path (`detectors.ghost_overtime.review_by`).
    pub field: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// The parsed, validated governance file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    /// Who is responsible, and how staff reach them.
    pub organisation: Organisation,
    /// Data minimisation.
    #[serde(default)]
    pub minimisation: Minimisation,
    /// Retention periods.
    #[serde(default)]
    pub retention: Retention,
    /// The review workflow's safeguards.
    #[serde(default)]
    pub review: Review,
    /// The fairness audit's safeguard.
    #[serde(default)]
    pub fairness: FairnessPolicy,
    /// Purposes, each enabling data categories.
    #[serde(default)]
    pub purposes: BTreeMap<String, Purpose>,
    /// Detector approvals, by detector id.
    #[serde(default)]
    pub detectors: BTreeMap<String, Approval>,
}

/// `[organisation]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// The organisation (the data controller).
    pub name: String,
    /// Who answers questions about Probity (e.g. the Data Protection Officer).
    pub contact: String,
    /// How a member of staff gets their own subject access report.
    pub subject_access: String,
    /// How staff and their representatives were consulted (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consultation: Option<String>,
}

/// `[minimisation]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Minimisation {
    /// Device locations further than this from any of the holder's shifts
    /// are off duty: dropped at ingest, only counted.
    #[serde(default = "default_grace")]
    pub location_grace_minutes: u32,
    /// Raw location pings older than this many days are reduced to one fact
    /// per shift (on site yes/no) and deleted by `probity retention apply`.
    #[serde(default = "default_raw_days")]
    pub raw_location_days: u32,
}

impl Default for Minimisation {
    fn default() -> Self {
        Minimisation {
            location_grace_minutes: default_grace(),
            raw_location_days: default_raw_days(),
        }
    }
}

/// `[review]`: the review workflow's safeguards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Days a member of staff has to respond after being told that a
    /// prevention notice is proposed; the notice cannot be issued before
    /// they respond or the window closes.
    #[serde(default = "default_response_days")]
    pub response_window_days: u32,
}

impl Default for Review {
    fn default() -> Self {
        Review {
            response_window_days: default_response_days(),
        }
    }
}

/// `[fairness]`: what a flagged disparity does.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FairnessPolicy {
    /// When true, a detector or model whose latest fairness audit shows a
    /// significant disparity (a group's rate outside 0.8–1.25 of the
    /// reference group's, not a small group, |z| ≥ 1.96) has its findings
    /// or scores withheld until a reviewer signs that disparity off
    /// (`probity fairness sign-off`, audited).
    #[serde(default)]
    pub block_flagged: bool,
}

fn default_response_days() -> u32 {
    14
}

fn default_grace() -> u32 {
    30
}
fn default_raw_days() -> u32 {
    30
}
fn default_quarantine_days() -> u32 {
    90
}

/// `[retention]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days to keep rows of a dated table, by table name (rows older than
    /// this by their date column are deleted). Tables not listed are kept.
    #[serde(default)]
    pub tables: BTreeMap<String, u32>,
    /// Days to keep quarantined rows (they hold identities as read).
    #[serde(default = "default_quarantine_days")]
    pub quarantine_days: u32,
    /// Days to keep a finding after it reached a status, by status.
    #[serde(default)]
    pub findings: BTreeMap<String, u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            tables: BTreeMap::new(),
            quarantine_days: default_quarantine_days(),
            findings: BTreeMap::new(),
        }
    }
}

/// `[purposes.<id>]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// The purpose in plain English, for the staff notice.
    pub description: String,
    /// Data categories enabled for it (see `Category`).
    pub categories: Vec<String>,
}

/// `[detectors.<id>]`: one detector's approval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The purpose it serves (a key of `[purposes]`).
    pub purpose: String,
    /// The lawful basis relied on.
    pub lawful_basis: String,
    /// The reference of its data protection impact assessment.
    pub dpia: String,
    /// The less intrusive alternative considered, and why it was not enough.
    pub alternative_considered: String,
    /// Who approved it.
    pub approver: String,
    /// When (YYYY-MM-DD).
    pub approved_on: DateValue,
    /// The approval lapses after this day unless renewed (YYYY-MM-DD).
    pub review_by: DateValue,
    /// Days its findings are kept after they were last seen.
    pub findings_retention_days: u32,
}

/// A date written either as a TOML date (`2026-01-10`) or a string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DateValue {
    /// A TOML local date.
    Toml(toml::value::Datetime),
    /// A string `YYYY-MM-DD`.
    Text(String),
}

impl DateValue {
    fn parse(&self) -> Result<Date, String> {
        let text = match self {
            DateValue::Toml(d) => d.to_string(),
            DateValue::Text(s) => s.clone(),
        };
        text.parse::<Date>()
            .map_err(|_| format!("{text:?} is not a date; write YYYY-MM-DD"))
    }

    /// The date (validated when the file was loaded).
    pub fn date(&self) -> Date {
        self.parse().expect("validated when loaded")
    }
}

impl Approval {
    /// The approval date.
    pub fn approved(&self) -> Date {
        self.approved_on.date()
    }
    /// The review-by date.
    pub fn review_date(&self) -> Date {
        self.review_by.date()
    }
}

/// What an approvable id (a detector, or risk scoring) reads, for
/// [`Governance::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reads {
    /// The id.
    pub id: &'static str,
    /// Categories it reads whatever the store holds.
    pub always: Vec<Category>,
    /// Categories it reads only where the store holds their tables.
    pub where_held: Vec<Category>,
}

/// Why a detector may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It has no `[detectors.<id>]` approval.
    NotApproved,
    /// Its approval takes effect on a later day.
    NotYetInForce {
        /// The approval date.
        approved_on: Date,
    },
    /// Its approval's review date has passed.
    Expired {
        /// The review-by date.
        review_by: Date,
    },
    /// It reads categories its purpose does not enable.
    CategoryNotEnabled {
        /// The purpose.
        purpose: String,
        /// The categories it reads that are not enabled.
        missing: Vec<Category>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotApproved => f.write_str(
                "not approved in governance.toml (add a [detectors.<id>] approval and apply it with `probity governance apply`)",
            ),
            Refusal::NotYetInForce { approved_on } => write!(
                f,
                "approved only from {approved_on}; it does not run before then"
            ),
            Refusal::Expired { review_by } => write!(
                f,
                "approval lapsed: its review date {review_by} has passed (review it and set a new review_by)"
            ),
            Refusal::CategoryNotEnabled { purpose, missing } => write!(
                f,
                "reads {} which purpose {purpose:?} does not enable",
                missing
                    .iter()
                    .map(|c| format!("'{}'", c.id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// What an approved detector may do in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// The purpose it runs for.
    pub purpose: String,
    /// The categories it reads (all enabled for the purpose).
    pub categories: Vec<Category>,
}

impl Governance {
    /// Reads and validates a governance file.
    pub fn load(path: &Path) -> Result<Governance, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            path: path.to_path_buf(),
            line: None,
            field: "(file)".into(),
            reason: format!("cannot read it: {e}"),
        })?;
        Governance::parse(&text, path)
    }

    /// Parses and validates governance text; `path` names the file in errors.
    /// Returns the first problem in file order ([`Governance::check`] lists
    /// them all).
    pub fn parse(text: &str, path: &Path) -> Result<Governance, PolicyError> {
        let g = Governance::from_toml(text, path)?;
        let mut problems = g.problems(text, path);
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        match problems.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(g),
        }
    }

    fn from_toml(text: &str, path: &Path) -> Result<Governance, PolicyError> {
        toml::from_str(text).map_err(|e| {
            let span = e.span();
            let line = span
                .as_ref()
                .map(|s| text[..s.start].matches('\n').count() + 1);
            let message = e.message().trim_end().to_string();
            // toml says "duplicate key" without the key: name it from the
            // span (a `[table]` header defined twice, or a repeated key).
            let snippet = span
                .and_then(|s| text.get(s))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty() && t.len() < 200);
            let (field, reason) = match snippet {
                Some(t)
                    if message.starts_with("duplicate key")
                        || message.starts_with("duplicate table") =>
                {
                    // A `[table]` header defined twice: name the whole table
                    // and the line of its first definition.
                    let here = line
                        .and_then(|l| text.lines().nth(l - 1))
                        .map(str::trim)
                        .filter(|l| l.starts_with('['));
                    let (name, first) = match here {
                        Some(h) => (
                            h.trim_matches(['[', ']']).trim().to_string(),
                            text.lines()
                                .position(|l| l.trim() == h)
                                .filter(|i| Some(i + 1) != line)
                                .map(|i| format!(" (first defined on line {})", i + 1))
                                .unwrap_or_default(),
                        ),
                        None => (t.trim_matches(['[', ']']).trim().to_string(), String::new()),
                    };
                    (
                        name.clone(),
                        format!("{message}: `{name}` is defined twice{first}; keep one and merge what the two say"),
                    )
                }
                _ => ("(syntax)".to_string(), message),
            };
            PolicyError {
                path: path.to_path_buf(),
                line,
                field,
                reason,
            }
        })
    }

    fn problems(&self, text: &str, path: &Path) -> Vec<PolicyError> {
        let mut problems = vec![];
        let err = |section: &str, key: &str, reason: String| PolicyError {
            path: path.to_path_buf(),
            line: locate(text, section, key),
            field: if key.is_empty() {
                section.to_string()
            } else {
                format!("{section}.{key}")
            },
            reason,
        };
        let o = &self.organisation;
        for (key, v) in [
            ("name", &o.name),
            ("contact", &o.contact),
            ("subject_access", &o.subject_access),
        ] {
            if let Err(r) = filled(v) {
                problems.push(err("organisation", key, r));
            }
        }
        let m = &self.minimisation;
        if m.location_grace_minutes > 12 * 60 {
            problems.push(err(
                "minimisation",
                "location_grace_minutes",
                format!(
                    "{} minutes would keep off-duty locations; use at most 720",
                    m.location_grace_minutes
                ),
            ));
        }
        if m.raw_location_days == 0 {
            problems.push(err(
                "minimisation",
                "raw_location_days",
                "must be at least 1 day".into(),
            ));
        }
        let w = self.review.response_window_days;
        if !(1..=90).contains(&w) {
            problems.push(err(
                "review",
                "response_window_days",
                format!("{w} days: a member of staff needs a fair chance to respond; use 1 to 90"),
            ));
        }
        let r = &self.retention;
        for (table, days) in &r.tables {
            let ok = Table::from_name(table).filter(|t| retention_column(*t).is_some());
            if ok.is_none() {
                problems.push(err(
                    "retention.tables",
                    table,
                    format!(
                        "{table:?} is not a dated table; retention by age applies to: {}",
                        Table::ALL
                            .iter()
                            .filter(|t| retention_column(**t).is_some())
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if *days == 0 {
                problems.push(err(
                    "retention.tables",
                    table,
                    "must be at least 1 day".into(),
                ));
            }
        }
        if r.quarantine_days == 0 {
            problems.push(err(
                "retention",
                "quarantine_days",
                "must be at least 1 day".into(),
            ));
        }
        for (status, days) in &r.findings {
            if !FINDING_STATUSES.contains(&status.as_str()) {
                problems.push(err(
                    "retention.findings",
                    status,
                    format!(
                        "unknown finding status {status:?}; the statuses are: {}",
                        FINDING_STATUSES.join(", ")
                    ),
                ));
            }
            if *days == 0 {
                problems.push(err(
                    "retention.findings",
                    status,
                    "must be at least 1 day".into(),
                ));
            }
        }
        for (id, p) in &self.purposes {
            let section = format!("purposes.{id}");
            if let Err(r) = filled(&p.description) {
                problems.push(err(&section, "description", r));
            }
            if p.categories.is_empty() {
                problems.push(err(
                    &section,
                    "categories",
                    "enable at least one data category".into(),
                ));
            }
            for c in &p.categories {
                if Category::from_id(c).is_none() {
                    problems.push(err(
                        &section,
                        "categories",
                        format!(
                            "unknown data category {c:?}; the categories are: {}",
                            Category::ALL
                                .iter()
                                .map(|c| c.id())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        for (id, a) in &self.detectors {
            let section = format!("detectors.{id}");
            for (key, v) in [
                ("purpose", &a.purpose),
                ("lawful_basis", &a.lawful_basis),
                ("dpia", &a.dpia),
                ("alternative_considered", &a.alternative_considered),
                ("approver", &a.approver),
            ] {
                if let Err(r) = filled(v) {
                    problems.push(err(&section, key, r));
                }
            }
            if filled(&a.purpose).is_ok() && !self.purposes.contains_key(&a.purpose) {
                problems.push(err(
                    &section,
                    "purpose",
                    format!(
                        "no purpose {:?} is defined; define [purposes.{}] or use one of: {}",
                        a.purpose,
                        a.purpose,
                        self.purposes.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let approved = a.approved_on.parse();
            let review = a.review_by.parse();
            if let Err(r) = &approved {
                problems.push(err(&section, "approved_on", r.clone()));
            }
            if let Err(r) = &review {
                problems.push(err(&section, "review_by", r.clone()));
            }
            if let (Ok(approved), Ok(review)) = (approved, review)
                && review < approved
            {
                problems.push(err(
                    &section,
                    "review_by",
                    format!("{review} is before approved_on {approved}"),
                ));
            }
            if a.findings_retention_days == 0 {
                problems.push(err(
                    &section,
                    "findings_retention_days",
                    "must be at least 1 day".into(),
                ));
            }
        }
        problems
    }

    /// Every problem of the file against the registry of what can be
    /// approved: `registry` lists each approvable id with the data
    /// categories it always reads and those it reads only where the store
    /// holds them (risk scoring's optional feature tables). Besides
    /// [`Governance::parse`]'s checks, an approval must name a known id, and
    /// its purpose must enable every category that id always reads, and,
    /// when `held` gives the categories a store holds, every optional one
    /// the store holds (otherwise it would be refused when it runs). The
    /// problems come in file order; none means the file is valid. A syntax
    /// error stops the reading, so it comes alone.
    pub fn check(
        text: &str,
        path: &Path,
        registry: &[Reads],
        held: Option<&[Category]>,
    ) -> Result<Governance, Vec<PolicyError>> {
        let g = Governance::from_toml(text, path).map_err(|e| vec![e])?;
        let mut problems = g.problems(text, path);
        let known: Vec<&str> = registry.iter().map(|r| r.id).collect();
        if let Err(e) = g.check_known(&known, text, path) {
            problems.push(e);
        }
        for (id, a) in &g.detectors {
            let Some(reads) = registry.iter().find(|r| r.id == id) else {
                continue;
            };
            let Some(purpose) = g.purposes.get(&a.purpose) else {
                continue;
            };
            let needed = reads.always.iter().chain(
                reads
                    .where_held
                    .iter()
                    .filter(|c| held.is_some_and(|h| h.contains(c))),
            );
            let missing: Vec<&str> = needed
                .map(|c| c.id())
                .filter(|c| !purpose.categories.iter().any(|p| p == c))
                .collect();
            if !missing.is_empty() {
                problems.push(PolicyError {
                    path: path.to_path_buf(),
                    line: locate(text, &format!("detectors.{id}"), "purpose"),
                    field: format!("detectors.{id}.purpose"),
                    reason: format!(
                        "{id} reads {}{} which purpose {:?} does not enable, so it would be refused when it runs; \
                         add {} to [purposes.{}] categories (line {}) or choose a purpose that enables {}",
                        missing.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
                        if reads.always.iter().all(|c| !missing.contains(&c.id())) {
                            " (held in this store)"
                        } else {
                            ""
                        },
                        a.purpose,
                        missing.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", "),
                        a.purpose,
                        locate(text, &format!("purposes.{}", a.purpose), "categories")
                            .map_or("?".into(), |l| l.to_string()),
                        if missing.len() == 1 { "it" } else { "them" },
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(g)
        } else {
            problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.field.clone()));
            problems.dedup();
            Err(problems)
        }
    }

    /// Checks that every approval names a detector that exists.
    pub fn check_known(&self, known: &[&str], text: &str, path: &Path) -> Result<(), PolicyError> {
        for id in self.detectors.keys() {
            if !known.contains(&id.as_str()) {
                return Err(PolicyError {
                    path: path.to_path_buf(),
                    line: locate(text, &format!("detectors.{id}"), ""),
                    field: format!("detectors.{id}"),
                    reason: format!(
                        "no detector has this id; the detectors are: {}",
                        known.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Decides whether a detector reading `tables` (and the identity vault,
    /// with `identities`) may run on `today`.
    pub fn decide(
        &self,
        detector: &str,
        tables: &[Table],
        identities: bool,
        today: Date,
    ) -> Result<Permit, Refusal> {
        let a = self.detectors.get(detector).ok_or(Refusal::NotApproved)?;
        let review_by = a.review_date();
        if today < a.approved() {
            return Err(Refusal::NotYetInForce {
                approved_on: a.approved(),
            });
        }
        if today > review_by {
            return Err(Refusal::Expired { review_by });
        }
        let purpose = &self.purposes[&a.purpose];
        let categories = Category::read_by(tables, identities);
        let missing: Vec<Category> = categories
            .iter()
            .copied()
            .filter(|c| !purpose.categories.iter().any(|p| p == c.id()))
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::CategoryNotEnabled {
                purpose: a.purpose.clone(),
                missing,
            });
        }
        Ok(Permit {
            purpose: a.purpose.clone(),
            categories,
        })
    }

    /// The days a finding of `detector` with `status` is kept: the shorter of
    /// the detector's findings retention and the status's, if either is set.
    pub fn finding_retention(&self, detector: &str, status: &str) -> Option<u32> {
        let by_detector = self
            .detectors
            .get(detector)
            .map(|a| a.findings_retention_days);
        let by_status = self.retention.findings.get(status).copied();
        match (by_detector, by_status) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The column by whose date a table's rows age for retention, if any: the
/// event tables' partition column.
pub fn retention_column(table: Table) -> Option<&'static str> {
    table.def().partition_by
}

fn filled(v: &str) -> Result<(), String> {
    let t = v.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    let upper = t.to_ascii_uppercase();
    let upper = upper.trim_end_matches(['.', '!', ':']);
    if ["TODO", "TBC", "TBD", "FIXME", "XXX", "?"].contains(&upper)
        || upper.starts_with("TODO:")
        || upper.starts_with("TODO ")
        || (t.starts_with('<') && t.ends_with('>'))
    {
        return Err(format!("{t:?} is a placeholder; fill it in"));
    }
    Ok(())
}

/// The 1-based line of `key` inside the `[section]` table of a TOML text, or
/// of the section header when `key` is empty or not found.
pub fn locate(text: &str, section: &str, key: &str) -> Option<usize> {
    let header = |line: &str| {
        let l = line.trim();
        l.starts_with('[')
            && l.trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .replace('"', "")
                == section
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| header(l)) else {
        // An inline table (`tables = { badge_events = 730 }`): the line of
        // its key in the parent section.
        let (parent, last) = section.rsplit_once('.')?;
        return locate(text, parent, last);
    };
    if !key.is_empty() {
        for (i, l) in lines.iter().enumerate().skip(start + 1) {
            let t = l.trim();
            if t.starts_with('[') {
                break;
            }
            let name = t.split('=').next().unwrap_or("").trim().trim_matches('"');
            if t.contains('=') && name == key {
                return Some(i + 1);
            }
        }
    }
    Some(start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[organisation]
name = "Example Constabulary"
contact = "Data Protection Officer, dpo@example.org"
subject_access = "Ask the DPO for your report."

[retention]
tables = { badge_events = 730 }
findings = { no_further_action = 90 }

[purposes.pay]
description = "Detect overtime claimed without presence."
categories = ["rosters", "overtime", "building_access"]

[detectors.ghost_overtime]
purpose = "pay"
lawful_basis = "Law enforcement processing, DPA 2018 Part 3"
dpia = "DPIA-2026-014"
alternative_considered = "Manual sampling of claims: misses patterns."
approver = "Deputy Chief Constable"
approved_on = 2026-01-10
review_by = "2027-01-10"
findings_retention_days = 365
"#;

    fn p(text: &str) -> Result<Governance, PolicyError> {
        Governance::parse(text, Path::new("governance.toml"))
    }

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn approved_detectors_run_until_their_review_date() {
        let g = p(GOOD).unwrap();
        let tables = [Table::Shifts, Table::OvertimeClaims, Table::BadgeEvents];
        let ok = g
            .decide("ghost_overtime", &tables, false, d("2027-01-10"))
            .unwrap();
        assert_eq!(ok.purpose, "pay");
        assert_eq!(
            g.decide("ghost_overtime", &tables, false, d("2027-01-11")),
            Err(Refusal::Expired {
                review_by: d("2027-01-10")
            })
        );
        assert_eq!(
            g.decide("roster_self_edit", &tables, false, d("2026-06-01")),
            Err(Refusal::NotApproved)
        );
        assert_eq!(
            g.decide("ghost_overtime", &tables, false, d("2026-01-09")),
            Err(Refusal::NotYetInForce {
                approved_on: d("2026-01-10")
            })
        );
        // A name that merely contains a placeholder's letters is a name.
        let todorov = GOOD.replace("Deputy Chief Constable", "Supt Todorov");
        assert!(p(&todorov).is_ok());
        let e = g
            .decide(
                "ghost_overtime",
                &[Table::Shifts, Table::DeviceLocations, Table::Absences],
                true,
                d("2026-06-01"),
            )
            .unwrap_err();
        assert_eq!(
            e,
            Refusal::CategoryNotEnabled {
                purpose: "pay".into(),
                missing: vec![
                    Category::Identity,
                    Category::SicknessAndLeave,
                    Category::DeviceLocations
                ]
            }
        );
        assert!(e.to_string().contains("'sickness_and_leave'"), "{e}");
        assert_eq!(
            g.finding_retention("ghost_overtime", "no_further_action"),
            Some(90)
        );
        assert_eq!(g.finding_retention("ghost_overtime", "referral"), Some(365));
    }

    #[test]
    fn every_mistake_names_its_line_and_field() {
        let cases: &[(&str, &str, &str, usize)] = &[
            (
                "review_by = \"2027-01-10\"",
                "review_by = \"2027-13-10\"",
                "detectors.ghost_overtime.review_by",
                22,
            ),
            (
                "review_by = \"2027-01-10\"",
                "review_by = \"2025-01-10\"",
                "before approved_on",
                22,
            ),
            (
                "purpose = \"pay\"",
                "purpose = \"payroll\"",
                "detectors.ghost_overtime.purpose",
                16,
            ),
            (
                "dpia = \"DPIA-2026-014\"",
                "dpia = \"TODO\"",
                "placeholder",
                18,
            ),
            (
                "dpia = \"DPIA-2026-014\"",
                "dpia = \"  \"",
                "must not be empty",
                18,
            ),
            (
                "\"building_access\"]",
                "\"building_acess\"]",
                "unknown data category \"building_acess\"",
                13,
            ),
            ("badge_events = 730", "people = 730", "not a dated table", 8),
            (
                "no_further_action = 90",
                "dismissed = 90",
                "unknown finding status",
                9,
            ),
            (
                "findings_retention_days = 365",
                "findings_retention_days = 0",
                "at least 1 day",
                23,
            ),
            ("approver = ", "approvr = ", "unknown field `approvr`", 20),
        ];
        for (from, to, needle, line) in cases {
            let text = GOOD.replace(from, to);
            assert_ne!(text, GOOD, "{from}");
            let e = p(&text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(needle), "{to}: {msg}");
            assert_eq!(e.line, Some(*line), "{to}: {msg}");
            assert!(msg.starts_with("governance.toml, line"), "{msg}");
        }
        let g = p(GOOD).unwrap();
        let e = g
            .check_known(&["roster_self_edit"], GOOD, Path::new("governance.toml"))
            .unwrap_err();
        assert_eq!(e.line, Some(15));
        assert!(e.to_string().contains("roster_self_edit"));
    }
}
