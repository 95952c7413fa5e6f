package sink

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// observed is one call an ObserveFunc was told of.
type observed struct {
	call    string
	code    int
	elapsed time.Duration
}

// observer records what an ObserveFunc is told, from many goroutines.
type observer struct {
	mu  sync.Mutex
	got []observed
}

func (o *observer) observe(call string, code int, elapsed time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observed{call, code, elapsed})
}

// calls returns the calls told so far, as call and code only.
func (o *observer) calls() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]observed, len(o.got))
	for i, c := range o.got {
		out[i] = observed{call: c.call, code: c.code}
	}
	return out
}

func (o *observer) elapsed(i int) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got[i].elapsed
}

func TestObserveUpdateCalls(t *testing.T) {
	t.Parallel()
	update := func(code int) observed { return observed{call: CallUpdate, code: code} }
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		retries int
		timeout time.Duration
		want    []observed
	}{
		{"updated", func(t *testing.T) string { return newDRUID(t, reply{code: 200}).srv.URL }, 0, 0,
			[]observed{update(200)}},
		{"unchanged", func(t *testing.T) string { return newDRUID(t, reply{code: 304}).srv.URL }, 0, 0,
			[]observed{update(304)}},
		{"rejected", func(t *testing.T) string {
			return newDRUID(t, reply{code: 416, body: `{"result":{"status":416}}`}).srv.URL
		}, 2, 0,
			[]observed{update(416)}},
		{"retried", func(t *testing.T) string {
			return newDRUID(t, reply{code: 503}, reply{code: 500}, reply{code: 200}).srv.URL
		}, 2, 0,
			[]observed{update(503), update(500), update(200)}},
		// Nothing listens on port 1 (tcpmux): no server of these tests binds it.
		{"connection refused", func(*testing.T) string { return "http://127.0.0.1:1" }, 1, 0,
			[]observed{update(0), update(0)}},
		{"connection dropped", func(t *testing.T) string { return newDRUID(t, reply{hangup: true}).srv.URL }, 0, 0,
			[]observed{update(0)}},
		{"timeout", func(t *testing.T) string { return newDRUID(t, reply{hang: true}).srv.URL }, 0, 50 * time.Millisecond,
			[]observed{update(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o observer
			c, _ := newClient(t, tt.url(t), func(c *Config) {
				c.Retries = tt.retries
				c.Observe = o.observe
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, tt.want, o.calls())
			require.Equal(t, res.Attempts, len(o.calls()), "one observation per update call")
			if tt.timeout > 0 {
				require.GreaterOrEqual(t, o.elapsed(0), tt.timeout, "a timeout is observed after it struck")
			}
		})
	}
}

func TestObserveElapsedIsTheCallsLatency(t *testing.T) {
	t.Parallel()
	const latency = 30 * time.Millisecond
	answer := make(chan struct{})
	d := newDRUID(t, reply{code: 200, wait: answer})
	var o observer
	c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Observe = o.observe })
	time.AfterFunc(latency, func() { close(answer) })
	start := time.Now()
	res := c.Send(t.Context(), newPayload(t))
	took := time.Since(start)
	require.Equal(t, Updated, res.Outcome)
	require.Equal(t, []observed{{call: CallUpdate, code: 200}}, o.calls())
	require.GreaterOrEqual(t, o.elapsed(0), latency/2, "the wait for DRUID's answer is in it") // the timer starts before Send
	require.LessOrEqual(t, o.elapsed(0), took)
}

func TestObserveTokenCalls(t *testing.T) {
	t.Parallel()
	t.Run("granted", func(t *testing.T) {
		t.Parallel()
		auth, update := newDRUID(t, issue()), newDRUID(t, reply{code: 503}, reply{code: 200})
		var o observer
		c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Retries = 1; c.Observe = o.observe })
		res := c.Send(t.Context(), newPayload(t))
		require.Equal(t, Updated, res.Outcome)
		require.Equal(t, []observed{
			{CallToken, 200, 0}, {CallUpdate, 503, 0}, {CallToken, 200, 0}, {CallUpdate, 200, 0},
		}, o.calls(), "every try asks for its own token")
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		auth, update := newDRUID(t, oauthError(401, "invalid_client", "bad secret")), newDRUID(t, reply{code: 200})
		var o observer
		c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Retries = 2; c.Observe = o.observe })
		res := c.Send(t.Context(), newPayload(t))
		require.Equal(t, Failed, res.Outcome)
		require.Equal(t, []observed{{CallToken, 401, 0}}, o.calls(), "no update without a token")
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		auth, update := newDRUID(t, reply{hangup: true}), newDRUID(t, reply{code: 200})
		var o observer
		c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Observe = o.observe })
		c.Send(t.Context(), newPayload(t))
		require.Equal(t, []observed{{CallToken, 0, 0}}, o.calls())
	})
}

func TestObserveReads(t *testing.T) {
	t.Parallel()
	t.Run("a Reader of its own", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onRead = func(w http.ResponseWriter, r *http.Request, _ string, n int64) {
				if n == 1 {
					w.WriteHeader(http.StatusNotFound)
					w.Write([]byte(`{"result":{"status":404}}`))
					return
				}
				w.Write([]byte(userJSON))
			}
		})
		var o observer
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Observe = o.observe })
		_, found, err := r.Get(t.Context(), readObjectID)
		require.NoError(t, err)
		require.False(t, found)
		mustGet(t, r)
		require.Equal(t, []observed{{CallToken, 200, 0}, {CallRead, 404, 0}, {CallRead, 200, 0}}, o.calls(),
			"one client token serves both reads")
	})
	t.Run("a Client's Reader", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, nil)
		var o observer
		c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Observe = o.observe })
		r, err := c.Reader(ReaderConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret})
		require.NoError(t, err)
		t.Cleanup(r.Close)
		mustGet(t, r)
		require.Equal(t, Updated, c.Send(t.Context(), newPayload(t)).Outcome)
		require.Equal(t, []observed{{CallToken, 200, 0}, {CallRead, 200, 0}, {CallUpdate, 200, 0}}, o.calls(),
			"the Client's observer sees its Reader's calls")
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		var o observer
		r, _ := newTestReader(t, "http://127.0.0.1:1", func(c *ReaderConfig) { c.Observe = o.observe })
		_, _, err := r.Get(t.Context(), readObjectID)
		require.Error(t, err)
		require.Equal(t, []observed{{CallToken, 0, 0}}, o.calls())
	})
}

func TestObserveNotToldOfACallNeverMade(t *testing.T) {
	t.Parallel()
	d := newDRUID(t, reply{code: 200})
	var o observer
	c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Observe = o.observe })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := c.Send(ctx, newPayload(t))
	require.Equal(t, Failed, res.Outcome)
	require.Empty(t, o.calls(), "interrupted while waiting for a turn: no call")
	require.Empty(t, d.requests())
}

func TestObserveConcurrentSends(t *testing.T) {
	t.Parallel()
	d := newDRUID(t, reply{code: 503}, reply{code: 200})
	var n atomic.Int64
	c, _ := newClient(t, d.srv.URL, func(c *Config) {
		c.Retries, c.Concurrency = 3, 4
		c.Observe = func(call string, code int, _ time.Duration) {
			if call == CallUpdate && code > 0 {
				n.Add(1)
			}
		}
	})
	var wg sync.WaitGroup
	p := newPayload(t)
	for range 16 {
		wg.Go(func() { c.Send(t.Context(), p) })
	}
	wg.Wait()
	require.EqualValues(t, len(d.requests()), n.Load())
}

// BenchmarkSendObserved is BenchmarkSend with an observer that counts: the cost of the hook
// itself, without what a metrics library does with it.
func BenchmarkSendObserved(b *testing.B) {
	c, p := benchClient(b, 1)
	var n atomic.Int64
	c.observe = func(string, int, time.Duration) { n.Add(1) }
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Send(b.Context(), p); res.Outcome != Updated {
			b.Fatalf("outcome %s: %s", res.Outcome, res.Error)
		}
	}
}
