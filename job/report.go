package job

import (
	"context"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

// Status is what `status` reports of a job.
type Status struct {
	Job string
	// Counts are the job's users per outcome and status code, ordered by outcome, then code.
	Counts []checkpoint.StatusCount
	// LastRun is the job's newest run; nil when it has none.
	LastRun *checkpoint.Run
}

// ReportStatus reads the job's status from the checkpoint. A job the checkpoint does not know
// is a configuration error naming --job.
func ReportStatus(ctx context.Context, cfg Config) (Status, error) {
	cfg.as(CommandStatus)
	st := Status{Job: cfg.Job}
	err := withStore(ctx, &cfg, func(store checkpoint.Store) error {
		counts, err := store.Status(ctx, cfg.Job)
		if err != nil {
			return jobError(cfg.Job, err)
		}
		st.Counts = counts
		runs, err := store.Runs(ctx, cfg.Job)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			st.LastRun = &runs[0]
		}
		return nil
	})
	return st, err
}

// ReportRuns reads the job's runs from the checkpoint, newest first.
func ReportRuns(ctx context.Context, cfg Config) ([]checkpoint.Run, error) {
	cfg.as(CommandRuns)
	var runs []checkpoint.Run
	err := withStore(ctx, &cfg, func(store checkpoint.Store) error {
		var err error
		runs, err = store.Runs(ctx, cfg.Job)
		return jobError(cfg.Job, err)
	})
	return runs, err
}

// FailureOutcomes are the outcomes `failures` lists.
var FailureOutcomes = []string{string(sink.Failed), string(sink.Rejected), string(sink.Invalid)}

// ReportFailures calls fn with each of the job's users whose last outcome is one of
// FailureOutcomes, in byte order of key, streamed from the checkpoint.
func ReportFailures(ctx context.Context, cfg Config, fn func(checkpoint.Row) error) error {
	cfg.as(CommandFailures)
	return withStore(ctx, &cfg, func(store checkpoint.Store) error {
		return jobError(cfg.Job, store.Failures(ctx, cfg.Job, FailureOutcomes, fn))
	})
}

// Migrate is `migrate`: it creates the checkpoint's schema or upgrades it.
func Migrate(ctx context.Context, cfg Config) error {
	cfg.as(CommandMigrate)
	return withStore(ctx, &cfg, func(checkpoint.Store) error {
		cfg.Log.Info().Msg("checkpoint schema is up to date")
		return nil
	})
}

// withStore validates cfg, opens the checkpoint for fn and closes it after.
func withStore(ctx context.Context, cfg *Config, fn func(checkpoint.Store) error) error {
	if err := cfg.check(); err != nil {
		return err
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}
