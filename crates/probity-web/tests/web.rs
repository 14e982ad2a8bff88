//! The web UI's safeguards, driven in-process (no network except one
//! loopback server): the authorization matrix generated from the route
//! table, CSRF, session fixation, SQL injection in every filter, path
//! traversal, rate limiting, client addresses behind proxies, the host
//! check, redirects after sign-in, audited views, data categories by
//! purpose, idle timeout, security headers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use probity_detect::finding::{Evidence, FindingRecord};
use probity_govern::{Register, Registered};
use probity_policy::Role;
use probity_web::routes::{Kind, ROUTES, Rule};
use probity_web::{AppState, Config, Shared};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

struct Fixture {
    _dir: tempfile::TempDir,
    state: Shared,
    subject_person: String,
    other_person: String,
}

fn finding(id: &str, person: &str, scenario: &str, score: f64) -> Registered {
    let mut facts = BTreeMap::new();
    facts.insert(
        "claimed_hours".to_string(),
        probity_detect::finding::Fact::Num(6.0),
    );
    Registered {
        finding: FindingRecord {
            finding_id: id.into(),
            scenario: scenario.into(),
            detector: "overtime_without_presence".into(),
            person_id: person.into(),
            period_start: "2026-03-02".into(),
            period_end: "2026-03-09".into(),
            score,
            summary: format!("Overtime claimed with no presence ({id})"),
            facts,
            evidence: vec![Evidence {
                table: "overtime_claims".into(),
                id: format!("c-{id}"),
            }],
        },
        status: "new".into(),
        status_at: "2026-03-10T00:00:00Z".into(),
        status_reason: None,
        status_by: None,
        first_run: "run-1".into(),
        last_seen: "2026-03-10T00:00:00Z".into(),
    }
}

async fn fixture_with(config: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = probity_store::Store::init_with_admin(&root, "admin").unwrap();
    let today = probity_detect::governance_today(&store);
    let text = probity_govern::governance_approving_all("web tests", today, 365);
    probity_govern::apply_governance(&store, "admin", &text, Path::new("tests")).unwrap();
    for (id, role, person) in [
        ("ana", Role::Analyst, None),
        ("rev", Role::Reviewer, None),
        ("rev2", Role::Reviewer, None),
        ("aud", Role::Auditor, None),
        ("sub", Role::Subject, Some("P0001")),
        ("rep", Role::StaffRep, None),
    ] {
        probity_govern::user_add(&store, "admin", id, role, person).unwrap();
    }
    for id in ["admin", "ana", "rev", "rev2", "aud", "sub", "rep"] {
        probity_govern::user_reset(&store, "admin", id, PASSWORD).unwrap();
    }
    let subject_person = store.person_pseudonym("P0001");
    let other_person = store.person_pseudonym("P0002");
    let mut reg = Register::load(&store).unwrap();
    for (id, person, scen, score) in [
        ("F1", &subject_person, "S2", 0.9),
        ("F2", &other_person, "S2", 0.8),
        ("F3", &other_person, "S5", 0.7),
        ("F4", &other_person, "S5", 0.4),
    ] {
        reg.items
            .insert(id.to_string(), finding(id, person, scen, score));
    }
    reg.save().unwrap();
    let mut cfg = Config::new(&root);
    config(&mut cfg);
    let state = AppState::open(cfg).await.unwrap();
    state
        .db
        .grant_consent(&subject_person, "rep", "sub", probity_review::now_micros())
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        state,
        subject_person,
        other_person,
    }
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

/// The `Host` the test server answers to (loopback, the default port).
const HOST: &str = "127.0.0.1:8080";

/// Sends a request, naming the server's host if the request names none.
async fn send(f: &Fixture, mut req: Request<Body>) -> Resp {
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, header::HeaderValue::from_static(HOST));
    }
    send_raw(f, req).await
}

/// Sends a request as it is.
async fn send_raw(f: &Fixture, req: Request<Body>) -> Resp {
    let app = probity_web::app(f.state.clone());
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name && !val.is_empty()).then(|| val.to_string())
        })
}

fn hidden_csrf(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &html[i + 19..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn get(path: &str, session: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(s) = session {
        b = b.header(header::COOKIE, format!("probity_session={s}"));
    }
    b.body(Body::empty()).unwrap()
}

fn post_form(path: &str, session: Option<&str>, body: &str) -> Request<Body> {
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(s) = session {
        b = b.header(header::COOKIE, format!("probity_session={s}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in through the form; returns (session token, CSRF token).
async fn login_with(f: &Fixture, user: &str, password: &str, carry: Option<&str>) -> Resp {
    let form = send(f, get("/login", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    let token = set_cookie(&form, "probity_login").expect("login cookie");
    assert_eq!(hidden_csrf(&form.body), token);
    let mut cookie = format!("probity_login={token}");
    if let Some(c) = carry {
        cookie.push_str(&format!("; probity_session={c}"));
    }
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(format!(
            "csrf={token}&user={}&password={}&next=%2F",
            enc(user),
            enc(password)
        )))
        .unwrap();
    send(f, req).await
}

async fn login(f: &Fixture, user: &str) -> (String, String) {
    let r = login_with(f, user, PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{user}: {}", r.body);
    let session = set_cookie(&r, "probity_session").expect("session cookie");
    let me = send(f, get("/api/me", Some(&session))).await;
    assert_eq!(me.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    (session, v["csrf"].as_str().unwrap().to_string())
}

fn example_path(path: &str, f: &Fixture) -> String {
    path.replace("{id}", "F1")
        .replace("{person}", &f.subject_person)
        .replace("{file}", "app.css")
}

fn example_body(path: &str, csrf: &str) -> String {
    match path {
        "/findings/{id}/reveal" => {
            format!("csrf={csrf}&reason={}", enc("authorization matrix check"))
        }
        "/me/findings/{id}/respond" => {
            format!("csrf={csrf}&body={}", enc("I was at court that day"))
        }
        "/me/consent" | "/me/consent/withdraw" => format!("csrf={csrf}&rep=nobody"),
        "/login" => format!("csrf={csrf}&user=nobody&password=wrong-password"),
        // Passes the guard, then the handler refuses the missing step (400).
        _ => format!("csrf={csrf}"),
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Allowed,
    Denied,
}

fn classify(kind: Kind, anonymous: bool, r: &Resp) -> Outcome {
    let to_login = r
        .headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.starts_with("/login"));
    let denied = match (anonymous, kind) {
        (true, Kind::Page) => {
            (r.status == StatusCode::UNAUTHORIZED && r.body.contains("Sign in first"))
                || (r.status == StatusCode::SEE_OTHER && to_login)
        }
        (true, _) => r.status == StatusCode::UNAUTHORIZED && r.body.contains("Sign in first"),
        (false, _) => r.status == StatusCode::FORBIDDEN && r.body.contains("may not use this page"),
    };
    if denied {
        Outcome::Denied
    } else {
        Outcome::Allowed
    }
}

#[tokio::test]
async fn authorization_matrix_every_route_every_role() {
    let f = fixture().await;
    let mut mismatches = vec![];
    let mut checked = 0;
    let roles: Vec<Option<(&str, Role)>> = vec![
        None,
        Some(("admin", Role::Admin)),
        Some(("ana", Role::Analyst)),
        Some(("rev", Role::Reviewer)),
        Some(("aud", Role::Auditor)),
        Some(("sub", Role::Subject)),
        Some(("rep", Role::StaffRep)),
    ];
    // Every role in the policy is covered.
    for r in Role::ALL {
        assert!(
            roles.iter().flatten().any(|(_, x)| x == r),
            "{r:?} missing from the matrix"
        );
    }
    for who in &roles {
        let mut session = match who {
            Some((u, _)) => Some(login(&f, u).await),
            None => None,
        };
        for route in ROUTES {
            let role = who.map(|w| w.1);
            let expected = if route.rule.allows(
                role,
                role == Some(Role::StaffRep),
                role == Some(Role::Subject),
            ) {
                Outcome::Allowed
            } else {
                Outcome::Denied
            };
            let path = example_path(route.path, &f);
            let (tok, csrf) = match &session {
                Some((s, c)) => (Some(s.as_str()), c.clone()),
                None => (None, String::new()),
            };
            let req = if route.method == "GET" {
                get(&path, tok)
            } else if route.rule == Rule::Public {
                // The sign-in form's own double-submit token.
                let form = send(&f, get("/login", None)).await;
                let t = set_cookie(&form, "probity_login").unwrap();
                let mut cookie = format!("probity_login={t}");
                if let Some(s) = tok {
                    cookie.push_str(&format!("; probity_session={s}"));
                }
                Request::post(&path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, cookie)
                    .body(Body::from(example_body(route.path, &t)))
                    .unwrap()
            } else if route.kind == Kind::Api {
                let mut b = Request::post(&path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("x-csrf-token", &csrf);
                if let Some(s) = tok {
                    b = b.header(header::COOKIE, format!("probity_session={s}"));
                }
                b.body(Body::from("{}")).unwrap()
            } else {
                post_form(&path, tok, &example_body(route.path, &csrf))
            };
            let r = send(&f, req).await;
            let actual = classify(route.kind, who.is_none(), &r);
            checked += 1;
            if actual != expected {
                mismatches.push(format!(
                    "{} {} as {:?}: expected {expected:?}, got {actual:?} ({} {})",
                    route.method,
                    route.path,
                    who.map(|w| w.0).unwrap_or("anonymous"),
                    r.status,
                    r.body.chars().take(160).collect::<String>()
                ));
            }
            // An allowed route is really routed (not a 404/405 from a table
            // entry the router lacks).
            if actual == Outcome::Allowed {
                assert!(
                    r.status != StatusCode::METHOD_NOT_ALLOWED
                        && !(r.status == StatusCode::NOT_FOUND && r.body.contains("no such page")),
                    "{} {} is in the table but not routed",
                    route.method,
                    route.path
                );
            }
            if route.path == "/logout" && who.is_some() && actual == Outcome::Allowed {
                session = Some(login(&f, who.unwrap().0).await);
            }
        }
    }
    assert_eq!(checked, ROUTES.len() * roles.len());
    assert!(
        mismatches.is_empty(),
        "authorization matrix:\n{}",
        mismatches.join("\n")
    );

    // A staff representative sees only cases with recorded consent.
    let (rep, _) = login(&f, "rep").await;
    let r = send(&f, get(&format!("/cases/{}", f.subject_person), Some(&rep))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&f, get(&format!("/cases/{}", f.other_person), Some(&rep))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Refusals of signed-in users are on the audit log.
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    let refused = probity_audit::read(
        &store.audit_dir(),
        &probity_audit::Filter {
            action: Some("web.refused".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .count();
    assert!(refused > 20, "{refused} refusals audited");
    // Nothing outside the table is served.
    let r = send(&f, get("/admin/users.json", None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csrf_missing_or_wrong_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let (s, csrf) = login(&f, "rev").await;
    let good = format!(
        "step=advise&reason={}",
        enc("advised on the claims procedure")
    );
    for body in [
        good.clone(),
        format!("csrf=&{good}"),
        format!("csrf={}&{good}", "0".repeat(64)),
        format!("csrf={}&{good}", &csrf[..32]),
    ] {
        let r = send(&f, post_form("/findings/F2/decide", Some(&s), &body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}");
        assert!(r.body.contains("CSRF"));
    }
    // The API: header missing or wrong.
    for hdr in [None, Some("nope")] {
        let mut b = Request::post("/api/findings/F2/decide")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("probity_session={s}"));
        if let Some(h) = hdr {
            b = b.header("x-csrf-token", h);
        }
        let r = send(
            &f,
            b.body(Body::from(
                r#"{"step":"advise","reason":"advised on the claims procedure"}"#,
            ))
            .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // Another session's token does not work either.
    let (_, other_csrf) = login(&f, "rev2").await;
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&s),
            &format!("csrf={other_csrf}&{good}"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Sign-in without the double-submit cookie.
    let r = send(
        &f,
        post_form(
            "/login",
            None,
            &format!(
                "csrf={}&user=rev&password={}",
                "a".repeat(64),
                enc(PASSWORD)
            ),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing changed; with the right token it works.
    assert_eq!(
        f.state.db.finding("F2").await.unwrap().unwrap().status.id(),
        "new"
    );
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&s),
            &format!("csrf={csrf}&{good}"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        f.state.db.finding("F2").await.unwrap().unwrap().status.id(),
        "advice"
    );
}

#[tokio::test]
async fn session_fixation_is_prevented() {
    let f = fixture().await;
    // An attacker plants a session id in the victim's browser.
    let planted = "ab".repeat(32);
    let r = login_with(&f, "rev", PASSWORD, Some(&planted)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let issued = set_cookie(&r, "probity_session").unwrap();
    assert_ne!(issued, planted);
    assert_eq!(
        send(&f, get("/api/me", Some(&planted))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&f, get("/api/me", Some(&issued))).await.status,
        StatusCode::OK
    );
    // A session the browser already had ends at the next sign-in.
    let r = login_with(&f, "ana", PASSWORD, Some(&issued)).await;
    let second = set_cookie(&r, "probity_session").unwrap();
    assert_ne!(second, issued);
    assert_eq!(
        send(&f, get("/api/me", Some(&issued))).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Cookies are HttpOnly and SameSite=Strict.
    let c = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("probity_session="))
        .unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    // Logging out ends the session on the server.
    let (s, csrf) = login(&f, "rev").await;
    let r = send(&f, post_form("/logout", Some(&s), &format!("csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&f, get("/api/me", Some(&s))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sql_injection_in_every_filter_has_no_effect_and_leaks_nothing() {
    let f = fixture().await;
    let (s, _) = login(&f, "rev").await;
    let (aud, _) = login(&f, "aud").await;
    let payloads = [
        "' OR '1'='1",
        "x'; DROP TABLE findings; --",
        "S2' UNION SELECT finding_id, record FROM findings --",
        "1; DELETE FROM sessions",
        "%' OR 1=1 --",
        "\") OR (\"1\"=\"1",
        "1e309",
    ];
    let leaks = [
        "sqlite", "SQLITE", "syntax", "sqlx", "postgres", "database", "near \"", "panicked",
    ];
    for p in payloads {
        for param in [
            "scenario",
            "status",
            "unit",
            "min_score",
            "sort",
            "page",
            "per_page",
        ] {
            for base in ["/queue", "/api/findings"] {
                let r = send(&f, get(&format!("{base}?{param}={}", enc(p)), Some(&s))).await;
                assert!(
                    r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                    "{base} {param}={p}: {}",
                    r.status
                );
                for l in leaks {
                    assert!(
                        !r.body.contains(l),
                        "{base} {param}={p} leaks {l:?}: {}",
                        r.body
                    );
                }
                if r.status == StatusCode::OK && base == "/api/findings" {
                    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                    assert_eq!(v["total"], 0, "{param}={p} matched rows");
                }
            }
        }
        for param in ["actor", "action", "person", "object", "since", "until"] {
            let r = send(
                &f,
                get(&format!("/api/audit?{param}={}", enc(p)), Some(&aud)),
            )
            .await;
            assert!(r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST);
            for l in leaks {
                assert!(!r.body.contains(l), "audit {param}={p} leaks {l:?}");
            }
        }
        // Path parameters too.
        let r = send(&f, get(&format!("/api/findings/{}", enc(p)), Some(&s))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // No effect: every finding and the session are still there.
    let r = send(&f, get("/api/findings?status=new", Some(&s))).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["total"], 4);
}

#[tokio::test]
async fn path_traversal_in_the_file_route_is_refused() {
    let f = fixture().await;
    for p in [
        "/static/..%2F..%2Fusers.json",
        "/static/%2e%2e%2fusers.json",
        "/static/..%5Cusers.json",
        "/static/../users.json",
        "/static/app.css%00.json",
        "/static/%2e%2e/%2e%2e/store/users.json",
        "/static/....//users.json",
        "/static/%252e%252e%252fusers.json",
    ] {
        let r = send(&f, get(p, None)).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
            "{p}: {}",
            r.status
        );
        assert!(
            !r.body.contains("password_hash") && !r.body.contains("added_by"),
            "{p} served a file"
        );
    }
    let r = send(&f, get("/static/app.css", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_failures_audited() {
    let f = fixture().await;
    for _ in 0..5 {
        let r = login_with(&f, "rev", "wrong password!", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Wrong user name or password"));
    }
    // Locked now, even with the right password.
    let r = login_with(&f, "rev", PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(set_cookie(&r, "probity_session").is_none());
    // Another account is not locked by them.
    let r = login_with(&f, "ana", PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // An unknown user gets the same answer as a wrong password.
    let r = login_with(&f, "mallory", "whatever password", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    let actions: Vec<String> = probity_audit::read(
        &store.audit_dir(),
        &probity_audit::Filter {
            action: Some("web.login".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .map(|e| e.unwrap().action)
    .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "web.login.failed").count(),
        6
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "web.login.locked").count(),
        1
    );
}

#[tokio::test]
async fn idle_sessions_and_disabled_users_are_signed_out() {
    let f = fixture_with(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let (s, _) = login(&f, "rev").await;
    assert_eq!(
        send(&f, get("/api/me", Some(&s))).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        send(&f, get("/api/me", Some(&s))).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = login(&f, "ana").await;
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    probity_govern::user_disable(&store, "admin", "ana").unwrap();
    assert_eq!(
        send(&f, get("/api/me", Some(&s))).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = login_with(&f, "ana", PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let f = fixture().await;
    let (s, _) = login(&f, "rev").await;
    for (path, tok) in [
        ("/login", None),
        ("/queue", Some(s.as_str())),
        ("/nope", None),
        ("/api/findings", Some(s.as_str())),
    ] {
        let r = send(&f, get(path, tok)).await;
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["cache-control"], "no-store");
        // No inline script or style anywhere.
        assert!(
            !r.body.contains("<script") && !r.body.contains("style="),
            "{path}"
        );
    }
}

#[tokio::test]
async fn four_eyes_and_the_response_window_through_the_ui() {
    let f = fixture().await;
    let (rev, c1) = login(&f, "rev").await;
    let (rev2, c2) = login(&f, "rev2").await;
    let (ana, ca) = login(&f, "ana").await;
    let step = |csrf: &str, step: &str| {
        format!(
            "csrf={csrf}&step={step}&reason={}",
            enc("pattern confirmed on the roster")
        )
    };
    // An analyst may propose a referral but not approve one.
    let r = send(
        &f,
        post_form(
            "/findings/F3/decide",
            Some(&ana),
            &step(&ca, "propose_referral"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = send(
        &f,
        post_form(
            "/findings/F3/decide",
            Some(&ana),
            &step(&ca, "approve_referral"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&rev),
            &step(&c1, "propose_referral"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&rev),
            &step(&c1, "approve_referral"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("four-eyes"), "{}", r.body);
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&rev2),
            &step(&c2, "approve_referral"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        f.state.db.finding("F2").await.unwrap().unwrap().status.id(),
        "referral"
    );
    // The register follows, for retention and the subject report.
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    assert_eq!(
        Register::load(&store).unwrap().get("F2").unwrap().status,
        "referral"
    );
    // A prevention notice waits for the subject.
    let r = send(
        &f,
        post_form(
            "/findings/F1/decide",
            Some(&rev),
            &step(&c1, "propose_notice"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = send(
        &f,
        post_form(
            "/findings/F1/decide",
            Some(&rev),
            &step(&c1, "issue_notice"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let (sub, cs) = login(&f, "sub").await;
    let me = send(&f, get("/me", Some(&sub))).await;
    assert!(
        me.body.contains("proposes a prevention notice"),
        "{}",
        me.body
    );
    // The subject cannot respond on someone else's finding.
    let r = send(
        &f,
        post_form(
            "/me/findings/F2/respond",
            Some(&sub),
            &format!("csrf={cs}&body=not+mine"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &f,
        post_form(
            "/me/findings/F1/respond",
            Some(&sub),
            &format!("csrf={cs}&body={}", enc("I was giving evidence at court")),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = send(
        &f,
        post_form(
            "/findings/F1/decide",
            Some(&rev),
            &step(&c1, "issue_notice"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = send(&f, get("/findings/F1", Some(&rev))).await;
    assert!(page.body.contains("I was giving evidence at court"));
    assert!(page.body.contains("prevention notice issued"));
    // Dismissals feed detector quality.
    let r = send(
        &f,
        post_form(
            "/findings/F4/decide",
            Some(&ana),
            &format!("{}&dismissal=false_positive", step(&ca, "dismiss")),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let q = send(&f, get("/api/quality", Some(&rev))).await;
    let v: serde_json::Value = serde_json::from_str(&q.body).unwrap();
    // ghost_overtime in S2: F1 notice + F2 referral; in S5: F4 dismissed
    // as a false positive, F3 still open.
    let rows = v["detectors"].as_array().unwrap();
    let row = |s: &str| rows.iter().find(|r| r["scenario"] == s).unwrap().clone();
    let (s2, s5) = (row("S2"), row("S5"));
    assert_eq!(
        (s2["decided"].as_i64(), s2["upheld"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(s2["upheld_rate"].as_f64(), Some(1.0));
    assert_eq!(
        (
            s5["decided"].as_i64(),
            s5["false_positive"].as_i64(),
            s5["open"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(s5["precision"].as_f64(), Some(0.0));
    // The quality page shows each detector's latest fairness audit, with
    // significant disparities marked.
    let page = send(&f, get("/quality", Some(&rev))).await;
    assert!(page.body.contains("No fairness audit yet"), "{}", page.body);
    let dir = f.state.config.store.join("fairness");
    std::fs::create_dir_all(&dir).unwrap();
    let group = |g: &str, n: usize, k: usize, r: f64, d: &[&str], sig: &[&str]| {
        serde_json::json!({"group": g, "people": n, "flagged": k, "flag_rate": k as f64 / n as f64,
            "precision": null, "false_positive_rate": null, "false_negative_rate": null,
            "ratios": [r, null, null, null], "disparities": d, "significant": sig,
            "small_group": n < 50})
    };
    let latest = serde_json::json!({"subjects": {"ghost_overtime": {
    "subject": "ghost_overtime", "version": 2, "run": "analyze", "at": "2026-12-05T00:00:00Z",
    "population": 400, "flagged_people": 30, "outcomes": "none",
    "attributes": [{"attribute": "sex", "reference": "male", "groups": [
        group("male", 250, 10, 1.0, &[], &[]),
        group("female", 150, 20, 3.33, &["flag rate"], &["flag rate"]),
    ]}]}}});
    std::fs::write(dir.join("latest.json"), latest.to_string()).unwrap();
    let page = send(&f, get("/quality", Some(&rev))).await;
    assert!(
        page.body.contains("ghost_overtime <small>v2"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>sex</td><td>female</td><td>150</td><td>20</td><td>3.33×</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<strong>flag rate</strong>"));
    assert!(
        !page.body.contains("<td>male</td>"),
        "groups without a disparity are not listed"
    );
    // Every step is on the audit log with its reason.
    let steps: Vec<String> = probity_audit::read(
        &store.audit_dir(),
        &probity_audit::Filter {
            action: Some("review".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .map(|e| e.unwrap().action)
    .collect();
    for a in [
        "review.propose_referral",
        "review.approve_referral.refused",
        "review.approve_referral",
        "review.propose_notice",
        "review.issue_notice.refused",
        "review.respond",
        "review.issue_notice",
        "review.dismiss",
    ] {
        assert!(steps.iter().any(|s| s == a), "{a} missing from {steps:?}");
    }
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let f = fixture().await;
    let r = send(&f, get("/api/openapi.json", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    for route in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        let op = &v["paths"][route.path][route.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} undocumented",
            route.method,
            route.path
        );
        assert!(op["description"].as_str().unwrap().starts_with("Allowed: "));
    }
}

/// A request as if from TCP peer `ip`.
fn from_peer(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let ip: IpAddr = ip.parse().unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    req
}

/// A fresh sign-in token (the double-submit cookie and form field).
async fn login_token(f: &Fixture) -> String {
    let form = send(f, get("/login", None)).await;
    set_cookie(&form, "probity_login").expect("login cookie")
}

/// A sign-in POST with `token`, from peer `ip`.
fn sign_in(token: &str, ip: &str, user: &str, password: &str, next: &str) -> Request<Body> {
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("probity_login={token}"))
        .body(Body::from(format!(
            "csrf={token}&user={}&password={}&next={}",
            enc(user),
            enc(password),
            enc(next)
        )))
        .unwrap();
    from_peer(req, ip)
}

fn audit_entries(f: &Fixture, action: &str) -> Vec<probity_audit::Entry> {
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    probity_audit::read(
        &store.audit_dir(),
        &probity_audit::Filter {
            action: Some(action.into()),
            ..Default::default()
        },
    )
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn concurrent_guesses_for_one_account_are_not_all_checked() {
    let f = fixture().await;
    let token = login_token(&f).await;
    // Forty guesses at once, each from its own address: only the account's
    // limit applies, and it is reserved before the password is checked.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let app = probity_web::app(f.state.clone());
        let mut req = sign_in(
            &token,
            &format!("198.51.100.{}", i + 1),
            "rev",
            "a wrong guess",
            "/",
        );
        req.headers_mut()
            .insert(header::HOST, header::HeaderValue::from_static(HOST));
        set.spawn(async move { app.oneshot(req).await.unwrap().status() });
    }
    let mut statuses = vec![];
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        (1..=5).contains(&checked) && checked + refused == 40,
        "{checked} checked, {refused} refused: {statuses:?}"
    );
    assert_eq!(audit_entries(&f, "web.login.failed").len(), checked);
    assert_eq!(audit_entries(&f, "web.login.locked").len(), refused);
}

#[tokio::test]
async fn made_up_names_slow_their_address_without_locking_out_real_users() {
    let f = fixture().await;
    let token = login_token(&f).await;
    let (proxy, elsewhere) = ("203.0.113.10", "203.0.113.20");
    // ana mistypes her password once, from elsewhere.
    let r = send(&f, sign_in(&token, elsewhere, "ana", "not it at all", "/")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Someone behind the proxy tries made-up names.
    for i in 0..20 {
        let r = send(
            &f,
            sign_in(&token, proxy, &format!("nobody{i}"), "guess", "/"),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The address is slowed down for made-up names...
    let r = send(&f, sign_in(&token, proxy, "nobody-else", "guess", "/")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // ... and for accounts that have failures of their own,
    let r = send(&f, sign_in(&token, proxy, "ana", PASSWORD, "/")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // but a real user who did nothing wrong signs in from behind it.
    let r = send(&f, sign_in(&token, proxy, "rev", PASSWORD, "/")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(set_cookie(&r, "probity_session").is_some());
    // Other addresses are not affected.
    let r = send(&f, sign_in(&token, elsewhere, "nobody-else", "guess", "/")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Made-up names are not remembered: two addresses and two accounts.
    assert_eq!(f.state.limiter.keys(), 4);
    // Lock-outs are audited with the address.
    let locked = audit_entries(&f, "web.login.locked");
    assert_eq!(locked.len(), 2);
    assert!(locked.iter().all(|e| e.details["address"] == proxy));
}

#[test]
fn the_limiter_remembers_a_bounded_number_of_keys() {
    use probity_web::auth::Limiter;
    let l = Limiter::new(100);
    // rev fails five times (from five addresses): locked.
    for i in 0..5 {
        l.begin(Some("rev"), &format!("192.0.2.{i}"))
            .unwrap()
            .failed();
    }
    assert!(l.begin(Some("rev"), "192.0.2.200").is_err());
    // A thousand addresses, each with a made-up name.
    for i in 0..1000 {
        l.begin(None, &format!("addr-{i}")).unwrap().failed();
    }
    assert!(l.keys() <= 200, "{} keys", l.keys());
    // The oldest addresses are forgotten, the newest kept...
    assert!(!l.remembers_address("192.0.2.0") && !l.remembers_address("addr-0"));
    assert!(l.remembers_address("addr-999"));
    // ... and spraying addresses does not push an account's failures out.
    assert!(l.begin(Some("rev"), "192.0.2.201").is_err());
    // A reservation dropped without an outcome frees its place.
    let l = Limiter::new(10);
    for _ in 0..10 {
        drop(l.begin(Some("ana"), "192.0.2.1").unwrap());
    }
    let held: Vec<_> = (0..5)
        .map(|_| l.begin(Some("ana"), "192.0.2.1").unwrap())
        .collect();
    assert!(
        l.begin(Some("ana"), "192.0.2.1").is_err(),
        "a sixth in flight"
    );
    for a in held {
        a.succeeded();
    }
    assert!(l.begin(Some("ana"), "192.0.2.1").is_ok());
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    use probity_web::auth::client_ip;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let xff = |v: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    };
    let trusted = [ip("192.0.2.1"), ip("192.0.2.2")];
    let h = xff("198.51.100.7");
    // A client sending the header itself is its own peer address.
    assert_eq!(
        client_ip(&h, Some(ip("203.0.113.5")), &trusted),
        Some(ip("203.0.113.5"))
    );
    assert_eq!(
        client_ip(&h, Some(ip("203.0.113.5")), &[]),
        Some(ip("203.0.113.5"))
    );
    // Through the proxy: the right-most hop the proxies did not add.
    let h = xff("6.6.6.6, 198.51.100.7, 192.0.2.2");
    assert_eq!(
        client_ip(&h, Some(ip("192.0.2.1")), &trusted),
        Some(ip("198.51.100.7"))
    );
    // Garbage where the proxy's hop should be: the proxy itself.
    let h = xff("198.51.100.7, not-an-address");
    assert_eq!(
        client_ip(&h, Some(ip("192.0.2.1")), &trusted),
        Some(ip("192.0.2.1"))
    );
    // IPv4 seen as IPv6 on a dual-stack socket is the same address.
    assert_eq!(
        client_ip(&xff("198.51.100.9"), Some(ip("::ffff:192.0.2.1")), &trusted),
        Some(ip("198.51.100.9"))
    );
    assert_eq!(client_ip(&h, None, &trusted), None);
}

#[tokio::test]
async fn a_client_spoofing_forwarded_for_is_counted_under_its_own_address() {
    let f = fixture_with(|c| c.trusted_proxies = vec!["192.0.2.1".parse().unwrap()]).await;
    let token = login_token(&f).await;
    let attacker = "203.0.113.66";
    // Made-up names, each with a different forged X-Forwarded-For.
    for i in 0..25 {
        let mut req = sign_in(&token, attacker, &format!("nobody{i}"), "guess", "/");
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{i}").parse().unwrap(),
        );
        let r = send(&f, req).await;
        let want = if i < 20 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, want, "attempt {i}");
    }
    let failed = audit_entries(&f, "web.login.failed");
    assert_eq!(failed.len(), 20);
    assert!(failed.iter().all(|e| e.details["address"] == attacker));
    // Through the trusted proxy, the client's address is the forwarded one.
    let mut req = sign_in(&token, "192.0.2.1", "nobody", "guess", "/");
    req.headers_mut()
        .insert("x-forwarded-for", "6.6.6.6, 198.51.100.77".parse().unwrap());
    assert_eq!(send(&f, req).await.status, StatusCode::UNAUTHORIZED);
    let failed = audit_entries(&f, "web.login.failed");
    assert_eq!(failed.last().unwrap().details["address"], "198.51.100.77");
}

#[tokio::test]
async fn requests_for_other_host_names_get_421() {
    let f = fixture_with(|c| c.hosts = vec!["probity.example".into()]).await;
    let with_host = |path: &str, host: &str| {
        Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    for (host, ok) in [
        ("127.0.0.1:8080", true),
        ("localhost:8080", true),
        ("LOCALHOST:8080", true),
        ("[::1]:8080", true),
        ("probity.example", true),
        ("Probity.Example:443", true),
        ("evil.example", false),
        ("evil.example:8080", false),
        ("localhost:9999", false),
        ("localhost", false),
        ("127.0.0.1", false),
        ("probity.example.evil.example", false),
        ("127.0.0.1:8080:8080", false),
        ("[::1]evil.example:8080", false),
        ("[::1]:8080@evil.example", false),
        ("", false),
    ] {
        let r = send(&f, with_host("/login", host)).await;
        let want = if ok {
            StatusCode::OK
        } else {
            StatusCode::MISDIRECTED_REQUEST
        };
        assert_eq!(r.status, want, "Host: {host:?}");
        if !ok {
            // Refused before any route: no sign-in cookie, headers still set.
            assert!(set_cookie(&r, "probity_login").is_none());
            assert_eq!(r.headers["x-frame-options"], "DENY");
        }
    }
    // No Host at all, two of them, and the API and unknown paths too.
    let r = send_raw(&f, get("/login", None)).await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    let two = Request::get("/login")
        .header(header::HOST, HOST)
        .header(header::HOST, "evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send_raw(&f, two).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    let r = send(&f, with_host("/api/findings", "evil.example")).await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(r.body.starts_with("{\"error\""), "{}", r.body);
    let r = send(&f, with_host("/static/app.css", "evil.example")).await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    // Behind a TLS proxy, a host name is required.
    let mut cfg = Config::new(Path::new("/nonexistent"));
    cfg.bind = "0.0.0.0:8443".parse().unwrap();
    cfg.behind_tls = true;
    assert!(cfg.check().is_err());
    cfg.hosts = vec!["probity.force.example".into()];
    assert!(cfg.check().is_ok());
    cfg.hosts = vec!["bad host/".into()];
    assert!(cfg.check().is_err());
    // Not bound to loopback, the loopback names are not accepted.
    let mut c = Config::new(Path::new("/nonexistent"));
    c.bind = "0.0.0.0:8080".parse().unwrap();
    assert!(!probity_web::auth::host_allowed(&c, "127.0.0.1:8080"));
}

#[tokio::test]
async fn serve_binds_first_and_expects_the_port_it_got() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture().await;
    let mut cfg = f.state.config.clone();
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(probity_web::serve(cfg, move |addr| {
        let _ = tx.send(addr);
    }));
    let addr = rx.await.expect("the server is ready");
    assert_ne!(addr.port(), 0);
    let status = |host: String| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(status(addr.to_string()).await.starts_with("HTTP/1.1 200"));
    let other = format!(
        "127.0.0.1:{}",
        if addr.port() == 8080 { 8081 } else { 8080 }
    );
    assert!(status(other).await.starts_with("HTTP/1.1 421"));
    server.abort();
}

/// Signs in as `user` with `next`; returns where it redirects to.
async fn location_after_sign_in(f: &Fixture, user: &str, next: &str) -> String {
    let token = login_token(f).await;
    let r = send(f, sign_in(&token, "192.0.2.50", user, PASSWORD, next)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "next={next:?}: {}", r.body);
    r.headers[header::LOCATION].to_str().unwrap().to_string()
}

#[tokio::test]
async fn next_after_sign_in_stays_on_this_site() {
    let f = fixture().await;
    for (next, want) in [
        ("/findings/F1", "/findings/F1"),
        ("/queue?scenario=S2&page=2", "/queue?scenario=S2&page=2"),
        ("/", "/"),
        ("/\t/example.org", "/queue"),
        ("/\n/example.org", "/queue"),
        ("/ /example.org", "/queue"),
        ("//example.org", "/queue"),
        ("/\\example.org", "/queue"),
        ("/a\\b", "/queue"),
        ("https://example.org/", "/queue"),
        ("example.org", "/queue"),
        ("/login", "/queue"),
        ("/login?next=/queue", "/queue"),
        ("/\u{3000}/example.org", "/queue"),
        ("", "/queue"),
    ] {
        assert_eq!(
            location_after_sign_in(&f, "rev", next).await,
            want,
            "{next:?}"
        );
    }
    let long = format!("/queue?x={}", "a".repeat(probity_web::auth::MAX_NEXT));
    assert_eq!(location_after_sign_in(&f, "rev", &long).await, "/queue");
    // Each role goes to its own home.
    assert_eq!(location_after_sign_in(&f, "aud", "//x").await, "/audit");
    assert_eq!(location_after_sign_in(&f, "sub", "//x").await, "/me");
}

/// Fragments that make redirect targets interesting to a browser.
fn tricky() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just("/".to_string()),
        Just("\\".to_string()),
        Just("//".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just(" ".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{a0}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{ff0f}".to_string()),
        Just("@".to_string()),
        Just(":".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("?".to_string()),
        Just("#".to_string()),
        Just("%2f".to_string()),
        Just("%5c".to_string()),
        Just("%09".to_string()),
        Just("example.org".to_string()),
        Just("https:".to_string()),
        Just("javascript:".to_string()),
        Just("login".to_string()),
        Just("queue".to_string()),
        any::<char>().prop_map(String::from),
        proptest::collection::vec(proptest::char::range('a', 'z'), 1..6)
            .prop_map(|v| v.into_iter().collect()),
    ];
    let joined = proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat());
    prop_oneof![
        4 => joined.clone().prop_map(|s| format!("/{s}")),
        1 => joined,
        1 => proptest::collection::vec(any::<char>(), 0..40).prop_map(|v| v.into_iter().collect()),
    ]
}

#[test]
fn accepted_next_values_never_leave_the_site() {
    use proptest::test_runner::{Config as PropConfig, TestRunner};
    let base = url::Url::parse("https://probity.example/").unwrap();
    let mut runner = TestRunner::new(PropConfig {
        cases: 5000,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let accepted = std::cell::Cell::new(0u32);
    runner
        .run(&tricky(), |next| {
            let Some(ok) = probity_web::auth::safe_next(&next) else {
                return Ok(());
            };
            accepted.set(accepted.get() + 1);
            assert_eq!(ok, next);
            let to = base.join(ok).expect("an accepted next parses");
            proptest::prop_assert_eq!(to.scheme(), "https", "{:?} -> {}", next, to);
            proptest::prop_assert_eq!(
                to.host_str(),
                Some("probity.example"),
                "{:?} -> {}",
                next,
                to
            );
            proptest::prop_assert!(to.username().is_empty() && to.password().is_none());
            proptest::prop_assert!(
                axum::http::HeaderValue::from_str(ok).is_ok(),
                "{:?} is not a header value",
                next
            );
            Ok(())
        })
        .unwrap();
    assert!(accepted.get() > 500, "only {} accepted", accepted.get());
}

#[test]
fn the_sign_in_form_never_answers_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as PropConfig, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture());
    let token = rt.block_on(login_token(&f));
    let base = url::Url::parse("https://probity.example/").unwrap();
    let value = prop_oneof![
        Just(Vec::<u8>::new()),
        Just(b"rev".to_vec()),
        Just(enc(PASSWORD).into_bytes()),
        Just(b"%FF%FE%00".to_vec()),
        Just(vec![b'a'; 70_000]),
        Just(vec![b'a'; 3000]),
        tricky().prop_map(|s| enc(&s).into_bytes()),
        tricky().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    let field = (
        prop_oneof![
            Just("csrf"),
            Just("user"),
            Just("password"),
            Just("next"),
            Just("x")
        ],
        value,
    );
    let body = (
        any::<bool>(),
        proptest::collection::vec(field, 0..6),
        proptest::collection::vec(any::<u8>(), 0..16),
        0u8..4,
    );
    let mut runner = TestRunner::new(PropConfig {
        cases: 300,
        failure_persistence: None,
        ..PropConfig::default()
    });
    runner
        .run(&body, |(with_csrf, fields, tail, peer)| {
            let mut b: Vec<u8> = vec![];
            if with_csrf {
                b.extend_from_slice(format!("csrf={token}&").as_bytes());
            }
            for (k, v) in fields {
                b.extend_from_slice(k.as_bytes());
                b.push(b'=');
                b.extend_from_slice(&v);
                b.push(b'&');
            }
            b.extend_from_slice(&tail);
            let req = Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, format!("probity_login={token}"))
                .body(Body::from(b))
                .unwrap();
            let r = rt.block_on(send(&f, from_peer(req, &format!("192.0.2.{peer}"))));
            prop_assert!(!r.status.is_server_error(), "{}: {}", r.status, r.body);
            if let Some(l) = r.headers.get(header::LOCATION) {
                let to = base.join(l.to_str().unwrap()).unwrap();
                prop_assert_eq!(to.host_str(), Some("probity.example"));
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn every_view_of_personal_data_is_audited_and_reported_to_the_subject() {
    let f = fixture().await;
    // The subject report names the person: their record must be held.
    ingest_tiny_force(&f.state.config.store);
    let (rev, _) = login(&f, "rev").await;
    let (rep, _) = login(&f, "rep").await;
    let (sub, _) = login(&f, "sub").await;
    let case = format!("/cases/{}", f.subject_person);
    for (path, tok) in [
        ("/findings/F1", &rev),
        ("/findings/F1", &rev),
        ("/api/findings/F1", &rev),
        ("/api/findings", &rev),
        ("/queue", &rev),
        (case.as_str(), &rev),
        (case.as_str(), &rep),
        ("/findings/F1/reveal", &rev),
        ("/me", &sub),
        ("/api/me/findings", &sub),
    ] {
        let r = send(&f, get(path, Some(tok))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    // One entry per view: who, what, which view, about whom.
    let views = audit_entries(&f, "web.view");
    let api = audit_entries(&f, "api.view");
    let count = |es: &[probity_audit::Entry], action: &str, actor: &str| {
        es.iter()
            .filter(|e| e.action == action && e.actor == actor)
            .count()
    };
    assert_eq!(count(&views, "web.view.finding", "rev"), 2);
    assert_eq!(count(&api, "api.view.finding", "rev"), 1);
    assert_eq!(count(&api, "api.view.findings", "rev"), 1);
    assert_eq!(count(&views, "web.view.queue", "rev"), 1);
    assert_eq!(count(&views, "web.view.case", "rev"), 1);
    assert_eq!(count(&views, "web.view.case", "rep"), 1);
    assert_eq!(count(&views, "web.view.reveal_form", "rev"), 1);
    assert_eq!(count(&views, "web.view.me", "sub"), 1);
    assert_eq!(count(&api, "api.view.me.findings", "sub"), 1);
    let finding = views
        .iter()
        .find(|e| e.action == "web.view.finding")
        .unwrap();
    assert_eq!(
        (finding.object.as_str(), finding.person.as_deref()),
        ("F1", Some(f.subject_person.as_str()))
    );
    let case_entry = views.iter().find(|e| e.action == "web.view.case").unwrap();
    assert_eq!(
        case_entry.person.as_deref(),
        Some(f.subject_person.as_str())
    );
    assert_eq!(case_entry.details["findings"], serde_json::json!(["F1"]));
    // A listing is one entry naming the findings it showed, no person.
    let listing = api
        .iter()
        .find(|e| e.action == "api.view.findings")
        .unwrap();
    assert!(listing.person.is_none());
    let ids: Vec<&str> = listing.details["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids, ["F1", "F2", "F3", "F4"]);
    // The person's subject access report lists the views of their records.
    let report = send(&f, get("/me/report", Some(&sub))).await;
    assert_eq!(report.status, StatusCode::OK);
    for a in [
        "web.view.finding",
        "api.view.finding",
        "web.view.case",
        "web.view.reveal_form",
    ] {
        assert!(report.body.contains(a), "{a} missing from the report");
    }
    // Views arriving together share writes; none is lost, the chain holds.
    let before = audit_entries(&f, "web.view.finding").len();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let app = probity_web::app(f.state.clone());
        let req = Request::get("/findings/F2")
            .header(header::HOST, HOST)
            .header(header::COOKIE, format!("probity_session={rev}"))
            .body(Body::empty())
            .unwrap();
        set.spawn(async move { app.oneshot(req).await.unwrap().status() });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.unwrap(), StatusCode::OK);
    }
    assert_eq!(audit_entries(&f, "web.view.finding").len(), before + 60);
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    let v = probity_audit::verify(&store.audit_dir(), None).unwrap();
    assert!(v.is_intact(), "{v}");
}

/// A tiny force for P0001 and P0002, with a shift and a look-up of P0002's
/// in the fixture findings' period (2026-03-02 to 09).
fn ingest_tiny_force(store: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
    w(
        "sites.csv",
        "site_id,name,lat,lon,radius_m\nS1,Central,51.5,-0.12,150\n",
    );
    w("units.csv", "unit_id,name,site_id\nU1,Response,S1\n");
    w(
        "people.csv",
        "person_id,given_name,family_name,date_of_birth,rank,unit_id,line_manager_id,start_date,work_pattern\n\
         P0001,Ada,Okafor,1990-02-03,constable,U1,,2020-01-01,shift\n\
         P0002,Ben,Marsh,1980-05-06,constable,U1,,2015-01-01,shift\n",
    );
    w("accounts.csv", "account_id,person_id\nA2,P0002\n");
    w(
        "shifts.csv",
        "shift_id,person_id,unit_id,start,end,kind,pay_code\n\
         SH1,P0002,U1,2026-03-03T07:00:00+00:00,2026-03-03T15:00:00+00:00,duty,STD\n",
    );
    w(
        "system_queries.csv",
        "query_id,account_id,system,at,subject_ref,reason_code,case_ref\n\
         Q1,A2,PNC,2026-03-04T13:12:00+00:00,SUBJ9,,\n",
    );
    let mut s = probity_store::Store::open_for_write(store).unwrap();
    probity_ingest::ingest(&mut s, dir.path(), &probity_ingest::Silent).unwrap();
}

#[tokio::test]
async fn a_finding_shows_only_the_data_categories_its_purpose_enables() {
    let f = fixture().await;
    let root = f.state.config.store.clone();
    ingest_tiny_force(&root);
    // An undeclared-interest finding about the same person and period as
    // F2 (ghost overtime), whose evidence names a shift as well.
    let store = probity_store::Store::open(&root).unwrap();
    let mut reg = Register::load(&store).unwrap();
    let mut ui = finding("F5", &f.other_person, "S4", 0.95);
    ui.finding.detector = "undeclared_register_entry".into();
    ui.finding.evidence = vec![
        Evidence {
            table: "reference_records".into(),
            id: "REF-77".into(),
        },
        Evidence {
            table: "shifts".into(),
            id: "SH1".into(),
        },
    ];
    reg.items.insert("F5".into(), ui);
    reg.save().unwrap();
    f.state.sync().await.unwrap();
    // Its purpose enables neither rosters nor look-ups; ghost overtime's does.
    let gov = store.governance().unwrap();
    let shown = probity_web::data::shown_categories(&gov, "undeclared_register_entry");
    for c in [
        probity_policy::Category::Rosters,
        probity_policy::Category::SystemQueries,
    ] {
        assert!(!shown.contains(&c), "{c}");
    }
    let (rev, _) = login(&f, "rev").await;
    let ghost = send(&f, get("/findings/F2", Some(&rev))).await;
    assert!(ghost.body.contains("duty 07:00"), "{}", ghost.body);
    let page = send(&f, get("/findings/F5", Some(&rev))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("duty 07:00"), "a shift is shown");
    assert!(!page.body.contains("PNC"), "a look-up is shown");
    assert!(page.body.contains("REF-77") && !page.body.contains("SH1"));
    assert!(page.body.contains("id=\"evidence-withheld\""));
    assert!(page.body.contains("id=\"timeline-withheld\""));
    assert!(page.body.contains("rostered shifts") && page.body.contains("record look-ups"));
    // The API item too.
    let r = send(&f, get("/api/findings/F5", Some(&rev))).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["record"]["evidence"],
        serde_json::json!([{"table": "reference_records", "id": "REF-77"}])
    );
    assert_eq!(v["evidence_withheld"], 1);
    let cats = v["categories"].as_array().unwrap();
    assert!(!cats.contains(&serde_json::json!("rosters")));
    // What was read is on the view's audit entry.
    let e = audit_entries(&f, "web.view.finding")
        .into_iter()
        .rfind(|e| e.object == "F5")
        .unwrap();
    let parts = e.details["timeline"]["parts"].as_array().unwrap();
    assert!(
        !parts.contains(&serde_json::json!("rostered shifts")),
        "{parts:?}"
    );
    assert_eq!(e.details["evidence_withheld"], 1);
}

#[tokio::test]
async fn an_analyst_cannot_close_a_finding_a_reviewer_escalated() {
    let f = fixture().await;
    let (rev, c1) = login(&f, "rev").await;
    let (ana, ca) = login(&f, "ana").await;
    let step = |csrf: &str, step: &str| {
        format!(
            "csrf={csrf}&step={step}&reason={}&dismissal=explained",
            enc("closing this one for the record")
        )
    };
    let r = send(
        &f,
        post_form(
            "/findings/F2/decide",
            Some(&rev),
            &step(&c1, "propose_notice"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for s in ["dismiss", "advise"] {
        let r = send(
            &f,
            post_form("/findings/F2/decide", Some(&ana), &step(&ca, s)),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{s}: {}", r.body);
    }
    let r = send(
        &f,
        Request::post("/api/findings/F2/decide")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("probity_session={ana}"))
            .header("x-csrf-token", &ca)
            .body(Body::from(
                r#"{"step":"dismiss","reason":"closing this one for the record","dismissal":"explained"}"#,
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        f.state.db.finding("F2").await.unwrap().unwrap().status.id(),
        "awaiting_response"
    );
    // The analyst is offered no step on it; the refusals are audited.
    let page = send(&f, get("/findings/F2", Some(&ana))).await;
    assert!(!page.body.contains("id=\"step-"), "{}", page.body);
    assert!(page.body.contains("Your role cannot take the next step"));
    assert_eq!(audit_entries(&f, "review.dismiss.refused").len(), 2);
    // On a new finding the analyst still triages; a reviewer closes F2.
    let r = send(
        &f,
        post_form("/findings/F3/decide", Some(&ana), &step(&ca, "dismiss")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = send(
        &f,
        post_form("/findings/F2/decide", Some(&rev), &step(&c1, "advise")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn consent_can_always_be_withdrawn() {
    let f = fixture().await;
    let (sub, cs) = login(&f, "sub").await;
    let store = probity_store::Store::open(&f.state.config.store).unwrap();
    let has = |rep: &'static str| {
        let db = &f.state.db;
        let p = f.subject_person.clone();
        async move { db.has_consent(&p, rep).await.unwrap() }
    };
    // The representative's account is disabled: withdrawing still works.
    assert!(has("rep").await);
    probity_govern::user_disable(&store, "admin", "rep").unwrap();
    let withdraw = |rep: &str| {
        post_form(
            "/me/consent/withdraw",
            Some(&sub),
            &format!("csrf={cs}&rep={rep}"),
        )
    };
    let r = send(&f, withdraw("rep")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(!has("rep").await);
    // A representative whose account no longer exists.
    f.state
        .db
        .grant_consent(
            &f.subject_person,
            "gone",
            "sub",
            probity_review::now_micros(),
        )
        .await
        .unwrap();
    let me = send(&f, get("/me", Some(&sub))).await;
    assert!(me.body.contains("value=\"gone\""), "{}", me.body);
    let r = send(&f, withdraw("gone")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(!has("gone").await);
    let withdrawn = audit_entries(&f, "consent.withdraw");
    assert_eq!(withdrawn.len(), 2);
    // Nothing to withdraw; and consent is given only to a live representative.
    let r = send(&f, withdraw("nobody")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(
        &f,
        post_form("/me/consent", Some(&sub), &format!("csrf={cs}&rep=rep")),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!has("rep").await);
}

/// The SVG charts and timeline (pure functions; moved here so the library
/// needs no test binary of its own, which would link DataFusion again).
mod svg {
    use probity_web::svg::*;

    fn check_wellformed(s: &str) {
        assert!(s.starts_with("<svg ") && s.ends_with("</svg>"), "{s}");
        assert_eq!(s.matches("<svg").count(), 1);
        assert_eq!(s.matches("</svg>").count(), 1);
        assert!(!s.contains("style=") && !s.contains("<style"), "{s}");
        let a11y = [
            r#"role="img""#,
            "aria-label=",
            "viewBox=",
            "preserveAspectRatio=",
        ];
        assert!(a11y.iter().all(|a| s.contains(a)));
        assert_eq!(s.matches("<text").count(), s.matches("</text>").count());
        assert_eq!(s.matches("<title>").count(), s.matches("</title>").count());
    }

    /// Values of `attr` on each element starting with `tag`.
    fn attrs<'a>(s: &'a str, tag: &str, attr: &str) -> Vec<&'a str> {
        let pat = format!(" {attr}=\"");
        let value = |r: &'a str| r.split(&pat).nth(1).unwrap().split('"').next().unwrap();
        s.split(tag).skip(1).map(value).collect()
    }

    fn plot_rects(s: &str) -> usize {
        let plot = s.split(r#"<g class="plot">"#).nth(1).unwrap();
        plot.split("</g>").next().unwrap().matches("<rect").count()
    }

    fn titles(s: &str) -> Vec<&str> {
        s.split("<title>")
            .skip(1)
            .map(|t| t.split("</title>").next().unwrap())
            .collect()
    }

    #[test]
    fn escapes_data() {
        assert_eq!(esc("<script>&\"'\u{1}"), "&lt;script&gt;&amp;&quot;&#39;");
        let bars = [("<script>".to_string(), 1.0)];
        let s = bar_chart("<script>alert(1)</script>", &bars, "\"u\"");
        check_wellformed(&s);
        assert!(!s.contains("<script>") && s.contains("&lt;script&gt;"));
        assert!(s.contains("&quot;u&quot;"));
    }

    #[test]
    fn numbers_and_long_labels() {
        let nums = [num(3.0), num(2.25), num(-0.01), num(12.04), num(f64::NAN)];
        assert_eq!(nums, ["3", "2.3", "0", "12", "0"]);
        assert_eq!(clean(f64::NAN) + clean(f64::INFINITY) + clean(-4.0), 0.0);
        let long = "a".repeat(40);
        assert_eq!(trunc(&long).chars().count(), MAX_LABEL);
        let s = bar_chart("t", &[(long.clone(), f64::NAN), ("b".into(), -3.0)], "");
        check_wellformed(&s);
        assert!(s.contains(&format!("<title>{long}</title>")) && s.contains('…'));
        assert_eq!(attrs(&s, "<rect", "width"), ["0", "0"]);
    }

    #[test]
    fn bar_width_proportional() {
        let bars = [("ten".to_string(), 10.0), ("five".to_string(), 5.0)];
        let s = bar_chart("Bars", &bars, "days");
        check_wellformed(&s);
        let w: Vec<f64> = attrs(&s, "<rect", "width")
            .iter()
            .map(|w| w.parse().unwrap())
            .collect();
        assert_eq!(w.len(), 2);
        assert!(w[0] > 0.0 && (w[0] - 2.0 * w[1]).abs() < 0.2, "{w:?}");
        assert!(s.contains(">10 days<") && s.contains(">5 days<"));
        let many: Vec<(String, f64)> = (0..50).map(|i| (format!("b{i}"), f64::from(i))).collect();
        let tall = bar_chart("m", &many, "");
        assert_eq!(attrs(&tall, "<svg", "height"), ["1240"]);
    }

    #[test]
    fn stacked_one_rect_per_nonzero_segment() {
        let cats = ["2026-01", "2026-02", "2026-03"].map(String::from);
        let alpha = ("alpha".to_string(), vec![1.0, 0.0, 2.5]);
        let beta = ("beta".to_string(), vec![3.0, 4.0, f64::NAN]);
        let s = stacked_columns("Findings", &cats, &[alpha, beta]);
        check_wellformed(&s);
        assert_eq!(plot_rects(&s), 4);
        assert!(s.contains(">alpha</text>") && s.contains(">beta</text>"));
        assert!(s.contains("<title>alpha – 2026-03: 2.5</title>"));
    }

    #[test]
    fn histogram_renders_buckets() {
        let buckets = [("0–7".into(), 4), ("8–30".into(), 0), (">30".into(), 2)];
        let s = histogram("Queue age", &buckets);
        check_wellformed(&s);
        assert_eq!(plot_rects(&s), 2);
        assert!(s.contains("&gt;30") && s.contains("<title>0–7: 4</title>"));
    }

    fn sample(days: u32) -> Timeline {
        Timeline {
            first_day: "2026-03-02".into(),
            days,
            day_labels: (0..days).map(|d| format!("Day {d}")).collect(),
            shifts: vec![(0, 420, 900, "duty".into())],
            absences: vec![(1, 2, "sickness".into())],
            swipes: vec![(0, 422, "in".into()), (0, 905, "out".into())],
            sessions: vec![(0, 480, 750, "vpn".into())],
            lookups: vec![(0, 792, "PNC".into())],
            highlight: Some((0, 0)),
        }
    }

    #[test]
    fn timeline_marks_have_titles() {
        let s = timeline(&sample(3));
        check_wellformed(&s);
        let t = titles(&s);
        let want = [
            "Activity from 2026-03-02 (3 days)",
            "finding period Day 0",
            "sickness Day 1–Day 2",
            "duty 07:00–15:00",
            "session vpn 08:00–12:30",
            "swipe in 07:02",
            "swipe out 15:05",
            "look-up PNC 13:12",
        ];
        assert_eq!(t, want);
        for hr in ["00", "03", "12", "24"] {
            assert!(s.contains(&format!(">{hr}</text>")));
        }
        assert!(s.contains(">swipe out</text>") && s.contains("stroke-dasharray"));
    }

    #[test]
    fn timeline_caps_days() {
        let s = timeline(&sample(200));
        check_wellformed(&s);
        assert!(s.contains("(first 92 days shown)"));
        assert!(s.contains(">Day 91<") && !s.contains(">Day 92<"));
        assert!(s.len() > timeline(&sample(3)).len());
    }

    #[test]
    fn empty_inputs() {
        let empty = [
            bar_chart("a", &[], "x"),
            stacked_columns("b", &[], &[]),
            histogram("c", &[]),
        ];
        for s in empty {
            check_wellformed(&s);
            assert!(s.contains(">No data<"));
        }
        let s = timeline(&sample(0));
        check_wellformed(&s);
        assert!(s.contains(">No activity in this period<"));
    }
}
