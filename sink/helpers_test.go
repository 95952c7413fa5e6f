package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/internal/logtest"
)

// Every secret of the tests carries marker, so that one look finds any of them, whole or
// JSON-escaped, in an error or a log line.
const (
	marker        = "SECRET"
	testToken     = "SECRET-static-token-SECRET"
	testPassword  = `SECRET-pa"ss<w0rd>&-SECRET` // escaped differently by json.Marshal and an Encoder
	userToken     = "SECRET-user-token-SECRET"
	fileToken1    = "SECRET-file-token-1-SECRET"
	fileToken2    = "SECRET-file-token-2-SECRET"
	entryPoint    = "231705665113870-main"
	testUserKey   = "crm-1"
	testTimeout   = 10 * time.Second // how long a test waits for something that should be prompt
	envelopeOK    = `{"content":{"user":{"objectType":"user","objectId":"u-1"}},"result":{"status":200}}`
	updateURLPath = "/activityid/v1/user/update"
)

// reply is one scripted answer of the fake DRUID.
type reply struct {
	code   int
	body   string
	header map[string]string
	wait   <-chan struct{} // answer only once closed (or the client gone)
	hang   bool            // never answer: wait for the client to give up
	hangup bool            // close the connection without answering
	fn     http.HandlerFunc
}

// request is what the fake DRUID saw of one call.
type request struct {
	at     time.Time
	method string
	path   string
	query  url.Values
	header http.Header
	body   []byte
	length int64
}

// druid is an httptest server scripted per case: the i-th call gets the i-th reply, the last
// one repeating.
type druid struct {
	srv     *httptest.Server
	arrived chan int // the number of each call, as it arrives
	conns   atomic.Int64

	mu      sync.Mutex
	replies []reply
	got     []request
}

func newDRUID(t *testing.T, replies ...reply) *druid {
	t.Helper()
	require.NotEmpty(t, replies, "script at least one reply")
	d := &druid{replies: replies, arrived: make(chan int, 1024)}
	d.srv = serveCounting(t, http.HandlerFunc(d.serve), &d.conns)
	return d
}

// serveCounting starts a server of h that counts in conns the connections made to it, and
// closes it when the test ends.
func serveCounting(t *testing.T, h http.Handler, conns *atomic.Int64) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func (d *druid) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	n := len(d.got)
	d.got = append(d.got, request{
		at: time.Now(), method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: body,
		length: r.ContentLength,
	})
	rep := d.replies[min(n, len(d.replies)-1)]
	d.mu.Unlock()
	select {
	case d.arrived <- n + 1:
	default:
	}

	switch {
	case rep.wait != nil:
		select {
		case <-rep.wait:
		case <-r.Context().Done():
			return
		}
	case rep.hang:
		<-r.Context().Done()
		return
	case rep.hangup:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if rep.fn != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		rep.fn(w, r)
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.code)
	io.WriteString(w, rep.body)
}

// requests returns what the fake DRUID saw, in order.
func (d *druid) requests() []request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]request(nil), d.got...)
}

// waitArrival waits for the n-th call to reach the fake DRUID.
func (d *druid) waitArrival(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case got := <-d.arrived:
			if got >= n {
				return
			}
		case <-deadline:
			t.Fatalf("call %d never reached the fake DRUID", n)
		}
	}
}

// meeting holds the calls that reach it until n of them have, so that their answers come back
// together.
type meeting struct {
	n   int
	mu  sync.Mutex
	in  int
	all chan struct{} // closed when the n-th call arrives
}

func newMeeting(n int) *meeting { return &meeting{n: n, all: make(chan struct{})} }

// wait counts a call in and holds it until n calls have arrived, or testTimeout has passed:
// met then tells the test.
func (m *meeting) wait() {
	m.mu.Lock()
	if m.in++; m.in == m.n {
		close(m.all)
	}
	m.mu.Unlock()
	select {
	case <-m.all:
	case <-time.After(testTimeout):
	}
}

// met reports whether n calls arrived.
func (m *meeting) met() bool {
	select {
	case <-m.all:
		return true
	default:
		return false
	}
}

// sendAll sends p with c from n goroutines at once, and returns their results.
func sendAll(t *testing.T, c *Client, p *Payload, n int) []SendResult {
	results := make([]SendResult, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = c.Send(t.Context(), p) })
	}
	wg.Wait()
	return results
}

// newClient returns a Client of the fake DRUID at url, logging at debug into the returned
// buffer, with fast backoffs and no retries unless edit says otherwise. When the test ends, it
// checks that no log line carries a secret.
func newClient(t *testing.T, url string, edit func(*Config)) (*Client, *logtest.Buffer) {
	t.Helper()
	log, logs := debugLog(t)
	return mustNew(t, Config{
		Endpoint: url, EntryPoint: entryPoint, Token: testToken,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: testTimeout, Log: log,
	}, edit, New), logs
}

// debugLog returns a Logger at debug into the returned buffer. When the test ends, once what
// writes to it is closed, it checks that no line carries a secret.
func debugLog(t *testing.T) (zerolog.Logger, *logtest.Buffer) {
	logs := &logtest.Buffer{}
	t.Cleanup(func() { requireNoSecret(t, "log", logs.String()) })
	return zerolog.New(logs).Level(zerolog.DebugLevel), logs
}

// mustNew builds a Client or a Reader of cfg as edit changes it, and closes it when the test
// ends.
func mustNew[C any, T interface{ Close() }](t *testing.T, cfg C, edit func(*C), build func(C) (T, error)) T {
	t.Helper()
	if edit != nil {
		edit(&cfg)
	}
	v, err := build(cfg)
	require.NoError(t, err)
	t.Cleanup(v.Close)
	return v
}

// newPayload returns a user's update whose body carries testPassword.
func newPayload(t *testing.T) *Payload {
	t.Helper()
	req := Request{
		Actor: Actor{ID: "app-1", ObjectType: ObjectTypeApplication},
		Verb:  "update",
		Object: User{
			ObjectType: ObjectTypeUser,
			ObjectID:   "u-1",
			Password:   testPassword,
			IDs:        map[string]ID{"email": {ObjectType: ObjectTypeUserID, Value: "ana@example.com"}},
			Datas:      map[string]Data{"name": {ObjectType: ObjectTypeUserData, Value: "Ana"}},
		},
		Source: Device{ID: "pc", ObjectType: ObjectTypeDevice},
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	require.Contains(t, string(body), `\u003c`, "the body must hold the password JSON-escaped")
	return &Payload{Key: testUserKey, ObjectID: "u-1", Request: req, Body: body}
}

// requireNoSecret fails the test when text holds any secret of the tests.
func requireNoSecret(t *testing.T, where, text string) {
	t.Helper()
	require.NotContains(t, text, marker, "a secret reached the %s", where)
}

// requireResultClean fails the test when a SendResult carries a secret.
func requireResultClean(t *testing.T, res SendResult) {
	t.Helper()
	requireNoSecret(t, "SendResult.Error", res.Error)
	requireNoSecret(t, "SendResult.Fields", strings.Join(res.Fields, ","))
}

// writeToken writes a token file in dir, as a rotating sidecar would.
func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(tok+"\n"), 0o600))
}

// tokenFile returns the path of a new token file holding tok.
func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, tok)
	return path
}

// countReads makes c's token source count its re-reads of the file.
func countReads(c *Client) *atomic.Int64 {
	var n atomic.Int64
	read := c.tokens.readFile
	c.tokens.readFile = func(path string) (string, error) {
		n.Add(1)
		return read(path)
	}
	return &n
}

const (
	testClientID     = "app-1"
	testClientSecret = "SECRET-client/se cret+=&-SECRET" // changed by form encoding
)

// issue answers a token call with a new token each time: SECRET-grant-1-SECRET, -2-, …
func issue() reply {
	var n atomic.Int64
	return reply{fn: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"SECRET-grant-%d-SECRET","token_type":"bearer","expires_in":60}`, n.Add(1))
	}}
}

// oauthError answers a token call as DRUID refuses one.
func oauthError(code int, kind, description string) reply {
	return reply{code: code, body: fmt.Sprintf(`{"error":%q,"error_description":%q}`, kind, description)}
}

// newChallengeClient returns a Client asking the auth server for a challenge-code token before
// every update to the update server.
func newChallengeClient(t *testing.T, auth, update *druid, edit func(*Config)) (*Client, *logtest.Buffer) {
	t.Helper()
	return newClient(t, update.srv.URL, func(c *Config) {
		c.Token, c.ClientID, c.ClientSecret, c.AuthEndpoint = "", testClientID, testClientSecret, auth.srv.URL
		if edit != nil {
			edit(c)
		}
	})
}

// fakeClock is the throttle's clock in tests: recovery happens when the test says, not when a
// slow machine gets around to it.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// useFakeClock makes c's throttle follow a clock the test moves.
func useFakeClock(t *testing.T, c *Client) *fakeClock {
	t.Helper()
	return useClock(t, c, &fakeClock{})
}

// useClock makes c's throttle follow clock.
func useClock(t *testing.T, c *Client, clock *fakeClock) *fakeClock {
	t.Helper()
	require.NotNil(t, c.throttle, "the limiter has a rate to adapt")
	c.throttle.now = clock.now
	return clock
}

// logLines returns the log lines holding message.
func logLines(logs *logtest.Buffer, message string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"message":"`+message+`"`) {
			out = append(out, line)
		}
	}
	return out
}

const (
	readClientID     = "app-1"
	readClientSecret = "SECRET-client/secret+&=-SECRET" // form-encoding changes it
	readObjectID     = "u-1"
	userJSON         = `{"content":{"user":{"objectType":"user","objectId":"u-1","ids":{"email":{"objectType":"user_id","value":"ana@example.com"}}}},"result":{"status":200}}`
)

// clientToken is the n-th token the fake DRUID's token endpoint issues.
func clientToken(n int64) string { return fmt.Sprintf("SECRET-client-token-%d-SECRET", n) }

// readDRUID is an httptest server with DRUID's token endpoint and read user call, each
// scripted per case.
type readDRUID struct {
	srv   *httptest.Server
	conns atomic.Int64

	// expiresIn is the token answers' expires_in, as JSON; empty leaves it out.
	expiresIn string
	// onToken answers the n-th token call (from 1); nil issues clientToken(n).
	onToken func(w http.ResponseWriter, r *http.Request, n int64)
	// onRead answers the n-th read call (from 1) made with tok; nil answers userJSON.
	onRead func(w http.ResponseWriter, r *http.Request, tok string, n int64)
	// onUpdate answers update calls; nil answers envelopeOK.
	onUpdate http.HandlerFunc
	// onBulk answers the n-th call (from 1) under BulkPath made with tok; nil answers 404.
	onBulk func(w http.ResponseWriter, r *http.Request, tok string, n int64)

	tokenCalls, readCalls, bulkCalls atomic.Int64
	readArrived                      chan int64 // the number of each read call, as it arrives

	mu    sync.Mutex
	forms []url.Values // the token calls' forms
	reads []*http.Request
	bulks []bulkRequest
}

// bulkRequest is what the fake DRUID saw of a call under BulkPath.
type bulkRequest struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

func newReadDRUID(t *testing.T, edit func(*readDRUID)) *readDRUID {
	t.Helper()
	d := &readDRUID{expiresIn: "3600", readArrived: make(chan int64, 1024)}
	if edit != nil {
		edit(d)
	}
	d.srv = serveCounting(t, http.HandlerFunc(d.serve), &d.conns)
	return d
}

func (d *readDRUID) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, TokenPath):
		n := d.tokenCalls.Add(1)
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		d.mu.Lock()
		d.forms = append(d.forms, form)
		d.mu.Unlock()
		if d.onToken != nil {
			d.onToken(w, r, n)
			return
		}
		expires := ""
		if d.expiresIn != "" {
			expires = `,"expires_in":` + d.expiresIn
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer"%s}`, clientToken(n), expires)
	case r.Method == http.MethodPost && r.URL.Path == updateURLPath:
		if d.onUpdate != nil {
			d.onUpdate(w, r)
			return
		}
		io.WriteString(w, envelopeOK)
	case strings.HasPrefix(r.URL.Path, BulkPath):
		n := d.bulkCalls.Add(1)
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.bulks = append(d.bulks, bulkRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query(),
			header: r.Header.Clone(), body: body})
		d.mu.Unlock()
		if d.onBulk == nil {
			http.NotFound(w, r)
			return
		}
		d.onBulk(w, r, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), n)
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, UserPath):
		n := d.readCalls.Add(1)
		d.mu.Lock()
		d.reads = append(d.reads, r.Clone(context.Background()))
		d.mu.Unlock()
		select {
		case d.readArrived <- n:
		default:
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if d.onRead != nil {
			d.onRead(w, r, tok, n)
			return
		}
		io.WriteString(w, userJSON)
	default:
		http.NotFound(w, r)
	}
}

// answerReads makes the fake DRUID answer every read call with code and body.
func answerReads(code int, body string) func(*readDRUID) {
	return func(d *readDRUID) {
		d.onRead = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
}

// userAfter makes the fake DRUID answer the first reads with codes, in order, each with header,
// and every later one with userJSON.
func userAfter(header http.Header, codes ...int) func(*readDRUID) {
	return func(d *readDRUID) {
		d.onRead = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
			if n <= int64(len(codes)) {
				maps.Copy(w.Header(), header)
				w.WriteHeader(codes[n-1])
				return
			}
			io.WriteString(w, userJSON)
		}
	}
}

// bulkRequests returns the calls under BulkPath the fake DRUID saw, in order.
func (d *readDRUID) bulkRequests() []bulkRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bulkRequest(nil), d.bulks...)
}

// readRequests returns the read calls the fake DRUID saw, in order.
func (d *readDRUID) readRequests() []*http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*http.Request(nil), d.reads...)
}

// newTestReader returns a Reader of the fake DRUID at url, logging at debug into the returned
// buffer, with fast backoffs and no retries unless edit says otherwise. When the test ends, it
// checks that no log line carries a secret.
func newTestReader(t *testing.T, url string, edit func(*ReaderConfig)) (*Reader, *logtest.Buffer) {
	t.Helper()
	log, logs := debugLog(t)
	return mustNew(t, ReaderConfig{
		Endpoint: url, EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: testTimeout, Log: log,
	}, edit, NewReader), logs
}

// readClock is the client token's clock in tests: tokens expire when the test says.
type readClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *readClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *readClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func useReadClock(r *Reader) *readClock {
	c := &readClock{t: time.Unix(1_700_000_000, 0)}
	r.tokens.now = c.now
	return c
}

// mustGet reads readObjectID and requires it found.
func mustGet(t *testing.T, r *Reader) *User {
	t.Helper()
	u, found, err := r.Get(context.Background(), readObjectID)
	require.NoError(t, err)
	require.True(t, found)
	return u
}

// lastToken is the bearer token of the last read call.
func (d *readDRUID) lastToken(t *testing.T) string {
	t.Helper()
	reads := d.readRequests()
	require.NotEmpty(t, reads)
	return strings.TrimPrefix(reads[len(reads)-1].Header.Get("Authorization"), "Bearer ")
}
