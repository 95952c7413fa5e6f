package druidsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"druid-migrate/sink"
)

const (
	adminToken = "admin-token"
	entryPoint = "231705665113870-main"
	clientID   = "app"
	secret     = "app-secret"
)

// sim is a simulator served over real HTTP, with a clock the test moves.
type sim struct {
	*Server
	url    string
	client *http.Client
	clock  *atomic.Int64 // unix nanoseconds
	ts     *httptest.Server
}

func newSim(t *testing.T, cfg Config, seeds ...Seed) *sim {
	t.Helper()
	return newSimOver(t, (*httptest.Server).Start, cfg, seeds...)
}

// newSimOver is newSim with the server started by start: (*httptest.Server).StartTLS, or a
// function enabling HTTP/2 first.
func newSimOver(t *testing.T, start func(*httptest.Server), cfg Config, seeds ...Seed) *sim {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = []string{adminToken}
	}
	s := New(cfg)
	clock := new(atomic.Int64)
	clock.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	s.now = func() time.Time { return time.Unix(0, clock.Load()) }
	if err := s.Seed(seeds...); err != nil {
		t.Fatalf("seed: %v", err)
	}
	ts := httptest.NewUnstartedServer(s)
	start(ts)
	t.Cleanup(ts.Close)
	client := ts.Client()
	// Parallel subtests and workers share the client: keep their connections instead of
	// churning one per request.
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 32
	return &sim{Server: s, url: ts.URL, client: client, clock: clock, ts: ts}
}

// closeWithin shuts the server down and fails the test unless every handler has returned
// within d: a handler still waiting is one that ignored its request's context.
func (s *sim) closeWithin(t *testing.T, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.ts.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("handlers still running %v after the server closed", d)
	}
}

// post sends an update with token and reports the status, or the error of a call that got
// no answer (which the test may expect).
func (s *sim) post(ctx context.Context, token string, req sink.Request) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+UpdatePath, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("From", entryPoint)
	resp, err := s.client.Do(r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// waitFor waits until cond holds, failing the test after 10 s. It polls: the conditions are
// the simulator's counts, which offer nothing to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// renamed is a typical update of objectID that sets its name.
func renamed(objectID, name string) sink.Request {
	return with(objectID, func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: name} })
}

func (s *sim) advance(d time.Duration) { s.clock.Add(int64(d)) }

// call is one HTTP request to the simulator. body is a sink.Request, a string sent verbatim,
// or nil.
type call struct {
	method, path string
	token        string // "" sends no Authorization header
	noFrom       bool
	body         any
	header       http.Header
}

type answer struct {
	code   int
	header http.Header
	raw    []byte
	env    sink.Response
}

func (s *sim) do(t *testing.T, c call) answer {
	t.Helper()
	var body io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(c.method, s.url+c.path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if !c.noFrom {
		req.Header.Set("From", entryPoint)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	a := answer{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(c.path, "/activityid/") {
		if err := json.Unmarshal(raw, &a.env); err != nil {
			t.Fatalf("%d answer is not DRUID's envelope: %v: %s", resp.StatusCode, err, raw)
		}
		if a.env.Result.Status != resp.StatusCode {
			t.Fatalf("result.status %d, HTTP status %d", a.env.Result.Status, resp.StatusCode)
		}
	}
	return a
}

// update posts an update with the administrative token.
func (s *sim) update(t *testing.T, req sink.Request) answer {
	t.Helper()
	return s.do(t, call{method: http.MethodPost, path: UpdatePath, token: adminToken, body: req})
}

func (s *sim) token(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.client.PostForm(s.url+TokenPath, form)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func (s *sim) mustUser(t *testing.T, objectID string) Stored {
	t.Helper()
	return stored(t, s.Server, objectID)
}

// stored returns the user, failing the test when it does not exist.
func stored(t *testing.T, s *Server, objectID string) Stored {
	t.Helper()
	u, ok := s.User(objectID)
	if !ok {
		t.Fatalf("user %q does not exist", objectID)
	}
	return u
}

func ptr[T any](v T) *T { return &v }

// typical is a valid update of objectID carrying every part of a user, as the product sends it.
func typical(objectID string) sink.Request {
	return sink.Request{
		Actor: sink.Actor{ID: "app", ObjectType: sink.ObjectTypeApplication},
		Verb:  "update",
		Object: sink.User{
			ObjectType: sink.ObjectTypeUser,
			ObjectID:   objectID,
			IDs: map[string]sink.ID{
				"email":        {ObjectType: sink.ObjectTypeUserID, Value: objectID + "@example.com", Confirmed: ptr(true)},
				"phone_number": {ObjectType: sink.ObjectTypeUserID, Value: "+34600000000"},
			},
			Datas: map[string]sink.Data{
				"name":     {ObjectType: sink.ObjectTypeUserData, Value: "Ana"},
				"surname":  {ObjectType: sink.ObjectTypeUserData, Value: "García"},
				"birthday": {ObjectType: sink.ObjectTypeUserData, Value: "22/10/1974"},
				"country":  {ObjectType: sink.ObjectTypeUserData, Value: "ES"},
			},
			Addresses: &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: 2, Items: []sink.Address{
				{ObjectType: sink.ObjectTypeAddress, Type: "home", StreetAddress: "Gran Vía 1", Locality: "Madrid", PostalCode: "28013", Country: "ES"},
				{ObjectType: sink.ObjectTypeAddress, Type: "work", StreetAddress: "Alcalá 2", Locality: "Madrid", Country: "ES"},
			}},
			Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 2, Items: []sink.Assertion{
				{ObjectType: sink.ObjectTypeAssertion, Type: "optin", Typology: sink.TypologyUser, Value: false},
				{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: true},
			}},
		},
		Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
	}
}

// with returns a typical update of objectID changed by edit.
func with(objectID string, edit func(*sink.Request)) sink.Request {
	r := typical(objectID)
	edit(&r)
	return r
}

// seeded is the user a typical update of objectID leaves behind.
func seeded(objectID string) Seed {
	return Seed{User: typical(objectID).Object}
}

func fieldNames(errs []sink.FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Message)
	}
	return out
}
