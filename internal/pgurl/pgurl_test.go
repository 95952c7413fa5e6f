package pgurl

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsIgnoresTheCaseOfTheScheme(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"postgres://h/db", "postgresql://h/db", "POSTGRESQL://u:secret@h/db", "Postgres://u:secret@h/db",
		"PostgreSQL://h", "pOsTgReS://",
	} {
		require.True(t, Is(s), s)
	}
	for _, s := range []string{
		"", "druid-migrate.db", "users.csv", "-", "/var/lib/postgres://x", "postgres:/h/db", "postgres",
		"postgres:h/db", "mysql://u:secret@h/db", " postgres://h/db",
	} {
		require.False(t, Is(s), s)
	}
}

func TestLowerScheme(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"POSTGRESQL://U:Secret@Host/DB?SSLMode=require", "postgresql://U:Secret@Host/DB?SSLMode=require"},
		{"Postgres://h/db", "postgres://h/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"My Checkpoint.DB", "My Checkpoint.DB"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, LowerScheme(tt.in), tt.in)
	}
}

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
		{"POSTGRESQL://u:secret@h/db", "postgresql://u:xxxxx@h/db"},
		{"Postgres://u@h/db?password=secret", "postgres://u@h/db?password=xxxxx"},
		{"PostgreSQL://u:secret@[::1/db", "PostgreSQL://(unparsable URL)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Redact(tt.in), tt.in)
	}
}

func TestRedactNeverShowsThePassword(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"postgres://u:secret@h/db",
		"POSTGRESQL://u:secret@h/db",
		"Postgres://u:secret@h:5432/db?sslmode=require",
		"postgresql://u@h/db?password=secret",
		"POSTGRES://u@h/db?sslpassword=secret&sslmode=verify-full",
		"postgres://u:secret@h/db?password=secret&password=secret",
		"postgres://u:secret@[::1/db",
		"postgres://u:secret@h:port/db",
		"postgres://u:sec%72et@h/db",
	} {
		require.NotContains(t, Redact(s), "secret", s)
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
