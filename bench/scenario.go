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
	// hashKeyEnv names the hash key of the payload hashes (SPEC §4), hashKey its value in the
	// runs with a hash key.
	hashKeyEnv = "DRUID_HASH_KEY"
	hashKey    = "bench-hash-key-8c1f0e5a7d3b4296"
)

// The targets (SPEC-level promises the runs are held to).
const (
	sqliteShareMin   = 0.7 // a throughput run with a SQLite checkpoint: at least this share of the ceiling's users/s
	postgresShareMin = 0.6 // the same with a Postgres checkpoint
	// passwordShareMin: a run with passwords and a hash key goes at least this share of the
	// users/s of the same round's run without passwords.
	passwordShareMin = 0.9
	cpuPerUserMax    = 45 * time.Microsecond // the command's CPU per user, SQLite, no password
	peakRSSMaxMB     = 60                    // every druid-migrate run
	growthMax        = 0.2                   // the big run's peak RSS within this of the small run's
	skippedWallMax   = 10 * time.Second      // a re-run where every user is done
	rateWanted       = 100                   // --rate of the rate run
	rateTolerance    = 0.02                  // its achieved mean within this share of rateWanted
	rateSecondMax    = 101                   // and no whole second with more calls than this
	rateLatency      = 50 * time.Millisecond
	rateConcurrency  = 8
)

// scenario is one row of the table: one measured child process and the targets it is held to.
type scenario struct {
	name    string
	users   int
	workers int // --concurrency, or the ceiling's connections
	// share is the row's users/s over the ceiling's of the same workers in the same run (the
	// median of the rounds' shares for a throughput run); 0 when none was measured.
	share float64
	// skipping says the run finds every user done and makes no call: no share of the ceiling.
	skipping bool
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
	if b.cfg.runs(groupBulk) {
		add(b.sinks(ctx)...)
	}
	// ceilings holds the ceiling's users/s by workers, for the share of the memory runs.
	ceilings := map[int]float64{}
	if b.cfg.runs(groupThroughput) {
		for _, workers := range b.cfg.concurrency {
			sweep := b.throughput(ctx, workers)
			ceilings[workers] = sweep[0].usersPerSecond()
			rows = append(rows, sweep...)
		}
	}
	if b.cfg.runs(groupMemory) {
		workers := b.cfg.memoryWorkers()
		small := b.fresh(ctx, "sqlite-"+count(b.cfg.small), migration{users: b.cfg.small, concurrency: workers}, b.sqliteStore)
		small.checkMemory()
		add(small)
		bigRun := migration{users: b.cfg.big, concurrency: workers}
		big, again := b.twice(ctx, "sqlite-"+count(b.cfg.big), "", bigRun, b.sqliteStore)
		big.checkGrowth(small)
		add(big, again)
		add(b.twice(ctx, "postgres-"+count(b.cfg.big), "", bigRun, b.postgresStore))
		bigRun.passwords = true
		add(b.twice(ctx, "sqlite-"+count(b.cfg.big), b.keyed(), b.withKey(bigRun), b.sqliteStore))
		for _, s := range rows {
			if s.share == 0 && !s.skipping && ceilings[s.workers] > 0 {
				s.share = s.usersPerSecond() / ceilings[s.workers]
			}
		}
	}
	return rows
}

// keyed names the runs with passwords and a hash key, and says when this build ignores the key.
func (b *bench) keyed() string {
	if b.hashKeyFlag {
		return ", passwords, hash key"
	}
	return ", passwords, hash key (ignored by this build)"
}

// withKey returns mg run with the hash key.
func (b *bench) withKey(mg migration) migration {
	mg.env = []string{hashKeyEnv + "=" + hashKey}
	return mg
}

// throughputRun is one of the runs a throughput sweep measures in every round.
type throughputRun struct {
	name   string
	mg     migration // users and concurrency are the sweep's
	open   func(context.Context, string) (*store, error)
	rounds []*scenario
}

// throughput runs the ceiling and the runs of -users users with workers, in rounds, each round's
// runs against that round's ceiling, and returns the median rows, the ceiling's first: with
// each checkpoint, and with a SQLite checkpoint and a password column, with a hash key and
// without. The ceiling's bodies carry no password.
func (b *bench) throughput(ctx context.Context, workers int) []*scenario {
	n := b.cfg.users
	name := func(s string) string { return s + "-" + count(n) }
	var ceilings []*scenario
	runs := []*throughputRun{
		{name: name("sqlite"), open: b.sqliteStore},
		{name: name("postgres"), open: b.postgresStore},
		{name: name("sqlite") + b.keyed(), mg: b.withKey(migration{passwords: true}), open: b.sqliteStore},
		{name: name("sqlite") + ", passwords, no key (PBKDF2)", mg: migration{passwords: true}, open: b.sqliteStore},
	}
	for round := range b.cfg.rounds {
		c := b.ceiling(ctx, workers)
		logRound(c, round, b.cfg.rounds)
		ceilings = append(ceilings, c)
		for _, t := range runs {
			mg := t.mg
			mg.users, mg.concurrency = n, workers
			s := b.fresh(ctx, t.name, mg, t.open)
			logRound(s, round, b.cfg.rounds)
			t.rounds = append(t.rounds, s)
		}
	}
	ceiling := median(ceilings)
	if ceiling.m != nil {
		ceiling.share = 1
	}
	rows := []*scenario{ceiling}
	sqlite, postgres, keyed, pbkdf2 := runs[0], runs[1], runs[2], runs[3]
	for _, t := range runs {
		s := median(t.rounds)
		s.share = medianRatio(t.rounds, ceilings)
		switch t {
		case sqlite:
			s.checkShare(sqliteShareMin, t.rounds, ceilings)
			s.checkCPU()
		case postgres:
			s.checkShare(postgresShareMin, t.rounds, ceilings)
		case keyed:
			s.checkRatio(passwordShareMin, "×no passwords", t.rounds, sqlite.rounds)
		case pbkdf2:
			// What a password costs without a key: shown, held to nothing but memory.
		}
		s.checkMemory()
		rows = append(rows, s)
	}
	return rows
}

// checkShare holds a throughput run to want of the ceiling's users/s: the median of the rounds'
// shares, each round's run against that round's ceiling.
func (s *scenario) checkShare(want float64, rounds, ceilings []*scenario) {
	s.checkRatio(want, "×ceiling", rounds, ceilings)
}

// checkCPU holds a run to cpuPerUserMax of its own CPU time per user.
func (s *scenario) checkCPU() {
	if s.m != nil {
		cpu := s.m.cpu / time.Duration(s.users)
		s.check(cpu <= cpuPerUserMax, "cpu ≤%s: %s", formatMicros(cpuPerUserMax), formatMicros(cpu))
	}
}

// checkRatio holds a run to want of another's users/s, named by what: the median of the rounds'
// ratios, each of a round's run over the same round's other.
func (s *scenario) checkRatio(want float64, what string, rounds, others []*scenario) {
	if s.m == nil {
		return
	}
	ratios := ratios(rounds, others)
	if len(ratios) < len(rounds) {
		s.check(false, "≥%.1f%s: a round of the other run failed", want, what)
		return
	}
	mid := ratios[len(ratios)/2]
	if len(ratios) == 1 {
		s.check(mid >= want, "≥%.1f%s: %.2f", want, what, mid)
		return
	}
	s.check(mid >= want, "≥%.1f%s: %.2f (%.2f–%.2f over %d rounds)",
		want, what, mid, ratios[0], ratios[len(ratios)-1], len(ratios))
}

// ratios are the users/s of each round's run over the same round's other, sorted, leaving out
// the rounds where either failed.
func ratios(rounds, others []*scenario) []float64 {
	var out []float64
	for i, r := range rounds {
		if o := others[i]; o.m != nil && r.m != nil {
			out = append(out, r.usersPerSecond()/o.usersPerSecond())
		}
	}
	slices.Sort(out)
	return out
}

// medianRatio is the median of ratios(rounds, others); 0 when a round failed.
func medianRatio(rounds, others []*scenario) float64 {
	r := ratios(rounds, others)
	if len(r) < len(rounds) || len(r) == 0 {
		return 0
	}
	return r[len(r)/2]
}

// median folds the rounds of one scenario into its row: the figures of the round of median
// users/s, with the highest peak RSS of any round, since the memory cap holds for every run. A
// round that failed fails the row.
func median(rounds []*scenario) *scenario {
	out := &scenario{name: rounds[0].name, users: rounds[0].users, workers: rounds[0].workers}
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

// fresh runs mg into a checkpoint of its own, removed afterwards.
func (b *bench) fresh(ctx context.Context, name string, mg migration, open func(context.Context, string) (*store, error)) *scenario {
	s := &scenario{name: name, users: mg.users, workers: mg.concurrency}
	st, err := open(ctx, name)
	if err != nil {
		s.err = err
		return s
	}
	defer st.drop()
	mg.store = st
	s.m, s.err = b.migrate(ctx, mg)
	return s
}

// twice runs mg into a fresh checkpoint, then the same command again: every user is then
// skipped, and the second run shows what the skip rule costs. The rows are named base and
// base-skipped, each followed by what, which says what the runs carry.
func (b *bench) twice(ctx context.Context, base, what string, mg migration, open func(context.Context, string) (*store, error)) (first, again *scenario) {
	name := base + what
	first = &scenario{name: name, users: mg.users, workers: mg.concurrency}
	again = &scenario{name: base + "-skipped" + what, users: mg.users, workers: mg.concurrency, skipping: true}
	st, err := open(ctx, name)
	if err != nil {
		first.err = err
		again.err = fmt.Errorf("not run: %s failed", name)
		return first, again
	}
	defer st.drop()
	mg.store = st
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
	s := &scenario{name: "rate", users: n, workers: rateConcurrency}
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
	passwords   bool            // the export has a password column
	bulk        bool            // --sink bulk: users go in batches through the Bulk API
	env         []string        // added to the command's environment
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
	csvPath, err := b.export(exportKind{users: mg.users, passwords: mg.passwords})
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
	if mg.bulk {
		args = append(args, "--sink", "bulk", "--client-id", bulkClientID, "--client-secret", bulkClientSecret,
			"--bulk-poll", bulkPoll.String())
	}
	args = append(args, mg.store.args...)
	m, err := b.measure(ctx, b.bin, args, mg.env)
	if err != nil {
		return nil, err
	}
	wantCalls := int64(mg.users)
	if mg.skipped {
		wantCalls = 0
	}
	switch got := sim.updates.Load(); {
	case mg.bulk:
		if got != 0 {
			return nil, fmt.Errorf("a bulk run made %d update calls", got)
		}
		if err := sim.appliedOnce(mg.users); err != nil {
			return nil, err
		}
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

// exportKind says which generated users an export holds.
type exportKind struct {
	users     int
	passwords bool
}

// export returns the CSV export of kind, writing it on first use. It is streamed to the file: a
// million users are about 200 MB of CSV.
func (b *bench) export(kind exportKind) (string, error) {
	if path, ok := b.exports[kind]; ok {
		return path, nil
	}
	n := kind.users
	name := "users-" + strconv.Itoa(n)
	what := ""
	if kind.passwords {
		name += "-passwords"
		what = " with passwords"
	}
	path := filepath.Join(b.dir, name+".csv")
	progress("generating %d users%s", n, what)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// With Autocreate the simulator needs no seeds: the users' side is discarded.
	_, err = sample.Write(w, io.Discard, sample.Options{Users: n, Passwords: kind.passwords})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	b.exports[kind] = path
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
