package main

import (
	"io"
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
