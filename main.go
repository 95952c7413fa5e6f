// Command druid-migrate moves users from a company's CRM (a CSV export or a Postgres table) into
// DRUID through its update user API, resumably, with a per-user record of what happened.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"druid-migrate/pipeline"
)

// Exit codes of SPEC §5 that are not decided by a run's outcomes (those are in pipeline).
const (
	exitConfig     = 2
	exitCheckpoint = 3
)

func main() {
	os.Exit(runCLI(os.Args, os.Stdout, os.Stderr))
}

// exitStatus is returned by a command that finished as it should, but whose result calls for a
// non-zero exit code (a run with failures, an interrupted run).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// configError is a usage or configuration error: one clear line naming the flag or file, exit 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func configErrorf(format string, args ...any) error {
	return configError{fmt.Errorf(format, args...)}
}

// runCLI runs the command line and returns the process exit code: the one place where errors
// become exit codes.
func runCLI(args []string, stdout, stderr io.Writer) int {
	var notFound string
	app := newApp(stdout, stderr)
	app.CommandNotFound = func(_ *cli.Context, name string) { notFound = name }
	err := app.Run(args)
	if notFound != "" && err == nil {
		err = configErrorf("unknown command %q; see druid-migrate --help", notFound)
	}
	var status exitStatus
	var cfgErr configError
	switch {
	case err == nil:
		return pipeline.ExitOK
	case errors.As(err, &status):
		return int(status)
	case errors.Is(err, pipeline.ErrCheckpoint):
		fmt.Fprintf(stderr, "druid-migrate: %v\n", err)
		return exitCheckpoint
	case errors.As(err, &cfgErr):
		fmt.Fprintf(stderr, "druid-migrate: %v\n", oneLine(err))
		return exitConfig
	default:
		fmt.Fprintf(stderr, "druid-migrate: %v\n", oneLine(err))
		return pipeline.ExitFailures
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newApp(stdout, stderr io.Writer) *cli.App {
	usageError := func(_ *cli.Context, err error, _ bool) error { return configError{err} }
	app := &cli.App{
		Name:      "druid-migrate",
		Usage:     "migrate users from a CRM into DRUID, resumably",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"DRUID_LOG_LEVEL"},
				Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"DRUID_LOG_FORMAT"},
				Usage: "auto (console on a terminal, JSON otherwise), json or console"},
		},
		Commands: []*cli.Command{
			runCommand(), retryCommand(), rollbackCommand(), dryRunCommand(), statusCommand(), failuresCommand(), runsCommand(), migrateCommand(), fakeDruidCommand(),
		},
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided by runCLI alone
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	return app
}

// newLogger builds the logger of --log-level and --log-format, writing to stderr.
func newLogger(c *cli.Context) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(strings.ToLower(c.String("log-level")))
	if err != nil || level == zerolog.NoLevel {
		return zerolog.Nop(), configErrorf("--log-level: %q is not one of debug, info, warn, error", c.String("log-level"))
	}
	// Workers log concurrently; SyncWriter makes each line one write, whatever the writer.
	w := zerolog.SyncWriter(c.App.ErrWriter)
	switch f := c.String("log-format"); f {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	case "auto":
		if isTerminal(c.App.ErrWriter) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
		}
	default:
		return zerolog.Nop(), configErrorf("--log-format: %q is not one of auto, json, console", f)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a character device, such as an operator's terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
