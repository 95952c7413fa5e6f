package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"druid-migrate/checkpoint"
)

// maxGroup bounds the outcomes of one checkpoint transaction.
const maxGroup = 4096

// committer is the single writer of the checkpoint. It group-commits: each transaction carries
// every outcome that arrived while the previous one was being written, so batches grow with
// throughput, while a writer waits for its own outcome to be durable — the outcomes not yet
// durable never exceed the writers waiting, one per worker plus the producer.
type committer struct {
	store  Store
	outage *outage
	in     chan *pending
	wg     sync.WaitGroup
}

type pending struct {
	rows []checkpoint.Row
	done chan error
}

func newCommitter(st Store, o *outage) *committer {
	c := &committer{store: st, outage: o, in: make(chan *pending, 64)}
	c.wg.Add(1)
	go c.loop()
	return c
}

// write returns once rows are durable, or with the error that kept them from being so.
func (c *committer) write(rows ...checkpoint.Row) error {
	p := &pending{rows: rows, done: make(chan error, 1)}
	c.in <- p
	return <-p.done
}

// close waits for the writes under way; no write may start after it.
func (c *committer) close() {
	close(c.in)
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	var (
		group []*pending
		rows  []checkpoint.Row
	)
	for first := range c.in {
		group = append(group[:0], first)
		rows = append(rows[:0], first.rows...)
	gather:
		for len(rows) < maxGroup {
			select {
			case p, ok := <-c.in:
				if !ok {
					break gather
				}
				group = append(group, p)
				rows = append(rows, p.rows...)
			default:
				break gather
			}
		}
		err := c.flush(rows)
		for _, p := range group {
			p.done <- err
		}
	}
}

// flush writes under deadlines of its own and never under the run's context: once DRUID has
// answered, the outcome is written even while the run shuts down. While the store cannot be
// reached the group is held and retried; every worker waits for its outcome meanwhile, so the
// run takes no new record until the store is back.
func (c *committer) flush(rows []checkpoint.Row) error {
	now := time.Now().UTC()
	for i := range rows {
		rows[i].UpdatedAt = now
	}
	return c.outage.do(fmt.Sprintf("write %d outcomes", len(rows)), len(rows), func(ctx context.Context) error {
		return c.store.Write(ctx, rows)
	})
}
