package pipeline

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/sourcegraph/conc/pool"

	"druid-migrate/sink"
)

// Pace is what the run needs to know of its DRUID client to size its pool: the rate the
// limiter allows now (calls per second, 0 when unlimited: a 429 lowers it), the calls made so
// far and the throttled answers so far.
type Pace func() (rate float64, calls, throttled int64)

// sizeEvery is how often the run compares the calls DRUID answered with the rate allowed.
const sizeEvery = time.Second

// launch hands one user to the workers. It blocks while every worker allowed is busy, which is
// the back-pressure that keeps the run's memory flat.
//
// The run's first user, when the Sender is a Prober, is sent alone and waited for: the pool
// starts only once DRUID has accepted the run's endpoint, credentials and envelope.
func (r *run) launch(workers *pool.Pool, p *sink.Payload, hash string) {
	r.crew.acquire()
	s := <-r.slots // the crew admits no more workers than there are slots
	if prober, ok := r.send.(Prober); ok && !r.probed {
		r.probed = true
		r.work(s, p, hash, prober)
		r.settle(s)
		r.slots <- s
		r.crew.release()
		return
	}
	workers.Go(func() {
		defer r.crew.release()
		r.work(s, p, hash, nil)
		r.slots <- s
	})
}

// crew counts the workers busy against how many may be, a number that --concurrency auto
// changes while the run goes on. The pool underneath is as large as the cap.
type crew struct {
	mu      sync.Mutex
	freed   *sync.Cond
	size    int
	busy    int
	waiting time.Time     // when the producer started to wait for a worker; zero if it is not
	waited  time.Duration // how long the producer waited since the last sample
}

func newCrew(size int) *crew {
	c := &crew{size: size}
	c.freed = sync.NewCond(&c.mu)
	return c
}

func (c *crew) acquire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy >= c.size {
		c.waiting = time.Now()
		for c.busy >= c.size {
			c.freed.Wait()
		}
		c.waited += time.Since(c.waiting)
		c.waiting = time.Time{}
	}
	c.busy++
}

func (c *crew) release() {
	c.mu.Lock()
	c.busy--
	c.mu.Unlock()
	c.freed.Signal()
}

func (c *crew) resize(n int) {
	c.mu.Lock()
	c.size = n
	c.mu.Unlock()
	c.freed.Broadcast()
}

// sample returns how long the producer waited for a worker since the last sample, the wait
// under way included.
func (c *crew) sample() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waited
	c.waited = 0
	if !c.waiting.IsZero() {
		now := time.Now()
		w += now.Sub(c.waiting)
		c.waiting = now
	}
	return w
}

// sizing decides, once a second, whether the workers are too few. At a rate R against a DRUID
// answering in L seconds, a run needs about R×L workers busy at once (Little's law); when the
// producer waited for a worker most of the second and yet the calls made fell short of the
// rate, the workers are what holds the run back, and the calls made tell L: L ≈ workers ÷
// calls per second. With a fixed --concurrency the run says so, once, with the number it
// needs; with --concurrency auto it grows the pool to that number, within the cap. Without a
// rate limit there is no rate to reach: auto grows the pool by half while that raises the
// calls per second by 5% or more, and stops at the first growth that does not.
type sizing struct {
	size, max int  // workers allowed now; the cap (== size when fixed)
	auto      bool // --concurrency auto
	advised   int  // the workers last advised; 0 before any advice

	calls, throttled int64 // the client's counts at the last sample
	best             float64
	settled          bool // unlimited: growing stopped helping
}

// decision is what one sample calls for: a new size (0: keep), and the workers needed when the
// fixed --concurrency is too few (0: no advice), with the latency the advice is based on.
type decision struct {
	resize, advise int
	latency        time.Duration
	achieved, rate float64
}

// observe takes one sample: elapsed since the last, the client's pace, how long the producer
// waited for a worker, and whether an outage (of DRUID or the checkpoint) overlapped it.
func (s *sizing) observe(elapsed time.Duration, rate float64, calls, throttled int64, waited time.Duration, outage bool) decision {
	dc, dt := calls-s.calls, throttled-s.throttled
	s.calls, s.throttled = calls, throttled
	if elapsed <= 0 || dt > 0 || outage || waited < elapsed/2 {
		// A throttled second, or one of an outage, says nothing of DRUID's latency; a producer
		// that did not wait had no user for another worker anyway.
		return decision{}
	}
	achieved := float64(dc) / elapsed.Seconds()
	d := decision{achieved: achieved, rate: rate}
	if achieved > 0 {
		d.latency = time.Duration(float64(s.size) / achieved * float64(time.Second))
	}
	if rate <= 0 {
		if !s.auto || s.settled || s.size >= s.max {
			return decision{}
		}
		if s.best > 0 && achieved < s.best*1.05 {
			s.settled = true
			return decision{}
		}
		s.best = max(s.best, achieved)
		d.resize = min(s.max, s.size+max(1, s.size/2))
		s.size = d.resize
		return d
	}
	if achieved >= 0.95*rate {
		return decision{}
	}
	need := 2 * s.size // nothing answered in a whole second: at least twice as many
	if achieved > 0 {
		need = int(math.Ceil(float64(s.size) * rate / achieved * 1.1))
	}
	if !s.auto {
		if need <= s.size || (s.advised > 0 && need < s.advised*3/2) {
			return decision{}
		}
		s.advised, d.advise = need, need
		return d
	}
	if s.size >= s.max {
		return decision{}
	}
	d.resize = min(s.max, max(need, s.size+1))
	s.size = d.resize
	return d
}

// sizePool samples the run every sizeEvery until ctx ends, resizing the crew or warning as
// sizing decides.
// An outage of the checkpoint, or one of DRUID that Config.Degraded reports, explains a slow
// pace better than the workers do: no advice is given and no worker added for a sample that
// overlaps one.
func sizePool(ctx context.Context, cfg Config, c *crew, storeDown func(since time.Time) bool) {
	pace := cfg.Pace
	s := &sizing{size: cfg.Concurrency, max: max(cfg.Concurrency, cfg.MaxConcurrency), auto: cfg.MaxConcurrency > cfg.Concurrency}
	_, s.calls, s.throttled = pace()
	c.sample()
	tick := time.NewTicker(sizeEvery)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			rate, calls, throttled := pace()
			outage := storeDown(last) || (cfg.Degraded != nil && cfg.Degraded())
			d := s.observe(now.Sub(last), rate, calls, throttled, c.sample(), outage)
			last = now
			switch {
			case d.resize > 0:
				c.resize(d.resize)
				logSizing(cfg.Log.Info(), d).Int("workers", d.resize).Msg("workers added: DRUID's answers, not the rate, were holding the run back")
			case d.advise > 0:
				logSizing(cfg.Log.Warn(), d).Int("concurrency", cfg.Concurrency).Int("workers_needed", d.advise).
					Msgf("--concurrency %d is too few workers to reach --rate %g: DRUID answers in about %s, so the job needs about %d; pass --concurrency %d or --concurrency auto",
						cfg.Concurrency, d.rate, d.latency.Round(time.Millisecond), d.advise, d.advise)
			}
		}
	}
}

func logSizing(ev *zerolog.Event, d decision) *zerolog.Event {
	return ev.Float64("calls_per_second", math.Round(d.achieved*10)/10).Float64("rate", d.rate).
		Int64("latency_ms", d.latency.Milliseconds())
}
