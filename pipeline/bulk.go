package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

// Bulker is DRUID's Bulk API as a bulk run needs it (SPEC §2.3; sink.Bulk): upload a batch of
// JSON lines, read its state, and page through the users it failed.
type Bulker interface {
	Upload(ctx context.Context, body []byte) (bulkID string, err error)
	Status(ctx context.Context, bulkID string) (sink.BulkState, error)
	Failures(ctx context.Context, bulkID string, pageSize int, fn func(sink.BulkFailure) error) error
}

// Bulk are the settings of a run that sends through DRUID's Bulk API instead of one update per
// user (--sink bulk).
type Bulk struct {
	Sink Bulker
	// Size is the most lines of one batch (--bulk-size). Defaults to sink.BulkMaxLines.
	Size int
	// MaxBytes is the most bytes of one batch. Defaults to sink.BulkMaxBytes.
	MaxBytes int
	// Poll is the first wait between two reads of a batch's state (--bulk-poll); it grows
	// while the batch is processing, up to bulkPollMax times it. Defaults to BulkPollDefault.
	Poll time.Duration
	// Timeout is the longest wait for one batch's result (--bulk-timeout): past it, its users
	// stay submitted, and the next run polls the batch again. Defaults to BulkTimeoutDefault.
	Timeout time.Duration
	// Outstanding is how many batches may be uploaded and not yet answered at once. Defaults to
	// the run's Concurrency.
	Outstanding int
}

// Defaults of Bulk.
const (
	BulkPollDefault    = 5 * time.Second
	BulkTimeoutDefault = time.Hour
	// bulkPollMax bounds how far the poll interval grows, in multiples of Poll.
	bulkPollMax = 6
	// bulkPage is how many failed users one page of a batch's results holds.
	bulkPage = 1000
	// bulkUploads bounds the uploads of one batch that DRUID ends failed or forgets: past it,
	// its users are recorded failed, and the next run sends them again.
	bulkUploads = 3
)

// ErrBulkPending ends a bulk run whose batches DRUID had not finished within --bulk-timeout:
// their users stand submitted, and the next run polls them again.
var ErrBulkPending = fmt.Errorf("%w: bulk batches still processing past --bulk-timeout", ErrCheckpoint)

// bulkUser is one user of a batch: what its outcome rows need.
type bulkUser struct {
	key, objectID, hash string
	line                int
}

// batcher gathers a bulk run's users into batches and sends each as it fills, at most
// Outstanding at once: a batch is uploaded, its users recorded submitted with its bulk id,
// its state polled until DRUID has applied it, and its users recorded updated, or rejected
// with the reason DRUID gives.
type batcher struct {
	r    *run
	cfg  Bulk
	body []byte
	who  []bulkUser

	slots   chan struct{} // one per batch outstanding
	wg      sync.WaitGroup
	pending sync.Map // bulk id -> struct{}: batches past their timeout
}

func newBatcher(r *run, cfg Bulk) *batcher {
	if cfg.Size <= 0 || cfg.Size > sink.BulkMaxLines {
		cfg.Size = sink.BulkMaxLines
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > sink.BulkMaxBytes {
		cfg.MaxBytes = sink.BulkMaxBytes
	}
	if cfg.Poll <= 0 {
		cfg.Poll = BulkPollDefault
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = BulkTimeoutDefault
	}
	if cfg.Outstanding <= 0 {
		cfg.Outstanding = r.cfg.Concurrency
	}
	return &batcher{r: r, cfg: cfg, slots: make(chan struct{}, cfg.Outstanding)}
}

// add puts a user in the batch under way, sending the batch first when the user would not fit.
// A user without an objectId cannot be named in a line: it is invalid for the Bulk API.
func (b *batcher) add(p *sink.Payload, hash string) error {
	if p.ObjectID == "" {
		return b.r.commit.write([]checkpoint.Row{{Job: b.r.cfg.Job, Key: p.Key, Outcome: string(sink.Invalid),
			Error: fmt.Sprintf("line %d (key %q): objectId: the Bulk API names each user by it, and the record has none", p.Line, p.Key),
			RunID: b.r.cfg.RunID}}, []int{p.Line})
	}
	line := sink.AppendBulkLine(nil, p)
	if len(b.who) > 0 && (len(b.who) >= b.cfg.Size || len(b.body)+1+len(line) > b.cfg.MaxBytes) {
		b.flush()
	}
	if len(b.who) > 0 {
		b.body = append(b.body, '\n')
	}
	b.body = append(b.body, line...)
	b.who = append(b.who, bulkUser{key: p.Key, objectID: p.ObjectID, hash: hash, line: p.Line})
	return nil
}

// flush sends the batch under way, once a slot is free: that wait is the back-pressure of a
// bulk run.
func (b *batcher) flush() {
	if len(b.who) == 0 {
		return
	}
	body, who := b.body, b.who
	b.body, b.who = nil, nil
	b.slots <- struct{}{}
	b.wg.Go(func() {
		defer func() { <-b.slots }()
		b.send(body, who)
	})
}

// close sends the last batch and waits for every batch's result. It returns ErrBulkPending
// when a batch was still processing past --bulk-timeout.
func (b *batcher) close() error {
	if b.r.readCtx.Err() == nil {
		b.flush()
	}
	b.wg.Wait()
	pending := false
	b.pending.Range(func(any, any) bool {
		pending = true
		return false
	})
	if pending {
		return ErrBulkPending
	}
	return nil
}

// send uploads a batch, records its users submitted, and follows it to its result. A batch
// DRUID ends failed, or forgets, is uploaded again, up to bulkUploads times.
func (b *batcher) send(body []byte, who []bulkUser) {
	r := b.r
	for upload := 1; ; upload++ {
		if r.readCtx.Err() != nil {
			return // not uploaded: the next run sends these users
		}
		id, err := b.cfg.Sink.Upload(r.sendCtx, body)
		r.tally.requests.Add(1)
		if err != nil {
			b.uploadFailed(who, err)
			return
		}
		if err := b.record(who, submitted(id)); err != nil {
			r.stopReading(err)
			return
		}
		resent, err := b.follow(id, who)
		if err != nil {
			r.stopReading(err)
			return
		}
		if !resent {
			return
		}
		if upload >= bulkUploads {
			_ = b.record(who, func(u bulkUser) checkpoint.Row {
				return checkpoint.Row{Outcome: string(sink.Failed),
					Error: fmt.Sprintf("bulk batch %s: DRUID ended %d uploads of it failed, or forgot them; the next run sends the user again", id, upload)}
			})
			return
		}
		r.cfg.Log.Warn().Str("bulk_id", id).Int("users", len(who)).Int("upload", upload).
			Msg("bulk batch failed or forgotten by DRUID: uploading it again")
	}
}

// uploadFailed decides what an upload that did not take the batch means: DRUID unreachable
// or the run misconfigured stop the run, and leave its users to the next; DRUID refusing the
// batch records its users failed, to be sent again.
func (b *batcher) uploadFailed(who []bulkUser, err error) {
	r := b.r
	var fault *sink.RunFault
	switch {
	case errors.Is(err, sink.ErrUnreachable), errors.As(err, &fault), r.sendCtx.Err() != nil:
		r.stopReading(err)
		return
	}
	reason := "bulk upload refused: " + err.Error()
	if err := b.record(who, func(bulkUser) checkpoint.Row {
		return checkpoint.Row{Outcome: string(sink.Failed), Error: reason}
	}); err != nil {
		r.stopReading(err)
	}
}

// follow polls batch id until DRUID has applied it, then records its users' outcomes. It says
// resent when the batch must be uploaded again: DRUID ended it failed, or no longer knows it.
// A batch still processing past the timeout, or when the run stops, leaves its users
// submitted: the next run polls it.
func (b *batcher) follow(id string, who []bulkUser) (resent bool, err error) {
	r := b.r
	deadline := time.Now().Add(b.cfg.Timeout)
	wait := b.cfg.Poll
	for {
		state, err := b.cfg.Sink.Status(r.sendCtx, id)
		r.tally.requests.Add(1)
		switch {
		case errors.Is(err, sink.ErrBulkUnknown):
			return true, nil
		case err != nil && r.sendCtx.Err() != nil:
			return false, nil
		case err != nil:
			return false, fmt.Errorf("bulk batch %s: %w", id, err)
		case state == sink.BulkFailed:
			return true, nil
		case state == sink.BulkCompleted:
			return false, b.results(id, who)
		}
		if time.Now().Add(wait).After(deadline) {
			b.pending.Store(id, struct{}{})
			r.cfg.Log.Warn().Str("bulk_id", id).Int("users", len(who)).Float64("bulk_timeout_seconds", seconds(b.cfg.Timeout)).
				Msg("bulk batch still processing past --bulk-timeout: its users stay submitted; the next run polls it")
			return false, nil
		}
		select {
		case <-time.After(wait):
		case <-r.readCtx.Done():
			return false, nil // interrupted: the next run polls the batch
		}
		wait = min(wait*3/2, b.cfg.Poll*bulkPollMax)
	}
}

// results records the outcome of each user of a completed batch: rejected with DRUID's code
// and field errors for those the results list, updated for the others.
func (b *batcher) results(id string, who []bulkUser) error {
	r := b.r
	failed := map[string]sink.BulkFailure{}
	err := b.cfg.Sink.Failures(r.sendCtx, id, bulkPage, func(f sink.BulkFailure) error {
		failed[f.ObjectID] = f
		return nil
	})
	r.tally.requests.Add(1)
	if errors.Is(err, sink.ErrBulkUnknown) {
		// Completed, then its results expired before they were read: what DRUID applied is
		// unknown. Sent again, the users it applied come back unchanged.
		return b.record(who, func(bulkUser) checkpoint.Row {
			return checkpoint.Row{Outcome: string(sink.Failed),
				Error: fmt.Sprintf("bulk batch %s: its results expired before they were read; the next run sends the user again", id)}
		})
	}
	if err != nil {
		return fmt.Errorf("bulk batch %s: read its results: %w", id, err)
	}
	return b.record(who, func(u bulkUser) checkpoint.Row {
		f, ok := failed[u.objectID]
		if !ok {
			return checkpoint.Row{Outcome: string(sink.Updated), StatusCode: 200}
		}
		outcome, _ := sink.Classify(f.Status)
		if outcome == sink.Failed {
			outcome = sink.Rejected // a result is DRUID's verdict, never retried by the run
		}
		return checkpoint.Row{Outcome: string(outcome), StatusCode: f.Status, Error: bulkError(f)}
	})
}

// bulkError is the error of a user a batch failed: DRUID's field errors, as an update's.
func bulkError(f sink.BulkFailure) string {
	se := sink.StatusError{Code: f.Status, Fields: f.Errors}
	return se.Error()
}

// submitted is the row of a user uploaded in batch id, whose result is not known yet: the
// batch's results name it by its objectId, which the row keeps for a run that resumes it.
func submitted(id string) func(bulkUser) checkpoint.Row {
	return func(u bulkUser) checkpoint.Row {
		return checkpoint.Row{Outcome: checkpoint.SubmittedOutcome, BulkID: id, ObjectID: u.objectID}
	}
}

// record writes one row per user, as row makes it, in one group, and counts the final outcomes.
func (b *batcher) record(who []bulkUser, row func(bulkUser) checkpoint.Row) error {
	r := b.r
	rows := make([]checkpoint.Row, len(who))
	lines := make([]int, len(who))
	for i, u := range who {
		x := row(u)
		x.Job, x.Key, x.PayloadHash, x.RunID = r.cfg.Job, u.key, u.hash, r.cfg.RunID
		if x.Attempts == 0 {
			x.Attempts = 1
		}
		rows[i], lines[i] = x, u.line
	}
	if err := r.commit.write(rows, lines); err != nil && !isRefused(err) {
		return err
	}
	for _, x := range rows {
		if x.Outcome == checkpoint.SubmittedOutcome {
			continue
		}
		r.tally.add(sink.SendResult{Outcome: sink.Outcome(x.Outcome), Code: x.StatusCode})
		if x.Outcome != string(sink.Updated) {
			r.cfg.Log.Warn().Str("user_key", x.Key).Str("outcome", x.Outcome).Int("status_code", x.StatusCode).
				Str("error", x.Error).Msg("user sent in bulk")
		}
	}
	return nil
}

// resume follows the batches an earlier bulk run of the job uploaded and did not see to their
// end (their users stand submitted), before this run reads its source: each is polled to its
// result and its users recorded, so that none is uploaded twice. A batch DRUID no longer knows,
// or ended failed, has its users recorded failed: this run, reading them again, sends them.
func (b *batcher) resume(ctx context.Context, st SubmittedStore) error {
	r := b.r
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	err := st.Submitted(ctx, r.cfg.Job, func(id string, rows []checkpoint.Row) error {
		who := make([]bulkUser, len(rows))
		for i, x := range rows {
			who[i] = bulkUser{key: x.Key, objectID: x.ObjectID, hash: x.PayloadHash}
		}
		b.slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-b.slots }()
			err := b.followResumed(id, who)
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
		return nil
	})
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%w: the users left submitted: %w", ErrCheckpoint, err)
	}
	return first
}

// followResumed follows a batch of an earlier run to its result. One DRUID no longer knows, or
// ended failed, or that was recorded without its id, has its users recorded failed: the run
// then sends them again as it reads them.
func (b *batcher) followResumed(id string, who []bulkUser) error {
	resend := id == ""
	if !resend {
		var err error
		if resend, err = b.follow(id, who); err != nil {
			return err
		}
	}
	if !resend {
		return nil
	}
	b.r.cfg.Log.Warn().Str("bulk_id", id).Int("users", len(who)).
		Msg("a bulk batch of an earlier run failed, or DRUID no longer knows it: its users are sent again")
	return b.record(who, func(bulkUser) checkpoint.Row {
		return checkpoint.Row{Outcome: string(sink.Failed),
			Error: fmt.Sprintf("bulk batch %q: failed, or no longer known to DRUID; sent again", id)}
	})
}

// SubmittedStore gives back the users an earlier bulk run left submitted, by batch.
type SubmittedStore interface {
	Submitted(ctx context.Context, job string, fn func(bulkID string, rows []checkpoint.Row) error) error
}
