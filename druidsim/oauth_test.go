package druidsim

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
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
