package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"druid-migrate/internal/pgurl"
)

// SQLiteDefault is the checkpoint used when none is given: an SQLite file in the working directory.
const SQLiteDefault = "druid-migrate.db"

// MaxConnsDefault is the size of the Postgres pool when Options.MaxConns is 0. A run holds at most
// pgWriters+3 connections at once — the committer's Writes, two Prior look-ups, and a Select
// whose callback uses the store — and a checkpoint that shares a server with the CRM should
// take no more of its max_connections than that, plus one to spare. The run's lease holds one
// more, of its own, outside the pool.
const MaxConnsDefault = pgWriters + 4

// pgWriters is how many groups of outcomes a Postgres checkpoint writes at once, each in a
// transaction of its own: a commit waits for the server's disk, and the server flushes its log
// once for every transaction committing meanwhile, so three writers make three groups durable
// in the time of one. Fewer when Options.MaxConns leaves no room.
const pgWriters = 3

// ConnectTimeoutDefault bounds each attempt to connect to Postgres when the URL sets no
// connect_timeout: an unreachable checkpoint must fail the start of a job in seconds, not hang
// for the minutes a dropped SYN can take.
const ConnectTimeoutDefault = 10 * time.Second

// ErrUnavailable is wrapped by the errors of a store that could not be reached — connection
// refused or lost, server shutting down, database locked past the busy timeout. The same call
// may succeed later; Write is an idempotent upsert, so retrying it is safe even when the commit's
// fate is unknown.
var ErrUnavailable = errors.New("checkpoint: store unavailable")

// Store is the checkpoint of one database: every user's latest outcome per job (migration_status),
// every run (migration_runs), the incremental-sync watermark of each job and shard
// (migration_watermarks), the fingerprint of each job's hash key (migration_jobs), the
// users' states that run --backup saved for rollback (migration_backups) and the leases that let
// one run of a job at a time (migration_leases).
// The SQLite and Postgres stores behave identically; every method is safe for concurrent use.
type Store interface {
	// Migrate creates the schema or upgrades it to the newest migration. It is idempotent, and
	// safe when several processes migrate the same database at once.
	Migrate(ctx context.Context) error

	// Prior returns what the checkpoint holds for those of keys the job has a row for, whatever
	// the outcome, in one query. Keys without a row are absent from the map.
	Prior(ctx context.Context, job string, keys []string) (map[string]Prior, error)

	// Write upserts rows in one transaction, each row replacing every column of the user's,
	// BulkID included (a row without one clears it): all of them are durable when it returns
	// nil, none when it fails, with one exception: a row that cannot be kept because of what it
	// holds (a job or key that is not valid UTF-8 or holds a NUL byte, a key too long for the
	// database's index) is left out, the others are written, and the error is a *RowsRefused
	// (wrapping ErrRowRefused, never ErrUnavailable) that lists the rows left out and why. When
	// rows hold the same job and key more than once the last one wins. A zero UpdatedAt is
	// stored as the current time.
	Write(ctx context.Context, rows []Row) error

	// HasUsers says whether the job has a row in migration_status, whatever its outcome. A run
	// of a job without any has no user to skip, and makes no skip look-up.
	HasUsers(ctx context.Context, job string) (bool, error)

	// DeleteKeys deletes the job's rows whose key starts with prefix, taken literally (no
	// wildcards, case-sensitive). It clears the keyless "#line N" rows that a new run records
	// again. An empty prefix is an error: it would wipe the job.
	DeleteKeys(ctx context.Context, job string, prefix string) error

	// StartRun records the start of a run of command for job and returns its id. shard is the
	// part of the job the run takes: "" for the whole job, "I/N" for one of its shards.
	StartRun(ctx context.Context, job, command, shard string) (int64, error)

	// FinishRun records the end of a run: its counts and exit code. It returns an error wrapping
	// ErrNotFound when no run has that id.
	FinishRun(ctx context.Context, id int64, counts Counts, exitCode int) error

	// AbandonRuns records the end of the runs of job and shard ("" for the job run whole) that
	// never recorded theirs — killed, or stopped by a fault that kept FinishRun from the
	// checkpoint — and returns how many. Each one's end becomes the time of its last outcome
	// (the newest updated_at of the rows that still hold its outcomes), or its start when there
	// is none; its exit code stays unknown (NULL) and its counts stay as they were. Runs then
	// shows it ended without a record: FinishedAt set, ExitCode nil. Call it holding the lease
	// of job and shard, before StartRun: the lease proves that none of those runs is alive.
	AbandonRuns(ctx context.Context, job, shard string) (int64, error)

	// Runs returns the job's runs, newest first, whatever their shard. It returns an error
	// wrapping ErrNotFound when the checkpoint knows nothing of the job.
	Runs(ctx context.Context, job string) ([]Run, error)

	// Status counts the job's users per outcome and status code, and apart from them the
	// records without a user (StatusCount.Keyless), ordered by outcome, then code, then users
	// before records without one. It returns an error wrapping ErrNotFound when the checkpoint
	// knows nothing of the job.
	Status(ctx context.Context, job string) ([]StatusCount, error)

	// Submitted calls fn with the job's rows whose outcome is SubmittedOutcome, one call per
	// bulk batch: its bulk id and its rows, in byte order of bulk id, then of key, so that a run
	// can poll again the batches a run before it uploaded. Rows recorded submitted without a bulk
	// id, which no poll can answer, come first, under the bulk id "". fn may keep the rows, and
	// may call the store's other methods, writing the batch's outcomes among them, while the
	// rows stream as in Select. When fn returns an error, Submitted stops and returns that error
	// unchanged. A job without submitted rows, known or not, gives no call and nil.
	Submitted(ctx context.Context, job string, fn func(bulkID string, rows []Row) error) error

	// Jobs lists every job the checkpoint holds, a run or a row, in byte order of name, each
	// with its counts of users and of records without a user, and its newest run. A checkpoint
	// without any job gives an empty list.
	Jobs(ctx context.Context) ([]JobInfo, error)

	// Select calls fn with each of the job's rows that f keeps, in byte order of key; the filter
	// is applied by the database. Rows are streamed from the database, never all held in memory.
	// fn may call the store's other methods (the stream holds a connection: a Postgres pool of
	// one would deadlock). When fn returns an error, Select stops and returns that error
	// unchanged. It returns an error wrapping ErrNotFound when the checkpoint knows nothing of
	// the job, and nil when the job is known and no row matches.
	Select(ctx context.Context, job string, f Filter, fn func(Row) error) error

	// Failures is Select of the rows whose outcome is one of outcomes; no outcomes select no
	// rows. It is kept for the callers that predate Select.
	Failures(ctx context.Context, job string, outcomes []string, fn func(Row) error) error

	// Watermark returns the watermark of job and shard ("" for the job run whole, "I/N" for one
	// of its shards: each shard reads the source on its own). It returns an error wrapping
	// ErrNotFound when there is none: no run of that job and shard with a --since-column has
	// completed.
	Watermark(ctx context.Context, job, shard string) (Watermark, error)

	// SetWatermark records (upserts) the watermark of job and shard after a completed run; the
	// last call wins. Call it only once the run's outcomes are all written: a run that did not
	// complete must leave the previous watermark in place. w needs a Column and a non-zero Value
	// (a run that read no rows has nothing to move the watermark to: keep the one there is).
	SetWatermark(ctx context.Context, job, shard string, w Watermark) error

	// HashKey returns the fingerprint of the hash key that SetHashKey last recorded for job. It
	// returns an error wrapping ErrNotFound when none was.
	HashKey(ctx context.Context, job string) (string, error)

	// SetHashKey records (upserts) the fingerprint of the key that keys the password's part of
	// the job's payload hashes (SPEC §4); the last call wins. Give it a fingerprint, never the
	// key: the checkpoint is not a place for secrets.
	SetHashKey(ctx context.Context, job, fingerprint string) error

	// SaveBackups inserts rows in one transaction: all of them are durable when it returns nil,
	// none when it fails. A user already backed up in that run of the job keeps its first state,
	// and so does a user given twice in rows: the state to restore is the one before the run's
	// first update. Each State must be valid JSON in UTF-8 (the error names the user) and is kept
	// byte for byte; a zero CreatedAt is stored as the current time.
	SaveBackups(ctx context.Context, rows []Backup) error

	// Backups calls fn with each backup of the run runID of job, in byte order of key, streamed
	// from the database as Select streams. fn may call the store's other methods; when it
	// returns an error, Backups stops and returns that error unchanged. It returns an error
	// wrapping ErrNotFound when that run has no backups.
	Backups(ctx context.Context, job string, runID int64, fn func(Backup) error) error

	// Lease takes the lease of job and shard — "" for a job run whole, "I/N" for one of its
	// shards — for holder h, whose zero fields take their defaults (see Holder). It never
	// waits: while another Lease of the same job and shard is held, by this process or another
	// on the same checkpoint, it fails at once with a *LeasedError (wrapping ErrLeased) that
	// names the holder. Leases of other jobs or shards are independent. The lease lasts until
	// Lease.Release or the end of its process, however it ends. Call Migrate first: the holder
	// describes itself in migration_leases.
	Lease(ctx context.Context, job, shard string, h Holder) (*Lease, error)

	// Warnings returns what Open found wrong with the checkpoint that does not stop it from
	// working, one line each, for the log: an SQLite file that other users can read. A
	// Postgres checkpoint has none.
	Warnings() []string

	// Close releases the database. Calls after Close return an error.
	Close() error
}

// Options configure Open.
type Options struct {
	// Schema is the Postgres schema that holds the tables (--checkpoint-schema). Defaults to
	// "public". The name is taken literally — quoted, so case and punctuation are kept: "Druid"
	// and "druid" are two schemas. It need not exist when Open is called: Migrate creates it,
	// which takes the CREATE privilege on the database; a schema created beforehand by a DBA
	// needs only the CREATE privilege on the schema. SQLite ignores it.
	Schema string
	// MaxConns is the size of the Postgres connection pool. Defaults to MaxConnsDefault.
	// SQLite ignores it.
	MaxConns int
}

// Validate reports the first option that a Postgres store could not use, naming it. Open calls
// it before connecting to Postgres (an SQLite store ignores the options); a command line can call
// it first to name its own flag in the message.
func (o Options) Validate() error {
	if err := validSchema(o.Schema); err != nil {
		return fmt.Errorf("schema %q: %w", o.Schema, err)
	}
	if o.MaxConns < 0 {
		return fmt.Errorf("max connections %d: must be positive", o.MaxConns)
	}
	return nil
}

// validSchema rejects the schema names that Postgres would refuse, alter, or read as something
// else, so that the mistake is reported at start rather than at the first Migrate.
func validSchema(name string) error {
	switch {
	case name == "":
		return nil // the default, public
	case len(name) > maxIdentifierLength:
		// Postgres would silently cut it, and the tables would land in another schema.
		return fmt.Errorf("longer than %d bytes", maxIdentifierLength)
	case strings.HasPrefix(name, "pg_"):
		return errors.New(`names starting with "pg_" are reserved for Postgres's own schemas`)
	case strings.TrimSpace(name) != name:
		// Legal once quoted, but a stray space from an environment file is the likelier story.
		return errors.New("begins or ends with white space")
	}
	return checkText(name)
}

// Open opens the checkpoint named by dsn, the --checkpoint value: a postgres:// or postgresql://
// URL is a Postgres database, anything else the path of an SQLite file (created when missing, in
// a directory that must exist). It checks that the store can be reached, within ctx, but does
// not create or upgrade the schema: call Migrate for that.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	if pgurl.Is(dsn) {
		return OpenPostgres(ctx, dsn, opts)
	}
	return OpenSQLite(ctx, dsn)
}

// The conflict clauses of the upserts, in the SQL both stores speak: a user's new outcome
// replaces every column of its row, a job's new watermark every column of its row.
const (
	upsertStatus = `ON CONFLICT (job, user_key) DO UPDATE SET
		status_code = excluded.status_code,
		outcome = excluded.outcome,
		attempts = excluded.attempts,
		payload_hash = excluded.payload_hash,
		error = excluded.error,
		run_id = excluded.run_id,
		updated_at = excluded.updated_at,
		bulk_id = excluded.bulk_id,
		object_id = excluded.object_id`
	upsertWatermark = `ON CONFLICT (job, shard) DO UPDATE SET
		since_column = excluded.since_column,
		watermark = excluded.watermark,
		run_id = excluded.run_id,
		updated_at = excluded.updated_at`
)

// rowColumns are the columns of migration_status that readRow reads, in the SQL both stores
// speak.
const rowColumns = `job, user_key, status_code, outcome, attempts, coalesce(payload_hash, ''),
	coalesce(error, ''), run_id, updated_at, coalesce(bulk_id, ''), coalesce(object_id, '')`

// runColumns are the columns of migration_runs that readRun reads, in the SQL both stores speak.
const runColumns = `id, job, command, coalesce(shard, ''), started_at, finished_at, read, skipped,
	updated, partial, unchanged, invalid, rejected, failed, exit_code`

// abandonRuns is AbandonRuns of the job $1 and the shard $2, in the SQL both stores speak
// (SQLite binds $N by its number too), with "{schema}." before each table. A subquery per run
// finds its last outcome: a run that ended costs nothing, and one that did not reads its job's
// rows once.
const abandonRuns = `UPDATE {schema}.migration_runs SET finished_at = coalesce(
		(SELECT max(s.updated_at) FROM {schema}.migration_status AS s
			WHERE s.job = migration_runs.job AND s.run_id = migration_runs.id),
		started_at)
	WHERE job = $1 AND coalesce(shard, '') = $2 AND finished_at IS NULL`

// lastRuns is the second query of Jobs, in the SQL both stores speak, with "{schema}." before
// each table: the newest run of every job.
const lastRuns = `SELECT ` + runColumns + ` FROM {schema}.migration_runs
	WHERE id IN (SELECT max(id) FROM {schema}.migration_runs GROUP BY job)`

// The statements of HashKey and SetHashKey, in the SQL both stores speak, with "{schema}."
// before each table.
const (
	hashKey    = `SELECT hash_key_fingerprint FROM {schema}.migration_jobs WHERE job = $1`
	setHashKey = `INSERT INTO {schema}.migration_jobs (job, hash_key_fingerprint, updated_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (job) DO UPDATE SET
			hash_key_fingerprint = excluded.hash_key_fingerprint,
			updated_at = excluded.updated_at`
)

// checkHashKey checks the job and the fingerprint that SetHashKey is given.
func checkHashKey(job, fingerprint string) error {
	if err := checkText(job); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	if err := checkText(fingerprint); err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	return nil
}

// storeError is how every failure leaves the package: the driver's message with the password
// scrubbed from it, and, for errors.Is, one of the package's sentinels or the context's error in
// place of the driver's types.
type storeError struct {
	msg  string
	kind error // ErrUnavailable, context.Canceled, context.DeadlineExceeded or nil
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.kind }

// fault is what a driver's error says of the call that failed. Each driver classifies its own
// errors in one place (pgFault, sqliteFault); the stores act on the class.
type fault int

const (
	// faultStatement: the statement failed for a reason of its own, such as a missing table.
	faultStatement fault = iota
	// faultUnavailable: the store could not be reached; the same call may succeed later.
	faultUnavailable
	// faultRow: the database refuses what a row holds, and always will; the other rows of the
	// statement may be fine.
	faultRow
)

// translate turns a driver error, of the class f, into a storeError; secrets are removed from
// the message.
func translate(ctx context.Context, err error, f fault, secrets ...string) error {
	msg := scrub(err.Error(), secrets...)
	// Connection errors can span lines (one per address tried); the CLI prints one line.
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\n\t", "; "), "\n", "; ")
	var kind error
	switch {
	case ctx.Err() != nil:
		kind = ctx.Err()
	case errors.Is(err, context.Canceled):
		kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		kind = context.DeadlineExceeded
	case f == faultUnavailable:
		kind = ErrUnavailable
	}
	return &storeError{msg: msg, kind: kind}
}

// scrub removes secrets from msg.
func scrub(msg string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return msg
}

// batch is how SaveBackups of both stores begins: the rows as prepare gives them, all of
// them, or none and an error that names the store and the call (what) when one cannot be kept.
// No rows is nothing to write: no rows and no error.
func batch[T any](store, what string, rows []T, prepare func([]T, time.Time) ([]T, error)) ([]T, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	prepared, err := prepare(rows, now())
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", store, what, err)
	}
	return prepared, nil
}

// checkUser rejects a job or a key that a Postgres text column cannot hold, naming the user.
func checkUser(job, key string) error {
	if err := userFault(job, key); err != nil {
		return fmt.Errorf("user %q: %w", key, err)
	}
	return nil
}

// userFault says what of a job and a key a Postgres text column cannot hold, if anything.
func userFault(job, key string) error {
	if err := checkText(job); err != nil {
		return fmt.Errorf("job %q: %w", job, err)
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	return nil
}

// checkText rejects what a Postgres text column cannot hold.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("holds a NUL byte")
	}
	return nil
}

func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// storable drops the values no row can hold, so that a look-up by them finds nothing rather
// than failing.
func storable(values []string) []string {
	if !slices.ContainsFunc(values, badText) {
		return values
	}
	return slices.DeleteFunc(slices.Clone(values), badText)
}

func badText(s string) bool { return checkText(s) != nil }

// dbTime is t as both stores keep it: UTC, to the microsecond.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// now is the clock of both stores, read in Go rather than in SQL so that they agree.
func now() time.Time {
	return dbTime(time.Now())
}

// prepareWatermark checks a watermark for job and shard and gives it as both stores keep it.
func prepareWatermark(job, shard string, w Watermark) (Watermark, error) {
	if err := checkText(job); err != nil {
		return w, fmt.Errorf("job: %w", err)
	}
	if err := checkText(shard); err != nil {
		return w, fmt.Errorf("shard: %w", err)
	}
	if w.Column == "" {
		return w, errors.New("no column: a watermark is a value of a source column")
	}
	if err := checkText(w.Column); err != nil {
		return w, fmt.Errorf("column %q: %w", w.Column, err)
	}
	if w.Value.IsZero() {
		return w, errors.New("zero value: a run that read no rows keeps the watermark it had")
	}
	w.Value = dbTime(w.Value)
	// SQLite keeps times as text that sorts in time order only for four-digit years.
	if y := w.Value.Year(); y < 1 || y > 9999 {
		return w, fmt.Errorf("value %s: outside years 1 to 9999", w.Value.Format(time.RFC3339Nano))
	}
	return w, nil
}

// prepareBackups gives both stores the same input, as prepareRows does: one backup per job, run
// and key (the first one wins, as in the table), times as both databases keep them, and only
// what the columns can hold. It does not modify rows.
func prepareBackups(rows []Backup, now time.Time) ([]Backup, error) {
	type runKey struct {
		job   string
		runID int64
		key   string
	}
	seen := make(map[runKey]bool, len(rows))
	out := make([]Backup, 0, len(rows))
	for _, b := range rows {
		if err := checkUser(b.Job, b.Key); err != nil {
			return nil, err
		}
		if err := checkText(b.ObjectID); err != nil {
			return nil, fmt.Errorf("user %q: object id %q: %w", b.Key, b.ObjectID, err)
		}
		if b.RunID <= 0 {
			// Run ids start at 1: a backup under another could never be rolled back.
			return nil, fmt.Errorf("user %q: run id %d: not a run", b.Key, b.RunID)
		}
		// Valid JSON holds no raw NUL byte, so a state that passes fits a text column. The state
		// itself stays out of the message: it is a user's personal data.
		if !utf8.Valid(b.State) {
			return nil, fmt.Errorf("user %q: state: not valid UTF-8", b.Key)
		}
		if !json.Valid(b.State) {
			return nil, fmt.Errorf("user %q: state: not valid JSON", b.Key)
		}
		if b.CreatedAt.IsZero() {
			b.CreatedAt = now
		}
		b.CreatedAt = dbTime(b.CreatedAt)
		// SQLite's text times are read back only for four-digit years.
		if y := b.CreatedAt.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("user %q: created at %s: outside years 1 to 9999", b.Key, b.CreatedAt.Format(time.RFC3339Nano))
		}
		k := runKey{b.Job, b.RunID, b.Key}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, b)
	}
	return out, nil
}

// selection is a Filter as the stores' queries take it.
type selection struct {
	byOutcome, byCode bool     // which restrictions apply
	outcomes          []string // storable ones only
	codes             []int32  // those an integer column can hold
	none              bool     // a restriction is left with no value: nothing can match
}

func prepareFilter(f Filter) selection {
	sel := selection{byOutcome: len(f.Outcomes) > 0, byCode: len(f.Codes) > 0}
	if sel.byOutcome {
		sel.outcomes = storable(f.Outcomes)
		sel.none = len(sel.outcomes) == 0
	}
	if sel.byCode {
		for _, c := range f.Codes {
			if c >= math.MinInt32 && c <= math.MaxInt32 {
				sel.codes = append(sel.codes, int32(c))
			}
		}
		sel.none = sel.none || len(sel.codes) == 0
	}
	return sel
}
