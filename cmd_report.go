package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"druid-migrate/checkpoint"
	"druid-migrate/sink"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "counts of the job's users per outcome and status code",
		Flags: append(checkpointFlags(), jobFlag(),
			&cli.BoolFlag{Name: "json", Usage: "one JSON document, for machines"}),
		Action: withStore(statusAction),
	}
}

func failuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "failures",
		Usage: "the users whose last outcome is failed, rejected or invalid",
		Flags: append(checkpointFlags(), jobFlag(),
			&cli.StringFlag{Name: "format", Value: "csv", Usage: "csv or json"}),
		Action: withStore(failuresAction),
	}
}

// withStore makes a report command's action: the logger and the checkpoint are opened for it,
// and the checkpoint closed after.
func withStore(action func(c *cli.Context, store checkpoint.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if _, err := newLogger(c); err != nil {
			return err
		}
		store, err := openStore(c)
		if err != nil {
			return err
		}
		defer store.Close()
		return action(c, store)
	}
}

func runsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "one line per run of the job: id, command, started, finished, counts, exit code",
		Flags: append(checkpointFlags(), jobFlag(),
			&cli.BoolFlag{Name: "json", Usage: "JSON Lines, for machines"}),
		Action: withStore(runsAction),
	}
}

func runsAction(c *cli.Context, store checkpoint.Store) error {
	job := c.String("job")
	runs, err := store.Runs(c.Context, job)
	if err != nil {
		return jobError(job, err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		for _, r := range runs {
			if err := enc.Encode(newRunReport(r)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN\tCOMMAND\tSTARTED\tFINISHED\tREAD\tSKIPPED\tUPDATED\tPARTIAL\tUNCHANGED\tINVALID\tREJECTED\tFAILED\tEXIT")
	for _, r := range runs {
		finished, exit := "-", "-"
		if r.FinishedAt != nil {
			finished = r.FinishedAt.Local().Format(time.DateTime)
		}
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		n := r.Counts
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Command,
			r.StartedAt.Local().Format(time.DateTime), finished, n.Read, n.Skipped, n.Updated, n.Partial,
			n.Unchanged, n.Invalid, n.Rejected, n.Failed, exit)
	}
	return w.Flush()
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "create or upgrade the checkpoint schema (run does it too)",
		Flags: checkpointFlags(),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			store, err := openStore(c)
			if err != nil {
				return err
			}
			log.Info().Msg("checkpoint schema is up to date")
			return store.Close()
		},
	}
}

// statusReport is the JSON of `status --json`.
type statusReport struct {
	Job      string           `json:"job"`
	Users    int64            `json:"users"`
	Outcomes map[string]int64 `json:"outcomes"`
	Codes    map[string]int64 `json:"status_codes"`
	Rows     []statusRow      `json:"rows"`
	LastRun  *runReport       `json:"last_run,omitempty"`
}

type statusRow struct {
	Outcome    string `json:"outcome"`
	StatusCode int    `json:"status_code"`
	Users      int64  `json:"users"`
}

type runReport struct {
	ID         int64             `json:"id"`
	Command    string            `json:"command"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at"`
	ExitCode   *int              `json:"exit_code"`
	Counts     checkpoint.Counts `json:"counts"`
}

func newRunReport(r checkpoint.Run) runReport {
	return runReport{ID: r.ID, Command: r.Command, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		ExitCode: r.ExitCode, Counts: r.Counts}
}

func statusAction(c *cli.Context, store checkpoint.Store) error {
	job := c.String("job")
	counts, err := store.Status(c.Context, job)
	if err != nil {
		return jobError(job, err)
	}
	rep := statusReport{Job: job, Outcomes: map[string]int64{}, Codes: map[string]int64{}, Rows: []statusRow{}}
	for _, o := range []sink.Outcome{sink.Updated, sink.Partial, sink.Unchanged, sink.Invalid, sink.Rejected, sink.Failed} {
		rep.Outcomes[string(o)] = 0
	}
	for _, sc := range counts {
		rep.Users += sc.Users
		rep.Outcomes[sc.Outcome] += sc.Users
		rep.Codes[strconv.Itoa(sc.StatusCode)] += sc.Users
		rep.Rows = append(rep.Rows, statusRow{Outcome: sc.Outcome, StatusCode: sc.StatusCode, Users: sc.Users})
	}
	if runs, err := store.Runs(c.Context, job); err != nil {
		return err
	} else if len(runs) > 0 {
		last := newRunReport(runs[0])
		rep.LastRun = &last
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "job %s: %d users\n", job, rep.Users)
	fmt.Fprintln(w, "OUTCOME\tSTATUS CODE\tUSERS")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%s\t%d\t%d\n", r.Outcome, r.StatusCode, r.Users)
	}
	if r := rep.LastRun; r != nil {
		end := "unfinished"
		if r.FinishedAt != nil && r.ExitCode != nil {
			end = fmt.Sprintf("finished %s, exit code %d", r.FinishedAt.Local().Format(time.DateTime), *r.ExitCode)
		}
		fmt.Fprintf(w, "last run %d (%s): started %s, %s\n", r.ID, r.Command, r.StartedAt.Local().Format(time.DateTime), end)
	}
	return w.Flush()
}

// failureReport is one line of `failures --format json`.
type failureReport struct {
	Key        string    `json:"key"`
	StatusCode int       `json:"status_code"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error"`
	Attempts   int       `json:"attempts"`
	RunID      int64     `json:"run_id"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func failuresAction(c *cli.Context, store checkpoint.Store) error {
	format := c.String("format")
	if format != "csv" && format != "json" {
		return configErrorf("--format: %q is not csv or json", format)
	}
	var err error
	out := bufio.NewWriter(c.App.Writer)
	outcomes := []string{string(sink.Failed), string(sink.Rejected), string(sink.Invalid)}
	if format == "csv" {
		w := csv.NewWriter(out)
		_ = w.Write([]string{"key", "status_code", "outcome", "error"})
		err = store.Failures(c.Context, c.String("job"), outcomes, func(r checkpoint.Row) error {
			return w.Write([]string{r.Key, strconv.Itoa(r.StatusCode), r.Outcome, r.Error})
		})
		w.Flush()
		if err == nil {
			err = w.Error()
		}
	} else {
		// A JSON array, streamed: a job may have millions of failures.
		out.WriteString("[")
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		first := true
		err = store.Failures(c.Context, c.String("job"), outcomes, func(r checkpoint.Row) error {
			if !first {
				out.WriteString(",")
			}
			first = false
			return enc.Encode(failureReport{Key: r.Key, StatusCode: r.StatusCode, Outcome: r.Outcome, Error: r.Error,
				Attempts: r.Attempts, RunID: r.RunID, UpdatedAt: r.UpdatedAt})
		})
		out.WriteString("]\n")
	}
	if err != nil {
		return jobError(c.String("job"), err)
	}
	return out.Flush()
}

// jobError names the job when the checkpoint does not know it: most often a mistyped --job.
func jobError(job string, err error) error {
	if errors.Is(err, checkpoint.ErrNotFound) {
		return configErrorf("--job: the checkpoint holds no job %q", job)
	}
	return err
}
