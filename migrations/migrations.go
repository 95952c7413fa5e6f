package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The dialects Files knows, named after the directories that hold their files.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Migration is one numbered SQL file.
type Migration struct {
	Version int    // the file's number: 1 for 0001_init.sql
	Name    string // the rest of the file name, without the extension: "init"
	SQL     string // the statements, to run in one transaction
}

// Files returns the migrations of a dialect (SQLite or Postgres), in version order.
func Files(dialect string) ([]Migration, error) {
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", dialect, err)
	}
	all := make([]Migration, 0, len(entries))
	seen := make(map[int]string, len(entries))
	for _, e := range entries {
		m, err := parseName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %s/%s: %w", dialect, e.Name(), err)
		}
		if other, dup := seen[m.Version]; dup {
			return nil, fmt.Errorf("migrations: %s/%s: version %d already used by %s", dialect, e.Name(), m.Version, other)
		}
		seen[m.Version] = e.Name()
		sql, err := fs.ReadFile(files, path.Join(dialect, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s/%s: %w", dialect, e.Name(), err)
		}
		m.SQL = string(sql)
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Version < all[j].Version })
	return all, nil
}

// parseName reads the version and name out of a file name such as 0001_init.sql.
func parseName(file string) (Migration, error) {
	base, ok := strings.CutSuffix(file, ".sql")
	if !ok {
		return Migration{}, fmt.Errorf("not a .sql file")
	}
	number, name, ok := strings.Cut(base, "_")
	if !ok || name == "" {
		return Migration{}, fmt.Errorf("name is not NNNN_name.sql")
	}
	version, err := strconv.Atoi(number)
	if err != nil || version <= 0 {
		return Migration{}, fmt.Errorf("version %q is not a positive number", number)
	}
	return Migration{Version: version, Name: name}, nil
}
