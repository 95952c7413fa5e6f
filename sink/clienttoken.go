package sink

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// appToken is one client token and when to stop using it. A new token is a new *appToken, so
// a pointer tells one token from the next.
type appToken struct {
	value     string
	refreshAt time.Time // when to ask for the next one; zero: DRUID gave no lifetime
	expiresAt time.Time // when DRUID stops taking it; zero: unknown, kept until a 401
}

// fresh reports whether t needs no renewal yet.
func (t *appToken) fresh(now time.Time) bool { return t.refreshAt.IsZero() || now.Before(t.refreshAt) }

// valid reports whether DRUID should still take t.
func (t *appToken) valid(now time.Time) bool { return t.expiresAt.IsZero() || now.Before(t.expiresAt) }

// clientTokens holds the app's client token (grant_type=client_credentials, SPEC §2.2), shared
// by every Get: one token call serves all of them until the token is due for renewal or a read
// is refused 401, and concurrent renewals are one call (a single flight).
type clientTokens struct {
	caller // the Reader's

	url    string           // the token call's URL
	path   string           // its path: what errors show of the URL
	at     *origin          // the auth endpoint, as a RunFault names it
	form   string           // encoded once: it is the same for every call
	secret string           // the client secret, to scrub from whatever comes back
	now    func() time.Time // tests replace it to move the clock

	mu     sync.Mutex
	cur    *appToken    // nil until the first token
	flight *tokenFlight // the token call in progress, if any
	// renewAfter holds off the next renewal ahead of expiry after one failed, so that a token
	// endpoint in trouble does not cost every read a token call while cur still works.
	renewAfter time.Time
}

// tokenFlight is one token call that every caller needing a token meanwhile waits for.
type tokenFlight struct {
	done chan struct{} // closed when tok or err is set
	tok  *appToken
	err  error
	// abandoned says the call ended because its caller gave up (its ctx, or its wait for a
	// turn): the others have not, and make their own.
	abandoned bool
}

// get returns the token to read with. stale, when not nil, is a token DRUID refused: get then
// returns a newer one, asking for it unless another caller already did.
//
// A token due for renewal is renewed by one caller while the others go on using it until it
// expires; if the renewal fails, the token in force is kept. Waiting for another caller's token
// call ends with ctx.
func (s *clientTokens) get(ctx context.Context, stale *appToken) (*appToken, error) {
	for {
		s.mu.Lock()
		now := s.now()
		cur := s.cur
		usable := cur != nil && cur != stale && cur.valid(now)
		if usable && (cur.fresh(now) || now.Before(s.renewAfter)) {
			s.mu.Unlock()
			return cur, nil
		}
		if f := s.flight; f != nil {
			s.mu.Unlock()
			if usable {
				return cur, nil
			}
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.tok, f.err
		}
		f := &tokenFlight{done: make(chan struct{})}
		s.flight = f
		s.mu.Unlock()

		tok, err := s.fetch(ctx)
		_, turn := err.(*errTurn)
		s.mu.Lock()
		if err == nil {
			s.cur, s.renewAfter = tok, time.Time{}
		} else if usable {
			s.renewAfter = now.Add(cur.expiresAt.Sub(now) / 2)
		}
		s.flight = nil
		f.tok, f.err, f.abandoned = tok, err, err != nil && (turn || ctx.Err() != nil)
		s.mu.Unlock()
		close(f.done)
		if err != nil && usable {
			// A renewal ahead of expiry: the token in force still works until it expires, and
			// a caller tries again halfway there.
			s.log.Warn().Str("error", err.Error()).Msg("druid: client token renewal failed; keeping the token in force")
			return cur, nil
		}
		return tok, err
	}
}

// fetch makes one token call, after its turn. Its error is an *errTurn, a *GrantError or a
// *callError, none holding the secret.
func (s *clientTokens) fetch(ctx context.Context) (*appToken, error) {
	if err := s.gate.waitTurn(ctx); err != nil {
		return nil, &errTurn{err}
	}
	// The lifetime counts from before the call: DRUID starts it somewhere in between, and a
	// renewal a round trip early costs nothing.
	sent := s.now()
	a, err := s.do(ctx, &exchange{
		kind: CallToken, by: s, at: s.at, method: http.MethodPost, url: s.url, path: s.path,
		header: http.Header{"Content-Type": formContentType, "Accept": applicationJSON},
		body:   []byte(s.form),
		log:    callLog{msg: "druid: client token call"},
	}, s.scrub)
	if err != nil {
		return nil, err
	}
	defer a.release()
	if a.code != http.StatusOK {
		return nil, grantRefusal(&a, s.scrub)
	}
	var body struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if a.readErr != nil || json.Unmarshal(a.body, &body) != nil || body.AccessToken == "" || !headerSafe(body.AccessToken) {
		return nil, &GrantError{Code: a.code, Detail: "the answer holds no usable access_token"}
	}
	tok := &appToken{value: body.AccessToken}
	if secs := expiresIn(body.ExpiresIn); secs > 0 {
		ttl := tokenLifetimeMax
		if secs < tokenLifetimeMax.Seconds() {
			ttl = time.Duration(secs * float64(time.Second))
		}
		use := min(time.Duration(float64(ttl)*tokenRefreshShare), ttl-tokenRefreshLead)
		tok.refreshAt = sent.Add(max(use, ttl/2))
		tok.expiresAt = sent.Add(ttl)
	}
	return tok, nil
}

// expiresIn reads expires_in: a number of seconds, which some servers send as a string. Anything
// else is no lifetime at all: the token is kept until a 401, rather than refused.
func expiresIn(raw json.RawMessage) float64 {
	var secs float64
	if json.Unmarshal(raw, &secs) == nil {
		return secs
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil && !math.IsNaN(v) {
			return v
		}
	}
	return 0
}

// scrub removes the client secret, raw and form-encoded, from text bound for an error or a log
// line: a proxy's page may echo the token call's form.
func (s *clientTokens) scrub(text string) string {
	text = strings.ReplaceAll(text, s.secret, "***")
	if q := url.QueryEscape(s.secret); q != s.secret {
		text = strings.ReplaceAll(text, q, "***")
	}
	return text
}
