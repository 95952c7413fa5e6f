// Package job is what each command does with a Config, without the command line: Run, Retry,
// Rollback and DryRun, and the reports of a job's checkpoint. The commands that send share one
// lifecycle: open the source, the DRUID client and the checkpoint; start the run's record; the
// skip look-ups, the watermark and the guards; the pipeline; the run's end recorded; the
// summary printed and written for schedulers.
//
// Config.Validate is the one place a usage error is decided, and ExitCode the one place an
// error becomes an exit code (SPEC §5). Nothing here reads flags or the environment: the
// command line (package cli) parses them into a Config once.
package job
