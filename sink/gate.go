package sink

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// gate is the pace every caller of one DRUID keeps: the shared rate limiter, the throttle that
// adapts its rate to DRUID's throttling answers (see throttles) and to overload, the hold a
// throttling answer puts on every caller, and what DRUID's answers say of an outage (see
// tries for the rule).
//
// A Client and the Readers made by Client.Reader share one, so that reads and updates are one
// load for DRUID: a 429 to a read slows the updates down too, and the other way round. Two
// gates on one limiter would each cut and restore its rate to their own idea of it.
type gate struct {
	limiter  *rate.Limiter
	throttle *throttle // nil when the limiter has no finite rate to cut
	log      zerolog.Logger

	// throttled counts the answers that throttle (Stats.Throttled).
	throttled atomic.Int64

	// heldUntil is when DRUID's last throttling answer lets every worker call again, on the
	// gate's clock (elapsed): a throttled job slows down as a whole, not one worker at a time
	// (SPEC §4).
	heldUntil atomic.Int64
	born      time.Time

	down outage
}

// newGate returns the gate of lim (nil: unlimited), which it owns from now on: see throttle.
func newGate(lim *rate.Limiter, log zerolog.Logger) *gate {
	g := &gate{limiter: lim, log: log, born: time.Now()}
	g.throttle = newThrottle(lim, log, g.elapsed)
	return g
}

// noteCall notes how a call made for by, which started in epoch, ended: DRUID's answer code and
// Retry-After, or code 0 when no answer came; fromDRUID says a 5xx carried DRUID's own envelope.
// An answer that throttles slows the whole job down; a fault (no answer, or a 5xx) counts,
// unless it throttles, towards overload; and towards an outage unless DRUID itself gave it: a
// 5xx in DRUID's envelope is DRUID there, failing that one user, while no answer, or a proxy's
// 5xx page, is DRUID gone.
func (g *gate) noteCall(epoch int64, by any, code int, retryAfter time.Duration, fromDRUID bool) {
	throttled := throttles(code, retryAfter)
	if throttled {
		g.throttled.Add(1)
		g.throttle.slowDown(epoch, code)
	}
	fault := code == 0 || code >= 500
	g.throttle.count(fault && !throttled)
	g.noteDown(g.elapsed(), by, fault && !fromDRUID)
}

// elapsed is the gate's clock: the monotonic time since it was made, which a wall-clock step
// cannot stretch.
func (g *gate) elapsed() time.Duration { return time.Since(g.born) }

// waitTurn blocks until DRUID's throttling and the rate limiter let the next call go.
func (g *gate) waitTurn(ctx context.Context) error {
	for {
		if err := g.waitHeld(ctx); err != nil {
			return err
		}
		if g.limiter == nil {
			return nil
		}
		g.throttle.recover()
		if err := g.limiter.Wait(ctx); err != nil {
			return err
		}
		if !g.held() {
			return nil
		}
		// Another worker was throttled while this one waited on the limiter: its turn was
		// granted at the pace DRUID just refused. Going when the hold ends would send every
		// such worker at once; it takes a turn at the new pace instead.
	}
}

// waitHeld waits for the hold a throttling answer put on every worker.
func (g *gate) waitHeld(ctx context.Context) error {
	until := g.heldUntil.Load()
	if until == 0 {
		return ctx.Err()
	}
	return sleep(ctx, time.Duration(until)-g.elapsed())
}

// held reports whether a hold is in force.
func (g *gate) held() bool {
	until := g.heldUntil.Load()
	return until != 0 && time.Duration(until) > g.elapsed()
}

// hold keeps every worker from calling DRUID for d, unless a longer hold is already in force.
func (g *gate) hold(d time.Duration) {
	if d <= 0 {
		return
	}
	until := int64(g.elapsed() + d)
	for {
		cur := g.heldUntil.Load()
		if cur >= until {
			return
		}
		if g.heldUntil.CompareAndSwap(cur, until) {
			g.log.Debug().Int64("hold_ms", d.Milliseconds()).Msg("druid: throttled, every worker holds off")
			return
		}
	}
}
