//! The JSON API. Same rules, same workflow, same audit as the pages; POSTs
//! carry the session's CSRF token in the `x-csrf-token` header (from
//! `GET /api/me`). `/api/openapi.json` is generated from the route table.

use std::collections::HashMap;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use probity_audit::Record;
use probity_review::{Dismissal, QueueQuery, Status, Step};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::routes::{Kind, ROUTES, Rule};
use crate::{Error, Result, Shared, data, pages, workflow};

/// `GET /api/openapi.json`: OpenAPI 3.1, from [`ROUTES`].
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI document.
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        let mut params = vec![];
        for seg in r.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        if r.path == "/api/findings" {
            for (name, ty, desc) in [
                ("scenario", "string", "scenario id, e.g. S2"),
                (
                    "status",
                    "string",
                    "a status id, or `open` (default: not yet decided)",
                ),
                ("unit", "string", "unit id"),
                ("min_score", "number", "minimum score"),
                ("sort", "string", "score | oldest | newest | period"),
                ("page", "integer", "page, from 1"),
                (
                    "per_page",
                    "integer",
                    "rows per page, 1 to 200 (default 50)",
                ),
            ] {
                params.push(json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}}));
            }
        }
        if r.path == "/api/audit" {
            for name in [
                "actor", "action", "person", "object", "since", "until", "limit",
            ] {
                params.push(json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}}));
            }
        }
        let mut op = json!({
            "summary": r.summary,
            "description": format!("Allowed: {}.", r.rule.describe()),
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "400": {"description": "Bad input, with a message"},
                "401": {"description": "Not signed in"},
                "403": {"description": "Role not allowed, or CSRF check failed (audited)"},
                "404": {"description": "Not found"},
                "409": {"description": "The workflow refused the step (e.g. four-eyes, response window)"}
            }
        });
        if r.rule != Rule::Public {
            op["security"] = json!([{"session": []}]);
        }
        if r.changes_state() {
            op["parameters"]
                .as_array_mut()
                .expect("array")
                .push(json!({"name": "x-csrf-token", "in": "header", "required": true, "schema": {"type": "string"}}));
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Probity review API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Findings are pseudonymised; identities are revealed only through the audited reveal page. Sign in through /login; the session cookie authenticates API calls."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "probity_session"}},
            "schemas": {
                "Decision": {
                    "type": "object",
                    "required": ["step", "reason"],
                    "properties": {
                        "step": {"type": "string", "enum": Step::ALL.iter().map(|s| s.id()).collect::<Vec<_>>()},
                        "reason": {"type": "string", "minLength": probity_review::workflow::MIN_REASON},
                        "dismissal": {"type": "string", "enum": Dismissal::ALL.iter().map(|d| d.id()).collect::<Vec<_>>()}
                    }
                }
            }
        }
    })
}

/// `GET /api/me`.
pub async fn me(Extension(c): Extension<Caller>) -> Json<Value> {
    Json(json!({
        "user": c.user.id,
        "role": c.role().id(),
        "person": c.user.person,
        "csrf": c.csrf,
    }))
}

/// `GET /api/findings` (audited as one view listing the findings' ids).
pub async fn findings(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let query = pages::queue_query(&q)?;
    let page = st.db.queue(&query).await?;
    let audited = st
        .journal
        .submit(pages::listing(&c, "api.view.findings", &query, &page.rows))
        .await?;
    let body = json!(page);
    audited.durable().await?;
    Ok(Json(body))
}

/// `GET /api/findings/{id}`: the finding, its evidence from the data
/// categories its purpose enables only, decisions and responses (audited).
pub async fn finding(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let f =
        st.db.finding(&id).await?.ok_or_else(|| {
            Error::NotFound("there is no finding with that id under review".into())
        })?;
    let record: Value = serde_json::from_str(&f.record).unwrap_or(Value::Null);
    let gov = st.store()?.governance()?;
    let shown = data::shown_categories(&gov, &f.detector);
    let (record, withheld) = data::evidence_shown(&record, &shown);
    let categories: Vec<&str> = shown.iter().map(|c| c.id()).collect();
    let audited = st
        .journal
        .submit(
            Record::new(&c.user.id, "api.view.finding", &f.finding_id)
                .person(&f.person)
                .details(json!({
                    "detector": f.detector,
                    "categories": categories,
                    "evidence_rows": record["evidence"].as_array().map_or(0, Vec::len),
                    "evidence_withheld": withheld,
                })),
        )
        .await?;
    let history = st.db.history(&id).await?;
    let responses = st.db.responses(&id).await?;
    audited.durable().await?;
    Ok(Json(json!({
        "finding": f,
        "record": record,
        "categories": categories,
        "evidence_withheld": withheld,
        "history": history,
        "responses": responses,
    })))
}

/// A decision by API.
#[derive(Debug, Deserialize)]
pub struct DecisionBody {
    step: String,
    reason: String,
    #[serde(default)]
    dismissal: Option<String>,
}

/// `POST /api/findings/{id}/decide`.
pub async fn decide(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    let b: DecisionBody = serde_json::from_slice(&body).map_err(|_| {
        Error::BadRequest("expected JSON {\"step\", \"reason\", \"dismissal\"?}".into())
    })?;
    let step =
        Step::from_id(&b.step).ok_or_else(|| Error::BadRequest("unknown workflow step".into()))?;
    // The workflow authorises the step against the finding's status.
    let dismissal = match b.dismissal.as_deref() {
        None => None,
        Some(d) => Some(
            Dismissal::from_id(d)
                .ok_or_else(|| Error::BadRequest("unknown dismissal kind".into()))?,
        ),
    };
    let store = st.store()?;
    let moved = workflow::decide(
        &store,
        &st.db,
        &c.user.id,
        &id,
        step,
        &b.reason,
        dismissal,
        probity_review::now_micros(),
    )
    .await?;
    Ok(Json(
        json!({"finding_id": id, "from": moved.from, "to": moved.to}),
    ))
}

/// `GET /api/quality`.
pub async fn quality(State(st): State<Shared>) -> Result<Json<Value>> {
    let q = st.db.quality(probity_review::now_micros()).await?;
    let rows: Vec<Value> = q
        .iter()
        .map(|d| {
            let mut v = json!(d);
            v["upheld_rate"] = json!(d.upheld_rate());
            v["precision"] = json!(d.precision());
            v
        })
        .collect();
    Ok(Json(json!({"detectors": rows})))
}

/// `GET /api/audit`.
pub async fn audit(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let f = pages::audit_filter(&q)?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| Error::BadRequest("limit must be from 1 to 10000".into()))?,
        None => 500,
    };
    let entries = pages::audit_entries(&st, &f, limit)?;
    st.audit_view(pages::audit_read(&c, "api.view.audit", &f, entries.len()))
        .await?;
    Ok(Json(json!({"entries": entries})))
}

/// `GET /api/me/findings`.
pub async fn me_findings(
    State(st): State<Shared>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Value>> {
    let person = c.user.person.clone().ok_or_else(|| {
        Error::Forbidden("your account is not linked to a member of staff".into())
    })?;
    let mut out = vec![];
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
        for f in p.rows {
            seen.push(f.finding_id.clone());
            let responses = st.db.responses(&f.finding_id).await?;
            out.push(json!({"finding": f, "responses": responses}));
        }
    }
    let notifications = st.db.notifications(&person).await?;
    st.audit_view(
        Record::new(&c.user.id, "api.view.me.findings", &person)
            .person(&person)
            .details(json!({"findings": seen})),
    )
    .await?;
    Ok(Json(
        json!({"findings": out, "notifications": notifications}),
    ))
}
