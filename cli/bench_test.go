package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

// BenchmarkEndToEnd runs the whole command, as an operator would, over a sample export of
// users (50,000 unless BENCH_USERS says otherwise) against the simulator on loopback, with no
// rate limit and the SQLite checkpoint: CSV reading, mapping, hashing, skip look-ups, HTTP and
// checkpoint writes. Each iteration starts from an empty checkpoint, so every user is sent.
//
//	go test -run '^$' -bench EndToEnd -benchtime 1x .
func BenchmarkEndToEnd(b *testing.B) {
	users := 50_000
	if s := os.Getenv("BENCH_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BENCH_USERS: %v", err)
		}
		users = n
	}
	dir := b.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	var csvBuf, seeds bytes.Buffer
	if _, err := sample.Write(&csvBuf, &seeds, sample.Options{Users: users}); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(csvPath, csvBuf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	_, url := startSim(b, druidsim.Config{Autocreate: true})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db := filepath.Join(dir, "cp-"+strconv.Itoa(i)+".db")
		var out, errb bytes.Buffer
		args := append([]string{"druid-migrate", "--log-level", "warn"}, runArgs(url, csvPath, db, "--concurrency", "32")[2:]...)
		if code := Run(context.Background(), args, nil, &out, &errb); code != 0 {
			b.Fatalf("exit code %d: %s", code, errb.String())
		}
	}
	b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
}
