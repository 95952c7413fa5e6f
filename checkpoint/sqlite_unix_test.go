//go:build unix

package checkpoint

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A new checkpoint holds user keys and personal data from its first write: its files are its
// owner's only, under the umask most systems set (022), which would make them readable by all.
// Not parallel: the umask is the process's.
func TestSQLiteNewFilesAreTheOwnersOnly(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	require.Empty(t, s.Warnings())
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Write(ctx, []Row{row("job", "ana", "updated", 200)}))
	lease, err := s.Lease(ctx, "job", "", Holder{})
	require.NoError(t, err)
	defer lease.Release()

	locks, err := filepath.Glob(path + "-lock-*")
	require.NoError(t, err)
	require.Len(t, locks, 1)
	for _, file := range append([]string{path, path + "-wal", path + "-shm"}, locks...) {
		info, err := os.Stat(file)
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), file)
	}
}

// An existing checkpoint is left as its owner set it, with a warning for each of its files that
// others can read.
func TestSQLiteExistingFileReadableByOthersKeepsItsModeAndWarns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, path := newSQLite(t)
	require.NoError(t, os.Chmod(path, 0o644))

	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	require.Len(t, s.Warnings(), 1)
	require.Contains(t, s.Warnings()[0], path)
	require.Contains(t, s.Warnings()[0], "readable by other users (mode -rw-r--r--)")
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o644), info.Mode().Perm(), "an existing file keeps its mode")

	require.NoError(t, os.Chmod(path, 0o600))
	again, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer again.Close()
	require.Empty(t, again.Warnings())
}
