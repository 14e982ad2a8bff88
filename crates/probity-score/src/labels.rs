//! What happened after a cut-off: the outcome a model learns and is judged
//! on. Kept apart from the features, which never read past a cut-off.

use std::collections::HashMap;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use jiff::civil::Date;

use crate::Result;
use crate::features::{FeatureTable, active_sql};

/// The outcome a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A complaint received in the window that is sustained (known once
    /// it is closed).
    Sustained,
    /// Any complaint received in the window (known when received).
    AnyComplaint,
}

impl Outcome {
    /// In words, for reports.
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Sustained => "a sustained complaint",
            Outcome::AnyComplaint => "any complaint",
        }
    }
}

/// For each row of `t`: 1 if the person had a complaint received in the
/// `horizon_months` from the row's cut-off that was sustained, else 0.
/// `known_by`: count only outcomes closed before that date — what a model
/// trained on that date could have known (training labels); `None` for the
/// eventual truth a test is judged on.
pub async fn sustained_within(
    ctx: &SessionContext,
    t: &FeatureTable,
    horizon_months: u32,
    known_by: Option<Date>,
) -> Result<Vec<f64>> {
    outcome_within(ctx, t, horizon_months, known_by, Outcome::Sustained).await
}

/// For each row of `t`: 1 if the person had the `outcome` in the
/// `horizon_months` from the row's cut-off, else 0, counting with
/// `known_by` only what was known by that date (a sustained finding once
/// the complaint was closed, a complaint once it was received).
pub async fn outcome_within(
    ctx: &SessionContext,
    t: &FeatureTable,
    horizon_months: u32,
    known_by: Option<Date>,
    outcome: Outcome,
) -> Result<Vec<f64>> {
    let mut cuts: Vec<Date> = t.cut.clone();
    cuts.sort();
    cuts.dedup();
    if cuts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH a AS ({}) \
         SELECT a.person_id, CAST(CAST(a.cut AS INT) AS BIGINT) AS cut_days, \
                CAST(max(CASE WHEN {what} {known} THEN 1 ELSE 0 END) AS BIGINT) AS y \
         FROM a LEFT JOIN complaints cm ON cm.person_id = a.person_id \
              AND cm.received_on >= a.cut \
              AND cm.received_on < a.cut + INTERVAL '{horizon_months} months' \
         GROUP BY a.person_id, a.cut",
        active_sql(&cuts),
        what = match outcome {
            Outcome::Sustained => "cm.outcome = 'sustained'",
            Outcome::AnyComplaint => "cm.complaint_id IS NOT NULL",
        },
        known = match (known_by, outcome) {
            (None, _) => String::new(),
            (Some(d), Outcome::Sustained) => {
                format!("AND cm.closed_on IS NOT NULL AND cm.closed_on < DATE '{d}'")
            }
            (Some(d), Outcome::AnyComplaint) => format!("AND cm.received_on < DATE '{d}'"),
        },
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut y: HashMap<(String, i64), f64> = HashMap::new();
    for b in &batches {
        let p = crate::features::text(b.column(0))?;
        let c = b.column(1).as_primitive::<Int64Type>();
        let v = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            y.insert((p.value(i).to_owned(), c.value(i)), v.value(i) as f64);
        }
    }
    Ok((0..t.len())
        .map(|i| {
            let days = i64::from(probity_core::time::date_to_days(t.cut[i]));
            y.get(&(t.person[i].clone(), days)).copied().unwrap_or(0.0)
        })
        .collect())
}

/// The months within which the share `q` of the sustained complaints
/// received and decided before `before` were decided (rounded up; 0 when
/// there are none). A training window needs this long after it closes for
/// most of its outcomes to be known. Computed from what was known by
/// `before`, so choosing it uses no later data.
pub async fn settle_months(ctx: &SessionContext, before: Date, q: f64) -> Result<u32> {
    let sql = format!(
        "SELECT CAST(CAST(closed_on AS INT) - CAST(received_on AS INT) AS BIGINT) AS d \
         FROM complaints WHERE outcome = 'sustained' AND closed_on IS NOT NULL \
         AND closed_on < DATE '{before}' AND received_on < DATE '{before}'"
    );
    let mut days: Vec<i64> = Vec::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        days.extend(
            b.column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    if days.is_empty() {
        return Ok(0);
    }
    days.sort_unstable();
    // The nearest-rank quantile: exact, and the same for the same data.
    let k = ((q * days.len() as f64).ceil() as usize).clamp(1, days.len()) - 1;
    Ok((days[k].max(0) as f64 / 30.44).ceil() as u32)
}
