package source

// Record is one row of a source. Values line up with the source's Columns.
//
// A row that cannot be a record (a CSV row with the wrong number of fields, broken quoting,
// bytes that are not UTF-8) is still returned, with Err saying why and Values possibly short:
// the run records it as invalid and goes on with the next row.
type Record struct {
	Line   int      // the CSV line the row starts on (the header is line 1), or the row's number
	Values []string // one per column; empty means "no value"
	Err    error    // non-nil when the row is malformed
}
