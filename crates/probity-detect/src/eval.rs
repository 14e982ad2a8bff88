//! Evaluation against ground truth, by the contract's rule: a finding
//! matches a truth row when person and scenario are equal and the periods
//! overlap. Precision = matched findings / findings; recall = truth rows
//! matched / truth rows.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use probity_core::time::parse_date;
use probity_core::{IdDomain, PseudonymKey, Scenario};
use serde::Serialize;

use crate::finding::FindingRecord;
use crate::{Error, Result};

/// One ground-truth row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRow {
    /// Person (real id, or pseudonym after [`pseudonymise`]).
    pub person_id: String,
    /// Scenario.
    pub scenario: Scenario,
    /// First day (days since the epoch).
    pub start: i32,
    /// Last day.
    pub end: i32,
}

/// An innocent look-alike planted by the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfounderRow {
    /// Person.
    pub person_id: String,
    /// The kind of look-alike.
    pub kind: String,
    /// The scenario they must not be flagged for.
    pub scenario: Scenario,
}

pub(crate) fn read_csv(
    path: &Path,
    need: &[&str],
) -> Result<Vec<(usize, HashMap<String, String>)>> {
    let mut r = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            line: 1,
            reason: e.to_string(),
        })?;
    let headers = r
        .headers()
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            line: 1,
            reason: e.to_string(),
        })?
        .clone();
    for n in need {
        if !headers.iter().any(|h| h == *n) {
            return Err(Error::Format {
                path: path.to_path_buf(),
                line: 1,
                reason: format!(
                    "missing column {n}; the header must hold {}",
                    need.join(", ")
                ),
            });
        }
    }
    let mut out = vec![];
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| Error::Format {
            path: path.to_path_buf(),
            line: i + 2,
            reason: e.to_string(),
        })?;
        let row = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        out.push((i + 2, row));
    }
    Ok(out)
}

fn scenario_of(path: &Path, line: usize, v: &str) -> Result<Scenario> {
    Scenario::from_id(v).ok_or_else(|| Error::Format {
        path: path.to_path_buf(),
        line,
        reason: format!("scenario {v:?} is not a contract scenario id"),
    })
}

/// Reads `truth.csv` (person_id, scenario, period_start, period_end).
pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>> {
    let mut out = vec![];
    for (line, row) in read_csv(
        path,
        &["person_id", "scenario", "period_start", "period_end"],
    )? {
        let date = |field: &str| {
            parse_date(&row[field]).map_err(|e| Error::Format {
                path: path.to_path_buf(),
                line,
                reason: format!("{field}: {e}"),
            })
        };
        let (start, end) = (date("period_start")?, date("period_end")?);
        if end < start {
            return Err(Error::Format {
                path: path.to_path_buf(),
                line,
                reason: "period_end is before period_start".into(),
            });
        }
        out.push(TruthRow {
            person_id: row["person_id"].clone(),
            scenario: scenario_of(path, line, &row["scenario"])?,
            start,
            end,
        });
    }
    Ok(out)
}

/// Reads `confounders.csv` (person_id, kind, scenario).
pub fn read_confounders(path: &Path) -> Result<Vec<ConfounderRow>> {
    let mut out = vec![];
    for (line, row) in read_csv(path, &["person_id", "kind", "scenario"])? {
        out.push(ConfounderRow {
            person_id: row["person_id"].clone(),
            kind: row["kind"].clone(),
            scenario: scenario_of(path, line, &row["scenario"])?,
        });
    }
    Ok(out)
}

/// Replaces real person ids by the store's pseudonyms, so pseudonymised
/// findings can be evaluated without revealing anyone.
pub fn pseudonymise<'a>(key: &PseudonymKey, ids: impl Iterator<Item = &'a mut String>) {
    for id in ids {
        *id = key.pseudonym(IdDomain::Person, id);
    }
}

/// Counts and rates for one scenario (or overall).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Findings.
    pub findings: usize,
    /// Findings that match a truth row.
    pub matched_findings: usize,
    /// Truth rows.
    pub truth: usize,
    /// Truth rows matched by some finding.
    pub matched_truth: usize,
    /// matched_findings / findings (1 when there are no findings).
    pub precision: f64,
    /// matched_truth / truth (1 when there is no truth).
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Findings on a planted look-alike, in the look-alike's scenario.
    pub confounders_flagged: usize,
}

impl Metrics {
    fn rates(&mut self) {
        self.precision = if self.findings == 0 {
            1.0
        } else {
            self.matched_findings as f64 / self.findings as f64
        };
        self.recall = if self.truth == 0 {
            1.0
        } else {
            self.matched_truth as f64 / self.truth as f64
        };
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
    }
}

/// The evaluation: per scenario and overall.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Per scenario id, in contract order.
    pub scenarios: BTreeMap<String, Metrics>,
    /// All scenarios together (micro-averaged).
    pub overall: Metrics,
    /// Look-alikes flagged in their scenario: (person, kind, finding_id).
    pub confounder_hits: Vec<(String, String, String)>,
}

/// Applies the contract's matching rule.
pub fn evaluate(
    findings: &[FindingRecord],
    truth: &[TruthRow],
    confounders: &[ConfounderRow],
) -> Evaluation {
    let mut per: BTreeMap<Scenario, Metrics> = Scenario::ALL
        .iter()
        .map(|s| (*s, Metrics::default()))
        .collect();
    let mut by_key: HashMap<(&str, Scenario), Vec<usize>> = HashMap::new();
    for (i, t) in truth.iter().enumerate() {
        by_key
            .entry((t.person_id.as_str(), t.scenario))
            .or_default()
            .push(i);
        per.get_mut(&t.scenario).expect("every scenario").truth += 1;
    }
    let conf: HashMap<(&str, Scenario), &str> = confounders
        .iter()
        .map(|c| ((c.person_id.as_str(), c.scenario), c.kind.as_str()))
        .collect();
    let mut truth_hit = vec![false; truth.len()];
    let mut hits = vec![];
    for f in findings {
        let Some(s) = Scenario::from_id(&f.scenario) else {
            continue;
        };
        let (Ok(fs), Ok(fe)) = (parse_date(&f.period_start), parse_date(&f.period_end)) else {
            continue;
        };
        let m = per.get_mut(&s).expect("every scenario");
        m.findings += 1;
        let mut matched = false;
        if let Some(rows) = by_key.get(&(f.person_id.as_str(), s)) {
            for &i in rows {
                let t = &truth[i];
                if fs <= t.end && t.start <= fe {
                    matched = true;
                    truth_hit[i] = true;
                }
            }
        }
        if matched {
            m.matched_findings += 1;
        }
        if let Some(kind) = conf.get(&(f.person_id.as_str(), s)) {
            m.confounders_flagged += 1;
            hits.push((f.person_id.clone(), kind.to_string(), f.finding_id.clone()));
        }
    }
    for (i, t) in truth.iter().enumerate() {
        if truth_hit[i] {
            per.get_mut(&t.scenario)
                .expect("every scenario")
                .matched_truth += 1;
        }
    }
    let mut overall = Metrics::default();
    for m in per.values_mut() {
        m.rates();
        overall.findings += m.findings;
        overall.matched_findings += m.matched_findings;
        overall.truth += m.truth;
        overall.matched_truth += m.matched_truth;
        overall.confounders_flagged += m.confounders_flagged;
    }
    overall.rates();
    Evaluation {
        scenarios: per
            .into_iter()
            .map(|(s, m)| (s.id().to_string(), m))
            .collect(),
        overall,
        confounder_hits: hits,
    }
}

impl Evaluation {
    /// The per-scenario table as text.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<22} {:>8} {:>8} {:>6} {:>6} {:>9} {:>7} {:>6} {:>11}\n",
            "scenario",
            "findings",
            "matched",
            "truth",
            "found",
            "precision",
            "recall",
            "F1",
            "lookalikes"
        );
        let row = |name: &str, m: &Metrics| {
            format!(
                "{:<22} {:>8} {:>8} {:>6} {:>6} {:>9.3} {:>7.3} {:>6.3} {:>11}\n",
                name,
                m.findings,
                m.matched_findings,
                m.truth,
                m.matched_truth,
                m.precision,
                m.recall,
                m.f1,
                m.confounders_flagged
            )
        };
        for s in Scenario::ALL {
            if let Some(m) = self.scenarios.get(s.id()) {
                out.push_str(&row(s.id(), m));
            }
        }
        out.push_str(&row("overall", &self.overall));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(person: &str, s: &str, a: &str, b: &str) -> FindingRecord {
        FindingRecord {
            finding_id: format!("f-{person}-{a}"),
            scenario: s.into(),
            detector: "d".into(),
            person_id: person.into(),
            period_start: a.into(),
            period_end: b.into(),
            score: 0.5,
            summary: String::new(),
            facts: BTreeMap::new(),
            evidence: vec![],
        }
    }

    fn t(person: &str, s: Scenario, a: &str, b: &str) -> TruthRow {
        TruthRow {
            person_id: person.into(),
            scenario: s,
            start: parse_date(a).unwrap(),
            end: parse_date(b).unwrap(),
        }
    }

    #[test]
    fn the_contract_matching_rule() {
        let truth = vec![
            t("P1", Scenario::GhostOvertime, "2026-02-01", "2026-02-10"),
            t("P2", Scenario::GhostOvertime, "2026-03-01", "2026-03-01"),
            t("P3", Scenario::SystemMisuse, "2026-01-01", "2026-01-31"),
        ];
        let findings = vec![
            // Overlaps on the last day: a match.
            f("P1", "ghost_overtime", "2026-02-10", "2026-02-12"),
            // A second finding on the same truth row also counts as matched.
            f("P1", "ghost_overtime", "2026-02-01", "2026-02-01"),
            // Right person, wrong period.
            f("P2", "ghost_overtime", "2026-03-02", "2026-03-05"),
            // Right person and period, wrong scenario.
            f("P3", "ghost_overtime", "2026-01-05", "2026-01-06"),
            // Look-alike flagged in their scenario.
            f("P9", "system_misuse", "2026-01-05", "2026-01-06"),
        ];
        let conf = vec![ConfounderRow {
            person_id: "P9".into(),
            kind: "high_volume_legitimate".into(),
            scenario: Scenario::SystemMisuse,
        }];
        let e = evaluate(&findings, &truth, &conf);
        let g = &e.scenarios["ghost_overtime"];
        assert_eq!(
            (g.findings, g.matched_findings, g.truth, g.matched_truth),
            (4, 2, 2, 1)
        );
        assert!((g.precision - 0.5).abs() < 1e-9 && (g.recall - 0.5).abs() < 1e-9);
        let m = &e.scenarios["system_misuse"];
        assert_eq!((m.findings, m.matched_findings, m.matched_truth), (1, 0, 0));
        assert_eq!(m.confounders_flagged, 1);
        assert_eq!(e.overall.findings, 5);
        assert_eq!(e.overall.matched_truth, 1);
        assert!((e.overall.recall - 1.0 / 3.0).abs() < 1e-9);
        // No findings and no truth: perfect by convention, not NaN.
        let empty = &e.scenarios["complaint_pattern"];
        assert_eq!((empty.precision, empty.recall), (1.0, 1.0));
    }
}
