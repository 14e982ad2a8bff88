//! The findings register: every finding an analysis produced, under its
//! pseudonym, with its review status. `STORE/findings/register.jsonl`, one
//! finding per line, replaced atomically. An analysis adds new findings as
//! `new` and marks those seen again; triage changes a status (audited);
//! retention purges by status and age.

use std::collections::BTreeMap;
use std::path::PathBuf;

use probity_detect::Finding;
use probity_detect::finding::{FindingRecord, Identity, record};
use probity_store::Store;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A finding in the register.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registered {
    /// The finding, as the contract writes it (pseudonymised).
    #[serde(flatten)]
    pub finding: FindingRecord,
    /// `new`, or a triage outcome (see `probity_policy::governance::FINDING_STATUSES`).
    pub status: String,
    /// When the status was set (RFC 3339).
    pub status_at: String,
    /// The reason given for the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Who set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_by: Option<String>,
    /// First analysis run that produced it.
    pub first_run: String,
    /// When it was last produced (RFC 3339).
    pub last_seen: String,
}

/// The register.
#[derive(Debug, Clone, Default)]
pub struct Register {
    path: PathBuf,
    /// Findings by id.
    pub items: BTreeMap<String, Registered>,
    /// Findings purged by retention: id → (status when purged, when). A
    /// later analysis that finds the same finding again does not bring it
    /// back as `new` (its outcome was decided; the id carries no personal
    /// data).
    pub purged: BTreeMap<String, (String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Tombstone {
    purged: String,
    status: String,
    at: String,
}

/// What merging a run into the register did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Findings seen for the first time.
    pub new: usize,
    /// Findings already registered, seen again.
    pub seen_again: usize,
    /// Findings found again after retention purged them (not re-added).
    pub already_purged: usize,
}

impl Register {
    /// Reads the store's register (empty if there is none yet).
    pub fn load(store: &Store) -> Result<Register> {
        let path = store.root().join("findings").join("register.jsonl");
        let mut items = BTreeMap::new();
        let mut purged = BTreeMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let fmt = |e: serde_json::Error| Error::Format {
                    path: path.clone(),
                    line: i + 1,
                    reason: e.to_string(),
                };
                if line.starts_with("{\"purged\"") {
                    let t: Tombstone = serde_json::from_str(line).map_err(fmt)?;
                    purged.insert(t.purged, (t.status, t.at));
                    continue;
                }
                let r: Registered = serde_json::from_str(line).map_err(fmt)?;
                items.insert(r.finding.finding_id.clone(), r);
            }
        }
        Ok(Register {
            path,
            items,
            purged,
        })
    }

    /// Writes the register atomically.
    pub fn save(&self) -> Result<()> {
        let dir = self.path.parent().expect("register has a directory");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut out = String::new();
        for r in self.items.values() {
            out.push_str(&serde_json::to_string(r).expect("register entries serialise"));
            out.push('\n');
        }
        for (id, (status, at)) in &self.purged {
            let t = Tombstone {
                purged: id.clone(),
                status: status.clone(),
                at: at.clone(),
            };
            out.push_str(&serde_json::to_string(&t).expect("tombstones serialise"));
            out.push('\n');
        }
        probity_store::fsio::write_atomic(&self.path, out.as_bytes())?;
        Ok(())
    }

    /// Adds a run's findings: new ones as `new`, known ones refreshed
    /// (their status is kept).
    pub fn merge(&mut self, findings: &[Finding], run: &str, now: &str) -> Merged {
        let mut m = Merged::default();
        for f in findings {
            let rec = record(f, &Identity::Pseudonyms);
            if self.purged.contains_key(&rec.finding_id) {
                m.already_purged += 1;
                continue;
            }
            match self.items.get_mut(&rec.finding_id) {
                Some(r) => {
                    r.finding = rec;
                    r.last_seen = now.to_string();
                    m.seen_again += 1;
                }
                None => {
                    self.items.insert(
                        rec.finding_id.clone(),
                        Registered {
                            finding: rec,
                            status: "new".into(),
                            status_at: now.to_string(),
                            status_reason: None,
                            status_by: None,
                            first_run: run.to_string(),
                            last_seen: now.to_string(),
                        },
                    );
                    m.new += 1;
                }
            }
        }
        m
    }

    /// A finding by id.
    pub fn get(&self, id: &str) -> Option<&Registered> {
        self.items.get(id)
    }

    /// Findings about one person (by pseudonym).
    pub fn about<'a>(&'a self, pseudonym: &'a str) -> impl Iterator<Item = &'a Registered> + 'a {
        self.items
            .values()
            .filter(move |r| r.finding.person_id == pseudonym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probity_core::Scenario;

    fn finding(id: &str) -> Finding {
        let mut f = Finding::new(
            Scenario::GhostOvertime,
            "overtime_without_presence",
            "p-00000000000000000001",
            (20_000, 20_010),
            0.9,
            "Overtime with no presence.".into(),
        );
        f.finding_id = id.into();
        f
    }

    #[test]
    fn merging_keeps_statuses_and_never_revives_a_purged_finding() {
        let mut r = Register::default();
        let m = r.merge(
            &[finding("f-a"), finding("f-b")],
            "a1",
            "2026-01-01T00:00:00Z",
        );
        assert_eq!((m.new, m.seen_again), (2, 0));
        r.items.get_mut("f-a").unwrap().status = "advice".into();
        r.items.remove("f-b");
        r.purged.insert(
            "f-b".into(),
            ("no_further_action".into(), "2026-04-01T00:00:00Z".into()),
        );
        let m = r.merge(
            &[finding("f-a"), finding("f-b"), finding("f-c")],
            "a2",
            "2026-05-01T00:00:00Z",
        );
        assert_eq!((m.new, m.seen_again, m.already_purged), (1, 1, 1));
        assert_eq!(r.items["f-a"].status, "advice");
        assert_eq!(r.items["f-a"].last_seen, "2026-05-01T00:00:00Z");
        assert!(!r.items.contains_key("f-b"));
        assert_eq!(r.items["f-c"].status, "new");
    }
}
