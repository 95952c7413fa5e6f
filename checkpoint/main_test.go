package checkpoint

import (
	"os"
	"testing"

	"druid-migrate/internal/pgtest"
)

// TestMain stops the throwaway Postgres cluster, if pgtest had to start one. Run by
// startLeaseHolder, the test binary is instead a process that holds a lease until it is killed.
func TestMain(m *testing.M) {
	if os.Getenv(leaseHolderEnv) != "" {
		os.Exit(holdLease())
	}
	pgtest.Main(m)
}
