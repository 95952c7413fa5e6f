package main

import (
	"context"
	"math"
	"time"

	"druid-migrate/druidsim"
)

// The runs against a DRUID that fails and limits calls (SPEC §4, "Throttling is DRUID saying
// slower"), and their targets.
const (
	faultUsers       = 3_000
	faultRate        = 1000 // --rate: well past DRUID's limit
	faultConcurrency = 16
	faultRetries     = 10
	faultFailRate    = 0.2  // of the calls answered 500 or 503, without Retry-After
	faultResetRate   = 0.02 // of the connections reset with no answer
	faultLimit       = 300  // DRUID's calls per second, 429 with Retry-After past it
	faultWallMax     = 25 * time.Second
	limitTolerance   = 0.2 // the rate-limited run's users/s within this share of faultLimit
)

// faults runs druid-migrate over faultUsers users against a DRUID that answers a fifth of the
// calls 500 or 503 at random, resets some connections and refuses past faultLimit a second:
// every user must end updated, each applied once, within faultWallMax.
func (b *bench) faults(ctx context.Context) *scenario {
	s := b.faultRun(ctx, "faults", druidsim.Config{
		FailRate: faultFailRate, ResetRate: faultResetRate, RateLimit: faultLimit,
	})
	if s.m != nil {
		s.check(s.m.wall <= faultWallMax, "≤%v", faultWallMax)
	}
	s.checkMemory()
	return s
}

// rateLimited runs druid-migrate over faultUsers users against a DRUID whose only fault is its
// limit of faultLimit calls a second: the run's users/s must settle within limitTolerance of it.
// Users over wall time include the simulator's first second's worth of calls, which it lets
// through at once, and the process's start: over 3,000 users they weigh about 10% each way.
func (b *bench) rateLimited(ctx context.Context) *scenario {
	s := b.faultRun(ctx, "rate-limit-300", druidsim.Config{RateLimit: faultLimit})
	if s.m != nil {
		ups := s.usersPerSecond()
		s.check(math.Abs(ups-faultLimit) <= limitTolerance*faultLimit, "%d/s±%.0f%%: %.0f/s",
			faultLimit, limitTolerance*100, ups)
	}
	s.checkMemory()
	return s
}

// faultRun runs druid-migrate over faultUsers users into a fresh SQLite checkpoint, at
// faultRate with faultConcurrency workers and faultRetries, against a simulator with the faults
// of sim.
func (b *bench) faultRun(ctx context.Context, name string, sim druidsim.Config) *scenario {
	s := &scenario{name: name, users: faultUsers, workers: faultConcurrency}
	st, err := b.sqliteStore(ctx, name)
	if err != nil {
		s.err = err
		return s
	}
	defer st.drop()
	s.m, s.err = b.migrate(ctx, migration{users: faultUsers, store: st, concurrency: faultConcurrency,
		rate: faultRate, retries: faultRetries, sim: sim})
	return s
}
