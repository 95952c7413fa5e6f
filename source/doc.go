// Package source reads the user records that druid-migrate sends to DRUID.
//
// A source yields one [Record] per row: the line the row starts on, its values in the order of
// the source's columns, and, for a row that cannot be a record, the reason why. Sources stream:
// memory stays flat whatever the size of the input, and a record's values never share memory
// that a later read overwrites, so the pipeline may hold records while it reads on.
//
// [CSV] reads an RFC 4180 file, or stdin, with a header row (SPEC §3):
//
//   - UTF-8, with or without a byte order mark; header names are trimmed of white space.
//   - `\n` or `\r\n` line endings, a last line without one, and empty lines, which are skipped
//     but still counted, so that every record's Line is the line an editor shows.
//   - A quoted field may hold the delimiter, line breaks and `""` for a quote; a `\r\n` inside
//     it reads as `\n`, as in encoding/csv.
//
// A malformed row (a wrong number of fields, broken quoting, bytes that are not UTF-8, or a row
// longer than [MaxRowBytes]) does not end the run: it comes back as a Record whose Err is a
// [*RowError], and reading goes on after the line where the fault was found. Only I/O errors,
// and errors in the header, which are configuration errors, stop the reading. No error message
// quotes a field's value, since a row may hold a password or a token.
//
// [Postgres] reads the rows of a query (--query) from a postgres:// URL (--source); the query's
// column names are the header. It opens in two steps, because the mapping, compiled from the
// columns, decides which column is the key: [OpenPostgres] connects and learns the columns,
// [Postgres.Start] begins a [Scan] by that key — every row, the rows changed since a moment
// ([Since], an incremental sync), or the rows of some keys (a retry).
//
//   - Rows are read in pages of [PageSizeDefault] rows ordered by the key, each page a short
//     query of its own after the last key read (keyset paging): no transaction or cursor stays
//     open for the run, which may last hours, so vacuum and replicas do not suffer, and memory
//     holds one page. Index the key column: without an index every page sorts the whole result.
//   - Rows sharing a key are all returned across page boundaries; the run marks the repeats
//     invalid. Rows whose key is NULL are returned as malformed records ([ErrNullKey]).
//   - Values are text as a user expects it: NULL is empty, booleans are true and false, dates
//     and timestamps are DD/MM/YYYY, DRUID's format; a date that has no such form (infinity,
//     BC) makes the record malformed ([ErrDateRange]) rather than garbage.
//   - The URL's password never appears in an error or a log line.
package source
