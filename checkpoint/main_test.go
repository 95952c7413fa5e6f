package checkpoint

import (
	"testing"

	"druid-migrate/internal/pgtest"
)

// TestMain stops the throwaway Postgres cluster, if pgtest had to start one.
func TestMain(m *testing.M) { pgtest.Main(m) }
