package sink

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// s256 is the code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// requireGrantsMatch checks every token call's form, and that the i-th update carries the i-th
// token and a verifier of the i-th challenge, each verifier used once.
func requireGrantsMatch(t *testing.T, auth, update *druid) {
	t.Helper()
	grants, updates := auth.requests(), update.requests()
	require.Len(t, updates, len(grants), "one token call per update")
	seen := map[string]bool{}
	for i, g := range grants {
		require.Equal(t, TokenPath, g.path)
		require.Equal(t, http.MethodPost, g.method)
		require.Equal(t, "application/x-www-form-urlencoded", g.header.Get("Content-Type"))
		form, err := url.ParseQuery(string(g.body))
		require.NoError(t, err)
		require.Equal(t, GrantCodeChallenge, form.Get("grant_type"))
		require.Equal(t, testClientID, form.Get("client_id"))
		require.Equal(t, testClientSecret, form.Get("client_secret"))
		require.Equal(t, "S256", form.Get("code_challenge_method"))
		require.Equal(t, "update", form.Get("scope"))

		u := updates[i]
		require.Equal(t, fmt.Sprintf("Bearer SECRET-grant-%d-SECRET", i+1), u.header.Get("Authorization"))
		verifier := u.query.Get("code_verifier")
		require.Len(t, verifier, 64)
		require.Equal(t, s256(verifier), form.Get("code_challenge"), "the update proves it asked for its token")
		require.False(t, seen[verifier], "a verifier is never reused")
		seen[verifier] = true
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		v, challenge := newVerifier()
		require.Len(t, v, 64)
		require.Regexp(t, `^[A-Za-z0-9._~-]{43,128}$`, v)
		require.Equal(t, s256(v), challenge)
		require.NotContains(t, challenge, "=", "no padding")
		require.False(t, seen[v])
		seen[v] = true
	}
}

func TestSendWithChallengeCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		retries     int
		tokens      []reply
		updates     []reply
		want        SendResult
		checkGrants bool // every token call got a token, used by the update after it
		wantStats   Stats
	}{
		{"one token per update", 5, []reply{issue()}, []reply{{code: 200}},
			SendResult{Outcome: Updated, Code: 200, Attempts: 1}, true,
			Stats{Requests: 2, TokenRequests: 1}},
		{"a retry asks for a new token", 5, []reply{issue()}, []reply{{code: 500}, {code: 200}},
			SendResult{Outcome: Updated, Code: 200, Attempts: 2}, true,
			Stats{Requests: 4, TokenRequests: 2, Retries: 1}},
		{"a 401 on the update gets one new token", 5, []reply{issue()}, []reply{{code: 401}, {code: 200}},
			SendResult{Outcome: Updated, Code: 200, Attempts: 2}, true,
			Stats{Requests: 4, TokenRequests: 2, Retries: 1}},
		{"a second 401 fails", 5, []reply{issue()}, []reply{{code: 401}},
			SendResult{Outcome: Failed, Code: 401, Attempts: 2, Error: "401: token missing, invalid or expired",
				Fault: &RunFault{Flag: "--client-id", Cause: "DRUID refused the update made with a fresh token of the credentials (401)"}}, true,
			Stats{Requests: 4, TokenRequests: 2, Retries: 1}},
		{"the token endpoint's 503 is transient, and without Retry-After does not throttle", 5,
			[]reply{{code: 503}, issue()}, []reply{{code: 200}},
			SendResult{Outcome: Updated, Code: 200, Attempts: 1}, false,
			Stats{Requests: 3, TokenRequests: 2, Retries: 1}},
		{"the token endpoint's dropped connection is transient", 5, []reply{{hangup: true}, issue()}, []reply{{code: 200}},
			SendResult{Outcome: Updated, Code: 200, Attempts: 1}, false,
			Stats{Requests: 3, TokenRequests: 2, Retries: 1}},
		{"token calls share the retry budget", 2, []reply{issue(), {code: 502}}, []reply{{code: 500}},
			SendResult{Outcome: Failed, Code: 502, Attempts: 1, Error: "token: 502 Bad Gateway"}, false,
			Stats{Requests: 4, TokenRequests: 3, Retries: 2}},
		{"wrong client secret", 5, []reply{oauthError(401, "invalid_client", "")}, []reply{{code: 200}},
			SendResult{Outcome: Failed, Code: 401, Error: "token: 401 invalid_client (check --client-id/--client-secret)",
				Fault: &RunFault{Flag: "--client-id/--client-secret", Cause: "the token endpoint refused the credentials (401 invalid_client)"}}, false,
			Stats{Requests: 1, TokenRequests: 1}},
		{"a 400 fails, not rejected: it says nothing of the user", 5,
			[]reply{oauthError(400, "invalid_request", "scope must be update")}, []reply{{code: 200}},
			SendResult{Outcome: Failed, Code: 400, Error: "token: 400 invalid_request: scope must be update",
				Fault: &RunFault{Flag: "--client-id/--client-secret", Cause: "the token endpoint refused the credentials (400 invalid_request)"}}, false,
			Stats{Requests: 1, TokenRequests: 1}},
		{"no access_token in a 200", 5, []reply{{code: 200, body: `{"token_type":"bearer"}`}}, []reply{{code: 200}},
			SendResult{Outcome: Failed, Error: "token: 200 OK: the answer holds no usable access_token"}, false,
			Stats{Requests: 1, TokenRequests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth, update := newDRUID(t, tt.tokens...), newDRUID(t, tt.updates...)
			c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Retries = tt.retries })
			res := c.Send(t.Context(), newPayload(t))
			require.Equal(t, tt.want, res)
			requireResultClean(t, res)
			require.Len(t, update.requests(), tt.want.Attempts, "Attempts counts update calls only")
			require.Equal(t, tt.wantStats, c.Stats())
			var issued int
			for _, g := range auth.requests() {
				if strings.Contains(string(g.body), "code_challenge=") {
					issued++
				}
			}
			require.Equal(t, int(tt.wantStats.TokenRequests), issued)
			if tt.checkGrants {
				requireGrantsMatch(t, auth, update)
			}
		})
	}
}

func TestSendChallengeCodeHeaders(t *testing.T) {
	t.Parallel()
	auth, update := newDRUID(t, issue()), newDRUID(t, reply{code: 200})
	// The update's endpoint has a path prefix; the auth endpoint has its own.
	c, _ := newClient(t, update.srv.URL+"/druid/", func(c *Config) {
		c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, " "+testClientSecret+"\n", auth.srv.URL+"/auth/"
	})
	p := newPayload(t)
	p.Locale = "es-ES"
	require.Equal(t, Updated, c.Send(t.Context(), p).Outcome)
	g, u := auth.requests()[0], update.requests()[0]
	require.Equal(t, "/auth"+TokenPath, g.path)
	require.Equal(t, "application/json", g.header.Get("Accept"))
	form, err := url.ParseQuery(string(g.body))
	require.NoError(t, err)
	require.Equal(t, testClientSecret, form.Get("client_secret"), "the secret is trimmed")
	require.Equal(t, "/druid"+updateURLPath, u.path)
	require.Equal(t, []string{"code_verifier"}, keys(u.query))
	require.Equal(t, entryPoint, u.header.Get("From"))
	require.Equal(t, "es-ES", u.header.Get("Accept-Language"))
	require.Equal(t, p.Body, u.body)
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

// TestSendPerUserTokenWinsOverChallengeCode: a record's own token names its user; no
// administrative token is asked for.
func TestSendPerUserTokenWinsOverChallengeCode(t *testing.T) {
	t.Parallel()
	auth, update := newDRUID(t, issue()), newDRUID(t, reply{code: 200})
	c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.PerUserTokens = true })
	p := newPayload(t)
	p.Token = userToken
	require.Equal(t, SendResult{Outcome: Updated, Code: 200, Attempts: 1}, c.Send(t.Context(), p))
	require.Empty(t, auth.requests())
	u := update.requests()[0]
	require.Equal(t, "Bearer "+userToken, u.header.Get("Authorization"))
	require.Empty(t, u.query, "no code_verifier with a user's token")
}

// TestSendTokenCallsWaitOnTheLimiter: token calls are calls to DRUID, and spend the shared
// limiter's turns like the updates.
func TestSendTokenCallsWaitOnTheLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tokens    []reply
		updates   []reply
		wantTurns int
	}{
		{"first try", []reply{issue()}, []reply{{code: 200}}, 2},
		{"retry", []reply{issue()}, []reply{{code: 500}, {code: 200}}, 4},
		{"token endpoint retried", []reply{{code: 500}, issue()}, []reply{{code: 200}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const burst = 6
			lim := rate.NewLimiter(rate.Every(time.Hour), burst)
			auth, update := newDRUID(t, tt.tokens...), newDRUID(t, tt.updates...)
			c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Limiter, c.Retries = lim, 5 })
			require.Equal(t, Updated, c.Send(t.Context(), newPayload(t)).Outcome)
			require.Equal(t, burst-tt.wantTurns, int(math.Floor(lim.Tokens()+1e-9)))
			require.Equal(t, int64(tt.wantTurns), c.Stats().Requests)
		})
	}
}

// TestSendTokenThrottleSlowsDown: a 429 of the token endpoint is DRUID saying the job is too
// fast, like the update's.
func TestSendTokenThrottleSlowsDown(t *testing.T) {
	t.Parallel()
	lim := rate.NewLimiter(10, 5)
	auth, update := newDRUID(t, reply{code: 429}, issue()), newDRUID(t, reply{code: 200})
	c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Limiter, c.Retries = lim, 1 })
	useFakeClock(t, c)
	require.Equal(t, Updated, c.Send(t.Context(), newPayload(t)).Outcome)
	require.Equal(t, int64(1), c.Stats().SlowDowns)
	require.Equal(t, rate.Limit(5), lim.Limit())
}

func TestSendInterruptedDuringTokenCall(t *testing.T) {
	t.Parallel()
	auth, update := newDRUID(t, reply{hang: true}), newDRUID(t, reply{code: 200})
	c, _ := newChallengeClient(t, auth, update, func(c *Config) { c.Retries = 5 })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan SendResult, 1)
	go func() { done <- c.Send(ctx, newPayload(t)) }()
	auth.waitArrival(t, 1)
	cancel()
	require.Equal(t, SendResult{Outcome: Failed, Error: "interrupted: POST " + TokenPath + ": context canceled"}, waitResult(t, done))
	require.Empty(t, update.requests())
}

// TestChallengeSecretsNeverLeak has the token endpoint and DRUID echo everything they got:
// the client secret, the tokens and the verifiers stay out of errors and logs.
func TestChallengeSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	echoForm := func(code int, oauth bool) reply {
		return reply{fn: func(w http.ResponseWriter, r *http.Request) {
			body := string(requestBody(r))
			w.WriteHeader(code)
			if oauth {
				fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, "invalid_request "+body, body)
				return
			}
			fmt.Fprintf(w, "<pre>you sent %s</pre>", body)
		}}
	}
	echoUpdate := func(code int) reply {
		return reply{fn: func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization") + " " + r.URL.RawQuery + " " + string(requestBody(r))
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"result":{"status":%d,"errors":[{"message":%q,"details":%q}]}}`, code, got, got)
		}}
	}
	tests := []struct {
		name    string
		tokens  []reply
		updates []reply
	}{
		{"token endpoint echoes the form in its OAuth error", []reply{echoForm(400, true)}, []reply{{code: 200}}},
		{"token endpoint echoes the form as invalid_client", []reply{echoForm(401, true)}, []reply{{code: 200}}},
		{"proxy before the token endpoint echoes the form", []reply{echoForm(502, false)}, []reply{{code: 200}}},
		{"DRUID echoes the token and the verifier", []reply{issue()}, []reply{echoUpdate(416)}},
		{"retries exhausted on echoes", []reply{issue()}, []reply{echoUpdate(503)}},
		{"401 twice", []reply{issue()}, []reply{echoUpdate(401)}},
		{"network error on the token call", []reply{{hangup: true}}, []reply{{code: 200}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth, update := newDRUID(t, tt.tokens...), newDRUID(t, tt.updates...)
			c, logs := newChallengeClient(t, auth, update, func(c *Config) { c.Retries = 1 })
			res := c.Send(t.Context(), newPayload(t))
			require.False(t, res.Outcome.OK())
			require.NotEmpty(t, res.Error)
			requireResultClean(t, res)
			require.Contains(t, logs.String(), `"user_key":"crm-1"`, "the path logged something to check")
			requireNoSecret(t, "log", logs.String())
			for _, u := range update.requests() {
				v := u.query.Get("code_verifier")
				require.NotEmpty(t, v)
				require.NotContains(t, res.Error, v, "the verifier reached SendResult.Error")
				require.NotContains(t, logs.String(), v, "the verifier reached the log")
			}
			for _, g := range auth.requests() {
				require.Contains(t, string(g.body), marker, "the secret did reach DRUID: the check is not vacuous")
			}
		})
	}
}
