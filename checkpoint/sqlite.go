package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"druid-migrate/migrations"
)

// sqliteBusyTimeout is how long a writer waits for another process's write lock before the
// store reports ErrUnavailable.
const sqliteBusyTimeout = 10 * time.Second

// sqliteMaxConns bounds the connections of one store. More than one lets readers (Prior, Status,
// Select, Watermark) run beside the writer, which WAL allows; a few suffice since SQLite admits
// one writer.
const sqliteMaxConns = 8

// sqliteTimeLayout is how times are stored: UTC text that sorts in time order and that SQLite's
// date functions read.
const sqliteTimeLayout = "2006-01-02 15:04:05.000000"

// SQLite is the Store in an SQLite file. See the package documentation for its durability.
type SQLite struct {
	db       *sql.DB
	path     string // as given to OpenSQLite
	real     string // absolute, with symbolic links resolved: what lock files are named after
	warnings []string

	// writeMu lets one writer of this process at a time into SQLite, which admits only one: the
	// others wait on the mutex, in order, instead of polling in the busy handler.
	writeMu sync.Mutex
	// writer is the connection every write goes through, under writeMu; nil until the first
	// write, and again after a write left it in doubt.
	writer *sqliteWriter
}

// sqliteWriter is a connection kept for writing, with its statements prepared once. Groups are
// small when outcomes arrive fast, and each transaction begun through database/sql prepared
// its BEGIN and COMMIT anew, and prepared the write's statement again whenever the transaction
// landed on another connection of the pool: together as much work as the rows.
type sqliteWriter struct {
	conn                    *sql.Conn
	begin, commit, rollback *sql.Stmt
	stmts                   map[string]*sql.Stmt // by query
}

func (w *sqliteWriter) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt := w.stmts[query]; stmt != nil {
		return stmt, nil
	}
	stmt, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = stmt
	return stmt, nil
}

func (w *sqliteWriter) close() {
	for _, stmt := range w.stmts {
		_ = stmt.Close()
	}
	_ = w.conn.Close()
}

// writeConn returns the writer, opening it when there is none. Callers hold writeMu.
func (s *SQLite) writeConn(ctx context.Context) (*sqliteWriter, error) {
	if s.writer != nil {
		return s.writer, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &sqliteWriter{conn: conn, stmts: make(map[string]*sql.Stmt)}
	// IMMEDIATE: the write lock is taken at BEGIN, as _txlock=immediate does for the pool's
	// transactions, so that the busy handler waits for another process's writer.
	if w.begin, err = w.prepare(ctx, "BEGIN IMMEDIATE"); err == nil {
		if w.commit, err = w.prepare(ctx, "COMMIT"); err == nil {
			w.rollback, err = w.prepare(ctx, "ROLLBACK")
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	s.writer = w
	return w, nil
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens the SQLite checkpoint at path, creating the file when it is missing. The
// directory must exist.
//
// The checkpoint holds user keys, DRUID's errors and users' data saved for rollback: a new file
// is created readable and writable by its owner only (0600), whatever the umask, and so are its
// -wal and -shm files and the lock files of its leases, which SQLite and Lease create with the
// database's mode. An existing file keeps the mode its owner gave it; Warnings says when others
// can read it.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("checkpoint sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, err)
	}
	dir := filepath.Dir(abs)
	switch info, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("checkpoint sqlite %q: directory %q does not exist", path, dir)
	case err != nil:
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, err)
	case !info.IsDir():
		return nil, fmt.Errorf("checkpoint sqlite %q: %q is not a directory", path, dir)
	}

	created, err := createPrivate(abs)
	if err != nil {
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, err)
	}
	var warnings []string
	if !created {
		warnings = readableByOthers(path, abs)
	}

	db, err := sql.Open("sqlite", sqliteDSN(abs))
	if err != nil {
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	// The first connection applies the pragmas, so this also proves the file is a database.
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, translateSQLite(ctx, err))
	}
	// The file exists now: SQLite created it if it was missing.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("checkpoint sqlite %q: %w", path, err)
	}
	return &SQLite{db: db, path: path, real: real, warnings: warnings}, nil
}

// readableByOthers warns of each file of the checkpoint at abs, the database and its -wal and
// -shm files, that users other than its owner can read. Windows has no such modes.
func readableByOthers(path, abs string) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	var warnings []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		info, err := os.Stat(abs + suffix)
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o044 == 0 {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("checkpoint %q is readable by other users (mode %s): "+
			"it holds user keys, DRUID's errors and users' data saved for rollback; chmod 600 it",
			path+suffix, info.Mode().Perm()))
	}
	return warnings
}

// openPrivate opens the file at path for reading and writing, creating it as createPrivate does
// when it is missing.
func openPrivate(path string) (*os.File, error) {
	if _, err := createPrivate(path); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}

// createPrivate creates an empty file at path, readable and writable by its owner only (0600,
// whatever the umask), unless a file is there already, which keeps the mode its owner gave it.
// It says whether it created the file.
func createPrivate(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The umask may have taken bits away, the owner's too; it cannot have added any.
	err = f.Chmod(0o600)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return true, err
}

// Warnings implements Store: the files of the checkpoint that users other than their owner can
// read, one line each, found by OpenSQLite.
func (s *SQLite) Warnings() []string { return s.warnings }

// sqliteDSN is the driver's name for the file at abs, with the pragmas every connection needs.
// The "file:" form keeps a '?' or '#' in the path from being read as parameters.
func sqliteDSN(abs string) string {
	path := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	params := []string{
		// First, so that the pragmas after it wait for another process's lock too.
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		// NORMAL: see the package documentation for why this is durable enough.
		"_pragma=synchronous(NORMAL)",
		// Every transaction takes the write lock at BEGIN. A deferred one that reads and then
		// writes can fail with SQLITE_BUSY at once, with no busy handler to wait.
		"_txlock=immediate",
	}
	return "file:" + path + "?" + strings.Join(params, "&")
}

// Migrate implements Store.
func (s *SQLite) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, math.MaxInt)
}

// migrateTo applies the migrations up to version last: what an older druid-migrate, which knew
// no later ones, would have done.
func (s *SQLite) migrateTo(ctx context.Context, last int) error {
	all, err := migrations.Files(migrations.SQLite)
	if err != nil {
		return fmt.Errorf("checkpoint sqlite: migrate: %w", err)
	}
	all = upTo(all, last)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	// BEGIN IMMEDIATE takes the write lock before the applied versions are read, so a second
	// process migrating at the same time waits and then finds nothing left to do.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "migrate", err)
	}
	defer func() { _ = tx.Rollback() }()

	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer   PRIMARY KEY,
		applied_at timestamp NOT NULL
	)`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return s.fail(ctx, "migrate: create schema_migrations", err)
	}
	applied, err := sqliteVersions(ctx, tx)
	if err != nil {
		return s.fail(ctx, "migrate: read schema_migrations", err)
	}
	todo, err := pending(all, applied)
	if err != nil {
		return fmt.Errorf("checkpoint sqlite: migrate: %w", err)
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return s.fail(ctx, fmt.Sprintf("migrate: apply %04d_%s", m.Version, m.Name), err)
		}
		const record = `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`
		if _, err := tx.ExecContext(ctx, record, m.Version, now().Format(sqliteTimeLayout)); err != nil {
			return s.fail(ctx, fmt.Sprintf("migrate: record %04d_%s", m.Version, m.Name), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "migrate: commit", err)
	}
	return nil
}

type sqliteQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func sqliteVersions(ctx context.Context, q sqliteQuerier) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// appliedVersions lists the migrations recorded in schema_migrations.
func (s *SQLite) appliedVersions(ctx context.Context) ([]int, error) {
	v, err := sqliteVersions(ctx, s.db)
	if err != nil {
		return nil, s.fail(ctx, "read schema_migrations", err)
	}
	return v, nil
}

// sqlitePrior is the skip look-up: the keys come as one JSON array, and each is a search of the
// primary key.
const sqlitePrior = `SELECT user_key, outcome, coalesce(payload_hash, ''), status_code
	FROM migration_status
	WHERE job = ? AND user_key IN (SELECT value FROM json_each(?))`

// Prior implements Store. The keys travel as one JSON array, unpacked by json_each: one query and
// one bound parameter whatever their number, where placeholders would hit SQLite's limit on
// variables.
func (s *SQLite) Prior(ctx context.Context, job string, keys []string) (map[string]Prior, error) {
	keys = storable(keys)
	if len(keys) == 0 {
		return map[string]Prior{}, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("checkpoint sqlite: look up %d keys: %w", len(keys), err)
	}
	return priors(ctx, s, fmt.Sprintf("look up %d keys", len(keys)), len(keys), sqlitePrior, job, string(list))
}

// Write implements Store. A row whose statement fails on what the row holds (sqliteFault's
// faultRow) is left out, and the transaction goes on: SQLite undoes that statement alone.
func (s *SQLite) Write(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	what := fmt.Sprintf("write %d outcomes", len(rows))
	g := newWriteGroup(rows, now())
	if len(g.rows) > 0 {
		args := func(i int) (string, []any) {
			r := g.rows[i]
			return r.Key, []any{r.Job, r.Key, r.StatusCode, r.Outcome, r.Attempts,
				r.PayloadHash, r.Error, r.RunID, r.UpdatedAt.Format(sqliteTimeLayout), r.BulkID, r.ObjectID}
		}
		spare := func(i int, err error) bool {
			if sqliteFault(err) != faultRow {
				return false
			}
			g.refuse(i, err.Error())
			return true
		}
		if err := s.execEach(ctx, what, sqliteUpsert, len(g.rows), args, spare); err != nil {
			return err
		}
	}
	return g.result("sqlite", what)
}

// execEach runs query once per row, in one transaction on the writer under the write lock. args
// gives a row's key, for errors, and its arguments. A row whose statement fails, spare, when
// not nil, may spare the others: when it returns true, the transaction goes on without that
// row.
//
// ctx bounds BEGIN, which may wait for another process's lock, and COMMIT. The rows' statements
// run without it: under the write lock they wait for nothing, and each takes microseconds, while
// the driver watches a cancellable context with a goroutine of its own per statement, a share of
// a group's cost that BenchmarkWrite shows (README's performance section gives the figures).
func (s *SQLite) execEach(ctx context.Context, what string, query string, n int,
	args func(i int) (key string, values []any), spare func(i int, err error) bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	w, err := s.writeConn(ctx)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	stmt, err := w.prepare(ctx, query)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	if _, err := w.begin.ExecContext(ctx); err != nil {
		s.abandon()
		return s.fail(ctx, what, err)
	}
	locked := context.WithoutCancel(ctx)
	for i := range n {
		key, values := args(i)
		if _, err := stmt.ExecContext(locked, values...); err != nil {
			if spare != nil && spare(i, err) {
				continue
			}
			s.rollBack()
			return s.fail(ctx, fmt.Sprintf("%s: user %q", what, key), err)
		}
	}
	if _, err := w.commit.ExecContext(ctx); err != nil {
		s.rollBack()
		return s.fail(ctx, what, err)
	}
	return nil
}

// rollBack ends the writer's failed transaction. A writer whose transaction cannot be rolled
// back is abandoned: closing its connection rolls it back.
func (s *SQLite) rollBack() {
	ctx, cancel := context.WithTimeout(context.Background(), sqliteBusyTimeout)
	defer cancel()
	if _, err := s.writer.rollback.ExecContext(ctx); err != nil {
		s.abandon()
	}
}

// abandon closes the writer; the next write opens another.
func (s *SQLite) abandon() {
	s.writer.close()
	s.writer = nil
}

const sqliteUpsert = `INSERT INTO migration_status
		(job, user_key, status_code, outcome, attempts, payload_hash, error, run_id, updated_at, bulk_id, object_id)
	VALUES (?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), ?, ?, nullif(?, ''), nullif(?, ''))
	` + upsertStatus

// HasUsers implements Store: one probe of the primary key.
func (s *SQLite) HasUsers(ctx context.Context, job string) (bool, error) {
	const q = `SELECT EXISTS (SELECT 1 FROM migration_status WHERE job = ?)`
	var has bool
	if err := s.db.QueryRowContext(ctx, q, job).Scan(&has); err != nil {
		return false, s.fail(ctx, fmt.Sprintf("users of job %q", job), err)
	}
	return has, nil
}

// DeleteKeys implements Store. SQLite's LIKE ignores the case of ASCII letters, so the prefix is
// compared with substr instead: exact, and with no wildcards to escape.
func (s *SQLite) DeleteKeys(ctx context.Context, job string, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("checkpoint sqlite: delete keys of job %q: empty prefix", job)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	const q = `DELETE FROM migration_status WHERE job = ?1 AND substr(user_key, 1, length(?2)) = ?2`
	if _, err := s.db.ExecContext(ctx, q, job, prefix); err != nil {
		return s.fail(ctx, fmt.Sprintf("delete keys of job %q starting with %q", job, prefix), err)
	}
	return nil
}

// StartRun implements Store.
func (s *SQLite) StartRun(ctx context.Context, job, command, shard string) (int64, error) {
	if err := checkText(shard); err != nil {
		return 0, fmt.Errorf("checkpoint sqlite: start run of job %q: shard: %w", job, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	const q = `INSERT INTO migration_runs (job, command, shard, started_at) VALUES (?, ?, nullif(?, ''), ?)`
	res, err := s.db.ExecContext(ctx, q, job, command, shard, now().Format(sqliteTimeLayout))
	if err != nil {
		return 0, s.fail(ctx, fmt.Sprintf("start run of job %q", job), err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, s.fail(ctx, fmt.Sprintf("start run of job %q", job), err)
	}
	return id, nil
}

// AbandonRuns implements Store.
func (s *SQLite) AbandonRuns(ctx context.Context, job, shard string) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	what := "end the unended runs of " + jobShard(job, shard)
	res, err := s.db.ExecContext(ctx, sqliteSQL(abandonRuns), job, shard)
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	return n, nil
}

// sqliteSQL is a statement written for both stores, "{schema}." naming the tables of Postgres's
// schema, as SQLite runs it.
func sqliteSQL(statement string) string {
	return strings.ReplaceAll(statement, "{schema}.", "")
}

// FinishRun implements Store.
func (s *SQLite) FinishRun(ctx context.Context, id int64, c Counts, exitCode int) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	const q = `UPDATE migration_runs SET finished_at = ?, read = ?, skipped = ?, updated = ?,
			partial = ?, unchanged = ?, invalid = ?, rejected = ?, failed = ?, exit_code = ?
		WHERE id = ?`
	res, err := s.db.ExecContext(ctx, q, now().Format(sqliteTimeLayout), c.Read, c.Skipped,
		c.Updated, c.Partial, c.Unchanged, c.Invalid, c.Rejected, c.Failed, exitCode, id)
	if err != nil {
		return s.fail(ctx, fmt.Sprintf("finish run %d", id), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, fmt.Sprintf("finish run %d", id), err)
	} else if n == 0 {
		return fmt.Errorf("checkpoint sqlite: finish run %d: %w", id, ErrNotFound)
	}
	return nil
}

// Runs implements Store.
func (s *SQLite) Runs(ctx context.Context, job string) ([]Run, error) {
	const q = `SELECT ` + runColumns + ` FROM migration_runs WHERE job = ? ORDER BY id DESC`
	return collect(ctx, s, fmt.Sprintf("runs of job %q", job), job, readRun, q, job)
}

// Status implements Store.
func (s *SQLite) Status(ctx context.Context, job string) ([]StatusCount, error) {
	return collect(ctx, s, fmt.Sprintf("status of job %q", job), job, readStatusCount, sqliteStatus, job, KeylessPrefix)
}

// sqliteStatus is Status's query. substr, not LIKE, which ignores the case of ASCII letters.
const sqliteStatus = `SELECT outcome, status_code, substr(user_key, 1, length(?2)) = ?2 AS keyless, count(*)
	FROM migration_status WHERE job = ?1
	GROUP BY outcome, status_code, keyless ORDER BY outcome, status_code, keyless`

// Submitted implements Store. In WAL mode the open read does not block fn's writes.
func (s *SQLite) Submitted(ctx context.Context, job string, fn func(bulkID string, rows []Row) error) error {
	const q = `SELECT ` + rowColumns + ` FROM migration_status WHERE job = ? AND outcome = ?
		ORDER BY coalesce(bulk_id, ''), user_key`
	return batches(ctx, s, job, q, fn)
}

// Jobs implements Store.
func (s *SQLite) Jobs(ctx context.Context) ([]JobInfo, error) {
	return listJobs(ctx, s, sqliteJobCounts, sqliteSQL(lastRuns))
}

// sqliteJobCounts is the first query of Jobs: every job of migration_status and migration_runs,
// in byte order, with its counts of users and of records without a user (their keys starting
// with ?1).
const sqliteJobCounts = `SELECT job, sum(users), sum(keyless) FROM (
		SELECT job, sum(substr(user_key, 1, length(?1)) <> ?1) AS users,
			sum(substr(user_key, 1, length(?1)) = ?1) AS keyless
		FROM migration_status GROUP BY job
		UNION ALL
		SELECT DISTINCT job, 0, 0 FROM migration_runs
	) GROUP BY job ORDER BY job`

// Failures implements Store.
func (s *SQLite) Failures(ctx context.Context, job string, outcomes []string, fn func(Row) error) error {
	return selectOutcomes(ctx, s, job, outcomes, fn)
}

// Select implements Store. The lists of outcomes and codes travel as JSON arrays, as Prior's keys
// do. The rows come one at a time from SQLite's cursor; in WAL mode the open read does not block
// the store's writers.
func (s *SQLite) Select(ctx context.Context, job string, f Filter, fn func(Row) error) error {
	return runSelect(ctx, s, job, f, fn, func(sel selection) (string, []any, error) {
		where, args := "job = ?", []any{job}
		if sel.byOutcome {
			list, err := json.Marshal(sel.outcomes)
			if err != nil {
				return "", nil, err
			}
			where += " AND outcome IN (SELECT value FROM json_each(?))"
			args = append(args, string(list))
		}
		if sel.byCode {
			list, err := json.Marshal(sel.codes)
			if err != nil {
				return "", nil, err
			}
			where += " AND status_code IN (SELECT value FROM json_each(?))"
			args = append(args, string(list))
		}
		return `SELECT ` + rowColumns + `
			FROM migration_status
			WHERE ` + where + `
			ORDER BY user_key`, args, nil
	})
}

// Watermark implements Store.
func (s *SQLite) Watermark(ctx context.Context, job, shard string) (Watermark, error) {
	what := "watermark of " + jobShard(job, shard)
	const q = `SELECT since_column, watermark, run_id FROM migration_watermarks WHERE job = ? AND shard = ?`
	var w Watermark
	var value utcTime
	err := s.db.QueryRowContext(ctx, q, job, shard).Scan(&w.Column, &value, &w.RunID)
	if errors.Is(err, sql.ErrNoRows) {
		return Watermark{}, fmt.Errorf("checkpoint sqlite: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Watermark{}, s.fail(ctx, what, err)
	}
	if !value.valid {
		// The column is NOT NULL: only a hand-edited file gets here.
		return Watermark{}, fmt.Errorf("checkpoint sqlite: %s: watermark is NULL", what)
	}
	w.Value = value.t
	return w, nil
}

// SetWatermark implements Store.
func (s *SQLite) SetWatermark(ctx context.Context, job, shard string, w Watermark) error {
	what := "set watermark of " + jobShard(job, shard)
	w, err := prepareWatermark(job, shard, w)
	if err != nil {
		return fmt.Errorf("checkpoint sqlite: %s: %w", what, err)
	}
	const q = `INSERT INTO migration_watermarks (job, shard, since_column, watermark, run_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		` + upsertWatermark
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err = s.db.ExecContext(ctx, q, job, shard, w.Column, w.Value.Format(sqliteTimeLayout), w.RunID,
		now().Format(sqliteTimeLayout))
	if err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// HashKey implements Store.
func (s *SQLite) HashKey(ctx context.Context, job string) (string, error) {
	return fingerprintOf(ctx, s, "sqlite", job, sqliteSQL(hashKey))
}

// SetHashKey implements Store.
func (s *SQLite) SetHashKey(ctx context.Context, job, fingerprint string) error {
	what := fmt.Sprintf("set hash key of job %q", job)
	if err := checkHashKey(job, fingerprint); err != nil {
		return fmt.Errorf("checkpoint sqlite: %s: %w", what, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx, sqliteSQL(setHashKey), job, fingerprint, now().Format(sqliteTimeLayout))
	if err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// SaveBackups implements Store.
func (s *SQLite) SaveBackups(ctx context.Context, rows []Backup) error {
	what := fmt.Sprintf("save %d backups", len(rows))
	prepared, err := batch("sqlite", what, rows, prepareBackups)
	if err != nil || len(prepared) == 0 {
		return err
	}

	return s.execEach(ctx, what, sqliteInsertBackup, len(prepared), func(i int) (string, []any) {
		b := prepared[i]
		// The state is bound as a string: a []byte would be stored as a blob, not text.
		return b.Key, []any{b.Job, b.RunID, b.Key, b.ObjectID, string(b.State), b.CreatedAt.Format(sqliteTimeLayout)}
	}, nil)
}

// DO NOTHING: a second backup of a user in the same run was read after the run's first update
// of it, so it is not the state to restore.
const sqliteInsertBackup = `INSERT INTO migration_backups
		(job, run_id, user_key, object_id, state, created_at)
	VALUES (?, ?, ?, nullif(?, ''), ?, ?)
	ON CONFLICT (job, run_id, user_key) DO NOTHING`

// Backups implements Store. In WAL mode the open read does not block the store's writers.
func (s *SQLite) Backups(ctx context.Context, job string, runID int64, fn func(Backup) error) error {
	what := fmt.Sprintf("backups of run %d of job %q", runID, job)
	const q = `SELECT job, run_id, user_key, coalesce(object_id, ''), state, created_at
		FROM migration_backups
		WHERE job = ? AND run_id = ?
		ORDER BY user_key`
	n, err := each(ctx, s, what, readBackup, fn, q, job, runID)
	if err != nil || n > 0 {
		return err
	}
	return fmt.Errorf("checkpoint sqlite: %s: %w", what, ErrNotFound)
}

// notFound is the answer of a query that found nothing for job: nil when the job exists (it has
// a run or a row), an error wrapping ErrNotFound when it does not, so that a misspelt --job is
// told apart from a job with nothing to show.
func (s *SQLite) notFound(ctx context.Context, what, job string) error {
	const q = `SELECT EXISTS (SELECT 1 FROM migration_runs WHERE job = ?1)
		OR EXISTS (SELECT 1 FROM migration_status WHERE job = ?1)`
	var exists bool
	if err := s.db.QueryRowContext(ctx, q, job).Scan(&exists); err != nil {
		return s.fail(ctx, what, err)
	}
	if exists {
		return nil
	}
	return fmt.Errorf("checkpoint sqlite: %s: job %q: %w", what, job, ErrNotFound)
}

// Close implements Store.
func (s *SQLite) Close() error {
	s.writeMu.Lock()
	if s.writer != nil {
		s.abandon()
	}
	s.writeMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("checkpoint sqlite %q: close: %w", s.path, translateSQLite(context.Background(), err))
	}
	return nil
}

func (s *SQLite) query(ctx context.Context, query string, args ...any) (rowScanner, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{rows}, nil
}

// sqliteRows gives *sql.Rows the Close of pgx.Rows, which returns nothing: a failure to read the
// rows is reported by Next and Err, and a result closed early is closed because the reading
// stopped with an error of its own.
type sqliteRows struct{ *sql.Rows }

func (r sqliteRows) Close() { _ = r.Rows.Close() }

func (s *SQLite) fail(ctx context.Context, what string, err error) error {
	return fmt.Errorf("checkpoint sqlite: %s: %w", what, translateSQLite(ctx, err))
}

func translateSQLite(ctx context.Context, err error) error {
	return translate(ctx, err, sqliteFault(err))
}

// sqliteFault classifies an error of the SQLite driver.
func sqliteFault(err error) fault {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return faultStatement
	}
	switch e.Code() & 0xff { // the primary code; the extended one says more in its high bits
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		// Outlasting the busy timeout: another writer holds the file.
		return faultUnavailable
	case sqlite3.SQLITE_TOOBIG, // a value over the length limit
		sqlite3.SQLITE_MISMATCH,   // a value of a type the column cannot take
		sqlite3.SQLITE_CONSTRAINT: // a CHECK, a NOT NULL, a trigger's RAISE
		// SQLite undoes the statement that failed, and the transaction goes on.
		return faultRow
	}
	return faultStatement
}
