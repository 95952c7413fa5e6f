package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"druid-migrate/pipeline"
	"druid-migrate/sink"
)

// gather returns the run's metric families by name.
func gather(t *testing.T, r *Run) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// labels is a metric's labels as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the metric of mf with exactly these labels, or nil.
func find(mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		if got := labels(m); len(got) == len(want) {
			match := true
			for k, v := range want {
				match = match && got[k] == v
			}
			if match {
				return m
			}
		}
	}
	return nil
}

func TestObserveCountsCallsByKindAndCode(t *testing.T) {
	t.Parallel()
	r := New()
	var wg sync.WaitGroup
	for range 4 { // concurrently, as workers do
		wg.Go(func() {
			r.Observe(sink.CallUpdate, 200, 20*time.Millisecond)
			r.Observe(sink.CallUpdate, 503, 2*time.Second)
			r.Observe(sink.CallToken, 200, time.Millisecond)
			r.Observe(sink.CallRead, 0, 30*time.Second)
		})
	}
	wg.Wait()
	r.Observe(sink.CallUpdate, 999, time.Millisecond) // no status DRUID uses, counted still
	r.Observe("other", 200, time.Millisecond)

	mfs := gather(t, r)
	requests := mfs["druid_migrate_requests_total"]
	require.NotNil(t, requests)
	for _, tt := range []struct {
		call, code string
		want       float64
	}{
		{"update", "200", 4}, {"update", "503", 4}, {"token", "200", 4}, {"read", "0", 4},
		{"update", "999", 1}, {"other", "200", 1},
	} {
		m := find(requests, map[string]string{"call": tt.call, "code": tt.code})
		require.NotNil(t, m, "%s %s", tt.call, tt.code)
		require.Equal(t, tt.want, m.GetCounter().GetValue(), "%s %s", tt.call, tt.code)
	}
	require.Len(t, requests.GetMetric(), 6)

	durations := mfs["druid_migrate_request_duration_seconds"]
	require.NotNil(t, durations)
	update := find(durations, map[string]string{"call": "update"}).GetHistogram()
	require.EqualValues(t, 9, update.GetSampleCount())
	require.InDelta(t, 4*0.02+4*2+0.001, update.GetSampleSum(), 1e-9)
	for _, b := range update.GetBucket() {
		switch b.GetUpperBound() {
		case 0.001:
			require.EqualValues(t, 1, b.GetCumulativeCount())
		case 0.025:
			require.EqualValues(t, 5, b.GetCumulativeCount())
		case 2.5:
			require.EqualValues(t, 9, b.GetCumulativeCount())
		}
	}
	read := find(durations, map[string]string{"call": "read"}).GetHistogram()
	require.EqualValues(t, 4, read.GetSampleCount())
	require.EqualValues(t, 4, read.GetBucket()[len(read.GetBucket())-1].GetCumulativeCount(), "30 s is in the last bucket")
}

func TestWatchReadsTheRunAtScrapeTime(t *testing.T) {
	t.Parallel()
	r := New()
	var mu sync.Mutex
	st := sink.Stats{Retries: 3, Throttled: 2, SlowDowns: 1, CurrentRate: 5}
	r.Watch(Info{Command: "retry", Job: "nightly"}, func() sink.Stats {
		mu.Lock()
		defer mu.Unlock()
		return st
	}, &pipeline.Live{})

	value := func(mfs map[string]*dto.MetricFamily, name string, lv map[string]string) float64 {
		t.Helper()
		mf := mfs[name]
		require.NotNil(t, mf, name)
		m := find(mf, lv)
		require.NotNil(t, m, "%s %v", name, lv)
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	mfs := gather(t, r)
	require.Equal(t, 1.0, value(mfs, "druid_migrate_run_info", map[string]string{"command": "retry", "job": "nightly"}))
	require.Equal(t, 3.0, value(mfs, "druid_migrate_retries_total", nil))
	require.Equal(t, 2.0, value(mfs, "druid_migrate_throttled_total", nil))
	require.Equal(t, 1.0, value(mfs, "druid_migrate_slowdowns_total", nil))
	require.Equal(t, 5.0, value(mfs, "druid_migrate_rate_limit_per_second", nil))
	require.Equal(t, 0.0, value(mfs, "druid_migrate_in_flight", nil))
	require.Equal(t, 0.0, value(mfs, "druid_migrate_records_read_total", nil))
	for _, o := range []string{"skipped", "updated", "partial", "unchanged", "invalid", "rejected", "failed"} {
		require.Equal(t, 0.0, value(mfs, "druid_migrate_records_total", map[string]string{"outcome": o}), o)
	}

	mu.Lock()
	st.Retries, st.CurrentRate = 4, 0
	mu.Unlock()
	mfs = gather(t, r)
	require.Equal(t, 4.0, value(mfs, "druid_migrate_retries_total", nil), "read at every scrape")
	require.Equal(t, 0.0, value(mfs, "druid_migrate_rate_limit_per_second", nil))
}

func TestMetricsFollowPrometheusConventions(t *testing.T) {
	t.Parallel()
	r := New()
	r.Watch(Info{Command: "run", Job: "j"}, func() sink.Stats { return sink.Stats{} }, nil)
	r.Observe(sink.CallUpdate, 200, time.Millisecond)
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	require.Empty(t, problems)
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			require.True(t, strings.HasPrefix(name, "druid_migrate_"), name)
		}
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	t.Parallel()
	r := New()
	r.Observe(sink.CallUpdate, 200, time.Millisecond)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	require.Contains(t, string(body), `druid_migrate_requests_total{call="update",code="200"} 1`)
	require.Contains(t, string(body), "# HELP druid_migrate_request_duration_seconds ")
	require.Contains(t, string(body), "process_resident_memory_bytes")
}

func TestRunsDoNotShareCounters(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	a.Observe(sink.CallUpdate, 200, time.Millisecond)
	_, ok := gather(t, b)["druid_migrate_requests_total"]
	require.False(t, ok, "a vector without a child is not exposed")
}

func TestObserveAllocatesNothingOnceACodeIsSeen(t *testing.T) {
	r := New()
	r.Observe(sink.CallUpdate, 200, time.Millisecond)
	allocs := testing.AllocsPerRun(1000, func() { r.Observe(sink.CallUpdate, 200, time.Millisecond) })
	require.Zero(t, allocs)
}

func BenchmarkObserve(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(sink.CallUpdate, 200, 12*time.Millisecond)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	r := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(sink.CallUpdate, 200, 12*time.Millisecond)
		}
	})
}
