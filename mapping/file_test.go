package mapping

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeMapping(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func TestLoad(t *testing.T) {
	t.Parallel()
	f, err := Load("testdata/crm.yaml")
	require.NoError(t, err)
	require.Equal(t, "crm_id", f.Key)
	require.Equal(t, Column{To: "objectId"}, f.Columns["DRUID Id"], "plain string form")
	require.Equal(t, Column{To: "ids.email", Trim: true, Lower: true}, f.Columns["Email Address"], "mapping form")
	require.Equal(t, Column{To: "assertions.optin", Map: map[string]string{"Subscribed": "true", "Unsubscribed": "false", "": "false"}},
		f.Columns["Marketing Status"])
	require.Equal(t, map[string]string{"assertions.terms": "true", "datas.country": "ES", "device": "pc"}, f.Constants)
}

func TestLoadYAMLForms(t *testing.T) {
	t.Parallel()
	path := writeMapping(t, `
columns:
  Mobile: {to: ids.phone_number, phone: +34}
  Status: {to: assertions.optin, map: {yes: true, no: false, 1: 0}}
  DOB:
    to: datas.birthday
    date: MM/DD/YYYY
  Email: {to: ids.email, required: true}
  Since: {to: datas.since, date: [YYYY-MM-DD, "MM/DD/YYYY"]}
custom: [datas.since]
constants:
  assertions.terms: true
`)
	f, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, &Phone{Region: "+34"}, f.Columns["Mobile"].Phone, "scalars are read as written, not as numbers")
	require.Equal(t, map[string]string{"yes": "true", "no": "false", "1": "0"}, f.Columns["Status"].Map)
	require.Equal(t, Column{To: "datas.birthday", Date: []string{"MM/DD/YYYY"}}, f.Columns["DOB"])
	require.Equal(t, Column{To: "ids.email", Required: true}, f.Columns["Email"])
	require.Equal(t, []string{"YYYY-MM-DD", "MM/DD/YYYY"}, f.Columns["Since"].Date, "a list of layouts, in order")
	require.Equal(t, "true", f.Constants["assertions.terms"])
}

// TestLoadScalarsAsWritten: YAML would read these as numbers and change them (leading zeros,
// octal, trailing zeros); a mapping file means the text it shows.
func TestLoadScalarsAsWritten(t *testing.T) {
	t.Parallel()
	path := writeMapping(t, `
key: 007
columns:
  Code: {to: assertions.optin, map: {01: "true", 1: "false", 001: yes}}
  Zip: addresses.home.postalCode
constants:
  addresses.home.country: 034
  datas.zip: 08001
  datas.hex: 0x1F
  datas.ratio: 1.50
  datas.octal: 017
  datas.tagged: !!str 0o17
  datas.bool: true
custom: [datas.zip, datas.hex, datas.ratio, datas.octal, datas.tagged, datas.bool]
`)
	f, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, "007", f.Key)
	require.Equal(t, map[string]string{"01": "true", "1": "false", "001": "yes"}, f.Columns["Code"].Map)
	require.Equal(t, map[string]string{
		"addresses.home.country": "034", "datas.zip": "08001", "datas.hex": "0x1F", "datas.ratio": "1.50",
		"datas.octal": "017", "datas.tagged": "0o17", "datas.bool": "true",
	}, f.Constants)
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "key: id\ncolumn:\n  A: datas.a\n", []string{"line 2", `unknown key "column" at the top level: valid keys are key, columns, constants, custom`}},
		{"unknown column key", "columns:\n  Email: {to: ids.email, lowercase: true}\n",
			[]string{"line 2", `unknown key "lowercase" in column "Email": valid keys are to, trim, lower, map, date, phone, required`}},
		{"unknown column key, block form", "columns:\n  Email:\n    to: ids.email\n    requried: true\n",
			[]string{"line 4", `unknown key "requried" in column "Email": valid keys are`}},
		{"unknown column key, one pair", "columns:\n  Email:\n    too: ids.email\n", []string{"line 3", `unknown key "too" in column "Email"`}},
		{"unknown top-level key, one pair", "colums:\n  Email: ids.email\n", []string{"line 1", `unknown key "colums" at the top level`}},
		{"duplicate key", "columns:\n  A: datas.a\n  A: datas.b\n", []string{"line 3", `"A" already defined`}},
		{"syntax", "columns:\n  A: {to: datas.a\n", []string{"line"}},
		{"column a list", "columns:\n  A: [datas.a]\n", []string{"line 2"}},
		{"column null", "columns:\n  A:\n", []string{`column "A": no target`}},
		{"map value a list", "columns:\n  A: {to: datas.a, map: {x: [1]}}\n", []string{"line 2", "a sequence is not a string"}},
		{"constant a map", "constants:\n  datas.a: {b: c}\n", []string{"line 2", "is not a string"}},
		{"empty map", "columns:\n  A: {to: datas.name, map: {}}\n", []string{`column "A": the map lists nothing`}},
		{"trim not a bool", "columns:\n  A: {to: datas.a, trim: si}\n", []string{"line 2"}},
		{"empty file", "", []string{"is empty"}},
		{"two documents", "key: a\n---\nkey: b\n", []string{"more than one YAML document"}},
		{"no target", "columns:\n  A: {trim: true}\n", []string{`column "A": no target`}},
		{"bad target", "columns:\n  Street: addresses.home.street\n", []string{`column "Street"`, "an address field is one of"}},
		{"bad layout", "columns:\n  DOB: {to: datas.birthday, date: DD-MM-YY}\n", []string{`column "DOB"`, "date layout"}},
		{"bad country code", "columns:\n  M: {to: ids.phone_number, phone: \"+34a\"}\n", []string{`column "M"`, `region "+34a" is neither`}},
		{"date layouts in one string", "columns:\n  DOB: {to: datas.birthday, date: \"YYYY-MM-DD|MM/DD/YYYY\"}\n", []string{`column "DOB"`, "several layouts are written as a list"}},
		{"no date layout", "columns:\n  DOB: {to: datas.birthday, date: []}\n", []string{`column "DOB": no layout`}},
		{"date a mapping", "columns:\n  DOB: {to: datas.birthday, date: {a: b}}\n", []string{"line 2", "is not a string"}},
		{"date and phone", "columns:\n  M: {to: datas.telephone, phone: \"+34\", date: YYYYMMDD}\n", []string{"cannot both be set"}},
		{"map key never matches", "columns:\n  S: {to: assertions.optin, lower: true, map: {Yes: \"true\"}}\n", []string{`map key "Yes" can never match`}},
		{"map value not a boolean", "columns:\n  S: {to: assertions.optin, map: {Subscribed: maybe}}\n", []string{`map value for "Subscribed"`, `"maybe" is not a boolean`}},
		{"map value not a date", "columns:\n  D: {to: datas.birthday, date: YYYY-MM-DD, map: {old: \"01/01/1900\"}}\n", []string{`map value for "old"`, "is not a date YYYY-MM-DD"}},
		{"two columns one target", "columns:\n  A: datas.name\n  B: datas.name\n", []string{`columns "A" and "B" both map to datas.name`}},
		{"column and constant", "columns:\n  A: device\nconstants:\n  device: pc\n", []string{`column "A" and a constant both map to device`}},
		{"two key columns", "columns:\n  A: key\n  B: key\n", []string{`"A" and "B" both map to key`}},
		{"key and key column", "key: id\ncolumns:\n  A: key\n", []string{`key "id" and column "A"`}},
		{"constant key", "constants:\n  key: k\n", []string{"constant key: not allowed"}},
		{"constant objectId", "constants:\n  objectId: u1\n", []string{"constant objectId: not allowed"}},
		{"constant empty", "constants:\n  datas.country: \"\"\n", []string{"constant datas.country: empty"}},
		{"constant bad device", "constants:\n  device: laptop\n", []string{"constant device", `"laptop" is not a device`}},
		{"constant bad email", "constants:\n  ids.email: nobody\n", []string{"constant ids.email", "not an email"}},
		{"constant bad path", "constants:\n  terms: \"true\"\n", []string{"constant", `"terms"`, "not a payload path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeMapping(t, tt.yaml)
			f, err := Load(path)
			require.Error(t, err)
			require.Nil(t, f)
			msg := err.Error()
			require.Contains(t, msg, path, "the error names the file")
			require.NotContains(t, msg, "\n", "one line, no source excerpt")
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, path)
}

// TestLoadNeverShowsSecrets: a mapping file has no business holding a password or a token, but
// if it does, its errors must not print them.
func TestLoadNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	tests := []string{
		"constants:\n  password: Hunter2-XYZ\n",
		"constants:\n  token: Hunter2-XYZ\n",
		"columns:\n  P: {to: password, date: YYYY-MM-DD, map: {x: Hunter2-XYZ}}\n",
		"columns:\n  P: {to: password, lower: true, map: {Hunter2-XYZ: a}}\n",
		"columns:\n  P: {to: token, map: {x: \"Hunter2 XYZ\"}}\n",
		"columns:\n  P: {to: password, bogus: Hunter2-XYZ}\n",
	}
	for _, yaml := range tests {
		_, err := Load(writeMapping(t, yaml))
		require.Error(t, err, yaml)
		require.NotContains(t, err.Error(), "Hunter2", yaml)
	}
}
