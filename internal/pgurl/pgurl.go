package pgurl

import (
	"errors"
	"net/url"
	"strings"
)

// Is reports whether s is a Postgres URL: it starts with postgres:// or postgresql://, in any
// case, as URL schemes ignore case.
func Is(s string) bool {
	lower := strings.ToLower(s)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// LowerScheme writes a URL's scheme in lower case: URL schemes ignore case, pgx does not.
func LowerScheme(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	return strings.ToLower(scheme) + "://" + rest
}

// Redact returns s fit for a log line or an error: a Postgres URL with its passwords, in the
// user part or in a password or sslpassword parameter, replaced by "xxxxx". Anything else, such
// as a file path, is returned as it is.
func Redact(s string) string {
	if !Is(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// A URL that does not parse could hold the password anywhere: show only its scheme.
		scheme, _, _ := strings.Cut(s, "://")
		return scheme + "://(unparsable URL)"
	}
	u.RawQuery, _ = redactQuery(u.RawQuery)
	return u.Redacted()
}

// Secrets returns the passwords the URL s can carry, in the user part or in a password or
// sslpassword parameter, in the forms an error may quote them, so that they can be scrubbed from
// a driver's messages. When s does not parse, the error gives only the reason: url.Parse's own
// error repeats the whole URL, password included.
func Secrets(s string) ([]string, error) {
	u, err := url.Parse(s)
	if err != nil {
		reason := "not a valid URL"
		if ue, ok := errors.AsType[*url.Error](err); ok {
			reason = ue.Err.Error()
		}
		return nil, errors.New(reason)
	}
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	_, written := redactQuery(u.RawQuery)
	for _, v := range written {
		out = append(out, v)
		if pw, err := url.QueryUnescape(v); err == nil {
			out = append(out, pw, url.QueryEscape(pw))
		}
	}
	return out, nil
}

// redactQuery returns the raw query of a URL with the value of each password or sslpassword
// parameter replaced by "xxxxx", and those values as written. It reads every pair, even one that
// url.ParseQuery rejects (a ';' or a bad escape in it): pgx ignores such a parameter, but a
// message that quotes the URL would still show it.
func redactQuery(raw string) (string, []string) {
	if raw == "" {
		return raw, nil
	}
	pairs := strings.Split(raw, "&")
	var values []string
	for i, pair := range pairs {
		key, value, _ := strings.Cut(pair, "=")
		name := key
		if unescaped, err := url.QueryUnescape(key); err == nil {
			name = unescaped
		}
		if !strings.EqualFold(name, "password") && !strings.EqualFold(name, "sslpassword") {
			continue
		}
		values = append(values, value)
		pairs[i] = key + "=xxxxx"
	}
	if values == nil {
		return raw, nil
	}
	return strings.Join(pairs, "&"), values
}
