//! Integration tests of the review database. Both backends run the same
//! suite: every `case_*` is written once and run on a fresh SQLite file and
//! on a fresh PostgreSQL database (server from `PROBITY_TEST_POSTGRES`,
//! default `postgres://postgres@127.0.0.1:5432`; the PostgreSQL tests fail,
//! never skip, when it is not reachable).

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use probity_review::Step::{
    Advise, ApproveReferral, Dismiss, IssueNotice, ProposeNotice, ProposeReferral, RejectReferral,
};
use probity_review::{
    Backend, Dismissal, Error, Incoming, MIGRATIONS, Moved, Notification, QueueQuery, Refused,
    Result, ReviewDb, Sort, Status, Step,
};
use sqlx::{AnyConnection, AnyPool, Connection, Row};

/// 2025-06-16 00:00 UTC in µs: every test's clock.
const T0: i64 = 1_750_032_000_000_000;
const MIN: i64 = 60_000_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// The response window the tests propose notices with.
const WINDOW_DAYS: u32 = 14;

// ---------------------------------------------------------------- harness

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let url = probity_review::ReviewDb::store_url(dir.path());
                    let db = probity_review::ReviewDb::open(&url).await.expect("open SQLite");
                    assert_eq!(db.backend(), probity_review::Backend::Sqlite);
                    super::$case(&db, &url).await;
                    db.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let scratch = super::Scratch::create().await;
                    let url = scratch.url.clone();
                    // The case runs in its own task so that the database is
                    // dropped even when it panics.
                    let run = tokio::spawn(async move {
                        let db = probity_review::ReviewDb::open(&url).await.expect("open PostgreSQL");
                        assert_eq!(db.backend(), probity_review::Backend::Postgres);
                        super::$case(&db, &url).await;
                        db.close().await;
                    })
                    .await;
                    scratch.drop_database().await;
                    if let Err(e) = run {
                        match e.try_into_panic() {
                            Ok(panic) => std::panic::resume_unwind(panic),
                            Err(e) => panic!("test task failed: {e}"),
                        }
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    case_migrate,
    case_import,
    case_queue,
    case_workflow,
    case_quality,
    case_consents,
    case_sessions,
    case_respond_only_own,
    case_audit_anchors,
);

/// A throwaway PostgreSQL database.
struct Scratch {
    admin: AnyConnection,
    name: String,
    url: String,
}

impl Scratch {
    async fn create() -> Scratch {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        sqlx::any::install_default_drivers();
        let server = std::env::var("PROBITY_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let server = server.trim_end_matches('/').to_string();
        let connect = AnyConnection::connect(&format!("{server}/postgres"));
        let mut admin = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => unreachable_postgres(&server, &e.to_string()),
            Err(_) => unreachable_postgres(&server, "no answer within 10 s"),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!(
            "probity_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let url = format!("{server}/{name}");
        Scratch { admin, name, url }
    }

    async fn drop_database(mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut self.admin)
            .await
        {
            eprintln!("warning: could not drop {}: {e}", self.name);
        }
        let _ = self.admin.close().await;
    }
}

fn unreachable_postgres(server: &str, why: &str) -> ! {
    panic!(
        "PostgreSQL at {} is not reachable ({why}). These tests need it: start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
         or point PROBITY_TEST_POSTGRES at a server (postgres://USER@HOST:PORT)",
        probity_review::redact(server)
    )
}

/// A raw pool beside the review database, for what the API does not show.
async fn raw(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(url).await.expect("raw connection")
}

/// Runs raw SQL with text parameters; returns the rows affected.
async fn exec(pool: &AnyPool, sql: &'static str, binds: &[&str]) -> u64 {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(pool).await.expect(sql).rows_affected()
}

/// A finding as the register hands it over, from a one-line spec:
/// `id detector scenario person unit score period_start status` (unit `-`: none).
fn finding(spec: &str) -> Incoming {
    let v: Vec<&str> = spec.split_whitespace().collect();
    let [id, detector, scenario, person, unit, score, start, status] = v[..] else {
        panic!("bad spec {spec:?}");
    };
    Incoming {
        finding_id: id.into(),
        detector: detector.into(),
        scenario: scenario.into(),
        person: person.into(),
        unit_id: (unit != "-").then(|| unit.into()),
        score: score.parse().expect("score"),
        period_start: start.into(),
        period_end: start.into(),
        summary: format!("{detector}: unusual pattern for {person} from {start}."),
        record: serde_json::json!({"detector": detector, "score": score}).to_string(),
        status: status.into(),
    }
}

/// A new ghost_overtime finding in S2 about `person`.
fn simple(id: &str, person: &str) -> Incoming {
    finding(&format!(
        "{id} ghost_overtime S2 {person} u_ward7 0.8 2025-03-03 new"
    ))
}

/// Imports a table of specs one by one, a day apart from `T0`.
async fn import_daily(db: &ReviewDb, table: &str) {
    let specs = table.lines().filter(|l| !l.trim().is_empty());
    for (i, spec) in specs.enumerate() {
        let added = db.import(&[finding(spec)], T0 + i as i64 * DAY).await;
        assert_eq!(added.unwrap(), 1, "{spec}");
    }
}

/// Findings under review, in all.
async fn total(db: &ReviewDb) -> i64 {
    db.by_status().await.unwrap().iter().map(|s| s.1).sum()
}

async fn status_of(db: &ReviewDb, id: &str) -> Status {
    db.finding(id).await.unwrap().expect("finding").status
}

const REASON: &str = "routine reason for the record";

/// Takes a step with a fresh audit entry (unique seq and hash).
async fn take(
    db: &ReviewDb,
    id: &str,
    step: Step,
    actor: &str,
    reason: &str,
    dismissal: Option<Dismissal>,
    now: i64,
) -> Result<Moved> {
    static SEQ: AtomicI64 = AtomicI64::new(1);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let hash = format!("h{seq}");
    let audit = (seq, hash.as_str());
    // Authorised from the status it has now (None: no such finding).
    let from = match db.finding(id).await? {
        Some(f) => f.status,
        None => Status::New,
    };
    db.transition(
        id,
        step,
        from,
        actor,
        reason,
        dismissal,
        WINDOW_DAYS,
        audit,
        now,
    )
    .await
}

/// Takes a step that must be allowed.
async fn ok(db: &ReviewDb, id: &str, step: Step, actor: &str, reason: &str, now: i64) -> Moved {
    let r = take(db, id, step, actor, reason, None, now).await;
    r.unwrap_or_else(|e| panic!("{id}: {step:?} by {actor}: {e}"))
}

/// Closes a finding with no further action.
async fn dismiss(db: &ReviewDb, id: &str, kind: Dismissal, now: i64) -> Moved {
    let r = take(db, id, Dismiss, "u_rev1", REASON, Some(kind), now).await;
    r.unwrap_or_else(|e| panic!("{id}: dismiss: {e}"))
}

/// Why a step was refused (panics if it was not).
fn refused(r: Result<Moved>) -> Refused {
    match r {
        Err(Error::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn not_from_here(r: &Result<Moved>) -> bool {
    matches!(r, Err(Error::Refused(Refused::NotFromHere { .. })))
}

/// A finding's decisions as `step actor from>to: reason`, in order.
async fn trail(db: &ReviewDb, id: &str) -> Vec<String> {
    let h = db.history(id).await.unwrap();
    h.iter()
        .map(|d| {
            let (from, to) = (&d.from_status, &d.to_status);
            format!("{} {} {from}>{to}: {}", d.step, d.actor, d.reason)
        })
        .collect()
}

/// A person's notifications about one finding, newest first.
async fn notes(db: &ReviewDb, person: &str, id: &str) -> Vec<Notification> {
    let all = db.notifications(person).await.unwrap();
    all.into_iter().filter(|n| n.finding_id == id).collect()
}

/// The open queue, 50 a page, with one filter or sort set.
fn by(field: &str, value: &str) -> QueueQuery {
    let mut q = QueueQuery {
        per_page: 50,
        ..Default::default()
    };
    let v = Some(value.to_string());
    match field {
        "" => {}
        "scenario" => q.scenario = v,
        "status" => q.status = v,
        "unit" => q.unit = v,
        "person" => q.person = v,
        "min_score" => q.min_score = value.parse().ok(),
        "sort" => q.sort = Sort::from_id(value).expect("sort"),
        _ => panic!("no filter {field}"),
    }
    q
}

/// A page of the queue as `[ids] total`.
async fn page(db: &ReviewDb, q: &QueueQuery) -> String {
    let p = db.queue(q).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
    let ids: Vec<&str> = p.rows.iter().map(|r| r.finding_id.as_str()).collect();
    format!("[{}] {}", ids.join(" "), p.total)
}

// ------------------------------------------------------------------ cases

async fn case_migrate(db: &ReviewDb, url: &str) {
    // Opened once by the harness: migrating again or reopening applies nothing.
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    let again = ReviewDb::open(url).await.expect("second open");
    assert_eq!(again.migrate().await.unwrap(), Vec::<i64>::new());
    again.close().await;

    let pool = raw(url).await;
    let sql = "SELECT version, checksum FROM probity_migrations ORDER BY version";
    let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), MIGRATIONS.len());
    let sum: String = rows[0].get("checksum");
    assert_eq!(rows[0].get::<i64, _>("version"), 1);
    let this_build = blake3::hash(MIGRATIONS[0].2.as_bytes()).to_hex();
    assert_eq!(sum, this_build.as_str());

    // Applied with other text than this build's: refused.
    let set = "UPDATE probity_migrations SET checksum = $1 WHERE version = 1";
    assert_eq!(exec(&pool, set, &["0badc0de"]).await, 1);
    match ReviewDb::open(url).await {
        Err(Error::MigrationChanged {
            version: 1,
            found,
            expected,
            ..
        }) => assert_eq!((found.as_str(), &expected), ("0badc0de", &sum)),
        other => panic!("expected MigrationChanged, got {other:?}"),
    }
    let r = db.migrate().await;
    assert!(matches!(r, Err(Error::MigrationChanged { .. })), "{r:?}");
    exec(&pool, set, &[&sum]).await;

    // A migration from a newer build: refused.
    let future = "INSERT INTO probity_migrations (version, name, checksum, applied_at) VALUES (99, 'future', 'abc', 0)";
    exec(&pool, future, &[]).await;
    match ReviewDb::open(url).await {
        Err(Error::Newer(99)) => {}
        other => panic!("expected Newer(99), got {other:?}"),
    }
    let forget = "DELETE FROM probity_migrations WHERE version = 99";
    exec(&pool, forget, &[]).await;
    pool.close().await;
    let repaired = ReviewDb::open(url).await.expect("open after repair");
    assert!(repaired.migrate().await.unwrap().is_empty());
    repaired.close().await;
}

async fn case_import(db: &ReviewDb, _url: &str) {
    let items = [
        simple("F-2025-0001", "p_3f9a01c2"),
        finding("F-2025-0002 split_claims S1 p_81c2d4e0 - 0.55 2025-02-10 advice"),
        finding("F-2025-0003 rota_self_approve S3 p_77aa9b10 u_ward9 0.3 2025-01-06 bogus"),
    ];
    assert_eq!(db.import(&items, T0).await.unwrap(), 3);
    let f1 = db.finding("F-2025-0001").await.unwrap().expect("imported");
    assert_eq!(
        (f1.status, f1.created_at, f1.status_at),
        (Status::New, T0, T0)
    );
    assert_eq!(f1.unit_id.as_deref(), Some("u_ward7"));
    // The register's status is kept; an unknown one becomes new.
    assert_eq!(status_of(db, "F-2025-0002").await, Status::Advice);
    assert_eq!(status_of(db, "F-2025-0003").await, Status::New);
    let months: Vec<String> = (db.by_scenario_month().await.unwrap().into_iter())
        .map(|(s, m, n)| format!("{s} {m} {n}"))
        .collect();
    assert_eq!(months, ["S3 2025-01 1", "S1 2025-02 1", "S2 2025-03 1"]);

    ok(db, "F-2025-0001", Advise, "u_rev1", REASON, T0 + HOUR).await;

    // Re-import: known findings keep their review state; score and summary refresh.
    let mut again = simple("F-2025-0001", "p_3f9a01c2");
    again.score = 0.97;
    again.summary = "ghost_overtime: refreshed summary.".into();
    let items = [again, simple("F-2025-0004", "p_c0de5511")];
    assert_eq!(db.import(&items, T0 + DAY).await.unwrap(), 1);
    let f1 = db.finding("F-2025-0001").await.unwrap().expect("kept");
    assert_eq!((f1.status, f1.score), (Status::Advice, 0.97));
    assert_eq!(f1.summary, "ghost_overtime: refreshed summary.");
    assert_eq!((f1.created_at, f1.status_at), (T0, T0 + HOUR));
    assert_eq!(trail(db, "F-2025-0001").await.len(), 1);
    let f4 = db.finding("F-2025-0004").await.unwrap().expect("added");
    assert_eq!((f4.status, f4.created_at), (Status::New, T0 + DAY));

    // Retention: findings no longer in the register go, with their decisions.
    let keep: HashSet<String> = ["F-2025-0002", "F-2025-0003", "F-2025-0004"]
        .map(String::from)
        .into();
    assert_eq!(db.forget_except(&keep).await.unwrap(), 1);
    assert!(db.finding("F-2025-0001").await.unwrap().is_none());
    assert!(db.history("F-2025-0001").await.unwrap().is_empty());
    assert!(db.notifications("p_3f9a01c2").await.unwrap().is_empty());
    assert_eq!(db.forget_except(&keep).await.unwrap(), 0);
    assert_eq!(total(db).await, 3);
}

/// Created a day apart, in this order (Q08 decided in the register).
const QUEUE: &str = "
    Q01 ghost_overtime    S2 p_3f9a01c2 u_ward7 0.91 2025-01-06 new
    Q02 ghost_overtime    S2 p_3f9a01c2 u_ward7 0.42 2025-02-03 new
    Q03 split_claims      S1 p_81c2d4e0 u_ward7 0.77 2025-03-10 new
    Q04 split_claims      S1 p_81c2d4e0 -       0.55 2024-12-02 new
    Q05 ghost_overtime    S2 p_c0de5511 u_ward9 0.66 2025-04-07 new
    Q06 rota_self_approve S3 p_77aa9b10 u_ward9 0.30 2025-02-17 new
    Q07 ghost_overtime    S2 p_c0de5511 u_ward9 0.88 2025-01-20 new
    Q08 rota_self_approve S3 p_77aa9b10 u_ward7 0.95 2024-11-04 advice
";

async fn case_queue(db: &ReviewDb, _url: &str) {
    import_daily(db, QUEUE).await;
    let t = T0 + 10 * DAY;
    ok(db, "Q05", ProposeReferral, "u_rev1", REASON, t).await;
    ok(db, "Q06", ProposeNotice, "u_rev1", REASON, t).await;
    dismiss(db, "Q02", Dismissal::FalsePositive, t).await;

    // No status: the open ones (new, referral_proposed, awaiting_response).
    for (field, value, want) in [
        ("", "", "[Q01 Q07 Q03 Q05 Q04 Q06] 6"),
        ("sort", "score", "[Q01 Q07 Q03 Q05 Q04 Q06] 6"),
        ("sort", "oldest", "[Q01 Q03 Q04 Q05 Q06 Q07] 6"),
        ("sort", "newest", "[Q07 Q06 Q05 Q04 Q03 Q01] 6"),
        ("sort", "period", "[Q05 Q03 Q06 Q07 Q01 Q04] 6"),
        ("scenario", "S2", "[Q01 Q07 Q05] 3"),
        ("scenario", "S9", "[] 0"),
        ("status", "new", "[Q01 Q07 Q03 Q04] 4"),
        ("status", "no_further_action", "[Q02] 1"),
        ("status", "advice", "[Q08] 1"),
        ("status", "referral_proposed", "[Q05] 1"),
        ("status", "awaiting_response", "[Q06] 1"),
        ("unit", "u_ward9", "[Q07 Q05 Q06] 3"),
        ("min_score", "0.7", "[Q01 Q07 Q03] 3"),
        ("min_score", "0.66", "[Q01 Q07 Q03 Q05] 4"),
        ("person", "p_81c2d4e0", "[Q03 Q04] 2"),
        ("person", "p_3f9a01c2", "[Q01] 1"),
    ] {
        assert_eq!(page(db, &by(field, value)).await, want, "{field}={value}");
    }
    let mut q = by("scenario", "S2");
    (q.unit, q.min_score) = (Some("u_ward9".into()), Some(0.7));
    assert_eq!(page(db, &q).await, "[Q07] 1");

    // Pagination: the total is the filtered count; per_page is 1..=200.
    let mut q = by("sort", "oldest");
    (q.page, q.per_page) = (2, 3);
    assert_eq!(page(db, &q).await, "[Q05 Q06 Q07] 6");
    let p = db.queue(&q).await.unwrap();
    assert_eq!((p.page, p.per_page), (2, 3));
    q.page = 3;
    assert_eq!(page(db, &q).await, "[] 6");
    (q.page, q.per_page) = (0, 0);
    let p = db.queue(&q).await.unwrap();
    assert_eq!((p.page, p.per_page, p.rows.len()), (1, 1, 1));
    (q.page, q.per_page) = (1, 100_000);
    let p = db.queue(&q).await.unwrap();
    assert_eq!((p.per_page, p.rows.len()), (200, 6));

    // Hostile filter values are data, never SQL.
    let evil = ["' OR '1'='1", "x'; DROP TABLE findings; --", "%", "_"];
    for value in evil {
        for field in ["scenario", "status", "unit", "person"] {
            assert_eq!(page(db, &by(field, value)).await, "[] 0", "{field}={value}");
        }
    }
    // A NUL byte: SQLite matches nothing; PostgreSQL text refuses it.
    match (db.queue(&by("scenario", "S2\0")).await, db.backend()) {
        (Ok(p), Backend::Sqlite) => assert_eq!(p.total, 0),
        (Err(Error::Query { .. }), Backend::Postgres) => {}
        (r, b) => panic!("{b:?}: {r:?}"),
    }
    assert_eq!(total(db).await, 8);

    // The cached count follows writes made through this handle.
    ok(db, "Q04", Advise, "u_rev2", REASON, t + HOUR).await;
    assert_eq!(page(db, &by("", "")).await, "[Q01 Q07 Q03 Q05 Q06] 5");
}

async fn case_workflow(db: &ReviewDb, _url: &str) {
    let me = "p_3f9a01c2";
    let items: Vec<Incoming> = (1..=8).map(|i| simple(&format!("W{i}"), me)).collect();
    db.import(&items, T0).await.unwrap();
    let (t, fp) = (T0 + DAY, Some(Dismissal::FalsePositive));

    // No further action needs a reason of ten characters or more and a kind.
    for (reason, dismissal, why) in [
        ("too short", fp, Refused::Reason),
        ("    x     ", fp, Refused::Reason),
        (REASON, None, Refused::Dismissal),
    ] {
        let r = take(db, "W1", Dismiss, "u_rev1", reason, dismissal, t).await;
        assert_eq!(refused(r), why);
    }
    assert!(trail(db, "W1").await.is_empty());
    let m = dismiss(db, "W1", Dismissal::FalsePositive, t).await;
    assert_eq!((m.from, m.to), (Status::New, Status::NoFurtherAction));
    let h = db.history("W1").await.unwrap();
    assert_eq!((h.len(), h[0].at, h[0].step.as_str()), (1, t, "dismiss"));
    assert_eq!(h[0].dismissal.as_deref(), Some("false_positive"));
    let m = ok(db, "W2", Advise, "u_rev1", REASON, t).await;
    assert_eq!((m.from, m.to), (Status::New, Status::Advice));

    // Four eyes: the proposer cannot approve; another reviewer can.
    let why = "overtime on a closed ward";
    let agree = "agreed, refer to counter fraud";
    ok(db, "W3", ProposeReferral, "u_rev1", why, t).await;
    assert_eq!(status_of(db, "W3").await, Status::ReferralProposed);
    let r = take(db, "W3", ApproveReferral, "u_rev1", REASON, None, t + HOUR).await;
    assert_eq!(refused(r), Refused::SameReviewer("u_rev1".into()));
    assert_eq!(status_of(db, "W3").await, Status::ReferralProposed);
    let m = ok(db, "W3", ApproveReferral, "u_rev2", agree, t + HOUR).await;
    assert_eq!((m.from, m.to), (Status::ReferralProposed, Status::Referral));
    assert_eq!(
        trail(db, "W3").await,
        [
            "propose_referral u_rev1 new>referral_proposed: overtime on a closed ward",
            "approve_referral u_rev2 referral_proposed>referral: agreed, refer to counter fraud",
        ]
    );
    let h = db.history("W3").await.unwrap();
    assert!(h[0].audit_seq < h[1].audit_seq && h[0].at < h[1].at);
    assert!(db.situation("W3").await.unwrap().proposer.is_none());

    // A rejected referral goes back to new and may be proposed again.
    ok(db, "W4", ProposeReferral, "u_rev1", why, t).await;
    let m = ok(db, "W4", RejectReferral, "u_rev2", REASON, t).await;
    assert_eq!(m.to, Status::New);
    assert!(db.situation("W4").await.unwrap().proposer.is_none());
    ok(db, "W4", ProposeReferral, "u_rev2", why, t + HOUR).await;
    assert_eq!(status_of(db, "W4").await, Status::ReferralProposed);

    // A proposed notice tells the subject, with the deadline.
    ok(db, "W5", ProposeNotice, "u_rev1", REASON, t).await;
    let by = t + i64::from(WINDOW_DAYS) * DAY;
    let n = notes(db, me, "W5").await;
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].kind.as_str(), n[0].at), ("notice_proposed", t));
    assert_eq!(n[0].respond_by, Some(by));
    let deadline = probity_review::display_time(by);
    assert!(n[0].message.contains(&deadline), "{}", n[0].message);
    assert_eq!(db.situation("W5").await.unwrap().respond_by, Some(by));
    // Not before the window closes unless they responded.
    let r = take(db, "W5", IssueNotice, "u_rev1", REASON, None, t + DAY).await;
    assert_eq!(refused(r), Refused::WindowOpen(deadline));
    let body = "I was covering ward 7 that week; the rota shows it.";
    db.respond("W5", me, "u_subject", body, "r1", t + 2 * DAY)
        .await
        .unwrap();
    assert!(db.situation("W5").await.unwrap().responded);
    let m = ok(db, "W5", IssueNotice, "u_rev1", REASON, t + 3 * DAY).await;
    assert_eq!(m.from, Status::AwaitingResponse);
    assert_eq!(m.to, Status::PreventionNotice);
    let n = notes(db, me, "W5").await;
    assert_eq!(
        (n[0].kind.as_str(), n[1].kind.as_str()),
        ("outcome", "notice_proposed")
    );

    // Without a response, once the window has closed.
    ok(db, "W6", ProposeNotice, "u_rev1", REASON, t).await;
    let r = take(db, "W6", IssueNotice, "u_rev1", REASON, None, by - 1).await;
    assert!(matches!(refused(r), Refused::WindowOpen(_)));
    let m = ok(db, "W6", IssueNotice, "u_rev1", REASON, by).await;
    assert_eq!(m.to, Status::PreventionNotice);

    // While awaiting a response, the finding may still be closed otherwise.
    ok(db, "W7", ProposeNotice, "u_rev1", REASON, t).await;
    let m = ok(db, "W7", Advise, "u_rev2", REASON, t + HOUR).await;
    assert_eq!((m.from, m.to), (Status::AwaitingResponse, Status::Advice));
    assert!(db.situation("W7").await.unwrap().respond_by.is_none());

    // Decided findings refuse every step and keep their record.
    for id in ["W1", "W2", "W3", "W5", "W6", "W7"] {
        let before = (status_of(db, id).await, trail(db, id).await);
        for step in Step::ALL {
            let r = take(db, id, *step, "u_rev3", REASON, fp, by + DAY).await;
            assert!(not_from_here(&r), "{id} {step:?}: {r:?}");
        }
        assert_eq!(before, (status_of(db, id).await, trail(db, id).await));
    }

    // The same step judged twice on the same status: only the first moves it.
    ok(db, "W8", Advise, "u_rev1", REASON, t).await;
    let r = take(db, "W8", Advise, "u_rev2", REASON, None, t).await;
    assert!(not_from_here(&r), "{r:?}");
    assert_eq!(trail(db, "W8").await.len(), 1);
    // ... also when two reviewers really act at once.
    let (a, b) = tokio::join!(
        take(db, "W4", ApproveReferral, "u_rev1", REASON, None, t + DAY),
        take(db, "W4", RejectReferral, "u_rev3", REASON, None, t + DAY),
    );
    assert!(a.is_ok() ^ b.is_ok(), "{a:?} / {b:?}");
    assert!(not_from_here(if a.is_ok() { &b } else { &a }));
    assert_eq!(trail(db, "W4").await.len(), 4);

    // A step authorised from one status is refused once the finding has
    // moved on: an analyst's dismissal authorised while it was new cannot
    // close the prevention notice a reviewer proposed in the meantime.
    db.import(&[simple("W9", me)], T0).await.unwrap();
    ok(db, "W9", ProposeNotice, "u_rev1", REASON, t).await;
    let stale = (1_000_000, "h-stale-w9");
    let r = db
        .transition(
            "W9",
            Dismiss,
            Status::New,
            "u_ana",
            REASON,
            fp,
            WINDOW_DAYS,
            stale,
            t + HOUR,
        )
        .await;
    assert!(not_from_here(&r), "{r:?}");
    assert_eq!(status_of(db, "W9").await, Status::AwaitingResponse);
    assert_eq!(trail(db, "W9").await.len(), 1);

    let r = take(db, "W404", Advise, "u_rev1", REASON, None, t).await;
    assert!(
        matches!(&r, Err(Error::NoFinding(id)) if id == "W404"),
        "{r:?}"
    );
}

/// Created a day apart, in this order.
const QUALITY: &str = "
    G4 ghost_overtime    S2 p_3f9a01c2 u_ward7 0.9 2025-03-03 new
    G1 ghost_overtime    S2 p_3f9a01c2 u_ward7 0.9 2025-03-03 new
    G2 ghost_overtime    S2 p_c0de5511 u_ward7 0.9 2025-03-03 new
    G3 ghost_overtime    S2 p_c0de5511 u_ward9 0.9 2025-03-03 new
    G5 ghost_overtime    S2 p_c0de5511 u_ward9 0.9 2025-03-03 new
    S1 split_claims      S1 p_81c2d4e0 -       0.6 2025-02-10 new
    G6 ghost_overtime    S2 p_81c2d4e0 u_ward9 0.9 2025-03-03 new
    S2 split_claims      S1 p_81c2d4e0 -       0.6 2025-02-10 new
    R1 rota_self_approve S3 p_77aa9b10 u_ward9 0.3 2025-01-06 new
";

async fn case_quality(db: &ReviewDb, _url: &str) {
    import_daily(db, QUALITY).await;
    let t = T0 + 9 * DAY;
    dismiss(db, "G1", Dismissal::FalsePositive, t).await;
    dismiss(db, "G2", Dismissal::Explained, t).await;
    dismiss(db, "S2", Dismissal::InsufficientEvidence, t).await;
    ok(db, "G3", Advise, "u_rev1", REASON, t).await;
    ok(db, "G4", ProposeReferral, "u_rev1", REASON, t).await;
    ok(db, "S1", ProposeNotice, "u_rev1", REASON, t).await;
    let by = t + i64::from(WINDOW_DAYS) * DAY;
    ok(db, "S1", IssueNotice, "u_rev2", REASON, by).await;

    let qs = db.quality(T0 + 10 * DAY).await.unwrap();
    let got: Vec<String> = qs
        .iter()
        .map(|q| {
            let (o, d) = (q.open, q.decided);
            let (u, fp, x) = (q.upheld, q.false_positive, q.dismissed_other);
            let ages = (q.oldest_open_days, q.median_open_days);
            format!(
                "{} {} {} open {o} decided {d} upheld {u} fp {fp} other {x} ages {ages:?}",
                q.detector, q.scenario, q.volume
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "ghost_overtime S2 6 open 3 decided 3 upheld 1 fp 1 other 1 ages (10.0, 6.0)",
            "rota_self_approve S3 1 open 1 decided 0 upheld 0 fp 0 other 0 ages (2.0, 2.0)",
            "split_claims S1 2 open 0 decided 2 upheld 1 fp 0 other 1 ages (0.0, 0.0)",
        ]
    );
    let (g, r, s) = (&qs[0], &qs[1], &qs[2]);
    assert_eq!(
        (g.upheld_rate(), g.precision()),
        (Some(1.0 / 3.0), Some(1.0 - 1.0 / 3.0))
    );
    assert_eq!((r.upheld_rate(), r.precision()), (None, None));
    assert_eq!((s.upheld_rate(), s.precision()), (Some(0.5), Some(1.0)));
    let mut ages = db.open_ages(T0 + 10 * DAY).await.unwrap();
    ages.sort_by(f64::total_cmp);
    assert_eq!(ages, [2.0, 4.0, 6.0, 10.0]);
}

async fn case_consents(db: &ReviewDb, _url: &str) {
    let (me, other) = ("p_3f9a01c2", "p_81c2d4e0");
    let (unison, rcn) = ("u_rep_unison", "u_rep_rcn");
    let grant = |person, rep, at| db.grant_consent(person, rep, "u_subject", at);
    // Current representatives as `rep@granted` (µs after T0).
    let reps = |person| async move {
        let all = db.consents_of(person).await.unwrap();
        let all = all.iter().map(|(r, at)| format!("{r}@{}", at - T0));
        all.collect::<Vec<_>>().join(" ")
    };
    grant(me, unison, T0).await.unwrap();
    assert!(db.has_consent(me, unison).await.unwrap());
    assert!(!db.has_consent(me, rcn).await.unwrap());
    assert!(!db.has_consent(other, unison).await.unwrap());
    assert_eq!(reps(me).await, "u_rep_unison@0");
    grant(me, rcn, T0 + 1).await.unwrap();
    grant(other, unison, T0 + 2).await.unwrap();
    assert_eq!(reps(me).await, "u_rep_rcn@1 u_rep_unison@0");
    assert_eq!(db.consented_to(unison).await.unwrap(), [me, other]);

    assert!(db.withdraw_consent(me, unison, T0 + DAY).await.unwrap());
    assert!(!db.withdraw_consent(me, unison, T0 + DAY).await.unwrap());
    assert!(!db.withdraw_consent(me, "u_rep_x", T0).await.unwrap());
    assert!(!db.has_consent(me, unison).await.unwrap());
    assert!(db.has_consent(me, rcn).await.unwrap());
    assert_eq!(reps(me).await, "u_rep_rcn@1");
    assert_eq!(db.consented_to(unison).await.unwrap(), [other]);

    grant(me, unison, T0 + DAY + 5).await.unwrap();
    assert!(db.has_consent(me, unison).await.unwrap());
    let want = format!("u_rep_rcn@1 u_rep_unison@{}", DAY + 5);
    assert_eq!(reps(me).await, want);
    assert_eq!(db.consented_to(unison).await.unwrap(), [me, other]);
}

async fn case_sessions(db: &ReviewDb, url: &str) {
    const IDLE: i64 = 30 * MIN;
    const ABS: i64 = 12 * HOUR;
    let live = |tok, now| async move { db.session(tok, now, IDLE, ABS).await.unwrap() };
    let create = |tok, user, now| db.session_create(tok, user, "csrf-x", now);
    db.session_create("tok-a", "u_rev1", "csrf-a", T0)
        .await
        .unwrap();
    let s = live("tok-a", T0 + 1_000_000).await.expect("live");
    assert_eq!((s.user_id.as_str(), s.csrf.as_str()), ("u_rev1", "csrf-a"));
    assert_eq!((s.created_at, s.last_seen), (T0, T0));
    assert!(live("tok-unknown", T0).await.is_none());

    // Only the token's hash is stored.
    let pool = raw(url).await;
    let sql = "SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1";
    let row = sqlx::query(sql).bind("tok-a").fetch_one(&pool).await;
    assert_eq!(row.unwrap().get::<i64, _>("n"), 0);
    pool.close().await;

    // Activity extends the idle timeout; idling past it ends the session.
    assert!(live("tok-a", T0 + 20 * MIN).await.is_some());
    let s = live("tok-a", T0 + 45 * MIN).await.expect("touched");
    assert_eq!(s.last_seen, T0 + 20 * MIN);
    assert!(live("tok-a", T0 + 76 * MIN).await.is_none());
    // ... for good: it was deleted.
    let gone = db.session("tok-a", T0 + 76 * MIN, i64::MAX, i64::MAX).await;
    assert!(gone.unwrap().is_none());

    // The absolute timeout holds however active the session is.
    create("tok-b", "u_rev1", T0).await.unwrap();
    for k in 1..=36 {
        assert!(live("tok-b", T0 + k * 20 * MIN).await.is_some(), "{k}");
    }
    assert!(live("tok-b", T0 + 37 * 20 * MIN).await.is_none());
    let gone = db.session("tok-b", T0, i64::MAX, i64::MAX).await;
    assert!(gone.unwrap().is_none());

    create("tok-c", "u_rev1", T0).await.unwrap();
    db.session_end("tok-c").await.unwrap();
    assert!(live("tok-c", T0).await.is_none());

    // Ending a user's sessions ends theirs only.
    let tokens = [
        ("tok-d", "u_rev2"),
        ("tok-e", "u_rev2"),
        ("tok-f", "u_rev3"),
    ];
    for (tok, user) in tokens {
        create(tok, user, T0).await.unwrap();
    }
    assert_eq!(db.sessions_end_user("u_rev2").await.unwrap(), 2);
    assert!(live("tok-d", T0).await.is_none());
    assert!(live("tok-e", T0).await.is_none());
    assert_eq!(live("tok-f", T0).await.expect("kept").user_id, "u_rev3");
    assert_eq!(db.sessions_end_user("u_rev2").await.unwrap(), 0);
}

async fn case_respond_only_own(db: &ReviewDb, _url: &str) {
    let (me, other) = ("p_3f9a01c2", "p_81c2d4e0");
    let items = [simple("F-mine", me), simple("F-theirs", other)];
    db.import(&items, T0).await.unwrap();
    ok(db, "F-theirs", ProposeNotice, "u_rev1", REASON, T0).await;
    let at = T0 + HOUR;
    let say = move |id: &'static str, person, user, body| async move {
        let audit = format!("r-{id}-{user}");
        db.respond(id, person, user, body, &audit, at).await
    };

    // A subject cannot respond on someone else's finding, nor on none.
    let r = say("F-theirs", me, "u_me", "not mine, but").await;
    assert!(
        matches!(&r, Err(Error::NoFinding(id)) if id == "F-theirs"),
        "{r:?}"
    );
    assert!(db.responses("F-theirs").await.unwrap().is_empty());
    assert!(!db.situation("F-theirs").await.unwrap().responded);
    let r = say("F-none", me, "u_me", "hello there").await;
    assert!(matches!(r, Err(Error::NoFinding(_))), "{r:?}");

    say("F-mine", me, "u_me", "I was on call.").await.unwrap();
    let rs = db.responses("F-mine").await.unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!((rs[0].by_user.as_str(), rs[0].at), ("u_me", at));
    assert_eq!(rs[0].body, "I was on call.");
    say("F-theirs", other, "u_other", "The rota explains it.")
        .await
        .unwrap();
    assert!(db.situation("F-theirs").await.unwrap().responded);
    let rs = db.responses("F-theirs").await.unwrap();
    assert_eq!((rs.len(), rs[0].by_user.as_str()), (1, "u_other"));
}

/// Every append batch of an audit log that carries the review database's
/// anchor sink is anchored in `audit_anchors` before the append returns;
/// verification reads the anchors back and catches a truncation that the
/// chain and a rewritten head file cannot show.
async fn case_audit_anchors(db: &ReviewDb, url: &str) {
    use probity_audit::{AnchorSink, Anchors, AuditLog, Record, TamperKind};
    let t0 = jiff::Timestamp::from_microsecond(T0).unwrap();
    let rec = |i: i64| {
        Record::new("u_rev1", "review.dismiss", format!("F-{i}"))
            .at(t0 + jiff::SignedDuration::from_mins(i))
    };
    // Batches of 1, 3 and 2 entries: anchors of entries 1, 4 and 6.
    let batches: [&[i64]; 3] = [&[1], &[2, 3, 4], &[5, 6]];
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("audit");
    let sink = probity_review::anchor_sink(tmp.path(), Some(url));
    assert!(
        sink.describe().starts_with("the review database"),
        "{}",
        sink.describe()
    );
    let mut log = AuditLog::open(&dir).unwrap().with_anchor_sink(sink.clone());
    let mut heads = vec![];
    for batch in batches {
        let entries = log.append_batch(batch.iter().map(|&i| rec(i))).unwrap();
        let head = entries.last().unwrap().head();
        // Anchored before the append returned.
        let rows = db.audit_anchors().await.unwrap();
        let last = rows.last().unwrap();
        assert_eq!(
            (last.seq, last.hash.as_str(), last.at),
            (
                head.seq as i64,
                head.hash.as_str(),
                head.at.as_microsecond()
            )
        );
        heads.push(head);
        assert_eq!(rows.len(), heads.len());
    }
    assert!(log.anchor_failures().is_empty());
    // Recording an anchor again changes nothing.
    db.record_anchor(4, &heads[1].hash, 0).await.unwrap();
    assert_eq!(db.audit_anchors().await.unwrap().len(), 3);

    // Read back through the sink: the log agrees with all three.
    let read = |sink: &dyn AnchorSink| {
        let mut a = Anchors::new();
        a.read_from(sink);
        a
    };
    let anchors = read(sink.as_ref());
    assert!(anchors.problems.is_empty(), "{:?}", anchors.problems);
    let seqs: Vec<u64> = anchors.anchors.iter().map(|a| a.anchor.seq).collect();
    assert_eq!(seqs, [1, 4, 6]);
    assert_eq!(anchors.anchors[2].at, Some(heads[2].at));
    let r = probity_audit::verify_with_anchors(&dir, &anchors).unwrap();
    assert!(r.is_intact() && r.anchors_checked == 3, "{r}");

    // The last batch removed and the head file rewritten to match (copied
    // from a twin log holding only the first two batches).
    let twin = tmp.path().join("twin");
    let mut t = AuditLog::open(&twin).unwrap();
    for batch in &batches[..2] {
        t.append_batch(batch.iter().map(|&i| rec(i))).unwrap();
    }
    let log_file = dir.join(probity_audit::LOG_FILE);
    let text = std::fs::read_to_string(&log_file).unwrap();
    let kept: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        kept,
        std::fs::read_to_string(twin.join(probity_audit::LOG_FILE)).unwrap()
    );
    std::fs::write(&log_file, kept).unwrap();
    std::fs::copy(
        twin.join(probity_audit::HEAD_FILE),
        dir.join(probity_audit::HEAD_FILE),
    )
    .unwrap();
    let r = probity_audit::verify(&dir, None).unwrap();
    assert!(
        r.is_intact(),
        "without anchors the truncation is invisible: {r}"
    );
    let r = probity_audit::verify_with_anchors(&dir, &read(sink.as_ref())).unwrap();
    let b = r.broken.as_ref().expect("broken");
    assert_eq!(
        (b.kind, b.seq),
        (TamperKind::RewrittenAfterAnchoring, 5),
        "{b}"
    );
    assert!(b.detail.contains("the review database"), "{b}");

    // An anchor of the same entry with another hash is kept beside the
    // first: the evidence of a rewrite.
    db.record_anchor(6, &"ab".repeat(32), 0).await.unwrap();
    let rows = db.audit_anchors().await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.seq == 6).count(), 2);
}
