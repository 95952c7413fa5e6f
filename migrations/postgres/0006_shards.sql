-- Shards (SPEC §4, §6): several processes run one job, each the keys whose hash falls in its
-- shard "I/N", on one checkpoint. The shards share the job's rows of migration_status (their keys
-- are disjoint); a run records its shard, and an incremental sync keeps a watermark per shard,
-- since each shard reads the source and completes on its own.

-- NULL for a run of the whole job, as every run before this migration was.
ALTER TABLE migration_runs ADD COLUMN shard text;

-- The watermark of a job run whole is its shard '': the rows already there keep their meaning.
-- A small table, one row per job: rebuilding its primary key holds off nothing.
ALTER TABLE migration_watermarks ADD COLUMN shard text NOT NULL DEFAULT '';
ALTER TABLE migration_watermarks ALTER COLUMN shard DROP DEFAULT;
ALTER TABLE migration_watermarks DROP CONSTRAINT migration_watermarks_pkey;
ALTER TABLE migration_watermarks ADD PRIMARY KEY (job, shard);
