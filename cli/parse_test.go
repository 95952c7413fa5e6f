package cli

import (
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
	_, err = Parse([]string{"druid-migrate", "run", "--app-id", "a", "--concurrency", "many"})
	require.ErrorContains(t, err, "--concurrency")
	_, err = Parse([]string{"druid-migrate", "no-such-command"})
	require.ErrorContains(t, err, "no-such-command")
	cfg, err = Parse([]string{"druid-migrate", "fake-druid", "--addr", "127.0.0.1:0"})
	require.NoError(t, err)
	require.Equal(t, job.CommandFakeDruid, cfg.Command)
}
