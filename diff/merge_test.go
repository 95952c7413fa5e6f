package diff

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/sink"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the merges made now")

func TestMerge(t *testing.T) {
	t.Parallel()
	// The expectations are written in full: Merge's output is a payload, whose every field
	// ends up in DRUID.
	tests := []struct {
		name            string
		current, source *sink.User
		empty           map[string]bool
		want            *sink.User
	}{
		{name: "both nil", want: &sink.User{ObjectType: "user"}},
		{name: "a source with nothing keeps everything", current: ana(), source: &sink.User{}, want: ana()},
		{name: "nil source keeps everything", current: ana(), want: ana()},
		{name: "nil current takes the source", source: ana(), want: ana()},

		{name: "objectId from the source",
			current: &sink.User{ObjectID: "u-1"}, source: &sink.User{ObjectID: "u-2"},
			want: &sink.User{ObjectType: "user", ObjectID: "u-2"}},
		{name: "objectId from current when the source has none",
			current: &sink.User{ObjectID: "u-1"}, source: &sink.User{Datas: map[string]sink.Data{"name": data("Ana")}},
			want: &sink.User{ObjectType: "user", ObjectID: "u-1", Datas: map[string]sink.Data{"name": data("Ana")}}},
		{name: "the password is the source's only",
			current: &sink.User{Password: "old"}, source: &sink.User{Password: "new"},
			want: &sink.User{ObjectType: "user", Password: "new"}},
		{name: "no password without the source's",
			current: &sink.User{Password: "old"}, source: &sink.User{},
			want: &sink.User{ObjectType: "user"}},

		{name: "ids per name",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil), "phone_number": id("+34600000000", no())}},
			source:  &sink.User{IDs: map[string]sink.ID{"email": id("b@x.es", nil), "nif": id("1234", nil)}},
			want: &sink.User{ObjectType: "user", IDs: map[string]sink.ID{
				"email": id("b@x.es", nil), "phone_number": id("+34600000000", no()), "nif": id("1234", nil)}}},
		{name: "confirmed kept when the source gives the same value and no flag",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			source:  &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			want:    &sink.User{ObjectType: "user", IDs: map[string]sink.ID{"email": id("a@x.es", yes())}}},
		{name: "confirmed dropped when the value changes: it spoke of the old one",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			source:  &sink.User{IDs: map[string]sink.ID{"email": id("b@x.es", nil)}},
			want:    &sink.User{ObjectType: "user", IDs: map[string]sink.ID{"email": id("b@x.es", nil)}}},
		{name: "the source's flag wins",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes()), "phone_number": id("+34600000000", nil)}},
			source:  &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", no()), "phone_number": id("+34611111111", yes())}},
			want: &sink.User{ObjectType: "user", IDs: map[string]sink.ID{
				"email": id("a@x.es", no()), "phone_number": id("+34611111111", yes())}}},
		{name: "a source id without a value is no id",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			source:  &sink.User{IDs: map[string]sink.ID{"email": id("", no())}},
			want:    &sink.User{ObjectType: "user", IDs: map[string]sink.ID{"email": id("a@x.es", yes())}}},

		{name: "datas per name",
			current: &sink.User{Datas: map[string]sink.Data{"name": data("Ana"), "surname": data("García")}},
			source:  &sink.User{Datas: map[string]sink.Data{"name": data("Anna"), "country": data("ES"), "surname": data("")}},
			want: &sink.User{ObjectType: "user", Datas: map[string]sink.Data{
				"name": data("Anna"), "surname": data("García"), "country": data("ES")}}},

		{name: "addresses per type and per field",
			current: &sink.User{Addresses: addrs(
				sink.Address{Type: "work", Locality: "Bilbao"},
				sink.Address{Type: "home", StreetAddress: "Gran Vía 1", Locality: "Madrid", Region: "M"})},
			source: &sink.User{Addresses: addrs(
				sink.Address{Type: "home", Locality: "Toledo", PostalCode: "45001"},
				sink.Address{Type: "billing", Country: "ES"})},
			want: &sink.User{ObjectType: "user", Addresses: addrs(
				sink.Address{ObjectType: "address", Type: "billing", Country: "ES"},
				sink.Address{ObjectType: "address", Type: "home", StreetAddress: "Gran Vía 1", Locality: "Toledo",
					Region: "M", PostalCode: "45001"},
				sink.Address{ObjectType: "address", Type: "work", Locality: "Bilbao"})}},

		{name: "assertions per type, the source's item whole",
			current: &sink.User{Assertions: asserts(assertion("terms", true),
				sink.Assertion{Type: "optin", Typology: "legal", Value: true})},
			source: &sink.User{Assertions: asserts(assertion("optin", false), assertion("privacy", true))},
			want: &sink.User{ObjectType: "user", Assertions: asserts(
				assertion("optin", false), assertion("privacy", true), assertion("terms", true))}},

		{name: "explicit empties remove",
			current: ana(), source: &sink.User{Password: "pw", Datas: map[string]sink.Data{"name": data("Anna")}},
			empty: map[string]bool{
				"ids.phone_number":        true,
				"ids.email.confirmed":     true,
				"datas.surname":           true,
				"addresses.home.locality": true,
				"addresses.home.region":   true,
				"addresses.work.locality": true, // work's only field: the address goes
				"assertions.optin":        true,
				"password":                true,
				"datas.name":              false, // false is no request
				// Paths that name no field are ignored, not guessed at.
				"objectId":              true,
				"addresses.home":        true,
				"addresses.home.street": true,
				"datas":                 true,
				"ids.nif":               true,
				"assertions.privacy":    true,
				"password.x":            true,
			},
			want: &sink.User{ObjectType: "user", ObjectID: "u-1",
				IDs:   map[string]sink.ID{"email": id("ana@example.com", nil)},
				Datas: map[string]sink.Data{"name": data("Anna")},
				Addresses: addrs(sink.Address{ObjectType: "address", Type: "home", StreetAddress: "Gran Vía 1",
					PostalCode: "28013", Country: "ES"}),
				Assertions: asserts(assertion("terms", true))}},
		{name: "an explicit empty wins over the source's value",
			current: &sink.User{Datas: map[string]sink.Data{"name": data("Ana"), "surname": data("García")}},
			source:  &sink.User{Datas: map[string]sink.Data{"name": data("Anna")}, IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			empty:   map[string]bool{"datas.name": true, "ids.email": true},
			want:    &sink.User{ObjectType: "user", Datas: map[string]sink.Data{"surname": data("García")}}},
		{name: "emptying everything leaves sections absent",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)},
				Addresses: addrs(sink.Address{Type: "home", Country: "ES"}), Assertions: asserts(assertion("terms", true))},
			empty: map[string]bool{"ids.email": true, "addresses.home.country": true, "assertions.terms": true},
			want:  &sink.User{ObjectType: "user"}},

		{name: "normalized: object types, repeated types, empty values, totalItems",
			current: &sink.User{
				IDs:   map[string]sink.ID{"email": {Value: "a@x.es"}, "nif": {Value: "", Confirmed: yes()}},
				Datas: map[string]sink.Data{"name": {Value: "Ana"}, "surname": {}},
				Addresses: &sink.Addresses{TotalItems: 7, Items: []sink.Address{
					{Type: "home", Locality: "Madrid", Region: "M"}, {Type: "home", Locality: "Toledo"}, {Type: "work"}}},
				Assertions: &sink.Assertions{Items: []sink.Assertion{
					{Type: "terms", Typology: "user", Value: false}, {Type: "terms", Typology: "user", Value: true}}},
			},
			want: &sink.User{ObjectType: "user",
				IDs:        map[string]sink.ID{"email": id("a@x.es", nil)},
				Datas:      map[string]sink.Data{"name": data("Ana")},
				Addresses:  addrs(sink.Address{ObjectType: "address", Type: "home", Locality: "Toledo", Region: "M"}),
				Assertions: asserts(assertion("terms", true))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := encode(t, tt.current) + encode(t, tt.source)
			got := Merge(tt.current, tt.source, tt.empty)
			require.Equal(t, tt.want, got)
			require.Equal(t, before, encode(t, tt.current)+encode(t, tt.source), "Merge changed its arguments")
			requireOnlyEmptiedRemoved(t, tt.current, got, tt.empty)
		})
	}
}

// requireOnlyEmptiedRemoved checks that merging removed nothing but what explicitEmpty
// named (an id takes its confirmed flag with it).
func requireOnlyEmptiedRemoved(t testing.TB, current, merged *sink.User, explicitEmpty map[string]bool) {
	t.Helper()
	for _, c := range Removed(Diff(current, merged)) {
		idPath, isFlag := strings.CutSuffix(c.Field, confirmedSuffix)
		if !explicitEmpty[c.Field] && !(isFlag && explicitEmpty[idPath]) {
			t.Fatalf("merge removed %s, which was not explicitly emptied", c.Field)
		}
	}
}

func TestMergeKeepsEveryFieldTheSourceLacks(t *testing.T) {
	t.Parallel()
	// One source per field kind, each holding a single field: the rest of ana must stay.
	sources := map[string]*sink.User{
		"id":        {IDs: map[string]sink.ID{"email": id("new@x.es", nil)}},
		"flag":      {IDs: map[string]sink.ID{"phone_number": id("+34600000000", yes())}},
		"data":      {Datas: map[string]sink.Data{"name": data("Anna")}},
		"address":   {Addresses: addrs(sink.Address{Type: "home", Locality: "Toledo"})},
		"assertion": {Assertions: asserts(assertion("optin", true))},
	}
	for name, src := range sources {
		changes := Diff(ana(), Merge(ana(), src, nil))
		require.Empty(t, Removed(changes), name)
		require.NotEmpty(t, changes, "%s: the source's field is applied", name)
		for _, c := range changes {
			require.NotEqual(t, "datas.surname", c.Field, name)
		}
	}
	// objectId names the user and is no field, so Diff cannot show it: checked apart.
	m := Merge(ana(), &sink.User{ObjectID: "u-9"}, nil)
	require.Equal(t, "u-9", m.ObjectID)
	require.Empty(t, Diff(ana(), m))
}

func TestMergeSharesNothing(t *testing.T) {
	t.Parallel()
	current, source := ana(), ana()
	source.IDs["phone_number"] = id("+34600000000", nil) // keeps current's flag
	m := Merge(current, source, nil)
	*m.IDs["email"].Confirmed = false
	*m.IDs["phone_number"].Confirmed = true
	m.Addresses.Items[0].Locality = "Toledo"
	m.Assertions.Items[0].Value = true
	require.Equal(t, ana(), current)
	require.Equal(t, encode(t, ana()), encode(t, Merge(ana(), nil, nil)))
}

func TestMergeIsDeterministic(t *testing.T) {
	t.Parallel()
	current := ana()
	source := &sink.User{
		IDs:        map[string]sink.ID{"email": id("a@x.es", nil), "nif": id("1", nil), "alias": id("ana", yes())},
		Datas:      map[string]sink.Data{"a": data("1"), "b": data("2"), "c": data("3")},
		Addresses:  addrs(sink.Address{Type: "z", Country: "ES"}, sink.Address{Type: "a", Country: "PT"}),
		Assertions: asserts(assertion("z", true), assertion("a", false)),
	}
	empty := map[string]bool{"datas.b": true, "ids.nif": true, "addresses.home.region": true, "assertions.optin": true}
	want := encode(t, Merge(current, source, empty))
	// Map order changes from one range to the next: enough rounds would show one that leaks.
	for range 200 {
		require.Equal(t, want, encode(t, Merge(current, source, empty)))
	}
}

// TestMergeGolden pins the exact body of a representative merge: a CRM export holding only a
// few columns laid over a full DRUID user (go test ./diff -update rewrites the file).
func TestMergeGolden(t *testing.T) {
	t.Parallel()
	source := &sink.User{
		ObjectType: sink.ObjectTypeUser,
		IDs:        map[string]sink.ID{"email": id("ana.garcia@example.com", nil), "phone_number": id("+34600000000", nil)},
		Datas:      map[string]sink.Data{"birthday": data("22/10/1974")},
		Addresses:  addrs(sink.Address{ObjectType: sink.ObjectTypeAddress, Type: "home", Locality: "Toledo", PostalCode: "45001"}),
		Assertions: asserts(assertion("optin", true)),
	}
	got, err := json.MarshalIndent(Merge(ana(), source, map[string]bool{"addresses.work.locality": true}), "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	const path = "testdata/merge.golden.json"
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "merge differs from %s (-update rewrites it):\n%s", path, got)
}
