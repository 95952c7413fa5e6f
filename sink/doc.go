// Package sink talks to DRUID, the identity platform: the wire format of its update user call
// (Payload, Response) and its encoder (AppendRequest, which writes json.Marshal's bytes without
// reflection), the Client that sends it, the Reader that reads users back, and the Bulk that
// sends users in batches through DRUID's Bulk API.
//
// DRUID's update is a full replacement, so the Client never decides anything about a user's
// data: it sends the bytes it is given and turns DRUID's answer into an Outcome. Classify is the
// one place where a status code gets its meaning (SPEC §2.1); Send returns a SendResult and
// never an error, because a user DRUID refused is an outcome for the checkpoint, not a failure
// of the run.
//
// A Client is shared by every worker of a run, and so is what it knows about DRUID's limits:
// the rate limiter is waited on before every call, retries and token calls included, and an
// answer that says "slower" — a 429, or a 503 with Retry-After — holds every worker back for
// Retry-After, not only the one that got it. Transient answers are retried with exponential
// backoff and full jitter, never sooner than Retry-After says.
//
// # Throttling: AIMD on the shared limiter
//
// A throttling answer also halves the shared limiter's rate (never below 0.5 requests per
// second or 1% of the configured rate, whichever is larger), at most once a second, and every
// second without one gives back 10% of the configured rate, up to the rate the limiter had at
// New and never above it. The tries in flight when the rate is cut were sent at the old pace,
// so their 429s count for one slow-down: sixteen workers hit by the same burst halve the rate
// once, not sixteen times. A 500, 502, 503 or 504 without Retry-After, a reset or a timeout is
// a fault of that one call: the user is retried alone and the rate is left as it is, unless
// such faults are most of a second's calls (more than half of at least 20), which is overload
// and cuts the rate as one throttling answer does. Each slow-down is logged at warn, the
// return to full rate at info, and Client.Stats counts them for the run's summary. An
// unlimited limiter (rate.Inf, or none) is left unlimited: the operator asked for no limit and
// there is no rate to come back to, so throttling only holds and backs off.
//
// # Faults of the run, and DRUID down
//
// Some failures are no user's: a refused connection, a host that does not resolve, TLS failing,
// a token or credentials DRUID refuses, a 400 about the envelope every request shares. A
// SendResult carries them in Fault, a *RunFault naming the flag to check, so that the run stops
// instead of failing every user; Client.Probe sends the run's first user with one retry, not
// --retries, for a connection that cannot be made, and Preflight proves the token endpoint and
// the credentials before the first record.
//
// When every call fails for want of DRUID — no answer or a 5xx, for more than one worker, with
// no good answer to any — DRUID is down: the workers wait and try again without spending their
// users' retries, as through a checkpoint outage, and carry on when DRUID answers. Past
// Config.DownTimeout (--druid-timeout) a Send returns a result whose Err wraps ErrUnreachable,
// which is no outcome of the user: the run stops and its next run resends the user. The exact
// rule is tries's.
//
// # Tokens
//
// Tokens come from the record (a user's own token, which always wins), from --token, from
// --token-file, which is re-read when DRUID answers 401 so that a token rotated on disk is
// picked up mid-run, or from DRUID's token endpoint with --client-id and --client-secret: an
// administrative challenge-code token per update try (SPEC §2.2), with a fresh verifier from
// crypto/rand each time, since DRUID consumes such a token at its first use even when that
// call then fails. Token calls wait on the limiter and count in Stats.Requests, but not in
// SendResult.Attempts, which counts the update calls made for the user. A token call refused
// with 400 or 401 fails the user with an error naming the flags to check; a 429, 5xx or
// network error is retried within the same --retries.
//
// # Reading users
//
// A Reader reads what DRUID holds for a user (GET /activityid/v1/user/{objectId}), for diffs,
// guards, merges and backups, with the app's client token (grant_type=client_credentials,
// SPEC §2.2). One token serves every goroutine: it is renewed by one caller at 90% of its
// lifetime or 30 s before its end, whichever is earlier (never before half of it), while the
// others go on with the token in force; a 401 renews it once per Get, and concurrent 401s
// share one token call. A 404 with DRUID's envelope is found=false, not an error; a 404
// without it is an error, so that a wrong --endpoint does not read as users that do not exist.
// The password is never returned. Reads follow the retry, Retry-After and throttling rules of
// updates. Client.Reader makes a Reader that shares the Client's connections, limiter and
// throttling, so that reads and updates together keep to --rate and a 429 to either slows both.
//
// # The Bulk API
//
// A Bulk, made by Client.Bulk, speaks DRUID's Bulk API (SPEC §2.3): Upload sends a batch of up
// to BulkMaxLines users as JSON Lines, each line written by AppendBulkLine, and returns the id
// DRUID gave it; Status reads the batch's state until it is done; Failures pages through the
// users it did not apply. A line is a partial update: a field it leaves out is kept, a null
// removes one, so a field the source lacks is never wiped. Its calls take the app's client
// token, as a Reader's do, and keep the Client's pace, throttling and outage rules. What SPEC
// §2.3 assumes of DRUID — paths, answers, the line, the limits — is in bulk_wire.go and nowhere
// else.
//
// Secrets (tokens, the token file's content, the client secret, the password inside a request
// body) never reach an error, a log line or a SendResult: errors name the call by method and
// path only (the update's query carries the code verifier), bodies and headers are never
// logged, and whatever DRUID or a proxy echoes back is scrubbed of them.
package sink
