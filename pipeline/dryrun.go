package pipeline

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"druid-migrate/checkpoint"
	"druid-migrate/mapping"
	"druid-migrate/sink"
)

// DryRun builds and validates every record of src as a run would and writes each valid payload
// to w as one JSON line, in source order, exactly as it would be sent but with its password
// masked. It makes no call and writes no checkpoint; invalid records are logged and counted. Its
// memory does not grow with the users: it applies the repeated-key rule as a run does.
func DryRun(ctx context.Context, src Source, b Builder, w io.Writer, opts DryOptions) (s DrySummary, err error) {
	start := time.Now()
	rep, err := newRepeats(opts.OrderedKeys, keyFilterSize)
	if err != nil {
		return s, err
	}
	defer func() {
		if cerr := rep.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	d := &dryRun{ctx: ctx, opts: opts, enc: enc, sum: &s}
	if opts.Checkpoint != nil {
		d.hasher = NewHasher(opts.Job, opts.HashKey)
		s.Checked = true
	}
	for opts.Limit <= 0 || s.Read < opts.Limit {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				s.Interrupted = true
				break
			}
			return s, fmt.Errorf("read source: %w", err)
		}
		m := mapRecord(b, rec)
		if opts.Shard != nil && !opts.Shard(m.checkpointKey()) {
			s.OtherShards++
			continue
		}
		s.Read++
		d.queue = append(d.queue, drySlot{line: m.line})
		if m.key == "" {
			err = d.decide(m, 0, false)
		} else {
			err = rep.see(m, d.decide)
		}
		if err == nil && len(d.queue) > holdRecords {
			// A candidate keeps every record after it waiting: confirm it now.
			err = rep.settle(d.decide)
		}
		if err == nil {
			err = d.write()
		}
		if err != nil {
			return s, err
		}
		if s.Interrupted {
			break
		}
	}
	// The records read are all written, an interrupt's included, as the rule decides them.
	if err := rep.settle(d.decide); err != nil {
		return s, err
	}
	if err := d.write(); err != nil {
		return s, err
	}
	if !s.Interrupted {
		if err := d.lookUp(); err != nil {
			return s, err
		}
	}
	s.Elapsed = time.Since(start)
	if err := out.Flush(); err != nil {
		return s, fmt.Errorf("write payload: %w", err)
	}
	return s, nil
}

// dryRun keeps a dry run's records in source order from their reading to their output: the
// repeated-key rule may hold a record (a candidate) while it decides the records after it.
type dryRun struct {
	ctx   context.Context
	opts  DryOptions
	enc   *json.Encoder
	sum   *DrySummary
	queue []drySlot // read and not yet written, in source order

	// With a checkpoint: the valid users not yet looked up, and the hasher of their payloads.
	hasher  *Hasher
	pending map[string]string // key → payload hash
}

// consider counts, against the checkpoint, whether run would send the valid user b or skip it.
// Users are looked up in batches, as a run looks them up.
func (d *dryRun) consider(b built) error {
	if d.hasher == nil {
		d.sum.WouldSend++
		return nil
	}
	hash, err := d.hasher.Hash(b.payload)
	if err != nil {
		return fmt.Errorf("line %d: %w", b.line, err)
	}
	if d.pending == nil {
		d.pending = make(map[string]string, LookupBatchDefault)
	}
	d.pending[b.key] = hash
	if len(d.pending) >= LookupBatchDefault {
		return d.lookUp()
	}
	return nil
}

// lookUp decides the pending users: skipped when the checkpoint holds DRUID's answer to the
// same payload, as the run's skip rule says; sent otherwise.
func (d *dryRun) lookUp() error {
	if len(d.pending) == 0 {
		return nil
	}
	keys := make([]string, 0, len(d.pending))
	for k := range d.pending {
		keys = append(keys, k)
	}
	prior, err := d.opts.Checkpoint.Prior(d.ctx, d.opts.Job, keys)
	if err != nil {
		return fmt.Errorf("look up %d users in the checkpoint: %w", len(keys), err)
	}
	for k, hash := range d.pending {
		if p, ok := prior[k]; ok && p.PayloadHash == hash && sink.Outcome(p.Outcome).Answered() {
			d.sum.WouldSkip++
		} else {
			d.sum.WouldSend++
		}
	}
	clear(d.pending)
	return nil
}

// drySlot is one record of the queue: its line, which orders the source, and, once decided,
// what the rule made of it.
type drySlot struct {
	line    int
	decided bool
	b       built
}

// decide is the repeated-key rule's verdict on m, kept in m's slot until the records before it
// are written.
func (d *dryRun) decide(m mapped, first int, repeat bool) error {
	i, found := slices.BinarySearchFunc(d.queue, m.line, func(s drySlot, line int) int { return cmp.Compare(s.line, line) })
	if !found || d.queue[i].decided {
		return fmt.Errorf("dry-run: line %d decided twice or never read", m.line) // a bug, not bad input
	}
	d.queue[i] = drySlot{line: m.line, decided: true, b: m.decide(first, repeat)}
	return nil
}

// write writes the decided records at the head of the queue, in source order. An interrupt
// while Inspect asks DRUID ends the dry run, as interrupted.
func (d *dryRun) write() error {
	n := 0
	defer func() {
		if n > 0 {
			d.queue = append(d.queue[:0], d.queue[n:]...)
		}
	}()
	for ; n < len(d.queue) && d.queue[n].decided; n++ {
		r := d.queue[n].b
		if r.invalid != "" {
			d.sum.Invalid++
			d.opts.Log.Warn().Str("user_key", r.key).Int("line", r.line).Str("error", r.invalid).Msg("invalid record")
			continue
		}
		var line any = mapping.Mask(r.payload.Request)
		if d.opts.Inspect != nil {
			var err error
			if line, err = d.opts.Inspect(d.ctx, r.payload); err != nil {
				if d.ctx.Err() != nil {
					d.sum.Interrupted = true
					return nil
				}
				return fmt.Errorf("line %d (key %q): %w", r.line, r.key, err)
			}
		}
		if err := d.enc.Encode(line); err != nil {
			return fmt.Errorf("write payload: %w", err)
		}
		d.sum.Valid++
		if err := d.consider(r); err != nil {
			return err
		}
	}
	return nil
}

// DryOptions are a dry run's settings.
type DryOptions struct {
	Limit       int64 // stop after this many records; 0 reads them all
	OrderedKeys bool  // as Config.OrderedKeys
	// Inspect, when set, replaces each valid payload in the output by what it returns for it:
	// dry-run --diff writes what the replacement would change in DRUID. An error ends the run.
	Inspect func(ctx context.Context, p *sink.Payload) (any, error)
	// Checkpoint, when set, is the checkpoint of Job: each valid user is looked up in it, and
	// the summary counts those run would skip (DRUID answered the same payload) and those it
	// would send. Without it, every valid user would be sent.
	Checkpoint Lookup
	Job        string
	HashKey    []byte                // as Config.HashKey: the run's hashes are looked up
	Shard      func(key string) bool // as Config.Shard
	Log        zerolog.Logger
}

// Lookup is the part of the checkpoint a dry run reads: it never writes.
type Lookup interface {
	Prior(ctx context.Context, job string, keys []string) (map[string]checkpoint.Prior, error)
}

// DrySummary is what a dry run found.
type DrySummary struct {
	Read, Valid, Invalid int64
	// WouldSend and WouldSkip split the valid users as run would: skipped when the checkpoint
	// holds DRUID's answer to the same payload. Checked says a checkpoint was looked up.
	WouldSend, WouldSkip int64
	Checked              bool
	OtherShards          int64 // records of other shards, passed over (DryOptions.Shard)
	Elapsed              time.Duration
	Interrupted          bool
}
