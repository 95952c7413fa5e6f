package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSeenKeysFindRepeats(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		s := newSeenKeys(ordered)
		// An ordered source yields repeats together; an unordered one anywhere.
		lines := []struct {
			key   string
			first int
		}{{"a", 0}, {"b", 0}, {"b", 3}, {"b", 3}, {"c", 0}}
		if !ordered {
			lines = append(lines, struct {
				key   string
				first int
			}{"a", 2})
		}
		for i, l := range lines {
			first, repeat := s.add(l.key, i+2)
			require.Equal(t, l.first != 0, repeat, "ordered=%v key %s on line %d", ordered, l.key, i+2)
			require.Equal(t, l.first, first, "ordered=%v key %s on line %d", ordered, l.key, i+2)
		}
	}
}
