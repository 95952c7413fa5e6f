package pipeline

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"druid-migrate/checkpoint"
	"druid-migrate/mapping"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// KeylessPrefix starts the checkpoint key of a record that has no key of its own to be recorded
// under: a malformed row, an empty key, a key that cannot be stored, or a key that repeats an
// earlier record of the run (the earlier record keeps the key's row). A run re-records these
// rows, so it clears the old ones first.
const KeylessPrefix = checkpoint.KeylessPrefix

// maxKeyBytes is the longest key a checkpoint row takes. A Postgres index entry holds at most
// about 8 KB, so a longer key would fail the write of its whole group; a real user key is
// nowhere near this.
const maxKeyBytes = 1024

// shownKeyBytes bounds the part of a key that cannot be stored that its reason quotes.
const shownKeyBytes = 64

// unstorable says why key cannot be the key of a checkpoint row, or "" when it can: bytes that
// are not UTF-8 (a Latin-1 export), a control character (a NUL, which Postgres's text cannot
// hold), or more than maxKeyBytes. Such a key would fail the write of every outcome grouped
// with it, run after run.
func unstorable(key string) string {
	if len(key) > maxKeyBytes {
		return fmt.Sprintf("is %d bytes long, more than the %d a key may have", len(key), maxKeyBytes)
	}
	if !utf8.ValidString(key) {
		return "is not valid UTF-8"
	}
	if at, r := mapping.FindControl(key); at >= 0 {
		return fmt.Sprintf("holds the control character %U", r)
	}
	return ""
}

// quoteKey shows a key that cannot be stored: escaped, so that it is valid UTF-8 on one line,
// and cut to its first shownKeyBytes bytes, on a character's boundary when it has one there.
func quoteKey(key string) string {
	if len(key) <= shownKeyBytes {
		return strconv.Quote(key)
	}
	cut := shownKeyBytes
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(key[cut]); i++ {
		cut--
	}
	return strconv.Quote(key[:cut]) + "…"
}

// keyColumn names the column a builder's keys come from, when it says.
func keyColumn(b Builder) string {
	if k, ok := b.(interface{ KeyColumn() string }); ok {
		return k.KeyColumn()
	}
	return ""
}

// lastKey finds the repeated keys of a source ordered by key, where a repeat follows its first
// record: it remembers only the last key, so memory stays flat however many users are read.
// Unordered sources need repeats' filter and spill.
type lastKey struct {
	key  string
	line int // 0 before the first key
}

// add records key as seen on line, or returns the line that holds it already.
func (s *lastKey) add(key string, line int) (first int, repeat bool) {
	if s.line != 0 && key == s.key {
		return s.line, true
	}
	s.key, s.line = key, line
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
	// other says the record belongs to another shard of the job (Config.Shard).
	other bool
}

// checkpointKey is the key m is recorded under: its own, or its line's when it has none.
func (m *mapped) checkpointKey() string {
	if m.key == "" {
		return keyless(m.line)
	}
	return m.key
}

// mapRecord builds rec's payload. A record whose key cannot be stored is invalid, and has no
// key: it is recorded under its line, and the key appears only escaped and cut in its reason.
func mapRecord(b Builder, rec source.Record) mapped {
	p, err := b.Build(rec)
	if err != nil {
		m := mapped{line: rec.Line, err: err}
		if re, ok := errors.AsType[*mapping.RecordError](err); ok {
			if unstorable(re.Key) == "" {
				m.key = re.Key
			} else {
				// A malformed row's key, read as best the builder could: its reason says
				// what is wrong with the row already.
				keyless := *re
				keyless.Key = ""
				m.err = &keyless
			}
		}
		return m
	}
	if why := unstorable(p.Key); why != "" {
		return mapped{line: rec.Line, err: &mapping.RecordError{Line: rec.Line, Column: keyColumn(b), Field: "key",
			Reason: "the key " + quoteKey(p.Key) + " " + why + ": the checkpoint cannot store it"}}
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

func keyless(line int) string {
	return fmt.Sprintf("%s%d", KeylessPrefix, line)
}
