package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/druidsim"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/**/*.golden.json from the payloads received now")

// hubspotHeader is a HubSpot contacts export's header, as the export writes it.
var hubspotHeader = []string{
	"Record ID", "First Name", "Last Name", "Email", "Phone Number", "Date of Birth", "Country/Region",
	"Marketing contact status", "DRUID Id",
}

// hubspotRows are the contacts: what such an export holds, the awkward parts included.
var hubspotRows = [][]string{
	{"101", "José", "Núñez", " Jose.Nunez@Example.COM ", "+34 600 123 456", "1985-03-07", "Spain", "Marketing contact", "d-101"},
	{"102", "Ana", "Smith", "ANA.SMITH@Example.com", "(416) 680-6155", "03/25/1990", "United States", "Non-marketing contact", "d-102"},
	{"103", "Oliver", "Brown", "oliver.brown@example.co.uk ", "0044 20 7946 0958", "12/31/1979", "United Kingdom", "Marketing contact", "d-103"},
	{"104", "Émilie", "Dubois", "", "(212) 555-0100", "1992-11-05", "United States", "Marketing contact", "d-104"}, // line 5: no email
	{"105", "Zoë", "O'Brien, Jr.", " Zoe.OBrien@Example.org", "020 7946 0958", "", "United Kingdom", "Non-marketing contact", "d-105"},
	{"102", "Ana", "Smith", "ana.smith@example.com", "(416) 680-6155", "03/25/1990", "United States", "Marketing contact", "d-102"}, // line 7: repeated
	{"106", "Chris", "Lee", "chris.lee@example.com", "(555) 123-4567", "04/01/1988", "United States", "Marketing contact", "d-106"}, // line 8: no such US number
	{"107", "Lucía", "Fernández García", "LUCIA.FERNANDEZ@example.es", "600 987 654", "07/03/1985", "Spain", "Non-marketing contact", "d-107"},
	{"108", "Mark", "Davis", "Mark.Davis@Example.com", "(650) 253-0000", "1975-06-15", "US", "Marketing contact", "d-108"},
	{"109", "Siobhán", "Kelly", "siobhan.kelly@example.ie", "", "1991-02-28", "Ireland", "Non-marketing contact", "d-109"},
}

// writeHubspotExport writes rows under hubspotHeader as the export does: CRLF line ends,
// quoting where a value needs it.
func writeHubspotExport(t *testing.T, header []string, rows [][]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	require.NoError(t, w.Write(header))
	require.NoError(t, w.WriteAll(rows))
	path := filepath.Join(t.TempDir(), "hubspot-contacts.csv")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

// bodyRecorder keeps the body of every update call that reaches the simulator behind it.
type bodyRecorder struct {
	next   http.Handler
	mu     sync.Mutex
	bodies [][]byte
}

func (r *bodyRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/activityid/v1/user/update" {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.next.ServeHTTP(w, req)
}

// received returns the bodies received, decoded, by objectId.
func (r *bodyRecorder) received(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]json.RawMessage{}
	for _, b := range r.bodies {
		var req struct {
			Object struct {
				ObjectID string `json:"objectId"`
			} `json:"object"`
		}
		require.NoError(t, json.Unmarshal(b, &req))
		_, dup := out[req.Object.ObjectID]
		require.False(t, dup, "%s sent twice", req.Object.ObjectID)
		out[req.Object.ObjectID] = b
	}
	return out
}

// startRecordedSim serves a simulator that makes unknown users exist, behind a bodyRecorder.
func startRecordedSim(t *testing.T) (*druidsim.Server, *bodyRecorder, string) {
	t.Helper()
	sim := druidsim.New(druidsim.Config{Tokens: []string{testToken}, Autocreate: true})
	rec := &bodyRecorder{next: sim}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return sim, rec, srv.URL
}

// TestHubspotExportMigrates migrates a HubSpot-style contacts export with the mapping README
// documents: emails trimmed and lowered, phones in each row's country to E.164, ISO and US
// birthdays, countries to codes, marketing status to an assertion. The payloads DRUID received
// are pinned as golden JSON (go test ./cli -run Hubspot -update rewrites it); the contacts with
// no email, a repeated Record ID or a number no US range holds are invalid and never sent.
func TestHubspotExportMigrates(t *testing.T) {
	sim, rec, url := startRecordedSim(t)
	csvPath := writeHubspotExport(t, hubspotHeader, hubspotRows)
	mappingPath := filepath.Join("testdata", "hubspot", "mapping.yaml")
	checkpointPath := filepath.Join(t.TempDir(), "cp.db")

	res := runMain(t, runArgs(url, csvPath, checkpointPath, "--mapping", mappingPath)...)
	require.Equal(t, 1, res.code, "some contacts are invalid: %s", res.stderr)

	got := rec.received(t)
	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	require.Equal(t, []string{"d-101", "d-102", "d-103", "d-105", "d-107", "d-108", "d-109"}, ids)

	var pretty bytes.Buffer
	pretty.WriteString("[\n")
	for i, id := range ids {
		var one bytes.Buffer
		require.NoError(t, json.Indent(&one, got[id], "  ", "  "))
		pretty.WriteString("  ")
		pretty.Write(one.Bytes())
		if i < len(ids)-1 {
			pretty.WriteString(",")
		}
		pretty.WriteString("\n")
	}
	pretty.WriteString("]\n")
	golden := filepath.Join("testdata", "hubspot", "payloads.golden.json")
	if *updateGolden {
		require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./cli -run Hubspot -update to create it")
	require.Equal(t, string(want), pretty.String())

	// What the golden file holds, said outright for the cases the mapping exists for.
	user := func(id string) map[string]string {
		u, ok := sim.User(id)
		require.True(t, ok, id)
		out := map[string]string{}
		for name, v := range u.User.IDs {
			out["ids."+name] = v.Value
		}
		for name, v := range u.User.Datas {
			out["datas."+name] = v.Value
		}
		return out
	}
	require.Equal(t, map[string]string{
		"ids.email": "ana.smith@example.com", "ids.phone_number": "+14166806155",
		"datas.name": "Ana", "datas.surname": "Smith", "datas.birthday": "25/03/1990", "datas.country": "US",
	}, user("d-102"), "a Toronto number in a US row, a US birthday")
	require.Equal(t, "+34600123456", user("d-101")["ids.phone_number"])
	require.Equal(t, "jose.nunez@example.com", user("d-101")["ids.email"])
	require.Equal(t, "07/03/1985", user("d-101")["datas.birthday"])
	require.Equal(t, "+442079460958", user("d-103")["ids.phone_number"], "00 is an international prefix")
	require.Equal(t, "+442079460958", user("d-105")["ids.phone_number"], "a national number in a UK row")
	require.Equal(t, "03/07/1985", user("d-107")["datas.birthday"])
	require.Equal(t, "O'Brien, Jr.", user("d-105")["datas.surname"])
	require.NotContains(t, user("d-109"), "ids.phone_number", "an empty phone is no phone")
	for _, id := range ids {
		require.NotEmpty(t, user(id)["ids.email"], "%s: no user is sent without an email", id)
	}
	for _, id := range []string{"d-104", "d-106"} {
		u, ok := sim.User(id)
		require.False(t, ok && u.Calls > 0, "%s is never sent", id)
	}

	failures := failuresOf(t, checkpointPath)
	require.Equal(t, "invalid", failures["104"].Outcome)
	require.Equal(t, `line 5 (key "104"): ids.email (column "Email"): no value, and the column is required: `+
		`sent without it, the field would be removed in DRUID`, failures["104"].Error)
	require.Equal(t, "invalid", failures["106"].Outcome)
	require.Equal(t, `line 8 (key "106"): ids.phone_number (column "Phone Number"): `+
		`"(555) 123-4567" is not a valid phone number in region US`, failures["106"].Error)
	require.Contains(t, res.stdout+res.stderr, `repeats the key`, "the repeated Record ID is reported")
}

// TestHubspotMappingIsREADMEs: the mapping the end-to-end test runs is the one README shows.
func TestHubspotMappingIsREADMEs(t *testing.T) {
	mapping, err := os.ReadFile(filepath.Join("testdata", "hubspot", "mapping.yaml"))
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	require.Contains(t, string(readme), "```yaml\n"+string(mapping)+"```\n")
}

// TestMappingGuards: a misspelt target stops the run before anything is read or sent; a
// declared custom data is sent; an empty required column makes its record invalid.
func TestMappingGuards(t *testing.T) {
	header := []string{"Record ID", "DRUID Id", "Email", "First Name", "Loyalty Tier", "Terms"}
	rows := [][]string{
		{"1", "d-1", "ana@example.com", "Ana", "gold", "yes"},
		{"2", "d-2", "bea@example.com", "", "silver", "yes"}, // line 3: no name
		{"3", "d-3", "carl@example.com", "Carl", "", "yes"},
	}
	base := "key: Record ID\ncolumns:\n  DRUID Id: objectId\n  Terms: assertions.terms\n"
	tests := []struct {
		name    string
		mapping string
		code    int
		sent    []string
		stderr  []string // substrings of stderr
		failure map[string]string
	}{
		{
			name: "a misspelt target", code: 2,
			mapping: base + "  Email: {to: ids.emial, trim: true}\n  First Name: datas.name\n",
			stderr:  []string{`column "Email": ids.emial is not a documented DRUID id; did you mean ids.email? declare custom names under custom:`},
		},
		{
			name: "an undeclared custom data", code: 2,
			mapping: base + "  Email: ids.email\n  First Name: datas.name\n  Loyalty Tier: datas.loyalty_tier\n",
			stderr:  []string{`column "Loyalty Tier": datas.loyalty_tier is not a documented DRUID data`, "custom:"},
		},
		{
			name: "a declared custom data", code: 0, sent: []string{"d-1", "d-2", "d-3"},
			mapping: base + "  Email: ids.email\n  First Name: datas.name\n  Loyalty Tier: datas.loyalty_tier\ncustom: [datas.loyalty_tier]\n",
		},
		{
			name: "an empty required column", code: 1, sent: []string{"d-1", "d-3"},
			mapping: base + "  Email: ids.email\n  First Name: {to: datas.name, required: true}\n  Loyalty Tier: datas.loyalty_tier\ncustom: [datas.loyalty_tier]\n",
			failure: map[string]string{"2": `line 3 (key "2"): datas.name (column "First Name"): no value, and the column is required`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, rec, url := startRecordedSim(t)
			csvPath := writeHubspotExport(t, header, rows)
			mappingPath := filepath.Join(t.TempDir(), "mapping.yaml")
			require.NoError(t, os.WriteFile(mappingPath, []byte(tt.mapping), 0o600))
			checkpointPath := filepath.Join(t.TempDir(), "cp.db")

			res := runMain(t, runArgs(url, csvPath, checkpointPath, "--mapping", mappingPath)...)
			require.Equal(t, tt.code, res.code, res.stderr)
			for _, s := range tt.stderr {
				require.Contains(t, res.stderr, s)
			}
			var sent []string
			for id := range rec.received(t) {
				sent = append(sent, id)
			}
			sort.Strings(sent)
			require.Equal(t, tt.sent, sent)
			if tt.code == 2 {
				require.Zero(t, sim.Stats().Total, "nothing is called")
				require.NotContains(t, res.stderr, "run started", "nothing is read")
				return
			}
			u, _ := sim.User("d-1")
			require.Equal(t, "gold", u.User.Datas["loyalty_tier"].Value, "the custom data is sent")
			if tt.failure != nil {
				failures := failuresOf(t, checkpointPath)
				for key, want := range tt.failure {
					require.Equal(t, "invalid", failures[key].Outcome)
					require.Contains(t, failures[key].Error, want)
				}
			}
		})
	}
}

// TestObjectIDIsRequiredWithAnAdministrativeToken: a static token, a token file or the app's
// challenge-code tokens do not name the user; a mapping without objectId would cost a refused
// call per user. run exits 2 before any call, and dry-run given the same flags does too.
func TestObjectIDIsRequiredWithAnAdministrativeToken(t *testing.T) {
	header := []string{"Record ID", "Email", "First Name", "Terms"}
	rows := [][]string{{"1", "ana@example.com", "Ana", "yes"}, {"2", "bea@example.com", "Bea", "yes"}}
	mapping := "key: Record ID\ncolumns:\n  Email: ids.email\n  First Name: datas.name\n  Terms: assertions.terms\n"
	sim, _, url := startRecordedSim(t)
	csvPath := writeHubspotExport(t, header, rows)
	mappingPath := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(mappingPath, []byte(mapping), 0o600))
	args := runArgs(url, csvPath, filepath.Join(t.TempDir(), "cp.db"), "--mapping", mappingPath)
	for _, verb := range []string{"run", "dry-run"} {
		res := runMain(t, swapVerb(args, verb)...)
		require.Equal(t, 2, res.code, "%s: %s", verb, res.stderr)
		require.Contains(t, res.stderr, "objectId")
		require.Contains(t, res.stderr, "--token")
		require.Zero(t, sim.Stats().Total, "%s: no call", verb)
	}
	// Without a token on the command line, dry-run cannot know the run's: it shows the payloads.
	res := runMain(t, "dry-run", "--source", csvPath, "--mapping", mappingPath, "--app-id", "a")
	require.Equal(t, 0, res.code, res.stderr)
}
