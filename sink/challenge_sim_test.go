package sink_test

// These tests run the challenge-code flow against the DRUID simulator, over real HTTP. They
// live in package sink_test because druidsim imports sink.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"druid-migrate/druidsim"
	"druid-migrate/internal/logtest"
	"druid-migrate/sink"
)

const (
	simClientID     = "app-1"
	simClientSecret = "SECRET-sim-client-secret-SECRET"
	simEntryPoint   = "231705665113870-main"
)

// watch stands between the Client and the simulator and checks the challenge-code contract on
// every call: each update's code_verifier is fresh and S256-matches the challenge sent for the
// token it carries, and no token is sent twice.
type watch struct {
	sim http.Handler
	// failFirst answers 500 to the first update after the simulator handled it: DRUID
	// consumed the token, then the answer was lost.
	failFirst bool

	mu         sync.Mutex
	challenges map[string]string // access token → the code_challenge it was granted for
	verifiers  map[string]bool
	spent      map[string]bool // tokens an update carried
	grants     int
	updates    int
	problems   []string
}

func newWatch(sim http.Handler) *watch {
	return &watch{sim: sim, challenges: map[string]string{}, verifiers: map[string]bool{}, spent: map[string]bool{}}
}

func (w *watch) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case druidsim.TokenPath:
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		w.sim.ServeHTTP(rec, r)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &tok) == nil {
			w.mu.Lock()
			w.grants++
			w.challenges[tok.AccessToken] = form.Get("code_challenge")
			w.mu.Unlock()
		}
		copyResponse(rw, rec)
	case druidsim.UpdatePath:
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		verifier := r.URL.Query().Get("code_verifier")
		sum := sha256.Sum256([]byte(verifier))
		w.mu.Lock()
		w.updates++
		first := w.updates == 1
		switch challenge, ok := w.challenges[tok]; {
		case !ok:
			w.problems = append(w.problems, fmt.Sprintf("update %d: a token the token endpoint never granted", w.updates))
		case challenge != base64.RawURLEncoding.EncodeToString(sum[:]):
			w.problems = append(w.problems, fmt.Sprintf("update %d: the verifier does not match its token's challenge", w.updates))
		}
		if w.verifiers[verifier] {
			w.problems = append(w.problems, fmt.Sprintf("update %d: a verifier sent again", w.updates))
		}
		if w.spent[tok] {
			w.problems = append(w.problems, fmt.Sprintf("update %d: a token sent again", w.updates))
		}
		w.verifiers[verifier], w.spent[tok] = true, true
		w.mu.Unlock()
		rec := httptest.NewRecorder()
		w.sim.ServeHTTP(rec, r)
		if w.failFirst && first {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		copyResponse(rw, rec)
	default:
		w.sim.ServeHTTP(rw, r)
	}
}

// check fails the test with every breach of the contract seen, and returns the counts.
func (w *watch) check(t *testing.T) (grants, updates int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Empty(t, w.problems)
	return w.grants, w.updates
}

func copyResponse(rw http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	rw.Write(rec.Body.Bytes())
}

// newSimClient serves sim behind a watch and returns a Client of it with challenge codes.
func newSimClient(t *testing.T, sim *druidsim.Server, failFirst bool, edit func(*sink.Config)) (*sink.Client, *watch, *logtest.Buffer) {
	t.Helper()
	w := newWatch(sim)
	w.failFirst = failFirst
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	log, logs := sink.DebugLog(t)
	return sink.MustNew(t, sink.Config{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: simClientSecret,
		Concurrency: 8, Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: log,
	}, edit, sink.New), w, logs
}

// simPayload is an update of user objectID that the simulator accepts.
func simPayload(t *testing.T, objectID string) *sink.Payload {
	t.Helper()
	req := sink.Request{
		Actor: sink.Actor{ID: "app-1", ObjectType: sink.ObjectTypeApplication},
		Verb:  "update",
		Object: sink.User{
			ObjectType: sink.ObjectTypeUser,
			ObjectID:   objectID,
			Password:   "SECRET-password-SECRET",
			IDs:        map[string]sink.ID{"email": {ObjectType: sink.ObjectTypeUserID, Value: objectID + "@example.com"}},
			Datas:      map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: "Ana"}},
		},
		Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	return &sink.Payload{Key: "key-" + objectID, ObjectID: objectID, Request: req, Body: body}
}

func TestChallengeCodeAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	const users = 40
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret, Autocreate: true})
	c, w, _ := newSimClient(t, sim, false, func(cfg *sink.Config) { cfg.Limiter = rate.NewLimiter(1000, 8) })

	results := make([]sink.SendResult, users)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = c.Send(t.Context(), simPayload(t, fmt.Sprintf("u-%d", i))) })
	}
	wg.Wait()
	for i, res := range results {
		require.Equal(t, sink.SendResult{Outcome: sink.Updated, Code: 200, Attempts: 1}, res, "user %d", i)
	}
	grants, updates := w.check(t)
	require.Equal(t, users, grants)
	require.Equal(t, users, updates)
	st := c.Stats()
	require.Equal(t, int64(2*users), st.Requests, "token calls count as requests")
	require.Equal(t, int64(users), st.TokenRequests)
	for i := range users {
		u, ok := sim.User(fmt.Sprintf("u-%d", i))
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("u-%d@example.com", i), u.User.IDs["email"].Value)
	}
}

// TestChallengeCodeRetryUsesANewGrant: DRUID consumed the token, then the answer was a 500;
// the retry asks for a new token with a new verifier, and finds the update already applied.
func TestChallengeCodeRetryUsesANewGrant(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret, Autocreate: true})
	c, w, _ := newSimClient(t, sim, true, nil)
	res := c.Send(t.Context(), simPayload(t, "u-1"))
	require.Equal(t, sink.SendResult{Outcome: sink.Unchanged, Code: 304, Attempts: 2}, res)
	grants, updates := w.check(t)
	require.Equal(t, 2, grants)
	require.Equal(t, 2, updates)
}

func TestChallengeCodeWrongSecret(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: "the-real-secret", Autocreate: true})
	c, w, logs := newSimClient(t, sim, false, nil)
	res := c.Send(t.Context(), simPayload(t, "u-1"))
	require.Equal(t, sink.SendResult{
		Outcome: sink.Failed, Code: 401, Error: "token: 401 invalid_client (check --client-id/--client-secret)",
		Fault: &sink.RunFault{Flag: "--client-id/--client-secret", Cause: "the token endpoint refused the credentials (401 invalid_client)"},
	}, res)
	require.NotContains(t, res.Error, "SECRET")
	require.NotContains(t, logs.String(), "SECRET")
	grants, updates := w.check(t)
	require.Zero(t, grants)
	require.Zero(t, updates, "no update without a token")
	require.Equal(t, int64(1), c.Stats().TokenRequests, "a refused client is not retried")
}

func TestChallengeCodePerUserTokenWins(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret})
	require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectID: "u-1"}, Token: "SECRET-own-token-SECRET"}))
	c, _, _ := newSimClient(t, sim, false, func(cfg *sink.Config) { cfg.PerUserTokens = true })
	p := simPayload(t, "u-1")
	p.Token = "SECRET-own-token-SECRET"
	require.Equal(t, sink.SendResult{Outcome: sink.Updated, Code: 200, Attempts: 1}, c.Send(t.Context(), p))
	require.Zero(t, c.Stats().TokenRequests)
}
