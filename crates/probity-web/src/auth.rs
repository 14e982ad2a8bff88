//! Sign-in, sessions, the guard that enforces every route's rule and CSRF,
//! login rate limiting and security headers.
//!
//! - Session ids are 256 random bits, sent only as an `HttpOnly`,
//!   `SameSite=Strict` cookie (`Secure` and `__Host-` behind TLS); only their
//!   hash is stored. A new id is issued at every sign-in and any session the
//!   browser carried before is ended (no fixation).
//! - Sessions end after the idle timeout and after an absolute lifetime,
//!   and at the next request after the user is disabled or their password
//!   reset.
//! - Every POST carries the session's CSRF token (form field `csrf` or
//!   header `x-csrf-token`); the sign-in form uses a double-submit cookie.
//! - Failed sign-ins are counted per account and per client address;
//!   after 5 (account) or 20 (address) in 15 minutes, sign-in is refused
//!   for 15 minutes, and the lock-out is audited.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use probity_audit::Record;
use probity_policy::{Role, User};
use serde_json::json;

use crate::routes::{self, Kind, Rule};
use crate::{Error, Shared, pages};

/// The signed-in user of a request (set by the guard).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The session's CSRF token (for forms).
    pub csrf: String,
}

impl Caller {
    /// The user's role.
    pub fn role(&self) -> Role {
        self.user.role
    }
}

tokio::task_local! {
    /// The signed-in user of the request being handled, for pages rendered
    /// outside a handler (error pages keep the navigation).
    pub static CALLER: Option<Caller>;
}

/// The signed-in user of the request being handled, if any.
pub fn current() -> Option<Caller> {
    CALLER.try_with(|c| c.clone()).ok().flatten()
}

/// Random hex of `n` bytes from the operating system.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equality that takes the same time wherever the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's name.
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-probity_session"
    } else {
        "probity_session"
    }
}

/// The sign-in form's CSRF cookie.
pub fn login_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-probity_login"
    } else {
        "probity_login"
    }
}

fn set_cookie(name: &str, value: &str, secure: bool, clear: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if clear {
        c.push_str("; Max-Age=0");
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Failed sign-in counters.
#[derive(Debug, Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_ACCOUNT: usize = 5;
const PER_ADDRESS: usize = 20;

impl Limiter {
    fn recent(&self, key: &str) -> (usize, Option<Instant>) {
        let mut f = self.failures.lock().expect("limiter");
        let v = f.entry(key.to_string()).or_default();
        v.retain(|t| t.elapsed() < WINDOW);
        (v.len(), v.first().copied())
    }

    /// Seconds until sign-in is allowed again, if it is locked for this
    /// account or address.
    pub fn locked(&self, account: &str, address: &str) -> Option<u64> {
        for (key, max) in [
            (format!("u:{account}"), PER_ACCOUNT),
            (format!("a:{address}"), PER_ADDRESS),
        ] {
            let (n, first) = self.recent(&key);
            if n >= max {
                let wait = WINDOW.saturating_sub(first.map(|f| f.elapsed()).unwrap_or_default());
                return Some(wait.as_secs().max(1));
            }
        }
        None
    }

    /// Records a failure.
    pub fn fail(&self, account: &str, address: &str) {
        let mut f = self.failures.lock().expect("limiter");
        if f.len() > 100_000 {
            f.retain(|_, v| v.iter().any(|t| t.elapsed() < WINDOW));
        }
        for key in [format!("u:{account}"), format!("a:{address}")] {
            f.entry(key).or_default().push(Instant::now());
        }
    }

    /// Clears an account's failures after a successful sign-in.
    pub fn succeed(&self, account: &str) {
        self.failures
            .lock()
            .expect("limiter")
            .remove(&format!("u:{account}"));
    }
}

fn client(req: &Request<Body>) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

fn micros(d: Duration) -> i64 {
    d.as_micros() as i64
}

/// The signed-in user of a request, if its session is live.
pub async fn caller(state: &Shared, headers: &HeaderMap) -> crate::Result<Option<Caller>> {
    let secure = state.config.behind_tls;
    let Some(token) = cookie(headers, session_cookie(secure)) else {
        return Ok(None);
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let now = probity_review::now_micros();
    let Some(s) = state
        .db
        .session(
            token,
            now,
            micros(state.config.idle_timeout),
            micros(state.config.absolute_timeout),
        )
        .await?
    else {
        return Ok(None);
    };
    let users = state.users()?;
    let Some(user) = users.get(&s.user_id).filter(|u| !u.disabled) else {
        state.db.session_end(token).await?;
        return Ok(None);
    };
    // A password set after the session began ends it.
    if let Some(set) = user
        .password_set_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        && set.as_microsecond() > s.created_at
    {
        state.db.session_end(token).await?;
        return Ok(None);
    }
    Ok(Some(Caller {
        user: user.clone(),
        csrf: s.csrf,
    }))
}

fn deny(kind: Kind, status: StatusCode, msg: &str) -> Response {
    match kind {
        Kind::Api => (status, axum::Json(json!({"error": msg}))).into_response(),
        _ => (status, pages::error_page(status, msg)).into_response(),
    }
}

/// The guard: looks up the route's rule, resolves the session, refuses
/// what the rule does not allow (audited for signed-in users), and checks
/// CSRF on every POST.
pub async fn guard(State(state): State<Shared>, req: Request<Body>, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return pages::not_found().await.into_response();
    };
    let Some(route) = routes::find(req.method(), &path) else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let who = match caller(&state, req.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let role = who.as_ref().map(|c| c.role());
    let consent = match (route.rule, &who) {
        (Rule::Case, Some(c)) if c.role() == Role::StaffRep => {
            let person = req
                .uri()
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            state
                .db
                .has_consent(&person, &c.user.id)
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    let has_person = who.as_ref().is_some_and(|c| c.user.person.is_some());
    if !route.rule.allows(role, consent, has_person) {
        let Some(c) = &who else {
            return match route.kind {
                Kind::Page if req.method() == Method::GET => {
                    let next = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    let enc: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                    Redirect::to(&format!("/login?next={enc}")).into_response()
                }
                _ => deny(route.kind, StatusCode::UNAUTHORIZED, "Sign in first."),
            };
        };
        let msg = format!(
            "Your role ({}) may not use this page: it is for {}.",
            c.role(),
            route.rule.describe()
        );
        if let Ok(store) = state.store()
            && let Ok(mut log) = store.audit()
        {
            let _ = log.append(
                Record::new(&c.user.id, "web.refused", req.uri().path()).details(json!({
                    "method": req.method().as_str(),
                    "route": route.path,
                    "role": c.role().id(),
                    "rule": route.rule.describe(),
                })),
            );
        }
        return CALLER.sync_scope(Some(c.clone()), || {
            deny(route.kind, StatusCode::FORBIDDEN, &msg)
        });
    }
    let mut req = req;
    if route.changes_state() {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, 256 * 1024).await {
            Ok(b) => b,
            Err(_) => {
                return deny(
                    route.kind,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request too large.",
                );
            }
        };
        let from_form = || {
            form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned())
        };
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(from_form);
        let expected = match (&who, route.rule) {
            (_, Rule::Public) => {
                cookie(&parts.headers, login_cookie(state.config.behind_tls)).map(str::to_string)
            }
            (Some(c), _) => Some(c.csrf.clone()),
            (None, _) => None,
        };
        let ok = matches!((&sent, &expected), (Some(s), Some(e)) if e.len() >= 32 && same(s, e));
        if !ok {
            return CALLER.sync_scope(who.clone(), || {
                deny(
                    route.kind,
                    StatusCode::FORBIDDEN,
                    "This form has expired or did not come from Probity (CSRF check failed). Reload the page and try again.",
                )
            });
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    if let Some(c) = &who {
        req.extensions_mut().insert(c.clone());
    }
    CALLER.scope(who, next.run(req)).await
}

/// Security headers on every response.
pub async fn security_headers(
    State(state): State<Shared>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let is_asset = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !is_asset {
        set(h, "cache-control", "no-store");
    }
    if state.config.behind_tls {
        set(h, "strict-transport-security", "max-age=31536000");
    }
    res
}

/// `GET /login`: the form, with a fresh double-submit CSRF cookie.
pub async fn login_form(
    State(state): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let token = random_hex(32);
    let next = q.get("next").map(String::as_str).unwrap_or("/");
    let mut res = pages::login_page(&token, next, None).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            login_cookie(state.config.behind_tls),
            &token,
            state.config.behind_tls,
            false,
        ),
    );
    res
}

/// The sign-in form.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

fn safe_next(next: &str) -> &str {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.starts_with("/login")
    {
        next
    } else {
        "/"
    }
}

/// `POST /login`.
pub async fn login(State(state): State<Shared>, req: Request<Body>) -> Response {
    match login_inner(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn login_inner(state: &Shared, req: Request<Body>) -> crate::Result<Response> {
    let address = client(&req);
    let headers = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| Error::BadRequest("request too large".into()))?;
    let form: LoginForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| Error::BadRequest("the sign-in form is incomplete".into()))?;
    let account = form.user.trim().to_string();
    let secure = state.config.behind_tls;
    let store = state.store()?;
    let audit_name = if probity_policy::access::valid_user_id(&account) {
        account.clone()
    } else {
        "(invalid user name)".into()
    };
    if let Some(wait) = state.limiter.locked(&account, &address) {
        store.audit()?.append(
            Record::new(&audit_name, "web.login.locked", "")
                .details(json!({"address": address, "retry_after_s": wait})),
        )?;
        let mut res = (
            StatusCode::TOO_MANY_REQUESTS,
            pages::login_page(
                cookie(&headers, login_cookie(secure)).unwrap_or_default(),
                &form.next,
                Some(&format!(
                    "Too many failed sign-ins. Try again in {} minutes, or ask an administrator.",
                    wait.div_ceil(60)
                )),
            ),
        )
            .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(res);
    }
    let users = state.users()?;
    let user = users.get(&account).cloned();
    let password = form.password.clone();
    let u2 = user.clone();
    let ok = tokio::task::spawn_blocking(move || {
        probity_govern::verify_password(u2.as_ref(), &password)
    })
    .await
    .unwrap_or(false);
    if !ok {
        state.limiter.fail(&account, &address);
        store.audit()?.append(
            Record::new(&audit_name, "web.login.failed", "").details(json!({"address": address})),
        )?;
        return Ok((
            StatusCode::UNAUTHORIZED,
            pages::login_page(
                cookie(&headers, login_cookie(secure)).unwrap_or_default(),
                &form.next,
                Some("Wrong user name or password, or the account is disabled."),
            ),
        )
            .into_response());
    }
    let user = user.expect("verified users exist");
    state.limiter.succeed(&account);
    // End whatever session the browser carried: a fixed id never survives.
    if let Some(old) = cookie(&headers, session_cookie(secure)) {
        state.db.session_end(old).await?;
    }
    let token = random_hex(32);
    let csrf = random_hex(32);
    let now = probity_review::now_micros();
    state
        .db
        .session_create(&token, &user.id, &csrf, now)
        .await?;
    store.audit()?.append(
        Record::new(&user.id, "web.login", "")
            .details(json!({"address": address, "role": user.role.id()})),
    )?;
    let mut res = Redirect::to(safe_next(&form.next)).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), &token, secure, false),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(login_cookie(secure), "", secure, true),
    );
    Ok(res)
}

/// `POST /logout`.
pub async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let secure = state.config.behind_tls;
    if let Some(token) = cookie(&headers, session_cookie(secure))
        && let Err(e) = state.db.session_end(token).await
    {
        return Error::from(e).into_response();
    }
    let mut res = Redirect::to("/login").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie(secure), "", secure, true),
    );
    res
}
