package cli

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/sample"
)

// TestKillNineThenRerunResendsOnlyWhatWasInFlight kills a run of 20,000 users with SIGKILL, as
// a node failure would, and runs the job again.
func TestKillNineThenRerunResendsOnlyWhatWasInFlight(t *testing.T) {
	const users, workers = 20_000, 16
	druid := sampleFakeDRUID(t, users, "--latency", "2ms")
	csvPath, _ := writeSample(t, nil, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")
	args := append([]string{"--log-level", "warn"}, runArgs(druid.url, csvPath, db, "--concurrency", fmt.Sprint(workers))[2:]...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for druid.stats(t).Total < 5000 {
		require.True(t, time.Now().Before(deadline), "the run never got going")
		time.Sleep(10 * time.Millisecond) // polling the simulator's counter
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.Less(t, druid.stats(t).Total, int64(users), "killed mid-run")

	res := runBinary(t, args...)
	require.Equal(t, 0, res.code, res.stderr)

	twice := 0
	dumped := druid.users(t)
	require.Len(t, dumped, users)
	for i := 1; i <= users; i++ {
		u := dumped[sample.ObjectID(i)]
		want := expectedUser(sample.Row(i, ""))
		require.Equal(t, want, u.User, "user %d", i)
		if u.Calls > 1 {
			twice++
		}
	}
	t.Logf("users sent more than once after kill -9: %d (limit %d)", twice, 2*workers)
	require.LessOrEqual(t, twice, 2*workers)
}
