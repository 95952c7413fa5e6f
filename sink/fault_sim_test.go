package sink_test

// These tests point a Client at the simulator, or at nothing, as an operator with a wrong flag
// would, and check the RunFault each case gives: the flag it names, and never a secret.

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/sink"
)

const (
	simToken    = "SECRET-sim-token-SECRET"
	wrongToken  = "SECRET-wrong-token-SECRET"
	wrongSecret = "SECRET-wrong-secret-SECRET"
)

// counted serves h and counts the requests that reach it.
func counted(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// refusedURL is the URL of a port nobody listens on: a listener taken and closed.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// newFaultClient returns a Client of endpoint with a static token, quick backoffs and 5
// retries, as edit changes it.
func newFaultClient(t *testing.T, endpoint string, edit func(*sink.Config)) *sink.Client {
	t.Helper()
	log, _ := sink.DebugLog(t)
	return sink.MustNew(t, sink.Config{
		Endpoint: endpoint, EntryPoint: simEntryPoint, Token: simToken, Retries: 5,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 10 * time.Second, Log: log,
	}, edit, sink.New)
}

// requireFault checks that res carries a RunFault naming flag, whose line holds cause and no
// secret.
func requireFault(t *testing.T, f *sink.RunFault, flag, cause string) {
	t.Helper()
	require.NotNil(t, f, "a fault of the run")
	require.Equal(t, flag, f.Flag)
	require.Contains(t, f.Error(), cause)
	require.Contains(t, f.Error(), "(check "+flag+")")
	require.NotContains(t, f.Error(), "SECRET")
	require.NotContains(t, f.Error(), "\n")
}

func TestProbeOfARefusedEndpoint(t *testing.T) {
	t.Parallel()
	url := refusedURL(t)
	c := newFaultClient(t, url, nil)
	res := c.Probe(t.Context(), simPayload(t, "u-1"))
	requireFault(t, res.Fault, "--endpoint", "connection refused by "+url)
	require.Equal(t, sink.Failed, res.Outcome)
	require.Equal(t, 2, res.Attempts, "one more try, not --retries more")
	require.Nil(t, res.Err)
}

func TestProbeOfAnUnknownHost(t *testing.T) {
	t.Parallel()
	const host = "nonexistent.invalid"
	if _, err := net.DefaultResolver.LookupHost(t.Context(), host); err == nil {
		t.Fatalf("%s resolves: the test needs a name that does not", host)
	} else if de, ok := errors.AsType[*net.DNSError](err); !ok || !de.IsNotFound {
		t.Skipf("no DNS server to say %s does not exist: %v", host, err)
	}
	c := newFaultClient(t, "http://"+host, nil)
	res := c.Probe(t.Context(), simPayload(t, "u-1"))
	requireFault(t, res.Fault, "--endpoint", "cannot resolve the host of http://"+host+": no such host")
	require.Equal(t, 2, res.Attempts)
}

func TestTLSToAPlainHTTPServerIsARunFault(t *testing.T) {
	t.Parallel()
	srv, requests := counted(t, druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true}))
	endpoint := "https://" + strings.TrimPrefix(srv.URL, "http://")
	c := newFaultClient(t, endpoint, nil)
	for _, send := range []func(*sink.Client) sink.SendResult{
		func(c *sink.Client) sink.SendResult { return c.Probe(t.Context(), simPayload(t, "u-1")) },
		func(c *sink.Client) sink.SendResult { return c.Send(t.Context(), simPayload(t, "u-1")) },
	} {
		res := send(c)
		requireFault(t, res.Fault, "--endpoint", endpoint+" answers plain HTTP, not TLS")
		require.Equal(t, 1, res.Attempts, "TLS failing is not retried")
	}
	require.Zero(t, requests.Load(), "no request was ever made over plain HTTP")
}

func TestAnUntrustedCertificateIsARunFault(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true}))
	t.Cleanup(srv.Close)
	c := newFaultClient(t, srv.URL, nil) // the test server's certificate is its own
	res := c.Probe(t.Context(), simPayload(t, "u-1"))
	requireFault(t, res.Fault, "--endpoint", "TLS with "+srv.URL+" failed: ")
	require.Equal(t, 1, res.Attempts)
}

func TestAWrongTokenIsARunFault(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true})
	srv, requests := counted(t, sim)

	t.Run("--token", func(t *testing.T) {
		c := newFaultClient(t, srv.URL, func(cfg *sink.Config) { cfg.Token = wrongToken })
		res := c.Probe(t.Context(), simPayload(t, "u-1"))
		requireFault(t, res.Fault, "--token", "DRUID refused the token (401)")
		require.Equal(t, 1, res.Attempts)
		require.Equal(t, 401, res.Code)
	})

	t.Run("--token-file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(path, []byte(wrongToken+"\n"), 0o600))
		c := newFaultClient(t, srv.URL, func(cfg *sink.Config) { cfg.Token, cfg.TokenFile = "", path })
		res := c.Probe(t.Context(), simPayload(t, "u-1"))
		requireFault(t, res.Fault, "--token-file", "DRUID refused the token (401), and reading the file again did not cure it")
		require.Equal(t, 1, res.Attempts, "the file held the same token: no second try")
	})

	t.Run("a record's own token is its user's", func(t *testing.T) {
		c := newFaultClient(t, srv.URL, nil)
		p := simPayload(t, "u-1")
		p.Token = wrongToken
		res := c.Send(t.Context(), p)
		require.Equal(t, sink.SendResult{Outcome: sink.Failed, Code: 401, Attempts: 1, Error: "401: token missing, invalid or expired"}, res)
	})
	require.Equal(t, int64(3), requests.Load(), "a handful of requests, not --retries of them")
}

func TestAWrongClientSecretIsARunFault(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret, Autocreate: true})
	srv, requests := counted(t, sim)
	log, _ := sink.DebugLog(t)
	cfg := sink.Config{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: wrongSecret,
		Retries: 5, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: log,
	}
	c := sink.MustNew(t, cfg, nil, sink.New)

	err := c.Preflight(t.Context())
	f, ok := errors.AsType[*sink.RunFault](err)
	require.True(t, ok, "%v", err)
	requireFault(t, f, "--client-id/--client-secret", "the token endpoint refused the credentials (401 invalid_client)")

	res := c.Probe(t.Context(), simPayload(t, "u-1"))
	requireFault(t, res.Fault, "--client-id/--client-secret", "the token endpoint refused the credentials")
	require.Zero(t, res.Attempts, "no update without a token")

	r := sink.MustNew(t, sink.ReaderConfig{
		Endpoint: srv.URL, EntryPoint: simEntryPoint, ClientID: simClientID, ClientSecret: wrongSecret,
		Retries: 5, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}, nil, sink.NewReader)
	err = r.Preflight(t.Context())
	f, ok = errors.AsType[*sink.RunFault](err)
	require.True(t, ok, "%v", err)
	requireFault(t, f, "--client-id/--client-secret", "the token endpoint refused the credentials (401 invalid_client)")
	require.Equal(t, int64(3), requests.Load(), "one token request each")
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{ClientID: simClientID, ClientSecret: simClientSecret})
	srv, _ := counted(t, sim)
	refused := refusedURL(t)
	newClient := func(t *testing.T, endpoint, auth string) *sink.Client {
		log, _ := sink.DebugLog(t)
		return sink.MustNew(t, sink.Config{
			Endpoint: endpoint, AuthEndpoint: auth, EntryPoint: simEntryPoint,
			ClientID: simClientID, ClientSecret: simClientSecret,
			Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: log,
		}, nil, sink.New)
	}

	t.Run("accepted", func(t *testing.T) {
		c := newClient(t, srv.URL, "")
		require.NoError(t, c.Preflight(t.Context()))
		require.Equal(t, sink.Stats{Requests: 1, TokenRequests: 1}, c.Stats())
	})
	t.Run("the endpoint refuses connections", func(t *testing.T) {
		err := newClient(t, refused, "").Preflight(t.Context())
		f, ok := errors.AsType[*sink.RunFault](err)
		require.True(t, ok, "%v", err)
		requireFault(t, f, "--endpoint", "connection refused by "+refused)
	})
	t.Run("the auth endpoint, set apart, refuses connections", func(t *testing.T) {
		err := newClient(t, srv.URL, refused).Preflight(t.Context())
		f, ok := errors.AsType[*sink.RunFault](err)
		require.True(t, ok, "%v", err)
		requireFault(t, f, "--auth-endpoint", "connection refused by "+refused)
	})
	t.Run("no token endpoint there", func(t *testing.T) {
		notFound, _ := counted(t, http.NotFoundHandler())
		err := newClient(t, srv.URL, notFound.URL).Preflight(t.Context())
		f, ok := errors.AsType[*sink.RunFault](err)
		require.True(t, ok, "%v", err)
		requireFault(t, f, "--auth-endpoint", "no token endpoint at "+notFound.URL)
	})
	t.Run("a token endpoint in trouble is no fault of the run", func(t *testing.T) {
		busy, requests := counted(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		err := newClient(t, srv.URL, busy.URL).Preflight(t.Context())
		require.Error(t, err)
		_, isFault := errors.AsType[*sink.RunFault](err)
		require.False(t, isFault, "%v", err)
		require.Contains(t, err.Error(), "preflight: token: 503")
		require.Equal(t, int64(4), requests.Load(), "tried --retries more times")
	})
	t.Run("a static token has nothing to prove before the first update", func(t *testing.T) {
		c := newFaultClient(t, refused, nil)
		require.NoError(t, c.Preflight(t.Context()))
		require.Zero(t, c.Stats().Requests)
	})
}

// TestEnvelopeRefusedIsARunFault has DRUID refuse the parts of the request every user shares:
// each 400 names the flag that sets the part, while a 400 about the user's data is the user's.
func TestEnvelopeRefusedIsARunFault(t *testing.T) {
	t.Parallel()
	sim := druidsim.New(druidsim.Config{Tokens: []string{simToken}, Autocreate: true})
	srv, _ := counted(t, sim)
	tests := []struct {
		name  string
		edit  func(*sink.Request)
		flag  string
		cause string
	}{
		{"no app id", func(r *sink.Request) { r.Actor.ID = "" }, "--app-id", "DRUID refused the request's actor.id: the app id is required"},
		{"actor's type", func(r *sink.Request) { r.Actor.ObjectType = "app" }, "--app-id", "DRUID refused the request's actor.objectType"},
		{"verb", func(r *sink.Request) { r.Verb = "create" }, "--verb", `DRUID refused the request's verb: must be "update"`},
		{"device", func(r *sink.Request) { r.Source.ID = "toaster" }, "--device", "DRUID refused the request's source.id"},
		{"object type", func(r *sink.Request) { r.Object.ObjectType = "person" }, "--endpoint", "DRUID refused the request's object.objectType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := simPayload(t, "u-1")
			tt.edit(&p.Request)
			p.Body = sink.AppendRequest(nil, &p.Request)
			res := newFaultClient(t, srv.URL, nil).Probe(t.Context(), p)
			require.Equal(t, sink.Rejected, res.Outcome)
			require.Equal(t, 400, res.Code)
			requireFault(t, res.Fault, tt.flag, tt.cause)
		})
	}

	t.Run("the From header", func(t *testing.T) {
		t.Parallel()
		// The Client always sends From: a proxy that drops it is what DRUID then refuses.
		dropFrom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("From")
			sim.ServeHTTP(w, r)
		})
		proxy, _ := counted(t, dropFrom)
		res := newFaultClient(t, proxy.URL, nil).Probe(t.Context(), simPayload(t, "u-1"))
		requireFault(t, res.Fault, "--entry-point", "DRUID refused the request's From: the entry point id is required")
	})

	t.Run("a user's own data", func(t *testing.T) {
		t.Parallel()
		bad := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"result":{"status":400,"errors":[{"message":"datas.name","details":"too long"}]}}`))
		})
		proxy, _ := counted(t, bad)
		res := newFaultClient(t, proxy.URL, nil).Send(t.Context(), simPayload(t, "u-1"))
		require.Equal(t, sink.Rejected, res.Outcome)
		require.Nil(t, res.Fault)
	})
}
