package diff

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/sink"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	home := func(a sink.Address) *sink.Addresses { a.Type = "home"; return addrs(a) }
	tests := []struct {
		name          string
		current, next *sink.User
		want          []Change
	}{
		{name: "both nil"},
		{name: "nil next removes everything", current: &sink.User{
			IDs: map[string]sink.ID{"email": id("a@x.es", yes())}, Datas: map[string]sink.Data{"name": data("Ana")}},
			want: []Change{
				{Field: "datas.name", Kind: KindRemoved, Old: "Ana"},
				{Field: "ids.email", Kind: KindRemoved, Old: "a@x.es"},
				{Field: "ids.email.confirmed", Kind: KindRemoved, Old: "true"},
			}},

		// ids and their confirmed flag
		{name: "id added",
			next: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			want: []Change{{Field: "ids.email", Kind: KindAdded, New: "a@x.es"}}},
		{name: "id added unconfirmed: false is what no flag reads as",
			current: &sink.User{}, next: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", no())}},
			want: []Change{{Field: "ids.email", Kind: KindAdded, New: "a@x.es"}}},
		{name: "id added confirmed",
			next: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			want: []Change{
				{Field: "ids.email", Kind: KindAdded, New: "a@x.es"},
				{Field: "ids.email.confirmed", Kind: KindAdded, New: "true"},
			}},
		{name: "id changed",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("b@x.es", nil)}},
			want:    []Change{{Field: "ids.email", Kind: KindChanged, Old: "a@x.es", New: "b@x.es"}}},
		{name: "id removed unconfirmed",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", no()), "phone_number": id("+34600000000", nil)}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			want:    []Change{{Field: "ids.phone_number", Kind: KindRemoved, Old: "+34600000000"}}},
		{name: "id removed confirmed takes its flag",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			next:    &sink.User{},
			want: []Change{
				{Field: "ids.email", Kind: KindRemoved, Old: "a@x.es"},
				{Field: "ids.email.confirmed", Kind: KindRemoved, Old: "true"},
			}},
		{name: "confirmation lost on the same value is a change",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			want:    []Change{{Field: "ids.email.confirmed", Kind: KindChanged, Old: "true", New: "false"}}},
		{name: "confirmation gained",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			want:    []Change{{Field: "ids.email.confirmed", Kind: KindChanged, Old: "false", New: "true"}}},
		{name: "confirmed id given a new value without a flag",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("b@x.es", nil)}},
			want: []Change{
				{Field: "ids.email", Kind: KindChanged, Old: "a@x.es", New: "b@x.es"},
				{Field: "ids.email.confirmed", Kind: KindChanged, Old: "true", New: "false"},
			}},
		{name: "confirmed id given a new confirmed value",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", yes())}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("b@x.es", yes())}},
			want:    []Change{{Field: "ids.email", Kind: KindChanged, Old: "a@x.es", New: "b@x.es"}}},
		{name: "false and no flag are the same",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", no())}},
			next:    &sink.User{IDs: map[string]sink.ID{"email": id("a@x.es", nil)}}},

		// datas
		{name: "datas added, changed, removed",
			current: &sink.User{Datas: map[string]sink.Data{"name": data("Ana"), "surname": data("García")}},
			next:    &sink.User{Datas: map[string]sink.Data{"name": data("Anna"), "country": data("ES")}},
			want: []Change{
				{Field: "datas.country", Kind: KindAdded, New: "ES"},
				{Field: "datas.name", Kind: KindChanged, Old: "Ana", New: "Anna"},
				{Field: "datas.surname", Kind: KindRemoved, Old: "García"},
			}},

		// addresses, field by field
		{name: "address added",
			next: &sink.User{Addresses: home(sink.Address{Locality: "Madrid", PostalCode: "28013"})},
			want: []Change{
				{Field: "addresses.home.locality", Kind: KindAdded, New: "Madrid"},
				{Field: "addresses.home.postalCode", Kind: KindAdded, New: "28013"},
			}},
		{name: "address fields added, changed, removed",
			current: &sink.User{Addresses: home(sink.Address{StreetAddress: "Gran Vía 1", Locality: "Madrid", Region: "M"})},
			next:    &sink.User{Addresses: home(sink.Address{StreetAddress: "Gran Vía 2", Locality: "Madrid", Country: "ES"})},
			want: []Change{
				{Field: "addresses.home.country", Kind: KindAdded, New: "ES"},
				{Field: "addresses.home.region", Kind: KindRemoved, Old: "M"},
				{Field: "addresses.home.streetAddress", Kind: KindChanged, Old: "Gran Vía 1", New: "Gran Vía 2"},
			}},
		{name: "address removed",
			current: &sink.User{Addresses: addrs(sink.Address{Type: "work", Locality: "Bilbao"}, sink.Address{Type: "home", Country: "ES"})},
			next:    &sink.User{Addresses: addrs(sink.Address{Type: "home", Country: "ES"})},
			want:    []Change{{Field: "addresses.work.locality", Kind: KindRemoved, Old: "Bilbao"}}},
		{name: "address items in another order are the same",
			current: &sink.User{Addresses: addrs(sink.Address{Type: "work", Locality: "Bilbao"}, sink.Address{Type: "home", Country: "ES"})},
			next:    &sink.User{Addresses: addrs(sink.Address{Type: "home", Country: "ES"}, sink.Address{Type: "work", Locality: "Bilbao"})}},
		{name: "a repeated type folds, a later field winning",
			current: &sink.User{Addresses: addrs(sink.Address{Type: "home", Locality: "Madrid", Region: "M"}, sink.Address{Type: "home", Locality: "Toledo"})},
			next:    &sink.User{Addresses: home(sink.Address{Locality: "Toledo", Region: "M"})}},

		// assertions
		{name: "assertions added, changed, removed",
			current: &sink.User{Assertions: asserts(assertion("terms", true), assertion("optin", true))},
			next:    &sink.User{Assertions: asserts(assertion("terms", false), assertion("privacy", true))},
			want: []Change{
				{Field: "assertions.optin", Kind: KindRemoved, Old: "true"},
				{Field: "assertions.privacy", Kind: KindAdded, New: "true"},
				{Field: "assertions.terms", Kind: KindChanged, Old: "true", New: "false"},
			}},
		{name: "an assertion's typology is part of its value",
			current: &sink.User{Assertions: asserts(sink.Assertion{Type: "terms", Typology: "legal", Value: true})},
			next:    &sink.User{Assertions: asserts(assertion("terms", true))},
			want:    []Change{{Field: "assertions.terms", Kind: KindChanged, Old: `true (typology "legal")`, New: "true"}}},

		// the password
		{name: "a password in next is set, masked",
			current: &sink.User{Datas: map[string]sink.Data{"name": data("Ana")}},
			next:    &sink.User{Password: "s3cret!", Datas: map[string]sink.Data{"name": data("Ana")}},
			want:    []Change{{Field: "password", Kind: KindChanged, New: "********"}}},
		{name: "the same password is still reported: it is never compared",
			current: &sink.User{Password: "s3cret!"}, next: &sink.User{Password: "s3cret!"},
			want: []Change{{Field: "password", Kind: KindChanged, New: "********"}}},
		{name: "current's password is never read",
			current: &sink.User{Password: "s3cret!"}, next: &sink.User{}},

		// what is not a field
		{name: "objectId and object types are not fields",
			current: &sink.User{ObjectType: "user", ObjectID: "u-1", IDs: map[string]sink.ID{"email": {ObjectType: "user_id", Value: "a@x.es"}}},
			next:    &sink.User{ObjectID: "u-2", IDs: map[string]sink.ID{"email": {Value: "a@x.es"}}}},
		{name: "empty values are absent",
			current: &sink.User{IDs: map[string]sink.ID{"email": id("", yes())}, Datas: map[string]sink.Data{"name": data("")},
				Addresses: home(sink.Address{}), Assertions: asserts()},
			next: &sink.User{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := encode(t, tt.current) + encode(t, tt.next)
			require.Equal(t, tt.want, Diff(tt.current, tt.next))
			require.Equal(t, before, encode(t, tt.current)+encode(t, tt.next), "Diff changed its arguments")
		})
	}
}

func TestDiffSameIsEmpty(t *testing.T) {
	t.Parallel()
	reordered := ana()
	reordered.Addresses.Items[0], reordered.Addresses.Items[1] = reordered.Addresses.Items[1], reordered.Addresses.Items[0]
	reordered.Assertions.Items[0], reordered.Assertions.Items[1] = reordered.Assertions.Items[1], reordered.Assertions.Items[0]
	for name, u := range map[string]*sink.User{"nil": nil, "empty": {}, "ana": ana(), "reordered": reordered} {
		require.Empty(t, Diff(u, u), name)
		require.Empty(t, Diff(u, Merge(u, nil, nil)), "%s: Merge normalizes without changing a field", name)
	}
	require.Empty(t, Diff(ana(), reordered), "item order carries no meaning")
}

func TestDiffFromNothingIsAllAdded(t *testing.T) {
	t.Parallel()
	want := []Change{
		{Field: "addresses.home.country", Kind: KindAdded, New: "ES"},
		{Field: "addresses.home.locality", Kind: KindAdded, New: "Madrid"},
		{Field: "addresses.home.postalCode", Kind: KindAdded, New: "28013"},
		{Field: "addresses.home.region", Kind: KindAdded, New: "M"},
		{Field: "addresses.home.streetAddress", Kind: KindAdded, New: "Gran Vía 1"},
		{Field: "addresses.work.locality", Kind: KindAdded, New: "Madrid"},
		{Field: "assertions.optin", Kind: KindAdded, New: "false"},
		{Field: "assertions.terms", Kind: KindAdded, New: "true"},
		{Field: "datas.name", Kind: KindAdded, New: "Ana"},
		{Field: "datas.surname", Kind: KindAdded, New: "García"},
		{Field: "ids.email", Kind: KindAdded, New: "ana@example.com"},
		{Field: "ids.email.confirmed", Kind: KindAdded, New: "true"},
		{Field: "ids.phone_number", Kind: KindAdded, New: "+34600000000"},
	}
	require.Equal(t, want, Diff(nil, ana()))
	require.Equal(t, want, Diff(&sink.User{}, ana()), "nil is a user with nothing")

	removed := Diff(ana(), nil)
	require.Len(t, removed, len(want))
	require.Equal(t, removed, Removed(removed), "everything a nil next omits is removed")
}

func TestDiffNeverShowsThePassword(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"x", "Chang3-me!", strings.Repeat("long", 40)} {
		next := ana()
		next.Password = pw
		changes := Diff(ana(), next)
		require.Equal(t, []Change{{Field: "password", Kind: KindChanged, New: PasswordMask}}, changes,
			"the line is the same whatever the password")
		var table strings.Builder
		tot := Totals{}
		tot.Add(changes)
		require.NoError(t, tot.WriteTable(&table))
		require.NotContains(t, table.String(), pw)
	}
}

func TestRemoved(t *testing.T) {
	t.Parallel()
	changes := []Change{
		{Field: "datas.a", Kind: KindAdded, New: "1"},
		{Field: "datas.b", Kind: KindRemoved, Old: "2"},
		{Field: "datas.c", Kind: KindChanged, Old: "3", New: "4"},
		{Field: "datas.d", Kind: KindRemoved, Old: "5"},
	}
	require.Equal(t, []Change{changes[1], changes[3]}, Removed(changes))
	require.Nil(t, Removed(changes[:1]))
	require.Nil(t, Removed(nil))
}

func TestConfirmedIDsRemoved(t *testing.T) {
	t.Parallel()
	current := &sink.User{IDs: map[string]sink.ID{
		"email":        id("a@x.es", yes()),
		"phone_number": id("+34600000000", yes()),
		"nif":          id("1234", no()),
		"alias":        id("ana", nil),
	}}
	ids := func(m map[string]sink.ID) *sink.User { return &sink.User{IDs: m} }
	tests := []struct {
		name          string
		current, next *sink.User
		want          []string
	}{
		{name: "nothing current", next: current},
		{name: "all kept", current: current, next: current},
		{name: "nil next loses every confirmed id", current: current, want: []string{"email", "phone_number"}},
		{name: "removed", current: current, next: ids(map[string]sink.ID{
			"phone_number": id("+34600000000", yes())}),
			want: []string{"email"}},
		{name: "an empty value is a removal", current: current, next: ids(map[string]sink.ID{
			"email": id("", yes()), "phone_number": id("+34600000000", yes())}),
			want: []string{"email"}},
		{name: "same value without the flag loses the confirmation", current: current, next: ids(map[string]sink.ID{
			"email": id("a@x.es", nil), "phone_number": id("+34600000000", no())}),
			want: []string{"email", "phone_number"}},
		{name: "a new value is no removal: the old one stays in force", current: current, next: ids(map[string]sink.ID{
			"email": id("b@x.es", nil), "phone_number": id("+34611111111", yes())})},
		{name: "unconfirmed ids do not count", current: current, next: ids(map[string]sink.ID{
			"email": id("a@x.es", yes()), "phone_number": id("+34600000000", yes())})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, ConfirmedIDsRemoved(tt.current, tt.next))
		})
	}
}

func TestTotals(t *testing.T) {
	t.Parallel()
	tot := Totals{}
	tot.Add(Diff(ana(), &sink.User{Datas: map[string]sink.Data{"name": data("Anna")}, IDs: ana().IDs}))
	tot.Add(Diff(nil, &sink.User{Datas: map[string]sink.Data{"name": data("Luis")}}))
	tot.Add(nil)
	require.Equal(t, FieldTotals{Added: 1, Changed: 1}, tot["datas.name"])

	var b strings.Builder
	require.NoError(t, tot.WriteTable(&b))
	require.Equal(t, `FIELD                         ADDED  CHANGED  REMOVED
addresses.home.country        0      0        1
addresses.home.locality       0      0        1
addresses.home.postalCode     0      0        1
addresses.home.region         0      0        1
addresses.home.streetAddress  0      0        1
addresses.work.locality       0      0        1
assertions.optin              0      0        1
assertions.terms              0      0        1
datas.name                    1      1        0
datas.surname                 0      0        1
TOTAL                         1      1        9
`, b.String())

	b.Reset()
	require.NoError(t, Totals{}.WriteTable(&b))
	require.Equal(t, "FIELD  ADDED  CHANGED  REMOVED\nTOTAL  0      0        0\n", b.String())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTotalsWriteTableError(t *testing.T) {
	t.Parallel()
	tot := Totals{}
	tot.Add([]Change{{Field: "datas.name", Kind: KindAdded, New: "Ana"}})
	require.EqualError(t, tot.WriteTable(failingWriter{}), "disk full")
}
