package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"druid-migrate/checkpoint"
	"druid-migrate/source"
)

// chunkRecords is the number of consecutive records the reader hands to a builder at once:
// enough that the hand-offs cost nothing next to the building, few enough that the records read
// ahead stay a small, fixed amount of memory.
const chunkRecords = 128

// errReaderStopped would mean the reader stopped while the run was not: never silently take it
// for the source's end.
var errReaderStopped = errors.New("read source: the reader stopped early")

// chunk is a run of consecutive records of the source and, once built is closed, their
// mapped records.
type chunk struct {
	recs  []source.Record
	out   []mapped
	err   error         // what ended the source after recs: io.EOF, or a fatal error; nil if it goes on
	built chan struct{} // closed by the builder once out is filled
}

// produce reads, builds and validates the records and hands them to the workers, in five
// stages, so that the per-record work uses every core while everything that depends on the
// order of the records stays in order:
//
//   - read: one goroutine reads the source, which is not safe for concurrent use, in chunks;
//   - build: GOMAXPROCS builders map and hash the chunks in parallel;
//   - sequence: one goroutine takes the chunks back in source order, applies Select, the limit,
//     the read count and the repeated-key rule, and cuts look-up batches;
//   - look up: each batch's skip look-up in the checkpoint, lookupsAtOnce batches at a time,
//     while the next batches are being built;
//   - dispatch, on this goroutine, in the order of the batches: records the invalid records,
//     skips and launches.
//
// Every channel between them is bounded: when the workers are busy, launch blocks, and the
// back-pressure reaches the reader through full channels, so memory stays flat. An interrupt or
// a fatal error stops every stage, and produce returns once all have ended; records read ahead
// but not dispatched are not sent, and the next run sends them.
func (r *run) produce(ctx context.Context, src Source, workers *pool.Pool) error {
	stages, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	reading, stopReading := context.WithCancel(stages)
	defer stopReading()

	procs := runtime.GOMAXPROCS(0)
	toBuild := make(chan *chunk)
	inOrder := make(chan *chunk, procs+1) // bounds the chunks read ahead
	batches := make(chan []built, 1)      // a batch is looked up while the next is sequenced

	var wg sync.WaitGroup
	wg.Go(func() { r.read(reading, src, toBuild, inOrder) })
	for range procs {
		wg.Go(func() { r.buildChunks(reading, toBuild) })
	}
	wg.Go(func() {
		defer close(batches)
		defer stopReading() // past the limit or at an error, nothing more is read
		if err := r.sequence(stages, inOrder, batches); err != nil {
			fail(err)
		}
	})
	lookups := r.lookupsAtOnce()
	looked := make(chan *lookup, lookups-1) // with the one dispatch waits for
	wg.Go(func() { r.lookUp(batches, looked, lookups) })
	// The batches handed over before a source error are still dispatched in full: the users
	// read before the error are sent, and nothing after it is read. An interrupt, or a failure
	// of dispatch itself, stops the launches.
	var dispatchErr error
	for l := range looked {
		<-l.done
		if dispatchErr != nil {
			continue // draining: the sequencer is stopping
		}
		if dispatchErr = r.dispatch(ctx, l, workers); dispatchErr != nil {
			fail(dispatchErr)
		}
	}
	wg.Wait()

	if err := ctx.Err(); err != nil {
		return err // an interrupt, or a worker's failure that Run reads from the context's cause
	}
	if stages.Err() != nil {
		return context.Cause(stages)
	}
	return nil
}

// lookupsAtOnce is how many batches are looked up in the checkpoint at once. When every user is
// done, the look-ups are the run. A Postgres look-up waits on the server, and one at a time
// would leave this process's cores idle meanwhile, so two are in flight. SQLite answers within
// the process, on the CPU the builders use, and a second look-up only costs memory.
func (r *run) lookupsAtOnce() int {
	if _, ok := r.store.(ParallelWriter); ok {
		return 2
	}
	return 1
}

// lookup is one batch's skip look-up, under way until done is closed.
type lookup struct {
	batch []built
	prior map[string]checkpoint.Prior
	err   error
	done  chan struct{}
}

// lookUp starts the look-up of each batch, n at a time, and hands them on in the order of the
// batches. It closes looked once batches is closed and every look-up has ended.
func (r *run) lookUp(batches <-chan []built, looked chan<- *lookup, n int) {
	defer close(looked)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, n)
	for batch := range batches {
		l := &lookup{batch: batch, done: make(chan struct{})}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			defer close(l.done)
			l.prior, l.err = r.prior(batch)
		})
		looked <- l
	}
}

// read is the only reader of src. It hands each chunk to the sequencer first, which bounds the
// chunks under way, then to a builder. It ends at the source's end or error, passed on in the
// last chunk, or when ctx is done; it then closes both channels.
func (r *run) read(ctx context.Context, src Source, toBuild, inOrder chan<- *chunk) {
	defer close(toBuild)
	defer close(inOrder)
	// When every record counts, nothing past the limit is read: a source that blocks (stdin)
	// must not keep a finished run waiting.
	var limit, n int64
	if r.cfg.Select == nil {
		limit = r.cfg.Limit
	}
	for {
		c := &chunk{recs: make([]source.Record, 0, chunkRecords), built: make(chan struct{})}
		for len(c.recs) < chunkRecords && c.err == nil {
			if limit > 0 && n >= limit {
				c.err = io.EOF
				break
			}
			rec, err := src.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return // interrupted, failed elsewhere, or past the limit
				}
				c.err = err
				break
			}
			c.recs = append(c.recs, rec)
			n++
		}
		if !send(ctx, inOrder, c) || !send(ctx, toBuild, c) {
			return
		}
		if c.err != nil {
			return
		}
	}
}

// buildChunks maps the records of each chunk it takes, and hashes their payloads: the work of a
// record that needs no other record, and most of a run's CPU when users are skipped. The
// payloads of a retry (Select) are hashed only once selected, by the sequencer: a retry selects
// few users of many.
func (r *run) buildChunks(ctx context.Context, toBuild <-chan *chunk) {
	for c := range toBuild {
		if ctx.Err() == nil {
			c.out = make([]mapped, len(c.recs))
			for i, rec := range c.recs {
				m := mapRecord(r.build, rec)
				if r.cfg.Shard != nil && !r.cfg.Shard(m.checkpointKey()) {
					m.other = true
				} else if m.payload != nil && r.cfg.Select == nil {
					m.hash, m.hashErr = r.hasher.Hash(m.payload)
					m.hashed = true
				}
				c.out[i] = m
			}
		}
		c.recs = nil
		close(c.built)
	}
}

// sequencer applies, in source order, what depends on that order, and cuts the records it
// decided into look-up batches.
type sequencer struct {
	r       *run
	ctx     context.Context
	batches chan<- []built
	batch   []built
	read    int64 // records counted, for the limit
	repeats *repeats
	due     *time.Timer // fires holdDelay after a candidate was held
	armed   bool
}

// sequence runs the sequencer over the chunks until the source ends, the limit is reached, or
// an error or ctx stops it. Held candidates and the batch under way are dispatched at the end,
// not when stopped: the next run sends them.
func (r *run) sequence(ctx context.Context, inOrder <-chan *chunk, batches chan<- []built) error {
	rep, err := newRepeats(r.cfg.OrderedKeys, keyFilterSize)
	if err != nil {
		return err
	}
	defer func() {
		rep.close()
		if rep.spill != nil {
			r.cfg.Log.Debug().Int("key_candidates", rep.candidates).Int("key_scans", rep.scans).
				Msg("repeated keys: candidates confirmed against the spill file")
		}
	}()
	s := &sequencer{r: r, ctx: ctx, batches: batches, repeats: rep, due: time.NewTimer(holdDelay)}
	s.due.Stop()
	defer s.due.Stop()
	s.batch = make([]built, 0, r.cfg.LookupBatch)

	for {
		c, err := s.next(inOrder)
		if err != nil {
			return err
		}
		for _, m := range c.out {
			done, err := s.take(m)
			if err != nil {
				return err
			}
			if done {
				return s.finish()
			}
		}
		switch {
		case errors.Is(c.err, io.EOF):
			return s.finish()
		case c.err != nil:
			return fmt.Errorf("read source: %w", c.err)
		}
	}
}

// next waits for the next chunk to be built. While it waits, candidates held for longer than
// holdDelay are confirmed, so that a held user is not kept back by a slow source.
func (s *sequencer) next(inOrder <-chan *chunk) (*chunk, error) {
	var c *chunk
	for {
		incoming, built := inOrder, (<-chan struct{})(nil)
		if c != nil {
			incoming, built = nil, c.built
		}
		var due <-chan time.Time
		if s.armed {
			due = s.due.C
		}
		select {
		case next, ok := <-incoming:
			if !ok {
				// The reader ends without a last chunk only when the run is stopped.
				return nil, cmp.Or(context.Cause(s.ctx), errReaderStopped)
			}
			c = next
		case <-built:
			return c, nil
		case <-due:
			s.armed = false
			if err := s.repeats.settle(s.decide); err != nil {
				return nil, err
			}
		case <-s.ctx.Done():
			return nil, context.Cause(s.ctx)
		}
	}
}

// take applies Select and the repeated-key rule to the next record, and says whether the limit
// is reached.
func (s *sequencer) take(m mapped) (done bool, err error) {
	if m.other {
		s.r.tally.otherShards.Add(1)
		return false, nil
	}
	// A repeat of a key has the key's selection: applying Select first changes no outcome, and
	// spares the rule the keys a retry passes over.
	if sel := s.r.cfg.Select; sel != nil && (m.key == "" || strings.HasPrefix(m.key, KeylessPrefix) || !sel(m.key)) {
		return false, nil
	}
	limit := s.r.cfg.Limit
	if limit > 0 && s.read+int64(s.repeats.pending()) >= limit {
		// Every candidate held may count: confirm them before taking a record that would then
		// be past the limit, so that exactly the first records count.
		if err := s.repeats.settle(s.decide); err != nil {
			return false, err
		}
		if s.read >= limit {
			return true, nil
		}
	}
	if m.key == "" {
		err = s.decide(m, 0, false)
	} else {
		err = s.repeats.see(m, s.decide)
	}
	if s.repeats.pending() > 0 && !s.armed {
		s.due.Reset(holdDelay)
		s.armed = true
	}
	return limit > 0 && s.read >= limit, err
}

// decide counts a record once the repeated-key rule has decided it, adds it to the batch under
// way, and hands the batch to dispatch once full. The records are counted here, not when taken,
// because a retry (Select) passes over a repeat without counting it, as a row with no key.
func (s *sequencer) decide(m mapped, first int, repeat bool) error {
	if repeat && s.r.cfg.Select != nil {
		return nil
	}
	s.read++
	s.r.tally.read.Add(1)
	b := m.decide(first, repeat)
	if b.payload != nil {
		if !m.hashed {
			m.hash, m.hashErr = s.r.hasher.Hash(m.payload)
		}
		if m.hashErr != nil {
			return fmt.Errorf("line %d: %w", b.line, m.hashErr)
		}
		b.hash = m.hash
	}
	s.batch = append(s.batch, b)
	if len(s.batch) < cap(s.batch) {
		return nil
	}
	return s.flush()
}

// finish confirms the held candidates and hands over the last batch.
func (s *sequencer) finish() error {
	if err := s.repeats.settle(s.decide); err != nil {
		return err
	}
	return s.flush()
}

func (s *sequencer) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	if !send(s.ctx, s.batches, s.batch) {
		return context.Cause(s.ctx)
	}
	s.batch = make([]built, 0, s.r.cfg.LookupBatch) // the one sent is dispatch's now
	return nil
}

// send sends v on ch unless ctx is done first, and says whether it did.
func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}
