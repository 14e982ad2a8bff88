//! The store's own history, and the defaults and warnings taken from it.
//!
//! A score is only as good as the history under it. Defaults that are dates
//! fixed in the code (today, or the years of one force's data) silently give
//! wrong answers on any other store: scores "as of" months after the data
//! ends count that gap as nothing happening, and a model trained on outcome
//! windows that run past the data learns from a handful of outcomes. So the
//! date a scoring run is for, where training starts and the cut-offs an
//! evaluation tests at all come from the store's data, and every choice is
//! said in words ([`Defaults::why`], [`default_as_of`]) with a warning when
//! the data cannot support what was asked ([`as_of_warning`],
//! [`positives_warning`], [`late_tests`]).

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use jiff::civil::Date;
use probity_core::schema::Table;
use probity_core::time::{date_to_days, days_to_date};

use crate::eval::add_months;
use crate::{Error, Result};

/// Fewest training rows with the outcome (a person at a training cut-off
/// with a sustained complaint in the following horizon) a risk model
/// should be trained on; below it `score run` and `score eval` warn.
///
/// Why 30: the usual rule of thumb for a logistic model asks for 10
/// outcomes per feature — hundreds for the risk model's 20–40 features —
/// and boosted trees need more, not fewer. Below 30 the model is not just
/// imprecise: its trees split on whatever happens to separate a couple of
/// dozen people, the ranking of the top flags changes when a few cases
/// change, and a recall measured on so few outcomes moves by more than 0.03
/// with each one. 30 is the floor under which scores are noise, not a
/// target: the Chicago models train on thousands.
pub const MIN_TRAINING_POSITIVES: usize = 30;

/// Share of a store's complaints received before its outcome history is
/// taken to start: a few stray early records (Chicago's run back to 1967,
/// its bulk starts around 1990) would otherwise stretch the history to
/// years with next to no data, whose cut-offs teach a model that nothing
/// ever happens.
pub const HISTORY_START_SHARE: f64 = 0.01;

/// Training cut-offs a default test cut-off must have before it (each with
/// its outcome window and settling time closed by the test cut-off): a
/// model trained on one cut-off has seen one period's outcomes.
pub const MIN_TRAINING_CUTS: usize = 2;

/// Test cut-offs `score eval` picks when none are given: the latest this
/// many the history allows, `--step-months` apart.
pub const DEFAULT_TEST_CUTS: usize = 5;

/// The share of sustained complaints that must have been decided within
/// the settling time (see `labels::settle_months`).
pub const SETTLE_SHARE: f64 = 0.9;

/// What the store's data covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The last date of any dated data in the store (the month column of
    /// every event table, and when complaints were closed), with the column
    /// it is in (`table.column`); `None` for a store with no dated data.
    pub last_data: Option<(Date, String)>,
    /// The complaint history (the outcomes a risk model learns from);
    /// `None` without complaints.
    pub outcomes: Option<Outcomes>,
}

/// The span of a store's complaints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcomes {
    /// Complaints on record.
    pub complaints: u64,
    /// The first complaint received.
    pub earliest: Date,
    /// The date by which [`HISTORY_START_SHARE`] of them had been received:
    /// where the history is taken to start.
    pub from: Date,
    /// The last complaint received: outcome windows after it are not in
    /// the store.
    pub to: Date,
}

/// One query's single `BIGINT` day number (`None` when NULL or no row).
async fn day(ctx: &SessionContext, sql: &str) -> Result<Option<Date>> {
    let b = ctx.sql(sql).await?.collect().await?;
    Ok(b.iter()
        .find(|b| b.num_rows() > 0)
        .filter(|b| !b.column(0).is_null(0))
        .map(|b| {
            let d = b.column(0).as_primitive::<Int64Type>().value(0);
            days_to_date(i32::try_from(d).unwrap_or(i32::MAX))
        }))
}

/// Reads what the store's data covers.
pub async fn load(ctx: &SessionContext) -> Result<History> {
    // The month column of every event table (what the store's data runs
    // to), and when complaints were closed (a closure is data too).
    let mut columns: Vec<(&str, &str)> = Table::ALL
        .iter()
        .filter_map(|t| t.def().partition_by.map(|c| (t.name(), c)))
        .collect();
    columns.push(("complaints", "closed_on"));
    let mut last_data: Option<(Date, String)> = None;
    for (table, column) in columns {
        if !ctx.table_exist(table)? {
            continue;
        }
        let sql = format!(
            "SELECT CAST(CAST(CAST(max(\"{column}\") AS DATE) AS INT) AS BIGINT) FROM {table}"
        );
        if let Some(d) = day(ctx, &sql).await?
            && last_data.as_ref().is_none_or(|(l, _)| d > *l)
        {
            last_data = Some((d, format!("{table}.{column}")));
        }
    }
    let outcomes = if ctx.table_exist("complaints")? {
        let b = ctx
            .sql(
                "SELECT count(*) AS n, CAST(CAST(min(received_on) AS INT) AS BIGINT) AS a, \
                 CAST(CAST(max(received_on) AS INT) AS BIGINT) AS z FROM complaints",
            )
            .await?
            .collect()
            .await?;
        let row = b.iter().find(|b| b.num_rows() > 0);
        match row {
            Some(b) if b.column(0).as_primitive::<Int64Type>().value(0) > 0 => {
                let n = b.column(0).as_primitive::<Int64Type>().value(0);
                let at = |k: usize| {
                    days_to_date(b.column(k).as_primitive::<Int64Type>().value(0) as i32)
                };
                // The nearest-rank quantile, as `settle_months` takes its own.
                let k = (HISTORY_START_SHARE * n as f64).floor() as i64;
                let from = day(
                    ctx,
                    &format!(
                        "SELECT CAST(CAST(received_on AS INT) AS BIGINT) AS d FROM complaints \
                         ORDER BY received_on LIMIT 1 OFFSET {}",
                        k.clamp(0, n - 1)
                    ),
                )
                .await?
                .unwrap_or(at(1));
                Some(Outcomes {
                    complaints: n as u64,
                    earliest: at(1),
                    from,
                    to: at(2),
                })
            }
            _ => None,
        }
    } else {
        None
    };
    Ok(History {
        last_data,
        outcomes,
    })
}

/// `d` plus `n` days.
fn plus_days(d: Date, n: i32) -> Date {
    days_to_date(date_to_days(d) + n)
}

/// Days from `a` to `b`.
fn days_between(a: Date, b: Date) -> i32 {
    date_to_days(b) - date_to_days(a)
}

/// The first of a month on or after `d`.
fn month_on_or_after(d: Date) -> Result<Date> {
    if d.day() == 1 {
        Ok(d)
    } else {
        add_months(d.first_of_month(), 1)
    }
}

/// The date a scoring run is for when `--as-of` is not given: the last date
/// of data in the store (today if that is in the future), with a sentence
/// saying so.
pub fn default_as_of(h: &History, today: Date) -> Result<(Date, String)> {
    let Some((last, _)) = &h.last_data else {
        return Err(Error::Input(
            "the store holds no dated data (no complaints, shifts or other events) to score as \
             of; ingest some, or pass --as-of"
                .into(),
        ));
    };
    if *last > today {
        return Ok((
            today,
            format!(
                "as of {today}, today: the store holds dates up to {last}, after today \
                 (pass --as-of to choose)"
            ),
        ));
    }
    Ok((
        *last,
        format!("as of {last}, the last date of data in the store (pass --as-of to choose)"),
    ))
}

/// A warning when an `--as-of` the user gave is after the store's data
/// ends (by more than the day after its last date, which sees all of it).
pub fn as_of_warning(h: &History, as_of: Date) -> Option<String> {
    let (last, column) = h.last_data.as_ref()?;
    let gap = days_between(*last, as_of);
    if gap <= 1 {
        return None;
    }
    Some(format!(
        "--as-of {as_of} is {gap} days after the last date of data in the store ({last}, in \
         {column}): nothing after {last} is in the store, so the features count that time as \
         nothing happening (recent complaints and activity look like none), and people who \
         joined or left since are missing or still counted. Omit --as-of to score as of the \
         last date of data, or ingest the newer data first."
    ))
}

/// A warning when a model was trained on fewer than
/// [`MIN_TRAINING_POSITIVES`] rows with the outcome; `trained_on` is
/// (rows, positive rows), as `RiskModel::trained_on`.
pub fn positives_warning(trained_on: (usize, usize)) -> Option<String> {
    let (rows, positives) = trained_on;
    if positives >= MIN_TRAINING_POSITIVES {
        return None;
    }
    Some(format!(
        "the model was trained on only {positives} positive outcome{} ({rows} training rows; \
         the minimum for a usable model is {MIN_TRAINING_POSITIVES}): scores learnt from so \
         few outcomes are unreliable — the ranking rests on a handful of people and changes \
         when a few cases change. Use a longer complaint history (an earlier --train-from if \
         the store goes back further), check --as-of is not past the end of the data, or use \
         --method anomaly, which needs no outcomes.",
        if positives == 1 { "" } else { "s" }
    ))
}

/// The start of training when `--train-from` is not given: the first of
/// the month on or after the start of the store's complaint history.
pub fn default_train_from(h: &History) -> Result<Date> {
    let o = outcomes(h)?;
    month_on_or_after(o.from)
}

fn outcomes(h: &History) -> Result<&Outcomes> {
    h.outcomes.as_ref().ok_or_else(|| {
        Error::Input(
            "the store holds no complaints: the risk model learns from sustained complaints \
             and is evaluated on them (score run --method anomaly needs no outcomes)"
                .into(),
        )
    })
}

/// The earliest date `anchor` minus a whole number of `step_months` that is
/// on or after `first` (`anchor` itself when it is before `first`): where
/// training starts so that training and test cut-offs fall on one grid.
pub fn grid_start(anchor: Date, first: Date, step_months: u32) -> Result<Date> {
    let step = i64::from(step_months.max(1));
    let mut d = anchor;
    loop {
        let earlier = add_months(d, -step)?;
        if earlier < first {
            return Ok(d);
        }
        d = earlier;
    }
}

/// The training cut-offs usable at test cut-off `test`: from `from`, every
/// `step_months`, whose outcome window plus settling time (`gap_months`)
/// closed by `test` (as `eval::evaluate` chooses them).
fn training_cuts(from: Date, step_months: u32, gap_months: u32, test: Date) -> Result<usize> {
    let mut n = 0;
    let mut d = from;
    while add_months(d, i64::from(gap_months))? <= test {
        n += 1;
        d = add_months(d, i64::from(step_months.max(1)))?;
    }
    Ok(n)
}

/// The cut-offs `score eval` uses when none are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Test cut-offs, earliest first, `step_months` apart.
    pub tests: Vec<Date>,
    /// The first training cut-off, on the same grid.
    pub train_from: Date,
    /// The settling time the choice assumed.
    pub settle_months: u32,
    /// Which were picked and why, in words.
    pub why: String,
}

/// Picks test cut-offs inside the store's complaint history: the latest
/// [`DEFAULT_TEST_CUTS`], `step_months` apart on the first of a month, such
/// that each leaves `horizon_months` for outcomes to happen and
/// `settle_months` for them to be decided before the last complaint on
/// record, and has at least [`MIN_TRAINING_CUTS`] training cut-offs (each
/// with its own outcome window and settling time closed) after the start of
/// the history. An error, naming the fix, when no date qualifies.
pub fn eval_cuts(
    h: &History,
    horizon_months: u32,
    step_months: u32,
    settle_months: u32,
) -> Result<Defaults> {
    let o = outcomes(h)?;
    let step = step_months.max(1);
    let gap = horizon_months + settle_months;
    let start = month_on_or_after(o.from)?;
    // c + horizon + settle ≤ the last complaint: first of a month on or
    // before that.
    let last = add_months(o.to, -i64::from(gap))?.first_of_month();
    let mut tests = Vec::new();
    let mut c = last;
    while tests.len() < DEFAULT_TEST_CUTS && c >= start {
        let from = grid_start(c, start, step)?;
        if training_cuts(from, step, gap, c)? < MIN_TRAINING_CUTS {
            break;
        }
        tests.push(c);
        c = add_months(c, -i64::from(step))?;
    }
    let months = |n: u32| format!("{n} month{}", if n == 1 { "" } else { "s" });
    if tests.is_empty() {
        let need = 2 * gap + (MIN_TRAINING_CUTS as u32 - 1) * step;
        let have = days_between(o.from, o.to).max(0) as f64 / 30.44;
        return Err(Error::Input(format!(
            "the store's complaint history is too short for any test cut-off: it runs from {} \
             to {} ({have:.0} months), and a test cut-off needs {MIN_TRAINING_CUTS} training \
             cut-offs {} apart before it, each with its {}-month outcome window and {} to \
             decide it closed, and the same {} + {} after it before the last complaint — at \
             least {} in all. Ingest a longer complaint history, or shorten --horizon, \
             --settle-months or --step-months; or choose the cut-offs yourself (--test-from, \
             --test-to, --train-from), knowing that outcomes past {} are not in the store",
            o.from,
            o.to,
            months(step),
            horizon_months,
            months(settle_months),
            horizon_months,
            months(settle_months),
            months(need),
            o.to
        )));
    }
    tests.reverse();
    let train_from = grid_start(tests[0], start, step)?;
    let list: Vec<String> = tests.iter().map(ToString::to_string).collect();
    let why = format!(
        "test cut-offs {}: picked from the store's complaint history ({} to {}) as the latest \
         {}, {} apart, that leave {} for outcomes and {} to decide them before the last \
         complaint, and have at least {MIN_TRAINING_CUTS} training cut-offs (from \
         {train_from}) before them; --test-from and --test-to choose",
        list.join(", "),
        o.from,
        o.to,
        if tests.len() == DEFAULT_TEST_CUTS {
            DEFAULT_TEST_CUTS.to_string()
        } else {
            format!("{}, all the history allows", tests.len())
        },
        months(step),
        months(horizon_months),
        months(settle_months),
    );
    Ok(Defaults {
        tests,
        train_from,
        settle_months,
        why,
    })
}

/// [`eval_cuts`] with the settling time from the data (unless `given`):
/// first the time within which [`SETTLE_SHARE`] of all the sustained
/// complaints on record were decided, then, since the evaluation takes its
/// own from what was decided before its first test cut-off, again with that
/// if it is longer (so that the first test cut-off keeps its training
/// cut-offs).
pub async fn eval_defaults(
    ctx: &SessionContext,
    h: &History,
    horizon_months: u32,
    step_months: u32,
    given: Option<u32>,
) -> Result<Defaults> {
    if let Some(m) = given {
        return eval_cuts(h, horizon_months, step_months, m);
    }
    let end = h.last_data.as_ref().map_or(outcomes(h)?.to, |(d, _)| *d);
    let mut settle = crate::labels::settle_months(ctx, plus_days(end, 1), SETTLE_SHARE).await?;
    let mut picked = eval_cuts(h, horizon_months, step_months, settle)?;
    for _ in 0..3 {
        let at_first = crate::labels::settle_months(ctx, picked.tests[0], SETTLE_SHARE).await?;
        if at_first <= settle {
            break;
        }
        settle = at_first;
        picked = eval_cuts(h, horizon_months, step_months, settle)?;
    }
    Ok(picked)
}

/// Of test cut-offs the user gave, those whose outcome window runs past the
/// last complaint on record: their positives are undercounted.
pub fn late_tests(h: &History, tests: &[Date], horizon_months: u32) -> Vec<Date> {
    let Some(o) = &h.outcomes else {
        return Vec::new();
    };
    tests
        .iter()
        .copied()
        .filter(|&c| {
            add_months(c, i64::from(horizon_months)).is_ok_and(|end| end > plus_days(o.to, 1))
        })
        .collect()
}

/// A warning naming the [`late_tests`], if any.
pub fn late_tests_warning(h: &History, tests: &[Date], horizon_months: u32) -> Option<String> {
    let late = late_tests(h, tests, horizon_months);
    let o = h.outcomes.as_ref()?;
    if late.is_empty() {
        return None;
    }
    let list: Vec<String> = late.iter().map(ToString::to_string).collect();
    Some(format!(
        "the {horizon_months}-month outcome window of test cut-off{} {} runs past the last \
         complaint on record ({}): outcomes after it are not in the store, so the positives \
         there are undercounted (omit --test-from and --test-to to have cut-offs picked inside \
         the history)",
        if late.len() == 1 { "" } else { "s" },
        list.join(", "),
        o.to
    ))
}

/// The first training cut-off for test cut-offs the user gave from
/// `first_test`: the start of the complaint history, on their grid.
pub fn train_from_for(h: &History, first_test: Date, step_months: u32) -> Result<Date> {
    grid_start(first_test, default_train_from(h)?, step_months)
}

/// A warning naming the test cut-offs of an evaluation whose model was
/// trained on fewer than [`MIN_TRAINING_POSITIVES`] positive rows.
pub fn eval_positives_warning(cuts: &[crate::eval::CutResult]) -> Option<String> {
    let few: Vec<String> = cuts
        .iter()
        .filter(|c| c.trained_on.1 < MIN_TRAINING_POSITIVES)
        .map(|c| format!("{} ({} of {} rows)", c.cut, c.trained_on.1, c.trained_on.0))
        .collect();
    if few.is_empty() {
        return None;
    }
    Some(format!(
        "the model at test cut-off{} {} was trained on fewer than {MIN_TRAINING_POSITIVES} \
         positive outcomes: its results there are unreliable (a ranking learnt from so few \
         outcomes rests on a handful of people); use later test cut-offs, an earlier \
         --train-from or a longer complaint history",
        if few.len() == 1 { "" } else { "s" },
        few.join(", ")
    ))
}
