//! Who belongs to which group, for the fairness audit: rank, unit,
//! working hours (full- or part-time) from `people`, and sex and ethnicity
//! from `equality_monitoring` where the store holds it. Read only here:
//! protected characteristics never become features (no feature query names
//! the table; `tests/score.rs` checks that changing them changes no
//! feature) nor detector inputs (the detector registry test refuses a
//! detector that needs or uses the table).

use std::collections::HashMap;

use datafusion::prelude::SessionContext;

use crate::fairness::{AttributeAudit, Case, audit, top_groups};
use crate::features::text;
use crate::{Error, Result};

/// Contracted hours per week below which someone works part-time (full
/// time in policing is 37 to 40 hours).
pub const PART_TIME_BELOW_HOURS: f64 = 35.0;

/// Units kept by name in the audit; the rest are "other".
pub const UNITS_SHOWN: usize = 10;

/// Group labels of every person in the store.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// The attributes, in order: rank, unit, hours, then sex and ethnicity
    /// if the store holds equality monitoring.
    pub attributes: Vec<&'static str>,
    by_person: HashMap<String, Vec<String>>,
}

impl Groups {
    /// Reads `people` and, if present, `equality_monitoring`.
    pub async fn load(ctx: &SessionContext) -> Result<Groups> {
        let protected = ctx.table_exist("equality_monitoring")?;
        let sql = if protected {
            "SELECT p.person_id, p.rank, p.unit_id, p.contracted_hours_per_week AS h, \
             e.sex, e.ethnicity \
             FROM people p LEFT JOIN equality_monitoring e ON e.person_id = p.person_id"
        } else {
            "SELECT p.person_id, p.rank, p.unit_id, p.contracted_hours_per_week AS h \
             FROM people p"
        };
        // Older or in-memory stores may lack the hours column.
        let has_hours = ctx
            .table("people")
            .await?
            .schema()
            .field_with_unqualified_name("contracted_hours_per_week")
            .is_ok();
        let sql = if has_hours {
            sql.to_owned()
        } else {
            sql.replace("p.contracted_hours_per_week", "CAST(NULL AS DOUBLE)")
        };
        let batches = ctx.sql(&sql).await?.collect().await?;
        let mut attributes = vec!["rank", "unit", "hours"];
        let mut by_person = HashMap::new();
        for b in &batches {
            let person = text(b.column(0))?;
            let rank = text(b.column(1))?;
            let unit = text(b.column(2))?;
            let hours = arrow::compute::cast(b.column(3), &arrow::datatypes::DataType::Float64)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let hours = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(
                hours.as_ref(),
            )
            .clone();
            let (sex, eth) = if protected {
                (Some(text(b.column(4))?), Some(text(b.column(5))?))
            } else {
                (None, None)
            };
            use arrow::array::Array;
            for i in 0..b.num_rows() {
                let h = if hours.is_null(i) {
                    "hours not recorded".to_owned()
                } else if hours.value(i) < PART_TIME_BELOW_HOURS {
                    "part-time".to_owned()
                } else {
                    "full-time".to_owned()
                };
                let mut g = vec![rank.value(i).to_owned(), unit.value(i).to_owned(), h];
                for col in [&sex, &eth].into_iter().flatten() {
                    g.push(if col.is_null(i) || col.value(i).is_empty() {
                        "not recorded".to_owned()
                    } else {
                        col.value(i).to_owned()
                    });
                }
                by_person.insert(person.value(i).to_owned(), g);
            }
        }
        // Only when someone is actually recorded: an empty table (a store
        // without the data) adds no attribute.
        let recorded = protected
            && by_person
                .values()
                .any(|g| g[3] != "not recorded" || g[4] != "not recorded");
        if recorded {
            attributes.extend(["sex", "ethnicity"]);
        } else {
            for g in by_person.values_mut() {
                g.truncate(3);
            }
        }
        Ok(Groups {
            attributes,
            by_person,
        })
    }

    /// The audit of each attribute, for cases about `persons` (one person
    /// per case; a person may appear in several cases, e.g. one per
    /// cut-off). People unknown to `people` are in the group "unknown".
    pub fn audit(&self, persons: &[&str], cases: &[Case]) -> Vec<AttributeAudit> {
        let unknown = "unknown".to_owned();
        let mut attrs: Vec<AttributeAudit> = self
            .attributes
            .iter()
            .enumerate()
            .map(|(k, attr)| {
                let labels: Vec<String> = persons
                    .iter()
                    .map(|p| self.by_person.get(*p).map_or(&unknown, |g| &g[k]).clone())
                    .collect();
                let labels = if *attr == "unit" {
                    top_groups(&labels, UNITS_SHOWN)
                } else {
                    labels
                };
                audit(attr, &labels, cases)
            })
            .collect();
        crate::fairness::holm(&mut attrs);
        attrs
    }

    /// Everyone the store knows, in a stable order.
    pub fn people(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_person.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}
