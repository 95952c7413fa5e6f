package pipeline

import (
	"errors"
	"fmt"
	"hash/maphash"

	"druid-migrate/mapping"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// KeylessPrefix starts the checkpoint key of a record that has no key of its own to be recorded
// under: a malformed row, an empty key, or a key that repeats an earlier record of the run (the
// earlier record keeps the key's row). A run re-records these rows, so it clears the old ones
// first.
const KeylessPrefix = "#line "

// seenKeys remembers the keys read so far to reject repeats, deciding each record at once. From
// a source ordered by key it remembers only the last key, since a repeat follows its first:
// memory stays flat however many users are read. Otherwise it holds a 64-bit hash per key
// rather than the key; a false repeat would need a collision of maphash's 64 bits. A run reads
// unordered sources with repeats instead, whose memory does not grow with the users; the dry
// run, which must decide each record as it reads it, still uses this map.
type seenKeys struct {
	ordered  bool
	last     string
	lastLine int
	seed     maphash.Seed
	line     map[uint64]int
}

func newSeenKeys(ordered bool) *seenKeys {
	s := &seenKeys{ordered: ordered}
	if !ordered {
		s.seed, s.line = maphash.MakeSeed(), make(map[uint64]int)
	}
	return s
}

// add records key as seen on line, or returns the line that holds it already.
func (s *seenKeys) add(key string, line int) (first int, repeat bool) {
	if s.ordered {
		if s.lastLine != 0 && key == s.last {
			return s.lastLine, true
		}
		s.last, s.lastLine = key, line
		return 0, false
	}
	h := maphash.String(s.seed, key)
	if first, ok := s.line[h]; ok {
		return first, true
	}
	s.line[h] = line
	return 0, false
}

// mapped is one record after mapping, before the rules that span records: the work that needs
// no other record, which a run does on every core.
type mapped struct {
	payload *sink.Payload // nil when the record is invalid
	err     error         // why the record is invalid
	key     string        // the payload's key, or the one err names; "" when the record has none
	line    int
	// The payload hash, when computed ahead (hashed); hashErr ends the run once the record is
	// found to be sent.
	hash    string
	hashErr error
	hashed  bool
}

// mapRecord builds rec's payload.
func mapRecord(b Builder, rec source.Record) mapped {
	p, err := b.Build(rec)
	if err != nil {
		m := mapped{line: rec.Line, err: err}
		var re *mapping.RecordError
		if errors.As(err, &re) {
			m.key = re.Key
		}
		return m
	}
	return mapped{payload: p, key: p.Key, line: rec.Line}
}

// built is one record after mapping: a payload ready to send, or the reason it cannot be sent
// together with the key its outcome is recorded under.
type built struct {
	payload *sink.Payload
	key     string
	line    int
	invalid string // why the record is invalid; empty for a valid one
	hash    string // the payload hash of a valid record, once the run has computed it
}

// decide applies the rule that a key repeating an earlier record's is invalid (SPEC §3): repeat
// says whether it does, and first is then the line of that earlier record. The earlier record
// keeps the key; the repeat is recorded under its line.
func (m mapped) decide(first int, repeat bool) built {
	switch {
	case m.payload == nil:
		out := built{key: m.key, line: m.line, invalid: m.err.Error()}
		if out.key == "" || repeat {
			out.key = keyless(m.line)
		}
		return out
	case repeat:
		return built{
			key:     keyless(m.line),
			line:    m.line,
			invalid: fmt.Sprintf("line %d (key %q): key: repeats the key of line %d; only the first is sent", m.line, m.key, first),
		}
	}
	return built{payload: m.payload, key: m.key, line: m.line}
}

// buildRecord maps rec and decides at once whether its key repeats an earlier one.
func buildRecord(b Builder, seen *seenKeys, rec source.Record) built {
	m := mapRecord(b, rec)
	var first int
	var repeat bool
	if m.key != "" {
		first, repeat = seen.add(m.key, m.line)
	}
	return m.decide(first, repeat)
}

func keyless(line int) string {
	return fmt.Sprintf("%s%d", KeylessPrefix, line)
}
