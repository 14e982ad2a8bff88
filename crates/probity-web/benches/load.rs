//! Load benchmark of the web UI over loopback.
//!
//! What it does: builds a fresh store in a temporary directory (governance
//! approving every detector, ten reviewers `r000`..`r009` with passwords),
//! writes a findings register of `--findings` synthetic findings
//! (deterministic from `--seed`), starts the server in-process on
//! `127.0.0.1:0` (opening it imports the register into the review database,
//! which is timed and reported), signs in `--sessions` sessions through the
//! real `/login` form (CSRF double-submit cookie, argon2 verify; done before
//! the timed phase, four at a time), then lets every session browse the
//! queue for `--seconds` seconds.
//!
//! What is measured: each session is one task with its own keep-alive
//! HTTP/1.1 connection (reconnected if the server closes it). A request is a
//! GET of `/queue?page=P` (P from 1 to 20, weighted towards the first pages),
//! sometimes with filters (scenario, status, minimum score, sort order,
//! rows per page), or, for about one request in ten, `/api/findings?page=P`
//! (JSON). Latency runs from just before the request is sent (including a
//! reconnect, if one was needed) until the whole body has been read. An
//! error is a transport failure, any status other than 200, or a body
//! without its marker (`<table class="queue"` for pages, `"rows"` for the
//! API). No request is started after the deadline; those in flight finish
//! and count.
//!
//! Every queue page and API listing is a view of personal data, so each
//! puts one entry on the audit log before it is answered (entries of views
//! that arrive together share one write and fsync). After the run the log
//! is read back: a successful request without its entry is an error.
//!
//! Think-time model: between two requests a session waits a uniformly random
//! 0.5x to 1.5x `--think-ms` (default 1000 ms), like a person reading a page;
//! its first request comes after a random 0..1x think time, so sessions do
//! not march in step. `--think-ms 0` makes it a closed loop (each session
//! sends its next request as soon as the previous one is answered), which
//! measures peak throughput rather than latency under a realistic load.
//!
//! Runtimes: the server runs on its own multi-threaded Tokio runtime with 2
//! workers, in its own OS thread; the client on another with 2 workers. On a
//! 2-core machine the two compete for the same cores as a real co-located
//! load generator would, but neither can monopolise the other's scheduler.
//!
//! The acceptance target (issue): 200 sessions browsing a queue of 100,000
//! findings for 60 s with zero errors and p99 under 100 ms. The process
//! exits with 1 if there were errors or p99 >= 100 ms, else 0; the last line
//! is `RESULT p99_ms=<x> errors=<n> requests=<n>`.
//!
//! Run:
//!
//! ```text
//! cargo bench --profile dev --bench load -- --findings 100000 --sessions 200 --seconds 60
//! cargo bench --profile dev --bench load -- --think-ms 0 --sessions 50 --seconds 20
//! cargo bench --profile dev --bench load -- --database postgres://user:pw@localhost/probity_load
//! ```
//!
//! Options: `--findings N` (100000), `--sessions N` (200), `--seconds N`
//! (60), `--think-ms N` (1000), `--database URL` (default: SQLite in the
//! store), `--seed N` (1).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use probity_detect::finding::{Evidence, Fact, FindingRecord};
use probity_govern::Registered;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reviewer accounts the sessions are spread over.
const USERS: usize = 10;
/// Sign-ins in flight at once during set-up (argon2 is deliberately slow).
const SIGN_IN_CONCURRENCY: usize = 4;
/// The acceptance threshold for p99.
const P99_LIMIT_MS: f64 = 100.0;
/// Distinct people the findings are about.
const PEOPLE: u64 = 20_000;
/// Queue pages a session browses (1..=MAX_PAGE).
const MAX_PAGE: u32 = 20;

// ---------------------------------------------------------------- arguments

#[derive(Debug, Clone)]
struct Args {
    findings: usize,
    sessions: usize,
    seconds: u64,
    think_ms: u64,
    database: Option<String>,
    seed: u64,
}

const USAGE: &str = "usage: load [--findings N] [--sessions N] [--seconds N] [--think-ms N] [--database URL] [--seed N]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        findings: 100_000,
        sessions: 200,
        seconds: 60,
        think_ms: 1000,
        database: None,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            // Added by `cargo bench` to every bench binary.
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} needs a whole number, not {v:?}\n{USAGE}"))
        };
        match flag.as_str() {
            "--findings" => a.findings = num(&value)? as usize,
            "--sessions" => a.sessions = num(&value)? as usize,
            "--seconds" => a.seconds = num(&value)?,
            "--think-ms" => a.think_ms = num(&value)?,
            "--seed" => a.seed = num(&value)?,
            "--database" => a.database = Some(value),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if a.sessions == 0 || a.seconds == 0 {
        return Err(format!(
            "--sessions and --seconds must be at least 1\n{USAGE}"
        ));
    }
    Ok(a)
}

// ---------------------------------------------------------------- randomness

/// xorshift64* (Vigna): small, fast, deterministic; plenty for load shapes.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Spread the seed (splitmix64) so nearby seeds give unrelated streams,
        // and never start at the all-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------- synthetic store

/// Sort orders of the queue.
const SORTS: &[&str] = &["oldest", "newest", "period", "score"];

fn password(i: usize) -> String {
    format!("load-bench-password-{i:03}")
}

fn user_id(i: usize) -> String {
    format!("r{i:03}")
}

fn pseudonym(seed: u64, person: u64) -> String {
    format!("p{:012x}", Rng::new(seed ^ (person << 20)).next_u64() >> 16)
}

/// Builds the store: governance, reviewers, and the findings register.
fn build_store(dir: &std::path::Path, args: &Args) -> Result<(), BoxError> {
    let store = probity_store::Store::init_with_admin(dir, "admin")?;
    let today = probity_detect::governance_today(&store);
    let text = probity_govern::governance_approving_all("load benchmark (synthetic)", today, 365);
    probity_govern::apply_governance(&store, "admin", &text, std::path::Path::new("bench"))?;
    for i in 0..USERS {
        let id = user_id(i);
        probity_govern::user_add(&store, "admin", &id, probity_policy::Role::Reviewer, None)?;
        probity_govern::user_reset(&store, "admin", &id, &password(i))?;
    }

    let mut rng = Rng::new(args.seed);
    let year_start = jiff::civil::date(2026, 1, 1);
    let year_end = jiff::civil::date(2026, 12, 31);
    let now = jiff::Timestamp::now().to_string();
    let mut reg = probity_govern::Register::load(&store)?;
    for i in 0..args.findings {
        // Findings of the registry's own detectors, evidence from the
        // first table each needs.
        let all = probity_detect::detectors::ALL;
        let d = &all[rng.below(all.len() as u64) as usize];
        let (detector, scenario) = (d.id, d.scenario.id());
        let table = d.needs.first().map_or("records", |t| t.name());
        let person = pseudonym(args.seed, rng.below(PEOPLE));
        let start_day = rng.below(365) as i64;
        let len = 1 + rng.below(30) as i64;
        let start = year_start.checked_add(jiff::Span::new().days(start_day))?;
        let end = start
            .checked_add(jiff::Span::new().days(len - 1))?
            .min(year_end);
        let score = (rng.f64() * 1e4).round() / 1e4;
        let count = (3 + rng.below(60)) as f64;
        let peer = (1 + rng.below(10)) as f64;
        let ratio = ((count / peer) * 100.0).round() / 100.0;
        let summary = format!(
            "{count} records between {start} and {end} ({ratio} times the peer median of {peer}) flagged by {detector}."
        );
        let mut facts = BTreeMap::new();
        facts.insert("count".to_string(), Fact::Num(count));
        facts.insert("peer_median".to_string(), Fact::Num(peer));
        facts.insert("ratio".to_string(), Fact::Num(ratio));
        let mut evidence: Vec<Evidence> = (0..3)
            .map(|_| Evidence {
                table: table.to_string(),
                id: format!("{}-{:010}", &table[..3], rng.below(10_000_000_000)),
            })
            .collect();
        evidence.sort();
        let finding_id = format!("f-{:08x}{:012x}", i, rng.next_u64() >> 16);
        let finding = FindingRecord {
            finding_id: finding_id.clone(),
            scenario: scenario.to_string(),
            detector: detector.to_string(),
            person_id: person,
            period_start: start.to_string(),
            period_end: end.to_string(),
            score,
            summary,
            facts,
            evidence,
        };
        reg.items.insert(
            finding_id,
            Registered {
                finding,
                status: "new".into(),
                status_at: now.clone(),
                status_reason: None,
                status_by: None,
                first_run: "a00000001".into(),
                last_seen: now.clone(),
            },
        );
    }
    reg.save()?;
    Ok(())
}

// ---------------------------------------------------------------- server

struct Server {
    addr: SocketAddr,
    import: Duration,
    stop: tokio::sync::oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
}

/// Starts the server on its own runtime (2 workers) in its own thread.
fn start_server(store: &std::path::Path, database: Option<String>) -> Result<Server, BoxError> {
    let mut cfg = probity_web::Config::new(store);
    cfg.database = database;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(SocketAddr, Duration), String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("server-worker")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("server runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                // Bound first: the host check expects the port it got.
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("bind: {e}")));
                        return;
                    }
                };
                let addr = match listener.local_addr() {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("local_addr: {e}")));
                        return;
                    }
                };
                let mut cfg = cfg;
                cfg.bind = addr;
                let t = Instant::now();
                let state = match probity_web::AppState::open(cfg).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("opening the server: {e}")));
                        return;
                    }
                };
                let import = t.elapsed();
                let _ = ready_tx.send(Ok((addr, import)));
                let app = probity_web::app(state);
                let served = axum::serve(
                    probity_web::nodelay(listener),
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
                if let Err(e) = served {
                    eprintln!("server: {e}");
                }
            });
            let _ = done_tx.send(());
        })?;
    let (addr, import) = ready_rx
        .recv()
        .map_err(|_| "the server thread ended before it was ready")??;
    Ok(Server {
        addr,
        import,
        stop: stop_tx,
        done: done_rx,
    })
}

// ---------------------------------------------------------------- client

struct Reply {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// One keep-alive HTTP/1.1 connection, reopened when it closes.
struct Client {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    connects: u64,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            host: addr.to_string(),
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(hyper::header::HeaderName, String)],
        body: Option<String>,
    ) -> Result<Reply, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        if let Err(e) = sender.ready().await {
            // Closed between requests: reconnect once.
            self.sender = None;
            self.connect()
                .await
                .map_err(|c| format!("{c} (after: {e})"))?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("request: {e}"))?;
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("send: {e}"));
            }
        };
        let (parts, body) = res.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(format!("body: {e}"));
            }
        };
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn set_cookie(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Signs in through the form; returns the session cookie's value.
async fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Result<String, String> {
    let mut c = Client::new(addr);
    let form = c
        .send(Method::GET, "/login?next=%2Fqueue", &[], None)
        .await?;
    if form.status != StatusCode::OK {
        return Err(format!("GET /login: status {}", form.status));
    }
    let token = set_cookie(&form.headers, "probity_login")
        .ok_or("GET /login set no probity_login cookie")?;
    let html = String::from_utf8_lossy(&form.body);
    let marker = "name=\"csrf\" value=\"";
    let in_form = html
        .find(marker)
        .map(|i| &html[i + marker.len()..])
        .and_then(|s| s.split('"').next())
        .ok_or("the sign-in form has no csrf field")?;
    if in_form != token {
        return Err("the form's csrf field differs from the probity_login cookie".into());
    }
    let body = format!("csrf={token}&user={user}&password={password}&next=%2Fqueue");
    let res = c
        .send(
            Method::POST,
            "/login",
            &[
                (CONTENT_TYPE, "application/x-www-form-urlencoded".into()),
                (COOKIE, format!("probity_login={token}")),
            ],
            Some(body),
        )
        .await?;
    if res.status != StatusCode::SEE_OTHER {
        return Err(format!(
            "POST /login as {user}: status {} (expected 303)",
            res.status
        ));
    }
    let location = res
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if location != "/queue" {
        return Err(format!(
            "POST /login redirected to {location:?}, not /queue"
        ));
    }
    let session = set_cookie(&res.headers, "probity_session")
        .ok_or("POST /login set no probity_session cookie")?;
    if session.len() != 64 || !session.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("session cookie is not 64 hex digits: {session:?}"));
    }
    Ok(session)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Api,
}

/// A browsing request: its path and kind.
fn browse(rng: &mut Rng) -> (String, Kind) {
    let kind = if rng.chance(0.10) {
        Kind::Api
    } else {
        Kind::Page
    };
    // Weighted to low pages: P(page <= k) = sqrt(k / MAX_PAGE).
    let u = rng.f64();
    let page = (1 + (u * u * f64::from(MAX_PAGE)) as u32).min(MAX_PAGE);
    let mut path = match kind {
        Kind::Page => format!("/queue?page={page}"),
        Kind::Api => format!("/api/findings?page={page}"),
    };
    if rng.chance(0.15) {
        path.push_str("&scenario=");
        path.push_str(rng.pick(&probity_core::scenario::Scenario::ALL).id());
    }
    if rng.chance(0.10) {
        path.push_str("&status=new");
    }
    if rng.chance(0.10) {
        path.push_str("&min_score=0.8");
    }
    if rng.chance(0.20) {
        path.push_str("&sort=");
        path.push_str(rng.pick(SORTS));
    }
    if rng.chance(0.10) {
        path.push_str("&per_page=50");
    }
    (path, kind)
}

fn check(reply: &Reply, kind: Kind) -> Result<(), String> {
    if reply.status != StatusCode::OK {
        return Err(format!("status {}", reply.status));
    }
    let marker: &[u8] = match kind {
        Kind::Page => b"<table class=\"queue\"",
        Kind::Api => b"\"rows\"",
    };
    if !reply.body.windows(marker.len()).any(|w| w == marker) {
        return Err(format!(
            "200 without the marker {}",
            String::from_utf8_lossy(marker)
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Distinct error messages in order of first occurrence, with counts.
#[derive(Default)]
struct Errors(Mutex<Vec<(String, u64)>>);

impl Errors {
    fn add(&self, msg: String) {
        let mut v = self.0.lock().expect("errors");
        match v.iter_mut().find(|(m, _)| *m == msg) {
            Some((_, n)) => *n += 1,
            None => v.push((msg, 1)),
        }
    }
}

struct Outcome {
    latencies: Vec<(Kind, u64)>,
    connects: u64,
}

struct SessionPlan {
    addr: SocketAddr,
    cookie: String,
    think_ms: u64,
    deadline: tokio::time::Instant,
    seed: u64,
}

async fn session(plan: SessionPlan, counters: Arc<Counters>, errors: Arc<Errors>) -> Outcome {
    let mut rng = Rng::new(plan.seed);
    let mut client = Client::new(plan.addr);
    let cookie = [(COOKIE, format!("probity_session={}", plan.cookie))];
    let mut latencies = Vec::new();
    let think = |rng: &mut Rng, lo: f64, hi: f64| {
        Duration::from_secs_f64(plan.think_ms as f64 / 1000.0 * (lo + (hi - lo) * rng.f64()))
    };
    let mut next = tokio::time::Instant::now() + think(&mut rng, 0.0, 1.0);
    loop {
        if next >= plan.deadline {
            break;
        }
        tokio::time::sleep_until(next).await;
        let (path, kind) = browse(&mut rng);
        let t = Instant::now();
        let result = client.send(Method::GET, &path, &cookie, None).await;
        let us = t.elapsed().as_micros() as u64;
        latencies.push((kind, us));
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result.and_then(|r| check(&r, kind)) {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            let what = match kind {
                Kind::Page => "/queue",
                Kind::Api => "/api/findings",
            };
            errors.add(format!("{what}: {e}"));
        }
        next = tokio::time::Instant::now() + think(&mut rng, 0.5, 1.5);
    }
    Outcome {
        latencies,
        connects: client.connects,
    }
}

// ---------------------------------------------------------------- report

/// Exact percentile of sorted microsecond values (nearest rank), in ms.
fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn summary_line(label: &str, sorted: &[u64]) -> String {
    format!(
        "{label:<16} n={:<8} p50={:>7.2} p90={:>7.2} p95={:>7.2} p99={:>7.2} max={:>8.2} (ms)",
        sorted.len(),
        pct(sorted, 50.0),
        pct(sorted, 90.0),
        pct(sorted, 95.0),
        pct(sorted, 99.0),
        sorted.last().copied().unwrap_or(0) as f64 / 1000.0
    )
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("store");
    let t = Instant::now();
    build_store(&root, args)?;
    println!(
        "built store with {} findings ({} reviewers) in {:.1} s",
        args.findings,
        USERS,
        t.elapsed().as_secs_f64()
    );

    let server = start_server(&root, args.database.clone())?;
    println!(
        "imported {} findings in {:.1} s (review database: {}); serving on {}",
        args.findings,
        server.import.as_secs_f64(),
        if args.database.is_some() {
            "--database"
        } else {
            "SQLite in the store"
        },
        server.addr
    );

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client-worker")
        .enable_all()
        .build()?;
    let outcome = client_rt.block_on(drive(args, server.addr, &root));
    client_rt.shutdown_timeout(Duration::from_secs(2));
    let _ = server.stop.send(());
    if server.done.recv_timeout(Duration::from_secs(10)).is_err() {
        eprintln!("load: the server did not stop within 10 s (ignored)");
    }
    drop(dir);
    outcome
}

/// Audit entries of queue views (pages and API listings).
fn audited_views(root: &std::path::Path) -> Result<u64, BoxError> {
    let store = probity_store::Store::open(root)?;
    let mut n = 0;
    for action in ["web.view.queue", "api.view.findings"] {
        let f = probity_audit::Filter {
            action: Some(action.into()),
            ..Default::default()
        };
        for e in probity_audit::read(&store.audit_dir(), &f)? {
            e?;
            n += 1;
        }
    }
    Ok(n)
}

async fn drive(
    args: &Args,
    addr: SocketAddr,
    root: &std::path::Path,
) -> Result<ExitCode, BoxError> {
    // Sign in, a few at a time.
    let t = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(SIGN_IN_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..args.sessions {
        let permits = permits.clone();
        set.spawn(async move {
            let _p = permits.acquire_owned().await.expect("semaphore open");
            let u = i % USERS;
            (i, sign_in(addr, &user_id(u), &password(u)).await)
        });
    }
    let mut cookies = vec![String::new(); args.sessions];
    while let Some(j) = set.join_next().await {
        let (i, r) = j?;
        cookies[i] = r.map_err(|e| format!("sign-in of session {i}: {e}"))?;
    }
    println!(
        "signed in {} sessions as {} reviewers in {:.1} s",
        args.sessions,
        USERS.min(args.sessions),
        t.elapsed().as_secs_f64()
    );

    // Sanity: the queue holds what was written.
    let mut c = Client::new(addr);
    let r = c
        .send(
            Method::GET,
            "/api/findings?per_page=1",
            &[(COOKIE, format!("probity_session={}", cookies[0]))],
            None,
        )
        .await?;
    let total = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["total"].as_i64());
    if total != Some(args.findings as i64) {
        return Err(format!(
            "the queue holds {total:?} open findings, expected {} (status {})",
            args.findings, r.status
        )
        .into());
    }
    drop(c);

    // The timed phase.
    let counters = Arc::new(Counters::default());
    let errors = Arc::new(Errors::default());
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut set = tokio::task::JoinSet::new();
    for (i, cookie) in cookies.into_iter().enumerate() {
        let plan = SessionPlan {
            addr,
            cookie,
            think_ms: args.think_ms,
            deadline,
            seed: args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64 + 1),
        };
        set.spawn(session(plan, counters.clone(), errors.clone()));
    }
    let progress = {
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(start + Duration::from_secs(10), Duration::from_secs(10));
            loop {
                tick.tick().await;
                eprintln!(
                    "  t={:>3.0}s requests={} errors={}",
                    start.elapsed().as_secs_f64(),
                    counters.requests.load(Ordering::Relaxed),
                    counters.errors.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut all: Vec<(Kind, u64)> = Vec::new();
    let mut connects = 0;
    while let Some(j) = set.join_next().await {
        let o = j?;
        all.extend(o.latencies);
        connects += o.connects;
    }
    let elapsed = start.elapsed();
    progress.abort();
    // The sanity request above was a view too.
    let answered = all.len() as u64 - counters.errors.load(Ordering::Relaxed) + 1;
    let audited = audited_views(root)?;

    // Report.
    let requests = all.len() as u64;
    let error_count = counters.errors.load(Ordering::Relaxed);
    let mut lat: Vec<u64> = all.iter().map(|(_, us)| *us).collect();
    lat.sort_unstable();
    let mut pages: Vec<u64> = all
        .iter()
        .filter(|(k, _)| *k == Kind::Page)
        .map(|(_, us)| *us)
        .collect();
    pages.sort_unstable();
    let mut api: Vec<u64> = all
        .iter()
        .filter(|(k, _)| *k == Kind::Api)
        .map(|(_, us)| *us)
        .collect();
    api.sort_unstable();
    let p99 = pct(&lat, 99.0);

    println!();
    println!("sessions       {}", args.sessions);
    println!("findings       {}", args.findings);
    println!(
        "seconds        {} (last request answered at {:.2} s)",
        args.seconds,
        elapsed.as_secs_f64()
    );
    if args.think_ms == 0 {
        println!("think time     0 (closed loop)");
    } else {
        println!(
            "think time     {} ms (uniform {}..{} ms)",
            args.think_ms,
            args.think_ms / 2,
            args.think_ms * 3 / 2
        );
    }
    println!("connections    {connects} opened");
    println!("requests       {requests}");
    println!(
        "throughput     {:.1} req/s",
        requests as f64 / elapsed.as_secs_f64()
    );
    println!("errors         {error_count}");
    println!("audited views  {audited} (answered {answered})");
    let distinct = errors.0.lock().expect("errors").clone();
    for (msg, n) in distinct.iter().take(5) {
        println!("  {n} x {msg}");
    }
    if distinct.len() > 5 {
        println!("  ... and {} more distinct messages", distinct.len() - 5);
    }
    println!(
        "latency (ms)   p50={:.2} p90={:.2} p95={:.2} p99={:.2} max={:.2}",
        pct(&lat, 50.0),
        pct(&lat, 90.0),
        pct(&lat, 95.0),
        p99,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("{}", summary_line("  /queue", &pages));
    println!("{}", summary_line("  /api/findings", &api));

    let mut code = ExitCode::SUCCESS;
    if error_count > 0 {
        println!("FAIL: {error_count} requests failed (target: none)");
        code = ExitCode::from(1);
    }
    if audited < answered {
        println!(
            "FAIL: {} answered views are not on the audit log",
            answered - audited
        );
        code = ExitCode::from(1);
    }
    if requests == 0 {
        println!("FAIL: no requests completed");
        code = ExitCode::from(1);
    } else if p99 >= P99_LIMIT_MS {
        println!("FAIL: p99 latency {p99:.2} ms is not under {P99_LIMIT_MS} ms");
        code = ExitCode::from(1);
    }
    println!("RESULT p99_ms={p99:.2} errors={error_count} requests={requests}");
    Ok(code)
}
