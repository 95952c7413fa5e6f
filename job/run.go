package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/internal/pgurl"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// Run is `run`: it migrates every record of the source, resuming the job from its checkpoint.
// The error says how the run ended (see ExitCode): nil when every user it handled ended
// updated, partial or unchanged; the report is the run's summary, also printed to cfg.Stdout.
func Run(ctx context.Context, cfg Config) (SummaryReport, error) {
	cfg.as(CommandRun)
	return migrate(ctx, cfg)
}

// Retry is `retry`: it sends again the users of the job whose last outcome is failed or
// rejected (narrowed by Codes and Outcome), re-reading their records from the source.
func Retry(ctx context.Context, cfg Config) (SummaryReport, error) {
	cfg.as(CommandRetry)
	return migrate(ctx, cfg)
}

// migrate is run and retry: the same run over every record of the source, or over the users
// that failed.
func migrate(ctx context.Context, cfg Config) (SummaryReport, error) {
	if err := cfg.check(); err != nil {
		return SummaryReport{}, err
	}
	log := cfg.Log
	store, lease, err := claim(ctx, &cfg, cfg.Job)
	if err != nil {
		return SummaryReport{}, err
	}
	defer store.Close()
	defer lease.Release()
	in, err := openInput(ctx, &cfg)
	if err != nil {
		return SummaryReport{}, err
	}
	defer in.Close()
	mx, err := serveMetrics(cfg.MetricsAddr, log)
	if err != nil {
		return SummaryReport{}, err
	}
	defer mx.close()
	client, err := newClient(&cfg, in.perUserTokens, mx.observe())
	if err != nil {
		return SummaryReport{}, err
	}
	defer client.Close()
	guard, err := newGuard(&cfg, client)
	if err != nil {
		return SummaryReport{}, err
	}
	if guard == nil {
		log.Info().Msg("removal guards are off: reading each user from DRUID needs --client-id and --client-secret")
	} else {
		defer guard.reader.Close()
		if err := preflight(ctx, guard.reader); err != nil {
			return SummaryReport{}, err
		}
	}
	var bulkCfg *pipeline.Bulk
	if cfg.Sink == SinkBulk {
		bulk, err := client.Bulk(sink.BulkConfig{Endpoint: cfg.Endpoint, AuthEndpoint: cfg.AuthEndpoint,
			EntryPoint: cfg.EntryPoint, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Timeout: cfg.Timeout, Retries: cfg.Retries, DownTimeout: cfg.DruidTimeout, Log: log})
		if err != nil {
			return SummaryReport{}, configErr(err)
		}
		if err := preflight(ctx, bulk); err != nil {
			return SummaryReport{}, err
		}
		bulkCfg = &pipeline.Bulk{Sink: bulk, Size: cfg.BulkSize, Poll: cfg.BulkPoll, Timeout: cfg.BulkTimeout,
			Outstanding: cfg.maxConcurrency()}
	} else if err := preflight(ctx, client); err != nil {
		return SummaryReport{}, err
	}

	job := cfg.Job
	pcfg := cfg.pipelineConfig(job)
	pcfg.Force = cfg.Force
	pcfg.Limit = cfg.Limit
	pcfg.Total = in.total
	pcfg.OrderedKeys = in.orderedKeys()
	pcfg.Live = mx.watch(cfg.Command, job, client)
	pcfg.Shard = cfg.shard.filter()
	pcfg.Bulk = bulkCfg
	if guard != nil {
		pcfg.Prepare = guard.prepare
	}
	var scan source.Scan
	var retrying *retrySet
	if cfg.Command == CommandRetry {
		if retrying, err = selectRetry(ctx, &cfg, store); err != nil {
			return SummaryReport{}, err
		}
		if len(retrying.keys) == 0 {
			fmt.Fprintln(cfg.Stdout, "retry: no user of the job matches; nothing to send")
			return SummaryReport{Job: job, Command: cfg.Command}, nil
		}
		if in.mapper.KeyVerbatim() {
			scan.Keys = retrying.keys // filtered in SQL; a transformed key is selected by a scan
		}
		pcfg.Select = retrying.selected
		pcfg.Force = true // the point of a retry is to send these users again
		pcfg.Total = int64(len(retrying.keys))
	}
	since := ""
	if cfg.Command == CommandRun {
		since = cfg.SinceColumn
	}
	if since != "" {
		if scan.Since, err = sinceFilter(ctx, &cfg, store, since); err != nil {
			return SummaryReport{}, err
		}
	}
	if err := in.start(ctx, scan); err != nil {
		return SummaryReport{}, err
	}
	if cfg.Command == CommandRun && cfg.Limit == 0 && since == "" {
		// Keyless rows (malformed rows, empty or repeated keys) are named by line numbers
		// that change with the file: a full run re-records every one of them.
		if err := store.DeleteKeys(ctx, job, pipeline.KeylessPrefix); err != nil {
			return SummaryReport{}, lost("", err)
		}
	}
	has, err := store.HasUsers(ctx, job)
	if err != nil {
		return SummaryReport{}, lost("", err)
	}
	pcfg.NewJob = !has
	if pcfg.HashKey, err = keyTheHash(ctx, &cfg, store, job, has, in.mapper.HasPassword()); err != nil {
		return SummaryReport{}, err
	}
	runID, err := startRun(ctx, store, lease, job, cfg.Command)
	if err != nil {
		return SummaryReport{}, err
	}
	pcfg.RunID = runID
	pcfg.Lease = lease.check
	if guard != nil && cfg.Command == CommandRun && cfg.Backup {
		guard.backups, guard.job, guard.runID = store, job, runID
	}
	log = log.With().Str("job", job).Int64("run_id", runID).Logger()
	pcfg.Log = log
	log.Info().Str("command", cfg.Command).Str("source", pgurl.Redact(cfg.Source)).
		Float64("rate", cfg.Rate).Str("concurrency", cfg.Concurrency).Str("shard", cfg.shard.String()).
		Bool("new_job", pcfg.NewJob).Msg("run started")
	if cfg.shard.n > 0 {
		sayOtherSplit(ctx, store, &cfg, job, runID)
	}

	return execute(ctx, &cfg, store, client, pcfg, in.src, in.mapper, func(ctx context.Context, sum pipeline.Summary, runErr error) {
		if since != "" && runErr == nil && !sum.Interrupted && cfg.Limit == 0 {
			// Only a run that read every changed row moves the watermark on.
			w := checkpoint.Watermark{Column: since, Value: in.startedAt(), RunID: runID}
			if err := store.SetWatermark(ctx, job, cfg.shard.String(), w); err != nil {
				log.Error().Err(err).Msg("record the watermark; the next run reads the same rows again")
			}
		}
		if retrying != nil {
			if missing := retrying.missing(); len(missing) > 0 {
				log.Warn().Int("users", len(missing)).Strs("first_keys", missing[:min(len(missing), 10)]).
					Msg("users to retry are no longer in the source")
			}
		}
	})
}

// pipelineConfig is the part of a run's pipeline.Config that every sending command shares.
func (c *Config) pipelineConfig(job string) pipeline.Config {
	return pipeline.Config{
		Job:               job,
		Concurrency:       c.workers,
		MaxConcurrency:    c.maxWorkers,
		DrainTimeout:      c.Timeout,
		CheckpointTimeout: c.CheckpointTimeout,
		Log:               c.Log,
	}
}

// execute runs the pipeline as run pcfg.RunID, records the run's end, calls after (with a
// context of its own, once the outcomes are written), and writes the summary: to cfg.Stdout,
// and to --summary-json. The error says how the run ended.
func execute(ctx context.Context, cfg *Config, store checkpoint.Store, client *sink.Client, pcfg pipeline.Config,
	src pipeline.Source, b pipeline.Builder, after func(ctx context.Context, sum pipeline.Summary, runErr error)) (SummaryReport, error) {
	log := pcfg.Log
	stopNotice := context.AfterFunc(ctx, func() {
		log.Warn().Msg("interrupted: finishing the calls in flight; signal again to exit at once")
	})
	defer stopNotice()
	if cfg.Terminal {
		pcfg.Progress = cfg.Stderr
	}
	pcfg.Pace = func() (float64, int64, int64) {
		st := client.Stats()
		return st.CurrentRate, st.Requests, st.Throttled
	}
	pcfg.Degraded = func() bool { return !client.Stats().DownSince.IsZero() }
	sum, runErr := pipeline.Run(ctx, pcfg, src, b, store, client)
	cs := client.Stats()
	sum.Throttling = pipeline.Throttling{Retries: cs.Retries, Throttled: cs.Throttled, SlowDowns: cs.SlowDowns,
		MinRate: cs.MinRate, TokenRequests: cs.TokenRequests}
	end := endOf(sum, runErr)
	code := ExitCode(end)
	// The run's end is worth waiting out a short outage for, unless the operator asked the run
	// to stop, or the checkpoint has already been waited for as long as it deserves.
	finishWithin := openTimeout
	if sum.Interrupted || errors.Is(runErr, ErrLost) {
		finishWithin = finishTimeoutStopping
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishWithin)
	defer cancel()
	if err := retrying(finishCtx, func(ctx context.Context) error {
		return store.FinishRun(ctx, pcfg.RunID, sum.Counts, code)
	}); err != nil {
		log.Error().Err(err).Msg("record the run's end")
		if end == nil || errors.Is(end, ErrFailures) {
			// A run whose end is not on record did not end well: it is not reported so.
			end = lost("record the run's end", err)
			code = ExitCode(end)
		}
	}
	if after != nil {
		after(finishCtx, sum, runErr)
	}
	rep := newSummaryReport(pcfg.Job, pcfg.RunID, cfg.Command, sum, code)
	rep.Shard = cfg.shard.String()
	if path := cfg.SummaryJSON; path != "" {
		if err := writeSummaryJSON(path, rep); err != nil {
			log.Error().Err(err).Str("file", path).Msg("write --summary-json")
		}
	}
	if err := writeSummary(cfg.Stdout, cfg.Command, sum); err != nil && end == nil {
		end = err
	}
	log.Info().Int64("read", sum.Read).Int64("skipped", sum.Skipped).Int64("updated", sum.Updated).
		Int64("partial", sum.Partial).Int64("unchanged", sum.Unchanged).Int64("invalid", sum.Invalid).
		Int64("rejected", sum.Rejected).Int64("failed", sum.Failed).Int64("requests", sum.Requests).
		Int64("retries", cs.Retries).Int64("throttled", cs.Throttled).Int64("slow_downs", cs.SlowDowns).
		Int64("unrecorded", sum.Unrecorded).Float64("min_rate", cs.MinRate).
		Float64("elapsed_seconds", seconds(sum.Elapsed)).Int("exit_code", code).Msg("run finished")
	return rep, end
}

// sinceFilter reads the job's watermark for an incremental run. A job without one, or whose
// watermark is of another column, reads every row.
func sinceFilter(ctx context.Context, cfg *Config, store checkpoint.Store, column string) (*source.Since, error) {
	log := cfg.Log
	w, err := store.Watermark(ctx, cfg.Job, cfg.shard.String())
	switch {
	case errors.Is(err, checkpoint.ErrNotFound):
		log.Info().Str("since_column", column).Msg("no watermark yet: this run reads every row")
		return nil, nil
	case err != nil:
		return nil, configErr(fmt.Errorf("--checkpoint: read the watermark: %w", err))
	case w.Column != column:
		log.Warn().Str("since_column", column).Str("watermark_column", w.Column).
			Msg("the watermark is of another column: this run reads every row")
		return nil, nil
	}
	log.Info().Str("since_column", column).Time("since", w.Value).Msg("incremental run: reading rows changed since the last completed run")
	return &source.Since{Column: column, After: w.Value}, nil
}

// retrySet is the users a retry sends, and which of them the source still holds.
type retrySet struct {
	keys []string
	seen map[string]bool
}

func (r *retrySet) selected(key string) bool {
	seen, ok := r.seen[key]
	if ok && !seen {
		r.seen[key] = true
	}
	return ok
}

func (r *retrySet) missing() []string {
	var out []string
	for _, k := range r.keys {
		if !r.seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// selectRetry reads from the checkpoint the users a retry sends: those whose last outcome is
// failed or rejected, narrowed by --outcome and --codes.
func selectRetry(ctx context.Context, cfg *Config, store checkpoint.Store) (*retrySet, error) {
	f := checkpoint.Filter{Outcomes: []string{string(sink.Failed), string(sink.Rejected)}, Codes: cfg.codes}
	if cfg.Outcome != "" {
		f.Outcomes = []string{cfg.Outcome}
	}
	set := &retrySet{seen: map[string]bool{}}
	err := store.Select(ctx, cfg.Job, f, func(r checkpoint.Row) error {
		set.keys = append(set.keys, r.Key)
		set.seen[r.Key] = false
		return nil
	})
	if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
		return nil, lost("select the users to retry", err)
	}
	return set, nil
}

// finishTimeoutStopping bounds the recording of the end of a run that is stopping: interrupted,
// or its checkpoint lost.
const finishTimeoutStopping = 3 * time.Second

// retrying calls op until it succeeds or ctx ends, a second apart: the run's end is worth
// waiting out a checkpoint's restart for.
func retrying(ctx context.Context, op func(ctx context.Context) error) error {
	for {
		err := op(ctx)
		if err == nil || ctx.Err() != nil || !errors.Is(err, checkpoint.ErrUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// keyTheHash returns the run's hash key (nil: PBKDF2) and records its fingerprint for the job.
// With passwords to hash, it says once what they cost without a key, and when the key differs
// from the job's last run, which makes every user with a password be sent again.
func keyTheHash(ctx context.Context, cfg *Config, store checkpoint.Store, job string, has, passwords bool) ([]byte, error) {
	key, err := cfg.hashKey()
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	fp := pipeline.HashKeyFingerprint(key)
	if passwords && key == nil {
		log.Info().Msg("passwords make each record cost about 0.2 ms to hash (PBKDF2): --hash-key-file or DRUID_HASH_KEY (or the client secret of --client-id) makes it cheap")
	}
	prev, err := store.HashKey(ctx, job)
	switch {
	case errors.Is(err, checkpoint.ErrNotFound):
		if has {
			prev = pipeline.HashKeyFingerprint(nil) // the job's runs before fingerprints hashed with PBKDF2
		}
	case err != nil:
		return nil, lost("read the job's hash key fingerprint", err)
	}
	if passwords && prev != "" && prev != fp {
		log.Warn().Str("hash_key_was", prev).Str("hash_key_is", fp).
			Msg("the hash key is not the one of the job's last run: every user with a password will be sent again")
	}
	if prev != fp {
		if err := store.SetHashKey(ctx, job, fp); err != nil {
			return nil, lost("record the job's hash key fingerprint", err)
		}
	}
	return key, nil
}

// sayOtherSplit says, once at start, when the job's earlier runs were split into another number
// of shards than this one: allowed — within a run the shards' keys are disjoint — but a user may
// then be sent by a shard of each split.
func sayOtherSplit(ctx context.Context, store checkpoint.Store, cfg *Config, job string, runID int64) {
	runs, err := store.Runs(ctx, job)
	if err != nil {
		return
	}
	for _, r := range runs {
		if r.ID == runID || r.Shard == "" {
			continue
		}
		if _, n, ok := strings.Cut(r.Shard, "/"); ok && n != strconv.Itoa(cfg.shard.n) {
			cfg.Log.Info().Str("shard", cfg.shard.String()).Str("earlier_shard", r.Shard).Int64("earlier_run", r.ID).
				Msg("the job's earlier runs were split into another number of shards: keys stay disjoint within this run")
		}
		return
	}
}
