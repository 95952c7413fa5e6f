package checkpoint

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/pgurl"
	"druid-migrate/migrations"
)

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	runConformance(t, migrations.Postgres, func(t *testing.T) (string, Options) {
		dsn, schema := pgtest.Schema(t)
		return dsn, Options{Schema: schema}
	})
}

func TestOpenPicksPostgresForItsURLs(t *testing.T) {
	t.Parallel()
	dsn, schema := pgtest.Schema(t)
	for _, scheme := range []string{"postgres", "postgresql", "POSTGRES"} {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.Scheme = scheme
		s, err := Open(context.Background(), u.String(), Options{Schema: schema})
		require.NoError(t, err, scheme)
		require.IsType(t, &Postgres{}, s, scheme)
		require.NoError(t, s.Close())
	}
}

func TestPostgresSchemaOptionKeepsTablesOutOfPublic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DB(t)
	// Upper case, a space and a quote: the name must be quoted, never pasted.
	const schema = `Druid "Checkpoint"`

	s, err := OpenPostgres(ctx, dsn, Options{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))

	require.ElementsMatch(t, specTables, tablesIn(t, dsn, schema))
	require.Empty(t, tablesIn(t, dsn, "public"))

	// The default schema is a checkpoint of its own.
	public, err := OpenPostgres(ctx, dsn, Options{})
	require.NoError(t, err)
	defer public.Close()
	require.NoError(t, public.Migrate(ctx))
	require.ElementsMatch(t, specTables, tablesIn(t, dsn, "public"))
	got, err := public.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err)
	require.Empty(t, got, "the public checkpoint sees the other schema's rows")
}

func TestPostgresMigrateInAnExistingSchemaNeedsNoCreatePrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DB(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	role := "druid_" + strings.TrimPrefix(u.Path, "/pgtest_")[:20]
	role = pgx.Identifier{role}.Sanitize()
	db := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	admin := connect(t, dsn)
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"REVOKE CREATE ON DATABASE " + db + " FROM PUBLIC",
		"CREATE SCHEMA given AUTHORIZATION " + role,
	} {
		_, err := admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		// Roles belong to the server, not to the database DB drops: drop it, once it owns nothing.
		for _, stmt := range []string{"DROP SCHEMA given CASCADE", "DROP ROLE " + role} {
			if _, err := admin.Exec(context.Background(), stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})

	u.User = url.User(strings.Trim(role, `"`))
	s, err := OpenPostgres(ctx, u.String(), Options{Schema: "given"})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
}

func TestPostgresSchemaIsTheSpecs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dsn, schema := newPostgres(t)

	conn := connect(t, dsn)
	columns := func(table string) map[string]string {
		rows, err := conn.Query(ctx, `SELECT column_name, CASE data_type
				WHEN 'timestamp without time zone' THEN 'timestamp'
				WHEN 'timestamp with time zone' THEN 'timestamptz' ELSE data_type END
			FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, schema, table)
		require.NoError(t, err)
		return columnTypes(t, rows)
	}
	require.Equal(t, specStatusColumns, columns("migration_status"))
	require.Equal(t, specRunsColumns, columns("migration_runs"))
	watermarks := columns("migration_watermarks")
	require.Equal(t, "timestamptz", watermarks["watermark"], "an instant, compared with the CRM's column")
	watermarks["watermark"] = "timestamp"
	require.Equal(t, specWatermarksColumns, watermarks)
	// text, not jsonb: a backup's state is sent back byte for byte.
	require.Equal(t, specBackupsColumns, columns("migration_backups"))
	require.Equal(t, specLeasesColumns, columns("migration_leases"))
	require.Equal(t, specJobsColumns, columns("migration_jobs"))

	// The one index the queries need: the primary key, for the skip look-up and every query of a
	// job. Writing a second index with every outcome cost more than it saved (migration 0004).
	rows, err := conn.Query(ctx, `SELECT string_agg(a.attname, ',' ORDER BY k.n)
		FROM pg_index i
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace ns ON ns.oid = t.relnamespace
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
		WHERE ns.nspname = $1 AND t.relname = 'migration_status'
		GROUP BY i.indexrelid`, schema)
	require.NoError(t, err)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.ElementsMatch(t, specStatusIndexes, indexes)
}

// TestPostgresLookUpProbesThePrimaryKey: every look-up must stay a probe of the primary key per
// key, whatever the planner knows of the table. A new job's first run writes to a table never
// analyzed and looks up keys in it all along, with a custom plan or a generic one cached early;
// its later runs find statistics. Otherwise each look-up would read the whole job.
func TestPostgresLookUpProbesThePrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, dsn, schema := newPostgres(t)
	// A job of 20,000 users of which 1 in 25 failed or was rejected, beside another job.
	var rows []Row
	for i := range 20_000 {
		switch i % 50 {
		case 0:
			rows = append(rows, row("nightly", fmt.Sprintf("u%06d", i), "failed", 503))
		case 1:
			rows = append(rows, row("nightly", fmt.Sprintf("u%06d", i), "rejected", 416))
		default:
			rows = append(rows, row("nightly", fmt.Sprintf("u%06d", i), "updated", 200))
		}
		rows = append(rows, row("backfill", fmt.Sprintf("u%06d", i), "updated", 200))
	}
	require.NoError(t, s.Write(ctx, rows))

	conn := connect(t, dsn)
	keys := make([]string, 512)
	for i := range keys {
		keys[i] = fmt.Sprintf("u%06d", 4_000+i)
	}
	probes := func(stage string) {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+s.sql.prior, "nightly", keys)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		plan := strings.Join(lines, "\n")
		require.Contains(t, plan, "migration_status_pkey", stage)
		require.Regexp(t, `Index Cond: .*user_key = `, plan, stage)
		require.NotContains(t, plan, "Bitmap Heap Scan", stage)
		require.NotContains(t, plan, "Seq Scan on migration_status", stage)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
		require.NoError(t, err)
		probes("never analyzed, " + mode)
	}
	_, err := conn.Exec(ctx, "RESET plan_cache_mode")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "migration_status"}.Sanitize())
	require.NoError(t, err)
	probes("analyzed")

	got, err := s.Prior(ctx, "nightly", []string{"u000001", "u004999", "u029999"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "rejected", got["u000001"].Outcome)
	require.Equal(t, "updated", got["u004999"].Outcome)
}

func TestPostgresWatermarkIsAnInstant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, dsn, schema := newPostgres(t)
	madrid := time.FixedZone("CEST", 2*60*60)
	value := time.Date(2024, 10, 22, 23, 30, 0, 123456000, madrid)
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", Watermark{Column: "updated_at", Value: value, RunID: 1}))

	// A session in another time zone, as a CRM's query might run in, compares it rightly.
	conn := connect(t, dsn)
	_, err := conn.Exec(ctx, "SET TimeZone = 'Asia/Tokyo'")
	require.NoError(t, err)
	var equal bool
	err = conn.QueryRow(ctx, `SELECT watermark = '2024-10-22 21:30:00.123456+00'::timestamptz
		FROM `+pgx.Identifier{schema, "migration_watermarks"}.Sanitize()+` WHERE job = 'nightly'`).Scan(&equal)
	require.NoError(t, err)
	require.True(t, equal)
}

func TestPostgresOpenRejectsABadSchemaName(t *testing.T) {
	t.Parallel()
	dsn, _ := pgtest.Schema(t)
	tests := []struct{ schema, wantErr string }{
		{strings.Repeat("s", 64), "longer than 63 bytes"},
		{"pg_checkpoint", `"pg_" are reserved`},
		{"pg_catalog", `"pg_" are reserved`},
		{" druid", "white space"},
		{"druid\n", "white space"},
		{"dr\x00uid", "NUL"},
		{"dr\xffuid", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := Open(context.Background(), dsn, Options{Schema: tt.schema})
		require.ErrorContains(t, err, tt.wantErr, "schema %q", tt.schema)
		require.ErrorContains(t, err, fmt.Sprintf("schema %q", tt.schema))
		require.NotErrorIs(t, err, ErrUnavailable)
		require.Equal(t, err.Error(), strings.ReplaceAll(err.Error(), "\n", " "), "the CLI prints one line")
	}
	for _, ok := range []string{"", "druid", strings.Repeat("s", 63), `Druid "Checkpoint"`, "Ñandú", "druid_pg_"} {
		require.NoError(t, Options{Schema: ok}.Validate(), "schema %q", ok)
	}
	require.ErrorContains(t, Options{MaxConns: -1}.Validate(), "max connections -1")
}

func TestPostgresOpenWithASchemaNotYetCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, parent := pgtest.Schema(t)
	schema := parent + "_new" // dropped below: pgtest drops only the schema it made
	conn := connect(t, dsn)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})

	s, err := OpenPostgres(ctx, dsn, Options{Schema: schema})
	require.NoError(t, err, "Open does not need the schema")
	defer s.Close()
	require.Empty(t, tablesIn(t, dsn, schema))
	require.NoError(t, s.Migrate(ctx))
	require.ElementsMatch(t, specTables, tablesIn(t, dsn, schema))
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	require.NoError(t, s.SetWatermark(ctx, "job", "", Watermark{Column: "updated_at", Value: time.Now(), RunID: 1}))
}

func TestPostgresPasswordNeverInErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55"
	// Port 1 on the loopback: nothing listens, the connection is refused at once.
	for _, dsn := range []string{
		"postgres://druid:" + secret + "@127.0.0.1:1/crm?sslmode=disable",
		"postgresql://druid@127.0.0.1:1/crm?sslmode=disable&password=" + secret,
		"postgres://druid:" + secret + "@127.0.0.1:1/crm?sslmode=disable&connect_timeout=nope",
		"postgres://druid:" + secret + "@127.0.0.1:port/crm",
		"postgres://druid:" + secret + "@[::1/crm",
		// A ';' makes url.ParseQuery, and so pgx, skip the parameter; the URL still holds it.
		"postgres://druid@127.0.0.1:1/crm?sslmode=disable&password=" + secret + ";",
		"postgres://druid@127.0.0.1:1/crm?sslmode=sometimes&password=" + secret + ";",
	} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Open(ctx, dsn, Options{})
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
			require.Contains(t, err.Error(), "checkpoint postgres", "the error must name the checkpoint")
			require.NotContains(t, pgurl.Redact(dsn), secret)
		})
	}
}

// TestOpenTakesAnyCaseOfTheSchemeForPostgres: URL schemes ignore case, so an upper-case one is
// still a Postgres checkpoint, never the path of an SQLite file, and its password stays out of
// the error.
func TestOpenTakesAnyCaseOfTheSchemeForPostgres(t *testing.T) {
	t.Parallel()
	// Port 1 on the loopback: nothing listens, the connection is refused at once.
	for _, dsn := range []string{"POSTGRESQL://u:secret@127.0.0.1:1/db", "Postgres://u:secret@127.0.0.1:1/db"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Open(ctx, dsn, Options{})
		cancel()
		require.ErrorIs(t, err, ErrUnavailable, "%s: a connection must have been tried", dsn)
		require.ErrorContains(t, err, "checkpoint postgres", dsn)
		require.NotContains(t, err.Error(), "secret", dsn)
	}
}

func TestPostgresOpenFailsFastWhenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, "postgres://druid:pw@127.0.0.1:1/crm?sslmode=disable", Options{})
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "127.0.0.1:1")
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestPostgresLostConnectionIsUnavailableThenRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, schema := pgtest.Schema(t)
	app := "druid_test_" + schema[len(schema)-12:] // application_name keeps 63 bytes
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := OpenPostgres(ctx, u.String(), Options{Schema: schema, MaxConns: 1})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Migrate(ctx))

	// The server ends the store's only connection, as a restart or a failover would.
	var killed bool
	err = connect(t, dsn).QueryRow(ctx, `SELECT bool_and(pg_terminate_backend(pid, 5000))
		FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed)
	require.NoError(t, err)
	require.True(t, killed)

	_, err = s.Prior(ctx, "job", []string{"ana"})
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = s.Prior(ctx, "job", []string{"ana"})
	require.NoError(t, err, "the pool must reconnect")
}

// newPostgres opens a migrated Postgres checkpoint in a schema of its own, closed when the test
// ends; dsn and schema say where it is.
func newPostgres(t *testing.T) (s *Postgres, dsn, schema string) {
	t.Helper()
	dsn, schema = pgtest.Schema(t)
	s, err := OpenPostgres(context.Background(), dsn, Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(context.Background()))
	return s, dsn, schema
}

func tablesIn(t *testing.T, dsn, schema string) []string {
	t.Helper()
	rows, err := connect(t, dsn).Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, schema)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// connect opens a plain connection for a test to look at the database behind the store's back.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err, fmt.Sprintf("connect to %s", pgurl.Redact(dsn)))
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// A Postgres lease lives on its connection: when the server ends that session, the lock is gone,
// Check says so, and another run can take the lease.
func TestPostgresLeaseLostWithItsConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, dsn, schema := newPostgres(t)
	lease, err := s.Lease(ctx, "nightly", "", Holder{})
	require.NoError(t, err)
	defer lease.Release()
	require.NoError(t, lease.Check(ctx))

	// A cancelled Check leaves the connection, and the lock, as they were.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, lease.Check(cancelled), context.Canceled)
	require.NoError(t, lease.Check(ctx))

	pid := lease.hold.(*pgLease).conn.PgConn().PID()
	var terminated bool
	require.NoError(t, connect(t, dsn).QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&terminated))
	require.True(t, terminated)

	require.ErrorIs(t, lease.Check(ctx), ErrLeaseLost)
	other, err := OpenPostgres(ctx, dsn, Options{Schema: schema})
	require.NoError(t, err)
	defer other.Close()
	// pg_terminate_backend signals the backend; the lock goes when it has exited.
	var next *Lease
	require.Eventually(t, func() bool {
		next, err = other.Lease(ctx, "nightly", "", Holder{Host: "web-2"})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the lock died with its session: %v", err)
	require.NoError(t, next.Release())
}

// Leases of the same job in checkpoints of different schemas of one database are independent:
// each schema is a checkpoint of its own.
func TestPostgresLeasesOfSchemasAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DB(t)
	for _, schema := range []string{"public", "other"} {
		s, err := OpenPostgres(ctx, dsn, Options{Schema: schema})
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.Migrate(ctx))
		lease, err := s.Lease(ctx, "nightly", "", Holder{})
		require.NoError(t, err, schema)
		defer lease.Release()
	}
}

// Keys too long for the primary key's index, scattered in a large group: the halving finds each
// of them, every other row is written, in one transaction, and each refused row carries
// Postgres's reason.
func TestPostgresWriteSparesTheRowsAroundKeysTooLongForTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _ := newPostgres(t)
	rows := numbered("job", "u%04d", 1000, "updated", 200)
	bad := []int{0, 377, 378, 999}
	for _, i := range bad {
		rows[i].Key = fmt.Sprintf("%d-%s", i, longKey(3000))
	}
	err := s.Write(ctx, rows)
	require.NotErrorIs(t, err, ErrUnavailable)
	var refused *RowsRefused
	require.ErrorAs(t, err, &refused)
	require.Equal(t, bad, refusedIndexes(refused))
	for _, r := range refused.Rows {
		require.Regexp(t, `^index row .*\(SQLSTATE 54000\)$`, r.Reason)
	}
	require.Equal(t, []StatusCount{{Outcome: "updated", StatusCode: 200, Users: 1000 - int64(len(bad))}}, status(t, s, "job"))
}

func TestPgFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want fault
	}{
		{&pgconn.PgError{Code: "54000"}, faultRow},         // index row too large
		{&pgconn.PgError{Code: "22021"}, faultRow},         // invalid byte sequence
		{&pgconn.PgError{Code: "22001"}, faultRow},         // value too long for its type
		{&pgconn.PgError{Code: "23514"}, faultRow},         // check violation
		{&pgconn.PgError{Code: "08006"}, faultUnavailable}, // connection failure
		{&pgconn.PgError{Code: "57P01"}, faultUnavailable}, // admin shutdown
		{&pgconn.PgError{Code: "42P01"}, faultStatement},   // undefined table
		{&pgconn.PgError{Code: "23505"}, faultStatement},   // unique violation: not a row's content
		{&pgconn.PgError{}, faultStatement},                // no code
		{fmt.Errorf("write: %w", io.ErrUnexpectedEOF), faultUnavailable},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, pgFault(tt.err), "%v", tt.err)
	}
}
