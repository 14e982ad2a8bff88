//! Probity's domain core: the canonical schema of the data contract, the
//! contract's time rules and keyed pseudonyms. No I/O.
//!
//! ```
//! use probity_core::schema::Table;
//! use probity_core::time::TimeRules;
//!
//! let shifts = Table::Shifts.def();
//! assert_eq!(shifts.primary_key, Some("shift_id"));
//! let london = TimeRules::new("Europe/London").unwrap();
//! // A local time in the spring-forward gap does not exist.
//! assert!(london.parse_timestamp("2026-03-29T01:30:00").is_err());
//! ```
#![deny(missing_docs)]

pub mod pseudonym;
pub mod scenario;
pub mod schema;
pub mod stats;
pub mod time;

pub use pseudonym::PseudonymKey;
pub use scenario::Scenario;
pub use schema::{ColType, ColumnDef, Handling, IdDomain, SOURCE_COLUMN, Table, TableDef};
pub use time::{TimeError, TimeRules};

/// Errors of the core crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured time zone is not in the time-zone database.
    #[error("unknown time zone {0:?} ({1}); use an IANA name such as Europe/London")]
    UnknownTimeZone(String, String),
}

/// The core crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
