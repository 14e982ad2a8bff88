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
    /// Rows `a` and `b` compared by what they hold (cut-off, then every
    /// feature value), never by the person's pseudonym: an order of rows
    /// that follows this does not change with the store's key.
    pub fn content_cmp(&self, a: usize, b: usize) -> std::cmp::Ordering {
        self.cut[a].cmp(&self.cut[b]).then_with(|| {
            self.row(a)
                .iter()
                .zip(self.row(b))
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
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

/// The ranks held by at least 1% of the people in the store, most common
/// first, at most `k` (the rank indicator features). The store holds each
/// person's current rank: at a past cut-off it may be a rank reached
/// later, which is why rank features are an option, not the default.
pub async fn top_ranks(ctx: &SessionContext, k: usize) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT rank, count(*) AS n FROM people GROUP BY rank \
         HAVING count(*) * 100 >= (SELECT count(*) FROM people) ORDER BY n DESC, rank LIMIT {k}"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let r = text(b.column(0))?;
        for i in 0..b.num_rows() {
            out.push(r.value(i).to_owned());
        }
    }
    Ok(out)
}

/// The day (since the epoch) of the first complaint on record; 0 if none.
async fn first_complaint_day(ctx: &SessionContext) -> Result<i64> {
    let b = ctx
        .sql("SELECT CAST(CAST(min(received_on) AS INT) AS BIGINT) AS d FROM complaints")
        .await?
        .collect()
        .await?;
    Ok(b.first()
        .filter(|b| b.num_rows() > 0 && !b.column(0).is_null(0))
        .map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0)))
}

fn months(n: u32) -> String {
    if n == 1 {
        "the last month".into()
    } else {
        format!("the last {n} months")
    }
}

/// A source of features other than complaints: a query giving
/// `person_id` and an event date `d` (plus its own columns), counted over
/// the 12 months before each cut-off.
struct Extra {
    /// The query (its rows are events before and after any cut-off; only
    /// those with `d` before a cut-off are counted for it).
    src: String,
    /// (name, aggregate over `e` — the source's rows in the window — and
    /// `a` — the person and cut-off, words).
    sums: Vec<(String, String, String)>,
    /// Features also compared with the peer group.
    peer: Vec<String>,
}

/// Whether a table is registered and holds at least one row.
async fn has_rows(ctx: &SessionContext, table: &str) -> Result<bool> {
    if !ctx.table_exist(table)? {
        return Ok(false);
    }
    let b = ctx
        .sql(&format!("SELECT count(*) AS n FROM {table}"))
        .await?
        .collect()
        .await?;
    Ok(b.first()
        .is_some_and(|b| b.num_rows() > 0 && b.column(0).as_primitive::<Int64Type>().value(0) > 0))
}

/// The feature sources other than complaints that this store holds:
/// overtime, sickness spells, self-edits of the roster, look-ups without a
/// case, units worked in, and findings by scenario (from the findings
/// register, when `findings` is registered). A table the store lacks gives
/// no features, so the feature list depends on the store: a saved model
/// refuses a store whose list differs.
async fn extra_sources(ctx: &SessionContext) -> Result<Vec<Extra>> {
    let s = |n: &str, e: &str, w: &str| (n.to_owned(), e.to_owned(), w.to_owned());
    let in3 = "e.d >= a.cut - INTERVAL '3 months'";
    let day = |c: &str| format!("CAST(CAST({c} AS INT) AS BIGINT)");
    let mut out = Vec::new();
    if has_rows(ctx, "overtime_claims").await? {
        out.push(Extra {
            src: "SELECT person_id, CAST(claimed_start AS DATE) AS d, hours FROM overtime_claims"
                .into(),
            sums: vec![
                s(
                    "overtime_hours_3m",
                    &format!("sum(CASE WHEN {in3} THEN e.hours ELSE 0 END)"),
                    "overtime hours claimed in the last 3 months",
                ),
                s(
                    "overtime_hours_12m",
                    "sum(e.hours)",
                    "overtime hours claimed in the last 12 months",
                ),
                s(
                    "overtime_claims_12m",
                    "count(*)",
                    "overtime claims in the last 12 months",
                ),
            ],
            peer: vec!["overtime_hours_12m".into()],
        });
    }
    if has_rows(ctx, "absences").await? {
        out.push(Extra {
            src: format!(
                "SELECT person_id, start_date AS d, {} AS start_day, {} AS end_day \
                 FROM absences WHERE kind = 'sickness'",
                day("start_date"),
                day("end_date")
            ),
            sums: vec![
                s(
                    "sickness_spells_12m",
                    "count(*)",
                    "spells of sickness absence begun in the last 12 months",
                ),
                // A spell still running at the cut-off counts only its days
                // up to the cut-off (its end was not known then).
                s(
                    "sickness_days_12m",
                    &format!(
                        "sum(least(e.end_day, {} - 1) - e.start_day + 1)",
                        day("a.cut")
                    ),
                    "days of sickness absence (spells begun in the last 12 months)",
                ),
            ],
            peer: vec!["sickness_spells_12m".into()],
        });
    }
    if has_rows(ctx, "roster_edits").await? && has_rows(ctx, "shifts").await? {
        out.push(Extra {
            src: "SELECT s.person_id, CAST(re.edited_at AS DATE) AS d FROM roster_edits re \
                  JOIN shifts s ON re.shift_id = s.shift_id WHERE re.edited_by = s.person_id"
                .into(),
            sums: vec![
                s(
                    "roster_self_edits_3m",
                    &format!("sum(CASE WHEN {in3} THEN 1 ELSE 0 END)"),
                    "edits of their own roster in the last 3 months",
                ),
                s(
                    "roster_self_edits_12m",
                    "count(*)",
                    "edits of their own roster in the last 12 months",
                ),
            ],
            peer: vec!["roster_self_edits_12m".into()],
        });
    }
    if has_rows(ctx, "system_queries").await? && has_rows(ctx, "accounts").await? {
        out.push(Extra {
            src: "SELECT ac.person_id, CAST(q.at AS DATE) AS d, q.case_ref FROM system_queries q \
                  JOIN accounts ac ON q.account_id = ac.account_id"
                .into(),
            sums: vec![
                s(
                    "lookups_12m",
                    "count(*)",
                    "police-system look-ups in the last 12 months",
                ),
                s(
                    "lookups_no_case_12m",
                    "sum(CASE WHEN e.case_ref IS NULL THEN 1 ELSE 0 END)",
                    "look-ups without a case reference in the last 12 months",
                ),
                s(
                    "lookups_no_case_3m",
                    &format!("sum(CASE WHEN e.case_ref IS NULL AND {in3} THEN 1 ELSE 0 END)"),
                    "look-ups without a case reference in the last 3 months",
                ),
            ],
            peer: vec!["lookups_no_case_12m".into()],
        });
    }
    if has_rows(ctx, "shifts").await? {
        out.push(Extra {
            src: "SELECT person_id, CAST(start AS DATE) AS d, unit_id FROM shifts".into(),
            sums: vec![s(
                "units_12m",
                "count(DISTINCT e.unit_id)",
                "different units worked in over the last 12 months (a measure of moves)",
            )],
            peer: vec![],
        });
    }
    if has_rows(ctx, FINDINGS_TABLE).await? {
        let b = ctx
            .sql(&format!(
                "SELECT DISTINCT scenario FROM {FINDINGS_TABLE} ORDER BY scenario"
            ))
            .await?
            .collect()
            .await?;
        let mut sums = Vec::new();
        for b in &b {
            let sc = text(b.column(0))?;
            for i in 0..b.num_rows() {
                let v = sc.value(i);
                if !v.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    continue;
                }
                sums.push(s(
                    &format!("findings_{v}_12m"),
                    &format!("sum(CASE WHEN e.scenario = '{v}' THEN 1 ELSE 0 END)"),
                    &format!(
                        "findings of {} (not closed with no further action) ending in the last \
                         12 months",
                        v.replace('_', " ")
                    ),
                ));
            }
        }
        if !sums.is_empty() {
            out.push(Extra {
                src: format!(
                    "SELECT person_id, period_end AS d, scenario FROM {FINDINGS_TABLE} \
                     WHERE status <> 'no_further_action'"
                ),
                sums,
                peer: vec![],
            });
        }
    }
    Ok(out)
}

/// The name under which [`register_findings`] registers the findings
/// register.
pub const FINDINGS_TABLE: &str = "findings_register";

/// Registers a findings register (`STORE/findings/register.jsonl`: one
/// finding per line with `person_id`, `scenario`, `period_end`, `status`)
/// as the table [`FINDINGS_TABLE`], so that findings by scenario become
/// features. A missing file registers nothing.
pub fn register_findings(ctx: &SessionContext, register: &std::path::Path) -> Result<usize> {
    use arrow::array::{Date32Array, StringBuilder};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    if !register.exists() {
        return Ok(0);
    }
    let text = std::fs::read_to_string(register)
        .map_err(|e| Error::Input(format!("{}: {e}", register.display())))?;
    let (mut person, mut scenario, mut status) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut end = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("{}, line {}: {e}", register.display(), i + 1)))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str());
        // Tombstones of purged findings carry no finding.
        let (Some(p), Some(sc), Some(pe)) =
            (field("person_id"), field("scenario"), field("period_end"))
        else {
            continue;
        };
        let d: Date = pe.parse().map_err(|e| {
            Error::Input(format!(
                "{}, line {}: period_end {pe:?}: {e}",
                register.display(),
                i + 1
            ))
        })?;
        person.append_value(p);
        scenario.append_value(sc);
        status.append_value(field("status").unwrap_or("new"));
        end.push(probity_core::time::date_to_days(d));
    }
    let n = end.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("scenario", DataType::Utf8, false),
        Field::new("period_end", DataType::Date32, false),
        Field::new("status", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(person.finish()),
            Arc::new(scenario.finish()),
            Arc::new(Date32Array::from(end)),
            Arc::new(status.finish()),
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])?;
    ctx.register_table(FINDINGS_TABLE, Arc::new(table))?;
    Ok(n)
}

/// Computes the features of every person active at each cut-off.
/// `categories` are the complaint category groups counted separately.
/// `ranks` are the ranks that get an indicator feature (none: rank is
/// only the peer group).
pub async fn compute(
    ctx: &SessionContext,
    cuts: &[Date],
    categories: &[String],
    ranks: &[String],
) -> Result<FeatureTable> {
    // A few cut-offs per plan: the peer medians sort and hold every row of
    // a plan at once, and 24 monthly dates of a Met-sized force in one plan
    // held 12 GB. Every window is partitioned by the cut-off and the rows
    // come ordered by it, so the chunks in date order give the same table.
    let mut sorted = cuts.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut all: Option<FeatureTable> = None;
    let history = crate::context::Complaints::load(ctx).await?;
    for chunk in sorted.chunks(CUTS_PER_PLAN) {
        let mut t = compute_chunk(ctx, chunk, categories, ranks).await?;
        history.append(&mut t)?;
        match all.as_mut() {
            None => all = Some(t),
            Some(a) => {
                a.person.extend(t.person);
                a.cut.extend(t.cut);
                a.rank.extend(t.rank);
                a.unit.extend(t.unit);
                a.values.extend(t.values);
            }
        }
    }
    Ok(all.unwrap_or_default())
}

/// Cut-offs computed by one plan.
const CUTS_PER_PLAN: usize = 4;

async fn compute_chunk(
    ctx: &SessionContext,
    cuts: &[Date],
    categories: &[String],
    ranks: &[String],
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
    // Whole-service counts as rates per year of *observed* service (from
    // the later of appointment and the first complaint on record): a raw
    // count grows with the length of the records, which differs between
    // training and test cut-offs.
    sums.push("count(cm.complaint_id) AS complaints_per_year".into());
    features.push(Feature {
        name: "complaints_per_year".into(),
        words: "complaints per year of service (as far back as the records go)".into(),
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
        "sum(CASE WHEN cm.outcome = 'sustained' AND {known} THEN 1 ELSE 0 END) AS sustained_per_year"
    ));
    features.push(Feature {
        name: "sustained_per_year".into(),
        words: "sustained complaints per year of service (as far back as the records go)".into(),
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
    let mut counts: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let n_complaint = features.len();
    let extras = extra_sources(ctx).await?;
    let mut extra_ctes = Vec::new();
    let mut extra_joins = Vec::new();
    let mut extra_cols = Vec::new();
    let mut peer_of = vec![
        (
            "complaints_12m".to_owned(),
            format!(
                "complaints of {} compared with colleagues of the same rank and unit \
                 (robust z-score)",
                months(12)
            ),
        ),
        (
            "complaints_24m".to_owned(),
            format!(
                "complaints of {} compared with colleagues of the same rank and unit \
                 (robust z-score)",
                months(24)
            ),
        ),
    ];
    for (k, x) in extras.iter().enumerate() {
        extra_ctes.push(format!(
            "x{k} AS (SELECT a.person_id, a.cut, {sums} FROM a JOIN ({src}) e \
             ON e.person_id = a.person_id AND e.d < a.cut \
             AND e.d >= a.cut - INTERVAL '12 months' GROUP BY a.person_id, a.cut)",
            sums = x
                .sums
                .iter()
                .map(|(n, e, _)| format!("{e} AS {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            src = x.src,
        ));
        extra_joins.push(format!(
            "LEFT JOIN x{k} ON x{k}.person_id = a.person_id AND x{k}.cut = a.cut"
        ));
        for (n, _, w) in &x.sums {
            extra_cols.push(format!("coalesce(x{k}.{n}, 0) AS {n}"));
            features.push(Feature {
                name: n.clone(),
                words: w.clone(),
            });
            counts.push(n.clone());
            if x.peer.contains(n) {
                peer_of.push((
                    n.clone(),
                    format!(
                        "{w}, compared with colleagues of the same rank and unit (robust z-score)"
                    ),
                ));
            }
        }
    }
    // Rank as a feature (one indicator per rank chosen by the caller).
    for (k, r) in ranks.iter().enumerate() {
        let lit = r.replace('\'', "''");
        extra_cols.push(format!(
            "CASE WHEN a.rank = '{lit}' THEN 1 ELSE 0 END AS rank{k}"
        ));
        features.push(Feature {
            name: format!("rank{k}"),
            words: format!("holds the rank {r}"),
        });
        counts.push(format!("rank{k}"));
    }
    // Peer deviation: robust z-score within the same rank and unit at the
    // same cut-off (median and MAD; the mean absolute deviation when more
    // than half the peers share the median, as in the modified z-score).
    let peer = "PARTITION BY cut, rank, unit_id";
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    let mut mad = Vec::new();
    for (w, (x, words)) in peer_of.iter().enumerate() {
        inner.push(format!(
            "median(CAST(j0.{x} AS DOUBLE)) OVER ({peer}) AS med_{w}"
        ));
        mad.push(format!(
            "median(abs({x} - med_{w})) OVER ({peer}) AS mad_{w}, \
             avg(abs({x} - med_{w})) OVER ({peer}) AS meanad_{w}"
        ));
        // The complaint z-scores keep their first names (saved models).
        let name = match x.as_str() {
            "complaints_12m" => "peer_z_12m".to_owned(),
            "complaints_24m" => "peer_z_24m".to_owned(),
            other => format!("peer_z_{other}"),
        };
        outer.push(format!(
            "CASE WHEN mad_{w} > 0 THEN ({x} - med_{w}) / (1.4826 * mad_{w}) \
             WHEN meanad_{w} > 0 THEN ({x} - med_{w}) / (1.2533 * meanad_{w}) \
             ELSE 0.0 END AS {name}"
        ));
        features.push(Feature {
            name,
            words: words.clone(),
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

    // Years of observed service: from the later of appointment and the
    // first complaint on record, at least half a year.
    let d0 = first_complaint_day(ctx).await?;
    let observed = format!(
        "(greatest(least(CAST(CAST(a.cut AS INT) AS BIGINT) - CAST(CAST(a.start_date AS INT) AS BIGINT), \
         CAST(CAST(a.cut AS INT) AS BIGINT) - {d0}), 183) / 365.25)"
    );
    let sql = format!(
        "WITH a AS ({active}), \
         h AS (SELECT a.person_id, a.cut, {sums} FROM a LEFT JOIN complaints cm \
               ON cm.person_id = a.person_id AND cm.received_on < a.cut \
               GROUP BY a.person_id, a.cut), {extra_ctes}\
         j0 AS (SELECT a.person_id, a.cut, a.rank, a.unit_id, \
               (CAST(CAST(a.cut AS INT) AS BIGINT) - CAST(CAST(a.start_date AS INT) AS BIGINT)) / 365.25 \
               AS tenure_years, {hcols}{extra_cols} \
               FROM a JOIN h ON a.person_id = h.person_id AND a.cut = h.cut {extra_joins}), \
         j AS (SELECT j0.*, count(*) OVER ({peer}) AS peer_group_size, {inner} FROM j0), \
         k AS (SELECT *, {mad} FROM j) \
         SELECT person_id, CAST(CAST(cut AS INT) AS BIGINT) AS cut_days, rank, unit_id, \
                {counts_cast}, {outer}, CAST(peer_group_size AS DOUBLE) AS peer_group_size, tenure_years \
         FROM k ORDER BY cut, person_id",
        active = active_sql(cuts),
        sums = sums.join(", "),
        extra_ctes = extra_ctes
            .iter()
            .map(|c| format!("{c}, "))
            .collect::<String>(),
        extra_joins = extra_joins.join(" "),
        extra_cols = extra_cols
            .iter()
            .map(|c| format!(", {c}"))
            .collect::<String>(),
        hcols = features
            .iter()
            .take(n_complaint)
            .map(|f| match f.name.as_str() {
                n @ ("complaints_per_year" | "sustained_per_year") => {
                    format!("CAST(h.{n} AS DOUBLE) / {observed} AS {n}")
                }
                n => format!("h.{n}"),
            })
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
