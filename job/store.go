package job

import (
	"context"
	"errors"
	"fmt"

	"druid-migrate/checkpoint"
	"druid-migrate/internal/pgurl"
)

// OpenStore opens and migrates the checkpoint of cfg; failing to reach it at start is a
// configuration error.
func OpenStore(ctx context.Context, cfg *Config) (checkpoint.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := checkpoint.Open(ctx, cfg.Checkpoint, checkpoint.Options{Schema: cfg.CheckpointSchema})
	if err != nil {
		return nil, configErr(fmt.Errorf("--checkpoint: %w", err))
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, configErr(fmt.Errorf("--checkpoint: %w", err))
	}
	for _, w := range store.Warnings() {
		cfg.Log.Warn().Str("checkpoint", pgurl.Redact(cfg.Checkpoint)).Msg(w)
	}
	return store, nil
}

// claim opens the checkpoint and takes the lease of job: one run of a job at a time (SPEC §4).
// Another run holding it ends this one at once, before anything is read or sent, with an error
// naming the holder (exit 4). The caller releases the lease, then closes the store.
func claim(ctx context.Context, cfg *Config, job string) (checkpoint.Store, *checkpoint.Lease, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	lease, err := store.Lease(ctx, job, "", checkpoint.Holder{})
	if err != nil {
		store.Close()
		if errors.Is(err, checkpoint.ErrLeased) {
			return nil, nil, err
		}
		return nil, nil, configErr(fmt.Errorf("--checkpoint: take the lease of job %q: %w", job, err))
	}
	return store, lease, nil
}

// startRun records the start of the run of command and names it in the lease, so that a run
// refused the lease can say which run holds it.
func startRun(ctx context.Context, store checkpoint.Store, lease *checkpoint.Lease, job, command string) (int64, error) {
	runID, err := store.StartRun(ctx, job, command, "")
	if err != nil {
		return 0, lost("", err)
	}
	if err := lease.SetRunID(ctx, runID); err != nil {
		return 0, lost("name the run in its lease", err)
	}
	return runID, nil
}

// lost marks an error of the checkpoint mid-run: the run stops, and the next one resumes.
func lost(what string, err error) error {
	if what == "" {
		return fmt.Errorf("%w: %w", ErrLost, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrLost, what, err)
}

// jobError names the job when the checkpoint does not know it: most often a mistyped --job.
func jobError(job string, err error) error {
	if errors.Is(err, checkpoint.ErrNotFound) {
		return configErrorf("--job: the checkpoint holds no job %q", job)
	}
	return err
}
