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
	kindUsed                // a kindChallenge token already redeemed: refused, as a reused verifier
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

// tokenSet is the static token set of tokens, empty ones left out.
func tokenSet(tokens []string) *map[string]struct{} {
	m := make(map[string]struct{}, len(tokens))
	for _, t := range tokens {
		if t != "" {
			m[t] = struct{}{}
		}
	}
	return &m
}

// SetTokens replaces the static tokens (Config.Tokens) with tokens, at once: every request
// whose token is checked after SetTokens returns is judged by the new set, so an old token
// gets 401, as a rotated or expired token does at DRUID. A request already past its token
// check completes. It is safe while serving. Per-user and OAuth tokens are not affected; a
// static token equal to a user's token (Seed.Token) makes that token administrative.
func (s *Server) SetTokens(tokens ...string) {
	set := tokenSet(tokens)
	s.tokensMu.Lock() // orders it with Seed's check that a user's token is not static
	s.static.Store(set)
	s.tokensMu.Unlock()
}

func (s *Server) credential(token string) credential {
	if token == "" {
		return credential{}
	}
	if _, ok := (*s.static.Load())[token]; ok {
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

// grants holds the tokens POST /oauth2/token issued. A challenge token whose verifier is
// redeemed becomes kindUsed, which makes a verifier usable once; it is kept until it expires
// so that sending it again is told apart from an unknown token (Stats.VerifierFailures),
// which holds each redeemed token for at most ChallengeTokenTTL plus sweepEvery.
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
	g.m[token] = grant{kind: kindUsed, expires: gr.expires}
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
	if gr.kind == kindChallenge {
		s.tokenGrants.Add(1)
	} else {
		s.clientGrants.Add(1)
	}
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

// bucket is Config.RateLimit: a token bucket holding limit requests, refilled at limit per
// second, kept as GCRA does (tat is when the bucket would be full again). A fixed window per
// calendar second, its predecessor, refused a client pacing itself at exactly the limit
// whenever jitter put one request more into a second, and let twice the limit through
// across a second boundary; a sliding log refuses on jitter too.
type bucket struct {
	mu  sync.Mutex
	tat int64 // unix nanoseconds
}

// allow reports whether a request at now fits within limit per second, and if not, how long
// until one would. A refused request takes nothing from the bucket.
func (b *bucket) allow(now time.Time, limit int) (bool, time.Duration) {
	// Rounded down, the interval errs on accepting: a client paced at exactly the limit must
	// never be refused.
	interval := int64(time.Second) / int64(limit)
	tolerance := int64(limit-1) * interval // the burst the full bucket allows
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	tat := max(b.tat, t)
	if wait := tat - t - tolerance; wait > 0 {
		return false, time.Duration(wait)
	}
	b.tat = tat + interval
	return true, 0
}

// retryAfter is wait as Retry-After says it: whole seconds, rounded up, at least 1, so a
// client honouring it never comes back too early.
func retryAfter(wait time.Duration) int {
	return max(int((wait+time.Second-1)/time.Second), 1)
}
