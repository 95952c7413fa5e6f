package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

// swapVerb is args with its command, run, replaced by verb: what an operator does to a working
// command line.
func swapVerb(args []string, verb string) []string {
	out := slices.Clone(args)
	i := slices.Index(out, "run")
	out[i] = verb
	return out
}

// TestDryRunTakesEveryFlagOfAWorkingRun runs the argument lists and environment of working runs
// through dry-run: it exits 0 or 1, never 2, makes no call and writes no checkpoint row; with
// the job's checkpoint it says what run would send and skip.
func TestDryRunTakesEveryFlagOfAWorkingRun(t *testing.T) {
	const users = 40
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	dir := t.TempDir()
	db := filepath.Join(dir, "cp.db")
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	summary := filepath.Join(dir, "summary.json")
	common := []string{"--summary-json", summary, "--metrics-addr", "127.0.0.1:0", "--concurrency", "4"}

	withToken := runArgs(url, csvPath, db, append(common, "--force")...)
	withTokenFile := slices.Clone(withToken)
	i := slices.Index(withTokenFile, "--token")
	withTokenFile[i], withTokenFile[i+1] = "--token-file", tokenFile

	for _, args := range [][]string{withToken, withTokenFile} {
		dry := runMain(t, swapVerb(args, "dry-run")...)
		require.Equal(t, 0, dry.code, dry.stderr)
		require.Len(t, strings.Split(strings.TrimSpace(dry.stdout), "\n"), users)
		require.Contains(t, dry.stderr, "run --force would send all 40 valid users")
		require.Zero(t, sim.Stats().Total, "dry-run makes no call")
		require.NoFileExists(t, db, "dry-run creates no checkpoint")
		require.NoFileExists(t, summary, "dry-run writes no run summary")
	}

	// The same from the environment: DRUID_TOKEN_FILE and the rest.
	t.Setenv("DRUID_TOKEN_FILE", tokenFile)
	t.Setenv("DRUID_JOB", "test")
	t.Setenv("DRUID_CHECKPOINT", db)
	t.Setenv("DRUID_CONCURRENCY", "4")
	t.Setenv("DRUID_SUMMARY_JSON", summary)
	t.Setenv("DRUID_METRICS_ADDR", "127.0.0.1:0")
	envArgs := []string{"--log-format", "json", "run", "--source", csvPath, "--endpoint", url,
		"--app-id", "app-1", "--entry-point", testEntryPoint, "--rate", "0"}
	dry := runMain(t, swapVerb(envArgs, "dry-run")...)
	require.Equal(t, 0, dry.code, dry.stderr)
	require.Zero(t, sim.Stats().Total)
	require.NoFileExists(t, db)

	// Once run has sent everyone, dry-run says it would skip them, and writes nothing.
	res := runMain(t, envArgs...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, users, sim.Stats().Total)
	before := runMain(t, "runs", "--checkpoint", db, "--job", "test")
	statusBefore := runMain(t, "status", "--checkpoint", db, "--job", "test")
	sim.Reset()

	dry = runMain(t, swapVerb(envArgs, "dry-run")...)
	require.Equal(t, 0, dry.code, dry.stderr)
	require.Contains(t, dry.stderr, "run would send 0 and skip 40")
	require.Zero(t, sim.Stats().Total)
	require.Equal(t, before.stdout, runMain(t, "runs", "--checkpoint", db, "--job", "test").stdout, "dry-run records no run")
	require.Equal(t, statusBefore.stdout, runMain(t, "status", "--checkpoint", db, "--job", "test").stdout)

	// A changed user is one run would send.
	rewriteRows(t, csvPath, 3, "changed")
	dry = runMain(t, swapVerb(envArgs, "dry-run")...)
	require.Equal(t, 0, dry.code, dry.stderr)
	require.Contains(t, dry.stderr, "run would send 3 and skip 37")
}
