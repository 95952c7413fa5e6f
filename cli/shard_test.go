package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/sample"
	"druid-migrate/sink"
)

// TestThreeShardsOnOnePostgresCheckpoint runs a job as three shard processes sharing one
// Postgres checkpoint, and kills one with SIGKILL mid-run before starting it again: every user
// ends updated, DRUID applied each once (a handful resent after the kill), the shards' union is
// the source, status counts every user, and a fourth process for a running shard exits 4.
func TestThreeShardsOnOnePostgresCheckpoint(t *testing.T) {
	const users, workers = 30_000, 8
	druid := sampleFakeDRUID(t, users, "--latency", "1ms")
	csvPath, _ := writeSample(t, nil, sample.Options{Users: users})
	dsn := pgtest.DB(t)
	args := func(shard string) []string {
		return append([]string{"--log-level", "warn"}, runArgs(druid.url, csvPath, dsn,
			"--concurrency", fmt.Sprint(workers), "--shard", shard)[2:]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := func(shard string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, binary(t), args(shard)...)
		require.NoError(t, cmd.Start())
		return cmd
	}
	shards := []*exec.Cmd{start("0/3"), start("1/3"), start("2/3")}
	deadline := time.Now().Add(time.Minute)
	for druid.stats(t).Total < 6000 {
		require.True(t, time.Now().Before(deadline), "the shards never got going")
		time.Sleep(10 * time.Millisecond) // polling the simulator's counter
	}

	// A fourth process for a shard that is running: refused at once.
	fourth := runBinary(t, args("1/3")...)
	require.Equal(t, 4, fourth.code, fourth.stderr)
	require.Contains(t, fourth.stderr, `shard "1/3"`)

	require.NoError(t, shards[1].Process.Signal(syscall.SIGKILL))
	_ = shards[1].Wait()
	again := runBinary(t, args("1/3")...)
	require.Equal(t, 0, again.code, again.stderr)
	for _, i := range []int{0, 2} {
		require.NoError(t, shards[i].Wait(), "shard %d/3", i)
	}

	got := druid.users(t)
	require.Len(t, got, users)
	resent := 0
	for i := 1; i <= users; i++ {
		u := got[sample.ObjectID(i)]
		require.Equal(t, expectedUser(sample.Row(i, "")), u.User, "user %d", i)
		require.Equal(t, 1, u.Updates, "user %d applied once", i)
		resent += u.Calls - 1
	}
	t.Logf("users sent again after the kill: %d (bound %d)", resent, 2*workers)
	require.LessOrEqual(t, resent, 2*workers)

	status := runMain(t, "status", "--checkpoint", dsn, "--job", "test", "--json")
	require.Equal(t, 0, status.code, status.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(status.stdout), &rep))
	require.EqualValues(t, users, rep.Users)
	// A user whose update the kill left unrecorded is sent again, and DRUID, which has it
	// already, answers 304: unchanged.
	require.EqualValues(t, users, rep.Outcomes["updated"]+rep.Outcomes["unchanged"])
	require.EqualValues(t, resent, rep.Outcomes["unchanged"])

	// Each shard's status counts its own users; together, every user once.
	total := int64(0)
	for i := range 3 {
		res := runMain(t, "status", "--checkpoint", dsn, "--job", "test", "--json", "--shard", fmt.Sprintf("%d/3", i))
		require.Equal(t, 0, res.code, res.stderr)
		var r statusReport
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &r))
		require.Positive(t, r.Users)
		total += r.Users
	}
	require.EqualValues(t, users, total, "the shards' union is the source, without overlap")
	runs := runMain(t, "runs", "--checkpoint", dsn, "--job", "test")
	for _, shard := range []string{"0/3", "1/3", "2/3"} {
		require.Contains(t, runs.stdout, shard)
	}
}

// TestShardsFromAnIndexedJobSplitAsShardDoes: --shards 3 with JOB_COMPLETION_INDEX i keeps the
// records --shard i/3 keeps, and the three shards together keep every record once.
func TestShardsFromAnIndexedJobSplitAsShardDoes(t *testing.T) {
	csvPath, _ := writeSample(t, nil, sample.Options{Users: 3000})
	keysOf := func(res cliResult) map[string]bool {
		t.Helper()
		require.Equal(t, 0, res.code, res.stderr)
		keys := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(res.stdout))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var req sink.Request
			require.NoError(t, json.Unmarshal(sc.Bytes(), &req))
			keys[req.Object.ObjectID] = true
		}
		return keys
	}
	seen := map[string]int{}
	for i := range 3 {
		byShard := keysOf(runMain(t, "dry-run", "--source", csvPath, "--app-id", "a", "--shard", fmt.Sprintf("%d/3", i)))
		t.Setenv("JOB_COMPLETION_INDEX", fmt.Sprint(i))
		byIndex := keysOf(runMain(t, "dry-run", "--source", csvPath, "--app-id", "a", "--shards", "3"))
		require.Equal(t, byShard, byIndex, "shard %d", i)
		require.NotEmpty(t, byShard)
		for k := range byShard {
			seen[k]++
		}
	}
	require.Len(t, seen, 3000, "every record in a shard")
	for k, n := range seen {
		require.Equal(t, 1, n, "%s in one shard only", k)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "")
	res := runMain(t, "dry-run", "--source", csvPath, "--app-id", "a", "--shards", "3")
	require.Equal(t, 2, res.code, "--shards without JOB_COMPLETION_INDEX: %s", res.stderr)
	require.Contains(t, res.stderr, "JOB_COMPLETION_INDEX")
}
