package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The upgrade tests write a checkpoint as an older druid-migrate did, on the schema it knew:
// this one's statements name columns that an older schema lacks. These helpers write the tables
// as every version since their creation wrote them.

// legacyExecer is implemented by both stores, for the tests: exec runs one statement on the
// store's database, behind its back. "{schema}." before a table names the store's schema; "?"
// stands for each argument in turn, and a time.Time argument is stored as the store stores times.
type legacyExecer interface {
	exec(ctx context.Context, statement string, args ...any) error
}

func (s *SQLite) exec(ctx context.Context, statement string, args ...any) error {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = dbTime(t).Format(sqliteTimeLayout)
		}
	}
	_, err := s.db.ExecContext(ctx, strings.ReplaceAll(statement, "{schema}.", ""), args...)
	return err
}

func (s *Postgres) exec(ctx context.Context, statement string, args ...any) error {
	var b strings.Builder
	n := 0
	for _, r := range strings.ReplaceAll(statement, "{schema}", pgx.Identifier{s.schema}.Sanitize()) {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	_, err := s.pool.Exec(ctx, b.String(), args...)
	return err
}

// writeOld runs statement on s as an older druid-migrate would have.
func writeOld(t *testing.T, s Store, statement string, args ...any) {
	t.Helper()
	require.NoError(t, s.(legacyExecer).exec(context.Background(), statement, args...))
}

// oldRun records a run of command for job as druid-migrate did before runs had a shard: ended
// at finished with its counts and exit code, or not ended when finished is zero.
func oldRun(t *testing.T, s Store, job, command string, started, finished time.Time, c Counts, exitCode int) {
	t.Helper()
	var end, code any
	if !finished.IsZero() {
		end, code = finished, exitCode
	}
	writeOld(t, s, `INSERT INTO {schema}.migration_runs (job, command, started_at, finished_at, read,
			skipped, updated, partial, unchanged, invalid, rejected, failed, exit_code)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		job, command, started, end, c.Read, c.Skipped, c.Updated, c.Partial, c.Unchanged, c.Invalid,
		c.Rejected, c.Failed, code)
}

// oldRows records rows as druid-migrate did before a row had a bulk id.
func oldRows(t *testing.T, s Store, rows ...Row) {
	t.Helper()
	for _, r := range rows {
		writeOld(t, s, `INSERT INTO {schema}.migration_status (job, user_key, status_code, outcome,
				attempts, payload_hash, error, run_id, updated_at)
			VALUES (?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), ?, ?)`,
			r.Job, r.Key, r.StatusCode, r.Outcome, r.Attempts, r.PayloadHash, r.Error, r.RunID, r.UpdatedAt)
	}
}

// oldWatermark records the watermark of job as druid-migrate did before watermarks had a shard
// (migrations 2 to 5).
func oldWatermark(t *testing.T, s Store, job string, w Watermark) {
	t.Helper()
	writeOld(t, s, `INSERT INTO {schema}.migration_watermarks (job, since_column, watermark, run_id, updated_at)
		VALUES (?, ?, ?, ?, ?)`, job, w.Column, w.Value, w.RunID, time.Now())
}

func conformUpgradeFromVersion5KeepsTheData(t *testing.T, c conformer) {
	ctx := context.Background()
	// What a druid-migrate without shards wrote: outcomes, a finished run (the first, 1), a run
	// killed before its end (2), and a watermark.
	started := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	written := []Row{row("nightly", "ana", "updated", 200), row("nightly", "bob", "failed", 503)}
	w := Watermark{Column: "updated_at", Value: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), RunID: 1}
	s := c.upgraded(t, 5, func(old Store) {
		oldRun(t, old, "nightly", "run", started, started.Add(time.Minute), Counts{Read: 2, Updated: 1, Failed: 1}, 1)
		oldRun(t, old, "nightly", "retry", started.Add(time.Hour), time.Time{}, Counts{}, 0)
		oldRows(t, old, written...)
		oldWatermark(t, old, "nightly", w)
	})

	require.Equal(t, written, selectRows(t, s, "nightly", Filter{}))
	runs, err := s.Runs(ctx, "nightly")
	require.NoError(t, err)
	require.Len(t, runs, 2)
	for _, r := range runs {
		require.Empty(t, r.Shard, "run %d: the runs before shards took the whole job", r.ID)
	}
	require.Equal(t, Counts{Read: 2, Updated: 1, Failed: 1}, runs[1].Counts)
	require.Nil(t, runs[0].FinishedAt)
	// The killed run is the whole job's, as every run before shards.
	n, err := s.AbandonRuns(ctx, "nightly", "")
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// No run before recorded its hash key.
	_, err = s.HashKey(ctx, "nightly")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.SetHashKey(ctx, "nightly", "f"))

	// No user of those runs waits on a bulk batch.
	require.NoError(t, s.Submitted(ctx, "nightly", func(id string, _ []Row) error {
		return fmt.Errorf("batch %q", id)
	}))
	bulk := row("nightly", "bob", SubmittedOutcome, 0)
	bulk.BulkID = "b1"
	require.NoError(t, s.Write(ctx, []Row{bulk}))
	require.Equal(t, []Row{written[0], bulk}, selectRows(t, s, "nightly", Filter{}))

	// The watermark is the whole job's; the shards have none yet.
	require.Equal(t, w, watermark(t, s, "nightly", ""))
	_, err = s.Watermark(ctx, "nightly", "0/2")
	require.ErrorIs(t, err, ErrNotFound)
	next := Watermark{Column: "updated_at", Value: w.Value.Add(time.Hour), RunID: 3}
	require.NoError(t, s.SetWatermark(ctx, "nightly", "", next))
	require.NoError(t, s.SetWatermark(ctx, "nightly", "0/2", w))
	require.Equal(t, next, watermark(t, s, "nightly", ""))
	require.Equal(t, w, watermark(t, s, "nightly", "0/2"))
}
