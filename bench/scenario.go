package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
)

// What every run sends: the simulator accepts the token as administrative, so object.objectId
// names the user, and Autocreate makes every generated user exist.
const (
	token      = "bench-token"
	appID      = "app-1"
	entryPoint = "231705665113870-main"
	job        = "bench"
)

// The targets (SPEC-level promises the runs are held to).
const (
	ceilingShareMin = 0.7              // throughput runs: at least this share of the ceiling's users/s
	peakRSSMaxMB    = 60               // every druid-migrate run
	growthMax       = 0.2              // the big run's peak RSS within this of the small run's
	skippedWallMax  = 10 * time.Second // a re-run where every user is done
	rateWanted      = 100              // --rate of the rate run
	rateTolerance   = 0.02             // its achieved mean within this share of rateWanted
	rateSecondMax   = 101              // and no whole second with more calls than this
	rateLatency     = 50 * time.Millisecond
	rateConcurrency = 8
)

// scenario is one row of the table: one measured child process and the targets it is held to.
type scenario struct {
	name  string
	users int
	// m is nil when the run failed: a failed run reports no figures, so that nobody reads a
	// fast number off a run that did not do its work.
	m      *measurement
	err    error // why the run failed, or did not run
	checks []check
}

// check is one target a scenario is held to, with the figure that decides it.
type check struct {
	text string // e.g. "≥0.7×ceiling: 0.82"
	ok   bool
}

func (s *scenario) check(ok bool, format string, args ...any) {
	s.checks = append(s.checks, check{text: fmt.Sprintf(format, args...), ok: ok})
}

// passed reports whether the run did its work and met every target.
func (s *scenario) passed() bool {
	if s.err != nil {
		return false
	}
	for _, c := range s.checks {
		if !c.ok {
			return false
		}
	}
	return true
}

// usersPerSecond is the run's throughput as an operator sees it: users over wall time, process
// start and checkpoint migrations included.
func (s *scenario) usersPerSecond() float64 {
	if s.m == nil || s.m.wall <= 0 {
		return 0
	}
	return float64(s.users) / s.m.wall.Seconds()
}

func (s *scenario) peakMB() float64 {
	if s.m == nil {
		return 0
	}
	return float64(s.m.peakKiB) / 1024
}

// checkMemory holds a druid-migrate run to the memory cap every run must respect.
func (s *scenario) checkMemory() {
	if s.m != nil {
		s.check(s.peakMB() <= peakRSSMaxMB, "≤%d MB", peakRSSMaxMB)
	}
}

// runAll runs every scenario in order and returns the rows of the table. The order matters:
// the throughput runs are compared with the ceiling, the big run with the small one, and each
// skipped run re-uses the checkpoint of the run before it.
func (b *bench) runAll(ctx context.Context) []*scenario {
	var rows []*scenario
	add := func(ss ...*scenario) {
		for _, s := range ss {
			logRun(s.name, s)
			rows = append(rows, s)
		}
	}
	// The rate run goes first. It measures the client's pacing to the millisecond, and the big
	// runs leave the machine busy for a while after they end: PostgreSQL writes out and drops
	// the tables of a million users.
	if b.cfg.runs(groupRate) {
		add(b.rate(ctx))
	}
	if b.cfg.runs(groupFaults) {
		add(b.faults(ctx), b.rateLimited(ctx))
	}
	if b.cfg.runs(groupThroughput) {
		rows = append(rows, b.throughput(ctx)...)
	}
	if b.cfg.runs(groupMemory) {
		small := b.fresh(ctx, "sqlite-"+count(b.cfg.small), b.cfg.small, b.sqliteStore)
		small.checkMemory()
		add(small)
		big, again := b.twice(ctx, "sqlite-"+count(b.cfg.big), b.cfg.big, b.sqliteStore)
		big.checkGrowth(small)
		add(big, again)
		add(b.twice(ctx, "postgres-"+count(b.cfg.big), b.cfg.big, b.postgresStore))
	}
	return rows
}

// throughput runs the ceiling and the runs of -users users with each checkpoint, in rounds,
// each round's runs against that round's ceiling, and returns the median rows.
func (b *bench) throughput(ctx context.Context) []*scenario {
	n := b.cfg.users
	var ceilings []*scenario
	runs := []struct {
		name   string
		open   func(context.Context, string) (*store, error)
		rounds []*scenario
	}{{name: "sqlite-" + count(n), open: b.sqliteStore}, {name: "postgres-" + count(n), open: b.postgresStore}}
	for round := range b.cfg.rounds {
		c := b.ceiling(ctx)
		logRound(c, round, b.cfg.rounds)
		ceilings = append(ceilings, c)
		for i, t := range runs {
			s := b.fresh(ctx, t.name, n, t.open)
			logRound(s, round, b.cfg.rounds)
			runs[i].rounds = append(t.rounds, s)
		}
	}
	rows := []*scenario{median(ceilings)}
	for _, t := range runs {
		s := median(t.rounds)
		s.checkShares(ceilings, t.rounds)
		s.checkMemory()
		rows = append(rows, s)
	}
	return rows
}

// checkShares holds a throughput run to a share of the ceiling's users/s: the median of the
// rounds' shares, each round's run against that round's ceiling.
func (s *scenario) checkShares(ceilings, rounds []*scenario) {
	if s.m == nil {
		return
	}
	var shares []float64
	for i, r := range rounds {
		if c := ceilings[i]; c.m != nil && r.m != nil {
			shares = append(shares, r.usersPerSecond()/c.usersPerSecond())
		}
	}
	if len(shares) < len(rounds) {
		s.check(false, "≥%.1f×ceiling: a ceiling round failed", ceilingShareMin)
		return
	}
	slices.Sort(shares)
	mid := shares[len(shares)/2]
	if len(shares) == 1 {
		s.check(mid >= ceilingShareMin, "≥%.1f×ceiling: %.2f", ceilingShareMin, mid)
		return
	}
	s.check(mid >= ceilingShareMin, "≥%.1f×ceiling: %.2f (%.2f–%.2f over %d rounds)",
		ceilingShareMin, mid, shares[0], shares[len(shares)-1], len(shares))
}

// median folds the rounds of one scenario into its row: the figures of the round of median
// users/s, with the highest peak RSS of any round, since the memory cap holds for every run. A
// round that failed fails the row.
func median(rounds []*scenario) *scenario {
	out := &scenario{name: rounds[0].name, users: rounds[0].users}
	for _, r := range rounds {
		if r.err != nil {
			out.err = r.err
			return out
		}
	}
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b *scenario) int { return cmp.Compare(a.usersPerSecond(), b.usersPerSecond()) })
	m := *sorted[len(sorted)/2].m
	for _, r := range rounds {
		m.peakKiB = max(m.peakKiB, r.m.peakKiB)
	}
	out.m = &m
	return out
}

// logRound reports a round's run as it ends.
func logRound(s *scenario, round, rounds int) {
	name := s.name
	if rounds > 1 {
		name = fmt.Sprintf("%s, round %d of %d", s.name, round+1, rounds)
	}
	logRun(name, s)
}

// logRun reports a run as it ends, under name.
func logRun(name string, s *scenario) {
	if s.err != nil {
		progress("%s: FAIL: %v", name, s.err)
		return
	}
	progress("%s: %.1fs, %.0f users/s, peak RSS %.0f MB", name, s.m.wall.Seconds(), s.usersPerSecond(), s.peakMB())
}

// checkGrowth holds a big run's peak memory to within growthMax of a small run's: memory that
// grows with the input would not survive the migrations of tens of millions of users.
func (s *scenario) checkGrowth(small *scenario) {
	if s.m == nil {
		return
	}
	label := fmt.Sprintf("%s/%s", count(s.users), count(small.users))
	if small.m == nil {
		s.check(false, "%s within %.0f%%: no small run", label, growthMax*100)
		return
	}
	ratio := float64(s.m.peakKiB) / float64(small.m.peakKiB)
	s.check(ratio-1 <= growthMax && 1-ratio <= growthMax, "RSS %s: %.2f (±%.0f%%)", label, ratio, growthMax*100)
}

// fresh runs druid-migrate over n users into a checkpoint of its own, removed afterwards.
func (b *bench) fresh(ctx context.Context, name string, n int, open func(context.Context, string) (*store, error)) *scenario {
	s := &scenario{name: name, users: n}
	st, err := open(ctx, name)
	if err != nil {
		s.err = err
		return s
	}
	defer st.drop()
	s.m, s.err = b.migrate(ctx, migration{users: n, store: st, concurrency: b.cfg.concurrency})
	return s
}

// twice runs druid-migrate over n users into a fresh checkpoint, then the same command again:
// every user is then skipped, and the second run shows what the skip rule costs.
func (b *bench) twice(ctx context.Context, name string, n int, open func(context.Context, string) (*store, error)) (first, again *scenario) {
	first = &scenario{name: name, users: n}
	again = &scenario{name: name + "-skipped", users: n}
	st, err := open(ctx, name)
	if err != nil {
		first.err = err
		again.err = fmt.Errorf("not run: %s failed", name)
		return first, again
	}
	defer st.drop()
	mg := migration{users: n, store: st, concurrency: b.cfg.concurrency}
	if first.m, first.err = b.migrate(ctx, mg); first.err != nil {
		again.err = fmt.Errorf("not run: %s failed", name)
		return first, again
	}
	first.checkMemory()
	mg.skipped = true
	if again.m, again.err = b.migrate(ctx, mg); again.m != nil {
		again.check(again.m.wall < skippedWallMax, "<%v", skippedWallMax)
		again.checkMemory()
	}
	return first, again
}

// rate runs druid-migrate at --rate 100 against a simulator that answers in 50 ms, so that
// eight workers could go faster than the limit: the limiter alone sets the pace, and the
// arrival times of the calls show how evenly.
func (b *bench) rate(ctx context.Context) *scenario {
	n := b.cfg.rateUsers
	s := &scenario{name: "rate", users: n}
	st, err := b.sqliteStore(ctx, s.name)
	if err != nil {
		s.err = err
		return s
	}
	defer st.drop()
	var arrivals []time.Time
	s.m, s.err = b.migrate(ctx, migration{users: n, store: st, concurrency: rateConcurrency,
		rate: rateWanted, sim: druidsim.Config{Latency: rateLatency}, arrivals: &arrivals})
	if s.err != nil {
		return s
	}
	rs, err := analyzeRate(arrivals)
	if err != nil {
		s.m, s.err = nil, err
		return s
	}
	s.check(rs.mean >= rateWanted*(1-rateTolerance) && rs.mean <= rateWanted*(1+rateTolerance),
		"mean %.2f/s (%d±%.0f%%)", rs.mean, rateWanted, rateTolerance*100)
	s.check(rs.busiest <= rateSecondMax, "busiest second %d (≤%d of %d s)", rs.busiest, rateSecondMax, rs.seconds)
	s.checkMemory()
	return s
}

// migration is one druid-migrate run.
type migration struct {
	users       int
	store       *store
	concurrency int
	rate        float64         // --rate; 0 for no limit
	retries     int             // --retries; 0 for the command's default
	sim         druidsim.Config // the simulator's latency and faults (startSim sets the rest)
	// skipped says the checkpoint already holds every user: the run must make no call.
	skipped bool
	// arrivals, when not nil, receives the arrival time of every update call.
	arrivals *[]time.Time
}

// faulty says the simulator of mg fails or refuses some calls.
func (mg *migration) faulty() bool {
	return mg.sim.FailRate > 0 || mg.sim.ResetRate > 0 || mg.sim.RateLimit > 0
}

// migrate runs druid-migrate as an operator would, against a simulator of its own, and checks
// that it did its work: exit status 0, one update call per user (none on a re-run), and the
// checkpoint holding every user as updated.
func (b *bench) migrate(ctx context.Context, mg migration) (*measurement, error) {
	csvPath, err := b.export(mg.users)
	if err != nil {
		return nil, err
	}
	sim, err := startSim(mg.sim, mg.arrivals != nil)
	if err != nil {
		return nil, err
	}
	defer sim.close()
	args := []string{"--log-level", "warn", "run",
		"--source", csvPath, "--endpoint", sim.url, "--token", token,
		"--app-id", appID, "--entry-point", entryPoint, "--job", job,
		"--rate", strconv.FormatFloat(mg.rate, 'f', -1, 64), "--burst", "1",
		"--concurrency", strconv.Itoa(mg.concurrency)}
	if mg.retries > 0 {
		args = append(args, "--retries", strconv.Itoa(mg.retries))
	}
	args = append(args, mg.store.args...)
	m, err := b.measure(ctx, b.bin, args, nil)
	if err != nil {
		return nil, err
	}
	wantCalls := int64(mg.users)
	if mg.skipped {
		wantCalls = 0
	}
	switch got := sim.updates.Load(); {
	case mg.faulty():
		// Faults cost retries: the calls outnumber the users, and each must be applied once.
		if err := sim.appliedOnce(mg.users); err != nil {
			return nil, err
		}
	case got != wantCalls:
		return nil, fmt.Errorf("the simulator got %d update calls, want %d", got, wantCalls)
	}
	if err := b.checkStatus(ctx, mg); err != nil {
		return nil, err
	}
	if mg.arrivals != nil {
		*mg.arrivals = sim.arrivalTimes()
	}
	return m, nil
}

// jobStatus is the part of `druid-migrate status --json` the checks read.
type jobStatus struct {
	Users    int64            `json:"users"`
	Outcomes map[string]int64 `json:"outcomes"`
	LastRun  *struct {
		ExitCode *int `json:"exit_code"`
		Counts   struct {
			Skipped, Updated int64
		} `json:"counts"`
	} `json:"last_run"`
}

// checkStatus asks druid-migrate itself, as an operator would, what the checkpoint holds after
// mg: every user updated, and the last run finished with exit code 0, having updated, or on a
// re-run skipped, every user.
func (b *bench) checkStatus(ctx context.Context, mg migration) error {
	args := append([]string{"status", "--job", job, "--json"}, mg.store.args...)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	m, err := b.measure(ctx, b.bin, args, nil)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	var st jobStatus
	if err := json.Unmarshal([]byte(m.stdout), &st); err != nil {
		return fmt.Errorf("status --json: %w", err)
	}
	n := int64(mg.users)
	if st.Users != n || st.Outcomes["updated"] != n {
		return fmt.Errorf("the checkpoint holds %d users, %d updated; want %d updated (%v)", st.Users, st.Outcomes["updated"], n, st.Outcomes)
	}
	last := st.LastRun
	switch {
	case last == nil || last.ExitCode == nil:
		return errors.New("the checkpoint shows no finished run")
	case *last.ExitCode != 0:
		return fmt.Errorf("the checkpoint's last run ended with exit code %d", *last.ExitCode)
	case mg.skipped && last.Counts.Skipped != n:
		return fmt.Errorf("the re-run skipped %d users, want %d", last.Counts.Skipped, n)
	case !mg.skipped && last.Counts.Updated != n:
		return fmt.Errorf("the run updated %d users, want %d", last.Counts.Updated, n)
	}
	return nil
}

// export returns the CSV export of n generated users, writing it on first use. It is streamed
// to the file: a million users are about 200 MB of CSV.
func (b *bench) export(n int) (string, error) {
	if path, ok := b.exports[n]; ok {
		return path, nil
	}
	path := filepath.Join(b.dir, "users-"+strconv.Itoa(n)+".csv")
	progress("generating %d users", n)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// With Autocreate the simulator needs no seeds: the users' side is discarded.
	_, err = sample.Write(w, io.Discard, sample.Options{Users: n})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	b.exports[n] = path
	return path, nil
}

// count names a number of users the short way: 100k, 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
