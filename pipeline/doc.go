// Package pipeline is the run: records from a source become payloads, payloads already answered
// by DRUID are skipped, the rest go through a shared rate limiter and a pool of workers to DRUID,
// and every outcome is made durable in the checkpoint before its worker takes the next record.
//
//	source → build and validate → skip what is done → limiter → workers → DRUID → checkpoint
//
// The package declares the small interfaces it consumes (Source, Builder, Sender, Store); the
// concrete CSV and Postgres sources, the DRUID client and the SQLite and Postgres checkpoints
// satisfy them. It never imports a database driver.
package pipeline
