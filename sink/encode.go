package sink

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The request body is written by hand: it is built for every record of every run, skipped
// users included, and encoding/json's reflection (its map keys sorted through reflect.Value)
// cost more than the rest of mapping's Build. It must be exactly the bytes json.Marshal writes:
// the payload hash in every checkpoint row is an HMAC of these bytes, so one changed byte would
// make the next nightly sync resend every user. json.Marshal is the reference, in tests only:
// TestAppendRequestMatchesEncodingJSON and FuzzBodyMatchesEncodingJSON hold AppendRequest to it.
//
// AppendRequest is the reference encoder of a request. The appenders it is made of are shared
// with the other hand-written writers of DRUID's JSON, each held to json.Marshal by its own
// tests: the body template of package mapping, which copies the parts every record of a
// mapping shares, and the simulator's answers (package druidsim).

// AppendRequest appends r encoded as JSON to b and returns the extended buffer. The bytes are
// those json.Marshal(r) returns, for every value of r: the fields in the types' order, the
// omitempty fields left out when empty, map keys sorted, strings escaped as encoding/json does
// (HTML-safe, U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD).
func AppendRequest(b []byte, r *Request) []byte {
	b = append(b, `{"actor":{"id":`...)
	b = AppendString(b, r.Actor.ID)
	b = append(b, `,"objectType":`...)
	b = AppendString(b, r.Actor.ObjectType)
	b = append(b, `},"verb":`...)
	b = AppendString(b, r.Verb)
	b = append(b, `,"object":`...)
	b = AppendUser(b, &r.Object)
	b = append(b, `,"source":{"id":`...)
	b = AppendString(b, r.Source.ID)
	b = append(b, `,"objectType":`...)
	b = AppendString(b, r.Source.ObjectType)
	return append(b, "}}"...)
}

// AppendUser appends u as json.Marshal(u) writes it: the fields in the type's order, the
// omitempty ones left out when empty, map keys sorted byte-wise, strings escaped by
// AppendString. AppendRequest and the simulator's answers (druidsim) both write users with it.
func AppendUser(b []byte, u *User) []byte {
	b = append(b, `{"objectType":`...)
	b = AppendString(b, u.ObjectType)
	b = AppendSecrets(b, u)
	b = appendMap(b, `,"ids":`, u.IDs, appendID)
	b = appendMap(b, `,"datas":`, u.Datas, appendData)
	b = AppendCollections(b, u)
	return append(b, '}')
}

// appendMap writes a map of ids or datas after its key, left out when empty (omitempty), its
// entries in key order, each written by value.
func appendMap[V any](b []byte, key string, m map[string]V, value func([]byte, V) []byte) []byte {
	if len(m) == 0 {
		return b
	}
	var buf [8]entry[V]
	b = append(b, key...)
	b = append(b, '{')
	for i, e := range sortedEntries(m, buf[:0]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, e.key)
		b = append(b, ':')
		b = value(b, e.value)
	}
	return append(b, '}')
}

func appendID(b []byte, id ID) []byte {
	b = appendTypedValue(b, id.ObjectType, id.Value)
	if id.Confirmed != nil {
		b = AppendConfirmed(b, *id.Confirmed)
	}
	return append(b, '}')
}

func appendData(b []byte, d Data) []byte {
	return append(appendTypedValue(b, d.ObjectType, d.Value), '}')
}

// appendTypedValue opens an id or a data with the fields both have, objectType and value; the
// caller closes it.
func appendTypedValue(b []byte, objectType, value string) []byte {
	b = append(b, `{"objectType":`...)
	b = AppendString(b, objectType)
	b = append(b, `,"value":`...)
	return AppendString(b, value)
}

// AppendSecrets writes the user's objectId and password, the fields between objectType and ids.
func AppendSecrets(b []byte, u *User) []byte {
	if u.ObjectID != "" {
		b = append(b, `,"objectId":`...)
		b = AppendString(b, u.ObjectID)
	}
	if u.Password != "" {
		b = append(b, `,"password":`...)
		b = AppendString(b, u.Password)
	}
	return b
}

// AppendConfirmed writes an id's confirmed field, the last of the id.
func AppendConfirmed(b []byte, confirmed bool) []byte {
	b = append(b, `,"confirmed":`...)
	return strconv.AppendBool(b, confirmed)
}

// AppendCollections writes the user's addresses and assertions, the fields after datas.
func AppendCollections(b []byte, u *User) []byte {
	if a := u.Addresses; a != nil {
		b = appendCollection(b, `,"addresses":`, a.ObjectType, a.TotalItems, a.Items == nil, len(a.Items),
			func(b []byte, i int) []byte { return appendAddress(b, &a.Items[i]) })
	}
	if a := u.Assertions; a != nil {
		b = appendCollection(b, `,"assertions":`, a.ObjectType, a.TotalItems, a.Items == nil, len(a.Items),
			func(b []byte, i int) []byte { return appendAssertion(b, &a.Items[i]) })
	}
	return b
}

// appendCollection writes one of DRUID's collections (addresses, assertions) after its key:
// objectType, totalItems and the items, null when Items is nil and [] when it is empty, as
// encoding/json does.
func appendCollection(b []byte, key, objectType string, total int, null bool, n int, item func([]byte, int) []byte) []byte {
	b = append(b, key...)
	b = append(b, `{"objectType":`...)
	b = AppendString(b, objectType)
	b = append(b, `,"totalItems":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"items":`...)
	if null {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = item(b, i)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendAddress(b []byte, a *Address) []byte { return appendAddressItem(b, a, 0) }

// addressKeys are the fields of an address after its type, in the type's order. A field's bit
// in a mask of them is 1 << its index.
var addressKeys = [...]string{"streetAddress", "locality", "region", "postalCode", "country"}

// addressFieldBit is the bit of the address field named name, 0 when no field is so named.
func addressFieldBit(name string) uint8 {
	for i, k := range addressKeys {
		if k == name {
			return 1 << i
		}
	}
	return 0
}

// appendAddressItem writes an address: the fields whose bit null holds as null, the others
// left out when empty (omitempty).
func appendAddressItem(b []byte, a *Address, null uint8) []byte {
	b = appendTypedItem(b, a.ObjectType, a.Type)
	for i, v := range [...]string{a.StreetAddress, a.Locality, a.Region, a.PostalCode, a.Country} {
		if null&(1<<i) == 0 && v == "" {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, addressKeys[i]...)
		b = append(b, '"', ':')
		if null&(1<<i) != 0 {
			b = append(b, "null"...)
		} else {
			b = AppendString(b, v)
		}
	}
	return append(b, '}')
}

func appendAssertion(b []byte, a *Assertion) []byte {
	b = appendTypedItem(b, a.ObjectType, a.Type)
	b = append(b, `,"typology":`...)
	b = AppendString(b, a.Typology)
	b = append(b, `,"value":`...)
	b = strconv.AppendBool(b, a.Value)
	return append(b, '}')
}

// appendTypedItem opens an address or an assertion with the fields both have, objectType and
// type; the caller closes it.
func appendTypedItem(b []byte, objectType, typ string) []byte {
	b = append(b, `{"objectType":`...)
	b = AppendString(b, objectType)
	b = append(b, `,"type":`...)
	return AppendString(b, typ)
}

// entry is one key and value of a map, for writing the map in key order.
type entry[V any] struct {
	key   string
	value V
}

// sortedEntries returns m's entries sorted by key, byte-wise as encoding/json sorts them (keys
// are unique, so the order is total). They are appended to buf, which a caller gives room on
// its stack for the few entries a user has.
func sortedEntries[V any](m map[string]V, buf []entry[V]) []entry[V] {
	s := buf[:0]
	for k, v := range m {
		s = append(s, entry[V]{k, v})
	}
	slices.SortFunc(s, func(a, b entry[V]) int { return strings.Compare(a.key, b.key) })
	return s
}

const hexDigits = "0123456789abcdef"

// safeASCII[c] reports whether encoding/json writes the ASCII byte c as it is in a string:
// not a control character, a quote, a backslash, nor one of the HTML-sensitive <, > and &.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString writes s as a JSON string as encoding/json does with its default HTML escaping:
// <, > and & as \u003c, \u003e and \u0026; \b \f \n \r \t by name and other control characters
// as \u00XX; U+2028 and U+2029 as \u2028 and \u2029; each byte of invalid UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
