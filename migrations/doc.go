// Package migrations holds the checkpoint's schema as numbered SQL files, embedded in the binary,
// one directory per SQL dialect: sqlite/ and postgres/.
//
// A file is named NNNN_name.sql; its number is its version. Files are applied in version order,
// each exactly once, and a schema_migrations table in the checkpoint records which versions are
// applied. This package only reads the files: applying them, with the locking each database needs
// so that two processes migrating at once do not collide, is the checkpoint stores' job.
//
// Published files are never edited: a change to the schema is a new file with the next number,
// written for both dialects so that the two stores keep the same tables and the same behaviour.
package migrations
