package job

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

// Status is what `status` reports of a job, or of one shard of it.
type Status struct {
	Job   string
	Shard string // "" for the whole job
	// Counts are the job's users per outcome and status code, and apart its records without a
	// user (StatusCount.Keyless), ordered by outcome, then code.
	Counts []checkpoint.StatusCount
	// LastRun is the job's newest run (of the shard, with one); nil when it has none.
	LastRun *checkpoint.Run
	// Jobs, when set, are every job of the checkpoint, and nothing else is: `status` was given
	// no --job, and the checkpoint holds no job of the default name.
	Jobs []checkpoint.JobInfo
}

// ReportStatus reads the job's status from the checkpoint, or with a shard, the status of the
// job's users of that shard. A job the checkpoint does not know is a configuration error naming
// --job; without --job, the checkpoint's jobs are the report.
func ReportStatus(ctx context.Context, cfg Config) (Status, error) {
	cfg.as(CommandStatus)
	st := Status{Job: cfg.Job, Shard: cfg.shard.String()}
	err := withStore(ctx, &cfg, func(store checkpoint.Store) error {
		if jobs, err := unnamedJob(ctx, &cfg, store); err != nil || jobs != nil {
			st.Jobs = jobs
			return err
		}
		var err error
		if cfg.shard.n == 0 {
			st.Counts, err = store.Status(ctx, cfg.Job)
		} else {
			st.Counts, err = shardStatus(ctx, store, cfg.Job, cfg.shard)
		}
		if err != nil {
			return jobError(cfg.Job, err)
		}
		runs, err := shardRuns(ctx, store, &cfg)
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

// unnamedJob is the checkpoint's jobs when the command was given no --job and the checkpoint
// holds no job of the default name: the jobs it holds are then what the operator needs; nil
// otherwise. A checkpoint without any job is a configuration error.
func unnamedJob(ctx context.Context, cfg *Config, store checkpoint.Store) ([]checkpoint.JobInfo, error) {
	if cfg.JobSet || cfg.Job != JobDefault {
		return nil, nil
	}
	jobs, err := store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Job == cfg.Job {
			return nil, nil
		}
	}
	if len(jobs) == 0 {
		return nil, configErrorf("--job: the checkpoint holds no job yet")
	}
	return jobs, nil
}

// shardStatus counts the job's rows whose keys belong to the shard: the checkpoint keeps no
// shard per row, as a job may be split differently from one run to the next.
func shardStatus(ctx context.Context, store checkpoint.Store, job string, sh shard) ([]checkpoint.StatusCount, error) {
	counts := map[checkpoint.StatusCount]int64{}
	err := store.Select(ctx, job, checkpoint.Filter{}, func(r checkpoint.Row) error {
		if sh.has(r.Key) {
			counts[checkpoint.StatusCount{Outcome: r.Outcome, StatusCode: r.StatusCode,
				Keyless: strings.HasPrefix(r.Key, checkpoint.KeylessPrefix)}]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]checkpoint.StatusCount, 0, len(counts))
	for sc, n := range counts {
		sc.Users = n
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b checkpoint.StatusCount) int {
		return cmp.Or(cmp.Compare(a.Outcome, b.Outcome), cmp.Compare(a.StatusCode, b.StatusCode),
			cmp.Compare(boolRank(a.Keyless), boolRank(b.Keyless)))
	})
	return out, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shardRuns is the job's runs, newest first; with a shard, that shard's only.
func shardRuns(ctx context.Context, store checkpoint.Store, cfg *Config) ([]checkpoint.Run, error) {
	runs, err := store.Runs(ctx, cfg.Job)
	if err != nil || cfg.shard.n == 0 {
		return runs, err
	}
	mine := runs[:0]
	for _, r := range runs {
		if r.Shard == cfg.shard.String() {
			mine = append(mine, r)
		}
	}
	return mine, nil
}

// ReportRuns reads the job's runs from the checkpoint, newest first; with a shard, its runs.
func ReportRuns(ctx context.Context, cfg Config) ([]checkpoint.Run, error) {
	cfg.as(CommandRuns)
	var runs []checkpoint.Run
	err := withStore(ctx, &cfg, func(store checkpoint.Store) error {
		if jobs, err := unnamedJob(ctx, &cfg, store); err != nil || jobs != nil {
			return cmp.Or(err, namedJobs(jobs))
		}
		var err error
		runs, err = shardRuns(ctx, store, &cfg)
		return jobError(cfg.Job, err)
	})
	return runs, err
}

// namedJobs is the error of a command that needs a job and was given none: it names the jobs
// the checkpoint holds.
func namedJobs(jobs []checkpoint.JobInfo) error {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = fmt.Sprintf("%s (%d users)", j.Job, j.Users)
	}
	return configErrorf("--job: name one of the checkpoint's jobs: %s", strings.Join(names, ", "))
}

// FailureOutcomes are the outcomes `failures` lists.
var FailureOutcomes = []string{string(sink.Failed), string(sink.Rejected), string(sink.Invalid)}

// ReportFailures calls fn with each of the job's users whose last outcome is one of
// FailureOutcomes, in byte order of key, streamed from the checkpoint.
// With a shard, the users of that shard only. Without --job, when the checkpoint holds no job
// of the default name, the error names the jobs it holds.
func ReportFailures(ctx context.Context, cfg Config, fn func(checkpoint.Row) error) error {
	cfg.as(CommandFailures)
	return withStore(ctx, &cfg, func(store checkpoint.Store) error {
		if jobs, err := unnamedJob(ctx, &cfg, store); err != nil || jobs != nil {
			return cmp.Or(err, namedJobs(jobs))
		}
		each := fn
		if cfg.shard.n > 0 {
			each = func(r checkpoint.Row) error {
				if !cfg.shard.has(r.Key) {
					return nil
				}
				return fn(r)
			}
		}
		return jobError(cfg.Job, store.Failures(ctx, cfg.Job, FailureOutcomes, each))
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
