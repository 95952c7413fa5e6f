package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A second of samples: the calls made in it and how long the producer waited for a worker.
type second struct {
	calls     int64
	waited    time.Duration
	throttled int64
	outage    bool // DRUID or the checkpoint was unreachable in it
}

func observeAll(s *sizing, rate float64, secs []second) []decision {
	var calls, throttled int64
	var out []decision
	for _, sec := range secs {
		calls += sec.calls
		throttled += sec.throttled
		out = append(out, s.observe(time.Second, rate, calls, throttled, sec.waited, sec.outage))
	}
	return out
}

func TestSizingAdvisesTheWorkersTheRateNeeds(t *testing.T) {
	// 8 workers against 200 ms answers make 40 calls a second: --rate 100 needs 20, 22 with
	// the 10% margin. The advice is given once, not every second.
	s := &sizing{size: 8, max: 8}
	got := observeAll(s, 100, []second{{40, time.Second, 0, false}, {40, time.Second, 0, false}, {40, 900 * time.Millisecond, 0, false}})
	require.Equal(t, 22, got[0].advise)
	require.Equal(t, 200*time.Millisecond, got[0].latency)
	require.Zero(t, got[0].resize, "a fixed --concurrency is never changed")
	require.Zero(t, got[1].advise)
	require.Zero(t, got[2].advise)
	require.Equal(t, 8, s.size)
}

func TestSizingStaysQuietWhenTheWorkersAreNotTheLimit(t *testing.T) {
	for name, sec := range map[string]second{
		"the rate is reached":              {calls: 97, waited: time.Second},
		"the producer had no user to give": {calls: 40, waited: 100 * time.Millisecond},
		"DRUID throttled":                  {calls: 40, waited: time.Second, throttled: 3},
		"an outage held the workers":       {calls: 2, waited: time.Second, outage: true},
	} {
		t.Run(name, func(t *testing.T) {
			for _, auto := range []bool{false, true} {
				s := &sizing{size: 8, max: 256, auto: auto}
				d := observeAll(s, 100, []second{sec})[0]
				require.Zero(t, d.advise)
				require.Zero(t, d.resize)
			}
		})
	}
}

func TestSizingAutoGrowsToTheNeedWithinTheCap(t *testing.T) {
	s := &sizing{size: 8, max: 256, auto: true}
	d := observeAll(s, 100, []second{{40, time.Second, 0, false}})[0]
	require.Equal(t, 22, d.resize)
	require.Zero(t, d.advise, "auto needs no advice")

	// Nothing answered within a second: twice as many, but never past the cap.
	s = &sizing{size: 100, max: 150, auto: true}
	require.Equal(t, 150, observeAll(s, 1000, []second{{0, time.Second, 0, false}})[0].resize)
	require.Zero(t, observeAll(s, 1000, []second{{0, time.Second, 0, false}})[0].resize, "at the cap")
}

func TestSizingAutoWithoutRateGrowsWhileItHelps(t *testing.T) {
	s := &sizing{size: 8, max: 256, auto: true}
	got := observeAll(s, 0, []second{
		{1000, time.Second, 0, false}, // 8 → 12
		{1400, time.Second, 0, false}, // +40%: 12 → 18
		{1420, time.Second, 0, false}, // +1.4%: settled
		{3000, time.Second, 0, false}, // settled stays settled
	})
	require.Equal(t, []int{12, 18, 0, 0}, []int{got[0].resize, got[1].resize, got[2].resize, got[3].resize})

	fixed := &sizing{size: 8, max: 8}
	require.Zero(t, observeAll(fixed, 0, []second{{1000, time.Second, 0, false}})[0].advise, "no rate, no advice")
}
