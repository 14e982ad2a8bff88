//! The manifest: the single source of truth for what a store holds.
//!
//! A batch exists only once the manifest names it. The manifest is replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory), so
//! a reader sees either the old or the new manifest, never a mix.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, fsio};

/// Current manifest format. Older formats stay readable: bump and migrate.
pub const FORMAT_VERSION: u32 = 1;

/// The store's manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format of this file.
    pub format_version: u32,
    /// Committed batches, oldest first.
    pub batches: Vec<BatchEntry>,
    /// Derived per-shift location facts (what minimisation keeps of raw
    /// location pings once they are deleted), relative to the root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_facts: Vec<String>,
}

/// One committed ingest batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    /// Batch id, e.g. `b000003`; also its directory name.
    pub id: String,
    /// When it was committed (RFC 3339, UTC).
    pub committed_at: String,
    /// The directory it was read from, as given.
    pub source: String,
    /// Source files ingested, with their content hashes (idempotency).
    pub sources: Vec<SourceFile>,
    /// What the batch added per table.
    pub tables: BTreeMap<String, TableOutput>,
}

/// A source file and the hash of its bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// File name inside the source directory.
    pub name: String,
    /// Table it was read as.
    pub table: String,
    /// BLAKE3 of the file's bytes, hex.
    pub blake3: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What one batch wrote for one table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableOutput {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows written to the store.
    pub rows_stored: u64,
    /// Rows quarantined with a reason.
    pub rows_quarantined: u64,
    /// Rows dropped by a minimisation rule (counted, never stored).
    pub rows_minimised: u64,
    /// Rows later deleted by retention or minimisation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_retired: u64,
    /// Analytical Parquet files, relative to the store root.
    pub data_files: Vec<String>,
    /// Identity-vault Parquet files, relative to the store root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vault_files: Vec<String>,
    /// Primary-key index file (sorted 64-bit key hashes), relative to the store root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_index: Option<String>,
    /// Quarantine file, relative to the store root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_file: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    /// Reads the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("manifest is not valid JSON of the expected shape: {e}"),
        })?;
        if m.format_version != FORMAT_VERSION {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "manifest format {} is not supported by this probity (reads {FORMAT_VERSION})",
                    m.format_version
                ),
            });
        }
        Ok(m)
    }

    /// Replaces the manifest at `path` atomically and durably.
    pub fn store(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        fsio::write_atomic(path, &json)
    }

    /// All committed files of a table (analytical data), relative to the root.
    pub fn data_files(&self, table: &str) -> Vec<&str> {
        self.batches
            .iter()
            .filter_map(|b| b.tables.get(table))
            .flat_map(|t| t.data_files.iter().map(String::as_str))
            .collect()
    }

    /// The contract tables with committed analytical data, in contract
    /// order: what a plan, a scoring approval and a governance check may
    /// treat as held.
    pub fn tables_held(&self) -> Vec<probity_core::Table> {
        probity_core::Table::ALL
            .iter()
            .copied()
            .filter(|t| {
                self.batches.iter().any(|b| {
                    b.tables
                        .get(t.name())
                        .is_some_and(|o| !o.data_files.is_empty())
                })
            })
            .collect()
    }

    /// All committed vault files of a table, relative to the root.
    pub fn vault_files(&self, table: &str) -> Vec<&str> {
        self.batches
            .iter()
            .filter_map(|b| b.tables.get(table))
            .flat_map(|t| t.vault_files.iter().map(String::as_str))
            .collect()
    }

    /// All committed key-index files of a table, relative to the root.
    pub fn key_indexes(&self, table: &str) -> Vec<&str> {
        self.batches
            .iter()
            .filter_map(|b| b.tables.get(table))
            .filter_map(|t| t.key_index.as_deref())
            .collect()
    }

    /// The batch that already ingested a file with this content hash, if any.
    pub fn batch_with_source(&self, blake3: &str) -> Option<&BatchEntry> {
        self.batches
            .iter()
            .find(|b| b.sources.iter().any(|s| s.blake3 == blake3))
    }

    /// Rows of a table currently held over all batches (stored less retired).
    pub fn rows_stored(&self, table: &str) -> u64 {
        self.batches
            .iter()
            .filter_map(|b| b.tables.get(table))
            .map(|t| t.rows_stored - t.rows_retired.min(t.rows_stored))
            .sum()
    }

    /// The id the next batch gets.
    pub fn next_batch_id(&self) -> String {
        format!("b{:06}", self.batches.len() + 1)
    }
}
