// Package sink talks to DRUID, the identity platform: the wire format of its update user call
// (Payload, Response) and the Client that sends it.
//
// DRUID's update is a full replacement, so the Client never decides anything about a user's
// data: it sends the bytes it is given and turns DRUID's answer into an Outcome. Classify is the
// one place where a status code gets its meaning (SPEC §2.1); Send returns a SendResult and
// never an error, because a user DRUID refused is an outcome for the checkpoint, not a failure
// of the run.
//
// A Client is shared by every worker of a run, and so is what it knows about DRUID's limits:
// the rate limiter is waited on before every try, retries included, and a 429 or 503 holds
// every worker back, not only the one that got it. Transient answers are retried with
// exponential backoff and full jitter, never sooner than Retry-After says.
//
// Tokens come from the record (a user's own token), from --token, or from --token-file, which
// is re-read when DRUID answers 401 so that a token rotated on disk is picked up mid-run.
//
// Secrets (tokens, the token file's content, the password inside a request body) never reach
// an error, a log line or a SendResult: errors name the call by method and path only, bodies
// and headers are never logged, and whatever DRUID or a proxy echoes back is scrubbed of them.
package sink
