package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"druid-migrate/checkpoint"
	"druid-migrate/job"
	"druid-migrate/mapping"
	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// option is a flag and where its value goes in a job.Config. Each flag is defined once, here,
// and every command that takes it shares the definition; its default is job.Defaults'.
type option struct {
	flag cli.Flag
	set  func(c *cli.Context, cfg *job.Config)
}

func envs(env string) []string {
	if env == "" {
		return nil
	}
	return []string{env}
}

func stringOpt(name, env, usage string, to func(*job.Config) *string) option {
	return option{
		flag: &cli.StringFlag{Name: name, EnvVars: envs(env), Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.String(name) },
	}
}

// withValue shows the flag's default in the help.
func withValue(o option, value string) option {
	o.flag.(*cli.StringFlag).Value = value
	return o
}

// file says the flag names a file, for shell completion.
func file(o option) option {
	o.flag.(*cli.StringFlag).TakesFile = true
	return o
}

func boolOpt(name, env, usage string, to func(*job.Config) *bool) option {
	return option{
		flag: &cli.BoolFlag{Name: name, EnvVars: envs(env), Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.Bool(name) },
	}
}

func intOpt(name, env string, value int, usage string, to func(*job.Config) *int) option {
	return option{
		flag: &cli.IntFlag{Name: name, EnvVars: envs(env), Value: value, Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.Int(name) },
	}
}

func int64Opt(name, env, usage string, to func(*job.Config) *int64) option {
	return option{
		flag: &cli.Int64Flag{Name: name, EnvVars: envs(env), Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.Int64(name) },
	}
}

func floatOpt(name, env string, value float64, usage string, to func(*job.Config) *float64) option {
	return option{
		flag: &cli.Float64Flag{Name: name, EnvVars: envs(env), Value: value, Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.Float64(name) },
	}
}

func durationOpt(name, env string, value time.Duration, usage string, to func(*job.Config) *time.Duration) option {
	return option{
		flag: &cli.DurationFlag{Name: name, EnvVars: envs(env), Value: value, Usage: usage},
		set:  func(c *cli.Context, cfg *job.Config) { *to(cfg) = c.Duration(name) },
	}
}

// globalOptions are the flags of the application, before the command.
func globalOptions() []option {
	return []option{
		withValue(stringOpt("log-level", "DRUID_LOG_LEVEL", "debug, info, warn or error",
			func(c *job.Config) *string { return &c.LogLevel }), job.LogLevelDefault),
		withValue(stringOpt("log-format", "DRUID_LOG_FORMAT", "auto (console on a terminal, JSON otherwise), json or console",
			func(c *job.Config) *string { return &c.LogFormat }), job.LogFormatDefault),
	}
}

// sourceOptions are the flags of every command that reads records.
func sourceOptions() []option {
	key := withValue(stringOpt("key", "DRUID_KEY", "the column with the user's stable key",
		func(c *job.Config) *string { return &c.Key }), mapping.KeyColumnDefault)
	setKey := key.set
	key.set = func(c *cli.Context, cfg *job.Config) {
		setKey(c, cfg)
		cfg.KeySet = c.IsSet("key")
	}
	return []option{
		stringOpt("source", "DRUID_SOURCE", "a CSV file path, - for stdin, or a postgres:// URL",
			func(c *job.Config) *string { return &c.Source }),
		stringOpt("query", "DRUID_SOURCE_QUERY", "the SELECT that reads the users from a Postgres source",
			func(c *job.Config) *string { return &c.Query }),
		file(stringOpt("mapping", "DRUID_MAPPING", "mapping file (YAML)",
			func(c *job.Config) *string { return &c.Mapping })),
		withValue(stringOpt("delimiter", "DRUID_DELIMITER", "CSV field separator",
			func(c *job.Config) *string { return &c.Delimiter }), job.DelimiterDefault),
		key,
	}
}

// limitOption is --limit, of every command that reads records or backups.
func limitOption() option {
	return int64Opt("limit", "", "stop after N records (0: all)", func(c *job.Config) *int64 { return &c.Limit })
}

// envelopeOptions are the flags of the payload's envelope.
func envelopeOptions() []option {
	return []option{
		stringOpt("app-id", "DRUID_APP_ID", "actor.id: the app id of the application",
			func(c *job.Config) *string { return &c.AppID }),
		withValue(stringOpt("device", "DRUID_DEVICE", "default source.id (unknown pc mobile tablet game_console itv)",
			func(c *job.Config) *string { return &c.Device }), mapping.DeviceDefault),
		withValue(stringOpt("verb", "DRUID_VERB", "the request's verb",
			func(c *job.Config) *string { return &c.Verb }), mapping.VerbDefault),
	}
}

// druidOptions are the flags of every command that calls DRUID.
func druidOptions() []option {
	return []option{
		stringOpt("endpoint", "DRUID_ENDPOINT", "DRUID base URL, e.g. https://graph.demo.dru-id.com",
			func(c *job.Config) *string { return &c.Endpoint }),
		stringOpt("client-id", "DRUID_CLIENT_ID", "the app's client id: administrative (challenge code) tokens per user, and the client token that reads users",
			func(c *job.Config) *string { return &c.ClientID }),
		stringOpt("client-secret", "DRUID_CLIENT_SECRET", "the app's client secret",
			func(c *job.Config) *string { return &c.ClientSecret }),
		stringOpt("auth-endpoint", "DRUID_AUTH_ENDPOINT", "OAuth base URL for tokens (default: the endpoint)",
			func(c *job.Config) *string { return &c.AuthEndpoint }),
		stringOpt("entry-point", "DRUID_ENTRY_POINT", "the From header: the entry point id",
			func(c *job.Config) *string { return &c.EntryPoint }),
		stringOpt("token", "DRUID_TOKEN", "static bearer token",
			func(c *job.Config) *string { return &c.Token }),
		file(stringOpt("token-file", "DRUID_TOKEN_FILE", "file holding the bearer token, re-read when DRUID answers 401",
			func(c *job.Config) *string { return &c.TokenFile })),
		floatOpt("rate", "DRUID_RATE", job.RateDefault, "requests per second (0: unlimited)",
			func(c *job.Config) *float64 { return &c.Rate }),
		intOpt("burst", "DRUID_BURST", job.BurstDefault, "requests allowed at once above the rate",
			func(c *job.Config) *int { return &c.Burst }),
		intOpt("retries", "DRUID_RETRIES", sink.RetriesDefault, "tries after the first for transient failures",
			func(c *job.Config) *int { return &c.Retries }),
		durationOpt("timeout", "DRUID_TIMEOUT", sink.TimeoutDefault, "per request",
			func(c *job.Config) *time.Duration { return &c.Timeout }),
		withValue(stringOpt("sink", "DRUID_SINK", "update (one full replacement per user) or bulk (DRUID's Bulk API: batches of partial users; needs --client-id)",
			func(c *job.Config) *string { return &c.Sink }), job.SinkUpdate),
		intOpt("bulk-size", "DRUID_BULK_SIZE", sink.BulkMaxLines, "lines per bulk request, at most 1000 (and 5 MB)",
			func(c *job.Config) *int { return &c.BulkSize }),
		durationOpt("bulk-poll", "DRUID_BULK_POLL", pipeline.BulkPollDefault, "first wait between two reads of a bulk batch's status",
			func(c *job.Config) *time.Duration { return &c.BulkPoll }),
		durationOpt("bulk-timeout", "DRUID_BULK_TIMEOUT", pipeline.BulkTimeoutDefault, "longest wait for one bulk batch's result; its users stay submitted for the next run",
			func(c *job.Config) *time.Duration { return &c.BulkTimeout }),
		durationOpt("druid-timeout", "DRUID_DRUID_TIMEOUT", sink.DownTimeoutDefault,
			"how long a run holds its workers while every call fails for want of DRUID (refused, 5xx) before it stops with exit code 3",
			func(c *job.Config) *time.Duration { return &c.DruidTimeout }),
		withValue(stringOpt("concurrency", "DRUID_CONCURRENCY",
			fmt.Sprintf("workers, or auto: start with %d and add workers while DRUID's latency keeps the run below --rate (at most %d)",
				pipeline.ConcurrencyDefault, job.ConcurrencyCap),
			func(c *job.Config) *string { return &c.Concurrency }), strconv.Itoa(pipeline.ConcurrencyDefault)),
	}
}

// checkpointOptions are the flags of every command that opens the checkpoint.
func checkpointOptions() []option {
	return []option{
		withValue(stringOpt("checkpoint", "DRUID_CHECKPOINT", "postgres:// URL, or an SQLite file path",
			func(c *job.Config) *string { return &c.Checkpoint }), checkpoint.SQLiteDefault),
		stringOpt("checkpoint-schema", "DRUID_CHECKPOINT_SCHEMA", "the Postgres schema of the checkpoint's tables (default: the connection's, usually public)",
			func(c *job.Config) *string { return &c.CheckpointSchema }),
		jobOption(),
	}
}

// jobOption is --job, and whether it was given.
func jobOption() option {
	o := withValue(stringOpt("job", "DRUID_JOB", "the job's name in the checkpoint",
		func(c *job.Config) *string { return &c.Job }), job.JobDefault)
	set := o.set
	o.set = func(c *cli.Context, cfg *job.Config) {
		set(c, cfg)
		cfg.JobSet = c.IsSet("job")
	}
	return o
}

// shardOptions are the flags that pick one shard of a job (SPEC §4).
func shardOptions() []option {
	shards := intOpt("shards", "DRUID_SHARDS", 0, "N shards, this process's one from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)",
		func(c *job.Config) *int { return &c.Shards })
	setShards := shards.set
	shards.set = func(c *cli.Context, cfg *job.Config) {
		setShards(c, cfg)
		cfg.ShardIndex = os.Getenv("JOB_COMPLETION_INDEX")
	}
	return []option{
		stringOpt("shard", "DRUID_SHARD", "I/N: this process takes the users whose key hashes to I of N shards",
			func(c *job.Config) *string { return &c.Shard }),
		shards,
	}
}

// hashKeyOption is --hash-key-file, whose secret may also come from DRUID_HASH_KEY itself.
func hashKeyOption() option {
	o := file(stringOpt("hash-key-file", "", "file holding the secret that keys the password's part of the payload hash (or DRUID_HASH_KEY: the key itself)",
		func(c *job.Config) *string { return &c.HashKeyFile }))
	set := o.set
	o.set = func(c *cli.Context, cfg *job.Config) {
		set(c, cfg)
		cfg.HashKey = os.Getenv("DRUID_HASH_KEY")
	}
	return o
}

// runOptions are the flags of every command that sends and records a run.
func runOptions() []option {
	return []option{
		hashKeyOption(),
		durationOpt("checkpoint-timeout", "DRUID_CHECKPOINT_TIMEOUT", pipeline.CheckpointTimeoutDefault,
			"how long to wait for an unreachable checkpoint, holding the outcomes, before stopping with exit code 3",
			func(c *job.Config) *time.Duration { return &c.CheckpointTimeout }),
		file(stringOpt("summary-json", "DRUID_SUMMARY_JSON", "also write the run's summary as JSON to this file, for schedulers and dashboards",
			func(c *job.Config) *string { return &c.SummaryJSON })),
		stringOpt("metrics-addr", "DRUID_METRICS_ADDR", "serve Prometheus metrics at /metrics on this address while the run lasts, e.g. 127.0.0.1:9090 or :9090",
			func(c *job.Config) *string { return &c.MetricsAddr }),
	}
}

// runOwnOptions are run's own flags: the skip rule, the incremental sync and the guards.
func runOwnOptions() []option {
	return []option{
		boolOpt("force", "", "send users the skip rule would skip",
			func(c *job.Config) *bool { return &c.Force }),
		stringOpt("since-column", "DRUID_SINCE_COLUMN", "incremental sync from Postgres: read only rows whose column (a timestamp) changed since the job's last completed run",
			func(c *job.Config) *string { return &c.SinceColumn }),
		intOpt("max-removals", "DRUID_MAX_REMOVALS", job.MaxRemovalsDefault,
			"refuse (outcome invalid) a user whose replacement would remove more than N fields (-1: no limit; needs --client-id)",
			func(c *job.Config) *int { return &c.MaxRemovals }),
		boolOpt("allow-removals", "DRUID_ALLOW_REMOVALS", "send replacements that remove confirmed ids or more than --max-removals fields",
			func(c *job.Config) *bool { return &c.AllowRemovals }),
		boolOpt("backup", "DRUID_BACKUP", "store each user's state, read from DRUID just before its update, so that the rollback command can restore it (needs --client-id)",
			func(c *job.Config) *bool { return &c.Backup }),
		boolOpt("merge", "DRUID_MERGE", "send DRUID's current user with the source's fields laid over it: fields the source lacks are kept (needs --client-id)",
			func(c *job.Config) *bool { return &c.Merge }),
	}
}

// retryOwnOptions are retry's own flags.
func retryOwnOptions() []option {
	return []option{
		stringOpt("codes", "DRUID_RETRY_CODES", "only users whose last status code is one of these, e.g. 416,500",
			func(c *job.Config) *string { return &c.Codes }),
		stringOpt("outcome", "DRUID_RETRY_OUTCOME", "only users whose last outcome is this: failed or rejected (default: both)",
			func(c *job.Config) *string { return &c.Outcome }),
	}
}

// concat joins lists of options.
func concat(lists ...[]option) []option {
	var out []option
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// runFlags are the options of run, which dry-run takes too.
func runFlags() []option {
	return concat(sourceOptions(), []option{limitOption()}, envelopeOptions(), druidOptions(),
		checkpointOptions(), shardOptions(), runOptions(), runOwnOptions())
}

func retryFlags() []option {
	return concat(sourceOptions(), []option{limitOption()}, envelopeOptions(), druidOptions(),
		checkpointOptions(), shardOptions(), runOptions(), retryOwnOptions())
}

func rollbackFlags() []option {
	return concat([]option{
		int64Opt("run", "", "the run to undo, as the runs command lists it; it must have run with --backup",
			func(c *job.Config) *int64 { return &c.RollbackRun }),
		int64Opt("limit", "", "stop after N users (0: all)", func(c *job.Config) *int64 { return &c.Limit }),
	}, envelopeOptions(), druidOptions(), checkpointOptions(), runOptions())
}

func dryRunFlags() []option {
	return append(runFlags(), boolOpt("diff", "", "read each user from DRUID (needs --client-id/--client-secret) and print what the replacement would add, change and remove",
		func(c *job.Config) *bool { return &c.Diff }))
}

func jsonOption(usage string) option {
	return boolOpt("json", "", usage, func(c *job.Config) *bool { return &c.JSON })
}

func statusFlags() []option {
	return concat(checkpointOptions(), shardOptions(), []option{jsonOption("one JSON document, for machines")})
}

func runsFlags() []option {
	return concat(checkpointOptions(), shardOptions(), []option{jsonOption("JSON Lines, for machines")})
}

func failuresFlags() []option {
	return append(concat(checkpointOptions(), shardOptions()), withValue(stringOpt("format", "", "csv or json",
		func(c *job.Config) *string { return &c.FailuresFormat }), job.FailuresFormatDefault))
}

func migrateFlags() []option { return checkpointOptions() }

// flagsOf are the urfave flags of options.
func flagsOf(opts []option) []cli.Flag {
	flags := make([]cli.Flag, len(opts))
	for i, o := range opts {
		flags[i] = o.flag
	}
	return flags
}
