-- Incremental sync (--since-column) and the Postgres checkpoint in production. Applied in the
-- runner's transaction: building the index holds off writes to migration_status meanwhile
-- (about 2 s per million rows), so upgrade between runs, which `run` does at its start anyway.

-- One row per job that syncs incrementally: how far its last completed run read the source. A
-- run writes it only once it has completed, so an interrupted run leaves it where it was.
-- watermark is timestamptz, unlike the checkpoint's own times: it is compared with a column of
-- the CRM, and an instant compares rightly whatever the time zone of the session.
CREATE TABLE migration_watermarks (
    job          text        PRIMARY KEY,
    since_column text        NOT NULL,
    watermark    timestamptz NOT NULL,
    run_id       bigint      NOT NULL DEFAULT 0,
    updated_at   timestamp   NOT NULL
);

-- (job, outcome, status_code) replaces (job, outcome), of which it is an extension: `retry
-- --codes` finds its rows in the index alone instead of reading every failed row to filter it,
-- and `status` counts from the index (an index-only scan where the visibility map allows). It
-- stays as small, since B-tree deduplication folds the many equal entries. user_key was left
-- out on purpose: outcome = ANY(...) keeps Postgres (before 17) from reading an index in key
-- order, so it would not spare the sort, and it would make the index seven times larger.
CREATE INDEX migration_status_job_outcome_code_idx ON migration_status (job, outcome, status_code);
DROP INDEX IF EXISTS migration_status_job_outcome_idx;
