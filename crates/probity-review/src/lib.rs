//! Review state: findings under review, every decision on them, four-eyes
//! proposals, the subject's notices, responses and consents, and web
//! sessions — in SQLite (a file in the store, the default) or PostgreSQL,
//! through one code path (sqlx's `Any` driver, portable SQL, `$N`
//! placeholders).
//!
//! The audit log (probity-audit) is the authority on what happened: callers
//! append an entry first and pass its hash here, where it keys the decision.
//! This crate judges nothing about roles; [`workflow`] judges steps, and
//! the caller checks the user's role.

pub mod workflow;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
// Every dynamic SQL text below is assembled only from constants of this
// file (column lists, a closed list of sort orders, `$N` placeholders);
// values are always bound. `AssertSqlSafe` marks those places.
use sqlx::{AnyPool, AssertSqlSafe, Row};

pub use workflow::{Dismissal, Refused, Situation, Status, Step};

/// Errors from the review database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or opened.
    #[error("cannot open the review database {url}: {source}; {hint}")]
    Connect {
        /// The URL (without password).
        url: String,
        /// The driver's error.
        source: sqlx::Error,
        /// What to check.
        hint: &'static str,
    },
    /// A query failed.
    #[error("review database: {what}: {source}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// An applied migration's text differs from this build's.
    #[error(
        "review database migration {version} ({name}) was applied with different text (checksum {found}, this build has {expected}); the database belongs to another version of Probity"
    )]
    MigrationChanged {
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// Checksum in the database.
        found: String,
        /// Checksum of this build's file.
        expected: String,
    },
    /// The database holds a migration this build does not know.
    #[error("review database is at migration {0}, newer than this build knows; upgrade Probity")]
    Newer(i64),
    /// The workflow refused the step.
    #[error("{0}")]
    Refused(#[from] Refused),
    /// No such finding.
    #[error("no finding {0:?} is under review")]
    NoFinding(String),
    /// A value in the database is not what this build writes.
    #[error("review database holds an unknown {what} {value:?}")]
    Corrupt {
        /// Which field.
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// Result with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { what, source }
}

/// Formats a time (µs since the epoch) in Europe/London for people.
pub fn display_time(micros: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else {
        return micros.to_string();
    };
    let tz = jiff::tz::db()
        .get("Europe/London")
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let dt = tz.to_datetime(ts);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

/// Now, in µs since the epoch.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// The versioned migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "review", include_str!("../migrations/0001_review.sql")),
    (
        2,
        "queue_indexes",
        include_str!("../migrations/0002_queue_indexes.sql"),
    ),
    (
        3,
        "audit_anchors",
        include_str!("../migrations/0003_audit_anchors.sql"),
    ),
];

/// The queue's "open" condition: findings not yet decided. Written exactly
/// as in the partial indexes of migration 2, which SQLite uses only when a
/// query repeats the condition.
pub const OPEN_STATUSES_SQL: &str = "status IN ('new', 'referral_proposed', 'awaiting_response')";

/// Which server holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A finding as imported from the store's register.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Finding id.
    pub finding_id: String,
    /// Detector id.
    pub detector: String,
    /// Scenario id.
    pub scenario: String,
    /// The person's pseudonym.
    pub person: String,
    /// Their unit (pseudonymised id as stored).
    pub unit_id: Option<String>,
    /// Score.
    pub score: f64,
    /// First day, YYYY-MM-DD.
    pub period_start: String,
    /// Last day, YYYY-MM-DD.
    pub period_end: String,
    /// One sentence.
    pub summary: String,
    /// The finding record as JSON (facts, evidence).
    pub record: String,
    /// Status in the register (`new` or an outcome decided elsewhere).
    pub status: String,
}

/// A finding under review.
#[derive(Debug, Clone, Serialize)]
pub struct FindingRow {
    /// Finding id.
    pub finding_id: String,
    /// Detector id.
    pub detector: String,
    /// Scenario id.
    pub scenario: String,
    /// The person's pseudonym.
    pub person: String,
    /// Unit.
    pub unit_id: Option<String>,
    /// Score.
    pub score: f64,
    /// First day.
    pub period_start: String,
    /// Last day.
    pub period_end: String,
    /// One sentence.
    pub summary: String,
    /// The finding record (JSON text).
    #[serde(skip)]
    pub record: String,
    /// Status.
    pub status: Status,
    /// When the status was set (µs).
    pub status_at: i64,
    /// When it entered review (µs).
    pub created_at: i64,
}

const FINDING_COLS: &str = "finding_id, detector, scenario, person, unit_id, score, period_start, period_end, summary, record, status, status_at, created_at";

fn finding_row(r: &AnyRow) -> Result<FindingRow> {
    let g = |c: &str| -> Result<String> { r.try_get::<String, _>(c).map_err(q("read finding")) };
    let status: String = g("status")?;
    Ok(FindingRow {
        finding_id: g("finding_id")?,
        detector: g("detector")?,
        scenario: g("scenario")?,
        person: g("person")?,
        unit_id: r
            .try_get::<Option<String>, _>("unit_id")
            .map_err(q("read finding"))?,
        score: r.try_get::<f64, _>("score").map_err(q("read finding"))?,
        period_start: g("period_start")?,
        period_end: g("period_end")?,
        summary: g("summary")?,
        record: g("record")?,
        status: Status::from_id(&status).ok_or(Error::Corrupt {
            what: "status",
            value: status,
        })?,
        status_at: r
            .try_get::<i64, _>("status_at")
            .map_err(q("read finding"))?,
        created_at: r
            .try_get::<i64, _>("created_at")
            .map_err(q("read finding"))?,
    })
}

/// A decision in a finding's history.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Audit entry sequence number.
    pub audit_seq: i64,
    /// When (µs).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// The step.
    pub step: String,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// Dismissal kind, for no further action.
    pub dismissal: Option<String>,
    /// Why.
    pub reason: String,
}

/// A subject's response.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// Finding id.
    pub finding_id: String,
    /// Who wrote it (the subject's user id).
    pub by_user: String,
    /// When (µs).
    pub at: i64,
    /// What they said.
    pub body: String,
}

/// An in-app notice to a member of staff.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// Id.
    pub id: String,
    /// Finding id.
    pub finding_id: String,
    /// When (µs).
    pub at: i64,
    /// Kind (`notice_proposed`, `outcome`).
    pub kind: String,
    /// Text.
    pub message: String,
    /// Response deadline (µs).
    pub respond_by: Option<i64>,
}

/// The sort orders the queue offers (a closed list: user input never
/// reaches the SQL text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Highest score first.
    #[default]
    Score,
    /// Oldest in the queue first.
    Oldest,
    /// Newest first.
    Newest,
    /// Most recent period first.
    Period,
}

impl Sort {
    /// Every sort order.
    pub const ALL: &'static [Sort] = &[Sort::Score, Sort::Oldest, Sort::Newest, Sort::Period];

    /// Its id.
    pub fn id(self) -> &'static str {
        match self {
            Sort::Score => "score",
            Sort::Oldest => "oldest",
            Sort::Newest => "newest",
            Sort::Period => "period",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Sort> {
        Sort::ALL.iter().copied().find(|s| s.id() == id)
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::Score => "score DESC, finding_id",
            Sort::Oldest => "created_at, finding_id",
            Sort::Newest => "created_at DESC, finding_id DESC",
            Sort::Period => "period_start DESC, finding_id",
        }
    }
}

/// A queue request. Every field is bound as a parameter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueQuery {
    /// Scenario id.
    pub scenario: Option<String>,
    /// Status; `None` means the open ones (not yet decided).
    pub status: Option<String>,
    /// Unit id.
    pub unit: Option<String>,
    /// Minimum score.
    pub min_score: Option<f64>,
    /// Only findings about this person (pseudonym).
    pub person: Option<String>,
    /// Sort order.
    pub sort: Sort,
    /// Page, from 1.
    pub page: u32,
    /// Rows per page (1..=200).
    pub per_page: u32,
}

/// A page of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    /// The rows.
    pub rows: Vec<FindingRow>,
    /// Rows matching the filters.
    pub total: i64,
    /// Page, from 1.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
}

/// One detector's measured quality.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    /// Detector id.
    pub detector: String,
    /// Scenario id.
    pub scenario: String,
    /// Findings under review in all.
    pub volume: i64,
    /// Still open.
    pub open: i64,
    /// Decided.
    pub decided: i64,
    /// Decided and upheld (advice, notice, referral).
    pub upheld: i64,
    /// Closed as false positives.
    pub false_positive: i64,
    /// Closed with other dismissal kinds.
    pub dismissed_other: i64,
    /// Age of the oldest open finding, in days.
    pub oldest_open_days: f64,
    /// Median age of open findings, in days.
    pub median_open_days: f64,
}

impl Quality {
    /// Upheld ÷ decided.
    pub fn upheld_rate(&self) -> Option<f64> {
        (self.decided > 0).then(|| self.upheld as f64 / self.decided as f64)
    }

    /// 1 − false positives ÷ decided: the detector's precision as reviewers
    /// measured it (an explained pattern was still there).
    pub fn precision(&self) -> Option<f64> {
        (self.decided > 0).then(|| 1.0 - self.false_positive as f64 / self.decided as f64)
    }
}

/// A web session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user_id: String,
    /// Its CSRF token.
    pub csrf: String,
    /// Created (µs).
    pub created_at: i64,
    /// Last request (µs).
    pub last_seen: i64,
}

/// What a transition did.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
}

/// The review database.
pub struct ReviewDb {
    pool: AnyPool,
    backend: Backend,
    generation: AtomicU64,
    counts: Mutex<HashMap<String, (u64, Instant, i64)>>,
    distinct: Mutex<HashMap<&'static str, Cached<Vec<String>>>>,
}

/// A cached value: the write generation and time it was read at.
type Cached<T> = (u64, Instant, T);

impl std::fmt::Debug for ReviewDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewDb")
            .field("backend", &self.backend)
            .finish()
    }
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl ReviewDb {
    /// The default database of a store: `STORE/review.sqlite`.
    pub fn store_url(store_root: &std::path::Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            store_root.join("review.sqlite").display()
        )
    }

    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str) -> Result<ReviewDb> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Connect {
                url: redact(url),
                source: sqlx::Error::Configuration("unsupported scheme".into()),
                hint: "use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
            });
        };
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        opts = match backend {
            // WAL lets readers run beside the one writer; a busy writer is
            // waited for, not failed.
            Backend::Sqlite => opts.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // Reads are the load (a queue of 100,000 findings
                    // browsed by hundreds of reviewers): map the file
                    // instead of copying pages through read(2), and give
                    // each connection a larger page cache than the 2 MB
                    // default.
                    sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => opts.max_connections(16),
        };
        let pool = opts.connect(url).await.map_err(|source| Error::Connect {
            url: redact(url),
            source,
            hint: match backend {
                Backend::Sqlite => "check that the store directory exists and is writable",
                Backend::Postgres => {
                    "check that PostgreSQL is running and accepts this user (e.g. `pg_isready -h 127.0.0.1 -p 5432`)"
                }
            },
        })?;
        let db = ReviewDb {
            pool,
            backend,
            generation: AtomicU64::new(0),
            counts: Mutex::new(HashMap::new()),
            distinct: Mutex::new(HashMap::new()),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the migrations this build has and the database lacks, each
    /// in a transaction; refuses a database whose applied migrations differ
    /// from this build's. Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS probity_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(q("create the migrations table"))?;
        let rows =
            sqlx::query("SELECT version, name, checksum FROM probity_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .map_err(q("read migrations"))?;
        let mut applied = HashMap::new();
        for r in &rows {
            let v: i64 = r.try_get("version").map_err(q("read migrations"))?;
            let c: String = r.try_get("checksum").map_err(q("read migrations"))?;
            applied.insert(v, c);
        }
        if let Some(max) = applied.keys().max()
            && !MIGRATIONS.iter().any(|m| m.0 == *max)
        {
            return Err(Error::Newer(*max));
        }
        let mut now_applied = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            let sum = blake3::hash(sql.as_bytes()).to_hex().to_string();
            if let Some(found) = applied.get(version) {
                if *found != sum {
                    return Err(Error::MigrationChanged {
                        version: *version,
                        name: name.to_string(),
                        found: found.clone(),
                        expected: sum,
                    });
                }
                continue;
            }
            let mut tx = self.pool.begin().await.map_err(q("begin migration"))?;
            for stmt in statements(sql) {
                sqlx::query(AssertSqlSafe(stmt))
                    .execute(&mut *tx)
                    .await
                    .map_err(q("apply migration"))?;
            }
            sqlx::query("INSERT INTO probity_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                .bind(*version)
                .bind(*name)
                .bind(&sum)
                .bind(now_micros())
                .execute(&mut *tx)
                .await
                .map_err(q("record migration"))?;
            tx.commit().await.map_err(q("commit migration"))?;
            now_applied.push(*version);
        }
        Ok(now_applied)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Brings findings from the register into review: new ones are added
    /// with the register's status; known ones keep their review state (the
    /// score and record are refreshed). Returns how many were added.
    pub async fn import(&self, items: &[Incoming], now: i64) -> Result<usize> {
        // What is already here, as a fingerprint per finding, read in
        // bounded pages: a re-sync after each analysis run then rewrites
        // only the findings whose content changed.
        let mut known: HashMap<String, blake3::Hash> = HashMap::new();
        let mut after = String::new();
        loop {
            let rows = sqlx::query("SELECT finding_id, score, summary, record, unit_id FROM findings WHERE finding_id > $1 ORDER BY finding_id LIMIT 5000")
                .bind(&after)
                .fetch_all(&self.pool)
                .await
                .map_err(q("list findings"))?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("finding_id").map_err(q("list findings"))?;
            for r in &rows {
                let id: String = r.try_get("finding_id").map_err(q("list findings"))?;
                let score: f64 = r.try_get("score").map_err(q("list findings"))?;
                let summary: String = r.try_get("summary").map_err(q("list findings"))?;
                let record: String = r.try_get("record").map_err(q("list findings"))?;
                let unit: Option<String> = r.try_get("unit_id").map_err(q("list findings"))?;
                known.insert(id, content_hash(score, &summary, &record, unit.as_deref()));
            }
        }
        let mut added = 0;
        for chunk in items.chunks(1000) {
            let mut tx = self.pool.begin().await.map_err(q("begin import"))?;
            for f in chunk {
                if let Some(h) = known.get(&f.finding_id) {
                    if *h == content_hash(f.score, &f.summary, &f.record, f.unit_id.as_deref()) {
                        continue;
                    }
                    sqlx::query("UPDATE findings SET score = $1, summary = $2, record = $3, unit_id = $4 WHERE finding_id = $5")
                        .bind(f.score)
                        .bind(&f.summary)
                        .bind(&f.record)
                        .bind(&f.unit_id)
                        .bind(&f.finding_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(q("refresh finding"))?;
                    continue;
                }
                let status = Status::from_id(&f.status).unwrap_or(Status::New);
                sqlx::query(AssertSqlSafe(format!("INSERT INTO findings ({FINDING_COLS}, month) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")))
                    .bind(&f.finding_id)
                    .bind(&f.detector)
                    .bind(&f.scenario)
                    .bind(&f.person)
                    .bind(&f.unit_id)
                    .bind(f.score)
                    .bind(&f.period_start)
                    .bind(&f.period_end)
                    .bind(&f.summary)
                    .bind(&f.record)
                    .bind(status.id())
                    .bind(now)
                    .bind(now)
                    .bind(f.period_start.get(..7).unwrap_or(""))
                    .execute(&mut *tx)
                    .await
                    .map_err(q("add finding"))?;
                known.insert(
                    f.finding_id.clone(),
                    content_hash(f.score, &f.summary, &f.record, f.unit_id.as_deref()),
                );
                added += 1;
            }
            tx.commit().await.map_err(q("commit import"))?;
        }
        // Fresh planner statistics after a large change: without them
        // SQLite does not know the queue's partial indexes are the cheap way
        // to a page, and sorts every open finding instead.
        if added >= 1000 {
            sqlx::query("ANALYZE findings")
                .execute(&self.pool)
                .await
                .map_err(q("analyze findings"))?;
        }
        self.bump();
        Ok(added)
    }

    /// Removes findings that are no longer in the register (purged by
    /// retention), with their review state. Returns how many.
    pub async fn forget_except(&self, keep: &std::collections::HashSet<String>) -> Result<usize> {
        let ids: Vec<String> = sqlx::query("SELECT finding_id FROM findings")
            .fetch_all(&self.pool)
            .await
            .map_err(q("list findings"))?
            .iter()
            .filter_map(|r| r.try_get::<String, _>("finding_id").ok())
            .filter(|id| !keep.contains(id))
            .collect();
        for id in &ids {
            let mut tx = self.pool.begin().await.map_err(q("begin purge"))?;
            for table in [
                "findings",
                "decisions",
                "proposals",
                "notifications",
                "responses",
            ] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE finding_id = $1"
                )))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(q("purge finding"))?;
            }
            tx.commit().await.map_err(q("commit purge"))?;
        }
        if !ids.is_empty() {
            self.bump();
        }
        Ok(ids.len())
    }

    /// One finding.
    pub async fn finding(&self, id: &str) -> Result<Option<FindingRow>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {FINDING_COLS} FROM findings WHERE finding_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read finding"))?;
        row.as_ref().map(finding_row).transpose()
    }

    /// A page of the queue. Filters are bound parameters; the sort order is
    /// one of a closed list.
    pub async fn queue(&self, query: &QueueQuery) -> Result<QueuePage> {
        let per_page = query.per_page.clamp(1, 200);
        let page = query.page.max(1);
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let next = |binds: &mut Vec<Bind>, b: Bind| {
            binds.push(b);
            format!("${}", binds.len())
        };
        match &query.status {
            Some(s) => {
                let p = next(&mut binds, Bind::Text(s.clone()));
                conds.push(format!("status = {p}"));
            }
            None => conds.push(OPEN_STATUSES_SQL.into()),
        }
        if let Some(s) = &query.scenario {
            let p = next(&mut binds, Bind::Text(s.clone()));
            conds.push(format!("scenario = {p}"));
        }
        if let Some(u) = &query.unit {
            let p = next(&mut binds, Bind::Text(u.clone()));
            conds.push(format!("unit_id = {p}"));
        }
        if let Some(m) = query.min_score {
            let p = next(&mut binds, Bind::Float(m));
            conds.push(format!("score >= {p}"));
        }
        if let Some(person) = &query.person {
            let p = next(&mut binds, Bind::Text(person.clone()));
            conds.push(format!("person = {p}"));
        }
        let where_ = conds.join(" AND ");
        let total = self.count(&where_, &binds).await?;
        // Choose the page's keys first (from an index, or sorting only
        // narrow index entries), then read the wide rows of those alone.
        let order = query.sort.order_by();
        // The open queue without a filter on status, scenario, unit or
        // person is read in the order of its partial index. SQLite 3.51's
        // planner prefers a covering index plus a sort of every open
        // finding (15-20 ms at 100,000), so name the index there;
        // PostgreSQL finds it by itself and has no such syntax.
        let hint = match self.backend {
            Backend::Sqlite
                if query.status.is_none()
                    && query.scenario.is_none()
                    && query.unit.is_none()
                    && query.person.is_none() =>
            {
                match query.sort {
                    Sort::Score => " INDEXED BY findings_open_score",
                    Sort::Oldest | Sort::Newest => " INDEXED BY findings_open_created",
                    Sort::Period => " INDEXED BY findings_open_period",
                }
            }
            _ => "",
        };
        let sql = format!(
            "SELECT {FINDING_COLS} FROM findings WHERE finding_id IN (SELECT finding_id FROM findings{hint} WHERE {where_} ORDER BY {order} LIMIT {per_page} OFFSET {}) ORDER BY {order}",
            (page as i64 - 1) * per_page as i64
        );
        let mut qy = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            qy = match b {
                Bind::Text(s) => qy.bind(s.clone()),
                Bind::Float(f) => qy.bind(*f),
            };
        }
        let rows = qy
            .fetch_all(&self.pool)
            .await
            .map_err(q("read the queue"))?;
        Ok(QueuePage {
            rows: rows.iter().map(finding_row).collect::<Result<_>>()?,
            total,
            page,
            per_page,
        })
    }

    /// Counts are cached for a few seconds per filter set and dropped on
    /// any write through this handle: paging through 100,000 findings
    /// should not count them on every click.
    async fn count(&self, where_: &str, binds: &[Bind]) -> Result<i64> {
        let key = format!("{where_}|{binds:?}");
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some((g, at, n)) = self.counts.lock().expect("count cache").get(&key)
            && *g == generation
            && at.elapsed() < Duration::from_secs(5)
        {
            return Ok(*n);
        }
        let sql = format!("SELECT COUNT(*) AS n FROM findings WHERE {where_}");
        let mut qy = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            qy = match b {
                Bind::Text(s) => qy.bind(s.clone()),
                Bind::Float(f) => qy.bind(*f),
            };
        }
        let n: i64 = qy
            .fetch_one(&self.pool)
            .await
            .map_err(q("count the queue"))?
            .try_get("n")
            .map_err(q("count the queue"))?;
        let mut cache = self.counts.lock().expect("count cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (generation, Instant::now(), n));
        Ok(n)
    }

    /// A finding's decisions, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<Decision>> {
        let rows = sqlx::query("SELECT audit_seq, at, actor, step, from_status, to_status, dismissal, reason FROM decisions WHERE finding_id = $1 ORDER BY at, audit_seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read history"))?;
        rows.iter()
            .map(|r| {
                Ok(Decision {
                    audit_seq: r.try_get("audit_seq").map_err(q("read history"))?,
                    at: r.try_get("at").map_err(q("read history"))?,
                    actor: r.try_get("actor").map_err(q("read history"))?,
                    step: r.try_get("step").map_err(q("read history"))?,
                    from_status: r.try_get("from_status").map_err(q("read history"))?,
                    to_status: r.try_get("to_status").map_err(q("read history"))?,
                    dismissal: r.try_get("dismissal").map_err(q("read history"))?,
                    reason: r.try_get("reason").map_err(q("read history"))?,
                })
            })
            .collect()
    }

    /// What the workflow needs to judge a step on a finding.
    pub async fn situation(&self, id: &str) -> Result<Situation> {
        let p = sqlx::query("SELECT proposer, at, respond_by FROM proposals WHERE finding_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read proposal"))?;
        let Some(p) = p else {
            return Ok(Situation::default());
        };
        let at: i64 = p.try_get("at").map_err(q("read proposal"))?;
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM responses WHERE finding_id = $1 AND at >= $2")
                .bind(id)
                .bind(at)
                .fetch_one(&self.pool)
                .await
                .map_err(q("read responses"))?
                .try_get("n")
                .map_err(q("read responses"))?;
        Ok(Situation {
            proposer: p.try_get("proposer").map_err(q("read proposal"))?,
            respond_by: p.try_get("respond_by").map_err(q("read proposal"))?,
            responded: n > 0,
        })
    }

    /// Judges a step without taking it: the status it would lead to.
    pub async fn check(
        &self,
        id: &str,
        step: Step,
        actor: &str,
        reason: &str,
        dismissal: Option<Dismissal>,
        now: i64,
    ) -> Result<(FindingRow, Status)> {
        let f = self
            .finding(id)
            .await?
            .ok_or_else(|| Error::NoFinding(id.to_string()))?;
        let sit = self.situation(id).await?;
        let to = workflow::plan(step, f.status, actor, reason, dismissal, &sit, now)?;
        Ok((f, to))
    }

    /// Takes a step the caller has authorised from status `from` and
    /// audited (`audit_seq`, `audit_hash` name the entry). Re-judged, and
    /// the status is updated only if it is still `from`: who may take a
    /// step depends on the status it is taken from ([`Step::action`]), so a
    /// finding escalated since the caller's authorisation is refused, and
    /// two reviewers acting at once cannot both move it.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition(
        &self,
        id: &str,
        step: Step,
        from: Status,
        actor: &str,
        reason: &str,
        dismissal: Option<Dismissal>,
        response_window_days: u32,
        audit: (i64, &str),
        now: i64,
    ) -> Result<Moved> {
        let (f, to) = self.check(id, step, actor, reason, dismissal, now).await?;
        if f.status != from {
            return Err(Error::Refused(Refused::NotFromHere {
                step: step.id(),
                from: f.status.id(),
                hint: format!(
                    "it was {} when the step was authorised and someone else moved it a moment ago; reload the finding",
                    from.id()
                ),
            }));
        }
        let mut tx = self.pool.begin().await.map_err(q("begin decision"))?;
        let done = sqlx::query(
            "UPDATE findings SET status = $1, status_at = $2 WHERE finding_id = $3 AND status = $4",
        )
        .bind(to.id())
        .bind(now)
        .bind(id)
        .bind(from.id())
        .execute(&mut *tx)
        .await
        .map_err(q("record decision"))?;
        if done.rows_affected() != 1 {
            return Err(Error::Refused(Refused::NotFromHere {
                step: step.id(),
                from: f.status.id(),
                hint: "someone else decided it a moment ago; reload the finding".into(),
            }));
        }
        sqlx::query("INSERT INTO decisions (audit_hash, audit_seq, finding_id, at, actor, step, from_status, to_status, dismissal, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(audit.1)
            .bind(audit.0)
            .bind(id)
            .bind(now)
            .bind(actor)
            .bind(step.id())
            .bind(f.status.id())
            .bind(to.id())
            .bind(dismissal.map(|d| d.id()))
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(q("record decision"))?;
        match step {
            Step::ProposeReferral | Step::ProposeNotice => {
                let respond_by = (step == Step::ProposeNotice)
                    .then(|| now + i64::from(response_window_days) * 86_400_000_000);
                sqlx::query("INSERT INTO proposals (finding_id, kind, proposer, reason, at, respond_by) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id)
                    .bind(step.id())
                    .bind(actor)
                    .bind(reason)
                    .bind(now)
                    .bind(respond_by)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("record proposal"))?;
                if let Some(by) = respond_by {
                    sqlx::query("INSERT INTO notifications (id, person, finding_id, at, kind, message, respond_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(audit.1)
                        .bind(&f.person)
                        .bind(id)
                        .bind(now)
                        .bind("notice_proposed")
                        .bind(format!(
                            "A reviewer proposes a prevention notice about: {} You may respond until {}; your response becomes part of the record and is read before any notice is issued.",
                            f.summary,
                            display_time(by)
                        ))
                        .bind(by)
                        .execute(&mut *tx)
                        .await
                        .map_err(q("notify the subject"))?;
                }
            }
            _ => {
                sqlx::query("DELETE FROM proposals WHERE finding_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("close proposal"))?;
                if to.is_final() {
                    sqlx::query("INSERT INTO notifications (id, person, finding_id, at, kind, message, respond_by) VALUES ($1, $2, $3, $4, $5, $6, NULL)")
                        .bind(audit.1)
                        .bind(&f.person)
                        .bind(id)
                        .bind(now)
                        .bind("outcome")
                        .bind(format!("Outcome of the review of: {} — {}.", f.summary, to.label()))
                        .execute(&mut *tx)
                        .await
                        .map_err(q("notify the subject"))?;
                }
            }
        }
        tx.commit().await.map_err(q("commit decision"))?;
        self.bump();
        Ok(Moved { from: f.status, to })
    }

    /// Records the subject's response to a finding about them (audited by
    /// the caller).
    pub async fn respond(
        &self,
        id: &str,
        person: &str,
        by_user: &str,
        body: &str,
        audit_hash: &str,
        now: i64,
    ) -> Result<()> {
        let f = self
            .finding(id)
            .await?
            .filter(|f| f.person == person)
            .ok_or_else(|| Error::NoFinding(id.to_string()))?;
        sqlx::query("INSERT INTO responses (audit_hash, finding_id, person, by_user, at, body) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(audit_hash)
            .bind(&f.finding_id)
            .bind(person)
            .bind(by_user)
            .bind(now)
            .bind(body)
            .execute(&self.pool)
            .await
            .map_err(q("record response"))?;
        self.bump();
        Ok(())
    }

    /// A finding's responses, oldest first.
    pub async fn responses(&self, id: &str) -> Result<Vec<Response>> {
        let rows = sqlx::query(
            "SELECT finding_id, by_user, at, body FROM responses WHERE finding_id = $1 ORDER BY at",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read responses"))?;
        rows.iter()
            .map(|r| {
                Ok(Response {
                    finding_id: r.try_get("finding_id").map_err(q("read responses"))?,
                    by_user: r.try_get("by_user").map_err(q("read responses"))?,
                    at: r.try_get("at").map_err(q("read responses"))?,
                    body: r.try_get("body").map_err(q("read responses"))?,
                })
            })
            .collect()
    }

    /// A person's notifications, newest first.
    pub async fn notifications(&self, person: &str) -> Result<Vec<Notification>> {
        let rows = sqlx::query("SELECT id, finding_id, at, kind, message, respond_by FROM notifications WHERE person = $1 ORDER BY at DESC")
            .bind(person)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read notifications"))?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get("id").map_err(q("read notifications"))?,
                    finding_id: r.try_get("finding_id").map_err(q("read notifications"))?,
                    at: r.try_get("at").map_err(q("read notifications"))?,
                    kind: r.try_get("kind").map_err(q("read notifications"))?,
                    message: r.try_get("message").map_err(q("read notifications"))?,
                    respond_by: r.try_get("respond_by").map_err(q("read notifications"))?,
                })
            })
            .collect()
    }

    /// Records a subject's consent for a representative (caller audits).
    pub async fn grant_consent(&self, person: &str, rep: &str, by: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(q("begin consent"))?;
        sqlx::query("DELETE FROM consents WHERE person = $1 AND rep_user = $2")
            .bind(person)
            .bind(rep)
            .execute(&mut *tx)
            .await
            .map_err(q("record consent"))?;
        sqlx::query("INSERT INTO consents (person, rep_user, granted_at, granted_by, withdrawn_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(person)
            .bind(rep)
            .bind(now)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(q("record consent"))?;
        tx.commit().await.map_err(q("commit consent"))?;
        Ok(())
    }

    /// Withdraws consent (caller audits).
    pub async fn withdraw_consent(&self, person: &str, rep: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE consents SET withdrawn_at = $1 WHERE person = $2 AND rep_user = $3 AND withdrawn_at IS NULL")
            .bind(now)
            .bind(person)
            .bind(rep)
            .execute(&self.pool)
            .await
            .map_err(q("withdraw consent"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Whether `rep` holds the person's consent now.
    pub async fn has_consent(&self, person: &str, rep: &str) -> Result<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM consents WHERE person = $1 AND rep_user = $2 AND withdrawn_at IS NULL")
            .bind(person)
            .bind(rep)
            .fetch_one(&self.pool)
            .await
            .map_err(q("read consent"))?
            .try_get("n")
            .map_err(q("read consent"))?;
        Ok(n > 0)
    }

    /// Representatives currently holding a person's consent.
    pub async fn consents_of(&self, person: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT rep_user, granted_at FROM consents WHERE person = $1 AND withdrawn_at IS NULL ORDER BY rep_user")
            .bind(person)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read consents"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("rep_user").map_err(q("read consents"))?,
                    r.try_get("granted_at").map_err(q("read consents"))?,
                ))
            })
            .collect()
    }

    /// People (pseudonyms) whose consent `rep` holds.
    pub async fn consented_to(&self, rep: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT person FROM consents WHERE rep_user = $1 AND withdrawn_at IS NULL ORDER BY person")
            .bind(rep)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read consents"))?;
        rows.iter()
            .map(|r| r.try_get("person").map_err(q("read consents")))
            .collect()
    }

    /// Per-detector volume, decisions and queue age.
    pub async fn quality(&self, now: i64) -> Result<Vec<Quality>> {
        let rows = sqlx::query(
            "SELECT f.detector, f.scenario, COUNT(*) AS volume,
                    SUM(CASE WHEN f.status IN ('new', 'referral_proposed', 'awaiting_response') THEN 1 ELSE 0 END) AS open_n,
                    SUM(CASE WHEN f.status IN ('advice', 'prevention_notice', 'referral') THEN 1 ELSE 0 END) AS upheld,
                    SUM(CASE WHEN f.status = 'no_further_action' THEN 1 ELSE 0 END) AS nfa,
                    SUM(CASE WHEN f.status = 'no_further_action' AND d.dismissal = 'false_positive' THEN 1 ELSE 0 END) AS fp,
                    MIN(CASE WHEN f.status IN ('new', 'referral_proposed', 'awaiting_response') THEN f.created_at ELSE NULL END) AS oldest
             FROM findings f
             LEFT JOIN decisions d ON d.finding_id = f.finding_id AND d.step = 'dismiss'
             GROUP BY f.detector, f.scenario ORDER BY f.detector",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("measure detectors"))?;
        let ages = sqlx::query("SELECT detector, scenario, created_at FROM findings WHERE status IN ('new', 'referral_proposed', 'awaiting_response')")
            .fetch_all(&self.pool)
            .await
            .map_err(q("measure queue age"))?;
        let mut by: HashMap<(String, String), Vec<i64>> = HashMap::new();
        for r in &ages {
            let d: String = r.try_get("detector").map_err(q("measure queue age"))?;
            let s: String = r.try_get("scenario").map_err(q("measure queue age"))?;
            let c: i64 = r.try_get("created_at").map_err(q("measure queue age"))?;
            by.entry((d, s)).or_default().push(c);
        }
        let day = 86_400_000_000f64;
        let mut out = Vec::new();
        for r in &rows {
            let detector: String = r.try_get("detector").map_err(q("measure detectors"))?;
            let n = |c: &str| -> Result<i64> {
                Ok(r.try_get::<Option<i64>, _>(c)
                    .map_err(q("measure detectors"))?
                    .unwrap_or(0))
            };
            let upheld = n("upheld")?;
            let nfa = n("nfa")?;
            let fp = n("fp")?;
            let oldest = r
                .try_get::<Option<i64>, _>("oldest")
                .map_err(q("measure detectors"))?;
            let scenario: String = r.try_get("scenario").map_err(q("measure detectors"))?;
            let mut open_ages: Vec<i64> = by
                .remove(&(detector.clone(), scenario.clone()))
                .unwrap_or_default();
            open_ages.sort_unstable();
            let median = open_ages
                .get(open_ages.len() / 2)
                .map(|c| (now - c) as f64 / day)
                .unwrap_or(0.0);
            out.push(Quality {
                scenario,
                volume: n("volume")?,
                open: n("open_n")?,
                decided: upheld + nfa,
                upheld,
                false_positive: fp,
                dismissed_other: nfa - fp,
                oldest_open_days: oldest.map(|o| (now - o) as f64 / day).unwrap_or(0.0),
                median_open_days: median,
                detector,
            });
        }
        Ok(out)
    }

    /// Findings per (scenario, month of the period's start).
    pub async fn by_scenario_month(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT scenario, month, COUNT(*) AS n FROM findings GROUP BY scenario, month ORDER BY month, scenario")
            .fetch_all(&self.pool)
            .await
            .map_err(q("count by month"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("scenario").map_err(q("count by month"))?,
                    r.try_get("month").map_err(q("count by month"))?,
                    r.try_get("n").map_err(q("count by month"))?,
                ))
            })
            .collect()
    }

    /// Counts per status.
    pub async fn by_status(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM findings GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("count by status"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("status").map_err(q("count by status"))?,
                    r.try_get("n").map_err(q("count by status"))?,
                ))
            })
            .collect()
    }

    /// Ages (days) of open findings.
    pub async fn open_ages(&self, now: i64) -> Result<Vec<f64>> {
        let rows = sqlx::query("SELECT created_at FROM findings WHERE status IN ('new', 'referral_proposed', 'awaiting_response')")
            .fetch_all(&self.pool)
            .await
            .map_err(q("measure queue age"))?;
        rows.iter()
            .map(|r| {
                let c: i64 = r.try_get("created_at").map_err(q("measure queue age"))?;
                Ok((now - c) as f64 / 86_400_000_000f64)
            })
            .collect()
    }

    /// Distinct values for the queue's filter lists (cached like the
    /// counts: every queue page shows them).
    pub async fn distinct(&self, column: FilterColumn) -> Result<Vec<String>> {
        let col = match column {
            FilterColumn::Scenario => "scenario",
            FilterColumn::Unit => "unit_id",
        };
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some((g, at, v)) = self.distinct.lock().expect("distinct cache").get(col)
            && *g == generation
            && at.elapsed() < Duration::from_secs(30)
        {
            return Ok(v.clone());
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT DISTINCT {col} AS v FROM findings WHERE {col} IS NOT NULL ORDER BY {col}"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(q("list filter values"))?;
        let values = rows
            .iter()
            .map(|r| r.try_get("v").map_err(q("list filter values")))
            .collect::<Result<Vec<String>>>()?;
        self.distinct
            .lock()
            .expect("distinct cache")
            .insert(col, (generation, Instant::now(), values.clone()));
        Ok(values)
    }

    /// Starts a session (the token's hash is stored, never the token).
    pub async fn session_create(
        &self,
        token: &str,
        user: &str,
        csrf: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash(token))
            .bind(user)
            .bind(csrf)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(q("start session"))?;
        Ok(())
    }

    /// A live session: not idle for longer than `idle` (µs) nor older than
    /// `absolute` (µs). An expired one is deleted. Activity is recorded at
    /// most once a minute.
    pub async fn session(
        &self,
        token: &str,
        now: i64,
        idle: i64,
        absolute: i64,
    ) -> Result<Option<Session>> {
        let h = token_hash(token);
        let Some(r) = sqlx::query(
            "SELECT user_id, csrf, created_at, last_seen FROM sessions WHERE token_hash = $1",
        )
        .bind(&h)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read session"))?
        else {
            return Ok(None);
        };
        let s = Session {
            user_id: r.try_get("user_id").map_err(q("read session"))?,
            csrf: r.try_get("csrf").map_err(q("read session"))?,
            created_at: r.try_get("created_at").map_err(q("read session"))?,
            last_seen: r.try_get("last_seen").map_err(q("read session"))?,
        };
        if now - s.last_seen > idle || now - s.created_at > absolute {
            self.session_end(token).await?;
            return Ok(None);
        }
        if now - s.last_seen > 60_000_000 {
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&h)
                .execute(&self.pool)
                .await
                .map_err(q("touch session"))?;
        }
        Ok(Some(s))
    }

    /// Ends a session.
    pub async fn session_end(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await
            .map_err(q("end session"))?;
        Ok(())
    }

    /// Ends every session of a user (disabled, password reset).
    pub async fn sessions_end_user(&self, user: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(q("end sessions"))?;
        Ok(r.rows_affected())
    }
}

/// A column the queue can list values of.
#[derive(Debug, Clone, Copy)]
pub enum FilterColumn {
    /// Scenarios.
    Scenario,
    /// Units.
    Unit,
}

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Float(f64),
}

/// A fingerprint of the parts of a finding that a re-import refreshes.
fn content_hash(score: f64, summary: &str, record: &str, unit: Option<&str>) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update(&score.to_bits().to_le_bytes());
    for part in [summary, record, unit.unwrap_or("\u{0}")] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Splits a migration file into statements (`;` at a line end; no
/// procedural SQL in our migrations).
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let t = line.trim();
        if t.starts_with("--") || t.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(cur.trim().trim_end_matches(';').to_string());
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

// ------------------------------------------------------------ audit anchors

/// One anchor of the audit log: its head after an append batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditAnchor {
    /// The anchored entry's seq.
    pub seq: i64,
    /// Its hash, 64 lowercase hex digits.
    pub hash: String,
    /// Its time (µs since the epoch).
    pub at: i64,
}

impl ReviewDb {
    /// Records an anchor of the audit log (migration 3's `audit_anchors`).
    /// Recording the same seq and hash again changes nothing; another hash
    /// for a seq already anchored is kept beside it.
    pub async fn record_anchor(&self, seq: i64, hash: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_anchors (seq, hash, at) VALUES ($1, $2, $3) ON CONFLICT (seq, hash) DO NOTHING",
        )
        .bind(seq)
        .bind(hash)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(q("record an audit anchor"))?;
        Ok(())
    }

    /// Every anchor of the audit log, by seq.
    pub async fn audit_anchors(&self) -> Result<Vec<AuditAnchor>> {
        let rows = sqlx::query("SELECT seq, hash, at FROM audit_anchors ORDER BY seq, hash")
            .fetch_all(&self.pool)
            .await
            .map_err(q("read audit anchors"))?;
        rows.iter()
            .map(|r| {
                Ok(AuditAnchor {
                    seq: r.try_get("seq").map_err(q("read audit anchors"))?,
                    hash: r.try_get("hash").map_err(q("read audit anchors"))?,
                    at: r.try_get("at").map_err(q("read audit anchors"))?,
                })
            })
            .collect()
    }
}

/// How long an append waits for the review database to record an anchor
/// (opening and migrating the database included) before recording the
/// anchor as failed. The driver's own waits (10 s to connect, 10 s for a
/// busy SQLite file) come first.
pub const ANCHOR_TIMEOUT: Duration = Duration::from_secs(30);

/// After this long without an anchor, the anchor thread closes its
/// connection (and opens it again when needed).
const ANCHOR_IDLE: Duration = Duration::from_secs(60);

/// The review database as an audit-log anchor sink
/// ([`probity_audit::AnchorSink`]): every append batch's head becomes a row
/// of `audit_anchors`, and verification reads them back.
///
/// Appends are synchronous and come from anywhere: the CLI (no runtime,
/// or inside one), web handlers on the server's runtime. So the database is
/// reached from a thread of its own, with its own single-threaded runtime
/// and connection, one per database URL per process; a caller sends the
/// anchor and blocks until it is committed (or [`ANCHOR_TIMEOUT`]), which
/// never nests one runtime inside another. A caller blocking a runtime's
/// worker thread this way waits as it already waits for the log's fsync.
/// Nothing in the workflow appends to the log while holding a database
/// transaction, so the anchor's write never waits on its own caller.
#[derive(Debug)]
pub struct ReviewAnchors {
    /// The URL, for messages (no password).
    shown: String,
    jobs: tokio::sync::mpsc::UnboundedSender<AnchorJob>,
}

type Reply<T> = std::sync::mpsc::Sender<std::result::Result<T, String>>;

#[derive(Debug)]
enum AnchorJob {
    Anchor {
        seq: i64,
        hash: String,
        at: i64,
        done: Reply<()>,
    },
    Read {
        done: Reply<Vec<AuditAnchor>>,
    },
}

impl AnchorJob {
    fn fail(self, why: String) {
        // The caller may have stopped waiting.
        match self {
            AnchorJob::Anchor { done, .. } => {
                let _ = done.send(Err(why));
            }
            AnchorJob::Read { done } => {
                let _ = done.send(Err(why));
            }
        }
    }
}

/// The anchor sinks of this process, one per database URL.
static ANCHOR_SINKS: std::sync::LazyLock<Mutex<HashMap<String, std::sync::Arc<ReviewAnchors>>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

/// The review-database anchor sink of a store: the database at `url`, or
/// the store's own (`STORE/review.sqlite`, [`ReviewDb::store_url`]) when
/// `url` is `None`. One per URL per process, shared; nothing is opened
/// until the first anchor. Install this with
/// `probity_store::install_anchor_database` in every process that appends.
pub fn anchor_sink(
    store_root: &std::path::Path,
    url: Option<&str>,
) -> std::sync::Arc<dyn probity_audit::AnchorSink> {
    let url = url.map_or_else(|| ReviewDb::store_url(store_root), str::to_owned);
    let mut sinks = ANCHOR_SINKS.lock().unwrap_or_else(|e| e.into_inner());
    sinks
        .entry(url.clone())
        .or_insert_with(|| std::sync::Arc::new(ReviewAnchors::start(url)))
        .clone()
}

impl ReviewAnchors {
    /// Starts the thread that owns the connection to `url`.
    fn start(url: String) -> ReviewAnchors {
        let shown = redact(&url);
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<AnchorJob>();
        let thread = std::thread::Builder::new()
            .name("probity-anchors".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        while let Some(job) = rx.blocking_recv() {
                            job.fail(format!("cannot start the anchor thread's runtime: {e}"));
                        }
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut db: Option<ReviewDb> = None;
                    loop {
                        let job = match tokio::time::timeout(ANCHOR_IDLE, rx.recv()).await {
                            Ok(Some(job)) => job,
                            Ok(None) => break,
                            Err(_idle) => {
                                if let Some(d) = db.take() {
                                    d.close().await;
                                }
                                continue;
                            }
                        };
                        if db.is_none() {
                            match ReviewDb::open(&url).await {
                                Ok(d) => db = Some(d),
                                Err(e) => {
                                    job.fail(e.to_string());
                                    continue;
                                }
                            }
                        }
                        let Some(d) = db.as_ref() else { continue };
                        match job {
                            AnchorJob::Anchor {
                                seq,
                                hash,
                                at,
                                done,
                            } => {
                                let r = d.record_anchor(seq, &hash, at).await;
                                let _ = done.send(r.map_err(|e| e.to_string()));
                            }
                            AnchorJob::Read { done } => {
                                let r = d.audit_anchors().await;
                                let _ = done.send(r.map_err(|e| e.to_string()));
                            }
                        }
                    }
                    if let Some(d) = db {
                        d.close().await;
                    }
                });
            });
        if let Err(e) = thread {
            // `rx` went with the closure: every send fails and says so.
            eprintln!("probity: warning: cannot start the audit anchor thread: {e}");
        }
        ReviewAnchors { shown, jobs }
    }

    /// Sends a job to the thread and waits for its answer.
    fn call<T>(&self, job: impl FnOnce(Reply<T>) -> AnchorJob) -> std::result::Result<T, String> {
        let (done, answer) = std::sync::mpsc::channel();
        self.jobs
            .send(job(done))
            .map_err(|_| "the anchor thread is not running".to_owned())?;
        match answer.recv_timeout(ANCHOR_TIMEOUT) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("no answer within {} s", ANCHOR_TIMEOUT.as_secs()))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the anchor thread stopped".to_owned())
            }
        }
    }
}

impl probity_audit::AnchorSink for ReviewAnchors {
    fn describe(&self) -> String {
        format!("the review database {}", self.shown)
    }

    fn anchor(&self, head: &probity_audit::Head) -> std::result::Result<(), String> {
        let seq = i64::try_from(head.seq).map_err(|_| format!("seq {} is too large", head.seq))?;
        self.call(|done| AnchorJob::Anchor {
            seq,
            hash: head.hash.clone(),
            at: head.at.as_microsecond(),
            done,
        })
    }

    fn read_anchors(&self, into: &mut probity_audit::Anchors) {
        let source = self.describe();
        let rows = match self.call(|done| AnchorJob::Read { done }) {
            Ok(rows) => rows,
            Err(e) => {
                into.problem(format!(
                    "{source} cannot be read ({e}), so the log cannot be checked against its anchors"
                ));
                return;
            }
        };
        for r in rows {
            let anchor = format!("{}:{}", r.seq, r.hash)
                .parse::<probity_audit::Anchor>()
                .ok()
                .filter(|a| a.hash == r.hash);
            let at = jiff::Timestamp::from_microsecond(r.at).ok();
            match (anchor, at) {
                (Some(anchor), Some(at)) => into.push(probity_audit::Anchored {
                    anchor,
                    at: Some(at),
                    source: source.clone(),
                    line: None,
                }),
                _ => into.problem(format!(
                    "{source} holds an anchor that is not one (seq {}, hash {:?}, at {}): it was written by something other than Probity",
                    r.seq, r.hash, r.at
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_statements_split() {
        let s = statements(MIGRATIONS[0].2);
        assert!(s.len() >= 10);
        assert!(s.iter().all(|x| !x.contains(";")));
        assert!(s[0].starts_with("CREATE TABLE findings"));
    }

    #[test]
    fn open_queue_indexes_repeat_the_queue_condition() {
        // SQLite uses a partial index only if the query states its WHERE;
        // if the two drift apart, every queue page sorts all findings.
        let partial: Vec<String> = statements(MIGRATIONS[1].2)
            .into_iter()
            .filter(|s| s.contains(" WHERE "))
            .collect();
        assert_eq!(partial.len(), 3);
        for s in partial {
            assert!(s.ends_with(&format!("WHERE {OPEN_STATUSES_SQL}")), "{s}");
        }
        let open: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| !s.is_final())
            .map(|s| s.id())
            .collect();
        let listed = format!("status IN ('{}')", open.join("', '"));
        assert_eq!(listed, OPEN_STATUSES_SQL);
    }

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(
            redact("postgres://probity:s3cret@127.0.0.1:5432/test"),
            "postgres://probity:***@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
    }
}
