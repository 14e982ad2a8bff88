-- Review state, version 1. Portable SQL: runs unchanged on SQLite and
-- PostgreSQL. Times are microseconds since the Unix epoch (UTC).

-- Findings under review, copied from the store's register (pseudonymised).
CREATE TABLE findings (
    finding_id   TEXT PRIMARY KEY,
    detector     TEXT NOT NULL,
    scenario     TEXT NOT NULL,
    person       TEXT NOT NULL,
    unit_id      TEXT,
    score        DOUBLE PRECISION NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    month        TEXT NOT NULL,
    summary      TEXT NOT NULL,
    record       TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_at    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX findings_queue ON findings (status, score, finding_id);
CREATE INDEX findings_scenario ON findings (scenario, status, score);
CREATE INDEX findings_unit ON findings (unit_id, status, score);
CREATE INDEX findings_person ON findings (person);
CREATE INDEX findings_created ON findings (status, created_at);

-- Every decision on a finding, in order. `audit_hash` is the audit-log
-- entry that recorded it (the log is the authority; this is its index).
CREATE TABLE decisions (
    audit_hash  TEXT PRIMARY KEY,
    audit_seq   BIGINT NOT NULL,
    finding_id  TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    step        TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    dismissal   TEXT,
    reason      TEXT NOT NULL
);
CREATE INDEX decisions_finding ON decisions (finding_id, at);

-- An open proposal: a referral awaiting a second reviewer, or a prevention
-- notice awaiting the subject's response.
CREATE TABLE proposals (
    finding_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    proposer   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    respond_by BIGINT
);

-- In-app notices to a member of staff (by pseudonym).
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    respond_by BIGINT,
    read_at    BIGINT
);
CREATE INDEX notifications_person ON notifications (person, at);

-- The subject's responses; part of the finding's record.
CREATE TABLE responses (
    audit_hash TEXT PRIMARY KEY,
    finding_id TEXT NOT NULL,
    person     TEXT NOT NULL,
    by_user    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX responses_finding ON responses (finding_id, at);

-- A subject's consent for a staff representative to see their case.
CREATE TABLE consents (
    person      TEXT NOT NULL,
    rep_user    TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    granted_by  TEXT NOT NULL,
    withdrawn_at BIGINT,
    PRIMARY KEY (person, rep_user)
);

-- Web sessions. Only a hash of the session token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
