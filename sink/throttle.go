package sink

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// How the shared rate follows DRUID's throttling: additive increase, multiplicative decrease
// (AIMD), the rule TCP's congestion control settled on because it converges on a fair share of
// a capacity nobody announces. They are not flags: an operator sets the ceiling (--rate) and
// DRUID's 429s set the rest.
const (
	// slowDownFactor multiplies the rate at each slow-down.
	slowDownFactor = 0.5
	// rateFloor and rateFloorShare bound a slow-down from below, at the larger of the two: a
	// burst of 429s must not stop the job, only slow it.
	rateFloor      = 0.5 // requests per second
	rateFloorShare = 0.01
	// cutInterval is the least time between two slow-downs (SPEC §4), and the calm after a cut
	// before the rate climbs again. A rate just cut needs a moment to show: the answers to
	// calls sent at the old pace keep coming for a round trip, and a DRUID that refuses past a
	// bucket of a second's worth of calls goes on refusing until the bucket refills. Cutting
	// again on that news would halve the rate for nothing; climbing at once would undo the
	// cut before DRUID had a chance to say whether it was enough, and a rate that climbs
	// between cuts a second apart never goes below the share it climbs by per second.
	cutInterval = time.Second
	// recoveryShare of the configured rate is given back per second once the calm after a cut
	// is over: from half the rate, the job is back to full rate 6 s after the cut; from the
	// floor, 11 s after it.
	recoveryShare = 0.1
	// recoveryStepShare of the configured rate is the least the rate rises by at a time, so
	// that busy workers do not take the limiter's lock to raise it by a hair each.
	recoveryStepShare = 0.005
	// overloadCalls is the fewest calls in one second (one window of cutInterval) for their
	// faults to count as overload: more than half of them failing with a 5xx without
	// Retry-After, a reset or a timeout cuts the rate once, as a 429 would. A 5xx alone is a
	// fault of its call; when it is most of DRUID's answers, DRUID is overloaded, whatever it
	// says. Below 20 calls a second, a few unlucky ones would read as a majority.
	overloadCalls = 20
)

// Stats counts what a Client did and how DRUID's throttling shaped it, for the run's summary
// and its progress lines. Rates are in requests per second; 0 means unlimited.
type Stats struct {
	// Requests is every call made to DRUID: update calls, retries included, and token calls.
	Requests int64
	// TokenRequests is the share of Requests that asked for a challenge-code token.
	TokenRequests int64
	// Retries is the number of times a user was tried again: after a transient failure, or
	// once after a 401 with a new token.
	Retries int64
	// Throttled is the number of answers that said "slower" (429, and 503 with Retry-After),
	// to the reads of the Client's Readers (Client.Reader) too: they share its throttling.
	Throttled int64
	// Overloads is the number of seconds in which most calls failed (a 5xx without
	// Retry-After, a reset, a timeout; at least 20 calls): each cut the rate as a 429 would.
	Overloads int64
	// SlowDowns is the number of times the shared rate was cut, at most one a second.
	// Throttled answers to calls that were already in flight when the rate was cut count for
	// one.
	SlowDowns int64
	// MinRate is the lowest rate the limiter was set to.
	MinRate float64
	// CurrentRate is the rate the limiter is set to now.
	CurrentRate float64
	// DownSince is when the outage in progress began — every call failing for want of DRUID,
	// for more than one worker, for at least a second (see Config.DownTimeout) — and the zero
	// Time while DRUID answers. A run slowed by an outage needs no more workers.
	DownSince time.Time
}

// throttle cuts the shared rate limiter's rate when DRUID says the job is too fast — a throttling
// answer, or a second in which most calls failed — and gives it back gradually, never above the
// rate configured at New. It cuts at most once per cutInterval.
//
// Recovery is computed when a worker takes its turn, not by a ticker: a Client has no
// goroutine of its own to stop, and a rate nobody waits on needs no raising. Workers already
// waiting in the limiter keep the turn they reserved at the old rate; the hold a 429 puts on
// every worker covers that gap.
type throttle struct {
	lim     *rate.Limiter
	ceiling float64 // the rate configured at New: never exceeded
	floor   float64 // no cut goes below it
	log     zerolog.Logger
	now     func() time.Duration // monotonic time; tests replace it to move the clock

	// epoch counts the cuts. A try carries the epoch it started in, and only a throttled try
	// that started in the current epoch cuts the rate: the tries that were in flight when a
	// burst's first 429 came back were sent at the old pace, so their 429s are the same news,
	// however many workers got one.
	epoch atomic.Int64
	// degraded is set while the rate is below the ceiling: a worker's turn reads it without
	// the lock, so a job that is never throttled never takes it.
	degraded atomic.Bool
	// overloads counts the windows judged overloaded (Stats.Overloads).
	overloads atomic.Int64

	// win counts the calls that ended in the current window of cutInterval, and their faults.
	win struct {
		mu            sync.Mutex
		index         int64 // now / cutInterval
		calls, faults int
	}

	mu sync.Mutex
	// pending is a cut DRUID asked for less than cutInterval after the last one, by a
	// throttling answer to a try sent at the pace of that cut (pendingCode; 0: overload). It
	// is made once the interval is over, at the next turn: the news is only deferred.
	pending     bool
	pendingCode int
	cur         float64       // the rate the limiter is set to
	base        float64       // the rate right after the last cut: recovery climbs from it
	cutAt       time.Duration // when the last cut happened; meaningful once epoch > 0
	slowDowns   int64
	minRate     float64
}

// newThrottle returns the throttle of lim, or nil when lim has no finite rate to cut. An
// unlimited limiter stays unlimited: the operator asked for no limit and there is no rate to
// come back to, so throttling only holds every worker for Retry-After and backs off.
func newThrottle(lim *rate.Limiter, log zerolog.Logger, now func() time.Duration) *throttle {
	if lim == nil || lim.Limit() == rate.Inf || lim.Limit() <= 0 {
		return nil
	}
	ceiling := float64(lim.Limit())
	return &throttle{
		lim:     lim,
		ceiling: ceiling,
		floor:   min(max(rateFloor, rateFloorShare*ceiling), ceiling),
		log:     log,
		now:     now,
		cur:     ceiling,
		base:    ceiling,
		minRate: ceiling,
	}
}

// started returns the epoch a try starting now belongs to.
func (t *throttle) started() int64 {
	if t == nil {
		return 0
	}
	return t.epoch.Load()
}

// slowDown is called when a try that started in epoch was answered code, an answer that throttles
// (code 0: the calls of a second were mostly faults). It cuts the rate unless another answer
// already did so for the tries in flight with this one; a cut less than cutInterval after the
// last one waits for the end of the interval.
func (t *throttle) slowDown(epoch int64, code int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if epoch != t.epoch.Load() {
		return
	}
	now := t.now()
	if epoch > 0 && now-t.cutAt < cutInterval {
		t.pending, t.pendingCode = true, code
		return
	}
	t.cutLocked(now, code)
}

// cutLocked halves the rate, down to the floor, for code (0: overload).
func (t *throttle) cutLocked(now time.Duration, code int) {
	t.pending = false
	t.recoverLocked(now)
	t.epoch.Add(1)
	// Recovery restarts from here even at the floor, where there is nothing left to cut:
	// DRUID still refuses, so the rate must not climb as if it did not.
	t.cutAt = now
	next := max(t.floor, t.cur*slowDownFactor)
	if next >= t.cur {
		t.base = t.cur
		return
	}
	t.set(next)
	t.base = next
	t.slowDowns++
	t.minRate = min(t.minRate, next)
	t.degraded.Store(true)
	e := t.log.Warn()
	msg := "druid: throttled, the whole job slows down"
	if code == 0 {
		msg = "druid: most calls fail, the whole job slows down"
	} else {
		e = e.Int("status_code", code)
	}
	e.Float64("rate_per_second", next).Int64("slow_downs", t.slowDowns).Msg(msg)
}

// count notes a call that ended, and whether it was a fault: a 5xx that does not throttle, or no
// answer. The first call of a new window judges the window before it: at least overloadCalls
// calls, more than half of them faults, is overload, and cuts the rate as one throttling
// answer does.
func (t *throttle) count(fault bool) {
	if t == nil {
		return
	}
	w := int64(t.now() / cutInterval)
	t.win.mu.Lock()
	overloaded := false
	if w != t.win.index {
		overloaded = t.win.calls >= overloadCalls && 2*t.win.faults > t.win.calls
		t.win.index, t.win.calls, t.win.faults = w, 0, 0
	}
	t.win.calls++
	if fault {
		t.win.faults++
	}
	t.win.mu.Unlock()
	if overloaded {
		t.overloads.Add(1)
		t.slowDown(t.started(), 0)
	}
}

// recover makes a pending cut whose interval is over, or gives back the rate earned since the
// calm after the last cut ended. It is called before every turn.
func (t *throttle) recover() {
	if t == nil || !t.degraded.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.pending && now-t.cutAt >= cutInterval {
		t.cutLocked(now, t.pendingCode)
		return
	}
	t.recoverLocked(now)
}

func (t *throttle) recoverLocked(now time.Duration) {
	if t.cur >= t.ceiling {
		return
	}
	calm := now - t.cutAt - cutInterval
	if calm <= 0 {
		return
	}
	target := t.base + recoveryShare*t.ceiling*calm.Seconds()
	if target >= t.ceiling {
		t.set(t.ceiling)
		t.degraded.Store(false)
		t.log.Info().Float64("rate_per_second", t.ceiling).Msg("druid: no more throttling, back to full rate")
		return
	}
	if target-t.cur >= recoveryStepShare*t.ceiling {
		t.set(target)
	}
}

func (t *throttle) set(r float64) {
	t.cur = r
	t.lim.SetLimit(rate.Limit(r))
}

// rates returns the overloads, the slow-downs, the lowest rate and the rate now.
func (t *throttle) rates() (overloads, slowDowns int64, minRate, cur float64) {
	t.recover()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.overloads.Load(), t.slowDowns, t.minRate, t.cur
}
