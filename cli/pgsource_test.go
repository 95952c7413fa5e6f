package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"druid-migrate/checkpoint"
	"druid-migrate/druidsim"
	"druid-migrate/internal/pgtest"
	"druid-migrate/internal/sample"
	"druid-migrate/sink"
)

// crmMapping maps the crm_users table of crmTable: a CRM's own column names and value shapes.
const crmMapping = `key: crm_id
columns:
  druid_id: objectId
  first_name: {to: datas.name, trim: true}
  last_name: datas.surname
  email: {to: ids.email, trim: true, lower: true}
  birth: datas.birthday
  mobile: {to: ids.phone_number, phone: "+34"}
  marketing: {to: assertions.optin, map: {Subscribed: "true", Unsubscribed: "false"}}
  terms: assertions.terms
constants:
  device: pc
`

const crmQuery = "SELECT * FROM crm_users"

// crmTable creates crm_users with n users in a database of its own and returns its URL and
// the mapping file.
func crmTable(t *testing.T, n int) (dsn, mappingPath string) {
	t.Helper()
	dsn = pgtest.DB(t)
	execSQL(t, dsn, `CREATE TABLE crm_users (
		crm_id bigint PRIMARY KEY, druid_id text, first_name text, last_name text, email text,
		birth date, mobile text, marketing text, terms boolean, updated_at timestamptz NOT NULL)`)
	execSQL(t, dsn, fmt.Sprintf(`INSERT INTO crm_users
		SELECT i, 'druid-' || lpad(i::text, 7, '0'), ' Name' || i || ' ', 'Surname' || (i %% 97),
			'User' || i || '@Example.com', date '1950-01-01' + (i %% 18000), '6' || lpad(i::text, 8, '0'),
			CASE WHEN i %% 2 = 0 THEN 'Subscribed' ELSE 'Unsubscribed' END, true,
			now() - interval '1 day'
		FROM generate_series(1, %d) AS i`, n))
	mappingPath = filepath.Join(t.TempDir(), "crm.yaml")
	require.NoError(t, os.WriteFile(mappingPath, []byte(crmMapping), 0o600))
	return dsn, mappingPath
}

func execSQL(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

// crmUser is the DRUID user crm_users row i must become.
func crmUser(i int, name string) sink.User {
	optin := i%2 == 0
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%18000)
	return sink.User{
		ObjectType: "user",
		ObjectID:   fmt.Sprintf("druid-%07d", i),
		IDs: map[string]sink.ID{
			"email":        {ObjectType: "user_id", Value: fmt.Sprintf("user%d@example.com", i)},
			"phone_number": {ObjectType: "user_id", Value: fmt.Sprintf("+346%08d", i)},
		},
		Datas: map[string]sink.Data{
			"name":     {ObjectType: "user_data", Value: name},
			"surname":  {ObjectType: "user_data", Value: fmt.Sprintf("Surname%d", i%97)},
			"birthday": {ObjectType: "user_data", Value: birth.Format("02/01/2006")},
		},
		Assertions: &sink.Assertions{ObjectType: "assertions", TotalItems: 2, Items: []sink.Assertion{
			{ObjectType: "assertion", Type: "optin", Typology: "user", Value: optin},
			{ObjectType: "assertion", Type: "terms", Typology: "user", Value: true},
		}},
	}
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// binary builds druid-migrate once per test binary, without the race detector, so that tests
// can measure and signal a real process as an operator runs it.
func binary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "druid-migrate-bin")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "druid-migrate")
		out, err := exec.Command("go", "build", "-o", binaryPath, "druid-migrate").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, binaryErr)
	return binaryPath
}

// sampleFakeDRUID serves fake-druid as a process of its own, seeded with the users of a sample
// export of that many users, each empty, for a run of the export to fill.
func sampleFakeDRUID(t *testing.T, users int, flags ...string) *fakeDRUID {
	t.Helper()
	seeds := make([]druidsim.Seed, users)
	for i := range seeds {
		seeds[i] = druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: sample.ObjectID(i + 1)}}
	}
	return startFakeDRUID(t, seeds, flags...)
}

// fakeDRUID serves `druid-migrate fake-druid` as a process of its own, seeded with users.
type fakeDRUID struct{ url string }

func startFakeDRUID(t *testing.T, users []druidsim.Seed, flags ...string) *fakeDRUID {
	t.Helper()
	seeds := filepath.Join(t.TempDir(), "users.jsonl")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, u := range users {
		require.NoError(t, enc.Encode(u))
	}
	require.NoError(t, os.WriteFile(seeds, buf.Bytes(), 0o600))
	args := append([]string{"--log-level", "warn", "fake-druid", "--addr", "127.0.0.1:0",
		"--users", seeds, "--token", testToken}, flags...)
	cmd := exec.Command(binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	url := strings.TrimSpace(line[strings.Index(line, "http://"):])
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return &fakeDRUID{url: url}
}

func (f *fakeDRUID) stats(t *testing.T) druidsim.Stats {
	t.Helper()
	resp, err := http.Get(f.url + "/__fake/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var s druidsim.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

// users returns the simulator's users by objectId, with how many updates each received.
func (f *fakeDRUID) users(t *testing.T) map[string]dumpedUser {
	t.Helper()
	resp, err := http.Get(f.url + "/__fake/users")
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]dumpedUser{}
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var u dumpedUser
		require.NoError(t, dec.Decode(&u))
		out[u.ObjectID] = u
	}
	return out
}

type dumpedUser struct {
	sink.User
	Updates int `json:"updates"`
	Calls   int `json:"calls"`
}

// runBinary runs druid-migrate as a process and returns its exit code and output.
func runBinary(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func pgRunArgs(url, dsn, mappingPath, checkpointPath string, extra ...string) []string {
	args := []string{"--log-format", "json", "--log-level", "warn", "run",
		"--source", dsn, "--query", crmQuery, "--mapping", mappingPath,
		"--endpoint", url, "--token", testToken, "--app-id", "app-1", "--entry-point", testEntryPoint,
		"--checkpoint", checkpointPath, "--job", "nightly", "--rate", "0", "--concurrency", "16"}
	return append(args, extra...)
}

func TestPostgresSourceNightlySync(t *testing.T) {
	const n = 50_000
	dsn, mappingPath := crmTable(t, n)
	seeds := make([]druidsim.Seed, n)
	for i := range seeds {
		seeds[i] = druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: fmt.Sprintf("druid-%07d", i+1)}}
	}
	druid := startFakeDRUID(t, seeds)
	db := filepath.Join(t.TempDir(), "cp.db")
	args := func(extra ...string) []string { return pgRunArgs(druid.url, dsn, mappingPath, db, extra...) }

	res := runBinary(t, args("--since-column", "updated_at")...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "updated        50000")
	users := druid.users(t)
	require.Len(t, users, n)
	for i := 1; i <= n; i++ {
		u := users[fmt.Sprintf("druid-%07d", i)]
		require.Equal(t, 1, u.Updates, "user %d", i)
		require.Equal(t, crmUser(i, fmt.Sprintf("Name%d", i)), u.User, "user %d", i)
	}

	// A rerun of the whole table makes no call.
	before := druid.stats(t).Total
	res = runBinary(t, args()...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "skipped        50000")
	require.Equal(t, before, druid.stats(t).Total)

	// An incremental run reads and sends exactly the rows changed since the last one.
	execSQL(t, dsn, `UPDATE crm_users SET first_name = 'Changed' || crm_id, updated_at = now() WHERE crm_id % 500 = 0`)
	res = runBinary(t, args("--since-column", "updated_at")...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "records read   100\n")
	require.Contains(t, res.stdout, "updated        100\n")
	require.Equal(t, before+100, druid.stats(t).Total)
	users = druid.users(t)
	require.Equal(t, "Changed500", users["druid-0000500"].Datas["name"].Value)

	// Nothing changed since: nothing read.
	res = runBinary(t, args("--since-column", "updated_at")...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "records read   0\n")
}

// scriptedOver answers some users itself, as DRUID would, and passes the rest to the
// simulator: users named "Invalid…" get 416 on their name (a rule of DRUID's that the tool
// cannot check), and users in failing get 500.
func scriptedOver(sim http.Handler, failing map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req sink.Request
		_ = json.Unmarshal(body, &req)
		reply := func(code int, field, details string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(sink.Response{Result: sink.Result{Status: code,
				Errors: []sink.FieldError{{Message: field, Details: details}}}})
		}
		switch {
		case strings.HasPrefix(req.Object.Datas["name"].Value, "Invalid"):
			reply(http.StatusRequestedRangeNotSatisfiable, "name", "does not comply with its specification")
		case failing[req.Object.ObjectID]:
			reply(http.StatusInternalServerError, "server", "internal error")
		default:
			r.Body = io.NopCloser(bytes.NewReader(body))
			sim.ServeHTTP(w, r)
		}
	})
}

func TestRetrySendsOnlyTheChosenCodesFromPostgres(t *testing.T) {
	const n = 300
	dsn, mappingPath := crmTable(t, n)
	// Users 1-10 are unknown to DRUID (404), 11-20 have names DRUID refuses (416), 21-30 hit a
	// failing DRUID (500).
	execSQL(t, dsn, `UPDATE crm_users SET first_name = 'Invalid' || crm_id WHERE crm_id BETWEEN 11 AND 20`)
	sim := druidsim.New(druidsim.Config{Tokens: []string{testToken}})
	failing := map[string]bool{}
	for i := 11; i <= n; i++ {
		require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: fmt.Sprintf("druid-%07d", i)}}))
		if i > 20 && i <= 30 {
			failing[fmt.Sprintf("druid-%07d", i)] = true
		}
	}
	srv := httptest.NewServer(scriptedOver(sim, failing))
	t.Cleanup(srv.Close)
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, pgRunArgs(srv.URL, dsn, mappingPath, db, "--retries", "0")...)
	require.Equal(t, 1, res.code, res.stderr)
	st := openCheckpoint(t, db)
	codes := func() map[int]int {
		out := map[int]int{}
		require.NoError(t, st.Failures(context.Background(), "nightly", []string{"updated", "rejected", "failed"}, func(r checkpoint.Row) error {
			out[r.StatusCode]++
			return nil
		}))
		return out
	}
	require.Equal(t, map[int]int{200: n - 30, 404: 10, 416: 10, 500: 10}, codes())

	// The data is fixed in the CRM; retry --codes 416 sends those ten users and no one else.
	execSQL(t, dsn, `UPDATE crm_users SET first_name = 'Fixed' || crm_id WHERE crm_id BETWEEN 11 AND 20`)
	sim.Reset()
	args := pgRunArgs(srv.URL, dsn, mappingPath, db, "--retries", "0")
	args[4] = "retry"
	res = runMain(t, append(args, "--codes", "416")...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, 10, sim.Stats().Total)
	require.Equal(t, map[int]int{200: n - 20, 404: 10, 500: 10}, codes())
	for i := 11; i <= 20; i++ {
		u, _ := sim.User(fmt.Sprintf("druid-%07d", i))
		require.Equal(t, fmt.Sprintf("Fixed%d", i), u.User.Datas["name"].Value)
	}

	// A retry of every failed or rejected user sends the twenty that remain.
	sim.Reset()
	res = runMain(t, args...)
	require.Equal(t, 1, res.code, "the 404 and 500 users still stand")
	require.EqualValues(t, 10, sim.Stats().Total, "the 404 users reach DRUID; the 500 ones its failing front")
	runs, err := st.Runs(context.Background(), "nightly")
	require.NoError(t, err)
	sent := 0
	require.NoError(t, st.Failures(context.Background(), "nightly", []string{"updated", "rejected", "failed"}, func(r checkpoint.Row) error {
		if r.RunID == runs[0].ID {
			sent++
			require.Contains(t, []int{404, 500}, r.StatusCode, r.Key)
		}
		return nil
	}))
	require.Equal(t, 20, sent, "the retry recorded exactly the twenty users it sent")
}

func TestPostgresSourceErrorsSayWhatIsWrong(t *testing.T) {
	dsn := pgtest.DB(t)
	execSQL(t, dsn, `CREATE TABLE people (id text, email text, name text, terms boolean)`)
	execSQL(t, dsn, `INSERT INTO people VALUES
		('p1', 'a@example.com', 'A', true), (NULL, 'b@example.com', 'B', true),
		('p2', 'c@example.com', 'C', true), ('p2', 'd@example.com', 'D', true)`)
	mappingPath := filepath.Join(t.TempDir(), "m.yaml")
	require.NoError(t, os.WriteFile(mappingPath, []byte("key: id\ncolumns:\n  email: ids.email\n  name: datas.name\n  terms: assertions.terms\n"), 0o600))
	base := func(query string) []string {
		return []string{"--log-format", "json", "dry-run", "--source", dsn, "--query", query, "--mapping", mappingPath, "--app-id", "a"}
	}

	res := runMain(t, base("SELEC * FROM people")...)
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "--query")
	require.Contains(t, res.stderr, "syntax error")

	res = runMain(t, base("SELECT email, name, terms FROM people")...)
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, `"id"`)

	res = runMain(t, base("SELECT * FROM no_such_table")...)
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "no_such_table")

	res = runMain(t, base("SELECT * FROM people")...)
	require.Equal(t, 1, res.code, res.stderr)
	require.Equal(t, 2, strings.Count(res.stdout, "\n"), "p1 and the first p2 are valid")
	require.Contains(t, res.stderr, "NULL")
	require.Contains(t, res.stderr, `repeats the key`)
}

// TestPostgresDryRunOfAMillionRowsStreams reads a million rows as an operator's dry run would,
// in a process of its own: its peak memory stays low and no statement of it runs long.
func TestPostgresDryRunOfAMillionRowsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("a million rows: not in -short")
	}
	dsn, mappingPath := crmTable(t, 1_000_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Watch the database for a statement of the job active longer than a few seconds.
	longest := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		defer func() { longest <- worst }()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var d time.Duration
			err := conn.QueryRow(ctx, `SELECT coalesce(max(now() - query_start), '0') FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`).Scan(&d)
			if err == nil && d > worst {
				worst = d
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	cmd := exec.Command(binary(t), "--log-format", "json", "dry-run", "--source", dsn, "--query", crmQuery,
		"--mapping", mappingPath, "--app-id", "a")
	var lines countingWriter
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lines, &errb
	require.NoError(t, cmd.Start())
	peak := watchPeakRSS(cmd.Process.Pid)
	require.NoError(t, cmd.Wait(), errb.String())
	cancel()
	require.EqualValues(t, 1_000_000, lines.lines, "one payload per row")
	peakMB := float64(<-peak) / 1024
	worst := <-longest
	t.Logf("dry-run of 1,000,000 rows: peak RSS %.0f MB, longest active statement %v", peakMB, worst)
	require.Less(t, peakMB, 100.0, "peak RSS")
	require.Less(t, worst, 5*time.Second, "no statement of the job stays active more than a few seconds")
}

// watchPeakRSS follows the process's VmHWM, its peak resident memory, until it exits, and
// sends the last value read, in KiB. The kernel's own count for a child (rusage) starts before
// exec and so includes the test binary's memory: useless here.
func watchPeakRSS(pid int) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		defer func() { out <- peak }()
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return // the process is gone
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb int64
					if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil && kb > peak {
						peak = kb
					}
				}
			}
			time.Sleep(20 * time.Millisecond) // sampling the process's memory
		}
	}()
	return out
}

// countingWriter counts the lines written to it and keeps none.
type countingWriter struct{ lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}
