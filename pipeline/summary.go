package pipeline

import (
	"sync/atomic"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

// Summary is what a run did, printed at its end and stored with its row in migration_runs.
type Summary struct {
	checkpoint.Counts
	// Codes counts the users sent by this run per HTTP status of their last call (0: never
	// answered).
	Codes map[int]int64
	// Requests is the number of HTTP calls made, retries included.
	Requests int64
	// StillRejected counts the users skipped because DRUID already rejected the same payload:
	// they keep a nightly job red until their data is fixed.
	StillRejected int64
	Elapsed       time.Duration
	// Throttling is what DRUID's throttling did to the run; the command fills it from its
	// client, which owns the shared limiter.
	Throttling Throttling
	// Interrupted is set when a signal stopped the run before its source was exhausted.
	Interrupted bool
	// OtherShards counts the records of the source that belong to other shards of the job:
	// read and passed over (Config.Shard).
	OtherShards int64
	// Unrecorded counts the users DRUID answered whose outcome the checkpoint could not record
	// (it was unreachable when the run stopped): the next run sends them again.
	Unrecorded int64
}

// Throttling is how the run slowed down when DRUID answered 429, or 503 with Retry-After.
type Throttling struct {
	Retries       int64   `json:"retries"`        // tries after a transient failure or a refreshed token
	Throttled     int64   `json:"throttled"`      // answers 429, and 503 with Retry-After
	SlowDowns     int64   `json:"slow_downs"`     // cuts of the shared rate
	MinRate       float64 `json:"min_rate"`       // the lowest rate the job went down to, per second; 0: unlimited
	TokenRequests int64   `json:"token_requests"` // challenge-code token calls
}

// Troubled says whether a user ended, or, skipped, still stands invalid, rejected or failed:
// what keeps a nightly job red until its data is fixed.
func (s Summary) Troubled() bool {
	return s.Invalid+s.Rejected+s.Failed+s.StillRejected > 0
}

// Rate is the achieved request rate, in calls per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// tally counts a run's progress from many goroutines.
type tally struct {
	read, skipped, stillRejected, requests, inFlight atomic.Int64
	unrecorded, otherShards                          atomic.Int64
	invalid                                          atomic.Int64
	outcomes                                         [6]atomic.Int64 // by outcomeIndex
	codes                                            [600]atomic.Int64
}

func newTally() *tally { return &tally{} }

var outcomeOrder = [...]sink.Outcome{sink.Updated, sink.Partial, sink.Unchanged, sink.Invalid, sink.Rejected, sink.Failed}

func outcomeIndex(o sink.Outcome) int {
	for i, x := range outcomeOrder {
		if x == o {
			return i
		}
	}
	return 5 // an unknown outcome is counted failed rather than lost
}

func (t *tally) add(res sink.SendResult) {
	t.outcomes[outcomeIndex(res.Outcome)].Add(1)
	t.requests.Add(int64(res.Attempts))
	if res.Code >= 0 && res.Code < len(t.codes) {
		t.codes[res.Code].Add(1)
	}
}

func (t *tally) skip(prior sink.Outcome) {
	t.skipped.Add(1)
	if prior == sink.Rejected {
		t.stillRejected.Add(1)
	}
}

// done is the number of records whose fate is settled.
func (t *tally) done() int64 {
	n := t.skipped.Load() + t.invalid.Load()
	for i := range t.outcomes {
		n += t.outcomes[i].Load()
	}
	return n
}

// counts is the run's counts so far; the summary's, and Live's.
func (t *tally) counts() checkpoint.Counts {
	return checkpoint.Counts{
		Read:      t.read.Load(),
		Skipped:   t.skipped.Load(),
		Updated:   t.outcomes[0].Load(),
		Partial:   t.outcomes[1].Load(),
		Unchanged: t.outcomes[2].Load(),
		Invalid:   t.outcomes[3].Load() + t.invalid.Load(),
		Rejected:  t.outcomes[4].Load(),
		Failed:    t.outcomes[5].Load(),
	}
}

func (t *tally) summary(elapsed time.Duration) Summary {
	s := Summary{Counts: t.counts(), Elapsed: elapsed, Codes: map[int]int64{}}
	s.StillRejected = t.stillRejected.Load()
	s.Unrecorded = t.unrecorded.Load()
	s.OtherShards = t.otherShards.Load()
	s.Requests = t.requests.Load()
	for c := range t.codes {
		if n := t.codes[c].Load(); n > 0 {
			s.Codes[c] = n
		}
	}
	return s
}
