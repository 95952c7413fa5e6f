package job

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"druid-migrate/checkpoint"
	"druid-migrate/internal/pgurl"
	"druid-migrate/mapping"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// The commands a Config can be for (SPEC §5).
const (
	CommandRun      = "run"
	CommandRetry    = "retry"
	CommandRollback = "rollback"
	CommandDryRun   = "dry-run"
	CommandStatus   = "status"
	CommandFailures = "failures"
	CommandRuns     = "runs"
	CommandMigrate  = "migrate"
	// CommandFakeDruid serves the simulator: of a Config, it uses the logging only.
	CommandFakeDruid = "fake-druid"
)

// Defaults of Config, which the command line's flags show as theirs.
const (
	JobDefault         = "default"
	DelimiterDefault   = ","
	RateDefault        = 10
	BurstDefault       = 1
	LogLevelDefault    = "info"
	LogFormatDefault   = "auto"
	MaxRemovalsDefault = -1 // no limit
	// ConcurrencyAuto is the --concurrency value that grows the pool while DRUID's latency
	// keeps the run below its rate, up to ConcurrencyCap workers.
	ConcurrencyAuto = "auto"
	// ConcurrencyCap bounds the workers ConcurrencyAuto may add: each holds a connection to DRUID
	// and a user in memory.
	ConcurrencyCap = 256
	// SinkUpdate sends one full replacement per user (SPEC §2.1); SinkBulk batches partial users
	// through DRUID's Bulk API (SPEC §2.3).
	SinkUpdate = "update"
	SinkBulk   = "bulk"
	// FailuresFormatDefault is the format of the failures report.
	FailuresFormatDefault = "csv"
)

// Config is everything a command does with: what the command line parsed from its flags and
// environment, once, or what a test sets, starting from Defaults. Validate checks it before
// anything is opened.
type Config struct {
	// Command is the command it is for: one of the Command constants.
	Command string

	// Logging (global flags). Log is the logger the command writes to; the command line builds
	// it from LogLevel and LogFormat once Validate has checked them.
	LogLevel, LogFormat string
	Log                 zerolog.Logger
	// Stdin is read by --source -; nil reads the process's standard input. Stdout receives
	// results and reports; Stderr the progress line. Terminal says Stderr is an operator's
	// terminal: the run then draws its live progress line there. Nil writers discard.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Terminal       bool

	// The source (--source, --query, --mapping, --delimiter, --key, --limit).
	Source, Query, Mapping, Delimiter string
	Key                               string
	// KeySet says --key was given: it then wins over the mapping file's key.
	KeySet bool
	Limit  int64

	// The payload's envelope (--app-id, --device, --verb).
	AppID, Device, Verb string

	// DRUID (--endpoint, --auth-endpoint, --entry-point, --token, --token-file, --client-id,
	// --client-secret, --rate, --burst, --retries, --timeout, --concurrency).
	Endpoint, AuthEndpoint, EntryPoint string
	Token, TokenFile                   string
	ClientID, ClientSecret             string
	Rate                               float64 // requests per second; 0 is unlimited
	Burst                              int
	Retries                            int // tries after the first for transient failures
	Timeout                            time.Duration
	Concurrency                        string // a number of workers, or ConcurrencyAuto
	// DruidTimeout (--druid-timeout) is how long a run holds its workers while every call
	// fails for want of DRUID before it stops with exit 3.
	DruidTimeout time.Duration

	// The sink (--sink update|bulk, --bulk-size, --bulk-poll, --bulk-timeout): one update call
	// per user, or DRUID's Bulk API, batches of partial users (SPEC §2.3).
	Sink        string
	BulkSize    int
	BulkPoll    time.Duration
	BulkTimeout time.Duration

	// Shards (--shard I/N, or --shards N with I from JOB_COMPLETION_INDEX): this process takes
	// the users whose key's FNV-1a 64 hash mod N is I. ShardIndex is JOB_COMPLETION_INDEX, as
	// the command line read it ("" when unset).
	Shard, ShardIndex string
	Shards            int

	// HashKey keys the password's part of the payload hash (--hash-key-file, or
	// DRUID_HASH_KEY); without it the client secret does, and without either PBKDF2 (SPEC §4).
	HashKeyFile, HashKey string

	// The checkpoint (--checkpoint, --checkpoint-schema, --job, --checkpoint-timeout). JobSet
	// says --job (or DRUID_JOB) was given: the reports then never fall back to listing jobs.
	Checkpoint, CheckpointSchema, Job string
	JobSet                            bool
	CheckpointTimeout                 time.Duration

	// Reports of a run (--summary-json, --metrics-addr).
	SummaryJSON, MetricsAddr string

	// run's own (--force, --since-column, --max-removals, --allow-removals, --backup, --merge).
	Force         bool
	SinceColumn   string
	MaxRemovals   int // -1: no limit
	AllowRemovals bool
	Backup, Merge bool

	// retry's own (--codes, --outcome).
	Codes, Outcome string

	// rollback's own (--run): the run to undo.
	RollbackRun int64

	// dry-run's own (--diff).
	Diff bool

	// The reports' own (--json, --format).
	JSON           bool
	FailuresFormat string

	// Set by Validate.
	valid               bool
	shard               shard
	workers, maxWorkers int
	codes               []int
	delimiter           rune
}

// ConfigError is a usage or configuration error: a flag, a file, a source or a checkpoint the
// command cannot use. Its message is one line that names the flag or file.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// configErr wraps err as a configuration error.
func configErr(err error) error { return &ConfigError{Err: err} }

// configErrorf is a configuration error with a formatted message.
func configErrorf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// reads says whether the command reads the source.
func (c *Config) reads() bool {
	switch c.Command {
	case CommandRun, CommandRetry, CommandDryRun:
		return true
	}
	return false
}

// sends says whether the command sends updates to DRUID and records them in the checkpoint.
func (c *Config) sends() bool {
	switch c.Command {
	case CommandRun, CommandRetry, CommandRollback:
		return true
	}
	return false
}

// readsDRUID says whether the command calls DRUID at all: the senders, and dry-run --diff,
// which reads users.
func (c *Config) readsDRUID() bool { return c.sends() || (c.Command == CommandDryRun && c.Diff) }

// Defaults is the Config of command with every setting at its default, as the command line's
// flags show them.
func Defaults(command string) Config {
	return Config{
		Command:           command,
		LogLevel:          LogLevelDefault,
		LogFormat:         LogFormatDefault,
		Delimiter:         DelimiterDefault,
		Key:               mapping.KeyColumnDefault,
		Device:            mapping.DeviceDefault,
		Verb:              mapping.VerbDefault,
		Rate:              RateDefault,
		Burst:             BurstDefault,
		Retries:           sink.RetriesDefault,
		Timeout:           sink.TimeoutDefault,
		DruidTimeout:      sink.DownTimeoutDefault,
		Sink:              SinkUpdate,
		BulkSize:          sink.BulkMaxLines,
		BulkPoll:          pipeline.BulkPollDefault,
		BulkTimeout:       pipeline.BulkTimeoutDefault,
		Concurrency:       strconv.Itoa(pipeline.ConcurrencyDefault),
		Checkpoint:        checkpoint.SQLiteDefault,
		Job:               JobDefault,
		CheckpointTimeout: pipeline.CheckpointTimeoutDefault,
		MaxRemovals:       MaxRemovalsDefault,
		FailuresFormat:    FailuresFormatDefault,
	}
}

// Validate checks the settings the command uses, before anything is opened: it is the one
// place a usage error is decided. The error is a *ConfigError whose one
// line names the flag. Settings the command does not use are accepted and ignored, so that an
// operator can swap run for dry-run on a working command line.
func (c *Config) Validate() error {
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if err := c.validate(); err != nil {
		return configErr(err)
	}
	c.valid = true
	return nil
}

// as makes c the Config of command: one validated for another command is validated again.
func (c *Config) as(command string) {
	if c.Command != command {
		c.Command, c.valid = command, false
	}
}

// check validates c unless Validate already has.
func (c *Config) check() error {
	if c.valid {
		return nil
	}
	return c.Validate()
}

func (c *Config) validate() error {
	if _, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel)); err != nil || strings.TrimSpace(c.LogLevel) == "" {
		return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("--log-format: %q is not one of auto, json, console", c.LogFormat)
	}
	switch c.Command {
	case CommandRun, CommandRetry, CommandRollback, CommandDryRun, CommandStatus, CommandFailures, CommandRuns, CommandMigrate:
	case CommandFakeDruid:
		return nil
	default:
		return fmt.Errorf("unknown command %q", c.Command)
	}
	var missing []string
	if c.reads() && c.Source == "" {
		missing = append(missing, "--source (a CSV file path, - for stdin, or a postgres:// URL)")
	}
	if c.readsDRUID() && strings.TrimSpace(c.Endpoint) == "" {
		missing = append(missing, "--endpoint (DRUID's base URL, e.g. https://graph.demo.dru-id.com)")
	}
	if c.sends() && c.AppID == "" {
		missing = append(missing, "--app-id (actor.id: the app id of the application; DRUID refuses an update without it)")
	}
	if c.readsDRUID() && c.EntryPoint == "" {
		missing = append(missing, "--entry-point (the From header: the id of the app's entry point, <app id>-<name>, e.g. 231705665113870-main)")
	}
	if c.Command == CommandRollback && c.RollbackRun <= 0 {
		missing = append(missing, "--run (the run to undo, as the runs command lists it)")
	}
	if len(missing) == 1 {
		return fmt.Errorf("%s is required", missing[0])
	} else if len(missing) > 1 {
		return fmt.Errorf("%d settings are required: %s", len(missing), strings.Join(missing, "; "))
	}
	if c.reads() {
		if err := c.validateSource(); err != nil {
			return err
		}
	}
	// The limiter is the job's; DRUID's client checks the rest of its own settings
	// (--timeout, --retries, the tokens) when it is made, before anything is read.
	if c.readsDRUID() {
		switch {
		case c.Rate < 0:
			return fmt.Errorf("--rate must be 0 (unlimited) or more, not %v", c.Rate)
		case c.Burst < 1:
			return fmt.Errorf("--burst must be 1 or more, not %d", c.Burst)
		case c.DruidTimeout <= 0:
			return fmt.Errorf("--druid-timeout must be positive, not %s", c.DruidTimeout)
		}
	}
	if c.sends() {
		if err := c.validateSend(); err != nil {
			return err
		}
	}
	if c.sends() || c.Command == CommandDryRun || c.Command == CommandStatus || c.Command == CommandFailures || c.Command == CommandRuns {
		sh, err := parseShard(c.Shard, c.Shards, c.ShardIndex)
		if err != nil {
			return err
		}
		c.shard = sh
	}
	if c.Command == CommandRetry {
		if err := c.validateRetry(); err != nil {
			return err
		}
	}
	if c.Command == CommandFailures && c.FailuresFormat != "csv" && c.FailuresFormat != "json" {
		return fmt.Errorf("--format: %q is not csv or json", c.FailuresFormat)
	}
	if c.CheckpointSchema != "" && !pgurl.Is(c.Checkpoint) && c.usesCheckpoint() {
		return errors.New("--checkpoint-schema applies to a postgres:// --checkpoint only")
	}
	if err := (checkpoint.Options{Schema: c.CheckpointSchema}).Validate(); err != nil && c.usesCheckpoint() {
		return fmt.Errorf("--checkpoint-schema: %w", err)
	}
	return nil
}

// usesCheckpoint says whether the command opens the checkpoint: every command but dry-run,
// which only reads one that exists.
func (c *Config) usesCheckpoint() bool { return c.Command != CommandDryRun }

func (c *Config) validateSource() error {
	pg := pgurl.Is(c.Source)
	switch {
	case pg && c.Query == "":
		return errors.New("--query is required with a postgres:// --source: the SELECT that reads the users")
	case !pg && c.Query != "":
		return errors.New("--query applies to a postgres:// --source only, and --source is a file")
	case c.Command == CommandRun && c.SinceColumn != "" && !pg:
		return errors.New("--since-column needs a postgres:// --source")
	case c.Limit < 0:
		return fmt.Errorf("--limit must be 0 (all) or more, not %d", c.Limit)
	}
	if !pg {
		d, err := parseDelimiter(c.Delimiter)
		if err != nil {
			return err
		}
		c.delimiter = d
	}
	return nil
}

func (c *Config) validateSend() error {
	if c.CheckpointTimeout <= 0 {
		return fmt.Errorf("--checkpoint-timeout must be positive, not %s", c.CheckpointTimeout)
	}
	v := strings.TrimSpace(c.Concurrency)
	if v == ConcurrencyAuto {
		c.workers, c.maxWorkers = pipeline.ConcurrencyDefault, ConcurrencyCap
	} else if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return fmt.Errorf("--concurrency must be a number of workers, 1 or more, or auto; not %q", v)
	} else {
		c.workers, c.maxWorkers = n, 0
	}
	switch c.Sink {
	case SinkUpdate:
	case SinkBulk:
		switch {
		case c.ClientID == "" || c.ClientSecret == "":
			return errors.New("--sink bulk needs --client-id and --client-secret: DRUID's Bulk API takes the app's client token")
		case c.BulkSize < 1 || c.BulkSize > sink.BulkMaxLines:
			return fmt.Errorf("--bulk-size must be 1 to %d lines, not %d", sink.BulkMaxLines, c.BulkSize)
		case c.BulkPoll <= 0:
			return fmt.Errorf("--bulk-poll must be positive, not %s", c.BulkPoll)
		case c.BulkTimeout <= 0:
			return fmt.Errorf("--bulk-timeout must be positive, not %s", c.BulkTimeout)
		case c.Command == CommandRollback:
			return errors.New("--sink bulk: rollback restores users whole, with the update sink; leave --sink out")
		case c.Merge || c.Backup || c.MaxRemovals >= 0:
			// The bulk sink's partial semantics keep what a line leaves out: the guards, which
			// protect a full replacement, have nothing to guard, and read every user for it.
			return errors.New("--merge, --backup and --max-removals guard the update sink's full replacements; --sink bulk updates partially and needs none")
		}
	default:
		return fmt.Errorf("--sink: %q is not update or bulk", c.Sink)
	}
	if c.Command == CommandRun && c.ClientID == "" {
		switch {
		case c.Backup:
			return errors.New("--backup reads each user from DRUID: it needs --client-id and --client-secret")
		case c.Merge:
			return errors.New("--merge reads each user from DRUID: it needs --client-id and --client-secret")
		case c.MaxRemovals >= 0:
			return errors.New("--max-removals reads each user from DRUID: it needs --client-id and --client-secret")
		}
	}
	return nil
}

func (c *Config) validateRetry() error {
	switch c.Outcome {
	case "", string(sink.Failed), string(sink.Rejected):
	default:
		return fmt.Errorf("--outcome: %q is not failed or rejected", c.Outcome)
	}
	c.codes = nil
	for _, s := range strings.Split(c.Codes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		code, err := strconv.Atoi(s)
		if err != nil || code < 0 || code > 599 {
			return fmt.Errorf("--codes: %q is not an HTTP status code", s)
		}
		c.codes = append(c.codes, code)
	}
	return nil
}

// maxConcurrency is the most workers the run may have at once; it sizes DRUID's connection
// pool.
func (c *Config) maxConcurrency() int { return max(c.workers, c.maxWorkers) }

func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	r := []rune(s)
	if len(r) != 1 {
		return 0, fmt.Errorf("--delimiter: %q must be a single character (use \\t for a tab)", s)
	}
	return r[0], nil
}

// shard is one of N disjoint parts of a job's users: the users whose key's FNV-1a 64 hash mod N
// is I. The zero shard is the whole job.
type shard struct {
	i, n int
}

// String is "I/N", or "" for the whole job: how the checkpoint records it.
func (s shard) String() string {
	if s.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.i, s.n)
}

// filter is has, or nil for the whole job: a pipeline's Shard.
func (s shard) filter() func(string) bool {
	if s.n == 0 {
		return nil
	}
	return s.has
}

// has says whether key belongs to the shard.
func (s shard) has(key string) bool {
	if s.n == 0 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()%uint64(s.n) == uint64(s.i)
}

// parseShard reads --shard I/N, or --shards N with I from JOB_COMPLETION_INDEX.
func parseShard(spec string, shards int, index string) (shard, error) {
	switch {
	case spec != "" && shards != 0:
		return shard{}, errors.New("--shard and --shards exclude each other: set one")
	case spec != "":
		i, n, ok := strings.Cut(spec, "/")
		si, err1 := strconv.Atoi(strings.TrimSpace(i))
		sn, err2 := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
			return shard{}, fmt.Errorf("--shard: %q is not I/N with 0 <= I < N, e.g. 0/4", spec)
		}
		return shard{i: si, n: sn}, nil
	case shards < 0:
		return shard{}, fmt.Errorf("--shards must be 1 or more, not %d", shards)
	case shards > 0:
		if index == "" {
			return shard{}, errors.New("--shards needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), or use --shard I/N")
		}
		si, err := strconv.Atoi(strings.TrimSpace(index))
		if err != nil || si < 0 || si >= shards {
			return shard{}, fmt.Errorf("--shards %d: JOB_COMPLETION_INDEX %q is not a shard of 0 to %d", shards, index, shards-1)
		}
		return shard{i: si, n: shards}, nil
	}
	return shard{}, nil
}
