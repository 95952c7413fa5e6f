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

// seenKeys remembers the keys of a run to reject repeats. From a source ordered by key it
// remembers only the last key, since a repeat follows its first: memory stays flat however many
// users the run reads. Otherwise it holds a 64-bit hash per key rather than the key, so that
// memory stays small for millions of users; a false repeat would need a collision of maphash's
// 64 bits.
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

// built is one record after mapping: a payload ready to send, or the reason it cannot be sent
// together with the key its outcome is recorded under.
type built struct {
	payload *sink.Payload
	key     string
	line    int
	invalid string // why the record is invalid; empty for a valid one
}

// buildRecord maps rec and applies the rules of a run that span records (SPEC §3): a key that
// repeats an earlier record's is invalid.
func buildRecord(b Builder, seen *seenKeys, rec source.Record) built {
	p, err := b.Build(rec)
	if err != nil {
		out := built{line: rec.Line, invalid: err.Error()}
		var re *mapping.RecordError
		if errors.As(err, &re) && re.Key != "" {
			if _, repeat := seen.add(re.Key, rec.Line); !repeat {
				out.key = re.Key
			}
		}
		if out.key == "" {
			out.key = keyless(rec.Line)
		}
		return out
	}
	if first, repeat := seen.add(p.Key, rec.Line); repeat {
		return built{
			key:     keyless(rec.Line),
			line:    rec.Line,
			invalid: fmt.Sprintf("line %d (key %q): key: repeats the key of line %d; only the first is sent", rec.Line, p.Key, first),
		}
	}
	return built{payload: p, key: p.Key, line: rec.Line}
}

func keyless(line int) string {
	return fmt.Sprintf("%s%d", KeylessPrefix, line)
}
