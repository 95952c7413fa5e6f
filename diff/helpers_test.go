package diff

import (
	"encoding/json"
	"testing"

	"druid-migrate/sink"
)

// The builders below write users as tersely as the tables need them; object types are left
// to the functions under test, which must not depend on them.

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func id(v string, confirmed *bool) sink.ID {
	return sink.ID{ObjectType: sink.ObjectTypeUserID, Value: v, Confirmed: confirmed}
}

func data(v string) sink.Data { return sink.Data{ObjectType: sink.ObjectTypeUserData, Value: v} }

func addrs(items ...sink.Address) *sink.Addresses {
	return &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: len(items), Items: items}
}

func asserts(items ...sink.Assertion) *sink.Assertions {
	return &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: len(items), Items: items}
}

func assertion(typ string, v bool) sink.Assertion {
	return sink.Assertion{ObjectType: sink.ObjectTypeAssertion, Type: typ, Typology: sink.TypologyUser, Value: v}
}

// ana is a user with every kind of field, as DRUID returns it (no password). Each call
// returns a fresh one, so a test may change it.
func ana() *sink.User {
	return &sink.User{
		ObjectType: sink.ObjectTypeUser,
		ObjectID:   "u-1",
		IDs: map[string]sink.ID{
			"email":        id("ana@example.com", yes()),
			"phone_number": id("+34600000000", no()),
		},
		Datas: map[string]sink.Data{"name": data("Ana"), "surname": data("García")},
		Addresses: addrs(
			sink.Address{ObjectType: sink.ObjectTypeAddress, Type: "home", StreetAddress: "Gran Vía 1",
				Locality: "Madrid", Region: "M", PostalCode: "28013", Country: "ES"},
			sink.Address{ObjectType: sink.ObjectTypeAddress, Type: "work", Locality: "Madrid"},
		),
		Assertions: asserts(assertion("optin", false), assertion("terms", true)),
	}
}

// encode is the JSON the sink would send for u: what the payload hash is computed over.
func encode(t testing.TB, u *sink.User) string {
	t.Helper()
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
