package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"druid-migrate/sink"
	"druid-migrate/source"
)

func TestBuildDottedColumns(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{AppID: "app-1"})
	p, err := m.Build(source.Record{Line: 7, Values: dottedRow(t, nil)})
	require.NoError(t, err)

	require.Equal(t, "c-17", p.Key)
	require.Equal(t, 7, p.Line)
	require.Equal(t, "0a1b2c", p.ObjectID)
	require.Equal(t, "tok-abc.123", p.Token)
	require.Equal(t, "es-ES", p.Locale)
	require.Equal(t, sink.Actor{ID: "app-1", ObjectType: "application"}, p.Request.Actor)
	require.Equal(t, "update", p.Request.Verb)
	require.Equal(t, sink.Device{ID: "mobile", ObjectType: "device"}, p.Request.Source)
	require.Equal(t, []string{"Notes"}, m.Ignored())

	var sent sink.Request
	require.NoError(t, json.Unmarshal(p.Body, &sent))
	require.Equal(t, p.Request, sent, "Body is the encoding of Request")
	require.NotContains(t, string(p.Body), "tok-abc.123", "the token is a header, never the body")
}

func TestBuildOptions(t *testing.T) {
	t.Parallel()
	header := []string{"id", "ids.email", "datas.name", "assertions.terms"}
	row := []string{"k1", "a@example.com", "Ana", "1"}
	tests := []struct {
		name                    string
		opts                    Options
		wantVerb, wantDevice    string
		wantActor, wantKeyValue string
	}{
		{"defaults", Options{KeyColumn: "id"}, "update", "unknown", "", "k1"},
		{"set", Options{KeyColumn: "id", AppID: "app", Verb: "create", Device: "itv"}, "create", "itv", "app", "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := compile(t, nil, header, tt.opts).Build(source.Record{Line: 2, Values: row})
			require.NoError(t, err)
			require.Equal(t, tt.wantVerb, p.Request.Verb)
			require.Equal(t, tt.wantDevice, p.Request.Source.ID)
			require.Equal(t, tt.wantActor, p.Request.Actor.ID)
			require.Equal(t, tt.wantKeyValue, p.Key)
		})
	}
}

// TestBuildRules covers every reason a record is valid or invalid (SPEC §3).
func TestBuildRules(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{AppID: "app"})
	tests := []struct {
		name       string
		over       map[string]string
		wantField  string // "" with wantReason "" means valid
		wantReason string
		check      func(t *testing.T, p *sink.Payload)
	}{
		{name: "valid", check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, "true", field(t, p, "ids.email.confirmed"))
			require.Equal(t, "true", field(t, p, "assertions.terms"))
		}},
		{name: "empty key", over: map[string]string{"key": ""}, wantField: "key", wantReason: "the key is empty"},
		{name: "blank key", over: map[string]string{"key": "  \t"}, wantField: "key", wantReason: "the key is empty"},
		{name: "key kept as written", over: map[string]string{"key": " c-17 "}, check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, " c-17 ", p.Key)
		}},

		{name: "email", over: map[string]string{"ids.email": "ana"}, wantField: "ids.email", wantReason: `"ana" is not an email address`},
		{name: "email no domain", over: map[string]string{"ids.email": "ana@"}, wantField: "ids.email", wantReason: "not an email"},
		{name: "email space", over: map[string]string{"ids.email": "ana @example.com"}, wantField: "ids.email", wantReason: "not an email"},
		{name: "email plus", over: map[string]string{"ids.email": "ana+crm@mail.example.es"}},
		{name: "email upper kept", over: map[string]string{"ids.email": "Ana@Example.com"}, check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, "Ana@Example.com", field(t, p, "ids.email"))
		}},

		{name: "phone no plus", over: map[string]string{"ids.phone_number": "600112233"}, wantField: "ids.phone_number", wantReason: `"600112233" is not a phone number`},
		{name: "phone spaces", over: map[string]string{"ids.phone_number": "+34 600 112 233"}, wantField: "ids.phone_number", wantReason: "is not a phone number"},
		{name: "phone too short", over: map[string]string{"ids.phone_number": "+34600"}, wantField: "ids.phone_number", wantReason: "is not a phone number"},
		{name: "phone too long", over: map[string]string{"ids.phone_number": "+3460011223344556"}, wantField: "ids.phone_number", wantReason: "is not a phone number"},
		{name: "phone leading zero", over: map[string]string{"ids.phone_number": "+0600112233"}, wantField: "ids.phone_number", wantReason: "is not a phone number"},
		{name: "phone shortest", over: map[string]string{"ids.phone_number": "+1234567"}},

		{name: "birthday impossible", over: map[string]string{"datas.birthday": "31/02/2000"}, wantField: "datas.birthday", wantReason: `"31/02/2000" is not a date dd/MM/yyyy`},
		{name: "birthday iso", over: map[string]string{"datas.birthday": "1974-10-22"}, wantField: "datas.birthday", wantReason: "is not a date dd/MM/yyyy"},
		{name: "birthday unpadded", over: map[string]string{"datas.birthday": "1/2/2000"}, wantField: "datas.birthday", wantReason: "is not a date"},
		{name: "birthday leap day", over: map[string]string{"datas.birthday": "29/02/2000"}},
		{name: "birthday not leap", over: map[string]string{"datas.birthday": "29/02/1900"}, wantField: "datas.birthday", wantReason: "is not a date"},

		{name: "confirmed bad", over: map[string]string{"ids.email.confirmed": "si"}, wantField: "ids.email.confirmed", wantReason: `"si" is not a boolean`},
		{name: "assertion bad", over: map[string]string{"assertions.terms": "2"}, wantField: "assertions.terms", wantReason: `"2" is not a boolean`},
		{name: "assertion NO", over: map[string]string{"assertions.terms": " NO "}, check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, "false", field(t, p, "assertions.terms"))
		}},
		{name: "confirmed 0", over: map[string]string{"ids.email.confirmed": "0"}, check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, "false", field(t, p, "ids.email.confirmed"))
		}},
		{name: "confirmed empty", over: map[string]string{"ids.email.confirmed": ""}, check: func(t *testing.T, p *sink.Payload) {
			require.Nil(t, p.Request.Object.IDs["email"].Confirmed)
			require.NotContains(t, string(p.Body), "confirmed")
		}},
		{name: "confirmed without email", over: map[string]string{"ids.email": ""}, wantField: "ids.email.confirmed", wantReason: "set, but ids.email has no value"},
		{name: "no email no flag", over: map[string]string{"ids.email": "", "ids.email.confirmed": ""}, check: func(t *testing.T, p *sink.Payload) {
			require.NotContains(t, p.Request.Object.IDs, "email")
		}},

		{name: "device bad", over: map[string]string{"device": "laptop"}, wantField: "device", wantReason: `"laptop" is not a device`},
		{name: "device empty uses default", over: map[string]string{"device": ""}, check: func(t *testing.T, p *sink.Payload) {
			require.Equal(t, "unknown", p.Request.Source.ID)
		}},
		{name: "locale bad", over: map[string]string{"locale": "es-ES\r\nX-Evil: 1"}, wantField: "locale", wantReason: "is not a language tag"},
		{name: "token bad", over: map[string]string{"token": "two words"}, wantField: "token", wantReason: "the token holds spaces"},

		{name: "empty cells left out", over: map[string]string{"objectId": "", "password": "", "locale": "", "addresses.home.locality": "", "ids.phone_number": ""},
			check: func(t *testing.T, p *sink.Payload) {
				for _, s := range []string{`"objectId"`, `"password"`, `"addresses"`, `"phone_number"`, `""`} {
					require.NotContains(t, string(p.Body), s)
				}
				require.Empty(t, p.Locale)
				require.Empty(t, p.ObjectID)
			}},
		{name: "blank cell left out", over: map[string]string{"datas.birthday": "   "}, check: func(t *testing.T, p *sink.Payload) {
			require.NotContains(t, p.Request.Object.Datas, "birthday")
		}},

		{name: "no ids", over: map[string]string{"ids.email": "", "ids.email.confirmed": "", "ids.phone_number": ""}, wantField: "ids",
			wantReason: "no ids: DRUID requires ids, datas and assertions in every update, and sending this one would wipe the user's data"},
		{name: "no datas", over: map[string]string{"datas.name": "", "datas.birthday": ""}, wantField: "datas", wantReason: "no datas: DRUID requires"},
		{name: "no assertions", over: map[string]string{"assertions.terms": ""}, wantField: "assertions", wantReason: "no assertions: DRUID requires"},
		{name: "none of three", over: map[string]string{"ids.email": "", "ids.email.confirmed": "", "ids.phone_number": "", "datas.name": "", "datas.birthday": "", "assertions.terms": ""},
			wantField: "ids", wantReason: "no ids and no datas and no assertions: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := source.Record{Line: 12, Values: dottedRow(t, tt.over)}
			if tt.wantField == "" && tt.wantReason == "" {
				p, err := m.Build(rec)
				require.NoError(t, err)
				require.True(t, json.Valid(p.Body))
				if tt.check != nil {
					tt.check(t, p)
				}
				return
			}
			re := buildErr(t, m, rec)
			require.Equal(t, 12, re.Line)
			require.Equal(t, tt.wantField, re.Field)
			require.Contains(t, re.Reason, tt.wantReason)
			if tt.wantField != "key" {
				require.Equal(t, "c-17", re.Key)
			}
		})
	}
}

func TestBuildMalformed(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{})
	bad := errors.New("record on line 5: wrong number of fields")
	tests := []struct {
		name       string
		rec        source.Record
		wantKey    string
		wantReason string
		wantErr    error
	}{
		{"source error, short row", source.Record{Line: 5, Values: []string{"c-1"}, Err: bad}, "", "malformed record: record on line 5", bad},
		{"source error, full row keeps key", source.Record{Line: 5, Values: dottedRow(t, nil), Err: bad}, "c-17", "malformed record: ", bad},
		{"short row without error", source.Record{Line: 6, Values: []string{"c-1", "x"}}, "", "malformed record: 2 fields, the header has 14", nil},
		{"long row without error", source.Record{Line: 6, Values: append(dottedRow(t, nil), "extra")}, "", "malformed record: 15 fields", nil},
		{"nil values", source.Record{Line: 9}, "", "malformed record: 0 fields", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			re := buildErr(t, m, tt.rec)
			require.Equal(t, tt.rec.Line, re.Line)
			require.Equal(t, tt.wantKey, re.Key)
			require.Empty(t, re.Field)
			require.Contains(t, re.Reason, tt.wantReason)
			if tt.wantErr != nil {
				require.ErrorIs(t, re, tt.wantErr)
			}
		})
	}
}

func TestRecordErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  RecordError
		want string
	}{
		{RecordError{Line: 12, Key: "c-17", Column: "Date of Birth", Field: "datas.birthday", Reason: `"31/02/2000" is not a date dd/MM/yyyy`},
			`line 12 (key "c-17"): datas.birthday (column "Date of Birth"): "31/02/2000" is not a date dd/MM/yyyy`},
		{RecordError{Line: 3, Column: "key", Field: "key", Reason: "the key is empty"}, `line 3: key: the key is empty`},
		{RecordError{Line: 4, Reason: "malformed record: bad quote"}, `line 4: malformed record: bad quote`},
		{RecordError{Line: 5, Key: "k", Field: "ids", Reason: "no ids"}, `line 5 (key "k"): ids: no ids`},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

// TestBuildNeverShowsSecrets puts a distinctive password and token in records made invalid in
// every way this package knows, with and without transforms on the secret columns.
func TestBuildNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	const pw, tok = "Pa55-w0rd-XYZ", "tok-QWERTY-987"
	plain := compile(t, nil, dottedHeader, Options{})
	header := []string{"id", "Secret", "Bearer", "ids.email", "datas.name", "assertions.terms"}
	shaped := compile(t, &File{Key: "id", Columns: map[string]Column{
		"Secret": {To: "password", Date: []string{"YYYY-MM-DD"}},
		"Bearer": {To: "token", Map: map[string]string{"known": "tok"}},
	}}, header, Options{})
	mapped := compile(t, &File{Key: "id", Columns: map[string]Column{
		"Secret": {To: "password", Trim: true, Map: map[string]string{"a": "b"}},
		"Bearer": {To: "token", Phone: &Phone{Region: "+34"}},
	}}, header, Options{})

	tests := []struct {
		name string
		m    *Mapper
		rec  source.Record
	}{
		{"bad token chars", plain, source.Record{Line: 2, Values: dottedRow(t, map[string]string{"password": pw, "token": tok + " \x00"})}},
		{"bad email beside secrets", plain, source.Record{Line: 2, Values: dottedRow(t, map[string]string{"password": pw, "token": tok, "ids.email": "x"})}},
		{"no assertions beside secrets", plain, source.Record{Line: 2, Values: dottedRow(t, map[string]string{"password": pw, "token": tok, "assertions.terms": ""})}},
		{"malformed full row", plain, source.Record{Line: 2, Values: dottedRow(t, map[string]string{"password": pw, "token": tok}), Err: errors.New("bare quote")}},
		{"password not a date", shaped, source.Record{Line: 2, Values: []string{"k", pw, "known", "a@example.com", "Ana", "1"}}},
		{"token not in map", shaped, source.Record{Line: 2, Values: []string{"k", "2000-01-01", tok, "a@example.com", "Ana", "1"}}},
		{"password not in map", mapped, source.Record{Line: 2, Values: []string{"k", pw, "+34600112233", "a@example.com", "Ana", "1"}}},
		{"token not a phone", mapped, source.Record{Line: 2, Values: []string{"k", "a", tok, "a@example.com", "Ana", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			re := buildErr(t, tt.m, tt.rec)
			for _, s := range []string{re.Error(), fmt.Sprintf("%+v", re), fmt.Sprintf("%#v", *re)} {
				require.NotContains(t, s, pw)
				require.NotContains(t, s, tok)
				require.NotContains(t, s, "QWERTY")
			}
		})
	}
}

func TestBuildDeterministic(t *testing.T) {
	t.Parallel()
	f, err := Load("testdata/crm.yaml")
	require.NoError(t, err)
	m := compile(t, f, crmHeader, Options{AppID: "app"})
	first, err := m.Build(source.Record{Line: 2, Values: crmRow})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				p, err := m.Build(source.Record{Line: 2, Values: crmRow})
				if err != nil || string(p.Body) != string(first.Body) {
					t.Errorf("build differs: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBuildKeyColumnTransformsAndTargets(t *testing.T) {
	t.Parallel()
	header := []string{"Email", "datas.name", "assertions.terms"}
	f := &File{Key: "Email", Columns: map[string]Column{"Email": {To: "ids.email", Trim: true, Lower: true}}}
	m := compile(t, f, header, Options{})

	p, err := m.Build(source.Record{Line: 2, Values: []string{" Ana@Example.com ", "Ana", "1"}})
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", p.Key, "the key is the key column's value after its transforms")
	require.Equal(t, "ana@example.com", field(t, p, "ids.email"))

	re := buildErr(t, m, source.Record{Line: 3, Values: []string{"not-an-email", "Ana", "1"}})
	require.Equal(t, "ids.email", re.Field, "the key column's target is still validated")
	require.Equal(t, "Email", re.Column)
	require.Equal(t, "not-an-email", re.Key)
}

func TestBuildConstants(t *testing.T) {
	t.Parallel()
	header := []string{"key", "ids.email", "datas.name"}
	f := &File{Constants: map[string]string{
		"assertions.terms": "yes", "device": "tablet", "locale": "fr", "datas.country": "ES",
		"addresses.home.country": "ES",
	}}
	m := compile(t, f, header, Options{Device: "pc"})
	p, err := m.Build(source.Record{Line: 2, Values: []string{"k", "a@example.com", "Ana"}})
	require.NoError(t, err)
	require.Equal(t, "true", field(t, p, "assertions.terms"))
	require.Equal(t, "tablet", p.Request.Source.ID, "a device constant overrides --device")
	require.Equal(t, "fr", p.Locale)
	require.Equal(t, "ES", field(t, p, "datas.country"))
	require.Equal(t, "ES", field(t, p, "addresses.home.country"))
}

func TestBuildAddressesAndAssertionsSorted(t *testing.T) {
	t.Parallel()
	header := []string{"key", "ids.email", "datas.name",
		"addresses.work.locality", "addresses.home.locality", "addresses.billing.country",
		"assertions.terms", "assertions.optin", "assertions.adult"}
	m := compile(t, nil, header, Options{})
	p, err := m.Build(source.Record{Line: 2, Values: []string{"k", "a@example.com", "Ana", "Bilbao", "Madrid", "", "1", "0", ""}})
	require.NoError(t, err)

	o := p.Request.Object
	require.Equal(t, &sink.Addresses{ObjectType: "addresses", TotalItems: 2, Items: []sink.Address{
		{ObjectType: "address", Type: "home", Locality: "Madrid"},
		{ObjectType: "address", Type: "work", Locality: "Bilbao"},
	}}, o.Addresses, "empty address left out, items sorted by type")
	require.Equal(t, &sink.Assertions{ObjectType: "assertions", TotalItems: 2, Items: []sink.Assertion{
		{ObjectType: "assertion", Type: "optin", Typology: "user", Value: false},
		{ObjectType: "assertion", Type: "terms", Typology: "user", Value: true},
	}}, o.Assertions, "empty assertion left out, items sorted by type")
}

func TestMask(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{})
	p, err := m.Build(source.Record{Line: 2, Values: dottedRow(t, nil)})
	require.NoError(t, err)

	masked := Mask(p.Request)
	require.Equal(t, "********", masked.Object.Password)
	require.Equal(t, "s3cr3t-pw", p.Request.Object.Password, "Mask leaves its argument alone")
	out, err := json.Marshal(masked)
	require.NoError(t, err)
	require.NotContains(t, string(out), "s3cr3t-pw")

	masked.Object.Password = p.Request.Object.Password
	require.Equal(t, p.Request, masked, "nothing but the password changes")

	p, err = m.Build(source.Record{Line: 3, Values: dottedRow(t, map[string]string{"password": ""})})
	require.NoError(t, err)
	require.Empty(t, Mask(p.Request).Object.Password, "no password, nothing to mask")
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		f      *File
		header []string
		opts   Options
		want   []string
	}{
		{"non-paths", nil, []string{"Notes", "key", "ids.email", "datas.name", "assertions.terms", "ids.a.b", "Other"}, Options{},
			[]string{"Notes", "ids.a.b", "Other"}},
		{"key column is not ignored", nil, []string{"crm", "ids.email", "datas.name", "assertions.terms"}, Options{KeyColumn: "crm"}, nil},
		{"a key column not chosen", nil, []string{"crm", "key", "ids.email", "datas.name", "assertions.terms"}, Options{KeyColumn: "crm"}, []string{"key"}},
		{"mapped columns are used", &File{Key: "crm", Columns: map[string]Column{"Mail": {To: "ids.email"}}},
			[]string{"crm", "Mail", "datas.name", "assertions.terms", "Fax"}, Options{}, []string{"Fax"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, compile(t, tt.f, tt.header, tt.opts).Ignored())
		})
	}
}

// TestCompileErrors covers the configuration errors: each must name what to fix.
func TestCompileErrors(t *testing.T) {
	t.Parallel()
	ok := []string{"key", "ids.email", "datas.name", "assertions.terms"}
	tests := []struct {
		name   string
		f      *File
		header []string
		opts   Options
		want   []string // substrings of the error
	}{
		{"two header columns, one target", &File{Columns: map[string]Column{"Mail": {To: "ids.email"}}},
			append(ok, "Mail"), Options{}, []string{`"ids.email"`, `"Mail"`, "both map to ids.email"}},
		{"two mapped columns, one target", &File{Custom: []string{"datas.x"}, Columns: map[string]Column{"A": {To: "datas.x"}, "B": {To: "datas.x"}}},
			append(ok, "A", "B"), Options{}, []string{`"A"`, `"B"`, "datas.x"}},
		{"column and constant", &File{Constants: map[string]string{"datas.name": "Ana"}},
			ok, Options{}, []string{`"datas.name"`, "constant", "datas.name"}},
		{"mapped column and constant", &File{Columns: map[string]Column{"T": {To: "assertions.terms"}}, Constants: map[string]string{"assertions.terms": "1"}},
			[]string{"key", "T", "ids.email", "datas.name"}, Options{}, []string{`"T"`, "constant", "assertions.terms"}},
		{"duplicate header column", nil, []string{"key", "ids.email", "datas.name", "assertions.terms", "datas.name"},
			Options{}, []string{`"datas.name"`, "twice", "columns 3 and 5"}},
		{"bad target", &File{Columns: map[string]Column{"Street": {To: "addresses.home.street"}}},
			append(ok, "Street"), Options{}, []string{`"Street"`, "addresses.home.street", "streetAddress"}},
		{"bad target foo", &File{Columns: map[string]Column{"F": {To: "foo"}}},
			append(ok, "F"), Options{}, []string{`column "F"`, `"foo"`, "not a payload path"}},
		{"mapping column absent", &File{Columns: map[string]Column{"Phone": {To: "ids.phone_number"}}},
			ok, Options{}, []string{`"Phone"`, "not in the source's header"}},
		{"key absent, default", nil, ok[1:], Options{}, []string{`key column "key"`, "the default", "--key"}},
		{"key absent, --key", nil, ok, Options{KeyColumn: "crm_id"}, []string{`key column "crm_id"`, "(--key)"}},
		{"key absent, mapping", &File{Key: "crm_id"}, ok, Options{KeyColumn: "key"}, []string{`key column "crm_id"`, "the mapping file's key"}},
		{"key is the password", nil, []string{"password", "ids.email", "datas.name", "assertions.terms"}, Options{KeyColumn: "password"},
			[]string{`key column "password"`, "must not be a secret"}},
		{"bad date layout", &File{Columns: map[string]Column{"DOB": {To: "datas.birthday", Date: []string{"DD/MM/YY"}}}},
			append(ok, "DOB"), Options{}, []string{`"DOB"`, `"DD/MM/YY"`}},
		{"date layout without day", &File{Columns: map[string]Column{"DOB": {To: "datas.birthday", Date: []string{"MM/YYYY"}}}},
			append(ok, "DOB"), Options{}, []string{`"DOB"`, "no DD"}},
		{"bad --device", nil, ok, Options{Device: "laptop"}, []string{"--device", `"laptop"`}},
		{"confirmed without id", nil, append(ok, "ids.phone_number.confirmed"), Options{},
			[]string{`"ids.phone_number.confirmed"`, "nothing maps to ids.phone_number"}},
		{"no ids", nil, []string{"key", "datas.name", "assertions.terms"}, Options{}, []string{"no column or constant maps to ids", "wipe"}},
		{"no datas, no assertions", nil, []string{"key", "ids.email"}, Options{}, []string{"maps to datas, assertions"}},
		{"bad constant", &File{Constants: map[string]string{"assertions.optin": "maybe"}}, ok, Options{},
			[]string{"constant assertions.optin", `"maybe" is not a boolean`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(tt.f, tt.header, tt.opts)
			require.Error(t, err)
			require.Nil(t, m)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "\n", "a configuration error is one line")
		})
	}
}

func TestCompileKeyColumn(t *testing.T) {
	t.Parallel()
	header := []string{"crm", "key", "ids.email", "datas.name", "assertions.terms"}
	row := []string{"from-crm", "from-key", "a@example.com", "Ana", "1"}
	tests := []struct {
		name   string
		f      *File
		opts   Options
		want   string
		column string
	}{
		{"default", nil, Options{}, "from-key", "key"},
		{"--key", nil, Options{KeyColumn: "crm"}, "from-crm", "crm"},
		{"mapping key overrides --key", &File{Key: "crm"}, Options{KeyColumn: "key"}, "from-crm", "crm"},
		{"column mapped to key", &File{Columns: map[string]Column{"crm": {To: "key", Lower: true}}}, Options{}, "from-crm", "crm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := compile(t, tt.f, header, tt.opts)
			p, err := m.Build(source.Record{Line: 2, Values: row})
			require.NoError(t, err)
			require.Equal(t, tt.want, p.Key)
			require.Equal(t, tt.column, m.KeyColumn(), "the column a database source orders by")
			require.Equal(t, tt.f == nil || !tt.f.Columns["crm"].Lower, m.KeyVerbatim(), "a lowered key is not the column's text")
		})
	}
}

// TestTransforms covers each transform and their order: trim, lower, map, date, phone.
func TestTransforms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		col     Column
		cell    string
		want    string // the target's value; "" = left out
		wantErr string
	}{
		{"rename", Column{To: "datas.name"}, " Ana ", " Ana ", ""},
		{"trim", Column{To: "datas.name", Trim: true}, " \tAna  ", "Ana", ""},
		{"lower", Column{To: "datas.name", Lower: true}, "ÁNA", "ána", ""},
		{"trim then lower", Column{To: "ids.email", Trim: true, Lower: true}, "  Ana@Example.COM ", "ana@example.com", ""},
		{"map", Column{To: "assertions.optin", Map: map[string]string{"Subscribed": "true", "Unsubscribed": "false"}}, "Subscribed", "true", ""},
		{"map after trim and lower", Column{To: "assertions.optin", Trim: true, Lower: true, Map: map[string]string{"subscribed": "yes"}}, " SUBSCRIBED ", "true", ""},
		{"map unlisted", Column{To: "assertions.optin", Map: map[string]string{"Subscribed": "true", "Unsubscribed": "false"}}, "Pending", "",
			`"Pending" is not listed in the column's map ("Subscribed", "Unsubscribed")`},
		{"map is case-sensitive", Column{To: "assertions.optin", Map: map[string]string{"Subscribed": "true"}}, "subscribed", "", "is not listed"},
		{"map empty cell listed", Column{To: "assertions.optin", Map: map[string]string{"": "false", "S": "true"}}, "", "false", ""},
		{"map blank cell listed", Column{To: "assertions.optin", Map: map[string]string{"": "false", "S": "true"}}, "  ", "false", ""},
		{"map empty cell unlisted", Column{To: "assertions.optin", Map: map[string]string{"S": "true"}}, "", "", ""},
		{"map to nothing", Column{To: "datas.gender", Map: map[string]string{"M": "male", "?": ""}}, "?", "", ""},
		{"map then date", Column{To: "datas.birthday", Map: map[string]string{"old": "1900-01-01"}, Date: []string{"YYYY-MM-DD"}}, "old", "01/01/1900", ""},
		{"date iso", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "1974-10-22", "22/10/1974", ""},
		{"date us", Column{To: "datas.birthday", Date: []string{"MM/DD/YYYY"}}, "10/22/1974", "22/10/1974", ""},
		{"date dotted", Column{To: "datas.birthday", Date: []string{"DD.MM.YYYY"}}, "22.10.1974", "22/10/1974", ""},
		{"date compact", Column{To: "datas.birthday", Date: []string{"YYYYMMDD"}}, "19741022", "22/10/1974", ""},
		{"date other target", Column{To: "datas.since", Date: []string{"YYYY-MM-DD"}}, "2020-02-29", "29/02/2020", ""},
		{"date impossible", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "2001-02-29", "", `"2001-02-29" is not a date YYYY-MM-DD`},
		{"date month 13", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "2001-13-01", "", "is not a date YYYY-MM-DD"},
		{"date wrong separator", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "1974/10/22", "", "is not a date"},
		{"date with time", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "1974-10-22 00:00", "", "is not a date"},
		{"date untrimmed", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, " 1974-10-22", "", "is not a date"},
		{"date trimmed", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}, Trim: true}, " 1974-10-22 ", "22/10/1974", ""},
		{"date layouts, first", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD", "MM/DD/YYYY"}}, "1985-03-07", "07/03/1985", ""},
		{"date layouts, second", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD", "MM/DD/YYYY"}}, "03/07/1985", "07/03/1985", ""},
		{"date layouts, ambiguous", Column{To: "datas.birthday", Date: []string{"MM/DD/YYYY", "DD/MM/YYYY"}}, "03/07/1985", "", `"03/07/1985" is ambiguous`},
		{"date layouts, none", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD", "MM/DD/YYYY"}}, "1985.03.07", "", "is not a date YYYY-MM-DD or MM/DD/YYYY"},
		{"date year zero", Column{To: "datas.birthday", Date: []string{"YYYY-MM-DD"}}, "0000-01-01", "", "is not a date"},
		{"phone national", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "600 11 22 33", "+34600112233", ""},
		{"phone punctuation", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "(600) 11.22-33", "+34600112233", ""},
		{"phone 00", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "0044 20 7946 0958", "+442079460958", ""},
		{"phone plus kept", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "+44 (20) 7946-0958", "+442079460958", ""},
		{"phone code without plus", Column{To: "ids.phone_number", Phone: &Phone{Region: "34"}}, "600112233", "+34600112233", ""},
		{"phone nbsp", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "600\u00a0112\u00a0233", "+34600112233", ""},
		{"phone dash only", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "-", "", ""},
		{"phone letters", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "600 112 233 ext 5", "", `"600 112 233 ext 5" is not a phone number`},
		{"phone too short", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "112", "", `"112" is not a valid phone number in region ES`},
		{"phone of another country", Column{To: "ids.phone_number", Phone: &Phone{Region: "+34"}}, "(416) 680-6155", "", `"(416) 680-6155" is not a valid phone number in region ES`},
		{"phone region", Column{To: "ids.phone_number", Phone: &Phone{Region: "US"}}, "(416) 680-6155", "+14166806155", ""},
		{"phone other target", Column{To: "datas.fax", Phone: &Phone{Region: "+34"}}, "911 23 45 67", "+34911234567", ""},
		{"phone other target validated", Column{To: "datas.fax", Phone: &Phone{Region: "+34"}}, "112", "", "is not a valid phone number in region ES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := []string{"key", "Src", "ids.x", "datas.name", "assertions.terms"}
			if tt.col.To == "datas.name" {
				header[3] = "datas.other"
			}
			if tt.col.To == "assertions.terms" {
				header[4] = "assertions.other"
			}
			m := compile(t, &File{Custom: []string{"ids.x", "datas.other", "datas.since", "datas.fax"}, Columns: map[string]Column{"Src": tt.col}}, header, Options{})
			p, err := m.Build(source.Record{Line: 2, Values: []string{"k", tt.cell, "x", "Ana", "1"}})
			if tt.wantErr != "" {
				require.Error(t, err)
				var re *RecordError
				require.ErrorAs(t, err, &re)
				require.Equal(t, tt.col.To, re.Field)
				require.Equal(t, "Src", re.Column)
				require.Contains(t, re.Reason, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, field(t, p, tt.col.To))
		})
	}
}

// Example shows a run's two steps: compile the mapping against the header once, then build
// one payload per record.
func Example() {
	header := []string{"key", "ids.email", "datas.name", "assertions.terms", "Notes"}
	m, err := Compile(nil, header, Options{AppID: "my-app", Device: "pc"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ignored:", m.Ignored())

	p, err := m.Build(source.Record{Line: 2, Values: []string{"c-1", "ana@example.com", "Ana", "yes", "VIP"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Key, string(p.Body))

	_, err = m.Build(source.Record{Line: 3, Values: []string{"c-2", "ana.example.com", "Ana", "yes", ""}})
	fmt.Println(err)
	// Output:
	// ignored: [Notes]
	// c-1 {"actor":{"id":"my-app","objectType":"application"},"verb":"update","object":{"objectType":"user","ids":{"email":{"objectType":"user_id","value":"ana@example.com"}},"datas":{"name":{"objectType":"user_data","value":"Ana"}},"assertions":{"objectType":"assertions","totalItems":1,"items":[{"objectType":"assertion","type":"terms","typology":"user","value":true}]}},"source":{"id":"pc","objectType":"device"}}
	// line 3 (key "c-2"): ids.email: "ana.example.com" is not an email address
}

func TestBuildKeyTransformFails(t *testing.T) {
	t.Parallel()
	header := []string{"Code", "ids.email", "datas.name", "assertions.terms"}
	tests := []struct {
		name      string
		col       Column
		cell      string
		wantField string
		wantRsn   string
	}{
		{"key only", Column{To: "key", Map: map[string]string{"A": "a-1"}}, "B", "key", `"B" is not listed in the column's map ("A")`},
		{"key with a target", Column{To: "datas.since", Date: []string{"YYYY-MM-DD"}}, "yesterday", "datas.since", `"yesterday" is not a date YYYY-MM-DD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := compile(t, &File{Key: "Code", Custom: []string{"datas.since"}, Columns: map[string]Column{"Code": tt.col}}, header, Options{})
			re := buildErr(t, m, source.Record{Line: 4, Values: []string{tt.cell, "a@example.com", "Ana", "1"}})
			require.Equal(t, tt.wantField, re.Field)
			require.Equal(t, "Code", re.Column)
			require.Empty(t, re.Key, "the key could not be read")
			require.Equal(t, tt.wantRsn, re.Reason)
		})
	}
}

func TestMapUnlistedNamesAFewValues(t *testing.T) {
	t.Parallel()
	values := map[string]string{}
	for i := range 20 {
		values[fmt.Sprintf("v%02d", i)] = "x"
	}
	m := compile(t, &File{Custom: []string{"datas.s"}, Columns: map[string]Column{"S": {To: "datas.s", Map: values}}},
		[]string{"key", "S", "ids.email", "datas.name", "assertions.terms"}, Options{})
	re := buildErr(t, m, source.Record{Line: 2, Values: []string{"k", "nope", "a@example.com", "Ana", "1"}})
	require.Contains(t, re.Reason, `("v00", "v01", "v02", "v03", "v04", "v05", "v06", "v07", …)`)
}

func TestBuildEmptyMarker(t *testing.T) {
	t.Parallel()
	header := []string{"key", "ids.email", "datas.name", "datas.surname", "assertions.terms"}
	m := compile(t, nil, header, Options{})
	p, err := m.Build(source.Record{Line: 2, Values: []string{"k1", "a@example.com", "Ana", " <empty> ", "true"}})
	require.NoError(t, err)
	require.NotContains(t, p.Request.Object.Datas, "surname", "left out like an empty cell")
	require.Equal(t, []string{"datas.surname"}, p.Empty, "and named, for merge mode to remove")
}

// TestBuildControlCharacters: a value holding a control character makes the record invalid
// (SPEC §3), whatever the column, with the line, the field and the column named, and the value
// escaped so that the reason is one line: or not shown at all when it is a secret.
func TestBuildControlCharacters(t *testing.T) {
	t.Parallel()
	header := []string{"crm_id", "First Name", "ids.email", "addresses.home.streetAddress", "password", "token", "assertions.terms"}
	m := compile(t, &File{Key: "crm_id", Columns: map[string]Column{
		"First Name": {To: "datas.name", Trim: true},
	}}, header, Options{})
	row := func(column, value string) []string {
		values := []string{"c-17", "Ana", "ana@example.com", "Gran Vía 1", "Pa55-w0rd-XYZ", "tok-QWERTY-987", "yes"}
		values[slices.Index(header, column)] = value
		return values
	}
	controls := []struct {
		name  string
		value string
		char  rune
	}{
		{"NUL", "Nu\x00ñez", 0x00},
		{"SOH", "Ana\x01", 0x01},
		{"line feed", "Calle 1\nPiso 2", '\n'},
		{"carriage return", "Calle 1\r\nPiso 2", '\r'},
		{"vertical tab", "Ana\vB", '\v'},
		{"ESC", "\x1b[31mAna", 0x1B},
		{"unit separator", "Ana\x1f", 0x1F},
		{"DEL", "Ana\x7f", 0x7F},
		{"C1 first", "Ana\u0080", 0x80},
		{"NEL", "Ana\u0085García", 0x85},
		{"C1 last", "\u009fAna", 0x9F},
		{"line separator", "Ana\u2028García", 0x2028},
		{"paragraph separator", "Ana\u2029Bea", 0x2029},
	}
	for _, c := range controls {
		for _, tt := range []struct {
			column, field string
			secret        bool
		}{
			{"First Name", "datas.name", false},
			{"addresses.home.streetAddress", "addresses.home.streetAddress", false},
			{"password", "password", true},
			{"token", "token", true},
			{"crm_id", "key", false},
		} {
			t.Run(c.name+"/"+tt.column, func(t *testing.T) {
				t.Parallel()
				value := c.value
				if tt.secret {
					value = "Secret-" + value + "-42"
				}
				re := buildErr(t, m, source.Record{Line: 9, Values: row(tt.column, value)})
				require.Equal(t, 9, re.Line)
				require.Equal(t, tt.column, re.Column)
				require.Equal(t, tt.field, re.Field)
				require.NotContains(t, re.Error(), "\n")
				require.NotContains(t, re.Error(), "\r")
				if tt.secret {
					require.Contains(t, re.Reason, "control", "the token's own check says so too")
					for _, s := range []string{re.Error(), fmt.Sprintf("%+v", re), fmt.Sprintf("%#v", *re)} {
						require.NotContains(t, s, "Secret-")
						require.NotContains(t, s, "-42")
					}
					return
				}
				require.Equal(t, strconv.Quote(value)+fmt.Sprintf(" holds the control character %U", c.char), re.Reason)
				require.True(t, utf8.ValidString(re.Error()))
				for _, r := range re.Error() {
					require.False(t, unicode.IsControl(r) || r == 0x2028 || r == 0x2029, "%q", re.Error())
				}
			})
		}
	}

	// What the SPEC allows: TAB, other white space and invisible characters, and white space
	// that trim removes, line breaks included.
	for _, value := range []string{"Ana\tGarcía", "Ana\u00a0García", "Ana\u200bGarcía", "Ana\u2027", "\ufeffAna", " Ana\r\n"} {
		p, err := m.Build(source.Record{Line: 3, Values: row("First Name", value)})
		require.NoError(t, err, "%q", value)
		require.Equal(t, strings.TrimSpace(value), field(t, p, "datas.name"))
	}
	_, err := m.Build(source.Record{Line: 3, Values: row("addresses.home.streetAddress", "Gran Vía 1\r\n")})
	require.Error(t, err, "without trim, a trailing line break is the value's")

	// A value that breaks its field's format says so rather than naming its control character;
	// one the format accepts is still refused for it.
	re := buildErr(t, m, source.Record{Line: 4, Values: row("ids.email", "ana@example.com\n")})
	require.Contains(t, re.Reason, "is not an email address")
	re = buildErr(t, m, source.Record{Line: 4, Values: row("ids.email", "ana\x00b@example.com")})
	require.Contains(t, re.Reason, "holds the control character U+0000")
}

// TestCompileRefusesControlCharacters: a constant or a map value with a control character would
// make every record it reaches invalid: the mapping file is refused at start.
func TestCompileRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	header := []string{"key", "ids.email", "datas.name", "assertions.terms", "Tier"}
	custom := []string{"datas.tier"}
	_, err := Compile(&File{Custom: custom, Constants: map[string]string{"datas.tier": "gold\x00"}}, header, Options{})
	require.ErrorContains(t, err, `constant datas.tier: "gold\x00" holds the control character U+0000`)
	_, err = Compile(&File{Custom: custom, Columns: map[string]Column{"Tier": {To: "datas.tier", Map: map[string]string{"G": "gold\u2028"}}}}, header, Options{})
	require.ErrorContains(t, err, `column "Tier": map value for "G": "gold\u2028" holds the control character U+2028`)
}

// TestRequired: an empty value in a required column makes the record invalid, with its line
// and column, whatever made it empty; without required the field is left out (DRUID removes it).
func TestRequired(t *testing.T) {
	t.Parallel()
	header := []string{"key", "Email", "Gender", "datas.name", "assertions.terms", "ids.screen_name"}
	f := &File{Columns: map[string]Column{
		"Email":  {To: "ids.email", Trim: true, Required: true},
		"Gender": {To: "datas.gender", Required: true, Map: map[string]string{"M": "male", "F": "female", "?": ""}},
	}}
	m := compile(t, f, header, Options{})
	tests := []struct {
		name          string
		email, gender string
		wantColumn    string // "" = valid
	}{
		{"both set", "ana@example.com", "F", ""},
		{"empty cell", "", "F", "Email"},
		{"blank cell", "  \t", "F", "Email"},
		{"empty after trim", " ", "F", "Email"},
		{"empty marker", "<empty>", "F", "Email"},
		{"mapped to nothing", "ana@example.com", "?", "Gender"},
		{"missing map value", "ana@example.com", "", "Gender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := source.Record{Line: 5, Values: []string{"c-3", tt.email, tt.gender, "Ana", "yes", "ana"}}
			if tt.wantColumn == "" {
				_, err := m.Build(rec)
				require.NoError(t, err)
				return
			}
			re := buildErr(t, m, rec)
			require.Equal(t, 5, re.Line)
			require.Equal(t, "c-3", re.Key)
			require.Equal(t, tt.wantColumn, re.Column)
			require.Equal(t, f.Columns[tt.wantColumn].To, re.Field)
			require.Contains(t, re.Reason, "the column is required")
		})
	}

	// The same column without required: the record is valid and the field left out.
	loose := compile(t, &File{Columns: map[string]Column{"Email": {To: "ids.email"}, "Gender": {To: "datas.gender"}}}, header, Options{})
	p, err := loose.Build(source.Record{Line: 5, Values: []string{"c-3", "", "", "Ana", "yes", "ana"}})
	require.NoError(t, err)
	require.NotContains(t, p.Request.Object.IDs, "email")
	require.NotContains(t, p.Request.Object.Datas, "gender")
}

func TestHasObjectID(t *testing.T) {
	t.Parallel()
	base := []string{"key", "ids.email", "datas.name", "assertions.terms"}
	tests := []struct {
		name   string
		f      *File
		header []string
		want   bool
	}{
		{"no objectId", nil, base, false},
		{"objectId header", nil, append(base, "objectId"), true},
		{"mapped column", &File{Columns: map[string]Column{"DRUID Id": {To: "objectId"}}}, append(base, "DRUID Id"), true},
		{"key column mapped to objectId", &File{Key: "DRUID Id", Columns: map[string]Column{"DRUID Id": {To: "objectId"}}},
			[]string{"DRUID Id", "ids.email", "datas.name", "assertions.terms"}, true},
		{"a token column only", nil, append(base, "token"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, compile(t, tt.f, tt.header, Options{}).HasObjectID())
		})
	}
}

// TestRequireObjectID: with an administrative token a record must name its DRUID user; a
// mapping that cannot is refused at start.
func TestRequireObjectID(t *testing.T) {
	t.Parallel()
	header := []string{"key", "DRUID Id", "ids.email", "datas.name", "assertions.terms"}
	f := &File{Columns: map[string]Column{"DRUID Id": {To: "objectId", Trim: true}}}
	m := compile(t, f, header, Options{RequireObjectID: true})
	tests := []struct {
		name, objectID string
		wantErr        bool
	}{
		{"set", "5f1e0c2a9b", false},
		{"empty", "", true},
		{"blank", "  ", true},
		{"empty marker", "<empty>", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := source.Record{Line: 7, Values: []string{"c-9", tt.objectID, "ana@example.com", "Ana", "yes"}}
			if !tt.wantErr {
				p, err := m.Build(rec)
				require.NoError(t, err)
				require.Equal(t, tt.objectID, p.ObjectID)
				return
			}
			re := buildErr(t, m, rec)
			require.Equal(t, 7, re.Line)
			require.Equal(t, "c-9", re.Key)
			require.Equal(t, "objectId", re.Field)
			require.Equal(t, "DRUID Id", re.Column)
			require.Equal(t, `line 7 (key "c-9"): objectId (column "DRUID Id"): required with an administrative token `+
				`(static --token, --token-file or --client-id): the CRM must hold each user's DRUID id`, re.Error())
		})
	}

	// Without the option an empty objectId is left out, as before.
	p, err := compile(t, f, header, Options{}).Build(source.Record{Line: 7, Values: []string{"c-9", "", "ana@example.com", "Ana", "yes"}})
	require.NoError(t, err)
	require.Empty(t, p.ObjectID)

	// A mapping with no objectId column is a configuration error.
	_, err = Compile(nil, []string{"key", "ids.email", "datas.name", "assertions.terms"}, Options{RequireObjectID: true})
	require.ErrorContains(t, err, "no column maps to objectId, required with an administrative token")

	// A record with its own token needs no objectId: the token names the user.
	withTokens := compile(t, nil, []string{"key", "token", "objectId", "ids.email", "datas.name", "assertions.terms"}, Options{RequireObjectID: true})
	_, err = withTokens.Build(source.Record{Line: 2, Values: []string{"c-1", "tok-1", "", "ana@example.com", "Ana", "yes"}})
	require.NoError(t, err)
	_, err = withTokens.Build(source.Record{Line: 3, Values: []string{"c-2", "", "", "ana@example.com", "Ana", "yes"}})
	require.ErrorContains(t, err, "objectId: required with an administrative token")
	_, err = Compile(nil, []string{"key", "token", "ids.email", "datas.name", "assertions.terms"}, Options{RequireObjectID: true})
	require.NoError(t, err, "a token column can name every user")
}

// TestRequiredOnAPathColumn: a source whose columns are payload paths marks one required by
// listing it under its own name.
func TestRequiredOnAPathColumn(t *testing.T) {
	t.Parallel()
	header := []string{"key", "ids.email", "ids.screen_name", "datas.name", "assertions.terms"}
	m := compile(t, &File{Columns: map[string]Column{"ids.email": {To: "ids.email", Required: true}}}, header, Options{})
	re := buildErr(t, m, source.Record{Line: 2, Values: []string{"k", "", "ana", "Ana", "yes"}})
	require.Equal(t, "ids.email", re.Field)
	require.Contains(t, re.Reason, "the column is required")
}
