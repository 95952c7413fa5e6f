package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCountryCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"+34": "+34", "34": "+34", "1": "+1", "+351": "+351"} {
		got, err := countryCode(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"+", "+0", "034", "+3456", "+3a", "++34", " 34"} {
		_, err := countryCode(in)
		require.ErrorContains(t, err, "country code", in)
	}
}
