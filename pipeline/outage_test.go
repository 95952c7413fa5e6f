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

	// What DRUID applied but the checkpoint lacks is at most what was in flight: the workers'.
	written := int64(0)
	require.NoError(t, f.store.Failures(context.Background(), "j", []string{"updated"}, func(checkpoint.Row) error {
		written++
		return nil
	}))
	applied := f.sim.Stats().Total
	require.Less(t, applied, int64(users), "the run stopped taking records")
	require.LessOrEqual(t, applied-written, int64(workers), "only the calls in flight are unrecorded")
	require.LessOrEqual(t, sum.Updated, written, "the summary counts only durable outcomes")
}
