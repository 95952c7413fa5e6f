// Package jsontest holds the inputs shared by the tests of the hand-written JSON encoders, the
// request encoder and the body Mapper.Build writes, which must write exactly the bytes
// encoding/json writes: one list, so that both are held to the same hard cases.
package jsontest

import "strings"

// TrickyStrings are the strings whose encoding differs most between JSON encoders: HTML
// characters, the JavaScript line separators, every kind of control character, invalid and
// borderline UTF-8.
var TrickyStrings = []string{
	"",
	"plain",
	`"quoted" \back\slash/ 'single'`,
	"<script>alert('x') && 1 > 0</script>",
	"\u2028line\u2029para\u2027\u202a",
	"\x00\x01\x07\b\t\n\v\f\r\x0e\x1b\x1f \x7f",
	"\xff",
	"a\xffb\xfe",
	"\xc0\x80",         // overlong NUL
	"\xed\xa0\x80",     // a UTF-16 surrogate, encoded
	"\xe2\x80",         // U+2028 cut short
	"\xe2\x80\xa8\xe2", // U+2028, then a lone lead byte
	"\xf4\x90\x80\x80", // past U+10FFFF
	"\U0010ffff\U0001f600",
	"\ufffd",
	"García López, Gran Vía 1, 28013 Madrid",
	"e\u0301", // a combining accent
	"\u00a0\u0085\u200b\ufeff",
	strings.Repeat("<&>", 100),
}
