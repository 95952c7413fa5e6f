package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/internal/pgurl"
	"druid-migrate/pipeline"
	"druid-migrate/source"
)

// DryRun is `dry-run`: it builds and validates every record of the source and writes each
// payload to cfg.Stdout as a JSON line, passwords masked; with cfg.Diff, what the replacement
// would change in DRUID instead. It makes no update and writes no checkpoint. The error is
// ErrFailures when a record is invalid.
func DryRun(ctx context.Context, cfg Config) (pipeline.DrySummary, error) {
	cfg.as(CommandDryRun)
	if err := cfg.check(); err != nil {
		return pipeline.DrySummary{}, err
	}
	log := cfg.Log
	in, err := openInput(ctx, &cfg)
	if err != nil {
		return pipeline.DrySummary{}, err
	}
	defer in.Close()
	if cfg.AppID == "" {
		log.Warn().Msg("--app-id is empty: these payloads carry no actor.id, and run refuses to send them")
	}
	if err := in.start(ctx, source.Scan{}); err != nil {
		return pipeline.DrySummary{}, err
	}
	opts := pipeline.DryOptions{Limit: cfg.Limit, OrderedKeys: in.orderedKeys(), Log: log, Shard: cfg.shard.filter()}
	var d *differ
	if cfg.Diff {
		if d, err = newDiffer(&cfg); err != nil {
			return pipeline.DrySummary{}, err
		}
		defer d.reader.Close()
		if err := preflight(ctx, d.reader); err != nil {
			return pipeline.DrySummary{}, err
		}
		opts.Inspect = d.inspect
	}
	if !cfg.Force {
		if store := openToLookUp(ctx, &cfg); store != nil {
			defer store.Close()
			key, err := cfg.hashKey()
			if err != nil {
				return pipeline.DrySummary{}, err
			}
			opts.Checkpoint, opts.Job, opts.HashKey = store, cfg.Job, key
		}
	}
	sum, err := pipeline.DryRun(ctx, in.src, in.mapper, cfg.Stdout, opts)
	if err != nil {
		return sum, err
	}
	if d != nil {
		if err := d.totals.WriteTable(cfg.Stderr); err != nil {
			return sum, err
		}
	}
	if err := writeDrySummary(cfg.Stderr, &cfg, sum); err != nil {
		return sum, err
	}
	log.Info().Int64("read", sum.Read).Int64("valid", sum.Valid).Int64("invalid", sum.Invalid).
		Int64("would_send", sum.WouldSend).Int64("would_skip", sum.WouldSkip).
		Float64("elapsed_seconds", seconds(sum.Elapsed)).Msg("dry-run finished")
	switch {
	case sum.Interrupted:
		return sum, ErrInterrupted
	case sum.Invalid > 0:
		return sum, ErrFailures
	}
	return sum, nil
}

// openToLookUp opens the checkpoint of cfg for a dry run's look-ups when it exists and holds
// the job, and nil otherwise: a dry run creates no checkpoint, migrates no schema and writes no
// row. A checkpoint it cannot read costs the counts of the summary, not the dry run.
func openToLookUp(ctx context.Context, cfg *Config) checkpoint.Store {
	log := cfg.Log
	if !pgurl.Is(cfg.Checkpoint) {
		if _, err := os.Stat(cfg.Checkpoint); err != nil {
			return nil // no checkpoint yet: run would send every valid user
		}
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := checkpoint.Open(ctx, cfg.Checkpoint, checkpoint.Options{Schema: cfg.CheckpointSchema})
	if err != nil {
		log.Warn().Err(err).Msg("dry-run: the checkpoint cannot be read; the summary does not say what run would skip")
		return nil
	}
	has, err := store.HasUsers(ctx, cfg.Job)
	if err != nil || !has {
		if err != nil {
			log.Debug().Err(err).Msg("dry-run: the checkpoint holds no readable job")
		}
		store.Close()
		return nil
	}
	return store
}

// writeDrySummary writes a dry run's summary for a person. It goes to stderr: stdout carries
// the payloads, one JSON line each.
func writeDrySummary(w io.Writer, cfg *Config, s pipeline.DrySummary) error {
	var b strings.Builder
	state := "finished"
	if s.Interrupted {
		state = "interrupted"
	}
	fmt.Fprintf(&b, "dry-run %s in %s: %d records read, %d valid, %d invalid\n",
		state, s.Elapsed.Round(time.Millisecond), s.Read, s.Valid, s.Invalid)
	switch {
	case cfg.Force:
		fmt.Fprintf(&b, "  run --force would send all %d valid users\n", s.Valid)
	case s.Checked:
		fmt.Fprintf(&b, "  run would send %d and skip %d (job %s's checkpoint holds DRUID's answer to the same payload)\n",
			s.WouldSend, s.WouldSkip, cfg.Job)
	default:
		fmt.Fprintf(&b, "  run would send all %d valid users (the checkpoint holds no job %s)\n", s.Valid, cfg.Job)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
