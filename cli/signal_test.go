package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

func TestSIGINTDrainsRecordsAndExits130(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{Latency: 20 * time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: 5000})
	db := filepath.Join(t.TempDir(), "cp.db")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), runArgs(url, csvPath, db, "--concurrency", "8", "--timeout", "10s")...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())

	// Interrupt once the run is well under way.
	deadline := time.Now().Add(30 * time.Second)
	for sim.Stats().Total < 100 {
		require.True(t, time.Now().Before(deadline), "the run never got going")
		time.Sleep(5 * time.Millisecond) // polling the simulator's counter
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, errb.String())
	require.Equal(t, 130, exit.ExitCode(), errb.String())
	require.Contains(t, out.String(), "run interrupted")

	// Every user DRUID applied is recorded; the rest are not.
	st := openCheckpoint(t, db)
	updated := rowsOf(t, st, "updated")
	applied := 0
	for _, u := range sim.Users() {
		if u.Updates > 0 {
			applied++
			key := "crm-" + strings.TrimPrefix(u.User.ObjectID, "druid-")
			require.Contains(t, updated, key)
		}
	}
	require.Equal(t, applied, len(updated))
	require.Less(t, applied, 5000)

	// The next run resumes: it sends only what the first did not.
	sim.Reset()
	res := runMain(t, runArgs(url, csvPath, db)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, 5000-applied, sim.Stats().Total)
}
