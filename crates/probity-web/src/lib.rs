//! Probity's web UI and JSON API.
//!
//! Server-rendered HTML with SVG charts (no JavaScript at all: the CSP
//! forbids scripts), over review state in SQLite or PostgreSQL
//! (probity-review) and the store. Every route and its authorization rule
//! is one row of [`routes::ROUTES`]; one guard enforces the rule, the
//! session, its idle timeout and CSRF for every state change.

pub mod api;
pub mod auth;
pub mod data;
pub mod pages;
pub mod routes;
pub mod svg;
pub mod workflow;

use std::collections::BTreeMap;
use std::net::SocketAddr;
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
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the user is told. Internal errors are logged on the server and
    /// the user sees only that something failed: no SQL, paths or driver
    /// messages reach a browser.
    pub fn public_message(&self) -> String {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            "Something went wrong on the server; the error is in the server's log.".into()
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
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
    /// `__Host-`), HSTS is sent, and a non-loopback bind is allowed.
    pub behind_tls: bool,
}

impl Config {
    /// Defaults for a store: loopback, 30-minute idle timeout, 12-hour
    /// sessions.
    pub fn new(store: &Path) -> Config {
        Config {
            store: store.to_path_buf(),
            database: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            behind_tls: false,
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
        let store = Store::open(&config.store)?;
        // Refuses a store whose governance file was edited by hand.
        store.governance()?;
        let url = config
            .database
            .clone()
            .unwrap_or_else(|| ReviewDb::store_url(store.root()));
        let db = ReviewDb::open(&url).await?;
        let state = Arc::new(AppState {
            config,
            db,
            limiter: auth::Limiter::default(),
            users: Mutex::new(None),
            register_seen: Mutex::new(None),
            units: Mutex::new(None),
        });
        state.sync().await?;
        Ok(state)
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

/// The application: every route of [`ROUTES`] behind the guard, security
/// headers on every response (404s included).
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
            auth::security_headers,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// Runs the server until Ctrl-C. Refuses a non-loopback address unless
/// `behind_tls` is set: session cookies must not cross a network in clear.
pub async fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    if !config.bind.ip().is_loopback() && !config.behind_tls {
        return Err(Error::Start(format!(
            "refusing to listen on {} without TLS: sessions would cross the network in clear. Put Probity behind a TLS-terminating proxy and pass --behind-tls-proxy, or bind 127.0.0.1",
            config.bind
        )));
    }
    let state = AppState::open(config.clone()).await?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| Error::Start(format!("cannot listen on {}: {e}", config.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Start(e.to_string()))?;
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
