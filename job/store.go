package job

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"druid-migrate/checkpoint"
	"druid-migrate/internal/pgurl"

	"github.com/rs/zerolog"
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
//
// Holding it, claim closes the runs of the job (and shard) that died without recording their
// end — killed, or stopped by a lost checkpoint — so that `runs` shows them ended.
func claim(ctx context.Context, cfg *Config, job string) (checkpoint.Store, *keeper, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	shard := cfg.shard.String()
	lease, err := store.Lease(ctx, job, shard, checkpoint.Holder{})
	if err != nil {
		store.Close()
		if errors.Is(err, checkpoint.ErrLeased) {
			return nil, nil, err
		}
		return nil, nil, configErr(fmt.Errorf("--checkpoint: take the lease of job %q: %w", job, err))
	}
	k := &keeper{store: store, job: job, shard: shard, lease: lease, log: cfg.Log}
	if n, err := store.AbandonRuns(ctx, job, shard); err != nil {
		k.Release()
		store.Close()
		return nil, nil, lost("close the job's abandoned runs", err)
	} else if n > 0 {
		cfg.Log.Info().Int64("runs", n).Msg("earlier runs of the job ended without recording their end (killed, or their checkpoint lost): marked ended")
	}
	return store, k, nil
}

// keeper holds a run's lease. A Postgres lease is a lock of a connection: a restart of the
// server drops it with the connection, and the run, which waits out the outage, must hold it
// again before it goes on. The keeper takes it again once the checkpoint is back, unless another
// run took the job meanwhile: then the run must stop.
type keeper struct {
	store      checkpoint.Store
	job, shard string
	log        zerolog.Logger

	mu    sync.Mutex
	lease *checkpoint.Lease
	runID int64
}

// check says whether the run may go on holding its job: nil while it holds the lease, or while
// the checkpoint cannot be reached to take it again (the outage is the run's to wait out); an
// error wrapping checkpoint.ErrLeased once another run has taken the job.
func (k *keeper) check(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.lease.Check(ctx); !errors.Is(err, checkpoint.ErrLeaseLost) {
		return nil
	}
	again, err := k.store.Lease(ctx, k.job, k.shard, checkpoint.Holder{RunID: k.runID})
	switch {
	case err == nil:
		_ = k.lease.Release()
		k.lease = again
		k.log.Warn().Msg("the job's lease went with the checkpoint's connection; taken again")
		return nil
	case errors.Is(err, checkpoint.ErrLeased):
		return err
	}
	return nil // not reachable yet: taken again at a later check
}

// setRunID names the run in the lease, so that a run refused it can say which run holds it.
func (k *keeper) setRunID(ctx context.Context, id int64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.runID = id
	return k.lease.SetRunID(ctx, id)
}

// Release lets go of the job.
func (k *keeper) Release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	_ = k.lease.Release()
}

// startRun records the start of the run of command (of the lease's shard) and names it in the
// lease.
func startRun(ctx context.Context, store checkpoint.Store, lease *keeper, job, command string) (int64, error) {
	runID, err := store.StartRun(ctx, job, command, lease.shard)
	if err != nil {
		return 0, lost("", err)
	}
	if err := lease.setRunID(ctx, runID); err != nil {
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
