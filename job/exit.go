package job

import (
	"context"
	"errors"

	"druid-migrate/checkpoint"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// Exit codes of SPEC §5.
const (
	ExitOK          = 0
	ExitFailures    = 1
	ExitConfig      = 2
	ExitLost        = 3
	ExitLeased      = 4
	ExitInterrupted = 130
)

// ErrFailures ends a command that did its work but some record ended, or, skipped, still
// stands invalid, rejected or failed: a nightly job stays red until its data is fixed.
var ErrFailures = errors.New("some records are invalid, rejected or failed")

// ErrInterrupted ends a command that a signal stopped: what it did is recorded, the next run
// resumes.
var ErrInterrupted = errors.New("interrupted")

// ErrLost ends a run whose checkpoint was lost mid-run and did not come back in time: nothing is
// lost, the next run resumes. A run that lost DRUID past --druid-timeout ends with an error
// wrapping sink.ErrUnreachable, which means the same, and a run whose first call found its own
// configuration wrong with a *sink.RunFault, a configuration error.
var ErrLost = pipeline.ErrCheckpoint

// ExitCode is the process exit code that a command's error calls for: the one place errors
// become exit codes. The command line exits with it, and a run records it in its row of
// migration_runs.
func ExitCode(err error) int {
	var cfgErr *ConfigError
	var fault *sink.RunFault
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrLost), errors.Is(err, sink.ErrUnreachable):
		return ExitLost
	case errors.As(err, &fault):
		return ExitConfig
	case errors.Is(err, checkpoint.ErrLeased):
		return ExitLeased
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &cfgErr):
		return ExitConfig
	}
	return ExitFailures
}

// Quiet says whether err needs no message of its own: the command's summary or log already
// says what happened.
func Quiet(err error) bool {
	return errors.Is(err, ErrFailures) || errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled)
}

// endOf is the error a finished run ends with: runErr when the run could not go on, else what
// its summary calls for.
func endOf(sum pipeline.Summary, runErr error) error {
	switch {
	case runErr != nil:
		return runErr
	case sum.Interrupted:
		return ErrInterrupted
	case sum.Troubled():
		return ErrFailures
	}
	return nil
}
