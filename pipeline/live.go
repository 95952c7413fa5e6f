package pipeline

import (
	"sync/atomic"

	"druid-migrate/checkpoint"
)

// Live shows a run's counts while it runs, for a metrics endpoint: give a Live to Run in
// Config.Live and read it from any goroutine. It reads the counters the progress line reads, so
// the run pays nothing for it. Before Run starts every count is 0; once Run has returned, the
// counts stay those of its summary until the Live is given to another Run.
type Live struct {
	t atomic.Pointer[tally]
}

// Counts returns the run's counts so far, as its Summary will count them: records read,
// skipped, and users per outcome (Invalid includes the users a guard refused).
func (l *Live) Counts() checkpoint.Counts {
	if t := l.t.Load(); t != nil {
		return t.counts()
	}
	return checkpoint.Counts{}
}

// InFlight returns the number of users being sent to DRUID now.
func (l *Live) InFlight() int64 {
	if t := l.t.Load(); t != nil {
		return t.inFlight.Load()
	}
	return 0
}

// watch makes l show t's counts. A nil Live watches nothing.
func (l *Live) watch(t *tally) {
	if l != nil {
		l.t.Store(t)
	}
}
