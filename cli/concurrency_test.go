package cli

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

// logRecords returns the JSON log lines of stderr whose message starts with prefix.
func logRecords(t *testing.T, stderr, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if msg, _ := m["message"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// runAtRate100 runs users against answers that take 200 ms, at --rate 100 with --concurrency
// concurrency; the run must succeed.
func runAtRate100(t *testing.T, users int, concurrency string) (*druidsim.Server, cliResult) {
	t.Helper()
	sim, url := startSim(t, druidsim.Config{Latency: 200 * time.Millisecond})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: users})
	res := runMain(t, runArgs(url, csvPath, filepath.Join(t.TempDir(), "cp.db"),
		"--rate", "100", "--concurrency", concurrency)...)
	require.Equal(t, 0, res.code, res.stderr)
	return sim, res
}

func TestTooFewWorkersForTheRateIsSaidWithTheNumberNeeded(t *testing.T) {
	// One worker against 200 ms answers makes 5 calls a second: --rate 100 needs about 20.
	sim, res := runAtRate100(t, 12, "1")

	warned := logRecords(t, res.stderr, "--concurrency 1 is too few workers to reach --rate 100")
	require.Len(t, warned, 1, "said once: %s", res.stderr)
	need := warned[0]["workers_needed"].(float64)
	require.InDelta(t, 22, need, 8, "about rate × latency, plus a margin")
	require.Contains(t, warned[0]["message"], "--concurrency auto")
	require.EqualValues(t, 12, sim.Stats().Requests[200])
}

func TestConcurrencyAutoAddsWorkersUpToTheRate(t *testing.T) {
	// 8 workers against 200 ms answers make 40 calls a second; auto adds workers so the run
	// reaches --rate 100, and every user is still sent once.
	sim, res := runAtRate100(t, 250, "auto")

	grown := logRecords(t, res.stderr, "workers added")
	require.NotEmpty(t, grown, res.stderr)
	require.Greater(t, grown[0]["workers"].(float64), 16.0)
	require.Empty(t, logRecords(t, res.stderr, "--concurrency"), "auto needs no advice")
	require.EqualValues(t, 250, sim.Stats().Requests[200])
}

func TestConcurrencyFlagIsANumberOrAuto(t *testing.T) {
	csvPath, _ := writeSample(t, nil, sample.Options{Users: 1})
	for _, v := range []string{"0", "-3", "many", "auto2"} {
		res := runMain(t, runArgs("http://127.0.0.1:1", csvPath, filepath.Join(t.TempDir(), "cp.db"), "--concurrency", v)...)
		require.Equal(t, 2, res.code, "--concurrency %s: %s", v, res.stderr)
		require.Contains(t, res.stderr, "--concurrency must be a number of workers, 1 or more, or auto")
	}
}
