//! `probity.toml`: the store's configuration.
//!
//! Every field is optional in the file and has a documented default; unknown
//! keys are an error naming the key, so a typo never silently falls back to a
//! default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The default configuration file written by `probity init`.
pub const DEFAULT_CONFIG: &str = r#"# Probity store configuration. Every key is optional; the values shown are
# the defaults.

[dataset]
# IANA time zone in which naive local timestamps of the input are read.
time_zone = "Europe/London"

[ingest]
# (Off-duty location exclusion is set in governance.toml [minimisation].)
# A field longer than this many bytes quarantines its row.
max_field_bytes = 65536

# Detector settings. Every detector runs with its documented defaults
# (`probity detectors` lists them); override a parameter or switch a detector
# off per detector, e.g.
# [detectors.ghost_overtime]
# grace_minutes = 45
# [detectors.complaint_threshold]
# enabled = true

# Record linkage of reference records to staff (`probity resolve`).
# [resolve]
# blocking = ["dob", "dob_month_family_initial", "family_sound_given_initial", "postcode"]
# link_at = 0.8       # match probability to link automatically
# review_at = 0.2     # from here up to link_at: clerical review, never a finding
# max_pairs_per_block = 5000000
"#;

/// The parsed configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Dataset-wide settings.
    #[serde(default)]
    pub dataset: DatasetConfig,
    /// Ingest settings.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Per-detector settings: `[detectors.<id>]` with `enabled = false` or
    /// parameter overrides. Checked against each detector's declared
    /// parameters by the detector library, which knows them.
    #[serde(default)]
    pub detectors: std::collections::BTreeMap<String, toml::Table>,
    /// Record-linkage settings (`[resolve]`), checked by the linker.
    #[serde(default)]
    pub resolve: toml::Table,
}

/// `[dataset]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// IANA zone of naive local timestamps.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig {
            time_zone: default_zone(),
        }
    }
}

fn default_zone() -> String {
    probity_core::time::DEFAULT_TIME_ZONE.to_string()
}

/// `[ingest]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Moved to governance.toml `[minimisation]`; refused here with a
    /// message saying so.
    #[serde(default, skip_serializing)]
    pub location_grace_minutes: Option<u32>,
    /// Longest accepted field, in bytes.
    #[serde(default = "default_max_field")]
    pub max_field_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            location_grace_minutes: None,
            max_field_bytes: default_max_field(),
        }
    }
}

fn default_max_field() -> usize {
    65_536
}

impl Config {
    /// Reads and validates `probity.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|reason| Error::Config {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        probity_core::TimeRules::new(&c.dataset.time_zone).map_err(|e| e.to_string())?;
        if c.ingest.location_grace_minutes.is_some() {
            return Err(
                "ingest.location_grace_minutes has moved to governance.toml \
                 [minimisation] (minimisation is governed, and changes to it are audited); \
                 remove it here and set it there"
                    .into(),
            );
        }
        if c.ingest.max_field_bytes < 16 {
            return Err("ingest.max_field_bytes must be at least 16".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_parses_to_the_defaults() {
        assert_eq!(Config::parse(DEFAULT_CONFIG).unwrap(), Config::default());
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::parse("[ingest]\nlocation_grace_minute = 5\n").unwrap_err();
        assert!(e.contains("location_grace_minute"), "{e}");
        let e = Config::parse("[dataset]\ntime_zone = \"Europe/Londn\"\n").unwrap_err();
        assert!(e.contains("Europe/Londn"), "{e}");
        let e = Config::parse("[ingest]\nlocation_grace_minutes = 5\n").unwrap_err();
        assert!(e.contains("governance.toml"), "{e}");
    }
}
