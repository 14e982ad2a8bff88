//! What a detector sees while it runs: the session over the store, the
//! analysis period, the time zone, its parameters; and small helpers to read
//! query results.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
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
    pub(crate) store_root: std::path::PathBuf,
    pub(crate) detector: Detector,
    pub(crate) ctx: SessionContext,
    pub(crate) vault: Option<SessionContext>,
    pub(crate) present: Vec<Table>,
    pub(crate) period: Option<Period>,
    pub(crate) tz: TimeRules,
    pub(crate) params: Params,
}

impl Run {
    /// The analysis period.
    pub fn period(&self) -> Period {
        self.period
            .expect("detectors run only when there is a period")
    }

    /// The store's directory (for derived data such as reference links).
    pub fn store_root(&self) -> &std::path::Path {
        &self.store_root
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

    /// Runs SQL over a session that also holds the identity vault
    /// (`vault_people`, `vault_reference_records`). Only detectors that
    /// declare `identities: true` get one.
    pub async fn sql_with_identities(&self, query: &str) -> Result<Vec<RecordBatch>> {
        let ctx = self
            .vault
            .as_ref()
            .expect("only detectors declaring identities read the vault");
        collect(ctx, self.detector.id, query).await
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
    let df = ctx.sql(query).await.map_err(|e| Error::query(id, e))?;
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
    let tz = tz.clone();
    let f = move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
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
                        let d = date_to_days(tz.local_date(us));
                        let (lo, hi) = day_bounds(&tz, d);
                        cache = Some((lo, hi, d));
                        d
                    }
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    };
    let udf = create_udf(
        "local_date",
        vec![DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(f),
    );
    ctx.register_udf(udf);
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

fn cast(b: &RecordBatch, name: &str, to: &DataType) -> ArrayRef {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("query result has no column {name}"));
    if c.data_type() == to {
        c.clone()
    } else {
        arrow::compute::cast(c, to).unwrap_or_else(|e| panic!("column {name}: {e}"))
    }
}

/// A text column of a result (any string encoding).
pub fn strs(b: &RecordBatch, name: &str) -> StringArray {
    cast(b, name, &DataType::Utf8).as_string::<i32>().clone()
}

/// A date column (days since the epoch).
pub fn dates(b: &RecordBatch, name: &str) -> Date32Array {
    cast(b, name, &DataType::Date32)
        .as_primitive::<Date32Type>()
        .clone()
}

/// A timestamp column in microseconds since the epoch (UTC).
pub fn micros(b: &RecordBatch, name: &str) -> TimestampMicrosecondArray {
    cast(
        b,
        name,
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
    .clone()
}

/// An integer column.
pub fn ints(b: &RecordBatch, name: &str) -> Int64Array {
    cast(b, name, &DataType::Int64)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .clone()
}

/// A float column.
pub fn floats(b: &RecordBatch, name: &str) -> Float64Array {
    cast(b, name, &DataType::Float64)
        .as_primitive::<arrow::datatypes::Float64Type>()
        .clone()
}

/// An optional string value.
pub fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

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
