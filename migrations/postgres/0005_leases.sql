-- One run of a job (and shard) at a time (SPEC §4): who holds each lease, so that a run refused
-- it can name the holder. The lease itself is a session advisory lock, which Postgres drops with
-- the holder's connection, kill -9 included: the lock is the truth, a row only describes it. A
-- holder writes its row once it has the lock and deletes it when it lets go, so a row outlives
-- its lock only when the holder died; the next holder overwrites it. A new, empty table: it
-- holds off nothing.
CREATE TABLE migration_leases (
    job    text      NOT NULL,
    shard  text      NOT NULL, -- '' for a job run whole, "I/N" for one of its shards
    host   text      NOT NULL,
    pid    integer   NOT NULL,
    run_id bigint    NOT NULL DEFAULT 0, -- 0 until the holder has started its run
    since  timestamp NOT NULL,
    PRIMARY KEY (job, shard)
);
