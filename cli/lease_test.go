package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/sample"
)

// TestOneRunOfAJobAtATime starts a run of a job, then a second one of the same job, on SQLite
// and on Postgres: the second exits 4 at once, naming the holder, having read and sent nothing;
// once the first is killed with SIGKILL, a new run takes the job at once and completes it.
func TestOneRunOfAJobAtATime(t *testing.T) {
	for name, checkpoint := range map[string]func(t testing.TB) string{
		"sqlite":   func(t testing.TB) string { return filepath.Join(t.TempDir(), "cp.db") },
		"postgres": pgtest.DB,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const users = 3000
			druid := sampleFakeDRUID(t, users, "--latency", "20ms")
			csvPath, _ := writeSample(t, nil, sample.Options{Users: users})
			cp := checkpoint(t)
			args := func(source string) []string {
				return append([]string{"--log-level", "warn"}, runArgs(druid.url, source, cp, "--concurrency", "4")[2:]...)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			first := exec.CommandContext(ctx, binary(t), args(csvPath)...)
			require.NoError(t, first.Start())
			deadline := time.Now().Add(time.Minute)
			for druid.stats(t).Total < 100 {
				require.True(t, time.Now().Before(deadline), "the first run never got going")
				time.Sleep(10 * time.Millisecond) // polling the simulator's counter
			}

			// The second run is given a source that does not exist: exit 4, not 2, shows that
			// it stopped before reading anything.
			start := time.Now()
			second := runBinary(t, args(filepath.Join(t.TempDir(), "no-such.csv"))...)
			took := time.Since(start)
			require.Equal(t, 4, second.code, second.stderr)
			require.Less(t, took, 5*time.Second, "refused at once, not after waiting")
			host, _ := os.Hostname()
			require.Contains(t, second.stderr, fmt.Sprintf("pid %d", first.Process.Pid))
			require.Contains(t, second.stderr, host)
			require.Contains(t, second.stderr, "run 1")

			require.NoError(t, first.Process.Signal(syscall.SIGKILL))
			_ = first.Wait()
			third := runBinary(t, args(csvPath)...)
			require.Equal(t, 0, third.code, third.stderr)
			runs := runMain(t, "runs", "--checkpoint", cp, "--job", "test")
			require.Equal(t, 0, runs.code, runs.stderr)
			require.Equal(t, 3, bytes.Count([]byte(runs.stdout), []byte("\n")), "the header, the killed run and the third: the second never started one:\n%s", runs.stdout)
			got := druid.users(t)
			for i := 1; i <= users; i++ {
				require.Equal(t, expectedUser(sample.Row(i, "")), got[sample.ObjectID(i)].User, "user %d", i)
			}
		})
	}
}
