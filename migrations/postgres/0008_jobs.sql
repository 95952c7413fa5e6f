-- What the checkpoint knows of a job as a whole: one row per job. hash_key_fingerprint
-- identifies the key that keyed the password's part of the job's payload hashes (SPEC §4), so
-- that a run with another key can say that every user with a password will be sent again. It
-- is a fingerprint only: the key itself, a secret, is never stored. A new, empty table: it holds
-- off nothing.
CREATE TABLE migration_jobs (
    job                  text      PRIMARY KEY,
    hash_key_fingerprint text      NOT NULL,
    updated_at           timestamp NOT NULL
);
