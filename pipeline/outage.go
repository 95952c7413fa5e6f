package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Backoff of the checkpoint while it cannot be reached.
const (
	outageBackoffFirst = 100 * time.Millisecond
	outageBackoffMax   = 5 * time.Second
)

// outage retries the checkpoint's operations while the store cannot be reached — a database
// restarting, a failover — and gives up once it has been unreachable for longer than its
// budget. The clock of an outage is shared by every operation, so that once the budget is spent
// each one fails at once instead of waiting a budget of its own.
type outage struct {
	budget  time.Duration // --checkpoint-timeout
	attempt time.Duration // bound of one try
	log     zerolog.Logger

	mu    sync.Mutex
	since time.Time // when the current outage began; zero when the store answers
}

// do runs op until it succeeds, or until the store has been unreachable for longer than the
// budget. Every error counts as unreachable: a store that answers nothing but errors is as
// unusable as one that is down, and giving up early would stop a run a restart would not.
func (o *outage) do(what string, held int, op func(ctx context.Context) error) error {
	wait := outageBackoffFirst
	for {
		ctx, cancel := context.WithTimeout(context.Background(), o.attempt)
		err := op(ctx)
		cancel()
		if err == nil {
			o.recovered()
			return nil
		}
		down := o.down(err, what, held)
		if down > o.budget {
			return fmt.Errorf("%w: %s: unreachable for %s (--checkpoint-timeout %s): %w",
				ErrCheckpoint, what, down.Round(time.Second), o.budget, err)
		}
		// Full jitter: many runs sharing one database must not come back in step.
		time.Sleep(rand.N(wait) + time.Millisecond) // backing off from the unreachable store
		wait = min(2*wait, outageBackoffMax)
	}
}

// down records a failure and returns how long the store has been unreachable.
func (o *outage) down(err error, what string, held int) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if o.since.IsZero() {
		o.since = now
		o.log.Warn().Err(err).Str("operation", what).Int("outcomes_held", held).Dur("give_up_after", o.budget).
			Msg("checkpoint unreachable: no new record is taken; retrying")
	}
	return now.Sub(o.since)
}

func (o *outage) recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		o.log.Info().Dur("down_for", time.Since(o.since)).Msg("checkpoint reachable again: carrying on")
		o.since = time.Time{}
	}
}
