package mapping

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// countryCode normalises a phone transform's country code: "+34", or "34" as people also write
// it.
func countryCode(s string) (string, error) {
	digits := strings.TrimPrefix(s, "+")
	if len(digits) < 1 || len(digits) > 3 || digits[0] < '1' || digits[0] > '9' {
		return "", fmt.Errorf("country code %q is not + and 1 to 3 digits, e.g. \"+34\"", s)
	}
	for i := 1; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", fmt.Errorf("country code %q is not + and 1 to 3 digits, e.g. \"+34\"", s)
		}
	}
	return "+" + digits, nil
}

// normalizePhone drops the punctuation people write phone numbers with, turns the international
// prefix 00 into +, and gives a number without one the configured country code. A result that
// is not + and digits is refused: letters ("ext. 5") cannot be guessed away.
func normalizePhone(v, cc string) (string, bool) {
	// The country code's room is reserved up front so that the common case costs one buffer.
	b := make([]byte, len(cc), len(cc)+len(v))
	for _, r := range v {
		switch {
		case r == '.' || r == '-' || r == '(' || r == ')' || unicode.IsSpace(r):
		case r < utf8.RuneSelf:
			b = append(b, byte(r))
		default:
			return "", false
		}
	}
	n := b[len(cc):]
	switch {
	case len(n) == 0:
		return "", true // only punctuation, such as "-": the export's way to say no number
	case len(n) >= 2 && n[0] == '0' && n[1] == '0':
		n[1] = '+'
		n = n[1:]
	case n[0] != '+':
		copy(b, cc)
		n = b
	}
	if len(n) < 2 || n[0] != '+' {
		return "", false
	}
	for _, c := range n[1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return string(n), true
}
