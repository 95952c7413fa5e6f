-- The change of postgres/0006_shards.sql: a run records its shard, and a watermark is kept per
-- job and shard.

-- NULL for a run of the whole job, as every run before this migration was.
ALTER TABLE migration_runs ADD COLUMN shard text;

-- SQLite cannot change a primary key: the table is rebuilt, and the watermark of a job run whole
-- is its shard '', so the rows already there keep their meaning.
CREATE TABLE migration_watermarks_by_shard (
    job          text      NOT NULL,
    shard        text      NOT NULL,
    since_column text      NOT NULL,
    watermark    timestamp NOT NULL,
    run_id       bigint    NOT NULL DEFAULT 0,
    updated_at   timestamp NOT NULL,
    PRIMARY KEY (job, shard)
) WITHOUT ROWID;
INSERT INTO migration_watermarks_by_shard (job, shard, since_column, watermark, run_id, updated_at)
    SELECT job, '', since_column, watermark, run_id, updated_at FROM migration_watermarks;
DROP TABLE migration_watermarks;
ALTER TABLE migration_watermarks_by_shard RENAME TO migration_watermarks;
