-- The change of postgres/0007_bulk_id.sql: the bulk batch that carried a `submitted` user, NULL
-- for a user of no batch.
ALTER TABLE migration_status ADD COLUMN bulk_id text;
-- The user's DRUID id as its batch's line named it, which the batch's results name users by.
ALTER TABLE migration_status ADD COLUMN object_id text;
