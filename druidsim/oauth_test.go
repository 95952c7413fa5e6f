package druidsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"druid-migrate/sink"
)

func clientForm(grant string) url.Values {
	return url.Values{"grant_type": {grant}, "client_id": {clientID}, "client_secret": {secret}}
}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func challengeForm(verifier string) url.Values {
	f := clientForm(GrantCodeChallenge)
	f.Set("code_challenge", challengeOf(verifier))
	f.Set("code_challenge_method", "S256")
	f.Set("scope", "update")
	return f
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	configured := newSim(t, Config{ClientID: clientID, ClientSecret: secret})
	unconfigured := newSim(t, Config{})
	verifier := strings.Repeat("v", 43)
	edit := func(f url.Values, key, value string) url.Values {
		if value == "" {
			f.Del(key)
		} else {
			f.Set(key, value)
		}
		return f
	}

	tests := []struct {
		name      string
		sim       *sim
		form      url.Values
		wantCode  int
		wantError string // "" for a token
		wantTTL   float64
	}{
		{"client credentials", configured, clientForm(GrantClientCredentials), http.StatusOK, "", 3600},
		{"code challenge", configured, challengeForm(verifier), http.StatusOK, "", 60},
		{"wrong secret", configured, edit(clientForm(GrantClientCredentials), "client_secret", "nope"), http.StatusUnauthorized, "invalid_client", 0},
		{"wrong client", configured, edit(challengeForm(verifier), "client_id", "other"), http.StatusUnauthorized, "invalid_client", 0},
		{"no client configured", unconfigured, clientForm(GrantClientCredentials), http.StatusUnauthorized, "invalid_client", 0},
		{"no grant_type", configured, edit(clientForm(""), "grant_type", ""), http.StatusBadRequest, "invalid_request", 0},
		{"password grant", configured, clientForm("password"), http.StatusBadRequest, "unsupported_grant_type", 0},
		{"no client_secret", configured, edit(clientForm(GrantClientCredentials), "client_secret", ""), http.StatusBadRequest, "invalid_request", 0},
		{"no code_challenge", configured, edit(challengeForm(verifier), "code_challenge", ""), http.StatusBadRequest, "invalid_request", 0},
		{"padded code_challenge", configured, edit(challengeForm(verifier), "code_challenge", challengeOf(verifier)+"="), http.StatusBadRequest, "invalid_request", 0},
		{"plain method", configured, edit(challengeForm(verifier), "code_challenge_method", "plain"), http.StatusBadRequest, "invalid_request", 0},
		{"other scope", configured, edit(challengeForm(verifier), "scope", "read"), http.StatusBadRequest, "invalid_request", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := tt.sim.token(t, tt.form)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %v", code, tt.wantCode, body)
			}
			if tt.wantError != "" {
				if body["error"] != tt.wantError {
					t.Errorf("error %v, want %q", body["error"], tt.wantError)
				}
				if _, ok := body["access_token"]; ok {
					t.Error("a refused grant carries an access_token")
				}
				return
			}
			if tok, _ := body["access_token"].(string); tok == "" || body["token_type"] != "bearer" || body["expires_in"] != tt.wantTTL {
				t.Errorf("token answer %v, want a bearer token for %v s", body, tt.wantTTL)
			}
		})
	}
}

func TestCodeChallengeTokens(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	newToken := func(t *testing.T, verifier string) string {
		t.Helper()
		code, body := s.token(t, challengeForm(verifier))
		tok, _ := body["access_token"].(string)
		if code != http.StatusOK || tok == "" {
			t.Fatalf("challenge grant: %d %v", code, body)
		}
		return tok
	}
	send := func(t *testing.T, token, verifier string, name string) answer {
		t.Helper()
		path := UpdatePath
		if verifier != "" {
			path += "?code_verifier=" + url.QueryEscape(verifier)
		}
		return s.do(t, call{method: http.MethodPost, path: path, token: token, body: with("u1", func(r *sink.Request) {
			r.Object.Datas["name"] = sink.Data{Value: name}
		})})
	}
	v1 := "verifier-one-" + strings.Repeat("a", 40)
	v2 := "verifier-two-" + strings.Repeat("b", 40)

	t.Run("matching verifier updates once", func(t *testing.T) {
		tok := newToken(t, v1)
		if got := send(t, tok, v1, "First"); got.code != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", got.code, got.raw)
		}
		if got := send(t, tok, v1, "Second"); got.code != http.StatusUnauthorized {
			t.Fatalf("reused verifier: status %d, want 401", got.code)
		}
		if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "First" {
			t.Errorf("name %q, want First", u.User.Datas["name"].Value)
		}
	})
	t.Run("a verifier is refused when wrong, absent or ill-formed", func(t *testing.T) {
		tok := newToken(t, "short") // its challenge matches, but no client may make such a verifier
		if got := send(t, tok, "short", "Short"); got.code != http.StatusUnauthorized {
			t.Errorf("ill-formed verifier: status %d, want 401", got.code)
		}
		tok = newToken(t, v2)
		for _, verifier := range []string{"", v1} {
			got := send(t, tok, verifier, "Wrong")
			if got.code != http.StatusUnauthorized {
				t.Fatalf("verifier %q: status %d, want 401", verifier, got.code)
			}
			if names := fieldNames(got.env.Result.Errors); len(names) != 1 || names[0] != "code_verifier" {
				t.Errorf("errors name %v, want [code_verifier]", names)
			}
		}
		if got := send(t, tok, v2, "Right"); got.code != http.StatusOK {
			t.Errorf("the right verifier after wrong ones: status %d, want 200", got.code)
		}
	})
	t.Run("expires after 60 s", func(t *testing.T) {
		tok := newToken(t, v1)
		s.advance(ChallengeTokenTTL)
		if got := send(t, tok, v1, "Late"); got.code != http.StatusUnauthorized {
			t.Errorf("expired token: status %d, want 401", got.code)
		}
	})
	t.Run("cannot read users", func(t *testing.T) {
		tok := newToken(t, v1)
		if got := s.do(t, call{method: http.MethodGet, path: UserPathPrefix + "u1", token: tok}); got.code != http.StatusUnauthorized {
			t.Errorf("GET with a challenge token: status %d, want 401", got.code)
		}
	})
}

func TestClientTokenExpires(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	_, body := s.token(t, clientForm(GrantClientCredentials))
	tok, _ := body["access_token"].(string)
	get := call{method: http.MethodGet, path: UserPathPrefix + "u1", token: tok}
	if got := s.do(t, get); got.code != http.StatusOK {
		t.Fatalf("fresh client token: status %d, want 200", got.code)
	}
	s.advance(ClientTokenTTL - time.Second)
	if got := s.do(t, get); got.code != http.StatusOK {
		t.Fatalf("client token within its hour: status %d, want 200", got.code)
	}
	s.advance(time.Second)
	if got := s.do(t, get); got.code != http.StatusUnauthorized {
		t.Errorf("expired client token: status %d, want 401", got.code)
	}
}

func TestGrantsAreSwept(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret})
	for range 5 {
		s.token(t, challengeForm(strings.Repeat("z", 50)))
	}
	s.advance(ChallengeTokenTTL + sweepEvery + time.Second)
	s.token(t, clientForm(GrantClientCredentials))
	s.oauth.mu.Lock()
	n := len(s.oauth.m)
	s.oauth.mu.Unlock()
	if n != 1 {
		t.Errorf("%d grants held after the expired ones were swept, want 1", n)
	}
}

func TestSetTokensReplacesTheStaticTokens(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{Tokens: []string{"old"}}, seeded("u1"))
	send := func(token string) int {
		t.Helper()
		return s.do(t, call{method: http.MethodPost, path: UpdatePath, token: token, body: typical("u1")}).code
	}
	if got := send("old"); got != http.StatusNotModified {
		t.Fatalf("old token before rotation: status %d, want 304", got)
	}
	s.SetTokens("new", "")
	if got := send("old"); got != http.StatusUnauthorized {
		t.Errorf("old token after rotation: status %d, want 401", got)
	}
	if got := send("new"); got != http.StatusNotModified {
		t.Errorf("new token: status %d, want 304", got)
	}
	if got := s.do(t, call{method: http.MethodGet, path: UserPathPrefix + "u1", token: "new"}); got.code != http.StatusOK {
		t.Errorf("new token reads users: status %d, want 200", got.code)
	}
	if err := s.Seed(Seed{User: sink.User{ObjectID: "u2"}, Token: "new"}); err == nil || !strings.Contains(err.Error(), "token already in use") {
		t.Errorf("seeding a user with the new static token: %v, want it refused", err)
	}
	s.SetTokens() // every static token expired
	if got := send("new"); got != http.StatusUnauthorized {
		t.Errorf("after SetTokens(): status %d, want 401", got)
	}
	if got := send(""); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", got)
	}
}

// TestSetTokensWhileServing rotates the static token while workers update with both, as a
// product test of --token-file does; under -race it checks the swap. A request sent and
// answered while no rotation was under way must be judged by the set in force.
func TestSetTokensWhileServing(t *testing.T) {
	t.Parallel()
	const workers, calls = 8, 40
	s := newSim(t, Config{Tokens: []string{"a"}}, seeded("u1"))
	sets := [][]string{{"a"}, {"b"}, {"a", "b"}}
	// version is odd while SetTokens runs; (version/2) % len(sets) is the set in force.
	var version, judged atomic.Int64
	answered := make(chan struct{}, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			token := []string{"a", "b"}[w%2]
			for range calls {
				before := version.Load()
				code, err := s.post(t.Context(), token, typical("u1"))
				answered <- struct{}{}
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				if before%2 == 1 || version.Load() != before {
					if code != http.StatusNotModified && code != http.StatusUnauthorized {
						t.Errorf("worker %d during a rotation: status %d", w, code)
					}
					continue
				}
				judged.Add(1)
				set := sets[before/2%int64(len(sets))]
				want := http.StatusUnauthorized
				if slices.Contains(set, token) {
					want = http.StatusNotModified
				}
				if code != want {
					t.Errorf("worker %d token %q under set %v: status %d, want %d", w, token, set, code, want)
				}
			}
		})
	}
	// The rotator keeps pace with the workers, rotating every few answers, so rotations and
	// requests interleave however the goroutines are scheduled.
	rotations := 0
	var rotator sync.WaitGroup
	rotator.Go(func() {
		for i := 1; ; i++ {
			for range 3 {
				if _, ok := <-answered; !ok {
					return
				}
			}
			version.Add(1)
			s.SetTokens(sets[i%len(sets)]...)
			version.Add(1)
			rotations++
		}
	})
	wg.Wait()
	close(answered)
	rotator.Wait()
	t.Logf("%d rotations; %d of %d requests judged", rotations, judged.Load(), workers*calls)
	if rotations == 0 || judged.Load() == 0 {
		t.Errorf("%d rotations, %d requests judged: want some of each", rotations, judged.Load())
	}
}

func TestStatsCountGrantsAndVerifierFailures(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	v1 := strings.Repeat("1", 43)
	v2 := strings.Repeat("2", 43)
	tok := func(form url.Values) string {
		t.Helper()
		_, body := s.token(t, form)
		tok, _ := body["access_token"].(string)
		return tok
	}
	send := func(token, verifier string) int {
		t.Helper()
		return s.do(t, call{method: http.MethodPost, path: UpdatePath + "?code_verifier=" + verifier, token: token, body: typical("u1")}).code
	}
	t1, t2 := tok(challengeForm(v1)), tok(challengeForm(v2))
	tok(clientForm(GrantClientCredentials))
	bad := clientForm(GrantClientCredentials)
	bad.Set("client_secret", "wrong")
	tok(bad) // refused: no grant

	for _, c := range []struct {
		token, verifier string
		want            int
	}{
		{t1, v2, http.StatusUnauthorized}, // wrong verifier: failure 1
		{t1, v1, http.StatusNotModified},  // redeemed
		{t1, v1, http.StatusUnauthorized}, // reused: failure 2
		{t2, "", http.StatusUnauthorized}, // missing: failure 3
		{"unknown", v2, http.StatusUnauthorized},
	} {
		if got := send(c.token, c.verifier); got != c.want {
			t.Fatalf("status %d, want %d", got, c.want)
		}
	}

	raw := s.do(t, call{method: http.MethodGet, path: FakeStatsPath}).raw
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"token_grants": 2, "client_grants": 1, "verifier_failures": 3, "resets": 0, "slow_responses": 0, "total": 9}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("/__fake/stats %s = %v, want %v: %s", k, got[k], v, raw)
		}
	}

	s.Reset()
	if st := s.Stats(); !reflect.DeepEqual(st, Stats{Requests: map[int]int64{}}) {
		t.Errorf("stats after Reset %+v, want zero", st)
	}
}

// TestVerifierReusedOnARetryIsCounted: a fault consumes the challenge token it strikes, so a
// client retrying with the same token and verifier gets a 401 that Stats shows.
func TestVerifierReusedOnARetryIsCounted(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret, FailRate: 1}, seeded("u1"))
	v := strings.Repeat("r", 64)
	_, body := s.token(t, challengeForm(v))
	tok, _ := body["access_token"].(string)
	path := UpdatePath + "?code_verifier=" + v
	if got := s.do(t, call{method: http.MethodPost, path: path, token: tok, body: typical("u1")}); got.code < 500 {
		t.Fatalf("status %d, want a simulated failure", got.code)
	}
	if got := s.do(t, call{method: http.MethodPost, path: path, token: tok, body: typical("u1")}); got.code != http.StatusUnauthorized {
		t.Fatalf("retry with the same verifier: status %d, want 401", got.code)
	}
	if st := s.Stats(); st.VerifierFailures != 1 || st.TokenGrants != 1 {
		t.Errorf("stats %+v, want 1 grant and 1 verifier failure", st)
	}
}
