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
    /// The analysis period.
    pub fn period(&self) -> Period {
        self.period
            .expect("detectors run only when there is a period")
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
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(|e| Error::query(self.detector.id, e))?;
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(self.detector.id, e))?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| Error::query(self.detector.id, e))?;
        Ok(())
    }

    /// Removes a table registered with [`Run::register`].
    pub fn deregister(&self, name: &str) -> Result<()> {
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(self.detector.id, e))?;
        Ok(())
    }
}

async fn collect(ctx: &SessionContext, id: &str, query: &str) -> Result<Vec<RecordBatch>> {
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
pub fn register_functions(ctx: &SessionContext, tz: &TimeRules) {
    ctx.register_udf(local_date_udf(tz));
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

pub use probity_store::cols::{dates, floats, ints, micros, opt_str, strs};

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
