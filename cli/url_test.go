package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPostgresURLsInAnyCaseAreRedacted gives every command that takes a URL a Postgres URL,
// its scheme in any case, whose server does not answer: it is taken as Postgres (not as a file
// path), the command exits 2 naming the flag, and no output holds the password.
func TestPostgresURLsInAnyCaseAreRedacted(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("key,ids.email,datas.name,assertions.terms\nk1,a@example.com,A,true\n"), 0o600))
	const secret = "s3cr3t-Pw"
	send := []string{"--endpoint", "http://127.0.0.1:1", "--token", testToken, "--app-id", "app-1",
		"--entry-point", testEntryPoint}
	for _, scheme := range []string{"POSTGRESQL", "Postgres", "postgresql", "PoStGrEs"} {
		url := scheme + "://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2"
		checkpointCases := map[string][]string{
			"run":      append([]string{"run", "--source", csvPath}, send...),
			"retry":    append([]string{"retry", "--source", csvPath}, send...),
			"rollback": append([]string{"rollback", "--run", "1"}, send...),
			"status":   {"status"},
			"failures": {"failures"},
			"runs":     {"runs"},
			"migrate":  {"migrate"},
		}
		for name, args := range checkpointCases {
			t.Run(scheme+"/checkpoint/"+name, func(t *testing.T) {
				res := runMain(t, append(args, "--checkpoint", url)...)
				require.Equal(t, 2, res.code, res.stderr)
				require.Contains(t, res.stderr, "--checkpoint")
				require.NotContains(t, res.stderr, "no such file")
				require.NotContains(t, res.stdout+res.stderr, secret)
			})
		}
		db := filepath.Join(t.TempDir(), "cp.db")
		for _, cmd := range []string{"run", "retry", "dry-run"} {
			t.Run(scheme+"/source/"+cmd, func(t *testing.T) {
				args := append([]string{cmd, "--source", url, "--query", "SELECT 1", "--checkpoint", db}, send...)
				res := runMain(t, args...)
				require.Equal(t, 2, res.code, res.stderr)
				require.Contains(t, res.stderr, "postgres", "taken as a Postgres source")
				require.NotContains(t, res.stderr, "no such file")
				require.NotContains(t, res.stdout+res.stderr, secret)
			})
		}
		t.Run(scheme+"/dry-run checkpoint", func(t *testing.T) {
			res := runMain(t, "--log-format", "json", "dry-run", "--source", csvPath, "--checkpoint", url)
			require.Equal(t, 0, res.code, "a checkpoint dry-run cannot read costs it the skip counts only: %s", res.stderr)
			require.Contains(t, res.stderr, "the checkpoint cannot be read")
			require.NotContains(t, res.stdout+res.stderr, secret)
			require.True(t, strings.Count(res.stdout, "\n") == 1, res.stdout)
		})
	}
}
