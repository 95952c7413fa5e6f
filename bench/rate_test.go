package main

import (
	"testing"
	"time"
)

func TestAnalyzeRate(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		times := make([]time.Time, len(ms))
		for i, m := range ms {
			times[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return times
	}
	for _, tc := range []struct {
		name             string
		times            []time.Time
		mean             float64
		busiest, seconds int
	}{
		// 0..2.5 s: two whole seconds, the calls in [2 s, 2.5 s] left out.
		{"partial last second", at(0, 100, 900, 1000, 1999, 2000, 2100, 2200, 2500), 8 / 2.5, 3, 2},
		// A call exactly at t0+2 s opens the third second, which is not whole.
		{"boundary", at(0, 500, 1000, 1500, 2000), 2, 2, 2},
		{"under a second", at(0, 10, 20), 100, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := analyzeRate(tc.times)
			if err != nil {
				t.Fatal(err)
			}
			if diff := rs.mean - tc.mean; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("mean = %v, want %v", rs.mean, tc.mean)
			}
			if rs.busiest != tc.busiest || rs.seconds != tc.seconds {
				t.Errorf("busiest %d of %d s, want %d of %d s", rs.busiest, rs.seconds, tc.busiest, tc.seconds)
			}
		})
	}
	if _, err := analyzeRate(at(0)); err == nil {
		t.Error("one call: want an error")
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{100_000: "100k", 1_000_000: "1M", 1_500: "1500", 20_000: "20k", 7: "7"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
