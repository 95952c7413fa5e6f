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
