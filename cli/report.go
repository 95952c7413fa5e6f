package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/job"
	"druid-migrate/sink"
)

// statusReport is the JSON of `status --json`.
type statusReport struct {
	Job   string `json:"job"`
	Shard string `json:"shard,omitempty"`
	// Users counts the job's users; RecordsWithoutUser the records recorded under their line
	// (malformed rows, empty or repeated keys, keys that cannot be stored), which are no user.
	Users              int64            `json:"users"`
	RecordsWithoutUser int64            `json:"records_without_user"`
	Outcomes           map[string]int64 `json:"outcomes"`
	Codes              map[string]int64 `json:"status_codes"`
	Rows               []statusRow      `json:"rows"`
	LastRun            *runReport       `json:"last_run,omitempty"`
}

type statusRow struct {
	Outcome     string `json:"outcome"`
	StatusCode  int    `json:"status_code"`
	Users       int64  `json:"users"`
	WithoutUser bool   `json:"without_user,omitempty"` // records recorded under their line
}

// jobReport is one job of `status` given no --job.
type jobReport struct {
	Job                string     `json:"job"`
	Users              int64      `json:"users"`
	RecordsWithoutUser int64      `json:"records_without_user"`
	LastRun            *runReport `json:"last_run,omitempty"`
}

type runReport struct {
	ID         int64             `json:"id"`
	Command    string            `json:"command"`
	Shard      string            `json:"shard,omitempty"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at"`
	ExitCode   *int              `json:"exit_code"`
	Counts     checkpoint.Counts `json:"counts"`
}

func newRunReport(r checkpoint.Run) runReport {
	return runReport{ID: r.ID, Command: r.Command, Shard: r.Shard, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		ExitCode: r.ExitCode, Counts: r.Counts}
}

// end says how a run ended: "unfinished" while it has no end (it may be going on), "ended
// without recording its end" when a later run found it dead, or its end and exit code.
func (r runReport) end() string {
	switch {
	case r.FinishedAt == nil:
		return "unfinished"
	case r.ExitCode == nil:
		return fmt.Sprintf("ended %s without recording its end (killed, or its checkpoint lost)", r.FinishedAt.Local().Format(time.DateTime))
	}
	return fmt.Sprintf("finished %s, exit code %d", r.FinishedAt.Local().Format(time.DateTime), *r.ExitCode)
}

// writeJobs writes the checkpoint's jobs: `status` given no --job.
func writeJobs(cfg job.Config, jobs []checkpoint.JobInfo) error {
	reps := make([]jobReport, len(jobs))
	for i, j := range jobs {
		reps[i] = jobReport{Job: j.Job, Users: j.Users, RecordsWithoutUser: j.Keyless}
		if j.LastRun != nil {
			last := newRunReport(*j.LastRun)
			reps[i].LastRun = &last
		}
	}
	if cfg.JSON {
		enc := json.NewEncoder(cfg.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"jobs": reps})
	}
	w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "the checkpoint's jobs (name one with --job):")
	fmt.Fprintln(w, "JOB\tUSERS\tWITHOUT USER\tLAST RUN")
	for _, j := range reps {
		last := "-"
		if r := j.LastRun; r != nil {
			last = fmt.Sprintf("%d (%s), started %s, %s", r.ID, r.Command, r.StartedAt.Local().Format(time.DateTime), r.end())
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", j.Job, j.Users, j.RecordsWithoutUser, last)
	}
	return w.Flush()
}

func statusCommand(ctx context.Context, cfg job.Config) error {
	st, err := job.ReportStatus(ctx, cfg)
	if err != nil {
		return err
	}
	if st.Jobs != nil {
		return writeJobs(cfg, st.Jobs)
	}
	rep := statusReport{Job: st.Job, Shard: st.Shard, Outcomes: map[string]int64{}, Codes: map[string]int64{}, Rows: []statusRow{}}
	for _, o := range []sink.Outcome{sink.Updated, sink.Partial, sink.Unchanged, sink.Invalid, sink.Rejected, sink.Failed} {
		rep.Outcomes[string(o)] = 0
	}
	for _, sc := range st.Counts {
		if sc.Keyless {
			rep.RecordsWithoutUser += sc.Users
		} else {
			rep.Users += sc.Users
		}
		rep.Outcomes[sc.Outcome] += sc.Users
		rep.Codes[strconv.Itoa(sc.StatusCode)] += sc.Users
		rep.Rows = append(rep.Rows, statusRow{Outcome: sc.Outcome, StatusCode: sc.StatusCode, Users: sc.Users, WithoutUser: sc.Keyless})
	}
	if st.LastRun != nil {
		last := newRunReport(*st.LastRun)
		rep.LastRun = &last
	}
	if cfg.JSON {
		enc := json.NewEncoder(cfg.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
	name := "job " + rep.Job
	if rep.Shard != "" {
		name += ", shard " + rep.Shard
	}
	fmt.Fprintf(w, "%s: %d users", name, rep.Users)
	if rep.RecordsWithoutUser > 0 {
		fmt.Fprintf(w, ", and %d records without a user (malformed rows, empty or repeated keys)", rep.RecordsWithoutUser)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "OUTCOME\tSTATUS CODE\tUSERS")
	for _, r := range rep.Rows {
		outcome := r.Outcome
		if r.WithoutUser {
			outcome += " (no user)"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\n", outcome, r.StatusCode, r.Users)
	}
	if r := rep.LastRun; r != nil {
		fmt.Fprintf(w, "last run %d (%s): started %s, %s\n", r.ID, r.Command, r.StartedAt.Local().Format(time.DateTime), r.end())
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

func failuresCommand(ctx context.Context, cfg job.Config) error {
	var err error
	out := bufio.NewWriter(cfg.Stdout)
	if cfg.FailuresFormat == "csv" {
		w := csv.NewWriter(out)
		_ = w.Write([]string{"key", "status_code", "outcome", "error"})
		err = job.ReportFailures(ctx, cfg, func(r checkpoint.Row) error {
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
		err = job.ReportFailures(ctx, cfg, func(r checkpoint.Row) error {
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
		return err
	}
	return out.Flush()
}

func runsCommand(ctx context.Context, cfg job.Config) error {
	runs, err := job.ReportRuns(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(cfg.Stdout)
		for _, r := range runs {
			if err := enc.Encode(newRunReport(r)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUN\tCOMMAND\tSHARD\tSTARTED\tFINISHED\tREAD\tSKIPPED\tUPDATED\tPARTIAL\tUNCHANGED\tINVALID\tREJECTED\tFAILED\tEXIT")
	for _, r := range runs {
		finished, exit, shard := "-", "-", "-"
		if r.FinishedAt != nil {
			finished = r.FinishedAt.Local().Format(time.DateTime)
			exit = "lost" // a later run found it dead: killed, or its checkpoint lost
		}
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		if r.Shard != "" {
			shard = r.Shard
		}
		n := r.Counts
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Command, shard,
			r.StartedAt.Local().Format(time.DateTime), finished, n.Read, n.Skipped, n.Updated, n.Partial,
			n.Unchanged, n.Invalid, n.Rejected, n.Failed, exit)
	}
	return w.Flush()
}
