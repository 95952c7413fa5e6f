package pipeline

import (
	"github.com/sourcegraph/conc/pool"

	"druid-migrate/sink"
)

// launch hands one user to the workers; it blocks while every worker is busy, which is the
// back-pressure that keeps the run's memory flat.
func (r *run) launch(workers *pool.Pool, p *sink.Payload, hash string) {
	workers.Go(func() { r.work(p, hash) })
}
