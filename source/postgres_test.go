package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/internal/logtest"
	"druid-migrate/internal/pgtest"
	"druid-migrate/source"
)

// TestMain stops the throwaway Postgres cluster, if pgtest had to start one.
func TestMain(m *testing.M) { pgtest.Main(m) }

// pgDB is a test's schema: a URL whose search_path is the schema, so that queries name their
// tables bare, and a connection to fill it.
type pgDB struct {
	url    string
	schema string
	conn   *pgx.Conn
}

func newPgDB(tb testing.TB) *pgDB {
	tb.Helper()
	dsn, schema := pgtest.Schema(tb)
	u, err := url.Parse(dsn)
	require.NoError(tb, err)
	q := u.Query()
	q.Set("options", "-c search_path="+schema)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + as itself
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &pgDB{url: u.String(), schema: schema, conn: conn}
}

func (d *pgDB) exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	_, err := d.conn.Exec(context.Background(), sql, args...)
	require.NoError(tb, err, sql)
}

// appName is an application_name unique to the test, to find its connections in
// pg_stat_activity: the schema's random suffix, as names are cut at 63 bytes.
func (d *pgDB) appName() string {
	return "druid-migrate-test-" + d.schema[strings.LastIndexByte(d.schema, '_')+1:]
}

// withParams returns the database's URL with more query parameters.
func (d *pgDB) withParams(tb testing.TB, kv ...string) string {
	tb.Helper()
	u, err := url.Parse(d.url)
	require.NoError(tb, err)
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == "options" {
			q.Set("options", q.Get("options")+" "+kv[i+1])
			continue
		}
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + as itself
	return u.String()
}

func (d *pgDB) open(tb testing.TB, query string, pageSize int) *source.Postgres {
	tb.Helper()
	return openPg(tb, source.PostgresConfig{URL: d.url, Query: query, PageSize: pageSize})
}

func openPg(tb testing.TB, cfg source.PostgresConfig) *source.Postgres {
	tb.Helper()
	p, err := source.OpenPostgres(context.Background(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, p.Close()) })
	return p
}

// readPg starts s and reads every record.
func readPg(tb testing.TB, p *source.Postgres, s source.Scan) []source.Record {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, p.Start(ctx, s))
	var out []source.Record
	for {
		rec, err := p.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(tb, err)
		out = append(out, rec)
	}
	_, err := p.Next(ctx)
	require.ErrorIs(tb, err, io.EOF, "io.EOF is sticky")
	return out
}

// column returns the values of column i of records that are not malformed.
func column(tb testing.TB, recs []source.Record, i int) []string {
	tb.Helper()
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		require.NoError(tb, r.Err, "line %d", r.Line)
		out = append(out, r.Values[i])
	}
	return out
}

// queryStrings runs a query of one text column on the test's own connection.
func (d *pgDB) queryStrings(tb testing.TB, sql string) []string {
	tb.Helper()
	rows, err := d.conn.Query(context.Background(), sql)
	require.NoError(tb, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err)
	return out
}

func TestPostgresConvertsValuesByType(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (
		id int PRIMARY KEY, big bigint, amount numeric, name text, active bool, birthday date,
		seen timestamp, changed timestamptz, ref uuid, extra jsonb, tags text[], code varchar(8))`)
	db.exec(t, `INSERT INTO users VALUES
		(1, 9007199254740993, 1234.50, 'Ana García', true, '1974-10-22', '2024-01-31 23:59:59.5',
		 '2024-03-01 20:00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{x,"y z"}', 'ES'),
		(2, -1, 0, '', false, '0001-01-01', '9999-12-31 00:00:00', '2024-03-01 10:00:00+00', NULL, 'null', '{}', NULL),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	// Tokyo is 9 hours ahead: a timestamptz's date is the one the session's zone shows. The
	// DateStyle the URL asks for must not matter.
	url := db.withParams(t, "options", "-c TimeZone=Asia/Tokyo -c DateStyle=SQL,DMY")
	p := openPg(t, source.PostgresConfig{URL: url, Query: "SELECT * FROM users"})
	require.Equal(t, []string{"id", "big", "amount", "name", "active", "birthday", "seen", "changed",
		"ref", "extra", "tags", "code"}, p.Columns())

	recs := readPg(t, p, source.Scan{Key: "id"})
	require.Equal(t, []source.Record{
		{Line: 1, Values: []string{"1", "9007199254740993", "1234.50", "Ana García", "true", "22/10/1974",
			"31/01/2024", "02/03/2024", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `{"a": [1, 2]}`, `{x,"y z"}`, "ES"}},
		{Line: 2, Values: []string{"2", "-1", "0", "", "false", "01/01/0001", "31/12/9999", "01/03/2024",
			"", "null", "{}", ""}},
		{Line: 3, Values: []string{"3", "", "", "", "", "", "", "", "", "", "", ""}},
	}, recs)
}

func TestPostgresDatesWithoutDRUIDFormAreInvalidRecords(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (id int, email text, birthday date, seen timestamptz)`)
	db.exec(t, `INSERT INTO users VALUES
		(1, 'a@x.es', 'infinity', NULL),
		(2, 'b@x.es', '0044-03-15 BC', NULL),
		(3, 'c@x.es', '10000-01-01', NULL),
		(4, 'd@x.es', NULL, '-infinity'),
		(5, 'e@x.es', '2000-02-29', '2000-02-29 12:00:00+00')`)
	p := db.open(t, "SELECT * FROM users", 0)
	recs := readPg(t, p, source.Scan{Key: "id"})
	require.Len(t, recs, 5)
	for i, want := range []string{
		`column "birthday": infinite date`,
		`column "birthday": date before year 1 (BC)`,
		`column "birthday": date after year 9999`,
		`column "seen": infinite date`,
	} {
		rec := recs[i]
		require.ErrorIs(t, rec.Err, source.ErrDateRange)
		re, ok := errors.AsType[*source.RowError](rec.Err)
		require.True(t, ok)
		require.Equal(t, want, re.Reason())
		require.Equal(t, fmt.Sprintf("line %d: %s", i+1, want), rec.Err.Error())
		// The other values are there, so that the run can name the user.
		require.Equal(t, fmt.Sprint(i+1), rec.Values[0])
		require.Len(t, rec.Values, 4)
	}
	require.NoError(t, recs[4].Err)
	require.Equal(t, []string{"5", "e@x.es", "29/02/2000", "29/02/2000"}, recs[4].Values)
}

// Every row exactly once, in the key's order as Postgres sorts it, across page boundaries.
func TestPostgresPagesEveryRowOnceInKeyOrder(t *testing.T) {
	t.Parallel()
	const rows = 12345
	for _, tt := range []struct {
		name, key string
	}{
		{"integer key", "g"},
		// Text keys that sort differently as text and as numbers: '10' < '9'.
		{"text key", "'u' || g::text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newPgDB(t)
			db.exec(t, fmt.Sprintf(`CREATE TABLE users AS
				SELECT %s AS crm_id, 'user' || g || '@example.com' AS email
				FROM generate_series(1, %d) AS g ORDER BY random()`, tt.key, rows))
			db.exec(t, `CREATE INDEX ON users (crm_id)`)
			want := db.queryStrings(t, `SELECT crm_id::text AS k FROM users ORDER BY users.crm_id`)

			p := db.open(t, "SELECT email, crm_id FROM users;", 1000)
			recs := readPg(t, p, source.Scan{Key: "crm_id"})
			require.Len(t, recs, rows)
			require.Equal(t, want, column(t, recs, 1))
			for i, r := range recs {
				require.Equal(t, i+1, r.Line)
			}
		})
	}
}

// Rows that share a key are all returned: when the key straddles a page boundary, when it
// fills a page and more, and when its values print differently but are equal for Postgres.
func TestPostgresDuplicateKeysLoseNoRowAtPageBoundaries(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		table string
	}{
		// Page size 10: key 10 starts in the first page and ends in the second; key 20 fills
		// two pages and a half; key 30 ends the table on a full page.
		{"straddling and filling pages", `SELECT k AS crm_id, n FROM
			(SELECT generate_series(1, 9) AS k
			 UNION ALL SELECT 10 FROM generate_series(1, 5)
			 UNION ALL SELECT generate_series(11, 19)
			 UNION ALL SELECT 20 FROM generate_series(1, 25)
			 UNION ALL SELECT 30 FROM generate_series(1, 6)) AS t, LATERAL (SELECT random() AS n) AS r`},
		// 1.0 and 1.00 are one numeric value: the page boundary falls inside the group.
		{"equal keys printed differently", `SELECT k AS crm_id, n FROM
			(SELECT generate_series(1, 8)::numeric AS k
			 UNION ALL SELECT 10.0 FROM generate_series(1, 3)
			 UNION ALL SELECT 10.00 FROM generate_series(1, 3)
			 UNION ALL SELECT generate_series(11, 20)::numeric) AS t, LATERAL (SELECT random() AS n) AS r`},
		{"one key only", `SELECT 7 AS crm_id, random() AS n FROM generate_series(1, 23)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newPgDB(t)
			db.exec(t, `CREATE TABLE users AS `+tt.table)
			want := db.queryStrings(t, `SELECT crm_id::text || ' ' || n::text FROM users ORDER BY 1`)

			var logs logtest.Buffer
			p := openPg(t, source.PostgresConfig{URL: db.url, Query: "SELECT crm_id, n::text FROM users", PageSize: 10,
				Log: zerolog.New(&logs).Level(zerolog.DebugLevel)})
			recs := readPg(t, p, source.Scan{Key: "crm_id"})
			got := make([]string, len(recs))
			for i, r := range recs {
				require.NoError(t, r.Err)
				require.Equal(t, i+1, r.Line)
				got[i] = r.Values[0] + " " + r.Values[1]
			}
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			require.Equal(t, want, sorted, "every row once")
			requireKeyOrder(t, recs)
		})
	}
}

// requireKeyOrder checks that numeric keys never go down.
func requireKeyOrder(t *testing.T, recs []source.Record) {
	t.Helper()
	var prev float64
	for _, r := range recs {
		var k float64
		_, err := fmt.Sscan(r.Values[0], &k)
		require.NoError(t, err)
		require.GreaterOrEqual(t, k, prev, "line %d", r.Line)
		prev = k
	}
}

func TestPostgresNullKeysAreMalformedRecords(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (crm_id int, email text)`)
	db.exec(t, `INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 7) AS g`)
	db.exec(t, `INSERT INTO users VALUES (NULL, 'nokey1'), (NULL, 'nokey2')`)

	p := db.open(t, "SELECT * FROM users", 3)
	recs := readPg(t, p, source.Scan{Key: "crm_id"})
	require.Len(t, recs, 9)
	var nulls []string
	for _, r := range recs[:2] {
		require.ErrorIs(t, r.Err, source.ErrNullKey)
		re, ok := errors.AsType[*source.RowError](r.Err)
		require.True(t, ok)
		require.Equal(t, `key column "crm_id" is NULL`, re.Reason())
		require.Equal(t, 1, re.Field)
		require.Equal(t, "", r.Values[0])
		nulls = append(nulls, r.Values[1])
	}
	require.ElementsMatch(t, []string{"nokey1", "nokey2"}, nulls)
	require.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7"}, column(t, recs[2:], 0))
	for i, r := range recs {
		require.Equal(t, i+1, r.Line)
	}
}

func TestPostgresQueryErrors(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (crm_id int, email text, changed timestamptz, doc json)`)
	ctx := context.Background()

	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"syntax error", "SELECT crm_id,\n  email FORM users", []string{
			"--query:", `syntax error at or near "users"`, "SQLSTATE 42601", "at line 2, column 14"}},
		{"missing table", "SELECT * FROM nope", []string{
			"--query:", `relation "nope" does not exist`, "at line 1, column 15"}},
		{"missing column", "SELECT crm_id, mail FROM users", []string{`column "mail" does not exist`}},
		{"duplicate columns", "SELECT crm_id, email, crm_id FROM users", []string{
			`column 3 "crm_id" repeats column 1`}},
		{"not a query", "DELETE FROM users", []string{"--query:", "syntax error"}},
		{"empty", " ;\n", []string{"--query is empty"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := source.OpenPostgres(ctx, source.PostgresConfig{URL: db.url, Query: tt.query})
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n")
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}

	// A trailing semicolon and a trailing comment are tolerated.
	p := db.open(t, "SELECT crm_id, email FROM users -- the CRM's users\n;\n", 0)
	require.Equal(t, []string{"crm_id", "email"}, p.Columns())

	p = db.open(t, "SELECT * FROM users", 0)
	for _, tt := range []struct {
		name string
		scan source.Scan
		want string
	}{
		{"missing key column", source.Scan{Key: "id"},
			`key column "id" is not a column of --query, whose columns are "crm_id", "email", "changed", "doc"`},
		{"missing since column", source.Scan{Key: "crm_id", Since: &source.Since{Column: "updated_at"}},
			`since column "updated_at" is not a column of --query, whose columns are "crm_id", "email", "changed", "doc"`},
		{"since column not a time", source.Scan{Key: "crm_id", Since: &source.Since{Column: "email"}},
			`since column "email": not a date, timestamp or timestamptz column (its type is text)`},
		{"key that cannot be sorted", source.Scan{Key: "doc"},
			`could not identify an ordering operator for type json`},
	} {
		err := p.Start(ctx, tt.scan)
		require.Error(t, err, tt.name)
		require.Contains(t, err.Error(), tt.want, tt.name)
		_, err = p.Next(ctx)
		require.ErrorContains(t, err, "Next called before Start", tt.name)
	}
}

func TestPostgresPasswordNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (crm_id int)`)
	const secret = "s3cr3t-Pa55w0rd"
	ctx := context.Background()
	var logs logtest.Buffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)

	// The local server trusts every password: the one in the URL gets in.
	u, err := url.Parse(db.url)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), secret)
	reachable := u.String()
	u.Host = "127.0.0.1:1" // nothing listens there
	unreachable := u.String()
	inParam := db.withParams(t, "password", secret)
	inParam = strings.Replace(inParam, "127.0.0.1:5432", "127.0.0.1:1", 1)

	for _, tt := range []struct {
		name, url, query string
	}{
		{"unreachable", unreachable, "SELECT 1"},
		{"unreachable, password parameter", inParam, "SELECT 1"},
		{"bad SQL", reachable, "SELECT nope FROM users"},
		{"bad URL", "postgres://ana:" + secret + "@[::1:5432/db", "SELECT 1"},
		{"bad parameter", reachable + "&sslmode=sometimes", "SELECT 1"},
		// A ';' makes url.ParseQuery, and so pgx, skip the parameter; the URL still holds it.
		{"password parameter pgx skips", unreachable + "&password=" + secret + ";", "SELECT 1"},
		{"password parameter pgx skips, bad parameter", reachable + "&sslmode=sometimes&password=" + secret + ";", "SELECT 1"},
	} {
		_, err := source.OpenPostgres(ctx, source.PostgresConfig{URL: tt.url, Query: tt.query, Log: log})
		require.Error(t, err, tt.name)
		require.NotContains(t, err.Error(), secret, tt.name)
		require.Contains(t, err.Error(), "source postgres", tt.name)
		t.Logf("%s: %v", tt.name, err)
	}

	p := openPg(t, source.PostgresConfig{URL: reachable, Query: "SELECT * FROM users", Log: log})
	require.Empty(t, readPg(t, p, source.Scan{Key: "crm_id"}))
	err = p.Start(ctx, source.Scan{Key: "nope"})
	require.ErrorContains(t, err, "xxxxx", "the URL is named, its password redacted")
	require.NotContains(t, err.Error(), secret)
	require.Contains(t, logs.String(), "reading the postgres source")
	require.NotContains(t, logs.String(), secret)
}

// TestPostgresURLInAnyCase: URL schemes ignore case, so an upper-case one is still a Postgres
// source, and its password stays out of the error.
func TestPostgresURLInAnyCase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on the loopback: nothing listens, the connection is refused at once.
	_, err := source.OpenPostgres(ctx, source.PostgresConfig{URL: "POSTGRESQL://u:secret@127.0.0.1:1/db", Query: "SELECT 1"})
	require.ErrorContains(t, err, "source postgresql://u:xxxxx@127.0.0.1:1/db: connect:", "a connection must have been tried")
	require.NotContains(t, err.Error(), "secret")
}

func TestPostgresSinceFilter(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users (crm_id int, changed timestamptz, changed_local timestamp, changed_on date)`)
	db.exec(t, `INSERT INTO users SELECT g, '2024-05-01 00:00:00+00'::timestamptz + g * interval '1 hour',
		'2024-05-01 00:00:00'::timestamp + g * interval '1 hour', '2024-05-01'::date + g
		FROM generate_series(1, 50) AS g`)
	db.exec(t, `INSERT INTO users VALUES (NULL, '2024-06-01 00:00:00+00', NULL, NULL), (99, NULL, NULL, NULL)`)
	after := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC) // g = 36 onwards

	p := openPg(t, source.PostgresConfig{URL: db.withParams(t, "options", "-c TimeZone=UTC"),
		Query: "SELECT * FROM users", PageSize: 4})
	before := time.Now()
	recs := readPg(t, p, source.Scan{Key: "crm_id", Since: &source.Since{Column: "changed", After: after}})
	require.WithinDuration(t, before, p.StartedAt(), time.Minute, "the database's clock")

	// The row without a key is returned, malformed; the row without a time is not.
	require.ErrorIs(t, recs[0].Err, source.ErrNullKey)
	var want []string
	for g := 36; g <= 50; g++ {
		want = append(want, fmt.Sprint(g))
	}
	require.Equal(t, want, column(t, recs[1:], 0))

	// A timestamp is a time of the session's zone (UTC here); a date, its midnight.
	recs = readPg(t, p, source.Scan{Key: "crm_id", Since: &source.Since{Column: "changed_local", After: after}})
	require.Equal(t, want, column(t, recs, 0))
	recs = readPg(t, p, source.Scan{Key: "crm_id", Since: &source.Since{Column: "changed_on", After: after}})
	require.Equal(t, []string{"2", "3", "4"}, column(t, recs, 0)[:3])
	require.Len(t, recs, 49)

	// The keys filter and the since filter both apply.
	recs = readPg(t, p, source.Scan{Key: "crm_id", Keys: []string{"1", "40", "99"},
		Since: &source.Since{Column: "changed", After: after}})
	require.Equal(t, []string{"40"}, column(t, recs, 0))
}

func TestPostgresKeysFilter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, key string
		keys      []string
		want      []string
	}{
		// Unsorted, repeated, absent keys; chunks of 3 (the page size).
		{"integer key", "g", []string{"17", "3", "999", "3", "100", "1", "42", "-5", "250"},
			[]string{"1", "3", "17", "42", "100", "250"}},
		{"text key", "'u' || g", []string{"u17", "u3", "nobody", "u3", "u100", "u1", `u"\`, "u250", ""},
			[]string{"u1", "u100", "u17", "u250", "u3"}},
		// "x" is no integer: the keys are compared as text instead, and still found.
		{"key not of the key's type", "g", []string{"x", "7", "8"}, []string{"7", "8"}},
		{"no keys", "g", []string{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newPgDB(t)
			db.exec(t, fmt.Sprintf(`CREATE TABLE users AS SELECT %s AS crm_id, g AS n FROM generate_series(1, 300) AS g`, tt.key))
			db.exec(t, `CREATE INDEX ON users (crm_id)`)
			db.exec(t, `INSERT INTO users VALUES (NULL, 0)`)
			p := db.open(t, "SELECT crm_id FROM users", 3)
			recs := readPg(t, p, source.Scan{Key: "crm_id", Keys: tt.keys})
			require.ElementsMatch(t, tt.want, column(t, recs, 0))
			for i, r := range recs {
				require.Equal(t, i+1, r.Line)
			}
		})
	}
}

// A long read is many short queries: between pages the connection is idle, with no transaction
// open and no snapshot held.
func TestPostgresReadsInShortQueries(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users AS SELECT g AS crm_id, md5(g::text) AS email FROM generate_series(1, 20000) AS g`)
	db.exec(t, `ALTER TABLE users ADD PRIMARY KEY (crm_id)`)
	app := db.appName()
	var logs logtest.Buffer
	p := openPg(t, source.PostgresConfig{URL: db.withParams(t, "application_name", app), Query: "SELECT * FROM users",
		PageSize: 500, Log: zerolog.New(&logs).Level(zerolog.DebugLevel)})

	ctx := context.Background()
	require.NoError(t, p.Start(ctx, source.Scan{Key: "crm_id"}))
	n := 0
	for ; n < 750; n++ {
		_, err := p.Next(ctx)
		require.NoError(t, err)
	}
	var state string
	var xact, xmin *string
	err := db.conn.QueryRow(ctx, `SELECT state, xact_start::text, backend_xmin::text FROM pg_stat_activity
		WHERE application_name = $1`, app).Scan(&state, &xact, &xmin)
	require.NoError(t, err)
	require.Equal(t, "idle", state, "no statement runs between pages")
	require.Nil(t, xact, "no transaction is open between pages")
	require.Nil(t, xmin, "no snapshot is held between pages")
	for {
		rec, err := p.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		require.Equal(t, n, rec.Line)
	}
	require.Equal(t, 20000, n)

	// One query for the NULL keys, then 40 pages, each reading one row more than it returns
	// but the last.
	pages := strings.Count(logs.String(), `"message":"source page"`)
	require.Equal(t, 41, pages, logs.String())
	require.NotContains(t, logs.String(), `"rows":502`)
}

func TestPostgresNextHonoursContext(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE users AS SELECT g AS crm_id FROM generate_series(1, 10) AS g`)
	p := db.open(t, "SELECT * FROM users", 4)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, p.Start(ctx, source.Scan{Key: "crm_id"}))
	_, err := p.Next(ctx)
	require.NoError(t, err)
	cancel()
	_, err = p.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)

	// A page query cut short by the context ends the reading, as a shutdown, and the server
	// stops it. Start reads the first page; the second sleeps once the gate says so.
	db.exec(t, `CREATE TABLE gate (slow boolean)`)
	db.exec(t, `INSERT INTO gate VALUES (false)`)
	ctx, cancel = context.WithCancel(context.Background())
	app := db.appName()
	slow := openPg(t, source.PostgresConfig{URL: db.withParams(t, "application_name", app), PageSize: 4,
		Query: "SELECT g AS crm_id, pg_sleep(CASE WHEN (SELECT slow FROM gate) THEN 30 ELSE 0 END) FROM generate_series(1, 10) AS g"})
	require.NoError(t, slow.Start(ctx, source.Scan{Key: "crm_id"}))
	db.exec(t, `UPDATE gate SET slow = true`)
	for range 4 {
		_, err := slow.Next(ctx)
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := slow.Next(ctx)
		done <- err
	}()
	// Cancel once the page query runs.
	running := func() bool {
		var active bool
		err := db.conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active')`, app).Scan(&active)
		require.NoError(t, err)
		return active
	}
	require.Eventually(t, running, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after the context was canceled")
	}
	_, err = slow.Next(context.Background())
	require.ErrorIs(t, err, context.Canceled, "the error is sticky")
	require.Eventually(t, func() bool { return !running() }, 5*time.Second, 10*time.Millisecond)
}

// BenchmarkPostgresNext reads 100,000 rows of a users table, in pages of the default size.
func BenchmarkPostgresNext(b *testing.B) {
	const rows = 100_000
	db := newPgDB(b)
	db.exec(b, fmt.Sprintf(`CREATE TABLE users AS SELECT g AS crm_id, 'user' || g || '@example.com' AS email,
		'Name ' || g AS name, 'Surname ' || g AS surname, date '1970-01-01' + (g %% 15000) AS birthday,
		g %% 2 = 0 AS optin, now() AS changed FROM generate_series(1, %d) AS g`, rows))
	db.exec(b, `ALTER TABLE users ADD PRIMARY KEY (crm_id)`)
	db.exec(b, `ANALYZE users`)
	p := db.open(b, "SELECT * FROM users", 0)
	ctx := context.Background()
	b.ReportAllocs()
	n, loops := 0, 0
	for b.Loop() {
		loops++
		require.NoError(b, p.Start(ctx, source.Scan{Key: "crm_id"}))
		for {
			_, err := p.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	require.Equal(b, rows*loops, n)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// TestPostgresSourceIsReadOnly: every query of the source runs in a read-only transaction, so a
// --query whose function deletes rows fails, naming the read-only transaction, and the rows are
// still there. A query that cannot write on its first page is refused by Start, before any
// record is taken; one that writes further on, by the Next that reads that page.
func TestPostgresSourceIsReadOnly(t *testing.T) {
	t.Parallel()
	db := newPgDB(t)
	db.exec(t, `CREATE TABLE crm_users AS SELECT g AS crm_id, 'user' || g AS name FROM generate_series(1, 12) AS g`)
	db.exec(t, `CREATE FUNCTION zap() RETURNS int LANGUAGE plpgsql AS $$
		BEGIN DELETE FROM crm_users; RETURN 0; END $$`)
	db.exec(t, `CREATE TABLE gate (armed boolean)`)
	db.exec(t, `INSERT INTO gate VALUES (false)`)
	db.exec(t, `CREATE FUNCTION zap_when_armed() RETURNS int LANGUAGE plpgsql AS $$
		BEGIN IF (SELECT armed FROM gate) THEN DELETE FROM crm_users; END IF; RETURN 0; END $$`)
	ctx := context.Background()
	remaining := func() int {
		var n int
		require.NoError(t, db.conn.QueryRow(ctx, `SELECT count(*) FROM crm_users`).Scan(&n))
		return n
	}
	requireReadOnlyError := func(err error) {
		t.Helper()
		require.Error(t, err)
		for _, w := range []string{"--query", "read-only transaction", "cannot execute DELETE", "SQLSTATE 25006"} {
			require.Contains(t, err.Error(), w)
		}
		require.NotContains(t, err.Error(), "\n")
	}

	// Neither the URL nor the session can turn it off.
	for _, url := range []string{db.url, db.withParams(t, "options", "-c default_transaction_read_only=off")} {
		p := openPg(t, source.PostgresConfig{URL: url, Query: "SELECT c.*, zap() FROM crm_users c"})
		requireReadOnlyError(p.Start(ctx, source.Scan{Key: "crm_id"}))
		_, err := p.Next(ctx)
		require.ErrorContains(t, err, "Next called before Start")
		require.Equal(t, 12, remaining())
	}

	p := db.open(t, "SELECT c.*, zap_when_armed() FROM crm_users c", 3)
	require.NoError(t, p.Start(ctx, source.Scan{Key: "crm_id"}), "the first page writes nothing")
	db.exec(t, `UPDATE gate SET armed = true`)
	var err error
	for read := 0; err == nil; read++ {
		require.Less(t, read, 12, "a page that writes must fail")
		_, err = p.Next(ctx)
	}
	requireReadOnlyError(err)
	require.Equal(t, 12, remaining())
}
