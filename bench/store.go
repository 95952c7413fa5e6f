package main

import (
	"context"
	"crypto/rand"
	"druid-migrate/internal/pgurl"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// store is a fresh checkpoint for one scenario, as druid-migrate's flags name it.
type store struct {
	args []string // --checkpoint …, and --checkpoint-schema … for Postgres
	drop func()   // removes it; a failure is only warned about
}

// sqliteStore is an SQLite file in the temporary directory.
func (b *bench) sqliteStore(_ context.Context, name string) (*store, error) {
	path := filepath.Join(b.dir, name+".db")
	return &store{
		args: []string{"--checkpoint", path},
		drop: func() {
			// The file and its write-ahead log: a million users' checkpoint is hundreds of MB.
			for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
				if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
					progress("warning: %v", err)
				}
			}
		},
	}, nil
}

// pgTimeout bounds the reachability probe and the schema's drop.
const pgTimeout = 10 * time.Second

// postgresStore is a schema of its own, bench_<random>, on the -postgres server; druid-migrate
// creates it. An unreachable server is the scenario's failure: a Postgres figure must not
// silently go missing from the table.
func (b *bench) postgresStore(ctx context.Context, _ string) (*store, error) {
	probe, cancel := context.WithTimeout(ctx, pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(probe, b.cfg.postgres)
	if err != nil {
		return nil, fmt.Errorf("postgres unreachable (-postgres %s): %w", pgurl.Redact(b.cfg.postgres), err)
	}
	_ = conn.Close(probe)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "bench_" + hex.EncodeToString(suffix)
	return &store{
		args: []string{"--checkpoint", b.cfg.postgres, "--checkpoint-schema", schema},
		drop: func() { dropSchema(b.cfg.postgres, schema) },
	}, nil
}

// dropSchema removes a scenario's schema, even when the run was interrupted: hence its own
// context.
func dropSchema(url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		_ = conn.Close(ctx)
	}
	if err != nil {
		progress("warning: drop schema %s: %v", schema, err)
	}
}
