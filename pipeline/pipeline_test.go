package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/checkpoint"
	"druid-migrate/druidsim"
	"druid-migrate/internal/logtest"
	"druid-migrate/internal/sample"
	"druid-migrate/mapping"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
	"druid-migrate/source"
)

const token = "pipeline-test-token"

// fixture is a sample export, the simulator seeded with its users, a client and an SQLite
// checkpoint: the real pieces a run is made of.
type fixture struct {
	sim    *druidsim.Server
	csv    []byte
	client *sink.Client
	store  checkpoint.Store
}

func newFixture(t *testing.T, users int, simCfg druidsim.Config, concurrency int) *fixture {
	t.Helper()
	simCfg.Tokens = []string{token}
	sim := druidsim.New(simCfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	var csvBuf, seeds bytes.Buffer
	_, err := sample.Write(&csvBuf, &seeds, sample.Options{Users: users})
	require.NoError(t, err)
	require.NoError(t, sim.LoadUsers(&seeds))
	client, err := sink.New(sink.Config{
		Endpoint: srv.URL, EntryPoint: "231705665113870-main", Token: token,
		Concurrency: concurrency, Retries: 2, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	store, err := checkpoint.Open(context.Background(), filepath.Join(t.TempDir(), "cp.db"), checkpoint.Options{})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(context.Background()))
	t.Cleanup(func() { store.Close() })
	return &fixture{sim: sim, csv: csvBuf.Bytes(), client: client, store: store}
}

func (f *fixture) source(t *testing.T) (*source.CSV, *mapping.Mapper) {
	t.Helper()
	src, err := source.NewCSV(bytes.NewReader(f.csv), "users.csv", ',')
	require.NoError(t, err)
	m, err := mapping.Compile(nil, src.Columns(), mapping.Options{AppID: "app"})
	require.NoError(t, err)
	return src, m
}

// countingStore is the real checkpoint, watched: it counts the rows each write made durable and
// the sizes of the groups.
type countingStore struct {
	pipeline.Store
	written  atomic.Int64
	mu       sync.Mutex
	groups   []int
	slowdown time.Duration
}

func (s *countingStore) Write(ctx context.Context, rows []checkpoint.Row) error {
	if s.slowdown > 0 {
		time.Sleep(s.slowdown) // a slow disk: lets outcomes pile up behind the write
	}
	err := s.Store.Write(ctx, rows)
	if err == nil {
		s.written.Add(int64(len(rows)))
		s.mu.Lock()
		s.groups = append(s.groups, len(rows))
		s.mu.Unlock()
	}
	return err
}

// countingSender is the real client, watched: it tracks how many answers are not yet durable.
type countingSender struct {
	pipeline.Sender
	store      *countingStore
	answered   atomic.Int64
	maxPending atomic.Int64
}

func (s *countingSender) Send(ctx context.Context, p *sink.Payload) sink.SendResult {
	// A worker sends while its previous answer may wait for its flush, never two: the answers
	// not yet durable are at most two per worker.
	pending := s.answered.Load() - s.store.written.Load()
	for {
		m := s.maxPending.Load()
		if pending <= m || s.maxPending.CompareAndSwap(m, pending) {
			break
		}
	}
	res := s.Sender.Send(ctx, p)
	s.answered.Add(1)
	return res
}

// TestOutcomesAreDurableBeforeTheyCountAndWritesAreGrouped: a worker takes its next user while
// its previous outcome waits for the flush, never two (SPEC §4), no outcome is reported done
// before it is durable, and the writes are grouped.
func TestOutcomesAreDurableBeforeTheyCountAndWritesAreGrouped(t *testing.T) {
	const users, workers = 2000, 8
	f := newFixture(t, users, druidsim.Config{}, workers)
	store := &countingStore{Store: f.store, slowdown: 2 * time.Millisecond}
	sender := &countingSender{Sender: f.client, store: store}
	src, m := f.source(t)
	live := &pipeline.Live{}

	// Watch, while the run goes, that what it reports done is never more than what is durable.
	stop := make(chan struct{})
	var early atomic.Int64
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			reported := live.Counts().Updated // read before what is durable: both only grow
			if durable := store.written.Load(); reported > durable {
				early.Store(reported - durable)
			}
			time.Sleep(20 * time.Microsecond) // sampling, not waiting for anything
		}
	}()
	sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: workers,
		Live: live, Log: zerolog.Nop()}, src, m, store, sender)
	close(stop)
	<-watched
	require.NoError(t, err)
	require.EqualValues(t, users, sum.Updated)
	require.EqualValues(t, users, store.written.Load())
	require.Zero(t, early.Load(), "an outcome was reported done before it was durable")
	require.LessOrEqual(t, sender.maxPending.Load(), int64(2*workers), "answers not yet durable never exceed two per worker")
	require.Greater(t, sender.maxPending.Load(), int64(workers), "workers do not wait for their outcome's flush")
	maxGroup := 0
	for _, g := range store.groups {
		maxGroup = max(maxGroup, g)
	}
	require.Greater(t, maxGroup, 1, "a write carries the outcomes that arrived while the previous one was written")
	require.Less(t, len(store.groups), users, "writes are grouped")
}

func TestSkipRule(t *testing.T) {
	const users = 300
	f := newFixture(t, users, druidsim.Config{}, 4)
	ctx := context.Background()
	run := func(force bool) pipeline.Summary {
		src, m := f.source(t)
		sum, err := pipeline.Run(ctx, pipeline.Config{Job: "j", RunID: 1, Concurrency: 4, Force: force, Log: zerolog.Nop()},
			src, m, f.store, f.client)
		require.NoError(t, err)
		return sum
	}
	sum := run(false)
	require.EqualValues(t, users, sum.Updated)

	// A user whose last call failed is sent again; one rejected for the same payload is not.
	require.NoError(t, f.store.Write(ctx, []checkpoint.Row{
		{Job: "j", Key: sample.Key(1), Outcome: "failed", StatusCode: 503, PayloadHash: priorHash(t, f, sample.Key(1))},
		{Job: "j", Key: sample.Key(2), Outcome: "rejected", StatusCode: 404, PayloadHash: priorHash(t, f, sample.Key(2))},
		{Job: "j", Key: sample.Key(3), Outcome: "updated", StatusCode: 200, PayloadHash: "another payload"},
	}))
	f.sim.Reset()
	sum = run(false)
	require.EqualValues(t, 2, f.sim.Stats().Total, "the failed user and the changed payload are sent")
	require.EqualValues(t, users-2, sum.Skipped)
	require.EqualValues(t, 1, sum.StillRejected)
	require.True(t, sum.Troubled(), "a user still rejected keeps the job red")

	f.sim.Reset()
	sum = run(true)
	require.EqualValues(t, users, f.sim.Stats().Total, "--force sends everyone")
	require.EqualValues(t, 0, sum.Skipped)
}

// lookingStore is the real checkpoint, watched: it counts the keys looked up.
type lookingStore struct {
	pipeline.Store
	looked atomic.Int64
}

func (s *lookingStore) Prior(ctx context.Context, job string, keys []string) (map[string]checkpoint.Prior, error) {
	s.looked.Add(int64(len(keys)))
	return s.Store.Prior(ctx, job, keys)
}

// TestANewJobMakesNoLookUp: the run of a job the checkpoint holds no row of has nothing to skip,
// so it spares the checkpoint a look-up per user; a run of a job with rows looks every user up.
func TestANewJobMakesNoLookUp(t *testing.T) {
	const users = 300
	f := newFixture(t, users, druidsim.Config{}, 4)
	store := &lookingStore{Store: f.store}
	run := func(newJob bool) pipeline.Summary {
		src, m := f.source(t)
		sum, err := pipeline.Run(context.Background(), pipeline.Config{Job: "j", RunID: 1, Concurrency: 4,
			NewJob: newJob, Log: zerolog.Nop()}, src, m, store, f.client)
		require.NoError(t, err)
		return sum
	}
	sum := run(true)
	require.EqualValues(t, users, sum.Updated)
	require.Zero(t, store.looked.Load())

	f.sim.Reset()
	sum = run(false)
	require.EqualValues(t, users, sum.Skipped)
	require.Zero(t, f.sim.Stats().Total)
	require.EqualValues(t, users, store.looked.Load())
}

func priorHash(t *testing.T, f *fixture, key string) string {
	t.Helper()
	prior, err := f.store.Prior(context.Background(), "j", []string{key})
	require.NoError(t, err)
	return prior[key].PayloadHash
}

func TestInterruptWritesEveryAnswer(t *testing.T) {
	const users, workers = 3000, 8
	f := newFixture(t, users, druidsim.Config{Latency: 5 * time.Millisecond}, workers)
	src, m := f.source(t)
	ctx, cancel := context.WithCancel(context.Background())
	sender := &cancelAfter{Sender: f.client, after: 200, cancel: cancel}

	sum, err := pipeline.Run(ctx, pipeline.Config{Job: "j", RunID: 1, Concurrency: workers, Log: zerolog.Nop()},
		src, m, f.store, sender)
	require.NoError(t, err)
	require.True(t, sum.Interrupted)
	require.Less(t, sum.Updated, int64(users), "the run stopped early")

	// Every user DRUID applied is in the checkpoint as updated.
	applied := 0
	for _, u := range f.sim.Users() {
		if u.Updates == 0 {
			continue
		}
		applied++
		key := "crm-" + u.User.ObjectID[len("druid-"):]
		prior, err := f.store.Prior(context.Background(), "j", []string{key})
		require.NoError(t, err)
		require.Equal(t, "updated", prior[key].Outcome, key)
	}
	require.EqualValues(t, applied, sum.Updated)
	require.LessOrEqual(t, applied, 200+workers, "no record is taken after the interrupt beyond those in flight")
}

// cancelAfter interrupts the run once it has made a number of calls.
type cancelAfter struct {
	pipeline.Sender
	after  int64
	calls  atomic.Int64
	cancel context.CancelFunc
}

func (s *cancelAfter) Send(ctx context.Context, p *sink.Payload) sink.SendResult {
	if s.calls.Add(1) == s.after {
		s.cancel()
	}
	return s.Sender.Send(ctx, p)
}

func TestHashHidesThePasswordButChangesWithIt(t *testing.T) {
	h := pipeline.NewHasher("job", nil)
	p := func(pw string) *sink.Payload {
		req := sink.Request{Verb: "update", Object: sink.User{ObjectType: "user", ObjectID: "d1", Password: pw}}
		body := []byte(`{"object":{"password":"` + pw + `"}}`)
		return &sink.Payload{Key: "k1", Request: req, Body: body}
	}
	a, err := h.Hash(p("Secret-One"))
	require.NoError(t, err)
	b, err := h.Hash(p("Secret-Two"))
	require.NoError(t, err)
	again, err := h.Hash(p("Secret-One"))
	require.NoError(t, err)
	require.NotEqual(t, a, b, "a changed password is sent again")
	require.Equal(t, a, again, "the same payload hashes the same")
	other, err := pipeline.NewHasher("other-job", nil).Hash(p("Secret-One"))
	require.NoError(t, err)
	require.NotEqual(t, a, other, "hashes are keyed by job")
	require.Len(t, a, 64)
}

// BenchmarkRecordPath measures the per-record work of a run before any call: mapping, payload
// JSON and the payload hash.
func BenchmarkRecordPath(b *testing.B) {
	m, err := mapping.Compile(nil, sample.Header, mapping.Options{AppID: "app"})
	require.NoError(b, err)
	h := pipeline.NewHasher("bench", nil)
	recs := make([]source.Record, 1024)
	for i := range recs {
		recs[i] = source.Record{Line: i + 2, Values: sample.Row(i+1, "")}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := m.Build(recs[i%len(recs)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Hash(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestProgressIsLoggedAsJSONWithoutATerminal(t *testing.T) {
	f := newFixture(t, 200, druidsim.Config{Latency: 2 * time.Millisecond}, 2)
	src, m := f.source(t)
	var logs logtest.Buffer
	_, err := pipeline.Run(context.Background(), pipeline.Config{
		Job: "j", RunID: 1, Concurrency: 2, ProgressEvery: 20 * time.Millisecond, Log: zerolog.New(&logs),
	}, src, m, f.store, f.client)
	require.NoError(t, err)
	var last map[string]any
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(line, &ev))
		if ev["message"] == "progress" {
			n++
			last = ev
		}
	}
	require.Positive(t, n, "a progress line is logged every ProgressEvery")
	require.Contains(t, last, "users_per_second")
	require.Contains(t, last, "updated")
}

func TestProgressLineOnATerminal(t *testing.T) {
	f := newFixture(t, 200, druidsim.Config{Latency: 2 * time.Millisecond}, 2)
	src, m := f.source(t)
	var term logtest.Buffer
	_, err := pipeline.Run(context.Background(), pipeline.Config{
		Job: "j", RunID: 1, Concurrency: 2, Progress: &term, Total: 200, ProgressEvery: 20 * time.Millisecond, Log: zerolog.Nop(),
	}, src, m, f.store, f.client)
	require.NoError(t, err)
	out := term.String()
	require.Contains(t, out, "/200 users")
	require.Contains(t, out, "updated ")
	require.True(t, strings.HasSuffix(out, "\r\033[K"), "the line is cleared before the summary")
}
