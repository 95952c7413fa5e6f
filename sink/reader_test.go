package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestNewReaderValidates(t *testing.T) {
	t.Parallel()
	valid := ReaderConfig{Endpoint: "http://druid.test", EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret}
	tests := []struct {
		name string
		edit func(*ReaderConfig)
		want string
	}{
		{"no client id", func(c *ReaderConfig) { c.ClientID = "" }, "--client-id is required"},
		{"no client secret", func(c *ReaderConfig) { c.ClientSecret = " \n" }, "--client-secret is required"},
		{"no endpoint", func(c *ReaderConfig) { c.Endpoint = "" }, "--endpoint is required"},
		{"no entry point", func(c *ReaderConfig) { c.EntryPoint = "" }, "--entry-point is required"},
		{"entry point not a header", func(c *ReaderConfig) { c.EntryPoint = "a\nb" }, "--entry-point"},
		{"endpoint not a URL", func(c *ReaderConfig) { c.Endpoint = "druid.test" }, "--endpoint must be an http(s) URL"},
		{"endpoint with credentials", func(c *ReaderConfig) { c.Endpoint = "https://me:SECRET-pw-SECRET@druid.test" }, "--endpoint must not carry credentials"},
		{"auth endpoint with query", func(c *ReaderConfig) { c.AuthEndpoint = "https://auth.test/?SECRET" }, "--auth-endpoint must be a base URL"},
		{"negative retries", func(c *ReaderConfig) { c.Retries = -1 }, "--retries"},
		{"zero burst", func(c *ReaderConfig) { c.Limiter = rate.NewLimiter(1, 0) }, "--burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.edit(&cfg)
			_, err := NewReader(cfg)
			require.ErrorContains(t, err, tt.want)
			requireNoSecret(t, "error", err.Error())
		})
	}
	r, err := NewReader(valid)
	require.NoError(t, err)
	r.Close()
}

func TestReaderGetRequest(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, answerReads(http.StatusOK, `{"content":{"user":{"objectType":"user"}},"result":{"status":200}}`))
	r, _ := newTestReader(t, d.srv.URL+"/base/", nil)

	u, found, err := r.Get(context.Background(), "a b/c?d#e%")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "a b/c?d#e%", u.ObjectID, "the id DRUID left out is the one asked for")

	d.mu.Lock()
	form := d.forms[0]
	d.mu.Unlock()
	require.Equal(t, url.Values{
		"grant_type": {GrantClientCredentials}, "client_id": {readClientID}, "client_secret": {readClientSecret},
	}, form)
	req := d.readRequests()[0]
	require.Equal(t, "/base/activityid/v1/user/a%20b%2Fc%3Fd%23e%25", req.URL.EscapedPath(), "the id is one path segment")
	require.Empty(t, req.URL.RawQuery)
	require.Equal(t, "Bearer "+clientToken(1), req.Header.Get("Authorization"))
	require.Equal(t, entryPoint, req.Header.Get("From"))
	require.Equal(t, "application/json", req.Header.Get("Accept"))

	for _, id := range []string{"", ".", ".."} {
		_, _, err := r.Get(context.Background(), id)
		require.ErrorContains(t, err, "not an objectId")
	}
	require.EqualValues(t, 1, d.readCalls.Load(), "a bad id costs no call")
}

func TestReaderGetAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int
		body      string
		wantFound bool
		wantErr   string // empty: no error
		wantCode  int    // of the *StatusError, when there is one
	}{
		{name: "user", code: 200, body: userJSON, wantFound: true},
		{name: "password dropped", code: 200, wantFound: true,
			body: `{"content":{"user":{"objectId":"u-1","password":"SECRET-pw-SECRET"}},"result":{"status":200}}`},
		{name: "not found", code: 404, body: `{"content":{},"result":{"status":404,"errors":[{"message":"objectId","details":"user not found"}]}}`},
		{name: "404 of a proxy", code: 404, body: "<html>Not Found</html>", wantErr: "404 without DRUID's envelope"},
		{name: "empty 404", code: 404, wantErr: "check --endpoint"},
		{name: "another user", code: 200, body: `{"content":{"user":{"objectId":"u-2"}},"result":{"status":200}}`, wantErr: `200 with another user, "u-2"`},
		{name: "200 without user", code: 200, body: `{"content":{},"result":{"status":200}}`, wantErr: "200 without a user"},
		{name: "403", code: 403, wantCode: 403, wantErr: `read user "u-1": 403: Authorization: not allowed to read users with ***`,
			body: `{"result":{"status":403,"errors":[{"message":"Authorization","details":"not allowed to read users with ` + clientToken(1) + `"}]}}`},
		{name: "400 echoing the secret", code: 400, wantCode: 400, wantErr: "400: malformed request: bad ***",
			body: "bad " + readClientSecret},
		{name: "redirect", code: 302, wantCode: 302, wantErr: "302: redirects are not followed: check --endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) {
				d.onRead = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
					if tt.code == 302 {
						w.Header().Set("Location", "https://elsewhere.test/")
					}
					w.WriteHeader(tt.code)
					io.WriteString(w, tt.body)
				}
			})
			r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 3 })
			u, found, err := r.Get(context.Background(), readObjectID)
			require.Equal(t, tt.wantFound, found)
			require.EqualValues(t, 1, d.readCalls.Load(), "none of these is worth a retry")
			if tt.wantErr == "" {
				require.NoError(t, err)
				if found {
					require.Equal(t, readObjectID, u.ObjectID)
					require.Empty(t, u.Password)
				} else {
					require.Nil(t, u)
				}
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, u)
			requireNoSecret(t, "error", err.Error())
			se, ok := errors.AsType[*StatusError](err)
			require.Equal(t, tt.wantCode != 0, ok)
			if ok {
				require.Equal(t, tt.wantCode, se.Code)
			}
		})
	}
}

func TestReaderTokenLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expiresIn   string
		wantRefresh time.Duration // after the token call; 0: kept until a 401
		wantExpiry  time.Duration
	}{
		{"3600", 54 * time.Minute, time.Hour}, // 90% comes before 30 s ahead
		{`"3600"`, 54 * time.Minute, time.Hour},
		{"120", 90 * time.Second, 2 * time.Minute}, // 30 s ahead comes before 90%
		{"60", 30 * time.Second, time.Minute},
		{"1", 500 * time.Millisecond, time.Second}, // never before half the lifetime
		{"1e12", 24 * time.Hour * 9 / 10, 24 * time.Hour},
		{"", 0, 0},
		{"0", 0, 0},
		{`"soon"`, 0, 0},
		{`"NaN"`, 0, 0},
		{"-5", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.expiresIn, func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) { d.expiresIn = tt.expiresIn })
			r, _ := newTestReader(t, d.srv.URL, nil)
			clock := useReadClock(r)
			start := clock.now()
			mustGet(t, r)
			tok := r.tokens.cur
			require.NotNil(t, tok)
			if tt.wantRefresh == 0 {
				require.True(t, tok.refreshAt.IsZero())
				require.True(t, tok.expiresAt.IsZero())
				return
			}
			require.Equal(t, tt.wantRefresh, tok.refreshAt.Sub(start))
			require.Equal(t, tt.wantExpiry, tok.expiresAt.Sub(start))
		})
	}
}

func TestReaderRenewsTheTokenBeforeItExpires(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, func(d *readDRUID) { d.expiresIn = "1" })
	r, _ := newTestReader(t, d.srv.URL, nil)
	clock := useReadClock(r)

	mustGet(t, r)
	clock.advance(400 * time.Millisecond)
	mustGet(t, r)
	require.EqualValues(t, 1, d.tokenCalls.Load(), "the token is cached")
	require.Equal(t, clientToken(1), d.lastToken(t))

	clock.advance(200 * time.Millisecond) // past half of 1 s
	mustGet(t, r)
	require.EqualValues(t, 2, d.tokenCalls.Load(), "renewed ahead of its expiry")
	require.Equal(t, clientToken(2), d.lastToken(t))

	clock.advance(time.Hour) // long expired: never sent again
	mustGet(t, r)
	require.EqualValues(t, 3, d.tokenCalls.Load())
	require.Equal(t, clientToken(3), d.lastToken(t))
}

func TestReaderKeepsTheTokenWhenItsRenewalFails(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	d := newReadDRUID(t, func(d *readDRUID) {
		d.expiresIn = "100" // renewed at 70 s
		d.onToken = func(w http.ResponseWriter, _ *http.Request, n int64) {
			if refuse.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, `{"access_token":%q,"expires_in":100}`, clientToken(n))
		}
	})
	r, logs := newTestReader(t, d.srv.URL, nil)
	clock := useReadClock(r)
	mustGet(t, r)

	refuse.Store(true)
	clock.advance(80 * time.Second)
	mustGet(t, r)
	require.EqualValues(t, 2, d.tokenCalls.Load(), "the renewal was tried")
	require.Equal(t, clientToken(1), d.lastToken(t), "the token in force still works")
	require.Len(t, logLines(logs, "druid: client token renewal failed; keeping the token in force"), 1)

	clock.advance(5 * time.Second) // before halfway to the expiry: no new try
	mustGet(t, r)
	require.EqualValues(t, 2, d.tokenCalls.Load(), "a failing token endpoint does not cost every read a call")

	clock.advance(20 * time.Second) // expired
	_, _, err := r.Get(context.Background(), readObjectID)
	require.ErrorContains(t, err, `read user "u-1": token: 503`)
	require.EqualValues(t, 3, d.readCalls.Load(), "no read with an expired token")
}

func TestReaderRenewsOnceOn401(t *testing.T) {
	t.Parallel()
	const readers = 20
	arrived := make(chan struct{}, readers)
	release := make(chan struct{})
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onRead = func(w http.ResponseWriter, r *http.Request, tok string, _ int64) {
			if tok == clientToken(1) {
				// Every reader holds the first token before any is refused: their 401s are
				// concurrent.
				arrived <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"result":{"status":401,"errors":[{"message":"Authorization","details":"expired"}]}}`)
				return
			}
			io.WriteString(w, userJSON)
		}
	})
	r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Concurrency = readers })

	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			_, found, err := r.Get(context.Background(), readObjectID)
			if err == nil && !found {
				err = fmt.Errorf("not found")
			}
			errs <- err
		})
	}
	for range readers {
		select {
		case <-arrived:
		case <-time.After(testTimeout):
			t.Fatal("the readers never all reached DRUID")
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, d.tokenCalls.Load(), "one token, then one renewal shared by every 401")
	require.EqualValues(t, 2*readers, d.readCalls.Load())
}

func TestReaderRenewsOnlyOncePerGet(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, answerReads(http.StatusUnauthorized,
		`{"result":{"status":401,"errors":[{"message":"Authorization","details":"expired"}]}}`))
	r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 5 })
	_, found, err := r.Get(context.Background(), readObjectID)
	require.False(t, found)
	require.EqualError(t, err, `read user "u-1": 401: token missing, invalid or expired`)
	require.EqualValues(t, 2, d.tokenCalls.Load())
	require.EqualValues(t, 2, d.readCalls.Load(), "a 401 is not transient: one renewal, no retries")
}

func TestReaderWrongSecret(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onToken = func(w http.ResponseWriter, r *http.Request, _ int64) {
			w.WriteHeader(http.StatusUnauthorized)
			// A careless server echoes what it was sent.
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad %s %s"}`, r.PostForm.Encode(), body)
		}
	})
	r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 5 })
	_, found, err := r.Get(context.Background(), readObjectID)
	require.False(t, found)
	require.EqualError(t, err, `read user "u-1": token: 401 invalid_client (check --client-id/--client-secret)`)
	ge, ok := errors.AsType[*GrantError](err)
	require.True(t, ok)
	requireNoSecret(t, "GrantError.Detail", ge.Detail)
	require.EqualValues(t, 1, d.tokenCalls.Load(), "a refused grant is not retried")
	require.Zero(t, d.readCalls.Load())
}

func TestReaderRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, userAfter(nil, http.StatusServiceUnavailable, http.StatusInternalServerError))
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 2 })
		mustGet(t, r)
		require.EqualValues(t, 3, d.readCalls.Load())
		require.EqualValues(t, 1, d.tokenCalls.Load(), "a transient failure keeps the token")
	})
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onToken = func(w http.ResponseWriter, _ *http.Request, n int64) {
				if n == 1 {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				fmt.Fprintf(w, `{"access_token":%q,"expires_in":3600}`, clientToken(n))
			}
		})
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 1 })
		mustGet(t, r)
		require.EqualValues(t, 2, d.tokenCalls.Load())
	})
	t.Run("exhausted", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, answerReads(http.StatusServiceUnavailable,
			`{"result":{"status":503,"errors":[{"message":"server","details":"busy"}]}}`))
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 2 })
		_, found, err := r.Get(context.Background(), readObjectID)
		require.False(t, found)
		require.EqualError(t, err, `read user "u-1": 503: server: busy`)
		require.True(t, Retryable(err), "the caller may try the user again later")
		require.EqualValues(t, 3, d.readCalls.Load())
	})
	t.Run("network", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onRead = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
				if n == 1 {
					conn, _, _ := http.NewResponseController(w).Hijack()
					conn.Close()
					return
				}
				io.WriteString(w, userJSON)
			}
		})
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 1 })
		mustGet(t, r)
		require.EqualValues(t, 2, d.readCalls.Load())
	})
}

func TestReaderHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, userAfter(http.Header{"Retry-After": {"1"}}, http.StatusTooManyRequests))
	r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 1 })
	start := time.Now()
	mustGet(t, r)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "the retry waited for Retry-After")
	require.EqualValues(t, 2, d.readCalls.Load())
	require.NotZero(t, r.gate.heldUntil.Load(), "a 429 holds every caller")
}

func TestReaderWaitsOnTheLimiter(t *testing.T) {
	t.Parallel()
	t.Run("no turn, no call", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, nil)
		lim := rate.NewLimiter(rate.Every(time.Hour), 1)
		require.True(t, lim.Allow(), "the burst is spent elsewhere")
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Limiter = lim })
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_, _, err := r.Get(ctx, readObjectID)
		require.ErrorContains(t, err, `read user "u-1": waiting for a turn to call DRUID`)
		require.Zero(t, d.tokenCalls.Load()+d.readCalls.Load(), "the token call waits for its turn too")
	})
	t.Run("paced", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, nil)
		const every = 40 * time.Millisecond
		lim := rate.NewLimiter(rate.Every(every), 1)
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Limiter = lim })
		start := time.Now()
		for range 4 {
			mustGet(t, r)
		}
		// 1 token call and 4 reads: 4 intervals at least between the first and the last.
		require.GreaterOrEqual(t, time.Since(start), 4*every-every/4)
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, nil)
		lim := rate.NewLimiter(rate.Every(time.Hour), 1)
		lim.Allow()
		r, _ := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Limiter = lim })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := r.Get(ctx, readObjectID)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestReaderAbandonedTokenCallIsTakenOver(t *testing.T) {
	t.Parallel()
	first := make(chan struct{})
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onToken = func(w http.ResponseWriter, r *http.Request, n int64) {
			if n == 1 {
				close(first)
				<-r.Context().Done() // answers only once its caller gave up
				return
			}
			fmt.Fprintf(w, `{"access_token":%q,"expires_in":3600}`, clientToken(n))
		}
	})
	r, _ := newTestReader(t, d.srv.URL, nil)

	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, _, err := r.Get(ctx, readObjectID)
		leader <- err
	}()
	<-first
	waiter := make(chan error, 1)
	go func() {
		_, _, err := r.Get(context.Background(), readObjectID)
		waiter <- err
	}()
	cancel()
	select {
	case err := <-leader:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(testTimeout):
		t.Fatal("the cancelled Get never returned")
	}
	select {
	case err := <-waiter:
		require.NoError(t, err, "the other caller asks for its own token")
	case <-time.After(testTimeout):
		t.Fatal("the waiting Get never returned")
	}
	require.EqualValues(t, 2, d.tokenCalls.Load())
}

func TestClientReaderSharesConnectionsAndPace(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, userAfter(nil, http.StatusTooManyRequests))
	lim := rate.NewLimiter(1000, 1)
	c, _ := newClient(t, d.srv.URL, func(cfg *Config) { cfg.Limiter = lim; cfg.Retries = 1 })

	_, err := c.Reader(ReaderConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID,
		ClientSecret: readClientSecret, Limiter: rate.NewLimiter(10, 1)})
	require.ErrorContains(t, err, "the Client's limiter")

	log, logs := debugLog(t)
	r, err := c.Reader(ReaderConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID,
		ClientSecret: readClientSecret, Limiter: lim, Retries: 1, BackoffBase: time.Millisecond, Log: log})
	require.NoError(t, err)
	require.Same(t, c.gate, r.gate)

	require.Equal(t, Updated, c.Send(context.Background(), newPayload(t)).Outcome)
	mustGet(t, r)
	r.Close()
	require.Equal(t, Updated, c.Send(context.Background(), newPayload(t)).Outcome)

	require.EqualValues(t, 1, d.conns.Load(), "updates, token call and reads on one connection, kept by Reader.Close")
	st := c.Stats()
	require.EqualValues(t, 1, st.Throttled, "the read's 429 counts for the whole job")
	require.EqualValues(t, 1, st.SlowDowns)
	require.Less(t, float64(lim.Limit()), 1000.0, "the read's 429 slowed the updates down")
	requireNoSecret(t, "log", logs.String())
}

func TestReaderSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onRead = func(w http.ResponseWriter, r *http.Request, tok string, n int64) {
			w.WriteHeader([]int{0, 500, 502, 418}[min(n, 3)])
			fmt.Fprintf(w, "echo: %s %s", r.Header.Get("Authorization"), tok)
		}
	})
	r, logs := newTestReader(t, d.srv.URL, func(c *ReaderConfig) { c.Retries = 2 })
	_, _, err := r.Get(context.Background(), readObjectID)
	require.ErrorContains(t, err, "418")
	requireNoSecret(t, "error", err.Error())
	requireNoSecret(t, "log", logs.String())
}
