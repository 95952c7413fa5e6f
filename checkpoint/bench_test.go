package checkpoint

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"druid-migrate/internal/pgtest"
)

// The stores a benchmark runs against: a fresh, migrated checkpoint of each kind.
var benchStores = []struct {
	name string
	open func(b *testing.B) Store
}{
	{"sqlite", func(b *testing.B) Store {
		return benchOpen(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
	}},
	{"postgres", func(b *testing.B) Store {
		dsn, schema := pgtest.Schema(b)
		return benchOpen(b, dsn, Options{Schema: schema})
	}},
}

func benchOpen(b *testing.B, dsn string, opts Options) Store {
	b.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkWrite measures one group commit of the pipeline: 256 new outcomes in one Write.
func BenchmarkWrite(b *testing.B) {
	for _, bs := range benchStores {
		// A run's groups are about as large as its workers waiting on the checkpoint: 16 is a
		// run of 16–32 workers, 256 a backlog after an outage.
		for _, batch := range []int{16, 256} {
			b.Run(fmt.Sprintf("%s/batch=%d", bs.name, batch), func(b *testing.B) {
				s := bs.open(b)
				// With a deadline, as the pipeline writes: a driver may watch such a context
				// at a cost of its own.
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				rows := make([]Row, batch)
				n := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for i := range rows {
						rows[i] = row("job", fmt.Sprintf("user-%09d", n), "updated", 200)
						n++
					}
					if err := s.Write(ctx, rows); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkPrior measures the skip look-up: 1,000 keys among the 100,000 rows of a job.
func BenchmarkPrior(b *testing.B) {
	const total, lookup = 100_000, 1_000
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			keys := make([]string, total)
			rows := make([]Row, 0, 10_000)
			for i := range total {
				keys[i] = fmt.Sprintf("user-%09d", i)
				rows = append(rows, row("job", keys[i], "updated", 200))
				if len(rows) == cap(rows) {
					if err := s.Write(ctx, rows); err != nil {
						b.Fatal(err)
					}
					rows = rows[:0]
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			ask := make([]string, lookup)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range ask {
					ask[i] = keys[rng.IntN(total)]
				}
				got, err := s.Prior(ctx, "job", ask)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) == 0 {
					b.Fatal("no key found")
				}
			}
			b.ReportMetric(float64(b.N*lookup)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
