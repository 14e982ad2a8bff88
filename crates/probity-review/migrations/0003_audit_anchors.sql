-- Audit anchors, version 3. After every append batch the audit log's head
-- (its last entry's seq and hash, and that entry's time in µs since the
-- epoch) is copied here, outside the store's audit files, so that a rewrite
-- of the log together with its head file is still detected: `probity audit
-- verify` checks that the log holds every anchored entry with the anchored
-- hash. Rows are only ever inserted. A second hash for the same seq is kept,
-- not refused: it is the evidence of a rewrite.
CREATE TABLE audit_anchors (
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at   BIGINT NOT NULL,
    PRIMARY KEY (seq, hash)
);
