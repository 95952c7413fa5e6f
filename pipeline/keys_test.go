package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLastKeyFindsTheRepeatsOfAnOrderedSource(t *testing.T) {
	var s lastKey
	// An ordered source yields a key's records together.
	for i, l := range []struct {
		key   string
		first int
	}{{"a", 0}, {"b", 0}, {"b", 3}, {"b", 3}, {"c", 0}} {
		first, repeat := s.add(l.key, i+2)
		require.Equal(t, l.first != 0, repeat, "key %q on line %d", l.key, i+2)
		require.Equal(t, l.first, first, "key %q on line %d", l.key, i+2)
	}
}
