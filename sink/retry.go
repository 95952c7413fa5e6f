package sink

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfterMax caps how long a Retry-After header can hold a call back: a server that asks for
// an hour is misconfigured, and the operator would rather see the user fail and re-run it.
const RetryAfterMax = 5 * time.Minute

// Classify is the one place that decides what a DRUID status code means (SPEC §2.1): the outcome
// a user gets when the call ends on that code, and whether the code is transient, so that trying
// again may give another answer.
//
// 401 is failed and not retried here: the Client refreshes a --token-file token once, which is
// a different decision than a retry. Codes DRUID does not document are read by class: 4xx is
// DRUID refusing the request (rejected), 5xx is DRUID in trouble (transient). 408 is the
// exception: a proxy's timeout, not a verdict on the user. Any other code (1xx, an undocumented
// 2xx, a redirect) is failed and not retried, since nothing says the update was applied and
// sending the same full replacement again in the next run is safe.
func Classify(code int) (o Outcome, retry bool) {
	switch code {
	case http.StatusOK:
		return Updated, false
	case http.StatusPartialContent:
		return Partial, false
	case http.StatusNotModified:
		return Unchanged, false
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestedRangeNotSatisfiable, http.StatusPreconditionRequired:
		return Rejected, false
	case http.StatusUnauthorized:
		return Failed, false
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return Failed, true
	}
	switch {
	case code >= 400 && code < 500:
		return Rejected, false
	case code >= 500 && code < 600:
		return Failed, true
	}
	return Failed, false
}

// throttles is the one place that decides whether an answer is DRUID saying "slower" (SPEC §4):
// a 429, or a 503 whose Retry-After asks for a wait. Then the whole job is too fast, not just
// this call: every worker holds off, and the shared rate is cut. A 503 without Retry-After (or
// with one that asks for no wait) is a fault of that one call, like a 500: the user is retried
// alone, and the pace of the others is left as it is.
func throttles(code int, retryAfter time.Duration) bool {
	return code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && retryAfter > 0)
}

// meanings are DRUID's own words for its codes (SPEC §2.1). The generic HTTP reason phrases
// mislead here: DRUID's 416 is about the fields, not byte ranges.
var meanings = map[int]string{
	http.StatusPartialContent:                "the user must still complete some data",
	http.StatusBadRequest:                    "malformed request",
	http.StatusUnauthorized:                  "token missing, invalid or expired",
	http.StatusForbidden:                     "user id or password invalid",
	http.StatusNotFound:                      "user not found",
	http.StatusRequestedRangeNotSatisfiable:  "some fields do not comply with their specification",
	http.StatusPreconditionRequired:          "the user must configure MFA or send an MFA code",
	http.StatusMovedPermanently:              "redirects are not followed: check --endpoint",
	http.StatusFound:                         "redirects are not followed: check --endpoint",
	http.StatusSeeOther:                      "redirects are not followed: check --endpoint",
	http.StatusTemporaryRedirect:             "redirects are not followed: check --endpoint",
	http.StatusPermanentRedirect:             "redirects are not followed: check --endpoint",
	http.StatusRequestEntityTooLarge:         "request too large",
	http.StatusUnsupportedMediaType:          "unsupported media type",
	http.StatusNetworkAuthenticationRequired: "network authentication required (a proxy in the way?)",
}

// meaning returns what code means, in DRUID's words where it has any.
func meaning(code int) string {
	if m, ok := meanings[code]; ok {
		return m
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "unexpected status"
}

// StatusError is one try that DRUID answered with anything but 200, 206 or 304.
type StatusError struct {
	Code       int
	Fields     []FieldError  // DRUID's result.errors, secrets scrubbed
	RetryAfter time.Duration // from the Retry-After header, capped at RetryAfterMax; 0 when absent
	Excerpt    string        // a short, sanitized excerpt of a body that is not DRUID's envelope

	foreign bool // the body was not DRUID's envelope: maybe not DRUID at all (endpointFault)
}

// Error says the code and DRUID's field errors ("416: email: invalid format; birthday: not a
// date"), or what the code means when the body names none.
func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Code))
	b.WriteString(": ")
	switch {
	case e.Code == http.StatusUnauthorized:
		// DRUID's details add nothing the operator can act on, and the text stays stable
		// for `failures --codes 401` style filtering.
		b.WriteString(meaning(e.Code))
	case len(e.Fields) > 0:
		writeFieldErrors(&b, e.Fields)
	default:
		b.WriteString(meaning(e.Code))
		if e.Excerpt != "" {
			b.WriteString(": ")
			b.WriteString(e.Excerpt)
		}
	}
	return b.String()
}

// writeFieldErrors writes DRUID's errors as "field: details; field: details".
func writeFieldErrors(b *strings.Builder, fields []FieldError) {
	for i, f := range fields {
		if i > 0 {
			b.WriteString("; ")
		}
		switch {
		case f.Message != "" && f.Details != "":
			b.WriteString(f.Message)
			b.WriteString(": ")
			b.WriteString(f.Details)
		case f.Message != "":
			b.WriteString(f.Message)
		default:
			b.WriteString(f.Details)
		}
	}
}

// callError is a try that DRUID never answered. It names the call by method and path only: the
// URL's query may carry a code verifier and its host adds nothing the operator does not know.
type callError struct {
	op, path string
	at       *origin // where the call went, for connFault; nil when unknown
	err      error
}

func (e *callError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// Retryable reports whether err, the failure of one try, may go away by trying again: a
// transient status of the update or the token call (see Classify), a network error or a
// timeout. A cancelled context is a shutdown, and TLS failing — a server that does not speak
// it, a certificate it cannot prove — is a configuration error: neither is.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		_, retry := Classify(se.Code)
		return retry
	}
	if ge, ok := errors.AsType[*GrantError](err); ok {
		// The token endpoint is DRUID too: its 429 and 5xx pass, its 400 and 401 do not.
		_, retry := Classify(ge.Code)
		return retry
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if tlsFailure(err) {
		return false
	}
	if _, ok := errors.AsType[*callError](err); ok {
		return true
	}
	_, ok := errors.AsType[net.Error](err)
	return ok
}

// parseRetryAfter reads a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
// Anything else, or a time already past, is no instruction at all.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil:
		if secs <= 0 {
			return 0
		}
		if secs > int64(RetryAfterMax/time.Second) {
			return RetryAfterMax
		}
		d = time.Duration(secs) * time.Second
	case errors.Is(err, strconv.ErrRange) && v[0] != '-':
		return RetryAfterMax
	default:
		if at, err := http.ParseTime(v); err == nil {
			d = at.Sub(now)
		}
	}
	return min(max(d, 0), RetryAfterMax)
}

// backoff is how long to wait before retry number n (1 for the first): exponential with full
// jitter, so that workers throttled together do not come back together, and never shorter than
// what DRUID asked for in Retry-After.
func backoff(n int, base, ceiling, retryAfter time.Duration) time.Duration {
	window := ceiling
	if n-1 < 62 {
		if w := base << (n - 1); w > 0 && w < ceiling {
			window = w
		}
	}
	d := time.Duration(0)
	if window > 0 {
		d = rand.N(window + 1)
	}
	return max(d, retryAfter)
}

// retryPolicy is how a Client or a Reader retries a transient failure.
type retryPolicy struct {
	max        int           // tries after the first; 0: none
	base, ceil time.Duration // the first retry's backoff window, and the cap of the doubling ones
	down       time.Duration // how long an outage is waited out (see tries)
}

// answerOf returns the status code and Retry-After of a try DRUID answered; 0 when it did not.
func answerOf(err error) (code int, retryAfter time.Duration) {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Code, se.RetryAfter
	}
	if ge, ok := errors.AsType[*GrantError](err); ok {
		return ge.Code, ge.RetryAfter
	}
	return 0, 0
}

// honour returns the status code and Retry-After of the try that failed with err (0 when DRUID
// did not answer). When DRUID throttled, every caller holds off for Retry-After, whether or not
// this one retries.
func (g *gate) honour(err error) (code int, retryAfter time.Duration) {
	code, retryAfter = answerOf(err)
	if throttles(code, retryAfter) {
		g.hold(retryAfter)
	}
	return code, retryAfter
}

// retryWait is how long to wait before retry n (1 for the first) under p, after a try that
// ended on code. When DRUID throttled, the other callers wait as long as this one, so that they
// do not spend the slot it waits for.
func (g *gate) retryWait(p *retryPolicy, n, code int, retryAfter time.Duration) time.Duration {
	wait := backoff(n, p.base, p.ceil, retryAfter)
	if throttles(code, retryAfter) {
		g.hold(wait)
	}
	return wait
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
