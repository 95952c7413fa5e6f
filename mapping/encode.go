package mapping

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"druid-migrate/sink"
)

// The request body is written by hand: it is built for every record of every run, skipped
// users included, and encoding/json's reflection (its map keys sorted through reflect.Value)
// cost more than the rest of Build. It must be exactly the bytes json.Marshal writes: the
// payload hash in every checkpoint row is an HMAC of these bytes, so one changed byte would make
// the next nightly sync resend every user. Two writers share the appenders below: AppendRequest,
// for any request, and Mapper.appendBody, for the requests Build makes, which copies the parts
// every record of a mapping shares from a template encoded once. json.Marshal is the reference
// of both, in tests only: TestAppendRequestMatchesEncodingJSON and FuzzBodyMatchesEncodingJSON
// for the first, TestBuildBodyIsEncodingJSON*, TestGolden and FuzzBuild for the second.

// AppendRequest appends r encoded as JSON to b and returns the extended buffer. The bytes are
// those json.Marshal(r) returns, for every value of r: the fields in the types' order, the
// omitempty fields left out when empty, map keys sorted, strings escaped as encoding/json does
// (HTML-safe, U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD).
func AppendRequest(b []byte, r *sink.Request) []byte {
	b = append(b, `{"actor":{"id":`...)
	b = appendString(b, r.Actor.ID)
	b = append(b, `,"objectType":`...)
	b = appendString(b, r.Actor.ObjectType)
	b = append(b, `},"verb":`...)
	b = appendString(b, r.Verb)
	b = append(b, `,"object":`...)
	b = appendUser(b, &r.Object)
	b = append(b, `,"source":{"id":`...)
	b = appendString(b, r.Source.ID)
	b = append(b, `,"objectType":`...)
	b = appendString(b, r.Source.ObjectType)
	return append(b, "}}"...)
}

func appendUser(b []byte, u *sink.User) []byte {
	b = append(b, `{"objectType":`...)
	b = appendString(b, u.ObjectType)
	b = appendSecrets(b, u)
	if len(u.IDs) > 0 {
		var buf [8]entry[sink.ID]
		b = append(b, `,"ids":{`...)
		for i, e := range sortedEntries(u.IDs, buf[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.key)
			b = append(b, `:{"objectType":`...)
			b = appendString(b, e.value.ObjectType)
			b = append(b, `,"value":`...)
			b = appendString(b, e.value.Value)
			if e.value.Confirmed != nil {
				b = appendConfirmed(b, *e.value.Confirmed)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if len(u.Datas) > 0 {
		var buf [8]entry[sink.Data]
		b = append(b, `,"datas":{`...)
		for i, e := range sortedEntries(u.Datas, buf[:0]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.key)
			b = append(b, `:{"objectType":`...)
			b = appendString(b, e.value.ObjectType)
			b = append(b, `,"value":`...)
			b = appendString(b, e.value.Value)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = appendCollections(b, u)
	return append(b, '}')
}

// appendSecrets writes the user's objectId and password, the fields between objectType and ids.
func appendSecrets(b []byte, u *sink.User) []byte {
	if u.ObjectID != "" {
		b = append(b, `,"objectId":`...)
		b = appendString(b, u.ObjectID)
	}
	if u.Password != "" {
		b = append(b, `,"password":`...)
		b = appendString(b, u.Password)
	}
	return b
}

func appendConfirmed(b []byte, confirmed bool) []byte {
	b = append(b, `,"confirmed":`...)
	return strconv.AppendBool(b, confirmed)
}

// appendCollections writes the user's addresses and assertions, the fields after datas.
func appendCollections(b []byte, u *sink.User) []byte {
	if a := u.Addresses; a != nil {
		b = appendCollectionHead(b, `,"addresses":{"objectType":`, a.ObjectType, a.TotalItems)
		if a.Items == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range a.Items {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendAddress(b, &a.Items[i])
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if a := u.Assertions; a != nil {
		b = appendCollectionHead(b, `,"assertions":{"objectType":`, a.ObjectType, a.TotalItems)
		if a.Items == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range a.Items {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendAssertion(b, &a.Items[i])
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return b
}

// bodyTemplate is what the bodies of one Mapper share, encoded once by Compile with the same
// appenders: Build then copies these bytes instead of escaping the same names and object
// types again for every record.
type bodyTemplate struct {
	head    []byte   // {"actor":{…},"verb":…,"object":{"objectType":"user"
	idHeads [][]byte // per id slot: "email":{"objectType":"user_id","value":
	data    [][]byte // per data slot: "name":{"objectType":"user_data","value":
	tail    []byte   // ,"objectType":"device"}}
}

func newBodyTemplate(m *Mapper) bodyTemplate {
	var t bodyTemplate
	t.head = append(t.head, `{"actor":{"id":`...)
	t.head = appendString(t.head, m.actor.ID)
	t.head = append(t.head, `,"objectType":`...)
	t.head = appendString(t.head, m.actor.ObjectType)
	t.head = append(t.head, `},"verb":`...)
	t.head = appendString(t.head, m.verb)
	t.head = append(t.head, `,"object":{"objectType":`...)
	t.head = appendString(t.head, sink.ObjectTypeUser)
	for _, s := range m.ids {
		h := appendString(nil, s.name)
		h = append(h, `:{"objectType":`...)
		h = appendString(h, sink.ObjectTypeUserID)
		t.idHeads = append(t.idHeads, append(h, `,"value":`...))
	}
	for _, name := range m.dataNames {
		h := appendString(nil, name)
		h = append(h, `:{"objectType":`...)
		h = appendString(h, sink.ObjectTypeUserData)
		t.data = append(t.data, append(h, `,"value":`...))
	}
	t.tail = append(t.tail, `,"objectType":`...)
	t.tail = appendString(t.tail, sink.ObjectTypeDevice)
	t.tail = append(t.tail, "}}"...)
	return t
}

// bodyPool holds the scratch buffers Build encodes into before copying the body out at its
// exact size: the payload keeps its body, the scratch goes back.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody keeps a stray huge record from pinning its buffer in the pool for the run.
const maxPooledBody = 64 << 10

// encodeBody returns the body of a request Build made, in a new slice of exactly its length.
// ids and datas are Build's slots, from which it filled r's maps.
func (m *Mapper) encodeBody(r *sink.Request, ids []idValue, datas []string) []byte {
	bp := bodyPool.Get().(*[]byte)
	b := m.appendBody((*bp)[:0], r, ids, datas)
	body := make([]byte, len(b))
	copy(body, b)
	if cap(b) <= maxPooledBody {
		*bp = b
		bodyPool.Put(bp)
	}
	return body
}

// appendBody writes what AppendRequest writes for a request Build made, taking the parts every
// record shares from the template. Build sets actor, verb, the object types and source's
// objectType to the values the template was made from, and fills r's ids and datas from the
// slots given, which are sorted by name as the maps' keys are written: a slot with a value is
// an entry of the map.
func (m *Mapper) appendBody(b []byte, r *sink.Request, ids []idValue, datas []string) []byte {
	u := &r.Object
	b = append(b, m.body.head...)
	b = appendSecrets(b, u)
	if len(u.IDs) > 0 {
		b = append(b, `,"ids":{`...)
		sep := false
		for i := range ids {
			id := &ids[i]
			if id.value == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, m.body.idHeads[i]...)
			b = appendString(b, id.value)
			if id.hasConfirmed {
				b = appendConfirmed(b, id.confirmed)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if len(u.Datas) > 0 {
		b = append(b, `,"datas":{`...)
		sep := false
		for i, v := range datas {
			if v == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, m.body.data[i]...)
			b = appendString(b, v)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = appendCollections(b, u)
	b = append(b, `},"source":{"id":`...)
	b = appendString(b, r.Source.ID)
	return append(b, m.body.tail...)
}

// appendCollectionHead writes a collection's key, its objectType and totalItems, up to the
// items' value; encoding/json writes a nil Items as null and an empty one as [].
func appendCollectionHead(b []byte, keyAndType, objectType string, total int) []byte {
	b = append(b, keyAndType...)
	b = appendString(b, objectType)
	b = append(b, `,"totalItems":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	return append(b, `,"items":`...)
}

func appendAddress(b []byte, a *sink.Address) []byte {
	b = append(b, `{"objectType":`...)
	b = appendString(b, a.ObjectType)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Type)
	if a.StreetAddress != "" {
		b = append(b, `,"streetAddress":`...)
		b = appendString(b, a.StreetAddress)
	}
	if a.Locality != "" {
		b = append(b, `,"locality":`...)
		b = appendString(b, a.Locality)
	}
	if a.Region != "" {
		b = append(b, `,"region":`...)
		b = appendString(b, a.Region)
	}
	if a.PostalCode != "" {
		b = append(b, `,"postalCode":`...)
		b = appendString(b, a.PostalCode)
	}
	if a.Country != "" {
		b = append(b, `,"country":`...)
		b = appendString(b, a.Country)
	}
	return append(b, '}')
}

func appendAssertion(b []byte, a *sink.Assertion) []byte {
	b = append(b, `{"objectType":`...)
	b = appendString(b, a.ObjectType)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Type)
	b = append(b, `,"typology":`...)
	b = appendString(b, a.Typology)
	b = append(b, `,"value":`...)
	b = strconv.AppendBool(b, a.Value)
	return append(b, '}')
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

// appendString writes s as a JSON string as encoding/json does with its default HTML escaping:
// <, > and & as \u003c, \u003e and \u0026; \b \f \n \r \t by name and other control characters
// as \u00XX; U+2028 and U+2029 as \u2028 and \u2029; each byte of invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
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
