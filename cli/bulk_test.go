package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/sink"
)

// bulkArgs is a run through DRUID's Bulk API, with the app's client credentials.
func bulkArgs(url, csvPath, db string, extra ...string) []string {
	args := runArgs(url, csvPath, db, append([]string{"--sink", "bulk", "--token", "",
		"--client-id", "fake-client", "--client-secret", "fake-secret", "--bulk-poll", "20ms"}, extra...)...)
	return args
}

// TestBulkMigratesAHundredThousandUsers: 100,000 users through the Bulk API in 100 uploads,
// each user updated or rejected as DRUID decided, the rejected listed with their field errors,
// and a rerun makes no call.
func TestBulkMigratesAHundredThousandUsers(t *testing.T) {
	t.Parallel()
	const users = 100_000
	sim, url := startSim(t, druidsim.Config{ClientID: "fake-client", ClientSecret: "fake-secret", BulkDelay: 20 * time.Millisecond})
	csvPath, tr := writeSample(t, sim, sample.Options{Users: users, Rejected: true})
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, bulkArgs(url, csvPath, db, "--rate", "0", "--concurrency", "8")...)
	require.Equal(t, 1, res.code, "some users DRUID refused: %s", res.stderr)
	stats := sim.Stats()
	require.EqualValues(t, 100, stats.BulkUploads, "a thousand users a call")
	require.Zero(t, stats.TokenGrants, "no update call: none asked for a challenge-code token")
	require.Less(t, stats.Total, int64(users/10), "a few calls a batch, not one a user")
	require.EqualValues(t, len(tr.RejectedKeys), stats.BulkLinesFailed)

	st := openCheckpoint(t, db)
	rejected := rowsOf(t, st, "rejected")
	require.Len(t, rejected, len(tr.RejectedKeys))
	for _, key := range tr.RejectedKeys {
		require.Contains(t, rejected, key)
		require.NotEmpty(t, rejected[key].Error, "DRUID's reason")
	}
	require.Len(t, rowsOf(t, st, "updated"), users-len(tr.RejectedKeys))
	for i := 1; i <= users; i += 997 {
		if u, ok := sim.User(sample.ObjectID(i)); ok && !strings.Contains(strings.Join(tr.RejectedKeys, ","), sample.Key(i)) {
			require.Equal(t, expectedUser(sample.Row(i, "")), u.User, "user %d", i)
		}
	}
	failures := runMain(t, "failures", "--checkpoint", db, "--job", "test")
	records, err := csv.NewReader(strings.NewReader(failures.stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 1+len(tr.RejectedKeys))

	sim.Reset()
	again := runMain(t, bulkArgs(url, csvPath, db, "--rate", "0")...)
	require.Equal(t, 1, again.code, again.stderr)
	require.Zero(t, sim.Stats().BulkUploads, "a rerun makes no call")
}

// TestBulkKeepsWhatTheSourceLacks shows the two sinks' difference: a field absent from the
// source is kept by a bulk run, and removed by an update run.
func TestBulkKeepsWhatTheSourceLacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sink string
		kept bool
	}{{"bulk", true}, {"update", false}} {
		t.Run(tc.sink, func(t *testing.T) {
			sim, url := startSim(t, druidsim.Config{ClientID: "fake-client", ClientSecret: "fake-secret", BulkDelay: time.Millisecond})
			require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: "d-1",
				Datas: map[string]sink.Data{
					"name":     {ObjectType: "user_data", Value: "Old"},
					"birthday": {ObjectType: "user_data", Value: "22/10/1974"},
				}}}))
			dir := t.TempDir()
			csvPath := filepath.Join(dir, "users.csv")
			require.NoError(t, os.WriteFile(csvPath, []byte("key,objectId,ids.email,datas.name,assertions.terms\nk1,d-1,ana@example.com,Ana,true\n"), 0o600))
			args := bulkArgs(url, csvPath, filepath.Join(dir, "cp.db"), "--sink", tc.sink)
			res := runMain(t, args...)
			require.Equal(t, 0, res.code, res.stderr)
			u, ok := sim.User("d-1")
			require.True(t, ok)
			require.Equal(t, "Ana", u.User.Datas["name"].Value)
			_, has := u.User.Datas["birthday"]
			require.Equal(t, tc.kept, has, "the birthday the source lacks")
		})
	}
}

// TestBulkKilledWhileBatchesProcessResumesThem: kill -9 while batches are processing, then run
// again: the new run polls the batches it finds submitted instead of uploading them again, and
// every user ends with an outcome.
func TestBulkKilledWhileBatchesProcessResumesThem(t *testing.T) {
	const users, size = 10_000, 500
	druid := sampleFakeDRUID(t, users, "--bulk-delay", "1500ms", "--client-id", "fake-client", "--client-secret", "fake-secret")
	csvPath, _ := writeSample(t, nil, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")
	args := append([]string{"--log-level", "warn"}, bulkArgs(druid.url, csvPath, db, "--rate", "0",
		"--concurrency", "4", "--bulk-size", fmt.Sprint(size))[2:]...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for druid.stats(t).BulkUploads < 4 {
		require.True(t, time.Now().Before(deadline), "the run never uploaded")
		time.Sleep(5 * time.Millisecond) // polling the simulator's counter
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	before := druid.stats(t).BulkUploads
	require.Less(t, before, int64(users/size), "killed while batches were processing")

	res := runBinary(t, args...)
	require.Equal(t, 0, res.code, res.stderr)
	total := druid.stats(t).BulkUploads
	t.Logf("uploads: %d before the kill, %d in all, for %d batches", before, total, users/size)
	require.LessOrEqual(t, total, int64(users/size)+4, "no batch uploaded twice but those in flight at the kill")
	got := druid.users(t)
	for i := 1; i <= users; i++ {
		require.Equal(t, expectedUser(sample.Row(i, "")), got[sample.ObjectID(i)].User, "user %d", i)
	}
	st := openCheckpoint(t, db)
	require.Len(t, rowsOf(t, st, "updated"), users, "every user ends with an outcome")
}

// TestBulkBatchesDRUIDFailsAreUploadedAgain: a batch DRUID ends failed applied nothing; it is
// uploaded again, and every user ends updated.
func TestBulkBatchesDRUIDFailsAreUploadedAgain(t *testing.T) {
	t.Parallel()
	const users = 5000
	sim, url := startSim(t, druidsim.Config{ClientID: "fake-client", ClientSecret: "fake-secret",
		BulkDelay: time.Millisecond, BulkFailRate: 0.3})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	db := filepath.Join(t.TempDir(), "cp.db")
	res := runMain(t, bulkArgs(url, csvPath, db, "--rate", "0", "--bulk-size", "250")...)
	stats := sim.Stats()
	t.Logf("%d uploads, %d failed by DRUID, for %d batches", stats.BulkUploads, stats.BulkFailed, users/250)
	if res.code == 1 {
		// A batch DRUID failed three times in a row has its users recorded failed, for the
		// next run: at a fail rate of 0.3, rare.
		require.Contains(t, res.stderr, "uploads of it failed")
		return
	}
	require.Equal(t, 0, res.code, res.stderr)
	require.Positive(t, stats.BulkFailed, "DRUID failed some batches")
	require.Greater(t, stats.BulkUploads, int64(users/250), "which were uploaded again")
	require.Len(t, rowsOf(t, openCheckpoint(t, db), "updated"), users)
}
