package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// UserPath is where DRUID's read user call lives, under the endpoint: the user's objectId
// follows it, path-escaped (SPEC §2.2).
const UserPath = "/activityid/v1/user/"

// GrantClientCredentials is the grant type of the app's client token, the one that reads users
// (SPEC §2.2).
const GrantClientCredentials = "client_credentials"

// When a client token is refreshed ahead of its expiry: at tokenRefreshShare of its lifetime or
// tokenRefreshLead before it ends, whichever is earlier, so that no read goes out with a token
// about to lapse in flight; but never before half its lifetime, so that a short-lived token
// (60 s, or 1 s in a test) still serves more than one read.
const (
	tokenRefreshShare = 0.9
	tokenRefreshLead  = 30 * time.Second
	// tokenLifetimeMax caps what expires_in can claim: a token is asked for again at least
	// daily, and an absurd value cannot overflow a time.Duration.
	tokenLifetimeMax = 24 * time.Hour
)

// ReaderConfig configures a Reader. Its zero values take the defaults below, except Retries,
// where 0 means no retries: the CLI passes RetriesDefault.
type ReaderConfig struct {
	// Endpoint is DRUID's base URL (--endpoint), as for Config. Required.
	Endpoint string
	// AuthEndpoint (--auth-endpoint) is the base URL of DRUID's OAuth token endpoint. Defaults
	// to Endpoint.
	AuthEndpoint string
	// EntryPoint is the entry point id sent as the From header (--entry-point). Required.
	EntryPoint string
	// ClientID and ClientSecret (--client-id, --client-secret) get the app's client token,
	// which reading users needs. Both required.
	ClientID, ClientSecret string
	// Concurrency is the number of goroutines calling Get at once; it sizes the connection
	// pool. Defaults to ConcurrencyDefault. Client.Reader ignores it: the pool is the Client's.
	Concurrency int
	// Timeout bounds one HTTP call, reading the answer included. Defaults to TimeoutDefault.
	Timeout time.Duration
	// Retries is the number of tries after the first for transient answers. 0 means none.
	// Tries made while DRUID is down for every caller spend none of them (see DownTimeout).
	Retries int
	// DownTimeout (--druid-timeout) is how long a Get waits out an outage, as Config's does
	// for a Send, before it fails with an error wrapping ErrUnreachable. Defaults to
	// DownTimeoutDefault.
	DownTimeout time.Duration
	// Limiter is waited on before every call, token calls included. Reads must share the
	// updates' rate: pass the Client's limiter, or build the Reader with Client.Reader, which
	// also shares the Client's throttling. Nil means unlimited. A Reader made by NewReader owns
	// the limiter's rate as a Client does (see Config.Limiter).
	Limiter *rate.Limiter
	// BackoffBase is the first retry's backoff window; each retry doubles it. Defaults to
	// BackoffBaseDefault.
	BackoffBase time.Duration
	// BackoffMax caps the backoff window. Defaults to BackoffMaxDefault; raised to BackoffBase
	// when below it.
	BackoffMax time.Duration
	// Log receives one debug line per call and a warning when a token could not be renewed
	// ahead of its expiry. Defaults to the zero Logger, which writes nothing.
	Log zerolog.Logger
	// Observe, when set, is told of every HTTP call the Reader makes, token calls included:
	// for metrics. Nil observes nothing; Client.Reader then uses the Client's Config.Observe.
	Observe ObserveFunc
}

// validate checks what the operator set. Its errors name the flag and never repeat a value
// that may hold a secret.
func (cfg *ReaderConfig) validate() error {
	switch {
	case cfg.ClientID == "":
		return errors.New("--client-id is required to read users: reading needs the app's client token")
	case cfg.ClientSecret == "":
		return errors.New("--client-secret is required to read users: reading needs the app's client token")
	case cfg.Endpoint == "":
		return errors.New("--endpoint is required")
	case cfg.EntryPoint == "":
		return errors.New("--entry-point is required")
	case !headerSafe(cfg.EntryPoint):
		return errors.New("--entry-point holds characters an HTTP header cannot carry")
	}
	return cfg.limits().validate()
}

// limits returns the settings a Reader shares with a Client.
func (cfg *ReaderConfig) limits() callLimits {
	return callLimits{cfg.Concurrency, cfg.Timeout, cfg.Retries, cfg.DownTimeout, cfg.Limiter, cfg.BackoffBase, cfg.BackoffMax}
}

// Reader reads users from DRUID with the app's client token (SPEC §2.2), for diffs, guards,
// merges and backups. It is safe for concurrent use, and shares among its callers one client
// token, its connections and the pace of its gate.
type Reader struct {
	// The connections, the observer and the gate: its own, or those of the Client it was made
	// from.
	caller

	ownsConns  bool    // false when the transport is a Client's: Close leaves it alone
	url        string  // the read call's URL, up to the objectId
	path       string  // its path: what errors show of the URL
	at         *origin // the endpoint, as a RunFault names it
	entryPoint []string
	tokens     *clientTokens
	retry      retryPolicy
}

// NewReader checks cfg and returns a Reader with its own connections. No call is made before
// the first Get.
//
// To read while a Client updates, prefer Client.Reader: a Reader made here waits on the same
// Limiter when given it, but its 429s neither hold the Client's workers nor share one throttle.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	return newReader(cfg, nil)
}

// Reader returns a Reader that shares c's connections and c's pace: its calls wait on c's
// limiter and c's holds, and a throttling answer to a read slows the updates down as much as one to an
// update does (Stats.Throttled and SlowDowns count both). cfg is checked as NewReader checks
// it; its Limiter must be nil or c's own, and its Concurrency is ignored, since the connection
// pool was sized for c's workers, which are the ones reading. Closing the Reader leaves c's
// connections open.
func (c *Client) Reader(cfg ReaderConfig) (*Reader, error) {
	if cfg.Limiter != nil && cfg.Limiter != c.limiter {
		// Two limiters would let reads and updates together go past --rate.
		return nil, errors.New("a Reader of a Client waits on the Client's limiter: leave ReaderConfig.Limiter nil")
	}
	return newReader(cfg, c)
}

// newReader builds a Reader, sharing the transport and the gate of shared when not nil.
func newReader(cfg ReaderConfig, shared *Client) (*Reader, error) {
	// A secret read from a file or a Kubernetes Secret often ends in a newline DRUID would refuse.
	cfg.ClientID, cfg.ClientSecret = strings.TrimSpace(cfg.ClientID), strings.TrimSpace(cfg.ClientSecret)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := parseBase(cfg.Endpoint, "--endpoint", UserPath,
		"--endpoint must not carry credentials: use --client-id and --client-secret")
	if err != nil {
		return nil, err
	}
	authFlag := flagAuthEndpoint
	if cfg.AuthEndpoint == "" {
		cfg.AuthEndpoint, authFlag = cfg.Endpoint, flagEndpoint
	}
	tu, err := parseBase(cfg.AuthEndpoint, "--auth-endpoint", TokenPath,
		"--auth-endpoint must not carry credentials: use --client-id and --client-secret")
	if err != nil {
		return nil, err
	}
	lim := cfg.limits().withDefaults()
	r := &Reader{
		caller:     caller{timeout: lim.timeout, log: cfg.Log, observe: cfg.Observe},
		url:        u.String(),
		path:       u.Path,
		at:         originOf(u, flagEndpoint),
		entryPoint: []string{cfg.EntryPoint},
		retry:      lim.retry(),
	}
	if shared != nil {
		// The timeout is the Reader's own; the connections are not.
		r.conns = shared.conns
		r.gate = shared.gate
		if r.observe == nil {
			r.observe = shared.observe
		}
	} else {
		r.conns = newNetHTTP(lim.concurrency)
		r.ownsConns = true
		r.gate = newGate(cfg.Limiter, cfg.Log)
	}
	form := url.Values{
		"grant_type":    {GrantClientCredentials},
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
	}
	r.tokens = &clientTokens{
		caller: r.caller,
		url:    tu.String(),
		path:   tu.Path,
		at:     originOf(tu, authFlag),
		form:   form.Encode(),
		secret: cfg.ClientSecret,
		now:    time.Now,
	}
	return r, nil
}

// Close closes the Reader's idle connections; those of the Client it was made from stay open.
// Calls still running finish normally.
func (r *Reader) Close() {
	if r.ownsConns {
		r.conns.closeIdle()
	}
}

// Get returns the user DRUID holds under objectID, without its password (DRUID does not send
// it, and one that came would be dropped); found is false, with a nil error, when DRUID
// answers 404 with its envelope. A 404 without DRUID's envelope is an error: a wrong
// --endpoint must not read as users that do not exist.
//
// Every call, token calls included, waits for its turn on the limiter. A 401 renews the client
// token once per Get; concurrent 401s share one renewal. Transient failures (429, 5xx, network
// errors and timeouts; see Classify and Retryable) are retried up to Retries times with the
// backoff and Retry-After rules of updates, then returned; while DRUID is down for every
// caller they spend no retries, and past DownTimeout the error wraps ErrUnreachable, which
// says nothing of the user (the outage rule of Send). Errors name the user and wrap a
// *StatusError (DRUID's status and result.errors), a *GrantError (the token call's refusal),
// ErrUnreachable or the cause; none carries the client secret or a token. When ctx is cancelled, Get returns
// promptly with an error that wraps ctx's cause.
func (r *Reader) Get(ctx context.Context, objectID string) (u *User, found bool, err error) {
	if objectID == "" || objectID == "." || objectID == ".." {
		// Escaping leaves dots alone, and a path ending in /. or /.. names another resource.
		return nil, false, fmt.Errorf("read user %q: not an objectId", objectID)
	}
	escaped := url.PathEscape(objectID)
	rd := &read{r: r, id: objectID, url: r.url + escaped, path: r.path + escaped}
	err = r.withToken(ctx, &tokenCall{
		what: fmt.Sprintf("read user %q", objectID), by: rd,
		log: callLog{msg: "druid: transient failure of a read, will retry", idKey: "object_id", id: objectID},
	}, func(ctx context.Context, tok *appToken, attempt int) (err error) {
		rd.tok, rd.attempts = tok, attempt
		u, found, err = rd.call(ctx)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return u, found, nil
}

// tokenCall names one call made with the client token, for withToken.
type tokenCall struct {
	what string  // the call in its errors: `read user "u-1"`
	by   any     // the Get or the bulk call it is made for: see tries
	log  callLog // the debug line of a retry: its message and the id it is about
}

// withToken makes a call that needs the client token, with try, until it succeeds or fails for
// good: each try takes a client token (cached, or asked for), then its turn on the gate; a 401
// renews the token once; transient failures are retried under the Reader's retry policy and
// the outage rule of tries, and past DownTimeout the error wraps ErrUnreachable. try is given
// the token and the number of its try (token calls not counted), and returns what call returns.
// Errors start with c.what.
func (r *Reader) withToken(ctx context.Context, c *tokenCall, try func(ctx context.Context, tok *appToken, attempt int) error) error {
	t := r.newTries(&r.retry, c.by, false)
	var tok, stale *appToken // the token of the last try; the one a 401 refused
	renewed := false
	attempts := 0
	for {
		err := func() error {
			var err error
			if tok, err = r.tokens.get(ctx, stale); err != nil {
				return err
			}
			if err := r.gate.waitTurn(ctx); err != nil {
				return &errTurn{err}
			}
			attempts++
			return try(ctx, tok, attempts)
		}()
		if err == nil {
			return nil
		}
		if te, ok := err.(*errTurn); ok {
			return fmt.Errorf("%s: waiting for a turn to call DRUID: %w", c.what, te.err)
		}
		code, retryAfter := r.honour(err)
		if se, ok := errors.AsType[*StatusError](err); ok && se.Code == http.StatusUnauthorized && !renewed {
			// The token expired early or was revoked: one more try with a new one, which is
			// not a retry of a transient failure.
			renewed = true
			stale = tok
			continue
		}
		if ctx.Err() != nil || !Retryable(err) {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		wait, stop := t.next(err, code, retryAfter)
		switch {
		case stop == errSpent:
			return fmt.Errorf("%s: %w", c.what, err)
		case stop != nil:
			return fmt.Errorf("%s: %w; the last try: %v", c.what, stop, err)
		}
		e := r.log.Debug()
		if c.log.idKey != "" {
			e = e.Str(c.log.idKey, c.log.id)
		}
		e.Int("status_code", code).Int("attempt", attempts).Int64("backoff_ms", wait.Milliseconds()).Msg(c.log.msg)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: backing off after try %d: %w", c.what, attempts, err)
		}
	}
}

// Preflight proves, before the first record, that DRUID's token endpoint answers and takes
// --client-id and --client-secret, with the client token every Get needs (SPEC §4). It returns
// a *RunFault when the endpoint cannot be reached (refused, a host that does not resolve, TLS
// failing: after one more try) or refuses the credentials; nil once a token came, which the
// next Get uses; and another error when the token endpoint kept failing transiently through
// Retries.
func (r *Reader) Preflight(ctx context.Context) error {
	return r.preflight(ctx, r.tokens, &r.retry, func(ctx context.Context) error {
		_, err := r.tokens.get(ctx, nil)
		return err
	}, func(err error) *RunFault {
		if f := connFault(err); f != nil {
			return f
		}
		if ge, ok := errors.AsType[*GrantError](err); ok {
			return grantFault(ge, r.tokens.at)
		}
		return nil
	})
}

// read is the state of one Get.
type read struct {
	r         *Reader
	id        string
	url, path string
	tok       *appToken // the token of the last try
	attempts  int       // read calls made, token calls not counted
}

// call makes one read call. Its error is a *StatusError for an answer that is neither a user nor
// DRUID's 404, a *callError when no answer came or its body was cut short, or a plain error
// for an answer that cannot be DRUID's.
func (rd *read) call(ctx context.Context) (*User, bool, error) {
	r := rd.r
	a, err := r.do(ctx, &exchange{
		kind: CallRead, by: rd, at: r.at, method: http.MethodGet, url: rd.url, path: rd.path,
		header: http.Header{
			"Authorization": {"Bearer " + rd.tok.value},
			"Accept":        applicationJSON,
			"From":          r.entryPoint,
		},
		log: callLog{msg: "druid: read user", idKey: "object_id", id: rd.id, attempt: rd.attempts},
	}, rd.scrub)
	if err != nil {
		return nil, false, err
	}
	defer a.release()

	switch a.code {
	case http.StatusOK:
		if a.readErr != nil {
			// Half a user is no user: read it again.
			return nil, false, &callError{op: http.MethodGet, path: rd.path,
				err: fmt.Errorf("reading the answer: %s", rd.scrub(a.readErr.Error()))}
		}
		var env Response
		if err := json.Unmarshal(a.body, &env); err != nil || env.Content.User == nil {
			return nil, false, errors.New("200 without a user in content.user: not DRUID's answer (check --endpoint)")
		}
		u := env.Content.User
		// DRUID does not send the password; one that came anyway must not travel further, into
		// a backup or a diff.
		u.Password = ""
		switch u.ObjectID {
		case "":
			u.ObjectID = rd.id
		case rd.id:
		default:
			// A diff or a merge against another user's data would be worse than no read.
			return nil, false, fmt.Errorf("200 with another user, %q", excerpt(rd.scrub(u.ObjectID), excerptMax))
		}
		return u, true, nil
	case http.StatusNotFound:
		if _, ok := parseEnvelope(a.body); ok {
			return nil, false, nil
		}
		msg := "404 without DRUID's envelope: not an answer about the user (check --endpoint)"
		if len(a.body) > 0 {
			msg += ": " + excerpt(rd.scrub(string(a.body)), excerptMax)
		}
		return nil, false, errors.New(msg)
	}
	return nil, false, a.statusError(rd.scrub)
}

// scrub removes the secrets a read could see echoed back: its token and the client secret.
func (rd *read) scrub(text string) string { return rd.r.scrubToken(text, rd.tok) }

// scrubToken removes the client secret and tok, when not nil, from text bound for an error or
// a log line.
func (r *Reader) scrubToken(text string, tok *appToken) string {
	text = r.tokens.scrub(text)
	if tok != nil {
		text = strings.ReplaceAll(text, tok.value, "***")
	}
	return text
}
