//! The HTML pages. Every value from data is escaped with [`esc`]; there is
//! no JavaScript; charts are SVG from [`crate::svg`].

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use probity_audit::Record;
use probity_policy::{Action, Category, Role};
use probity_review::{Dismissal, FindingRow, QueueQuery, Sort, Status, Step, display_time};
use serde_json::json;

use crate::auth::Caller;
use crate::{Error, Result, Shared, data, svg, workflow};

/// Escapes text for HTML (the same escaping as the staff notice).
pub use probity_govern::notice::esc;

fn url(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

const APP_CSS: &str = include_str!("../static/app.css");

fn nav(c: &Caller) -> String {
    let r = c.role();
    let mut links: Vec<(&str, &str)> = vec![];
    if r.may(Action::ReadFindings) {
        links.extend([("/dashboard", "Dashboard"), ("/queue", "Queue")]);
    }
    if r.may(Action::ReadQuality) {
        links.push(("/quality", "Detector quality"));
    }
    if r.may(Action::ReadAudit) {
        links.push(("/audit", "Audit log"));
    }
    if r == Role::Subject {
        links.extend([("/me", "My record"), ("/me/report", "My report")]);
    }
    if r == Role::StaffRep {
        links.push(("/rep", "My cases"));
    }
    if r.may(Action::ManageUsers) {
        links.push(("/admin/users", "Users"));
    }
    let mut s = String::from("<nav><span class=\"brand\">Probity</span>");
    for (href, label) in links {
        let _ = write!(s, "<a href=\"{href}\">{label}</a>");
    }
    let _ = write!(
        s,
        "<span class=\"who\">{} ({})</span><form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button id=\"logout\">Sign out</button></form></nav>",
        esc(&c.user.id),
        esc(r.id()),
        esc(&c.csrf)
    );
    s
}

/// A full page.
pub fn layout(title: &str, c: Option<&Caller>, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · Probity</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>{}<main><h1>{}</h1>{}</main><footer>Findings are leads for a human review, never sanctions. Every view of an identity and every decision is on the audit log.</footer></body></html>",
        esc(title),
        c.map(nav).unwrap_or_default(),
        esc(title),
        body
    ))
}

/// An error page.
pub fn error_page(status: StatusCode, msg: &str) -> Html<String> {
    let who = crate::auth::current();
    layout(
        status.canonical_reason().unwrap_or("Error"),
        who.as_ref(),
        &format!(
            "<p class=\"error\" id=\"error\">{}</p><p><a href=\"/\">Back to Probity</a></p>",
            esc(msg)
        ),
    )
}

/// 404 for anything not in the route table.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        error_page(StatusCode::NOT_FOUND, "There is no such page."),
    )
        .into_response()
}

/// The sign-in page.
pub fn login_page(csrf: &str, next: &str, error: Option<&str>) -> Html<String> {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    layout(
        "Sign in",
        None,
        &format!(
            "{err}<form method=\"post\" action=\"/login\" class=\"card\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\"><label>User name <input name=\"user\" id=\"user\" autocomplete=\"username\" required></label><label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label><button id=\"sign-in\">Sign in</button></form>",
            esc(csrf),
            esc(next)
        ),
    )
}

/// `GET /static/{file}`: the embedded stylesheets only. The name is looked
/// up in a fixed list; nothing is read from disk.
pub async fn asset(Path(file): Path<String>) -> Response {
    let body = match file.as_str() {
        "app.css" => APP_CSS,
        "report.css" => probity_govern::notice::STYLE,
        _ => return not_found().await,
    };
    let mut res = body.to_string().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// A role's start page.
pub fn home_path(role: Role) -> &'static str {
    match role {
        Role::Analyst | Role::Reviewer => "/queue",
        Role::Auditor => "/audit",
        Role::Admin => "/admin/users",
        Role::Subject => "/me",
        Role::StaffRep => "/rep",
    }
}

/// `GET /`: each role's start page.
pub async fn home(Extension(c): Extension<Caller>) -> Redirect {
    Redirect::to(home_path(c.role()))
}

fn fmt_score(s: f64) -> String {
    format!("{s:.2}")
}

/// `GET /dashboard`.
pub async fn dashboard(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Html<String>> {
    st.sync().await?;
    let now = probity_review::now_micros();
    let cells = st.db.by_scenario_month().await?;
    let mut months: Vec<String> = cells.iter().map(|c| c.1.clone()).collect();
    months.sort();
    months.dedup();
    let mut scen: Vec<String> = cells.iter().map(|c| c.0.clone()).collect();
    scen.sort();
    scen.dedup();
    let series: Vec<(String, Vec<f64>)> = scen
        .iter()
        .map(|s| {
            let v = months
                .iter()
                .map(|m| {
                    cells
                        .iter()
                        .find(|c| &c.0 == s && &c.1 == m)
                        .map(|c| c.2 as f64)
                        .unwrap_or(0.0)
                })
                .collect();
            (s.clone(), v)
        })
        .collect();
    let by_status: Vec<(String, f64)> = st
        .db
        .by_status()
        .await?
        .into_iter()
        .map(|(s, n)| {
            (
                Status::from_id(&s)
                    .map(|x| x.label().to_string())
                    .unwrap_or(s),
                n as f64,
            )
        })
        .collect();
    let ages = st.db.open_ages(now).await?;
    let buckets = [
        ("< 1 day", 0.0, 1.0),
        ("1–7 days", 1.0, 7.0),
        ("7–30 days", 7.0, 30.0),
        ("30–90 days", 30.0, 90.0),
        ("> 90 days", 90.0, f64::INFINITY),
    ];
    let hist: Vec<(String, u64)> = buckets
        .iter()
        .map(|(l, a, b)| {
            (
                l.to_string(),
                ages.iter().filter(|x| **x >= *a && **x < *b).count() as u64,
            )
        })
        .collect();
    let body = format!(
        "<section><h2>Findings by scenario and month</h2>{}</section><section><h2>By status</h2>{}</section><section><h2>Age of open findings ({} open)</h2>{}</section>",
        svg::stacked_columns(
            "Findings by month of their period, per scenario",
            &months,
            &series
        ),
        svg::bar_chart("Findings by status", &by_status, "findings"),
        ages.len(),
        svg::histogram("Open findings by days in the queue", &hist),
    );
    Ok(layout("Dashboard", Some(&c), &body))
}

/// Parses the queue's filters. Values are bound as SQL parameters; numbers
/// that do not parse are refused with a plain message.
pub fn queue_query(q: &HashMap<String, String>) -> Result<QueueQuery> {
    if q.values().any(|v| v.contains('\0')) {
        return Err(Error::BadRequest(
            "filters cannot contain NUL characters".into(),
        ));
    }
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let min_score = match text("min_score") {
        Some(v) => Some(
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::BadRequest("min_score must be a number, e.g. 0.5".into()))?,
        ),
        None => None,
    };
    let page = match text("page") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|p| *p >= 1 && *p <= 1_000_000)
            .ok_or_else(|| Error::BadRequest("page must be a whole number from 1".into()))?,
        None => 1,
    };
    let per_page = match text("per_page") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=200).contains(p))
            .ok_or_else(|| Error::BadRequest("per_page must be from 1 to 200".into()))?,
        None => 50,
    };
    let sort = match text("sort") {
        Some(v) => Sort::from_id(&v).ok_or_else(|| {
            Error::BadRequest("sort must be one of: score, oldest, newest, period".into())
        })?,
        None => Sort::Score,
    };
    Ok(QueueQuery {
        scenario: text("scenario"),
        status: text("status").filter(|s| s != "open"),
        unit: text("unit"),
        min_score,
        person: None,
        sort,
        page,
        per_page,
    })
}

/// The audit entry of a listing of findings: one entry for the page, the
/// findings' ids in its details, no person (each person's own entries are
/// those of the pages that show their records: a finding, a case).
pub fn listing(c: &Caller, action: &str, query: &QueueQuery, rows: &[FindingRow]) -> Record {
    Record::new(&c.user.id, action, "").details(json!({
        "findings": rows.iter().map(|r| r.finding_id.as_str()).collect::<Vec<_>>(),
        "query": query,
    }))
}

fn status_badge(s: Status) -> String {
    format!(
        "<span class=\"status {}\">{}</span>",
        s.id(),
        esc(s.label())
    )
}

fn finding_rows(rows: &[FindingRow], with_person: bool) -> String {
    let mut t = String::from(
        "<table class=\"queue\"><thead><tr><th>Score</th><th>Scenario</th><th>Detector</th>",
    );
    if with_person {
        t.push_str("<th>Person (pseudonym)</th>");
    }
    t.push_str("<th>Unit</th><th>Period</th><th>Summary</th><th>Status</th></tr></thead><tbody>");
    for r in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            fmt_score(r.score),
            esc(&r.scenario),
            esc(&r.detector)
        );
        if with_person {
            let _ = write!(
                t,
                "<td><a href=\"/cases/{}\">{}</a></td>",
                url(&r.person),
                esc(&r.person)
            );
        }
        let _ = write!(
            t,
            "<td>{}</td><td>{} – {}</td><td><a class=\"finding\" href=\"/findings/{}\">{}</a></td><td>{}</td></tr>",
            esc(r.unit_id.as_deref().unwrap_or("")),
            esc(&r.period_start),
            esc(&r.period_end),
            url(&r.finding_id),
            esc(&r.summary),
            status_badge(r.status)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn select(name: &str, current: Option<&str>, options: &[(String, String)]) -> String {
    let mut s = format!("<select name=\"{name}\" id=\"f-{name}\">");
    for (v, l) in options {
        let sel = if current == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(s, "<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l));
    }
    s.push_str("</select>");
    s
}

/// `GET /queue`.
pub async fn queue(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Html<String>> {
    st.sync().await?;
    let query = queue_query(&q)?;
    let page = st.db.queue(&query).await?;
    // On the log while the page is put together.
    let audited = st
        .journal
        .submit(listing(&c, "web.view.queue", &query, &page.rows))
        .await?;
    let scenarios = st
        .db
        .distinct(probity_review::FilterColumn::Scenario)
        .await?;
    let units = st.db.distinct(probity_review::FilterColumn::Unit).await?;
    let mut opts = vec![(String::new(), "all".to_string())];
    opts.extend(scenarios.iter().map(|s| (s.clone(), s.clone())));
    let mut uopts = vec![(String::new(), "all".to_string())];
    uopts.extend(units.iter().map(|s| (s.clone(), s.clone())));
    let mut sopts = vec![(String::new(), "open (not yet decided)".to_string())];
    sopts.extend(
        Status::ALL
            .iter()
            .map(|s| (s.id().to_string(), s.label().to_string())),
    );
    let sort_opts: Vec<(String, String)> = [
        ("score", "highest score"),
        ("oldest", "oldest in queue"),
        ("newest", "newest in queue"),
        ("period", "most recent period"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let pages = ((page.total as u64).div_ceil(u64::from(page.per_page))).max(1);
    let link = |p: u32| {
        let mut parts: Vec<String> = vec![];
        for (k, v) in [
            ("scenario", query.scenario.clone()),
            ("status", query.status.clone()),
            ("unit", query.unit.clone()),
            ("min_score", query.min_score.map(|m| m.to_string())),
            ("sort", Some(query.sort.id().to_string())),
            ("per_page", Some(page.per_page.to_string())),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", url(&v)));
            }
        }
        parts.push(format!("page={p}"));
        format!("/queue?{}", parts.join("&amp;"))
    };
    let mut pager = format!(
        "<p class=\"pager\">{} findings · page {} of {} ",
        page.total, page.page, pages
    );
    if page.page > 1 {
        let _ = write!(
            pager,
            "<a id=\"prev\" href=\"{}\">previous</a> ",
            link(page.page - 1)
        );
    }
    if u64::from(page.page) < pages {
        let _ = write!(
            pager,
            "<a id=\"next\" href=\"{}\">next</a>",
            link(page.page + 1)
        );
    }
    pager.push_str("</p>");
    let body = format!(
        "<form method=\"get\" action=\"/queue\" class=\"filters\"><label>Scenario {}</label><label>Status {}</label><label>Unit {}</label><label>Min score <input name=\"min_score\" id=\"f-min_score\" size=\"5\" value=\"{}\"></label><label>Sort {}</label><button id=\"filter\">Apply</button></form>{pager}{}{pager}",
        select("scenario", query.scenario.as_deref(), &opts),
        select("status", query.status.as_deref(), &sopts),
        select("unit", query.unit.as_deref(), &uopts),
        query.min_score.map(|m| m.to_string()).unwrap_or_default(),
        select("sort", Some(query.sort.id()), &sort_opts),
        finding_rows(&page.rows, true),
    );
    audited.durable().await?;
    Ok(layout("Findings queue", Some(&c), &body))
}

fn facts_table(record: &serde_json::Value) -> String {
    let mut s = String::from("<table class=\"facts\"><tbody>");
    if let Some(f) = record["facts"].as_object() {
        for (k, v) in f {
            let _ = write!(
                s,
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(&k.replace('_', " ")),
                esc(&v.as_str().map_or_else(|| v.to_string(), str::to_string))
            );
        }
    }
    s.push_str("</tbody></table>");
    s
}

fn evidence_table(record: &serde_json::Value) -> String {
    let Some(ev) = record["evidence"].as_array() else {
        return "<p>No evidence rows.</p>".into();
    };
    let mut cols: Vec<String> = vec![];
    for e in ev {
        if let Some(o) = e.as_object() {
            for k in o.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    let mut s = String::from("<table class=\"evidence\"><thead><tr>");
    for c in &cols {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr></thead><tbody>");
    for e in ev.iter().take(500) {
        s.push_str("<tr>");
        for c in &cols {
            let v = match &e[c] {
                serde_json::Value::String(x) => x.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            let _ = write!(s, "<td>{}</td>", esc(&v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    if ev.len() > 500 {
        let _ = write!(s, "<p>{} more evidence rows not shown.</p>", ev.len() - 500);
    }
    s
}

async fn history_html(st: &Shared, id: &str) -> Result<String> {
    let hist = st.db.history(id).await?;
    let responses = st.db.responses(id).await?;
    let mut items: Vec<(i64, String)> = vec![];
    for d in &hist {
        items.push((
            d.at,
            format!(
                "<li class=\"decision\"><b>{}</b> by {} — {} → {}{}<br><q>{}</q> <small>(audit entry {})</small></li>",
                esc(&display_time(d.at)),
                esc(&d.actor),
                esc(&d.step.replace('_', " ")),
                esc(Status::from_id(&d.to_status).map(|s| s.label()).unwrap_or(&d.to_status)),
                d.dismissal
                    .as_deref()
                    .and_then(Dismissal::from_id)
                    .map(|x| format!(" ({})", esc(x.label())))
                    .unwrap_or_default(),
                esc(&d.reason),
                d.audit_seq
            ),
        ));
    }
    for r in &responses {
        items.push((
            r.at,
            format!(
                "<li class=\"response\"><b>{}</b> response from the member of staff:<br><q>{}</q></li>",
                esc(&display_time(r.at)),
                esc(&r.body)
            ),
        ));
    }
    items.sort_by_key(|i| i.0);
    if items.is_empty() {
        return Ok("<p>No decisions yet.</p>".into());
    }
    Ok(format!(
        "<ol class=\"history\">{}</ol>",
        items.into_iter().map(|i| i.1).collect::<String>()
    ))
}

fn decide_forms(c: &Caller, f: &FindingRow, proposer: Option<&str>) -> String {
    let steps = workflow::steps_for(c.role(), f.status);
    if steps.is_empty() {
        return if f.status.is_final() {
            "<p>The outcome is decided.</p>".into()
        } else {
            "<p>Your role cannot take the next step on this finding.</p>".into()
        };
    }
    let mut s = String::new();
    for step in steps {
        if step == Step::ApproveReferral && proposer == Some(c.user.id.as_str()) {
            s.push_str("<p class=\"note\">You proposed this referral; another reviewer must approve it (four-eyes).</p>");
        }
        let dismissal = if step == Step::Dismiss {
            let mut d = String::from(
                "<label>Why no further action <select name=\"dismissal\" id=\"dismissal\" required>",
            );
            for k in Dismissal::ALL {
                let _ = write!(
                    d,
                    "<option value=\"{}\">{}</option>",
                    k.id(),
                    esc(k.label())
                );
            }
            d.push_str("</select></label>");
            d
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "<form method=\"post\" action=\"/findings/{}/decide\" class=\"card step\" id=\"step-{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"step\" value=\"{}\">{dismissal}<label>Reason (recorded and audited) <textarea name=\"reason\" required minlength=\"10\" rows=\"2\"></textarea></label><button>{}</button></form>",
            url(&f.finding_id),
            step.id(),
            esc(&c.csrf),
            step.id(),
            esc(step.label())
        );
    }
    s
}

/// What the timeline of a period reads, for the view's audit entry: its
/// days and the parts `shown` enables.
fn timeline_read(start: &str, end: &str, shown: &BTreeSet<Category>) -> serde_json::Value {
    let Some((first, days)) = data::window(start, end) else {
        return serde_json::Value::Null;
    };
    json!({
        "from": first.to_string(),
        "days": days,
        "parts": data::Part::allowed(shown).iter().map(|p| p.label()).collect::<Vec<_>>(),
    })
}

/// The timeline of a person over a period, from the parts `shown`
/// enables (the others are not read), with a note naming what is left
/// out.
async fn timeline_svg(
    st: &Shared,
    person: &str,
    start: &str,
    end: &str,
    shown: &BTreeSet<Category>,
) -> String {
    let parts = data::Part::allowed(shown);
    let left_out: Vec<&str> = data::Part::ALL
        .iter()
        .filter(|p| !parts.contains(p))
        .map(|p| p.label())
        .collect();
    let note = if left_out.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"note\" id=\"timeline-withheld\">Not shown (the purpose this finding serves does not enable their data categories): {}.</p>",
            esc(&left_out.join(", "))
        )
    };
    let Some((first, days)) = data::window(start, end) else {
        return note;
    };
    if parts.is_empty() {
        return note;
    }
    let hl = data::highlight(first, days, start, end);
    let Ok(store) = st.store() else {
        return note;
    };
    let html = match data::timeline(&store, person, first, days, hl, &parts).await {
        Ok(t) => svg::timeline(&t),
        Err(e) => format!(
            "<p class=\"error\">Timeline unavailable: {}</p>",
            esc(&e.public_message())
        ),
    };
    format!("{html}{note}")
}

/// The data categories shown for findings of these detectors (each
/// detector's purpose in the governance in force), with the purposes.
fn categories_of<'a>(
    st: &Shared,
    detectors: impl IntoIterator<Item = &'a str>,
) -> Result<(BTreeSet<Category>, BTreeSet<String>)> {
    let gov = st.store()?.governance()?;
    let mut shown = BTreeSet::new();
    let mut purposes = BTreeSet::new();
    for d in detectors {
        shown.extend(data::shown_categories(&gov, d));
        if let Some(a) = gov.detectors.get(d) {
            purposes.insert(a.purpose.clone());
        }
    }
    Ok((shown, purposes))
}

fn category_ids(shown: &BTreeSet<Category>) -> Vec<&'static str> {
    shown.iter().map(|c| c.id()).collect()
}

fn categories_note(shown: &BTreeSet<Category>, purposes: &BTreeSet<String>) -> String {
    let titles: Vec<&str> = shown.iter().map(|c| c.title()).collect();
    let purposes: Vec<&str> = purposes.iter().map(String::as_str).collect();
    format!(
        "<p class=\"note\" id=\"categories\">Data shown only from the categories the purpose ({}) enables: {}.</p>",
        esc(&if purposes.is_empty() {
            "none: the detector has no approval".to_string()
        } else {
            purposes.join(", ")
        }),
        esc(&if titles.is_empty() {
            "none".to_string()
        } else {
            titles.join(", ")
        })
    )
}

/// `GET /findings/{id}`.
pub async fn finding(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Html<String>> {
    let f =
        st.db.finding(&id).await?.ok_or_else(|| {
            Error::NotFound("there is no finding with that id under review".into())
        })?;
    let record: serde_json::Value = serde_json::from_str(&f.record).unwrap_or_default();
    let (shown, purposes) = categories_of(&st, [f.detector.as_str()])?;
    let (record, withheld) = data::evidence_shown(&record, &shown);
    let sit = st.db.situation(&id).await?;
    let mut body = format!(
        "<section class=\"summary\"><p class=\"lead\" id=\"summary\">{}</p><dl><dt>Status</dt><dd id=\"status\">{}</dd><dt>Scenario</dt><dd>{}</dd><dt>Detector</dt><dd>{}</dd><dt>Score</dt><dd>{}</dd><dt>Period</dt><dd>{} – {}</dd><dt>Person</dt><dd><a href=\"/cases/{}\">{}</a> (pseudonym)</dd><dt>Unit</dt><dd>{}</dd></dl>",
        esc(&f.summary),
        status_badge(f.status),
        esc(&f.scenario),
        esc(&f.detector),
        fmt_score(f.score),
        esc(&f.period_start),
        esc(&f.period_end),
        url(&f.person),
        esc(&f.person),
        esc(f.unit_id.as_deref().unwrap_or("")),
    );
    if let Some(by) = sit.respond_by
        && f.status == Status::AwaitingResponse
    {
        let _ = write!(
            body,
            "<p class=\"note\">The member of staff was told on proposal and may respond until {}{}.</p>",
            esc(&display_time(by)),
            if sit.responded {
                " — they have responded"
            } else {
                ""
            }
        );
    }
    if c.role().may(Action::RevealIdentity) {
        let _ = write!(
            body,
            "<p><a id=\"reveal\" href=\"/findings/{}/reveal\">Reveal who this is (reason required, audited)</a></p>",
            url(&f.finding_id)
        );
    }
    body.push_str(&categories_note(&shown, &purposes));
    body.push_str("</section>");
    // What is read is known before it is read: on the log meanwhile.
    let audited = st
        .journal
        .submit(
            Record::new(&c.user.id, "web.view.finding", &f.finding_id)
                .person(&f.person)
                .details(json!({
                    "detector": f.detector,
                    "categories": category_ids(&shown),
                    "evidence_rows": record["evidence"].as_array().map_or(0, Vec::len),
                    "evidence_withheld": withheld,
                    "timeline": timeline_read(&f.period_start, &f.period_end, &shown),
                })),
        )
        .await?;
    let timeline = timeline_svg(&st, &f.person, &f.period_start, &f.period_end, &shown).await;
    let withheld_note = if withheld > 0 {
        format!(
            "<p class=\"note\" id=\"evidence-withheld\">{withheld} evidence rows from data categories this purpose does not enable are not shown.</p>"
        )
    } else {
        String::new()
    };
    let _ = write!(
        body,
        "<section><h2>Why it was flagged</h2>{}</section><section><h2>Evidence</h2>{}{withheld_note}</section><section><h2>Timeline</h2>{timeline}</section><section><h2>Decisions and responses</h2>{}</section><section><h2>Next step</h2>{}</section>",
        facts_table(&record),
        evidence_table(&record),
        history_html(&st, &id).await?,
        decide_forms(&c, &f, sit.proposer.as_deref()),
    );
    audited.durable().await?;
    Ok(layout("Finding", Some(&c), &body))
}

/// `POST /findings/{id}/decide`.
pub async fn decide(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    let step = form
        .get("step")
        .and_then(|s| Step::from_id(s))
        .ok_or_else(|| Error::BadRequest("unknown workflow step".into()))?;
    // Who may take the step depends on the finding's status: the workflow
    // authorises it (and audits a refusal) against the status it is in.
    let dismissal = form.get("dismissal").and_then(|d| Dismissal::from_id(d));
    let reason = form.get("reason").map(String::as_str).unwrap_or("");
    let store = st.store()?;
    workflow::decide(
        &store,
        &st.db,
        &c.user.id,
        &id,
        step,
        reason,
        dismissal,
        probity_review::now_micros(),
    )
    .await?;
    Ok(Redirect::to(&format!("/findings/{}", url(&id))).into_response())
}

/// `GET /findings/{id}/reveal`.
pub async fn reveal_form(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Html<String>> {
    let f =
        st.db.finding(&id).await?.ok_or_else(|| {
            Error::NotFound("there is no finding with that id under review".into())
        })?;
    st.audit_view(
        Record::new(&c.user.id, "web.view.reveal_form", &f.finding_id)
            .person(&f.person)
            .details(json!({"detector": f.detector})),
    )
    .await?;
    let body = format!(
        "<p>{}</p><p class=\"note\">Revealing an identity is recorded on the audit log with your reason, and appears in the person's subject access report.</p><form method=\"post\" action=\"/findings/{}/reveal\" class=\"card\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label>Reason (at least 10 characters) <textarea name=\"reason\" id=\"reason\" required minlength=\"10\" rows=\"3\"></textarea></label><button id=\"do-reveal\">Reveal</button></form>",
        esc(&f.summary),
        url(&id),
        esc(&c.csrf)
    );
    Ok(layout("Reveal identity", Some(&c), &body))
}

/// `POST /findings/{id}/reveal`.
pub async fn reveal(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Html<String>> {
    let store = st.store()?;
    let reason = form.get("reason").map(String::as_str);
    let r = probity_govern::reveal(&store, &id, reason, &c.user.id).await?;
    let body = format!(
        "<dl class=\"identity\" id=\"identity\"><dt>Name</dt><dd>{}</dd><dt>Staff id</dt><dd>{}</dd><dt>Rank</dt><dd>{}</dd><dt>Unit</dt><dd>{}</dd><dt>Finding</dt><dd>{}</dd></dl><p class=\"note\">Recorded as audit entry {} with your reason.</p><p><a href=\"/findings/{}\">Back to the finding</a></p>",
        esc(&r.name),
        esc(&r.person_id),
        esc(r.rank.as_deref().unwrap_or("")),
        esc(r.unit_id.as_deref().unwrap_or("")),
        esc(&r.summary),
        r.audit_seq,
        url(&id)
    );
    Ok(layout("Identity revealed", Some(&c), &body))
}

/// `GET /cases/{person}`.
pub async fn case(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(person): Path<String>,
) -> Result<Html<String>> {
    let page = st
        .db
        .queue(&QueueQuery {
            person: Some(person.clone()),
            status: None,
            per_page: 200,
            page: 1,
            sort: Sort::Period,
            ..Default::default()
        })
        .await?;
    let mut all = page.rows;
    for s in Status::ALL.iter().filter(|s| s.is_final()) {
        let p = st
            .db
            .queue(&QueueQuery {
                person: Some(person.clone()),
                status: Some(s.id().to_string()),
                per_page: 200,
                page: 1,
                sort: Sort::Period,
                ..Default::default()
            })
            .await?;
        all.extend(p.rows);
    }
    if all.is_empty() {
        return Err(Error::NotFound(
            "no findings about this person are under review".into(),
        ));
    }
    all.sort_by(|a, b| b.period_start.cmp(&a.period_start));
    let start = all
        .iter()
        .map(|f| f.period_start.clone())
        .min()
        .unwrap_or_default();
    let end = all
        .iter()
        .map(|f| f.period_end.clone())
        .max()
        .unwrap_or_default();
    let (shown, purposes) = categories_of(&st, all.iter().map(|f| f.detector.as_str()))?;
    let mut body = format!(
        "<p>{} findings about <b>{}</b> (pseudonym).</p>{}{}",
        all.len(),
        esc(&person),
        finding_rows(&all, false),
        categories_note(&shown, &purposes)
    );
    if c.role() != Role::StaffRep {
        let reps = st.db.consents_of(&person).await?;
        let _ = write!(
            body,
            "<p>Staff representatives with this person's consent: {}</p>",
            if reps.is_empty() {
                "none".to_string()
            } else {
                reps.iter()
                    .map(|r| esc(&r.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    let audited = st
        .journal
        .submit(
            Record::new(&c.user.id, "web.view.case", &person)
                .person(&person)
                .details(json!({
                    "findings": all.iter().map(|f| f.finding_id.as_str()).collect::<Vec<_>>(),
                    "categories": category_ids(&shown),
                    "timeline": timeline_read(&start, &end, &shown),
                })),
        )
        .await?;
    let timeline = timeline_svg(&st, &person, &start, &end, &shown).await;
    let _ = write!(body, "<section><h2>Timeline</h2>{timeline}</section>");
    for f in &all {
        let _ = write!(
            body,
            "<section><h3>{}</h3>{}</section>",
            esc(&f.summary),
            history_html(&st, &f.finding_id).await?
        );
    }
    audited.durable().await?;
    Ok(layout("Case", Some(&c), &body))
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// `GET /quality`.
pub async fn quality(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Html<String>> {
    st.sync().await?;
    let q = st.db.quality(probity_review::now_micros()).await?;
    let mut t = String::from(
        "<table class=\"quality\"><thead><tr><th>Detector</th><th>Scenario</th><th>Findings</th><th>Open</th><th>Decided</th><th>Upheld</th><th>Upheld rate</th><th>False positives</th><th>Precision (reviewed)</th><th>Other dismissals</th><th>Oldest open (days)</th><th>Median open age (days)</th></tr></thead><tbody>",
    );
    for d in &q {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(&d.detector),
            esc(&d.scenario),
            d.volume,
            d.open,
            d.decided,
            d.upheld,
            pct(d.upheld_rate()),
            d.false_positive,
            pct(d.precision()),
            d.dismissed_other,
            d.oldest_open_days,
            d.median_open_days
        );
    }
    t.push_str("</tbody></table>");
    let bars: Vec<(String, f64)> = q
        .iter()
        .filter_map(|d| d.upheld_rate().map(|r| (d.detector.clone(), r * 100.0)))
        .collect();
    let body = format!(
        "<p>Upheld rate = findings decided with advice, a prevention notice or a referral ÷ all decided. Precision counts only \"false positive\" dismissals against a detector: an explained pattern was still there.</p>{t}<section><h2>Upheld rate by detector</h2>{}</section>{}",
        svg::bar_chart("Upheld rate (%) by detector", &bars, "%"),
        fairness_section(&st.config.store)
    );
    Ok(layout("Detector quality", Some(&c), &body))
}

/// The latest fairness audit of each detector and model
/// (`STORE/fairness/latest.json`, written by every analysis and scoring
/// run): per attribute, the groups with a disparity, ratios to the
/// reference group, significant ones marked. Aggregates only.
fn fairness_section(store: &std::path::Path) -> String {
    let path = store.join("fairness").join("latest.json");
    let latest: serde_json::Value = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        Err(_) => serde_json::Value::Null,
    };
    let Some(subjects) = latest["subjects"].as_object() else {
        return "<section><h2>Fairness</h2><p>No fairness audit yet: every analysis and scoring run writes one.</p></section>".into();
    };
    let ratio = |v: &serde_json::Value| v.as_f64().map_or("–".to_owned(), |x| format!("{x:.2}×"));
    let mut out = String::from(
        "<section id=\"fairness\"><h2>Fairness</h2><p>Each detector's and model's latest run, by rank, unit, working hours, and sex and ethnicity where equality monitoring is held: rates as ratios to the reference group (the largest). Outside 0.8–1.25 is a disparity; <strong>significant</strong> when the group has at least 50 people and |z| ≥ 1.96. With <code>[fairness] block_flagged</code>, a significant disparity withholds the findings until a reviewer signs it off (<code>probity fairness sign-off</code>).</p>",
    );
    for (id, a) in subjects {
        let mut rows = String::new();
        let mut significant = 0;
        for attr in a["attributes"].as_array().into_iter().flatten() {
            for g in attr["groups"].as_array().into_iter().flatten() {
                let disp: Vec<&str> = g["disparities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str())
                    .collect();
                if disp.is_empty() {
                    continue;
                }
                let sig: Vec<&str> = g["significant"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str())
                    .collect();
                significant += sig.len();
                let r = &g["ratios"];
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(attr["attribute"].as_str().unwrap_or("")),
                    esc(g["group"].as_str().unwrap_or("")),
                    if g["small_group"].as_bool().unwrap_or(false) {
                        " (small group)"
                    } else {
                        ""
                    },
                    g["people"],
                    g["flagged"],
                    ratio(&r[0]),
                    ratio(&r[1]),
                    ratio(&r[2]),
                    ratio(&r[3]),
                    disp.iter()
                        .map(|d| if sig.contains(d) {
                            format!("<strong>{}</strong>", esc(d))
                        } else {
                            esc(d)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let _ = write!(
            out,
            "<h3>{} <small>v{} — {} — {} people, {} flagged; outcomes: {}; {} significant</small></h3>",
            esc(id),
            a["version"],
            esc(a["run"].as_str().unwrap_or("")),
            a["population"],
            a["flagged_people"],
            esc(a["outcomes"].as_str().unwrap_or("")),
            significant
        );
        if rows.is_empty() {
            out.push_str("<p>No disparity.</p>");
        } else {
            let _ = write!(
                out,
                "<table class=\"fairness\"><thead><tr><th>Attribute</th><th>Group</th><th>People</th><th>Flagged</th><th>Flag rate</th><th>Precision</th><th>False-positive rate</th><th>False-negative rate</th><th>Disparities</th></tr></thead><tbody>{rows}</tbody></table>"
            );
        }
    }
    out.push_str("</section>");
    out
}

/// Parses the audit filter (shared with the API).
pub fn audit_filter(q: &HashMap<String, String>) -> Result<probity_audit::Filter> {
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let day = |k: &str| -> Result<Option<jiff::Timestamp>> {
        match text(k) {
            None => Ok(None),
            Some(v) => {
                let d: jiff::civil::Date = v
                    .parse()
                    .map_err(|_| Error::BadRequest(format!("{k} must be a date, YYYY-MM-DD")))?;
                Ok(jiff::tz::TimeZone::UTC
                    .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                    .ok())
            }
        }
    };
    Ok(probity_audit::Filter {
        actor: text("actor"),
        action: text("action"),
        person: text("person"),
        object: text("object"),
        since: day("since")?,
        until: day("until")?,
    })
}

/// The audit entry of reading the audit log: the filter, and the person
/// when the filter names one (their access history was read).
pub fn audit_read(c: &Caller, action: &str, f: &probity_audit::Filter, shown: usize) -> Record {
    let mut rec = Record::new(&c.user.id, action, "").details(json!({
        "actor": f.actor,
        "action": f.action,
        "person": f.person,
        "object": f.object,
        "since": f.since.map(|t| t.to_string()),
        "until": f.until.map(|t| t.to_string()),
        "entries": shown,
    }));
    if let Some(p) = &f.person {
        rec = rec.person(p);
    }
    rec
}

/// Reads matching audit entries, newest first, at most `limit`.
pub fn audit_entries(
    st: &Shared,
    f: &probity_audit::Filter,
    limit: usize,
) -> Result<Vec<probity_audit::Entry>> {
    let store = st.store()?;
    let mut out = std::collections::VecDeque::new();
    for e in probity_audit::read(&store.audit_dir(), f)? {
        out.push_back(e?);
        if out.len() > limit {
            out.pop_front();
        }
    }
    Ok(out.into_iter().rev().collect())
}

/// `GET /audit`.
pub async fn audit(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Html<String>> {
    let f = audit_filter(&q)?;
    let entries = audit_entries(&st, &f, 500)?;
    st.audit_view(audit_read(&c, "web.view.audit", &f, entries.len()))
        .await?;
    let v = |k: &str| esc(q.get(k).map(String::as_str).unwrap_or(""));
    let mut body = format!(
        "<form method=\"get\" action=\"/audit\" class=\"filters\"><label>Actor <input name=\"actor\" value=\"{}\"></label><label>Action (or prefix ending in .) <input name=\"action\" value=\"{}\"></label><label>Person (pseudonym) <input name=\"person\" value=\"{}\"></label><label>Since <input name=\"since\" placeholder=\"YYYY-MM-DD\" value=\"{}\"></label><label>Until <input name=\"until\" placeholder=\"YYYY-MM-DD\" value=\"{}\"></label><button>Filter</button></form><p>Newest first; at most 500 entries. Verify the chain with <code>probity audit verify</code>.</p><table class=\"audit\"><thead><tr><th>#</th><th>When</th><th>Actor</th><th>Action</th><th>Object</th><th>Person</th><th>Reason</th><th>Details</th></tr></thead><tbody>",
        v("actor"),
        v("action"),
        v("person"),
        v("since"),
        v("until")
    );
    for e in &entries {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            esc(&display_time(e.at.as_microsecond())),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.object),
            esc(e.person.as_deref().unwrap_or("")),
            esc(e.reason.as_deref().unwrap_or("")),
            esc(&e.details.to_string())
        );
    }
    body.push_str("</tbody></table>");
    Ok(layout("Audit log", Some(&c), &body))
}

fn person_of(c: &Caller) -> Result<String> {
    c.user
        .person
        .clone()
        .ok_or_else(|| Error::Forbidden("your account is not linked to a member of staff".into()))
}

/// `GET /me`.
pub async fn me(State(st): State<Shared>, Extension(c): Extension<Caller>) -> Result<Html<String>> {
    st.sync().await?;
    let person = person_of(&c)?;
    let notes = st.db.notifications(&person).await?;
    let mut body = String::from("<section><h2>Notices to you</h2>");
    if notes.is_empty() {
        body.push_str("<p>None.</p>");
    }
    for n in &notes {
        let _ = write!(
            body,
            "<div class=\"card notice\"><p><b>{}</b> {}</p></div>",
            esc(&display_time(n.at)),
            esc(&n.message)
        );
    }
    body.push_str("</section><section><h2>Findings about you</h2><p>You may respond to any of them. Your response becomes part of the record and is read before any decision; a prevention notice cannot be issued before you respond or the response window closes.</p>");
    let mut any = false;
    let mut seen: Vec<String> = vec![];
    for s in Status::ALL {
        let p = st
            .db
            .queue(&QueueQuery {
                person: Some(person.clone()),
                status: Some(s.id().to_string()),
                per_page: 200,
                page: 1,
                ..Default::default()
            })
            .await?;
        for f in &p.rows {
            any = true;
            seen.push(f.finding_id.clone());
            let responses = st.db.responses(&f.finding_id).await?;
            let _ = write!(
                body,
                "<div class=\"card mine\" id=\"mine-{}\"><p><b>{}</b></p><p>Period {} – {} · status: {}</p>",
                esc(&f.finding_id),
                esc(&f.summary),
                esc(&f.period_start),
                esc(&f.period_end),
                status_badge(f.status)
            );
            for r in &responses {
                let _ = write!(
                    body,
                    "<p class=\"response\">Your response of {}: <q>{}</q></p>",
                    esc(&display_time(r.at)),
                    esc(&r.body)
                );
            }
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/me/findings/{}/respond\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label>Your response <textarea name=\"body\" rows=\"3\" required></textarea></label><button>Send response</button></form></div>",
                url(&f.finding_id),
                esc(&c.csrf)
            );
        }
    }
    if !any {
        body.push_str("<p>There are no findings about you.</p>");
    }
    body.push_str("</section><section><h2>Staff representatives</h2>");
    let users = st.users()?;
    let consents = st.db.consents_of(&person).await?;
    for (rep, at) in &consents {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/me/consent/withdraw\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"rep\" value=\"{}\">{} may see your case (since {}) <button>Withdraw</button></form>",
            esc(&c.csrf),
            esc(rep),
            esc(rep),
            esc(&display_time(*at))
        );
    }
    let reps: Vec<(String, String)> = users
        .users
        .iter()
        .filter(|u| u.role == Role::StaffRep && !u.disabled)
        .map(|u| (u.id.clone(), u.id.clone()))
        .collect();
    if reps.is_empty() {
        body.push_str("<p>No staff representative has an account.</p>");
    } else {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/me/consent\" class=\"card\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label>Let this representative see your case {}</label><button id=\"consent\">Give consent</button></form>",
            esc(&c.csrf),
            select("rep", None, &reps)
        );
    }
    body.push_str("</section>");
    st.audit_view(
        Record::new(&c.user.id, "web.view.me", &person)
            .person(&person)
            .details(json!({"findings": seen})),
    )
    .await?;
    Ok(layout("My record", Some(&c), &body))
}

/// `GET /me/report`: the subject access report (audited as one).
pub async fn me_report(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Response> {
    let person = person_of(&c)?;
    let store = st.store()?;
    let dir = tempfile_dir()?;
    let w =
        probity_govern::subject::report_pseudonym(&store, &person, &c.user.id, None, dir.path())
            .await?;
    let html =
        std::fs::read_to_string(&w.html).map_err(|e| Error::Start(format!("report: {e}")))?;
    let html = html.replacen(
        &format!("<style>{}</style>", probity_govern::notice::STYLE),
        "<link rel=\"stylesheet\" href=\"/static/report.css\">",
        1,
    );
    Ok(Html(html).into_response())
}

/// A new private folder (0700, an unguessable name, never one that exists
/// already) for a report written and read back within one request.
fn tempfile_dir() -> Result<TempDir> {
    let p = std::env::temp_dir().join(format!("probity-report-{}", crate::auth::random_hex(16)));
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&p)
        .map_err(|e| Error::Start(format!("{}: {e}", p.display())))?;
    Ok(TempDir(p))
}

struct TempDir(std::path::PathBuf);
impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `POST /me/findings/{id}/respond`.
pub async fn me_respond(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    let person = person_of(&c)?;
    let store = st.store()?;
    let body = form.get("body").map(String::as_str).unwrap_or("");
    workflow::respond(
        &store,
        &st.db,
        &c.user.id,
        &person,
        &id,
        body,
        probity_review::now_micros(),
    )
    .await?;
    Ok(Redirect::to("/me").into_response())
}

async fn consent_change(
    st: Shared,
    c: Caller,
    form: HashMap<String, String>,
    grant: bool,
) -> Result<Response> {
    let person = person_of(&c)?;
    let store = st.store()?;
    let users = st.users()?;
    let rep = form.get("rep").map(String::as_str).unwrap_or("");
    workflow::consent(
        &store,
        &st.db,
        &users,
        &c.user.id,
        &person,
        rep,
        grant,
        probity_review::now_micros(),
    )
    .await?;
    Ok(Redirect::to("/me").into_response())
}

/// `POST /me/consent`.
pub async fn me_consent(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    consent_change(st, c, form, true).await
}

/// `POST /me/consent/withdraw`.
pub async fn me_consent_withdraw(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    consent_change(st, c, form, false).await
}

/// `GET /rep`.
pub async fn rep(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Html<String>> {
    let people = st.db.consented_to(&c.user.id).await?;
    let mut body = String::from(
        "<p>Cases of members of staff who have recorded their consent for you. Access ends when they withdraw it.</p><ul>",
    );
    for p in &people {
        let _ = write!(
            body,
            "<li><a href=\"/cases/{}\">{}</a></li>",
            url(p),
            esc(p)
        );
    }
    if people.is_empty() {
        body.push_str("<li>None.</li>");
    }
    body.push_str("</ul>");
    Ok(layout("My cases", Some(&c), &body))
}

/// `GET /admin/users`.
pub async fn admin_users(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Html<String>> {
    let users = st.users()?;
    let mut body = String::from(
        "<p>Users are managed with <code>probity user add|disable|reset</code> (audited).</p><table><thead><tr><th>User</th><th>Role</th><th>Linked person</th><th>Password set</th><th>Single sign-on</th><th>Disabled</th><th>Added</th></tr></thead><tbody>",
    );
    for u in &users.users {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} by {}</td></tr>",
            esc(&u.id),
            esc(u.role.id()),
            esc(u.person.as_deref().unwrap_or("")),
            esc(u.password_set_at.as_deref().unwrap_or("no")),
            if u.sso_subject.is_some() { "yes" } else { "no" },
            if u.disabled { "yes" } else { "no" },
            esc(&u.added_at),
            esc(&u.added_by)
        );
    }
    body.push_str("</tbody></table>");
    Ok(layout("Users", Some(&c), &body))
}
