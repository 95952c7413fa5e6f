package deploy_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The build arguments the test stamps the binary with, to find them in its `version`.
const (
	testVersion = "v0.0.0-deploy-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// TestImage checks what the image is made of: the binary that the go build line writes is the
// one the ENTRYPOINT runs, as the distroless non-root user, and the default checkpoint is an
// SQLite file on the image's volume, under an environment variable druid-migrate reads.
func TestImage(t *testing.T) {
	d := loadDockerfile(t)
	final := d.final()
	require.Truef(t, strings.HasPrefix(final.from, "gcr.io/distroless/static"),
		"the image is distroless static, with no libc and no shell: FROM %s", final.from)
	require.Equal(t, []string{"nonroot:nonroot"}, final.all("USER"), "the image runs as distroless' non-root user")

	entry := final.all("ENTRYPOINT")
	require.Len(t, entry, 1)
	binary := execForm(t, entry[0])
	require.Len(t, binary, 1, "ENTRYPOINT is the binary alone: the manifests' args are its command line")

	build, env, goArgs := d.goBuild(t, map[string]string{"VERSION": testVersion, "COMMIT": testCommit})
	require.Contains(t, env, "CGO_ENABLED=0", "the binary must need no libc: distroless static has none")
	require.Contains(t, goArgs, "-trimpath")
	out := goArgs[slices.Index(goArgs, "-o")+1]
	copied := false
	for _, c := range final.all("COPY") {
		words := strings.Fields(c)
		if slices.Contains(words, "--from="+build.name) && words[len(words)-2] == out && words[len(words)-1] == binary[0] {
			copied = true
		}
	}
	require.Truef(t, copied, "no COPY --from=%s %s %s: the ENTRYPOINT would not run the binary built", build.name, out, binary[0])

	// The image's default checkpoint: read by the command line, on a volume.
	imageEnv := final.env(t)
	cfg, err := parse(t, []string{"status"}, imageEnv)
	require.NoError(t, err)
	require.Equal(t, imageEnv["DRUID_CHECKPOINT"], cfg.Checkpoint, "the image's DRUID_CHECKPOINT is the checkpoint druid-migrate opens")
	require.Contains(t, final.all("VOLUME"), path.Dir(cfg.Checkpoint), "the SQLite checkpoint's directory is a volume")
	requireRead(t, "the image", []string{"status"}, imageEnv)
}

// TestImageBinaryRunsInEmptyRoot builds the binary as the Dockerfile does and runs `version` in a
// root directory that holds nothing but the binary: it runs on distroless static, which has no
// libc, and its version and commit are stamped where `version` reads them.
func TestImageBinaryRunsInEmptyRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is Linux; chroot and unshare are too")
	}
	d := loadDockerfile(t)
	_, env, goArgs := d.goBuild(t, map[string]string{"VERSION": testVersion, "COMMIT": testCommit})
	root := t.TempDir()
	binary := filepath.Join(root, "druid-migrate")
	goArgs = slices.Clone(goArgs)
	goArgs[slices.Index(goArgs, "-o")+1] = binary
	build := exec.Command("go", goArgs...)
	build.Dir = ".." // the Dockerfile builds in the repository's root
	build.Env = append(os.Environ(), env...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(goArgs, " "), out)

	f, err := elf.Open(binary)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs, "the binary links shared libraries")

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the root directory holds the binary alone")

	version, why := runInEmptyRoot(t, root, "/druid-migrate", "version")
	if why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the binary in an empty root directory, and cannot: %s", why)
		}
		t.Skipf("cannot run a process in an empty root directory here: %s", why)
	}
	require.Contains(t, version, "druid-migrate "+testVersion+" (commit "+testCommit+", go")
}

// runInEmptyRoot runs command with root as its root directory and an empty environment, with
// chroot (as root) or else unshare's user namespace, and returns its output. why says what
// this machine does not permit when neither could start it; a command that started and failed
// fails the test.
func runInEmptyRoot(t *testing.T, root string, command ...string) (out, why string) {
	t.Helper()
	var tries [][]string
	if os.Geteuid() == 0 {
		tries = append(tries, append([]string{"chroot", root}, command...))
	}
	tries = append(tries, append([]string{"unshare", "--user", "--map-root-user", "--root", root}, command...))
	var refused []string
	for _, try := range tries {
		tool, err := exec.LookPath(try[0])
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		cmd := exec.Command(tool, try[1:]...)
		cmd.Env = []string{}
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err = cmd.Run()
		// chroot(2) and unshare(2) refused: the tool's own message, before the command ran.
		if _, exited := errors.AsType[*exec.ExitError](err); exited && strings.Contains(buf.String(), "Operation not permitted") {
			refused = append(refused, strings.Join(try[:len(try)-len(command)], " ")+": "+strings.TrimSpace(buf.String()))
			continue
		}
		require.NoError(t, err, "%s:\n%s", strings.Join(try, " "), buf.String())
		return buf.String(), ""
	}
	return "", strings.Join(refused, "; ")
}
