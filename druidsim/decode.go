package druidsim

import (
	"unicode/utf8"

	"druid-migrate/sink"
)

// decodeFast decodes the common update body, the one the product sends, several times faster
// than encoding/json's reflection, which cost most of a request's time. It gives up (false),
// leaving req in any state, on anything less plain: escapes, invalid UTF-8, null, unknown or
// differently-cased keys, repeated keys, type mismatches, non-integer numbers, syntax errors.
// The caller then decodes with encoding/json, so every body gets encoding/json's result and
// errors; when decodeFast succeeds, its result is the one encoding/json would give
// (FuzzDecodeFast holds it to that).
func decodeFast(data []byte, req *sink.Request) bool {
	d := fastDecoder{data: data}
	if !d.object(func(key []byte) bool {
		switch string(key) {
		case "actor":
			return d.object(func(key []byte) bool { return d.device(key, &req.Actor.ID, &req.Actor.ObjectType) })
		case "verb":
			return d.str(&req.Verb)
		case "object":
			return d.user(&req.Object)
		case "source":
			return d.object(func(key []byte) bool { return d.device(key, &req.Source.ID, &req.Source.ObjectType) })
		}
		return false
	}) {
		return false
	}
	d.space()
	return d.pos == len(d.data)
}

type fastDecoder struct {
	data []byte
	pos  int
}

func (d *fastDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (d *fastDecoder) next(c byte) bool {
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *fastDecoder) peek() byte {
	d.space()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// object reads {"key": value, ...}, calling member for each key positioned before its value.
// A key seen twice gives up: encoding/json merges repeated members in ways not worth copying.
func (d *fastDecoder) object(member func(key []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	var seenBuf [8][]byte // keys alias the input: remembering them allocates nothing
	seen := seenBuf[:0]
	for {
		key, ok := d.rawString()
		if !ok || !d.next(':') {
			return false
		}
		for _, k := range seen {
			if string(k) == string(key) {
				return false
			}
		}
		seen = append(seen, key)
		if !member(key) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// array reads [value, ...], calling elem for each value.
func (d *fastDecoder) array(elem func() bool) bool {
	if !d.next('[') {
		return false
	}
	if d.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.next(']') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// rawString reads a string without escapes or invalid UTF-8 and returns its bytes, which alias
// the input.
func (d *fastDecoder) rawString() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start, ascii := d.pos, true
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			d.pos++
			if !ascii && !utf8.Valid(s) {
				return nil, false // encoding/json replaces invalid bytes: leave that to it
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.pos++
	}
	return nil, false
}

// common are the values most strings hold, returned without allocating.
var common = [...]string{
	sink.ObjectTypeApplication, sink.ObjectTypeUser, sink.ObjectTypeUserID, sink.ObjectTypeUserData,
	sink.ObjectTypeAddresses, sink.ObjectTypeAddress, sink.ObjectTypeAssertions, sink.ObjectTypeAssertion,
	sink.ObjectTypeDevice, "update", "pc", "unknown", "mobile", "home", "work", "terms", "optin",
	"email", "phone_number", "name", "surname", "birthday", "country",
}

func (d *fastDecoder) str(dst *string) bool {
	b, ok := d.rawString()
	if !ok {
		return false
	}
	for _, c := range common {
		if c == string(b) {
			*dst = c
			return true
		}
	}
	*dst = string(b)
	return true
}

func (d *fastDecoder) boolean(dst *bool) bool {
	d.space()
	rest := d.data[d.pos:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		*dst = true
		d.pos += 4
	case len(rest) >= 5 && string(rest[:5]) == "false":
		*dst = false
		d.pos += 5
	default:
		return false
	}
	return d.endOfLiteral()
}

// endOfLiteral rejects "truex" or "12a": a literal must be followed by a delimiter.
func (d *fastDecoder) endOfLiteral() bool {
	if d.pos == len(d.data) {
		return true
	}
	switch d.data[d.pos] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// integer reads a JSON integer that fits an int comfortably; fractions, exponents, leading
// zeros and long numbers give up.
func (d *fastDecoder) integer(dst *int) bool {
	d.space()
	neg := d.pos < len(d.data) && d.data[d.pos] == '-'
	if neg {
		d.pos++
	}
	start := d.pos
	n := 0
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		n = n*10 + int(d.data[d.pos]-'0')
		d.pos++
	}
	digits := d.pos - start
	if digits == 0 || digits > 15 || (digits > 1 && d.data[start] == '0') || !d.endOfLiteral() {
		return false
	}
	if neg {
		n = -n
	}
	*dst = n
	return true
}

func (d *fastDecoder) device(key []byte, id, objectType *string) bool {
	switch string(key) {
	case "id":
		return d.str(id)
	case "objectType":
		return d.str(objectType)
	}
	return false
}

func (d *fastDecoder) user(u *sink.User) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "objectType":
			return d.str(&u.ObjectType)
		case "objectId":
			return d.str(&u.ObjectID)
		case "password":
			return d.str(&u.Password)
		case "ids":
			u.IDs = make(map[string]sink.ID, 2)
			return d.object(func(name []byte) bool {
				var id sink.ID
				if !d.object(func(key []byte) bool {
					switch string(key) {
					case "objectType":
						return d.str(&id.ObjectType)
					case "value":
						return d.str(&id.Value)
					case "confirmed":
						id.Confirmed = new(bool)
						return d.boolean(id.Confirmed)
					}
					return false
				}) {
					return false
				}
				var k string
				d.intern(name, &k)
				u.IDs[k] = id
				return true
			})
		case "datas":
			u.Datas = make(map[string]sink.Data, 4)
			return d.object(func(name []byte) bool {
				var data sink.Data
				if !d.object(func(key []byte) bool {
					switch string(key) {
					case "objectType":
						return d.str(&data.ObjectType)
					case "value":
						return d.str(&data.Value)
					}
					return false
				}) {
					return false
				}
				var k string
				d.intern(name, &k)
				u.Datas[k] = data
				return true
			})
		case "addresses":
			u.Addresses = new(sink.Addresses)
			return d.collection(&u.Addresses.ObjectType, &u.Addresses.TotalItems, func() bool {
				u.Addresses.Items = []sink.Address{}
				return d.array(func() bool {
					var a sink.Address
					if !d.object(func(key []byte) bool { return d.address(key, &a) }) {
						return false
					}
					u.Addresses.Items = append(u.Addresses.Items, a)
					return true
				})
			})
		case "assertions":
			u.Assertions = new(sink.Assertions)
			return d.collection(&u.Assertions.ObjectType, &u.Assertions.TotalItems, func() bool {
				u.Assertions.Items = []sink.Assertion{}
				return d.array(func() bool {
					var a sink.Assertion
					if !d.object(func(key []byte) bool {
						switch string(key) {
						case "objectType":
							return d.str(&a.ObjectType)
						case "type":
							return d.str(&a.Type)
						case "typology":
							return d.str(&a.Typology)
						case "value":
							return d.boolean(&a.Value)
						}
						return false
					}) {
						return false
					}
					u.Assertions.Items = append(u.Assertions.Items, a)
					return true
				})
			})
		}
		return false
	})
}

// intern converts a map key already read, sharing the common names.
func (d *fastDecoder) intern(b []byte, dst *string) {
	for _, c := range common {
		if c == string(b) {
			*dst = c
			return
		}
	}
	*dst = string(b)
}

func (d *fastDecoder) collection(objectType *string, total *int, items func() bool) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "objectType":
			return d.str(objectType)
		case "totalItems":
			return d.integer(total)
		case "items":
			return d.peek() == '[' && items()
		}
		return false
	})
}

func (d *fastDecoder) address(key []byte, a *sink.Address) bool {
	switch string(key) {
	case "objectType":
		return d.str(&a.ObjectType)
	case "type":
		return d.str(&a.Type)
	case "streetAddress":
		return d.str(&a.StreetAddress)
	case "locality":
		return d.str(&a.Locality)
	case "region":
		return d.str(&a.Region)
	case "postalCode":
		return d.str(&a.PostalCode)
	case "country":
		return d.str(&a.Country)
	}
	return false
}
