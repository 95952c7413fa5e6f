-- The checkpoint of SPEC §6. The runner sets search_path to the checkpoint's schema, so names here
-- are unqualified. Times are UTC wall clock in `timestamp` columns: the stores convert on the way in.

-- One row per job and user: the user's latest outcome. The primary key serves the skip look-up.
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
);

-- `status` groups a job's rows by outcome; `failures` and `retry` select a job's rows by outcome.
CREATE INDEX migration_status_job_outcome_idx ON migration_status (job, outcome);

-- One row per run of a command. finished_at and exit_code stay NULL while the run is going on,
-- or forever if it was killed.
CREATE TABLE migration_runs (
    id          bigint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
