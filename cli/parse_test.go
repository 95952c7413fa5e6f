package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"druid-migrate/job"
)

// TestParseGivesTheConfigACommandWouldRunWith: flags and environment, parsed and validated,
// without running anything; what a deployment's manifests are checked with.
func TestParseGivesTheConfigACommandWouldRunWith(t *testing.T) {
	t.Setenv("DRUID_SOURCE", "postgres://crm@db/crm")
	t.Setenv("DRUID_SOURCE_QUERY", "SELECT * FROM users")
	t.Setenv("DRUID_RATE", "25")
	cfg, err := Parse([]string{"druid-migrate", "--log-format", "json", "run", "--app-id", "a",
		"--endpoint", "https://druid.example", "--entry-point", "e", "--job", "nightly", "--timeout", "7s"})
	require.NoError(t, err)
	require.Equal(t, job.CommandRun, cfg.Command)
	require.Equal(t, "postgres://crm@db/crm", cfg.Source)
	require.Equal(t, "SELECT * FROM users", cfg.Query)
	require.Equal(t, 25.0, cfg.Rate)
	require.Equal(t, "nightly", cfg.Job)
	require.Equal(t, 7*time.Second, cfg.Timeout)
	require.Equal(t, "json", cfg.LogFormat)

	_, err = Parse([]string{"druid-migrate", "run", "--app-id", "a", "--no-such-flag"})
	require.Equal(t, job.ExitConfig, job.ExitCode(err), "an unknown flag is a usage error: %v", err)
	_, err = Parse([]string{"druid-migrate", "run", "--app-id", "a", "--endpoint", "https://druid.example",
		"--entry-point", "e", "--concurrency", "many"})
	require.ErrorContains(t, err, "--concurrency")
	_, err = Parse([]string{"druid-migrate", "no-such-command"})
	require.ErrorContains(t, err, "no-such-command")
	cfg, err = Parse([]string{"druid-migrate", "fake-druid", "--addr", "127.0.0.1:0"})
	require.NoError(t, err)
	require.Equal(t, job.CommandFakeDruid, cfg.Command)
}

// TestEveryMissingSettingInOneMessage: a newcomer's first command line hears of every required
// setting it lacks at once, each with what it is, not one per attempt.
func TestEveryMissingSettingInOneMessage(t *testing.T) {
	res := runMain(t, "run")
	require.Equal(t, 2, res.code)
	for _, flag := range []string{"--source", "--endpoint", "--app-id", "--entry-point"} {
		require.Contains(t, res.stderr, flag)
	}
	require.Contains(t, res.stderr, "the From header", "the entry point explained")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(res.stderr), "\n")+1, "one line: %s", res.stderr)
}
