package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
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
		&cli.StringFlag{Name: "source", EnvVars: []string{"DRUID_SOURCE"}, Usage: "a CSV file path, or - for stdin"},
		&cli.StringFlag{Name: "mapping", EnvVars: []string{"DRUID_MAPPING"}, Usage: "mapping file (YAML)", TakesFile: true},
		&cli.StringFlag{Name: "delimiter", Value: ",", EnvVars: []string{"DRUID_DELIMITER"}, Usage: "CSV field separator"},
		&cli.StringFlag{Name: "key", Value: mapping.KeyColumnDefault, EnvVars: []string{"DRUID_KEY"}, Usage: "the column with the user's stable key"},
		&cli.StringFlag{Name: "app-id", EnvVars: []string{"DRUID_APP_ID"}, Usage: "actor.id: the app id of the application"},
		&cli.StringFlag{Name: "device", Value: mapping.DeviceDefault, EnvVars: []string{"DRUID_DEVICE"}, Usage: "default source.id (unknown pc mobile tablet game_console itv)"},
		&cli.StringFlag{Name: "verb", Value: mapping.VerbDefault, EnvVars: []string{"DRUID_VERB"}, Usage: "the request's verb"},
		&cli.Int64Flag{Name: "limit", Usage: "stop after N records (0: all)"},
	}
}

// sendFlags are the flags of every command that calls DRUID and keeps a checkpoint.
func sendFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", EnvVars: []string{"DRUID_ENDPOINT"}, Usage: "DRUID base URL, e.g. https://graph.demo.dru-id.com"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"DRUID_TOKEN"}, Usage: "static bearer token"},
		&cli.StringFlag{Name: "token-file", EnvVars: []string{"DRUID_TOKEN_FILE"}, Usage: "file holding the bearer token, re-read when DRUID answers 401", TakesFile: true},
		&cli.StringFlag{Name: "entry-point", EnvVars: []string{"DRUID_ENTRY_POINT"}, Usage: "the From header: the entry point id"},
		checkpointFlag(), jobFlag(),
		&cli.Float64Flag{Name: "rate", Value: rateDefault, EnvVars: []string{"DRUID_RATE"}, Usage: "requests per second (0: unlimited)"},
		&cli.IntFlag{Name: "burst", Value: burstDefault, EnvVars: []string{"DRUID_BURST"}, Usage: "requests allowed at once above the rate"},
		&cli.IntFlag{Name: "concurrency", Value: pipeline.ConcurrencyDefault, EnvVars: []string{"DRUID_CONCURRENCY"}, Usage: "workers"},
		&cli.IntFlag{Name: "retries", Value: sink.RetriesDefault, EnvVars: []string{"DRUID_RETRIES"}, Usage: "tries after the first for transient failures"},
		&cli.DurationFlag{Name: "timeout", Value: sink.TimeoutDefault, EnvVars: []string{"DRUID_TIMEOUT"}, Usage: "per request"},
		&cli.BoolFlag{Name: "force", Usage: "send users the skip rule would skip"},
	}
}

func checkpointFlag() cli.Flag {
	return &cli.StringFlag{Name: "checkpoint", Value: checkpoint.SQLiteDefault, EnvVars: []string{"DRUID_CHECKPOINT"},
		Usage: "postgres:// URL, or an SQLite file path"}
}

func jobFlag() cli.Flag {
	return &cli.StringFlag{Name: "job", Value: "default", EnvVars: []string{"DRUID_JOB"}, Usage: "the job's name in the checkpoint"}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:   "run",
		Usage:  "migrate every record of the source; resumes the job from its checkpoint",
		Flags:  append(sourceFlags(), sendFlags()...),
		Action: runAction,
	}
}

func dryRunCommand() *cli.Command {
	return &cli.Command{
		Name:   "dry-run",
		Usage:  "build and validate every payload and print them as JSON Lines (passwords masked); no call, no checkpoint",
		Flags:  sourceFlags(),
		Action: dryRunAction,
	}
}

// input is an opened source with its compiled mapping.
type input struct {
	src           *source.CSV
	mapper        *mapping.Mapper
	total         int64 // records expected, when cheap to know
	perUserTokens bool
}

func (in *input) Close() error { return in.src.Close() }

// openInput opens --source and compiles the mapping against its header. Every error is a
// configuration error.
func openInput(c *cli.Context, log zerolog.Logger) (*input, error) {
	path := c.String("source")
	if path == "" {
		return nil, configErrorf("--source is required (a CSV file path, or - for stdin)")
	}
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		return nil, configErrorf("--source: Postgres sources are not supported by this version; export the table to CSV")
	}
	delim, err := parseDelimiter(c.String("delimiter"))
	if err != nil {
		return nil, err
	}
	var file *mapping.File
	if p := c.String("mapping"); p != "" {
		if file, err = mapping.Load(p); err != nil {
			return nil, configError{err}
		}
	}
	src, err := source.OpenCSV(path, delim)
	if err != nil {
		return nil, configError{err}
	}
	opts := mapping.Options{
		KeyColumn: c.String("key"),
		AppID:     c.String("app-id"),
		Verb:      c.String("verb"),
		Device:    c.String("device"),
	}
	if file != nil && c.IsSet("key") {
		file.Key = c.String("key") // an explicit --key wins over the mapping file's key
	}
	m, err := mapping.Compile(file, src.Columns(), opts)
	if err != nil {
		src.Close()
		return nil, configError{fmt.Errorf("--mapping %s: %w", c.String("mapping"), err)}
	}
	if ignored := m.Ignored(); len(ignored) > 0 {
		log.Info().Strs("columns", ignored).Msg("columns ignored: they map to nothing in the payload")
	}
	in := &input{src: src, mapper: m, perUserTokens: slices.Contains(src.Columns(), "token")}
	if file != nil {
		for _, col := range file.Columns {
			if col.To == "token" {
				in.perUserTokens = true
			}
		}
	}
	if path != "-" && isTerminal(c.App.ErrWriter) {
		in.total = countRows(path)
	}
	return in, nil
}

func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	r := []rune(s)
	if len(r) != 1 {
		return 0, configErrorf("--delimiter: %q must be a single character (use \\t for a tab)", s)
	}
	return r[0], nil
}

// countRows counts the lines of a CSV file after its header, for the progress line's ETA. A
// quoted field spanning lines makes it an estimate; reading a large file costs a fraction of a
// second, which an operator watching a terminal does not notice.
func countRows(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err != nil {
			break
		}
	}
	return max(n-1, 0)
}

func runAction(c *cli.Context) error {
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
		return configErrorf("--app-id is required: DRUID refuses an update without actor.id")
	}
	if c.Float64("rate") < 0 {
		return configErrorf("--rate must be 0 (unlimited) or more, not %v", c.Float64("rate"))
	}
	if c.Int("burst") < 1 {
		return configErrorf("--burst must be 1 or more, not %d", c.Int("burst"))
	}
	if c.Int("concurrency") < 1 {
		return configErrorf("--concurrency must be 1 or more, not %d", c.Int("concurrency"))
	}
	if c.Int("retries") < 0 {
		return configErrorf("--retries must be 0 or more, not %d", c.Int("retries"))
	}
	limit := rate.Inf
	if r := c.Float64("rate"); r > 0 {
		limit = rate.Limit(r)
	}
	client, err := sink.New(sink.Config{
		Endpoint:      c.String("endpoint"),
		EntryPoint:    c.String("entry-point"),
		Token:         c.String("token"),
		TokenFile:     c.String("token-file"),
		PerUserTokens: in.perUserTokens,
		Concurrency:   c.Int("concurrency"),
		Timeout:       c.Duration("timeout"),
		Retries:       c.Int("retries"),
		Limiter:       rate.NewLimiter(limit, c.Int("burst")),
		Log:           log,
	})
	if err != nil {
		return configError{err}
	}
	defer client.Close()

	store, err := openStore(c.Context, c.String("checkpoint"))
	if err != nil {
		return err
	}
	defer store.Close()

	job := c.String("job")
	if c.Int64("limit") == 0 {
		// Keyless rows (malformed rows, empty or repeated keys) are named by line numbers
		// that change with the file: a full run re-records every one of them.
		if err := store.DeleteKeys(c.Context, job, pipeline.KeylessPrefix); err != nil {
			return fmt.Errorf("%w: %w", pipeline.ErrCheckpoint, err)
		}
	}
	runID, err := store.StartRun(c.Context, job, "run")
	if err != nil {
		return fmt.Errorf("%w: %w", pipeline.ErrCheckpoint, err)
	}
	log = log.With().Str("job", job).Int64("run_id", runID).Logger()
	log.Info().Str("source", c.String("source")).Float64("rate", c.Float64("rate")).
		Int("concurrency", c.Int("concurrency")).Msg("run started")

	ctx, stop := interruptContext(c.Context, log)
	defer stop()
	cfg := pipeline.Config{
		Job:          job,
		RunID:        runID,
		Concurrency:  c.Int("concurrency"),
		Force:        c.Bool("force"),
		Limit:        c.Int64("limit"),
		DrainTimeout: c.Duration("timeout"),
		Total:        in.total,
		Log:          log,
	}
	if isTerminal(c.App.ErrWriter) {
		cfg.Progress = c.App.ErrWriter
	}
	sum, runErr := pipeline.Run(ctx, cfg, in.src, in.mapper, store, client)
	code := sum.ExitCode()
	if runErr != nil {
		code = pipeline.ExitFailures
		if errors.Is(runErr, pipeline.ErrCheckpoint) {
			code = exitCheckpoint
		}
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), openTimeout)
	defer cancel()
	if err := store.FinishRun(finishCtx, runID, sum.Counts, code); err != nil && runErr == nil {
		log.Error().Err(err).Msg("record the run's end")
	}
	if err := sum.WriteText(c.App.Writer, "run"); err != nil {
		return err
	}
	log.Info().Int64("read", sum.Read).Int64("skipped", sum.Skipped).Int64("updated", sum.Updated).
		Int64("partial", sum.Partial).Int64("unchanged", sum.Unchanged).Int64("invalid", sum.Invalid).
		Int64("rejected", sum.Rejected).Int64("failed", sum.Failed).Int64("requests", sum.Requests).
		Dur("elapsed", sum.Elapsed).Int("exit_code", code).Msg("run finished")
	if runErr != nil {
		return runErr
	}
	if code != pipeline.ExitOK {
		return exitStatus(code)
	}
	return nil
}

// openStore opens and migrates the checkpoint; failing to reach it at start is a configuration
// error.
func openStore(ctx context.Context, dsn string) (checkpoint.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := checkpoint.Open(ctx, dsn, checkpoint.Options{})
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
	ctx, stop := interruptContext(c.Context, log)
	defer stop()
	sum, err := pipeline.DryRun(ctx, in.src, in.mapper, c.App.Writer, log, c.Int64("limit"))
	if err != nil {
		return err
	}
	log.Info().Int64("read", sum.Read).Int64("valid", sum.Valid).Int64("invalid", sum.Invalid).
		Dur("elapsed", sum.Elapsed).Msg("dry-run finished")
	if code := sum.ExitCode(); code != pipeline.ExitOK {
		return exitStatus(code)
	}
	return nil
}
