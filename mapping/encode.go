package mapping

import (
	"sync"

	"druid-migrate/sink"
)

// The body Build returns is written by hand with the appenders of package sink, where the
// reference encoder of a request lives: sink.AppendRequest writes json.Marshal's bytes for any
// request (see sink/encode.go for why the bytes matter and how it is tested). Mapper.appendBody
// writes the same bytes for the requests Build makes, but copies the parts every record of a
// mapping shares from a template encoded once, instead of escaping the same names and object
// types again for every record. json.Marshal is its reference too, in tests only:
// TestBuildBodyIsEncodingJSON*, TestGolden and FuzzBuild.

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
	t.head = sink.AppendString(t.head, m.actor.ID)
	t.head = append(t.head, `,"objectType":`...)
	t.head = sink.AppendString(t.head, m.actor.ObjectType)
	t.head = append(t.head, `},"verb":`...)
	t.head = sink.AppendString(t.head, m.verb)
	t.head = append(t.head, `,"object":{"objectType":`...)
	t.head = sink.AppendString(t.head, sink.ObjectTypeUser)
	for _, s := range m.ids {
		h := sink.AppendString(nil, s.name)
		h = append(h, `:{"objectType":`...)
		h = sink.AppendString(h, sink.ObjectTypeUserID)
		t.idHeads = append(t.idHeads, append(h, `,"value":`...))
	}
	for _, name := range m.dataNames {
		h := sink.AppendString(nil, name)
		h = append(h, `:{"objectType":`...)
		h = sink.AppendString(h, sink.ObjectTypeUserData)
		t.data = append(t.data, append(h, `,"value":`...))
	}
	t.tail = append(t.tail, `,"objectType":`...)
	t.tail = sink.AppendString(t.tail, sink.ObjectTypeDevice)
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

// appendBody writes what sink.AppendRequest writes for a request Build made, taking the parts every
// record shares from the template. Build sets actor, verb, the object types and source's
// objectType to the values the template was made from, and fills r's ids and datas from the
// slots given, which are sorted by name as the maps' keys are written: a slot with a value is
// an entry of the map.
func (m *Mapper) appendBody(b []byte, r *sink.Request, ids []idValue, datas []string) []byte {
	u := &r.Object
	b = append(b, m.body.head...)
	b = sink.AppendSecrets(b, u)
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
			b = sink.AppendString(b, id.value)
			if id.hasConfirmed {
				b = sink.AppendConfirmed(b, id.confirmed)
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
			b = sink.AppendString(b, v)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = sink.AppendCollections(b, u)
	b = append(b, `},"source":{"id":`...)
	b = sink.AppendString(b, r.Source.ID)
	return append(b, m.body.tail...)
}
