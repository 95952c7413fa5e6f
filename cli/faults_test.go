package cli

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

// TestAFaultOfTheRunStopsItAtTheStart: an endpoint that refuses connections, a wrong token or
// a wrong client secret is the run's fault, not every user's: exit 2 at once, a handful of
// requests at most, no user recorded failed, the flag named and never the secret.
func TestAFaultOfTheRunStopsItAtTheStart(t *testing.T) {
	t.Parallel()
	const users = 10_000
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	refusing := refusedURL(t)
	const wrongToken, wrongSecret = "WRONG-tok-8812", "WRONG-secret-7731"
	for name, tc := range map[string]struct {
		args   []string
		flag   string
		secret string
		atMost int64 // requests the simulator may see
	}{
		"refused endpoint": {args: []string{"--endpoint", refusing}, flag: "--endpoint"},
		"wrong token":      {args: []string{"--token", wrongToken}, flag: "--token", secret: wrongToken, atMost: 1},
		"wrong client secret": {args: []string{"--token", "", "--client-id", "fake-client", "--client-secret", wrongSecret},
			flag: "--client-secret", secret: wrongSecret, atMost: 2},
	} {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "cp.db")
			before := sim.Stats().Total
			start := time.Now()
			res := runMain(t, runArgs(url, csvPath, db, append([]string{"--rate", "0"}, tc.args...)...)...)
			took := time.Since(start)
			require.Equal(t, 2, res.code, res.stderr)
			require.Contains(t, res.stderr, tc.flag)
			if tc.secret != "" {
				require.NotContains(t, res.stdout+res.stderr, tc.secret)
			}
			require.LessOrEqual(t, sim.Stats().Total-before, tc.atMost, "a handful of requests at most")
			require.Less(t, took, 10*time.Second)
			st := runMain(t, "status", "--checkpoint", db, "--job", "test", "--json")
			require.NotContains(t, st.stdout, `"failed": 1`, "no user recorded failed: %s", st.stdout)
		})
	}
}

// refusedURL is the URL of a port of the loopback that refuses connections.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// TestDRUIDDownMidRun: DRUID gone for 10 s then back costs the run nothing; gone for longer
// than --druid-timeout stops it with exit 3, no user recorded failed for it, and the next run
// completes the job with no user lost or sent more than twice.
func TestDRUIDDownMidRun(t *testing.T) {
	t.Parallel()
	const users = 3000
	t.Run("back within the timeout", func(t *testing.T) {
		t.Parallel()
		sim, url := startSim(t, druidsim.Config{Latency: 2 * time.Millisecond})
		csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
		db := filepath.Join(t.TempDir(), "cp.db")
		done := make(chan cliResult, 1)
		go func() { done <- runMain(t, runArgs(url, csvPath, db, "--rate", "0", "--concurrency", "8")...) }()
		waitCalls(t, sim, 500)
		sim.SetDown(true)
		time.Sleep(10 * time.Second) // DRUID stays away for 10 s, as in the scenario
		sim.SetDown(false)
		res := <-done
		require.Equal(t, 0, res.code, res.stderr)
		require.Positive(t, sim.Stats().Dropped, "DRUID was down for a while")
		for _, u := range sim.Users() {
			require.Equal(t, 1, u.Updates, "every user applied once: %s", u.User.ObjectID)
		}
		require.Len(t, sim.Users(), users)
	})
	t.Run("down past the timeout", func(t *testing.T) {
		t.Parallel()
		sim, url := startSim(t, druidsim.Config{Latency: 2 * time.Millisecond})
		csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
		db := filepath.Join(t.TempDir(), "cp.db")
		done := make(chan cliResult, 1)
		go func() {
			done <- runMain(t, runArgs(url, csvPath, db, "--rate", "0", "--concurrency", "8", "--druid-timeout", "3s")...)
		}()
		waitCalls(t, sim, 500)
		sim.SetDown(true)
		res := <-done
		require.Equal(t, 3, res.code, res.stderr)
		require.Contains(t, res.stderr, "--druid-timeout")
		st := runMain(t, "failures", "--checkpoint", db, "--job", "test")
		require.Equal(t, "key,status_code,outcome,error\n", st.stdout, "no user recorded failed for DRUID's absence")

		sim.SetDown(false)
		res = runMain(t, runArgs(url, csvPath, db, "--rate", "0", "--concurrency", "8")...)
		require.Equal(t, 0, res.code, res.stderr)
		require.Len(t, sim.Users(), users)
		for _, u := range sim.Users() {
			require.GreaterOrEqual(t, u.Updates, 1, "no user lost: %s", u.User.ObjectID)
			require.LessOrEqual(t, u.Calls, 2, "no user sent more than twice: %s", u.User.ObjectID)
		}
	})
}
