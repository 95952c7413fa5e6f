package druidsim

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"druid-migrate/sink"
)

// The paths the simulator serves.
const (
	UpdatePath     = "/activityid/v1/user/update" // POST: DRUID's update user
	UserPathPrefix = "/activityid/v1/user/"       // GET + objectId: DRUID's read user
	TokenPath      = "/oauth2/token"              // POST, form-encoded: DRUID's OAuth grants
	FakeUsersPath  = "/__fake/users"              // GET: every user as JSON Lines, no secrets
	FakeStatsPath  = "/__fake/stats"              // GET: Stats as JSON
)

// StatusReset is the pseudo status code under which Stats.Requests counts the update calls
// whose connection was reset with no response (Config.ResetRate). No HTTP status is 0, so it
// cannot be mistaken for an answer.
const StatusReset = 0

// The flags a seeded user may carry (Seed.Flags).
const (
	FlagMFA     = "mfa"     // every update answers 428: the user must configure MFA first
	FlagBlocked = "blocked" // every update answers 403
)

// shardCount spreads users over independent locks so parallel updates of different users never
// wait on each other; a power of two keeps the modulo a mask.
const shardCount = 64

// Config configures a Server. The zero value is a simulator that accepts no token at all.
type Config struct {
	// Tokens are static bearer tokens accepted as administrative: object.objectId names the user.
	Tokens []string
	// ClientID and ClientSecret are the credentials POST /oauth2/token accepts. Empty: every
	// grant is refused with 401.
	ClientID, ClientSecret string
	// Required lists the datas (e.g. name, surname) a user must hold: an update leaving one of
	// them missing or blank is applied and answered 206 naming them.
	Required []string
	// Autocreate makes an unknown objectId exist, empty, instead of answering 404.
	Autocreate bool
	// Latency is waited before every API response (not the /__fake/ endpoints).
	Latency time.Duration
	// FailRate (0..1, clamped) is the share of update calls answered 500 or 503 (half each),
	// applying nothing. Neither carries Retry-After: they are faults of one call, as a DRUID
	// node in trouble answers them, not DRUID saying "slower" (RateLimit's 429 does that). It is drawn from the calls ResetRate leaves: with both set, a call is
	// either reset or failed, and the shares add up (at most to 1, resets served first).
	FailRate float64
	// ResetRate (0..1, clamped) is the share of update calls whose TCP connection is reset
	// (SO_LINGER 0, then close) with no response at all, as a load balancer or a crashing
	// DRUID does. It strikes once the user is known (an unknown one is still a 404) and
	// before anything is applied, so a reset call never changes its user; it counts in the
	// user's Calls and in Stats under StatusReset and Resets. Over
	// HTTP/2, where a connection cannot be taken over, the stream is reset instead. A caller
	// of ServeHTTP whose ResponseWriter cannot be hijacked (an httptest.ResponseRecorder) gets
	// the http.ErrAbortHandler panic that net/http turns into that reset.
	ResetRate float64
	// SlowRate (0..1, clamped) is the share of API requests (update, read user, token) whose
	// response is delayed by SlowLatency on top of Latency, as an overloaded DRUID answers.
	// The delay honours the request's context: a client that gives up is not waited for.
	SlowRate float64
	// SlowLatency is the extra delay of a slow response (SlowRate). Defaults to 0: no delay.
	SlowLatency time.Duration
	// SlowAfterApply moves the slow delay from before the request is handled to after it,
	// just before the answer is written. Before (the default, like Latency) a client that
	// times out leaves nothing changed and nothing counted. After, the update is applied,
	// counted in Stats under its status and in the user's counts, and then the client times
	// out without knowing: the case a retrying client must survive (its retry gets 304).
	SlowAfterApply bool
	// RateLimit, when > 0, is the number of update requests accepted per second, as a token
	// bucket holding one second's worth of requests and refilled continuously: a client
	// pacing itself at RateLimit per second is never refused, jitter included, and after a
	// pause up to RateLimit requests pass at once. The others answer 429 with Retry-After in
	// whole seconds (at least 1) and cost the bucket nothing, so a client sending faster
	// still gets RateLimit per second through.
	RateLimit int
	// BulkDelay is how long a bulk batch takes to process, from its upload: it is received
	// for the first half of it and processing for the second; then its lines are applied and
	// it is completed. Defaults to BulkDelayDefault; negative processes a batch at its upload.
	BulkDelay time.Duration
	// BulkKeep is how long a processed batch's status and results are kept; then both answer
	// 404, as DRUID's expired results do. Defaults to BulkKeepDefault.
	BulkKeep time.Duration
	// BulkFailRate (0..1, clamped) is the share of bulk batches that end failed, applying
	// nothing. It is drawn at upload; the batch is accepted (202) all the same.
	BulkFailRate float64
	// Log receives one debug line per API request and info lines for loaded users. The zero
	// Logger discards everything.
	Log zerolog.Logger
}

// Seed is a user to add to the simulator, as Server.Seed takes it and as one line of the
// --users JSON Lines file holds it.
type Seed struct {
	sink.User
	Flags []string `json:"flags,omitempty"` // FlagMFA, FlagBlocked
	Token string   `json:"token,omitempty"` // a per-user access token naming this user
}

// Stored is a user as the simulator holds it: a deep copy, free to modify.
type Stored struct {
	User    sink.User         // current state, Password included (for tests)
	Pending map[string]string // id name → new value awaiting confirmation (rule 6)
	Flags   []string
	Updates int // updates applied (answered 200 or 206) and bulk lines applied
	// Calls counts the update calls that named this user, whatever their answer, resets
	// included, and the bulk lines that named it once the user was known.
	Calls int
}

// Stats counts what the simulator served since New or the last Reset, for tests to assert on.
// GET /__fake/stats returns it with these JSON names.
type Stats struct {
	// Requests counts the API requests (update, read user, token) per HTTP status code, and
	// the connection resets (Config.ResetRate) under StatusReset.
	Requests map[int]int64 `json:"requests"`
	// Total is the sum of Requests.
	Total int64 `json:"total"`
	// TokenGrants counts the code_challenge tokens POST /oauth2/token issued.
	TokenGrants int64 `json:"token_grants"`
	// ClientGrants counts the client_credentials tokens POST /oauth2/token issued.
	ClientGrants int64 `json:"client_grants"`
	// VerifierFailures counts the updates refused 401 for their code_challenge token's
	// verifier: missing, wrong, or sent again with a token already redeemed.
	VerifierFailures int64 `json:"verifier_failures"`
	// Resets counts the update calls whose connection was reset (Config.ResetRate).
	Resets int64 `json:"resets"`
	// SlowResponses counts the API requests drawn to be slow (Config.SlowRate), whether or
	// not their client waited for the answer.
	SlowResponses int64 `json:"slow_responses"`
	// Dropped counts the API requests whose connection was closed unanswered while the
	// simulator was down (Server.SetDown). They are not in Requests: DRUID never saw them.
	Dropped int64 `json:"dropped"`
	// BulkUploads counts the bulk batches accepted (202).
	BulkUploads int64 `json:"bulk_uploads"`
	// BulkCompleted and BulkFailed count the batches processed, by the state they ended in.
	BulkCompleted int64 `json:"bulk_completed"`
	BulkFailed    int64 `json:"bulk_failed"`
	// BulkLines counts the lines of the completed batches; BulkLinesFailed those of them not
	// applied, which their results list.
	BulkLines       int64 `json:"bulk_lines"`
	BulkLinesFailed int64 `json:"bulk_lines_failed"`
}

// Server is the simulator: an http.Handler holding its users in memory. It is safe for
// concurrent use.
type Server struct {
	cfg         Config
	log         zerolog.Logger
	now         func() time.Time // replaced by tests to move the clock
	failRate    float64
	resetRate   float64
	slowRate    float64
	slowLatency time.Duration

	bulkDelay, bulkKeep time.Duration
	bulkFailRate        float64

	// static is replaced whole by SetTokens, never modified, so the hot path reads it with
	// one atomic load and no lock.
	static atomic.Pointer[map[string]struct{}]

	// down makes every API request's connection close unanswered (SetDown).
	down atomic.Bool

	shards [shardCount]shard

	tokensMu   sync.RWMutex
	userTokens map[string]string // per-user token → objectId

	oauth   grants
	limiter bucket
	bulk    bulks

	requests [600]atomic.Int64 // per status code; an array keeps counting lock-free

	tokenGrants, clientGrants, verifierFailures, resets, slowResponses, dropped atomic.Int64
}

type shard struct {
	mu    sync.Mutex
	users map[string]*account
}

// account is one user. user and pending are replaced whole by an update, never modified in
// place, so a response can be encoded from them after the shard lock is released.
type account struct {
	user    *sink.User
	pending map[string]string
	flags   []string
	updates int
	calls   int
}

func (a *account) has(flag string) bool { return slices.Contains(a.flags, flag) }

// New returns a simulator configured by cfg, with no users.
func New(cfg Config) *Server {
	s := &Server{
		cfg:         cfg,
		log:         cfg.Log,
		now:         time.Now,
		resetRate:   clamp01(cfg.ResetRate),
		slowRate:    clamp01(cfg.SlowRate),
		slowLatency: max(cfg.SlowLatency, 0),
		userTokens:  make(map[string]string),
		oauth:       grants{m: make(map[string]grant)},

		bulkDelay:    max(cmp.Or(cfg.BulkDelay, BulkDelayDefault), 0),
		bulkKeep:     cmp.Or(cfg.BulkKeep, BulkKeepDefault),
		bulkFailRate: clamp01(cfg.BulkFailRate),
		bulk:         bulks{batches: make(map[string]*batch)},
	}
	s.failRate = min(clamp01(cfg.FailRate), 1-s.resetRate)
	s.static.Store(tokenSet(cfg.Tokens))
	for i := range s.shards {
		s.shards[i].users = make(map[string]*account)
	}
	return s
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }

func (s *Server) shardOf(objectID string) *shard {
	// FNV-1a inline: hashing must not allocate on the hot path.
	h := uint32(2166136261)
	for i := 0; i < len(objectID); i++ {
		h ^= uint32(objectID[i])
		h *= 16777619
	}
	return &s.shards[h&(shardCount-1)]
}

// ServeHTTP serves the endpoints listed in the package overview. An update is judged by these
// rules, in order, and the first that applies answers:
//
//  1. 429 past Config.RateLimit; 401 without a known token; 400 when From, the JSON body,
//     actor, verb, object.objectType or source is wrong (result.errors names each field).
//  2. The user (per-user token, or object.objectId with an administrative token, whose
//     code_verifier must match its challenge): 401 on a bad verifier, 404 when unknown unless
//     Config.Autocreate. Then Config.ResetRate may reset the connection, with no answer, or
//     Config.FailRate answer 500 or 503.
//  3. 416 for each of email, phone_number, birthday that breaks DRUID's format.
//  4. 403 for a blocked user, 428 for one that must use MFA.
//  5. 304, empty body, when the update would change nothing.
//  6. A confirmed email or phone_number given a new value keeps the old one in force and holds
//     the new one pending confirmation.
//  7. 206 naming the Required datas the user lacks after the update, which is applied.
//  8. 200 with content.user (never the password).
//
// While the simulator is down (SetDown), no rule applies: every API request's connection is
// closed unanswered.
//
// Bulk batches (BulkPath) are judged line by line by rules 2 to 4 and 6 once processed; see
// handleBulkUpload and applyLine.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.settleBulks()
	if s.down.Load() && path != FakeUsersPath && path != FakeStatsPath {
		s.dropped.Add(1)
		s.log.Debug().Str("path", path).Msg("down: connection dropped")
		dropConn(w)
		return
	}
	switch {
	case path == UpdatePath:
		if !s.method(w, r, http.MethodPost) {
			return
		}
		if w, ok := s.begin(w, r, maxBody); ok {
			s.handleUpdate(w, r)
		}
	case path == TokenPath:
		if !s.method(w, r, http.MethodPost) {
			return
		}
		if w, ok := s.begin(w, r, maxBody); ok {
			s.handleToken(w, r)
		}
	case path == BulkPath:
		if !s.method(w, r, http.MethodPatch) {
			return
		}
		if w, ok := s.begin(w, r, sink.BulkMaxBytes); ok {
			s.handleBulkUpload(w, r)
		}
	case strings.HasPrefix(path, BulkPath+"/"):
		id, results := strings.CutSuffix(path[len(BulkPath)+1:], sink.BulkResultsPath)
		if id == "" || strings.Contains(id, "/") {
			notServed(w, http.StatusNotFound, "path")
			return
		}
		if !s.method(w, r, http.MethodGet) {
			return
		}
		if w, ok := s.begin(w, r, maxBody); ok {
			s.handleBulkBatch(w, r, id, results)
		}
	case strings.HasPrefix(path, UserPathPrefix):
		id := path[len(UserPathPrefix):]
		if id == "" || strings.Contains(id, "/") {
			notServed(w, http.StatusNotFound, "path")
			return
		}
		if !s.method(w, r, http.MethodGet) {
			return
		}
		if w, ok := s.begin(w, r, maxBody); ok {
			s.handleGetUser(w, r, id)
		}
	case path == FakeUsersPath:
		if s.method(w, r, http.MethodGet) {
			s.handleDump(w)
		}
	case path == FakeStatsPath:
		if s.method(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	default:
		notServed(w, http.StatusNotFound, "path")
	}
}

func (s *Server) method(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want {
		return true
	}
	w.Header().Set("Allow", want)
	notServed(w, http.StatusMethodNotAllowed, "method")
	return false
}

// notServed answers a request for something the simulator does not serve. It is not counted
// in Stats, which are about DRUID's endpoints, but it is still DRUID's envelope, so that a
// client pointed at a wrong path reads a clear error instead of failing to parse the body.
func notServed(w http.ResponseWriter, code int, field string) {
	b := envelope(code, nil, fieldError(field, http.StatusText(code)))
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// begin delays an API request by Config.Latency and, for the share Config.SlowRate draws,
// by Config.SlowLatency, and returns the writer to answer it with: under
// Config.SlowAfterApply the slow delay is left to that writer, so it falls after the request
// was handled. It reports false when the client gave up meanwhile: nothing is applied for a
// request nobody will read the answer of. bodyMax is the most the handler reads of the body.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, bodyMax int64) (http.ResponseWriter, bool) {
	d := s.cfg.Latency
	if s.slowRate > 0 && rand.Float64() < s.slowRate {
		s.slowResponses.Add(1)
		if s.cfg.SlowAfterApply {
			w = &slowWriter{ResponseWriter: w, s: s, ctx: r.Context(), delay: s.slowLatency}
		} else {
			d += s.slowLatency
		}
	}
	if d > 0 {
		bufferBody(r, bodyMax)
	}
	return w, s.pause(r.Context(), d)
}

// bufferBody reads the request body into memory, to be read again by the handler. net/http
// notices a client that hangs up only once the handler has read the body to its end: without
// this, a client giving up during a delay would go unnoticed, and its update be applied after
// all. It costs a copy, so it is done only when there is a delay.
func bufferBody(r *http.Request, bodyMax int64) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	// One byte past bodyMax is enough for the handler to tell a body too large; the rest is
	// left unread, as the handler would leave it.
	b, err := io.ReadAll(io.LimitReader(r.Body, bodyMax+1))
	r.Body = &bufferedBody{r: bytes.NewReader(b), err: err}
}

// bufferedBody replays a body read by bufferBody, ending with the error that ended the
// reading, if any, so that the handler answers a broken body as it would have.
type bufferedBody struct {
	r   *bytes.Reader
	err error
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *bufferedBody) Close() error { return nil }

// pause waits d, or less if ctx ends first; it reports whether the whole of d was waited.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		s.log.Debug().Err(ctx.Err()).Msg("client gone during simulated latency")
		return false
	}
}

// slowWriter is the ResponseWriter of a slow response under Config.SlowAfterApply: the
// request has been handled by the time its status is written, and the delay falls there.
// It is allocated only for those responses, so the common path stays as it was.
type slowWriter struct {
	http.ResponseWriter
	s      *Server
	ctx    context.Context
	delay  time.Duration
	waited bool
}

func (w *slowWriter) WriteHeader(code int) {
	w.wait()
	w.ResponseWriter.WriteHeader(code)
}

func (w *slowWriter) Write(b []byte) (int, error) {
	w.wait()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, to reset it (Config.ResetRate).
func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *slowWriter) wait() {
	if !w.waited {
		w.waited = true
		// A client gone meanwhile gets the answer written to a closed connection, which
		// costs nothing: the handler has nothing left to undo.
		w.s.pause(w.ctx, w.delay)
	}
}

var (
	jsonContentType   = []string{"application/json"}
	ndjsonContentType = []string{"application/x-ndjson"}
)

// reply writes an API response and counts it in Stats. A nil body is sent empty (the 304).
func (s *Server) reply(w http.ResponseWriter, code int, body []byte) {
	if code >= 0 && code < len(s.requests) {
		s.requests[code].Add(1)
	}
	h := w.Header()
	if body != nil {
		h["Content-Type"] = jsonContentType
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(code)
	if len(body) > 0 {
		_, _ = w.Write(body) // a write error means the client is gone: nothing left to tell it
	}
}

// resetConn ends an update with a TCP reset and no response (Config.ResetRate).
func (s *Server) resetConn(w http.ResponseWriter) {
	s.requests[StatusReset].Add(1)
	s.resets.Add(1)
	dropConn(w)
}

// SetDown takes the simulator down, or brings it back: while it is down, every API request
// (update, read user, token) has its connection reset with no answer and nothing applied or
// counted but Stats.Dropped, as a DRUID that is restarting or unreachable behind its load
// balancer. The /__fake/ endpoints still answer, for the test that watches.
func (s *Server) SetDown(down bool) {
	s.down.Store(down)
	if down {
		s.log.Info().Msg("simulator down: every API request is dropped")
	} else {
		s.log.Info().Msg("simulator up again")
	}
}

// dropConn ends a request with a TCP reset and no response.
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot give its connection away; this panic is net/http's own way to reset
		// the stream without a response, and it logs nothing.
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = tc.NetConn() // under TLS, closing the tls.Conn would first send an alert
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // close then sends RST instead of FIN: "connection reset by peer"
	}
	_ = raw.Close()
}

func (s *Server) replyError(w http.ResponseWriter, code int, errs ...sink.FieldError) {
	s.reply(w, code, envelope(code, nil, errs...))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// Seed adds users. It adds all of them or none: an error names the first user (by position and
// objectId) that is missing its objectId, repeats one already known, carries a token already
// in use or a flag other than FlagMFA and FlagBlocked.
func (s *Server) Seed(users ...Seed) error {
	items := make([]seedItem, len(users))
	for i, u := range users {
		items[i] = seedItem{Seed: u}
	}
	return s.add(items, func(i int) string {
		return fmt.Sprintf("seed %d (objectId %q)", i, users[i].ObjectID)
	})
}

type seedItem struct {
	Seed
	Pending map[string]string `json:"pending,omitempty"`
	// Updates and Calls are accepted so that a /__fake/users dump loads back; the counts
	// restart at 0.
	Updates int `json:"updates,omitempty"`
	Calls   int `json:"calls,omitempty"`
}

func (s *Server) add(items []seedItem, name func(int) string) error {
	ids := make(map[string]bool, len(items))
	toks := make(map[string]bool)
	for i, it := range items {
		if it.ObjectID == "" {
			return fmt.Errorf("%s: missing objectId", name(i))
		}
		if ids[it.ObjectID] {
			return fmt.Errorf("%s: duplicate objectId", name(i))
		}
		ids[it.ObjectID] = true
		for _, f := range it.Flags {
			if f != FlagMFA && f != FlagBlocked {
				return fmt.Errorf("%s: unknown flag %q (want %q or %q)", name(i), f, FlagMFA, FlagBlocked)
			}
		}
		if it.Token != "" {
			if toks[it.Token] {
				return fmt.Errorf("%s: token already in use", name(i)) // never echo the token
			}
			toks[it.Token] = true
		}
	}

	// Every shard is locked so the duplicate check and the insertion are one step. Seeding is
	// rare; updates never hold more than one shard.
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for i := range s.shards {
			s.shards[i].mu.Unlock()
		}
	}()
	// tokensMu also orders SetTokens, so a token cannot become static between this check
	// and the insertion.
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	static := *s.static.Load()
	for i, it := range items {
		if _, ok := s.shardOf(it.ObjectID).users[it.ObjectID]; ok {
			return fmt.Errorf("%s: duplicate objectId", name(i))
		}
		if it.Token == "" {
			continue
		}
		_, user := s.userTokens[it.Token]
		_, admin := static[it.Token]
		if user || admin {
			return fmt.Errorf("%s: token already in use", name(i))
		}
	}
	for _, it := range items {
		var pending map[string]string
		if len(it.Pending) > 0 {
			pending = make(map[string]string, len(it.Pending))
			for k, v := range it.Pending {
				pending[k] = v
			}
		}
		s.shardOf(it.ObjectID).users[it.ObjectID] = &account{
			user:    normalize(&it.User),
			pending: pending,
			flags:   slices.Clone(it.Flags),
		}
		if it.Token != "" {
			s.userTokens[it.Token] = it.ObjectID
		}
	}
	return nil
}

// maxSeedLine bounds one line of a users file, so a file that is not JSON Lines fails instead
// of being read whole into memory.
const maxSeedLine = 1 << 20

// LoadUsers adds the users of a JSON Lines stream, one Seed per line (the --users file; a
// /__fake/users dump loads back, pending confirmations included). Blank lines are skipped. It
// adds all of them or none; an error names the line.
func (s *Server) LoadUsers(r io.Reader) error {
	br := bufio.NewReader(r)
	var items []seedItem
	var lines []int
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			dec := json.NewDecoder(bytes.NewReader(t))
			dec.DisallowUnknownFields() // a misspelt "data" would otherwise seed an empty user
			var it seedItem
			if derr := dec.Decode(&it); derr != nil {
				return fmt.Errorf("line %d: %w", line, derr)
			}
			if dec.More() {
				return fmt.Errorf("line %d: more than one JSON value", line)
			}
			items = append(items, it)
			lines = append(lines, line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := s.add(items, func(i int) string { return fmt.Sprintf("line %d", lines[i]) }); err != nil {
		return err
	}
	s.log.Info().Int("users", len(items)).Msg("users loaded")
	return nil
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxSeedLine {
			return nil, fmt.Errorf("longer than %d bytes", maxSeedLine)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

// User returns a deep copy of the user, and whether it exists.
func (s *Server) User(objectID string) (Stored, bool) {
	s.settleBulks()
	sh := s.shardOf(objectID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a, ok := sh.users[objectID]
	if !ok {
		return Stored{}, false
	}
	return a.stored(), true
}

// Users returns a deep copy of every user, sorted by objectId.
func (s *Server) Users() []Stored {
	s.settleBulks()
	var out []Stored
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, a := range sh.users {
			out = append(out, a.stored())
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Stored) int { return strings.Compare(a.User.ObjectID, b.User.ObjectID) })
	return out
}

func (a *account) stored() Stored {
	st := Stored{
		User:    *clone(a.user),
		Flags:   slices.Clone(a.flags),
		Updates: a.updates,
		Calls:   a.calls,
	}
	if len(a.pending) > 0 {
		st.Pending = make(map[string]string, len(a.pending))
		for k, v := range a.pending {
			st.Pending[k] = v
		}
	}
	return st
}

// Stats returns what was counted since New or the last Reset.
func (s *Server) Stats() Stats {
	s.settleBulks()
	b := &s.bulk
	st := Stats{
		BulkUploads:      b.uploads.Load(),
		BulkCompleted:    b.completed.Load(),
		BulkFailed:       b.failed.Load(),
		BulkLines:        b.lines.Load(),
		BulkLinesFailed:  b.linesFailed.Load(),
		Requests:         make(map[int]int64),
		TokenGrants:      s.tokenGrants.Load(),
		ClientGrants:     s.clientGrants.Load(),
		VerifierFailures: s.verifierFailures.Load(),
		Resets:           s.resets.Load(),
		SlowResponses:    s.slowResponses.Load(),
		Dropped:          s.dropped.Load(),
	}
	for code := range s.requests {
		if n := s.requests[code].Load(); n > 0 {
			st.Requests[code] = n
			st.Total += n
		}
	}
	return st
}

// Reset forgets the counts of Stats and every user's Updates and Calls, so that one run can be
// measured after another; users, their data, pending values, flags and tokens stay, and so do
// the bulk batches.
func (s *Server) Reset() {
	for code := range s.requests {
		s.requests[code].Store(0)
	}
	b := &s.bulk
	for _, c := range []*atomic.Int64{&s.tokenGrants, &s.clientGrants, &s.verifierFailures, &s.resets, &s.slowResponses, &s.dropped,
		&b.uploads, &b.completed, &b.failed, &b.lines, &b.linesFailed} {
		c.Store(0)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, a := range sh.users {
			a.updates, a.calls = 0, 0
		}
		sh.mu.Unlock()
	}
}

// dumpLine is one line of GET /__fake/users. It has no password and no token field: a dump is
// for eyes and files, and those are secrets.
type dumpLine struct {
	ObjectType string               `json:"objectType"`
	ObjectID   string               `json:"objectId"`
	IDs        map[string]sink.ID   `json:"ids,omitempty"`
	Datas      map[string]sink.Data `json:"datas,omitempty"`
	Addresses  *sink.Addresses      `json:"addresses,omitempty"`
	Assertions *sink.Assertions     `json:"assertions,omitempty"`
	Flags      []string             `json:"flags,omitempty"`
	Pending    map[string]string    `json:"pending,omitempty"`
	Updates    int                  `json:"updates"`
	Calls      int                  `json:"calls"`
}

func (s *Server) handleDump(w http.ResponseWriter) {
	var lines []dumpLine
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, a := range sh.users {
			// The user and pending maps are immutable once stored, so they are encoded after
			// the lock is released.
			lines = append(lines, dumpLine{
				ObjectType: sink.ObjectTypeUser,
				ObjectID:   a.user.ObjectID,
				IDs:        a.user.IDs,
				Datas:      a.user.Datas,
				Addresses:  a.user.Addresses,
				Assertions: a.user.Assertions,
				Flags:      slices.Clone(a.flags),
				Pending:    a.pending,
				Updates:    a.updates,
				Calls:      a.calls,
			})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(lines, func(a, b dumpLine) int { return strings.Compare(a.ObjectID, b.ObjectID) })
	w.Header()["Content-Type"] = ndjsonContentType
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			s.log.Error().Err(err).Str("object_id", lines[i].ObjectID).Msg("dump user")
			return
		}
	}
	_ = bw.Flush() // the client is gone if this fails
}
