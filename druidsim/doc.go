// Package druidsim is an in-memory DRUID: the identity platform's update user, read user, Bulk
// API and OAuth token endpoints, with the rules of SPEC §7 and faults on demand.
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
//   - PATCH /activityid/v1/user/bulk: DRUID's Bulk API (SPEC §2.3), a batch of partial users as
//     JSON Lines, answered 202 with its bulkId; GET /activityid/v1/user/bulk/{bulkId} its status,
//     and GET .../{bulkId}/results?failedOnly=true&limit=N&last=<lastId> its results, page by
//     page. The shapes are package sink's (bulk_wire.go), so that the simulator and the client
//     hold the same assumptions.
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
// # The Bulk API
//
//   - Every bulk call takes the app's client token (a static token is a 401) and From. An
//     upload must be application/jsonl, hold 1 to 1,000 lines (blank ones aside) and at most
//     5 MiB (413 otherwise); RateLimit, FailRate and ResetRate strike it as they strike an
//     update, before the batch is taken.
//   - A batch is received for the first half of Config.BulkDelay, processing for the second,
//     then processed at once, in upload order: by the first request of any kind after its
//     time, or by a look at the users or at Stats, so that nothing sees it pending past its
//     time and no goroutine runs between requests. Config.BulkFailRate fails whole batches,
//     applying nothing.
//   - Each line is judged as an update of its user would be: 400 when it cannot be read, names
//     no user or holds a key a line may not (password, objectType); 404 for an unknown user
//     unless Autocreate; 416 per field breaking DRUID's formats, among the values the line
//     sets; 403 blocked; 428 MFA. A line is applied whole or not at all, with partial
//     semantics (see bulk_line.go), and a confirmed email or phone_number it changes waits for
//     confirmation. Required datas (206) and equality (304) are not judged: a line is applied
//     or it fails. An applied line counts as an update of its user, and every line naming a
//     known user as a call.
//   - Results are those of a completed batch only (409 before, and for a failed batch), each
//     line's in order, failedOnly=true leaving out the applied ones; the cursor is the
//     position of a page's last line. Status and results answer 404 once Config.BulkKeep has
//     passed since the batch was processed.
//
// # Speed
//
// Users live in 64 shards, each with its own lock, held only to compare and swap a user's
// state: decoding, validation and encoding happen outside it, and a stored state is never
// modified, only replaced. The common request body is decoded and the envelope encoded by
// hand, each checked against encoding/json by a fuzz target, because reflection cost more than
// everything else together.
package druidsim
