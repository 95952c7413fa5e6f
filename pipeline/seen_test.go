package pipeline

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRepeatsAreExactWithATinyFilter gives the rule a filter so small that nearly every key is
// a candidate, holds of random sizes and confirmations at random moments: every record must
// still be decided once, exactly as a map of every key would decide it.
func TestRepeatsAreExactWithATinyFilter(t *testing.T) {
	type verdict struct {
		first  int
		repeat bool
	}
	for seed := range 30 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		rep, err := newRepeats(false, 64)
		require.NoError(t, err)
		rep.maxHeld = 1 + rng.IntN(50)

		want, got := map[int]verdict{}, map[int]verdict{}
		firstLine := map[string]int{} // the reference
		decide := func(m mapped, first int, repeat bool) error {
			_, twice := got[m.line]
			require.False(t, twice, "line %d decided twice", m.line)
			got[m.line] = verdict{first, repeat}
			return nil
		}
		keys, line := 200+rng.IntN(800), 1
		for range 4000 {
			line += 1 + rng.IntN(3)
			key := fmt.Sprintf("user-%d", rng.IntN(keys))
			if first, ok := firstLine[key]; ok {
				want[line] = verdict{first, true}
			} else {
				firstLine[key] = line
				want[line] = verdict{0, false}
			}
			require.NoError(t, rep.see(mapped{key: key, line: line}, decide))
			if rng.IntN(200) == 0 {
				require.NoError(t, rep.settle(decide)) // the hold's delay ran out
			}
		}
		require.NoError(t, rep.settle(decide)) // the end of input
		require.Zero(t, rep.pending())
		require.Equal(t, want, got, "seed %d", seed)
		require.Greater(t, rep.candidates, 4000-len(firstLine), "the tiny filter makes new keys candidates too")
		require.NoError(t, rep.close())
	}
}

func TestRepeatsOfAnOrderedSourceNeedNoSpill(t *testing.T) {
	rep, err := newRepeats(true, keyFilterBytes)
	require.NoError(t, err)
	require.Nil(t, rep.spill)
	var got []int
	decide := func(m mapped, first int, repeat bool) error {
		if repeat {
			got = append(got, first)
		}
		return nil
	}
	for i, k := range []string{"a", "b", "b", "b", "c"} {
		require.NoError(t, rep.see(mapped{key: k, line: i + 2}, decide))
		require.Zero(t, rep.pending(), "an ordered source's records are decided at once")
	}
	require.Equal(t, []int{3, 3}, got)
	require.NoError(t, rep.close())
}

func TestSpillFileIsRemoved(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	s, err := newKeySpill(64)
	require.NoError(t, err)
	require.Equal(t, dir, filepath.Dir(s.file.Name()), "the spill goes to os.TempDir")
	for i := range 10_000 {
		_, _, err := s.add(fmt.Sprintf("k%d", i), i+2)
		require.NoError(t, err)
	}
	c := candidate{hash: 0, pos: s.n}
	require.NoError(t, s.confirm([]*candidate{&c}), "the spill reads back while open")
	require.NoError(t, s.close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestKeyFilterSizeIsChecked(t *testing.T) {
	for _, n := range []int{0, 32, 100, 3 << 20} {
		_, err := newKeySpill(n)
		require.Error(t, err, n)
	}
}

// BenchmarkRepeatsUnordered is the rule's cost per key of an unordered source of a million
// distinct keys with the run's filter: filter, spill, and the scans of the false candidates.
func BenchmarkRepeatsUnordered(b *testing.B) {
	for b.Loop() {
		rep, err := newRepeats(false, keyFilterBytes)
		if err != nil {
			b.Fatal(err)
		}
		decide := func(mapped, int, bool) error { return nil }
		for i := range 1_000_000 {
			if err := rep.see(mapped{key: fmt.Sprintf("crm-%07d", i), line: i + 2}, decide); err != nil {
				b.Fatal(err)
			}
		}
		if err := rep.settle(decide); err != nil {
			b.Fatal(err)
		}
		rep.close()
	}
}
