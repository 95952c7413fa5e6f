package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/checkpoint"
	"druid-migrate/mapping"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// The fakes below make a run of the pipeline alone: records of two columns (key, data), a
// checkpoint in memory and a sender that only records what it was given.

// sliceSource yields recs; Next fails with failWith at failAt (when set), and calls onNext
// before each record.
type sliceSource struct {
	recs     []source.Record
	failAt   int
	failWith error
	onNext   func(n int)
	nexts    atomic.Int64
}

func (s *sliceSource) Next(ctx context.Context) (source.Record, error) {
	if err := ctx.Err(); err != nil {
		return source.Record{}, err
	}
	n := int(s.nexts.Add(1)) - 1
	if s.onNext != nil {
		s.onNext(n)
	}
	if s.failWith != nil && n == s.failAt {
		return source.Record{}, s.failWith
	}
	if n >= len(s.recs) {
		return source.Record{}, io.EOF
	}
	return s.recs[n], nil
}

// keyBuilder maps a record: a malformed row, an empty key and data "bad" are invalid, as
// mapping.Mapper says.
type keyBuilder struct{}

func (keyBuilder) Build(rec source.Record) (*sink.Payload, error) {
	switch {
	case rec.Err != nil:
		return nil, &mapping.RecordError{Line: rec.Line, Reason: "malformed record: " + rec.Err.Error()}
	case rec.Values[0] == "":
		return nil, &mapping.RecordError{Line: rec.Line, Field: "key", Reason: "empty"}
	case rec.Values[1] == "bad":
		return nil, &mapping.RecordError{Line: rec.Line, Key: rec.Values[0], Field: "datas.x", Reason: `"bad" is bad`}
	}
	body := fmt.Sprintf(`{"key":%q,"data":%q}`, rec.Values[0], rec.Values[1])
	return &sink.Payload{Key: rec.Values[0], Line: rec.Line, Body: []byte(body)}, nil
}

// memStore is a checkpoint in memory.
type memStore struct {
	mu   sync.Mutex
	rows map[string]checkpoint.Row
}

func newMemStore() *memStore { return &memStore{rows: map[string]checkpoint.Row{}} }

func (m *memStore) Prior(_ context.Context, job string, keys []string) (map[string]checkpoint.Prior, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]checkpoint.Prior{}
	for _, k := range keys {
		if r, ok := m.rows[k]; ok {
			out[k] = checkpoint.Prior{Outcome: r.Outcome, PayloadHash: r.PayloadHash, StatusCode: r.StatusCode}
		}
	}
	return out, nil
}

func (m *memStore) Write(_ context.Context, rows []checkpoint.Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		m.rows[r.Key] = r
	}
	return nil
}

func (m *memStore) outcome(o string) map[string]checkpoint.Row {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]checkpoint.Row{}
	for k, r := range m.rows {
		if r.Outcome == o {
			out[k] = r
		}
	}
	return out
}

// recordingSender answers every user updated and remembers the line it was sent from; when gate
// is set, each call waits for it (or for the run's sending context).
type recordingSender struct {
	mu    sync.Mutex
	sent  map[string]int
	twice []string
	gate  chan struct{}
	calls atomic.Int64
}

func (s *recordingSender) Send(ctx context.Context, p *sink.Payload) sink.SendResult {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	if _, ok := s.sent[p.Key]; ok {
		s.twice = append(s.twice, p.Key)
	}
	s.sent[p.Key] = p.Line
	return sink.SendResult{Outcome: sink.Updated, Code: 200, Attempts: 1}
}

// randomRecords makes n records over keys distinct keys, with repeats, invalid, keyless and
// malformed rows; ordered sorts them by key, as an ordered source yields them.
func randomRecords(rng *rand.Rand, n, keys int, ordered bool) []source.Record {
	recs := make([]source.Record, n)
	for i := range recs {
		key := fmt.Sprintf("user-%05d", rng.IntN(keys))
		data := "ok"
		switch rng.IntN(40) {
		case 0:
			key = ""
		case 1:
			data = "bad"
		}
		recs[i] = source.Record{Values: []string{key, data}}
		if rng.IntN(60) == 0 {
			recs[i] = source.Record{Err: errors.New("broken quoting")}
		}
	}
	if ordered {
		slices.SortStableFunc(recs, func(a, b source.Record) int {
			return strings.Compare(strings.Join(a.Values, ","), strings.Join(b.Values, ","))
		})
	}
	line := 1
	for i := range recs {
		line += 1 + rng.IntN(2) // a row may span lines
		recs[i].Line = line
	}
	return recs
}

// sequentialOutcomes is what the run must do with recs, worked out record by record with a map
// of every key: the reference the staged producer and its constant-memory repeated-key rule are
// held to.
func sequentialOutcomes(recs []source.Record, cfg Config) (sent map[string]int, invalid map[string]string, read int64) {
	seen := map[string]int{} // key → line of its first record
	sent, invalid = map[string]int{}, map[string]string{}
	for _, rec := range recs {
		if cfg.Limit > 0 && read >= cfg.Limit {
			break
		}
		b := buildRecord(keyBuilder{}, seen, rec)
		if cfg.Select != nil && (strings.HasPrefix(b.key, KeylessPrefix) || !cfg.Select(b.key)) {
			continue
		}
		read++
		if b.invalid != "" {
			invalid[b.key] = b.invalid
		} else {
			sent[b.key] = b.line
		}
	}
	return sent, invalid, read
}

// buildRecord maps rec and decides at once, from seen, whether its key repeats an earlier one.
func buildRecord(b Builder, seen map[string]int, rec source.Record) built {
	m := mapRecord(b, rec)
	if m.key == "" {
		return m.decide(0, false)
	}
	if first, ok := seen[m.key]; ok {
		return m.decide(first, true)
	}
	seen[m.key] = m.line
	return m.decide(0, false)
}

// requireProducerStopped fails when a goroutine of the producer outlived its run.
func requireProducerStopped(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"(*run).read(", "(*run).buildChunks(", "(*run).sequence(", "(*run).produce("} {
		require.NotContains(t, stacks, "pipeline."+fn, "a goroutine of the producer is still running")
	}
}

// requireNoSpill fails when dir, the run's TMPDIR, holds a file.
func requireNoSpill(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "the spill file is removed")
}

// forRandomSources calls check with n random sources, one in three ordered by key, and every
// other one read with a filter so small that nearly every key is a candidate of the
// repeated-key rule, the first records of keys included; after each, the spill file must be gone.
func forRandomSources(t *testing.T, n int, seed uint64, check func(name string, rng *rand.Rand, recs []source.Record, ordered bool)) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	defer func(size int) { keyFilterSize = size }(keyFilterSize)
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), seed))
		ordered := i%3 == 2
		keyFilterSize = keyFilterBytes
		if i%2 == 1 {
			keyFilterSize = 64
		}
		recs := randomRecords(rng, 3000+rng.IntN(6000), 200+rng.IntN(4000), ordered)
		check(fmt.Sprintf("case %d (ordered %v, filter %d)", i, ordered, keyFilterSize), rng, recs, ordered)
		requireNoSpill(t, dir)
	}
}

func TestStagedProducerDecidesAsTheSequentialOne(t *testing.T) {
	forRandomSources(t, 24, 3, func(name string, rng *rand.Rand, recs []source.Record, ordered bool) {
		cfg := Config{Job: "j", RunID: 1, Concurrency: 1 + rng.IntN(8), LookupBatch: 1 + rng.IntN(700),
			OrderedKeys: ordered, Log: zerolog.Nop()}
		if rng.IntN(2) == 0 {
			cfg.Limit = int64(1 + rng.IntN(len(recs)))
		}
		if rng.IntN(3) == 0 {
			cfg.Select = func(key string) bool { return key < "user-02" }
		}
		wantSent, wantInvalid, wantRead := sequentialOutcomes(recs, cfg)

		store, sender := newMemStore(), &recordingSender{}
		sum, err := Run(context.Background(), cfg, &sliceSource{recs: recs}, keyBuilder{}, store, sender)
		require.NoError(t, err)
		name = fmt.Sprintf("%s, limit %d, select %v", name, cfg.Limit, cfg.Select != nil)
		require.Empty(t, sender.twice, name)
		require.Equal(t, wantSent, sender.sent, "%s: every first record of a key is sent, once", name)
		got := map[string]string{}
		for k, r := range store.outcome("invalid") {
			got[k] = r.Error
		}
		require.Equal(t, wantInvalid, got, "%s: the invalid records, their keys and messages", name)
		require.Equal(t, wantRead, sum.Read, name)
		require.EqualValues(t, len(wantSent), sum.Updated, name)
		require.EqualValues(t, len(wantInvalid), sum.Invalid, name)
		requireProducerStopped(t)
	})
}

func TestSkippedUsersAreNotSentAgain(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(1, 1)), 5000, 3000, false)
	store := newMemStore()
	cfg := Config{Job: "j", RunID: 1, Concurrency: 4, Log: zerolog.Nop()}
	first := &recordingSender{}
	sum, err := Run(context.Background(), cfg, &sliceSource{recs: recs}, keyBuilder{}, store, first)
	require.NoError(t, err)
	require.Positive(t, sum.Updated)

	again := &recordingSender{}
	sum2, err := Run(context.Background(), cfg, &sliceSource{recs: recs}, keyBuilder{}, store, again)
	require.NoError(t, err)
	require.Empty(t, again.sent, "every valid user is skipped: same payload, answered")
	require.Equal(t, sum.Updated, sum2.Skipped)
	require.Equal(t, sum.Invalid, sum2.Invalid, "invalid records are recorded again")
	require.Equal(t, sum.Read, sum2.Read)
}

func TestLimitReadsNothingPastIt(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(2, 2)), 100, 1000, false)
	src := &sliceSource{recs: recs}
	src.onNext = func(n int) {
		if n >= 10 {
			t.Errorf("record %d read past --limit 10: a source that blocks (stdin) would hang the run", n+1)
		}
	}
	sender := &recordingSender{}
	sum, err := Run(context.Background(), Config{Job: "j", Limit: 10, Log: zerolog.Nop()}, src, keyBuilder{}, newMemStore(), sender)
	require.NoError(t, err)
	require.EqualValues(t, 10, sum.Read)
	requireProducerStopped(t)
}

func TestSourceErrorEndsTheRun(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	recs := randomRecords(rand.New(rand.NewPCG(3, 3)), 10_000, 5000, false)
	src := &sliceSource{recs: recs, failAt: 4321, failWith: errors.New("disk on fire")}
	sender := &recordingSender{}
	_, err := Run(context.Background(), Config{Job: "j", Concurrency: 4, Log: zerolog.Nop()}, src, keyBuilder{}, newMemStore(), sender)
	require.ErrorContains(t, err, "read source: disk on fire")
	require.EqualValues(t, 4322, src.nexts.Load(), "nothing is read after the error")
	wantSent, _, _ := sequentialOutcomes(recs[:4321], Config{})
	require.NotEmpty(t, sender.sent, "the batches handed over before the error are dispatched")
	for k, line := range sender.sent {
		require.Equal(t, wantSent[k], line, "only first records read before the error are sent: %s", k)
	}
	requireProducerStopped(t)
	requireNoSpill(t, dir)
}

func TestInterruptStopsReadingAndSendsNoRepeat(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	recs := randomRecords(rand.New(rand.NewPCG(4, 4)), 50_000, 20_000, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &sliceSource{recs: recs}
	var cancelledAt atomic.Int64
	src.onNext = func(n int) {
		if n == 20_000 {
			cancelledAt.Store(int64(n))
			cancel()
		}
	}
	sender := &recordingSender{}
	sum, err := Run(ctx, Config{Job: "j", Concurrency: 4, Log: zerolog.Nop()}, src, keyBuilder{}, newMemStore(), sender)
	require.NoError(t, err, "an interrupt is a shutdown")
	require.True(t, sum.Interrupted)
	require.LessOrEqual(t, src.nexts.Load(), cancelledAt.Load()+1, "reading stops at the interrupt")
	wantSent, _, _ := sequentialOutcomes(recs, Config{})
	for k, line := range sender.sent {
		require.Equal(t, wantSent[k], line, "only the first record of a key is ever sent: %s", k)
	}
	require.Less(t, len(sender.sent), len(wantSent))
	requireProducerStopped(t)
	requireNoSpill(t, dir)
}

// TestWorkersHoldTheReaderBack checks that memory stays flat: while every worker is busy, the
// producer reads no more than its bounded channels hold.
func TestWorkersHoldTheReaderBack(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(5, 5)), 100_000, 1_000_000, false)
	src := &sliceSource{recs: recs}
	sender := &recordingSender{gate: make(chan struct{})}
	const workers = 2
	cfg := Config{Job: "j", Concurrency: workers, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), cfg, src, keyBuilder{}, newMemStore(), sender)
		done <- err
	}()
	require.Eventually(t, func() bool { return sender.calls.Load() == workers }, 10*time.Second, time.Millisecond)

	// A batch being dispatched, one waiting, one being sequenced, the held candidates, and the
	// chunks between reader and sequencer (GOMAXPROCS+1 queued, one each at both ends), with
	// room to spare.
	bound := int64(workers + 3*LookupBatchDefault + holdRecords + (2*runtime.GOMAXPROCS(0)+3)*chunkRecords)
	require.Never(t, func() bool { return src.nexts.Load() > bound }, 300*time.Millisecond, 5*time.Millisecond,
		"the reader goes on while every worker is busy")
	close(sender.gate)
	require.NoError(t, <-done)
	require.EqualValues(t, len(recs)+1, src.nexts.Load())
	requireProducerStopped(t)
}

// TestDryRunDecidesAsTheSequentialOneInSourceOrder: a dry run applies the repeated-key rule
// as a run does, in memory that does not grow with the users, and still writes every valid
// payload in source order, however long the rule holds a candidate.
func TestDryRunDecidesAsTheSequentialOneInSourceOrder(t *testing.T) {
	forRandomSources(t, 12, 7, func(name string, rng *rand.Rand, recs []source.Record, ordered bool) {
		opts := DryOptions{OrderedKeys: ordered, Log: zerolog.Nop(),
			Inspect: func(_ context.Context, p *sink.Payload) (any, error) { return p.Key, nil }}
		if rng.IntN(2) == 0 {
			opts.Limit = int64(1 + rng.IntN(len(recs)))
		}
		wantSent, wantInvalid, wantRead := sequentialOutcomes(recs, Config{OrderedKeys: ordered, Limit: opts.Limit})
		var want []string
		for _, rec := range recs {
			if k := rec.Values; rec.Err == nil && k[0] != "" && wantSent[k[0]] == rec.Line {
				want = append(want, fmt.Sprintf("%q", k[0]))
			}
		}

		var out bytes.Buffer
		sum, err := DryRun(context.Background(), &sliceSource{recs: recs}, keyBuilder{}, &out, opts)
		require.NoError(t, err)
		name = fmt.Sprintf("%s, limit %d", name, opts.Limit)
		require.Equal(t, want, strings.Fields(out.String()), "%s: the first record of each key, in source order", name)
		require.Equal(t, wantRead, sum.Read, name)
		require.EqualValues(t, len(wantSent), sum.Valid, name)
		require.EqualValues(t, len(wantInvalid), sum.Invalid, name)
	})
}
