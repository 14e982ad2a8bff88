-- Queue indexes, version 2. The open queue (no filter: the common page) is
-- read in the order of one of the partial indexes, so a page costs the same
-- with 100 or 100,000 findings. Filtered queues search a covering index
-- and sort only its narrow entries. The partial indexes' WHERE is exactly
-- the queue's open-status condition (`OPEN_STATUSES_SQL` in lib.rs, which a
-- test checks): SQLite uses a partial index only when the query repeats it.
-- The indexes of version 1 they replace are dropped.
DROP INDEX findings_queue;
DROP INDEX findings_scenario;
DROP INDEX findings_unit;
DROP INDEX findings_created;
CREATE INDEX findings_open_score ON findings (score DESC, finding_id) WHERE status IN ('new', 'referral_proposed', 'awaiting_response');
CREATE INDEX findings_open_created ON findings (created_at, finding_id) WHERE status IN ('new', 'referral_proposed', 'awaiting_response');
CREATE INDEX findings_open_period ON findings (period_start DESC, finding_id) WHERE status IN ('new', 'referral_proposed', 'awaiting_response');
CREATE INDEX findings_status_sort ON findings (status, score DESC, created_at, period_start, finding_id);
CREATE INDEX findings_scenario_sort ON findings (scenario, status, score DESC, created_at, period_start, finding_id);
CREATE INDEX findings_unit_sort ON findings (unit_id, status, score DESC, created_at, period_start, finding_id);
