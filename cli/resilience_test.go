package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/job"
)

// TestThrottledFaultyDRUIDEndsWithEveryUserUpdated sends against a DRUID that answers 20% of
// updates 500 or 503, resets 2% of the connections and throttles above 25 requests/s while
// the job asks for 100: every user still ends updated, and the job slowed down.
func TestThrottledFaultyDRUIDEndsWithEveryUserUpdated(t *testing.T) {
	const users = 300
	sim, url := startSim(t, druidsim.Config{FailRate: 0.2, ResetRate: 0.02, RateLimit: 25})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, runArgs(url, csvPath, db, "--rate", "100", "--burst", "60", "--retries", "12", "--concurrency", "16")...)
	require.Equal(t, 0, res.code, res.stderr)
	st := openCheckpoint(t, db)
	require.Len(t, rowsOf(t, st, "updated"), users, "every user ends updated")
	require.Empty(t, rowsOf(t, st, "failed"))
	for i := 1; i <= users; i++ {
		u, _ := sim.User(sample.ObjectID(i))
		require.Equal(t, expectedUser(sample.Row(i, "")), u.User, "user %d", i)
	}
	stats := sim.Stats()
	require.Positive(t, stats.Requests[429], "DRUID throttled the job")
	require.Positive(t, stats.Requests[500]+stats.Requests[503])
	require.Positive(t, stats.Resets)

	// The summary and the log say the job slowed down.
	require.Contains(t, res.stdout, "throttled")
	finished := logLine(t, res.stderr, "run finished")
	require.Positive(t, finished["slow_downs"])
	require.Less(t, finished["min_rate"], 100.0, "the rate fell under throttling")
	require.Contains(t, res.stderr, "slow", "each slow-down is logged")
}

// TestRotatedTokenFileKeepsTheRunGoing rotates the token while a run uses it: DRUID stops
// accepting the old one and an operator's process writes the new one to --token-file.
func TestRotatedTokenFileKeepsTheRunGoing(t *testing.T) {
	const users, workers = 3000, 8
	sim, url := startSim(t, druidsim.Config{Latency: time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	args := runArgs(url, csvPath, db, "--concurrency", "8")
	for i, a := range args {
		if a == "--token" {
			args[i], args[i+1] = "--token-file", tokenFile
		}
	}

	done := make(chan cliResult, 1)
	go func() { done <- runMain(t, args...) }()
	waitCalls(t, sim, 1000)
	// As a secrets agent rotates it: the new token is in the file, then the old one expires.
	// (The other order left a window where a worker's retry re-read the old token and failed
	// its user, under load.)
	const rotated = "tok-rotated-77Kq"
	require.NoError(t, os.WriteFile(tokenFile+".new", []byte(rotated+"\n"), 0o600))
	require.NoError(t, os.Rename(tokenFile+".new", tokenFile))
	sim.SetTokens(rotated) // the old token expires
	res := <-done
	require.Equal(t, 0, res.code, res.stderr)
	require.LessOrEqual(t, sim.Stats().Requests[401], int64(workers), "at most one 401 per worker")
	st := openCheckpoint(t, db)
	require.Len(t, rowsOf(t, st, "updated"), users)
	require.NotContains(t, res.stderr, rotated)
}

// TestChallengeCodeTokensPerUser runs with the app's client credentials: every update carries
// a fresh verifier whose S256 matches the challenge of its token, which DRUID checks.
func TestChallengeCodeTokensPerUser(t *testing.T) {
	const users = 500
	const clientSecret = "cs-Very-Secret-551"
	sim, url := startSim(t, druidsim.Config{ClientID: "app-client", ClientSecret: clientSecret})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")
	withSecret := func(db, secret string) []string {
		args := []string{"--log-level", "debug"}
		for _, a := range runArgs(url, csvPath, db, "--client-id", "app-client", "--client-secret", secret) {
			args = append(args, a)
		}
		for i, a := range args {
			if a == "--token" {
				return append(args[:i:i], args[i+2:]...)
			}
		}
		return args
	}
	args := withSecret(db, clientSecret)

	res := runMain(t, args...)
	require.Equal(t, 0, res.code, res.stderr)
	stats := sim.Stats()
	require.EqualValues(t, users+1, stats.TokenGrants, "one token per update, and one that proved the credentials before the first")
	require.Zero(t, stats.VerifierFailures, "every verifier matched its token's challenge, none reused")
	require.Len(t, rowsOf(t, openCheckpoint(t, db), "updated"), users)
	require.NotContains(t, res.stdout+res.stderr, clientSecret)

	// A wrong secret is the run's fault, not every user's: it stops at the start (exit 2) and
	// says which flags to check, never the secret.
	res = runMain(t, withSecret(filepath.Join(t.TempDir(), "cp2.db"), "wrong-Secret-9")...)
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "--client-secret")
	require.NotContains(t, res.stdout+res.stderr, "wrong-Secret-9")
}

// TestABadDayOfDRUID is the bad day, end to end: 20% of calls answered 500 or 503 at
// random, 2% of connections reset, 429 past 300 calls a second, against --rate 1000
// --concurrency 16 --retries 10. Every user ends updated, applied once, and the random faults
// never collapse the rate: only DRUID's "slower" cuts it, at most once a second. The time it
// takes is measured by `go run ./bench -only faults`, not here.
func TestABadDayOfDRUID(t *testing.T) {
	t.Parallel()
	const users = 3000
	sim, url := startSim(t, druidsim.Config{FailRate: 0.2, ResetRate: 0.02, RateLimit: 300})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.json")
	start := time.Now()
	res := runMain(t, runArgs(url, csvPath, filepath.Join(dir, "cp.db"),
		"--rate", "1000", "--concurrency", "16", "--retries", "10", "--summary-json", summary)...)
	t.Logf("3,000 users on a bad day: %s", time.Since(start).Round(time.Millisecond))
	require.Equal(t, 0, res.code, res.stderr)
	for i := 1; i <= users; i++ {
		u, _ := sim.User(sample.ObjectID(i))
		require.Equal(t, 1, u.Updates, "user %d applied once", i)
		require.Equal(t, expectedUser(sample.Row(i, "")), u.User, "user %d", i)
	}
	b, err := os.ReadFile(summary)
	require.NoError(t, err)
	var rep job.SummaryReport
	require.NoError(t, json.Unmarshal(b, &rep))
	require.EqualValues(t, users, rep.Counts.Updated)
	// Before throttling meant "slower" only, every 503 halved the rate: 132 cuts, down to 37/s.
	require.Less(t, rep.Throttling.SlowDowns, int64(30), "random faults do not cut the shared rate")
}
