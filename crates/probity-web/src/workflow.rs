//! The review workflow's safeguarded operations, shared by the web UI, the
//! JSON API and `probity triage`: authorise the user's role for the step
//! from the finding's status (a finding a reviewer escalated is closed by a
//! reviewer), judge the step (four-eyes, response window, reason), put it
//! on the audit log, then record it in the review database — only if the
//! status is still the one authorised — and the store's register.

use probity_audit::Record;
use probity_policy::{Role, Users};
use probity_review::{Dismissal, Moved, ReviewDb, Status, Step};
use probity_store::Store;
use serde_json::json;

use crate::{Error, Result};

/// Takes a workflow step on a finding for `user`.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    store: &Store,
    db: &ReviewDb,
    user: &str,
    finding_id: &str,
    step: Step,
    reason: &str,
    dismissal: Option<Dismissal>,
    now: i64,
) -> Result<Moved> {
    let audit_action = format!("review.{}", step.id());
    let from = db
        .finding(finding_id)
        .await?
        .ok_or_else(|| probity_review::Error::NoFinding(finding_id.to_string()))?
        .status;
    probity_govern::authorise(
        store,
        user,
        step.action(from),
        Some(reason),
        false,
        &audit_action,
        finding_id,
    )?;
    let judged = match db
        .check(finding_id, step, user, reason, dismissal, now)
        .await
    {
        // Moved since it was authorised: the role may no longer suffice.
        Ok((f, _)) if f.status != from => Err(probity_review::Error::Refused(
            probity_review::Refused::NotFromHere {
                step: step.id(),
                from: f.status.id(),
                hint: "someone else moved it a moment ago; reload the finding".into(),
            },
        )),
        other => other,
    };
    let (finding, to) = match judged {
        Ok(x) => x,
        Err(e) => {
            if let probity_review::Error::Refused(why) = &e {
                store.audit()?.append(
                    Record::new(user, format!("{audit_action}.refused"), finding_id)
                        .reason(reason)
                        .details(json!({"refusal": why.to_string()})),
                )?;
            }
            return Err(e.into());
        }
    };
    let window = store.governance()?.review.response_window_days;
    let entry = store.audit()?.append(
        Record::new(user, &audit_action, finding_id)
            .person(&finding.person)
            .reason(reason)
            .details(json!({
                "from": finding.status.id(),
                "to": to.id(),
                "dismissal": dismissal.map(|d| d.id()),
                "detector": finding.detector,
            })),
    )?;
    let moved = match db
        .transition(
            finding_id,
            step,
            from,
            user,
            reason,
            dismissal,
            window,
            (entry.seq as i64, &entry.hash),
            now,
        )
        .await
    {
        Ok(m) => m,
        Err(e) => {
            store.audit()?.append(
                Record::new(user, format!("{audit_action}.failed"), finding_id)
                    .details(json!({"error": e.to_string(), "entry": entry.seq})),
            )?;
            return Err(e.into());
        }
    };
    if moved.to.is_final() || moved.to == Status::New {
        probity_govern::set_register_status(
            store,
            finding_id,
            moved.to.id(),
            reason,
            user,
            &entry.at.to_string(),
        )?;
    }
    Ok(moved)
}

/// The steps `role` may take on a finding in `status` (for buttons).
pub fn steps_for(role: Role, status: Status) -> Vec<Step> {
    Step::ALL
        .iter()
        .copied()
        .filter(|s| s.target(status).is_some() && role.may(s.action(status)))
        .collect()
}

/// Records a subject's response to a finding about them.
pub async fn respond(
    store: &Store,
    db: &ReviewDb,
    user: &str,
    person: &str,
    finding_id: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    let body = body.trim();
    if body.chars().count() < 3 || body.len() > 20_000 {
        return Err(Error::BadRequest(
            "a response needs some text (at most 20,000 characters)".into(),
        ));
    }
    match db.finding(finding_id).await? {
        Some(f) if f.person == person => {}
        _ => {
            return Err(Error::NotFound(
                "there is no finding about you with that id".into(),
            ));
        }
    }
    let entry = store.audit()?.append(
        Record::new(user, "review.respond", finding_id)
            .person(person)
            .details(json!({
                "chars": body.chars().count(),
                "blake3": blake3::hash(body.as_bytes()).to_hex().to_string(),
            })),
    )?;
    db.respond(finding_id, person, user, body, &entry.hash, now)
        .await?;
    Ok(())
}

/// Records (or withdraws) a subject's consent for a staff representative.
/// Consent is given only to a live staff representative's account; it can
/// always be withdrawn, whatever has become of the account since (disabled,
/// removed, another role).
#[allow(clippy::too_many_arguments)]
pub async fn consent(
    store: &Store,
    db: &ReviewDb,
    users: &Users,
    user: &str,
    person: &str,
    rep: &str,
    grant: bool,
    now: i64,
) -> Result<()> {
    if grant {
        let ok = users
            .get(rep)
            .is_some_and(|u| u.role == Role::StaffRep && !u.disabled);
        if !ok {
            return Err(Error::BadRequest(format!(
                "{rep:?} is not a staff representative's account"
            )));
        }
    } else if !db.has_consent(person, rep).await? {
        return Err(Error::BadRequest(format!(
            "{rep:?} does not hold your consent"
        )));
    }
    let action = if grant {
        "consent.grant"
    } else {
        "consent.withdraw"
    };
    store
        .audit()?
        .append(Record::new(user, action, rep).person(person))?;
    if grant {
        db.grant_consent(person, rep, user, now).await?;
    } else {
        db.withdraw_consent(person, rep, now).await?;
    }
    Ok(())
}
