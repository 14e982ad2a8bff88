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
//! - Sign-ins are limited per account and per client address ([`Limiter`]):
//!   a check reserves its place before the password is verified, so
//!   concurrent guesses count too; lock-outs are audited.
//! - The client address is the TCP peer; `X-Forwarded-For` is believed
//!   only from a configured trusted proxy ([`client_ip`]).
//! - Every request must name a host the server has ([`host_check`]): a
//!   page elsewhere that rebinds its own name to this server's address
//!   (DNS rebinding) gets 421.
//! - After sign-in, `next` is followed only if it is a path on this site
//!   ([`safe_next`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
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

/// How long failures count.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures (and checks in flight) an account may have in [`WINDOW`].
pub const PER_ACCOUNT: usize = 5;
/// Failures (and checks in flight) an address may have in [`WINDOW`]
/// before it is slowed down.
pub const PER_ADDRESS: usize = 20;
/// Accounts and addresses remembered at most (each).
pub const KEYS: usize = 10_000;
/// Failure times kept per key at most.
const KEPT: usize = 64;

/// Sign-in limits.
///
/// - **Per account**: at most [`PER_ACCOUNT`] failures in [`WINDOW`],
///   counting the checks in flight. [`Limiter::begin`] reserves a place
///   before the password is verified, so forty guesses sent at once are
///   not all checked: five are, the rest are refused.
/// - **Per address**: failures for any name count against the client
///   address. Once an address has [`PER_ADDRESS`] (failures and checks in
///   flight), it may still sign in to an account that has no recent
///   failure and no check in flight, but not to an account with failures
///   and not with a name that is no account. Made-up names thus slow their
///   address down without locking out the real users behind it (behind a
///   TLS proxy that is everyone), and they are never remembered by name.
/// - **Bounded memory**: at most `capacity` accounts and `capacity`
///   addresses are remembered; past that the least recently used is
///   forgotten. Accounts and addresses are kept apart, so spraying
///   addresses cannot push accounts' failures out.
#[derive(Debug)]
pub struct Limiter {
    tables: Mutex<(Lru, Lru)>,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter::new(KEYS)
    }
}

/// Keys in least-recently-used order.
#[derive(Debug)]
struct Lru {
    cap: usize,
    tick: u64,
    slots: HashMap<String, Slot>,
    order: BTreeMap<u64, String>,
}

#[derive(Debug)]
struct Slot {
    used: u64,
    failures: VecDeque<Instant>,
    in_flight: usize,
}

impl Slot {
    fn load(&self) -> usize {
        self.failures.len() + self.in_flight
    }

    /// Seconds until the oldest failure stops counting (at least 1).
    fn wait(&self, now: Instant) -> u64 {
        let left = match self.failures.front() {
            Some(first) => WINDOW.saturating_sub(now.duration_since(*first)),
            None => Duration::ZERO,
        };
        left.as_secs().max(1)
    }
}

impl Lru {
    fn new(cap: usize) -> Lru {
        Lru {
            cap: cap.max(1),
            tick: 0,
            slots: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The slot of `key`, created if absent (forgetting the least recently
    /// used key when full) and marked used; failures past the window are
    /// dropped.
    fn touch(&mut self, key: &str, now: Instant) -> &mut Slot {
        self.tick += 1;
        let tick = self.tick;
        if let Some(slot) = self.slots.get_mut(key) {
            self.order.remove(&slot.used);
            slot.used = tick;
        } else {
            while self.slots.len() >= self.cap {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                self.slots.remove(&oldest);
            }
            self.slots.insert(
                key.to_string(),
                Slot {
                    used: tick,
                    failures: VecDeque::new(),
                    in_flight: 0,
                },
            );
        }
        self.order.insert(tick, key.to_string());
        let slot = self.slots.get_mut(key).expect("inserted above");
        while slot
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            slot.failures.pop_front();
        }
        slot
    }
}

/// A sign-in check holding its reserved places. Say how it went with
/// [`Attempt::failed`] or [`Attempt::succeeded`]; dropped without either
/// (an error, or the client went away), it frees its places and counts
/// nothing.
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a Limiter,
    account: Option<String>,
    address: String,
    open: bool,
}

impl Limiter {
    /// A limiter remembering at most `capacity` accounts and `capacity`
    /// addresses.
    pub fn new(capacity: usize) -> Limiter {
        Limiter {
            tables: Mutex::new((Lru::new(capacity), Lru::new(capacity))),
        }
    }

    /// Reserves a sign-in check from `address`, for `account` if the name
    /// is an account (`None` for a name that is no account). Refused with
    /// the seconds to wait when a limit is reached.
    pub fn begin(&self, account: Option<&str>, address: &str) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let mut t = self.tables.lock().expect("limiter");
        let (accounts, addresses) = &mut *t;
        let a = addresses.touch(address, now);
        let (address_over, address_wait) = (a.load() >= PER_ADDRESS, a.wait(now));
        if let Some(name) = account {
            let u = accounts.touch(name, now);
            if u.load() >= PER_ACCOUNT {
                return Err(u.wait(now));
            }
            if address_over && u.load() > 0 {
                return Err(address_wait);
            }
            u.in_flight += 1;
        } else if address_over {
            return Err(address_wait);
        }
        addresses.touch(address, now).in_flight += 1;
        Ok(Attempt {
            limiter: self,
            account: account.map(str::to_string),
            address: address.to_string(),
            open: true,
        })
    }

    /// How many accounts and addresses are remembered.
    pub fn keys(&self) -> usize {
        let t = self.tables.lock().expect("limiter");
        t.0.slots.len() + t.1.slots.len()
    }

    /// Whether `address` is remembered.
    pub fn remembers_address(&self, address: &str) -> bool {
        let t = self.tables.lock().expect("limiter");
        t.1.slots.contains_key(address)
    }

    fn finish(&self, account: Option<&str>, address: &str, failed: Option<bool>) {
        let now = Instant::now();
        let mut t = self.tables.lock().expect("limiter");
        let (accounts, addresses) = &mut *t;
        let settle = |slot: &mut Slot, clear: bool| {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            if failed == Some(true) {
                if slot.failures.len() >= KEPT {
                    slot.failures.pop_front();
                }
                slot.failures.push_back(now);
            }
            if clear {
                slot.failures.clear();
            }
        };
        if let Some(name) = account {
            settle(accounts.touch(name, now), failed == Some(false));
        }
        settle(addresses.touch(address, now), false);
    }
}

impl Attempt<'_> {
    /// The password was wrong (or the account disabled): one failure for
    /// the account and the address.
    pub fn failed(mut self) {
        self.open = false;
        self.limiter
            .finish(self.account.as_deref(), &self.address, Some(true));
    }

    /// Signed in: the account's failures are forgotten (the address's stay).
    pub fn succeeded(mut self) {
        self.open = false;
        self.limiter
            .finish(self.account.as_deref(), &self.address, Some(false));
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.open {
            self.limiter
                .finish(self.account.as_deref(), &self.address, None);
        }
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy;
/// then the right-most `X-Forwarded-For` address that is not itself a
/// trusted proxy (a client can put anything to the left of what the
/// proxies append, so only the right-most untrusted hop is believed). An
/// unreadable hop there means the proxy did not append one: the peer is
/// used. `None` without a peer (in-process tests).
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer.map(|p| p.to_canonical())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut last = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return Some(peer);
        };
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last = ip;
    }
    Some(last)
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

fn client(state: &Shared, req: &Request<Body>) -> String {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    client_ip(req.headers(), peer, &state.config.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "local".into())
}

/// Whether `name` can be a configured host name: letters, digits, `-` and
/// `.`, or a bracketed IPv6 address, optionally with `:PORT`.
pub fn valid_host_name(name: &str) -> bool {
    let (host, port) = split_host(name);
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// Splits `host[:port]` (`[v6]:port` for IPv6). Anything after `]` but a
/// port keeps the whole text as the host, which then matches nothing.
fn split_host(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(i) => {
                let (h, rest) = authority.split_at(i + 1);
                match (rest, rest.strip_prefix(':')) {
                    ("", _) => (h, None),
                    (_, Some(port)) => (h, Some(port)),
                    (_, None) => (authority, None),
                }
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

/// Whether a request naming `authority` (its `Host`) is for this server:
/// one of `hosts` (ignoring the port unless the entry names one), or, when
/// bound to loopback, `localhost`, `127.0.0.1` or `[::1]` with the bound
/// port (or no port when bound to 80).
pub fn host_allowed(config: &crate::Config, authority: &str) -> bool {
    let (host, port) = split_host(authority);
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return false;
    }
    for h in &config.hosts {
        let (ch, cport) = split_host(h);
        if ch.eq_ignore_ascii_case(host) && cport.is_none_or(|cp| Some(cp) == port) {
            return true;
        }
    }
    if config.bind.ip().is_loopback() {
        let bound = config.bind.port();
        let port_ok = match port {
            Some(p) => p.parse::<u16>() == Ok(bound),
            None => bound == 80,
        };
        let name_ok = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(host));
        return name_ok && port_ok;
    }
    false
}

/// Refuses requests for host names this server does not have (421
/// Misdirected Request), before any route or file: a page on another site
/// that points its own name at this address (DNS rebinding) must not reach
/// Probity with the victim's browser. The host is the request target's
/// authority if it has one, else the single `Host` header; none is refused.
pub async fn host_check(State(state): State<Shared>, req: Request<Body>, next: Next) -> Response {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let authority = match (req.uri().authority(), hosts.next(), hosts.next()) {
        (Some(a), _, _) => Some(a.as_str().to_string()),
        (None, Some(h), None) => h.to_str().ok().map(str::to_string),
        _ => None,
    };
    if authority.is_some_and(|a| host_allowed(&state.config, &a)) {
        return next.run(req).await;
    }
    let msg = "This server does not answer to that host name. Use the address your administrator gave you.";
    let kind = if req.uri().path().starts_with("/api/") {
        Kind::Api
    } else {
        Kind::Page
    };
    deny(kind, StatusCode::MISDIRECTED_REQUEST, msg)
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
    let next = q.get("next").and_then(|n| safe_next(n)).unwrap_or_default();
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

/// Longest `next` followed after sign-in.
pub const MAX_NEXT: usize = 2048;

/// `next` if it is a path on this site to go to after signing in: exactly
/// one leading `/` (not `//` or `/\`, which browsers read as another host),
/// only visible ASCII (no backslash, whitespace or control character
/// anywhere: browsers drop tabs and newlines, so `/<TAB>/example.org` is
/// `//example.org`), not the sign-in page itself, at most [`MAX_NEXT`]
/// bytes. Anything else is `None`, and the caller goes to the role's home.
pub fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let ok = b.len() <= MAX_NEXT
        && b.first() == Some(&b'/')
        && b.get(1).is_none_or(|c| *c != b'/' && *c != b'\\')
        && b.iter().all(|c| (b'!'..=b'~').contains(c) && *c != b'\\')
        && path != "/login"
        && !path.starts_with("/login/");
    ok.then_some(next)
}

/// `POST /login`.
pub async fn login(State(state): State<Shared>, req: Request<Body>) -> Response {
    match login_inner(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn login_inner(state: &Shared, req: Request<Body>) -> crate::Result<Response> {
    let address = client(state, &req);
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
    let users = state.users()?;
    let user = users.get(&account).cloned();
    let known = user.as_ref().map(|u| u.id.as_str());
    let attempt = match state.limiter.begin(known, &address) {
        Ok(a) => a,
        Err(wait) => {
            store.audit()?.append(
                Record::new(&audit_name, "web.login.locked", "")
                    .details(json!({"address": address, "retry_after_s": wait})),
            )?;
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                pages::login_page(
                    cookie(&headers, login_cookie(secure)).unwrap_or_default(),
                    safe_next(&form.next).unwrap_or_default(),
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
    };
    let password = form.password.clone();
    let u2 = user.clone();
    let ok = tokio::task::spawn_blocking(move || {
        probity_govern::verify_password(u2.as_ref(), &password)
    })
    .await
    .unwrap_or(false);
    if !ok {
        attempt.failed();
        store.audit()?.append(
            Record::new(&audit_name, "web.login.failed", "").details(json!({"address": address})),
        )?;
        return Ok((
            StatusCode::UNAUTHORIZED,
            pages::login_page(
                cookie(&headers, login_cookie(secure)).unwrap_or_default(),
                safe_next(&form.next).unwrap_or_default(),
                Some("Wrong user name or password, or the account is disabled."),
            ),
        )
            .into_response());
    }
    attempt.succeeded();
    let user = user.expect("verified users exist");
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
    let next = safe_next(&form.next).unwrap_or(pages::home_path(user.role));
    let mut res = Redirect::to(next).into_response();
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
