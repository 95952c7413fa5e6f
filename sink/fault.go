package sink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// RunFault is a failure that belongs to the run's configuration, not to a user: DRUID cannot be
// reached where the operator pointed the run, or refuses its credentials, or refuses the
// envelope every request of the run shares. Every user would fail the same way, so the run
// stops (SPEC §4: exit 2) instead of recording each one failed.
//
// A SendResult carries one (Fault) when its user's last try ended on:
//   - no connection at all: refused, a host name that does not resolve, a TLS failure
//     (--endpoint; --auth-endpoint for the token endpoint when it is set apart);
//   - a 401 to the configured token (--token; --token-file once re-reading the file did not
//     cure it), or to the update made with a fresh token of the credentials (--client-id);
//   - the token endpoint refusing the credentials, 400, 401 or 403
//     (--client-id/--client-secret), or answering 404 or 405 (no token endpoint there);
//   - a 400 whose result.errors name the envelope: From (--entry-point), actor or actor.*
//     (--app-id), verb (--verb), source or source.* (--device), object.objectType
//     (--endpoint: the API there does not take DRUID's users);
//   - a redirect, or a 404 or 405 without DRUID's envelope (--endpoint: no DRUID there).
//
// A 401 to a record's own token is that user's outcome, never a RunFault.
//
// A refused connection mid-run is more likely DRUID restarting than a wrong flag: Send waits it
// out as an outage (Config.DownTimeout) before it reports one. Probe, for the run's first user,
// and Preflight report it after one more try.
type RunFault struct {
	// Flag names what to check: "--endpoint", "--token", "--client-id/--client-secret", …
	Flag string
	// Cause says what went wrong, on one line. It never holds a token or a secret.
	Cause string
}

// Error is the line an operator reads: the cause, then the flag to check, as in
// "connection refused by http://127.0.0.1:1 (check --endpoint)".
func (f *RunFault) Error() string { return f.Cause + " (check " + f.Flag + ")" }

// The flags a RunFault names.
const (
	flagEndpoint     = "--endpoint"
	flagAuthEndpoint = "--auth-endpoint"
	flagToken        = "--token"
	flagTokenFile    = "--token-file"
	flagClientID     = "--client-id"
	flagCredentials  = "--client-id/--client-secret"
)

// origin is a base URL the operator set, as a RunFault names it: the flag that set it and its
// scheme and host. It never holds a secret: New refuses a base URL with credentials.
type origin struct {
	flag string
	url  string // scheme://host[:port]
}

// originOf returns the origin of u, set by flag.
func originOf(u *url.URL, flag string) *origin {
	return &origin{flag: flag, url: u.Scheme + "://" + u.Host}
}

// connFault returns the RunFault of a call that reached no DRUID for a reason of the run's
// configuration — connection refused, a host name that does not resolve, a TLS failure — or nil.
func connFault(err error) *RunFault {
	ce, ok := errors.AsType[*callError](err)
	if !ok || ce.at == nil {
		return nil
	}
	var cause string
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "connection refused by " + ce.at.url
	case noSuchHost(err):
		cause = "cannot resolve the host of " + ce.at.url + ": no such host"
	case errors.Is(err, http.ErrSchemeMismatch):
		cause = ce.at.url + " answers plain HTTP, not TLS"
	case tlsFailure(err):
		cause = "TLS with " + ce.at.url + " failed: " + excerpt(ce.err.Error(), excerptMax)
	default:
		return nil
	}
	return &RunFault{Flag: ce.at.flag, Cause: cause}
}

// noSuchHost reports whether err is a DNS answer that the host does not exist, as opposed to a
// DNS server that did not answer.
func noSuchHost(err error) bool {
	de, ok := errors.AsType[*net.DNSError](err)
	return ok && de.IsNotFound
}

// tlsFailure reports whether err is TLS failing between the run and its endpoint: a server that
// does not speak TLS, a handshake refused, a certificate that cannot be trusted. Trying again
// meets the same server with the same certificate, so none of them is retried.
func tlsFailure(err error) bool {
	if errors.Is(err, http.ErrSchemeMismatch) {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

// grantFault returns the RunFault of a token endpoint's refusal, or nil when the refusal may be
// DRUID's passing trouble. at is the token endpoint's origin.
func grantFault(ge *GrantError, at *origin) *RunFault {
	switch ge.Code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		what := ge.OAuthError
		if what == "" {
			what = http.StatusText(ge.Code)
		}
		return &RunFault{Flag: flagCredentials,
			Cause: "the token endpoint refused the credentials (" + strconv.Itoa(ge.Code) + " " + what + ")"}
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return &RunFault{Flag: at.flag,
			Cause: "no token endpoint at " + at.url + " (" + strconv.Itoa(ge.Code) + " to " + TokenPath + ")"}
	}
	return nil
}

// envelopeFault returns the RunFault of a 400 whose errors name a part of the envelope every
// request of the run shares, or nil when they name the user's own data.
func envelopeFault(fields []FieldError) *RunFault {
	for _, f := range fields {
		flag := envelopeFlag(f.Message)
		if flag == "" {
			continue
		}
		cause := "DRUID refused the request's " + f.Message
		if f.Details != "" {
			cause += ": " + f.Details
		}
		return &RunFault{Flag: flag, Cause: cause}
	}
	return nil
}

// envelopeFlag is the flag that sets the envelope field DRUID named, or "" for a field of the
// user.
func envelopeFlag(field string) string {
	switch {
	case strings.EqualFold(field, "From"):
		return "--entry-point"
	case field == "actor" || strings.HasPrefix(field, "actor."):
		return "--app-id"
	case field == "verb":
		return "--verb"
	case field == "source" || strings.HasPrefix(field, "source."):
		return "--device"
	case field == "object.objectType":
		return flagEndpoint
	}
	return ""
}

// endpointFault returns the RunFault of an answer that shows no DRUID update call at the
// endpoint: a redirect, or a 404 or 405 that is not DRUID's envelope. at is the endpoint's
// origin and path the update call's path.
func endpointFault(se *StatusError, at *origin, path string) *RunFault {
	code := strconv.Itoa(se.Code)
	switch {
	case se.Code >= 300 && se.Code < 400:
		return &RunFault{Flag: at.flag, Cause: at.url + " redirects the update call (" + code + ")"}
	case (se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed) && se.foreign:
		return &RunFault{Flag: at.flag,
			Cause: "no DRUID update call at " + at.url + path + " (" + code + " without DRUID's envelope)"}
	}
	return nil
}
