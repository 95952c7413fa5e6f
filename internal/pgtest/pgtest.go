package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tried when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// EnvURL is the environment variable that names the test server.
const EnvURL = "TEST_DATABASE_URL"

// reachTimeout bounds the probe of DefaultURL: a missing local server must not slow every test
// binary down by more than that.
const reachTimeout = 2 * time.Second

var (
	// mainRunning is set while Main runs the tests: only then is a throwaway cluster sure to be
	// stopped.
	mainRunning atomic.Bool

	serverOnce sync.Once
	serverURL  string // "" when no server could be had
	serverWhy  string // why, when serverURL is ""
	serverBad  bool   // TEST_DATABASE_URL is set and does not work: fail rather than skip

	clusterMu sync.Mutex
	running   *Cluster // the throwaway cluster, if one was started
)

// Main runs the tests of m and then stops the throwaway cluster, if one was started. Call it
// from TestMain in every package that uses Schema or DB. Test binaries exit with m.Run's code
// once TestMain returns.
func Main(m *testing.M) {
	mainRunning.Store(true)
	defer mainRunning.Store(false)
	defer stopCluster()
	m.Run()
}

// Schema creates a schema with a unique name in the test server's database and drops it, with
// everything in it, when tb ends. It returns the URL of that database and the schema's name.
func Schema(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	dsn = server(tb)
	schema = uniqueName(tb)
	ident := pgx.Identifier{schema}.Sanitize()
	createDropped(tb, dsn, "schema "+schema, "CREATE SCHEMA "+ident, "DROP SCHEMA IF EXISTS "+ident+" CASCADE")
	return dsn, schema
}

// DB creates a database with a unique name on the test server and drops it when tb ends,
// closing whatever connections are still open to it. It returns the database's URL. It costs
// more than Schema: use it when a test needs a whole database, such as one to find public empty.
func DB(tb testing.TB) string {
	tb.Helper()
	admin := server(tb)
	name := uniqueName(tb)
	ident := pgx.Identifier{name}.Sanitize()
	createDropped(tb, admin, "database "+name, "CREATE DATABASE "+ident, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("pgtest: server URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// createDropped runs create on dsn now, and drop when tb ends; what names the object in errors.
func createDropped(tb testing.TB, dsn, what, create, drop string) {
	tb.Helper()
	if err := execSQL(dsn, create); err != nil {
		tb.Fatalf("pgtest: create %s: %v", what, err)
	}
	tb.Cleanup(func() {
		if err := execSQL(dsn, drop); err != nil {
			tb.Errorf("pgtest: drop %s: %v", what, err)
		}
	})
}

// server returns the URL of the test server, or ends tb when there is none.
func server(tb testing.TB) string {
	tb.Helper()
	serverOnce.Do(func() {
		var c *Cluster
		serverURL, serverWhy, serverBad, c = findServer(os.Getenv(EnvURL), DefaultURL, mainRunning.Load())
		if c != nil {
			clusterMu.Lock()
			running = c
			clusterMu.Unlock()
		}
	})
	if serverURL == "" {
		unavailable(tb, serverWhy, serverBad)
	}
	return serverURL
}

// unavailable ends tb for want of a Postgres: it fails when bad (a configuration error) or in
// CI, which must not go green by skipping; it skips otherwise.
func unavailable(tb testing.TB, why string, bad bool) {
	tb.Helper()
	if bad || os.Getenv("CI") == "true" {
		tb.Fatalf("pgtest: no Postgres: %s", why)
	}
	tb.Skipf("pgtest: no Postgres: %s", why)
}

// findServer picks the test server: env when set, else def when it answers, else a throwaway
// cluster when mayStart. It returns the server's URL and the cluster it started, if any, or why
// there is none and whether that is a configuration error (bad) rather than a missing server.
func findServer(env, def string, mayStart bool) (dsn, why string, bad bool, c *Cluster) {
	if env != "" {
		if err := ping(env); err != nil {
			// The URL may carry a password: name the variable, not its value.
			return "", fmt.Sprintf("%s: %v", EnvURL, err), true, nil
		}
		return env, "", false, nil
	}
	defErr := ping(def)
	if defErr == nil {
		return def, "", false, nil
	}
	if !mayStart {
		return "", fmt.Sprintf("%s: %v; and no throwaway cluster without pgtest.Main in TestMain", def, defErr), false, nil
	}
	c, err := newCluster()
	if err != nil {
		return "", fmt.Sprintf("%s: %v; throwaway cluster: %v", def, defErr, err), false, nil
	}
	return c.url, "", false, c
}

func stopCluster() {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if running == nil {
		return
	}
	if err := running.remove(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	running = nil
}

func ping(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// execSQL runs one statement on a connection of its own. Tests create and drop a few schemas each:
// a connection per statement costs milliseconds and needs nothing closed at the end.
func execSQL(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// uniqueName is a Postgres name for tb's schema or database: the test's name, for whoever looks
// at a server left dirty by a killed test, and random bytes, for uniqueness.
func uniqueName(tb testing.TB) string {
	var b strings.Builder
	b.WriteString("pgtest_")
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	random := make([]byte, 6)
	_, _ = rand.Read(random)
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(random))
	return b.String()
}
