package sink_test

import (
	"cmp"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/jsontest"
	"druid-migrate/sink"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.jsonl from the lines encoded now")

// bulkUser is a user with every part a line carries, and a password it must not.
func bulkUser() sink.User {
	return sink.User{
		ObjectType: sink.ObjectTypeUser,
		ObjectID:   "5f1e0c2a9b",
		Password:   "Chang3-me!",
		IDs: map[string]sink.ID{
			"phone_number": {ObjectType: sink.ObjectTypeUserID, Value: "+34600112233"},
			"email":        {ObjectType: sink.ObjectTypeUserID, Value: "ana.garcia@example.com", Confirmed: boolPtr(true)},
		},
		Datas: map[string]sink.Data{
			"name":     {ObjectType: sink.ObjectTypeUserData, Value: "Ana"},
			"surname":  {ObjectType: sink.ObjectTypeUserData, Value: "García López"},
			"birthday": {ObjectType: sink.ObjectTypeUserData, Value: "22/10/1974"},
		},
		Addresses: &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: 2, Items: []sink.Address{
			{ObjectType: sink.ObjectTypeAddress, Type: "home", StreetAddress: "Gran Vía 1", Locality: "Madrid", PostalCode: "28013"},
			{ObjectType: sink.ObjectTypeAddress, Type: "work", Locality: "Madrid", Country: "ES"},
		}},
		Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 2, Items: []sink.Assertion{
			{ObjectType: sink.ObjectTypeAssertion, Type: "optin", Typology: sink.TypologyUser, Value: true},
			{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: false},
		}},
	}
}

// bulkPayload is the payload of u, with the fields empty names explicitly emptied.
func bulkPayload(u sink.User, empty ...string) *sink.Payload {
	return &sink.Payload{Key: "crm-1", ObjectID: u.ObjectID, Request: sink.Request{Object: u}, Empty: empty}
}

// TestAppendBulkLineGolden pins the exact lines of representative payloads: any change of the
// line's shape shows up here as a diff to review (go test ./sink -update rewrites the files).
func TestAppendBulkLineGolden(t *testing.T) {
	t.Parallel()
	sparse := sink.User{
		ObjectType: sink.ObjectTypeUser, ObjectID: "5f1e0c2a9c",
		IDs:   map[string]sink.ID{"email": {ObjectType: sink.ObjectTypeUserID, Value: "luis@example.com"}},
		Datas: map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: "Luis"}},
	}
	emptied := bulkUser()
	delete(emptied.IDs, "phone_number")
	delete(emptied.Datas, "surname")
	emptied.IDs["email"] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: "ana.garcia@example.com"}
	tests := []struct {
		name string
		p    *sink.Payload
	}{
		{"typical", bulkPayload(bulkUser())},
		// Only what the source holds: DRUID keeps the rest.
		{"sparse", bulkPayload(sparse)},
		// Every kind of field the mapping's <empty> marker can name, beside values.
		{"explicit-empty", bulkPayload(emptied, "ids.phone_number", "datas.surname", "ids.email.confirmed",
			"addresses.home.locality", "addresses.other.country", "addresses.other.region", "assertions.terms",
			"assertions.gdpr", "password", "ids.fax.confirmed")},
	}
	var batch []byte
	for _, tt := range tests {
		line := sink.AppendBulkLine(nil, tt.p)
		require.True(t, json.Valid(line), "%s: %s", tt.name, line)
		require.NotContains(t, string(line), "\n")
		require.NotContains(t, string(line), "Chang3-me!", "a line carries no password")

		path := filepath.Join("testdata", "bulk-"+tt.name+".golden.jsonl")
		if *update {
			require.NoError(t, os.WriteFile(path, append(line, '\n'), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./sink -update to create it")
		require.Equal(t, string(want), string(line)+"\n", tt.name)

		batch = sink.AppendBulkLine(append(batch, '\n'), tt.p)
		require.Equal(t, string(line), string(batch[len(batch)-len(line):]), "appends to what the buffer holds")
	}
}

// TestAppendBulkLineSemantics says in the test what the golden files show: a field the payload
// lacks is left out, one it explicitly empties is null.
func TestAppendBulkLineSemantics(t *testing.T) {
	t.Parallel()
	u := bulkUser()
	delete(u.IDs, "phone_number")
	delete(u.Datas, "birthday")
	u.Addresses, u.Assertions = nil, nil
	line := decodeLine(t, sink.AppendBulkLine(nil, bulkPayload(u, "ids.phone_number", "datas.surname")))

	require.Equal(t, "5f1e0c2a9b", line["object_id"])
	require.NotContains(t, line, "objectType", "the user's objectType is not part of a line")
	require.NotContains(t, line, "objectId")
	require.NotContains(t, line, "password")
	require.NotContains(t, line, "addresses", "no address in the payload: the section is left out")
	require.NotContains(t, line, "assertions")

	ids := line["ids"].(map[string]any)
	require.Contains(t, ids, "phone_number")
	require.Nil(t, ids["phone_number"], "explicitly emptied: null, which removes it")
	require.Equal(t, map[string]any{"objectType": "user_id", "value": "ana.garcia@example.com", "confirmed": true}, ids["email"])

	datas := line["datas"].(map[string]any)
	require.NotContains(t, datas, "birthday", "absent from the payload: left out, so DRUID keeps it")
	require.Contains(t, datas, "surname")
	require.Nil(t, datas["surname"], "a value and the marker for the same field: the marker wins")
	require.Equal(t, map[string]any{"objectType": "user_data", "value": "Ana"}, datas["name"])

	// The object_id comes from the request when the payload does not name it.
	p := bulkPayload(u)
	p.ObjectID = ""
	require.Equal(t, "5f1e0c2a9b", decodeLine(t, sink.AppendBulkLine(nil, p))["object_id"])
}

func decodeLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(line, &m), "%s", line)
	return m
}

// TestAppendBulkLineMatchesEncodingJSON holds the line to encoding/json's encoding of the map
// that AppendBulkLine's documentation describes, over payloads that reach every branch.
func TestAppendBulkLineMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	emptyAll := []string{"ids.phone_number", "ids.email.confirmed", "ids.new.confirmed", "datas.name", "datas.gone",
		"addresses.home.postalCode", "addresses.home.streetAddress", "addresses.a.b.country", "addresses.x.nofield",
		"addresses.nodot", "assertions.optin", "assertions.zz", "assertions.aa", "password", "objectId", "ids", "",
		"ids.email.confirmed"}
	tests := map[string]*sink.Payload{
		"zero":          {},
		"typical":       bulkPayload(bulkUser()),
		"every removal": bulkPayload(bulkUser(), emptyAll...),
		"only removals": bulkPayload(sink.User{ObjectID: "u"}, emptyAll...),
		"nil items": bulkPayload(sink.User{Addresses: &sink.Addresses{TotalItems: 3},
			Assertions: &sink.Assertions{TotalItems: 1}}, "addresses.home.region"),
	}
	for i, s := range jsontest.TrickyStrings {
		u := sink.User{
			ObjectID: s, Password: s,
			IDs:       map[string]sink.ID{s: {ObjectType: s, Value: s, Confirmed: boolPtr(i%2 == 0)}, s + "x": {Value: s}},
			Datas:     map[string]sink.Data{s: {ObjectType: s, Value: s}},
			Addresses: &sink.Addresses{ObjectType: s, Items: []sink.Address{{ObjectType: s, Type: s, Locality: s, Country: s}}},
			Assertions: &sink.Assertions{ObjectType: s, Items: []sink.Assertion{
				{ObjectType: s, Type: s, Typology: s, Value: true}, {Type: s + "y"},
			}},
		}
		tests["tricky "+string(rune('a'+i))] = bulkPayload(u, "ids."+s+"x.confirmed", "datas.y"+s,
			"addresses."+s+".region", "assertions."+s+"y")
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireLineAsReference(t, p)
		})
	}
}

// FuzzBulkLineMatchesEncodingJSON holds AppendBulkLine to the reference for any payload: fields
// and shape build the user as FuzzBodyMatchesEncodingJSON does, and empties holds the paths of
// Payload.Empty separated by \x1f.
func FuzzBulkLineMatchesEncodingJSON(f *testing.F) {
	for i, s := range jsontest.TrickyStrings {
		f.Add(strings.Repeat(s+"\x1f", 12), uint64(i)*0x9e3779b97f4a7c15, "ids."+s+"\x1fdatas."+s)
	}
	f.Add("app\x1fapplication\x1fupdate\x1fpc\x1fdevice\x1fuser\x1fd1\x1f\x1femail\x1fuser_id\x1fa@b.co", ^uint64(0),
		"ids.email.confirmed\x1fdatas.name\x1faddresses.home.locality\x1fassertions.terms")
	f.Add("", uint64(0), "")
	f.Add("\x1f\x1f\x1f", uint64(0xffff_0000_ffff), "addresses..\x1fids..confirmed\x1fassertions.")
	f.Fuzz(func(t *testing.T, fields string, shape uint64, empties string) {
		r := fuzzRequest(fields, shape, 0, 0)
		p := &sink.Payload{ObjectID: r.Object.ObjectID, Request: *r}
		if empties != "" {
			p.Empty = strings.Split(empties, "\x1f")
		}
		requireLineAsReference(t, p)
	})
}

// requireLineAsReference fails unless AppendBulkLine writes p as one line that decodes to what
// encoding/json makes of referenceLine(p).
func requireLineAsReference(t *testing.T, p *sink.Payload) {
	t.Helper()
	line := sink.AppendBulkLine(nil, p)
	require.NotContains(t, string(line), "\n")
	var got, want any
	require.NoError(t, json.Unmarshal(line, &got), "not JSON: %q", line)
	ref, err := json.Marshal(referenceLine(p))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(ref, &want))
	require.Equal(t, want, got, "line %s", line)
}

// referenceLine builds the line of p as a map, from AppendBulkLine's documentation and
// independently of its code.
func referenceLine(p *sink.Payload) map[string]any {
	u := &p.Request.Object
	line := map[string]any{"object_id": cmp.Or(p.ObjectID, u.ObjectID)}
	ids := map[string]any{}
	for k, id := range u.IDs {
		e := map[string]any{"objectType": id.ObjectType, "value": id.Value}
		if id.Confirmed != nil {
			e["confirmed"] = *id.Confirmed
		}
		ids[k] = e
	}
	datas := map[string]any{}
	for k, d := range u.Datas {
		datas[k] = map[string]any{"objectType": d.ObjectType, "value": d.Value}
	}
	var addrs, asserts []map[string]any
	addrType := sink.ObjectTypeAddresses
	if a := u.Addresses; a != nil {
		addrType = a.ObjectType
		addrs = []map[string]any{}
		for _, it := range a.Items {
			m := map[string]any{"objectType": it.ObjectType, "type": it.Type}
			for k, v := range map[string]string{"streetAddress": it.StreetAddress, "locality": it.Locality,
				"region": it.Region, "postalCode": it.PostalCode, "country": it.Country} {
				if v != "" {
					m[k] = v
				}
			}
			addrs = append(addrs, m)
		}
	}
	assertType := sink.ObjectTypeAssertions
	if a := u.Assertions; a != nil {
		assertType = a.ObjectType
		asserts = []map[string]any{}
		for _, it := range a.Items {
			asserts = append(asserts, map[string]any{"objectType": it.ObjectType, "type": it.Type,
				"typology": it.Typology, "value": it.Value})
		}
	}
	// The items only Empty names, by type, after the payload's.
	var addrOnly, assertOnly []map[string]any
	item := func(items []map[string]any, only *[]map[string]any, objectType, typ string) []map[string]any {
		var found []map[string]any
		for _, m := range items {
			if m["type"] == typ {
				found = append(found, m)
			}
		}
		if len(found) > 0 {
			return found
		}
		for _, m := range *only {
			if m["type"] == typ {
				return []map[string]any{m}
			}
		}
		m := map[string]any{"objectType": objectType, "type": typ}
		*only = append(*only, m)
		return []map[string]any{m}
	}
	for _, path := range p.Empty {
		section, rest, _ := strings.Cut(path, ".")
		if rest == "" {
			continue
		}
		switch section {
		case "ids":
			if name, ok := strings.CutSuffix(rest, ".confirmed"); ok {
				switch e, has := ids[name]; {
				case !has:
					ids[name] = map[string]any{"confirmed": nil}
				case e != nil:
					e.(map[string]any)["confirmed"] = nil
				}
			} else {
				ids[rest] = nil
			}
		case "datas":
			datas[rest] = nil
		case "addresses":
			i := strings.LastIndexByte(rest, '.')
			if i < 0 {
				continue
			}
			field := rest[i+1:]
			if !slices.Contains([]string{"streetAddress", "locality", "region", "postalCode", "country"}, field) {
				continue
			}
			for _, m := range item(addrs, &addrOnly, sink.ObjectTypeAddress, rest[:i]) {
				m[field] = nil
			}
		case "assertions":
			for _, m := range item(asserts, &assertOnly, sink.ObjectTypeAssertion, rest) {
				delete(m, "typology")
				m["value"] = nil
			}
		}
	}
	if len(ids) > 0 {
		line["ids"] = ids
	}
	if len(datas) > 0 {
		line["datas"] = datas
	}
	byType := func(a, b map[string]any) int { return strings.Compare(a["type"].(string), b["type"].(string)) }
	slices.SortFunc(addrOnly, byType)
	slices.SortFunc(assertOnly, byType)
	if addrs != nil || addrOnly != nil {
		items := append(append([]map[string]any{}, addrs...), addrOnly...)
		line["addresses"] = map[string]any{"objectType": addrType, "totalItems": len(items), "items": items}
	}
	if asserts != nil || assertOnly != nil {
		items := append(append([]map[string]any{}, asserts...), assertOnly...)
		line["assertions"] = map[string]any{"objectType": assertType, "totalItems": len(items), "items": items}
	}
	return line
}
