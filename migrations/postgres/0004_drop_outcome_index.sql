-- Every outcome written paid for a second B-tree, the index on (job, outcome, status_code), to
-- speed up the commands that read a job's rows by outcome (status, failures, retry --codes). A
-- run writes every user; those commands are run by hand now and then, and read a million users'
-- rows in well under a second without it. The primary key (job, user_key) still serves the skip
-- look-up and every query of one job.
DROP INDEX IF EXISTS migration_status_job_outcome_code_idx;
