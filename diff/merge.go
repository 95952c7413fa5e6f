package diff

import (
	"cmp"
	"slices"
	"strings"

	"druid-migrate/sink"
)

// Merge returns the payload of --merge: current (DRUID's user; nil is a user with nothing)
// with source's fields laid over it, then the fields named in explicitEmpty removed. A field
// the source lacks keeps its current value, so that Diff(current, Merge(current, source, nil))
// never holds a removal.
//
//   - ObjectID is source's, or current's when source has none.
//   - ids merge per name. A source id replaces the value, and the confirmed flag when it
//     gives one. When it gives none, current's flag is kept only if the value is unchanged:
//     current's flag speaks of current's value, and carrying true over to a new value would
//     declare confirmed an address nobody confirmed (DRUID keeps the old one in force until
//     the new one is confirmed).
//   - datas merge per name; addresses per type and then per field; assertions per type, the
//     source's item (value and typology) replacing current's.
//   - explicitEmpty holds column paths (ids.email, ids.email.confirmed, datas.name,
//     addresses.home.locality, assertions.terms, password) whose value is true: the source
//     explicitly empties them. They are removed after the overlay, so one wins over a value
//     of the source for the same field; ids.<name> takes the id with its flag, and
//     ids.<name>.confirmed unsets the flag only. A path that names no field is ignored.
//   - The password is the source's, or none: DRUID never returns the stored one, and a merge
//     cannot carry what it does not know.
//
// The result is normalized and shares nothing with its arguments: canonical object types,
// empty values and addresses without a field dropped, one item per type sorted by type,
// totalItems recomputed, empty sections absent. The same arguments always give a user that
// encodes to the same bytes, which the payload hash relies on.
func Merge(current, source *sink.User, explicitEmpty map[string]bool) *sink.User {
	if current == nil {
		current = &sink.User{}
	}
	if source == nil {
		source = &sink.User{}
	}
	m := &sink.User{ObjectType: sink.ObjectTypeUser, ObjectID: cmp.Or(source.ObjectID, current.ObjectID),
		Password: source.Password}

	ids := make(map[string]sink.ID, len(current.IDs)+len(source.IDs))
	for name, id := range current.IDs {
		if id.Value != "" {
			ids[name] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: id.Value, Confirmed: copyBool(id.Confirmed)}
		}
	}
	for name, id := range source.IDs {
		if id.Value == "" {
			continue // a flag without a value is no id; the mapping never builds one
		}
		confirmed := copyBool(id.Confirmed)
		if cur, ok := ids[name]; ok && confirmed == nil && cur.Value == id.Value {
			confirmed = cur.Confirmed
		}
		ids[name] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: id.Value, Confirmed: confirmed}
	}

	datas := make(map[string]sink.Data, len(current.Datas)+len(source.Datas))
	for _, from := range []map[string]sink.Data{current.Datas, source.Datas} {
		for name, d := range from {
			if d.Value != "" {
				datas[name] = sink.Data{ObjectType: sink.ObjectTypeUserData, Value: d.Value}
			}
		}
	}

	// Folding the source's items after current's is the overlay, per type and per field: the
	// same fold that fields() makes of one user's items.
	addrs := map[string]sink.Address{}
	asserts := map[string]sink.Assertion{}
	for _, u := range []*sink.User{current, source} {
		if u.Addresses != nil {
			for _, a := range u.Addresses.Items {
				to := addrs[a.Type]
				to.Type = a.Type
				for _, af := range addressFields {
					if v := *af.of(&a); v != "" {
						*af.of(&to) = v
					}
				}
				addrs[a.Type] = to
			}
		}
		if u.Assertions != nil {
			for _, a := range u.Assertions.Items {
				asserts[a.Type] = a
			}
		}
	}

	// Removals commute, so the order of the map does not show in the result.
	for path, empty := range explicitEmpty {
		if !empty {
			continue
		}
		section, rest, _ := strings.Cut(path, ".")
		switch section {
		case PasswordField:
			if rest == "" {
				m.Password = ""
			}
		case "ids":
			if name, ok := strings.CutSuffix(rest, confirmedSuffix); ok {
				if id, has := ids[name]; has {
					id.Confirmed = nil
					ids[name] = id
				}
			} else {
				delete(ids, rest)
			}
		case "datas":
			delete(datas, rest)
		case "addresses":
			// The field is the last part: a type is DRUID's identifier, a field one of five.
			i := strings.LastIndexByte(rest, '.')
			if i < 0 {
				continue
			}
			typ, field := rest[:i], rest[i+1:]
			a, ok := addrs[typ]
			if !ok {
				continue
			}
			for _, af := range addressFields {
				if af.name == field {
					*af.of(&a) = ""
				}
			}
			addrs[typ] = a
		case "assertions":
			delete(asserts, rest)
		}
	}

	if len(ids) > 0 {
		m.IDs = ids
	}
	if len(datas) > 0 {
		m.Datas = datas
	}
	m.Addresses = addressesOf(addrs)
	m.Assertions = assertionsOf(asserts)
	return m
}

// addressesOf returns the addresses that have a field left, sorted by type, or nil: an
// empty collection would tell DRUID nothing more than its absence (the mapping omits it too).
func addressesOf(byType map[string]sink.Address) *sink.Addresses {
	items := make([]sink.Address, 0, len(byType))
	for _, a := range byType {
		if a.StreetAddress+a.Locality+a.Region+a.PostalCode+a.Country == "" {
			continue
		}
		a.ObjectType = sink.ObjectTypeAddress
		items = append(items, a)
	}
	if len(items) == 0 {
		return nil
	}
	slices.SortFunc(items, func(a, b sink.Address) int { return cmp.Compare(a.Type, b.Type) })
	return &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: len(items), Items: items}
}

// assertionsOf returns the assertions sorted by type, or nil when there are none. The
// typology is the item's own: one DRUID holds under another typology than the mapping's
// "user" is carried as it is, not rewritten.
func assertionsOf(byType map[string]sink.Assertion) *sink.Assertions {
	if len(byType) == 0 {
		return nil
	}
	items := make([]sink.Assertion, 0, len(byType))
	for _, a := range byType {
		a.ObjectType = sink.ObjectTypeAssertion
		items = append(items, a)
	}
	slices.SortFunc(items, func(a, b sink.Assertion) int { return cmp.Compare(a.Type, b.Type) })
	return &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: len(items), Items: items}
}

// copyBool copies a flag so that the merged user shares no pointer with its arguments.
func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	c := *b
	return &c
}
