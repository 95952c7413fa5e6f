package pipeline

import (
	"fmt"
	"sync"
	"time"
)

// terminalEvery is how often the live progress line is redrawn.
const terminalEvery = 250 * time.Millisecond

// progress reports a run as it goes: a live line redrawn on a terminal, or a JSON log line every
// ProgressEvery for schedulers and log collectors.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(cfg Config, t *tally, start time.Time) *progress {
	p := &progress{done: make(chan struct{})}
	every := cfg.ProgressEvery
	if cfg.Progress != nil {
		every = min(every, terminalEvery)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				if cfg.Progress != nil {
					fmt.Fprint(cfg.Progress, "\r\033[K")
				}
				return
			case <-tick.C:
			}
			elapsed := time.Since(start)
			done := t.done()
			rate := float64(done) / elapsed.Seconds()
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "\r\033[K%s", progressLine(t, cfg.Total, done, rate))
				continue
			}
			s := t.summary(elapsed)
			cfg.Log.Info().Int64("read", s.Read).Int64("done", done).Int64("total", cfg.Total).
				Float64("users_per_second", round1(rate)).Int64("skipped", s.Skipped).
				Int64("updated", s.Updated).Int64("partial", s.Partial).Int64("unchanged", s.Unchanged).
				Int64("invalid", s.Invalid).Int64("rejected", s.Rejected).Int64("failed", s.Failed).
				Int64("in_flight", t.inFlight.Load()).Msg("progress")
		}
	}()
	return p
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

func progressLine(t *tally, total, done int64, rate float64) string {
	s := t.summary(0)
	line := fmt.Sprintf("%d", done)
	if total > 0 {
		line = fmt.Sprintf("%d/%d", done, total)
	}
	line += fmt.Sprintf(" users  %.0f/s", rate)
	if total > done && rate > 0 {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		line += "  ETA " + eta.Round(time.Second).String()
	}
	return line + fmt.Sprintf("  updated %d  skipped %d  unchanged %d  partial %d  invalid %d  rejected %d  failed %d",
		s.Updated, s.Skipped, s.Unchanged, s.Partial, s.Invalid, s.Rejected, s.Failed)
}

func round1(f float64) float64 {
	return float64(int64(f*10+0.5)) / 10
}
