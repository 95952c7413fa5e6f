package diff

import (
	"slices"
	"strings"
	"testing"

	"druid-migrate/sink"
)

// gen reads users out of fuzz bytes. Names and values come from small sets, so that two
// users often share an id, a type or a value and the merge rules (same value, same type)
// are reached; one name holds a dot and one value is empty, the edges of the paths.
type gen struct{ b []byte }

var (
	genIDs     = []string{"email", "phone_number", "nif", "x.confirmed"}
	genDatas   = []string{"name", "surname", "a.b"}
	genTypes   = []string{"home", "work", ""}
	genValues  = []string{"", "a", "b", "García"}
	genTypolog = []string{sink.TypologyUser, "legal", ""}
)

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *gen) pick(from []string) string { return from[int(g.byte())%len(from)] }

func (g *gen) flag() *bool {
	switch g.byte() % 3 {
	case 1:
		return yes()
	case 2:
		return no()
	}
	return nil
}

func (g *gen) user() *sink.User {
	if g.byte()%8 == 0 {
		return nil
	}
	u := &sink.User{ObjectID: g.pick(genValues)}
	if g.byte()%4 == 0 {
		u.Password = "pw"
	}
	for n := g.byte() % 4; n > 0; n-- {
		if u.IDs == nil {
			u.IDs = map[string]sink.ID{}
		}
		u.IDs[g.pick(genIDs)] = sink.ID{Value: g.pick(genValues), Confirmed: g.flag()}
	}
	for n := g.byte() % 4; n > 0; n-- {
		if u.Datas == nil {
			u.Datas = map[string]sink.Data{}
		}
		u.Datas[g.pick(genDatas)] = sink.Data{Value: g.pick(genValues)}
	}
	if n := g.byte() % 4; n > 0 {
		u.Addresses = &sink.Addresses{TotalItems: int(g.byte())}
		for ; n > 0; n-- {
			a := sink.Address{Type: g.pick(genTypes)}
			for _, af := range addressFields {
				*af.of(&a) = g.pick(genValues)
			}
			u.Addresses.Items = append(u.Addresses.Items, a)
		}
	}
	if n := g.byte() % 4; n > 0 {
		u.Assertions = &sink.Assertions{}
		for ; n > 0; n-- {
			u.Assertions.Items = append(u.Assertions.Items,
				sink.Assertion{Type: g.pick(genTypes), Typology: g.pick(genTypolog), Value: g.byte()%2 == 0})
		}
	}
	return u
}

// paths are the column paths an explicit empty may name, a few that name nothing among them.
func (g *gen) explicitEmpty() map[string]bool {
	var paths []string
	for _, n := range genIDs {
		paths = append(paths, "ids."+n, "ids."+n+confirmedSuffix)
	}
	for _, n := range genDatas {
		paths = append(paths, "datas."+n)
	}
	for _, typ := range genTypes {
		for _, af := range addressFields {
			paths = append(paths, "addresses."+typ+"."+af.name)
		}
		paths = append(paths, "assertions."+typ)
	}
	paths = append(paths, "password", "objectId", "addresses.home", "ids")
	e := map[string]bool{}
	for n := g.byte() % 5; n > 0; n-- {
		e[g.pick(paths)] = g.byte()%4 != 0
	}
	return e
}

// FuzzMerge merges random users: Merge never panics, gives the same bytes for the same
// arguments, never changes them, removes nothing but what is explicitly emptied, and returns
// a normalized payload that a second merge of the same source leaves as it is.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x01\x00\x03\x00\x01\x01\x01\x02\x02\x02\x01\x02\x03\x01\x02\x01\x00\x01\x02\x00\x02\x01\x03"))
	f.Add([]byte("some bytes to start from, long enough to fill two users and their explicit empties"))
	f.Add([]byte{7, 3, 2, 3, 1, 1, 0, 2, 1, 1, 3, 1, 2, 3, 2, 1, 0, 0, 2, 3, 3, 3, 1, 1, 3, 2, 2, 1, 9, 9, 9, 4, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &gen{b: b}
		current, source, empty := g.user(), g.user(), g.explicitEmpty()
		before := encode(t, current) + encode(t, source)

		merged := Merge(current, source, empty)
		body := encode(t, merged)
		if again := encode(t, Merge(current, source, empty)); again != body {
			t.Fatalf("two merges of the same users differ:\n%s\n%s", body, again)
		}
		if encode(t, current)+encode(t, source) != before {
			t.Fatal("Merge changed its arguments")
		}
		if removed := Removed(Diff(current, Merge(current, source, nil))); len(removed) > 0 {
			t.Fatalf("a merge without explicit empties removed %v", removed)
		}
		requireOnlyEmptiedRemoved(t, current, merged, empty)
		if again := encode(t, Merge(merged, source, empty)); again != body {
			t.Fatalf("merging the source again changed the payload:\n%s\n%s", body, again)
		}
		if d := Diff(merged, merged); len(d) > 0 && (merged.Password == "" || len(d) > 1) {
			t.Fatalf("Diff(m, m) = %v", d)
		}
		requireNormalized(t, merged)

		changes := Diff(current, merged)
		if !slices.IsSortedFunc(changes, func(a, b Change) int { return strings.Compare(a.Field, b.Field) }) {
			t.Fatalf("changes not sorted: %v", changes)
		}
		for _, c := range changes {
			if strings.Contains(c.Old+c.New, "pw") {
				t.Fatalf("a change shows the password: %v", c)
			}
		}
	})
}

func requireNormalized(t *testing.T, u *sink.User) {
	t.Helper()
	if u.ObjectType != sink.ObjectTypeUser {
		t.Fatalf("objectType %q", u.ObjectType)
	}
	if u.IDs != nil && len(u.IDs) == 0 || u.Datas != nil && len(u.Datas) == 0 {
		t.Fatal("an empty section is present")
	}
	for name, id := range u.IDs {
		if id.ObjectType != sink.ObjectTypeUserID || id.Value == "" {
			t.Fatalf("id %s: %+v", name, id)
		}
	}
	for name, d := range u.Datas {
		if d.ObjectType != sink.ObjectTypeUserData || d.Value == "" {
			t.Fatalf("data %s: %+v", name, d)
		}
	}
	if a := u.Addresses; a != nil {
		if a.ObjectType != sink.ObjectTypeAddresses || a.TotalItems != len(a.Items) || len(a.Items) == 0 {
			t.Fatalf("addresses %+v", a)
		}
		for i, it := range a.Items {
			if it.ObjectType != sink.ObjectTypeAddress || i > 0 && a.Items[i-1].Type >= it.Type ||
				it.StreetAddress+it.Locality+it.Region+it.PostalCode+it.Country == "" {
				t.Fatalf("addresses %+v", a.Items)
			}
		}
	}
	if a := u.Assertions; a != nil {
		if a.ObjectType != sink.ObjectTypeAssertions || a.TotalItems != len(a.Items) || len(a.Items) == 0 {
			t.Fatalf("assertions %+v", a)
		}
		for i, it := range a.Items {
			if it.ObjectType != sink.ObjectTypeAssertion || i > 0 && a.Items[i-1].Type >= it.Type {
				t.Fatalf("assertions %+v", a.Items)
			}
		}
	}
}
