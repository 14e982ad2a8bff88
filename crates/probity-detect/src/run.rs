//! What a detector sees while it runs: the session over the store, the
//! analysis period, the time zone, its parameters; and small helpers to read
//! query results.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use probity_core::TimeRules;
use probity_core::schema::Table;
use probity_core::time::date_to_days;

use crate::{Detector, Error, Params, Result};

/// The dates an analysis covers (days since 1970-01-01, inclusive), taken
/// from the data: the first and last local date of shifts, swipes, sessions,
/// look-ups and claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub start: i32,
    /// Last day.
    pub end: i32,
}

/// One detector's view of the run.
pub struct Run {
    pub(crate) detector: Detector,
    pub(crate) ctx: SessionContext,
    pub(crate) links: Option<std::sync::Arc<Vec<probity_resolve::RecordLinks>>>,
    pub(crate) present: Vec<Table>,
    pub(crate) period: Option<Period>,
    pub(crate) judged: Option<Period>,
    pub(crate) tz: TimeRules,
    pub(crate) params: Params,
    pub(crate) report: std::cell::RefCell<Notes>,
}

/// What a detector reports beside its findings: what it learned from the
/// store's own data (a force's pay codes, its placeholders for "no case"),
/// notes for the run report (values it could not read), and items for
/// clerical review (near matches that are never findings). Written into
/// `run.json` under the detector and printed by `analyze`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Notes {
    /// What was learned, by topic.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub learned: std::collections::BTreeMap<String, serde_json::Value>,
    /// Lines for the reader of the run report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Items a clerical reviewer should decide (pseudonymised).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<serde_json::Value>,
}

impl Run {
    /// The analysis period: the dates of the data this detector reads.
    pub fn period(&self) -> Period {
        self.period
            .expect("detectors run only when there is a period")
    }

    /// In an analysis limited to a period, the period judged (the data read
    /// begins [`crate::Detector::context_days`] before it); `None` in a full
    /// analysis. A detector that judges single items (a claim, a shift)
    /// judges only those whose local date falls in it.
    pub fn judged(&self) -> Option<Period> {
        self.judged
    }

    /// The record links (register entries linked to staff by
    /// `probity-resolve`), brought up to date by the run for detectors that
    /// declare `identities`; empty for the others.
    pub fn links(&self) -> &[probity_resolve::RecordLinks] {
        self.links.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Records what the detector learned from this store's data.
    pub fn learned(&self, topic: &str, value: impl serde::Serialize) {
        let v = serde_json::to_value(value).expect("learned values serialise");
        self.report
            .borrow_mut()
            .learned
            .insert(topic.to_string(), v);
    }

    /// Adds a line to the run report.
    pub fn note(&self, line: impl Into<String>) {
        self.report.borrow_mut().notes.push(line.into());
    }

    /// Adds an item for clerical review (never a finding).
    pub fn review(&self, item: impl serde::Serialize) {
        let v = serde_json::to_value(item).expect("review items serialise");
        self.report.borrow_mut().review.push(v);
    }

    /// The detector's parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The dataset time zone.
    pub fn tz(&self) -> &TimeRules {
        &self.tz
    }

    /// Whether a table holds data in this store.
    pub fn has(&self, t: Table) -> bool {
        self.present.contains(&t)
    }

    /// Whether this run's session holds a table: only the tables the
    /// detector declares (and governance permits) are registered.
    pub fn can_read(&self, name: &str) -> bool {
        self.ctx.table_exist(name).unwrap_or(false)
    }

    /// Runs SQL over the analytical store and collects the result.
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        collect(&self.ctx, self.detector.id, query).await
    }

    /// Registers a small in-memory table (candidate windows and the like) in
    /// this run's session, replacing any earlier one of the same name.
    pub fn register(&self, name: &str, batch: RecordBatch) -> Result<()> {
        self.register_mem(name, batch.schema(), vec![batch])
    }

    /// Registers a query's result (the batches [`Run::sql`] returned) as an
    /// in-memory table, as it is (no copy into one batch), for a further
    /// query to join. Registers nothing and returns `false` when it holds no
    /// rows.
    pub fn register_rows(&self, name: &str, batches: Vec<RecordBatch>) -> Result<bool> {
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return Ok(false);
        };
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(false);
        }
        self.register_mem(name, schema, batches)?;
        Ok(true)
    }

    fn register_mem(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let table = MemTable::try_new(schema, vec![batches])
            .map_err(|e| Error::query(self.detector.id, e))?;
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(self.detector.id, e))?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| Error::query(self.detector.id, e))?;
        Ok(())
    }

    /// Registers `name` as the rows of `table` (one of this run's tables,
    /// partitioned by an instant) whose instant lies between `from` and `to`
    /// (µs, inclusive): a view, so Parquet files and row groups outside the
    /// span are skipped by their statistics instead of being read and joined.
    /// For a query that needs only a short span of a long context (the
    /// latest days of a limited run). Remove it with [`Run::deregister`].
    pub async fn register_slice(&self, name: &str, table: Table, from: i64, to: i64) -> Result<()> {
        let id = self.detector.id;
        let provider = self
            .ctx
            .table_provider(table.name())
            .await
            .map_err(|e| Error::query(id, e))?;
        let view = instant_view(table, provider, from, to).map_err(|e| Error::query(id, e))?;
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(id, e))?;
        self.ctx
            .register_table(name, view)
            .map_err(|e| Error::query(id, e))?;
        Ok(())
    }

    /// Removes a table registered with [`Run::register`] or [`Run::register_slice`].
    pub fn deregister(&self, name: &str) -> Result<()> {
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(self.detector.id, e))?;
        Ok(())
    }
}

pub(crate) async fn collect(
    ctx: &SessionContext,
    id: &str,
    query: &str,
) -> Result<Vec<RecordBatch>> {
    let t = std::time::Instant::now();
    // Queries only: a detector's SQL cannot define a table over a file
    // (`CREATE EXTERNAL TABLE … LOCATION`), write, or change settings, so
    // what it reads is exactly the tables its session holds.
    let only_queries = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(query, only_queries)
        .await
        .map_err(|e| Error::query(id, e))?;
    let out = df.collect().await.map_err(|e| Error::query(id, e));
    if std::env::var_os("PROBITY_TRACE_SQL").is_some() {
        let head: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!(
            "[{id}] {:.3}s {}",
            t.elapsed().as_secs_f64(),
            head.chars().take(110).collect::<String>()
        );
    }
    out
}

/// Registers Probity's SQL functions in a session:
/// `local_date(ts)` — the date of an instant in the dataset time zone.
/// `is_none(text, extra…)` — whether a cell means "none" ([`is_none_udf`]).
pub fn register_functions(ctx: &SessionContext, tz: &TimeRules) {
    ctx.register_udf(local_date_udf(tz));
    ctx.register_udf(is_none_udf());
}

/// Characters that are nothing but punctuation in a "none" cell: a cell
/// made only of these (or empty) means none.
const NONE_PUNCTUATION: &str = " -_./\\?*#,;:()[]";

/// `is_none(text, extra…)`: true when a cell means "none" — null, one of
/// [`crate::detectors::vocabulary::PLACEHOLDERS`] or of the literal `extra`
/// spellings (lower case) once spaces around it are trimmed and case is
/// ignored, or nothing but punctuation. The same as
/// `x IS NULL OR lower(trim(x)) IN (…) OR btrim(x, punctuation) = ''`, tested
/// in place on each value (those string functions each allocate a copy of
/// every value). Stateless: the force's own spellings are arguments, so the
/// function travels to a cluster by name.
pub fn is_none_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(IsNone {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IsNone {
    signature: Signature,
}

/// Whether one cell means none, given the spellings (lower case).
fn cell_is_none(v: Option<&str>, spellings: &[String]) -> bool {
    let Some(v) = v else { return true };
    let t = v.trim_matches(' ');
    if t.is_ascii() {
        if spellings
            .iter()
            .any(|s| s.len() == t.len() && t.eq_ignore_ascii_case(s))
        {
            return true;
        }
    } else {
        let lower = t.to_lowercase();
        if spellings.contains(&lower) {
            return true;
        }
    }
    v.chars().all(|c| NONE_PUNCTUATION.contains(c))
}

/// [`cell_is_none`] for each cell, never null.
fn none_cells<'a>(
    cells: impl Iterator<Item = Option<&'a str>>,
    spellings: &[String],
) -> arrow::array::BooleanArray {
    cells.map(|v| Some(cell_is_none(v, spellings))).collect()
}

impl ScalarUDFImpl for IsNone {
    fn name(&self) -> &str {
        "is_none"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let plan = |m: String| datafusion::error::DataFusionError::Plan(m);
        let (first, rest) = args
            .args
            .split_first()
            .ok_or_else(|| plan("is_none expects the text to test".into()))?;
        let mut spellings: Vec<String> = crate::detectors::vocabulary::PLACEHOLDERS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for a in rest {
            match a {
                ColumnarValue::Scalar(s) => match s.try_as_str() {
                    Some(Some(v)) => spellings.push(v.trim().to_lowercase()),
                    Some(None) => {}
                    None => return Err(plan(format!("is_none: a spelling must be text, not {s}"))),
                },
                ColumnarValue::Array(_) => {
                    return Err(plan("is_none: the spellings must be literals".into()));
                }
            }
        }
        let values = first.to_array(args.number_rows)?;
        let s = &spellings;
        let out = match values.data_type() {
            DataType::Utf8View => none_cells(values.as_string_view().iter(), s),
            DataType::Utf8 => none_cells(values.as_string::<i32>().iter(), s),
            DataType::LargeUtf8 => none_cells(values.as_string::<i64>().iter(), s),
            DataType::Null => none_cells(std::iter::repeat_n(None, values.len()), s),
            other => return Err(plan(format!("is_none expects text, not {other}"))),
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `local_date(ts)`: the date of an instant (µs, UTC) in the zone `tz`. The
/// zone travels with the function ([`local_date_zone`]), so a plan sent to a
/// cluster is computed in the store's zone wherever it runs.
pub fn local_date_udf(tz: &TimeRules) -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalDate {
        tz: tz.clone(),
        signature: Signature::exact(
            vec![DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into()),
            )],
            Volatility::Immutable,
        ),
    })
}

/// The zone of a `local_date` function made by [`local_date_udf`], or `None`
/// for any other function.
pub fn local_date_zone(udf: &ScalarUDF) -> Option<&str> {
    let any: &dyn std::any::Any = udf.inner().as_ref();
    any.downcast_ref::<LocalDate>().map(|f| f.tz.zone_name())
}

#[derive(Debug)]
struct LocalDate {
    tz: TimeRules,
    signature: Signature,
}

impl PartialEq for LocalDate {
    fn eq(&self, other: &Self) -> bool {
        self.tz.zone_name() == other.tz.zone_name()
    }
}

impl Eq for LocalDate {}

impl std::hash::Hash for LocalDate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.tz.zone_name().hash(state);
    }
}

impl ScalarUDFImpl for LocalDate {
    fn name(&self) -> &str {
        "local_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ts = arrays[0]
            .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Plan(
                    "local_date expects a timestamp in microseconds".into(),
                )
            })?;
        // Offsets change twice a year: remember the last day's bounds.
        let mut cache: Option<(i64, i64, i32)> = None;
        let out: Date32Array = ts
            .iter()
            .map(|v| {
                v.map(|us| match cache {
                    Some((lo, hi, d)) if us >= lo && us < hi => d,
                    _ => {
                        let d = date_to_days(self.tz.local_date(us));
                        let (lo, hi) = day_bounds(&self.tz, d);
                        cache = Some((lo, hi, d));
                        d
                    }
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The column of an instant (a timestamp) that partitions `table` by month:
/// what an analysis limited to a period limits. `None` for tables that are
/// not dated, or dated by a day (absences, complaints: read whole).
pub(crate) fn instant_partition(table: Table) -> Option<&'static str> {
    let def = table.def();
    def.partition_by.filter(|p| {
        def.columns
            .iter()
            .any(|c| c.name == *p && c.ty == probity_core::schema::ColType::Timestamp)
    })
}

/// `provider` limited to the local days of `window` when the table is
/// partitioned by an instant (a view filtering that column, so files and row
/// groups outside the window are skipped by their statistics); any other
/// table unchanged.
pub(crate) fn within(
    table: Table,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    window: Period,
    tz: &TimeRules,
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    if instant_partition(table).is_none() {
        return Ok(provider);
    }
    // From the first local day's start to the last instant before the day
    // after the last starts.
    let (lo, hi) = (day_start(tz, window.start), day_start(tz, window.end + 1));
    instant_view(table, provider, lo, hi - 1)
}

/// A view of `provider` (the table `table`, partitioned by an instant) of
/// the rows whose instant lies between `from` and `to` (µs, inclusive):
/// Parquet files and row groups outside it are skipped by their statistics.
/// An error for a table not partitioned by an instant.
fn instant_view(
    table: Table,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    from: i64,
    to: i64,
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
    let column = instant_partition(table).ok_or_else(|| {
        datafusion::error::DataFusionError::Plan(format!(
            "{} is not partitioned by an instant and cannot be sliced",
            table.name()
        ))
    })?;
    let at = |us: i64| {
        lit(datafusion::scalar::ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    };
    let plan = LogicalPlanBuilder::scan(
        table.name(),
        datafusion::datasource::provider_as_source(provider),
        None,
    )?
    .filter(col(column).gt_eq(at(from)).and(col(column).lt_eq(at(to))))?
    .build()?;
    Ok(Arc::new(datafusion::datasource::ViewTable::new(plan, None)))
}

/// The instants (µs) at which a local day starts and the next one starts.
pub(crate) fn day_bounds(tz: &TimeRules, day: i32) -> (i64, i64) {
    (day_start(tz, day), day_start(tz, day + 1))
}

/// The first instant (µs) of a local day in the dataset zone.
pub fn day_start(tz: &TimeRules, day: i32) -> i64 {
    let date = probity_core::time::days_to_date(day);
    let dt = date.to_datetime(jiff::civil::Time::midnight());
    // A midnight inside a gap (some zones move clocks at midnight) resolves
    // to the first instant after it.
    tz.zone()
        .to_ambiguous_timestamp(dt)
        .compatible()
        .map_or(i64::from(day) * DAY_US, |t| t.as_microsecond())
}

/// The analysis period from the event tables, or `None` for an empty store.
pub(crate) async fn analysis_period(ctx: &SessionContext) -> Result<Option<Period>> {
    let q = "SELECT min(d0) AS d0, max(d1) AS d1 FROM (
        SELECT local_date(min(start)) AS d0, local_date(max(start)) AS d1 FROM shifts
        UNION ALL SELECT local_date(min(at)), local_date(max(at)) FROM badge_events
        UNION ALL SELECT local_date(min(start)), local_date(max(start)) FROM device_sessions
        UNION ALL SELECT local_date(min(at)), local_date(max(at)) FROM system_queries
        UNION ALL SELECT local_date(min(claimed_start)), local_date(max(claimed_start)) FROM overtime_claims
    )";
    let batches = collect(ctx, "analysis period", q).await?;
    let b = &batches[0];
    let d0 = dates(b, "d0");
    let d1 = dates(b, "d1");
    if d0.is_null(0) || d1.is_null(0) {
        // Only undated history (complaints): analyse up to the last complaint.
        let batches = collect(
            ctx,
            "analysis period",
            "SELECT min(received_on) AS d0, max(received_on) AS d1 FROM complaints",
        )
        .await?;
        let b = &batches[0];
        let (d0, d1) = (dates(b, "d0"), dates(b, "d1"));
        if d0.is_null(0) {
            return Ok(None);
        }
        return Ok(Some(Period {
            start: d0.value(0),
            end: d1.value(0),
        }));
    }
    Ok(Some(Period {
        start: d0.value(0),
        end: d1.value(0),
    }))
}

pub use probity_store::cols::{dates, floats, ints, micros, opt, opt_str, strs};

/// Builds a batch of candidate windows `(wid, person_id, ws, we)` to join
/// event tables against.
pub fn windows_batch(rows: &[(i64, String, i64, i64)]) -> RecordBatch {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("wid", DataType::Int64, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("ws", ts.clone(), false),
        Field::new("we", ts, false),
        Field::new("day", DataType::Int64, false),
    ]));
    // One row per UTC day the window touches, so that joins can use the day
    // as an equality key instead of a range scan over everything a person did.
    let mut wid = vec![];
    let mut person = vec![];
    let mut ws = vec![];
    let mut we = vec![];
    let mut day = vec![];
    for (id, p, s, e) in rows {
        let (d0, d1) = (s.div_euclid(DAY_US), e.div_euclid(DAY_US));
        for d in d0..=d1 {
            wid.push(*id);
            person.push(p.as_str());
            ws.push(*s);
            we.push(*e);
            day.push(d);
        }
    }
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(wid)),
            Arc::new(StringArray::from(person)),
            Arc::new(TimestampMicrosecondArray::from(ws).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(we).with_timezone("UTC")),
            Arc::new(Int64Array::from(day)),
        ],
    )
    .expect("window batch matches its schema")
}

/// Microseconds in a UTC day.
pub const DAY_US: i64 = 86_400_000_000;

/// SQL for the UTC day number of a timestamp column (matches
/// [`windows_batch`]'s `day`).
pub fn utc_day(col: &str) -> String {
    format!("(CAST(arrow_cast({col}, 'Int64') AS BIGINT) / {DAY_US})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringViewArray;

    /// `is_none` answers as the SQL it replaced did, cell for cell: case,
    /// spaces, punctuation, non-ASCII case folding, the force's own
    /// spellings, nulls, and text that merely contains a spelling.
    #[tokio::test]
    async fn is_none_agrees_with_the_sql_it_replaced() {
        let cells: Vec<Option<&str>> = vec![
            None,
            Some(""),
            Some("   "),
            Some("N/A"),
            Some(" none "),
            Some("NoNe"),
            Some("\tnone"),
            Some("--"),
            Some("-/-"),
            Some("(?)"),
            Some("[ ]"),
            Some("\\"),
            Some("0"),
            Some("0.0"),
            Some("CASE-2025-000123"),
            Some("none given"),
            Some("N/K"),
            Some(" tbc "),
            Some("İNONE"),
            Some("NİL"),
            Some("ÉTÉ"),
            Some("été"),
            Some("ruled out"),
            Some("NOT KNOWN"),
        ];
        let extra = [
            "n/k".to_string(),
            "Été".to_string(),
            " not known ".to_string(),
        ];
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("i", DataType::Int64, false),
                Field::new("x", DataType::Utf8View, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(0..cells.len() as i64)),
                Arc::new(StringViewArray::from(cells.clone())),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        register_functions(&ctx, &TimeRules::new("Europe/London").unwrap());
        ctx.register_batch("t", batch).unwrap();
        let spellings: Vec<String> = crate::detectors::vocabulary::PLACEHOLDERS
            .iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|e| e.trim().to_lowercase()))
            .collect();
        let list = crate::detectors::sql_list(&spellings);
        let q = format!(
            "SELECT i, is_none(x) AS plain, is_none(x, {}) AS own,
                    (x IS NULL OR lower(trim(x)) IN ({list})
                     OR btrim(x, ' -_./\\?*#,;:()[]') = '') AS by_sql
             FROM t ORDER BY i",
            crate::detectors::sql_list(&extra)
        );
        let out = ctx.sql(&q).await.unwrap().collect().await.unwrap();
        let mut own = vec![];
        let mut plain = vec![];
        for b in &out {
            let (p, o, s) = (
                b.column(1).as_boolean(),
                b.column(2).as_boolean(),
                b.column(3).as_boolean(),
            );
            for r in 0..b.num_rows() {
                assert_eq!(o.value(r), s.value(r), "cell {:?}", cells[own.len()]);
                own.push(o.value(r));
                plain.push(p.value(r));
            }
        }
        assert_eq!(own.len(), cells.len());
        let none_of = |v: &[bool]| -> Vec<usize> { (0..v.len()).filter(|&i| v[i]).collect() };
        let at = |text: &str| cells.iter().position(|c| *c == Some(text)).unwrap();
        let (own, plain) = (none_of(&own), none_of(&plain));
        // Without the force's spellings its own words are text; with them, none.
        assert!(!plain.contains(&at("N/K")));
        for text in [
            "N/K",
            "ÉTÉ",
            "NOT KNOWN",
            "N/A",
            " none ",
            "-/-",
            "[ ]",
            "\\",
        ] {
            assert!(own.contains(&at(text)), "{text}");
        }
        for text in [
            "CASE-2025-000123",
            "none given",
            "0.0",
            "ruled out",
            "\tnone",
        ] {
            assert!(!own.contains(&at(text)), "{text}");
        }
    }
}
