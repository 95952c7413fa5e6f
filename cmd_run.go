package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"druid-migrate/checkpoint"
	"druid-migrate/mapping"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// Defaults of the rate limiter (SPEC §5).
const (
	rateDefault  = 10
	burstDefault = 1
	// openTimeout bounds reaching the checkpoint at start: an unreachable store is a
	// configuration error, reported at once.
	openTimeout = 15 * time.Second
)

// sourceFlags are the flags of every command that reads records.
func sourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "source", EnvVars: []string{"DRUID_SOURCE"}, Usage: "a CSV file path, - for stdin, or a postgres:// URL"},
		&cli.StringFlag{Name: "query", EnvVars: []string{"DRUID_SOURCE_QUERY"}, Usage: "the SELECT that reads the users from a Postgres source"},
		&cli.StringFlag{Name: "mapping", EnvVars: []string{"DRUID_MAPPING"}, Usage: "mapping file (YAML)", TakesFile: true},
		&cli.StringFlag{Name: "delimiter", Value: ",", EnvVars: []string{"DRUID_DELIMITER"}, Usage: "CSV field separator"},
		&cli.StringFlag{Name: "key", Value: mapping.KeyColumnDefault, EnvVars: []string{"DRUID_KEY"}, Usage: "the column with the user's stable key"},
		&cli.StringFlag{Name: "app-id", EnvVars: []string{"DRUID_APP_ID"}, Usage: "actor.id: the app id of the application"},
		&cli.StringFlag{Name: "device", Value: mapping.DeviceDefault, EnvVars: []string{"DRUID_DEVICE"}, Usage: "default source.id (unknown pc mobile tablet game_console itv)"},
		&cli.StringFlag{Name: "verb", Value: mapping.VerbDefault, EnvVars: []string{"DRUID_VERB"}, Usage: "the request's verb"},
		&cli.Int64Flag{Name: "limit", Usage: "stop after N records (0: all)"},
	}
}

// druidFlags are the flags of every command that calls DRUID: run and retry, and dry-run --diff,
// which reads users.
func druidFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", EnvVars: []string{"DRUID_ENDPOINT"}, Usage: "DRUID base URL, e.g. https://graph.demo.dru-id.com"},
		&cli.StringFlag{Name: "client-id", EnvVars: []string{"DRUID_CLIENT_ID"}, Usage: "the app's client id: administrative (challenge code) tokens per user, and the client token that reads users"},
		&cli.StringFlag{Name: "client-secret", EnvVars: []string{"DRUID_CLIENT_SECRET"}, Usage: "the app's client secret"},
		&cli.StringFlag{Name: "auth-endpoint", EnvVars: []string{"DRUID_AUTH_ENDPOINT"}, Usage: "OAuth base URL for tokens (default: the endpoint)"},
		&cli.StringFlag{Name: "entry-point", EnvVars: []string{"DRUID_ENTRY_POINT"}, Usage: "the From header: the entry point id"},
		&cli.Float64Flag{Name: "rate", Value: rateDefault, EnvVars: []string{"DRUID_RATE"}, Usage: "requests per second (0: unlimited)"},
		&cli.IntFlag{Name: "burst", Value: burstDefault, EnvVars: []string{"DRUID_BURST"}, Usage: "requests allowed at once above the rate"},
		&cli.IntFlag{Name: "retries", Value: sink.RetriesDefault, EnvVars: []string{"DRUID_RETRIES"}, Usage: "tries after the first for transient failures"},
		&cli.DurationFlag{Name: "timeout", Value: sink.TimeoutDefault, EnvVars: []string{"DRUID_TIMEOUT"}, Usage: "per request"},
	}
}

// sendFlags are the flags of every command that sends updates and keeps a checkpoint.
func sendFlags() []cli.Flag {
	flags := append(druidFlags(),
		&cli.StringFlag{Name: "token", EnvVars: []string{"DRUID_TOKEN"}, Usage: "static bearer token"},
		&cli.StringFlag{Name: "token-file", EnvVars: []string{"DRUID_TOKEN_FILE"}, Usage: "file holding the bearer token, re-read when DRUID answers 401", TakesFile: true},
		jobFlag(),
		&cli.StringFlag{Name: "concurrency", Value: strconv.Itoa(pipeline.ConcurrencyDefault), EnvVars: []string{"DRUID_CONCURRENCY"},
			Usage: fmt.Sprintf("workers, or auto: start with %d and add workers while DRUID's latency keeps the run below --rate (at most %d)", pipeline.ConcurrencyDefault, concurrencyCap)},
		&cli.DurationFlag{Name: "checkpoint-timeout", Value: pipeline.CheckpointTimeoutDefault, EnvVars: []string{"DRUID_CHECKPOINT_TIMEOUT"},
			Usage: "how long to wait for an unreachable checkpoint, holding the outcomes, before stopping with exit code 3"},
		&cli.StringFlag{Name: "summary-json", EnvVars: []string{"DRUID_SUMMARY_JSON"}, TakesFile: true,
			Usage: "also write the run's summary as JSON to this file, for schedulers and dashboards"},
		metricsFlag(),
	)
	return append(flags, checkpointFlags()...)
}

// newClient is the DRUID client of the send flags.
func newClient(c *cli.Context, log zerolog.Logger, perUserTokens bool, observe sink.ObserveFunc) (*sink.Client, error) {
	client, err := sink.New(sink.Config{
		Endpoint:      c.String("endpoint"),
		EntryPoint:    c.String("entry-point"),
		Token:         c.String("token"),
		TokenFile:     c.String("token-file"),
		ClientID:      challengeCredential(c, "client-id"),
		ClientSecret:  challengeCredential(c, "client-secret"),
		AuthEndpoint:  c.String("auth-endpoint"),
		PerUserTokens: perUserTokens,
		Concurrency:   concurrencyCeiling(c),
		Timeout:       c.Duration("timeout"),
		Retries:       c.Int("retries"),
		Limiter:       limiter(c),
		Log:           log,
		Observe:       observe,
	})
	if err != nil {
		return nil, configError{err}
	}
	return client, nil
}

// challengeCredential is --client-id or --client-secret for the updates: with no --token or
// --token-file, every update gets a challenge-code token of the app's; with one, the
// credentials only read users (dry-run --diff, the guards, --merge).
func challengeCredential(c *cli.Context, name string) string {
	if c.String("token") != "" || c.String("token-file") != "" {
		return ""
	}
	return c.String(name)
}

// limiter is the shared rate limiter of --rate and --burst.
func limiter(c *cli.Context) *rate.Limiter {
	limit := rate.Inf
	if r := c.Float64("rate"); r > 0 {
		limit = rate.Limit(r)
	}
	return rate.NewLimiter(limit, c.Int("burst"))
}

// checkpointFlags are the flags of every command that opens the checkpoint.
func checkpointFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "checkpoint", Value: checkpoint.SQLiteDefault, EnvVars: []string{"DRUID_CHECKPOINT"},
			Usage: "postgres:// URL, or an SQLite file path"},
		&cli.StringFlag{Name: "checkpoint-schema", EnvVars: []string{"DRUID_CHECKPOINT_SCHEMA"},
			Usage: "the Postgres schema of the checkpoint's tables (default: the connection's, usually public)"},
	}
}

func jobFlag() cli.Flag {
	return &cli.StringFlag{Name: "job", Value: "default", EnvVars: []string{"DRUID_JOB"}, Usage: "the job's name in the checkpoint"}
}

// sendCommand is a command that reads the source and sends to DRUID: run and retry.
func sendCommand(name, usage string, extra ...cli.Flag) *cli.Command {
	flags := append(sourceFlags(), sendFlags()...)
	return &cli.Command{
		Name:   name,
		Usage:  usage,
		Flags:  append(flags, extra...),
		Action: func(c *cli.Context) error { return migrate(c, name) },
	}
}

func runCommand() *cli.Command {
	return sendCommand("run", "migrate every record of the source; resumes the job from its checkpoint",
		append(guardFlags(),
			&cli.BoolFlag{Name: "force", Usage: "send users the skip rule would skip"},
			&cli.StringFlag{Name: "since-column", EnvVars: []string{"DRUID_SINCE_COLUMN"},
				Usage: "incremental sync from Postgres: read only rows whose column (a timestamp) changed since the job's last completed run"},
		)...,
	)
}

func retryCommand() *cli.Command {
	return sendCommand("retry", "re-send the job's users whose last outcome is failed or rejected, re-reading their records from the source",
		&cli.StringFlag{Name: "codes", EnvVars: []string{"DRUID_RETRY_CODES"},
			Usage: "only users whose last status code is one of these, e.g. 416,500"},
		&cli.StringFlag{Name: "outcome", EnvVars: []string{"DRUID_RETRY_OUTCOME"},
			Usage: "only users whose last outcome is this: failed or rejected (default: both)"},
	)
}

func dryRunCommand() *cli.Command {
	return &cli.Command{
		Name:  "dry-run",
		Usage: "build and validate every payload and print them as JSON Lines (passwords masked); no update, no checkpoint",
		Flags: append(append(sourceFlags(), druidFlags()...),
			&cli.BoolFlag{Name: "diff", Usage: "read each user from DRUID (needs --client-id/--client-secret) and print what the replacement would add, change and remove"}),
		Action: dryRunAction,
	}
}

// validateSendFlags checks the flags that no component validates for itself.
func validateSendFlags(c *cli.Context) error {
	switch {
	case c.String("app-id") == "":
		return configErrorf("--app-id is required: DRUID refuses an update without actor.id")
	case c.Float64("rate") < 0:
		return configErrorf("--rate must be 0 (unlimited) or more, not %v", c.Float64("rate"))
	case c.Int("burst") < 1:
		return configErrorf("--burst must be 1 or more, not %d", c.Int("burst"))
	case c.Int("retries") < 0:
		return configErrorf("--retries must be 0 or more, not %d", c.Int("retries"))
	case c.Duration("checkpoint-timeout") <= 0:
		return configErrorf("--checkpoint-timeout must be positive, not %s", c.Duration("checkpoint-timeout"))
	}
	_, _, err := concurrency(c)
	return err
}

// concurrencyCap bounds the workers --concurrency auto may add: each holds a connection to
// DRUID and a user in memory.
const concurrencyCap = 256

// concurrency is --concurrency: the workers to start with, and the cap auto may grow them to
// (0 when the number is fixed).
func concurrency(c *cli.Context) (workers, ceiling int, err error) {
	v := strings.TrimSpace(c.String("concurrency"))
	if v == "auto" {
		return pipeline.ConcurrencyDefault, concurrencyCap, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, 0, configErrorf("--concurrency must be a number of workers, 1 or more, or auto; not %q", v)
	}
	return n, 0, nil
}

// concurrencyCeiling is the most workers the run may have at once; it sizes DRUID's connection
// pool. It is only called after validateSendFlags.
func concurrencyCeiling(c *cli.Context) int {
	n, ceiling, _ := concurrency(c)
	return max(n, ceiling)
}

// setConcurrency sets the run's workers from --concurrency, which validateSendFlags checked.
func setConcurrency(c *cli.Context, cfg *pipeline.Config) {
	cfg.Concurrency, cfg.MaxConcurrency, _ = concurrency(c)
}

// migrate is `run` and `retry`: the same run over every record of the source, or over the
// users that failed.
func migrate(c *cli.Context, command string) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	in, err := openInput(c, log)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := validateSendFlags(c); err != nil {
		return err
	}
	mx, err := serveMetrics(c, log)
	if err != nil {
		return err
	}
	defer mx.close()

	client, err := newClient(c, log, in.perUserTokens, mx.observe())
	if err != nil {
		return err
	}
	defer client.Close()

	guard, err := newGuard(c, client)
	if err != nil {
		return err
	}
	if guard == nil {
		log.Info().Msg("removal guards are off: reading each user from DRUID needs --client-id and --client-secret")
	} else {
		defer guard.reader.Close()
	}

	store, err := openStore(c)
	if err != nil {
		return err
	}
	defer store.Close()

	job := c.String("job")
	cfg := pipeline.Config{
		Job:               job,
		Force:             c.Bool("force"),
		Limit:             c.Int64("limit"),
		DrainTimeout:      c.Duration("timeout"),
		CheckpointTimeout: c.Duration("checkpoint-timeout"),
		Total:             in.total,
		OrderedKeys:       in.orderedKeys(),
	}
	setConcurrency(c, &cfg)
	cfg.Live = mx.watch(command, job, client)
	if guard != nil {
		cfg.Prepare = guard.prepare
	}
	var scan source.Scan
	var retrying *retrySet
	if command == "retry" {
		if retrying, err = selectRetry(c, store, job); err != nil {
			return err
		}
		if len(retrying.keys) == 0 {
			fmt.Fprintln(c.App.Writer, "retry: no user of the job matches; nothing to send")
			return nil
		}
		if in.mapper.KeyVerbatim() {
			scan.Keys = retrying.keys // filtered in SQL; a transformed key is selected by a scan
		}
		cfg.Select = retrying.selected
		cfg.Force = true // the point of a retry is to send these users again
		cfg.Total = int64(len(retrying.keys))
	}
	sinceColumn := c.String("since-column")
	if sinceColumn != "" {
		if in.pg == nil {
			return configErrorf("--since-column needs a postgres:// --source")
		}
		if scan.Since, err = sinceFilter(c.Context, store, job, sinceColumn, log); err != nil {
			return err
		}
	}
	if err := in.start(c.Context, scan); err != nil {
		return err
	}
	if command == "run" && cfg.Limit == 0 && sinceColumn == "" {
		// Keyless rows (malformed rows, empty or repeated keys) are named by line numbers
		// that change with the file: a full run re-records every one of them.
		if err := store.DeleteKeys(c.Context, job, pipeline.KeylessPrefix); err != nil {
			return fmt.Errorf("%w: %w", pipeline.ErrCheckpoint, err)
		}
	}
	has, err := store.HasUsers(c.Context, job)
	if err != nil {
		return fmt.Errorf("%w: %w", pipeline.ErrCheckpoint, err)
	}
	cfg.NewJob = !has
	runID, err := store.StartRun(c.Context, job, command)
	if err != nil {
		return fmt.Errorf("%w: %w", pipeline.ErrCheckpoint, err)
	}
	cfg.RunID = runID
	if guard != nil && c.Bool("backup") {
		guard.backups, guard.job, guard.runID = store, job, runID
	}
	log = log.With().Str("job", job).Int64("run_id", runID).Logger()
	cfg.Log = log
	log.Info().Str("command", command).Str("source", redactURL(c.String("source"))).
		Float64("rate", c.Float64("rate")).Str("concurrency", c.String("concurrency")).
		Bool("new_job", cfg.NewJob).Msg("run started")

	return execute(c, store, client, command, cfg, in.src, in.mapper, func(ctx context.Context, sum pipeline.Summary, runErr error) {
		if sinceColumn != "" && runErr == nil && !sum.Interrupted && cfg.Limit == 0 {
			// Only a run that read every changed row moves the watermark on.
			w := checkpoint.Watermark{Column: sinceColumn, Value: in.startedAt(), RunID: runID}
			if err := store.SetWatermark(ctx, job, w); err != nil {
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

// execute runs the pipeline as run cfg.RunID of a command, records the run's end, calls after
// (with a context of its own, once the outcomes are written) and prints the summary. The
// returned error carries the exit code.
func execute(c *cli.Context, store checkpoint.Store, client *sink.Client, command string, cfg pipeline.Config,
	src pipeline.Source, b pipeline.Builder, after func(ctx context.Context, sum pipeline.Summary, runErr error)) error {
	log := cfg.Log
	ctx, stop := interruptContext(c.Context, log)
	defer stop()
	if isTerminal(c.App.ErrWriter) {
		cfg.Progress = c.App.ErrWriter
	}
	cfg.Pace = func() (float64, int64, int64) {
		st := client.Stats()
		return st.CurrentRate, st.Requests, st.Throttled
	}
	sum, runErr := pipeline.Run(ctx, cfg, src, b, store, client)
	cs := client.Stats()
	sum.Throttling = pipeline.Throttling{Retries: cs.Retries, Throttled: cs.Throttled, SlowDowns: cs.SlowDowns,
		MinRate: cs.MinRate, TokenRequests: cs.TokenRequests}
	code := sum.ExitCode()
	if runErr != nil {
		code = pipeline.ExitFailures
		if errors.Is(runErr, pipeline.ErrCheckpoint) {
			code = exitCheckpoint
		}
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), openTimeout)
	defer cancel()
	if err := store.FinishRun(finishCtx, cfg.RunID, sum.Counts, code); err != nil && runErr == nil {
		log.Error().Err(err).Msg("record the run's end")
	}
	if after != nil {
		after(finishCtx, sum, runErr)
	}
	if path := c.String("summary-json"); path != "" {
		if err := writeSummaryJSON(path, newSummaryReport(cfg, command, sum, code)); err != nil {
			log.Error().Err(err).Str("file", path).Msg("write --summary-json")
		}
	}
	if err := sum.WriteText(c.App.Writer, command); err != nil {
		return err
	}
	log.Info().Int64("read", sum.Read).Int64("skipped", sum.Skipped).Int64("updated", sum.Updated).
		Int64("partial", sum.Partial).Int64("unchanged", sum.Unchanged).Int64("invalid", sum.Invalid).
		Int64("rejected", sum.Rejected).Int64("failed", sum.Failed).Int64("requests", sum.Requests).
		Int64("retries", cs.Retries).Int64("throttled", cs.Throttled).Int64("slow_downs", cs.SlowDowns).
		Float64("min_rate", cs.MinRate).Dur("elapsed", sum.Elapsed).Int("exit_code", code).Msg("run finished")
	if runErr != nil {
		return runErr
	}
	if code != pipeline.ExitOK {
		return exitStatus(code)
	}
	return nil
}

// sinceFilter reads the job's watermark for an incremental run. A job without one, or whose
// watermark is of another column, reads every row.
func sinceFilter(ctx context.Context, store checkpoint.Store, job, column string, log zerolog.Logger) (*source.Since, error) {
	w, err := store.Watermark(ctx, job)
	switch {
	case errors.Is(err, checkpoint.ErrNotFound):
		log.Info().Str("since_column", column).Msg("no watermark yet: this run reads every row")
		return nil, nil
	case err != nil:
		return nil, configError{fmt.Errorf("--checkpoint: read the watermark: %w", err)}
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
func selectRetry(c *cli.Context, store checkpoint.Store, job string) (*retrySet, error) {
	f := checkpoint.Filter{Outcomes: []string{string(sink.Failed), string(sink.Rejected)}}
	switch o := c.String("outcome"); o {
	case "":
	case string(sink.Failed), string(sink.Rejected):
		f.Outcomes = []string{o}
	default:
		return nil, configErrorf("--outcome: %q is not failed or rejected", o)
	}
	for _, s := range strings.Split(c.String("codes"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		code, err := strconv.Atoi(s)
		if err != nil || code < 0 || code > 599 {
			return nil, configErrorf("--codes: %q is not an HTTP status code", s)
		}
		f.Codes = append(f.Codes, code)
	}
	set := &retrySet{seen: map[string]bool{}}
	err := store.Select(c.Context, job, f, func(r checkpoint.Row) error {
		set.keys = append(set.keys, r.Key)
		set.seen[r.Key] = false
		return nil
	})
	if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
		return nil, fmt.Errorf("%w: select the users to retry: %w", pipeline.ErrCheckpoint, err)
	}
	return set, nil
}

// redactURL hides the password of a URL for logs.
func redactURL(s string) string {
	if !isPostgresURL(s) {
		return s
	}
	return checkpoint.Redact(s)
}

// openStore opens and migrates the checkpoint of --checkpoint and --checkpoint-schema; failing
// to reach it at start is a configuration error.
func openStore(c *cli.Context) (checkpoint.Store, error) {
	ctx, cancel := context.WithTimeout(c.Context, openTimeout)
	defer cancel()
	dsn := c.String("checkpoint")
	schema := c.String("checkpoint-schema")
	if schema != "" && !isPostgresURL(dsn) {
		return nil, configErrorf("--checkpoint-schema applies to a postgres:// --checkpoint only")
	}
	opts := checkpoint.Options{Schema: schema}
	if err := opts.Validate(); err != nil {
		return nil, configError{fmt.Errorf("--checkpoint-schema: %w", err)}
	}
	store, err := checkpoint.Open(ctx, dsn, opts)
	if err != nil {
		return nil, configError{fmt.Errorf("--checkpoint: %w", err)}
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, configError{fmt.Errorf("--checkpoint: %w", err)}
	}
	return store, nil
}

// interruptContext is cancelled by the first SIGINT or SIGTERM: the run stops reading and
// drains. A second signal exits at once.
func interruptContext(parent context.Context, log zerolog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			log.Warn().Str("signal", s.String()).Msg("interrupted: finishing the calls in flight; signal again to exit at once")
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			log.Warn().Msg("second signal: exiting at once")
			os.Exit(pipeline.ExitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

func dryRunAction(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	in, err := openInput(c, log)
	if err != nil {
		return err
	}
	defer in.Close()
	if c.String("app-id") == "" {
		log.Warn().Msg("--app-id is empty: these payloads carry no actor.id, and run refuses to send them")
	}
	if err := in.start(c.Context, source.Scan{}); err != nil {
		return err
	}
	opts := pipeline.DryOptions{Limit: c.Int64("limit"), OrderedKeys: in.orderedKeys(), Log: log}
	var d *differ
	if c.Bool("diff") {
		if d, err = newDiffer(c, log); err != nil {
			return err
		}
		defer d.reader.Close()
		opts.Inspect = d.inspect
	}
	ctx, stop := interruptContext(c.Context, log)
	defer stop()
	sum, err := pipeline.DryRun(ctx, in.src, in.mapper, c.App.Writer, opts)
	if err != nil {
		return err
	}
	if d != nil {
		if err := d.totals.WriteTable(c.App.ErrWriter); err != nil {
			return err
		}
	}
	log.Info().Int64("read", sum.Read).Int64("valid", sum.Valid).Int64("invalid", sum.Invalid).
		Dur("elapsed", sum.Elapsed).Msg("dry-run finished")
	if code := sum.ExitCode(); code != pipeline.ExitOK {
		return exitStatus(code)
	}
	return nil
}
