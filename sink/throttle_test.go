package sink

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestThrottleFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit     rate.Limit
		wantFloor float64
	}{
		{10, 0.5},      // 0.5 req/s is above 1% of 10
		{1000, 10},     // 1% of 1000 is above 0.5 req/s
		{0.2, 0.2},     // a rate below the floor is never cut
		{rate.Inf, -1}, // unlimited: no throttle at all
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			t.Parallel()
			th := newThrottle(rate.NewLimiter(tt.limit, 1), zerolog.Nop(), (&fakeClock{}).now)
			if tt.wantFloor < 0 {
				require.Nil(t, th)
				return
			}
			require.Equal(t, tt.wantFloor, th.floor)
			clock := &fakeClock{}
			th.now = clock.now
			for range 20 {
				// A second apart: a cut each time, and no recovery between them.
				clock.advance(cutInterval)
				th.slowDown(th.started(), http.StatusTooManyRequests)
			}
			require.Equal(t, tt.wantFloor, float64(th.lim.Limit()), "cuts stop at the floor")
			require.LessOrEqual(t, float64(th.lim.Limit()), float64(tt.limit))
		})
	}
	require.Nil(t, newThrottle(nil, zerolog.Nop(), nil), "no limiter, nothing to adapt")
}

// TestThrottleSlowsDownThenRecovers scripts DRUID answering 429 for a while, a second apart, then
// 200: each throttled try halves the shared rate, and after a calm second the rate climbs back to
// the configured one, never above it.
func TestThrottleSlowsDownThenRecovers(t *testing.T) {
	t.Parallel()
	const configured = 100
	// A burst large enough that the test never waits on the slowed-down limiter.
	lim := rate.NewLimiter(configured, 50)
	clock := &fakeClock{}
	aSecondLater := reply{fn: func(w http.ResponseWriter, _ *http.Request) {
		clock.advance(cutInterval)
		w.WriteHeader(http.StatusTooManyRequests)
	}}
	d := newDRUID(t, aSecondLater, aSecondLater, aSecondLater, reply{code: 200})
	c, logs := newClient(t, d.srv.URL, func(c *Config) { c.Limiter, c.Retries = lim, 5 })
	useClock(t, c, clock)

	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 4}, res)
	require.Equal(t, Stats{
		Requests: 4, Retries: 3, Throttled: 3, SlowDowns: 3, MinRate: 12.5, CurrentRate: 12.5,
	}, c.Stats(), "each retry started after the previous cut, a second later, so each 429 cuts again")
	require.Equal(t, rate.Limit(12.5), lim.Limit(), "the shared limiter itself is slowed")

	warns := logLines(logs, "druid: throttled, the whole job slows down")
	require.Len(t, warns, 3)
	for i, want := range []string{"50", "25", "12.5"} {
		require.Contains(t, warns[i], `"level":"warn"`)
		require.Contains(t, warns[i], `"status_code":429`)
		require.Contains(t, warns[i], `"rate_per_second":`+want)
	}

	// The rate stays as cut for a second, then 10% of the configured rate comes back per
	// second without throttling.
	clock.advance(cutInterval)
	require.Equal(t, 12.5, c.Stats().CurrentRate, "the calm after a cut")
	clock.advance(time.Second)
	require.Equal(t, 22.5, c.Stats().CurrentRate)
	res = c.Send(t.Context(), newPayload(t))
	require.Equal(t, Updated, res.Outcome)
	require.Equal(t, rate.Limit(22.5), lim.Limit(), "a worker's turn applies the recovery")

	prev := 22.5
	for range 30 {
		clock.advance(time.Second)
		cur := c.Stats().CurrentRate
		require.GreaterOrEqual(t, cur, prev, "the rate only climbs")
		require.LessOrEqual(t, cur, float64(configured), "never above the configured rate")
		prev = cur
	}
	require.Equal(t, rate.Limit(configured), lim.Limit(), "back to the configured rate")
	st := c.Stats()
	require.Equal(t, float64(configured), st.CurrentRate)
	require.Equal(t, 12.5, st.MinRate, "the lowest rate is remembered for the summary")
	require.Len(t, logLines(logs, "druid: no more throttling, back to full rate"), 1)
	require.Contains(t, logLines(logs, "druid: no more throttling, back to full rate")[0], `"level":"info"`)

	clock.advance(time.Hour)
	require.Equal(t, rate.Limit(configured), lim.Limit(), "still not above the configured rate")
}

// TestThrottleCutsAtMostOncePerSecond has DRUID refuse three tries of one user in a row, within
// a second of its clock: the rate is cut once, and the refusals of tries sent at the new pace
// cut once more when the second is over, not before.
func TestThrottleCutsAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	lim := rate.NewLimiter(100, 50)
	busy := reply{code: 503, header: map[string]string{"Retry-After": "1"}}
	d := newDRUID(t, reply{code: 429}, busy, reply{code: 429}, reply{code: 200})
	c, logs := newClient(t, d.srv.URL, func(c *Config) { c.Limiter, c.Retries = lim, 5 })
	clock := useFakeClock(t, c) // frozen until the test moves it

	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 4}, res)
	require.Equal(t, Stats{Requests: 4, Retries: 3, Throttled: 3, SlowDowns: 1, MinRate: 50, CurrentRate: 50}, c.Stats(),
		"three throttling answers within a second: one cut")

	clock.advance(cutInterval - time.Millisecond)
	require.Equal(t, int64(1), c.Stats().SlowDowns, "still within the second")
	clock.advance(time.Millisecond)
	st := c.Stats()
	require.Equal(t, int64(2), st.SlowDowns, "the 429s to tries sent at the new pace cut once the second is over")
	require.Equal(t, 25.0, st.CurrentRate)
	require.Len(t, logLines(logs, "druid: throttled, the whole job slows down"), 2)

	clock.advance(cutInterval)
	require.Equal(t, int64(2), c.Stats().SlowDowns, "the deferred cut is made once")
}

// TestOverloadCountsAsOneThrottle feeds the gate the calls of whole seconds: faults that are
// more than half of at least 20 calls in a second cut the rate once, as a 429 would; fewer
// calls, or no majority, cut nothing; throttling answers are not faults.
func TestOverloadCountsAsOneThrottle(t *testing.T) {
	t.Parallel()
	type calls struct {
		code int // 0: no answer
		n    int
	}
	tests := []struct {
		name          string
		second        []calls
		wantOverloads int64
		wantSlowDowns int64
	}{
		{"most of 20 calls fail", []calls{{500, 6}, {503, 3}, {0, 2}, {200, 9}}, 1, 1},
		{"every call fails", []calls{{0, 40}}, 1, 1},
		{"504s and 502s", []calls{{504, 15}, {502, 15}, {304, 5}}, 1, 1},
		{"19 calls are too few", []calls{{500, 19}}, 0, 0},
		{"half is no majority", []calls{{500, 10}, {200, 10}}, 0, 0},
		{"20% faults", []calls{{500, 100}, {503, 100}, {0, 20}, {200, 780}}, 0, 0},
		{"4xx are DRUID's answers", []calls{{500, 10}, {404, 5}, {416, 5}, {401, 1}}, 0, 0},
		{"429s throttle on their own", []calls{{429, 30}, {500, 10}}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate(rate.NewLimiter(100, 1), zerolog.Nop())
			clock := &fakeClock{}
			g.throttle.now = clock.now
			epoch := g.throttle.started() // the calls were in flight together
			for _, c := range tt.second {
				for range c.n {
					g.noteCall(epoch, nil, c.code, 0, false)
				}
			}
			require.Zero(t, g.throttle.overloads.Load(), "a second is judged once it is over")
			clock.advance(cutInterval)
			g.noteCall(g.throttle.started(), nil, 200, 0, false)
			overloads, slowDowns, _, _ := g.throttle.rates()
			require.Equal(t, tt.wantOverloads, overloads)
			require.Equal(t, tt.wantSlowDowns, slowDowns)
		})
	}
}

// TestThrottleConcurrent429sSlowDownOnce has sixteen workers throttled by the same burst: the
// rate is halved once, not sixteen times.
func TestThrottleConcurrent429sSlowDownOnce(t *testing.T) {
	t.Parallel()
	const workers = 16
	// Every first call is held until all of them have arrived, so that the 429s come back
	// together.
	all := newMeeting(workers)
	barrier := reply{fn: func(w http.ResponseWriter, r *http.Request) {
		all.wait()
		w.WriteHeader(http.StatusTooManyRequests)
	}}
	replies := make([]reply, 0, workers+1)
	for range workers {
		replies = append(replies, barrier)
	}
	d := newDRUID(t, append(replies, reply{code: 200})...)
	lim := rate.NewLimiter(1000, workers)
	c, logs := newClient(t, d.srv.URL, func(c *Config) {
		c.Limiter, c.Retries, c.Concurrency = lim, 1, workers
	})
	useFakeClock(t, c) // frozen: no recovery blurs the count

	results := sendAll(t, c, newPayload(t), workers)
	require.True(t, all.met(), "the first calls did not all meet at DRUID")
	for _, res := range results {
		require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 2}, res)
	}
	st := c.Stats()
	require.Equal(t, int64(workers), st.Throttled)
	require.Equal(t, int64(1), st.SlowDowns, "one burst, one slow-down")
	require.Equal(t, rate.Limit(500), lim.Limit())
	require.Len(t, logLines(logs, "druid: throttled, the whole job slows down"), 1)
}

// TestThrottleCodes checks which answers slow the job down: 429, and 503 with Retry-After, say it
// is too fast; other failures say nothing about its pace.
func TestThrottleCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		first         reply
		wantSlowDowns int64
		wantRate      rate.Limit
	}{
		{"429", reply{code: 429}, 1, 5},
		{"503 with Retry-After", reply{code: 503, header: map[string]string{"Retry-After": "1"}}, 1, 5},
		{"503", reply{code: 503}, 0, 10}, // a fault of the call, not a word on the pace
		{"503 with Retry-After 0", reply{code: 503, header: map[string]string{"Retry-After": "0"}}, 0, 10},
		{"500", reply{code: 500}, 0, 10},
		{"502", reply{code: 502}, 0, 10},
		{"504", reply{code: 504}, 0, 10},
		{"404", reply{code: 404}, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := rate.NewLimiter(10, 5)
			d := newDRUID(t, tt.first, reply{code: 200})
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Limiter, c.Retries = lim, 1 })
			useFakeClock(t, c)
			c.Send(t.Context(), newPayload(t))
			st := c.Stats()
			require.Equal(t, tt.wantSlowDowns, st.SlowDowns)
			require.Equal(t, tt.wantSlowDowns, st.Throttled)
			require.Equal(t, tt.wantRate, lim.Limit())
		})
	}
}

// TestThrottleUnlimited checks the documented choice: an unlimited limiter is left unlimited,
// and throttling still holds every worker for Retry-After.
func TestThrottleUnlimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		lim  *rate.Limiter
	}{
		{"no limiter", nil},
		{"rate.Inf", rate.NewLimiter(rate.Inf, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, reply{code: 429, header: map[string]string{"Retry-After": "1"}}, reply{code: 200})
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Limiter, c.Retries = tt.lim, 1 })
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, Updated, res.Outcome)
			require.Equal(t, Stats{Requests: 2, Retries: 1, Throttled: 1}, c.Stats(), "0 rates: unlimited")
			if tt.lim != nil {
				require.Equal(t, rate.Inf, tt.lim.Limit())
			}
			got := d.requests()
			require.False(t, got[1].at.Before(got[0].at.Add(time.Second-20*time.Millisecond)), "Retry-After held")
		})
	}
}

// TestThrottleWithTokenFile checks that the token file's refresh and the slow-down work
// together: a 429, then a 401 that the rotated file cures.
func TestThrottleWithTokenFile(t *testing.T) {
	t.Parallel()
	path := tokenFile(t, fileToken1)
	lim := rate.NewLimiter(10, 5)
	d := newDRUID(t, reply{code: 429}, acceptOnly(fileToken2))
	c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Token, c.TokenFile, c.Retries, c.Limiter = "", path, 5, lim })
	useFakeClock(t, c)
	writeToken(t, path, fileToken2)

	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 3}, res)
	var tokens []string
	for _, r := range d.requests() {
		tokens = append(tokens, strings.TrimPrefix(r.header.Get("Authorization"), "Bearer "))
	}
	require.Equal(t, []string{fileToken1, fileToken1, fileToken2}, tokens)
	require.Equal(t, Stats{Requests: 3, Retries: 2, Throttled: 1, SlowDowns: 1, MinRate: 5, CurrentRate: 5}, c.Stats(),
		"the 401 neither slows the job nor spends a retry of --retries, but it is a try again")
	require.Equal(t, rate.Limit(5), lim.Limit())
}

func TestStatsWithoutThrottling(t *testing.T) {
	t.Parallel()
	d := newDRUID(t, reply{code: 500}, reply{code: 200})
	c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Limiter, c.Retries = rate.NewLimiter(10, 5), 3 })
	c.Send(t.Context(), newPayload(t))
	c.Send(t.Context(), newPayload(t))
	require.Equal(t, Stats{Requests: 3, Retries: 1, MinRate: 10, CurrentRate: 10}, c.Stats())
}
