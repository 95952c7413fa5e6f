package pipeline_test

import (
	"context"
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

// stallingSender sends the first calls through, then holds every later one until released,
// telling each as it stalls.
type stallingSender struct {
	pipeline.Sender
	after   int64
	calls   atomic.Int64
	stalled chan struct{}
	release chan struct{}
}

func (s *stallingSender) Send(ctx context.Context, p *sink.Payload) sink.SendResult {
	if s.calls.Add(1) > s.after {
		s.stalled <- struct{}{}
		<-s.release
	}
	return s.Sender.Send(ctx, p)
}

func TestLiveShowsTheRunWhileItRuns(t *testing.T) {
	const users, workers, through = 200, 4, 20
	f := newFixture(t, users, druidsim.Config{}, workers)
	src, m := f.source(t)
	sender := &stallingSender{Sender: f.client, after: through, stalled: make(chan struct{}, users), release: make(chan struct{})}
	live := &pipeline.Live{}
	require.Equal(t, checkpoint.Counts{}, live.Counts(), "nothing before the run")
	require.Zero(t, live.InFlight())

	type result struct {
		sum pipeline.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: workers, Live: live, Log: zerolog.Nop()},
			src, m, f.store, sender)
		done <- result{sum, err}
	}()
	for range workers {
		<-sender.stalled
	}
	// Every worker is held in a Send: the users before them are done and counted once their
	// outcomes are durable, which the workers no longer wait for.
	require.EqualValues(t, workers, live.InFlight())
	require.Eventually(t, func() bool { return live.Counts().Updated == through }, 10*time.Second, time.Millisecond)
	got := live.Counts()
	require.EqualValues(t, through, got.Updated)
	require.GreaterOrEqual(t, got.Read, int64(through+workers))
	close(sender.release)

	res := <-done
	require.NoError(t, res.err)
	require.EqualValues(t, users, res.sum.Updated)
	require.Equal(t, res.sum.Counts, live.Counts(), "after the run, its summary's counts")
	require.Zero(t, live.InFlight())
}
