package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
	"druid-migrate/sink"
)

// guardedDRUID holds users with more than the source has: a surname, an opt-in and, with
// phone, a confirmed phone number.
func guardedDRUID(t *testing.T, phone bool) (*druidsim.Server, string, string) {
	t.Helper()
	yes := true
	sim, url := startSim(t, druidsim.Config{ClientID: "reader", ClientSecret: "reader-Secret-31"})
	for _, id := range []string{"d1", "d2"} {
		ids := map[string]sink.ID{"email": {ObjectType: "user_id", Value: id + "@example.com", Confirmed: &yes}}
		if phone {
			ids["phone_number"] = sink.ID{ObjectType: "user_id", Value: "+34600000001", Confirmed: &yes}
		}
		require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{
			ObjectType: "user", ObjectID: id,
			IDs:   ids,
			Datas: map[string]sink.Data{"name": {ObjectType: "user_data", Value: "Ana"}, "surname": {ObjectType: "user_data", Value: "García"}},
			Assertions: &sink.Assertions{ObjectType: "assertions", TotalItems: 2, Items: []sink.Assertion{
				{ObjectType: "assertion", Type: "optin", Typology: "user", Value: true},
				{ObjectType: "assertion", Type: "terms", Typology: "user", Value: true},
			}},
		}}))
	}
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("key,objectId,ids.email,ids.email.confirmed,datas.name,assertions.terms\n"+
		"k1,d1,d1@example.com,true,Ana María,true\n"+
		"k2,d2,d2@example.com,true,Ana Belén,true\n"), 0o600))
	return sim, url, csvPath
}

func guardArgs(url, csvPath, db string, extra ...string) []string {
	return runArgs(url, csvPath, db, append([]string{"--client-id", "reader", "--client-secret", "reader-Secret-31"}, extra...)...)
}

func TestGuardsRefuseRemovalsUnlessAllowed(t *testing.T) {
	sim, url, csvPath := guardedDRUID(t, true)
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, guardArgs(url, csvPath, db)...)
	require.Equal(t, 1, res.code, res.stderr)
	st := openCheckpoint(t, db)
	invalid := rowsOf(t, st, "invalid")
	require.Len(t, invalid, 2)
	require.Contains(t, invalid["k1"].Error, "guard")
	require.Contains(t, invalid["k1"].Error, "ids.phone_number")
	for _, id := range []string{"d1", "d2"} {
		u, _ := sim.User(id)
		require.Zero(t, u.Calls, "a guarded user is not sent")
		require.Equal(t, "García", u.User.Datas["surname"].Value)
	}

	res = runMain(t, guardArgs(url, csvPath, db, "--allow-removals")...)
	require.Equal(t, 0, res.code, res.stderr)
	u, _ := sim.User("d1")
	require.NotContains(t, u.User.IDs, "phone_number", "--allow-removals sends the replacement")
	require.NotContains(t, u.User.Datas, "surname")
}

func TestMaxRemovals(t *testing.T) {
	sim, url, csvPath := guardedDRUID(t, false)
	// The replacement removes the surname and the opt-in: two fields.
	db := filepath.Join(t.TempDir(), "cp.db")
	res := runMain(t, guardArgs(url, csvPath, db, "--max-removals", "1")...)
	require.Equal(t, 1, res.code, res.stderr)
	invalid := rowsOf(t, openCheckpoint(t, db), "invalid")
	require.Contains(t, invalid["k1"].Error, "--max-removals 1")
	require.Contains(t, invalid["k1"].Error, "datas.surname")
	u, _ := sim.User("d1")
	require.Zero(t, u.Calls)
}

func TestMergeKeepsWhatTheSourceLacks(t *testing.T) {
	sim, url, csvPath := guardedDRUID(t, true)
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, guardArgs(url, csvPath, db, "--merge")...)
	require.Equal(t, 0, res.code, res.stderr)
	u, _ := sim.User("d1")
	require.Equal(t, "Ana María", u.User.Datas["name"].Value, "the source's fields are sent")
	require.Equal(t, "García", u.User.Datas["surname"].Value, "fields the source lacks are kept")
	require.Equal(t, "+34600000001", u.User.IDs["phone_number"].Value)
	require.True(t, *u.User.IDs["phone_number"].Confirmed)
	require.Len(t, u.User.Assertions.Items, 2)
}

func TestBackupThenRollbackRestoresEveryUser(t *testing.T) {
	sim, url, csvPath := guardedDRUID(t, true)
	before := map[string]druidsim.Stored{}
	for _, u := range sim.Users() {
		before[u.User.ObjectID] = u
	}
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, guardArgs(url, csvPath, db, "--backup", "--allow-removals")...)
	require.Equal(t, 0, res.code, res.stderr)
	u, _ := sim.User("d1")
	require.NotContains(t, u.User.Datas, "surname", "the run replaced the users")

	rollback := func(extra ...string) cliResult {
		args := []string{"--log-format", "json", "rollback", "--job", "test", "--run", "1",
			"--endpoint", url, "--token", testToken, "--app-id", "app-1", "--entry-point", testEntryPoint,
			"--checkpoint", db, "--rate", "0"}
		return runMain(t, append(args, extra...)...)
	}
	// A rollback stopped after one user resumes where it stopped.
	res = rollback("--limit", "1")
	require.Equal(t, 0, res.code, res.stderr)
	sim.Reset()
	res = rollback()
	require.Equal(t, 0, res.code, res.stderr)
	require.EqualValues(t, 1, sim.Stats().Total, "the resumed rollback sends only the user not yet restored")

	for id, want := range before {
		got, _ := sim.User(id)
		require.Equal(t, want.User, got.User, "user %s restored field by field", id)
	}
	runs := runMain(t, "runs", "--checkpoint", db, "--job", "test:rollback:1")
	require.Equal(t, 0, runs.code, runs.stderr)
	require.Contains(t, runs.stdout, "rollback")

	res = runMain(t, "--log-format", "json", "rollback", "--job", "test", "--run", "9",
		"--endpoint", url, "--token", testToken, "--app-id", "app-1", "--entry-point", testEntryPoint, "--checkpoint", db)
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--run 9")
}

func TestMergeRemovesWhatTheSourceExplicitlyEmpties(t *testing.T) {
	sim, url, _ := guardedDRUID(t, true)
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("key,objectId,ids.email,datas.name,datas.surname,assertions.terms\n"+
		"k1,d1,d1@example.com,Ana María,<empty>,true\n"), 0o600))
	db := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, guardArgs(url, csvPath, db, "--merge")...)
	require.Equal(t, 0, res.code, res.stderr)
	u, _ := sim.User("d1")
	require.NotContains(t, u.User.Datas, "surname", "an explicit <empty> removes the field in merge mode")
	require.Equal(t, "+34600000001", u.User.IDs["phone_number"].Value, "what the source lacks is kept")
}
