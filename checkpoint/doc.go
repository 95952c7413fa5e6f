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
//     timeout makes another process's writer wait rather than fail.
//   - Postgres, chosen by a postgres:// or postgresql:// checkpoint URL, through a pgx pool, for
//     jobs that run on several machines or want the checkpoint beside the CRM. Options.Schema
//     puts the tables in a schema of their own.
//
// Both are created by the numbered SQL files of package migrations; Open never changes the
// schema, Store.Migrate does.
//
// Errors are translated where they leave the package: callers never see a pgx or sqlite type,
// and no error carries the password of the checkpoint URL. An error wraps ErrUnavailable when
// the store could not be reached and the same call may succeed later, ErrNotFound when the run
// or job asked for does not exist, and the context's error when the call was cancelled.
package checkpoint
