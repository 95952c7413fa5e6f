package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/diff"
	"druid-migrate/druidsim"
	"druid-migrate/job"
	"druid-migrate/sink"
)

func TestDryRunDiffReportsTheRemovalsAndSendsNothing(t *testing.T) {
	yes := true
	sim, url := startSim(t, druidsim.Config{ClientID: "reader", ClientSecret: "reader-Secret-31"})
	require.NoError(t, sim.Seed(druidsim.Seed{User: sink.User{
		ObjectType: "user", ObjectID: "d1",
		IDs: map[string]sink.ID{
			"email":        {ObjectType: "user_id", Value: "ana@example.com", Confirmed: &yes},
			"phone_number": {ObjectType: "user_id", Value: "+34600000001", Confirmed: &yes},
		},
		Datas: map[string]sink.Data{
			"name":    {ObjectType: "user_data", Value: "Ana"},
			"surname": {ObjectType: "user_data", Value: "García"},
		},
		Assertions: &sink.Assertions{ObjectType: "assertions", TotalItems: 2, Items: []sink.Assertion{
			{ObjectType: "assertion", Type: "optin", Typology: "user", Value: true},
			{ObjectType: "assertion", Type: "terms", Typology: "user", Value: true},
		}},
	}}))
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	// The source holds the email, a new name and the terms: not the phone, surname or opt-in.
	require.NoError(t, os.WriteFile(csvPath, []byte("key,objectId,ids.email,ids.email.confirmed,datas.name,assertions.terms\n"+
		"k1,d1,ana@example.com,true,Ana María,true\n"), 0o600))

	res := runMain(t, "--log-format", "json", "dry-run", "--diff", "--source", csvPath, "--app-id", "app",
		"--endpoint", url, "--entry-point", testEntryPoint, "--client-id", "reader", "--client-secret", "reader-Secret-31")
	require.Equal(t, 0, res.code, res.stderr)
	var line job.DiffLine
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(res.stdout)), &line))
	require.True(t, line.Found)
	require.Equal(t, []diff.Change{
		{Field: "assertions.optin", Kind: diff.KindRemoved, Old: "true"},
		{Field: "datas.name", Kind: diff.KindChanged, Old: "Ana", New: "Ana María"},
		{Field: "datas.surname", Kind: diff.KindRemoved, Old: "García"},
		{Field: "ids.phone_number", Kind: diff.KindRemoved, Old: "+34600000001"},
		{Field: "ids.phone_number.confirmed", Kind: diff.KindRemoved, Old: "true"},
	}, line.Changes)
	require.Equal(t, 4, line.Removed)

	stats := sim.Stats()
	require.Zero(t, stats.Total-stats.Requests[200], "nothing but reads and a token call")
	u, _ := sim.User("d1")
	require.Zero(t, u.Calls, "no update was sent")
	require.Contains(t, res.stderr, "datas.surname", "the totals table names the fields")
	require.NotContains(t, res.stdout+res.stderr, "reader-Secret-31")
}
