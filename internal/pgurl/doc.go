// Package pgurl reads the postgres:// URLs that name a Postgres source or checkpoint: which
// values are such URLs, the form of them pgx accepts, and the form fit for a log line or an
// error, with every password the URL can carry hidden.
//
// The checkpoint and the source both take such a URL; this is the one place that decides what
// is one (Is), what pgx is given (LowerScheme), what a message may say of it (Redact), and what
// must be scrubbed from the driver's own messages (Secrets).
package pgurl
