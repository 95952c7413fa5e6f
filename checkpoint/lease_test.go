package checkpoint

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// refusedAtOnce bounds how long a refused Lease may take: it must not wait for the holder.
const refusedAtOnce = time.Second

func conformLeaseIsRefusedAtOnceNamingItsHolder(t *testing.T, c conformer) {
	ctx := context.Background()
	s, other := c.twice(t)

	since := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	lease, err := s.Lease(ctx, "nightly", "", Holder{Host: "web-1", PID: 4242, Since: since})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease.Release() })
	want := Holder{Host: "web-1", PID: 4242, Since: since.UTC().Truncate(time.Microsecond)}
	require.Equal(t, want, lease.Holder())

	for name, store := range map[string]Store{"another store": other, "the same store": s} {
		start := time.Now()
		_, err := store.Lease(ctx, "nightly", "", Holder{})
		require.Less(t, time.Since(start), refusedAtOnce, name)
		require.ErrorIs(t, err, ErrLeased, name)
		var leased *LeasedError
		require.ErrorAs(t, err, &leased, name)
		require.Equal(t, LeasedError{Job: "nightly", Holder: want}, *leased, name)
		require.EqualError(t, err, `checkpoint: job "nightly" is held by another run: host "web-1", pid 4242, `+
			`run not yet started, since 2024-01-02T02:04:05Z`, name)
	}

	// The run id, once the run has started, is what the next refused run is told.
	require.NoError(t, lease.SetRunID(ctx, 17))
	want.RunID = 17
	require.Equal(t, want, lease.Holder())
	_, err = other.Lease(ctx, "nightly", "", Holder{})
	var leased *LeasedError
	require.ErrorAs(t, err, &leased)
	require.Equal(t, want, leased.Holder)
	require.ErrorContains(t, err, "run 17,")
	require.NoError(t, lease.Check(ctx))
}

func conformLeaseReleasedIsTakenByTheNext(t *testing.T, c conformer) {
	ctx := context.Background()
	s, other := c.twice(t)

	first, err := s.Lease(ctx, "nightly", "2/4", Holder{Host: "web-1"})
	require.NoError(t, err)
	require.NoError(t, first.Release())
	require.NoError(t, first.Release(), "Release is idempotent")
	require.ErrorIs(t, first.Check(ctx), ErrLeaseLost)
	require.Error(t, first.SetRunID(ctx, 3))

	second, err := other.Lease(ctx, "nightly", "2/4", Holder{Host: "web-2"})
	require.NoError(t, err, "the released lease is free")
	_, err = s.Lease(ctx, "nightly", "2/4", Holder{})
	var leased *LeasedError
	require.ErrorAs(t, err, &leased)
	require.Equal(t, "web-2", leased.Holder.Host, "the second holder is named, not the first")
	require.NoError(t, second.Release())

	// A holder whose description is gone is still refused the lease: the lock is what counts.
	third, err := s.Lease(ctx, "nightly", "2/4", Holder{})
	require.NoError(t, err)
	defer third.Release()
	forget := func() error {
		if pg, ok := s.(*Postgres); ok {
			_, err := pg.pool.Exec(ctx, pg.sql.forgetLease, "nightly", "2/4")
			return err
		}
		_, err := s.(*SQLite).db.ExecContext(ctx, sqliteForgetLease, "nightly", "2/4")
		return err
	}
	require.NoError(t, forget())
	_, err = other.Lease(ctx, "nightly", "2/4", Holder{})
	require.ErrorAs(t, err, &leased)
	require.Equal(t, Holder{}, leased.Holder)
	require.EqualError(t, err, `checkpoint: job "nightly" shard "2/4" is held by another run, which has not said who it is`)
}

func conformLeasesOfOtherJobsAndShardsAreIndependent(t *testing.T, c conformer) {
	ctx := context.Background()
	s, other := c.twice(t)

	// Awkward names too: the lock is named by a hash, never by the text.
	leases := [][2]string{{"nightly", ""}, {"nightly", "1/2"}, {"nightly", "2/2"}, {"backfill", ""},
		{"backfill", "1/2"}, {"../../etc/passwd", ""}, {"日本語 job", "1/2"}, {"", ""}}
	for i, js := range leases {
		store := s
		if i%2 == 1 {
			store = other
		}
		lease, err := store.Lease(ctx, js[0], js[1], Holder{})
		require.NoError(t, err, "job %q shard %q", js[0], js[1])
		t.Cleanup(func() { _ = lease.Release() })
	}
	for _, js := range leases {
		_, err := s.Lease(ctx, js[0], js[1], Holder{})
		require.ErrorIs(t, err, ErrLeased, "job %q shard %q", js[0], js[1])
	}
}

func conformLeaseDefaultsItsHolderToThisProcess(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	host, err := os.Hostname()
	require.NoError(t, err)
	before := time.Now()
	lease, err := s.Lease(ctx, "nightly", "", Holder{})
	require.NoError(t, err)
	defer lease.Release()
	h := lease.Holder()
	require.Equal(t, host, h.Host)
	require.Equal(t, os.Getpid(), h.PID)
	require.Zero(t, h.RunID)
	require.WithinRange(t, h.Since, before.Add(-time.Millisecond), time.Now())
	require.Equal(t, time.UTC, h.Since.Location())
}

func conformLeaseRejectsWhatItCannotName(t *testing.T, c conformer) {
	ctx := context.Background()
	s := c.fresh(t)
	for _, js := range [][2]string{{"bad\xff", ""}, {"n\x00ul", ""}, {"nightly", "1\x00/2"}} {
		_, err := s.Lease(ctx, js[0], js[1], Holder{})
		require.Error(t, err, "job %q shard %q", js[0], js[1])
		require.NotErrorIs(t, err, ErrLeased)
	}
}

func conformLeaseBeforeMigrateFailsAndLeavesTheLeaseFree(t *testing.T, c conformer) {
	ctx := context.Background()
	dsn, opts := c.location(t)
	s := c.open(t, dsn, opts)
	_, err := s.Lease(ctx, "nightly", "", Holder{})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrLeased)

	require.NoError(t, s.Migrate(ctx))
	lease, err := s.Lease(ctx, "nightly", "", Holder{})
	require.NoError(t, err, "the failed Lease must have let its lock go")
	require.NoError(t, lease.Release())
}

// A lease dies with its process, kill -9 included: the next run takes it without anyone
// unlocking anything.
func conformLeaseDiesWithItsProcess(t *testing.T, c conformer) {
	ctx := context.Background()
	dsn, opts := c.location(t)
	s := c.open(t, dsn, opts)
	require.NoError(t, s.Migrate(ctx))

	child := startLeaseHolder(t, dsn, opts, "nightly", "1/2")
	_, err := s.Lease(ctx, "nightly", "1/2", Holder{})
	var leased *LeasedError
	require.ErrorAs(t, err, &leased)
	require.Equal(t, child.Process.Pid, leased.Holder.PID)
	require.EqualValues(t, leaseHolderRunID, leased.Holder.RunID)

	require.NoError(t, child.Process.Kill()) // SIGKILL: no deferred call, no exit handler runs
	_ = child.Wait()

	// The operating system drops a file lock as the process ends. Postgres ends the session
	// when it reads the end of its connection, a moment later.
	start := time.Now()
	attempts := 0
	var lease *Lease
	require.Eventually(t, func() bool {
		attempts++
		lease, err = s.Lease(ctx, "nightly", "1/2", Holder{})
		return !errors.Is(err, ErrLeased)
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, err)
	defer lease.Release()
	t.Logf("the lease was free %v after the kill, at attempt %d", time.Since(start), attempts)
	require.Equal(t, os.Getpid(), lease.Holder().PID)
}

// leaseHolderEnv, set, makes the test binary a process that takes the lease it describes and
// holds it until its standard input closes or it is killed.
const leaseHolderEnv = "CHECKPOINT_TEST_LEASE_HOLDER"

// leaseHolderRunID is the run id the holder process describes itself with.
const leaseHolderRunID = 77

// leaseHolderSpec is what the holder process is told, as JSON in leaseHolderEnv.
type leaseHolderSpec struct {
	DSN, Schema, Job, Shard string
}

// startLeaseHolder starts a process that holds the lease of job and shard on the checkpoint at
// dsn, and returns once it holds it. The process is killed when the test ends.
func startLeaseHolder(t *testing.T, dsn string, opts Options, job, shard string) *exec.Cmd {
	t.Helper()
	spec, err := json.Marshal(leaseHolderSpec{DSN: dsn, Schema: opts.Schema, Job: job, Shard: shard})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), leaseHolderEnv+"="+string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the holder ended before it held the lease: %s", &stderr)
	require.Equal(t, "leased\n", line, "holder: %s", &stderr)
	return cmd
}

// holdLease is the holder process of startLeaseHolder: it takes the lease, says so on stdout,
// and keeps it until stdin closes. It returns the process's exit code.
func holdLease() int {
	var spec leaseHolderSpec
	if err := json.Unmarshal([]byte(os.Getenv(leaseHolderEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	s, err := Open(ctx, spec.DSN, Options{Schema: spec.Schema})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	lease, err := s.Lease(ctx, spec.Job, spec.Shard, Holder{RunID: leaseHolderRunID})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer lease.Release()
	fmt.Println("leased")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
