package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/pgtest"
	"druid-migrate/sink"
)

// recordRow is one row of a test export: its key, the DRUID user it updates, and its name.
type recordRow struct{ key, objectID, name string }

// writeRecords writes rows as a CSV file, byte for byte (no quoting: the values hold no comma
// or quote), seeds the simulator with their users, and returns the file.
func writeRecords(t *testing.T, sim *druidsim.Server, header string, rows []recordRow) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(header + "\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s@example.com,%s,true\n", r.key, r.objectID, r.objectID, r.name)
		require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: r.objectID}}))
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// failuresOf returns the job's failures as the failures command lists them, by key.
func failuresOf(t *testing.T, checkpointPath string) map[string]failureReport {
	t.Helper()
	res := runMain(t, "failures", "--checkpoint", checkpointPath, "--job", "test", "--format", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var list []failureReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &list))
	out := map[string]failureReport{}
	for _, f := range list {
		out[f.Key] = f
	}
	return out
}

// TestKeysThatCannotBeStoredAreInvalidByLine: a key in Latin-1, with a NUL, or of 10 KB, once
// stopped every run at the checkpoint write (exit 3) after sending the NUL one. Each is now an
// invalid record under its line, never sent, and the other users are updated: exit 1, run after
// run, on either checkpoint. The keys never reach the checkpoint or the log as they are.
func TestKeysThatCannotBeStoredAreInvalidByLine(t *testing.T) {
	long := strings.Repeat("k", 10_240)
	rows := []recordRow{
		{"k1", "d1", "Ana"},
		{"M\xfcller", "d-latin1", "Hans"}, // line 3
		{"k2", "d2", "Bea"},
		{"nul\x00key", "d-nul", "Nul"}, // line 5
		{"k3", "d3", "Carl"},
		{long, "d-long", "Long"}, // line 7
		{"k4", "d4", "Dora"},
	}
	want := map[string][]string{
		"#line 3": {"line 3", "invalid UTF-8 in field 1"},
		"#line 5": {"line 5: key:", `"nul\x00key" holds the control character U+0000`},
		"#line 7": {"line 7: key:", "10240 bytes long, more than the 1024", `"kkkk`},
	}
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			sim, url := startSim(t, druidsim.Config{})
			csvPath := writeRecords(t, sim, "key,objectId,ids.email,datas.name,assertions.terms", rows)
			checkpointPath := filepath.Join(t.TempDir(), "cp.db")
			if store == "postgres" {
				checkpointPath = pgtest.DB(t)
			}

			for run := 1; run <= 2; run++ {
				res := runMain(t, runArgs(url, csvPath, checkpointPath)...)
				require.Equal(t, 1, res.code, "run %d: %s", run, res.stderr)
				for _, leak := range []string{"\xfc", "\x00", `\u0000`, long[:200]} {
					require.NotContains(t, res.stdout+res.stderr, leak, "run %d", run)
				}
				for _, r := range rows {
					u, ok := sim.User(r.objectID)
					require.True(t, ok)
					if strings.HasPrefix(r.objectID, "d-") {
						require.Zero(t, u.Calls, "run %d: line of %s is never sent", run, r.objectID)
					} else {
						require.Equal(t, 1, u.Calls, "run %d: %s is sent once, then skipped", run, r.objectID)
						require.Equal(t, r.name, u.User.Datas["name"].Value)
					}
				}

				failures := failuresOf(t, checkpointPath)
				require.Len(t, failures, len(want), "run %d: %v", run, failures)
				for key, parts := range want {
					f, ok := failures[key]
					require.True(t, ok, "run %d: no failure under %s: %v", run, key, failures)
					require.Equal(t, "invalid", f.Outcome)
					require.Zero(t, f.StatusCode)
					for _, p := range parts {
						require.Contains(t, f.Error, p, key)
					}
					require.NotContains(t, f.Error, long[:200])
				}
			}
			st := openCheckpoint(t, checkpointPath)
			require.Len(t, rowsOf(t, st, "updated"), 4)
		})
	}
}

// TestControlCharactersInNamesAreInvalidByLineAndColumn: a name holding a NUL, an ESC, a NEL
// (U+0085) or a line separator (U+2028) is corruption, not data: the record is invalid, named
// by its line and column, and never sent.
func TestControlCharactersInNamesAreInvalidByLineAndColumn(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	rows := []recordRow{
		{"k1", "d1", "Ana"},
		{"k2", "d-nul", "Nu\x00ñez"},             // line 3
		{"k3", "d-esc", "\x1b[2JBea"},            // line 4
		{"k4", "d-nel", "Carl\u0085Second line"}, // line 5
		{"k5", "d-ls", "Dora\u2028Second line"},  // line 6
		{"k6", "d2", "Eva\tTab"},                 // TAB is data
		{"k7", "d3", "Fay García"},
	}
	csvPath := writeRecords(t, sim, "key,objectId,ids.email,First Name,assertions.terms", rows)
	mappingPath := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(mappingPath, []byte("columns:\n  First Name: datas.name\n"), 0o600))
	checkpointPath := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, runArgs(url, csvPath, checkpointPath, "--mapping", mappingPath)...)
	require.Equal(t, 1, res.code, res.stderr)
	for _, r := range rows {
		u, ok := sim.User(r.objectID)
		require.True(t, ok)
		if strings.HasPrefix(r.objectID, "d-") {
			require.Zero(t, u.Calls, "%s is never sent", r.objectID)
			continue
		}
		require.Equal(t, 1, u.Calls, r.objectID)
		require.Equal(t, r.name, u.User.Datas["name"].Value)
	}

	failures := failuresOf(t, checkpointPath)
	want := map[string]string{
		"k2": `line 3 (key "k2"): datas.name (column "First Name"): "Nu\x00ñez" holds the control character U+0000`,
		"k3": `line 4 (key "k3"): datas.name (column "First Name"): "\x1b[2JBea" holds the control character U+001B`,
		"k4": `line 5 (key "k4"): datas.name (column "First Name"): "Carl\u0085Second line" holds the control character U+0085`,
		"k5": `line 6 (key "k5"): datas.name (column "First Name"): "Dora\u2028Second line" holds the control character U+2028`,
	}
	require.Len(t, failures, len(want), "%v", failures)
	for key, reason := range want {
		require.Equal(t, "invalid", failures[key].Outcome, key)
		require.Equal(t, reason, failures[key].Error, key)
	}
	for _, raw := range []string{"\x00", "\x1b", "\u0085", "\u2028"} {
		require.NotContains(t, res.stdout+res.stderr, raw, "the log shows the values escaped")
	}
}

// TestAQueryThatWritesIsAConfigurationError: the source's query runs read-only, so a --query
// selecting a function that deletes rows stops the run at its start with exit 2, naming the
// read-only transaction, having sent nothing; and the rows are still there.
func TestAQueryThatWritesIsAConfigurationError(t *testing.T) {
	const n = 20
	dsn, mappingPath := crmTable(t, n)
	execSQL(t, dsn, `CREATE FUNCTION zap() RETURNS int LANGUAGE plpgsql AS $$
		BEGIN DELETE FROM crm_users; RETURN 0; END $$`)
	sim, url := startSim(t, druidsim.Config{})
	checkpointPath := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, "--log-format", "json", "run",
		"--source", dsn, "--query", "SELECT c.*, zap() FROM crm_users c", "--mapping", mappingPath,
		"--endpoint", url, "--token", testToken, "--app-id", "app-1", "--entry-point", testEntryPoint,
		"--checkpoint", checkpointPath, "--job", "test", "--rate", "0")
	require.Equal(t, 2, res.code, res.stderr)
	for _, w := range []string{"--query", "read-only transaction", "SQLSTATE 25006"} {
		require.Contains(t, res.stderr, w)
	}
	require.Zero(t, sim.Stats().Total, "nothing is sent")

	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var left int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM crm_users`).Scan(&left))
	require.Equal(t, n, left, "the rows are still there")
}
