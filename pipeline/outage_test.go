package pipeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/checkpoint"
	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// flakyStore is the real checkpoint behind a switch that makes it unreachable, as a database
// restart would.
type flakyStore struct {
	pipeline.Store
	down  atomic.Bool
	fails atomic.Int64
}

var errDown = errors.New("connection refused")

func (s *flakyStore) Write(ctx context.Context, rows []checkpoint.Row) error {
	if s.down.Load() {
		s.fails.Add(1)
		return errDown
	}
	return s.Store.Write(ctx, rows)
}

func (s *flakyStore) Prior(ctx context.Context, job string, keys []string) (map[string]checkpoint.Prior, error) {
	if s.down.Load() {
		s.fails.Add(1)
		return nil, errDown
	}
	return s.Store.Prior(ctx, job, keys)
}

// downAfter takes the store down once the run has sent a number of users, and back up after
// the store has refused a number of operations.
type downAfter struct {
	pipeline.Sender
	store      *flakyStore
	after      int64
	sent       atomic.Int64
	backAfter  int64
	recovering atomic.Bool
}

func (s *downAfter) Send(ctx context.Context, p *sink.Payload) sink.SendResult {
	if s.sent.Add(1) == s.after {
		s.store.down.Store(true)
		if s.backAfter > 0 && s.recovering.CompareAndSwap(false, true) {
			go func() {
				for s.store.fails.Load() < s.backAfter {
					time.Sleep(time.Millisecond) // polling the refusals counter
				}
				s.store.down.Store(false)
			}()
		}
	}
	return s.Sender.Send(ctx, p)
}

func TestCheckpointOutageHoldsOutcomesAndCarriesOn(t *testing.T) {
	const users, workers = 1000, 8
	f := newFixture(t, users, druidsim.Config{}, workers)
	store := &flakyStore{Store: f.store}
	sender := &downAfter{Sender: f.client, store: store, after: 300, backAfter: 5}
	src, m := f.source(t)

	sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: workers,
		CheckpointTimeout: time.Minute, Log: zerolog.Nop()}, src, m, store, sender)
	require.NoError(t, err)
	require.GreaterOrEqual(t, store.fails.Load(), int64(5), "the store was down for a while")
	require.EqualValues(t, users, sum.Updated)
	require.EqualValues(t, users, f.sim.Stats().Total, "no user was sent twice")
	status, err := f.store.Status(context.Background(), "j")
	require.NoError(t, err)
	require.Equal(t, []checkpoint.StatusCount{{Outcome: "updated", StatusCode: 200, Users: users}}, status,
		"every outcome held during the outage was written")
}

func TestCheckpointDownPastTheTimeoutStopsTheRun(t *testing.T) {
	const users, workers = 1000, 8
	f := newFixture(t, users, druidsim.Config{}, workers)
	store := &flakyStore{Store: f.store}
	sender := &downAfter{Sender: f.client, store: store, after: 300}
	src, m := f.source(t)

	sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: workers,
		CheckpointTimeout: 300 * time.Millisecond, Log: zerolog.Nop()}, src, m, store, sender)
	require.ErrorIs(t, err, pipeline.ErrCheckpoint)
	require.Contains(t, err.Error(), "--checkpoint-timeout")

	// What DRUID applied but the checkpoint lacks is at most what was in flight, and each
	// worker's outcome handed over but not yet flushed: twice the workers (SPEC §4).
	written := int64(0)
	require.NoError(t, f.store.Failures(context.Background(), "j", []string{"updated"}, func(checkpoint.Row) error {
		written++
		return nil
	}))
	applied := f.sim.Stats().Total
	require.Less(t, applied, int64(users), "the run stopped taking records")
	require.LessOrEqual(t, applied-written, int64(2*workers), "only the calls in flight and the outcomes not yet flushed are unrecorded")
	require.LessOrEqual(t, sum.Updated, written, "the summary counts only durable outcomes")
}

// TestInterruptDuringCheckpointOutageStopsWithinTheDrain: a signal while the checkpoint is
// unreachable stops the run within --timeout (the drain) and a little, not --checkpoint-timeout;
// the outcomes it could not record are counted, and the interrupt is no error.
func TestInterruptDuringCheckpointOutageStopsWithinTheDrain(t *testing.T) {
	const users, workers = 1000, 8
	f := newFixture(t, users, druidsim.Config{}, workers)
	store := &flakyStore{Store: f.store}
	sender := &downAfter{Sender: f.client, store: store, after: 300}
	src, m := f.source(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupted := make(chan time.Time, 1)
	go func() {
		for store.fails.Load() < 3 {
			time.Sleep(time.Millisecond) // polling the refusals counter
		}
		interrupted <- time.Now()
		cancel()
	}()

	type result struct {
		sum pipeline.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := pipeline.Run(ctx, pipeline.Config{Job: "j", RunID: 1, Concurrency: workers,
			CheckpointTimeout: time.Minute, DrainTimeout: time.Second, Log: zerolog.Nop()}, src, m, store, sender)
		done <- result{sum, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted run waited for the checkpoint instead of stopping")
	}
	stoppedAfter := time.Since(<-interrupted)
	require.NoError(t, res.err, "an interrupt is a shutdown, not an error")
	require.True(t, res.sum.Interrupted)
	require.Positive(t, res.sum.Unrecorded, "the outcomes held by the outage are counted")
	require.LessOrEqual(t, res.sum.Unrecorded, int64(2*workers+1))
	require.Less(t, stoppedAfter, 10*time.Second, "stopped within the drain and a few seconds, not the minute")
}

// refusingStore is the real checkpoint, except that it refuses the row of one key for what it
// holds, as Postgres refuses a key too long for its index: the others of the group are written.
type refusingStore struct {
	pipeline.Store
	key string
}

func (s *refusingStore) Write(ctx context.Context, rows []checkpoint.Row) error {
	var keep []checkpoint.Row
	var refused checkpoint.RowsRefused
	for i, r := range rows {
		if r.Key == s.key {
			refused.Rows = append(refused.Rows, checkpoint.RefusedRow{Index: i, Key: r.Key,
				Reason: "index row requires 10024 bytes, maximum size is 8191 (SQLSTATE 54000)"})
			continue
		}
		keep = append(keep, r)
	}
	if err := s.Store.Write(ctx, keep); err != nil {
		return err
	}
	if len(refused.Rows) > 0 {
		return &refused
	}
	return nil
}

// TestARowTheCheckpointRefusesIsThatUsersFault: a row refused for its content is no outage;
// the user is recorded invalid under its line, with the database's reason, and every other user
// goes on.
func TestARowTheCheckpointRefusesIsThatUsersFault(t *testing.T) {
	const users, workers = 300, 8
	f := newFixture(t, users, druidsim.Config{}, workers)
	store := &refusingStore{Store: f.store, key: sample.Key(42)}
	src, m := f.source(t)

	sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: workers,
		CheckpointTimeout: time.Minute, Log: zerolog.Nop()}, src, m, store, f.client)
	require.NoError(t, err, "a refused row is not an outage")
	require.EqualValues(t, users-1, sum.Updated)
	require.EqualValues(t, 1, sum.Invalid)
	var rows []checkpoint.Row
	require.NoError(t, f.store.Failures(context.Background(), "j", []string{"invalid"}, func(r checkpoint.Row) error {
		rows = append(rows, r)
		return nil
	}))
	require.Len(t, rows, 1)
	require.Equal(t, "#line 43", rows[0].Key, "recorded under its line: the key is what the store refused")
	require.Contains(t, rows[0].Error, "SQLSTATE 54000")
	require.Contains(t, rows[0].Error, "line 43")
}
