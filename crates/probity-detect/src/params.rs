//! Detector parameters: declared with defaults in each detector, overridable
//! per store in `probity.toml` under `[detectors.<id>]`.

use std::collections::BTreeMap;

use serde::Serialize;

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

/// A resolved parameter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number.
    Num(f64),
    /// A list of strings.
    List(Vec<String>),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Num(n) => write!(f, "{n}"),
            ParamValue::List(v) => write!(f, "[{}]", v.join(", ")),
        }
    }
}

/// The parameters a detector runs with.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// Defaults overlaid with a `[detectors.<id>]` section. Returns the
    /// section's `enabled` value, if any.
    pub fn resolve(d: &Detector, section: Option<&toml::Table>) -> Result<(Option<bool>, Params)> {
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
        let mut enabled = None;
        if let Some(section) = section {
            for (key, value) in section {
                if key == "enabled" {
                    enabled = Some(value.as_bool().ok_or_else(|| {
                        err(format!("enabled must be true or false, not {value}"))
                    })?);
                    continue;
                }
                let Some(p) = d.params.iter().find(|p| p.name == key) else {
                    let known: Vec<&str> = d.params.iter().map(|p| p.name).collect();
                    return Err(err(format!(
                        "unknown parameter {key:?}; this detector's parameters are: enabled, {}",
                        known.join(", ")
                    )));
                };
                let v = match p.default {
                    Default::Num(_) => {
                        let n = value
                            .as_float()
                            .or_else(|| value.as_integer().map(|i| i as f64))
                            .ok_or_else(|| err(format!("{key} must be a number, not {value}")))?;
                        if !n.is_finite() || n < 0.0 {
                            return Err(err(format!(
                                "{key} must be a finite number ≥ 0, not {value}"
                            )));
                        }
                        ParamValue::Num(n)
                    }
                    Default::List(_) => {
                        let items = value.as_array().ok_or_else(|| {
                            err(format!(
                                "{key} must be a list of strings such as [\"a\", \"b\"], not {value}"
                            ))
                        })?;
                        let mut out = vec![];
                        for i in items {
                            out.push(
                                i.as_str()
                                    .ok_or_else(|| {
                                        err(format!("{key} must hold strings, not {i}"))
                                    })?
                                    .to_string(),
                            );
                        }
                        ParamValue::List(out)
                    }
                };
                values.insert(key.clone(), v);
            }
        }
        Ok((enabled, Params(values)))
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
