package cli

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/sample"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRunWithPostgresCheckpointResumes(t *testing.T) {
	dsn := pgtest.DB(t)
	sim, url := startSim(t, druidsim.Config{})
	csvPath, tr := writeSample(t, sim, sample.Options{Users: 1000, Invalid: true, Rejected: true})

	res := runMain(t, runArgs(url, csvPath, dsn)...)
	require.Equal(t, 1, res.code, res.stderr)
	require.NotContains(t, res.stderr, `"level":"error"`, "no error of the run itself")

	st := openCheckpoint(t, dsn)
	status, err := st.Status(context.Background(), "test")
	require.NoError(t, err)
	byOutcome := map[string]int64{}
	for _, s := range status {
		byOutcome[s.Outcome] += s.Users
	}
	require.EqualValues(t, len(tr.InvalidLines), byOutcome["invalid"])
	require.EqualValues(t, len(tr.RejectedKeys), byOutcome["rejected"])
	require.EqualValues(t, 1000-len(tr.RejectedKeys), byOutcome["updated"])

	// The second run skips everything DRUID answered, and stays red for the rejected users.
	sim.Reset()
	res = runMain(t, runArgs(url, csvPath, dsn)...)
	require.Equal(t, 1, res.code, res.stderr)
	require.EqualValues(t, 0, sim.Stats().Total)
	runs, err := st.Runs(context.Background(), "test")
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.EqualValues(t, 1000, runs[0].Counts.Skipped)
	require.NotNil(t, runs[0].ExitCode)
	require.Equal(t, 1, *runs[0].ExitCode)
}

func TestCheckpointSchemaKeepsTheTablesOutOfPublic(t *testing.T) {
	dsn := pgtest.DB(t)
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: 20})

	res := runMain(t, runArgs(url, csvPath, dsn, "--checkpoint-schema", "druid_ops")...)
	require.Equal(t, 0, res.code, res.stderr)
	res = runMain(t, "status", "--checkpoint", dsn, "--checkpoint-schema", "druid_ops", "--job", "test", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, `"updated": 20`)

	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var inSchema, inPublic int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE table_schema = 'druid_ops'), count(*) FILTER (WHERE table_schema = 'public')
		FROM information_schema.tables WHERE table_name LIKE 'migration_%'`).Scan(&inSchema, &inPublic))
	require.Equal(t, 6, inSchema, "migration_status, migration_runs, migration_watermarks, migration_backups, migration_leases, migration_jobs")
	require.Equal(t, 0, inPublic)

	res = runMain(t, "status", "--checkpoint", dsn, "--checkpoint-schema", "pg_bad", "--job", "test")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--checkpoint-schema")
}
