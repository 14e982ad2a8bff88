//! The contract's scenario ids.

/// A misconduct scenario: the contract's scenario ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Own roster edited for pay.
    RosterManipulation,
    /// Overtime without presence.
    GhostOvertime,
    /// Office attendance below target, or badge-and-go.
    AttendanceBreach,
    /// Undeclared register/roll entry.
    UndeclaredInterest,
    /// Look-ups without purpose or of own relations.
    SystemMisuse,
    /// Look-ups of a case's victim/witness after the assignment ended.
    PostCaseContact,
    /// Overtime claimed over sickness or leave.
    LeaveOverlapClaim,
    /// Complaint history far above peers.
    ComplaintPattern,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 8] = [
        Scenario::RosterManipulation,
        Scenario::GhostOvertime,
        Scenario::AttendanceBreach,
        Scenario::UndeclaredInterest,
        Scenario::SystemMisuse,
        Scenario::PostCaseContact,
        Scenario::LeaveOverlapClaim,
        Scenario::ComplaintPattern,
    ];

    /// The contract's scenario id.
    pub fn id(self) -> &'static str {
        match self {
            Scenario::RosterManipulation => "roster_manipulation",
            Scenario::GhostOvertime => "ghost_overtime",
            Scenario::AttendanceBreach => "attendance_breach",
            Scenario::UndeclaredInterest => "undeclared_interest",
            Scenario::SystemMisuse => "system_misuse",
            Scenario::PostCaseContact => "post_case_contact",
            Scenario::LeaveOverlapClaim => "leave_overlap_claim",
            Scenario::ComplaintPattern => "complaint_pattern",
        }
    }

    /// The scenario with this contract id.
    pub fn from_id(id: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.id() == id)
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}
