package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrLeased is wrapped by the error of Store.Lease when another run holds the lease: a
// *LeasedError, which names the holder.
var ErrLeased = errors.New("checkpoint: leased by another run")

// ErrLeaseLost is wrapped by the error of Lease.Check when the lease is no longer held: its
// Postgres connection went away, and with it the lock, which another run may have taken since.
var ErrLeaseLost = errors.New("checkpoint: lease lost")

// leaseTimeout bounds Release, and Check's ping of the connection of a Postgres lease.
const leaseTimeout = 10 * time.Second

// Holder says who holds a lease: what a run refused it is told.
type Holder struct {
	// Host is the machine the holder runs on. Defaults to the host name of this one.
	Host string
	// PID is the holder's process id on Host. Defaults to this process's.
	PID int
	// RunID is the holder's run in migration_runs: 0 until the run has started, when
	// Lease.SetRunID records it.
	RunID int64
	// Since is when the holder took the lease. Defaults to now; kept in UTC to the microsecond.
	Since time.Time
}

// LeasedError is the error of Store.Lease when another run holds the lease of the job and
// shard. It wraps ErrLeased.
type LeasedError struct {
	Job   string
	Shard string // "" for a job run whole
	// Holder is who holds the lease, as the holder described itself. The lock, not the
	// description, is what refused the lease: in the moment between a holder's taking the lock
	// and describing itself, Holder is the zero Holder, or the holder before it if that one
	// died without removing its description.
	Holder Holder
}

// Error names the job and shard and the holder: its host, process id, run and since when.
func (e *LeasedError) Error() string {
	what := jobShard(e.Job, e.Shard)
	h := e.Holder
	if h == (Holder{}) {
		return fmt.Sprintf("checkpoint: %s is held by another run, which has not said who it is", what)
	}
	run := "not yet started"
	if h.RunID != 0 {
		run = strconv.FormatInt(h.RunID, 10)
	}
	return fmt.Sprintf("checkpoint: %s is held by another run: host %q, pid %d, run %s, since %s",
		what, h.Host, h.PID, run, h.Since.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrLeased.
func (e *LeasedError) Unwrap() error { return ErrLeased }

// Lease is a run's hold on a job (and shard) of a checkpoint: while it is held, Store.Lease of
// the same job and shard fails at once, in this process or another. It ends with Release, or
// with the process, however it ends: the lock is one the database or the operating system
// drops with the process, so a crash never leaves a job locked. Its methods are safe for
// concurrent use.
type Lease struct {
	job, shard string
	hold       leaseHold

	mu       sync.Mutex // serialises the calls on hold
	holder   Holder
	released bool
	err      error // of the first Release
}

// leaseHold is a store's side of a lease: the lock it holds and the description of its holder.
type leaseHold interface {
	// describe records h as the holder of the lease, replacing what was recorded.
	describe(ctx context.Context, h Holder) error
	// check says whether the lock is still held, an error wrapping ErrLeaseLost if not.
	check(ctx context.Context) error
	// release removes the description and lets the lock go; the lock goes even when removing
	// the description fails.
	release(ctx context.Context) error
}

// takeLease is Lease of either store (named by store). lock takes the store's lock without
// waiting and returns its hold, or nil when another holds the lock, whose description takeLease
// then reads with holderQuery; once the lock is taken, it describes h, the new holder, or lets
// the lock go if it cannot.
func takeLease(ctx context.Context, store string, s querier, holderQuery, job, shard string, h Holder,
	lock func(what string) (leaseHold, error)) (*Lease, error) {
	what := "lease of " + jobShard(job, shard)
	h, err := prepareLease(job, shard, h)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", store, what, err)
	}
	hold, err := lock(what)
	if err != nil {
		return nil, err
	}
	if hold == nil {
		holder, err := leaseHolder(ctx, s, holderQuery, job, shard)
		if err != nil {
			return nil, err
		}
		return nil, &LeasedError{Job: job, Shard: shard, Holder: holder}
	}
	if err := hold.describe(ctx, h); err != nil {
		_ = hold.release(ctx)
		return nil, err
	}
	return &Lease{job: job, shard: shard, hold: hold, holder: h}, nil
}

// Holder returns the holder as the lease describes it to a run refused it.
func (l *Lease) Holder() Holder {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}

// SetRunID records the holder's run, once StartRun has given its id, so that a run refused the
// lease can name it.
func (l *Lease) SetRunID(ctx context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("checkpoint: set run of the lease of %s: released", l.name())
	}
	h := l.holder
	h.RunID = id
	if err := l.hold.describe(ctx, h); err != nil {
		return err
	}
	l.holder = h
	return nil
}

// Check returns nil while the lease is held, and an error wrapping ErrLeaseLost once it is not:
// a Postgres lease lives on a connection of its own, and a server restart or a network fault
// that cuts it drops the lock, which another run may then take. A run that finds its lease lost
// must stop before it sends anything more: the other run may already be sending. An SQLite
// lease is lost only by Release. For Postgres, Check pings the lease's connection: a round trip,
// which ctx does not interrupt once it is sent (pgx would close the connection, and drop the
// lock with it) and leaseTimeout bounds instead.
func (l *Lease) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("checkpoint: lease of %s: released: %w", l.name(), ErrLeaseLost)
	}
	return l.hold.check(ctx)
}

// Release lets the lease go and removes the description of its holder. It is idempotent: later
// calls return what the first returned. The lease is released even when Release returns an
// error, which says only that the description could not be removed; the next holder replaces
// it. Call it before closing the store.
func (l *Lease) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.released {
		ctx, cancel := context.WithTimeout(context.Background(), leaseTimeout)
		defer cancel()
		l.released = true
		l.err = l.hold.release(ctx)
	}
	return l.err
}

func (l *Lease) name() string { return jobShard(l.job, l.shard) }

// jobShard names a job and shard in errors.
func jobShard(job, shard string) string {
	if shard == "" {
		return fmt.Sprintf("job %q", job)
	}
	return fmt.Sprintf("job %q shard %q", job, shard)
}

// prepareLease checks the job and shard of a lease and completes its holder with the defaults,
// as both stores keep it.
func prepareLease(job, shard string, h Holder) (Holder, error) {
	if err := checkText(job); err != nil {
		return h, fmt.Errorf("job: %w", err)
	}
	if err := checkText(shard); err != nil {
		return h, fmt.Errorf("shard: %w", err)
	}
	if h.Host == "" {
		host, err := os.Hostname()
		if err != nil {
			return h, fmt.Errorf("host name: %w", err)
		}
		h.Host = host
	}
	h.Host = cleanText(h.Host)
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Since.IsZero() {
		h.Since = now()
	}
	h.Since = dbTime(h.Since)
	return h, nil
}

// leaseKey is the 64 bits that name the lease of job and shard within a namespace: the schema
// of a Postgres checkpoint, or "" for SQLite, whose lock files are named after the database.
// The parts are separated by NUL, which none of them can hold.
func leaseKey(namespace, job, shard string) uint64 {
	sum := sha256.Sum256([]byte("druid-migrate lease\x00" + namespace + "\x00" + job + "\x00" + shard))
	return binary.BigEndian.Uint64(sum[:8])
}

// upsertLease is the conflict clause of the description of a lease's holder, in the SQL both
// stores speak: a new holder replaces every column of the row of the job and shard.
const upsertLease = `ON CONFLICT (job, shard) DO UPDATE SET
		host = excluded.host,
		pid = excluded.pid,
		run_id = excluded.run_id,
		since = excluded.since`

// readHolder reads the rows of a look-up of migration_leases: host, pid, run_id, since.
func readHolder() ([]any, func() Holder) {
	var h Holder
	var since utcTime
	return []any{&h.Host, &h.PID, &h.RunID, &since}, func() Holder {
		h.Since = since.t
		return h
	}
}

// leaseHolder reads the description of the holder of the lease of job and shard: the zero
// Holder when there is none.
func leaseHolder(ctx context.Context, s querier, query, job, shard string) (Holder, error) {
	var holder Holder
	keep := func(h Holder) error {
		holder = h
		return nil
	}
	what := "holder of the lease of " + jobShard(job, shard)
	if _, err := each(ctx, s, what, readHolder, keep, query, job, shard); err != nil {
		return Holder{}, err
	}
	return holder, nil
}
