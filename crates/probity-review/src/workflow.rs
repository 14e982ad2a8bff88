//! The review workflow as a state machine: which step may follow which
//! status, who may take it, and what it needs. Pure code, no database: the
//! web UI, the command line and the tests all ask [`plan`].
//!
//! ```text
//! new ──dismiss──────────────▶ no_further_action   (reason + dismissal kind)
//!  │ ──advise────────────────▶ advice
//!  │ ──propose_referral──────▶ referral_proposed ──approve_referral (another reviewer)──▶ referral
//!  │                               └──reject_referral──▶ new
//!  └ ──propose_notice────────▶ awaiting_response ──issue_notice (after the response
//!                                  │                  or the window)──▶ prevention_notice
//!                                  └──dismiss / advise──▶ no_further_action / advice
//! ```
//!
//! Who may take a step depends on the status it is taken from
//! ([`Step::action`]): once a reviewer has escalated a finding (proposed a
//! prevention notice), only a reviewer may close it.

use probity_policy::Action;
use serde::{Deserialize, Serialize};

/// A finding's review status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not yet triaged.
    New,
    /// A referral proposed, awaiting a second reviewer.
    ReferralProposed,
    /// A prevention notice proposed; the subject has been told and may respond.
    AwaitingResponse,
    /// Triaged: no further action.
    NoFurtherAction,
    /// Triaged: advice.
    Advice,
    /// Triaged: a prevention notice was issued.
    PreventionNotice,
    /// Triaged: referred for investigation.
    Referral,
}

impl Status {
    /// Every status.
    pub const ALL: &'static [Status] = &[
        Status::New,
        Status::ReferralProposed,
        Status::AwaitingResponse,
        Status::NoFurtherAction,
        Status::Advice,
        Status::PreventionNotice,
        Status::Referral,
    ];

    /// The id used in the database, URLs and the register.
    pub fn id(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::ReferralProposed => "referral_proposed",
            Status::AwaitingResponse => "awaiting_response",
            Status::NoFurtherAction => "no_further_action",
            Status::Advice => "advice",
            Status::PreventionNotice => "prevention_notice",
            Status::Referral => "referral",
        }
    }

    /// Parses a status id.
    pub fn from_id(id: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.id() == id)
    }

    /// In plain English.
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::ReferralProposed => "referral proposed (awaiting second reviewer)",
            Status::AwaitingResponse => "prevention notice proposed (awaiting response)",
            Status::NoFurtherAction => "no further action",
            Status::Advice => "advice",
            Status::PreventionNotice => "prevention notice issued",
            Status::Referral => "referred for investigation",
        }
    }

    /// A decided outcome (the finding has been triaged).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::NoFurtherAction | Status::Advice | Status::PreventionNotice | Status::Referral
        )
    }

    /// Whether only a reviewer's step ([`Action::IssueNotice`]) leads to
    /// this status: a finding in it has been escalated by a reviewer, and
    /// every step from it needs a reviewer too (see [`Step::action`]).
    /// `new` is where every finding starts, so it is never escalated.
    pub fn escalated(self) -> bool {
        let mut into = Step::ALL
            .iter()
            .filter(|s| Status::ALL.iter().any(|f| s.target(*f) == Some(self)))
            .peekable();
        self != Status::New
            && into.peek().is_some()
            && into.all(|s| s.own_action() == Action::IssueNotice)
    }

    /// A decided outcome that upholds the finding.
    pub fn upholds(self) -> bool {
        matches!(
            self,
            Status::Advice | Status::PreventionNotice | Status::Referral
        )
    }
}

/// Why a finding was closed with no further action. `false_positive`
/// counts against the detector's measured precision; the others do not
/// (the pattern was there, but it was explained or not worth pursuing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dismissal {
    /// The pattern is not there (bad data, a detector error).
    FalsePositive,
    /// The pattern is there and has a legitimate explanation.
    Explained,
    /// Not enough evidence to act on.
    InsufficientEvidence,
    /// Already dealt with elsewhere.
    AlreadyKnown,
}

impl Dismissal {
    /// Every dismissal kind.
    pub const ALL: &'static [Dismissal] = &[
        Dismissal::FalsePositive,
        Dismissal::Explained,
        Dismissal::InsufficientEvidence,
        Dismissal::AlreadyKnown,
    ];

    /// Its id.
    pub fn id(self) -> &'static str {
        match self {
            Dismissal::FalsePositive => "false_positive",
            Dismissal::Explained => "explained",
            Dismissal::InsufficientEvidence => "insufficient_evidence",
            Dismissal::AlreadyKnown => "already_known",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Dismissal> {
        Dismissal::ALL.iter().copied().find(|d| d.id() == id)
    }

    /// In plain English.
    pub fn label(self) -> &'static str {
        match self {
            Dismissal::FalsePositive => "false positive: the pattern is not there",
            Dismissal::Explained => "explained: a legitimate reason",
            Dismissal::InsufficientEvidence => "insufficient evidence",
            Dismissal::AlreadyKnown => "already dealt with elsewhere",
        }
    }
}

/// A workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Close with no further action (needs a dismissal kind).
    Dismiss,
    /// Close with advice.
    Advise,
    /// Propose a referral for investigation (a second reviewer approves).
    ProposeReferral,
    /// Approve a referral someone else proposed.
    ApproveReferral,
    /// Reject a proposed referral (back to new).
    RejectReferral,
    /// Propose a prevention notice: the subject is told and may respond.
    ProposeNotice,
    /// Issue the prevention notice (after the response or the window).
    IssueNotice,
}

impl Step {
    /// Every step.
    pub const ALL: &'static [Step] = &[
        Step::Dismiss,
        Step::Advise,
        Step::ProposeReferral,
        Step::ApproveReferral,
        Step::RejectReferral,
        Step::ProposeNotice,
        Step::IssueNotice,
    ];

    /// Its id.
    pub fn id(self) -> &'static str {
        match self {
            Step::Dismiss => "dismiss",
            Step::Advise => "advise",
            Step::ProposeReferral => "propose_referral",
            Step::ApproveReferral => "approve_referral",
            Step::RejectReferral => "reject_referral",
            Step::ProposeNotice => "propose_notice",
            Step::IssueNotice => "issue_notice",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| s.id() == id)
    }

    /// In plain English, for buttons.
    pub fn label(self) -> &'static str {
        match self {
            Step::Dismiss => "No further action",
            Step::Advise => "Advice",
            Step::ProposeReferral => "Propose referral for investigation",
            Step::ApproveReferral => "Approve referral (second reviewer)",
            Step::RejectReferral => "Reject proposed referral",
            Step::ProposeNotice => "Propose prevention notice (subject is told and may respond)",
            Step::IssueNotice => "Issue prevention notice",
        }
    }

    /// What the step needs wherever it is taken from.
    fn own_action(self) -> Action {
        match self {
            Step::Dismiss | Step::Advise | Step::ProposeReferral => Action::Triage,
            Step::ApproveReferral
            | Step::RejectReferral
            | Step::ProposeNotice
            | Step::IssueNotice => Action::IssueNotice,
        }
    }

    /// What a user needs to take this step from status `from`. A finding a
    /// reviewer has escalated (a status only a reviewer's step leads to,
    /// such as `awaiting_response`) is closed by a reviewer too: dismissing
    /// or advising on a proposed prevention notice needs
    /// [`Action::IssueNotice`], not [`Action::Triage`].
    pub fn action(self, from: Status) -> Action {
        if from.escalated() {
            Action::IssueNotice
        } else {
            self.own_action()
        }
    }

    /// The status this step leads to from `from`, if it may follow it.
    pub fn target(self, from: Status) -> Option<Status> {
        use Status::*;
        match (self, from) {
            (Step::Dismiss, New | AwaitingResponse) => Some(NoFurtherAction),
            (Step::Advise, New | AwaitingResponse) => Some(Advice),
            (Step::ProposeReferral, New) => Some(ReferralProposed),
            (Step::ApproveReferral, ReferralProposed) => Some(Referral),
            (Step::RejectReferral, ReferralProposed) => Some(New),
            (Step::ProposeNotice, New) => Some(AwaitingResponse),
            (Step::IssueNotice, AwaitingResponse) => Some(PreventionNotice),
            _ => None,
        }
    }
}

/// Minimum length of a decision's reason.
pub const MIN_REASON: usize = 10;

/// What the state machine needs to know about a finding to judge a step.
#[derive(Debug, Clone, Default)]
pub struct Situation {
    /// Who proposed the open proposal, if any.
    pub proposer: Option<String>,
    /// When the subject's response window closes (µs), for a proposed notice.
    pub respond_by: Option<i64>,
    /// Whether the subject has responded since the proposal.
    pub responded: bool,
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The step cannot follow the finding's status.
    #[error("a finding that is {from} cannot be moved by {step}; {hint}")]
    NotFromHere {
        /// The step.
        step: &'static str,
        /// The status.
        from: &'static str,
        /// What can be done.
        hint: String,
    },
    /// No reason, or too short.
    #[error(
        "a reason of at least {MIN_REASON} characters is required: it goes on the record and the audit log"
    )]
    Reason,
    /// No further action without a dismissal kind.
    #[error(
        "say why there is no further action: false_positive, explained, insufficient_evidence or already_known"
    )]
    Dismissal,
    /// Four-eyes: the proposer cannot approve.
    #[error(
        "four-eyes: {0} proposed this referral and cannot also approve it; another reviewer must"
    )]
    SameReviewer(String),
    /// The subject has not responded and the window is open.
    #[error(
        "the member of staff has until {0} to respond; the notice can be issued after they respond or the window closes"
    )]
    WindowOpen(String),
}

/// Judges a step: the status it leads to, or why not.
pub fn plan(
    step: Step,
    from: Status,
    actor: &str,
    reason: &str,
    dismissal: Option<Dismissal>,
    situation: &Situation,
    now: i64,
) -> Result<Status, Refused> {
    let Some(to) = step.target(from) else {
        let next: Vec<&str> = Step::ALL
            .iter()
            .filter(|s| s.target(from).is_some())
            .map(|s| s.id())
            .collect();
        return Err(Refused::NotFromHere {
            step: step.id(),
            from: from.id(),
            hint: if next.is_empty() {
                "its outcome is decided".into()
            } else {
                format!("possible steps: {}", next.join(", "))
            },
        });
    };
    if reason.trim().chars().count() < MIN_REASON {
        return Err(Refused::Reason);
    }
    if step == Step::Dismiss && dismissal.is_none() {
        return Err(Refused::Dismissal);
    }
    if step == Step::ApproveReferral
        && let Some(p) = &situation.proposer
        && p == actor
    {
        return Err(Refused::SameReviewer(p.clone()));
    }
    if step == Step::IssueNotice
        && !situation.responded
        && let Some(by) = situation.respond_by
        && now < by
    {
        return Err(Refused::WindowOpen(crate::display_time(by)));
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(step: Step, from: Status) -> Result<Status, Refused> {
        plan(
            step,
            from,
            "rev1",
            "a reason long enough",
            Some(Dismissal::Explained),
            &Situation::default(),
            0,
        )
    }

    #[test]
    fn every_path_of_the_diagram() {
        use Status::*;
        assert_eq!(ok(Step::Dismiss, New), Ok(NoFurtherAction));
        assert_eq!(ok(Step::Advise, New), Ok(Advice));
        assert_eq!(ok(Step::ProposeReferral, New), Ok(ReferralProposed));
        assert_eq!(ok(Step::ApproveReferral, ReferralProposed), Ok(Referral));
        assert_eq!(ok(Step::RejectReferral, ReferralProposed), Ok(New));
        assert_eq!(ok(Step::ProposeNotice, New), Ok(AwaitingResponse));
        assert_eq!(
            ok(Step::IssueNotice, AwaitingResponse),
            Ok(PreventionNotice)
        );
        assert_eq!(ok(Step::Advise, AwaitingResponse), Ok(Advice));
        // Decided outcomes are final; a referral is never reached directly.
        for s in Status::ALL.iter().filter(|s| s.is_final()) {
            for step in Step::ALL {
                assert!(ok(*step, *s).is_err(), "{step:?} from {s:?}");
            }
        }
        assert!(ok(Step::ApproveReferral, New).is_err());
        assert!(ok(Step::IssueNotice, New).is_err());
    }

    #[test]
    fn a_finding_a_reviewer_escalated_is_closed_by_a_reviewer() {
        use Status::*;
        let escalated: Vec<Status> = Status::ALL
            .iter()
            .copied()
            .filter(|s| s.escalated())
            .collect();
        assert_eq!(escalated, [AwaitingResponse, PreventionNotice, Referral]);
        // From a proposed notice, closing it otherwise needs a reviewer.
        assert_eq!(Step::Dismiss.action(AwaitingResponse), Action::IssueNotice);
        assert_eq!(Step::Advise.action(AwaitingResponse), Action::IssueNotice);
        // From new, an analyst may triage.
        assert_eq!(Step::Dismiss.action(New), Action::Triage);
        assert_eq!(Step::Advise.action(New), Action::Triage);
        assert_eq!(Step::ProposeReferral.action(New), Action::Triage);
        // A referral an analyst proposed is still approved by a reviewer.
        assert_eq!(
            Step::ApproveReferral.action(ReferralProposed),
            Action::IssueNotice
        );
        // Every step that may follow an escalated status needs a reviewer.
        for from in escalated {
            for step in Step::ALL.iter().filter(|s| s.target(from).is_some()) {
                assert_eq!(
                    step.action(from),
                    Action::IssueNotice,
                    "{step:?} from {from:?}"
                );
            }
        }
    }

    #[test]
    fn reasons_dismissals_four_eyes_and_the_response_window() {
        let s = Situation::default();
        let r = plan(Step::Advise, Status::New, "a", "short", None, &s, 0);
        assert_eq!(r, Err(Refused::Reason));
        let r = plan(
            Step::Dismiss,
            Status::New,
            "a",
            "long enough reason",
            None,
            &s,
            0,
        );
        assert_eq!(r, Err(Refused::Dismissal));
        let s = Situation {
            proposer: Some("rev1".into()),
            ..Default::default()
        };
        let r = plan(
            Step::ApproveReferral,
            Status::ReferralProposed,
            "rev1",
            "approving my own",
            None,
            &s,
            0,
        );
        assert_eq!(r, Err(Refused::SameReviewer("rev1".into())));
        assert!(
            plan(
                Step::ApproveReferral,
                Status::ReferralProposed,
                "rev2",
                "second pair of eyes",
                None,
                &s,
                0
            )
            .is_ok()
        );
        let mut s = Situation {
            respond_by: Some(1_000),
            ..Default::default()
        };
        let issue = |s: &Situation, now| {
            plan(
                Step::IssueNotice,
                Status::AwaitingResponse,
                "rev1",
                "issuing the notice now",
                None,
                s,
                now,
            )
        };
        assert!(matches!(issue(&s, 999), Err(Refused::WindowOpen(_))));
        assert_eq!(issue(&s, 1_000), Ok(Status::PreventionNotice));
        s.responded = true;
        assert_eq!(issue(&s, 0), Ok(Status::PreventionNotice));
    }
}
