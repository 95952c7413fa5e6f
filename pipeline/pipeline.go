package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sourcegraph/conc/pool"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// Source yields the records of a run. Next returns io.EOF when the source is exhausted; a
// malformed row is a record with Err set, not an error. Any other error ends the run.
type Source interface {
	Next(ctx context.Context) (source.Record, error)
}

// Builder maps a record to its payload. An error means the record is invalid and says why,
// naming its row and field; it is never sent.
type Builder interface {
	Build(rec source.Record) (*sink.Payload, error)
}

// Sender makes one user's update, retries included, and returns its outcome. It never fails:
// a user DRUID refused is an outcome, not an error of the run.
type Sender interface {
	Send(ctx context.Context, p *sink.Payload) sink.SendResult
}

// Prober is a Sender that can send a run's first user as a probe, before any other: an answer
// that says the run itself is misconfigured (DRUID refuses the connection or the credentials,
// or the envelope) comes back at once as SendResult.Fault, instead of costing every user. When
// the Sender is a Prober, Run sends its first user so, alone, and stops with the Fault.
type Prober interface {
	Probe(ctx context.Context, p *sink.Payload) sink.SendResult
}

// Store is the checkpoint as the run needs it. Prior answers the skip rule for a batch of keys
// in one call; Write makes a group of outcomes durable in one transaction. Errors of either are
// errors of the run.
type Store interface {
	Lookup
	Write(ctx context.Context, rows []checkpoint.Row) error
}

// Defaults of Config.
const (
	ConcurrencyDefault       = 8
	DrainTimeoutDefault      = 30 * time.Second
	WriteTimeoutDefault      = 30 * time.Second
	CheckpointTimeoutDefault = 2 * time.Minute
	LookupBatchDefault       = 512
	ProgressEveryDefault     = 10 * time.Second
	LeaseCheckEvery          = time.Second
)

// ErrCheckpoint marks a run stopped because its checkpoint could not be written: the outcomes
// it could not write are of calls that were in flight, which the next run sends again.
var ErrCheckpoint = errors.New("checkpoint lost")

// Config is one run's settings.
type Config struct {
	Job   string // the job's name in the checkpoint
	RunID int64  // the run's id in migration_runs, written with every outcome
	// Concurrency is the number of workers. Defaults to ConcurrencyDefault.
	Concurrency int
	// MaxConcurrency, when above Concurrency, lets the run add workers up to it while DRUID's
	// answers rather than the rate hold it back (--concurrency auto). It needs Pace.
	MaxConcurrency int
	// Pace, when set, lets the run watch its calls against the rate allowed: it then warns
	// when Concurrency is too few workers to reach the rate, or grows the pool under
	// MaxConcurrency.
	Pace Pace
	// Lease, when set, is checked every LeaseCheckEvery while the run sends: an error (the
	// run's hold on its job was lost, and another run may have taken it) stops the run as the
	// loss of its checkpoint does, so that two runs of a job never both send.
	Lease func(ctx context.Context) error
	// Degraded, when set, says whether DRUID is in an outage now (every call failing for want
	// of it): the run's pace then says nothing of the workers it needs.
	Degraded func() bool
	// Bulk, when set, sends the users through DRUID's Bulk API in batches instead of one
	// update each (--sink bulk); the Sender then only probes nothing and sends nothing.
	Bulk *Bulk
	// HashKey keys the passwords' part of the payload hash; without it, PBKDF2 (see Hasher).
	HashKey []byte
	// Force sends users the skip rule would skip.
	Force bool
	// NewJob says the checkpoint held no row of the job when the run started: no user can be
	// skipped, so the run makes no skip look-up. The only rows of the job are then the run's
	// own, one per key: a repeated key is invalid and never sent. A second run of the same job
	// started at the same moment would go unseen, as it would with look-ups: the checkpoint
	// holds no lock on a job.
	NewJob bool
	// Limit stops the run after this many records; 0 reads them all.
	Limit int64
	// DrainTimeout bounds how long the calls in flight may run after an interrupt (--timeout).
	// Defaults to DrainTimeoutDefault.
	DrainTimeout time.Duration
	// WriteTimeout bounds one try of a checkpoint write or look-up. Defaults to
	// WriteTimeoutDefault.
	WriteTimeout time.Duration
	// CheckpointTimeout is how long the run waits for an unreachable checkpoint, holding its
	// outcomes and taking no new record, before it stops with ErrCheckpoint
	// (--checkpoint-timeout). Defaults to CheckpointTimeoutDefault.
	CheckpointTimeout time.Duration
	// LookupBatch is the number of records whose skip look-up goes in one query. Defaults to
	// LookupBatchDefault.
	LookupBatch int
	// Progress receives the live progress line when it is a terminal; nil disables it.
	Progress io.Writer
	// ProgressEvery is the interval of the JSON progress log line when Progress is nil, and of
	// the terminal's line when shorter than its 250 ms. Defaults to ProgressEveryDefault.
	ProgressEvery time.Duration
	// Total is the number of records expected, for the progress line's ETA; 0 when unknown.
	Total int64
	// OrderedKeys says the source yields its records ordered by their key, so that a repeated
	// key follows its first: the run then needs no memory per user to find repeats.
	OrderedKeys bool
	// Prepare, when set, sees every user just before it is sent, with the run's sending
	// context: it returns the payload to send (the same, or another: --merge), or why the user
	// must not be sent (a guard; the user is then recorded invalid), or an error, which records
	// the user failed so that the next run tries again.
	Prepare func(ctx context.Context, p *sink.Payload) (send *sink.Payload, refuse string, err error)
	// Shard, when set, keeps the records whose checkpoint key it accepts (a keyless record's is
	// its "#line N" key): this process's shard of the job. The others are read and passed over
	// before any look-up, hash or call, and counted apart (Summary.OtherShards).
	Shard func(key string) bool
	// Select, when set, limits the run to the records whose key it accepts (a retry): the
	// others, and rows with no key, are passed over and not counted.
	Select func(key string) bool
	Log    zerolog.Logger
	// Live, when set, shows the run's counts while it runs, for a metrics endpoint.
	Live *Live
}

func (c Config) withDefaults() Config {
	c.Concurrency = orDefault(c.Concurrency, ConcurrencyDefault)
	c.DrainTimeout = orDefault(c.DrainTimeout, DrainTimeoutDefault)
	c.WriteTimeout = orDefault(c.WriteTimeout, WriteTimeoutDefault)
	c.CheckpointTimeout = orDefault(c.CheckpointTimeout, CheckpointTimeoutDefault)
	c.LookupBatch = orDefault(c.LookupBatch, LookupBatchDefault)
	c.ProgressEvery = orDefault(c.ProgressEvery, ProgressEveryDefault)
	return c
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Run migrates every record of src. It returns when the source is exhausted and every outcome
// is durable, or when ctx is cancelled (an interrupt): it then stops reading, lets the calls in
// flight finish within DrainTimeout, writes their outcomes and returns a summary marked
// Interrupted. An error means the run could not go on (the source or the checkpoint failed);
// the summary still counts what was done.
func Run(ctx context.Context, cfg Config, src Source, b Builder, st Store, s Sender) (Summary, error) {
	cfg = cfg.withDefaults()
	r := &run{
		cfg:    cfg,
		build:  b,
		store:  st,
		send:   s,
		hasher: NewHasher(cfg.Job, cfg.HashKey),
		tally:  newTally(),
	}
	cfg.Live.watch(r.tally)
	start := time.Now()

	// Reading stops at the first interrupt or at a fatal error; calls in flight go on until
	// DrainTimeout after the interrupt, so that what DRUID answers is still recorded.
	readCtx, stopReading := context.WithCancelCause(ctx)
	defer stopReading(nil)
	r.stopReading = stopReading
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	var interruptedAt atomic.Int64 // unix nanoseconds
	stopDrainTimer := context.AfterFunc(ctx, func() {
		interruptedAt.Store(time.Now().UnixNano())
		t := time.AfterFunc(cfg.DrainTimeout, cancelSend)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stopDrainTimer()
	r.readCtx, r.sendCtx = readCtx, sendCtx

	r.outage = &outage{budget: cfg.CheckpointTimeout, attempt: min(cfg.WriteTimeout, cfg.CheckpointTimeout), log: cfg.Log,
		interrupted: ctx.Done(), drain: cfg.DrainTimeout,
		interruptedAt: func() time.Time {
			if ns := interruptedAt.Load(); ns != 0 {
				return time.Unix(0, ns)
			}
			return time.Now() // cancelled, its AfterFunc not yet run
		}}
	r.commit = newCommitter(st, r.outage, r.tally.inFlight.Load, r.durable)
	progress := startProgress(cfg, r.tally, start)
	r.crew = newCrew(cfg.Concurrency)
	r.slots = make(chan *slot, max(cfg.Concurrency, cfg.MaxConcurrency))
	for range cap(r.slots) {
		r.slots <- &slot{}
	}
	workers := pool.New().WithMaxGoroutines(max(cfg.Concurrency, cfg.MaxConcurrency))
	sizingCtx, stopSizing := context.WithCancel(ctx)
	var sizing sync.WaitGroup
	if cfg.Pace != nil {
		sizing.Go(func() { sizePool(sizingCtx, cfg, r.crew, r.outage.recent) })
	}
	if cfg.Lease != nil {
		sizing.Go(func() { r.watchLease(sizingCtx) })
	}

	var err error
	if cfg.Bulk != nil {
		r.batch = newBatcher(r, *cfg.Bulk)
		if ss, ok := st.(SubmittedStore); ok {
			err = r.batch.resume(readCtx, ss)
		}
	}
	if err == nil {
		err = r.produce(readCtx, src, workers)
	}
	workers.Wait()
	if r.batch != nil {
		if berr := r.batch.close(); berr != nil && err == nil {
			err = berr
		}
	}
	for range cap(r.slots) {
		r.settle(<-r.slots) // the outcomes the workers handed over last
	}
	stopSizing()
	sizing.Wait()
	r.commit.close()
	progress.stop()

	sum := r.tally.summary(time.Since(start))
	sum.Interrupted = ctx.Err() != nil
	if cause := context.Cause(readCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a worker's checkpoint write failed: that, not the cancellation, is the error
	}
	if sum.Interrupted && (errors.Is(err, context.Canceled) || errors.Is(err, errAbandoned)) {
		// An interrupt is a shutdown, reported by Summary.Interrupted, and the outcomes an
		// outage kept from the checkpoint by Summary.Unrecorded.
		err = nil
	}
	if sum.Unrecorded > 0 {
		cfg.Log.Warn().Int64("outcomes_unrecorded", sum.Unrecorded).
			Msg("the checkpoint did not record what DRUID answered for these users: the next run sends them again")
	}
	return sum, err
}

// runStopper is the error a call's result stops the run with, nil when the result is the user's
// outcome: DRUID unreachable past --druid-timeout, or a fault of the run's own configuration
// found by the probe.
func runStopper(res sink.SendResult, probe bool) error {
	switch {
	case res.Err != nil:
		return res.Err
	case probe && res.Fault != nil:
		return res.Fault
	}
	return nil
}

// isRefused says whether err is a row the checkpoint refused and recorded invalid instead.
func isRefused(err error) bool {
	_, ok := err.(*refusedError)
	return ok
}

// watchLease checks the run's lease until ctx ends, and stops the run when it is lost.
func (r *run) watchLease(ctx context.Context) {
	tick := time.NewTicker(LeaseCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := r.cfg.Lease(ctx); err != nil && ctx.Err() == nil {
				r.stopReading(fmt.Errorf("%w: the run's lease on its job: %w", ErrCheckpoint, err))
				return
			}
		}
	}
}

type run struct {
	probed      bool // the first user was sent as the probe (producer's goroutine only)
	cfg         Config
	build       Builder
	store       Store
	send        Sender
	hasher      *Hasher
	crew        *crew
	slots       chan *slot // one per worker the pool may have: taken with the crew's leave
	batch       *batcher   // a bulk run's batches (Config.Bulk); nil for updates
	tally       *tally
	commit      *committer
	outage      *outage
	readCtx     context.Context
	sendCtx     context.Context
	stopReading context.CancelCauseFunc
}

// dispatch records the batch's invalid records, skips the valid users its look-up found DRUID
// already answered for the same payload, and hands the rest to the workers. launch blocks while
// every worker is busy: that is the back-pressure that keeps memory flat.
func (r *run) dispatch(ctx context.Context, l *lookup, workers *pool.Pool) error {
	var invalid []checkpoint.Row
	var lines []int
	for _, b := range l.batch {
		if b.invalid != "" {
			invalid = append(invalid, checkpoint.Row{
				Job: r.cfg.Job, Key: b.key, Outcome: string(sink.Invalid), Error: b.invalid, RunID: r.cfg.RunID,
			})
			lines = append(lines, b.line)
			r.cfg.Log.Warn().Str("user_key", b.key).Int("line", b.line).Str("error", b.invalid).Msg("invalid record")
		}
	}
	if len(invalid) > 0 {
		if err := r.commit.write(invalid, lines); err != nil && !isRefused(err) {
			return err
		}
		r.tally.invalid.Add(int64(len(invalid)))
	}
	if l.err != nil {
		return l.err
	}
	for _, b := range l.batch {
		if b.invalid != "" {
			continue
		}
		if p, ok := l.prior[b.key]; ok && p.PayloadHash == b.hash && sink.Outcome(p.Outcome).Answered() {
			r.tally.skip(sink.Outcome(p.Outcome))
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.batch != nil {
			if err := r.batch.add(b.payload, b.hash); err != nil {
				return err
			}
			continue
		}
		r.launch(workers, b.payload, b.hash)
	}
	return nil
}

// prior looks the valid users of a batch up in the checkpoint, in one query, retried through
// checkpoint outages; nothing with --force or on a new job.
func (r *run) prior(batch []built) (map[string]checkpoint.Prior, error) {
	if r.cfg.Force || r.cfg.NewJob {
		return nil, nil
	}
	keys := make([]string, 0, len(batch))
	for _, b := range batch {
		if b.invalid == "" {
			keys = append(keys, b.key)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var prior map[string]checkpoint.Prior
	err := r.outage.do(fmt.Sprintf("look up %d users", len(keys)), 0, func(ctx context.Context) error {
		var err error
		prior, err = r.store.Prior(ctx, r.cfg.Job, keys)
		return err
	})
	return prior, err
}

// prepareAndSend sends p, or what Prepare makes of it; as the run's probe when probe is set.
func (r *run) prepareAndSend(p *sink.Payload, probe Prober) sink.SendResult {
	send := r.send.Send
	if probe != nil {
		send = probe.Probe
	}
	if r.cfg.Prepare == nil {
		return send(r.sendCtx, p)
	}
	q, refuse, err := r.cfg.Prepare(r.sendCtx, p)
	switch {
	case err != nil:
		return sink.SendResult{Outcome: sink.Failed, Error: err.Error()}
	case refuse != "":
		return sink.SendResult{Outcome: sink.Invalid, Error: refuse}
	}
	return send(r.sendCtx, q)
}

// work sends one user, then hands its outcome to the committer and returns, so that the
// worker takes its next user while the outcome waits for its flush (SPEC §4, pipelined
// durability). Before it hands one over, the worker sees its previous outcome durable: a worker
// never holds two outcomes that are not, so after kill -9 the next run resends at most the calls
// in flight and the outcomes not yet flushed, twice the workers.
//
// A call that was not the user's to answer — DRUID unreachable past --druid-timeout, or the
// probe finding the run misconfigured — is not recorded: it stops the run, and the next run
// sends the user again.
func (r *run) work(s *slot, p *sink.Payload, hash string, probe Prober) {
	if r.readCtx.Err() != nil {
		return // queued but not yet sent when the run stopped: the next run sends it
	}
	r.tally.inFlight.Add(1)
	res := r.prepareAndSend(p, probe)
	r.tally.inFlight.Add(-1)
	if stop := runStopper(res, probe != nil); stop != nil {
		r.tally.requests.Add(int64(res.Attempts))
		r.stopReading(stop)
		return
	}
	if !r.settle(s) {
		// The previous outcome could not be made durable: the run is stopping, and this one,
		// answered but never handed over, is resent by the next run.
		r.tally.unrecorded.Add(1)
		return
	}
	row := checkpoint.Row{
		Job:         r.cfg.Job,
		Key:         p.Key,
		StatusCode:  res.Code,
		Outcome:     string(res.Outcome),
		Attempts:    res.Attempts,
		PayloadHash: hash,
		Error:       res.Error,
		RunID:       r.cfg.RunID,
	}
	h := &handed{res: res, key: p.Key, line: p.Line}
	h.w = r.commit.submit([]checkpoint.Row{row}, []int{p.Line}, h)
	s.prev = h
}

// slot is one worker's place in the pool: the outcome it handed to the committer whose flush it
// has not yet seen.
type slot struct {
	prev *handed
}

// handed is a user's outcome handed to the committer: counted and logged once durable.
type handed struct {
	w    *pending
	res  sink.SendResult
	key  string
	line int
}

// settle waits until the slot's previous outcome is durable: the worker then takes its next.
// It returns false when the outcome could not be made durable; the run then stops.
func (r *run) settle(s *slot) bool {
	h := s.prev
	if h == nil {
		return true
	}
	s.prev = nil
	if err := <-h.w.done; err != nil && !isRefused(err) {
		r.stopReading(err)
		return false
	}
	return true
}

// durable counts a handed outcome once the committer has made it durable, or failed to: no
// outcome is reported done before it is. It runs on the committer's goroutine, before the
// worker hears of it.
func (r *run) durable(h *handed, err error) {
	res := h.res
	if refused, ok := err.(*refusedError); ok {
		// DRUID answered, but the checkpoint cannot hold this user's row: recorded invalid
		// under its line, it is sent again by the next run, and fails the same way.
		r.tally.requests.Add(int64(res.Attempts))
		r.tally.invalid.Add(1)
		r.cfg.Log.Warn().Int("line", h.line).Str("outcome", string(res.Outcome)).Str("error", refused.reason).
			Msg("invalid record")
		return
	}
	if err != nil {
		r.tally.unrecorded.Add(1)
		return
	}
	r.tally.add(res)
	ev := r.cfg.Log.Debug()
	if !res.Outcome.OK() {
		ev = r.cfg.Log.Warn()
	}
	ev.Str("user_key", h.key).Int("line", h.line).Str("outcome", string(res.Outcome)).
		Int("status_code", res.Code).Int("attempts", res.Attempts).Str("error", res.Error).Msg("user sent")
}
