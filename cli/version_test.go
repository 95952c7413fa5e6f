package cli

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionSaysVersionCommitAndGo(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		res := runMain(t, args...)
		require.Equal(t, 0, res.code, res.stderr)
		require.True(t, strings.HasPrefix(res.stdout, "druid-migrate "), res.stdout)
		require.Contains(t, res.stdout, "commit ")
		require.Contains(t, res.stdout, runtime.Version())
	}
}

// TestMakeBuildStampsTheCommit: the binary `make build` builds names the commit it was built
// from, whatever GOFLAGS says of VCS stamping.
func TestMakeBuildStampsTheCommit(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not a git checkout: nothing to stamp")
	}
	bin := filepath.Join(t.TempDir(), "druid-migrate")
	out, err := exec.Command("make", "-C", root, "-s", "build", "BIN="+bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	require.Contains(t, string(got), "commit "+strings.TrimSpace(string(head)))
}
