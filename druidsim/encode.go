package druidsim

import (
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"druid-migrate/sink"
)

// The response envelope is written by hand: it is on every answer, and encoding/json's
// reflection cost as much as all the rules together. appendEnvelope writes exactly the bytes
// json.Marshal(sink.Response) would (TestAppendEnvelopeMatchesEncodingJSON and
// FuzzAppendEnvelope hold it to that), so clients see no difference.

var envPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// envelope encodes DRUID's response envelope. user must not carry a password.
func envelope(code int, user *sink.User, errs ...sink.FieldError) []byte {
	bp := envPool.Get().(*[]byte)
	b := appendEnvelope((*bp)[:0], code, user, errs)
	out := slices.Clone(b) // the caller keeps it; the scratch buffer goes back
	if cap(b) <= 64<<10 {
		*bp = b
		envPool.Put(bp)
	}
	return out
}

func appendEnvelope(b []byte, code int, u *sink.User, errs []sink.FieldError) []byte {
	b = append(b, `{"content":{`...)
	if u != nil {
		b = append(b, `"user":`...)
		b = appendUser(b, u)
	}
	b = append(b, `},"result":{"status":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	if len(errs) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range errs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"message":`...)
			b = appendString(b, e.Message)
			if e.Details != "" {
				b = append(b, `,"details":`...)
				b = appendString(b, e.Details)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

func appendUser(b []byte, u *sink.User) []byte {
	b = append(b, `{"objectType":`...)
	b = appendString(b, u.ObjectType)
	if u.ObjectID != "" {
		b = append(b, `,"objectId":`...)
		b = appendString(b, u.ObjectID)
	}
	if u.Password != "" {
		b = append(b, `,"password":`...)
		b = appendString(b, u.Password)
	}
	if len(u.IDs) > 0 {
		b = append(b, `,"ids":{`...)
		for i, k := range sortedKeys(u.IDs) {
			if i > 0 {
				b = append(b, ',')
			}
			id := u.IDs[k]
			b = appendString(b, k)
			b = append(b, `:{"objectType":`...)
			b = appendString(b, id.ObjectType)
			b = append(b, `,"value":`...)
			b = appendString(b, id.Value)
			if id.Confirmed != nil {
				b = append(b, `,"confirmed":`...)
				b = strconv.AppendBool(b, *id.Confirmed)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if len(u.Datas) > 0 {
		b = append(b, `,"datas":{`...)
		for i, k := range sortedKeys(u.Datas) {
			if i > 0 {
				b = append(b, ',')
			}
			d := u.Datas[k]
			b = appendString(b, k)
			b = append(b, `:{"objectType":`...)
			b = appendString(b, d.ObjectType)
			b = append(b, `,"value":`...)
			b = appendString(b, d.Value)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if a := u.Addresses; a != nil {
		b = appendCollection(b, `,"addresses":`, a.ObjectType, a.TotalItems, a.Items == nil, len(a.Items),
			func(b []byte, i int) []byte { return appendAddress(b, &a.Items[i]) })
	}
	if a := u.Assertions; a != nil {
		b = appendCollection(b, `,"assertions":`, a.ObjectType, a.TotalItems, a.Items == nil, len(a.Items),
			func(b []byte, i int) []byte { return appendAssertion(b, &a.Items[i]) })
	}
	return append(b, '}')
}

// appendCollection writes one of DRUID's collections (addresses, assertions) after its key:
// objectType, totalItems and the items, null when there are none, as encoding/json would.
func appendCollection(b []byte, key, objectType string, total int, null bool, n int, item func([]byte, int) []byte) []byte {
	b = append(b, key...)
	b = append(b, `{"objectType":`...)
	b = appendString(b, objectType)
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

func appendAddress(b []byte, a *sink.Address) []byte {
	b = append(b, `{"objectType":`...)
	b = appendString(b, a.ObjectType)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Type)
	for _, f := range [...]struct{ key, value string }{
		{`,"streetAddress":`, a.StreetAddress},
		{`,"locality":`, a.Locality},
		{`,"region":`, a.Region},
		{`,"postalCode":`, a.PostalCode},
		{`,"country":`, a.Country},
	} {
		if f.value != "" {
			b = append(b, f.key...)
			b = appendString(b, f.value)
		}
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

// appendString writes s as encoding/json does: HTML-safe (<, >, & escaped), U+2028 and U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
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
