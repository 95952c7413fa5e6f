package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
)

// TestHashKeyKeysPasswordsAndSaysWhenItChanged: a password column hashed with a hash key costs
// a rerun nothing; another key, or none, is said at start and sends every user with a password
// again; the key is never logged nor stored.
func TestHashKeyKeysPasswordsAndSaysWhenItChanged(t *testing.T) {
	const users = 60
	sim, url := startSim(t, druidsim.Config{Autocreate: true})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("key,objectId,password,ids.email,datas.name,assertions.terms\n")
	for i := 1; i <= users; i++ {
		fmt.Fprintf(&b, "k%d,d%d,Pw-%d-secret,u%d@example.com,User %d,true\n", i, i, i, i, i)
	}
	csvPath := filepath.Join(dir, "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(b.String()), 0o600))
	db := filepath.Join(dir, "cp.db")
	const keyOne, keyTwo = "hash-KEY-one-3321", "hash-KEY-two-8812"
	keyFile := filepath.Join(dir, "hash.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(keyOne+"\n"), 0o600))
	run := func(extra ...string) cliResult {
		t.Helper()
		sim.Reset()
		res := runMain(t, runArgs(url, csvPath, db, extra...)...)
		require.Equal(t, 0, res.code, res.stderr)
		return res
	}

	first := run("--hash-key-file", keyFile)
	require.EqualValues(t, users, sim.Stats().Total)
	require.NotContains(t, first.stderr, "PBKDF2", "with a key, no word of the cost")
	run("--hash-key-file", keyFile)
	require.Zero(t, sim.Stats().Total, "the same key: every user skipped")

	t.Setenv("DRUID_HASH_KEY", keyTwo) // the key itself, from the environment
	changed := run()
	require.Contains(t, changed.stderr, "every user with a password will be sent again")
	require.EqualValues(t, users, sim.Stats().Total)

	t.Setenv("DRUID_HASH_KEY", "")
	none := run()
	require.Contains(t, none.stderr, "PBKDF2", "without a key, the cost is said once")
	require.Contains(t, none.stderr, "--hash-key-file")
	require.Contains(t, none.stderr, "every user with a password will be sent again")
	require.EqualValues(t, users, sim.Stats().Total)

	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(db + suffix); err == nil {
			files = append(files, b...)
		}
	}
	for _, out := range []string{first.stdout + first.stderr, changed.stdout + changed.stderr, string(files)} {
		for _, secret := range []string{keyOne, keyTwo, "Pw-1-secret"} {
			require.NotContains(t, out, secret)
		}
	}
}
