package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"druid-migrate/checkpoint"
	"druid-migrate/pipeline"
)

// summaryReport is the JSON of --summary-json: what the printed summary says, for machines.
type summaryReport struct {
	Job            string              `json:"job"`
	RunID          int64               `json:"run_id"`
	Command        string              `json:"command"`
	ExitCode       int                 `json:"exit_code"`
	Interrupted    bool                `json:"interrupted"`
	Counts         checkpoint.Counts   `json:"counts"`
	StillRejected  int64               `json:"still_rejected"`
	StatusCodes    map[string]int64    `json:"status_codes"`
	Requests       int64               `json:"requests"`
	ElapsedSeconds float64             `json:"elapsed_seconds"`
	RatePerSecond  float64             `json:"rate_per_second"`
	Throttling     pipeline.Throttling `json:"throttling"`
}

func newSummaryReport(cfg pipeline.Config, command string, sum pipeline.Summary, code int) summaryReport {
	codes := make(map[string]int64, len(sum.Codes))
	for c, n := range sum.Codes {
		codes[strconv.Itoa(c)] = n
	}
	return summaryReport{
		Job: cfg.Job, RunID: cfg.RunID, Command: command, ExitCode: code, Interrupted: sum.Interrupted,
		Counts: sum.Counts, StillRejected: sum.StillRejected, StatusCodes: codes, Requests: sum.Requests,
		ElapsedSeconds: sum.Elapsed.Seconds(), RatePerSecond: sum.Rate(), Throttling: sum.Throttling,
	}
}

// writeSummaryJSON writes the report whole or not at all: a scheduler reading the file never
// sees half of it.
func writeSummaryJSON(path string, rep summaryReport) error {
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
