//! Every route of the web UI and the JSON API, with the one rule that says
//! who may use it. The router is built from [`ROUTES`] and nothing else, and
//! the guard looks the rule up here, so a route cannot exist without a rule;
//! the authorization matrix test walks this table for every role.

use axum::http::Method;
use probity_policy::{Action, Role};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed in or not (the login page, the stylesheet, the API
    /// description).
    Public,
    /// Any signed-in user.
    Signed,
    /// A signed-in user whose role may perform the action (`Role::may`).
    May(Action),
    /// A member of staff acting on their own record.
    Subject,
    /// A staff representative.
    StaffRep,
    /// A case (all findings about one person): whoever may read findings,
    /// or a staff representative holding that person's recorded consent.
    Case,
}

impl Rule {
    /// Whether `role` passes the rule, given whether it holds consent for
    /// the case in question.
    pub fn allows(self, role: Option<Role>, consent: bool, has_person: bool) -> bool {
        match (self, role) {
            (Rule::Public, _) => true,
            (_, None) => false,
            (Rule::Signed, Some(_)) => true,
            (Rule::May(a), Some(r)) => r.may(a),
            (Rule::Subject, Some(r)) => r == Role::Subject && has_person,
            (Rule::StaffRep, Some(r)) => r == Role::StaffRep,
            (Rule::Case, Some(r)) => {
                r.may(Action::ReadFindings) || (r == Role::StaffRep && consent)
            }
        }
    }

    /// In words, for the API description.
    pub fn describe(self) -> String {
        match self {
            Rule::Public => "anyone".into(),
            Rule::Signed => "any signed-in user".into(),
            Rule::May(a) => {
                let roles: Vec<&str> = a.roles().iter().map(|r| r.id()).collect();
                format!("roles that may {}: {}", a.describe(), roles.join(", "))
            }
            Rule::Subject => "the member of staff (subject role), about themselves".into(),
            Rule::StaffRep => "staff representatives".into(),
            Rule::Case => {
                "roles that may read findings; a staff representative with the person's recorded consent".into()
            }
        }
    }
}

/// What a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTML page (or a form post answered with a redirect or page).
    Page,
    /// JSON.
    Api,
    /// A file from the embedded assets.
    Asset,
}

/// The handler behind a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Endpoint {
    LoginForm,
    Login,
    Logout,
    Home,
    Dashboard,
    Queue,
    Finding,
    Decide,
    RevealForm,
    Reveal,
    Case,
    Quality,
    Audit,
    Me,
    MeReport,
    MeRespond,
    MeConsent,
    MeConsentWithdraw,
    Rep,
    AdminUsers,
    Asset,
    ApiOpenapi,
    ApiMe,
    ApiFindings,
    ApiFinding,
    ApiDecide,
    ApiQuality,
    ApiAudit,
    ApiMeFindings,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// GET or POST.
    pub method: &'static str,
    /// The axum path pattern.
    pub path: &'static str,
    /// Who may use it.
    pub rule: Rule,
    /// What it answers with.
    pub kind: Kind,
    /// The handler.
    pub endpoint: Endpoint,
    /// One line for the API description and the docs.
    pub summary: &'static str,
}

impl Route {
    /// The HTTP method.
    pub fn http_method(&self) -> Method {
        if self.method == "POST" {
            Method::POST
        } else {
            Method::GET
        }
    }

    /// Whether it changes state (CSRF-protected).
    pub fn changes_state(&self) -> bool {
        self.method == "POST"
    }
}

const fn r(
    method: &'static str,
    path: &'static str,
    rule: Rule,
    kind: Kind,
    endpoint: Endpoint,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        rule,
        kind,
        endpoint,
        summary,
    }
}

use Endpoint as E;
use Kind::{Api, Asset, Page};
use Rule::*;

/// The route table.
pub const ROUTES: &[Route] = &[
    r("GET", "/login", Public, Page, E::LoginForm, "Sign-in form"),
    r(
        "POST",
        "/login",
        Public,
        Page,
        E::Login,
        "Sign in (rate-limited; starts a new session)",
    ),
    r("POST", "/logout", Signed, Page, E::Logout, "Sign out"),
    r(
        "GET",
        "/",
        Signed,
        Page,
        E::Home,
        "Home: sends each role to its start page",
    ),
    r(
        "GET",
        "/dashboard",
        May(Action::ReadFindings),
        Page,
        E::Dashboard,
        "Findings by scenario and month, queue age",
    ),
    r(
        "GET",
        "/queue",
        May(Action::ReadFindings),
        Page,
        E::Queue,
        "Findings queue: filter, sort, paginate (pseudonymised)",
    ),
    r(
        "GET",
        "/findings/{id}",
        May(Action::ReadFindings),
        Page,
        E::Finding,
        "A finding: evidence, timeline, explanation, decisions",
    ),
    r(
        "POST",
        "/findings/{id}/decide",
        May(Action::Triage),
        Page,
        E::Decide,
        "Take a workflow step (some steps need a reviewer)",
    ),
    r(
        "GET",
        "/findings/{id}/reveal",
        May(Action::RevealIdentity),
        Page,
        E::RevealForm,
        "Reveal form (reason required)",
    ),
    r(
        "POST",
        "/findings/{id}/reveal",
        May(Action::RevealIdentity),
        Page,
        E::Reveal,
        "Reveal who a finding is about (audited)",
    ),
    r(
        "GET",
        "/cases/{person}",
        Case,
        Page,
        E::Case,
        "Every finding about one person, with their timeline",
    ),
    r(
        "GET",
        "/quality",
        May(Action::ReadQuality),
        Page,
        E::Quality,
        "Detector quality: volume, upheld rate, queue age",
    ),
    r(
        "GET",
        "/audit",
        May(Action::ReadAudit),
        Page,
        E::Audit,
        "The audit log, filtered",
    ),
    r(
        "GET",
        "/me",
        Subject,
        Page,
        E::Me,
        "Your findings, notices and consents",
    ),
    r(
        "GET",
        "/me/report",
        Subject,
        Page,
        E::MeReport,
        "Your subject access report",
    ),
    r(
        "POST",
        "/me/findings/{id}/respond",
        Subject,
        Page,
        E::MeRespond,
        "Respond to a finding about you",
    ),
    r(
        "POST",
        "/me/consent",
        Subject,
        Page,
        E::MeConsent,
        "Let a staff representative see your case",
    ),
    r(
        "POST",
        "/me/consent/withdraw",
        Subject,
        Page,
        E::MeConsentWithdraw,
        "Withdraw a representative's access",
    ),
    r(
        "GET",
        "/rep",
        StaffRep,
        Page,
        E::Rep,
        "Cases you have consent to see",
    ),
    r(
        "GET",
        "/admin/users",
        May(Action::ManageUsers),
        Page,
        E::AdminUsers,
        "Users and roles",
    ),
    r(
        "GET",
        "/static/{file}",
        Public,
        Asset,
        E::Asset,
        "Stylesheets (embedded; no other files are served)",
    ),
    r(
        "GET",
        "/api/openapi.json",
        Public,
        Api,
        E::ApiOpenapi,
        "This API's OpenAPI description",
    ),
    r(
        "GET",
        "/api/me",
        Signed,
        Api,
        E::ApiMe,
        "Who you are signed in as, and your CSRF token for POSTs",
    ),
    r(
        "GET",
        "/api/findings",
        May(Action::ReadFindings),
        Api,
        E::ApiFindings,
        "The findings queue (same filters as the page)",
    ),
    r(
        "GET",
        "/api/findings/{id}",
        May(Action::ReadFindings),
        Api,
        E::ApiFinding,
        "A finding with its decisions and responses",
    ),
    r(
        "POST",
        "/api/findings/{id}/decide",
        May(Action::Triage),
        Api,
        E::ApiDecide,
        "Take a workflow step (header x-csrf-token)",
    ),
    r(
        "GET",
        "/api/quality",
        May(Action::ReadQuality),
        Api,
        E::ApiQuality,
        "Detector quality",
    ),
    r(
        "GET",
        "/api/audit",
        May(Action::ReadAudit),
        Api,
        E::ApiAudit,
        "Audit entries, filtered",
    ),
    r(
        "GET",
        "/api/me/findings",
        Subject,
        Api,
        E::ApiMeFindings,
        "Findings about you, with their status",
    ),
];

/// The route for a method and matched path pattern.
pub fn find(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.path == path && r.http_method() == method)
}
