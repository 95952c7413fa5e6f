package pgtest

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestSchemaIsCreatedThenDropped(t *testing.T) {
	t.Parallel()
	var dsn, schema string
	t.Run("user", func(t *testing.T) {
		dsn, schema = Schema(t)
		require.True(t, schemaExists(t, dsn, schema), "schema %s missing during the test", schema)
		// Something in it, so that the drop must cascade.
		require.NoError(t, execSQL(dsn, "CREATE TABLE "+pgx.Identifier{schema, "t"}.Sanitize()+" (x int)"))
	})
	if dsn == "" {
		t.Skip("the subtest was skipped: no Postgres")
	}
	require.False(t, schemaExists(t, dsn, schema), "schema %s left behind", schema)
}

func TestDBIsCreatedThenDropped(t *testing.T) {
	t.Parallel()
	var dsn string
	var conn *pgx.Conn
	t.Run("user", func(t *testing.T) {
		dsn = DB(t)
		var err error
		conn, err = pgx.Connect(context.Background(), dsn)
		require.NoError(t, err)
		// Left open on purpose: the drop must not be blocked by a test that forgot to close.
	})
	if dsn == "" {
		t.Skip("the subtest was skipped: no Postgres")
	}
	defer conn.Close(context.Background())
	_, err := pgx.Connect(context.Background(), dsn)
	require.ErrorContains(t, err, "does not exist")
}

func TestFindServer(t *testing.T) {
	t.Parallel()
	const unreachable = "postgres://postgres:hunter2@127.0.0.1:1/postgres?sslmode=disable"

	t.Run("env wins and a broken one is a failure, without its password", func(t *testing.T) {
		t.Parallel()
		dsn, why, bad, c := findServer(unreachable, DefaultURL, false)
		require.Empty(t, dsn)
		require.Nil(t, c)
		require.True(t, bad, "a TEST_DATABASE_URL that does not work must fail the tests, not skip them")
		require.Contains(t, why, EnvURL)
		require.NotContains(t, why, "hunter2")
	})
	t.Run("no default and no Main: skip, saying why", func(t *testing.T) {
		t.Parallel()
		dsn, why, bad, c := findServer("", unreachable, false)
		require.Empty(t, dsn)
		require.Nil(t, c)
		require.False(t, bad)
		require.Contains(t, why, "pgtest.Main")
	})
	t.Run("no default: a throwaway cluster that cleans up", func(t *testing.T) {
		if testing.Short() {
			t.Skip("initdb takes seconds")
		}
		if _, err := findBin(); err != nil {
			t.Skipf("no local Postgres binaries: %v", err)
		}
		t.Parallel()
		dsn, why, _, c := findServer("", unreachable, true)
		require.NotEmpty(t, dsn, why)
		require.NotNil(t, c)
		stopped := false
		defer func() {
			if !stopped {
				_ = c.remove()
			}
		}()
		require.NoError(t, ping(dsn))
		require.NoError(t, execSQL(dsn, "CREATE SCHEMA s"))

		require.NoError(t, c.remove())
		stopped = true
		require.Error(t, ping(dsn), "the server still answers after stop")
		_, err := os.Stat(c.dir)
		require.ErrorIs(t, err, os.ErrNotExist, "the cluster's directory is left behind")
	})
}

func TestUniqueNameIsAPostgresNameAndUnique(t *testing.T) {
	t.Parallel()
	a, b := uniqueName(t), uniqueName(t)
	require.NotEqual(t, a, b)
	// Unquoted-safe and under NAMEDATALEN, so Postgres keeps it as it is.
	require.Regexp(t, regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`), a)
}

func schemaExists(t *testing.T, dsn, schema string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists)
	require.NoError(t, err)
	return exists
}
