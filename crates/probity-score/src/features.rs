//! Person-period features as DataFusion plans over the store.
//!
//! One row per person active at a cut-off date (started before it, not left
//! before it). Everything a row holds is known at its cut-off: complaints
//! received before it, and a complaint's outcome only if it was closed
//! before it — a complaint still open at the cut-off counts as a complaint,
//! never as sustained or not. The labels (what happens after the cut-off)
//! are a separate query in `labels.rs`; this module never reads past a
//! cut-off, which `tests/score.rs` checks with a planted future-only signal.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use jiff::civil::Date;

use crate::{Error, Result};

/// Counting windows, in months before the cut-off.
pub const WINDOWS: [u32; 5] = [1, 3, 6, 12, 24];

/// What a feature is about, for explanations in words.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Feature {
    /// Column name.
    pub name: String,
    /// How a supervisor reads it ("complaints in the last 12 months").
    pub words: String,
}

/// The features of a set of cut-offs.
#[derive(Debug, Clone, Default)]
pub struct FeatureTable {
    /// Feature definitions, in column order.
    pub features: Vec<Feature>,
    /// Person (pseudonym) of each row.
    pub person: Vec<String>,
    /// Cut-off of each row.
    pub cut: Vec<Date>,
    /// Rank of each row (peer group and fairness group; also a feature).
    pub rank: Vec<String>,
    /// Unit of each row.
    pub unit: Vec<String>,
    /// Row-major values, `features.len()` per row.
    pub values: Vec<f64>,
}

impl FeatureTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.person.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.person.is_empty()
    }
    /// The values of row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let n = self.features.len();
        &self.values[i * n..(i + 1) * n]
    }
    /// The column of a feature by name.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.features.iter().position(|f| f.name == name)?;
        Some((0..self.len()).map(|i| self.row(i)[j]).collect())
    }
}

/// A text column as `Utf8`, whichever string type the engine chose
/// (stores give `Utf8`; in-memory tables may give `Utf8View`).
pub(crate) fn text(c: &ArrayRef) -> Result<StringArray> {
    let c = arrow::compute::cast(c, &DataType::Utf8)
        .map_err(|e| Error::Internal(format!("text column: {e}")))?;
    Ok(c.as_string::<i32>().clone())
}

/// The cut-off dates as a SQL `VALUES` list.
pub(crate) fn cuts_sql(cuts: &[Date]) -> String {
    let v: Vec<String> = cuts.iter().map(|d| format!("(DATE '{d}')")).collect();
    format!("SELECT column1 AS cut FROM (VALUES {})", v.join(", "))
}

/// People active at each cut-off.
pub(crate) fn active_sql(cuts: &[Date]) -> String {
    format!(
        "SELECT p.person_id, p.rank, p.unit_id, p.start_date, c.cut \
         FROM ({}) c JOIN people p \
         ON p.start_date < c.cut AND (p.end_date IS NULL OR p.end_date >= c.cut)",
        cuts_sql(cuts)
    )
}

/// The category group of a complaint: the text before the first `:`,
/// trimmed, upper case ("EXCESSIVE FORCE: ARRESTEE" → "EXCESSIVE FORCE").
pub(crate) const CATEGORY_GROUP: &str = "upper(trim(split_part(cm.category, ':', 1)))";

/// The `k` most frequent complaint category groups among complaints
/// received before `before` (so that choosing them uses no later data).
pub async fn top_categories(ctx: &SessionContext, before: Date, k: usize) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT {CATEGORY_GROUP} AS g, count(*) AS n FROM complaints cm \
         WHERE cm.received_on < DATE '{before}' GROUP BY 1 ORDER BY n DESC, g LIMIT {k}"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let g = text(b.column(0))?;
        for i in 0..b.num_rows() {
            out.push(g.value(i).to_owned());
        }
    }
    Ok(out)
}

fn months(n: u32) -> String {
    if n == 1 {
        "the last month".into()
    } else {
        format!("the last {n} months")
    }
}

/// Computes the features of every person active at each cut-off.
/// `categories` are the complaint category groups counted separately.
pub async fn compute(
    ctx: &SessionContext,
    cuts: &[Date],
    categories: &[String],
) -> Result<FeatureTable> {
    if cuts.is_empty() {
        return Ok(FeatureTable::default());
    }
    let mut features = Vec::new();
    let mut sums = Vec::new();
    let known = "cm.closed_on IS NOT NULL AND cm.closed_on < a.cut";
    for w in WINDOWS {
        let since = format!("cm.received_on >= a.cut - INTERVAL '{w} months'");
        sums.push(format!(
            "sum(CASE WHEN {since} THEN 1 ELSE 0 END) AS complaints_{w}m"
        ));
        features.push(Feature {
            name: format!("complaints_{w}m"),
            words: format!("complaints received in {}", months(w)),
        });
    }
    sums.push("count(cm.complaint_id) AS complaints_all".into());
    features.push(Feature {
        name: "complaints_all".into(),
        words: "complaints received in all earlier service".into(),
    });
    for (outcome, label) in [
        ("sustained", "sustained"),
        ("not_sustained", "not sustained"),
        ("withdrawn", "withdrawn"),
    ] {
        {
            let w = 24u32;
            sums.push(format!(
                "sum(CASE WHEN cm.outcome = '{outcome}' AND {known} AND \
                 cm.received_on >= a.cut - INTERVAL '{w} months' THEN 1 ELSE 0 END) \
                 AS {outcome}_{w}m"
            ));
            features.push(Feature {
                name: format!("{outcome}_{w}m"),
                words: format!("complaints of {} closed as {label} by then", months(w)),
            });
        }
    }
    sums.push(format!(
        "sum(CASE WHEN cm.outcome = 'sustained' AND {known} THEN 1 ELSE 0 END) AS sustained_all"
    ));
    features.push(Feature {
        name: "sustained_all".into(),
        words: "sustained complaints in all earlier service".into(),
    });
    sums.push(format!(
        "sum(CASE WHEN cm.received_on >= a.cut - INTERVAL '24 months' AND NOT ({known}) \
         THEN 1 ELSE 0 END) AS open_24m"
    ));
    features.push(Feature {
        name: "open_24m".into(),
        words: "complaints of the last 24 months still open".into(),
    });
    sums.push(
        "count(DISTINCT CASE WHEN cm.received_on >= a.cut - INTERVAL '24 months' \
         THEN upper(trim(split_part(cm.category, ':', 1))) END) AS categories_24m"
            .into(),
    );
    features.push(Feature {
        name: "categories_24m".into(),
        words: "different kinds of complaint in the last 24 months".into(),
    });
    for (k, c) in categories.iter().enumerate() {
        let lit = c.replace('\'', "''");
        sums.push(format!(
            "sum(CASE WHEN cm.received_on >= a.cut - INTERVAL '24 months' AND \
             {CATEGORY_GROUP} = '{lit}' THEN 1 ELSE 0 END) AS cat{k}_24m"
        ));
        features.push(Feature {
            name: format!("cat{k}_24m"),
            words: format!("\"{}\" complaints in the last 24 months", c.to_lowercase()),
        });
    }
    let counts: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    // Peer deviation: robust z-score within the same rank and unit at the
    // same cut-off (median and MAD; the mean absolute deviation when more
    // than half the peers share the median, as in the modified z-score).
    let peer = "PARTITION BY cut, rank, unit_id";
    let peer_j = "PARTITION BY a.cut, a.rank, a.unit_id";
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    let mut mad = Vec::new();
    for w in [12u32, 24] {
        let x = format!("complaints_{w}m");
        inner.push(format!(
            "median(CAST(h.{x} AS DOUBLE)) OVER ({peer_j}) AS med_{w}"
        ));
        mad.push(format!(
            "median(abs({x} - med_{w})) OVER ({peer}) AS mad_{w}, \
             avg(abs({x} - med_{w})) OVER ({peer}) AS meanad_{w}"
        ));
        outer.push(format!(
            "CASE WHEN mad_{w} > 0 THEN ({x} - med_{w}) / (1.4826 * mad_{w}) \
             WHEN meanad_{w} > 0 THEN ({x} - med_{w}) / (1.2533 * meanad_{w}) \
             ELSE 0.0 END AS peer_z_{w}m"
        ));
        features.push(Feature {
            name: format!("peer_z_{w}m"),
            words: format!(
                "complaints of {} compared with colleagues of the same rank and unit \
                 (robust z-score)",
                months(w)
            ),
        });
    }
    features.push(Feature {
        name: "peer_group_size".into(),
        words: "colleagues of the same rank and unit".into(),
    });
    features.push(Feature {
        name: "tenure_years".into(),
        words: "years of service".into(),
    });

    let sql = format!(
        "WITH a AS ({active}), \
         h AS (SELECT a.person_id, a.cut, {sums} FROM a LEFT JOIN complaints cm \
               ON cm.person_id = a.person_id AND cm.received_on < a.cut \
               GROUP BY a.person_id, a.cut), \
         j AS (SELECT a.person_id, a.cut, a.rank, a.unit_id, \
               (CAST(CAST(a.cut AS INT) AS BIGINT) - CAST(CAST(a.start_date AS INT) AS BIGINT)) / 365.25 \
               AS tenure_years, {hcols}, count(*) OVER ({peer_j}) AS peer_group_size, {inner} \
               FROM a JOIN h ON a.person_id = h.person_id AND a.cut = h.cut), \
         k AS (SELECT *, {mad} FROM j) \
         SELECT person_id, CAST(CAST(cut AS INT) AS BIGINT) AS cut_days, rank, unit_id, \
                {counts_cast}, {outer}, CAST(peer_group_size AS DOUBLE) AS peer_group_size, tenure_years \
         FROM k ORDER BY cut, person_id",
        active = active_sql(cuts),
        sums = sums.join(", "),
        hcols = counts
            .iter()
            .map(|c| format!("h.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        inner = inner.join(", "),
        mad = mad.join(", "),
        counts_cast = counts
            .iter()
            .map(|c| format!("CAST({c} AS DOUBLE) AS {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        outer = outer.join(", "),
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut t = FeatureTable {
        features,
        ..FeatureTable::default()
    };
    for b in &batches {
        read_batch(&mut t, b)?;
    }
    Ok(t)
}

fn read_batch(t: &mut FeatureTable, b: &RecordBatch) -> Result<()> {
    let n = t.features.len();
    let person = text(b.column(0))?;
    let cut = b.column(1).as_primitive::<Int64Type>();
    let rank = text(b.column(2))?;
    let unit = text(b.column(3))?;
    let mut cols = Vec::with_capacity(n);
    for j in 0..n {
        let c = b.column(4 + j);
        if c.data_type() != &DataType::Float64 {
            return Err(Error::Internal(format!(
                "feature {} came back as {}",
                t.features[j].name,
                c.data_type()
            )));
        }
        cols.push(c.as_primitive::<Float64Type>());
    }
    for i in 0..b.num_rows() {
        t.person.push(person.value(i).to_owned());
        let days = i32::try_from(cut.value(i))
            .map_err(|_| Error::Internal(format!("cut-off day {} out of range", cut.value(i))))?;
        t.cut.push(probity_core::time::days_to_date(days));
        t.rank.push(rank.value(i).to_owned());
        t.unit.push(unit.value(i).to_owned());
        for c in &cols {
            t.values.push(if c.is_null(i) { 0.0 } else { c.value(i) });
        }
    }
    Ok(())
}
