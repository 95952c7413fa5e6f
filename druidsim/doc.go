// Package druidsim is an in-memory DRUID: the identity platform's update user, read user and
// OAuth token endpoints, with the rules of SPEC §7 and faults on demand.
//
// It is a real component, not a test double written per test: the product's integration tests
// and benchmarks run it in-process behind httptest, `make demo` drives it, and
// `druid-migrate fake-druid` serves it. A *Server is an http.Handler:
//
//	sim := druidsim.New(druidsim.Config{Tokens: []string{"admin"}, Required: []string{"name"}})
//	_ = sim.Seed(druidsim.Seed{User: sink.User{ObjectID: "u1"}})
//	srv := httptest.NewServer(sim)
//
// # Endpoints
//
//   - POST /activityid/v1/user/update: DRUID's full replacement of a user (see Server.ServeHTTP
//     for the order the rules are applied in).
//   - GET /activityid/v1/user/{objectId}: the user as DRUID returns it, never its password.
//   - POST /oauth2/token: client_credentials and urn:druid:oauth2:grant-type:code_challenge.
//   - GET /__fake/users: every user as JSON Lines (never a password or a token), loadable
//     again with Server.LoadUsers.
//   - GET /__fake/stats: Stats as JSON: API requests per status code (connection resets under
//     StatusReset, 0), tokens granted, verifier failures, resets and slow responses.
//
// # Choices where DRUID's documentation is silent
//
//   - Password: the update is a full replacement, so a request without a password removes the
//     stored one. Two states are therefore equal (304) only if they carry the same password, or
//     none at all.
//   - Equality (304) is decided on the state the update would produce, pending confirmations
//     included: re-sending a changed confirmed email that already waits for confirmation is a
//     304, and addresses and assertions compare regardless of item order.
//   - A per-user token names its user; an object.objectId naming another user is a 403 (DRUID's
//     "user id invalid"). An administrative token without object.objectId is a 400.
//   - A code_challenge token is consumed by the first update whose code_verifier matches it;
//     afterwards it is refused as an unknown token is (401 naming Authorization), but counted
//     in Stats.VerifierFailures, so a client reusing a verifier, say on a retry, shows. A
//     wrong verifier is a 401 naming code_verifier and leaves the token usable.
//     Client-credentials tokens read users but cannot update them (401).
//   - Faults: RateLimit is checked first, like a gateway would, as a token bucket of one
//     second's worth of requests: a client paced at the limit is never refused, and one going
//     faster still gets the limit through; its 429 carries Retry-After. ResetRate and
//     FailRate strike once the user is known and count as a call to that user, but apply
//     nothing (FailRate's 500 and 503 carry no Retry-After: random faults, not throttling);
//     a challenge-code token they strike is already consumed, as DRUID would have checked it
//     before failing, so the client's retry needs a new one. Latency is waited before any work, so a client that
//     gives up during it changes nothing; so is SlowLatency, unless SlowAfterApply puts it
//     after the work, where a client that gives up leaves the update applied.
//   - SetDown takes the simulator down while serving, and back up: meanwhile every API request
//     has its connection reset unanswered, as a DRUID that is restarting, so a test can stop
//     DRUID mid-run and bring it back.
//   - SetTokens replaces the static tokens while serving, so a test can expire the token a
//     client holds (401) and hand it a new one, as a rotated --token-file does.
//   - Blocked (403) is checked before MFA (428): a blocked user cannot resolve anything by MFA.
//   - A path or method the simulator does not serve answers 404 or 405, still as DRUID's
//     envelope, and is not counted in Stats.
//
// # Speed
//
// Users live in 64 shards, each with its own lock, held only to compare and swap a user's
// state: decoding, validation and encoding happen outside it, and a stored state is never
// modified, only replaced. The common request body is decoded and the envelope encoded by
// hand, each checked against encoding/json by a fuzz target, because reflection cost more than
// everything else together.
package druidsim
