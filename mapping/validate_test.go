package mapping

import (
	"regexp"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		want    target
		wantErr string
	}{
		{path: "key", want: target{path: "key", kind: kindKey}},
		{path: "objectId", want: target{path: "objectId", kind: kindObjectID}},
		{path: "password", want: target{path: "password", kind: kindPassword}},
		{path: "token", want: target{path: "token", kind: kindToken}},
		{path: "locale", want: target{path: "locale", kind: kindLocale}},
		{path: "device", want: target{path: "device", kind: kindDevice}},
		{path: "ids.email", want: target{path: "ids.email", kind: kindID, name: "email"}},
		{path: "ids.phone_number.confirmed", want: target{path: "ids.phone_number.confirmed", kind: kindIDConfirmed, name: "phone_number"}},
		{path: "datas.first-name", want: target{path: "datas.first-name", kind: kindData, name: "first-name"}},
		{path: "addresses.home.postalCode", want: target{path: "addresses.home.postalCode", kind: kindAddress, name: "home", field: postalCode}},
		{path: "assertions.terms", want: target{path: "assertions.terms", kind: kindAssertion, name: "terms"}},
		{path: "foo", wantErr: "not a payload path"},
		{path: "", wantErr: "not a payload path"},
		{path: "Key", wantErr: "not a payload path"},
		{path: "ids", wantErr: "not a payload path"},
		{path: "ids.", wantErr: "not a payload path"},
		{path: "ids.email.verified", wantErr: "not a payload path"},
		{path: "datas.a.b", wantErr: "not a payload path"},
		{path: "datas.first name", wantErr: "not a payload path"},
		{path: "addresses.home", wantErr: "not a payload path"},
		{path: "addresses.home.street", wantErr: "an address field is one of"},
		{path: "assertions.terms.value", wantErr: "not a payload path"},
		{path: "object.ids.email", wantErr: "not a payload path"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, err := parseTarget(tt.path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, `"`+tt.path+`"`)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"true", "TRUE", "True", "yes", "YES", "1", " 1 ", "\ttrue\n"} {
		v, ok := parseBool(s)
		require.True(t, ok, s)
		require.True(t, v, s)
	}
	for _, s := range []string{"false", "FALSE", "no", "No", "0", " no "} {
		v, ok := parseBool(s)
		require.True(t, ok, s)
		require.False(t, v, s)
	}
	for _, s := range []string{"", "t", "f", "y", "n", "2", "01", "si", "on", "off", "truee", "ye s", "yeſ", "falſe"} {
		_, ok := parseBool(s)
		require.False(t, ok, s)
	}
}

func TestEmail(t *testing.T) {
	t.Parallel()
	require.Equal(t, `^([_A-Za-z0-9-+]+(.[_A-Za-z0-9-]+)*@[A-Za-z0-9-]+(.[A-Za-z0-9]+)*(.[A-Za-z]{2,}))$`, emailPattern,
		"SPEC §2.1's pattern, verbatim")
	for _, s := range []string{"ana@example.com", "ana.garcia+crm@mail.example.es", "a_b-c@x-y.io", "A@B.CO"} {
		require.Empty(t, checkValue(checkEmail, s, false), s)
	}
	for _, s := range []string{"", "ana", "ana@", "@example.com", "ana@ex", "ana@example.c", "ana @example.com", "ana@example.com ", "ana@example.c0m", "ana!@example.com"} {
		require.NotEmpty(t, checkValue(checkEmail, s, false), s)
	}
	// The pattern's unescaped dots match any character, so DRUID's rule lets these through;
	// being stricter here would refuse users DRUID accepts.
	for _, s := range []string{"ana@example", "a@b@example.com", "ana@ex ample.com"} {
		require.Empty(t, checkValue(checkEmail, s, false), s)
	}
}

// TestIsPhoneNumber holds the hand-written check to DRUID's pattern.
func TestIsPhoneNumber(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(phonePattern)
	for _, s := range []string{
		"", "+", "+1", "+123456", "+1234567", "+123456789012345", "+1234567890123456", "+0123456789",
		"34600112233", "+34 600112233", "+34600112233", "+34-600112233", "++34600112233", "+３４600112233",
		"+34600112233\n",
	} {
		require.Equal(t, re.MatchString(s), isPhoneNumber(s), "%q", s)
	}
}

func FuzzIsPhoneNumber(f *testing.F) {
	re := regexp.MustCompile(phonePattern)
	for _, s := range []string{"+34600112233", "+1234567", "600", "+0123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if re.MatchString(s) != isPhoneNumber(s) {
			t.Fatalf("isPhoneNumber(%q) = %v, the pattern says otherwise", s, isPhoneNumber(s))
		}
	})
}

func TestShow(t *testing.T) {
	t.Parallel()
	require.Equal(t, `"Ana"`, show("Ana", false))
	require.Equal(t, "the value", show("Ana", true))
	long := show(string(make([]byte, 300)), false)
	require.Less(t, len(long), 300, "a long value is cut")
	require.Contains(t, long, "…")
	cut := show("ñññññññññññññññññññññññññññññññññññññññññññññññññ", false) // 50 two-byte runes
	require.NotContains(t, cut, `\x`, "cut on a rune boundary")
}

// TestFindControl holds FindControl to SPEC §3's definition for every Unicode scalar value,
// between other characters and at either end of a value, and to no match inside sequences that
// only look like the start of one.
func TestFindControl(t *testing.T) {
	t.Parallel()
	forbidden := func(r rune) bool {
		return r < 0x20 && r != '\t' || r == 0x7F || 0x80 <= r && r <= 0x9F || r == 0x2028 || r == 0x2029
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		c := string(r)
		for _, tt := range []struct {
			s  string
			at int
		}{{"ab" + c + "d", 2}, {c, 0}, {"é" + c, 2}} {
			at, got := FindControl(tt.s)
			if !forbidden(r) {
				if at >= 0 {
					t.Fatalf("FindControl(%q) = %d, %U: %U is allowed", tt.s, at, got, r)
				}
				continue
			}
			if at != tt.at || got != r {
				t.Fatalf("FindControl(%q) = %d, %U; want %d, %U", tt.s, at, got, tt.at, r)
			}
		}
	}
	for _, s := range []string{"", "\t", "Ana\tGarcía", "\xc2", "\xc2\xa0", "\xc2A", "\xc2\xc2\xa0", "\xe2\x80", "\xe2\x80\xa7",
		"\xe2\x80\xaa", "\xe2\x81\xa8", "\xe3\x80\xa8", "\xff\xfe", "a\xc2"} {
		at, r := FindControl(s)
		require.Equal(t, -1, at, "%q: %U", s, r)
	}
	at, r := FindControl("ok\u2029\x00")
	require.Equal(t, 2, at, "the first one")
	require.Equal(t, rune(0x2029), r)
}
