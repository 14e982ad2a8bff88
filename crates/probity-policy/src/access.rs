//! Users, roles and what each role may do.
//!
//! The roles are DESIGN.md's: an analyst works pseudonymised findings, a
//! reviewer may reveal an identity with a reason, an auditor reads the audit
//! log but no personal data, an admin manages users and governance but sees
//! no findings, a subject sees their own report. A staff representative
//! sees a case only with the subject's recorded consent (the review
//! workflow). Every permission is one row of [`Role::may`]; nothing else
//! grants access.
//!
//! The user list is `STORE/users.json`. A user proves who they are with a
//! password (argon2id hash here, never the password) or, on the command
//! line, by running as the operating-system account bound to them
//! (`os_uid`, checked against the process's real uid); `probity_govern::auth`
//! does the checking.

use serde::{Deserialize, Serialize};

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works pseudonymised findings.
    Analyst,
    /// Reveals identities with a reason; approves referrals.
    Reviewer,
    /// Reads the audit log and quality reports; no personal data.
    Auditor,
    /// Manages users and governance; no findings content.
    Admin,
    /// A member of staff: their own report only.
    Subject,
    /// A staff representative: a case only with the subject's consent.
    StaffRep,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = &[
        Role::Analyst,
        Role::Reviewer,
        Role::Auditor,
        Role::Admin,
        Role::Subject,
        Role::StaffRep,
    ];

    /// The id used in files and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Subject => "subject",
            Role::StaffRep => "staff_rep",
        }
    }

    /// Parses a role id.
    pub fn from_id(id: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// What the role may see, in plain English (for the staff notice).
    pub fn sees(self) -> &'static str {
        match self {
            Role::Analyst => {
                "findings and their evidence under pseudonyms (never names); triages them and may propose a referral"
            }
            Role::Reviewer => {
                "may reveal who a finding is about, only with a written reason that is logged; approves referrals proposed by someone else; issues prevention notices"
            }
            Role::Auditor => "the audit log, and quality and fairness reports; no personal data",
            Role::Admin => "manages user accounts and the governance file; sees no findings",
            Role::Subject => {
                "their own subject access report and findings about them, and may respond"
            }
            Role::StaffRep => "a case only when the member of staff has recorded their consent",
        }
    }

    /// Whether the role may perform `action`.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        matches!(
            (self, action),
            (
                Analyst | Reviewer,
                RunAnalysis | ReadFindings | RunLinkage | Triage
            ) | (
                Reviewer,
                RevealIdentity | ExportIdentities | SubjectReport | IssueNotice | SignOffFairness
            ) | (Analyst | Reviewer | Auditor, ReadQuality)
                | (Auditor, ReadAudit)
                | (Admin, ManageUsers | ManageGovernance | ApplyRetention)
        )
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// Something a user may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run detectors over the store (pseudonymised output).
    RunAnalysis,
    /// Run record linkage.
    RunLinkage,
    /// Read pseudonymised findings.
    ReadFindings,
    /// Record a triage outcome (no further action, advice).
    Triage,
    /// Issue a prevention notice or refer for investigation.
    IssueNotice,
    /// See who a finding is about.
    RevealIdentity,
    /// Write findings or explanations carrying identities.
    ExportIdentities,
    /// Produce a subject access report about someone else.
    SubjectReport,
    /// Read the audit log's entries.
    ReadAudit,
    /// Read detector quality (volumes, upheld rates, queue age; no
    /// personal data).
    ReadQuality,
    /// Add, disable or change users.
    ManageUsers,
    /// Change the governance file.
    ManageGovernance,
    /// Delete data under the retention rules.
    ApplyRetention,
    /// Sign off a disparity the fairness audit flagged, releasing a
    /// blocked detector or model.
    SignOffFairness,
}

impl Action {
    /// A short description for refusals.
    pub fn describe(self) -> &'static str {
        match self {
            Action::RunAnalysis => "run detectors",
            Action::RunLinkage => "run record linkage",
            Action::ReadFindings => "read findings",
            Action::Triage => "triage findings",
            Action::IssueNotice => "issue a prevention notice or a referral",
            Action::RevealIdentity => "reveal an identity",
            Action::ExportIdentities => "export identities",
            Action::SubjectReport => "produce another person's subject access report",
            Action::ReadAudit => "read the audit log",
            Action::ReadQuality => "read detector quality",
            Action::ManageUsers => "manage users",
            Action::ManageGovernance => "change governance",
            Action::ApplyRetention => "apply retention",
            Action::SignOffFairness => "sign off a fairness disparity",
        }
    }

    /// The roles allowed to do it.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.iter().copied().filter(|r| r.may(self)).collect()
    }
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub id: String,
    /// Role.
    pub role: Role,
    /// For a subject: their person pseudonym.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// A disabled user can do nothing.
    #[serde(default)]
    pub disabled: bool,
    /// When added (RFC 3339).
    pub added_at: String,
    /// By whom.
    pub added_by: String,
    /// The web UI password as an argon2id PHC string (never the password).
    /// `None`: the user cannot log in to the web UI until an admin runs
    /// `probity user reset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// When the password was last set (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_set_at: Option<String>,
    /// The identity provider's subject for single sign-on (OIDC `iss` and
    /// `sub`, joined by a space), when the organisation connects one. A
    /// user may have a password, an SSO subject, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_subject: Option<String>,
    /// The operating-system account (real uid) bound to this user: a
    /// command run by that account proves it is this user without a
    /// password. One account binds to at most one user, so one person
    /// cannot be both halves of a four-eyes decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_uid: Option<u32>,
}

/// The user list (`users.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// Users, in the order added.
    pub users: Vec<User>,
}

/// Why a user may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No such user.
    #[error("there is no user {0:?}; an admin adds users with `probity user add`")]
    UnknownUser(String),
    /// The user is disabled.
    #[error("user {0:?} is disabled")]
    Disabled(String),
    /// The role does not allow it.
    #[error("user {user:?} is {role}; only {allowed} may {what}")]
    Role {
        /// The user.
        user: String,
        /// Their role.
        role: Role,
        /// Roles that may.
        allowed: String,
        /// The action.
        what: &'static str,
    },
    /// A reason is required and was missing or too short.
    #[error("a reason is required to {0}: say why, in at least 10 characters")]
    NoReason(&'static str),
}

impl Users {
    /// Parses `users.json`.
    pub fn parse(text: &str) -> Result<Users, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Serialises for `users.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("users serialise") + "\n"
    }

    /// A user by id.
    pub fn get(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Checks that `user` exists, is enabled and may do `action`.
    pub fn authorise(&self, user: &str, action: Action) -> Result<&User, Denied> {
        let u = self
            .get(user)
            .ok_or_else(|| Denied::UnknownUser(user.to_string()))?;
        if u.disabled {
            return Err(Denied::Disabled(user.to_string()));
        }
        if !u.role.may(action) {
            return Err(Denied::Role {
                user: user.to_string(),
                role: u.role,
                allowed: action
                    .roles()
                    .iter()
                    .map(|r| r.id())
                    .collect::<Vec<_>>()
                    .join(" or "),
                what: action.describe(),
            });
        }
        Ok(u)
    }

    /// Like [`Users::authorise`], and also requires a reason of at least 10
    /// characters.
    pub fn authorise_with_reason(
        &self,
        user: &str,
        action: Action,
        reason: Option<&str>,
    ) -> Result<&User, Denied> {
        let u = self.authorise(user, action)?;
        match reason.map(str::trim) {
            Some(r) if r.chars().count() >= 10 => Ok(u),
            _ => Err(Denied::NoReason(action.describe())),
        }
    }
}

/// Checks a user id: 1-64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && id.as_bytes()[0].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let u = |id: &str, role, disabled| User {
            id: id.into(),
            role,
            person: None,
            disabled,
            added_at: "2026-11-27T00:00:00Z".into(),
            added_by: "admin".into(),
            password_hash: None,
            password_set_at: None,
            sso_subject: None,
            os_uid: None,
        };
        Users {
            users: vec![
                u("ana", Role::Analyst, false),
                u("rev", Role::Reviewer, false),
                u("old", Role::Reviewer, true),
                u("aud", Role::Auditor, false),
                u("adm", Role::Admin, false),
            ],
        }
    }

    #[test]
    fn only_reviewers_reveal_and_only_with_a_reason() {
        let u = users();
        let why = Some("checking finding for case 2026/17");
        assert!(
            u.authorise_with_reason("rev", Action::RevealIdentity, why)
                .is_ok()
        );
        for (who, expect) in [
            ("ana", "only reviewer may reveal"),
            ("aud", "auditor"),
            ("adm", "admin"),
            ("old", "disabled"),
            ("nobody", "no user"),
        ] {
            let e = u
                .authorise_with_reason(who, Action::RevealIdentity, why)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{who}: {e}");
        }
        for reason in [None, Some(""), Some("   because  ")] {
            let e = u
                .authorise_with_reason("rev", Action::RevealIdentity, reason)
                .unwrap_err();
            assert_eq!(e, Denied::NoReason("reveal an identity"));
        }
    }

    #[test]
    fn admins_see_no_findings_and_auditors_no_identities() {
        assert!(!Role::Admin.may(Action::ReadFindings));
        assert!(!Role::Admin.may(Action::RevealIdentity));
        assert!(!Role::Auditor.may(Action::ReadFindings));
        assert!(!Role::Auditor.may(Action::RevealIdentity));
        assert!(!Role::Subject.may(Action::ReadAudit));
        assert!(Role::Auditor.may(Action::ReadAudit));
        let u = users();
        let round = Users::parse(&u.to_json()).unwrap();
        assert_eq!(round, u);
        assert!(valid_user_id("a.b-c_1") && !valid_user_id("A") && !valid_user_id("-x"));
    }
}
