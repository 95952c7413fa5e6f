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
		// The parameters keep their order; those url.ParseQuery rejects are redacted too.
		{"postgres://u@h/db?sslmode=require&password=pw&application_name=a", "postgres://u@h/db?sslmode=require&password=xxxxx&application_name=a"},
		{"postgres://u@h/db?password=se;cret&sslmode=require", "postgres://u@h/db?password=xxxxx&sslmode=require"},
		{"postgres://u@h/db?sslpassword=sec%ZZret", "postgres://u@h/db?sslpassword=xxxxx"},
		{"postgres://u@h/db?pass%77ord=pw", "postgres://u@h/db?pass%77ord=xxxxx"},
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
		"postgres://u@h/db?password=sec;ret&sslmode=require",
		"postgres://u@h/db?password=secret;&sslmode=require",
		"postgres://u@h/db?sslpassword=secret%ZZ",
		"postgres://u@h/db?PASSWORD=secret",
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
		{"postgres://u:pw@db/crm", []string{"pw"}},
		// As decoded, as a query or a path would escape it.
		{"postgres://u:p%40ss%2F@db/crm", []string{"p@ss/", "p%40ss%2F", "p@ss%2F"}},
		{"postgres://u@db/crm?password=a&sslpassword=b", []string{"a", "b"}},
		// As written, as decoded and as a query would escape it.
		{"postgres://u@db/crm?password=p%40ss+w", []string{"p%40ss+w", "p@ss w", "p%40ss+w"}},
		// Even where url.ParseQuery gives up: as written.
		{"postgres://u@db/crm?password=se;cret", []string{"se;cret", "se%3Bcret"}},
		{"postgres://u@db/crm?password=sec%ZZret", []string{"sec%ZZret"}},
		{"postgres://u@db/crm", nil},
	}
	for _, tt := range tests {
		got, err := Secrets(tt.in)
		require.NoError(t, err, tt.in)
		for _, w := range tt.want {
			require.Contains(t, got, w, tt.in)
		}
		if tt.want == nil {
			require.Empty(t, got, tt.in)
		}
	}

	_, err := Secrets("postgres://u:secret@[::1/crm")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the reason only, never the URL")
}
