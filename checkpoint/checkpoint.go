package checkpoint

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a run or job asked for does not exist.
var ErrNotFound = errors.New("checkpoint: not found")

// Row is one user's latest outcome: a row of migration_status.
type Row struct {
	Job         string
	Key         string
	StatusCode  int
	Outcome     string
	Attempts    int
	PayloadHash string
	Error       string
	RunID       int64
	UpdatedAt   time.Time
	// BulkID is DRUID's id of the bulk batch that carried the user (SPEC §2.3), "" for a user
	// of no batch. A user of a batch whose result is not known yet is at SubmittedOutcome.
	BulkID string
	// ObjectID is the user's DRUID id as its bulk batch's line named it: the batch's results
	// name users by it. "" for a user of no batch.
	ObjectID string
}

// SubmittedOutcome is the outcome of a user uploaded in a bulk batch whose result is not known
// yet: not an answer of DRUID, so the skip rule must not take it for one. Row.BulkID names the
// batch, which Store.Submitted gives back to a run that resumes the job.
const SubmittedOutcome = "submitted"

// Prior is what the checkpoint holds for a user, as the skip rule needs it.
type Prior struct {
	Outcome     string
	PayloadHash string
	StatusCode  int
}

// Run is a row of migration_runs.
type Run struct {
	ID      int64
	Job     string
	Command string
	// Shard is the part of the job the run took: "" for the whole job, "I/N" for one of its
	// shards (SPEC §4).
	Shard     string
	StartedAt time.Time
	// FinishedAt is nil while the run goes on, and for a run that died until Store.AbandonRuns
	// records its end.
	FinishedAt *time.Time
	Counts     Counts
	// ExitCode is nil until FinishRun records it: a run that died has none.
	ExitCode *int
}

// JobInfo is what the checkpoint holds of one job, as a list of its jobs shows it.
type JobInfo struct {
	Job string
	// Users is how many users the job has a row for; Keyless how many records without a user
	// (see StatusCount.Keyless).
	Users, Keyless int64
	// LastRun is the job's newest run, whatever its shard; nil when it has none.
	LastRun *Run
}

// Counts are a run's totals.
type Counts struct {
	Read      int64 `json:"read"`
	Skipped   int64 `json:"skipped"`
	Updated   int64 `json:"updated"`
	Partial   int64 `json:"partial"`
	Unchanged int64 `json:"unchanged"`
	Invalid   int64 `json:"invalid"`
	Rejected  int64 `json:"rejected"`
	Failed    int64 `json:"failed"`
}

// KeylessPrefix starts the key of a row that records a record without a user: a malformed row,
// an empty key, a key that repeats an earlier record's, or one that cannot be stored. Such a row
// is keyed by the record's place in the source, KeylessPrefix followed by its line number, and
// a full run records them all again.
const KeylessPrefix = "#line "

// StatusCount is one line of `status`: how many users of the job stand at an outcome and code,
// or, when Keyless, how many records without a user.
type StatusCount struct {
	Outcome    string
	StatusCode int
	// Users is how many rows stand there: users, or records without a user when Keyless.
	Users int64
	// Keyless says that the rows counted are records without a user, whose keys start with
	// KeylessPrefix, so that a report can tell "N users" from "M records without a user".
	Keyless bool
}

// Filter narrows Select to some of a job's rows. A field left empty does not narrow: the zero
// Filter selects every row of the job. Values no row can hold (text that is not UTF-8, a code
// beyond an integer column) match nothing.
type Filter struct {
	// Outcomes keeps the rows whose outcome is one of these: "failed" and "rejected" for retry.
	Outcomes []string
	// Codes keeps the rows whose status code is one of these, as retry's --codes does; 0 is the
	// code of a user never answered (invalid, or a network failure).
	Codes []int
}

// Watermark is how far the incremental sync of a job, or of one of its shards, has read its
// source: a row of migration_watermarks. It moves only when a run completes, so a run that
// stopped half-way reads again everything changed since the last complete one.
type Watermark struct {
	// Column is the source column the watermark is a value of (--since-column). A run given
	// another column must not trust the Value.
	Column string
	// Value is the greatest value of Column that the completed run read. It is kept in UTC to the
	// microsecond, as Postgres keeps times: finer digits are cut, never rounded up, so a row at
	// that very instant is read once more rather than missed.
	Value time.Time
	// RunID is the run that set the watermark.
	RunID int64
}

// Backup is a user's state as DRUID held it just before a run's first update of it: a row of
// migration_backups, written by run --backup and read by rollback, which sends it back.
type Backup struct {
	Job   string
	RunID int64 // the run that changed the user: what rollback --run names
	Key   string
	// ObjectID is DRUID's id of the user, the one rollback sends the state back to.
	ObjectID string
	// State is the user as DRUID returned it, as JSON, kept byte for byte: rollback sends back
	// exactly this. It must never hold a password: the checkpoint is not a place for secrets.
	State []byte
	// CreatedAt is when the state was read. A zero CreatedAt is stored as the current time.
	CreatedAt time.Time
}
