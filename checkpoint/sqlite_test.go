package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"druid-migrate/migrations"
)

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	runConformance(t, migrations.SQLite, func(t *testing.T) (string, Options) {
		return filepath.Join(t.TempDir(), "checkpoint.db"), Options{}
	})
}

func TestOpenSQLiteInMissingDirectoryNamesThePath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no-such-dir", "checkpoint.db")
	_, err := Open(context.Background(), path, Options{})
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "does not exist")
}

func TestOpenSQLiteOnAFileThatIsNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(path, []byte("key,ids.email\nana,ana@example.com\n"+string(make([]byte, 4096))), 0o600))
	_, err := Open(context.Background(), path, Options{})
	require.ErrorContains(t, err, path)
}

func TestOpenSQLiteTakesThePathLiterally(t *testing.T) {
	t.Parallel()
	// '?' and '#' would otherwise start the driver's parameters.
	path := filepath.Join(t.TempDir(), "night run?mode=ro#1 %41.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Write(context.Background(), []Row{row("job", "ana", "updated", 200)}))
	_, err = os.Stat(path)
	require.NoError(t, err, "the file is not where the path says")
}

func TestOpenPicksSQLiteForAPath(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), SQLiteDefault), Options{})
	require.NoError(t, err)
	defer s.Close()
	require.IsType(t, &SQLite{}, s)
}

func TestSQLiteIsWALWithNormalSync(t *testing.T) {
	t.Parallel()
	s, _ := newSQLite(t)
	// Every connection of the pool, not just the first, must carry the settings.
	conns := make([]interface{ Close() error }, 0, 3)
	for range 3 {
		conn, err := s.db.Conn(context.Background())
		require.NoError(t, err)
		conns = append(conns, conn)
		var mode string
		var sync, busy int
		require.NoError(t, conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode))
		require.NoError(t, conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&sync))
		require.NoError(t, conn.QueryRowContext(context.Background(), "PRAGMA busy_timeout").Scan(&busy))
		require.Equal(t, "wal", mode)
		require.Equal(t, 1, sync, "synchronous=NORMAL")
		require.Equal(t, int(sqliteBusyTimeout.Milliseconds()), busy)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
}

func TestSQLiteSchemaIsTheSpecs(t *testing.T) {
	t.Parallel()
	s, _ := newSQLite(t)

	columns := func(table string) map[string]string {
		rows, err := s.db.Query(`SELECT name, lower(type) FROM pragma_table_info(?)`, table)
		require.NoError(t, err)
		defer rows.Close()
		return columnTypes(t, rows)
	}
	require.Equal(t, specStatusColumns, columns("migration_status"))
	runs := columns("migration_runs")
	runs["id"] = "bigint" // SQLite's rowid alias must be declared "integer"
	require.Equal(t, specRunsColumns, runs)
	require.Equal(t, specWatermarksColumns, columns("migration_watermarks"))
	require.Equal(t, specBackupsColumns, columns("migration_backups"))
	require.Equal(t, specLeasesColumns, columns("migration_leases"))
	require.Equal(t, specJobsColumns, columns("migration_jobs"))

	rows, err := s.db.Query(`SELECT (SELECT group_concat(name, ',') FROM
			(SELECT name FROM pragma_index_info(l.name) ORDER BY seqno))
		FROM pragma_index_list('migration_status') AS l`)
	require.NoError(t, err)
	defer rows.Close()
	var indexes []string
	for rows.Next() {
		var cols string
		require.NoError(t, rows.Scan(&cols))
		indexes = append(indexes, cols)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, specStatusIndexes, indexes)
}

func TestSQLitePlansUseTheIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newSQLite(t)
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		require.NoError(t, err)
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			lines = append(lines, detail)
		}
		require.NoError(t, rows.Err())
		return strings.Join(lines, "\n")
	}
	// The skip look-up searches the primary key for each key, never the job's rows one by one.
	require.Regexp(t, `SEARCH migration_status USING PRIMARY KEY \(job=\? AND user_key=\?\)`,
		plan(sqlitePrior, "job", `["a","b"]`))
	// status reads the job's rows, and only those, from the primary key.
	require.Contains(t, plan(sqliteStatus, "job", KeylessPrefix), "SEARCH migration_status USING PRIMARY KEY (job=?)")
}

func TestSQLiteStoresWatermarksAsUTCText(t *testing.T) {
	t.Parallel()
	s, _ := newSQLite(t)
	madrid := time.FixedZone("CEST", 2*60*60)
	w := Watermark{Column: "updated_at", Value: time.Date(2024, 10, 22, 23, 30, 0, 123456789, madrid), RunID: 1}
	require.NoError(t, s.SetWatermark(context.Background(), "nightly", "", w))

	var raw string
	require.NoError(t, s.db.QueryRow(`SELECT CAST(watermark AS TEXT) FROM migration_watermarks`).Scan(&raw))
	require.Equal(t, "2024-10-22 21:30:00.123456", raw)
}

func TestSQLiteStoresTimesAsUTCText(t *testing.T) {
	t.Parallel()
	s, _ := newSQLite(t)
	r := row("job", "ana", "updated", 200)
	require.NoError(t, s.Write(context.Background(), []Row{r}))

	var raw string
	require.NoError(t, s.db.QueryRow(`SELECT CAST(updated_at AS TEXT) FROM migration_status`).Scan(&raw))
	require.Equal(t, "2024-01-02 03:04:05.000000", raw)
}

// newSQLite opens a migrated SQLite checkpoint in a new file, at path, closed when the test ends.
func newSQLite(t *testing.T) (s *SQLite, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "c.db")
	s, err := OpenSQLite(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(context.Background()))
	return s, path
}

// columnTypes reads rows of a column's name and its type, in either database, into a map.
func columnTypes(t *testing.T, rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) map[string]string {
	t.Helper()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		require.NoError(t, rows.Scan(&name, &typ))
		out[name] = typ
	}
	require.NoError(t, rows.Err())
	return out
}

// The tables, columns (with their types, in both dialects) and indexes of SPEC §6 and of the
// watermarks; in Postgres the watermark column is timestamptz.
var (
	specTables = []string{"migration_status", "migration_runs", "migration_watermarks", "migration_backups",
		"migration_leases", "migration_jobs", "schema_migrations"}
	specWatermarksColumns = map[string]string{
		"job": "text", "shard": "text", "since_column": "text", "watermark": "timestamp", "run_id": "bigint",
		"updated_at": "timestamp",
	}
	specBackupsColumns = map[string]string{
		"job": "text", "run_id": "bigint", "user_key": "text", "object_id": "text", "state": "text",
		"created_at": "timestamp",
	}
	specLeasesColumns = map[string]string{
		"job": "text", "shard": "text", "host": "text", "pid": "integer", "run_id": "bigint",
		"since": "timestamp",
	}
	specJobsColumns = map[string]string{
		"job": "text", "hash_key_fingerprint": "text", "updated_at": "timestamp",
	}
	specStatusIndexes = []string{"job,user_key"}
	specStatusColumns = map[string]string{
		"job": "text", "user_key": "text", "status_code": "integer", "outcome": "text",
		"attempts": "integer", "payload_hash": "text", "error": "text", "run_id": "bigint",
		"updated_at": "timestamp", "bulk_id": "text", "object_id": "text",
	}
	specRunsColumns = map[string]string{
		"id": "bigint", "job": "text", "command": "text", "shard": "text", "started_at": "timestamp",
		"finished_at": "timestamp", "read": "bigint", "skipped": "bigint", "updated": "bigint",
		"partial": "bigint", "unchanged": "bigint", "invalid": "bigint", "rejected": "bigint",
		"failed": "bigint", "exit_code": "integer",
	}
)

func TestSQLiteBusyIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	holder, path := newSQLite(t)
	tx, err := holder.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	require.NoError(t, err)
	defer tx.Rollback()

	// Another process that will not wait: the driver's own SQLITE_BUSY, as a writer gets it once
	// the busy timeout has run out.
	impatient, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	require.NoError(t, err)
	defer impatient.Close()
	_, err = impatient.BeginTx(ctx, nil)
	require.Error(t, err)

	translated := translateSQLite(ctx, err)
	require.ErrorIs(t, translated, ErrUnavailable)
	require.NotErrorIs(t, translateSQLite(ctx, errors.New("no such table: migration_status")), ErrUnavailable)
}

// A write waiting for another process's write lock gives up when its context ends, long before
// the busy timeout: the pipeline bounds each attempt with a deadline of its own. Once the lock
// is free the same write goes through.
func TestSQLiteWriteWaitingForTheLockEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := newSQLite(t)

	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: another process holds the write lock
	require.NoError(t, err)

	rows := []Row{row("job", "ana", "updated", 200), row("job", "ben", "updated", 200)}
	wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Write(wait, rows)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), sqliteBusyTimeout/2)

	require.NoError(t, tx.Rollback())
	require.NoError(t, s.Write(ctx, rows))
	var n int
	require.NoError(t, s.db.QueryRowContext(ctx, "SELECT count(*) FROM migration_status WHERE job = 'job'").Scan(&n))
	require.Equal(t, 2, n)
}

// Every name of one checkpoint file finds the same lock: a run given the path through a symbolic
// link is refused the lease that a run given the file's own path holds.
func TestSQLiteLeaseIsTheFilesWhateverItsName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := newSQLite(t)
	link := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(path, link))
	viaLink, err := OpenSQLite(ctx, link)
	require.NoError(t, err)
	defer viaLink.Close()

	lease, err := viaLink.Lease(ctx, "nightly", "", Holder{})
	require.NoError(t, err)
	defer lease.Release()
	_, err = s.Lease(ctx, "nightly", "", Holder{})
	require.ErrorIs(t, err, ErrLeased)
	matches, err := filepath.Glob(path + "-lock-*")
	require.NoError(t, err)
	require.Len(t, matches, 1, "the lock file lies beside the database")
}

// SQLite's own refusals of a row's content — a value over the length limit, a trigger's RAISE
// (a constraint) — leave the row out and the others written, in the same transaction.
func TestSQLiteWriteSparesTheRowsAroundOnesSQLiteRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newSQLite(t)
	_, err := s.db.ExecContext(ctx, `CREATE TRIGGER refuse_poison BEFORE INSERT ON migration_status
		WHEN NEW.user_key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned key'); END`)
	require.NoError(t, err)
	s.writeMu.Lock()
	w, err := s.writeConn(ctx)
	if err == nil {
		// The writer's connection takes no string over 1,000 bytes.
		_, err = sqlite.Limit(w.conn, sqlite3.SQLITE_LIMIT_LENGTH, 1000)
	}
	s.writeMu.Unlock()
	require.NoError(t, err)

	rows := []Row{row("job", "ana", "updated", 200), row("job", longKey(2000), "updated", 200),
		row("job", "bob", "updated", 200), row("job", "poison", "updated", 200), row("job", "carla", "updated", 200)}
	err = s.Write(ctx, rows)
	require.NotErrorIs(t, err, ErrUnavailable)
	var refused *RowsRefused
	require.ErrorAs(t, err, &refused)
	require.Equal(t, []int{1, 3}, refusedIndexes(refused))
	require.Contains(t, refused.Rows[0].Reason, "too big")
	require.Contains(t, refused.Rows[1].Reason, "poisoned key")
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: 3}}, status(t, s, "job"))
}
