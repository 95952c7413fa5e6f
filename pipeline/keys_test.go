package pipeline

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"druid-migrate/mapping"
	"druid-migrate/source"
)

func TestLastKeyFindsTheRepeatsOfAnOrderedSource(t *testing.T) {
	var s lastKey
	// An ordered source yields a key's records together.
	for i, l := range []struct {
		key   string
		first int
	}{{"a", 0}, {"b", 0}, {"b", 3}, {"b", 3}, {"c", 0}} {
		first, repeat := s.add(l.key, i+2)
		require.Equal(t, l.first != 0, repeat, "key %q on line %d", l.key, i+2)
		require.Equal(t, l.first, first, "key %q on line %d", l.key, i+2)
	}
}

// keyColumnBuilder is keyBuilder that names its key column, as mapping.Mapper does.
type keyColumnBuilder struct{ keyBuilder }

func (keyColumnBuilder) KeyColumn() string { return "crm_id" }

// TestKeysThatCannotBeStoredAreInvalidUnderTheirLine: a key the checkpoint cannot store makes
// its record invalid, recorded under #line N with a reason that names the line and the key
// column and shows the key only escaped and cut: never the key itself.
func TestKeysThatCannotBeStoredAreInvalidUnderTheirLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 10_000)
	for _, tt := range []struct {
		name, key string
		want      []string
	}{
		{"Latin-1", "M\xfcller", []string{`the key "M\xfcller" is not valid UTF-8`}},
		{"NUL", "a\x00b", []string{`the key "a\x00b" holds the control character U+0000`}},
		{"line feed", "a\nb", []string{`"a\nb"`, "U+000A"}},
		{"NEL", "a\u0085b", []string{`"a\u0085b"`, "U+0085"}},
		{"line separator", "a\u2028b", []string{`"a\u2028b"`, "U+2028"}},
		{"DEL", "a\x7f", []string{`"a\x7f"`, "U+007F"}},
		{"10 KB", long, []string{`"` + long[:shownKeyBytes] + `"…`, "is 10000 bytes long, more than the 1024 a key may have"}},
		{"one byte too long", strings.Repeat("é", 512) + "x", []string{"is 1025 bytes long"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, b := range []Builder{keyBuilder{}, keyColumnBuilder{}} {
				got := buildRecord(b, map[string]int{}, source.Record{Line: 7, Values: []string{tt.key, "ok"}})
				require.Nil(t, got.payload, "never sent")
				require.Equal(t, "#line 7", got.key)
				require.True(t, strings.HasPrefix(got.invalid, "line 7: key"), got.invalid)
				if _, named := b.(keyColumnBuilder); named {
					require.Contains(t, got.invalid, `key (column "crm_id")`)
				}
				for _, w := range tt.want {
					require.Contains(t, got.invalid, w)
				}
				require.NotContains(t, got.invalid, tt.key)
				require.True(t, utf8.ValidString(got.invalid))
				require.Less(t, len(got.invalid), 200)
			}
		})
	}

	// The longest key, and keys of any script, tabs included, are stored as they are.
	for _, key := range []string{strings.Repeat("é", 512), "Müller", "a\tb", "山田", "\U0001f600"} {
		got := buildRecord(keyBuilder{}, map[string]int{}, source.Record{Line: 3, Values: []string{key, "ok"}})
		require.NotNil(t, got.payload, "%q", key)
		require.Equal(t, key, got.key)
	}

	// A builder that refused the record for another reason keeps that reason, and loses a key
	// that cannot be stored.
	got := buildRecord(keyBuilder{}, map[string]int{}, source.Record{Line: 9, Values: []string{"M\xfcller", "bad"}})
	require.Equal(t, "#line 9", got.key)
	require.Equal(t, `line 9: datas.x: "bad" is bad`, got.invalid)
}

// TestALatin1RowIsRecordedUnderItsLine runs a CSV export in Latin-1 through the real reader
// and mapping: the row is malformed, and the key the mapping still read from it is not stored.
func TestALatin1RowIsRecordedUnderItsLine(t *testing.T) {
	t.Parallel()
	src, err := source.NewCSV(strings.NewReader("key,ids.email,datas.name,assertions.terms\n"+
		"M\xfcller,m@example.com,M,true\nana,a@example.com,Ana,true\n"), "users.csv", ',')
	require.NoError(t, err)
	m, err := mapping.Compile(nil, src.Columns(), mapping.Options{AppID: "app"})
	require.NoError(t, err)
	store, sender := newMemStore(), &recordingSender{}
	sum, err := Run(context.Background(), Config{Job: "j", RunID: 1, Log: zerolog.Nop()}, src, m, store, sender)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"ana": 3}, sender.sent)
	invalid := store.outcome("invalid")
	require.Len(t, invalid, 1)
	require.Contains(t, invalid, "#line 2")
	require.Contains(t, invalid["#line 2"].Error, "line 2: malformed record: invalid UTF-8 in field 1")
	require.EqualValues(t, 1, sum.Invalid)
}
