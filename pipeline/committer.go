package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

// maxGroup bounds the outcomes of one checkpoint transaction.
const maxGroup = 4096

// How long a group waits for more outcomes while workers are still sending. A transaction's
// fixed cost (locks, the WAL's frames, Postgres's round trip and fsync) is paid per group, not
// per outcome, so at thousands of users a second a short wait turns groups of two or three into
// groups of ten or more; against a DRUID answering in 50 ms it adds little to a worker's cycle.
// The wait suits the cost it spreads. A Postgres commit is a round trip and a flush of the
// server's log, about a millisecond on a busy machine. A SQLite commit is a few hundred
// microseconds of this process's CPU: a longer wait leaves workers idle for longer than the
// commit it saves, a shorter one leaves the groups small. docs/performance.md has the
// measurements behind both values.
const (
	lingerRemote = time.Millisecond
	lingerLocal  = 250 * time.Microsecond
)

// committer is the single writer of the checkpoint. It group-commits: each transaction carries
// every outcome that arrived while the previous one was being written, so batches grow with
// throughput, while a writer waits for its own outcome to be durable — the outcomes not yet
// durable never exceed the writers waiting, one per worker plus the producer. A store that
// writes in parallel (ParallelWriter) gets that many groups at once; no two hold the same user,
// since a run sends each user once.
type committer struct {
	store  Store
	outage *outage
	// sending returns how many workers are calling DRUID now: the outcomes that may still join
	// a group. With none, the group is written at once.
	sending func() int64
	// durable is told of each worker's user once its row is written, or could not be, before
	// the worker hears of it.
	durable func(*handed, error)
	// linger is how long a group waits for more outcomes: lingerRemote or lingerLocal.
	linger time.Duration
	// flushing holds a token per group being written: as many as the store writes at once.
	flushing chan struct{}
	in       chan *pending
	wg       sync.WaitGroup
}

// ParallelWriter is a Store that can write several groups at once, each in a transaction of
// its own: Postgres, whose commits wait for the disk, makes one flush of its log serve every
// transaction that commits meanwhile; its groups wait lingerRemote for more outcomes. SQLite
// has a single writer and does not implement it.
type ParallelWriter interface {
	ParallelWrites() int
}

type pending struct {
	rows  []checkpoint.Row
	lines []int   // the source line of each row: what names a row the checkpoint refuses
	sent  *handed // a worker's user, counted by durable once written; nil for other rows
	done  chan error
}

// refusedError is what a write returns to the one who wrote a single row that the checkpoint
// refused for what it holds (a key too long for its index, say): the row was recorded invalid
// under its line instead, and the run goes on.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return e.reason }

func newCommitter(st Store, o *outage, sending func() int64, durable func(*handed, error)) *committer {
	parallel, linger := 1, lingerLocal
	if pw, ok := st.(ParallelWriter); ok {
		parallel, linger = max(1, pw.ParallelWrites()), lingerRemote
	}
	c := &committer{store: st, outage: o, sending: sending, durable: durable, linger: linger, in: make(chan *pending, 64),
		flushing: make(chan struct{}, parallel)}
	c.wg.Add(1)
	go c.loop()
	return c
}

// write returns once rows are durable, or with the error that kept them from being so. lines
// are the rows' source lines, one each. A single row the checkpoint refused for its content is
// recorded invalid under its line instead: write then returns a *refusedError.
func (c *committer) write(rows []checkpoint.Row, lines []int) error {
	return <-c.submit(rows, lines, nil).done
}

// submit hands rows to the committer and returns at once: the pending's done says, once, what
// write would have returned. sent, when set, is the worker's user the rows record: durable is
// told of it first.
func (c *committer) submit(rows []checkpoint.Row, lines []int, sent *handed) *pending {
	p := &pending{rows: rows, lines: lines, sent: sent, done: make(chan error, 1)}
	c.in <- p
	return p
}

// close waits for the writes under way; no write may start after it.
func (c *committer) close() {
	close(c.in)
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	lingerTimer := time.NewTimer(c.linger)
	lingerTimer.Stop()
	for first := range c.in {
		group := []*pending{first}
		rows := append([]checkpoint.Row(nil), first.rows...)
		lines := append([]int(nil), first.lines...)
		lingerTimer.Reset(c.linger)
		lingering, in := lingerTimer.C, c.in
		take := func(p *pending, ok bool) {
			if !ok {
				in = nil // closed: the group goes, the last
				return
			}
			group, rows, lines = append(group, p), append(rows, p.rows...), append(lines, p.lines...)
		}
		for {
			// Take every outcome already waiting before deciding whether the group is complete.
			if in != nil && len(rows) < maxGroup {
				select {
				case p, ok := <-in:
					take(p, ok)
					continue
				default:
				}
			}
			if in == nil || len(rows) >= maxGroup {
				c.flushing <- struct{}{}
				break
			}
			// The group goes as soon as a writer is free, once the linger is over or no worker
			// is sending; until then it takes every outcome that arrives. An outcome that
			// arrives while the previous group is being written joins the next one, not the one
			// after.
			var free chan<- struct{}
			if lingering == nil || c.sending() == 0 {
				free = c.flushing
			}
			select {
			case p, ok := <-in:
				take(p, ok)
				continue
			case <-lingering:
				lingering = nil
				continue
			case free <- struct{}{}:
			}
			break
		}
		lingerTimer.Stop()
		c.wg.Go(func() {
			defer func() { <-c.flushing }()
			refused, err := c.flush(rows, lines)
			at := 0
			for _, p := range group {
				perr := err
				if reason, ok := refused[at]; ok && perr == nil && len(p.rows) == 1 {
					perr = &refusedError{reason}
				}
				at += len(p.rows)
				if p.sent != nil {
					c.durable(p.sent, perr)
				}
				p.done <- perr
			}
		})
	}
}

// flush writes under deadlines of its own and never under the run's context: once DRUID has
// answered, the outcome is written even while the run shuts down. While the store cannot be
// reached the group is held and retried; every worker waits for its outcome meanwhile, so the
// run takes no new record until the store is back.
//
// A row the store refuses for what it holds is no outage: the others are durable, and the
// refused one is recorded invalid under its line, with the database's reason; flush returns the
// reasons by the rows' indexes.
func (c *committer) flush(rows []checkpoint.Row, lines []int) (map[int]string, error) {
	now := time.Now().UTC()
	for i := range rows {
		rows[i].UpdatedAt = now
	}
	var refused *checkpoint.RowsRefused
	err := c.outage.do(fmt.Sprintf("write %d outcomes", len(rows)), len(rows), func(ctx context.Context) error {
		err := c.store.Write(ctx, rows)
		if errors.As(err, &refused) {
			return nil // the others are durable
		}
		return err
	})
	if err != nil || refused == nil {
		return nil, err
	}
	reasons := make(map[int]string, len(refused.Rows))
	replacements := make([]checkpoint.Row, 0, len(refused.Rows))
	for _, rr := range refused.Rows {
		r := rows[rr.Index]
		reason := fmt.Sprintf("line %d (key %s): the checkpoint cannot store this user's row: %s",
			lines[rr.Index], shownKey(r.Key), rr.Reason)
		reasons[rr.Index] = reason
		replacements = append(replacements, checkpoint.Row{Job: r.Job, Key: keyless(lines[rr.Index]),
			Outcome: string(sink.Invalid), Error: reason, RunID: r.RunID, UpdatedAt: now})
	}
	err = c.outage.do(fmt.Sprintf("write %d refused rows as invalid", len(replacements)), len(replacements), func(ctx context.Context) error {
		return c.store.Write(ctx, replacements)
	})
	return reasons, err
}

// shownKeyMax bounds what an error shows of a key: a key may be kilobytes long.
const shownKeyMax = 64

// shownKey is key quoted for an error or a log line, cut to shownKeyMax bytes.
func shownKey(key string) string {
	if len(key) > shownKeyMax {
		return strconv.Quote(key[:shownKeyMax]) + "…"
	}
	return strconv.Quote(key)
}
