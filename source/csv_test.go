package source_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"druid-migrate/source"
)

// row is what a test expects of one record: Err is the exact message, "" for a good row.
type row struct {
	Line   int
	Values []string
	Err    string
}

// readAll reads every record of c before returning any, so that a record whose values alias
// a buffer that a later read overwrites shows up as a wrong value.
func readAll(t *testing.T, c *source.CSV) []row {
	t.Helper()
	var rows []row
	for {
		rec, err := c.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows
		}
		require.NoError(t, err)
		r := row{Line: rec.Line, Values: rec.Values}
		if rec.Err != nil {
			var re *source.RowError
			require.ErrorAs(t, rec.Err, &re, "a malformed row's Err is a *RowError")
			require.Equal(t, rec.Line, re.Line)
			r.Err = rec.Err.Error()
		}
		rows = append(rows, r)
	}
}

func TestCSVRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		delim rune // ',' when 0
		cols  []string
		want  []row
	}{
		{
			name: "LF",
			in:   "key,name\n1,Ana\n2,Bo\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}, {Line: 3, Values: []string{"2", "Bo"}}},
		},
		{
			name: "CRLF",
			in:   "key,name\r\n1,Ana\r\n2,Bo\r\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}, {Line: 3, Values: []string{"2", "Bo"}}},
		},
		{
			name: "last line without a line break",
			in:   "key,name\n1,Ana\n2,Bo",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}, {Line: 3, Values: []string{"2", "Bo"}}},
		},
		{
			name: "last line ends in a bare CR",
			in:   "key,name\r\n1,Ana\r\n2,Bo\r",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}, {Line: 3, Values: []string{"2", "Bo"}}},
		},
		{
			name: "CR inside a line is data",
			in:   "key,name\n1,A\rna\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "A\rna"}}},
		},
		{
			name: "BOM",
			in:   "\uFEFFkey,name\n1,Ana\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}},
		},
		{
			name: "BOM before a quoted header name",
			in:   "\uFEFF\"key\",\"name\"\r\n1,Ana\r\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 2, Values: []string{"1", "Ana"}}},
		},
		{
			name: "header names trimmed, values kept as they are",
			in:   " key ,\tname\t, \uFEFFemail\n1, Ana ,a@b.es\n",
			cols: []string{"key", "name", "email"},
			want: []row{{Line: 2, Values: []string{"1", " Ana ", "a@b.es"}}},
		},
		{
			name: "empty lines skipped but counted",
			in:   "\nkey,name\n\n1,Ana\r\n\r\n\n2,Bo\n\n",
			cols: []string{"key", "name"},
			want: []row{{Line: 4, Values: []string{"1", "Ana"}}, {Line: 7, Values: []string{"2", "Bo"}}},
		},
		{
			name: "quoted fields, escaped quotes, empty quoted field",
			in:   "key,name,note\n1,\"García, Ana\",\"say \"\"hi\"\"\"\n2,\"\",\"\"\"\"\n",
			cols: []string{"key", "name", "note"},
			want: []row{
				{Line: 2, Values: []string{"1", "García, Ana", `say "hi"`}},
				{Line: 3, Values: []string{"2", "", `"`}},
			},
		},
		{
			name: "quoted field over several lines, an empty one among them",
			in:   "key,note\n1,\"a\nb\n\nc\"\n2,x\n",
			cols: []string{"key", "note"},
			want: []row{{Line: 2, Values: []string{"1", "a\nb\n\nc"}}, {Line: 6, Values: []string{"2", "x"}}},
		},
		{
			name: "CRLF inside a quoted field reads as LF",
			in:   "key,note\r\n1,\"a\r\nb\"\r\n2,x\r\n",
			cols: []string{"key", "note"},
			want: []row{{Line: 2, Values: []string{"1", "a\nb"}}, {Line: 4, Values: []string{"2", "x"}}},
		},
		{
			name: "multi-line first field, then empty lines",
			in:   "key,note\n\"1\n2\",x\n\n\n3,y",
			cols: []string{"key", "note"},
			want: []row{{Line: 2, Values: []string{"1\n2", "x"}}, {Line: 6, Values: []string{"3", "y"}}},
		},
		{
			name:  "semicolon",
			in:    "key;name\n1;García, Ana\n2;\"a;b\"\n",
			delim: ';',
			cols:  []string{"key", "name"},
			want:  []row{{Line: 2, Values: []string{"1", "García, Ana"}}, {Line: 3, Values: []string{"2", "a;b"}}},
		},
		{
			name:  "tab",
			in:    "key\tname\n1\t\"a\tb\"\n2\tBo\n",
			delim: '\t',
			cols:  []string{"key", "name"},
			want:  []row{{Line: 2, Values: []string{"1", "a\tb"}}, {Line: 3, Values: []string{"2", "Bo"}}},
		},
		{
			name:  "multi-byte delimiter",
			in:    "key¦name\n©1¦Ana ©\n2¦\"B¦o©\"\n", // © shares the first byte of ¦
			delim: '¦',
			cols:  []string{"key", "name"},
			want:  []row{{Line: 2, Values: []string{"©1", "Ana ©"}}, {Line: 3, Values: []string{"2", "B¦o©"}}},
		},
		{
			name: "trailing delimiter is an empty last field",
			in:   "a,b,c\n1,2,\n\"1\",\"2\",\n",
			cols: []string{"a", "b", "c"},
			want: []row{{Line: 2, Values: []string{"1", "2", ""}}, {Line: 3, Values: []string{"1", "2", ""}}},
		},
		{
			name: "one column: a blank line is a value, an empty one is skipped",
			in:   "key\n1\n \n\n\"\"\n",
			cols: []string{"key"},
			want: []row{{Line: 2, Values: []string{"1"}}, {Line: 3, Values: []string{" "}}, {Line: 5, Values: []string{""}}},
		},

		// Malformed rows: each is a record with its reason, and reading goes on.
		{
			name: "too many fields",
			in:   "a,b,c,d\n1,2,3,4\n1,2,3,4,5\n5,6,7,8\n",
			cols: []string{"a", "b", "c", "d"},
			want: []row{
				{Line: 2, Values: []string{"1", "2", "3", "4"}},
				{Line: 3, Err: "line 3: 5 fields, header has 4"},
				{Line: 4, Values: []string{"5", "6", "7", "8"}},
			},
		},
		{
			name: "too few fields",
			in:   "a,b\n1\n2,x\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Err: "line 2: 1 field, header has 2"}, {Line: 3, Values: []string{"2", "x"}}},
		},
		{
			name: "too many fields in a quoted row over two lines",
			in:   "a,b\n\"1\",\"2\n\",\"3\"\n4,5\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Err: "line 2: 3 fields, header has 2"}, {Line: 4, Values: []string{"4", "5"}}},
		},
		{
			name: "bare quote",
			in:   "a,b,c\n1,2,x\"y\n3,4,5\n",
			cols: []string{"a", "b", "c"},
			want: []row{{Line: 2, Err: "line 2: bare quote in field 3"}, {Line: 3, Values: []string{"3", "4", "5"}}},
		},
		{
			name: "a quote opened after a bare quote is not followed to the next line",
			in:   "a,b,c\n1,5\" screen,\"x\ny\"\n2,3,4\n",
			cols: []string{"a", "b", "c"},
			want: []row{
				{Line: 2, Err: "line 2: bare quote in field 2"},
				{Line: 3, Err: "line 3: bare quote in field 1"},
				{Line: 4, Values: []string{"2", "3", "4"}},
			},
		},
		{
			name: "text after a closing quote",
			in:   "a,b\n1,\"He said \"hi\" there\"\n2,x\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Err: "line 2: text after the closing quote of field 2"}, {Line: 3, Values: []string{"2", "x"}}},
		},
		{
			name: "a fault on a later line of the row resumes after that line",
			in:   "a,b\n1,\"x\ny\"z\n2,w\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Err: "line 2: text after the closing quote of field 2 on line 3"}, {Line: 4, Values: []string{"2", "w"}}},
		},
		{
			name: "quote never closed: one record naming the line it opened on",
			in:   "a,b\n1,\"open\n2,x\n3,y\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Err: "line 2: quoted field 2 never closed"}},
		},
		{
			name: "quote never closed, no final line break",
			in:   "a,b\n0,z\n1,\"open",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Values: []string{"0", "z"}}, {Line: 3, Err: "line 3: quoted field 2 never closed"}},
		},
		{
			name: "invalid UTF-8 keeps the values",
			in:   "a,b\n1,\xff\n2,ok\n",
			cols: []string{"a", "b"},
			want: []row{
				{Line: 2, Values: []string{"1", "\xff"}, Err: "line 2: invalid UTF-8 in field 2"},
				{Line: 3, Values: []string{"2", "ok"}},
			},
		},
		{
			name: "invalid UTF-8 in a quoted field",
			in:   "a,b\n\"\xc3\",x\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Values: []string{"\xc3", "x"}, Err: "line 2: invalid UTF-8 in field 1"}},
		},
		{
			name: "two halves of a character in two quoted fields are two faults, not one character",
			in:   "a,b\n\"x\xc3\",\"\xa9y\"\n",
			cols: []string{"a", "b"},
			want: []row{{Line: 2, Values: []string{"x\xc3", "\xa9y"}, Err: "line 2: invalid UTF-8 in field 1"}},
		},
		{
			name:  "two halves of a character around a multi-byte delimiter",
			in:    "a¦b\nx\xc3¦\xa9y\n",
			delim: '¦',
			cols:  []string{"a", "b"},
			want:  []row{{Line: 2, Values: []string{"x\xc3", "\xa9y"}, Err: "line 2: invalid UTF-8 in field 1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			delim := tt.delim
			if delim == 0 {
				delim = ','
			}
			c, err := source.NewCSV(strings.NewReader(tt.in), "users.csv", delim)
			require.NoError(t, err)
			require.Equal(t, tt.cols, c.Columns())
			require.Equal(t, tt.want, readAll(t, c))
			require.NoError(t, c.Close())
		})
	}
}

func TestCSVRowErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want error
	}{
		{"a,b\n1\n", source.ErrFieldCount},
		{"a,b\n1,x\"\n", source.ErrBareQuote},
		{"a,b\n1,\"x\"y\n", source.ErrAfterQuote},
		{"a,b\n1,\"x\n", source.ErrUnclosedQuote},
		{"a,b\n1,\xff\n", source.ErrInvalidUTF8},
		{"a,b\n1," + strings.Repeat("x", source.MaxRowBytes) + "\n", source.ErrRowTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.want.Error(), func(t *testing.T) {
			t.Parallel()
			c, err := source.NewCSV(strings.NewReader(tt.in), "users.csv", ',')
			require.NoError(t, err)
			rec, err := c.Next(context.Background())
			require.NoError(t, err)
			require.ErrorIs(t, rec.Err, tt.want)
		})
	}
}

// lineSizes returns the byte size of each line of s, line break included, by line number.
func lineSizes(s string) map[int]int {
	sizes := map[int]int{}
	for i, l := range strings.SplitAfter(s, "\n") {
		sizes[i+1] = len(l)
	}
	return sizes
}

func TestCSVUnclosedQuoteIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("key,note\n1,\"never closed\n")
	const lines = 40_000 // about 1.3 MiB after the open quote
	for i := 2; i < lines; i++ {
		fmt.Fprintf(&b, "%d,a value long enough to matter\n", i)
	}
	in := b.String()
	require.Greater(t, len(in), source.MaxRowBytes)

	// The bound is crossed on the first line that takes the row, from line 2, past MaxRowBytes;
	// reading resumes on the line after it.
	sizes := lineSizes(in)
	crossed, total := 2, 0
	for ; total+sizes[crossed] <= source.MaxRowBytes; crossed++ {
		total += sizes[crossed]
	}

	c, err := source.NewCSV(strings.NewReader(in), "users.csv", ',')
	require.NoError(t, err)
	rows := readAll(t, c)
	require.Equal(t, row{Line: 2, Err: fmt.Sprintf("line 2: row longer than 1 MiB (quoted field 2 still open), skipped through line %d", crossed)}, rows[0])
	rest := rows[1:]
	require.Len(t, rest, lines-crossed, "every row after the skipped lines is read")
	for i, r := range rest {
		line := crossed + 1 + i
		require.Equal(t, row{Line: line, Values: []string{fmt.Sprint(line - 1), "a value long enough to matter"}}, r)
	}
}

func TestCSVLongLines(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 200<<10) // longer than the read buffer, shorter than the bound
	huge := strings.Repeat("y", source.MaxRowBytes)
	tests := []struct {
		name string
		in   string
		want []row
	}{
		{
			name: "a line longer than the read buffer",
			in:   "a,b\n1," + big + "\n2,x\n",
			want: []row{{Line: 2, Values: []string{"1", big}}, {Line: 3, Values: []string{"2", "x"}}},
		},
		{
			name: "a quoted field longer than the read buffer over two lines",
			in:   "a,b\n1,\"" + big + "\n" + big + "\"\n2,x\n",
			want: []row{{Line: 2, Values: []string{"1", big + "\n" + big}}, {Line: 4, Values: []string{"2", "x"}}},
		},
		{
			name: "a line longer than the bound, without quotes",
			in:   "a,b\n1," + huge + "\n2,x\n",
			want: []row{{Line: 2, Err: "line 2: row longer than 1 MiB"}, {Line: 3, Values: []string{"2", "x"}}},
		},
		{
			name: "a last line longer than the bound",
			in:   "a,b\n2,x\n1," + huge,
			want: []row{{Line: 2, Values: []string{"2", "x"}}, {Line: 3, Err: "line 3: row longer than 1 MiB"}},
		},
		{
			name: "a quoted field crossing the bound on a long line",
			in:   "a,b\n1,\"" + big + "\n" + huge + "\n2,x\n",
			want: []row{{Line: 2, Err: "line 2: row longer than 1 MiB (quoted field 2 still open), skipped through line 3"}, {Line: 4, Values: []string{"2", "x"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := source.NewCSV(strings.NewReader(tt.in), "users.csv", ',')
			require.NoError(t, err)
			require.Equal(t, tt.want, readAll(t, c))
		})
	}
}

func TestNewCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   io.Reader
		want string
	}{
		{"empty", strings.NewReader(""), "source users.csv: no header row: the input is empty"},
		{"only empty lines", strings.NewReader("\n\r\n\n"), "source users.csv: no header row: the input is empty"},
		{"only a BOM", strings.NewReader("\uFEFF"), "source users.csv: no header row: the input is empty"},
		{"invalid UTF-8", strings.NewReader("a,\xff\n"), "source users.csv: header: line 1: invalid UTF-8 in field 2"},
		{"duplicate after trimming", strings.NewReader("a,b, a\n"), `source users.csv: header: column 3 "a" repeats column 1`},
		{"empty name", strings.NewReader("a,,b\n"), "source users.csv: header: column 2 has no name"},
		{"blank name", strings.NewReader("a, \t,b\n"), "source users.csv: header: column 2 has no name"},
		{"bare quote", strings.NewReader("a,b\"c\n"), "source users.csv: header: line 1: bare quote in field 2"},
		{"quote never closed", strings.NewReader("a,\"b\n1,2\n"), "source users.csv: header: line 1: quoted field 2 never closed"},
		{"read error", iotest.ErrReader(errors.New("disk on fire")), "source users.csv: read header: disk on fire"},
		{"read error after the BOM", io.MultiReader(strings.NewReader("\uFEFFa,b"), iotest.ErrReader(errors.New("disk on fire"))), "source users.csv: read header: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := source.NewCSV(tt.in, "users.csv", ',')
			require.Nil(t, c)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestCSVDelimiter(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.csv")
	for _, d := range []rune{'"', '\r', '\n', 0, -1, 0xD800, utf8.MaxRune + 1, utf8.RuneError} {
		t.Run(fmt.Sprintf("refuses %U", d), func(t *testing.T) {
			t.Parallel()
			_, err := source.NewCSV(strings.NewReader("a,b\n"), "stdin", d)
			require.ErrorContains(t, err, "source stdin: --delimiter ")
			// Checked before the file is opened: the operator learns of the flag first.
			_, err = source.OpenCSV(missing, d)
			require.ErrorContains(t, err, "--delimiter ")
		})
	}
	for _, d := range []rune{',', ';', '\t', '|', ' ', '¦', '😀'} {
		t.Run(fmt.Sprintf("accepts %U", d), func(t *testing.T) {
			t.Parallel()
			in := fmt.Sprintf("a%cb\n1%c\"2%c3\"\n", d, d, d)
			c, err := source.NewCSV(strings.NewReader(in), "stdin", d)
			require.NoError(t, err)
			require.Equal(t, []string{"a", "b"}, c.Columns())
			require.Equal(t, []row{{Line: 2, Values: []string{"1", "2" + string(d) + "3"}}}, readAll(t, c))
		})
	}
}

func TestOpenCSV(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(dir, "users.csv")
		_, err := source.OpenCSV(path, ',')
		require.EqualError(t, err, "source "+path+": open: no such file or directory")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("a directory", func(t *testing.T) {
		t.Parallel()
		_, err := source.OpenCSV(dir, ',')
		require.EqualError(t, err, "source "+dir+": read header: is a directory")
	})
	t.Run("no path", func(t *testing.T) {
		t.Parallel()
		_, err := source.OpenCSV("", ',')
		require.EqualError(t, err, "source: no file named")
	})
	t.Run("a file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(dir, "ok.csv")
		require.NoError(t, os.WriteFile(path, []byte("\uFEFFkey;name\r\n1;Ana\r\n"), 0o600))
		c, err := source.OpenCSV(path, ';')
		require.NoError(t, err)
		require.Equal(t, []string{"key", "name"}, c.Columns())
		require.Equal(t, []row{{Line: 2, Values: []string{"1", "Ana"}}}, readAll(t, c))
		require.NoError(t, c.Close())
		require.NoError(t, c.Close(), "a second Close is harmless")
		_, err = c.Next(context.Background())
		require.ErrorIs(t, err, io.EOF)
	})
}

// TestOpenCSVStdin replaces os.Stdin, so it cannot run in parallel with other tests.
func TestOpenCSVStdin(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	stdin := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = stdin })

	_, err = w.WriteString("key,name\n1,Ana\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())

	c, err := source.OpenCSV("-", ',')
	require.NoError(t, err)
	require.Equal(t, []row{{Line: 2, Values: []string{"1", "Ana"}}}, readAll(t, c))
	require.NoError(t, c.Close())

	// Still open: a closed file would answer os.ErrClosed, not the end of the pipe.
	_, err = r.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	_, err = source.OpenCSV("-", ',')
	require.EqualError(t, err, "source stdin: no header row: the input is empty")
}

func TestCSVNextErrors(t *testing.T) {
	t.Parallel()

	t.Run("I/O error ends the reading and names the source", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("connection reset")
		in := io.MultiReader(strings.NewReader("a,b\n1,2\n3,\"x\n"), iotest.ErrReader(boom))
		c, err := source.NewCSV(in, "stdin", ',')
		require.NoError(t, err)
		rec, err := c.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"1", "2"}, rec.Values)
		for range 2 { // and again on every later call
			_, err = c.Next(context.Background())
			require.ErrorIs(t, err, boom)
			require.EqualError(t, err, "source stdin: read line 4: connection reset")
		}
	})
	t.Run("io.EOF at the end, and after", func(t *testing.T) {
		t.Parallel()
		c, err := source.NewCSV(strings.NewReader("a\n1"), "stdin", ',')
		require.NoError(t, err)
		_, err = c.Next(context.Background())
		require.NoError(t, err)
		for range 2 {
			_, err = c.Next(context.Background())
			require.ErrorIs(t, err, io.EOF)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		c, err := source.NewCSV(strings.NewReader("a\n1\n"), "stdin", ',')
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = c.Next(ctx)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestCSVMatchesEncodingCSV reads a realistic export larger than the read buffer, so that
// records are compared only after later reads have refilled it.
func TestCSVMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	data := realisticCSV(5_000)
	want, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)

	c, err := source.NewCSV(bytes.NewReader(data), "users.csv", ',')
	require.NoError(t, err)
	require.Equal(t, want[0], c.Columns())
	got := readAll(t, c)
	require.Len(t, got, len(want)-1)
	for i, r := range got {
		require.Equal(t, row{Line: r.Line, Values: want[i+1]}, r)
	}
}

// trimName is how the header names are trimmed, for the oracle.
func trimName(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
}

func FuzzCSV(f *testing.F) {
	delims := []rune{',', ';', '\t', '|', '¦'} // the fuzzer picks one by index
	seeds := []struct {
		in    string
		delim uint8
	}{
		{"key,name\n1,Ana\n2,Bo\n", 0},
		{"\uFEFFkey,name\r\n1,\"García, Ana\"\r\n\r\n2,\"a\r\nb\"\r\n", 0},
		{"a,b\n1,\"x\ny\"z\n2,w\n", 0},
		{"a,b,c\n1,5\" screen,\"x\ny\"\n2,3,4\n", 0},
		{"a,b\n1,\"open\n2,x\n", 0},
		{"a,b\n1,\xff\n\"x\xc3\",\"\xa9y\"\n", 0},
		{"\na,b\n\n\"1\n\n2\",\"3\"\"\"\n4,5\r", 0},
		{"a;b\n1;2;3\n\n4;5\r", 1},
		{"a\tb\n\"\"\"\"\t\"\"\n", 2},
		{"k¦v\n1¦\"2¦3\"\n", 4},
		{"a,b\n\"1\",\"2\n\",\"3\"\n4,5", 0},
	}
	for _, s := range seeds {
		f.Add([]byte(s.in), s.delim)
	}
	f.Fuzz(func(t *testing.T, data []byte, d uint8) {
		delim := delims[int(d)%len(delims)]
		c, openErr := source.NewCSV(bytes.NewReader(data), "fuzz.csv", delim)
		var recs []source.Record
		if openErr == nil {
			for {
				rec, err := c.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, "a bytes.Reader has no I/O errors")
				recs = append(recs, rec)
			}
		}

		// Invariants of every input.
		lines := bytes.Count(data, []byte("\n")) + 1
		prev := 1
		for _, rec := range recs {
			require.Greater(t, rec.Line, prev, "lines are at least 2 and strictly increasing")
			require.LessOrEqual(t, rec.Line, lines)
			prev = rec.Line
			if rec.Err == nil {
				require.Len(t, rec.Values, len(c.Columns()))
			} else {
				var re *source.RowError
				require.ErrorAs(t, rec.Err, &re)
				require.Equal(t, rec.Line, re.Line)
			}
		}

		// Where encoding/csv reads the whole input with a fixed number of fields, agree with it.
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF"))))
		r.Comma = delim
		var want [][]string
		var wantLines []int
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			line, _ := r.FieldPos(0)
			want = append(want, rec)
			wantLines = append(wantLines, line)
		}
		if len(want) == 0 {
			require.Error(t, openErr, "no header")
			return
		}
		header := make([]string, len(want[0]))
		seen := map[string]bool{}
		headerOK := true
		for i, name := range want[0] {
			header[i] = trimName(name)
			if !utf8.ValidString(name) || header[i] == "" || seen[header[i]] {
				headerOK = false
			}
			seen[header[i]] = true
		}
		if !headerOK {
			require.Error(t, openErr, "a header encoding/csv reads but that is not valid")
			return
		}
		require.NoError(t, openErr)
		require.Equal(t, header, c.Columns())
		require.Len(t, recs, len(want)-1)
		for i, rec := range recs {
			require.Equal(t, wantLines[i+1], rec.Line)
			require.Equal(t, want[i+1], rec.Values)
			valid := true
			for _, v := range want[i+1] {
				valid = valid && utf8.ValidString(v)
			}
			if valid {
				require.NoError(t, rec.Err)
			} else {
				require.ErrorIs(t, rec.Err, source.ErrInvalidUTF8)
			}
		}
	})
}

// realisticCSV is a CRM export of n users and 12 columns: mostly plain rows, with accents,
// some quoted fields holding the delimiter, escaped quotes and line breaks, as real ones have.
func realisticCSV(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	first := []string{"Ana", "José", "María", "Jürgen", "Zoë", "Li", "Oluwaseun", "Ólafur"}
	last := []string{"García López", "Müller", "O'Brien", "Núñez", "Smith", "Van der Berg", "Kowalski"}
	streets := []string{"Gran Vía 1", "\"Calle Mayor 12, 3º B\"", "Baker St. 221b", "\"Rue de la Paix 5, \"\"bis\"\"\"", "\"Main St 4\nApt 2\""}
	cities := []string{"Madrid", "Barcelona", "Berlin", "\"Washington, D.C.\"", "London", "Zürich"}
	countries := []string{"ES", "DE", "US", "GB", "CH", "FR"}
	status := []string{"Subscribed", "Unsubscribed", ""}
	var b bytes.Buffer
	b.WriteString("crm_id,DRUID Id,First Name,Last Name,Email Address,Mobile,Date of Birth,Street,City,Postal Code,Country,Marketing Status\r\n")
	for i := range n {
		f, l := first[rng.IntN(len(first))], last[rng.IntN(len(last))]
		fmt.Fprintf(&b, "CRM-%07d,%015d,%s,%s,%s.%d@example.com,+34 6%02d %03d %03d,%04d-%02d-%02d,%s,%s,%05d,%s,%s\r\n",
			i, rng.Int64N(1e15), f, l, strings.ToLower(f), i,
			rng.IntN(100), rng.IntN(1000), rng.IntN(1000),
			1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28),
			streets[rng.IntN(len(streets))], cities[rng.IntN(len(cities))], rng.IntN(100000),
			countries[rng.IntN(len(countries))], status[rng.IntN(len(status))])
	}
	return b.Bytes()
}

func BenchmarkCSVNext(b *testing.B) {
	data := realisticCSV(10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		c, err := source.NewCSV(bytes.NewReader(data), "bench.csv", ',')
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := c.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatal(err, rec.Err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEncodingCSV is the baseline BenchmarkCSVNext is measured against: encoding/csv
// reading the same export, without the checks this package adds.
func BenchmarkEncodingCSV(b *testing.B) {
	data := realisticCSV(10_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		for {
			_, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
