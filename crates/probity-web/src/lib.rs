//! Probity's web UI and JSON API.
//!
//! Server-rendered HTML with SVG charts (no JavaScript at all: the CSP
//! forbids scripts), over review state in SQLite or PostgreSQL
//! (probity-review) and the store. Every route and its authorization rule
//! is one row of [`routes::ROUTES`]; one guard enforces the rule, the
//! session, its idle timeout and CSRF for every state change. Requests for
//! a host name the server was not told it has are refused (421, against
//! DNS rebinding), and every view of a person's records is on the audit
//! log before it is sent ([`appender`]).

pub mod api;
pub mod appender;
pub mod auth;
pub mod data;
pub mod pages;
pub mod routes;
pub mod svg;
pub mod workflow;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use probity_policy::Users;
use probity_review::ReviewDb;
use probity_store::Store;

use routes::{Endpoint, ROUTES};

/// Errors of the web layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The review database.
    #[error(transparent)]
    Review(#[from] probity_review::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] probity_store::Error),
    /// A safeguard (authorisation, reveal, register).
    #[error(transparent)]
    Govern(#[from] probity_govern::Error),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] probity_audit::Error),
    /// Bad input from the user (shown to them).
    #[error("{0}")]
    BadRequest(String),
    /// Not allowed (shown to them; the refusal is audited).
    #[error("{0}")]
    Forbidden(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// The server could not start.
    #[error("{0}")]
    Start(String),
    /// A view could not be put on the audit log, so it is not shown.
    #[error("audit log: {0}")]
    Journal(String),
}

/// Result with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Review(probity_review::Error::Refused(_)) => StatusCode::CONFLICT,
            Error::Review(probity_review::Error::NoFinding(_)) => StatusCode::NOT_FOUND,
            Error::Govern(probity_govern::Error::Denied(_)) => StatusCode::FORBIDDEN,
            Error::Govern(probity_govern::Error::Invalid(_)) => StatusCode::BAD_REQUEST,
            Error::Govern(probity_govern::Error::Store(
                probity_store::Error::VaultKeyMissing { .. }
                | probity_store::Error::VaultKeyMismatch { .. },
            )) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the user is told. Internal errors are logged on the server and
    /// the user sees only that something failed: no SQL, paths or driver
    /// messages reach a browser.
    pub fn public_message(&self) -> String {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            "Something went wrong on the server; the error is in the server's log.".into()
        } else if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            "Identities cannot be read: the identity vault's key is not available on the server; \
             an administrator must restore it from backup."
                .into()
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            eprintln!("probity serve: error: {self}");
        }
        (status, pages::error_page(status, &self.public_message())).into_response()
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store.
    pub store: PathBuf,
    /// Review database URL (default: SQLite in the store).
    pub database: Option<String>,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Sessions end after this long without a request.
    pub idle_timeout: Duration,
    /// Sessions end after this long regardless.
    pub absolute_timeout: Duration,
    /// Behind a TLS-terminating proxy: cookies are `Secure` (and
    /// `__Host-`), HSTS is sent, and a non-loopback bind is allowed (with
    /// at least one name in `hosts`).
    pub behind_tls: bool,
    /// The host names people reach Probity by (`Host` header, with or
    /// without a port unless the entry names one). Bound to loopback, the
    /// server also answers to `localhost`, `127.0.0.1` and `[::1]` with
    /// the bound port. Any other host gets 421 Misdirected Request: a page
    /// on another site that rebinds its own name to this address gets
    /// nothing.
    pub hosts: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` header is believed. From any
    /// other peer the header is ignored: the TCP peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Config {
    /// Defaults for a store: loopback, 30-minute idle timeout, 12-hour
    /// sessions, no host names beyond the loopback ones, no trusted proxy.
    pub fn new(store: &Path) -> Config {
        Config {
            store: store.to_path_buf(),
            database: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            behind_tls: false,
            hosts: vec![],
            trusted_proxies: vec![],
        }
    }

    /// Applies how the server is reached.
    pub fn front(mut self, front: impl Into<Front>) -> Config {
        let f = front.into();
        self.behind_tls = f.behind_tls;
        self.hosts = f.hosts;
        self.trusted_proxies = f.trusted_proxies;
        self
    }

    /// Checks the settings before listening: no clear-text sessions across
    /// a network, and a TLS proxy's public name must be known.
    pub fn check(&self) -> Result<()> {
        if !self.bind.ip().is_loopback() && !self.behind_tls {
            return Err(Error::Start(format!(
                "refusing to listen on {} without TLS: sessions would cross the network in clear. Put Probity behind a TLS-terminating proxy and pass --behind-tls-proxy, or bind 127.0.0.1",
                self.bind
            )));
        }
        if self.behind_tls && self.hosts.is_empty() {
            return Err(Error::Start(
                "--behind-tls-proxy needs at least one --host NAME: the host name people reach Probity by through the proxy (requests naming any other host are refused, against DNS rebinding)".into(),
            ));
        }
        for h in &self.hosts {
            if !auth::valid_host_name(h) {
                return Err(Error::Start(format!(
                    "--host {h:?}: give a host name such as probity.force.example, optionally with :PORT"
                )));
            }
        }
        Ok(())
    }
}

/// How the server is reached, as the command line says it:
/// `--behind-tls-proxy`, `--host NAME`, `--trusted-proxy IP`. A plain
/// `bool` is the TLS flag alone.
#[derive(Debug, Clone, Default)]
pub struct Front {
    /// Behind a TLS-terminating proxy.
    pub behind_tls: bool,
    /// Host names ([`Config::hosts`]).
    pub hosts: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed ([`Config::trusted_proxies`]).
    pub trusted_proxies: Vec<IpAddr>,
}

impl From<bool> for Front {
    fn from(behind_tls: bool) -> Front {
        Front {
            behind_tls,
            ..Front::default()
        }
    }
}

/// Shared state of the server.
pub struct AppState {
    /// Settings.
    pub config: Config,
    /// Review state.
    pub db: ReviewDb,
    /// Failed-login counters.
    pub limiter: auth::Limiter,
    /// Audit entries of views, group-committed.
    pub journal: appender::Appender,
    users: Mutex<Option<(SystemTime, u64, Arc<Users>)>>,
    register_seen: Mutex<Option<(SystemTime, u64)>>,
    units: Mutex<Option<Arc<BTreeMap<String, String>>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish()
    }
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Opens the store's review database (or `config.database`) and brings
    /// the register's findings into review.
    pub async fn open(config: Config) -> Result<Shared> {
        // Every audit append of the server (views, decisions, reveals)
        // anchors the new head in the review database too.
        probity_store::install_anchor_database(probity_review::anchor_sink);
        let store = Store::open(&config.store)?;
        // Refuses a store whose governance file was edited by hand.
        store.governance()?;
        let url = config
            .database
            .clone()
            .unwrap_or_else(|| ReviewDb::store_url(store.root()));
        let db = ReviewDb::open(&url).await?;
        let journal = appender::Appender::start(store.root().to_path_buf())?;
        let state = Arc::new(AppState {
            config,
            db,
            limiter: auth::Limiter::default(),
            journal,
            users: Mutex::new(None),
            register_seen: Mutex::new(None),
            units: Mutex::new(None),
        });
        state.sync().await?;
        Ok(state)
    }

    /// Puts a view of personal data on the audit log and returns once the
    /// entry is durable. Entries of views that arrive together share one
    /// write and one fsync ([`appender::Appender`]); none is dropped, and
    /// a view that cannot be audited is not shown (the error is returned).
    pub async fn audit_view(&self, rec: probity_audit::Record) -> Result<probity_audit::Entry> {
        self.journal.append(rec).await
    }

    /// The store (opened afresh: it follows ingests and retention).
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.config.store)?)
    }

    /// The user list, re-read when `users.json` changes (a disabled user's
    /// sessions stop working at their next request).
    pub fn users(&self) -> Result<Arc<Users>> {
        let path = self.config.store.join("users.json");
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::Start(format!("{}: {e}", path.display())))?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let mut cache = self.users.lock().expect("users cache");
        if let Some((t, l, u)) = cache.as_ref()
            && (*t, *l) == stamp
        {
            return Ok(u.clone());
        }
        let users = Arc::new(self.store()?.users()?);
        *cache = Some((stamp.0, stamp.1, users.clone()));
        Ok(users)
    }

    /// Brings new findings from the store's register into review, and drops
    /// those retention purged, when the register has changed.
    pub async fn sync(&self) -> Result<usize> {
        let path = self.config.store.join("findings").join("register.jsonl");
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp.is_none() || *self.register_seen.lock().expect("sync") == stamp {
            return Ok(0);
        }
        let store = self.store()?;
        let units = data::person_units(&store).await.unwrap_or_default();
        *self.units.lock().expect("units") = Some(Arc::new(units.clone()));
        let added = data::sync_register(&store, &self.db, &units).await?;
        *self.register_seen.lock().expect("sync") = stamp;
        Ok(added)
    }
}

/// The listener with `TCP_NODELAY` on every connection. A page is written
/// in more than one piece (head, then body); with Nagle's algorithm on, the
/// second piece waits for the client's delayed acknowledgement, which adds
/// tens of milliseconds to every keep-alive response.
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt as _;
    fn set(tcp: &mut tokio::net::TcpStream) {
        // Only a latency optimisation: a socket that refuses it still works.
        let _ = tcp.set_nodelay(true);
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

fn handler(ep: Endpoint, m: MethodFilter) -> MethodRouter<Shared> {
    use Endpoint as E;
    match ep {
        E::LoginForm => on(m, auth::login_form),
        E::Login => on(m, auth::login),
        E::Logout => on(m, auth::logout),
        E::Home => on(m, pages::home),
        E::Dashboard => on(m, pages::dashboard),
        E::Queue => on(m, pages::queue),
        E::Finding => on(m, pages::finding),
        E::Decide => on(m, pages::decide),
        E::RevealForm => on(m, pages::reveal_form),
        E::Reveal => on(m, pages::reveal),
        E::Case => on(m, pages::case),
        E::Quality => on(m, pages::quality),
        E::Audit => on(m, pages::audit),
        E::Me => on(m, pages::me),
        E::MeReport => on(m, pages::me_report),
        E::MeRespond => on(m, pages::me_respond),
        E::MeConsent => on(m, pages::me_consent),
        E::MeConsentWithdraw => on(m, pages::me_consent_withdraw),
        E::Rep => on(m, pages::rep),
        E::AdminUsers => on(m, pages::admin_users),
        E::Asset => on(m, pages::asset),
        E::ApiOpenapi => on(m, api::openapi),
        E::ApiMe => on(m, api::me),
        E::ApiFindings => on(m, api::findings),
        E::ApiFinding => on(m, api::finding),
        E::ApiDecide => on(m, api::decide),
        E::ApiQuality => on(m, api::quality),
        E::ApiAudit => on(m, api::audit),
        E::ApiMeFindings => on(m, api::me_findings),
    }
}

/// The application: every route of [`ROUTES`] behind the guard, the host
/// check before anything else, security headers on every response (404s
/// and 421s included).
pub fn app(state: Shared) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<Shared>> = BTreeMap::new();
    for r in ROUTES {
        let m = if r.method == "POST" {
            MethodFilter::POST
        } else {
            MethodFilter::GET
        };
        let h = handler(r.endpoint, m);
        let merged = match by_path.remove(r.path) {
            Some(existing) => existing.merge(h),
            None => h,
        };
        by_path.insert(r.path, merged);
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::host_check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::security_headers,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// Runs the server until Ctrl-C. Refuses a non-loopback address unless
/// `behind_tls` is set (session cookies must not cross a network in
/// clear), and `behind_tls` without a host name ([`Config::check`]). The
/// listener is bound first and the address it got (port 0 picks one) is
/// the one the host check expects.
pub async fn serve(mut config: Config, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    config.check()?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| Error::Start(format!("cannot listen on {}: {e}", config.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Start(e.to_string()))?;
    config.bind = addr;
    let state = AppState::open(config).await?;
    ready(addr);
    let bg = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Err(e) = bg.sync().await {
                eprintln!("probity serve: register sync failed: {e}");
            }
        }
    });
    axum::serve(
        nodelay(listener),
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| Error::Start(e.to_string()))
}
