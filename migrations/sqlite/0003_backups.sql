-- run --backup and rollback: the change of postgres/0003_backups.sql.

-- One row per job, run and user: the user's state as DRUID returned it just before the run's
-- first update of it, as JSON text kept byte for byte, never holding a password. Unlike the
-- other tables this one keeps its rowid: a state is a few kilobytes, and WITHOUT ROWID suits only
-- rows far smaller than a page. The primary key's index, in byte order (BINARY), gives rollback
-- a run's users in key order without a sort.
CREATE TABLE migration_backups (
    job        text      NOT NULL,
    run_id     bigint    NOT NULL,
    user_key   text      NOT NULL,
    object_id  text,
    state      text      NOT NULL,
    created_at timestamp NOT NULL,
    PRIMARY KEY (job, run_id, user_key)
);
