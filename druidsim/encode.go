package druidsim

import (
	"slices"
	"strconv"
	"sync"

	"druid-migrate/internal/jsonw"
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
			b = jsonw.AppendString(b, e.Message)
			if e.Details != "" {
				b = append(b, `,"details":`...)
				b = jsonw.AppendString(b, e.Details)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

func appendUser(b []byte, u *sink.User) []byte {
	b = append(b, `{"objectType":`...)
	b = jsonw.AppendString(b, u.ObjectType)
	if u.ObjectID != "" {
		b = append(b, `,"objectId":`...)
		b = jsonw.AppendString(b, u.ObjectID)
	}
	if u.Password != "" {
		b = append(b, `,"password":`...)
		b = jsonw.AppendString(b, u.Password)
	}
	if len(u.IDs) > 0 {
		b = append(b, `,"ids":{`...)
		for i, k := range sortedKeys(u.IDs) {
			if i > 0 {
				b = append(b, ',')
			}
			id := u.IDs[k]
			b = jsonw.AppendString(b, k)
			b = append(b, `:{"objectType":`...)
			b = jsonw.AppendString(b, id.ObjectType)
			b = append(b, `,"value":`...)
			b = jsonw.AppendString(b, id.Value)
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
			b = jsonw.AppendString(b, k)
			b = append(b, `:{"objectType":`...)
			b = jsonw.AppendString(b, d.ObjectType)
			b = append(b, `,"value":`...)
			b = jsonw.AppendString(b, d.Value)
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
	b = jsonw.AppendString(b, objectType)
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
	b = jsonw.AppendString(b, a.ObjectType)
	b = append(b, `,"type":`...)
	b = jsonw.AppendString(b, a.Type)
	b = append(b, `,"typology":`...)
	b = jsonw.AppendString(b, a.Typology)
	b = append(b, `,"value":`...)
	b = strconv.AppendBool(b, a.Value)
	return append(b, '}')
}

func appendAddress(b []byte, a *sink.Address) []byte {
	b = append(b, `{"objectType":`...)
	b = jsonw.AppendString(b, a.ObjectType)
	b = append(b, `,"type":`...)
	b = jsonw.AppendString(b, a.Type)
	for _, f := range [...]struct{ key, value string }{
		{`,"streetAddress":`, a.StreetAddress},
		{`,"locality":`, a.Locality},
		{`,"region":`, a.Region},
		{`,"postalCode":`, a.PostalCode},
		{`,"country":`, a.Country},
	} {
		if f.value != "" {
			b = append(b, f.key...)
			b = jsonw.AppendString(b, f.value)
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
