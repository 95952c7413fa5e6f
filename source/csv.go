package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxRowBytes bounds the raw size of one CSV row, line breaks included. It exists for the
// quoted field that is never closed: without a bound it would swallow the rest of the file
// into one record, and hold it in memory. A longer row is returned as malformed
// ([ErrRowTooLong]) and reading resumes after the line on which the bound was crossed. 1 MiB
// is far above any real user row, and small enough to keep memory flat.
const MaxRowBytes = 1 << 20

// readBufferSize is the bufio buffer: large enough that nearly every line is parsed in place,
// without being copied before it is split.
const readBufferSize = 64 << 10

// The kinds of malformed row, the Err of a [RowError]: test a Record's Err with errors.Is.
var (
	// ErrFieldCount is a row with more or fewer fields than the header has columns.
	ErrFieldCount = errors.New("wrong number of fields")
	// ErrBareQuote is a quote inside a field that does not start with one.
	ErrBareQuote = errors.New("bare quote in an unquoted field")
	// ErrAfterQuote is a quoted field whose closing quote is followed by something other than
	// the delimiter or the end of the line; often a quote that should have been doubled.
	ErrAfterQuote = errors.New("text after the closing quote of a field")
	// ErrUnclosedQuote is a quoted field still open at the end of the input.
	ErrUnclosedQuote = errors.New("quoted field never closed")
	// ErrInvalidUTF8 is a field whose bytes are not UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrRowTooLong is a row longer than MaxRowBytes.
	ErrRowTooLong = errors.New("row too long")
)

// RowError says why a CSV row is malformed. It is the Err of a [Record], never an error
// returned by Next. Its message names lines and fields, never a value: a row may hold a
// password.
type RowError struct {
	Line      int   // the line the row starts on
	FaultLine int   // the line the fault was found on; for ErrRowTooLong the last line skipped
	Field     int   // the field at fault, counted from 1; 0 when the fault is the whole row's
	Fields    int   // for ErrFieldCount: the number of fields the row has
	Columns   int   // for ErrFieldCount: the number of columns of the header
	Err       error // the kind of fault: ErrFieldCount, ErrBareQuote, ...
}

// Error reads like "line 7: 5 fields, header has 4" or "line 9: bare quote in field 3".
func (e *RowError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason())
}

// Reason says what is wrong with the row, without its line number.
func (e *RowError) Reason() string {
	var msg string
	switch e.Err {
	case ErrFieldCount:
		msg = fmt.Sprintf("%d %s, header has %d", e.Fields, plural(e.Fields, "field"), e.Columns)
	case ErrBareQuote:
		msg = fmt.Sprintf("bare quote in field %d%s", e.Field, e.onLine())
	case ErrAfterQuote:
		msg = fmt.Sprintf("text after the closing quote of field %d%s", e.Field, e.onLine())
	case ErrUnclosedQuote:
		msg = fmt.Sprintf("quoted field %d never closed", e.Field)
	case ErrInvalidUTF8:
		msg = fmt.Sprintf("invalid UTF-8 in field %d", e.Field)
	case ErrRowTooLong:
		msg = fmt.Sprintf("row longer than %d MiB", MaxRowBytes>>20)
		if e.Field > 0 {
			msg += fmt.Sprintf(" (quoted field %d still open)", e.Field)
		}
		if e.FaultLine > e.Line {
			msg += fmt.Sprintf(", skipped through line %d", e.FaultLine)
		}
	default:
		msg = fmt.Sprint(e.Err)
	}
	return msg
}

// onLine points at the line of a fault found past the row's first line, where the operator
// must look to fix it.
func (e *RowError) onLine() string {
	if e.FaultLine > e.Line {
		return fmt.Sprintf(" on line %d", e.FaultLine)
	}
	return ""
}

// Unwrap returns the kind of fault, for errors.Is.
func (e *RowError) Unwrap() error { return e.Err }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// CSV streams the records of a CSV file. It is not safe for concurrent use: one producer reads
// it.
type CSV struct {
	name    string
	r       *bufio.Reader
	closer  io.Closer // nil when the CSV does not own its input (stdin, NewCSV)
	columns []string

	delim     []byte // the delimiter, UTF-8 encoded
	delimStr  string // delim again, for the strings functions
	delimByte byte   // delim[0], the fast path when the delimiter is one byte
	line      int    // physical lines consumed so far
	err       error  // sticky: io.EOF or the I/O error that ended the reading

	long    []byte // a line longer than the bufio buffer, assembled
	scratch []byte // the unescaped fields of a row with quotes, back to back
	ends    []int  // where each field of scratch ends
}

// OpenCSV opens path ("-" = stdin, which Close then leaves open) and reads the header.
// Every error it returns is a configuration error naming the file, e.g.
// "source users.csv: open: no such file or directory".
func OpenCSV(path string, delimiter rune) (*CSV, error) {
	if path == "" {
		return nil, errors.New("source: no file named")
	}
	if path == "-" {
		return NewCSV(os.Stdin, "stdin", delimiter)
	}
	if err := checkDelimiter(delimiter); err != nil {
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: open: %w", path, bare(err))
	}
	c, err := NewCSV(f, path, delimiter)
	if err != nil {
		_ = f.Close() // the header error is the one worth reporting
		return nil, err
	}
	c.closer = f
	return c, nil
}

// NewCSV reads the header from r. name is used in error messages (e.g. the file name, or
// "stdin"). The caller keeps ownership of r: Close does not close it.
//
// The header must be one row of non-empty, distinct names once trimmed of white space and of a
// leading byte order mark; the errors saying otherwise name the file and are configuration
// errors.
func NewCSV(r io.Reader, name string, delimiter rune) (*CSV, error) {
	if err := checkDelimiter(delimiter); err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	c := &CSV{
		name:  name,
		r:     bufio.NewReaderSize(r, readBufferSize),
		delim: utf8.AppendRune(nil, delimiter),
	}
	c.delimStr = string(c.delim)
	c.delimByte = c.delim[0]
	if err := c.skipBOM(); err != nil {
		return nil, fmt.Errorf("source %s: read header: %w", name, bare(err))
	}
	header, err := c.row(0)
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("source %s: no header row: the input is empty", name)
	case err != nil:
		return nil, fmt.Errorf("source %s: read header: %w", name, bare(err))
	case header.Err != nil:
		return nil, fmt.Errorf("source %s: header: %w", name, header.Err)
	}
	c.columns = header.Values
	seen := make(map[string]int, len(c.columns))
	for i, col := range c.columns {
		col = strings.TrimFunc(col, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
		if col == "" {
			return nil, fmt.Errorf("source %s: header: column %d has no name", name, i+1)
		}
		if j, dup := seen[col]; dup {
			return nil, fmt.Errorf("source %s: header: column %d %q repeats column %d", name, i+1, col, j+1)
		}
		seen[col] = i
		c.columns[i] = col
	}
	return c, nil
}

// checkDelimiter refuses the runes that cannot separate fields. The message names the flag
// because that is where the operator chose it.
func checkDelimiter(d rune) error {
	if d == 0 || d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError || !utf8.ValidRune(d) {
		return fmt.Errorf("--delimiter %q: not a field separator (one character, not a quote or a line break)", d)
	}
	return nil
}

// bare drops the *fs.PathError around err: the messages name the file already.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// skipBOM drops a UTF-8 byte order mark at the start of the input, which spreadsheet exports
// write and which would otherwise stick to the first header name, or open a quoted one.
func (c *CSV) skipBOM() error {
	b, err := c.r.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = c.r.Discard(3) // cannot fail: the bytes are buffered
	}
	return nil
}

// Columns returns the header names, trimmed of white space and a leading UTF-8 BOM, in the
// order of every record's Values.
func (c *CSV) Columns() []string { return slices.Clone(c.columns) }

// Next returns the next row. It returns io.EOF after the last one. Any other error ends the run:
// ctx's error once ctx is done, or an I/O error naming the source, which every later call
// returns again.
//
// A malformed row is not an error of Next: it comes back as a Record whose Err is a *RowError,
// and the next call reads on. Its Values are set only when it has one field per column (it is
// then malformed for invalid UTF-8 only, and its other fields, the key, say, are still good);
// otherwise they are nil. A record's Values stay valid after later calls.
func (c *CSV) Next(ctx context.Context) (Record, error) {
	if c.err != nil {
		return Record{}, c.err
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	rec, err := c.row(len(c.columns))
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = fmt.Errorf("source %s: read line %d: %w", c.name, c.line+1, bare(err))
		}
		c.err = err
		return Record{}, err
	}
	return rec, nil
}

// Close closes the file OpenCSV opened. It leaves stdin, and any reader given to NewCSV, open.
func (c *CSV) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	if err != nil {
		return fmt.Errorf("source %s: close: %w", c.name, bare(err))
	}
	return nil
}

// row reads the next row, skipping empty lines. want is the number of fields a row must have,
// 0 for any (the header). The error is io.EOF at the end of input or an I/O error; a malformed
// row is a Record with Err set.
func (c *CSV) row(want int) (Record, error) {
	var content []byte
	var nl bool
	size := 0 // raw bytes of the row so far, line breaks included
	for len(content) == 0 {
		raw, long, err := c.readLine(MaxRowBytes)
		if err != nil {
			return Record{}, err
		}
		if long {
			return malformed(&RowError{Line: c.line, FaultLine: c.line, Err: ErrRowTooLong}), nil
		}
		content, nl = chomp(raw)
		size = len(raw)
	}
	start := c.line
	if bytes.IndexByte(content, '"') < 0 {
		return c.plain(start, content, want), nil
	}

	// A row with quotes is unescaped into scratch, line by line, as a quoted field may go on
	// over the next lines. Every line is parsed before the next is read, so the bufio buffer
	// it lives in may be overwritten.
	c.scratch = c.scratch[:0]
	c.ends = c.ends[:0]
	quoted := false
	for {
		var fault error
		if quoted, fault = c.parse(content, quoted); fault != nil {
			// The rest of the line is dropped with it: the next row starts on the next line.
			return malformed(&RowError{Line: start, FaultLine: c.line, Field: len(c.ends) + 1, Err: fault}), nil
		}
		if !quoted {
			return c.split(start, want), nil
		}
		open := len(c.ends) + 1
		if !nl {
			return malformed(&RowError{Line: start, FaultLine: c.line, Field: open, Err: ErrUnclosedQuote}), nil
		}
		c.scratch = append(c.scratch, '\n')
		raw, long, err := c.readLine(MaxRowBytes - size)
		switch {
		case errors.Is(err, io.EOF):
			return malformed(&RowError{Line: start, FaultLine: c.line, Field: open, Err: ErrUnclosedQuote}), nil
		case err != nil:
			return Record{}, err
		case long:
			return malformed(&RowError{Line: start, FaultLine: c.line, Field: open, Err: ErrRowTooLong}), nil
		}
		size += len(raw)
		content, nl = chomp(raw)
	}
}

func malformed(e *RowError) Record { return Record{Line: e.Line, Err: e} }

// readLine reads the next physical line, line break included. A line longer than budget is
// still consumed to its end, so that reading resumes after it, but it is not kept: it comes
// back nil with long set. err is io.EOF only when no byte was left. The line is valid until the
// next read.
func (c *CSV) readLine(budget int) (raw []byte, long bool, err error) {
	raw, err = c.r.ReadSlice('\n')
	read := len(raw) > 0
	long = len(raw) > budget
	if errors.Is(err, bufio.ErrBufferFull) {
		c.long = append(c.long[:0], raw...)
		for errors.Is(err, bufio.ErrBufferFull) {
			raw, err = c.r.ReadSlice('\n')
			if !long && len(c.long)+len(raw) > budget {
				long = true
			}
			if !long {
				c.long = append(c.long, raw...)
			}
		}
		raw = c.long
	}
	if read && errors.Is(err, io.EOF) {
		err = nil // a last line without a line break; the next read returns io.EOF
	}
	if err != nil {
		return nil, false, err
	}
	c.line++
	if long {
		return nil, true, nil
	}
	return raw, false, nil
}

// chomp strips the line break off raw and says whether there was one. A '\r' right before the
// end of input is stripped too, as encoding/csv does.
func chomp(raw []byte) (content []byte, nl bool) {
	n := len(raw)
	if n > 0 && raw[n-1] == '\n' {
		n--
		nl = true
	}
	if n > 0 && raw[n-1] == '\r' {
		n--
	}
	return raw[:n], nl
}

// plain splits a one-line row without quotes, the common case: one string holds the whole line
// and the values are slices of it, two allocations per row.
func (c *CSV) plain(line int, content []byte, want int) Record {
	n := bytes.Count(content, c.delim) + 1
	if want > 0 && n != want {
		return malformed(&RowError{Line: line, FaultLine: line, Fields: n, Columns: want, Err: ErrFieldCount})
	}
	s := string(content)
	values := make([]string, n)
	for i := range n - 1 {
		j := c.index(s)
		values[i] = s[:j]
		s = s[j+len(c.delim):]
	}
	values[n-1] = s
	// The delimiter is a whole UTF-8 sequence, so the line is valid exactly when every field is.
	if !utf8.Valid(content) {
		return Record{Line: line, Values: values, Err: invalidUTF8(line, values)}
	}
	return Record{Line: line, Values: values}
}

// split turns the fields parsed into scratch into a record: one string, sliced.
func (c *CSV) split(line, want int) Record {
	n := len(c.ends)
	if want > 0 && n != want {
		return malformed(&RowError{Line: line, FaultLine: line, Fields: n, Columns: want, Err: ErrFieldCount})
	}
	s := string(c.scratch)
	values := make([]string, n)
	prev := 0
	for i, end := range c.ends {
		values[i] = s[prev:end]
		prev = end
	}
	// Field by field: the fields lie back to back in s, and two broken halves may join into
	// a valid character.
	if err := invalidUTF8(line, values); err != nil {
		return Record{Line: line, Values: values, Err: err}
	}
	return Record{Line: line, Values: values}
}

// invalidUTF8 names the first field that is not UTF-8, or returns nil.
func invalidUTF8(line int, values []string) error {
	for i, v := range values {
		if !utf8.ValidString(v) {
			return &RowError{Line: line, FaultLine: line, Field: i + 1, Err: ErrInvalidUTF8}
		}
	}
	return nil
}

// parse unescapes one line of a row into scratch, appending to ends as fields close. quoted says
// the line starts inside a quoted field (the previous line ended in one); parse returns whether
// this line does too. A fault stops the parse: the field at fault is len(c.ends)+1.
func (c *CSV) parse(line []byte, quoted bool) (bool, error) {
	for {
		if quoted {
			i := bytes.IndexByte(line, '"')
			if i < 0 {
				c.scratch = append(c.scratch, line...)
				return true, nil
			}
			c.scratch = append(c.scratch, line[:i]...)
			line = line[i+1:]
			switch {
			case len(line) > 0 && line[0] == '"': // "" is an escaped quote
				c.scratch = append(c.scratch, '"')
				line = line[1:]
				continue
			case len(line) == 0: // the row's last field
				c.ends = append(c.ends, len(c.scratch))
				return false, nil
			case bytes.HasPrefix(line, c.delim):
				c.ends = append(c.ends, len(c.scratch))
				line = line[len(c.delim):]
				quoted = false
			default:
				return false, ErrAfterQuote
			}
		}
		if len(line) > 0 && line[0] == '"' {
			line = line[1:]
			quoted = true
			continue
		}
		i := c.indexBytes(line)
		field := line
		if i >= 0 {
			field = line[:i]
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return false, ErrBareQuote
		}
		c.scratch = append(c.scratch, field...)
		c.ends = append(c.ends, len(c.scratch))
		if i < 0 {
			return false, nil
		}
		line = line[i+len(c.delim):]
	}
}

func (c *CSV) index(s string) int {
	if len(c.delim) == 1 {
		return strings.IndexByte(s, c.delimByte)
	}
	return strings.Index(s, c.delimStr)
}

func (c *CSV) indexBytes(b []byte) int {
	if len(c.delim) == 1 {
		return bytes.IndexByte(b, c.delimByte)
	}
	return bytes.Index(b, c.delim)
}
