package druidsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"druid-migrate/sink"
)

func TestLatencyDelaysAPIResponsesOnly(t *testing.T) {
	t.Parallel()
	const latency = 200 * time.Millisecond
	s := newSim(t, Config{Latency: latency}, seeded("u1"))

	start := time.Now()
	if got := s.update(t, typical("u1")); got.code != http.StatusNotModified {
		t.Fatalf("status %d, want 304", got.code)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("update answered in %v, want at least %v", d, latency)
	}
	start = time.Now()
	s.do(t, call{method: http.MethodGet, path: FakeStatsPath})
	if d := time.Since(start); d >= latency {
		t.Errorf("/__fake/stats answered in %v: the latency must not apply to it", d)
	}
}

func TestLatencyHonoursTheRequestContext(t *testing.T) {
	t.Parallel()
	s := New(Config{Tokens: []string{adminToken}, Latency: time.Hour})
	if err := s.Seed(seeded("u1")); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(with("u1", func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: "Never"} }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client has given up: ServeHTTP must return now, not in an hour
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, UpdatePath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("From", entryPoint)
	s.ServeHTTP(httptest.NewRecorder(), req)

	if u, _ := s.User("u1"); u.Calls != 0 || u.User.Datas["name"].Value != "Ana" {
		t.Errorf("an abandoned request reached the user: %+v", u)
	}
	if st := s.Stats(); st.Total != 0 {
		t.Errorf("an abandoned request was counted: %+v", st)
	}
}

func TestFailRateAppliesNothing(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{FailRate: 1}, seeded("u1"))
	const calls = 40
	seen := map[int]int{}
	for range calls {
		got := s.update(t, with("u1", func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: "Changed"} }))
		if got.code != http.StatusInternalServerError && got.code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 500 or 503", got.code)
		}
		if len(got.env.Result.Errors) == 0 {
			t.Errorf("%d without result.errors", got.code)
		}
		if ra := got.header.Get("Retry-After"); ra != "" {
			t.Errorf("%d with Retry-After %q: a random fault must not read as throttling", got.code, ra)
		}
		seen[got.code]++
	}
	// Each is drawn with probability 1/2: missing one in 40 draws has odds of 2^-39.
	if seen[500] == 0 || seen[503] == 0 {
		t.Errorf("answers %v, want both 500 and 503", seen)
	}
	u := s.mustUser(t, "u1")
	if u.Calls != calls || u.Updates != 0 || u.User.Datas["name"].Value != "Ana" {
		t.Errorf("calls %d updates %d name %q: want %d calls and nothing applied", u.Calls, u.Updates, u.User.Datas["name"].Value, calls)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := newSim(t, Config{RateLimit: limit}, seeded("u1"))
	for i := range limit + 2 {
		got := s.update(t, typical("u1"))
		if i < limit {
			if got.code != http.StatusNotModified {
				t.Fatalf("request %d: status %d, want 304", i+1, got.code)
			}
			continue
		}
		if got.code != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d, want 429", i+1, got.code)
		}
		if ra := got.header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
	}
	if got := s.do(t, call{method: http.MethodGet, path: UserPathPrefix + "u1", token: adminToken}); got.code != http.StatusOK {
		t.Errorf("GET user while updates are limited: status %d, want 200", got.code)
	}
	s.advance(time.Second)
	if got := s.update(t, typical("u1")); got.code != http.StatusNotModified {
		t.Errorf("next second: status %d, want 304", got.code)
	}
	if u := s.mustUser(t, "u1"); u.Calls != limit+1 {
		t.Errorf("calls %d, want %d: a 429 must not reach the user", u.Calls, limit+1)
	}
}

func TestResetRateResetsTheConnectionAndAppliesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(*httptest.Server)
		rst   bool // the client sees the TCP reset itself, not an HTTP/2 stream reset
	}{
		{"http", (*httptest.Server).Start, true},
		{"https", (*httptest.Server).StartTLS, true},
		{"http2", func(ts *httptest.Server) { ts.EnableHTTP2 = true; ts.StartTLS() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSimOver(t, tt.start, Config{ResetRate: 1}, seeded("u1"))
			const calls = 3 // more than one: the client must recover from a broken connection
			for i := range calls {
				code, err := s.post(t.Context(), adminToken, renamed("u1", fmt.Sprint("Reset ", i)))
				if err == nil {
					t.Fatalf("call %d: answered %d, want a connection error", i+1, code)
				}
				if tt.rst && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("call %d: %v, want connection reset by peer", i+1, err)
				}
			}
			u := s.mustUser(t, "u1")
			if u.Calls != calls || u.Updates != 0 || u.User.Datas["name"].Value != "Ana" {
				t.Errorf("calls %d updates %d name %q: want %d calls and nothing applied", u.Calls, u.Updates, u.User.Datas["name"].Value, calls)
			}
			var st Stats
			if err := json.Unmarshal(s.do(t, call{method: http.MethodGet, path: FakeStatsPath}).raw, &st); err != nil {
				t.Fatal(err)
			}
			if st.Requests[StatusReset] != calls || st.Resets != calls || st.Total != calls {
				t.Errorf("stats %+v, want %d resets under status %d", st, calls, StatusReset)
			}
		})
	}
}

func TestSetDownDropsEveryAPIRequestUntilBackUp(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	s.SetDown(true)
	for i := range 3 { // more than one: the client must recover from a broken connection
		code, err := s.post(t.Context(), adminToken, renamed("u1", fmt.Sprint("Down ", i)))
		if err == nil {
			t.Fatalf("update %d while down: answered %d, want a connection error", i+1, code)
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("update %d while down: %v, want connection reset by peer", i+1, err)
		}
	}
	if _, err := s.client.PostForm(s.url+TokenPath, url.Values{"grant_type": {"client_credentials"}}); err == nil {
		t.Error("the token endpoint answered while down")
	}
	if _, err := s.client.Get(s.url + UserPathPrefix + "u1"); err == nil {
		t.Error("the read user call answered while down")
	}
	var st Stats
	if err := json.Unmarshal(s.do(t, call{method: http.MethodGet, path: FakeStatsPath}).raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Dropped != 5 || st.Total != 0 {
		t.Errorf("stats while down %+v, want 5 dropped and no request seen", st)
	}
	if u := s.mustUser(t, "u1"); u.Calls != 0 || u.User.Datas["name"].Value != "Ana" {
		t.Errorf("a dropped request reached the user: %+v", u)
	}

	s.SetDown(false)
	if got := s.update(t, renamed("u1", "Back")); got.code != http.StatusOK {
		t.Fatalf("update once back: status %d, want 200", got.code)
	}
	if u := s.mustUser(t, "u1"); u.Updates != 1 || u.User.Datas["name"].Value != "Back" {
		t.Errorf("once back: updates %d name %q, want the update applied", u.Updates, u.User.Datas["name"].Value)
	}
}

func TestResetRateStrikesItsShareOnly(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ResetRate: 0.5}, seeded("u1"))
	const calls = 40
	answered, resets := 0, 0
	want := "Ana" // the name of the last call that was answered
	for i := range calls {
		name := fmt.Sprint("Call ", i)
		code, err := s.post(t.Context(), adminToken, renamed("u1", name))
		switch {
		case err != nil:
			resets++
		case code == http.StatusOK:
			answered++
			want = name
		default:
			t.Fatalf("call %d: status %d", i+1, code)
		}
		if got := s.mustUser(t, "u1").User.Datas["name"].Value; got != want {
			t.Fatalf("after call %d the name is %q, want %q: a reset call was applied", i+1, got, want)
		}
	}
	// Each is drawn with probability 1/2: missing one in 40 draws has odds of 2^-39.
	if resets == 0 || answered == 0 {
		t.Errorf("%d resets and %d answers, want some of each", resets, answered)
	}
	u, st := s.mustUser(t, "u1"), s.Stats()
	if u.Calls != calls || u.Updates != answered || st.Resets != int64(resets) || st.Requests[http.StatusOK] != int64(answered) {
		t.Errorf("user %d calls %d updates, stats %+v; want %d calls, %d updates, %d resets", u.Calls, u.Updates, st, calls, answered, resets)
	}
}

func TestFaultSharesAddUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reset, fail         float64
		wantReset, wantFail float64
	}{
		{0.2, 0.3, 0.2, 0.3},
		{0.7, 0.6, 0.7, 0.3}, // resets are served first
		{1.5, 1, 1, 0},
		{-1, 2, 0, 1},
	}
	for _, tt := range tests {
		s := New(Config{ResetRate: tt.reset, FailRate: tt.fail})
		if s.resetRate != tt.wantReset || math.Abs(s.failRate-tt.wantFail) > 1e-9 {
			t.Errorf("ResetRate %v FailRate %v: shares %v and %v, want %v and %v", tt.reset, tt.fail, s.resetRate, s.failRate, tt.wantReset, tt.wantFail)
		}
	}
}

func TestSlowResponsesAddSlowLatency(t *testing.T) {
	t.Parallel()
	const latency, slow = 20 * time.Millisecond, 60 * time.Millisecond
	s := newSim(t, Config{Latency: latency, SlowRate: 1, SlowLatency: slow, ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	for _, c := range []func(){
		func() { s.update(t, typical("u1")) },
		func() { s.do(t, call{method: http.MethodGet, path: UserPathPrefix + "u1", token: adminToken}) },
		func() { s.token(t, clientForm(GrantClientCredentials)) },
	} {
		start := time.Now()
		c()
		if d := time.Since(start); d < latency+slow {
			t.Errorf("answered in %v, want at least %v", d, latency+slow)
		}
	}
	if st := s.Stats(); st.SlowResponses != 3 || st.Total != 3 {
		t.Errorf("stats %+v, want 3 slow responses of 3", st)
	}
}

// TestSlowRateBeforeApply holds the slow share of concurrent updates for an hour, lets the
// others answer, then gives up on the slow ones: they must have changed nothing and their
// handlers must return at once.
func TestSlowRateBeforeApply(t *testing.T) {
	t.Parallel()
	const n = 40
	var seeds []Seed
	for i := range n {
		seeds = append(seeds, seeded(fmt.Sprint("u", i)))
	}
	s := newSim(t, Config{SlowRate: 0.5, SlowLatency: time.Hour}, seeds...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	codes, errs := make([]int, n), make([]error, n)
	var (
		wg       sync.WaitGroup
		returned atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			codes[i], errs[i] = s.post(ctx, adminToken, renamed(fmt.Sprint("u", i), "Changed"))
			returned.Add(1)
		})
	}
	// Every client has its answer, or its request is held: cancelling now strikes only those.
	waitFor(t, "every request answered or held", func() bool { return returned.Load()+s.Stats().SlowResponses == n })
	cancel()
	wg.Wait()
	s.closeWithin(t, 10*time.Second)

	st := s.Stats()
	// Each is drawn with probability 1/2: missing one in 40 draws has odds of 2^-39.
	if st.SlowResponses == 0 || st.Total == 0 {
		t.Fatalf("stats %+v, want some slow and some answered", st)
	}
	for i := range n {
		u := s.mustUser(t, fmt.Sprint("u", i))
		switch {
		case errs[i] == nil && codes[i] == http.StatusOK:
			if u.User.Datas["name"].Value != "Changed" || u.Calls != 1 {
				t.Errorf("u%d answered 200 but holds %+v", i, u)
			}
		case errors.Is(errs[i], context.Canceled):
			if u.User.Datas["name"].Value != "Ana" || u.Calls != 0 {
				t.Errorf("u%d: a slow request the client gave up on reached the user: %+v", i, u)
			}
		default:
			t.Errorf("u%d: status %d, error %v", i, codes[i], errs[i])
		}
	}
	if st.Requests[http.StatusOK] != n-st.SlowResponses {
		t.Errorf("stats %+v: want the %d answers counted, the abandoned ones not", st, n-st.SlowResponses)
	}
}

func TestSlowAfterApplyLeavesTheUpdateApplied(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{SlowRate: 1, SlowLatency: time.Hour, SlowAfterApply: true}, seeded("u1"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.post(ctx, adminToken, renamed("u1", "Applied"))
		done <- err
	}()
	// The answer is counted when it is ready to be written, before the slow delay.
	waitFor(t, "the update applied", func() bool { return s.Stats().Requests[http.StatusOK] == 1 })
	if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "Applied" || u.Updates != 1 {
		t.Fatalf("user %+v, want the update applied while the answer waits", u)
	}
	cancel() // the client times out
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client got %v, want its own cancellation", err)
	}
	s.closeWithin(t, 10*time.Second)
	if st := s.Stats(); st.SlowResponses != 1 || st.Total != 1 {
		t.Errorf("stats %+v, want one slow 200", st)
	}
}

// paced posts updates at the instants of the simulated clock that gaps gives, and returns
// how many were refused with 429, checking each Retry-After.
func (s *sim) paced(t *testing.T, gaps func(i int) time.Duration, n int) (refused int) {
	t.Helper()
	for i := range n {
		s.advance(gaps(i))
		got := s.update(t, typical("u1"))
		switch got.code {
		case http.StatusNotModified:
		case http.StatusTooManyRequests:
			refused++
			if ra, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("Retry-After %q, want whole seconds, at least 1", got.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("request %d: status %d", i+1, got.code)
		}
	}
	return refused
}

func TestRateLimitNeverRefusesAPacedClient(t *testing.T) {
	t.Parallel()
	const limit = 50
	interval := time.Second / limit
	tests := []struct {
		name string
		gaps func(i int) time.Duration
	}{
		{"evenly", func(int) time.Duration { return interval }},
		// Jitter: every other request comes 40% early, the next one as late, so the rate
		// stays the limit while single gaps are shorter than the interval.
		{"with jitter", func(i int) time.Duration {
			if i%2 == 0 {
				return interval * 6 / 10
			}
			return interval * 14 / 10
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Config{RateLimit: limit}, seeded("u1"))
			s.advance(730 * time.Millisecond) // not aligned on a second: the limit has no calendar
			if refused := s.paced(t, tt.gaps, 3*limit); refused != 0 {
				t.Errorf("%d of %d requests refused at exactly %d/s", refused, 3*limit, limit)
			}
		})
	}
}

func TestRateLimitBoundsTheRefusalsOfAFastClient(t *testing.T) {
	t.Parallel()
	const limit = 50
	s := newSim(t, Config{RateLimit: limit}, seeded("u1"))
	// 2×limit per second for 2 s: the bucket's limit at once, then limit per second.
	refused := s.paced(t, func(int) time.Duration { return time.Second / (2 * limit) }, 4*limit)
	accepted := 4*limit - refused
	if accepted < 2*limit || accepted > 3*limit+1 {
		t.Errorf("%d accepted, %d refused: want between %d and %d accepted", accepted, refused, 2*limit, 3*limit+1)
	}
	if u := s.mustUser(t, "u1"); u.Calls != accepted {
		t.Errorf("calls %d, want %d: a 429 must not reach the user", u.Calls, accepted)
	}
	if st := s.Stats(); st.Requests[http.StatusTooManyRequests] != int64(refused) {
		t.Errorf("stats %+v, want %d answers 429", st, refused)
	}
}
