package sink

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Defaults of Config. The CLI uses the same constants for its flags' defaults.
const (
	ConcurrencyDefault = 8
	TimeoutDefault     = 30 * time.Second
	RetriesDefault     = 5
	BackoffBaseDefault = 250 * time.Millisecond
	BackoffMaxDefault  = 30 * time.Second
)

// UpdatePath is where DRUID's update user call lives, under the endpoint (SPEC §2.1).
const UpdatePath = "/activityid/v1/user/update"

const (
	// excerptMax bounds the excerpt of a body that is not DRUID's envelope.
	excerptMax = 200
	// errorMax bounds SendResult.Error: it goes into every checkpoint row and report line.
	errorMax = 1024
)

// Config configures a Client. Its zero values take the defaults below, except Retries, where 0
// means no retries: the CLI passes RetriesDefault.
type Config struct {
	// Endpoint is DRUID's base URL (--endpoint), e.g. https://graph.demo.dru-id.com. A trailing
	// slash and a path prefix are kept; credentials, a query or a fragment are refused.
	Endpoint string
	// EntryPoint is the entry point id sent as the From header (--entry-point). Required.
	EntryPoint string
	// Token is the static bearer token (--token).
	Token string
	// TokenFile (--token-file) holds the bearer token. It is read at New and re-read when DRUID
	// answers 401; the call is then tried once more if the file now holds another token.
	// Exclusive with Token.
	TokenFile string
	// PerUserTokens says every record may carry its own token, so neither Token nor TokenFile is
	// required. A record's token always wins over the configured one.
	PerUserTokens bool
	// ClientID and ClientSecret (--client-id, --client-secret) make the Client ask DRUID for
	// an administrative challenge-code token before every update try (SPEC §2.2). Set both or
	// neither; exclusive with Token and TokenFile.
	ClientID, ClientSecret string
	// AuthEndpoint (--auth-endpoint) is the base URL of DRUID's OAuth token endpoint. Defaults
	// to Endpoint.
	AuthEndpoint string
	// Concurrency is the number of workers calling Send at once; it sizes the connection pool.
	// Defaults to ConcurrencyDefault.
	Concurrency int
	// Timeout bounds one HTTP call, reading the answer included. Defaults to TimeoutDefault.
	Timeout time.Duration
	// Retries is the number of tries after the first for transient outcomes. 0 means none.
	// Tries made while DRUID is down for every caller spend none of them (see DownTimeout).
	Retries int
	// DownTimeout (--druid-timeout) is how long a Send waits out an outage — every call
	// failing with no answer or a 5xx, for more than one worker, with no good answer between
	// — before it stops with ErrUnreachable (SendResult.Err). Meanwhile the workers wait and
	// try again without spending Retries. Defaults to DownTimeoutDefault.
	DownTimeout time.Duration
	// Limiter, shared by every worker, is waited on before every call to DRUID, retries and
	// token calls included. Nil means unlimited. The Client owns its rate from New on: a
	// throttling answer (429, or 503 with Retry-After) or an overloaded second halves it, at
	// most once a second, and it climbs back to the rate it had at New, never above (see
	// Stats).
	// An unlimited limiter (rate.Inf) is left unlimited.
	Limiter *rate.Limiter
	// BackoffBase is the first retry's backoff window; each retry doubles it. Defaults to
	// BackoffBaseDefault.
	BackoffBase time.Duration
	// BackoffMax caps the backoff window. Defaults to BackoffMaxDefault; raised to BackoffBase
	// when below it.
	BackoffMax time.Duration
	// Log receives one debug line per call, the token file's rotations, a warning per
	// slow-down and a line when the job is back to full rate. Defaults to the zero Logger,
	// which writes nothing.
	Log zerolog.Logger
	// Observe, when set, is told of every HTTP call the Client makes, token calls included,
	// and of those of its Readers (see Client.Reader): for metrics. Nil observes nothing.
	Observe ObserveFunc
}

// validate checks what the operator set. Its errors name the flag, and never repeat a value that
// may hold a secret (the endpoint's userinfo, a token).
func (cfg *Config) validate() error {
	if cfg.EntryPoint == "" {
		return errors.New("--entry-point is required")
	}
	if !headerSafe(cfg.EntryPoint) {
		return errors.New("--entry-point holds characters an HTTP header cannot carry")
	}
	challenge := cfg.ClientID != ""
	switch {
	case cfg.ClientID != "" && cfg.ClientSecret == "":
		return errors.New("--client-secret is required with --client-id")
	case cfg.ClientID == "" && cfg.ClientSecret != "":
		return errors.New("--client-id is required with --client-secret")
	case cfg.Token != "" && cfg.TokenFile != "":
		return errors.New("--token and --token-file exclude each other: set one")
	case challenge && (cfg.Token != "" || cfg.TokenFile != ""):
		// Either would do for every user: which one the operator meant is not ours to guess.
		return errors.New("--client-id excludes --token and --token-file: set one way to get tokens")
	case cfg.Token == "" && cfg.TokenFile == "" && !cfg.PerUserTokens && !challenge:
		return errors.New("--token or --token-file is required (or --client-id with --client-secret)")
	}
	return cfg.limits().validate()
}

// limits returns the settings a Client shares with a Reader.
func (cfg *Config) limits() callLimits {
	return callLimits{cfg.Concurrency, cfg.Timeout, cfg.Retries, cfg.DownTimeout, cfg.Limiter, cfg.BackoffBase, cfg.BackoffMax}
}

// callLimits are the settings a Client and a Reader share, from their Config and ReaderConfig:
// how many calls go at once, how long one may take, and how failures are retried and paced.
type callLimits struct {
	concurrency             int
	timeout                 time.Duration
	retries                 int
	downTimeout             time.Duration
	limiter                 *rate.Limiter
	backoffBase, backoffMax time.Duration
}

// validate checks what the operator set. Its errors name the flag.
func (l callLimits) validate() error {
	switch {
	case l.concurrency < 0:
		return fmt.Errorf("--concurrency must be at least 1, not %d", l.concurrency)
	case l.timeout < 0:
		return fmt.Errorf("--timeout must be positive, not %s", l.timeout)
	case l.retries < 0:
		return fmt.Errorf("--retries must be 0 or more, not %d", l.retries)
	case l.downTimeout < 0:
		return fmt.Errorf("--druid-timeout must be positive, not %s", l.downTimeout)
	case l.backoffBase < 0:
		return fmt.Errorf("backoff base must be positive, not %s", l.backoffBase)
	case l.backoffMax < 0:
		return fmt.Errorf("backoff max must be positive, not %s", l.backoffMax)
	}
	// rate.Limiter.Wait fails on every call when the burst cannot hold one token.
	if l.limiter != nil && l.limiter.Limit() != rate.Inf && l.limiter.Burst() < 1 {
		return errors.New("--burst must be at least 1")
	}
	return nil
}

// withDefaults returns l with the defaults in place of its zero values, and the backoff's cap
// raised to its base when below it. Retries keep 0: no retries.
func (l callLimits) withDefaults() callLimits {
	l.concurrency = cmp.Or(l.concurrency, ConcurrencyDefault)
	l.timeout = cmp.Or(l.timeout, TimeoutDefault)
	l.downTimeout = cmp.Or(l.downTimeout, DownTimeoutDefault)
	l.backoffBase = cmp.Or(l.backoffBase, BackoffBaseDefault)
	l.backoffMax = max(cmp.Or(l.backoffMax, BackoffMaxDefault), l.backoffBase)
	return l
}

// retry is the retry policy of l.
func (l callLimits) retry() retryPolicy {
	return retryPolicy{max: l.retries, base: l.backoffBase, ceil: l.backoffMax, down: l.downTimeout}
}

// parseEndpoint returns the URL of the update call under endpoint, which --endpoint set.
func parseEndpoint(endpoint string) (*url.URL, error) {
	return parseBase(endpoint, "--endpoint", UpdatePath,
		"--endpoint must not carry credentials: use --token or --token-file")
}

// parseBase returns the URL of path under base, the value of flag; credentials is the error of
// a base that carries some.
func parseBase(base, flag, path, credentials string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	// url.Parse's error repeats the URL, userinfo included: it is not wrapped.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New(flag + " must be an http(s) URL")
	}
	if u.User != nil {
		return nil, errors.New(credentials)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New(flag + " must be a base URL, without a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	return u, nil
}

// Client calls DRUID's update user endpoint. It is safe for concurrent use by every worker of
// a run, and shares among them its connections, its rate limiter and DRUID's throttling.
type Client struct {
	// The connections, the observer, and the gate (the limiter, its throttle and the hold),
	// shared with the Readers made by Reader.
	caller

	url        string   // the update call's URL
	parsed     *url.URL // url, parsed: shared by every call, and never modified
	path       string   // its path: what errors show of the URL
	at         *origin  // the endpoint, as a RunFault names it
	entryPoint []string
	tokens     *tokenSource // nil when every record carries its own token, or with grants
	grants     *grants      // nil unless --client-id: a challenge-code token per try
	retry      retryPolicy

	// headers are the update calls' headers with the configured token, built once (see
	// updateHeader).
	headers atomic.Pointer[updateHeaders]

	// Counters of Stats.
	requests, tokenRequests, retried atomic.Int64
}

// New checks cfg and returns a Client ready to Send. With cfg.TokenFile, the file is read now.
func New(cfg Config) (*Client, error) {
	// A secret read from a file or a Kubernetes Secret often ends in a newline DRUID would refuse.
	cfg.ClientID, cfg.ClientSecret = strings.TrimSpace(cfg.ClientID), strings.TrimSpace(cfg.ClientSecret)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	tokens, err := newTokenSource(cfg.Token, cfg.TokenFile, cfg.Log)
	if err != nil {
		return nil, err
	}
	authFlag := flagAuthEndpoint
	if cfg.AuthEndpoint == "" {
		cfg.AuthEndpoint, authFlag = cfg.Endpoint, flagEndpoint
	}
	grants, err := newGrants(cfg.AuthEndpoint, authFlag, cfg.ClientID, cfg.ClientSecret)
	if err != nil {
		return nil, err
	}
	lim := cfg.limits().withDefaults()
	c := &Client{
		caller: caller{
			conns:   newNetHTTP(lim.concurrency),
			timeout: lim.timeout,
			gate:    newGate(cfg.Limiter, cfg.Log),
			log:     cfg.Log,
			observe: cfg.Observe,
		},
		url:        u.String(),
		parsed:     u,
		path:       u.Path,
		at:         originOf(u, flagEndpoint),
		entryPoint: []string{cfg.EntryPoint},
		tokens:     tokens,
		grants:     grants,
		retry:      lim.retry(),
	}
	return c, nil
}

// Stats returns what the Client did so far. It is safe to call while workers Send.
func (c *Client) Stats() Stats {
	st := Stats{
		Requests:      c.requests.Load(),
		TokenRequests: c.tokenRequests.Load(),
		Retries:       c.retried.Load(),
		Throttled:     c.throttled.Load(),
		DownSince:     c.downSince(),
	}
	switch {
	case c.throttle != nil:
		st.Overloads, st.SlowDowns, st.MinRate, st.CurrentRate = c.throttle.rates()
	case c.limiter != nil && c.limiter.Limit() != rate.Inf:
		st.MinRate = float64(c.limiter.Limit())
		st.CurrentRate = st.MinRate
	}
	return st
}

// Close closes the idle connections. Calls still running finish normally.
func (c *Client) Close() {
	c.conns.closeIdle()
}

// Send makes DRUID update one user and says what became of it. It never returns an error: a
// failure is an outcome (SPEC §2.1), with the code of DRUID's last answer and the number of
// update calls made (token calls are counted in Stats, not in Attempts).
//
// Transient answers are retried up to Retries times, each after a backoff that honours
// Retry-After. A 401 on a --token-file token re-reads the file and tries once more if it holds
// another token.
//
// While DRUID is down for every worker (no answer or a 5xx to every call, no good answer to
// any), the tries spend no retries: Send waits and tries again, and once the outage has lasted
// DownTimeout it returns a result whose Err wraps ErrUnreachable, which is no outcome of the
// user (see tries for the exact rule). A result whose last try failed for a fault of the run's
// configuration carries it in Fault (see RunFault).
//
// With ClientID, every update try, retries included, is preceded by a token call with a fresh
// verifier, unless the record carries its own token: DRUID consumes a challenge-code token at
// its first use, even by a call that then fails. A transient answer of the token endpoint is
// retried within the same Retries; a refusal (400, 401) fails the user. A 401 on the update
// itself (the token expired while waiting for a turn) is tried once more with a new token.
//
// When ctx is cancelled, Send returns promptly, whether it was waiting for the limiter, a
// backoff or DRUID's answer: a failed outcome whose Error starts with "interrupted", with the
// code of the last answer (0 if none). An answer that was already in when ctx was cancelled
// stands, unless it was transient. To let calls in flight finish on shutdown (SPEC §4), the
// caller passes a ctx that outlives the interrupt, as pipeline.Run does with its drain timeout.
func (c *Client) Send(ctx context.Context, p *Payload) SendResult {
	return c.send(ctx, p, false)
}

// Probe is Send for the run's first user, whose answer says whether the run can work at all
// (SPEC §4: with a static token, the first update itself proves the endpoint and the token;
// the pipeline sends it alone, before starting its workers). It differs from Send in two ways:
// a connection that cannot be made — refused, a host that does not resolve, TLS failing — is
// tried once more, not Retries times, so that a wrong --endpoint is known after two requests;
// and it knows no outage, since no other call tells DRUID down from the endpoint wrong: every
// transient failure spends its retries. Fault then says whether the run must stop; without
// one, the result is the user's outcome, as from Send.
func (c *Client) Probe(ctx context.Context, p *Payload) SendResult {
	return c.send(ctx, p, true)
}

// send is Send, or Probe when probe.
func (c *Client) send(ctx context.Context, p *Payload, probe bool) SendResult {
	if p == nil || len(p.Body) == 0 {
		return SendResult{Outcome: Failed, Error: "payload has no body: nothing to send"}
	}
	s := &send{c: c, p: p}
	switch {
	case p.Token != "":
		if !headerSafe(p.Token) {
			return SendResult{Outcome: Failed, Error: "the record's token holds characters an HTTP header cannot carry"}
		}
		s.tok = token{value: p.Token}
		s.ownToken = true
	case c.grants != nil:
		s.challenge = true
		s.refreshable = true
	case c.tokens != nil:
		s.tok = c.tokens.current()
		s.refreshable = c.tokens.refreshable()
	default:
		return SendResult{Outcome: Failed, Error: errNoToken.Error()}
	}
	if p.Locale != "" && !headerSafe(p.Locale) {
		return SendResult{Outcome: Failed, Error: "the record's locale holds characters an HTTP header cannot carry"}
	}
	s.tries = c.newTries(&c.retry, s, probe)
	return s.run(ctx)
}

// Preflight proves, before the first record, that DRUID's token endpoint answers and takes
// --client-id and --client-secret (SPEC §4): one token request of the grant every update asks
// for, whose token is left unused. It returns a *RunFault when the endpoint cannot be reached
// (refused, a host that does not resolve, TLS failing: after one more try) or refuses the
// credentials; nil once a token came; and another error when the token endpoint kept failing
// transiently through Retries. Without ClientID there is nothing to prove before the first
// update, which Probe sends: Preflight returns nil and calls nothing.
func (c *Client) Preflight(ctx context.Context) error {
	if c.grants == nil {
		return nil
	}
	s := &send{c: c, p: &Payload{}, challenge: true}
	return c.preflight(ctx, s, &c.retry, func(ctx context.Context) error {
		if err := c.waitTurn(ctx); err != nil {
			return &errTurn{err}
		}
		_, err := s.grant(ctx)
		return err
	}, s.runFault)
}

// preflight makes call, a token request made for by that takes its own turn, and retries it
// under p as a probe; fault says which of its errors are a RunFault.
func (c *caller) preflight(ctx context.Context, by any, p *retryPolicy, call func(context.Context) error,
	fault func(error) *RunFault) error {
	t := c.newTries(p, by, true)
	for {
		err := call(ctx)
		if err == nil {
			return nil
		}
		if te, ok := err.(*errTurn); ok {
			return fmt.Errorf("preflight: waiting for a turn to call DRUID: %w", te.err)
		}
		code, retryAfter := c.honour(err)
		if ctx.Err() != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		stop := errSpent
		var wait time.Duration
		if Retryable(err) {
			wait, stop = t.next(err, code, retryAfter)
		}
		if stop != nil {
			if f := fault(err); f != nil {
				return f
			}
			return fmt.Errorf("preflight: %w", err)
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("preflight: backing off: %w", err)
		}
	}
}

// send is the state of one Send.
type send struct {
	c           *Client
	p           *Payload
	tok         token
	ownToken    bool   // tok is the record's own: its 401 is the user's
	challenge   bool   // every try asks for its own token first
	verifier    string // the code verifier of tok, with challenge
	refreshable bool   // a 401 is worth one more try: a token file to re-read, or a new grant
	unread      bool   // the token file could not be read again after a 401
	tries       tries
	call        exchange // the update call of the try under way, kept here to be allocated once
	res         SendResult
	secrets     []string // filled on the first error: the happy path never pays for it
}

// errTurn marks a try that never started because its wait for a turn ended.
type errTurn struct{ err error }

func (e *errTurn) Error() string { return e.err.Error() }

func (s *send) run(ctx context.Context) SendResult {
	for {
		code, fields, err := s.attempt(ctx)
		if te, ok := err.(*errTurn); ok {
			return s.interrupted(ctx, "waiting for a turn to call DRUID", te.err)
		}
		if code != 0 {
			s.res.Code = code
		}
		if err == nil {
			return s.answered(code, fields)
		}
		code, retryAfter := s.c.honour(err)
		if se, ok := errors.AsType[*StatusError](err); ok && se.Code == http.StatusUnauthorized && s.refreshable {
			s.refreshable = false
			if s.challenge {
				// The token expired waiting for the update's turn, or was spent: the next
				// try asks for a new one anyway.
				s.c.retried.Add(1)
				continue
			}
			next, changed := s.c.tokens.refresh(s.tok)
			s.unread = next.unread
			if changed {
				s.tok = next
				s.secrets = nil // the new token is a secret too
				s.c.retried.Add(1)
				continue
			}
		}
		if ctx.Err() != nil && (code == 0 || Retryable(err)) {
			// A call cut by ctx, or a transient answer not worth another try while shutting
			// down.
			return s.interrupted(ctx, err.Error(), nil)
		}
		if !Retryable(err) {
			return s.failed(err)
		}
		wait, stop := s.tries.next(err, code, retryAfter)
		switch {
		case stop == errSpent:
			return s.failed(err)
		case stop != nil:
			return s.unreachable(stop, err)
		}
		s.c.retried.Add(1)
		s.c.log.Debug().Str("user_key", s.p.Key).Int("status_code", code).Int("attempt", s.res.Attempts).
			Int64("backoff_ms", wait.Milliseconds()).Msg("druid: transient failure, will retry")
		if err := sleep(ctx, wait); err != nil {
			return s.interrupted(ctx, fmt.Sprintf("backing off after try %d", s.res.Attempts), err)
		}
	}
}

// attempt is one try: with challenge codes a token call, then the update call, each after its
// turn. It returns what try returns, or the token call's code and error when it got no token,
// or an *errTurn.
func (s *send) attempt(ctx context.Context) (code int, fields []FieldError, err error) {
	if s.challenge {
		if err := s.c.waitTurn(ctx); err != nil {
			return 0, nil, &errTurn{err}
		}
		if code, err := s.grant(ctx); err != nil {
			return code, nil, err
		}
	}
	if err := s.c.waitTurn(ctx); err != nil {
		return 0, nil, &errTurn{err}
	}
	s.res.Attempts++
	return s.try(ctx)
}

// try makes one HTTP call. It returns DRUID's status (0 when none came), the fields a 206 names,
// and the try's error: a *StatusError for an answer that is not a success, a *callError when
// no answer came.
func (s *send) try(ctx context.Context) (code int, fields []FieldError, err error) {
	c := s.c
	x := &s.call
	*x = exchange{
		kind: CallUpdate, by: s, at: c.at, method: http.MethodPost, url: c.url, parsed: c.parsed, path: c.path,
		header: c.updateHeader(s.tok.value, s.p.Locale, !s.ownToken && !s.challenge),
		body:   s.p.Body, discardOK: true, counts: [2]*atomic.Int64{&c.requests},
		log: callLog{msg: "druid: update call", idKey: "user_key", id: s.p.Key, attempt: s.res.Attempts},
	}
	if s.challenge {
		// The verifier is base64url: nothing in it needs escaping.
		x.url += "?code_verifier=" + s.verifier
		u := *c.parsed
		u.RawQuery = "code_verifier=" + s.verifier
		x.parsed = &u
	}
	a, err := c.do(ctx, x, s.scrub)
	if err != nil {
		return 0, nil, err
	}
	defer a.release()
	if a.readErr != nil {
		// The status is DRUID's answer; a body cut short only loses the details.
		c.log.Debug().Str("user_key", s.p.Key).Int("status_code", a.code).Str("error", s.scrub(a.readErr.Error())).
			Msg("druid: answer's body unreadable")
	}

	switch a.code {
	case http.StatusOK, http.StatusNotModified:
		// A 200's body is the updated user, which the run does not keep; 304 has none.
		return a.code, nil, nil
	case http.StatusPartialContent:
		if env, ok := parseEnvelope(a.body); ok {
			fields = scrubFields(env.Errors, s.scrub)
		}
		return a.code, fields, nil
	}
	return a.code, nil, a.statusError(s.scrub)
}

// updateHeaders are the headers of the update calls made with one configured token, one set per
// locale, built once and shared by every call: a transport does not modify a request's headers.
type updateHeaders struct {
	token    string
	byLocale map[string]http.Header // never modified once stored: a new locale makes a new map
}

// headerLocalesMax bounds the locales whose headers are kept; past it, a call builds its own.
const headerLocalesMax = 64

// updateHeader returns the headers of an update call made with the token tok for a user of
// locale. shared says tok is the configured one, whose headers serve every user of a locale;
// a record's own token, or a challenge-code token, serves one call and gets headers of its own.
func (c *Client) updateHeader(tok, locale string, shared bool) http.Header {
	if !shared {
		return c.newUpdateHeader(tok, locale)
	}
	cur := c.headers.Load()
	if cur != nil && cur.token == tok {
		if h, ok := cur.byLocale[locale]; ok {
			return h
		}
		if len(cur.byLocale) >= headerLocalesMax {
			return c.newUpdateHeader(tok, locale)
		}
	}
	h := c.newUpdateHeader(tok, locale)
	next := &updateHeaders{token: tok, byLocale: map[string]http.Header{locale: h}}
	if cur != nil && cur.token == tok {
		maps.Copy(next.byLocale, cur.byLocale)
	}
	// A call that stored another set meanwhile wins: this locale is added on its next miss.
	c.headers.CompareAndSwap(cur, next)
	return h
}

// newUpdateHeader builds the headers of an update call made with tok for a user of locale.
func (c *Client) newUpdateHeader(tok, locale string) http.Header {
	h := make(http.Header, 5)
	h["Authorization"] = []string{"Bearer " + tok}
	h["Content-Type"] = applicationJSON
	h["Accept"] = applicationJSON
	h["From"] = c.entryPoint
	if locale != "" {
		h["Accept-Language"] = []string{locale}
	}
	return h
}

// answered is the result of a call DRUID answered with success.
func (s *send) answered(code int, fields []FieldError) SendResult {
	s.res.Outcome, _ = Classify(code)
	if s.res.Outcome == Partial {
		var b strings.Builder
		b.WriteString("partial: ")
		if len(fields) > 0 {
			writeFieldErrors(&b, fields)
		} else {
			b.WriteString(meaning(code))
		}
		s.res.Error = excerpt(b.String(), errorMax)
		s.res.Fields = fieldIDs(fields)
	}
	return s.res
}

// failed is the result of a try that ends the Send without success.
func (s *send) failed(err error) SendResult {
	s.res.Outcome = Failed
	// A *GrantError stays failed whatever its code: a refused token says nothing of the user.
	if se, ok := errors.AsType[*StatusError](err); ok {
		s.res.Outcome, _ = Classify(se.Code)
		if se.Code != http.StatusUnauthorized {
			// A 401 names the token, not a field of the user's data.
			s.res.Fields = fieldIDs(se.Fields)
		}
	}
	s.res.Error = excerpt(s.scrub(err.Error()), errorMax)
	s.res.Fault = s.runFault(err)
	return s.res
}

// unreachable is the result of a Send that gave up on DRUID (stop wraps ErrUnreachable) after
// its last try failed with err. It is no outcome of the user's: Err says so.
func (s *send) unreachable(stop, err error) SendResult {
	s.res.Outcome = Failed
	s.res.Fields = nil
	s.res.Error = excerpt(s.scrub(stop.Error()+"; the last try: "+err.Error()), errorMax)
	s.res.Err = stop
	s.res.Fault = connFault(err)
	return s.res
}

// runFault returns the fault of the run's configuration that err, the error the Send ends on,
// shows (see RunFault); nil when err is the user's, or DRUID's passing trouble.
func (s *send) runFault(err error) *RunFault {
	if f := connFault(err); f != nil {
		return f
	}
	if ge, ok := errors.AsType[*GrantError](err); ok {
		return grantFault(ge, s.c.grants.at)
	}
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		return nil
	}
	switch {
	case se.Code == http.StatusUnauthorized:
		switch {
		case s.ownToken:
			return nil
		case s.challenge:
			return &RunFault{Flag: flagClientID, Cause: "DRUID refused the update made with a fresh token of the credentials (401)"}
		case s.unread:
			// The file was being rewritten: the token it will hold may well work.
			return nil
		case s.c.tokens.refreshable():
			return &RunFault{Flag: flagTokenFile, Cause: "DRUID refused the token (401), and reading the file again did not cure it"}
		}
		return &RunFault{Flag: flagToken, Cause: "DRUID refused the token (401)"}
	case se.Code == http.StatusBadRequest:
		return envelopeFault(se.Fields)
	}
	return endpointFault(se, s.c.at, s.c.path)
}

// interrupted is the result of a Send that ctx stopped while it was doing what; err, when not
// nil, is why the wait ended.
func (s *send) interrupted(ctx context.Context, what string, err error) SendResult {
	s.res.Outcome = Failed
	s.res.Fields = nil
	msg := "interrupted: " + what
	switch {
	case ctx.Err() == nil && err != nil:
		// The limiter refused for another reason than ctx: its burst was set to 0, or the
		// wait would outlast ctx's deadline.
		msg = what + ": " + err.Error()
	case err != nil:
		msg += ": " + err.Error()
	}
	s.res.Error = excerpt(s.scrub(msg), errorMax)
	return s.res
}

// scrub removes the secrets of this Send from text bound for an error or a log line: a proxy's
// error page may echo the request, and DRUID's field errors may quote the password.
func (s *send) scrub(text string) string {
	if s.secrets == nil {
		s.secrets = secretsOf(s.p, s.tok.value)
		if g := s.c.grants; g != nil {
			// A proxy's page may echo the token call's form, where the secret is encoded.
			s.secrets = append(s.secrets, g.secret, url.QueryEscape(g.secret))
			if s.verifier != "" {
				s.secrets = append(s.secrets, s.verifier)
			}
		}
	}
	for _, sec := range s.secrets {
		text = strings.ReplaceAll(text, sec, "***")
	}
	return text
}

// secretsOf lists the forms in which this call's secrets may come back: the bearer token and the
// password, raw and JSON-escaped both ways encoding/json may write it. The password is read
// from Body, the bytes actually sent, in case Request was not filled in.
func secretsOf(p *Payload, tok string) []string {
	var secrets []string
	add := func(v string) {
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	add(tok)
	add(p.Token)
	passwords := []string{p.Request.Object.Password}
	var sent struct {
		Object struct {
			Password string `json:"password"`
		} `json:"object"`
	}
	if json.Unmarshal(p.Body, &sent) == nil {
		passwords = append(passwords, sent.Object.Password)
	}
	for _, pw := range passwords {
		if pw == "" {
			continue
		}
		add(pw)
		if b, err := json.Marshal(pw); err == nil {
			add(string(b[1 : len(b)-1]))
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if enc.Encode(pw) == nil {
			v := strings.TrimSpace(buf.String())
			add(v[1 : len(v)-1])
		}
	}
	return secrets
}

// fieldIDs returns the field ids DRUID named, each once, in its order.
func fieldIDs(fields []FieldError) []string {
	var ids []string
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if f.Message != "" && !seen[f.Message] {
			seen[f.Message] = true
			ids = append(ids, f.Message)
		}
	}
	return ids
}

// excerpt returns text on one line, printable, at most n bytes long: fit for a checkpoint row
// and a CSV report.
func excerpt(text string, n int) string {
	clean := true
	for i := 0; i < len(text); i++ {
		if b := text[i]; b < 0x20 || b == 0x7f || b >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		space := false
		for _, r := range strings.ToValidUTF8(text, "\uFFFD") {
			if b.Len() > n {
				break // enough to cut from: a 1 MiB page costs no more than a short one
			}
			if unicode.IsSpace(r) || !unicode.IsPrint(r) {
				space = true
				continue
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
		text = b.String()
	}
	text = strings.TrimSpace(text)
	if len(text) <= n {
		return text
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + more
}
