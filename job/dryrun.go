package job

import (
	"context"

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
	opts := pipeline.DryOptions{Limit: cfg.Limit, OrderedKeys: in.orderedKeys(), Log: log}
	var d *differ
	if cfg.Diff {
		if d, err = newDiffer(&cfg); err != nil {
			return pipeline.DrySummary{}, err
		}
		defer d.reader.Close()
		opts.Inspect = d.inspect
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
	log.Info().Int64("read", sum.Read).Int64("valid", sum.Valid).Int64("invalid", sum.Invalid).
		Dur("elapsed", sum.Elapsed).Msg("dry-run finished")
	switch {
	case sum.Interrupted:
		return sum, ErrInterrupted
	case sum.Invalid > 0:
		return sum, ErrFailures
	}
	return sum, nil
}
