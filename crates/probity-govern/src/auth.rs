//! Who is acting: authentication for front ends other than the web's
//! sessions (the command line, scripts).
//!
//! `--as USER` alone proves nothing: anyone with a shell could name a
//! reviewer. A user proves who they are with
//!
//! - their password (set by an admin with `probity user reset`), read by the
//!   front end without echo or from a pipe, checked against the argon2id
//!   hash in `users.json`; or
//! - the operating-system account bound to them (`probity user bind`),
//!   checked against the process's **real uid** — never `$USER` or any other
//!   environment variable. One account binds to at most one user, so one
//!   person cannot act as both halves of a four-eyes decision.
//!
//! Every refusal is on the audit log (`auth.refused`, with the real OS
//! account that tried) before it is returned. An [`Actor`] exists only when
//! a proof held.

use probity_audit::Record;
use probity_policy::{Role, User};
use probity_store::Store;
use serde_json::json;

use crate::{Error, Result, lock, verify_password};

/// What a user offers as proof of who they are.
#[derive(Clone)]
pub enum Proof {
    /// A password (from a terminal without echo, or a pipe).
    Password(String),
    /// Being the operating-system account bound to the user (the process's
    /// real uid).
    OsAccount,
    /// Nothing: the front end had no way to ask (no terminal, no binding).
    None,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Proof {
    fn kind(&self) -> &'static str {
        match self {
            Proof::Password(_) => "password",
            Proof::OsAccount => "os_account",
            Proof::None => "none",
        }
    }
}

/// A user who has proved who they are.
#[derive(Debug, Clone)]
pub struct Actor {
    user: User,
    via: &'static str,
}

impl Actor {
    /// The user id (the audit log's actor).
    pub fn id(&self) -> &str {
        &self.user.id
    }
    /// Their role.
    pub fn role(&self) -> Role {
        self.user.role
    }
    /// The user record.
    pub fn user(&self) -> &User {
        &self.user
    }
    /// How they proved it (`password` or `os_account`).
    pub fn via(&self) -> &'static str {
        self.via
    }
}

/// Whether `user` is bound to the operating-system account running this
/// process (so [`Proof::OsAccount`] would hold).
pub fn bound_to_this_account(store: &Store, user: &str) -> Result<bool> {
    let uid = probity_store::real_uid();
    Ok(store
        .users()?
        .get(user)
        .is_some_and(|u| !u.disabled && u.os_uid == Some(uid)))
}

/// Checks `proof` for `user`: an unknown or disabled user, a wrong or
/// missing password, or an account bound to someone else is refused, and
/// the refusal is audited first.
pub fn authenticate(store: &Store, user: &str, proof: Proof) -> Result<Actor> {
    let users = store.users()?;
    let found = users.get(user);
    let uid = probity_store::real_uid();
    // The password is checked even for an unknown or disabled user, so the
    // time taken does not tell whether the account exists.
    let problem: Option<String> = match &proof {
        Proof::Password(p) => {
            let ok = verify_password(found, p);
            match found {
                None => Some(format!("there is no user {user:?}")),
                Some(u) if u.disabled => Some(format!("user {user:?} is disabled")),
                Some(u) if u.password_hash.is_none() => Some(format!(
                    "user {user:?} has no password yet: an admin sets one with `probity user reset {user}`"
                )),
                Some(_) if !ok => Some("wrong password".into()),
                Some(_) => None,
            }
        }
        Proof::OsAccount => match found {
            None => Some(format!("there is no user {user:?}")),
            Some(u) if u.disabled => Some(format!("user {user:?} is disabled")),
            Some(u) if u.os_uid == Some(uid) => None,
            Some(_) => Some(format!(
                "user {user:?} is not bound to this operating-system account (uid {uid}); give the password (at a terminal, or with `--password-stdin`)"
            )),
        },
        Proof::None => Some(match found {
            None => format!("there is no user {user:?}"),
            Some(u) if u.disabled => format!("user {user:?} is disabled"),
            Some(_) => format!(
                "{user:?} must prove who they are: give the password (at a terminal, or with \
                 `--password-stdin`), or have an admin bind {user:?} to this operating-system account \
                 (`probity user bind {user} --uid {uid}`)"
            ),
        }),
    };
    match (problem, found) {
        (None, Some(u)) => Ok(Actor {
            user: u.clone(),
            via: proof.kind(),
        }),
        (problem, _) => {
            let why = problem.unwrap_or_else(|| format!("there is no user {user:?}"));
            store.audit()?.append(
                Record::new(user, "auth.refused", "")
                    .details(json!({"proof": proof.kind(), "refusal": why})),
            )?;
            Err(Error::Unauthenticated(why))
        }
    }
}

/// Binds a user to an operating-system account (admin only; audited). An
/// account binds to at most one user; `uid: None` removes the binding.
pub fn user_bind(store: &Store, admin: &str, id: &str, uid: Option<u32>) -> Result<()> {
    crate::authorise(
        store,
        admin,
        probity_policy::Action::ManageUsers,
        None,
        false,
        "user.bind",
        id,
    )?;
    let _lock = lock(store, "users")?;
    let mut users = store.users()?;
    if let Some(uid) = uid
        && let Some(other) = users
            .users
            .iter()
            .find(|u| u.os_uid == Some(uid) && u.id != id)
    {
        return Err(Error::Invalid(format!(
            "uid {uid} is already bound to user {:?}: one operating-system account acts as one user \
             (remove that binding first with `probity user bind {} --unbind`)",
            other.id, other.id
        )));
    }
    let Some(u) = users.users.iter_mut().find(|u| u.id == id) else {
        return Err(Error::Invalid(format!("there is no user {id:?}")));
    };
    u.os_uid = uid;
    store
        .audit()?
        .append(Record::new(admin, "user.bind", id).details(json!({
            "uid": uid,
            "users_blake3": probity_store::users_blake3(&users),
        })))?;
    store.save_users(&users)?;
    Ok(())
}

/// Records that a gated command was attempted without naming a user
/// (`auth.refused` by the operating-system account) and returns the error
/// to show.
pub fn refuse_anonymous(store: &Store, what: &str) -> Result<Error> {
    let why = format!(
        "{what} needs `--as USER` naming a Probity user with the right role (`probity user list STORE` shows them), \
         who proves it with a password (typed, or `--password-stdin`) or a bound operating-system account"
    );
    store.audit()?.append(
        Record::new(probity_store::os_actor(), "auth.refused", "")
            .details(json!({"command": what, "proof": "none", "refusal": "no user named"})),
    )?;
    Ok(Error::Unauthenticated(why))
}
