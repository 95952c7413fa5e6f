package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/checkpoint"
	"druid-migrate/druidsim"
	"druid-migrate/internal/sample"
	"druid-migrate/job"
	"druid-migrate/sink"
)

const (
	testToken      = "tok-5ecret-Zq9"
	testEntryPoint = "231705665113870-main"
)

// cliResult is what one in-process invocation of the command line produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"druid-migrate"}, args...), nil, &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// startSim serves a DRUID simulator on loopback for the test.
func startSim(t testing.TB, cfg druidsim.Config) (*druidsim.Server, string) {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = []string{testToken}
	}
	sim := druidsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// writeSample writes a sample export of n users and seeds the simulator with them.
func writeSample(t *testing.T, sim *druidsim.Server, opt sample.Options) (string, sample.Trouble) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.csv")
	var csvBuf, users bytes.Buffer
	tr, err := sample.Write(&csvBuf, &users, opt)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, csvBuf.Bytes(), 0o600))
	if sim != nil {
		require.NoError(t, sim.LoadUsers(&users))
	}
	return path, tr
}

// logLine returns the last JSON log line of stderr whose message is msg, decoded; it fails the
// test when there is none.
func logLine(t *testing.T, stderr, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			found = m
		}
	}
	require.NotNil(t, found, "no log line %q in:\n%s", msg, stderr)
	return found
}

func runArgs(endpoint, csvPath, checkpointPath string, extra ...string) []string {
	args := []string{"--log-format", "json", "run",
		"--source", csvPath, "--endpoint", endpoint, "--token", testToken,
		"--app-id", "app-1", "--entry-point", testEntryPoint,
		"--checkpoint", checkpointPath, "--job", "test",
		"--rate", "0", "--concurrency", "16"}
	return append(args, extra...)
}

// expectedUser is the user a sample row must leave in DRUID, spelled out independently of the
// mapping code.
func expectedUser(row []string) sink.User {
	col := map[string]string{}
	for i, h := range sample.Header {
		col[h] = row[i]
	}
	confirmed := col["ids.email.confirmed"] == "true"
	optin := col["assertions.optin"] == "yes"
	return sink.User{
		ObjectType: "user",
		ObjectID:   col["objectId"],
		IDs: map[string]sink.ID{
			"email":        {ObjectType: "user_id", Value: col["ids.email"], Confirmed: &confirmed},
			"phone_number": {ObjectType: "user_id", Value: col["ids.phone_number"]},
		},
		Datas: map[string]sink.Data{
			"name":     {ObjectType: "user_data", Value: col["datas.name"]},
			"surname":  {ObjectType: "user_data", Value: col["datas.surname"]},
			"birthday": {ObjectType: "user_data", Value: col["datas.birthday"]},
			"country":  {ObjectType: "user_data", Value: col["datas.country"]},
		},
		Addresses: &sink.Addresses{ObjectType: "addresses", TotalItems: 1, Items: []sink.Address{{
			ObjectType: "address", Type: "home", StreetAddress: col["addresses.home.streetAddress"],
			Locality: col["addresses.home.locality"], PostalCode: col["addresses.home.postalCode"],
			Country: col["addresses.home.country"],
		}}},
		Assertions: &sink.Assertions{ObjectType: "assertions", TotalItems: 2, Items: []sink.Assertion{
			{ObjectType: "assertion", Type: "optin", Typology: "user", Value: optin},
			{ObjectType: "assertion", Type: "terms", Typology: "user", Value: true},
		}},
	}
}

func openCheckpoint(t *testing.T, dsn string) checkpoint.Store {
	t.Helper()
	st, err := checkpoint.Open(context.Background(), dsn, checkpoint.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// rowsOf returns the job's checkpoint rows with the given outcomes, by key.
func rowsOf(t *testing.T, st checkpoint.Store, outcomes ...string) map[string]checkpoint.Row {
	t.Helper()
	rows := map[string]checkpoint.Row{}
	require.NoError(t, st.Failures(context.Background(), "test", outcomes, func(r checkpoint.Row) error {
		rows[r.Key] = r
		return nil
	}))
	return rows
}

func TestRunMigratesResumesAndSendsOnlyChanges(t *testing.T) {
	const n = 10_000
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: n})
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, runArgs(url, csvPath, db)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, n, sim.Stats().Total)
	require.Equal(t, true, logLine(t, res.stderr, "run started")["new_job"], "a job without rows needs no skip look-up")
	for i := 1; i <= n; i++ {
		got, ok := sim.User(sample.ObjectID(i))
		require.True(t, ok)
		got.User.Password = ""
		require.Equal(t, expectedUser(sample.Row(i, "")), got.User, "user %d", i)
	}
	st := openCheckpoint(t, db)
	status, err := st.Status(context.Background(), "test")
	require.NoError(t, err)
	require.Equal(t, []checkpoint.StatusCount{{Outcome: "updated", StatusCode: 200, Users: n}}, status)
	require.Contains(t, res.stdout, "updated        10000")

	// An identical second run makes no call and exits 0.
	defer func() {
		res := runMain(t, "runs", "--checkpoint", db, "--job", "test", "--json")
		require.Equal(t, 0, res.code, res.stderr)
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		require.Len(t, lines, 3, "one line per run")
		var newest runReport
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &newest))
		require.Equal(t, "run", newest.Command)
		require.EqualValues(t, 10, newest.Counts.Updated)
		require.EqualValues(t, n-10, newest.Counts.Skipped)
		require.Equal(t, 0, *newest.ExitCode)
		text := runMain(t, "runs", "--checkpoint", db, "--job", "test")
		require.Contains(t, text.stdout, "RUN  COMMAND")
	}()
	sim.Reset()
	res = runMain(t, runArgs(url, csvPath, db)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, 0, sim.Stats().Total)
	require.Contains(t, res.stdout, "skipped        10000")
	require.Equal(t, false, logLine(t, res.stderr, "run started")["new_job"])

	// Ten changed users cost exactly ten calls.
	changed := rewriteRows(t, csvPath, 10, "-v2")
	sim.Reset()
	res = runMain(t, runArgs(url, csvPath, db)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, 10, sim.Stats().Total)
	for _, i := range changed {
		got, _ := sim.User(sample.ObjectID(i))
		require.Equal(t, sample.Row(i, "-v2")[5], got.User.Datas["name"].Value)
	}
}

// rewriteRows gives every n/count-th user of a sample export a new name and returns them.
func rewriteRows(t *testing.T, path string, count int, variant string) []int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	var changed []int
	step := (len(rows) - 1) / count
	for k := 0; k < count; k++ {
		i := 1 + k*step
		rows[i] = sample.Row(i, variant)
		changed = append(changed, i)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(t, w.WriteAll(rows))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return changed
}

func TestRunRecordsInvalidRowsAndSendsTheRest(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	for i := 1; i <= 4; i++ {
		require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: fmt.Sprintf("d%d", i)}}))
	}
	body := strings.Join([]string{
		"key,objectId,ids.email,datas.name,datas.birthday,assertions.terms",
		"k1,d1,ana@example.com,Ana,22/10/1974,true",        // line 2: good
		"k2,d2,not-an-email,Bea,01/01/1990,true",           // line 3: bad email
		"k3,d3,carl@example.com,Carl,31/02/2000,true",      // line 4: impossible date
		"k4,d4,dora@example.com,Dora,02/02/1980,perhaps",   // line 5: bad boolean
		"k1,d1,ana2@example.com,Ana,22/10/1974,true",       // line 6: repeated key
		",d2,eve@example.com,Eve,03/03/1983,true",          // line 7: empty key
		"k5,d2,fay\"quote@example.com,Fay,04/04/1984,true", // line 8: a bare quote
		"k6,d3,gil@example.com,Gil",                        // line 9: too few fields
		"k7,d4,hal@example.com,Hal,05/05/1985,yes",         // line 10: good
	}, "\n") + "\n"
	require.NoError(t, os.WriteFile(csvPath, []byte(body), 0o600))
	db := filepath.Join(dir, "cp.db")

	res := runMain(t, runArgs(url, csvPath, db)...)
	require.Equal(t, 1, res.code, res.stderr)
	require.EqualValues(t, 2, sim.Stats().Total, "only the two good rows are sent")

	st := openCheckpoint(t, db)
	updated := rowsOf(t, st, "updated")
	require.Len(t, updated, 2)
	require.Contains(t, updated, "k1")
	require.Contains(t, updated, "k7")
	invalid := rowsOf(t, st, "invalid")
	wants := map[string][]string{
		"k2":      {"line 3", "ids.email"},
		"k3":      {"line 4", "datas.birthday"},
		"k4":      {"line 5", "assertions.terms"},
		"#line 6": {"line 6", "key"},
		"#line 7": {"line 7", "key"},
		"#line 8": {"line 8"},
		"#line 9": {"line 9"},
	}
	require.Len(t, invalid, len(wants), "%v", invalid)
	for key, parts := range wants {
		row, ok := invalid[key]
		require.True(t, ok, "no invalid row for %s: %v", key, invalid)
		require.Equal(t, 0, row.StatusCode)
		for _, p := range parts {
			require.Contains(t, row.Error, p, key)
		}
	}
	// The good user k1 was sent with its first row's data, not the repeat's.
	got, _ := sim.User("d1")
	require.Equal(t, "ana@example.com", got.User.IDs["email"].Value)
}

// scriptedDRUID answers each user with the status code its objectId names ("code-416"), with
// DRUID's envelope and a field error.
func scriptedDRUID(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req sink.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		code, _ := strconv.Atoi(strings.TrimPrefix(req.Object.ObjectID, "code-"))
		if code == http.StatusNotModified {
			w.WriteHeader(code)
			return
		}
		env := sink.Response{Result: sink.Result{Status: code}}
		if code >= 400 || code == http.StatusPartialContent {
			env.Result.Errors = []sink.FieldError{{Message: "field" + strconv.Itoa(code), Details: "detail of " + strconv.Itoa(code)}}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(env)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestEveryStatusCodeEndsInItsOutcome(t *testing.T) {
	table := map[int]string{
		200: "updated", 206: "partial", 304: "unchanged",
		400: "rejected", 401: "failed", 403: "rejected", 404: "rejected", 416: "rejected", 428: "rejected",
		429: "failed", 500: "failed", 502: "failed", 503: "failed", 504: "failed",
	}
	url := scriptedDRUID(t)
	var b strings.Builder
	b.WriteString("key,objectId,ids.email,datas.name,assertions.terms\n")
	// The first user is the run's probe: one DRUID updates, as any first user of a working run.
	codes := slices.Sorted(maps.Keys(table))
	for _, code := range codes {
		fmt.Fprintf(&b, "u%d,code-%d,u%d@example.com,N,true\n", code, code, code)
	}
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(b.String()), 0o600))
	db := filepath.Join(dir, "cp.db")

	res := runMain(t, runArgs(url, csvPath, db, "--retries", "1")...)
	require.Equal(t, 1, res.code, res.stderr)

	st := openCheckpoint(t, db)
	all := rowsOf(t, st, "updated", "partial", "unchanged", "invalid", "rejected", "failed")
	require.Len(t, all, len(table))
	for code, outcome := range table {
		row := all[fmt.Sprintf("u%d", code)]
		require.Equal(t, outcome, row.Outcome, "status %d", code)
		require.Equal(t, code, row.StatusCode, "status %d", code)
		if code >= 400 && code != 401 || code == 206 {
			require.Contains(t, row.Error, fmt.Sprintf("field%d", code), "status %d keeps DRUID's field errors", code)
		}
		if outcome == "failed" && code != 401 {
			require.Equal(t, 2, row.Attempts, "status %d is retried", code)
		}
	}

	// status --json counts them per outcome and code.
	res = runMain(t, "status", "--checkpoint", db, "--job", "test", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	require.EqualValues(t, len(table), rep.Users)
	require.EqualValues(t, 6, rep.Outcomes["failed"])
	require.EqualValues(t, 5, rep.Outcomes["rejected"])
	require.EqualValues(t, 1, rep.Codes["416"])

	// failures --format csv and json list the failed and rejected users with DRUID's errors.
	res = runMain(t, "failures", "--checkpoint", db, "--job", "test", "--format", "csv")
	require.Equal(t, 0, res.code, res.stderr)
	records, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"key", "status_code", "outcome", "error"}, records[0])
	require.Len(t, records, 1+11)
	found := false
	for _, r := range records[1:] {
		if r[0] == "u416" {
			found = true
			require.Equal(t, []string{"u416", "416", "rejected"}, r[:3])
			require.Contains(t, r[3], "field416")
		}
	}
	require.True(t, found)

	res = runMain(t, "failures", "--checkpoint", db, "--job", "test", "--format", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var fails []failureReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &fails))
	require.Len(t, fails, 11)
	for _, f := range fails {
		require.Equal(t, table[f.StatusCode], f.Outcome, f.Key)
	}
}

func TestDryRunPrintsMaskedPayloadsAndCallsNothing(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	body := "key,objectId,password,ids.email,datas.name,assertions.terms\n" +
		"k1,d1,Hunter2-Secret,ana@example.com,Ana,true\n" +
		"k2,d2,,bad-email,Bea,true\n" +
		"k3,d3,Other-Pass-77,carl@example.com,Carl,false\n"
	require.NoError(t, os.WriteFile(csvPath, []byte(body), 0o600))

	res := runMain(t, "--log-format", "json", "dry-run", "--source", csvPath, "--app-id", "app-1")
	require.Equal(t, 1, res.code, "an invalid record makes the dry run exit 1")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		var req sink.Request
		require.NoError(t, json.Unmarshal([]byte(l), &req))
		require.Equal(t, "********", req.Object.Password)
		require.Equal(t, "update", req.Verb)
		require.Equal(t, "app-1", req.Actor.ID)
	}
	for _, secret := range []string{"Hunter2-Secret", "Other-Pass-77"} {
		require.NotContains(t, res.stdout+res.stderr, secret)
	}
	require.Contains(t, res.stderr, "line 3")
}

func TestSecretsNeverLeak(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	passwords := []string{"Pw-Alpha-91x", "Pw-Bravo-72y", "Pw-Charlie-53z", "Pw-Delta-34w"}
	userToken := "per-user-tok-8842"
	require.NoError(t, sim.Seed(
		druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: "d1"}},
		druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: "d2"}, Flags: []string{"blocked"}},
		druidsim.Seed{User: sink.User{ObjectType: "user", ObjectID: "d3"}},
	))
	body := "key,objectId,password,ids.email,datas.name,datas.birthday,assertions.terms,token\n" +
		"k1,d1," + passwords[0] + ",ana@example.com,Ana,01/01/1990,true,\n" +
		"k2,d2," + passwords[1] + ",bea@example.com,Bea,01/01/1990,true,\n" + // 403
		"k3,d3," + passwords[2] + ",carl@example.com,Carl,31/02/2000,true,\n" + // invalid locally
		"k4,d9," + passwords[3] + ",dora@example.com,Dora,01/01/1990,true," + userToken + "\n" // 401: unknown per-user token
	require.NoError(t, os.WriteFile(csvPath, []byte(body), 0o600))
	db := filepath.Join(dir, "cp.db")

	run := runMain(t, append([]string{"--log-level", "debug"}, runArgs(url, csvPath, db, "--retries", "0")[0:]...)...)
	require.Equal(t, 1, run.code, run.stderr)
	require.Contains(t, run.stderr, `"level":"debug"`, "the test must see debug logs")
	status := runMain(t, "status", "--checkpoint", db, "--job", "test", "--json")
	failCSV := runMain(t, "failures", "--checkpoint", db, "--job", "test")
	failJSON := runMain(t, "failures", "--checkpoint", db, "--job", "test", "--format", "json")
	require.Contains(t, failCSV.stdout, "k2")

	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if b, err := os.ReadFile(db + suffix); err == nil {
			files = append(files, b...)
		}
	}
	require.NotEmpty(t, files)
	everything := map[string]string{
		"run output":       run.stdout + run.stderr,
		"status":           status.stdout + status.stderr,
		"failures csv":     failCSV.stdout + failCSV.stderr,
		"failures json":    failJSON.stdout + failJSON.stderr,
		"checkpoint files": string(files),
	}
	for where, text := range everything {
		for _, secret := range append([]string{testToken, userToken}, passwords...) {
			require.NotContains(t, text, secret, "a secret reached the %s", where)
		}
	}
}

func TestConfigurationErrorsExitTwoNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("key,ids.email,datas.name,assertions.terms\nk1,a@example.com,A,true\n"), 0o600))
	badMapping := filepath.Join(dir, "m.yaml")
	require.NoError(t, os.WriteFile(badMapping, []byte("columns:\n  key: ids.email\n  ids.email: ids.email\n"), 0o600))
	db := filepath.Join(dir, "cp.db")
	base := func(extra ...string) []string {
		args := []string{"run", "--source", csvPath, "--endpoint", "http://127.0.0.1:1", "--token", testToken,
			"--entry-point", testEntryPoint, "--app-id", "app-1", "--checkpoint", db}
		return append(args, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"run", "--endpoint", "http://127.0.0.1:1", "--token", "x", "--entry-point", "e"}, "--source"},
		{"missing file", base("--source", filepath.Join(dir, "nope.csv")), "nope.csv"},
		{"bad mapping", base("--mapping", badMapping), "ids.email"},
		{"no endpoint", []string{"run", "--source", csvPath, "--token", "x", "--entry-point", "e", "--app-id", "a", "--checkpoint", db}, "--endpoint"},
		{"no token", []string{"run", "--source", csvPath, "--endpoint", "http://127.0.0.1:1", "--entry-point", "e", "--app-id", "a", "--checkpoint", db}, "--token"},
		{"no app id", []string{"run", "--source", csvPath, "--endpoint", "http://127.0.0.1:1", "--entry-point", "e", "--token", "x", "--checkpoint", db}, "--app-id"},
		{"bad rate", base("--rate", "-1"), "--rate"},
		{"bad delimiter", base("--delimiter", ";;"), "--delimiter"},
		{"unreachable checkpoint", base("--checkpoint", "postgres://u:hunter2pw@127.0.0.1:1/db?connect_timeout=2"), "--checkpoint"},
		{"unknown flag", base("--no-such-flag"), "no-such-flag"},
		{"since column of a file", base("--since-column", "updated_at"), "--since-column"},
		{"query of a file", base("--query", "SELECT 1"), "--query"},
		{"postgres source without query", base("--source", "postgres://u@127.0.0.1:1/db"), "--query"},
		{"retry outcome", append([]string{"retry"}, base("--outcome", "updated")[1:]...), "--outcome"},
		{"retry codes", append([]string{"retry"}, base("--codes", "41x")[1:]...), "--codes"},
		{"schema of a file checkpoint", base("--checkpoint-schema", "ops"), "--checkpoint-schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, tc.args...)
			require.Equal(t, 2, res.code, res.stderr)
			require.Contains(t, res.stderr, tc.want)
			require.NotContains(t, res.stderr, "hunter2pw")
		})
	}
}

func TestReportsOfAnUnknownJobExitTwo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cp.db")
	for _, args := range [][]string{
		{"status", "--checkpoint", db, "--job", "nope"},
		{"failures", "--checkpoint", db, "--job", "nope"},
	} {
		res := runMain(t, args...)
		require.Equal(t, 2, res.code, res.stderr)
		require.Contains(t, res.stderr, `--job: the checkpoint holds no job "nope"`)
	}
}

func TestSettingsComeFromTheEnvironment(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	csvPath, _ := writeSample(t, sim, sample.Options{Users: 50})
	db := filepath.Join(t.TempDir(), "cp.db")
	for k, v := range map[string]string{
		"DRUID_SOURCE": csvPath, "DRUID_ENDPOINT": url, "DRUID_TOKEN": testToken, "DRUID_APP_ID": "app-env",
		"DRUID_ENTRY_POINT": testEntryPoint, "DRUID_CHECKPOINT": db, "DRUID_JOB": "nightly",
		"DRUID_RATE": "0", "DRUID_CONCURRENCY": "4", "DRUID_LOG_FORMAT": "json", "DRUID_LOG_LEVEL": "warn",
	} {
		t.Setenv(k, v)
	}
	res := runMain(t, "run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stderr, "at warn level a clean run logs nothing")
	require.EqualValues(t, 50, sim.Stats().Total)

	res = runMain(t, "status", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep))
	require.Equal(t, "nightly", rep.Job)
	require.EqualValues(t, 50, rep.Outcomes["updated"])
}

func TestSummaryJSONForSchedulers(t *testing.T) {
	sim, url := startSim(t, druidsim.Config{})
	csvPath, tr := writeSample(t, sim, sample.Options{Users: 100, Invalid: true, Rejected: true})
	dir := t.TempDir()
	out := filepath.Join(dir, "summary.json")

	res := runMain(t, runArgs(url, csvPath, filepath.Join(dir, "cp.db"), "--summary-json", out)...)
	require.Equal(t, 1, res.code, res.stderr)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep job.SummaryReport
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, "test", rep.Job)
	require.Equal(t, "run", rep.Command)
	require.Equal(t, 1, rep.ExitCode)
	require.EqualValues(t, 100+len(tr.InvalidLines), rep.Counts.Read)
	require.EqualValues(t, len(tr.InvalidLines), rep.Counts.Invalid)
	require.EqualValues(t, len(tr.RejectedKeys), rep.Counts.Rejected)
	require.EqualValues(t, 100-len(tr.RejectedKeys), rep.StatusCodes["200"])
	require.EqualValues(t, 100, rep.Requests)
}
