//! The web UI's safeguards, driven in-process (no network): the
//! authorization matrix generated from the route table, CSRF, session
//! fixation, SQL injection in every filter, path traversal, rate limiting,
//! idle timeout, security headers.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
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
            detector: "ghost_overtime".into(),
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

async fn send(f: &Fixture, req: Request<Body>) -> Resp {
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
