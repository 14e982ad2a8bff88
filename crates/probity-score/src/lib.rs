//! Early-warning risk scores: person-period features as DataFusion plans
//! over the store ([`features`]), outcomes kept apart from them
//! ([`labels`]), a gradient-boosted model whose score is explained by
//! contributions that add up to it ([`model`]), and a rolling temporal
//! evaluation against the threshold rule and "rank by recent complaints"
//! ([`eval`], [`metrics`]), with defaults taken from the store's own
//! history and warnings when it cannot support a score ([`history`]).
#![deny(missing_docs)]

pub mod anomaly;
pub mod context;
pub mod eval;
pub mod fairness;
pub mod features;
pub mod groups;
pub mod history;
pub mod labels;
pub mod metrics;
pub mod model;
pub mod output;
pub mod run;

/// Errors of scoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query over the store failed.
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// The request cannot be met with this data or configuration.
    #[error("{0}")]
    Input(String),
    /// The model library failed.
    #[error("model: {0}")]
    Model(String),
    /// A bug: something the code assumes did not hold.
    #[error("internal error: {0}")]
    Internal(String),
    /// Writing an output file failed.
    #[error("{path}: {message}")]
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        message: String,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
