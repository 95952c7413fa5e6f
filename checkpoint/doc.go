// Package checkpoint stores what became of every user of a job, and every run of it, so that a
// run can resume where the last one stopped, skip the users DRUID already answered, and re-send
// the ones that failed (SPEC §4 and §6).
//
// Two stores implement Store with the same behaviour, proven by one conformance suite run against
// both:
//
//   - SQLite, the default: a file beside the job (SQLiteDefault), through modernc.org/sqlite,
//     pure Go. The file is in WAL mode with synchronous=NORMAL: a write that Write acknowledged
//     survives the process being killed (kill -9, OOM), which is what SPEC §4 requires — after a
//     crash only the calls in flight are sent again. Only a crash of the operating system or a
//     power cut can lose the last commits; the cost is the re-sending of those few users, and it
//     buys a commit that waits for no fsync. Writes are serialised inside the process, and a busy
//     timeout makes another process's writer wait rather than fail. A new file, its -wal and
//     -shm files and its lock files are readable by their owner only (0600): they hold user
//     keys, DRUID's errors and users' data saved for rollback. An existing file keeps its mode,
//     and Store.Warnings says when others can read it.
//   - Postgres, chosen by a postgres:// or postgresql:// checkpoint URL, through a pgx pool, for
//     jobs that run on several machines or want the checkpoint beside the CRM. Options.Schema
//     puts the tables in a schema of their own.
//
// Both are created by the numbered SQL files of package migrations; Open never changes the
// schema, Store.Migrate does, and upgrades a checkpoint that an older druid-migrate created. The
// tables, the same in both:
//
//   - migration_status: one row per job and user, the user's latest outcome (SPEC §6). Its
//     primary key (job, user_key) is its only index: it serves the skip look-up (Prior), one
//     probe per key, and the reading of a job's rows (Status, Select). A second index, on
//     (job, outcome, status_code), made status faster and every run's writes slower; migration
//     0004 dropped it. A user uploaded in a bulk batch (SPEC §2.3) stands at the outcome
//     `submitted` with the batch's bulk_id until the batch's result is recorded; Submitted gives
//     a resumed run those users, batch by batch, to poll again rather than upload twice.
//   - migration_runs: one row per run of a command, its counts and exit code, and its shard:
//     NULL for a run of the whole job, "I/N" for a run of one of its shards (SPEC §4). The
//     shards of a job share its rows of migration_status, their keys being disjoint. A run
//     that died leaves finished_at NULL until the next run of its job and shard, holding the
//     lease, ends it (AbandonRuns) at its last outcome, exit_code staying NULL.
//   - migration_watermarks: one row per job and shard ("" for the job run whole) that syncs
//     incrementally (--since-column): the source column (since_column), the greatest value of it
//     that the last completed run of that job and shard read (watermark), that run (run_id) and
//     when it was written (updated_at). Each shard reads the source on its own, so each keeps
//     its own. The next run reads only the rows changed since. A run writes it (SetWatermark)
//     only once it has
//     completed, so a run that stopped half-way does not advance it and the next one reads
//     those rows again; the skip rule spares the calls for those already answered. The
//     watermark is timestamptz in Postgres, an instant comparable with the CRM's column, and
//     UTC text in SQLite; both keep microseconds, cutting finer digits rather than rounding up,
//     so that a row at the watermark's very instant is read again rather than missed.
//   - migration_backups: one row per job, run and user that run --backup saved: the user's
//     state as DRUID returned it just before the run's first update of it (state, JSON text kept
//     byte for byte, never a password), its DRUID id (object_id) and when it was read
//     (created_at). rollback --job J --run R reads a run's rows (Backups) and sends each state
//     back. A user saved again in the same run keeps its first state (SaveBackups): a later
//     read would already show the run's change.
//   - migration_leases: one row per job and shard whose lease is held: who holds it (host, pid,
//     run_id) and since when, so that a run refused the lease can name its holder. The row only
//     describes the lease; see below.
//   - migration_jobs: one row per job that recorded the fingerprint of the key of its payload
//     hashes (hash_key_fingerprint, SPEC §4; never the key), so that a run with another key
//     can say that every user with a password will be sent again.
//   - schema_migrations: the migrations applied.
//
// Times of the checkpoint's own (updated_at, started_at, finished_at) are UTC: a Postgres
// timestamp, or SQLite text "YYYY-MM-DD HH:MM:SS.SSSSSS".
//
// In Postgres, Options.Schema (the --checkpoint-schema) places the tables; Options.Validate
// rejects at start a name Postgres would refuse or cut, and Migrate creates the schema when it
// is missing. The pool holds Options.MaxConns connections, MaxConnsDefault unless set.
//
// One run of a job at a time (SPEC §4): run, retry and rollback take the job's lease with
// Store.Lease, per shard ("" for the job run whole, "I/N" for one of its shards), before they
// read anything. A second Lease of the same job and shard on the same checkpoint fails at once
// with a *LeasedError naming the holder. The lease is a lock that dies with its process, kill -9
// included, so a crash never needs a manual unlock: in Postgres a session advisory lock held on
// a connection of its own, outside the pool; in SQLite a lock (flock) on a file beside the
// database, one per job and shard. The holder writes its row in migration_leases once it has the
// lock and deletes it on Release; a holder that crashed leaves its row behind, and the next one
// overwrites it.
//
// Errors are translated where they leave the package: callers never see a pgx or sqlite type,
// and no error carries the password of the checkpoint URL. An error wraps ErrUnavailable when
// the store could not be reached and the same call may succeed later, ErrNotFound when the run
// or job asked for does not exist, ErrLeased when another run holds a lease, and the context's
// error when the call was cancelled. A row's fault is the row's: a Write whose row the store or
// the database refuses for what it holds (a key that is not valid UTF-8 or is too long for
// Postgres's index; SQLSTATE classes 22 and 54, SQLite's TOOBIG, MISMATCH and CONSTRAINT)
// writes the other rows and returns a *RowsRefused, wrapping ErrRowRefused, which lists the
// rows left out and why. Each driver classifies its errors in one function, pgFault and
// sqliteFault.
package checkpoint
