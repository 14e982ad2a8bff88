//! The built-in detectors. To add one: write a file here exporting a
//! `Detector` constant (see any of these), and list it in [`ALL`].

pub mod attendance;
pub mod common;
pub mod complaints;
pub mod ghost_overtime;
pub mod leave_overlap;
pub mod post_case_contact;
pub mod roster_manipulation;
pub mod system_misuse;
pub mod undeclared_interest;
pub mod vocabulary;

use crate::Detector;

/// Every detector, in the order they run and report.
pub const ALL: &[Detector] = &[
    roster_manipulation::DETECTOR,
    ghost_overtime::DETECTOR,
    attendance::DETECTOR,
    undeclared_interest::DETECTOR,
    system_misuse::DETECTOR,
    post_case_contact::DETECTOR,
    leave_overlap::DETECTOR,
    complaints::PEER,
    complaints::THRESHOLD,
];

/// The detector with this id.
pub fn by_id(id: &str) -> Option<&'static Detector> {
    ALL.iter().find(|d| d.id == id)
}

/// A list of strings as an SQL `IN (...)` body, quotes escaped.
pub(crate) fn sql_list(items: &[String]) -> String {
    if items.is_empty() {
        return "NULL".to_string();
    }
    items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_registry_is_consistent() {
        let mut ids = HashSet::new();
        for d in ALL {
            assert!(ids.insert(d.id), "duplicate detector id {}", d.id);
            assert!(!d.purpose.is_empty() && !d.title.is_empty());
            let mut names = HashSet::new();
            for p in d.params {
                assert!(
                    names.insert(p.name),
                    "{}: duplicate parameter {}",
                    d.id,
                    p.name
                );
                assert_ne!(p.name, "enabled", "{}: 'enabled' is reserved", d.id);
            }
        }
        // At least one real (non-baseline) detector per contract scenario.
        for s in probity_core::Scenario::ALL {
            assert!(
                ALL.iter().any(|d| d.scenario == s && !d.baseline),
                "no detector for {s}"
            );
        }
    }

    #[test]
    fn sql_lists_escape_quotes() {
        assert_eq!(sql_list(&["a".into(), "o'b".into()]), "'a', 'o''b'");
        assert_eq!(sql_list(&[]), "NULL");
    }
}
