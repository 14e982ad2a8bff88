//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// Where in the log file a problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A line number, counting from 1.
    Line(u64),
    /// The last complete line, found by reading backwards from the end of
    /// the file (its line number is not known without reading the whole
    /// file); `offset` is the byte offset where it starts.
    LastLine {
        /// Byte offset of the start of the line.
        offset: u64,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::LastLine { offset } => {
                write!(f, "the last complete line (at byte offset {offset})")
            }
        }
    }
}

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing, locking or syncing a file failed.
    #[error("audit log: cannot access {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of the log fails its integrity check or cannot be parsed.
    #[error(
        "audit log {}, {location}: {reason}; run `probity audit verify` to locate and classify the damage",
        path.display()
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// What is wrong.
        reason: String,
    },
    /// The log's tail is damaged or disagrees with the head file, so an
    /// append would extend a chain that cannot be trusted. Fail closed: the
    /// action that wanted to be audited must not proceed.
    #[error(
        "refusing to append to the audit log {}: {reason}. An action that cannot be audited must not proceed; run `probity audit verify` to locate and classify the damage",
        path.display()
    )]
    AppendRefused {
        /// The log file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A record given to `append` is not acceptable.
    #[error("invalid audit record: {reason}")]
    InvalidRecord {
        /// What is wrong.
        reason: String,
    },
    /// An `--anchor` value could not be parsed.
    #[error(
        "invalid audit anchor {input:?}: {reason}; expected SEQ:HASH (a sequence number, a colon and 64 hex digits) as printed by `probity audit head`"
    )]
    InvalidAnchor {
        /// The text given.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
