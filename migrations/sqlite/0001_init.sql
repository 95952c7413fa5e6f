-- The checkpoint of SPEC §6, the same tables as postgres/0001_init.sql. Times are stored as UTC
-- text, "YYYY-MM-DD HH:MM:SS.SSSSSS", which sorts in time order and which SQLite's date functions read.

-- One row per job and user: the user's latest outcome. WITHOUT ROWID clusters the rows on the
-- primary key, so the skip look-up is one b-tree search and no second one into a rowid table.
CREATE TABLE migration_status (
    job          text      NOT NULL,
    user_key     text      NOT NULL,
    status_code  integer   NOT NULL DEFAULT 0,
    outcome      text      NOT NULL,
    attempts     integer   NOT NULL DEFAULT 0,
    payload_hash text,
    error        text,
    run_id       bigint    NOT NULL DEFAULT 0,
    updated_at   timestamp NOT NULL,
    PRIMARY KEY (job, user_key)
) WITHOUT ROWID;

-- `status` groups a job's rows by outcome; `failures` and `retry` select a job's rows by outcome.
CREATE INDEX migration_status_job_outcome_idx ON migration_status (job, outcome);

-- One row per run of a command. AUTOINCREMENT so that an id is never handed out twice, even after
-- the newest runs are deleted: migration_status.run_id points at it.
CREATE TABLE migration_runs (
    id          integer   PRIMARY KEY AUTOINCREMENT,
    job         text      NOT NULL,
    command     text      NOT NULL,
    started_at  timestamp NOT NULL,
    finished_at timestamp,
    read        bigint    NOT NULL DEFAULT 0,
    skipped     bigint    NOT NULL DEFAULT 0,
    updated     bigint    NOT NULL DEFAULT 0,
    partial     bigint    NOT NULL DEFAULT 0,
    unchanged   bigint    NOT NULL DEFAULT 0,
    invalid     bigint    NOT NULL DEFAULT 0,
    rejected    bigint    NOT NULL DEFAULT 0,
    failed      bigint    NOT NULL DEFAULT 0,
    exit_code   integer
);

CREATE INDEX migration_runs_job_idx ON migration_runs (job, id);
