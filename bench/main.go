package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of the flags: the sizes the targets are stated for.
const (
	UsersDefault     = 100_000
	SmallDefault     = 20_000
	BigDefault       = 1_000_000
	RateUsersDefault = 1_500
	// ConcurrencyDefault: the throughput runs are swept over these numbers of workers, the
	// targets' two; the memory runs use the largest.
	ConcurrencyDefault = "32,64"
	// RoundsDefault: the ceiling and the throughput runs are run this many times,
	// interleaved, and judged by their median: on a small shared machine one run in several
	// is slowed by something else, and one sample would pass or fail on luck.
	RoundsDefault  = 3
	TimeoutDefault = 30 * time.Minute
	// PostgresDefault is the checkpoint server when TEST_DATABASE_URL (internal/pgtest's
	// variable) is not set.
	PostgresDefault = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// config is the command line.
type config struct {
	users       int           // -users: the throughput runs and the ceiling
	small, big  int           // -small, -big: the memory runs
	rateUsers   int           // -rate-users: the rate run
	concurrency []int         // -concurrency: workers of each sweep of the throughput runs
	rounds      int           // -rounds: of the ceiling and throughput runs
	postgres    string        // -postgres: the server of the Postgres checkpoints
	timeout     time.Duration // -timeout: bounds each child process
	groups      []string      // -only: the groups of scenarios to run
}

// The groups of scenarios, for -only.
const (
	groupThroughput = "throughput" // the ceiling and the runs of -users users, in rounds
	groupMemory     = "memory"     // the -small and -big runs, and the re-runs that skip everyone
	groupRate       = "rate"       // the --rate 100 run
	groupFaults     = "faults"     // the runs against a DRUID that fails and limits calls
	groupBulk       = "bulk"       // the same users through the update and the bulk sink, at one --rate
)

var groups = []string{groupThroughput, groupMemory, groupRate, groupFaults, groupBulk}

// runs says whether -only asks for the group.
func (cfg config) runs(group string) bool { return slices.Contains(cfg.groups, group) }

// memoryWorkers is the concurrency of the memory runs: the largest of -concurrency, where a run
// holds the most in flight.
func (cfg config) memoryWorkers() int { return slices.Max(cfg.concurrency) }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.users, "users", UsersDefault, "users of the ceiling, sqlite and postgres runs")
	fs.IntVar(&cfg.small, "small", SmallDefault, "users of the small memory run")
	fs.IntVar(&cfg.big, "big", BigDefault, "users of the big memory runs and their skipped re-runs")
	fs.IntVar(&cfg.rateUsers, "rate-users", RateUsersDefault, "users of the --rate 100 run")
	concurrency := fs.String("concurrency", ConcurrencyDefault,
		"comma-separated workers (--concurrency) of the throughput runs, each a sweep of its own; the memory runs use the largest")
	fs.IntVar(&cfg.rounds, "rounds", RoundsDefault, "rounds of the ceiling and the throughput runs, interleaved; each is judged by its median")
	fs.StringVar(&cfg.postgres, "postgres", postgresURL(), "server of the Postgres checkpoints; each run gets a schema of its own, dropped after it")
	fs.DurationVar(&cfg.timeout, "timeout", TimeoutDefault, "longest a child process may run")
	only := fs.String("only", strings.Join(groups, ","), "comma-separated groups of scenarios to run, of "+strings.Join(groups, ", "))
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, c := range strings.Split(*concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			return cfg, fmt.Errorf("-concurrency: %q is not a number of workers", c)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); !slices.Contains(groups, g) {
			return cfg, fmt.Errorf("-only: unknown group %q; the groups are %s", g, strings.Join(groups, ", "))
		}
		cfg.groups = append(cfg.groups, g)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.validate()
}

func (cfg config) validate() error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{{"-users", cfg.users, 1}, {"-small", cfg.small, 1}, {"-big", cfg.big, 1}, {"-rate-users", cfg.rateUsers, 2},
		{"-concurrency", slices.Min(cfg.concurrency), 1}, {"-rounds", cfg.rounds, 1}} {
		if f.v < f.min {
			return fmt.Errorf("%s must be at least %d", f.name, f.min)
		}
	}
	if cfg.timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	return nil
}

// postgresURL follows internal/pgtest: TEST_DATABASE_URL names the server when set.
func postgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return PostgresDefault
}

func main() {
	// The ceiling scenario runs this very program as its client: see ceilingClient.
	if url := os.Getenv(ceilingEnv); url != "" {
		os.Exit(ceilingMain(url, os.Args[1:]))
	}
	os.Exit(run(os.Args[1:]))
}

// run is the whole program; it returns the exit status, so that deferred clean-ups run.
func run(args []string) int {
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	// An interrupt cancels the runs in flight (their children are killed) so that the temporary
	// files and the Postgres schemas are still removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	loadBefore := loadAverage()
	b, err := newBench(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	defer b.close()

	rows := b.runAll(ctx)
	printTable(os.Stdout, [2]string{loadBefore, loadAverage()}, rows)
	if ctx.Err() != nil {
		return 130
	}
	for _, r := range rows {
		if !r.passed() {
			return 1
		}
	}
	return 0
}

// bench is what every scenario shares.
type bench struct {
	cfg  config
	dir  string // temporary: the binary, the exports, the SQLite checkpoints
	bin  string // the druid-migrate just built
	self string // this program, for the ceiling client
	// hashKeyFlag says the binary knows --hash-key-file: without it, DRUID_HASH_KEY is ignored
	// and a password still costs PBKDF2.
	hashKeyFlag bool
	// exports caches the generated CSV files: the big export serves both checkpoints.
	exports map[exportKind]string
}

// newBench builds druid-migrate into a temporary directory.
func newBench(ctx context.Context, cfg config) (*bench, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	dir, err := os.MkdirTemp("", "druid-migrate-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, dir: dir, bin: filepath.Join(dir, "druid-migrate"), self: self, exports: map[exportKind]string{}}
	progress("building druid-migrate from %s", root)
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.close()
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	help, err := exec.CommandContext(ctx, b.bin, "run", "--help").CombinedOutput()
	if err != nil {
		b.close()
		return nil, fmt.Errorf("druid-migrate run --help: %v\n%s", err, help)
	}
	if b.hashKeyFlag = strings.Contains(string(help), "--hash-key-file"); !b.hashKeyFlag {
		progress("warning: this build has no --hash-key-file: the runs with a hash key pass %s, which it ignores", hashKeyEnv)
	}
	return b, nil
}

func (b *bench) close() {
	if err := os.RemoveAll(b.dir); err != nil {
		progress("warning: %v", err)
	}
}

// moduleRoot walks up from the working directory to the directory holding go.mod, so that the
// program runs from anywhere inside the module, as `go run` allows.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the druid-migrate module")
		}
		dir = parent
	}
}

// loadAverage is the machine's one-minute load average, "?" when unknown. The table shows it
// before and after the runs: other work on the machine takes cores from the runs, and the
// figures of a busy machine are not comparable with those of an idle one.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// progress writes a line to stderr: stdout carries only the table.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
