//! `probity.toml`: the store's configuration.
//!
//! Every field is optional in the file and has a documented default; unknown
//! keys are an error naming the key, so a typo never silently falls back to a
//! default.

use std::collections::BTreeMap;
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
# A table without keys (device locations) of at least this many rows is
# checked and written by several threads side by side.
split_rows = 1000000
# A table with keys that no other table refers to (look-ups, badge events,
# device sessions, ...) of at least this many rows, counting those already
# stored, counts its keys in sorted runs on disk before its rows are judged,
# so duplicate ids are found without holding every key in memory (the file
# is read twice).
sort_keys_rows = 1000000

# Detector settings. Every detector runs with its documented defaults
# (`probity detectors --store STORE` lists them with the values in force and
# what each detector learned from this store's data); override a parameter
# or switch a detector off per detector, e.g.
# [detectors.overtime_without_presence]
# grace_minutes = 45
# [detectors.roster_self_edit_pay]
# premium_pay_codes = ["OT15", "BH"]
# [detectors.complaint_threshold]
# enabled = true

# Record linkage of reference records to staff (`probity resolve`).
# [resolve]
# blocking = ["dob", "dob_month_family_initial", "family_sound_given_initial", "postcode"]
# link_at = 0.8       # match probability to link automatically
# review_at = 0.2     # from here up to link_at: clerical review, never a finding
# max_pairs_per_block = 5000000

# Anchors of the audit log: after every append batch, the log's head (last
# entry's seq and hash) is copied outside the store's audit files, and
# `probity audit verify` checks the log against every copy, so a rewrite of
# the log together with its head file is detected.
# [audit]
# The review database that keeps the anchors (table audit_anchors); by
# default the store's own STORE/review.sqlite, which anyone who can write the
# store can also rewrite. A PostgreSQL database whose anchor table the
# service's role may only insert into is out of its reach (password from
# PGPASSWORD or ~/.pgpass, never here).
# anchor_database = "postgres://probity@db.example:5432/probity"
# An append-only file outside the store, owned by another account, which must
# exist (it is never created): one line `SEQ HASH AT` per batch.
# anchor_file = "/var/lib/probity-anchors/audit.anchors"
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
    /// parameter overrides, typed here (a number or a list of strings); the
    /// ids and parameter names are checked against the detector registry by
    /// `probity_detect::check_config`, which knows them.
    #[serde(default)]
    pub detectors: BTreeMap<String, DetectorSection>,
    /// Record-linkage settings (`[resolve]`): unknown keys and impossible
    /// thresholds are errors when the file is loaded.
    #[serde(default)]
    pub resolve: probity_link::Settings,
    /// Where the audit log is anchored (`[audit]`).
    #[serde(default)]
    pub audit: AuditConfig,
}

/// `[audit]`: where the audit log's head is anchored after every append
/// batch, outside the store's audit files (see `probity_audit`'s anchors).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The review database that keeps the anchors (`sqlite://PATH` or
    /// `postgres://USER@HOST:PORT/DB`, without a password: PostgreSQL
    /// reads it from `PGPASSWORD` or `~/.pgpass`). `None`: the store's own
    /// review database, `STORE/review.sqlite`. Set it to the database
    /// `probity serve --database` uses, or better to one whose
    /// `audit_anchors` table the service's role may only insert into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_database: Option<String>,
    /// An append-only file, outside the store and owned by another
    /// account, that receives one line `SEQ HASH AT` per append batch. It
    /// must exist (it is never created) and be an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_file: Option<std::path::PathBuf>,
}

/// One `[detectors.<id>]` section.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DetectorSection {
    /// `enabled = false` switches a detector off; `true` switches a baseline on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Parameter overrides by name.
    #[serde(flatten)]
    pub params: BTreeMap<String, ParamValue>,
}

/// A parameter value in `probity.toml`: a number or a list of strings.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number (integers are read as numbers too).
    Num(f64),
    /// A list of strings.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for DetectorSection {
    // By hand rather than `#[serde(flatten)]`, which buffers the section
    // and so loses the line of a wrong value.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DetectorSection;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<DetectorSection, A::Error> {
                let mut out = DetectorSection::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "enabled" {
                        out.enabled = Some(map.next_value()?);
                    } else {
                        let v: ParamValue = map.next_value()?;
                        out.params.insert(key, v);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ParamValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a number (`grace_minutes = 45`) or a list of strings \
                     (`premium_pay_codes = [\"OT15\", \"BH\"]`)",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<ParamValue, E> {
                Ok(ParamValue::Num(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<ParamValue, E> {
                Ok(ParamValue::Num(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<ParamValue, E> {
                Ok(ParamValue::Num(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<ParamValue, A::Error> {
                let mut out = vec![];
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(ParamValue::List(out))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Num(n) => write!(f, "{n}"),
            ParamValue::List(v) => write!(f, "{v:?}"),
        }
    }
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
    /// Rows from which a table without keys is split across threads.
    #[serde(default = "default_split_rows")]
    pub split_rows: u64,
    /// Rows from which a table with keys that nothing refers to finds its
    /// duplicate keys from sorted runs on disk.
    #[serde(default = "default_split_rows")]
    pub sort_keys_rows: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            location_grace_minutes: None,
            max_field_bytes: default_max_field(),
            split_rows: default_split_rows(),
            sort_keys_rows: default_split_rows(),
        }
    }
}

fn default_max_field() -> usize {
    65_536
}

fn default_split_rows() -> u64 {
    1_000_000
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
        c.resolve.validate()?;
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
        if c.ingest.split_rows == 0 {
            return Err("ingest.split_rows must be at least 1".into());
        }
        if c.ingest.sort_keys_rows == 0 {
            return Err("ingest.sort_keys_rows must be at least 1".into());
        }
        if let Some(url) = &c.audit.anchor_database {
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|k| url.starts_with(k)) {
                return Err(format!(
                    "audit.anchor_database {:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
                    redact_url(url)
                ));
            }
            if redact_url(url) != *url {
                return Err(
                    "audit.anchor_database holds a password: remove it from the URL and give it in PGPASSWORD or ~/.pgpass (this file travels with the store and is read by whoever reads it)"
                        .into(),
                );
            }
        }
        if let Some(p) = &c.audit.anchor_file
            && !p.is_absolute()
        {
            return Err(format!(
                "audit.anchor_file {:?} must be an absolute path (a file outside the store, owned by another account)",
                p.display()
            ));
        }
        Ok(c)
    }
}

/// A database URL with any password replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
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
        // [resolve] is typed when the file is loaded: unknown keys and
        // impossible thresholds are named.
        let e = Config::parse("[resolve]\nlink_att = 0.9\n").unwrap_err();
        assert!(e.contains("link_att"), "{e}");
        let e = Config::parse("[resolve]\nlink_at = 0.1\n").unwrap_err();
        assert!(e.contains("review_at"), "{e}");
        let e = Config::parse("[resolve]\nblocking = [\"dob\", \"shoe_size\"]\n").unwrap_err();
        assert!(e.contains("shoe_size"), "{e}");
        // [detectors.*] values are typed: a number or a list of strings.
        let e = Config::parse("[detectors.x]\nmin_shifts = { a = 1 }\n").unwrap_err();
        assert!(e.contains("number") && e.contains("list of strings"), "{e}");
        let e = Config::parse("[detectors.x]\nenabled = \"yes\"\n").unwrap_err();
        assert!(e.contains("enabled") || e.contains("bool"), "{e}");
        let c = Config::parse("[detectors.x]\nenabled = false\nmin_shifts = 2\ncodes = [\"A\"]\n")
            .unwrap();
        let x = &c.detectors["x"];
        assert_eq!(x.enabled, Some(false));
        assert_eq!(x.params["min_shifts"], ParamValue::Num(2.0));
        assert_eq!(x.params["codes"], ParamValue::List(vec!["A".into()]));
    }

    #[test]
    fn audit_anchors_are_configured() {
        let c = Config::parse(
            "[audit]\nanchor_database = \"postgres://probity@127.0.0.1:5432/anchors\"\nanchor_file = \"/var/lib/anchors/audit\"\n",
        )
        .unwrap();
        assert_eq!(
            c.audit.anchor_database.as_deref(),
            Some("postgres://probity@127.0.0.1:5432/anchors")
        );
        assert_eq!(
            c.audit.anchor_file.as_deref(),
            Some(Path::new("/var/lib/anchors/audit"))
        );
        let e = Config::parse("[audit]\nanchor_fil = \"/x\"\n").unwrap_err();
        assert!(e.contains("anchor_fil"), "{e}");
        let e = Config::parse("[audit]\nanchor_file = \"anchors\"\n").unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = Config::parse("[audit]\nanchor_database = \"mysql://x\"\n").unwrap_err();
        assert!(e.contains("postgres://"), "{e}");
        let e =
            Config::parse("[audit]\nanchor_database = \"postgres://u:s3cret@h/db\"\n").unwrap_err();
        assert!(e.contains("PGPASSWORD") && !e.contains("s3cret"), "{e}");
    }
}
