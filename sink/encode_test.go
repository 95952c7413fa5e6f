package sink_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/jsontest"
	"druid-migrate/sink"
)

func boolPtr(v bool) *bool { return &v }

// TestAppendRequestMatchesEncodingJSON holds the hand-written encoder to json.Marshal over
// payloads that reach every branch: the payload hash of every checkpoint row depends on it.
func TestAppendRequestMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	many := func(n int) (map[string]sink.ID, map[string]sink.Data) {
		ids, datas := map[string]sink.ID{}, map[string]sink.Data{}
		for i := range n {
			k := strconv.Itoa(n - i) // "10" sorts before "9": byte order, not numeric
			ids[k] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: "v" + k, Confirmed: boolPtr(i%2 == 0)}
			datas[k] = sink.Data{ObjectType: sink.ObjectTypeUserData, Value: k}
		}
		return ids, datas
	}
	manyIDs, manyDatas := many(40)
	tests := map[string]sink.Request{
		"zero": {},
		"typical": {
			Actor: sink.Actor{ID: "231705665113870", ObjectType: sink.ObjectTypeApplication},
			Verb:  "update",
			Object: sink.User{
				ObjectType: sink.ObjectTypeUser, ObjectID: "5f1e0c2a9b", Password: "Chang3-me!",
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
					{ObjectType: sink.ObjectTypeAddress, Type: "work", StreetAddress: "Paseo de la Castellana 200",
						Locality: "Madrid", Region: "M", PostalCode: "28046", Country: "ES"},
				}},
				Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 2, Items: []sink.Assertion{
					{ObjectType: sink.ObjectTypeAssertion, Type: "optin", Typology: sink.TypologyUser, Value: true},
					{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: false},
				}},
			},
			Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
		},
		"empty maps and collections": {
			Object: sink.User{
				IDs: map[string]sink.ID{}, Datas: map[string]sink.Data{},
				Addresses:  &sink.Addresses{Items: []sink.Address{}},
				Assertions: &sink.Assertions{Items: []sink.Assertion{}},
			},
		},
		"nil items": {
			Object: sink.User{Addresses: &sink.Addresses{TotalItems: 3}, Assertions: &sink.Assertions{TotalItems: -1}},
		},
		"extreme totals": {
			Object: sink.User{
				Addresses:  &sink.Addresses{TotalItems: math.MaxInt, Items: []sink.Address{{}}},
				Assertions: &sink.Assertions{TotalItems: math.MinInt, Items: []sink.Assertion{{}, {Value: true}}},
			},
		},
		"more entries than the stack buffers": {Object: sink.User{IDs: manyIDs, Datas: manyDatas}},
		"empty and escaped keys": {Object: sink.User{
			IDs: map[string]sink.ID{"": {}, "<": {Confirmed: boolPtr(false)}, "\u2028": {}, "\xff": {}, "a": {}, "B": {}, "é": {}, "z": {}},
			Datas: map[string]sink.Data{
				"": {}, "&": {Value: "&"}, "\x00": {}, "\xfe": {}, "\ufffd": {}, "Z": {}, "a\"b": {}, "a\\b": {}, "a": {},
			},
		}},
	}
	for i, s := range jsontest.TrickyStrings {
		tests["tricky "+strconv.Itoa(i)] = sink.Request{
			Actor:  sink.Actor{ID: s, ObjectType: s},
			Verb:   s,
			Source: sink.Device{ID: s, ObjectType: s},
			Object: sink.User{
				ObjectType: s, ObjectID: s, Password: s,
				IDs:   map[string]sink.ID{s: {ObjectType: s, Value: s, Confirmed: boolPtr(len(s)%2 == 0)}, s + "x": {Value: s}},
				Datas: map[string]sink.Data{s: {ObjectType: s, Value: s}, "x" + s: {Value: s}},
				Addresses: &sink.Addresses{ObjectType: s, TotalItems: len(s), Items: []sink.Address{{
					ObjectType: s, Type: s, StreetAddress: s, Locality: s, Region: s, PostalCode: s, Country: s,
				}}},
				Assertions: &sink.Assertions{ObjectType: s, TotalItems: -len(s), Items: []sink.Assertion{
					{ObjectType: s, Type: s, Typology: s, Value: len(s)%2 == 1},
				}},
			},
		}
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireSameAsEncodingJSON(t, &r)
		})
	}
}

// requireSameAsEncodingJSON fails unless AppendRequest writes json.Marshal's bytes for r,
// appended to what a buffer already holds.
func requireSameAsEncodingJSON(t *testing.T, r *sink.Request) {
	t.Helper()
	want, err := json.Marshal(r)
	require.NoError(t, err)
	if got := sink.AppendRequest(nil, r); !bytes.Equal(want, got) {
		t.Fatalf("AppendRequest differs from json.Marshal:\n got %q\nwant %q", got, want)
	}
	prefix := []byte("prefix")
	if got := sink.AppendRequest(prefix, r); !bytes.Equal(append([]byte("prefix"), want...), got) {
		t.Fatalf("AppendRequest does not append: %q", got)
	}
}

// FuzzBodyMatchesEncodingJSON holds AppendRequest to json.Marshal for any request: fields holds
// the request's strings separated by \x1f, shape decides which parts exist and how many map
// entries and items there are, and the totals are the collections' totalItems.
func FuzzBodyMatchesEncodingJSON(f *testing.F) {
	for i, s := range jsontest.TrickyStrings {
		f.Add(strings.Repeat(s+"\x1f", 12), uint64(i)*0x9e3779b97f4a7c15, int64(i), int64(-i))
	}
	f.Add("app\x1fapplication\x1fupdate\x1fpc\x1fdevice\x1fuser\x1fd1\x1f\x1femail\x1fuser_id\x1fa@b.co", ^uint64(0), int64(1), int64(2))
	f.Add("", uint64(0), int64(0), int64(0))
	f.Add("\x1f\x1f\x1f", uint64(0xffff_0000_ffff), int64(math.MaxInt64), int64(math.MinInt64))
	f.Add("b\x1fa\x1fB\x1fA\x1f\xff\x1f\x00\x1f<\x1f&", uint64(0x5555_5555_5555_5555), int64(-1), int64(7))
	f.Fuzz(func(t *testing.T, fields string, shape uint64, total1, total2 int64) {
		r := fuzzRequest(fields, shape, int(total1), int(total2))
		requireSameAsEncodingJSON(t, r)
	})
}

// fuzzRequest builds a request from a fuzzer's input (see FuzzBodyMatchesEncodingJSON). Running
// out of fields gives empty strings, running out of shape gives nothing more.
func fuzzRequest(fields string, shape uint64, total1, total2 int) *sink.Request {
	parts := strings.Split(fields, "\x1f")
	next := func() string {
		if len(parts) == 0 {
			return ""
		}
		s := parts[0]
		parts = parts[1:]
		return s
	}
	bits := func(n uint) int {
		v := int(shape & (1<<n - 1))
		shape >>= n
		return v
	}
	r := &sink.Request{
		Actor:  sink.Actor{ID: next(), ObjectType: next()},
		Verb:   next(),
		Source: sink.Device{ID: next(), ObjectType: next()},
	}
	u := &r.Object
	u.ObjectType, u.ObjectID, u.Password = next(), next(), next()
	if n := bits(4); n > 0 {
		u.IDs = make(map[string]sink.ID)
		for range n - 1 { // 1 is an empty map
			id := sink.ID{ObjectType: next(), Value: next()}
			if c := bits(2); c > 0 {
				id.Confirmed = boolPtr(c == 2)
			}
			u.IDs[next()] = id
		}
	}
	if n := bits(4); n > 0 {
		u.Datas = make(map[string]sink.Data)
		for range n - 1 {
			d := sink.Data{ObjectType: next(), Value: next()}
			u.Datas[next()] = d
		}
	}
	if n := bits(3); n > 0 {
		u.Addresses = &sink.Addresses{ObjectType: next(), TotalItems: total1}
		if n > 1 { // 1 is nil items
			u.Addresses.Items = []sink.Address{}
			for range n - 2 {
				u.Addresses.Items = append(u.Addresses.Items, sink.Address{
					ObjectType: next(), Type: next(), StreetAddress: next(), Locality: next(),
					Region: next(), PostalCode: next(), Country: next(),
				})
			}
		}
	}
	if n := bits(3); n > 0 {
		u.Assertions = &sink.Assertions{ObjectType: next(), TotalItems: total2}
		if n > 1 {
			u.Assertions.Items = []sink.Assertion{}
			for range n - 2 {
				u.Assertions.Items = append(u.Assertions.Items, sink.Assertion{
					ObjectType: next(), Type: next(), Typology: next(), Value: bits(1) == 1,
				})
			}
		}
	}
	return r
}
