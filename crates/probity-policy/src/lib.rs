//! Probity's governance policy, as data the code enforces: which detectors
//! may run, for which purpose, on which data categories, until when
//! ([`Governance`], read from `governance.toml`); minimisation and retention
//! settings; and who may do what ([`Role`], [`Users`]). No I/O beyond
//! reading a file; enforcement happens where the actions are (detector
//! planning, reveal, retention), which all consult this crate.
//!
//! ```
//! use probity_policy::{Governance, Refusal};
//! use probity_core::Table;
//! let g = Governance::parse(probity_policy::TEMPLATE_HEAD, "governance.toml".as_ref()).unwrap();
//! let today = "2026-11-27".parse().unwrap();
//! assert_eq!(g.decide("ghost_overtime", &[Table::Shifts], false, today), Err(Refusal::NotApproved));
//! ```
#![deny(missing_docs)]

pub mod access;
pub mod category;
pub mod governance;

pub use access::{Action, Denied, Role, User, Users};
pub use category::Category;
pub use governance::{Approval, Governance, Permit, PolicyError, Reads, Refusal};

/// The head of a governance file: organisation and the default
/// minimisation and retention, with no purposes or approvals. `probity init`
/// writes it followed by a commented approval template per detector.
pub const TEMPLATE_HEAD: &str = r#"# Probity governance file. `analyze` runs only the detectors approved here,
# for their purpose, on the data categories the purpose enables, until their
# review date. Change it with `probity governance apply FILE --as ADMIN`
# (validated and recorded on the audit log); a direct edit is refused.

[organisation]
name = "Example Constabulary"
contact = "The Data Protection Officer, Professional Standards Department"
subject_access = "Ask the Data Protection Officer for your subject access report: it lists every kind of data held about you, every check run over it, any findings and their outcome, and everyone who looked at your data and why."

[minimisation]
# Device locations further than this from any of the holder's shifts are off
# duty: dropped at ingest and only counted.
location_grace_minutes = 30
# Raw location pings older than this are reduced to one fact per shift (on
# site yes/no) and deleted by `probity retention apply`.
raw_location_days = 30

[review]
# Days a member of staff has to respond, in the web UI, after being told that
# a prevention notice is proposed. The notice cannot be issued before they
# have responded or the window has closed.
response_window_days = 14

[fairness]
# Every analysis and scoring run audits each detector and model by rank,
# unit, working hours, and sex and ethnicity where equality monitoring is
# held (`probity fairness STORE`). When true, the findings (or scores) of one
# whose audit shows a significant disparity are withheld until a reviewer
# signs it off (`probity fairness sign-off DETECTOR --reason ...`, audited).
block_flagged = false

[retention]
# Days to keep rows of dated tables (rows older are deleted by
# `probity retention apply`). Tables not listed are kept.
tables = { badge_events = 730, device_sessions = 730, system_queries = 1095 }
# Days to keep quarantined rows (they hold identities as read).
quarantine_days = 90
# Days to keep a finding once it reached a status.
findings = { no_further_action = 90, advice = 365 }
"#;
