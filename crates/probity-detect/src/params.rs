//! Detector parameters: declared with defaults in each detector, overridable
//! per store in `probity.toml` under `[detectors.<id>]`.

use std::collections::BTreeMap;

use crate::{Detector, Error, Result};

/// A parameter's default.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// A number.
    Num(f64),
    /// A list of strings.
    List(&'static [&'static str]),
}

/// One declared parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name (a key under `[detectors.<id>]`).
    pub name: &'static str,
    /// The default.
    pub default: Default,
    /// What it means, with its unit.
    pub doc: &'static str,
}

impl Param {
    /// A numeric parameter.
    pub const fn num(name: &'static str, default: f64, doc: &'static str) -> Param {
        Param {
            name,
            default: Default::Num(default),
            doc,
        }
    }

    /// A list-of-strings parameter.
    pub const fn list(
        name: &'static str,
        default: &'static [&'static str],
        doc: &'static str,
    ) -> Param {
        Param {
            name,
            default: Default::List(default),
            doc,
        }
    }
}

/// A parameter value: a number or a list of strings (the type
/// `probity.toml` is read into).
pub use probity_store::ParamValue;

/// The parameters a detector runs with.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// Defaults overlaid with a `[detectors.<id>]` section. Returns the
    /// section's `enabled` value, if any. A parameter the detector does not
    /// declare, or a value of the wrong kind or range, is an error naming it.
    pub fn resolve(
        d: &Detector,
        section: Option<&probity_store::DetectorSection>,
    ) -> Result<(Option<bool>, Params)> {
        let err = |reason: String| Error::Config {
            detector: d.id.to_string(),
            reason,
        };
        let mut values = BTreeMap::new();
        for p in d.params {
            let v = match p.default {
                Default::Num(n) => ParamValue::Num(n),
                Default::List(l) => ParamValue::List(l.iter().map(|s| s.to_string()).collect()),
            };
            values.insert(p.name.to_string(), v);
        }
        let Some(section) = section else {
            return Ok((None, Params(values)));
        };
        for (key, value) in &section.params {
            let Some(p) = d.params.iter().find(|p| p.name == key) else {
                let known: Vec<&str> = d.params.iter().map(|p| p.name).collect();
                return Err(err(format!(
                    "unknown parameter {key:?}; this detector's parameters are: enabled, {}",
                    known.join(", ")
                )));
            };
            match (p.default, value) {
                (Default::Num(_), ParamValue::Num(n)) => {
                    if !n.is_finite() || *n < 0.0 {
                        return Err(err(format!(
                            "{key} must be a finite number ≥ 0, not {value}"
                        )));
                    }
                }
                (Default::Num(_), ParamValue::List(_)) => {
                    return Err(err(format!("{key} must be a number, not {value}")));
                }
                (Default::List(_), ParamValue::List(_)) => {}
                (Default::List(_), ParamValue::Num(_)) => {
                    return Err(err(format!(
                        "{key} must be a list of strings such as [\"a\", \"b\"], not {value}"
                    )));
                }
            }
            values.insert(key.clone(), value.clone());
        }
        Ok((section.enabled, Params(values)))
    }

    /// A numeric parameter. Panics if the detector did not declare it (a
    /// programming error the registry test catches).
    pub fn num(&self, name: &str) -> f64 {
        match self.0.get(name) {
            Some(ParamValue::Num(n)) => *n,
            other => panic!("parameter {name} is not a declared number: {other:?}"),
        }
    }

    /// A list parameter. Panics if the detector did not declare it.
    pub fn list(&self, name: &str) -> &[String] {
        match self.0.get(name) {
            Some(ParamValue::List(v)) => v,
            other => panic!("parameter {name} is not a declared list: {other:?}"),
        }
    }

    /// All values by name.
    pub fn values(&self) -> &BTreeMap<String, ParamValue> {
        &self.0
    }
}
