package sink

import (
	"bytes"
	"encoding/json"
	"io"
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
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(d.serve))
	d.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			d.conns.Add(1)
		}
	}
	d.srv.Start()
	t.Cleanup(d.srv.Close)
	return d
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

// newClient returns a Client of the fake DRUID at url, logging at debug into the returned
// buffer, with fast backoffs and no retries unless edit says otherwise. When the test ends, it
// checks that no log line carries a secret.
func newClient(t *testing.T, url string, edit func(*Config)) (*Client, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	cfg := Config{
		Endpoint:    url,
		EntryPoint:  entryPoint,
		Token:       testToken,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		Timeout:     testTimeout,
		Log:         zerolog.New(logs).Level(zerolog.DebugLevel),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		requireNoSecret(t, "log", logs.String())
	})
	return c, logs
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
