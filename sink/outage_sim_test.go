package sink_test

// These tests send users through a Client to the simulator while it misbehaves as a production
// DRUID does: random faults, a rate limit, an outage. They check what SPEC §4 promises of each:
// every user ends updated once, a fault of one call slows nobody else, and DRUID down for a
// while fails no user.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"druid-migrate/druidsim"
	"druid-migrate/internal/logtest"
	"druid-migrate/sink"
)

// sendMany sends users u-0 … u-(n-1) through c from workers goroutines, as a run's workers do,
// and returns their results by user.
func sendMany(t *testing.T, c *sink.Client, n, workers int) []sink.SendResult {
	t.Helper()
	payloads := make([]*sink.Payload, n)
	for i := range payloads {
		payloads[i] = simPayload(t, fmt.Sprintf("u-%d", i))
	}
	results := make([]sink.SendResult, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				results[i] = c.Send(t.Context(), payloads[i])
			}
		})
	}
	wg.Wait()
	return results
}

// requireAllUpdatedOnce checks that every one of n users ended updated, and that the simulator
// applied each exactly once.
func requireAllUpdatedOnce(t *testing.T, sim *druidsim.Server, results []sink.SendResult) {
	t.Helper()
	for i, res := range results {
		require.Equal(t, sink.Updated, res.Outcome, "user %d: %s", i, res.Error)
		require.Nil(t, res.Fault, "user %d", i)
		require.NoError(t, res.Err, "user %d", i)
		u, ok := sim.User(fmt.Sprintf("u-%d", i))
		require.True(t, ok, "user %d", i)
		require.Equal(t, 1, u.Updates, "user %d applied once", i)
	}
}

// newOutageClient serves sim and returns a Client of it with a static token, logging at debug
// into the returned buffer.
func newOutageClient(t *testing.T, sim *druidsim.Server, edit func(*sink.Config)) (*sink.Client, *logtest.Buffer) {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	log, logs := sink.DebugLog(t)
	return sink.MustNew(t, sink.Config{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, Token: simToken, Concurrency: 16, Retries: 10,
		BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: 10 * time.Second, Log: log,
	}, edit, sink.New), logs
}

// TestRandomFaultsDoNotSlowTheJob: a fifth of DRUID's answers are 500 or 503 without
// Retry-After, at random. Each user is retried alone and ends updated, and the shared rate is
// never cut: such faults say nothing of the pace.
func TestRandomFaultsDoNotSlowTheJob(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true, FailRate: 0.2})
	lim := rate.NewLimiter(2000, 16)
	c, _ := newOutageClient(t, sim, func(cfg *sink.Config) { cfg.Limiter = lim })

	results := sendMany(t, c, 600, 16)
	requireAllUpdatedOnce(t, sim, results)
	st := c.Stats()
	faults := sim.Stats().Requests[500] + sim.Stats().Requests[503]
	require.Positive(t, faults, "the fail rate struck")
	require.Equal(t, faults, st.Retries, "each fault cost its user one retry, and no one else anything")
	require.Zero(t, st.Throttled)
	require.Zero(t, st.SlowDowns, "no cut of the shared rate")
	require.Zero(t, st.Overloads)
	require.Equal(t, rate.Limit(2000), lim.Limit())
}

// TestTheFaultScenarioOfTheIssue is the bad day of issue 14 through the Client: 20% of answers
// 500 or 503 at random, 2% of connections reset, and 429 past 300 calls a second, at --rate 1000
// with 16 workers and --retries 10. Every user ends updated, each applied once, and the rate is
// cut a few times, not once per fault. The time it takes is logged, not asserted: bench
// measures it.
func TestTheFaultScenarioOfTheIssue(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 users at DRUID's 300/s take about 13 s")
	}
	t.Parallel()
	sim := druidsim.New(druidsim.Config{
		Tokens: []string{simToken}, Autocreate: true, FailRate: 0.2, ResetRate: 0.02, RateLimit: 300,
	})
	c, _ := newOutageClient(t, sim, func(cfg *sink.Config) {
		cfg.Limiter = rate.NewLimiter(1000, 1)
		cfg.BackoffBase, cfg.BackoffMax = sink.BackoffBaseDefault, sink.BackoffMaxDefault
	})

	start := time.Now()
	results := sendMany(t, c, 3000, 16)
	elapsed := time.Since(start)
	requireAllUpdatedOnce(t, sim, results)
	st := c.Stats()
	t.Logf("3,000 users in %.1f s: %d requests, %d retries, %d throttled, %d slow-downs, lowest rate %.0f/s",
		elapsed.Seconds(), st.Requests, st.Retries, st.Throttled, st.SlowDowns, st.MinRate)
	if st.Throttled == 0 {
		t.Log("this machine never sent past DRUID's limit: the faults alone were tried")
	}
	require.Less(t, st.SlowDowns, int64(20), "cuts at most once a second, for 429s only")
	require.Zero(t, st.Overloads)
}

// TestTheRateSettlesAtDRUIDsLimit: DRUID takes 300 calls a second and answers 429 past them; the
// job, configured for 1000, settles within 20% of 300 a second. The rate is measured from the
// first 429, when the simulator's bucket of a second's worth of calls is spent, to the last
// update, over at least 3 s. The bucket the job leaves unspent at the end counts against it,
// by up to 300 calls over the span: 3,000 users make the span long enough for that to stay
// well inside the 20%.
func TestTheRateSettlesAtDRUIDsLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 users at DRUID's 300/s take about 10 s")
	}
	t.Parallel()
	const limit = 300
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true, RateLimit: limit})
	var mu sync.Mutex
	var firstRefusal time.Time
	var updated []time.Time
	c, _ := newOutageClient(t, sim, func(cfg *sink.Config) {
		cfg.Limiter = rate.NewLimiter(1000, 1)
		cfg.BackoffBase, cfg.BackoffMax = sink.BackoffBaseDefault, sink.BackoffMaxDefault
		cfg.Log = zerolog.Nop()
		cfg.Observe = func(_ string, code int, _ time.Duration) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 429 && firstRefusal.IsZero():
				firstRefusal = now
			case code == 200:
				updated = append(updated, now)
			}
		}
	})

	requireAllUpdatedOnce(t, sim, sendMany(t, c, 3000, 16))
	mu.Lock()
	defer mu.Unlock()
	require.False(t, firstRefusal.IsZero(), "the job went past the limit at first")
	slices.SortFunc(updated, time.Time.Compare)
	i, _ := slices.BinarySearchFunc(updated, firstRefusal, time.Time.Compare)
	span := updated[len(updated)-1].Sub(firstRefusal)
	require.GreaterOrEqual(t, span, 3*time.Second, "too short a measure")
	achieved := float64(len(updated)-i) / span.Seconds()
	st := c.Stats()
	t.Logf("%.0f updates/s over %.1f s, %d throttled, %d slow-downs, lowest rate %.0f/s",
		achieved, span.Seconds(), st.Throttled, st.SlowDowns, st.MinRate)
	// The target, within 20% of the limit, is measured on a quiet machine by `go run ./bench
	// -only faults`; a loaded one adds its own slowness. What a test can hold everywhere: the
	// job never runs far over DRUID's limit, and never collapses under it (random throttling
	// once cut the rate to an eighth of it).
	require.LessOrEqual(t, achieved, 1.2*limit, "no more than 20%% over DRUID's limit")
	require.GreaterOrEqual(t, achieved, 0.5*limit, "the rate never collapses under DRUID's limit")
}

// TestDRUIDDownForAWhileFailsNoUser stops DRUID mid-run for over a second, then brings it
// back: the workers wait without spending the users' retries, every user ends updated once,
// Stats shows the outage while it lasts, and the log says when it began and ended.
func TestDRUIDDownForAWhileFailsNoUser(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true})
	c, logs := newOutageClient(t, sim, func(cfg *sink.Config) {
		cfg.Retries = 2 // far fewer than the tries an outage of a second costs
		cfg.DownTimeout = 10 * time.Second
		cfg.BackoffBase, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
		cfg.Limiter = rate.NewLimiter(400, 8)
	})

	done := make(chan []sink.SendResult)
	go func() { done <- sendMany(t, c, 800, 8) }()
	require.Eventually(t, func() bool { return sim.Stats().Total >= 100 }, 10*time.Second, time.Millisecond)
	sim.SetDown(true)
	var downSince time.Time
	require.Eventually(t, func() bool {
		downSince = c.Stats().DownSince
		return !downSince.IsZero()
	}, 10*time.Second, time.Millisecond, "an outage of a second shows in Stats")
	require.WithinDuration(t, time.Now(), downSince, 5*time.Second)
	require.Positive(t, sim.Stats().Dropped)
	sim.SetDown(false)

	requireAllUpdatedOnce(t, sim, <-done)
	require.True(t, c.Stats().DownSince.IsZero(), "DRUID answers again")
	require.Contains(t, logs.String(), `"message":"druid: every call fails: the workers wait for DRUID to answer"`)
	require.Contains(t, logs.String(), `"message":"druid: DRUID answers again"`)
}

// TestDRUIDDownPastTheTimeout keeps DRUID down: once the outage has lasted DownTimeout, every
// Send still going returns ErrUnreachable in Err, which is no outcome of the user, and no user
// is failed because of the outage.
func TestDRUIDDownPastTheTimeout(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true})
	c, _ := newOutageClient(t, sim, func(cfg *sink.Config) {
		cfg.Retries = 3
		cfg.DownTimeout = time.Second
	})
	requireAllUpdatedOnce(t, sim, sendMany(t, c, 50, 8))

	sim.SetDown(true)
	results := sendMany(t, c, 40, 8)
	for i, res := range results {
		require.ErrorIs(t, res.Err, sink.ErrUnreachable, "user %d: %+v", i, res)
		require.Contains(t, res.Error, "DRUID unreachable for ")
		require.Contains(t, res.Error, "past --druid-timeout 1s; the last try: POST /activityid/v1/user/update: ")
		require.Equal(t, sink.Failed, res.Outcome, "for a caller that does not look at Err")
		require.Nil(t, res.Fault, "a connection reset is DRUID's, not a wrong flag")
	}
	require.Positive(t, sim.Stats().Dropped)
}

// TestALoneCallerIsNeverInAnOutage: one worker sends one user at a time to a DRUID that
// answers no call. Its first user spends its retries and fails, as a user DRUID cannot take
// must; the next user's faults follow the first's, so the outage is DRUID's, and it waits it out.
func TestALoneCallerIsNeverInAnOutage(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true})
	c, _ := newOutageClient(t, sim, func(cfg *sink.Config) {
		cfg.Retries = 2
		cfg.DownTimeout = 200 * time.Millisecond
	})
	sim.SetDown(true)
	first := c.Send(t.Context(), simPayload(t, "u-1"))
	require.Equal(t, sink.Failed, first.Outcome)
	require.Equal(t, 3, first.Attempts, "its retries spent")
	require.NoError(t, first.Err)

	second := c.Send(t.Context(), simPayload(t, "u-2"))
	require.ErrorIs(t, second.Err, sink.ErrUnreachable)
	require.Greater(t, second.Attempts, 3, "the outage's tries spend no retries")
}

// TestAUserDRUIDAlwaysFailsIsNoOutage: DRUID answers some users 500 in its own envelope, every
// time, and the others 200. When those users are all that is left, no good answer comes between
// their faults; still DRUID answers, so each spends its retries and ends failed, and the run is
// not held as in an outage (which would stop every run of the job at the same users).
func TestAUserDRUIDAlwaysFailsIsNoOutage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"content":{},"result":{"status":500,"errors":[{"message":"datas.name","details":"internal error"}]}}`)
	}))
	t.Cleanup(srv.Close)
	c, err := sink.New(sink.Config{Endpoint: srv.URL, EntryPoint: "231705665113870-main", Token: simToken,
		Retries: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, DownTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	results := sendMany(t, c, 16, 8)
	for i, res := range results {
		require.NoError(t, res.Err, "user %d: DRUID answered; no outage", i)
		require.Equal(t, sink.Failed, res.Outcome, "user %d", i)
		require.Equal(t, 3, res.Attempts, "user %d spent its retries, no more", i)
	}
}
