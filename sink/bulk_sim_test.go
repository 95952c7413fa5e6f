package sink_test

// These tests send batches through a Bulk to the simulator, over real HTTP: the line encoder,
// the client and the simulator's Bulk API hold the same assumptions of SPEC §2.3.

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"druid-migrate/druidsim"
	"druid-migrate/sink"
)

// bulkSimConfig is a simulator that takes the tests' static token and client credentials.
func bulkSimConfig() druidsim.Config {
	return druidsim.Config{Tokens: []string{simToken}, ClientID: simClientID, ClientSecret: simClientSecret}
}

// newSimBulk serves sim and returns a Client of it with a static token and a Bulk of the Client
// with the client credentials, logging at debug. When the test ends, it checks that no log
// line carries a secret.
func newSimBulk(t *testing.T, sim *druidsim.Server, edit func(*sink.BulkConfig)) (*sink.Bulk, *sink.Client) {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	log, _ := sink.DebugLog(t)
	c := sink.MustNew(t, sink.Config{Endpoint: srv.URL, EntryPoint: simEntryPoint, Token: simToken, Log: log}, nil, sink.New)
	cfg := sink.BulkConfig{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: simClientSecret,
		Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: log,
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := c.Bulk(cfg)
	require.NoError(t, err)
	return b, c
}

// batchOf joins the lines of payloads into the body of one upload.
func batchOf(payloads ...*sink.Payload) []byte {
	var body []byte
	for i, p := range payloads {
		if i > 0 {
			body = append(body, '\n')
		}
		body = sink.AppendBulkLine(body, p)
	}
	return body
}

// partial is the payload of objectID carrying only the datas given as name, value pairs.
func partial(objectID string, datas ...string) *sink.Payload {
	u := sink.User{ObjectType: sink.ObjectTypeUser, ObjectID: objectID, Datas: map[string]sink.Data{}}
	for i := 0; i+1 < len(datas); i += 2 {
		u.Datas[datas[i]] = sink.Data{ObjectType: sink.ObjectTypeUserData, Value: datas[i+1]}
	}
	return &sink.Payload{Key: "crm-" + objectID, ObjectID: objectID, Request: sink.Request{Object: u}}
}

// waitDone polls the batch's status until it is done, and returns it.
func waitDone(t *testing.T, b *sink.Bulk, bulkID string) sink.BulkState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		state, err := b.Status(context.Background(), bulkID)
		require.NoError(t, err)
		if state.Done() {
			return state
		}
		require.True(t, time.Now().Before(deadline), "the batch never ended: %s", state)
		<-tick.C
	}
}

func TestBulkAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(bulkSimConfig())
	for i := range 6 {
		u := seededUser()
		u.ObjectID = fmt.Sprintf("u-%d", i)
		seed := druidsim.Seed{User: u}
		if i == 4 {
			seed.Flags = []string{druidsim.FlagBlocked}
		}
		require.NoError(t, sim.Seed(seed))
	}
	b, _ := newSimBulk(t, sim, nil)

	badEmail := partial("u-2", "name", "Eve")
	badEmail.Request.Object.IDs = map[string]sink.ID{"email": {ObjectType: sink.ObjectTypeUserID, Value: "not-an-email"}}
	emptied := partial("u-3", "name", "Eve")
	emptied.Empty = []string{"datas.surname", "ids.phone_number"}
	body := batchOf(partial("u-0", "name", "Eve"), partial("u-1", "name", "Eve"), badEmail, emptied,
		partial("u-4", "name", "Eve"), partial("u-5", "name", "Eve"), partial("nobody", "name", "Eve"))

	id, err := b.Upload(context.Background(), body)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.Equal(t, sink.BulkCompleted, waitDone(t, b, id))

	got := map[string]sink.BulkFailure{}
	require.NoError(t, b.Failures(context.Background(), id, 2, func(f sink.BulkFailure) error {
		got[f.ObjectID] = f
		return nil
	}))
	require.Equal(t, map[string]sink.BulkFailure{
		"u-2":    {ObjectID: "u-2", Status: 416, Errors: []sink.FieldError{{Message: "email", Details: "not a valid email address"}}},
		"u-4":    {ObjectID: "u-4", Status: 403, Errors: []sink.FieldError{{Message: "user", Details: "the user is blocked"}}},
		"nobody": {ObjectID: "nobody", Status: 404, Errors: []sink.FieldError{{Message: "object_id", Details: "user not found"}}},
	}, got)
	require.Equal(t, sink.BulkStats{Uploads: 1, Statuses: b.Stats().Statuses, Pages: 2}, b.Stats(), "3 failures by pages of 2")

	for _, objectID := range []string{"u-0", "u-1", "u-5"} {
		u, _ := sim.User(objectID)
		require.Equal(t, "Eve", u.User.Datas["name"].Value, objectID)
		require.Equal(t, "García", u.User.Datas["surname"].Value, "%s: absent from the line, kept", objectID)
		require.Equal(t, seededUser().Addresses, u.User.Addresses, "%s: absent from the line, kept", objectID)
		require.Equal(t, 1, u.Updates, objectID)
	}
	u2, _ := sim.User("u-2")
	require.Equal(t, "Ana", u2.User.Datas["name"].Value, "a line is applied whole or not at all")
	u3, _ := sim.User("u-3")
	require.NotContains(t, u3.User.Datas, "surname", "explicitly emptied: removed")
	require.NotContains(t, u3.User.IDs, "phone_number")
	require.Contains(t, u3.User.IDs, "email", "absent from the line, kept")

	st := sim.Stats()
	require.EqualValues(t, 1, st.BulkUploads)
	require.EqualValues(t, 7, st.BulkLines)
	require.EqualValues(t, 3, st.BulkLinesFailed)
	require.EqualValues(t, 1, st.ClientGrants, "one client token for every call")
}

// TestBulkKeepsWhatTheUpdateRemoves shows the difference between the two sinks on the same
// source data: a field the source lacks is kept by a bulk line, removed by the update's full
// replacement.
func TestBulkKeepsWhatTheUpdateRemoves(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(bulkSimConfig())
	for _, id := range []string{"by-bulk", "by-update"} {
		u := seededUser()
		u.ObjectID = id
		require.NoError(t, sim.Seed(druidsim.Seed{User: u}))
	}
	b, c := newSimBulk(t, sim, func(cfg *sink.BulkConfig) { cfg.Retries = 0 })

	// The source knows the user's email, name and terms: not the surname, the birthday or the
	// addresses DRUID holds.
	source := func(objectID string) *sink.Payload {
		p := partial(objectID, "name", "Ana")
		p.Request = sink.Request{
			Actor: sink.Actor{ID: "app", ObjectType: sink.ObjectTypeApplication}, Verb: "update",
			Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
			Object: p.Request.Object,
		}
		p.Request.Object.IDs = map[string]sink.ID{"email": {ObjectType: sink.ObjectTypeUserID, Value: "ana@example.com"}}
		p.Request.Object.Assertions = &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 1,
			Items: []sink.Assertion{{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: true}}}
		p.Body = sink.AppendRequest(nil, &p.Request)
		return p
	}
	require.Equal(t, sink.Updated, c.Send(context.Background(), source("by-update")).Outcome)
	id, err := b.Upload(context.Background(), batchOf(source("by-bulk")))
	require.NoError(t, err)
	require.Equal(t, sink.BulkCompleted, waitDone(t, b, id))

	byBulk, _ := sim.User("by-bulk")
	byUpdate, _ := sim.User("by-update")
	require.Equal(t, "García", byBulk.User.Datas["surname"].Value, "bulk: kept")
	require.NotContains(t, byUpdate.User.Datas, "surname", "update: removed")
	require.NotNil(t, byBulk.User.Addresses, "bulk: kept")
	require.Nil(t, byUpdate.User.Addresses, "update: removed")
	require.Len(t, byBulk.User.Assertions.Items, 2, "bulk: optin kept beside terms")
	require.Len(t, byUpdate.User.Assertions.Items, 1, "update: optin removed")
}

func TestBulkUnknownBatches(t *testing.T) {
	t.Parallel()
	cfg := bulkSimConfig()
	cfg.Autocreate, cfg.BulkDelay, cfg.BulkKeep = true, -1, 20*time.Millisecond
	sim := druidsim.New(cfg)
	b, _ := newSimBulk(t, sim, nil)

	_, err := b.Status(context.Background(), "never-uploaded")
	require.ErrorIs(t, err, sink.ErrBulkUnknown)
	err = b.Failures(context.Background(), "never-uploaded", 10, func(sink.BulkFailure) error { return nil })
	require.ErrorIs(t, err, sink.ErrBulkUnknown)

	id, err := b.Upload(context.Background(), batchOf(partial("u-1", "name", "Eve")))
	require.NoError(t, err)
	// Processed at upload, then forgotten once BulkKeep has passed.
	require.Eventually(t, func() bool {
		_, err := b.Status(context.Background(), id)
		return errors.Is(err, sink.ErrBulkUnknown)
	}, 10*time.Second, 5*time.Millisecond, "the results never expired")
	err = b.Failures(context.Background(), id, 10, func(sink.BulkFailure) error { return nil })
	require.ErrorIs(t, err, sink.ErrBulkUnknown)
}

func TestBulkRetriesAndSlowsDownAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	t.Run("faults", func(t *testing.T) {
		t.Parallel()
		cfg := bulkSimConfig()
		cfg.FailRate = 1
		sim := druidsim.New(cfg)
		b, _ := newSimBulk(t, sim, func(cfg *sink.BulkConfig) { cfg.Retries = 2 })
		_, err := b.Upload(context.Background(), batchOf(partial("u-1", "name", "Eve")))
		require.ErrorContains(t, err, "bulk upload of 1 lines: 50")
		require.True(t, sink.Retryable(err))
		st := sim.Stats()
		require.EqualValues(t, 3, st.Requests[500]+st.Requests[503], "the first try and 2 retries")
		require.Zero(t, st.BulkUploads)
	})
	t.Run("rate limit", func(t *testing.T) {
		t.Parallel()
		cfg := bulkSimConfig()
		cfg.RateLimit, cfg.BulkDelay, cfg.Autocreate = 1, -1, true
		sim := druidsim.New(cfg)
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		c := sink.MustNew(t, sink.Config{Endpoint: srv.URL, EntryPoint: simEntryPoint, Token: simToken,
			Limiter: rate.NewLimiter(100, 1)}, nil, sink.New)
		b, err := c.Bulk(sink.BulkConfig{Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID,
			ClientSecret: simClientSecret, Retries: 3, BackoffBase: time.Millisecond})
		require.NoError(t, err)
		for i := range 2 {
			_, err := b.Upload(context.Background(), batchOf(partial(fmt.Sprint("u-", i), "name", "Eve")))
			require.NoError(t, err, "the second upload waits for Retry-After and goes through")
		}
		require.EqualValues(t, 1, c.Stats().Throttled)
		require.EqualValues(t, 1, c.Stats().SlowDowns, "a 429 to an upload slows the whole job down")
		require.EqualValues(t, 2, sim.Stats().BulkUploads)
	})
}

// TestBulkWaitsOutDRUIDDown checks the outage rule of updates holds for bulk calls: while DRUID
// answers no one, the callers spend no retries, and past DownTimeout they stop with
// ErrUnreachable.
func TestBulkWaitsOutDRUIDDown(t *testing.T) {
	t.Parallel()
	cfg := bulkSimConfig()
	cfg.Autocreate, cfg.BulkDelay = true, -1
	sim := druidsim.New(cfg)
	b, _ := newSimBulk(t, sim, func(cfg *sink.BulkConfig) {
		cfg.Retries, cfg.DownTimeout, cfg.BackoffMax = 1000, 300*time.Millisecond, 20*time.Millisecond
	})
	id, err := b.Upload(context.Background(), batchOf(partial("u-1", "name", "Eve")))
	require.NoError(t, err)

	sim.SetDown(true)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.Status(context.Background(), id) })
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, sink.ErrUnreachable, "not the 1000 retries spent: the outage spent none")
		require.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("bulk %q: status: ", id)), err.Error())
	}

	sim.SetDown(false)
	state, err := b.Status(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, sink.BulkCompleted, state)
}
