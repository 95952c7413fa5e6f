package migrations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFilesAreNumberedFromOneWithoutGaps(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{SQLite, Postgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			all, err := Files(dialect)
			require.NoError(t, err)
			require.NotEmpty(t, all)
			for i, m := range all {
				// A gap would mean a file was deleted or misnumbered: an old checkpoint could
				// then never reach the schema a new binary expects.
				require.Equal(t, i+1, m.Version, "migration %d is %s", i, m.Name)
				require.NotEmpty(t, strings.TrimSpace(m.SQL), "migration %d_%s is empty", m.Version, m.Name)
			}
		})
	}
}

func TestDialectsHaveTheSameMigrations(t *testing.T) {
	t.Parallel()
	lite, err := Files(SQLite)
	require.NoError(t, err)
	pg, err := Files(Postgres)
	require.NoError(t, err)

	// The stores must behave alike, so every schema change is written for both dialects.
	names := func(all []Migration) []string {
		out := make([]string, len(all))
		for i, m := range all {
			out[i] = m.Name
		}
		return out
	}
	require.Equal(t, names(pg), names(lite))
}

func TestFilesRejectsUnknownDialect(t *testing.T) {
	t.Parallel()
	_, err := Files("mysql")
	require.ErrorContains(t, err, `"mysql"`)
}

func TestParseName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		version int
		name    string
		wantErr string
	}{
		{file: "0001_init.sql", version: 1, name: "init"},
		{file: "0012_add_index_on_runs.sql", version: 12, name: "add_index_on_runs"},
		{file: "0001_init.txt", wantErr: "not a .sql file"},
		{file: "0001.sql", wantErr: "NNNN_name.sql"},
		{file: "0001_.sql", wantErr: "NNNN_name.sql"},
		{file: "abcd_init.sql", wantErr: "not a positive number"},
		{file: "0000_init.sql", wantErr: "not a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			m, err := parseName(tt.file)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.version, m.Version)
			require.Equal(t, tt.name, m.Name)
		})
	}
}
