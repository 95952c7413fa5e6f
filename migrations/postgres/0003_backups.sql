-- run --backup and rollback (the "Data safety" issue): each user's state as DRUID held it just
-- before a run's first update of it, so that rollback can send it back. Applied in the runner's
-- transaction; a new, empty table, so it holds off nothing.

-- One row per job, run and user. state is the user as DRUID returned it, as JSON, never holding a
-- password. It is text rather than jsonb on purpose: jsonb rewrites what it stores (key order,
-- white space, duplicate keys, number spelling), and a rollback must send back exactly what DRUID
-- gave. user_key is COLLATE "C" so that the primary key is in byte order, the order rollback
-- reads a run in (as SQLite sorts): an index scan with no sort, however large the run.
CREATE TABLE migration_backups (
    job        text      NOT NULL,
    run_id     bigint    NOT NULL,
    user_key   text      COLLATE "C" NOT NULL,
    object_id  text,
    state      text      NOT NULL,
    created_at timestamp NOT NULL,
    PRIMARY KEY (job, run_id, user_key)
);
