package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

const (
	// bodyMax bounds what is read of an answer: DRUID's envelope is a few KiB, and a proxy's
	// error page must not cost a worker unbounded memory.
	bodyMax = 1 << 20
	// drainMax bounds what is thrown away after bodyMax so the connection can be reused;
	// past it, closing the connection is cheaper than reading on.
	drainMax = 256 << 10
	// idleConnTimeout is how long a pooled connection may sit unused.
	idleConnTimeout = 90 * time.Second
)

// caller makes the HTTP calls of a Client, of a Reader (a Bulk's included) and of the client
// tokens, each after its turn on the gate: every call is bounded by timeout, observed, logged at
// debug, and its answer's code noted on the gate, whatever the call is for.
type caller struct {
	conns   transport
	timeout time.Duration
	*gate
	log     zerolog.Logger
	observe ObserveFunc
}

// exchange is one HTTP call to DRUID.
type exchange struct {
	kind      string  // one of the Call constants: what observe is told
	by        any     // the Send, the Get, the bulk call or the token source the call is made for: see tries
	at        *origin // the base URL the call goes to, as a RunFault names it
	method    string
	url, path string   // path is what a *callError shows of url: never its query
	parsed    *url.URL // url, parsed once by its owner when it serves many calls; nil: do parses it
	header    http.Header
	body      []byte
	discardOK bool             // a 200's body is not wanted: it is drained into no buffer
	counts    [2]*atomic.Int64 // counters of Stats the call adds one to once it is built; nil: none
	log       callLog          // what its debug line says of it
}

// callLog is what the debug line of a call says besides its status and duration.
type callLog struct {
	msg     string
	idKey   string // "user_key" or "object_id"; empty: the call is about no one user
	id      string
	attempt int // the number of the try it belongs to; 0: not logged
}

// answer is what DRUID answered to one call.
type answer struct {
	code             int
	retryAfterHeader string        // the Retry-After header
	body             []byte        // at most bodyMax of it; nil when it was not wanted
	buf              *bytes.Buffer // the pooled buffer body lies in, until release
	readErr          error         // what cut body short
}

// retryAfter is the answer's Retry-After header, capped at RetryAfterMax; 0 when absent.
func (a *answer) retryAfter() time.Duration {
	return parseRetryAfter(a.retryAfterHeader, time.Now())
}

// statusError is the *StatusError of an answer that is no success: DRUID's field errors, or an
// excerpt of a body that is not its envelope, with scrub removing the call's secrets.
func (a *answer) statusError(scrub func(string) string) *StatusError {
	se := &StatusError{Code: a.code, RetryAfter: a.retryAfter()}
	if env, ok := parseEnvelope(a.body); ok {
		se.Fields = scrubFields(env.Errors, scrub)
	} else {
		se.foreign = true
		if len(a.body) > 0 {
			se.Excerpt = excerpt(scrub(string(a.body)), excerptMax)
		}
	}
	return se
}

// scrubFields returns DRUID's field errors with scrub removing the call's secrets and every
// text sanitized.
func scrubFields(fields []FieldError, scrub func(string) string) []FieldError {
	if len(fields) == 0 {
		return nil
	}
	out := make([]FieldError, 0, len(fields))
	for _, f := range fields {
		out = append(out, FieldError{
			Message: excerpt(scrub(f.Message), excerptMax),
			Details: excerpt(scrub(f.Details), excerptMax),
		})
	}
	return out
}

// do makes the call x, whose turn the caller has already taken, and reads DRUID's answer. Its
// error is a *callError when no answer came; an answer, whatever its code, is no error. scrub
// removes the call's secrets from the error it logs. The answer's body lies in a pooled buffer
// until its release.
func (c *caller) do(ctx context.Context, x *exchange, scrub func(string) string) (answer, error) {
	if x.parsed == nil {
		u, err := url.Parse(x.url)
		if err != nil {
			return answer{}, &callError{op: x.method, path: x.path, err: errors.New("cannot build the request")}
		}
		x.parsed = u
	}
	epoch := c.throttle.started()
	for _, n := range x.counts {
		if n != nil {
			n.Add(1)
		}
	}
	start := time.Now()
	call, cancel := context.WithTimeout(ctx, c.timeout)
	a, err := c.conns.roundTrip(call, x)
	timedOut := call.Err() != nil && ctx.Err() == nil
	cancel()
	elapsed := time.Since(start)
	if err != nil {
		if timedOut {
			err = &timeoutError{err: err, while: "exceeded while awaiting headers"}
		}
		c.observe.report(x.kind, 0, elapsed)
		if ctx.Err() == nil {
			// A call its caller cut says nothing of DRUID.
			c.noteCall(epoch, x.by, 0, 0, false)
		}
		err = &callError{op: x.method, path: x.path, at: x.at, err: innerError(err)}
		c.logCall(&x.log, 0, elapsed, scrub(err.Error()))
		return answer{}, err
	}
	if a.readErr != nil && timedOut {
		a.readErr = &timeoutError{err: a.readErr, while: "or context cancellation while reading body"}
	}
	c.observe.report(x.kind, a.code, elapsed)
	c.logCall(&x.log, a.code, elapsed, "")
	var retryAfter time.Duration
	if a.code >= 400 {
		// Only a refusal can ask for a wait; a success's header is not read.
		retryAfter = a.retryAfter()
	}
	c.noteCall(epoch, x.by, a.code, retryAfter, a.code >= 500 && isEnvelope(a.body))
	return a, nil
}

// timeoutError is a call that Timeout (--timeout) cut: it says so as net/http's Client does,
// while says when.
type timeoutError struct {
	err   error
	while string
}

func (e *timeoutError) Error() string   { return e.err.Error() + " (Client.Timeout " + e.while + ")" }
func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// logCall writes the debug line of a call that ended with code after elapsed; errText, when not
// empty, is why no answer came, already scrubbed.
func (c *caller) logCall(l *callLog, code int, elapsed time.Duration, errText string) {
	e := c.log.Debug()
	if e == nil {
		return
	}
	if l.idKey != "" {
		e = e.Str(l.idKey, l.id)
	}
	e = e.Int("status_code", code)
	if l.attempt > 0 {
		e = e.Int("attempt", l.attempt)
	}
	e = e.Float64("duration_ms", millis(elapsed))
	if errText != "" {
		e = e.Str("error", errText)
	}
	e.Msg(l.msg)
}

// applicationJSON is shared by every request: a transport does not modify the request's headers.
var applicationJSON = []string{"application/json"}

// envelope is the part of DRUID's envelope the run uses.
type envelope struct {
	Result *Result `json:"result"`
}

// parseEnvelope reads DRUID's envelope; ok is false when body is not one (a proxy's page, say).
func parseEnvelope(body []byte) (*Result, bool) {
	if len(body) == 0 {
		return nil, false
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Result == nil {
		return nil, false
	}
	return env.Result, true
}

// isEnvelope says whether body is DRUID's envelope: DRUID itself answered, not a proxy in front
// of it.
func isEnvelope(body []byte) bool {
	_, ok := parseEnvelope(body)
	return ok
}

// innerError is what went wrong in a call, without the *url.Error's URL around it: the URL may
// carry a query with a code verifier (SPEC §2.2).
func innerError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// millis is d in milliseconds, to the microsecond: local calls take less than one.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
