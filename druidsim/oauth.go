package druidsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The grant types POST /oauth2/token accepts.
const (
	GrantClientCredentials = "client_credentials"                         // the app token, to read users
	GrantCodeChallenge     = "urn:druid:oauth2:grant-type:code_challenge" // a token to update one user
)

// Token lifetimes DRUID documents: the app token reads users for an hour; a challenge-code
// token updates one user within a minute.
const (
	ClientTokenTTL    = time.Hour
	ChallengeTokenTTL = 60 * time.Second
)

// sweepEvery bounds how often expired grants are dropped: often enough that memory follows the
// token rate, rarely enough that the sweep costs nothing per request.
const sweepEvery = 10 * time.Second

type tokenKind int

const (
	kindNone      tokenKind = iota
	kindAdmin               // a static Config.Tokens entry
	kindUser                // a per-user token (Seed.Token)
	kindChallenge           // issued by the code_challenge grant: updates, with its verifier
	kindClient              // issued by client_credentials: reads users
)

type credential struct {
	kind     tokenKind
	objectID string // the user a kindUser token names
}

// bearer returns the token of an "Authorization: Bearer <t>" header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

func (s *Server) credential(token string) credential {
	if token == "" {
		return credential{}
	}
	if _, ok := s.static[token]; ok {
		return credential{kind: kindAdmin}
	}
	s.tokensMu.RLock()
	id, ok := s.userTokens[token]
	s.tokensMu.RUnlock()
	if ok {
		return credential{kind: kindUser, objectID: id}
	}
	return credential{kind: s.oauth.kind(token, s.now())}
}

type grant struct {
	kind      tokenKind // kindChallenge or kindClient
	challenge string    // BASE64URL(SHA256(verifier)), for kindChallenge
	expires   time.Time
}

// grants holds the tokens POST /oauth2/token issued. A challenge token is deleted when its
// verifier is redeemed: that is what makes a verifier usable once.
type grants struct {
	mu        sync.Mutex
	m         map[string]grant
	lastSweep time.Time
}

func (g *grants) issue(gr grant, now time.Time) string {
	token := rand.Text()
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.lastSweep) > sweepEvery {
		for t, x := range g.m {
			if !now.Before(x.expires) {
				delete(g.m, t)
			}
		}
		g.lastSweep = now
	}
	g.m[token] = gr
	return token
}

func (g *grants) kind(token string, now time.Time) tokenKind {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.m[token]
	if !ok || !now.Before(gr.expires) {
		return kindNone
	}
	return gr.kind
}

// redeem reports whether verifier proves the challenge token was asked for by its caller, and
// consumes the token if so. A wrong verifier leaves it usable.
func (g *grants) redeem(token, verifier string, now time.Time) bool {
	if !validVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.m[token]
	if !ok || gr.kind != kindChallenge || !now.Before(gr.expires) ||
		subtle.ConstantTimeCompare([]byte(gr.challenge), []byte(challenge)) != 1 {
		return false
	}
	delete(g.m, token)
	return true
}

// validVerifier applies RFC 7636's rule (43 to 128 of [A-Za-z0-9-._~]) that SPEC §2.2 repeats,
// so that a client making short or ill-formed verifiers is caught here, not in production.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}

// validChallenge accepts what BASE64URL(SHA256(x)) without padding can be: 43 characters.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	form := r.PostForm
	grantType := form.Get("grant_type")
	switch grantType {
	case "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	case GrantClientCredentials, GrantCodeChallenge:
	default:
		s.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if id == "" || secret == "" {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret are required")
		return
	}
	if s.cfg.ClientID == "" || s.cfg.ClientSecret == "" ||
		subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1 {
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}

	now := s.now()
	gr := grant{kind: kindClient, expires: now.Add(ClientTokenTTL)}
	if grantType == GrantCodeChallenge {
		switch {
		case !validChallenge(form.Get("code_challenge")):
			s.tokenError(w, http.StatusBadRequest, "invalid_request", "code_challenge must be BASE64URL(SHA256(verifier)) without padding")
			return
		case form.Get("code_challenge_method") != "S256":
			s.tokenError(w, http.StatusBadRequest, "invalid_request", "code_challenge_method must be S256")
			return
		case form.Get("scope") != "update":
			s.tokenError(w, http.StatusBadRequest, "invalid_request", "scope must be update")
			return
		}
		gr = grant{kind: kindChallenge, challenge: form.Get("code_challenge"), expires: now.Add(ChallengeTokenTTL)}
	}
	token := s.oauth.issue(gr, now)
	s.log.Debug().Str("grant_type", grantType).Msg("token issued")
	w.Header().Set("Cache-Control", "no-store")
	s.replyJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int(gr.expires.Sub(now) / time.Second),
	})
}

func (s *Server) tokenError(w http.ResponseWriter, code int, kind, description string) {
	s.log.Debug().Int("status_code", code).Str("error", kind).Msg("token refused")
	s.replyJSON(w, code, oauthError{Error: kind, Description: description})
}

func (s *Server) replyJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"server_error"}`)
		code = http.StatusInternalServerError
	}
	s.reply(w, code, b)
}

// window is the fixed one-second window of Config.RateLimit. A fixed window lets up to twice
// the limit through across a second boundary, as simple gateways do; clients must cope anyway.
type window struct {
	mu  sync.Mutex
	sec int64
	n   int
}

func (l *window) allow(now time.Time, limit int) bool {
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec != l.sec {
		l.sec, l.n = sec, 0
	}
	l.n++
	return l.n <= limit
}
