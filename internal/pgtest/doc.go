// Package pgtest gives tests a real Postgres: a schema of their own (Schema) or a database of
// their own (DB), dropped when the test ends, so tests run in parallel and leave nothing behind.
//
// The server is, in order of preference:
//
//  1. the one TEST_DATABASE_URL names (a postgres:// URL of a user allowed to create schemas and
//     databases); when it is set but cannot be reached, tests fail;
//  2. DefaultURL, the local server, when it answers within two seconds;
//  3. a throwaway cluster made with the local initdb and pg_ctl (/usr/lib/postgresql/*/bin) in a
//     temporary directory, listening on a free port of 127.0.0.1 with trust authentication, run
//     as the postgres user when the tests run as root (initdb refuses root).
//
// The throwaway cluster is started once per test binary and stopped, its directory removed, when
// the tests end. That is why a package using Schema or DB runs its tests through Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without Main no throwaway cluster is started, as nothing would stop it. A test binary that
// crashes (a panic, a kill) leaves the cluster running: its directory is $TMPDIR/pgtest-*.
//
// When no server can be had, a test calling Schema or DB is skipped with the reason, or fails
// when the environment variable CI is "true": CI must not go green by skipping.
//
// A test that must see Postgres go away and come back cannot stop the shared server, which
// other tests, and other test binaries, use at the same time. NewCluster gives it a cluster of
// its own, made as the throwaway one above, that it stops (as a crash would) and starts again
// on the same port and data, and that is removed when the test ends:
//
//	c := pgtest.NewCluster(t)
//	store := open(t, c.URL())
//	c.Stop(t)  // store's calls now fail: connection refused
//	c.Start(t) // and succeed again, the data intact
//
// Each costs an initdb, a second or two: use Schema or DB for everything else.
package pgtest
