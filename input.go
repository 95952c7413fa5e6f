package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"druid-migrate/mapping"
	"druid-migrate/source"
)

// recordSource is a source as the command line drives it: the pipeline's Source, plus its
// columns and its end.
type recordSource interface {
	Columns() []string
	Next(ctx context.Context) (source.Record, error)
	Close() error
}

// input is an opened source with its compiled mapping.
type input struct {
	src           recordSource
	pg            *source.Postgres // the same source, when it is a database
	mapper        *mapping.Mapper
	total         int64 // records expected, when cheap to know
	perUserTokens bool
}

func (in *input) Close() error { return in.src.Close() }

// start begins reading. A database source reads the rows the scan selects, in pages ordered
// by the key column; a CSV file is read whole and the run selects.
func (in *input) start(ctx context.Context, scan source.Scan) error {
	if in.pg == nil {
		return nil
	}
	scan.Key = in.mapper.KeyColumn()
	if err := in.pg.Start(ctx, scan); err != nil {
		return configError{fmt.Errorf("--source: %w", err)}
	}
	return nil
}

// orderedKeys reports whether the records come ordered by their key: a database source pages
// by the key column, and the key is that column's text unchanged.
func (in *input) orderedKeys() bool {
	return in.pg != nil && in.mapper.KeyVerbatim()
}

// startedAt is the database's clock when the reading began: the next watermark.
func (in *input) startedAt() time.Time {
	if in.pg == nil {
		return time.Time{}
	}
	return in.pg.StartedAt()
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openInput opens --source and compiles the mapping against its columns. Every error is a
// configuration error.
func openInput(c *cli.Context, log zerolog.Logger) (*input, error) {
	path := c.String("source")
	if path == "" {
		return nil, configErrorf("--source is required (a CSV file path, - for stdin, or a postgres:// URL)")
	}
	var file *mapping.File
	if p := c.String("mapping"); p != "" {
		var err error
		if file, err = mapping.Load(p); err != nil {
			return nil, configError{err}
		}
	}
	in := &input{}
	if isPostgresURL(path) {
		if c.String("query") == "" {
			return nil, configErrorf("--query is required with a postgres:// --source: the SELECT that reads the users")
		}
		ctx, cancel := context.WithTimeout(c.Context, openTimeout)
		defer cancel()
		pg, err := source.OpenPostgres(ctx, source.PostgresConfig{URL: path, Query: c.String("query"), Log: log})
		if err != nil {
			return nil, configError{err}
		}
		in.src, in.pg = pg, pg
	} else {
		if c.IsSet("query") {
			return nil, configErrorf("--query applies to a postgres:// --source only, and --source is a file")
		}
		delim, err := parseDelimiter(c.String("delimiter"))
		if err != nil {
			return nil, err
		}
		csv, err := source.OpenCSV(path, delim)
		if err != nil {
			return nil, configError{err}
		}
		in.src = csv
		if path != "-" && isTerminal(c.App.ErrWriter) {
			in.total = countRows(path)
		}
	}
	opts := mapping.Options{
		KeyColumn: c.String("key"),
		AppID:     c.String("app-id"),
		Verb:      c.String("verb"),
		Device:    c.String("device"),
	}
	if file != nil && c.IsSet("key") {
		file.Key = c.String("key") // an explicit --key wins over the mapping file's key
	}
	m, err := mapping.Compile(file, in.src.Columns(), opts)
	if err != nil {
		in.src.Close()
		if file == nil {
			return nil, configError{err}
		}
		return nil, configError{fmt.Errorf("--mapping %s: %w", c.String("mapping"), err)}
	}
	in.mapper = m
	if ignored := m.Ignored(); len(ignored) > 0 {
		log.Info().Strs("columns", ignored).Msg("columns ignored: they map to nothing in the payload")
	}
	in.perUserTokens = slices.Contains(in.src.Columns(), "token")
	if file != nil {
		for _, col := range file.Columns {
			if col.To == "token" {
				in.perUserTokens = true
			}
		}
	}
	return in, nil
}

func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	r := []rune(s)
	if len(r) != 1 {
		return 0, configErrorf("--delimiter: %q must be a single character (use \\t for a tab)", s)
	}
	return r[0], nil
}

// countRows counts the lines of a CSV file after its header, for the progress line's ETA. A
// quoted field spanning lines makes it an estimate; reading a large file costs a fraction of a
// second, which an operator watching a terminal does not notice.
func countRows(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err != nil {
			break
		}
	}
	return max(n-1, 0)
}
