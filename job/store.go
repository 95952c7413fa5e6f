package job

import (
	"context"
	"errors"
	"fmt"

	"druid-migrate/checkpoint"
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
	return store, nil
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
