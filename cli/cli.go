package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"druid-migrate/job"
)

// Run runs the command line args (args[0] is the program's name) with the given streams, and
// returns the process exit code (SPEC §5). ctx is cancelled by the first interrupt: a run then
// stops reading, lets the calls in flight finish and exits 130.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	tuneGC.Do(func() {
		// A collection at three quarters of the live heap's growth, not the whole: the memory of a
		// run stays flat under 60 MB at 64 workers for no measurable CPU (docs/performance.md).
		// GOGC, when set, is the operator's to choose.
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(gcPercent)
		}
	})
	var notFound string
	app := newApp(stdin, stdout, stderr)
	app.CommandNotFound = func(_ *cli.Context, name string) { notFound = name }
	err := app.RunContext(ctx, args)
	if notFound != "" && err == nil {
		err = &job.ConfigError{Err: fmt.Errorf("unknown command %q; see druid-migrate --help", notFound)}
	}
	if err != nil && !job.Quiet(err) {
		fmt.Fprintf(stderr, "druid-migrate: %s\n", oneLine(err))
	}
	return job.ExitCode(err)
}

// gcPercent is the run's GOGC unless the environment sets one.
const gcPercent = 75

var tuneGC sync.Once

// oneLine is err's message on one line: an operator's log keeps one line per event.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// command is what one command does with its validated Config.
type command func(ctx context.Context, cfg job.Config) error

// Parse parses the command line args (args[0] is the program's name) and the environment into
// the Config their command would run with, validated, without running it: what a deployment's
// manifests are checked with. A command with no Config of its own (fake-druid, help) gives a
// Config holding its name only.
func Parse(args []string) (job.Config, error) {
	var parsed job.Config
	app := newApp(nil, io.Discard, io.Discard)
	app.CommandNotFound = func(_ *cli.Context, name string) { parsed.Command = "?" + name }
	for _, cmd := range app.Commands {
		name := cmd.Name
		opts := commandOptions(name)
		cmd.Action = func(c *cli.Context) error {
			if opts == nil {
				parsed.Command = name
				return nil
			}
			cfg, err := configOf(c, name, concat(globalOptions(), opts), nil, io.Discard, io.Discard)
			parsed = cfg
			return err
		}
	}
	err := app.Run(args)
	if strings.HasPrefix(parsed.Command, "?") && err == nil {
		err = &job.ConfigError{Err: fmt.Errorf("unknown command %q", parsed.Command[1:])}
	}
	return parsed, err
}

// commandOptions are the options of the command name.
func commandOptions(name string) []option {
	switch name {
	case job.CommandRun:
		return runFlags()
	case job.CommandRetry:
		return retryFlags()
	case job.CommandRollback:
		return rollbackFlags()
	case job.CommandDryRun:
		return dryRunFlags()
	case job.CommandStatus:
		return statusFlags()
	case job.CommandFailures:
		return failuresFlags()
	case job.CommandRuns:
		return runsFlags()
	case job.CommandMigrate:
		return migrateFlags()
	}
	return nil
}

func init() {
	// --version prints what `version` prints, to the app's writer.
	cli.VersionPrinter = func(c *cli.Context) { writeVersion(c.App.Writer) }
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	usageError := func(_ *cli.Context, err error, _ bool) error { return &job.ConfigError{Err: err} }
	global := globalOptions()
	def := func(name, usage string, do command) *cli.Command {
		opts := commandOptions(name)
		return &cli.Command{
			Name:         name,
			Usage:        usage,
			Flags:        flagsOf(opts),
			OnUsageError: usageError,
			Action: func(c *cli.Context) error {
				cfg, err := configOf(c, name, concat(global, opts), stdin, stdout, stderr)
				if err != nil {
					return err
				}
				return do(c.Context, cfg)
			},
		}
	}
	return &cli.App{
		Name:      "druid-migrate",
		Usage:     "migrate users from a CRM into DRUID, resumably",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags:     flagsOf(global),
		Commands: []*cli.Command{
			def(job.CommandRun, "migrate every record of the source; resumes the job from its checkpoint",
				reportless(job.Run)),
			def(job.CommandRetry, "re-send the job's users whose last outcome is failed or rejected, re-reading their records from the source",
				reportless(job.Retry)),
			def(job.CommandRollback, "send every user a run --backup changed back to the state it had just before; "+
				"a run of its own (job J:rollback:R), rate-limited, checkpointed and resumable",
				reportless(job.Rollback)),
			def(job.CommandDryRun, "build and validate every payload and print them as JSON Lines (passwords masked); no update, no checkpoint write",
				reportless(job.DryRun)),
			def(job.CommandStatus, "counts of the job's users per outcome and status code",
				statusCommand),
			def(job.CommandFailures, "the users whose last outcome is failed, rejected or invalid",
				failuresCommand),
			def(job.CommandRuns, "one line per run of the job: id, command, started, finished, counts, exit code",
				runsCommand),
			def(job.CommandMigrate, "create or upgrade the checkpoint schema (run does it too)",
				func(ctx context.Context, cfg job.Config) error { return job.Migrate(ctx, cfg) }),
			fakeDruidCommand(stdout, stderr),
			versionCommand(stdout),
		},
		Version:        appVersion(),
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided by Run alone
	}
}

// configOf parses the command's flags and environment into its job.Config, once, validates it
// and gives it the logger it asks for.
func configOf(c *cli.Context, name string, opts []option, stdin io.Reader, stdout, stderr io.Writer) (job.Config, error) {
	cfg := job.Defaults(name)
	for _, o := range opts {
		o.set(c, &cfg)
	}
	cfg.Stdin, cfg.Stdout, cfg.Stderr = stdin, stdout, stderr
	cfg.Terminal = isTerminal(stderr)
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	cfg.Log = newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	return cfg, nil
}

// reportless is a command of job's that returns a report the command line does not print:
// the job has printed its summary already.
func reportless[T any](do func(context.Context, job.Config) (T, error)) command {
	return func(ctx context.Context, cfg job.Config) error {
		_, err := do(ctx, cfg)
		return err
	}
}
