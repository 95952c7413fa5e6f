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
}

// Prior is what the checkpoint holds for a user, as the skip rule needs it.
type Prior struct {
	Outcome     string
	PayloadHash string
	StatusCode  int
}

// Run is a row of migration_runs.
type Run struct {
	ID         int64
	Job        string
	Command    string
	StartedAt  time.Time
	FinishedAt *time.Time
	Counts     Counts
	ExitCode   *int
}

// Counts are a run's totals.
type Counts struct {
	Read      int64
	Skipped   int64
	Updated   int64
	Partial   int64
	Unchanged int64
	Invalid   int64
	Rejected  int64
	Failed    int64
}

// StatusCount is one line of `status`: how many users of the job stand at an outcome and code.
type StatusCount struct {
	Outcome    string
	StatusCode int
	Users      int64
}
