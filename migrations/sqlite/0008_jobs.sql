-- The change of postgres/0008_jobs.sql: one row per job, with the fingerprint of the key of its
-- payload hashes (never the key).
CREATE TABLE migration_jobs (
    job                  text      NOT NULL PRIMARY KEY,
    hash_key_fingerprint text      NOT NULL,
    updated_at           timestamp NOT NULL
) WITHOUT ROWID;
