package druidsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
