package druidsim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"druid-migrate/sink"
)

// A line of a bulk upload is a partial user (sink.AppendBulkLine writes them): a key left out
// keeps what the user has, null removes it. ids and datas merge per name, an id per field
// (value, confirmed); addresses and assertions merge per item type, an address per field and
// an assertion by its value and typology. An id or an address left without a value is no
// more, as is an assertion whose value is null. objectType and totalItems are not read: the
// stored user's are canonical. A key the line may not hold (password, objectType, a typo) fails
// the line with 400, so that a client writing lines wrong is told.

// value is one scalar of a line: left out, null, or set.
type value[T any] struct {
	set, null bool
	v         T
}

// apply returns what a stored field becomes under the value, and whether it still exists.
func (p value[T]) apply(cur T, had bool) (T, bool) {
	switch {
	case p.null:
		var zero T
		return zero, false
	case p.set:
		return p.v, true
	}
	return cur, had
}

// linePatch is one line, decoded.
type linePatch struct {
	objectID              string
	ids                   map[string]*idPatch // a nil entry removes the id
	datas                 map[string]*value[string]
	addresses             []addressPatch
	assertions            []assertionPatch
	noIDs, noDatas        bool // the section is null: every entry goes
	noAddrs, noAssertions bool
}

type idPatch struct {
	value     value[string]
	confirmed value[bool]
}

type addressPatch struct {
	typ    string
	fields [5]value[string] // streetAddress, locality, region, postalCode, country
}

type assertionPatch struct {
	typ      string
	typology value[string]
	value    value[bool]
}

// addressKeys are an address's fields in addressPatch.fields' order.
var addressKeys = [...]string{"streetAddress", "locality", "region", "postalCode", "country"}

// parseLine decodes one line. Its error names the field that is wrong, or "line" for a line
// that is no JSON object; the caller answers it 400. The patch returned with an error holds
// only the object_id, when the line has one.
func parseLine(raw []byte) (*linePatch, *sink.FieldError) {
	top, fe := members(raw, "line")
	if fe != nil {
		return nil, fe
	}
	p := &linePatch{}
	id, ok := top["object_id"]
	if !ok {
		return nil, ptrTo(fieldError("object_id", "required: the line names no user"))
	}
	v, fe := scalar[string](id, "object_id")
	if fe != nil {
		return nil, fe
	}
	if v.v == "" {
		return nil, ptrTo(fieldError("object_id", "required: the line names no user"))
	}
	p.objectID = v.v
	for key, raw := range top {
		switch key {
		case "object_id":
		case "ids":
			fe = p.parseIDs(raw)
		case "datas":
			fe = p.parseDatas(raw)
		case "addresses":
			fe = p.parseAddresses(raw)
		case "assertions":
			fe = p.parseAssertions(raw)
		default:
			fe = ptrTo(fieldError(key, "not a key of a bulk line"))
		}
		if fe != nil {
			return p, fe
		}
	}
	return p, nil
}

func (p *linePatch) parseIDs(raw json.RawMessage) (fe *sink.FieldError) {
	read := func(ip *idPatch, path, key string, raw json.RawMessage) (fe *sink.FieldError) {
		switch key {
		case "objectType":
			_, fe = scalar[string](raw, path)
		case "value":
			ip.value, fe = scalar[string](raw, path)
		case "confirmed":
			ip.confirmed, fe = scalar[bool](raw, path)
		default:
			fe = ptrTo(fieldError(path, "not a key of an id"))
		}
		return fe
	}
	p.ids, p.noIDs, fe = entries(raw, "ids", read)
	return fe
}

func (p *linePatch) parseDatas(raw json.RawMessage) (fe *sink.FieldError) {
	read := func(v *value[string], path, key string, raw json.RawMessage) (fe *sink.FieldError) {
		switch key {
		case "objectType":
			_, fe = scalar[string](raw, path)
		case "value":
			*v, fe = scalar[string](raw, path)
		default:
			fe = ptrTo(fieldError(path, "not a key of a data"))
		}
		return fe
	}
	p.datas, p.noDatas, fe = entries(raw, "datas", read)
	return fe
}

func (p *linePatch) parseAddresses(raw json.RawMessage) (fe *sink.FieldError) {
	read := func(a *addressPatch, path, key string, raw json.RawMessage) (fe *sink.FieldError) {
		switch i := slices.Index(addressKeys[:], key); {
		case key == "objectType":
			_, fe = scalar[string](raw, path)
		case key == "type":
			var t value[string]
			t, fe = scalar[string](raw, path)
			a.typ = t.v
		case i >= 0:
			a.fields[i], fe = scalar[string](raw, path)
		default:
			fe = ptrTo(fieldError(path, "not a key of an address"))
		}
		return fe
	}
	p.addresses, p.noAddrs, fe = items(raw, "addresses", read, func(a *addressPatch) string { return a.typ })
	return fe
}

func (p *linePatch) parseAssertions(raw json.RawMessage) (fe *sink.FieldError) {
	read := func(a *assertionPatch, path, key string, raw json.RawMessage) (fe *sink.FieldError) {
		switch key {
		case "objectType":
			_, fe = scalar[string](raw, path)
		case "type":
			var t value[string]
			t, fe = scalar[string](raw, path)
			a.typ = t.v
		case "typology":
			a.typology, fe = scalar[string](raw, path)
		case "value":
			a.value, fe = scalar[bool](raw, path)
		default:
			fe = ptrTo(fieldError(path, "not a key of an assertion"))
		}
		return fe
	}
	p.assertions, p.noAssertions, fe = items(raw, "assertions", read, func(a *assertionPatch) string { return a.typ })
	return fe
}

// member reads one member of an entry or an item into e; path names it in errors.
type member[E any] func(e *E, path, key string, raw json.RawMessage) *sink.FieldError

// entries reads a section of named entries (ids, datas): null when the section is, and a nil
// entry for a null one. Each member of an entry goes to member, with its path for errors.
func entries[E any](raw json.RawMessage, section string, read member[E]) (map[string]*E, bool, *sink.FieldError) {
	named, fe := members(raw, section)
	if fe != nil || named == nil {
		return nil, fe == nil, fe
	}
	out := make(map[string]*E, len(named))
	for name, raw := range named {
		path := section + "." + name
		fields, fe := members(raw, path)
		if fe != nil {
			return nil, false, fe
		}
		if fields == nil {
			out[name] = nil
			continue
		}
		e := new(E)
		for key, raw := range fields {
			if fe := read(e, path+"."+key, key, raw); fe != nil {
				return nil, false, fe
			}
		}
		out[name] = e
	}
	return out, false, nil
}

// items reads the items of a collection (addresses, assertions): null when the collection is.
// Each member of an item goes to read; an item must have a type.
func items[E any](raw json.RawMessage, section string, read member[E], typ func(*E) string) ([]E, bool, *sink.FieldError) {
	raws, null, fe := collectionItems(raw, section)
	if fe != nil || null {
		return nil, null, fe
	}
	out := make([]E, 0, len(raws))
	for i, raw := range raws {
		path := section + ".items." + strconv.Itoa(i)
		fields, fe := members(raw, path)
		if fe == nil && fields == nil {
			fe = ptrTo(fieldError(path, "an item cannot be null"))
		}
		if fe != nil {
			return nil, false, fe
		}
		var e E
		for key, raw := range fields {
			if fe := read(&e, path+"."+key, key, raw); fe != nil {
				return nil, false, fe
			}
		}
		if typ(&e) == "" {
			return nil, false, ptrTo(fieldError(path+".type", "required: items are DRUID's per type"))
		}
		out = append(out, e)
	}
	return out, false, nil
}

// collectionItems reads a collection of a line: its items, or null when the collection is.
func collectionItems(raw json.RawMessage, path string) (items []json.RawMessage, null bool, fe *sink.FieldError) {
	fields, fe := members(raw, path)
	if fe != nil || fields == nil {
		return nil, fe == nil, fe
	}
	for key, raw := range fields {
		switch key {
		case "objectType":
			_, fe = scalar[string](raw, path+"."+key)
		case "totalItems":
			_, fe = scalar[int](raw, path+"."+key)
		case "items":
			if string(raw) != "null" && json.Unmarshal(raw, &items) != nil {
				fe = ptrTo(fieldError(path+".items", "not an array"))
			}
		default:
			fe = ptrTo(fieldError(path+"."+key, "not a key of a collection"))
		}
		if fe != nil {
			return nil, false, fe
		}
	}
	return items, false, nil
}

// members decodes an object of a line into its members; nil, with no error, when it is null.
func members(raw json.RawMessage, path string) (map[string]json.RawMessage, *sink.FieldError) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, ptrTo(fieldError(path, "not a JSON object"))
	}
	return m, nil
}

// scalar decodes a scalar of a line, null included.
func scalar[T any](raw json.RawMessage, path string) (value[T], *sink.FieldError) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return value[T]{null: true}, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		var zero T
		return value[T]{}, ptrTo(fieldError(path, "expected "+jsonKind(zero)))
	}
	return value[T]{set: true, v: v}, nil
}

// jsonKind names the JSON type of v's Go type, for an error.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "true or false"
	}
	return "a number"
}

// setValues is the user made of the values a line sets, for the format rules (checkFormats).
func (p *linePatch) setValues() *sink.User {
	u := &sink.User{}
	for name, ip := range p.ids {
		if ip != nil && ip.value.set {
			if u.IDs == nil {
				u.IDs = make(map[string]sink.ID, len(p.ids))
			}
			u.IDs[name] = sink.ID{Value: ip.value.v}
		}
	}
	for name, v := range p.datas {
		if v != nil && v.set {
			if u.Datas == nil {
				u.Datas = make(map[string]sink.Data, len(p.datas))
			}
			u.Datas[name] = sink.Data{Value: v.v}
		}
	}
	return u
}

// patchMap applies patches to m, which it may modify, and returns it: a nil patch removes its
// name; another gives edit the stored entry, and whether there was one, and edit returns the
// entry and whether it remains.
func patchMap[V, P any](m map[string]V, patches map[string]*P, edit func(cur V, had bool, p *P) (V, bool)) map[string]V {
	for name, p := range patches {
		cur, had := m[name]
		if p == nil {
			delete(m, name)
			continue
		}
		next, ok := edit(cur, had, p)
		if !ok {
			delete(m, name)
			continue
		}
		if m == nil {
			m = make(map[string]V, len(patches))
		}
		m[name] = next
	}
	return m
}

// touches reports whether the line says anything of the id name.
func (p *linePatch) touches(name string) bool {
	_, ok := p.ids[name]
	return ok || p.noIDs
}

// patched returns cur with the line applied, canonical, sharing nothing with cur.
func (p *linePatch) patched(cur *sink.User) *sink.User {
	u := clone(cur)
	if p.noIDs {
		u.IDs = nil
	}
	u.IDs = patchMap(u.IDs, p.ids, func(id sink.ID, had bool, ip *idPatch) (sink.ID, bool) {
		var ok bool
		if id.Value, ok = ip.value.apply(id.Value, had); !ok {
			return id, false // an id is its value: without one, it is no more
		}
		switch {
		case ip.confirmed.null:
			id.Confirmed = nil
		case ip.confirmed.set:
			id.Confirmed = ptrTo(ip.confirmed.v)
		}
		return id, true
	})
	if p.noDatas {
		u.Datas = nil
	}
	u.Datas = patchMap(u.Datas, p.datas, func(d sink.Data, had bool, v *value[string]) (sink.Data, bool) {
		var ok bool
		d.Value, ok = v.apply(d.Value, had)
		return d, ok
	})
	if p.noAddrs {
		u.Addresses = nil
	}
	if len(p.addresses) > 0 {
		var items []sink.Address
		if u.Addresses != nil {
			items = u.Addresses.Items
		}
		for _, ap := range p.addresses {
			i := slices.IndexFunc(items, func(a sink.Address) bool { return a.Type == ap.typ })
			var a sink.Address
			if i >= 0 {
				a = items[i]
			}
			a.Type = ap.typ
			kept := false
			for k, f := range [...]*string{&a.StreetAddress, &a.Locality, &a.Region, &a.PostalCode, &a.Country} {
				v, ok := ap.fields[k].apply(*f, *f != "")
				*f = v
				kept = kept || ok && v != ""
			}
			switch {
			case !kept && i >= 0:
				items = slices.Delete(items, i, i+1) // an address left with no field is no more
			case !kept:
			case i >= 0:
				items[i] = a
			default:
				items = append(items, a)
			}
		}
		u.Addresses = &sink.Addresses{Items: items}
	}
	if p.noAssertions {
		u.Assertions = nil
	}
	if len(p.assertions) > 0 {
		var items []sink.Assertion
		if u.Assertions != nil {
			items = u.Assertions.Items
		}
		for _, ap := range p.assertions {
			i := slices.IndexFunc(items, func(a sink.Assertion) bool { return a.Type == ap.typ })
			if ap.value.null {
				if i >= 0 {
					items = slices.Delete(items, i, i+1)
				}
				continue
			}
			var a sink.Assertion
			if i >= 0 {
				a = items[i]
			}
			a.Type = ap.typ
			a.Value, _ = ap.value.apply(a.Value, i >= 0)
			a.Typology, _ = ap.typology.apply(a.Typology, i >= 0)
			if i >= 0 {
				items[i] = a
			} else {
				items = append(items, a)
			}
		}
		u.Assertions = &sink.Assertions{Items: items}
	}
	canonicalize(u)
	return u
}
