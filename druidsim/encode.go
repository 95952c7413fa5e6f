package druidsim

import (
	"slices"
	"strconv"
	"sync"

	"druid-migrate/sink"
)

// The response envelope is written by hand: it is on every answer, and encoding/json's
// reflection cost as much as all the rules together. appendEnvelope writes exactly the bytes
// json.Marshal(sink.Response) would, with the appenders of package sink's wire format
// (TestAppendEnvelopeMatchesEncodingJSON and FuzzAppendEnvelope hold it to that), so clients see
// no difference.

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
		b = sink.AppendUser(b, u)
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
			b = sink.AppendString(b, e.Message)
			if e.Details != "" {
				b = append(b, `,"details":`...)
				b = sink.AppendString(b, e.Details)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}
