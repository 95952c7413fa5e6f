package pgurl

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"druid-migrate.db", "druid-migrate.db"},
		{"/var/lib/druid/ck.db", "/var/lib/druid/ck.db"},
		{"postgres://u:pw@db:5432/crm", "postgres://u:xxxxx@db:5432/crm"},
		{"postgres://u@db/crm?password=pw&sslmode=require", "postgres://u@db/crm?password=xxxxx&sslmode=require"},
		{"postgres://u@db/crm?sslpassword=pw", "postgres://u@db/crm?sslpassword=xxxxx"},
		{"postgresql://db/crm", "postgresql://db/crm"},
		{"postgres://u:pw@[::1/crm", "postgres://(unparsable URL)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Redact(tt.in), tt.in)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"postgres://u:pw@db/crm", []string{"pw", "pw", "pw"}},
		{"postgres://u:p%40ss%2F@db/crm", []string{"p@ss/", "p%40ss%2F", "p@ss%2F"}},
		{"postgres://u@db/crm?password=a&sslpassword=b", []string{"a", "a", "b", "b"}},
		{"postgres://u@db/crm", nil},
	}
	for _, tt := range tests {
		got, err := Secrets(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}

	_, err := Secrets("postgres://u:secret@[::1/crm")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the reason only, never the URL")
}
