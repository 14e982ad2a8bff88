//! Probity's safeguards in action, each one audited on the hash-chained
//! log before it is reported done:
//!
//! - the findings [`register`] (pseudonymised findings with review status),
//!   and triage decisions;
//! - [`reveal`]: who a finding is about, only for a reviewer, only with a
//!   reason; refusals are audited too; [`authorise_identities`] gates every
//!   export that carries identities the same way;
//! - [`retention`]: minimisation of raw location pings to per-shift facts,
//!   deletion of rows, quarantine files and findings that are due;
//! - [`notice`]: the staff-facing transparency notice;
//! - [`subject`]: a person's subject access report;
//! - governance changes and user management.

pub mod analysis;
pub mod auth;
pub mod compact;
pub mod fairness;
pub mod notice;
pub mod register;
pub mod retention;
pub mod sql;
pub mod subject;

use std::path::{Path, PathBuf};

use probity_audit::Record;
use probity_policy::{Action, Denied, Role, User, Users};
use probity_store::Store;
use serde_json::json;

pub use register::{Register, Registered};

/// Errors of the safeguards.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store, governance, users or audit log.
    #[error(transparent)]
    Store(#[from] probity_store::Error),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] probity_audit::Error),
    /// The governance file.
    #[error(transparent)]
    Policy(#[from] probity_policy::PolicyError),
    /// Every problem of a governance file, in file order.
    #[error("{}", problems_text(.0))]
    GovernanceProblems(Vec<probity_policy::PolicyError>),
    /// The user did not prove who they are (the refusal is on the audit
    /// log).
    #[error("refused: {0} (recorded on the audit log)")]
    Unauthenticated(String),
    /// The user may not do this (the refusal is on the audit log).
    #[error("refused: {0} (recorded on the audit log)")]
    Denied(Denied),
    /// A detector or query failed.
    #[error(transparent)]
    Detect(#[from] probity_detect::Error),
    /// Record linkage failed.
    #[error(transparent)]
    Resolve(#[from] probity_resolve::Error),
    /// Risk scoring or the fairness audit failed.
    #[error(transparent)]
    Score(#[from] probity_score::Error),
    /// A query failed.
    #[error("query failed ({what}): {source}")]
    Query {
        /// What was being read.
        what: String,
        /// The cause.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A stored file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A request names something that does not exist or is not allowed.
    #[error("{0}")]
    Invalid(String),
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        Error::Denied(d)
    }
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn query(what: &str, source: datafusion::error::DataFusionError) -> Self {
        Error::Query {
            what: what.to_string(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Takes an exclusive lock on `STORE/<name>.lock` (released when the file
/// is dropped), so that concurrent commands never lose each other's
/// read-modify-write of the register or the user list.
pub fn lock(store: &Store, name: &str) -> Result<std::fs::File> {
    let path = store.root().join(format!("{name}.lock"));
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    f.lock().map_err(|e| Error::io(&path, e))?;
    Ok(f)
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Checks that `user` may do `action` (with a reason where `reason_required`);
/// a refusal is appended to the audit log (`<audit_action>.refused`) before
/// it is returned.
pub fn authorise(
    store: &Store,
    user: &str,
    action: Action,
    reason: Option<&str>,
    reason_required: bool,
    audit_action: &str,
    object: &str,
) -> Result<User> {
    let users = store.users()?;
    let decision = if reason_required {
        users.authorise_with_reason(user, action, reason)
    } else {
        users.authorise(user, action)
    };
    match decision {
        Ok(u) => Ok(u.clone()),
        Err(denied) => {
            let mut rec = Record::new(user, format!("{audit_action}.refused"), object)
                .details(json!({"refusal": denied.to_string()}));
            if let Some(r) = reason {
                rec = rec.reason(r);
            }
            store.audit()?.append(rec)?;
            Err(Error::Denied(denied))
        }
    }
}

/// Authorises writing identities into an export (findings with real ids,
/// revealed explanations): a reviewer, with a reason; audited either way.
pub fn authorise_identities(
    store: &Store,
    user: &str,
    reason: Option<&str>,
    what: &str,
) -> Result<()> {
    authorise(
        store,
        user,
        Action::ExportIdentities,
        reason,
        true,
        "export.identities",
        what,
    )?;
    let mut log = store.audit()?;
    log.append(
        Record::new(user, "export.identities", what)
            .reason(reason.unwrap_or_default())
            .details(json!({"note": "identities written to an export"})),
    )?;
    Ok(())
}

/// A revealed finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revealed {
    /// The finding.
    pub finding_id: String,
    /// Its detector.
    pub detector: String,
    /// The pseudonym it carries.
    pub pseudonym: String,
    /// The real person id.
    pub person_id: String,
    /// Given and family name.
    pub name: String,
    /// Rank.
    pub rank: Option<String>,
    /// Unit id.
    pub unit_id: Option<String>,
    /// The unit's name, where the store holds units.
    pub unit_name: Option<String>,
    /// The finding's sentence.
    pub summary: String,
    /// The audit entry that records the reveal.
    pub audit_seq: u64,
}

/// Reveals who a finding is about: only a reviewer, only with a reason of
/// at least 10 characters. The reveal is on the audit log (durably) before
/// the identity is returned; a refusal is on it too.
pub async fn reveal(
    store: &Store,
    finding_id: &str,
    reason: Option<&str>,
    user: &str,
) -> Result<Revealed> {
    authorise(
        store,
        user,
        Action::RevealIdentity,
        reason,
        true,
        "reveal",
        finding_id,
    )?;
    let register = Register::load(store)?;
    let Some(f) = register.get(finding_id) else {
        store.audit()?.append(
            Record::new(user, "reveal.refused", finding_id)
                .reason(reason.unwrap_or_default())
                .details(json!({"refusal": "no such finding in the register"})),
        )?;
        return Err(Error::Invalid(format!(
            "no finding {finding_id:?} in the store's register; run `probity analyze` first, and copy the id from findings.jsonl"
        )));
    };
    let pseudonym = f.finding.person_id.clone();
    let who = person_identity(store, &pseudonym).await?;
    let entry = store.audit()?.append(
        Record::new(user, "reveal", finding_id)
            .person(&pseudonym)
            .reason(reason.unwrap_or_default())
            .details(json!({"detector": f.finding.detector, "scenario": f.finding.scenario})),
    )?;
    Ok(Revealed {
        finding_id: finding_id.to_string(),
        detector: f.finding.detector.clone(),
        pseudonym,
        person_id: who.person_id,
        name: who.name,
        rank: who.rank,
        unit_id: who.unit_id,
        unit_name: who.unit_name,
        summary: f.finding.summary.clone(),
        audit_seq: entry.seq,
    })
}

/// A person's identity from the vault and staff record.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PersonIdentity {
    /// Real id.
    pub person_id: String,
    /// Given and family name.
    pub name: String,
    /// Date of birth.
    pub date_of_birth: Option<String>,
    /// Rank.
    pub rank: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Unit id.
    pub unit_id: Option<String>,
    /// The unit's name, where the store holds the units table.
    pub unit_name: Option<String>,
}

/// Reads one person's identity (vault) and staff record by pseudonym.
/// Callers are the audited paths only: reveal and the subject report.
pub(crate) async fn person_identity(store: &Store, pseudonym: &str) -> Result<PersonIdentity> {
    let ctx = store.session_context()?;
    store.register_vault(&ctx)?;
    let q = format!(
        "SELECT v.person_id, v.given_name, v.family_name, CAST(v.date_of_birth AS VARCHAR) AS dob,
                p.rank, p.role, p.unit_id
         FROM vault_people v LEFT JOIN people p ON p.person_id = v.stored_key
         WHERE v.stored_key = '{}'",
        pseudonym.replace('\'', "''")
    );
    let batches = ctx
        .sql(&q)
        .await
        .map_err(|e| Error::query("identity vault", e))?
        .collect()
        .await
        .map_err(|e| Error::query("identity vault", e))?;
    for b in &batches {
        if b.num_rows() == 0 {
            continue;
        }
        let s = |c: &str| {
            let a = probity_detect::strs(b, c);
            probity_detect::opt_str(&a, 0).map(str::to_string)
        };
        return Ok(PersonIdentity {
            person_id: s("person_id").unwrap_or_default(),
            name: format!(
                "{} {}",
                s("given_name").unwrap_or_default(),
                s("family_name").unwrap_or_default()
            ),
            date_of_birth: s("dob"),
            rank: s("rank"),
            role: s("role"),
            unit_name: match s("unit_id") {
                Some(u) => unit_name(store, &ctx, &u).await,
                None => None,
            },
            unit_id: s("unit_id"),
        });
    }
    Err(Error::Invalid(format!(
        "no person with pseudonym {pseudonym} in the identity vault"
    )))
}

/// A unit's name, if the store holds the units table and the unit.
async fn unit_name(
    store: &Store,
    ctx: &datafusion::prelude::SessionContext,
    unit: &str,
) -> Option<String> {
    if store.manifest().rows_stored("units") == 0 {
        return None;
    }
    let q = format!(
        "SELECT name FROM units WHERE unit_id = '{}' LIMIT 1",
        unit.replace('\'', "''")
    );
    let batches = ctx.sql(&q).await.ok()?.collect().await.ok()?;
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let names = probity_detect::strs(b, "name");
    probity_detect::opt_str(&names, 0).map(str::to_string)
}

/// Adds a user (admin only; audited). A subject's person id is stored as
/// its pseudonym.
pub fn user_add(
    store: &Store,
    admin: &str,
    id: &str,
    role: Role,
    person_id: Option<&str>,
) -> Result<()> {
    let person = person_id.map(|p| store.person_pseudonym(p));
    user_add_person(store, admin, id, role, person)
}

/// [`user_add`] with the person already as their pseudonym (from
/// [`find_person`], which accepts either form and checks they exist).
pub fn user_add_person(
    store: &Store,
    admin: &str,
    id: &str,
    role: Role,
    person: Option<String>,
) -> Result<()> {
    authorise(
        store,
        admin,
        Action::ManageUsers,
        None,
        false,
        "user.add",
        id,
    )?;
    if !probity_policy::access::valid_user_id(id) {
        return Err(Error::Invalid(format!(
            "{id:?} is not a valid user id: use 1-64 of a-z 0-9 . _ -, starting with a letter or digit"
        )));
    }
    let _lock = lock(store, "users")?;
    let mut users: Users = store.users()?;
    if users.get(id).is_some() {
        return Err(Error::Invalid(format!("user {id:?} exists already")));
    }
    if role == Role::Subject && person.is_none() {
        return Err(Error::Invalid(
            "a subject user needs --person PERSON_ID (their own staff id)".into(),
        ));
    }
    let at = jiff::Timestamp::now();
    users.users.push(User {
        id: id.to_string(),
        role,
        person: person.clone(),
        disabled: false,
        added_at: at.to_string(),
        added_by: admin.to_string(),
        password_hash: None,
        password_set_at: None,
        sso_subject: None,
        os_uid: None,
    });
    let mut rec = Record::new(admin, "user.add", id).at(at).details(json!({
        "role": role.id(),
        "users_blake3": probity_store::users_blake3(&users),
    }));
    if let Some(p) = &person {
        rec = rec.person(p);
    }
    store.audit()?.append(rec)?;
    store.save_users(&users)?;
    Ok(())
}

/// The shortest password `probity user reset` accepts.
pub const MIN_PASSWORD: usize = 12;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2
/// passes), as a PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Invalid(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` is the user's. A user without a password, or a
/// disabled one, never matches; the work done is the same either way, so
/// timing does not tell whether an account exists.
pub fn verify_password(user: Option<&User>, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    // A hash of a random string, so unknown users cost a full verify.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password("no such user; never matches").unwrap_or_default());
    let (phc, live) = match user {
        Some(u) if !u.disabled && u.password_hash.is_some() => {
            (u.password_hash.as_deref().unwrap_or_default(), true)
        }
        _ => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && live
}

/// A random password for `probity user reset` (20 characters from an
/// alphabet without look-alikes: about 100 bits).
pub fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY346789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// Sets a user's web password (admin only; audited — the entry records
/// that it changed, never the password or its hash).
pub fn user_reset(store: &Store, admin: &str, id: &str, password: &str) -> Result<()> {
    authorise(
        store,
        admin,
        Action::ManageUsers,
        None,
        false,
        "user.reset",
        id,
    )?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::Invalid(format!(
            "a password needs at least {MIN_PASSWORD} characters; leave --password out to have one generated"
        )));
    }
    let hash = hash_password(password)?;
    let _lock = lock(store, "users")?;
    let mut users = store.users()?;
    let Some(u) = users.users.iter_mut().find(|u| u.id == id) else {
        return Err(Error::Invalid(format!("there is no user {id:?}")));
    };
    let at = jiff::Timestamp::now();
    u.password_hash = Some(hash);
    u.password_set_at = Some(at.to_string());
    store
        .audit()?
        .append(Record::new(admin, "user.reset", id).at(at).details(json!({
            "users_blake3": probity_store::users_blake3(&users),
        })))?;
    store.save_users(&users)?;
    Ok(())
}

/// Sets a finding's status in the register after a review decision that
/// the caller has authorised and audited (the web workflow). Intermediate
/// review states (a proposal awaiting a second reviewer or a response)
/// leave the register at `new`.
pub fn set_register_status(
    store: &Store,
    finding_id: &str,
    status: &str,
    reason: &str,
    user: &str,
    at: &str,
) -> Result<()> {
    let _lock = lock(store, "findings")?;
    let mut register = Register::load(store)?;
    let Some(item) = register.items.get_mut(finding_id) else {
        return Err(Error::Invalid(format!(
            "no finding {finding_id:?} in the store's register"
        )));
    };
    item.status = status.to_string();
    item.status_at = at.to_string();
    item.status_reason = Some(reason.to_string());
    item.status_by = Some(user.to_string());
    register.save()
}

/// Disables a user (admin only; audited). Users are never deleted: the
/// audit log names them.
pub fn user_disable(store: &Store, admin: &str, id: &str) -> Result<()> {
    authorise(
        store,
        admin,
        Action::ManageUsers,
        None,
        false,
        "user.disable",
        id,
    )?;
    let _lock = lock(store, "users")?;
    let mut users = store.users()?;
    let Some(u) = users.users.iter_mut().find(|u| u.id == id) else {
        return Err(Error::Invalid(format!("there is no user {id:?}")));
    };
    if u.id == admin {
        return Err(Error::Invalid("an admin cannot disable themselves".into()));
    }
    u.disabled = true;
    store
        .audit()?
        .append(Record::new(admin, "user.disable", id).details(json!({
            "users_blake3": probity_store::users_blake3(&users),
        })))?;
    store.save_users(&users)?;
    Ok(())
}

fn problems_text(problems: &[probity_policy::PolicyError]) -> String {
    let mut s = match problems.first() {
        Some(p) => format!(
            "{} problem{} in {}:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            p.path.display()
        ),
        None => "no problems".to_string(),
    };
    for p in problems {
        s.push_str(&format!(
            "\n  {}{}: {}",
            p.line.map(|l| format!("line {l}, ")).unwrap_or_default(),
            p.field,
            p.reason
        ));
    }
    s
}

/// Validates a governance file against the registry of what can be
/// approved (detectors and scoring, each with the categories it reads):
/// every problem at once, in file order, each with its line, field and fix.
/// With a store, scoring's optional categories are checked against the
/// tables it holds.
pub fn check_governance(
    text: &str,
    source: &Path,
    store: Option<&Store>,
) -> Result<probity_policy::Governance> {
    let held = store.map(|s| probity_policy::Category::read_by(&s.manifest().tables_held(), false));
    probity_policy::Governance::check(
        text,
        source,
        &probity_detect::governance::registry(),
        held.as_deref(),
    )
    .map_err(Error::GovernanceProblems)
}

/// What a new governance file changes, for the audit log and in words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GovernanceChange {
    /// Approvals that are new: (id, purpose, review_by).
    pub approved: Vec<(String, String, String)>,
    /// Approvals removed.
    pub withdrawn: Vec<String>,
    /// Approvals changed: (id, the fields that changed, as `field: old → new`).
    pub changed: Vec<(String, Vec<String>)>,
    /// Purposes added, removed or changed: (id, what happened).
    pub purposes: Vec<(String, String)>,
    /// Other sections that changed (organisation, minimisation, retention,
    /// review, fairness).
    pub sections: Vec<String>,
    /// The file in force could not be read, so everything counts as new.
    pub previous_unreadable: Option<String>,
}

impl GovernanceChange {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.approved.is_empty()
            && self.withdrawn.is_empty()
            && self.changed.is_empty()
            && self.purposes.is_empty()
            && self.sections.is_empty()
    }

    /// One line per change, in words.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![];
        if let Some(p) = &self.previous_unreadable {
            out.push(format!(
                "the file in force could not be read ({p}); all of it is new"
            ));
        }
        for (id, purpose, until) in &self.approved {
            out.push(format!("approved  {id} (purpose {purpose}, until {until})"));
        }
        for id in &self.withdrawn {
            out.push(format!("withdrawn {id} (it no longer runs)"));
        }
        for (id, fields) in &self.changed {
            out.push(format!("changed   {id}: {}", fields.join("; ")));
        }
        for (id, what) in &self.purposes {
            out.push(format!("purpose   {id}: {what}"));
        }
        for s in &self.sections {
            out.push(format!("changed   [{s}]"));
        }
        if out.is_empty() {
            out.push("no change: the file says what the one in force says".into());
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "approved": self.approved.iter().map(|(id, _, _)| id).collect::<Vec<_>>(),
            "withdrawn": self.withdrawn,
            "changed": self.changed.iter().map(|(id, f)| json!({"id": id, "fields": f})).collect::<Vec<_>>(),
            "purposes": self.purposes.iter().map(|(id, w)| json!({"id": id, "change": w})).collect::<Vec<_>>(),
            "sections": self.sections,
            "previous_unreadable": self.previous_unreadable,
        })
    }
}

/// What changes from the governance in force (`old`, if readable) to `new`.
pub fn governance_diff(
    old: Option<&probity_policy::Governance>,
    new: &probity_policy::Governance,
) -> GovernanceChange {
    let mut c = GovernanceChange::default();
    let empty_d = Default::default();
    let empty_p = Default::default();
    let old_d = old.map_or(&empty_d, |g| &g.detectors);
    let old_p = old.map_or(&empty_p, |g| &g.purposes);
    for (id, a) in &new.detectors {
        match old_d.get(id) {
            None => c
                .approved
                .push((id.clone(), a.purpose.clone(), a.review_date().to_string())),
            Some(o) if o != a => {
                let (ov, nv) = (
                    serde_json::to_value(o).unwrap_or_default(),
                    serde_json::to_value(a).unwrap_or_default(),
                );
                let mut fields = vec![];
                if let (Some(om), Some(nm)) = (ov.as_object(), nv.as_object()) {
                    for (k, v) in nm {
                        let before = om.get(k).map(plain).unwrap_or_default();
                        let after = plain(v);
                        if before != after {
                            fields.push(format!("{k}: {before} → {after}"));
                        }
                    }
                }
                c.changed.push((id.clone(), fields));
            }
            Some(_) => {}
        }
    }
    c.withdrawn = old_d
        .keys()
        .filter(|k| !new.detectors.contains_key(*k))
        .cloned()
        .collect();
    for (id, p) in &new.purposes {
        match old_p.get(id) {
            None => c.purposes.push((
                id.clone(),
                format!("added, enabling {}", p.categories.join(", ")),
            )),
            Some(o) if o != p => {
                let added: Vec<&str> = p
                    .categories
                    .iter()
                    .filter(|x| !o.categories.contains(x))
                    .map(String::as_str)
                    .collect();
                let removed: Vec<&str> = o
                    .categories
                    .iter()
                    .filter(|x| !p.categories.contains(x))
                    .map(String::as_str)
                    .collect();
                let mut what = vec![];
                if !added.is_empty() {
                    what.push(format!("now enables {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    what.push(format!("no longer enables {}", removed.join(", ")));
                }
                if o.description != p.description {
                    what.push("description reworded".to_string());
                }
                c.purposes.push((id.clone(), what.join("; ")));
            }
            Some(_) => {}
        }
    }
    for id in old_p.keys().filter(|k| !new.purposes.contains_key(*k)) {
        c.purposes.push((id.clone(), "removed".into()));
    }
    if let Some(o) = old {
        for (name, differs) in [
            ("organisation", o.organisation != new.organisation),
            ("minimisation", o.minimisation != new.minimisation),
            ("review", o.review != new.review),
            ("fairness", o.fairness != new.fairness),
            ("retention", o.retention != new.retention),
        ] {
            if differs {
                c.sections.push(name.to_string());
            }
        }
    }
    c
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        // A TOML date, as toml's serde bridge spells it.
        serde_json::Value::Object(m) if m.len() == 1 => match m.values().next() {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// Applies a new governance file (admin only): validated against the
/// registry ([`check_governance`]), recorded on the audit log with its hash
/// and what changed, then installed. Returns the hash and the change.
pub fn apply_governance(
    store: &Store,
    admin: &str,
    text: &str,
    source: &Path,
) -> Result<(String, GovernanceChange)> {
    authorise(
        store,
        admin,
        Action::ManageGovernance,
        None,
        false,
        "governance.apply",
        "governance.toml",
    )?;
    let new = check_governance(text, source, Some(store))?;
    // The file in force; if it cannot be read or parsed the diff says so
    // rather than pretending everything is new.
    let old = std::fs::read_to_string(store.governance_path())
        .map_err(|e| e.to_string())
        .and_then(|t| {
            probity_policy::Governance::parse(&t, &store.governance_path())
                .map_err(|e| e.to_string())
        });
    let (old, old_problem) = match old {
        Ok(g) => (Some(g), None),
        Err(e) => (None, Some(e)),
    };
    let mut change = governance_diff(old.as_ref(), &new);
    change.previous_unreadable = old_problem;
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    store.audit()?.append(
        Record::new(admin, "governance.apply", "governance.toml").details(json!({
            "blake3": hash,
            "source": source.display().to_string(),
            "changes": change.json(),
            "previous_unreadable": change.previous_unreadable,
        })),
    )?;
    store.install_governance(text)?;
    Ok((hash, change))
}

pub use probity_detect::governance::{governance_approving_all, scenario_purpose};

/// A governance file for editing: the head (organisation, minimisation,
/// retention: valid as written), then one commented block per purpose
/// followed by the commented approvals of the detectors that serve it, with
/// `approved_on` set to `today` and `review_by` a year later. Uncommenting a
/// block (removing the leading `# ` of its lines) gives valid TOML; its
/// `TODO` fields fail `governance check` until filled in. Notes inside a
/// block start with `## ` and stay comments when it is uncommented.
pub fn governance_template(today: jiff::civil::Date) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let review = today
        .checked_add(jiff::Span::new().years(1))
        .unwrap_or(today);
    let mut s = String::from(probity_policy::TEMPLATE_HEAD);
    s.push_str(
        "\n# Purposes enable data categories; a detector runs only under an approval\n\
         # whose purpose enables every category it reads. The categories are:\n",
    );
    for c in probity_policy::Category::ALL {
        let _ = writeln!(s, "#   {:<20} {}", c.id(), c.title());
    }
    let _ = write!(
        s,
        "#\n# To approve a detector: uncomment its purpose's block and its own block\n\
         # (remove the leading \"# \" of each line), fill in every \"TODO\", set the\n\
         # real approval and review dates (written {today} and {review}), then run\n\
         # `probity governance check FILE` (it lists every problem at once) and\n\
         # `probity governance apply FILE --store STORE --as ADMIN`.\n"
    );
    let registry: BTreeMap<&str, Vec<probity_policy::Category>> =
        probity_detect::governance::registry()
            .into_iter()
            .map(|r| (r.id, r.always))
            .collect();
    let quoted = |cats: &mut dyn Iterator<Item = &str>| -> String {
        cats.map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let approval = |s: &mut String, id: &str, purpose: &str| {
        let _ = write!(
            s,
            "# [detectors.{id}]\n# purpose = \"{purpose}\"\n# lawful_basis = \"TODO\"\n\
             # dpia = \"TODO\"\n# alternative_considered = \"TODO\"\n# approver = \"TODO\"\n\
             # approved_on = {today}\n# review_by = {review}\n# findings_retention_days = 365\n"
        );
    };
    for sc in probity_core::Scenario::ALL {
        let detectors: Vec<&probity_detect::Detector> = probity_detect::detectors::ALL
            .iter()
            .filter(|d| d.scenario == sc)
            .collect();
        if detectors.is_empty() {
            continue;
        }
        let cats = probity_detect::governance::scenario_categories(sc);
        let _ = write!(
            s,
            "\n# ---- purpose {p} ({n} detector{pl}) ----\n# [purposes.{p}]\n# description = {desc:?}\n# categories = [{cats}]\n",
            p = sc.id(),
            n = detectors.len(),
            pl = if detectors.len() == 1 { "" } else { "s" },
            desc = scenario_purpose(sc),
            cats = quoted(&mut cats.iter().copied()),
        );
        for d in detectors {
            let _ = write!(
                s,
                "#\n## {title}{base}\n## It reads: {cats}\n",
                title = d.title,
                base = if d.baseline {
                    " (a baseline rule: it runs only with `analyze --baselines`, for comparison)"
                } else {
                    ""
                },
                cats = registry[d.id]
                    .iter()
                    .map(|c| c.id())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            approval(&mut s, d.id, sc.id());
        }
    }
    let p = probity_detect::governance::SCORING_PURPOSE;
    let cats = quoted(
        &mut probity_policy::Category::read_by(probity_detect::governance::SCORING_TABLES, false)
            .iter()
            .map(|c| c.id()),
    );
    let _ = write!(
        s,
        "\n# ---- purpose {p} (risk scoring: `probity score`) ----\n\
         ## Risk scoring is profiling: it runs only under its own approval. It reads\n\
         ## (where the store holds them): {plain}\n\
         # [purposes.{p}]\n\
         # description = \"Early warning: rank staff whose records suggest they may need support, for a human review.\"\n\
         # categories = [{cats}]\n",
        plain = cats.replace('"', ""),
    );
    for id in probity_detect::governance::SCORING {
        s.push_str("#\n");
        approval(&mut s, id, p);
    }
    s
}

/// Records an analysis: its findings go into the register (new ones as
/// `new`), and the run, with every detector's version, parameters,
/// purpose and outcome and the governance file's hash, goes on the audit
/// log (durably, before the caller reports it done).
pub fn record_analysis(
    store: &Store,
    actor: &str,
    report: &probity_detect::AnalysisReport,
    governance_hash: &str,
    out: &Path,
    identities: bool,
) -> Result<(u64, register::Merged)> {
    let _lock = lock(store, "findings")?;
    let mut reg = Register::load(store)?;
    let at = now();
    let detectors: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|o| {
            json!({
                "detector": o.detector,
                "version": o.version,
                "ran": o.skipped.is_none(),
                "skipped": o.skipped,
                "purpose": o.purpose,
                "params": o.params,
                "findings": o.findings,
            })
        })
        .collect();
    let entry = store
        .audit()?
        .append(Record::new(actor, "analyze", "").details(json!({
            "period_start": probity_core::time::days_to_date(report.period.start).to_string(),
            "period_end": probity_core::time::days_to_date(report.period.end).to_string(),
            "governance_blake3": governance_hash,
            "findings": report.findings.len(),
            "out": out.display().to_string(),
            "identities": identities,
            "engine": report.engine,
            "limited_to": report.limit.as_ref().map(probity_detect::Limit::to_json),
            "detectors": detectors,
        })))?;
    let merged = reg.merge(&report.findings, &format!("a{:08}", entry.seq), &at);
    reg.save()?;
    Ok((entry.seq, merged))
}

/// Checks the files that grant power — `governance.toml` and `users.json` —
/// against the hashes the audit log last recorded for them (`store.init`,
/// `governance.apply`, `user.*`). A file edited behind the log's back is
/// named with the entry it no longer matches. Streams the whole log.
pub fn check_files_against_log(store: &Store) -> Result<Vec<String>> {
    let mut gov: Option<(u64, String)> = None;
    let mut users: Option<(u64, String)> = None;
    for e in probity_audit::read(&store.audit_dir(), &probity_audit::Filter::default())? {
        let e = e?;
        let d = &e.details;
        match e.action.as_str() {
            "store.init" => {
                if let Some(h) = d["governance_blake3"].as_str() {
                    gov = Some((e.seq, h.to_string()));
                }
                if let Some(h) = d["users_blake3"].as_str() {
                    users = Some((e.seq, h.to_string()));
                }
            }
            "governance.apply" => {
                if let Some(h) = d["blake3"].as_str() {
                    gov = Some((e.seq, h.to_string()));
                }
            }
            a if a.starts_with("user.") && !a.ends_with(".refused") => {
                if let Some(h) = d["users_blake3"].as_str() {
                    users = Some((e.seq, h.to_string()));
                }
            }
            _ => {}
        }
    }
    let mut problems = vec![];
    for (name, path, logged) in [
        ("governance.toml", store.governance_path(), gov),
        ("users.json", store.root().join("users.json"), users),
    ] {
        let Some((seq, want)) = logged else {
            problems.push(format!("{name}: the audit log records no version of it"));
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let have = blake3::hash(&bytes).to_hex().to_string();
        if have != want {
            problems.push(format!(
                "{name} differs from the version the audit log last recorded (entry {seq}): it was changed outside probity"
            ));
        }
    }
    Ok(problems)
}

/// Authorises a risk-scoring run (`score run`, `score eval`): scoring is
/// profiling, so it needs its own approval in `governance.toml` under
/// `id` (one of [`probity_detect::governance::SCORING`]), in force today,
/// whose purpose enables the categories of every scoring table the store
/// holds. A named `user` must also be allowed to run analyses; without
/// one the run is the operating-system account's. A refusal is audited
/// (`<audit_action>.refused`) before it is returned; the actor and the
/// permit (its purpose) are for the run's audit entry.
pub fn authorise_scoring(
    store: &Store,
    user: Option<&str>,
    id: &str,
    audit_action: &str,
) -> Result<(String, probity_policy::Permit)> {
    let actor = match user {
        Some(u) => {
            authorise(store, u, Action::RunAnalysis, None, false, audit_action, "")?;
            u.to_string()
        }
        None => probity_store::os_actor(),
    };
    match scoring_decision(store, id)? {
        Ok(p) => Ok((actor, p)),
        Err(refusal) => {
            let why = format!(
                "risk scoring ({id}) is profiling and needs its own approval in governance.toml: {refusal}; \
                 add [detectors.{id}] with a purpose (e.g. [purposes.{}]), lawful basis, DPIA and review date, \
                 and apply it with `probity governance apply`",
                probity_detect::governance::SCORING_PURPOSE
            );
            store.audit()?.append(
                Record::new(&actor, format!("{audit_action}.refused"), id)
                    .details(json!({"refusal": refusal.to_string()})),
            )?;
            Err(Error::Invalid(why))
        }
    }
}

/// Explains how a reference record was linked (`probity resolve --explain`).
/// With `reveal` (`Some(reason)`), staff members' real ids and values are
/// shown: a reviewer with a reason only, and every staff member whose
/// identity the explanation reveals is recorded on the audit log
/// (`resolve.reveal`, naming the person) before it is returned, so their
/// subject access report lists it.
pub async fn explain_link(
    store: &Store,
    user: &str,
    record: &str,
    reveal: Option<Option<&str>>,
) -> Result<probity_resolve::RecordExplanation> {
    let Some(reason) = reveal else {
        return Ok(probity_resolve::explain(store, record, false, probity_resolve::today()).await?);
    };
    authorise(
        store,
        user,
        Action::ExportIdentities,
        reason,
        true,
        "resolve.reveal",
        record,
    )?;
    let x = probity_resolve::explain(store, record, true, probity_resolve::today()).await?;
    let entries = x.pairs.iter().map(|(pseudonym, _, e)| {
        Record::new(user, "resolve.reveal", record)
            .person(pseudonym)
            .reason(reason.unwrap_or_default())
            .details(json!({"match_probability": e.probability}))
    });
    store.audit()?.append_batch(entries)?;
    Ok(x)
}

/// A person as a user typed them: their staff id (as in the source data)
/// or the pseudonym findings and the audit log show (`p-…`). Returns the
/// pseudonym and which of the two was given; a person the store's staff
/// list does not hold is an error here, where they were named.
pub async fn find_person(store: &Store, given: &str) -> Result<(String, &'static str)> {
    let given = given.trim();
    let as_id = store.person_pseudonym(given);
    let q = format!(
        "SELECT person_id FROM people WHERE person_id IN ('{}', '{}')",
        as_id.replace('\'', "''"),
        given.replace('\'', "''")
    );
    let ctx = store.session_context()?;
    let batches = async { ctx.sql(&q).await?.collect().await }
        .await
        .map_err(|e| Error::query("people", e))?;
    let mut found = std::collections::BTreeSet::new();
    for b in &batches {
        let c = probity_detect::strs(b, "person_id");
        for i in 0..b.num_rows() {
            found.insert(c.value(i).to_string());
        }
    }
    if found.contains(&as_id) {
        Ok((as_id, "staff id"))
    } else if found.contains(given) {
        Ok((given.to_string(), "pseudonym"))
    } else {
        Err(Error::Invalid(format!(
            "no person {given:?} in this store's staff list: give their staff id (as in the source data) \
             or the pseudonym findings and the audit log show (p-…)"
        )))
    }
}

/// Whether governance approves risk scoring under `id` today, over the
/// scoring tables the store holds (what [`authorise_scoring`] decides, for
/// `governance status`).
pub fn scoring_decision(
    store: &Store,
    id: &str,
) -> Result<std::result::Result<probity_policy::Permit, probity_policy::Refusal>> {
    let governance = store.governance()?;
    let mut tables = store.manifest().tables_held();
    tables.retain(|t| probity_detect::governance::SCORING_TABLES.contains(t));
    let today = probity_detect::governance_today(store);
    Ok(governance.decide(id, &tables, false, today))
}
