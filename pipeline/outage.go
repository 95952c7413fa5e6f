package pipeline

import (
	"context"
	"errors"
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
	// interrupted is done once the run is interrupted; the outage then gives up at
	// interruptedAt() + drain (--timeout), so that a signal during an outage stops the process
	// within --timeout and a few seconds, not --checkpoint-timeout.
	interrupted   <-chan struct{}
	interruptedAt func() time.Time
	drain         time.Duration

	mu    sync.Mutex
	since time.Time // when the current outage began; zero when the store answers
	last  time.Time // when the last outage ended, or the current one was seen
}

// errAbandoned ends the operations of an outage that an interrupt cut short: the outcomes they
// held are not recorded, and the next run sends those users again.
var errAbandoned = errors.New("interrupted while the checkpoint was unreachable")

// do runs op until it succeeds, or until the store has been unreachable for longer than the
// budget. Every error counts as unreachable: a store that answers nothing but errors is as
// unusable as one that is down, and giving up early would stop a run a restart would not.
func (o *outage) do(what string, held int, op func(ctx context.Context) error) error {
	wait := outageBackoffFirst
	for {
		deadline := time.Now().Add(o.attempt)
		if end, ok := o.giveUpAt(); ok && end.Before(deadline) {
			deadline = end
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
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
		end, interrupted := o.giveUpAt()
		if interrupted && !time.Now().Before(end) {
			return fmt.Errorf("%w: %s: %w", errAbandoned, what, err)
		}
		// Full jitter: many runs sharing one database must not come back in step.
		pause := rand.N(wait) + time.Millisecond
		if interrupted {
			pause = min(pause, time.Until(end))
		}
		select {
		case <-time.After(pause): // backing off from the unreachable store
		case <-o.interruptedNow(interrupted):
		}
		wait = min(2*wait, outageBackoffMax)
	}
}

// giveUpAt is when an interrupted run stops retrying: the calls in flight have had --timeout
// to finish, and what they answered is written by then or not at all.
func (o *outage) giveUpAt() (time.Time, bool) {
	if o.interrupted == nil {
		return time.Time{}, false
	}
	select {
	case <-o.interrupted:
		return o.interruptedAt().Add(o.drain), true
	default:
		return time.Time{}, false
	}
}

// interruptedNow is what a backoff waits on besides its timer: the interrupt, unless it has
// already come.
func (o *outage) interruptedNow(already bool) <-chan struct{} {
	if already {
		return nil
	}
	return o.interrupted
}

// recent says whether the store was unreachable at some time since t: the run's pace then
// says nothing of DRUID's.
func (o *outage) recent(t time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.since.IsZero() || o.last.After(t)
}

// down records a failure and returns how long the store has been unreachable.
func (o *outage) down(err error, what string, held int) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	o.last = now
	if o.since.IsZero() {
		o.since = now
		o.log.Warn().Err(err).Str("operation", what).Int("outcomes_held", held).
			Float64("give_up_after_seconds", seconds(o.budget)).
			Msg("checkpoint unreachable: no new record is taken; retrying")
	}
	return now.Sub(o.since)
}

func (o *outage) recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		o.log.Info().Float64("down_for_seconds", seconds(time.Since(o.since))).Msg("checkpoint reachable again: carrying on")
		o.since, o.last = time.Time{}, time.Now()
	}
}

// seconds is d in seconds, rounded to the millisecond: the unit of every duration in a log line
// is in its key.
func seconds(d time.Duration) float64 {
	return d.Round(time.Millisecond).Seconds()
}
