package sink

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n"), 0o600))
	binary := filepath.Join(dir, "binary")
	require.NoError(t, os.WriteFile(binary, []byte("SECRET\x00garbage-SECRET"), 0o600))
	missing := filepath.Join(dir, "missing")

	base := func() Config {
		return Config{Endpoint: "https://graph.demo.dru-id.com", EntryPoint: entryPoint, Token: testToken}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // empty: New succeeds
	}{
		{"valid", func(*Config) {}, ""},
		{"trailing slash and path prefix", func(c *Config) { c.Endpoint = "http://127.0.0.1:8089/druid/" }, ""},
		{"per-user tokens need no static token", func(c *Config) { c.Token = ""; c.PerUserTokens = true }, ""},
		{"token file", func(c *Config) { c.Token = ""; c.TokenFile = tokenFile(t, fileToken1) }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "--endpoint must be an http(s) URL"},
		{"no scheme", func(c *Config) { c.Endpoint = "graph.demo.dru-id.com" }, "--endpoint must be an http(s) URL"},
		{"other scheme", func(c *Config) { c.Endpoint = "ftp://graph.demo.dru-id.com" }, "--endpoint must be an http(s) URL"},
		{"no host", func(c *Config) { c.Endpoint = "https://" }, "--endpoint must be an http(s) URL"},
		{"credentials in endpoint", func(c *Config) { c.Endpoint = "https://ana:SECRET@graph.demo.dru-id.com" }, "--endpoint must not carry credentials"},
		{"query in endpoint", func(c *Config) { c.Endpoint = "https://graph.demo.dru-id.com/?k=SECRET" }, "--endpoint must be a base URL"},
		{"no entry point", func(c *Config) { c.EntryPoint = "" }, "--entry-point is required"},
		{"no token", func(c *Config) { c.Token = "" }, "--token or --token-file is required"},
		{"both tokens", func(c *Config) { c.TokenFile = tokenFile(t, fileToken1) }, "--token and --token-file exclude each other"},
		{"token breaks a header", func(c *Config) { c.Token = "SECRET\nX-Evil: 1-SECRET" }, "--token holds characters"},
		{"missing token file", func(c *Config) { c.Token = ""; c.TokenFile = missing }, "--token-file: open " + missing},
		{"empty token file", func(c *Config) { c.Token = ""; c.TokenFile = empty }, fmt.Sprintf("--token-file %q is empty", empty)},
		{"token file not a token", func(c *Config) { c.Token = ""; c.TokenFile = binary }, fmt.Sprintf("--token-file %q holds characters", binary)},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "--concurrency must be at least 1"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "--timeout must be positive"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "--retries must be 0 or more"},
		{"limiter without burst", func(c *Config) { c.Limiter = rate.NewLimiter(10, 0) }, "--burst must be at least 1"},
		{"client id and secret need no token", func(c *Config) { c.Token, c.ClientID, c.ClientSecret = "", testClientID, testClientSecret }, ""},
		{"client id with a separate auth endpoint", func(c *Config) {
			c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, testClientSecret, "https://auth.demo.dru-id.com/"
		}, ""},
		{"client id without secret", func(c *Config) { c.Token, c.ClientID = "", testClientID }, "--client-secret is required with --client-id"},
		{"client secret of white space", func(c *Config) { c.Token, c.ClientID, c.ClientSecret = "", testClientID, " \n" },
			"--client-secret is required with --client-id"},
		{"client secret without id", func(c *Config) { c.Token, c.ClientSecret = "", testClientSecret }, "--client-id is required with --client-secret"},
		{"client id with a token", func(c *Config) { c.ClientID, c.ClientSecret = testClientID, testClientSecret },
			"--client-id excludes --token and --token-file"},
		{"client id with a token file", func(c *Config) {
			c.Token, c.TokenFile, c.ClientID, c.ClientSecret = "", tokenFile(t, fileToken1), testClientID, testClientSecret
		}, "--client-id excludes --token and --token-file"},
		{"auth endpoint not a URL", func(c *Config) {
			c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, testClientSecret, "auth.demo.dru-id.com"
		}, "--auth-endpoint must be an http(s) URL"},
		{"credentials in auth endpoint", func(c *Config) {
			c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, testClientSecret, "https://app:SECRET@auth"
		}, "--auth-endpoint must not carry credentials"},
		{"query in auth endpoint", func(c *Config) {
			c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, testClientSecret, "https://auth/?client_secret=SECRET"
		}, "--auth-endpoint must be a base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.edit(&cfg)
			c, err := New(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			requireNoSecret(t, "New's error", err.Error())
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Endpoint: "https://graph.demo.dru-id.com/", EntryPoint: entryPoint, Token: testToken})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "https://graph.demo.dru-id.com/activityid/v1/user/update", c.url)
	require.Equal(t, TimeoutDefault, c.timeout)
	tr, ok := c.conns.(*netHTTP).rt.(*http.Transport)
	require.True(t, ok)
	require.Equal(t, ConcurrencyDefault, tr.MaxIdleConnsPerHost)
	require.GreaterOrEqual(t, tr.MaxIdleConns, ConcurrencyDefault)
	require.Equal(t, BackoffBaseDefault, c.retry.base)
	require.Equal(t, BackoffMaxDefault, c.retry.ceil)
	require.Zero(t, c.retry.max, "0 retries means none: the CLI passes RetriesDefault")
	require.Nil(t, c.grants, "no client id: no token calls")
	require.Nil(t, c.throttle, "no limiter: nothing to slow down")

	c, err = New(Config{Endpoint: "https://graph.demo.dru-id.com/druid/", EntryPoint: entryPoint, ClientID: testClientID, ClientSecret: testClientSecret})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "https://graph.demo.dru-id.com/druid/oauth2/token", c.grants.url, "the auth endpoint defaults to the endpoint")
	require.Nil(t, c.tokens)

	c, err = New(Config{Endpoint: "https://x", EntryPoint: entryPoint, Token: testToken, Concurrency: 200})
	require.NoError(t, err)
	defer c.Close()
	tr = c.conns.(*netHTTP).rt.(*http.Transport)
	require.Equal(t, 200, tr.MaxIdleConnsPerHost)
	require.GreaterOrEqual(t, tr.MaxIdleConns, 200)
}

// TestSendStatusTable checks that every code of SPEC §2.1 ends in the outcome the table gives,
// with DRUID's field errors kept.
func TestSendStatusTable(t *testing.T) {
	t.Parallel()
	envelope := func(code int, errs ...string) string {
		var items []string
		for i := 0; i+1 < len(errs); i += 2 {
			items = append(items, fmt.Sprintf(`{"message":%q,"details":%q}`, errs[i], errs[i+1]))
		}
		return fmt.Sprintf(`{"content":{},"result":{"status":%d,"errors":[%s]}}`, code, strings.Join(items, ","))
	}
	tests := []struct {
		name       string
		reply      reply
		want       Outcome
		wantError  string
		wantFields []string
		wantFault  string // the flag a RunFault names; empty: none
	}{
		{"200 updated", reply{code: 200, body: envelopeOK}, Updated, "", nil, ""},
		{"206 partial names the fields", reply{code: 206, body: envelope(206, "surname", "required")},
			Partial, "partial: surname: required", []string{"surname"}, ""},
		{"206 partial without fields", reply{code: 206, body: envelope(206)},
			Partial, "partial: the user must still complete some data", nil, ""},
		{"304 unchanged", reply{code: 304}, Unchanged, "", nil, ""},
		{"400 rejected", reply{code: 400, body: envelope(400, "actor", "unknown application")},
			Rejected, "400: actor: unknown application", []string{"actor"}, "--app-id"},
		{"401 failed", reply{code: 401, body: envelope(401, "token", "expired")},
			Failed, "401: token missing, invalid or expired", nil, "--token"},
		{"403 rejected", reply{code: 403, body: envelope(403)}, Rejected, "403: user id or password invalid", nil, ""},
		{"404 rejected", reply{code: 404, body: envelope(404)}, Rejected, "404: user not found", nil, ""},
		{"404 without DRUID's envelope", reply{code: 404, body: "<h1>Not Found</h1>"},
			Rejected, "404: user not found: <h1>Not Found</h1>", nil, "--endpoint"},
		{"416 rejected with the fields", reply{code: 416, body: envelope(416, "email", "invalid format", "birthday", "not a date")},
			Rejected, "416: email: invalid format; birthday: not a date", []string{"email", "birthday"}, ""},
		{"416 without a body", reply{code: 416}, Rejected, "416: some fields do not comply with their specification", nil, ""},
		{"428 rejected", reply{code: 428, body: envelope(428, "mfa", "code required")},
			Rejected, "428: mfa: code required", []string{"mfa"}, ""},
		{"429 failed", reply{code: 429}, Failed, "429: Too Many Requests", nil, ""},
		{"500 failed", reply{code: 500, body: envelope(500)}, Failed, "500: Internal Server Error", nil, ""},
		{"502 failed", reply{code: 502}, Failed, "502: Bad Gateway", nil, ""},
		{"503 failed", reply{code: 503}, Failed, "503: Service Unavailable", nil, ""},
		{"504 failed", reply{code: 504}, Failed, "504: Gateway Timeout", nil, ""},
		{"unlisted 4xx rejected", reply{code: 418}, Rejected, "418: I'm a teapot", nil, ""},
		{"unlisted 5xx failed", reply{code: 599}, Failed, "599: unexpected status", nil, ""},
		{"redirect failed", reply{code: 302, header: map[string]string{"Location": "https://elsewhere/?SECRET"}},
			Failed, "302: redirects are not followed: check --endpoint", nil, "--endpoint"},
		{"proxy page kept as an excerpt", reply{code: 502, body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\n\t<body>nginx</body></html>"},
			Failed, "502: Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>", nil, ""},
		{"field errors repeat a field once", reply{code: 416, body: envelope(416, "email", "invalid format", "email", "taken")},
			Rejected, "416: email: invalid format; email: taken", []string{"email"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, tt.reply)
			c, _ := newClient(t, d.srv.URL, nil)
			res := c.Send(t.Context(), newPayload(t))
			if tt.wantFault == "" {
				require.Nil(t, res.Fault)
			} else {
				require.NotNil(t, res.Fault)
				require.Equal(t, tt.wantFault, res.Fault.Flag, res.Fault.Error())
				res.Fault = nil
			}
			require.Equal(t, SendResult{
				Outcome: tt.want, Code: tt.reply.code, Attempts: 1, Error: tt.wantError, Fields: tt.wantFields,
			}, res)
		})
	}
}

func TestSendBoundsTheErrorExcerpt(t *testing.T) {
	t.Parallel()
	page := strings.Repeat("é", 3<<20) // 6 MiB: past what is read and what is drained
	d := newDRUID(t, reply{code: 500, body: page})
	c, _ := newClient(t, d.srv.URL, nil)
	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, Failed, res.Outcome)
	excerpt, ok := strings.CutPrefix(res.Error, "500: Internal Server Error: ")
	require.True(t, ok, res.Error)
	require.LessOrEqual(t, len(excerpt), excerptMax)
	require.True(t, strings.HasSuffix(excerpt, "é…"), "cut on a rune boundary: %q", excerpt[len(excerpt)-8:])
}

func TestSendRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		retries      int
		replies      []reply
		want         Outcome
		wantCode     int
		wantAttempts int
	}{
		{"transient then updated", 5, []reply{{code: 503}, {code: 502}, {code: 200}}, Updated, 200, 3},
		{"stops after Retries", 2, []reply{{code: 500}}, Failed, 500, 3},
		{"no retries", 0, []reply{{code: 429}}, Failed, 429, 1},
		{"a rejection is not retried", 5, []reply{{code: 404}}, Rejected, 404, 1},
		{"transient then rejected", 5, []reply{{code: 504}, {code: 416}}, Rejected, 416, 2},
		{"401 is not retried without a token file", 5, []reply{{code: 401}}, Failed, 401, 1},
		{"dropped connection then updated", 5, []reply{{hangup: true}, {code: 200}}, Updated, 200, 2},
		{"last code kept when the last try has no answer", 1, []reply{{code: 503}, {hangup: true}}, Failed, 503, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, tt.replies...)
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = tt.retries })
			p := newPayload(t)
			res := c.Send(t.Context(), p)
			require.Equal(t, tt.want, res.Outcome, res.Error)
			require.Equal(t, tt.wantCode, res.Code)
			require.Equal(t, tt.wantAttempts, res.Attempts)
			got := d.requests()
			require.Len(t, got, tt.wantAttempts, "Attempts counts every call made")
			for _, r := range got {
				require.Equal(t, p.Body, r.body, "every try sends the same body")
			}
		})
	}
}

func TestSendWithoutAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		url       func(t *testing.T) string
		timeout   time.Duration
		wantError string
	}{
		// Nothing listens on port 1 (tcpmux): no server of these tests binds it.
		{"connection refused", func(*testing.T) string { return "http://127.0.0.1:1" }, 0, "connection refused"},
		{"connection dropped", func(t *testing.T) string { return newDRUID(t, reply{hangup: true}).srv.URL }, 0, "EOF"},
		{"timeout", func(t *testing.T) string { return newDRUID(t, reply{hang: true}).srv.URL }, 50 * time.Millisecond, "Client.Timeout exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, tt.url(t), func(c *Config) {
				c.Retries = 2
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, Failed, res.Outcome)
			require.Zero(t, res.Code, "DRUID never answered")
			require.Equal(t, 3, res.Attempts, "network errors and timeouts are transient")
			require.True(t, strings.HasPrefix(res.Error, "POST "+updateURLPath+": "), res.Error)
			require.Contains(t, res.Error, tt.wantError)
			require.NotContains(t, res.Error, "http://", "the URL stays out of errors")
		})
	}
}

// TestSendHonoursRetryAfter checks both forms of Retry-After: the retry comes no sooner than
// DRUID asked, however small the backoff.
func TestSendHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	const epsilon = 20 * time.Millisecond
	tests := []struct {
		name  string
		code  int
		value func() (header string, notBefore time.Time)
	}{
		{"delta-seconds", 429, func() (string, time.Time) { return "1", time.Now().Add(time.Second) }},
		{"HTTP-date", 503, func() (string, time.Time) {
			at := time.Now().Add(2 * time.Second).Truncate(time.Second)
			return at.UTC().Format(http.TimeFormat), at
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			asked := make(chan time.Time, 1)
			first := reply{fn: func(w http.ResponseWriter, _ *http.Request) {
				v, notBefore := tt.value()
				asked <- notBefore
				w.Header().Set("Retry-After", v)
				w.WriteHeader(tt.code)
			}}
			d := newDRUID(t, first, reply{code: 200})
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 1 })
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, Updated, res.Outcome, res.Error)
			require.Equal(t, 2, res.Attempts)
			got := d.requests()
			require.Len(t, got, 2)
			notBefore := <-asked
			require.False(t, got[1].at.Before(notBefore.Add(-epsilon)),
				"retried %s before Retry-After allowed", notBefore.Sub(got[1].at))
		})
	}
}

// TestSendThrottleHoldsEveryWorker checks SPEC §4: a 429 slows the whole job, so a call that
// starts after it waits for Retry-After too, whether or not the throttled call is retried.
func TestSendThrottleHoldsEveryWorker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		retries       int
		wantThrottled SendResult
	}{
		{"throttled call retried", 1, SendResult{Outcome: Updated, Code: 200, Attempts: 2}},
		{"throttled call not retried", 0, SendResult{Outcome: Failed, Code: 429, Attempts: 1, Error: "429: Too Many Requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, reply{code: 429, header: map[string]string{"Retry-After": "1"}}, reply{code: 200})
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = tt.retries })

			throttled := make(chan SendResult, 1)
			p := newPayload(t)
			go func() { throttled <- c.Send(context.Background(), p) }()
			require.Eventually(t, func() bool { return c.heldUntil.Load() != 0 }, testTimeout, time.Millisecond)

			other := c.Send(t.Context(), newPayload(t))
			require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 1}, other, "the hold is not a retry")
			require.Equal(t, tt.wantThrottled, waitResult(t, throttled))

			got := d.requests()
			require.Len(t, got, 1+tt.retries+1)
			for _, r := range got[1:] {
				require.False(t, r.at.Before(got[0].at.Add(time.Second-20*time.Millisecond)),
					"a call went out %s after the 429, before its Retry-After", r.at.Sub(got[0].at))
			}
		})
	}
}

func TestSendHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string // appended to the server's URL
		edit     func(*Payload)
		wantAuth string
		wantLang string // empty: no Accept-Language header at all
		wantPath string
	}{
		{"static token", "", func(*Payload) {}, "Bearer " + testToken, "", updateURLPath},
		{"per-user token overrides the static one", "", func(p *Payload) { p.Token = userToken }, "Bearer " + userToken, "", updateURLPath},
		{"locale", "", func(p *Payload) { p.Locale = "es-ES" }, "Bearer " + testToken, "es-ES", updateURLPath},
		{"endpoint with a path and a trailing slash", "/druid/", func(*Payload) {}, "Bearer " + testToken, "", "/druid" + updateURLPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, reply{code: 503}, reply{code: 200})
			c, _ := newClient(t, d.srv.URL+tt.endpoint, func(c *Config) { c.Retries = 1 })
			p := newPayload(t)
			tt.edit(p)
			res := c.Send(t.Context(), p)
			require.Equal(t, Updated, res.Outcome, res.Error)
			got := d.requests()
			require.Len(t, got, 2)
			for _, r := range got {
				require.Equal(t, http.MethodPost, r.method)
				require.Equal(t, tt.wantPath, r.path)
				require.Equal(t, []string{tt.wantAuth}, r.header.Values("Authorization"))
				require.Equal(t, []string{"application/json"}, r.header.Values("Content-Type"))
				require.Equal(t, []string{"application/json"}, r.header.Values("Accept"))
				require.Equal(t, []string{entryPoint}, r.header.Values("From"))
				if tt.wantLang == "" {
					require.NotContains(t, r.header, "Accept-Language")
				} else {
					require.Equal(t, []string{tt.wantLang}, r.header.Values("Accept-Language"))
				}
				require.Equal(t, int64(len(p.Body)), r.length, "Content-Length is set")
				require.Equal(t, p.Body, r.body)
			}
		})
	}
}

func TestSendWithoutUsableToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(*Payload)
		wantError string
	}{
		{"no token anywhere", func(*Payload) {}, "no token"},
		{"token breaks a header", func(p *Payload) { p.Token = "SECRET\r\nX-Evil: 1" }, "the record's token holds characters"},
		{"locale breaks a header", func(p *Payload) { p.Token = userToken; p.Locale = "es\nX" }, "the record's locale holds characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, reply{code: 200})
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Token = ""; c.PerUserTokens = true; c.Retries = 5 })
			p := newPayload(t)
			tt.edit(p)
			res := c.Send(t.Context(), p)
			require.Equal(t, Failed, res.Outcome)
			require.Zero(t, res.Attempts)
			require.Zero(t, res.Code)
			require.Contains(t, res.Error, tt.wantError)
			requireResultClean(t, res)
			require.Empty(t, d.requests(), "nothing is sent")
		})
	}
	t.Run("no payload", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t, "http://127.0.0.1:1", nil)
		require.Equal(t, Failed, c.Send(t.Context(), nil).Outcome)
		require.Equal(t, Failed, c.Send(t.Context(), &Payload{Key: "k"}).Outcome)
	})
}

func TestSendWaitsOnTheLimiterBeforeEveryTry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		replies      []reply
		wantAttempts int
	}{
		{"first try", []reply{{code: 200}}, 1},
		{"retries", []reply{{code: 503}, {code: 500}, {code: 200}}, 3},
		{"retry after a token refresh", []reply{{code: 401}, {code: 200}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const burst = 5
			// A token an hour: only the burst is there to spend, and what is left says how
			// many waits were made.
			lim := rate.NewLimiter(rate.Every(time.Hour), burst)
			path := tokenFile(t, fileToken1)
			d := newDRUID(t, tt.replies...)
			c, _ := newClient(t, d.srv.URL, func(c *Config) {
				c.Token, c.TokenFile, c.Retries, c.Limiter = "", path, 5, lim
			})
			writeToken(t, path, fileToken2)
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, Updated, res.Outcome, res.Error)
			require.Equal(t, tt.wantAttempts, res.Attempts)
			require.Equal(t, burst-tt.wantAttempts, int(math.Floor(lim.Tokens()+1e-9)))
		})
	}
}

func TestSendInterrupted(t *testing.T) {
	t.Parallel()

	t.Run("waiting for the limiter", func(t *testing.T) {
		t.Parallel()
		lim := rate.NewLimiter(rate.Every(time.Hour), 1)
		require.True(t, lim.Allow())
		d := newDRUID(t, reply{code: 200})
		c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Limiter = lim })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan SendResult, 1)
		p := newPayload(t)
		go func() { done <- c.Send(ctx, p) }()
		cancel()
		res := waitResult(t, done)
		require.Equal(t, SendResult{Outcome: Failed, Error: "interrupted: waiting for a turn to call DRUID: context canceled"}, res)
		require.Empty(t, d.requests())
	})

	t.Run("backing off", func(t *testing.T) {
		t.Parallel()
		d := newDRUID(t, reply{code: 503, header: map[string]string{"Retry-After": "300"}})
		c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 5 })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan SendResult, 1)
		p := newPayload(t)
		go func() { done <- c.Send(ctx, p) }()
		// The 503's Retry-After holds every worker: the answer is in, the backoff begun.
		require.Eventually(t, func() bool { return c.heldUntil.Load() != 0 }, testTimeout, time.Millisecond)
		cancel()
		res := waitResult(t, done)
		require.Equal(t, Failed, res.Outcome)
		require.Equal(t, 503, res.Code, "the last answer's code")
		require.Equal(t, 1, res.Attempts)
		// Cancelled before or during the backoff: the message says which.
		require.True(t, strings.HasPrefix(res.Error, "interrupted: "), res.Error)
	})

	t.Run("before the first try", func(t *testing.T) {
		t.Parallel()
		d := newDRUID(t, reply{code: 200})
		c, _ := newClient(t, d.srv.URL, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		res := c.Send(ctx, newPayload(t))
		require.Equal(t, Failed, res.Outcome)
		require.Zero(t, res.Attempts)
		require.Empty(t, d.requests())
	})

	t.Run("call in flight", func(t *testing.T) {
		t.Parallel()
		d := newDRUID(t, reply{code: 503}, reply{hang: true})
		c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 5 })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan SendResult, 1)
		p := newPayload(t)
		go func() { done <- c.Send(ctx, p) }()
		d.waitArrival(t, 2)
		cancel()
		res := waitResult(t, done)
		require.Equal(t, SendResult{
			Outcome: Failed, Code: 503, Attempts: 2,
			Error: "interrupted: POST " + updateURLPath + ": context canceled",
		}, res)
	})

	// ctx is cancelled the moment DRUID's answer comes in: a final answer stands, a transient
	// one is not retried.
	for _, tt := range []struct {
		reply reply
		want  SendResult
	}{
		{reply{code: 200, body: envelopeOK}, SendResult{Outcome: Updated, Code: 200, Attempts: 1}},
		{reply{code: 404, body: `{"result":{"status":404}}`}, SendResult{Outcome: Rejected, Code: 404, Attempts: 1, Error: "404: user not found"}},
		{reply{code: 206, body: `{"result":{"status":206,"errors":[{"message":"surname"}]}}`},
			SendResult{Outcome: Partial, Code: 206, Attempts: 1, Error: "partial: surname", Fields: []string{"surname"}}},
		{reply{code: 503}, SendResult{Outcome: Failed, Code: 503, Attempts: 1, Error: "interrupted: 503: Service Unavailable"}},
	} {
		t.Run(fmt.Sprintf("answered %d", tt.reply.code), func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, tt.reply)
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 5 })
			ctx, cancel := context.WithCancel(t.Context())
			n := c.conns.(*netHTTP)
			n.rt = cancelOnAnswer{next: n.rt, cancel: cancel}
			require.Equal(t, tt.want, c.Send(ctx, newPayload(t)))
		})
	}
}

// cancelOnAnswer cancels the caller's context as soon as the answer's headers are in.
type cancelOnAnswer struct {
	next   http.RoundTripper
	cancel context.CancelFunc
}

func (t cancelOnAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	t.cancel()
	return resp, err
}

// waitResult waits for a Send that must return promptly.
func waitResult(t *testing.T, done <-chan SendResult) SendResult {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(testTimeout):
		t.Fatal("Send did not return promptly")
		return SendResult{}
	}
}

func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	// proxyPageEveryOther answers a long proxy page with 503 to every other call, and 200 to
	// the others: between good answers a 503 is its user's, not DRUID down.
	var calls atomic.Int64
	proxyPageEveryOther := reply{fn: func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, strings.Repeat("<p>busy</p>", 1000))
			return
		}
		io.WriteString(w, envelopeOK)
	}}
	tests := []struct {
		name  string
		reply reply
		codes []int // the code of each Send, in turn
	}{
		{"updated", reply{code: 200, body: envelopeOK + strings.Repeat(" ", 64<<10)}, []int{200}},
		{"unchanged", reply{code: 304}, []int{304}},
		{"rejected", reply{code: 416, body: `{"result":{"status":416,"errors":[{"message":"email"}]}}`}, []int{416}},
		{"failed with a proxy page", proxyPageEveryOther, []int{503, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDRUID(t, tt.reply)
			c, _ := newClient(t, d.srv.URL, nil)
			for i := range 10 {
				res := c.Send(t.Context(), newPayload(t))
				require.Equal(t, tt.codes[i%len(tt.codes)], res.Code)
			}
			require.Len(t, d.requests(), 10)
			require.Equal(t, int64(1), d.conns.Load(), "sequential sends share one connection")
		})
	}
}

// TestSecretsNeverLeak sends down every path that writes an error or a log line and checks
// that no token or password reaches either, even when the server echoes them back.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	echo := func(code int, envelope bool) reply {
		return reply{fn: func(w http.ResponseWriter, r *http.Request) {
			body := r.Header.Get("Authorization") + " " + string(requestBody(r))
			w.WriteHeader(code)
			if envelope {
				fmt.Fprintf(w, `{"result":{"status":%d,"errors":[{"message":%q,"details":%q}]}}`, code, "password "+body, body)
				return
			}
			fmt.Fprintf(w, "<html><pre>you sent:\n%s</pre></html>", body)
		}}
	}
	tests := []struct {
		name    string
		replies []reply
		edit    func(*Payload)
	}{
		{"proxy echoes the request", []reply{echo(502, false)}, nil},
		{"druid echoes the request in field errors", []reply{echo(416, true)}, nil},
		{"partial echoes the request", []reply{echo(206, true)}, nil},
		{"per-user token echoed", []reply{echo(400, true)}, func(p *Payload) { p.Token = userToken }},
		{"retries exhausted on echoes", []reply{echo(503, false)}, nil},
		{"401 with a rotated token file", []reply{echo(401, true), echo(500, false)}, nil},
		{"network error", []reply{{hangup: true}}, nil},
		{"password only in the body", []reply{echo(416, true)}, func(p *Payload) { p.Request = Request{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tokenFile(t, fileToken1)
			d := newDRUID(t, tt.replies...)
			c, logs := newClient(t, d.srv.URL, func(c *Config) { c.Token, c.TokenFile, c.Retries = "", path, 1 })
			writeToken(t, path, fileToken2)
			p := newPayload(t)
			if tt.edit != nil {
				tt.edit(p)
			}
			res := c.Send(t.Context(), p)
			require.NotEmpty(t, res.Error)
			requireResultClean(t, res)
			require.Contains(t, logs.String(), `"user_key":"crm-1"`, "the path logged something to check")
			requireNoSecret(t, "log", logs.String())
			for _, r := range d.requests() {
				require.Contains(t, string(r.body), marker, "the secrets did reach DRUID: the check is not vacuous")
			}
		})
	}
}

// requestBody returns the body of r, which the fake DRUID recorded before the handler ran.
func requestBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

func TestSendLogsOneDebugLinePerTry(t *testing.T) {
	t.Parallel()
	d := newDRUID(t, reply{code: 503}, reply{code: 200})
	c, logs := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 1 })
	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, Updated, res.Outcome)
	var tries []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"message":"druid: update call"`) {
			tries = append(tries, line)
		}
	}
	require.Len(t, tries, 2)
	for i, line := range tries {
		require.Contains(t, line, `"level":"debug"`)
		require.Contains(t, line, `"user_key":"crm-1"`)
		require.Contains(t, line, fmt.Sprintf(`"attempt":%d`, i+1))
		require.Contains(t, line, `"duration_ms":`)
	}
	require.Contains(t, tries[0], `"status_code":503`)
	require.Contains(t, tries[1], `"status_code":200`)
}

func TestSendIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	d := newDRUID(t, reply{code: 503}, reply{code: 200})
	c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Retries = 3; c.Concurrency = 4 })
	attempts := 0
	for _, res := range sendAll(t, c, newPayload(t), 16) {
		require.Equal(t, Updated, res.Outcome)
		attempts += res.Attempts
	}
	require.Equal(t, len(d.requests()), attempts)
}

// benchClient returns a Client of a server that answers every call 200, as a real DRUID answers
// most of a nightly sync.
func benchClient(b *testing.B, concurrency int) (*Client, *Payload) {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, envelopeOK)
	}))
	b.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL, EntryPoint: entryPoint, Token: testToken, Concurrency: concurrency})
	require.NoError(b, err)
	b.Cleanup(c.Close)
	p := &Payload{Key: testUserKey, Body: []byte(`{"actor":{"id":"app-1","objectType":"application"},"verb":"update","object":{"objectType":"user","objectId":"u-1","ids":{"email":{"objectType":"user_id","value":"ana@example.com"}}},"source":{"id":"pc","objectType":"device"}}`)}
	return c, p
}

func BenchmarkSend(b *testing.B) {
	c, p := benchClient(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Send(b.Context(), p); res.Outcome != Updated {
			b.Fatalf("outcome %s: %s", res.Outcome, res.Error)
		}
	}
}

func BenchmarkSendParallel(b *testing.B) {
	c, p := benchClient(b, ConcurrencyDefault)
	b.ReportAllocs()
	b.SetParallelism(1) // GOMAXPROCS workers, like --concurrency on a machine of that size
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := c.Send(context.Background(), p); res.Outcome != Updated {
				b.Errorf("outcome %s: %s", res.Outcome, res.Error)
				return
			}
		}
	})
}
