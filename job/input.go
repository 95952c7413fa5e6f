package job

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"druid-migrate/internal/pgurl"
	"druid-migrate/mapping"
	"druid-migrate/source"
)

// openTimeout bounds reaching a source or the checkpoint at start: one that cannot be reached
// is a configuration error, reported at once.
const openTimeout = 15 * time.Second

// recordSource is a source as a command drives it: the pipeline's Source, plus its columns and
// its end.
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
		return configErr(fmt.Errorf("--source: %w", err))
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

// openInput opens the source and compiles the mapping against its columns. Every error is a
// configuration error.
func openInput(ctx context.Context, cfg *Config) (*input, error) {
	var file *mapping.File
	if cfg.Mapping != "" {
		var err error
		if file, err = mapping.Load(cfg.Mapping); err != nil {
			return nil, configErr(err)
		}
	}
	in := &input{}
	if pgurl.Is(cfg.Source) {
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		pg, err := source.OpenPostgres(ctx, source.PostgresConfig{URL: cfg.Source, Query: cfg.Query, Log: cfg.Log})
		if err != nil {
			return nil, configErr(fmt.Errorf("--source: %w", err))
		}
		in.src, in.pg = pg, pg
	} else {
		var csv *source.CSV
		var err error
		if cfg.Source == "-" && cfg.Stdin != nil {
			csv, err = source.NewCSV(cfg.Stdin, "stdin", cfg.delimiter)
		} else {
			csv, err = source.OpenCSV(cfg.Source, cfg.delimiter)
		}
		if err != nil {
			return nil, configErr(fmt.Errorf("--source: %w", err))
		}
		in.src = csv
		if cfg.Source != "-" && cfg.Terminal {
			in.total = countRows(cfg.Source)
		}
	}
	opts := mapping.Options{
		KeyColumn: cfg.Key,
		AppID:     cfg.AppID,
		Verb:      cfg.Verb,
		Device:    cfg.Device,
		// A static token or the app's challenge-code tokens do not name the user: each record
		// must, by its DRUID id (SPEC §2.1), or DRUID refuses every call.
		// The Bulk API names every user of a line by it too.
		RequireObjectID: cfg.Token != "" || cfg.TokenFile != "" || cfg.ClientID != "" || cfg.Sink == SinkBulk,
	}
	if file != nil && cfg.KeySet {
		file.Key = cfg.Key // an explicit --key wins over the mapping file's key
	}
	m, err := mapping.Compile(file, in.src.Columns(), opts)
	if err != nil {
		in.src.Close()
		if file == nil {
			return nil, configErr(err)
		}
		return nil, configErr(fmt.Errorf("--mapping %s: %w", cfg.Mapping, err))
	}
	in.mapper = m
	if ignored := m.Ignored(); len(ignored) > 0 {
		cfg.Log.Info().Strs("columns", ignored).Msg("columns ignored: they map to nothing in the payload")
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
