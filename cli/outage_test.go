package cli

import (
	"bytes"
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/sample"
)

// waitCalls waits until the simulator has answered n calls.
func waitCalls(t *testing.T, sim *druidsim.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for sim.Stats().Total < n {
		require.True(t, time.Now().Before(deadline), "the run never got going")
		time.Sleep(5 * time.Millisecond) // polling the simulator's counter
	}
}

// agrees checks the checkpoint row by row against the simulator: every user holds exactly its
// mapped data in DRUID and is recorded as sent (updated, or unchanged when a call in flight at
// the stop had already applied it).
func agrees(t *testing.T, sim *druidsim.Server, dsn string, users int) {
	t.Helper()
	st := openCheckpoint(t, dsn)
	updated := rowsOf(t, st, "updated", "unchanged")
	require.Len(t, updated, users)
	for i := 1; i <= users; i++ {
		u, ok := sim.User(sample.ObjectID(i))
		require.True(t, ok)
		require.Equal(t, expectedUser(sample.Row(i, "")), u.User, "user %d", i)
		require.Contains(t, updated, sample.Key(i))
	}
}

func TestPostgresCheckpointRestartedMidRun(t *testing.T) {
	const users = 3000
	cluster := pgtest.NewCluster(t)
	sim, url := startSim(t, druidsim.Config{Latency: time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})

	done := make(chan cliResult, 1)
	go func() { done <- runMain(t, runArgs(url, csvPath, cluster.URL(), "--concurrency", "8")...) }()
	waitCalls(t, sim, 500)
	cluster.Stop(t)
	time.Sleep(time.Second) // the database stays down a while, as in a real restart
	cluster.Start(t)
	res := <-done
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stderr, "checkpoint unreachable")
	require.Contains(t, res.stderr, "checkpoint reachable again")
	agrees(t, sim, cluster.URL(), users)
}

func TestPostgresCheckpointDownPastTheTimeoutExitsThree(t *testing.T) {
	const users, workers = 3000, 8
	cluster := pgtest.NewCluster(t)
	sim, url := startSim(t, druidsim.Config{Latency: time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})

	done := make(chan cliResult, 1)
	go func() {
		done <- runMain(t, runArgs(url, csvPath, cluster.URL(), "--concurrency", "8", "--checkpoint-timeout", "2s")...)
	}()
	waitCalls(t, sim, 500)
	cluster.Stop(t)
	res := <-done
	require.Equal(t, 3, res.code, res.stderr)
	require.Contains(t, res.stderr, "--checkpoint-timeout")
	applied := sim.Stats().Total
	require.Less(t, applied, int64(users), "the run stopped taking records")

	// The database comes back; the next run resends at most what was in flight, and completes.
	cluster.Start(t)
	st := openCheckpoint(t, cluster.URL())
	recorded := len(rowsOf(t, st, "updated"))
	require.LessOrEqual(t, applied-int64(recorded), int64(2*workers), "only the calls in flight and the outcomes not yet flushed went unrecorded")
	sim.Reset()
	res = runMain(t, runArgs(url, csvPath, cluster.URL())...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, users-recorded, sim.Stats().Total, "the rerun sends every user not recorded, once")
	agrees(t, sim, cluster.URL(), users)
}

// TestSIGTERMDuringCheckpointOutageExits130WithinTheDrain: SIGTERM 5 s into an outage of a
// Postgres checkpoint, with --checkpoint-timeout 2m and --timeout 5s, ends the process within
// 15 s, past which Kubernetes would kill it, with exit 130 and the unrecorded outcomes said.
func TestSIGTERMDuringCheckpointOutageExits130WithinTheDrain(t *testing.T) {
	const users = 5000
	cluster := pgtest.NewCluster(t)
	sim, url := startSim(t, druidsim.Config{Latency: time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), runArgs(url, csvPath, cluster.URL(),
		"--concurrency", "8", "--checkpoint-timeout", "2m", "--timeout", "5s")...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	waitCalls(t, sim, 500)
	cluster.Stop(t)
	time.Sleep(5 * time.Second) // 5 s into the outage, as in the scenario
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	signalled := time.Now()
	err := cmd.Wait()
	took := time.Since(signalled)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, errb.String())
	require.Equal(t, 130, exit.ExitCode(), errb.String())
	require.Less(t, took, 15*time.Second, "gone within the grace period: %s", errb.String())
	require.Contains(t, out.String(), "run interrupted")
	require.Contains(t, errb.String(), "outcomes_unrecorded")
	require.NotContains(t, errb.String(), "too few workers", "no advice while the checkpoint explains the pace")
}
