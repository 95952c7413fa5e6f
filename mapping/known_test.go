package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/source"
)

// TestUndeclaredNamesAreRefused: a target id or data that DRUID does not document and the file
// does not declare stops the run at start, wherever it is written, naming the column, the name
// and the nearest known one.
func TestUndeclaredNamesAreRefused(t *testing.T) {
	t.Parallel()
	ok := []string{"key", "ids.email", "datas.name", "assertions.terms"}
	tests := []struct {
		name   string
		f      *File
		header []string
		want   string
	}{
		{"column", &File{Columns: map[string]Column{"Email": {To: "ids.emial"}}}, []string{"key", "Email", "datas.name", "assertions.terms"},
			`column "Email": ids.emial is not a documented DRUID id; did you mean ids.email? declare custom names under custom:`},
		{"data column", &File{Columns: map[string]Column{"Last Name": {To: "datas.surnme"}}}, append(ok, "Last Name"),
			`column "Last Name": datas.surnme is not a documented DRUID data; did you mean datas.surname?`},
		{"case", &File{Columns: map[string]Column{"Mail": {To: "ids.Email"}}}, []string{"key", "Mail", "datas.name", "assertions.terms"},
			`ids.Email is not a documented DRUID id; did you mean ids.email?`},
		{"confirmed flag", &File{Columns: map[string]Column{"Verified": {To: "ids.emial.confirmed"}}}, append(ok, "Verified"),
			`column "Verified": ids.emial.confirmed is not a documented DRUID id; did you mean ids.email.confirmed?`},
		{"id written as a data", &File{Columns: map[string]Column{"Mobile": {To: "datas.phone_number"}}}, append(ok, "Mobile"),
			`datas.phone_number is not a documented DRUID data; did you mean ids.phone_number?`},
		{"constant", &File{Constants: map[string]string{"datas.contry": "ES"}}, ok,
			`constant datas.contry is not a documented DRUID data; did you mean datas.country?`},
		{"header", nil, append(ok, "ids.emial"),
			`column "ids.emial": ids.emial is not a documented DRUID id; did you mean ids.email?`},
		{"header beside a mapping", &File{Key: "key"}, append(ok, "datas.last_name"),
			`column "datas.last_name": datas.last_name is not a documented DRUID data`},
		{"nearest among custom names", &File{Custom: []string{"datas.loyalty_tier"}, Columns: map[string]Column{"Tier": {To: "datas.loyalty_teir"}}},
			append(ok, "Tier"), `did you mean datas.loyalty_tier?`},
		{"custom not an id or data", &File{Custom: []string{"assertions.vip"}}, ok,
			`custom "assertions.vip": only ids.<name> and datas.<name> are declared`},
		{"custom not a path", &File{Custom: []string{"loyalty_tier"}}, ok, `custom "loyalty_tier": not a payload path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(tt.f, tt.header, Options{})
			require.Nil(t, m)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestDeclaredAndKnownNamesPass: every documented name, and a declared custom one in a column,
// a constant or a header, builds.
func TestDeclaredAndKnownNamesPass(t *testing.T) {
	t.Parallel()
	f := &File{
		Custom:    []string{"datas.loyalty_tier", "ids.crm_number", "datas.segment"},
		Columns:   map[string]Column{"Tier": {To: "datas.loyalty_tier"}, "CRM": {To: "ids.crm_number"}},
		Constants: map[string]string{"datas.segment": "retail"},
	}
	header := []string{"key", "Tier", "CRM", "ids.crm_number.confirmed", "assertions.terms"}
	for _, id := range knownIDs {
		header = append(header, "ids."+id)
	}
	for _, d := range knownDatas {
		header = append(header, "datas."+d)
	}
	m := compile(t, f, header, Options{})
	row := []string{"k1", "gold", "C-17", "true", "yes"}
	for range len(knownIDs) + len(knownDatas) {
		row = append(row, "")
	}
	p, err := m.Build(source.Record{Line: 2, Values: row})
	require.NoError(t, err)
	require.Equal(t, "gold", field(t, p, "datas.loyalty_tier"))
	require.Equal(t, "C-17", field(t, p, "ids.crm_number"))
	require.Equal(t, "true", field(t, p, "ids.crm_number.confirmed"))
	require.Equal(t, "retail", field(t, p, "datas.segment"))
}

func TestLoadCustom(t *testing.T) {
	t.Parallel()
	f, err := Load(writeMapping(t, "custom: [datas.loyalty_tier, ids.crm_number]\ncolumns:\n  Tier: datas.loyalty_tier\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"datas.loyalty_tier", "ids.crm_number"}, f.Custom)

	_, err = Load(writeMapping(t, "columns:\n  Tier: datas.loyalty_tier\n"))
	require.ErrorContains(t, err, `column "Tier": datas.loyalty_tier is not a documented DRUID data`)
	require.ErrorContains(t, err, "declare custom names under custom:")
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"email", "email", 0},
		{"emial", "email", 1}, // a transposition is one edit
		{"emal", "email", 1},
		{"emaill", "email", 1},
		{"e-mail", "email", 1},
		{"surnme", "surname", 1},
		{"last_name", "name", 5},
		{"", "abc", 3},
		{"país", "pais", 1},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, editDistance(tt.a, tt.b), "%q %q", tt.a, tt.b)
		require.Equal(t, tt.want, editDistance(tt.b, tt.a), "%q %q", tt.b, tt.a)
	}
}
