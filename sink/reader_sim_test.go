package sink_test

// These tests read users back from the DRUID simulator, over real HTTP. They live in package
// sink_test because druidsim imports sink.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"druid-migrate/druidsim"
	"druid-migrate/internal/logtest"
	"druid-migrate/sink"
)

// newSimReader serves sim and returns a Reader of it with the client credentials, logging at
// debug. When the test ends, it checks that no log line carries a secret.
func newSimReader(t *testing.T, sim *druidsim.Server, edit func(*sink.ReaderConfig)) *sink.Reader {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	log, _ := sink.DebugLog(t)
	return sink.MustNew(t, sink.ReaderConfig{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: simClientSecret,
		Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: log,
	}, edit, sink.NewReader)
}

// seededUser is a user with every part a read returns, and a password it must not.
func seededUser() sink.User {
	yes, no := true, false
	return sink.User{
		ObjectType: sink.ObjectTypeUser,
		ObjectID:   "0123456789abcdef",
		Password:   "SECRET-password-SECRET",
		IDs: map[string]sink.ID{
			"email":        {ObjectType: sink.ObjectTypeUserID, Value: "ana@example.com", Confirmed: &yes},
			"phone_number": {ObjectType: sink.ObjectTypeUserID, Value: "+34600000000", Confirmed: &no},
			"screen_name":  {ObjectType: sink.ObjectTypeUserID, Value: "ana"},
		},
		Datas: map[string]sink.Data{
			"name":     {ObjectType: sink.ObjectTypeUserData, Value: "Ana"},
			"surname":  {ObjectType: sink.ObjectTypeUserData, Value: "García"},
			"birthday": {ObjectType: sink.ObjectTypeUserData, Value: "22/10/1974"},
		},
		Addresses: &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: 2, Items: []sink.Address{
			{ObjectType: sink.ObjectTypeAddress, Type: "home", StreetAddress: "Gran Vía 1", Locality: "Madrid",
				Region: "M", PostalCode: "28013", Country: "ES"},
			{ObjectType: sink.ObjectTypeAddress, Type: "work", Locality: "Bilbao", Country: "ES"},
		}},
		Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 2, Items: []sink.Assertion{
			{ObjectType: sink.ObjectTypeAssertion, Type: "optin", Typology: sink.TypologyUser, Value: false},
			{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: true},
		}},
	}
}

func TestReaderAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret})
	seed := seededUser()
	require.NoError(t, sim.Seed(druidsim.Seed{User: seed}))
	r := newSimReader(t, sim, nil)

	got, found, err := r.Get(context.Background(), seed.ObjectID)
	require.NoError(t, err)
	require.True(t, found)
	want := seed
	want.Password = ""
	require.Equal(t, &want, got, "read back exactly, without the password")
	stored, _ := sim.User(seed.ObjectID)
	stored.User.Password = ""
	require.Equal(t, stored.User, *got)

	got, found, err = r.Get(context.Background(), "no-such-user")
	require.NoError(t, err, "an unknown user is an answer, not an error")
	require.False(t, found)
	require.Nil(t, got)

	st := sim.Stats()
	require.EqualValues(t, 1, st.ClientGrants)
	require.Equal(t, map[int]int64{200: 2, 404: 1}, st.Requests, "the token call, then the two reads")
}

func TestReaderSharesOneTokenAcrossConcurrentReads(t *testing.T) {
	t.Parallel()
	const reads = 100
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret})
	for i := range reads {
		require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectID: fmt.Sprintf("u-%03d", i)}}))
	}
	r := newSimReader(t, sim, func(cfg *sink.ReaderConfig) {
		cfg.Concurrency = 16
		cfg.Limiter = rate.NewLimiter(rate.Inf, 0)
	})

	var wg sync.WaitGroup
	errs := make([]error, reads)
	for i := range reads {
		wg.Go(func() {
			u, found, err := r.Get(context.Background(), fmt.Sprintf("u-%03d", i))
			switch {
			case err != nil:
				errs[i] = err
			case !found || u.ObjectID != fmt.Sprintf("u-%03d", i):
				errs[i] = fmt.Errorf("read %d: found %v, %+v", i, found, u)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	st := sim.Stats()
	require.EqualValues(t, 1, st.ClientGrants, "one token for every read")
	require.EqualValues(t, reads+1, st.Requests[200])
}

func TestReaderWrongSecretAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret})
	require.NoError(t, sim.Seed(druidsim.Seed{User: seededUser()}))
	const wrong = "SECRET-wrong-secret-SECRET"
	r := newSimReader(t, sim, func(cfg *sink.ReaderConfig) { cfg.ClientSecret = wrong })

	_, found, err := r.Get(context.Background(), seededUser().ObjectID)
	require.False(t, found)
	require.ErrorContains(t, err, "--client-secret")
	require.NotContains(t, err.Error(), "SECRET")
	require.False(t, sink.Retryable(err), "a wrong secret stays wrong")
	require.Zero(t, sim.Stats().ClientGrants)
}

// A Reader made from the Client reads back what the Client's update left, over the Client's
// connections and limiter.
func TestClientReaderReadsWhatTheClientUpdated(t *testing.T) {
	t.Parallel()
	const adminToken = "SECRET-admin-token-SECRET"
	sim := druidsim.New(druidsim.Config{
		Tokens: []string{adminToken}, ClientID: simClientID, ClientSecret: simClientSecret, Autocreate: true,
	})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	logs := &logtest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	c, err := sink.New(sink.Config{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, Token: adminToken, Limiter: rate.NewLimiter(1000, 4), Log: log,
	})
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Reader(sink.ReaderConfig{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: simClientSecret, Log: log,
	})
	require.NoError(t, err)
	defer r.Close()

	p := simPayload(t, "u-7")
	require.Equal(t, sink.Updated, c.Send(context.Background(), p).Outcome)
	u, found, err := r.Get(context.Background(), "u-7")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, p.Request.Object.IDs, u.IDs)
	require.Equal(t, p.Request.Object.Datas, u.Datas)
	require.Empty(t, u.Password, "DRUID keeps the password it was sent, and never returns it")
	stored, _ := sim.User("u-7")
	require.Equal(t, p.Request.Object.Password, stored.User.Password)
	require.NotContains(t, logs.String(), "SECRET", "a secret reached the log")
}

// Reading users before a diff or a backup: one token serves every read, and an unknown user is
// no error.
func ExampleReader_Get() {
	sim := druidsim.New(druidsim.Config{ClientID: "app-1", ClientSecret: "s3cret"})
	_ = sim.Seed(druidsim.Seed{User: sink.User{
		ObjectID: "u1",
		Datas:    map[string]sink.Data{"name": {Value: "Ana"}},
	}})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	r, err := sink.NewReader(sink.ReaderConfig{
		Endpoint: srv.URL, EntryPoint: "231705665113870-main", ClientID: "app-1", ClientSecret: "s3cret",
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for _, id := range []string{"u1", "u2"} {
		u, found, err := r.Get(context.Background(), id)
		switch {
		case err != nil:
			fmt.Println(err)
		case !found:
			fmt.Println(id, "not found")
		default:
			fmt.Println(id, u.Datas["name"].Value)
		}
	}
	fmt.Println("token calls:", sim.Stats().ClientGrants)
	// Output:
	// u1 Ana
	// u2 not found
	// token calls: 1
}
