package main

import (
	"io"
	"slices"
	"testing"
)

func TestOnlyPicksTheGroupsOfScenarios(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if !cfg.runs(g) {
			t.Errorf("by default, group %q is not run", g)
		}
	}

	cfg, err = parseFlags([]string{"-only", "rate, throughput"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.runs(groupRate) || !cfg.runs(groupThroughput) || cfg.runs(groupMemory) {
		t.Errorf("-only rate,throughput runs %v", cfg.groups)
	}

	if _, err := parseFlags([]string{"-only", "rates"}, io.Discard); err == nil {
		t.Error("-only rates: no error for an unknown group")
	}
}

func TestConcurrencySweepsTheThroughputRuns(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.concurrency, []int{32, 64}) || cfg.memoryWorkers() != 64 {
		t.Errorf("by default, -concurrency sweeps %v and the memory runs use %d; want 32 and 64, and 64",
			cfg.concurrency, cfg.memoryWorkers())
	}

	cfg, err = parseFlags([]string{"-concurrency", "16, 128,8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.concurrency, []int{16, 128, 8}) || cfg.memoryWorkers() != 128 {
		t.Errorf("-concurrency 16,128,8 sweeps %v, the memory runs use %d", cfg.concurrency, cfg.memoryWorkers())
	}

	for _, bad := range []string{"32,", "many", "0", "32,-1"} {
		if _, err := parseFlags([]string{"-concurrency", bad}, io.Discard); err == nil {
			t.Errorf("-concurrency %q: no error", bad)
		}
	}
}
