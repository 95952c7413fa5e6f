package mapping

import (
	"regexp"
	"strings"
	"testing"
)

// specEmailRE is SPEC §2.1's email pattern as the regexp package reads it: the reference
// isEmail is held to.
var specEmailRE = regexp.MustCompile(emailPattern)

// emailCases reach every position of the pattern and every class of character, the ones its
// unescaped dots let through included.
var emailCases = []string{
	"", "a", "@", "a@", "@b.co", "a@b", "a@bc", "a@b.c", "a@b.co", "a@b.c0", "a@b.co1", "a@b-.co",
	"ana@example.com", "ana.garcia+crm@mail.example.es", "a_b-c@x-y.io", "A@B.CO", "ana@example",
	"a@b@example.com", "ana@ex ample.com", "ana @example.com", "ana@example.com ", " ana@example.com",
	"ana!@example.com", "ana@example.c0m", "+@b.co", "_@b.co", "-@b.co", "a+b@c.de", "a.+b@c.de",
	"a..b@c.de", "a.b.@c.de", ".a@b.co", "a@.b.co", "a@b..co", "a@b_c.de", "a@b+c.de", "a@@b.co",
	"a@b.co\n", "a\n@b.co", "a@b\n.co", "a@b.c\no", "\n", "a@b.\xffco", "a@b\xff.co", "a\xff@b.co",
	"a@bñco", "a@bñ.co", "ñ@b.co", "a@b.ñco", "a@b.co\u2028", "a@b\u2028co", "a@b\U0001f600co",
	"a@b\xe2\x80co", "a@b\xed\xa0\x80co", "user1@example.com", "x@y" + strings.Repeat(".ab", 50),
	strings.Repeat("a", 300) + "@" + strings.Repeat("b.", 300) + "co",
}

func TestIsEmailMatchesSpecRegex(t *testing.T) {
	t.Parallel()
	for _, s := range emailCases {
		if got, want := isEmail(s), specEmailRE.MatchString(s); got != want {
			t.Errorf("isEmail(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

// FuzzEmailMatchesSpecRegex holds the hand-written automaton to SPEC §2.1's regexp.
func FuzzEmailMatchesSpecRegex(f *testing.F) {
	for _, s := range emailCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isEmail(s), specEmailRE.MatchString(s); got != want {
			t.Fatalf("isEmail(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func BenchmarkIsEmail(b *testing.B) {
	for _, s := range []string{"ana.garcia@example.com", "not an email at all"} {
		b.Run("hand/"+s, func(b *testing.B) {
			for b.Loop() {
				isEmail(s)
			}
		})
		b.Run("regexp/"+s, func(b *testing.B) {
			for b.Loop() {
				specEmailRE.MatchString(s)
			}
		})
	}
}

// TestIsBlankAndIsEmptyMarker hold the shortcuts to the strings.TrimSpace they stand for.
func TestIsBlankAndIsEmptyMarker(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", " ", "\t\n\v\f\r ", "a", " a", "a ", "\u00a0", "\u0085", " \u00a0 ", "\u2028", "\u200b", "\xff",
		" \xff", "\x1c", "\x85", "<empty>", " <empty>\t", "\u00a0<empty>\u3000", "<empty", "<EMPTY>",
		"x<empty>", "<empty>x", "\x00<empty>",
	} {
		if got, want := isBlank(s), strings.TrimSpace(s) == ""; got != want {
			t.Errorf("isBlank(%q) = %v, want %v", s, got, want)
		}
		if got, want := isEmptyMarker(s), strings.TrimSpace(s) == EmptyMarker; got != want {
			t.Errorf("isEmptyMarker(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzIsBlankAndIsEmptyMarker(f *testing.F) {
	for _, s := range []string{"", " ", "a", "\u00a0<empty>", " <empty> ", "\x85"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isBlank(s) != (strings.TrimSpace(s) == "") || isEmptyMarker(s) != (strings.TrimSpace(s) == EmptyMarker) {
			t.Fatalf("isBlank(%q) = %v, isEmptyMarker = %v: not TrimSpace's answer", s, isBlank(s), isEmptyMarker(s))
		}
	})
}
