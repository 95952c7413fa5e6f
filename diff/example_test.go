package diff_test

import (
	"fmt"
	"os"

	"druid-migrate/diff"
	"druid-migrate/sink"
)

func confirmed() *bool { b := true; return &b }

// A CRM row that changes a confirmed email, moves the user to Barcelona, forgets the surname
// and sets a password, against the user DRUID holds now.
func ExampleDiff() {
	current := &sink.User{ // as GET .../user/{objectId} returns it: never a password
		ObjectID: "u-1",
		IDs:      map[string]sink.ID{"email": {Value: "ana@example.com", Confirmed: confirmed()}},
		Datas:    map[string]sink.Data{"name": {Value: "Ana"}, "surname": {Value: "García"}},
		Addresses: &sink.Addresses{TotalItems: 1, Items: []sink.Address{
			{Type: "home", Locality: "Madrid", Country: "ES"}}},
		Assertions: &sink.Assertions{TotalItems: 1, Items: []sink.Assertion{
			{Type: "terms", Typology: sink.TypologyUser, Value: true}}},
	}
	next := &sink.User{ // the payload the mapping built
		ObjectID: "u-1",
		Password: "Chang3-me!",
		IDs:      map[string]sink.ID{"email": {Value: "ana.garcia@example.com"}},
		Datas:    map[string]sink.Data{"name": {Value: "Ana"}},
		Addresses: &sink.Addresses{TotalItems: 1, Items: []sink.Address{
			{Type: "home", Locality: "Barcelona", Country: "ES"}}},
		Assertions: &sink.Assertions{TotalItems: 1, Items: []sink.Assertion{
			{Type: "terms", Typology: sink.TypologyUser, Value: true}}},
	}

	changes := diff.Diff(current, next)
	for _, c := range changes {
		fmt.Printf("%-8s %-24s %q -> %q\n", c.Kind, c.Field, c.Old, c.New)
	}
	fmt.Println("removed:", len(diff.Removed(changes)))
	fmt.Println("confirmed ids lost:", diff.ConfirmedIDsRemoved(current, next))

	totals := diff.Totals{}
	totals.Add(changes)
	if err := totals.WriteTable(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// changed  addresses.home.locality  "Madrid" -> "Barcelona"
	// removed  datas.surname            "García" -> ""
	// changed  ids.email                "ana@example.com" -> "ana.garcia@example.com"
	// changed  ids.email.confirmed      "true" -> "false"
	// changed  password                 "" -> "********"
	// removed: 1
	// confirmed ids lost: []
	// FIELD                    ADDED  CHANGED  REMOVED
	// addresses.home.locality  0      1        0
	// datas.surname            0      0        1
	// ids.email                0      1        0
	// ids.email.confirmed      0      1        0
	// password                 0      1        0
	// TOTAL                    0      4        1
}

// A merge lays a CRM export that holds only the phone over DRUID's user: nothing else is
// lost, and the one field the export explicitly empties goes.
func ExampleMerge() {
	current := &sink.User{
		ObjectID: "u-1",
		IDs:      map[string]sink.ID{"email": {Value: "ana@example.com", Confirmed: confirmed()}},
		Datas:    map[string]sink.Data{"name": {Value: "Ana"}, "nickname": {Value: "Anita"}},
	}
	source := &sink.User{IDs: map[string]sink.ID{"phone_number": {Value: "+34600000000"}}}

	merged := diff.Merge(current, source, map[string]bool{"datas.nickname": true})
	for _, c := range diff.Diff(current, merged) {
		fmt.Printf("%-8s %s\n", c.Kind, c.Field)
	}
	fmt.Println(merged.ObjectID, *merged.IDs["email"].Confirmed)
	// Output:
	// removed  datas.nickname
	// added    ids.phone_number
	// u-1 true
}
