//! Declarative mappings: source files of any layout into the tables of the
//! Probity data contract.
//!
//! A mapping is a TOML file (see `mappings/README.md` in the repository):
//! named source files (CSV, optionally gzip-compressed), value maps (source
//! codes → contract values), and one section per contract table saying which
//! source fills it, which other sources it looks up by key, which rows it
//! leaves out on purpose (with a reason), and one expression per contract
//! column. [`Mapping::load`] checks it against the contract before any data
//! is read — an unknown table or column, a missing required column, an
//! unknown filter or value map is an error naming the line. [`run`] streams
//! each source once and writes contract CSV files with a `_source` column
//! (`file:line`), rejected rows with their reason to `_mapping/`, and a
//! report in which every source row is written, skipped by a named rule,
//! rejected with a reason or merged as a duplicate: nothing is lost without a
//! count. The output is an ordinary contract directory for `probity ingest`,
//! which validates it like any other.
#![deny(missing_docs)]

pub mod expr;
mod run;
mod spec;

use std::path::PathBuf;

pub use run::{REPORT_DIR, Report, SOURCE_COLUMN, TableReport, run};
pub use spec::{Column, Fill, Join, Mapping, Skip, Source, Target};

/// Errors that stop a mapping. Row-level problems are not errors: the row is
/// rejected with its reason and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mapping file is wrong.
    #[error("{file}:{line}: {message}")]
    Mapping {
        /// The mapping file.
        file: String,
        /// The line (1-based; 0 if unknown).
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A source file does not fit the mapping (missing column, bad CSV).
    #[error("{file}:{line}: {message}")]
    Source {
        /// The source file.
        file: String,
        /// The line (1-based; 0 if it concerns the whole file).
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
