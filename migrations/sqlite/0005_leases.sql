-- The change of postgres/0005_leases.sql: who holds each lease of a job (and shard), so that a
-- run refused it can name the holder. The lease itself is a lock on a file beside the database,
-- which the operating system drops with the holder's process, kill -9 included; a row only
-- describes it.
CREATE TABLE migration_leases (
    job    text      NOT NULL,
    shard  text      NOT NULL,
    host   text      NOT NULL,
    pid    integer   NOT NULL,
    run_id bigint    NOT NULL DEFAULT 0,
    since  timestamp NOT NULL,
    PRIMARY KEY (job, shard)
) WITHOUT ROWID;
