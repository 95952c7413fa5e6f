package job

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"druid-migrate/checkpoint"
	"druid-migrate/pipeline"
)

// writeSummary writes a run's summary for a person.
func writeSummary(w io.Writer, command string, s pipeline.Summary) error {
	var b strings.Builder
	state := "finished"
	if s.Interrupted {
		state = "interrupted"
	}
	fmt.Fprintf(&b, "%s %s in %s\n", command, state, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "  records read   %d\n", s.Read)
	fmt.Fprintf(&b, "  skipped        %d (already answered by DRUID for the same payload", s.Skipped)
	if s.StillRejected > 0 {
		fmt.Fprintf(&b, "; %d of them still rejected", s.StillRejected)
	}
	b.WriteString(")\n")
	for _, o := range []struct {
		name string
		n    int64
	}{
		{"updated", s.Updated}, {"partial", s.Partial}, {"unchanged", s.Unchanged},
		{"invalid", s.Invalid}, {"rejected", s.Rejected}, {"failed", s.Failed},
	} {
		fmt.Fprintf(&b, "  %-14s %d\n", o.name, o.n)
	}
	if len(s.Codes) > 0 {
		codes := make([]int, 0, len(s.Codes))
		for c := range s.Codes {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		b.WriteString("  status codes  ")
		for _, c := range codes {
			fmt.Fprintf(&b, " %d:%d", c, s.Codes[c])
		}
		b.WriteString("\n")
	}
	if s.OtherShards > 0 {
		fmt.Fprintf(&b, "  other shards   %d (records of the other shards, read and passed over)\n", s.OtherShards)
	}
	if s.Unrecorded > 0 {
		fmt.Fprintf(&b, "  unrecorded     %d (DRUID answered, the checkpoint was unreachable: the next run sends them again)\n", s.Unrecorded)
	}
	fmt.Fprintf(&b, "  requests       %d (%.1f/s)\n", s.Requests, s.Rate())
	if t := s.Throttling; t.Retries+t.Throttled+t.TokenRequests > 0 {
		fmt.Fprintf(&b, "  retries        %d\n", t.Retries)
		if t.Throttled > 0 {
			fmt.Fprintf(&b, "  throttled      %d answers saying slower (429, 503 with Retry-After); the rate was cut %d times, down to %.1f/s\n",
				t.Throttled, t.SlowDowns, t.MinRate)
		}
		if t.TokenRequests > 0 {
			fmt.Fprintf(&b, "  token calls    %d\n", t.TokenRequests)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryReport is the JSON of --summary-json: what the printed summary says, for machines.
type SummaryReport struct {
	Job            string              `json:"job"`
	Shard          string              `json:"shard,omitempty"`
	RunID          int64               `json:"run_id"`
	Command        string              `json:"command"`
	ExitCode       int                 `json:"exit_code"`
	Interrupted    bool                `json:"interrupted"`
	Counts         checkpoint.Counts   `json:"counts"`
	StillRejected  int64               `json:"still_rejected"`
	Unrecorded     int64               `json:"unrecorded"`
	OtherShards    int64               `json:"other_shards,omitempty"`
	StatusCodes    map[string]int64    `json:"status_codes"`
	Requests       int64               `json:"requests"`
	ElapsedSeconds float64             `json:"elapsed_seconds"`
	RatePerSecond  float64             `json:"rate_per_second"`
	Throttling     pipeline.Throttling `json:"throttling"`
}

func newSummaryReport(job string, runID int64, command string, sum pipeline.Summary, code int) SummaryReport {
	codes := make(map[string]int64, len(sum.Codes))
	for c, n := range sum.Codes {
		codes[strconv.Itoa(c)] = n
	}
	return SummaryReport{
		Job: job, RunID: runID, Command: command, ExitCode: code, Interrupted: sum.Interrupted,
		Counts: sum.Counts, StillRejected: sum.StillRejected, Unrecorded: sum.Unrecorded, OtherShards: sum.OtherShards, StatusCodes: codes, Requests: sum.Requests,
		ElapsedSeconds: seconds(sum.Elapsed), RatePerSecond: sum.Rate(), Throttling: sum.Throttling,
	}
}

// writeSummaryJSON writes the report whole or not at all: a scheduler reading the file never
// sees half of it.
func writeSummaryJSON(path string, rep SummaryReport) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".summary-*.json")
	if err != nil {
		return fmt.Errorf("--summary-json: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("--summary-json: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--summary-json: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--summary-json: %w", err)
	}
	return nil
}

// seconds is d in seconds, rounded to the millisecond: every duration in a log line or a report
// carries its unit in its key.
func seconds(d time.Duration) float64 {
	return d.Round(time.Millisecond).Seconds()
}
