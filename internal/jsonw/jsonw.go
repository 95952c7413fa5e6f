// Package jsonw writes JSON strings, and DRUID's users, exactly as encoding/json does, for the
// hand-written encoders of the payloads (mapping) and of the simulator's answers (druidsim):
// one encoder, fuzzed against encoding/json by both, since the payload hashes depend on it.
package jsonw

import "unicode/utf8"

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
