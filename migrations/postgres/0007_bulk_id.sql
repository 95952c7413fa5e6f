-- DRUID's Bulk API (SPEC §2.3): a user uploaded in a bulk batch is recorded `submitted` with the
-- batch's bulk_id until the batch's result is known, so that a run that stopped meanwhile polls
-- the batch again rather than upload its users twice. NULL for a user of no batch. A column
-- without a default: adding it rewrites nothing and holds off writes only for the moment of
-- the change.
--
-- No index: a run reads a job's submitted users once, at its start, from the primary key (under
-- a second per million rows), while an index on them would cost every bulk user two more index
-- writes, one when submitted and one when answered.
ALTER TABLE migration_status ADD COLUMN bulk_id text;

-- The user's DRUID id as its batch's line named it: a batch's results name the users they list
-- by it, so a run that resumes the batch tells them apart by it. NULL for a user of no batch.
ALTER TABLE migration_status ADD COLUMN object_id text;
