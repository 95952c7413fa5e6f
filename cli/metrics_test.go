package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/job"
)

// freeAddr returns a loopback address nothing listens on now, for --metrics-addr.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// scrape is one GET of /metrics: the body, and its metric families by name.
type scrape struct {
	body     string
	families map[string]*dto.MetricFamily
}

func scrapeMetrics(addr string) (*scrape, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return &scrape{body: string(b), families: families}, nil
}

// value is the value of the metric name with exactly the labels given as name=value pairs; for
// a histogram, its count. It is -1 when there is no such metric.
func (s *scrape) value(name string, labelPairs ...string) float64 {
	mf := s.families[name]
	if mf == nil {
		return -1
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labelPairs) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i < len(labelPairs); i += 2 {
				found = found || (labelPairs[i] == l.GetName() && labelPairs[i+1] == l.GetValue())
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// records is records_total of an outcome.
func (s *scrape) records(outcome string) float64 {
	return s.value("druid_migrate_records_total", "outcome", outcome)
}

// settled is the records whose fate is known: skipped, or sent and answered.
func (s *scrape) settled() float64 {
	n := 0.0
	for _, m := range s.families["druid_migrate_records_total"].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}

// updateCodes is requests_total of update calls by status code.
func (s *scrape) updateCodes() map[int]float64 {
	codes := map[int]float64{}
	for _, m := range s.families["druid_migrate_requests_total"].GetMetric() {
		var call, code string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "call":
				call = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		if call == "update" {
			c, _ := strconv.Atoi(code)
			codes[c] = m.GetCounter().GetValue()
		}
	}
	return codes
}

// TestMetricsServedDuringARun scrapes a run while one of its users is held on its way to DRUID,
// every other record being settled: the metrics then hold still, and must agree with what the
// simulator served and, for the records, with the run's summary.
func TestMetricsServedDuringARun(t *testing.T) {
	const before, users = 300, 320
	db := filepath.Join(t.TempDir(), "cp.db")

	// A first run records the first 300 users, so that the second skips them.
	sim1, url1 := startSim(t, druidsim.Config{})
	csv1, _ := writeSample(t, sim1, sample.Options{Users: before, Rejected: true})
	res := runMain(t, runArgs(url1, csv1, db)...)
	require.Equal(t, 1, res.code, "a user is rejected: %s", res.stderr)

	// The second run's DRUID fails a share of the calls, and holds the first call for one user.
	sim := druidsim.New(druidsim.Config{Tokens: []string{testToken}, FailRate: 0.3})
	csv2, tr := writeSample(t, sim, sample.Options{Users: users, Invalid: true, Rejected: true})
	heldUser := []byte(`"objectId":"` + sample.ObjectID(users-5) + `"`)
	var holding atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, heldUser) && holding.CompareAndSwap(false, true) {
			close(held)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	defer func() {
		if !isClosed(release) {
			close(release) // a failed assertion must not leave the run hanging
		}
	}()

	addr := freeAddr(t)
	summaryPath := filepath.Join(t.TempDir(), "summary.json")
	done := make(chan cliResult, 1)
	go func() {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"druid-migrate"}, runArgs(srv.URL, csv2, db,
			"--metrics-addr", addr, "--summary-json", summaryPath, "--rate", "500")...), nil, &out, &errb)
		done <- cliResult{code: code, stdout: out.String(), stderr: errb.String()}
	}()
	select {
	case <-held:
	case res := <-done:
		t.Fatalf("the run ended before its held user was sent: %d\n%s", res.code, res.stderr)
	case <-time.After(time.Minute):
		t.Fatal("the held user was never sent")
	}

	// Wait for every record but the held user to be settled.
	read := float64(users + len(tr.InvalidLines))
	var s *scrape
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var err error
		s, err = scrapeMetrics(addr)
		require.NoError(t, err, "the run serves its metrics while it runs")
		if s.value("druid_migrate_records_read_total") == read && s.settled() == read-1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run never settled all but the held user:\n%s", s.body)
		<-tick.C
	}

	// The same address profiles the run, for an operator whose production run is slow.
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	prof, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(prof), "goroutine profile:")

	stats := sim.Stats()
	require.Equal(t, 1.0, s.value("druid_migrate_in_flight"), "the held user")
	require.Equal(t, 1.0, s.value("druid_migrate_run_info", "command", "run", "job", "test"))
	require.EqualValues(t, before, s.records("skipped"))
	require.EqualValues(t, len(tr.InvalidLines), s.records("invalid"))
	require.Zero(t, s.records("rejected"))

	codes := s.updateCodes()
	want := map[int]float64{}
	for code, n := range stats.Requests {
		want[code] = float64(n)
	}
	require.Equal(t, want, codes, "requests_total by code is what DRUID answered")
	require.Greater(t, codes[500]+codes[503], 0.0, "the fail rate struck")
	require.EqualValues(t, stats.Total, s.value("druid_migrate_request_duration_seconds", "call", "update"),
		"one latency per update call")
	require.Equal(t, 0.0, s.value("druid_migrate_request_duration_seconds", "call", "token"), "a static token: no token call")
	sent := s.records("updated") + s.records("failed")
	require.EqualValues(t, users-before-1, sent, "every new user but the held one")
	require.EqualValues(t, float64(stats.Total)-sent, s.value("druid_migrate_retries_total"), "every call after a user's first is a retry")
	// Throttling is DRUID saying "slower": its 429s; the simulator's random 503s carry no
	// Retry-After and are faults of their call, not throttling.
	require.Equal(t, codes[429], s.value("druid_migrate_throttled_total"))
	require.LessOrEqual(t, s.value("druid_migrate_slowdowns_total"), s.value("druid_migrate_throttled_total"))
	require.Greater(t, s.value("druid_migrate_rate_limit_per_second"), 0.0)
	require.LessOrEqual(t, s.value("druid_migrate_rate_limit_per_second"), 500.0)
	require.NotContains(t, s.body, testToken, "no token in the metrics")
	require.NotContains(t, s.body, "crm-", "no user's key in the metrics")

	close(release)
	var end cliResult
	select {
	case end = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the run never ended")
	}
	require.Equal(t, 1, end.code, "invalid records: %s", end.stderr)
	b, err := os.ReadFile(summaryPath)
	require.NoError(t, err)
	var rep job.SummaryReport
	require.NoError(t, json.Unmarshal(b, &rep))
	require.EqualValues(t, rep.Counts.Read, s.value("druid_migrate_records_read_total"))
	require.EqualValues(t, rep.Counts.Skipped, s.records("skipped"))
	require.EqualValues(t, rep.Counts.Invalid, s.records("invalid"))
	require.EqualValues(t, sim.Stats().Total, rep.Requests)
	require.Contains(t, end.stderr, `"metrics_addr":"`+addr+`"`)

	_, err = scrapeMetrics(addr)
	require.Error(t, err, "the server is shut down when the run ends")
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestMetricsAddrThatCannotBeListenedOnExitsTwo(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: 10})
	db := filepath.Join(t.TempDir(), "cp.db")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })

	send := runArgs(url, csvPath, db)[3:] // the flags of run, without the global ones and the command
	for _, tt := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"not an address", append([]string{"run"}, send...), "127.0.0.1", "missing port"},
		{"in use", append([]string{"run"}, send...), busy.Addr().String(), "address already in use"},
		{"retry", append([]string{"retry"}, send...), "127.0.0.1:99999", "invalid port"},
		{"rollback", []string{"rollback", "--run", "1", "--endpoint", url, "--token", testToken, "--app-id", "app-1",
			"--entry-point", testEntryPoint, "--checkpoint", db}, "127.0.0.1:http-alt-nonsense", "--metrics-addr"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DRUID_METRICS_ADDR", tt.env)
			res := runMain(t, append([]string{"--log-format", "json"}, tt.args...)...)
			require.Equal(t, 2, res.code, res.stderr)
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			last := lines[len(lines)-1]
			require.True(t, strings.HasPrefix(last, "druid-migrate: --metrics-addr: "), last)
			require.Contains(t, last, tt.want)
			require.Zero(t, sim.Stats().Total, "nothing is sent")
		})
	}

	// The flag wins over the environment, and the run has not started: a valid address runs.
	t.Setenv("DRUID_METRICS_ADDR", "127.0.0.1")
	res := runMain(t, runArgs(url, csvPath, db, "--metrics-addr", freeAddr(t))...)
	require.Equal(t, 0, res.code, res.stderr)
	res = runMain(t, "runs", "--checkpoint", db, "--job", "test", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	require.Len(t, strings.Split(strings.TrimSpace(res.stdout), "\n"), 1, "the refused runs never started")
}
