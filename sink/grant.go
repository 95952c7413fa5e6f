package sink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TokenPath is where DRUID's OAuth token endpoint lives, under the auth endpoint (SPEC §2.2).
const TokenPath = "/oauth2/token"

// GrantCodeChallenge is the grant type of DRUID's administrative token for one user's update
// (SPEC §2.2).
const GrantCodeChallenge = "urn:druid:oauth2:grant-type:code_challenge"

// verifierBytes of crypto/rand make a verifier of 64 base64url characters: inside RFC 7636's 43
// to 128 of [A-Za-z0-9-._~], with 384 bits nobody can guess.
const verifierBytes = 48

// formContentType is the token request's content type.
var formContentType = []string{"application/x-www-form-urlencoded"}

// grants asks DRUID for a challenge-code token per update (SPEC §2.2). Each token is consumed by
// the first update that uses it, even one that then fails, so every try asks for its own.
type grants struct {
	url    string  // the token call's URL
	path   string  // its path: what errors show of the URL
	at     *origin // the auth endpoint, as a RunFault names it
	form   string  // the form without code_challenge, encoded once: it is the same for every call
	secret string  // the client secret, to scrub from whatever DRUID echoes
}

// newGrants returns the token source of the client id and secret, or nil when none is set.
// flag is the flag that set authEndpoint: --auth-endpoint, or --endpoint when it defaulted.
func newGrants(authEndpoint, flag, clientID, clientSecret string) (*grants, error) {
	if clientID == "" {
		return nil, nil
	}
	u, err := parseBase(authEndpoint, "--auth-endpoint", TokenPath,
		"--auth-endpoint must not carry credentials: use --client-id and --client-secret")
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {GrantCodeChallenge},
		"client_id":             {clientID},
		"client_secret":         {clientSecret},
		"code_challenge_method": {"S256"},
		"scope":                 {"update"},
	}
	return &grants{url: u.String(), path: u.Path, at: originOf(u, flag), form: form.Encode(), secret: clientSecret}, nil
}

// newVerifier returns a fresh code verifier and its S256 challenge:
// BASE64URL-no-padding(SHA256(verifier)).
func newVerifier() (verifier, challenge string) {
	var b [verifierBytes]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program rather than return weak bytes
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// GrantError is a try that DRUID's token endpoint answered without a token: the update was not
// sent. Whether it is worth another try is Classify's call on Code, as for the update; but a
// refused grant says nothing about the user, so the outcome is always failed, never rejected,
// and the next run tries the user again.
type GrantError struct {
	Code       int
	OAuthError string        // the OAuth error code DRUID gave (invalid_client, …), sanitized
	Detail     string        // error_description, or an excerpt of a body that is not OAuth's, sanitized
	RetryAfter time.Duration // from the Retry-After header, capped at RetryAfterMax; 0 when absent
}

// Error says "token: " and the code, DRUID's OAuth error and what to check:
// "token: 401 invalid_client (check --client-id/--client-secret)".
func (e *GrantError) Error() string {
	var b strings.Builder
	b.WriteString("token: ")
	b.WriteString(strconv.Itoa(e.Code))
	b.WriteByte(' ')
	if e.OAuthError != "" {
		b.WriteString(e.OAuthError)
	} else if t := http.StatusText(e.Code); t != "" {
		b.WriteString(t)
	} else {
		b.WriteString("unexpected status")
	}
	switch {
	case e.Code == http.StatusUnauthorized || e.OAuthError == "invalid_client":
		// DRUID's description adds nothing to this, and the text stays stable for reports.
		b.WriteString(" (check --client-id/--client-secret)")
	case e.Detail != "":
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// grant asks DRUID for a token for this try's update and keeps it, with its verifier, in s.
// It returns the code of an answer that is not a token (0 when none came), and the try's
// error: a *GrantError or a *callError.
func (s *send) grant(ctx context.Context) (code int, err error) {
	c, g := s.c, s.c.grants
	verifier, challenge := newVerifier()
	a, err := c.do(ctx, &exchange{
		kind: CallToken, by: s, at: g.at, method: http.MethodPost, url: g.url, path: g.path,
		header: http.Header{"Content-Type": formContentType, "Accept": applicationJSON},
		body:   []byte(g.form + "&code_challenge=" + challenge),
		counts: [2]*atomic.Int64{&c.requests, &c.tokenRequests},
		log:    callLog{msg: "druid: token call", idKey: "user_key", id: s.p.Key, attempt: s.res.Attempts + 1},
	}, s.scrub)
	if err != nil {
		return 0, err
	}
	defer a.release()
	if a.code == http.StatusOK {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if a.readErr != nil || json.Unmarshal(a.body, &tok) != nil || tok.AccessToken == "" || !headerSafe(tok.AccessToken) {
			// DRUID said yes but the token cannot be used: not worth a retry, and the next run
			// tries the user again. No code is kept: a 200 beside a failed user would mislead.
			return 0, &GrantError{Code: a.code, Detail: "the answer holds no usable access_token"}
		}
		s.tok = token{value: tok.AccessToken}
		s.verifier = verifier
		s.secrets = nil // a new token: the scrub list is rebuilt with it when needed
		return 0, nil
	}
	return a.code, grantRefusal(&a, s.scrub)
}

// grantRefusal is the *GrantError of a token endpoint's answer a, which holds no token. scrub
// removes the caller's secrets from what DRUID or a proxy echoes back.
func grantRefusal(a *answer, scrub func(string) string) *GrantError {
	ge := &GrantError{Code: a.code, RetryAfter: a.retryAfter()}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(a.body, &oauth) == nil && oauth.Error != "" {
		ge.OAuthError = excerpt(scrub(oauth.Error), excerptMax)
		ge.Detail = excerpt(scrub(oauth.Description), excerptMax)
	} else if len(a.body) > 0 {
		ge.Detail = excerpt(scrub(string(a.body)), excerptMax)
	}
	return ge
}
