package sink

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DownTimeoutDefault is how long DRUID may fail every call before a run gives up on it
// (--druid-timeout, SPEC §5).
const DownTimeoutDefault = 2 * time.Minute

const (
	// outageBackoffMax caps the wait between two tries of a caller held by an outage, as the
	// checkpoint's outages are waited out: DRUID back is noticed within seconds, and a dozen
	// workers trying every few seconds cost a restarting DRUID nothing.
	outageBackoffMax = 5 * time.Second
	// outageNotice is how long an outage lasts before it is logged and shown in
	// Stats.DownSince: a few faults in a row between good answers are no outage worth a line.
	outageNotice = time.Second
	// probeConnRetries is how many more tries a probe gives a connection that could not be
	// made (Client.Probe, Preflight): one, in case DRUID was restarting.
	probeConnRetries = 1
)

// ErrUnreachable is the error of a Send (SendResult.Err) or a Get that stopped trying because
// every call to DRUID failed, for want of DRUID, for longer than DownTimeout (SPEC §4, "DRUID
// down"). It is not the user's outcome: the run stops, and its next run tries the user again.
var ErrUnreachable = errors.New("DRUID unreachable")

// errSpent is what tries.next says when the caller's retries are spent: it ends on its error.
var errSpent = errors.New("retries spent")

// outage is what a gate knows of DRUID's health across calls. A fault is a call that got no
// answer (refused, reset, timed out) or a 5xx that is not DRUID's envelope (a proxy's page); a
// good answer is any other, a 429, a 404 or a 500 in DRUID's envelope included: DRUID is there
// to give it. An outage is a streak of faults since DRUID's last good
// answer in which the calls of more than one caller failed.
type outage struct {
	good      atomic.Uint64 // DRUID's good answers so far
	streaking atomic.Bool   // a fault came after the last good answer: the good path then locks

	mu        sync.Mutex
	since     time.Duration // when the streak's first fault ended, on the gate's clock
	first     any           // the caller that call was made for
	shared    bool          // another caller's call failed in the streak too
	announced bool          // the outage was logged, and Stats.DownSince shows it
}

// noteDown records how a call made for by ended, at now on the gate's clock: a fault when
// fault, a good answer otherwise.
func (g *gate) noteDown(now time.Duration, by any, fault bool) {
	o := &g.down
	if !fault {
		o.good.Add(1)
		if o.streaking.Load() {
			o.mu.Lock()
			if o.streaking.Load() {
				o.streaking.Store(false)
				if o.announced {
					g.log.Info().Float64("down_seconds", seconds(now-o.since)).Msg("druid: DRUID answers again")
				}
				o.announced = false
			}
			o.mu.Unlock()
		}
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case !o.streaking.Load():
		o.streaking.Store(true)
		o.since, o.first, o.shared, o.announced = now, by, false, false
	case by != o.first:
		o.shared = true
	}
}

// outageSince returns when the outage in progress began, if there is one: a streak of faults
// that more than one caller shares.
func (g *gate) outageSince() (time.Duration, bool) {
	o := &g.down
	if !o.streaking.Load() {
		return 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.since, o.streaking.Load() && o.shared
}

// announce logs the outage that began at since, once, and makes Stats show it.
func (g *gate) announce(since, budget time.Duration) {
	o := &g.down
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.announced || !o.streaking.Load() || o.since != since {
		return
	}
	o.announced = true
	g.log.Warn().Float64("down_seconds", seconds(g.elapsed()-since)).Float64("druid_timeout_seconds", seconds(budget)).
		Msg("druid: every call fails: the workers wait for DRUID to answer")
}

// downSince returns when the outage in progress began, once it has been announced; the zero
// Time when DRUID answers.
func (g *gate) downSince() time.Time {
	o := &g.down
	if !o.streaking.Load() {
		return time.Time{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.streaking.Load() || !o.announced {
		return time.Time{}
	}
	return g.born.Add(o.since).Round(0) // wall clock only: it is for reports
}

// tries is the retry state of one Send, Get or preflight: what it spent of its retries, and the
// outage it waits out. The rule (SPEC §4, "DRUID down"):
//
//   - A try that failed while DRUID answers others — a good answer to any call since this
//     caller's previous fault, or since it began — is the caller's own: a throttling answer, or
//     a fault of that one call. It spends one of Retries, after a backoff with full jitter
//     that honours Retry-After; with none left, the caller ends on its error.
//   - A fault while DRUID answers no one — no good answer since the caller's previous fault,
//     and other callers' calls failing in the same streak — belongs to an outage. It spends
//     nothing: the caller waits (the backoff doubles up to outageBackoffMax) and tries again,
//     as a worker does through a checkpoint outage, so that a user is never failed because
//     DRUID was down for a while. Once the outage has lasted DownTimeout, the caller stops
//     with an error wrapping ErrUnreachable, which is no outcome of the user.
//   - A lone caller whose calls fail is never in an outage: nothing tells its faults from its
//     user's, and a user DRUID cannot take must not stop the run. With one worker, the first
//     user of an outage spends its retries; the next one waits.
//   - A probe (Client.Probe, Preflight) knows no outage and tries a connection that could not
//     be made at most probeConnRetries more times: it is the run's first call, and its answer
//     is wanted within seconds.
type tries struct {
	g     *gate
	p     *retryPolicy
	by    any    // the caller, as the gate tells callers apart
	good  uint64 // DRUID's good answers as counted at the caller's previous fault, or start
	probe bool

	spent  int // retries spent, of p.max
	waited int // tries the outage cost, which spent nothing
}

// newTries returns the retry state of a caller starting now.
func (g *gate) newTries(p *retryPolicy, by any, probe bool) tries {
	return tries{g: g, p: p, by: by, good: g.down.good.Load(), probe: probe}
}

// next decides what follows a try that failed with err, a transient failure (Retryable), on
// DRUID's answer code and its Retry-After (code 0: no answer came). It returns how long to wait
// before the next try; or errSpent when the caller's retries are spent; or, past DownTimeout in
// an outage, an error wrapping ErrUnreachable.
func (t *tries) next(err error, code int, retryAfter time.Duration) (time.Duration, error) {
	good := t.g.down.good.Load()
	answered := good != t.good
	t.good = good
	if !t.probe && !answered && downFault(err, code) {
		if since, ok := t.g.outageSince(); ok {
			lasted := t.g.elapsed() - since
			if lasted >= t.p.down {
				return 0, fmt.Errorf("%w for %s, past --druid-timeout %s", ErrUnreachable,
					lasted.Round(time.Millisecond), t.p.down)
			}
			if lasted >= outageNotice {
				t.g.announce(since, t.p.down)
			}
			t.waited++
			wait := backoff(t.waited, t.p.base, min(t.p.ceil, outageBackoffMax), retryAfter)
			// The last try comes when the budget ends, not a backoff after it.
			return min(wait, t.p.down-lasted), nil
		}
	}
	limit := t.p.max
	if t.probe && connFault(err) != nil {
		limit = min(limit, probeConnRetries)
	}
	if t.spent >= limit {
		return 0, errSpent
	}
	t.spent++
	return t.g.retryWait(t.p, t.spent, code, retryAfter), nil
}

// downFault says whether a try's failure may be DRUID's absence: no answer, or a 5xx that is not
// DRUID's envelope (a load balancer's page). A 5xx in DRUID's envelope is DRUID answering: that
// user's fault, retried within its --retries, so that a user DRUID always fails cannot hold the
// run as an outage would.
func downFault(err error, code int) bool {
	if code == 0 {
		return true
	}
	if code < 500 {
		return false
	}
	se, ok := errors.AsType[*StatusError](err)
	return !ok || se.foreign
}

// seconds is d in seconds, to the millisecond, for a log line's *_seconds keys.
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}
