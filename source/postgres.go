package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"druid-migrate/internal/pgurl"
)

// PageSizeDefault is the number of rows a Postgres source reads per query when
// PostgresConfig.PageSize is 0: large enough that the round trips cost little next to the rows,
// small enough that a page is read in milliseconds through an index and held in a few MB.
const PageSizeDefault = 5000

// ConnectTimeoutDefault bounds each attempt to connect to a Postgres source whose URL sets no
// connect_timeout: an unreachable source must fail the start of a job in seconds, not hang for
// the minutes a dropped SYN can take.
const ConnectTimeoutDefault = 10 * time.Second

// keysPerQuery caps the keys of one query of a retry (Scan.Keys): a thousand index lookups is a
// query of milliseconds, and the array parameter stays small.
const keysPerQuery = 1000

// slowPage is how long a page query may take before the source warns, once per Start, that the
// key column is probably not indexed: each page then sorts the query's whole result.
const slowPage = 5 * time.Second

// cancelDeadline is how long a query whose context was canceled is given to stop, after the
// cancel request, before the connection is closed under it.
const cancelDeadline = 2 * time.Second

// applicationName is what a DBA sees in pg_stat_activity, unless the URL names another.
const applicationName = "druid-migrate"

// The kinds of Postgres value that cannot be a record's text, the Err of a [ColumnError]: test
// a Record's Err with errors.Is.
var (
	// ErrNullKey is a row whose key column is NULL: it has no user to name.
	ErrNullKey = errors.New("key is NULL")
	// ErrDateRange is a date, timestamp or timestamptz without a DD/MM/YYYY form: infinity,
	// -infinity, a date before year 1 (BC) or after year 9999.
	ErrDateRange = errors.New("date outside years 1 to 9999")
)

// ColumnError says which value of a Postgres row cannot be a record's. It is the Err of the
// [*RowError] of a [Record], whose Field is the column's position. Like RowError it never quotes
// a value.
type ColumnError struct {
	Column string // the column's name in the query
	Key    bool   // the column is the key column
	Reason string // what is wrong, e.g. "infinite date"; empty for ErrNullKey
	Err    error  // the kind of fault: ErrNullKey or ErrDateRange
}

// Error reads like `key column "crm_id" is NULL` or `column "birthday": date before year 1 (BC)`.
func (e *ColumnError) Error() string {
	what := "column"
	if e.Key {
		what = "key column"
	}
	if errors.Is(e.Err, ErrNullKey) {
		return fmt.Sprintf("%s %q is NULL", what, e.Column)
	}
	return fmt.Sprintf("%s %q: %s", what, e.Column, e.Reason)
}

// Unwrap returns the kind of fault, for errors.Is.
func (e *ColumnError) Unwrap() error { return e.Err }

// PostgresConfig says which database a Postgres source reads, and what.
type PostgresConfig struct {
	// URL is the database, postgres:// or postgresql:// (--source). Its password never appears
	// in an error or a log line. Parameters pgx understands apply, e.g. connect_timeout, sslmode,
	// or options=-c TimeZone=Europe/Madrid to choose the zone that dates of timestamptz columns
	// are taken in.
	URL string
	// Query is the SELECT whose rows are the records (--query). A trailing semicolon is
	// tolerated. It is run as a subquery, once per page: see [Postgres].
	Query string
	// PageSize is the number of rows per query. Defaults to PageSizeDefault.
	PageSize int
	// Log receives one debug line per page, and warnings about slow pages and large groups of
	// rows sharing one key. The zero Logger logs nothing.
	Log zerolog.Logger
}

// validate checks what needs no database; its errors name the flag.
func (c *PostgresConfig) validate() error {
	if !pgurl.Is(c.URL) {
		return errors.New("source: --source is not a postgres:// or postgresql:// URL")
	}
	if trimQuery(strings.TrimSpace(c.Query)) == "" {
		return fmt.Errorf("source %s: --query is empty: give the SELECT that reads the users", pgurl.Redact(c.URL))
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = PageSizeDefault
	case c.PageSize < 0:
		return fmt.Errorf("source %s: page size %d: must be positive", pgurl.Redact(c.URL), c.PageSize)
	}
	return nil
}

// Postgres streams the rows of a query as records, in pages ordered by the key column.
//
// No transaction, cursor or statement stays open across pages: each page is a separate query,
// in a read-only transaction of its own, that reads the next PageSize rows after the last key
// read,
//
//	SELECT * FROM (<query>) AS q WHERE q.key > $1 ORDER BY q.key LIMIT n
//
// and is read whole before the first of its records is returned. A run of hours, paced by
// DRUID's rate limit, therefore never holds back vacuum or a replica, and survives the
// connection being dropped between pages (the pool reconnects). The price: the rows are not one
// snapshot, a row whose key changes during the run may be read twice or not at all, and every
// page runs the query again. The key column should be indexed (and the query simple enough
// for the planner to use the index: no DISTINCT, GROUP BY or window over the whole table):
// without an index each page sorts the query's whole result, and the source warns when a page
// takes more than a few seconds.
//
// Rows sharing a key are all returned, whatever the page boundaries. A page query reads one row
// more than a page: when that row's key K is also the key of the page's last rows, those rows
// are given back, and the next page starts right after the key before K; a page made of K alone
// has the rows of K read by a query of their own. Postgres compares the keys, with the column's
// type and collation, so an integer key pages as an integer. Rows whose key is NULL are read
// first, by a query of their own, and returned as malformed records (ErrNullKey). A group of
// rows sharing one key, or NULL, is held in memory whole; memory is otherwise one page.
//
// Values are the text Postgres prints for them, with DateStyle ISO set on the connection: NULL
// is "", booleans are "true" and "false", and a date, timestamp or timestamptz is the date
// DD/MM/YYYY, DRUID's format (a timestamptz's date in the session's TimeZone: the server's
// default, or the URL's options=-c TimeZone=…). Numbers, text, uuids, json and arrays are as
// psql shows them.
//
// Postgres is not safe for concurrent use: one producer reads it.
type Postgres struct {
	pool     *pgxpool.Pool
	name     string   // the URL, redacted: errors and logs say it
	secrets  []string // the passwords the URL holds, scrubbed from every error
	query    string   // the user's query, without its trailing semicolon
	pageSize int
	log      zerolog.Logger
	columns  []string
	types    []uint32 // the columns' type OIDs
	kinds    []valueKind

	// The scan Start began.
	started   bool
	startedAt time.Time
	keyIdx    int
	keyName   string // the key column, quoted
	since     *Since
	sql       scanSQL
	keys      [][]string // the chunks of Scan.Keys still to read; nil when reading every row
	byKeys    bool
	keysText  bool // compare keys as text: the key type refused one of Scan.Keys
	phase     phase
	after     string // the raw text of the last key fully read, for the next page
	line      int    // rows returned so far, held back rows excluded
	pages     int    // queries run since Start
	warned    bool   // a slow page was reported
	page      []Record
	pos       int
	err       error // sticky: io.EOF or the error that ended the reading

	// Scratch space for converting a row, reused from row to row.
	buf      []byte
	ends     []int
	rawKey   []byte // the raw key of the last row that is not in the page's trailing group
	groupKey []byte // the raw key of the page's trailing group
}

// valueKind says how a column's text becomes a record's value.
type valueKind uint8

const (
	kindText valueKind = iota // as Postgres prints it
	kindBool                  // t/f → true/false
	kindDate                  // date, timestamp, timestamptz → DD/MM/YYYY
)

// phase is where a scan of every row is.
type phase uint8

const (
	phaseNulls phase = iota // the rows whose key is NULL
	phaseFirst              // the first page
	phaseNext               // the pages after p.after
	phaseDone
)

// OpenPostgres connects to the database (application_name "druid-migrate" unless the URL names
// another, within ctx and ConnectTimeoutDefault) and learns the query's columns by preparing
// it, which runs nothing. Its errors are configuration errors naming the source, password redacted: the
// server cannot be reached or refuses the login; the query is not valid, with Postgres's
// message and where in --query it points; or two columns of the query share a name.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dsn := pgurl.LowerScheme(cfg.URL)
	name := pgurl.Redact(dsn)
	secrets, err := pgurl.Secrets(dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, scrub(ctx, err, secrets))
	}
	// The password can also come from PGPASSWORD or a .pgpass file.
	secrets = append(secrets, pcfg.ConnConfig.Password)

	// One connection: one producer reads, a page at a time. The pool is there to replace a
	// connection that died while the run was busy with the previous page, which can be minutes
	// at DRUID's rate limit: pgxpool pings a connection idle for more than a second before
	// handing it out, and the pages hold no state on the server.
	pcfg.MaxConns = 1
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = ConnectTimeoutDefault
	}
	// On a canceled context, ask the server to stop the query, rather than only hang up on it:
	// a page of a query without an index may sort for a while, for no one.
	pcfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadline}
	}
	params := pcfg.ConnConfig.RuntimeParams
	if _, set := params["application_name"]; !set {
		params["application_name"] = applicationName
	}
	// Dates are converted from the ISO form; whatever the URL, the role or the database say,
	// the session prints that one.
	for k := range params {
		if strings.EqualFold(k, "datestyle") {
			delete(params, k)
		}
	}
	params["DateStyle"] = "ISO"

	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("source %s: connect: %w", name, scrub(ctx, err, secrets))
	}
	p := &Postgres{
		pool:     pool,
		name:     name,
		secrets:  secrets,
		query:    trimQuery(cfg.Query),
		pageSize: cfg.PageSize,
		log:      cfg.Log,
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("source %s: connect: %w", name, scrub(ctx, err, secrets))
	}
	if err := p.probe(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	p.log.Debug().Str("source", name).Strs("columns", p.columns).Msg("postgres source opened")
	return p, nil
}

// probePrefix opens the statement that learns the columns; a syntax error's position is counted
// from its start.
const probePrefix = "SELECT * FROM ("

// probe learns the query's columns and their types by preparing it, which parses and analyses
// it without running it: a query that takes minutes costs nothing here.
func (p *Postgres) probe(ctx context.Context) error {
	// The line break ends a comment that closes the user's query.
	sd, err := p.describe(ctx, probePrefix+p.query+"\n) AS q")
	if err != nil {
		return fmt.Errorf("source %s: --query: %w", p.name, scrub(ctx, withPosition(err, p.query), p.secrets))
	}
	fields := sd.Fields
	p.columns = make([]string, len(fields))
	p.types = make([]uint32, len(fields))
	p.kinds = make([]valueKind, len(fields))
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		if j, dup := seen[f.Name]; dup {
			return fmt.Errorf("source %s: --query: column %d %q repeats column %d: give one of them another name (AS)",
				p.name, i+1, f.Name, j+1)
		}
		seen[f.Name] = i
		p.columns[i] = f.Name
		p.types[i] = f.DataTypeOID
		p.kinds[i] = kindOf(f.DataTypeOID)
	}
	if len(p.columns) == 0 {
		return fmt.Errorf("source %s: --query returns no columns", p.name)
	}
	return nil
}

// describe prepares sql as the unnamed statement: Postgres checks it and says its columns and
// parameters, and runs nothing.
func (p *Postgres) describe(ctx context.Context, sql string) (*pgconn.StatementDescription, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	return conn.Conn().PgConn().Prepare(ctx, "", sql, nil)
}

// kindOf picks the conversion of a column by its type. Postgres describes a column of a domain
// by the domain's base type, so a domain over date converts as a date.
func kindOf(oid uint32) valueKind {
	switch oid {
	case pgtype.BoolOID:
		return kindBool
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return kindDate
	}
	return kindText
}

// trimQuery drops the white space and semicolons that end a query typed for psql: as a subquery
// they would be a syntax error.
func trimQuery(q string) string {
	return strings.TrimRight(q, " \t\r\n\f;")
}

// withPosition adds to a Postgres error the line and column of --query it points at, when it
// points into the user's query rather than into the source's own SQL around it.
func withPosition(err error, query string) error {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Position <= 0 {
		return err
	}
	// Position counts characters from 1 in the statement sent.
	at := int(pgErr.Position) - utf8.RuneCountInString(probePrefix)
	if at < 1 || at > utf8.RuneCountInString(query) {
		return err
	}
	line, col := 1, 1
	for i, r := range []rune(query) {
		if i == at-1 {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%w, at line %d, column %d", err, line, col)
}

// Columns returns the names of the query's columns, in the order of every record's Values.
func (p *Postgres) Columns() []string { return slices.Clone(p.columns) }

// Scan is what Start reads.
type Scan struct {
	// Key is the column that holds the user's key: the rows are read in its order, and paged by
	// it. It must be one of Columns, and of a type Postgres can sort.
	Key string
	// Since, when not nil, selects the rows whose Since.Column is at or after Since.After: an
	// incremental sync.
	Since *Since
	// Keys, when not nil, selects the rows whose key, as the text Postgres prints for it, is one
	// of these: a retry. (That is the record's key but for a date or boolean key column, which a
	// record shows converted.) An empty, non-nil Keys selects no row, and rows whose key is NULL
	// are not read.
	Keys []string
}

// Since selects the rows that changed at or after a moment.
type Since struct {
	// Column is a date, timestamp or timestamptz column of the query. A timestamp (without time
	// zone) is read as a time in the session's TimeZone, a date as its midnight there.
	Column string
	// After is the moment: typically the StartedAt of the last completed run.
	After time.Time
}

// Start begins reading the rows s selects, from the first. It checks the columns s names, and
// has Postgres check the statements of the scan (a key it cannot sort, such as json, fails
// here), records the database's clock as StartedAt, and reads the first page, so that a query
// that cannot run (one that writes, which its read-only transaction refuses with SQLSTATE
// 25006, or one that fails on the rows) fails here, before any record is taken. Rows changed
// after StartedAt may or may not be read by this run, so a run that completes may store it
// as the next watermark of an incremental sync and miss nothing — but for rows stamped by a
// transaction that began before it and committed after the page that would have read them:
// where writers hold long transactions, take a margin off the watermark. Its errors, but ctx's,
// are configuration errors naming the source. Start may be called again to read anew.
//
// With s.Keys, the keys are sorted and read up to 1,000 per query, compared with the key
// column as values of the key's type, so that an index on the key column serves the lookups; if
// the type refuses one of the keys (say "x" for an integer key) the rest are compared as text,
// which matches the same rows but cannot use the index.
func (p *Postgres) Start(ctx context.Context, s Scan) error {
	p.started = false
	p.page, p.pos, p.err = p.page[:0], 0, nil
	p.line, p.pages, p.warned, p.after, p.keysText = 0, 0, false, "", false
	if p.pool == nil {
		return fmt.Errorf("source %s: Start after Close", p.name)
	}

	p.keyIdx = slices.Index(p.columns, s.Key)
	if p.keyIdx < 0 {
		return fmt.Errorf("source %s: key column %q is not a column of --query, whose columns are %s",
			p.name, s.Key, quoteList(p.columns))
	}
	p.keyName = pgx.Identifier{s.Key}.Sanitize()
	p.since = nil
	var sinceName string
	if s.Since != nil {
		i := slices.Index(p.columns, s.Since.Column)
		if i < 0 {
			return fmt.Errorf("source %s: since column %q is not a column of --query, whose columns are %s",
				p.name, s.Since.Column, quoteList(p.columns))
		}
		if p.kinds[i] != kindDate {
			return fmt.Errorf("source %s: since column %q: not a date, timestamp or timestamptz column (its type is %s)",
				p.name, s.Since.Column, p.typeName(p.types[i]))
		}
		since := *s.Since
		p.since = &since
		sinceName = pgx.Identifier{s.Since.Column}.Sanitize()
	}
	p.sql = newScanSQL(p.query, p.keyName, sinceName, p.pageSize)

	p.byKeys = s.Keys != nil
	p.keys = nil
	p.phase = phaseNulls
	if p.byKeys {
		p.keys = chunkKeys(s.Keys, min(p.pageSize, keysPerQuery))
		p.phase = phaseDone
	}

	// Postgres checks the statements now, so that a key it cannot sort by (json, say) or a
	// since column it cannot compare is a configuration error of the start, not a failure of
	// the first page.
	stmts := []string{p.sql.nulls, p.sql.first, p.sql.next, p.sql.group}
	if p.byKeys {
		stmts = []string{p.sql.keys}
	}
	for _, sql := range stmts {
		if _, err := p.describe(ctx, sql); err != nil {
			what := fmt.Sprintf("read --query in the order of key column %q", s.Key)
			if p.since != nil {
				what += fmt.Sprintf(" since column %q", p.since.Column)
			}
			return p.fail(ctx, what, err)
		}
	}
	if err := p.pool.QueryRow(ctx, "SELECT now()").Scan(&p.startedAt); err != nil {
		return p.fail(ctx, "read the database's clock", err)
	}
	p.startedAt = p.startedAt.UTC()
	ev := p.log.Info().Str("source", p.name).Str("key_column", s.Key).Time("started_at", p.startedAt)
	if p.since != nil {
		ev = ev.Str("since_column", p.since.Column).Time("since", p.since.After)
	}
	if p.byKeys {
		ev = ev.Int("keys", len(s.Keys))
	}
	ev.Int("page_size", p.pageSize).Msg("reading the postgres source")

	// The first page is read now, so that a --query that cannot run at all (it writes, which
	// its read-only transaction refuses, or a function it calls fails) is an error of the start,
	// before a single record is taken.
	if err := p.more(ctx); err != nil {
		if !errors.Is(err, io.EOF) {
			return err
		}
		p.err = err
	}
	p.started = true
	return nil
}

// StartedAt is the database's clock when Start began the reading; the zero time before.
func (p *Postgres) StartedAt() time.Time { return p.startedAt }

// Next returns the next row. It returns io.EOF after the last one. Any other error ends the run,
// and every later call returns it again: ctx's error once ctx is done, a page query that failed
// or a connection lost during one, naming the source; or Next called before Start.
//
// A row that cannot be a record is not an error of Next: it comes back as a Record whose Err is
// a *RowError, and the next call reads on. Its Err wraps a *ColumnError for a NULL key
// (ErrNullKey) or a date without a DD/MM/YYYY form (ErrDateRange), or is ErrInvalidUTF8 for
// text that is not UTF-8 (a SQL_ASCII database); its Values are set, with "" for the value at
// fault, so that the run can still name the user. Record.Line is the row's number in the read:
// 1, 2, 3…. A record's Values stay valid after later calls.
func (p *Postgres) Next(ctx context.Context) (Record, error) {
	if p.err != nil {
		return Record{}, p.err
	}
	if !p.started {
		return Record{}, fmt.Errorf("source %s: Next called before Start", p.name)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if err := p.more(ctx); err != nil {
		p.err = err
		return Record{}, err
	}
	rec := p.page[p.pos]
	p.page[p.pos] = Record{} // the page's memory is the pipeline's now
	p.pos++
	return rec, nil
}

// Close closes the connection. Reading after Close fails.
func (p *Postgres) Close() error {
	if p.pool != nil {
		p.pool.Close()
		p.pool = nil
	}
	p.started = false
	return nil
}

// more reads pages until one holds a record not yet returned, or returns io.EOF when there is
// none.
func (p *Postgres) more(ctx context.Context) error {
	for p.pos >= len(p.page) {
		if err := p.fetch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// fetch reads the next page into p.page, or returns io.EOF when there is none. A page may be
// empty; the caller asks again.
func (p *Postgres) fetch(ctx context.Context) error {
	if cap(p.page) > 4*p.pageSize {
		p.page = nil // a large group of rows sharing one key is not kept for the whole run
	}
	p.page, p.pos = p.page[:0], 0
	if p.pool == nil {
		return fmt.Errorf("source %s: closed", p.name)
	}
	if p.byKeys {
		if len(p.keys) == 0 {
			return io.EOF
		}
		chunk := p.keys[0]
		if err := p.readKeys(ctx, chunk); err != nil {
			return err
		}
		p.keys = p.keys[1:]
		return nil
	}
	switch p.phase {
	case phaseNulls:
		what := "read the rows whose key is NULL"
		if _, err := p.read(ctx, what, p.sql.nulls, false, p.sinceArgs()...); err != nil {
			return err
		}
		if n := len(p.page); n > p.pageSize {
			p.log.Warn().Str("source", p.name).Int("rows", n).Msg("many rows have a NULL key: all of them were held in memory at once")
		}
		p.phase = phaseFirst
		return nil
	case phaseFirst:
		return p.readPage(ctx, "read the first page", p.sql.first, p.sinceArgs()...)
	case phaseNext:
		args := append([]any{p.after}, p.sinceArgs()...)
		return p.readPage(ctx, fmt.Sprintf("read the page after key %q", p.after), p.sql.next, args...)
	}
	return io.EOF
}

// readPage runs a page query and decides where the next page starts.
func (p *Postgres) readPage(ctx context.Context, what, sql string, args ...any) error {
	tail, err := p.read(ctx, what, sql, true, args...)
	if err != nil {
		return err
	}
	// A page query asks for one row more than a page, to see whether the page's last key goes
	// on past it.
	n := len(p.page)
	if n <= p.pageSize {
		p.phase = phaseDone // a short page is the last
		return nil
	}
	// The rows of the extra row's key are read again, with the rest of that key, by the next
	// page: with unique keys, that is the extra row alone.
	if kept := n - tail; kept > 0 {
		p.page = p.page[:kept]
		p.line -= tail
		p.after = string(p.rawKey)
		p.phase = phaseNext
		return nil
	}
	// The page is one key, and the next one would be too. Read all the rows of that key at once.
	key := string(p.groupKey)
	p.page = p.page[:0]
	p.line -= n
	args = append([]any{key}, p.sinceArgs()...)
	if _, err := p.read(ctx, fmt.Sprintf("read the rows of key %q", key), p.sql.group, false, args...); err != nil {
		return err
	}
	if m := len(p.page); m > p.pageSize {
		p.log.Warn().Str("source", p.name).Str("user_key", key).Int("rows", m).
			Msg("many rows share one key: all of them were held in memory at once")
	}
	p.after = key
	p.phase = phaseNext
	return nil
}

// readKeys reads the rows of one chunk of Scan.Keys.
func (p *Postgres) readKeys(ctx context.Context, chunk []string) error {
	what := fmt.Sprintf("read the rows of %d keys from %q", len(chunk), chunk[0])
	args := append([]any{arrayLiteral(chunk)}, p.sinceArgs()...)
	if !p.keysText {
		_, err := p.read(ctx, what, p.sql.keys, false, args...)
		pgErr, ok := errors.AsType[*pgconn.PgError](err)
		if err == nil || !ok || !strings.HasPrefix(pgErr.Code, "22") || ctx.Err() != nil {
			return err
		}
		// Class 22, data exception: a key that is no value of the key's type, "x" for an
		// integer. It matches no row, but it fails the whole query: compare as text from now on.
		p.log.Warn().Str("source", p.name).Str("reason", pgErr.Message).
			Msg("a key to read is not a value of the key column's type: keys are compared as text, without the index")
		p.keysText = true
		p.page = p.page[:0]
	}
	_, err := p.read(ctx, what, p.sql.keysText, false, args...)
	return err
}

// sinceArgs is the parameter of the since filter, the last of every query; none without one.
func (p *Postgres) sinceArgs() []any {
	if p.since == nil {
		return nil
	}
	return []any{p.since.After}
}

// read runs one query and appends its rows to p.page as records. paged says the query is a page
// query, whose last column says whether the row is in the page's trailing group of rows sharing
// the last key; read returns the number of such rows. The query is read to its end, and its
// statement done with, before read returns.
func (p *Postgres) read(ctx context.Context, what, sql string, paged bool, args ...any) (tail int, err error) {
	begin := time.Now()
	p.pages++
	// The query runs in a read-only transaction of its own, which no setting of the URL, the
	// role or the database, and nothing the query calls, can make read-write: a --query whose
	// functions write fails (SQLSTATE 25006) instead of changing the CRM. It is explicit,
	// rather than a session's default, so that it holds through a connection pooler too.
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, p.fail(ctx, what, err)
	}
	// Ending it, with nothing written, is the same whether by commit or by rollback.
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return 0, p.fail(ctx, what, err)
	}
	defer rows.Close()
	n := len(p.columns)
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != n+btoi(paged) {
			return 0, fmt.Errorf("source %s: %s: %d columns, the query had %d when the source was opened: was a table changed?",
				p.name, what, len(raw)-btoi(paged), n)
		}
		if paged {
			if len(raw[n]) == 1 && raw[n][0] == 't' {
				if tail == 0 {
					p.groupKey = append(p.groupKey[:0], raw[p.keyIdx]...)
				}
				tail++
			} else {
				p.rawKey = append(p.rawKey[:0], raw[p.keyIdx]...)
			}
		}
		p.page = append(p.page, p.record(raw[:n]))
	}
	if err := rows.Err(); err != nil {
		return 0, p.fail(ctx, what, err)
	}
	took := time.Since(begin)
	p.log.Debug().Str("source", p.name).Int("query", p.pages).Str("read", what).Int("rows", len(p.page)).
		Float64("duration_seconds", took.Round(time.Millisecond).Seconds()).Msg("source page")
	if took > slowPage && !p.warned {
		p.warned = true
		p.log.Warn().Str("source", p.name).Str("read", what).Float64("duration_seconds", took.Round(time.Millisecond).Seconds()).Str("key_column", p.columns[p.keyIdx]).
			Msg("slow page query: is the key column indexed? without an index every page sorts the query's whole result")
	}
	return tail, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// record converts one row. Its values are slices of one string: two allocations per row.
func (p *Postgres) record(raw [][]byte) Record {
	p.line++
	rec := Record{Line: p.line}
	buf, ends := p.buf[:0], p.ends[:0]
	var fault error
	for i, v := range raw {
		switch {
		case v == nil: // NULL: no value
		case p.kinds[i] == kindBool && len(v) == 1 && v[0] == 't':
			buf = append(buf, "true"...)
		case p.kinds[i] == kindBool && len(v) == 1 && v[0] == 'f':
			buf = append(buf, "false"...)
		case p.kinds[i] == kindDate:
			out, reason := appendDRUIDDate(buf, v)
			if reason != "" {
				if fault == nil {
					fault = &ColumnError{Column: p.columns[i], Key: i == p.keyIdx, Reason: reason, Err: ErrDateRange}
				}
				break // the value is left empty
			}
			buf = out
		default:
			buf = append(buf, v...)
		}
		ends = append(ends, len(buf))
	}
	p.buf, p.ends = buf, ends
	s := string(buf)
	rec.Values = make([]string, len(raw))
	prev := 0
	for i, end := range ends {
		rec.Values[i] = s[prev:end]
		prev = end
	}
	// The key first: a row without its key cannot even be named.
	if raw[p.keyIdx] == nil {
		fault = &ColumnError{Column: p.columns[p.keyIdx], Key: true, Err: ErrNullKey}
	}
	field := 0
	if ce, ok := errors.AsType[*ColumnError](fault); ok {
		field = slices.Index(p.columns, ce.Column) + 1
	}
	if fault == nil && !utf8.ValidString(s) {
		if err := invalidUTF8(rec.Line, rec.Values); err != nil {
			rec.Err = err
			return rec
		}
	}
	if fault != nil {
		rec.Err = &RowError{Line: rec.Line, FaultLine: rec.Line, Field: field, Err: fault}
	}
	return rec
}

// appendDRUIDDate appends the DD/MM/YYYY form of an ISO date, or of the date of an ISO timestamp
// ("2024-01-31 13:45:00+01"), to dst. A value without one (infinity, a BC date, a year past
// 9999) leaves dst as it is and comes back with the reason.
func appendDRUIDDate(dst, v []byte) ([]byte, string) {
	s := string(v) // no allocation: the compiler sees s does not escape
	switch {
	case s == "infinity" || s == "-infinity":
		return dst, "infinite date"
	case strings.HasSuffix(s, " BC"):
		return dst, "date before year 1 (BC)"
	}
	ok := len(s) >= 10 && (len(s) == 10 || s[10] == ' ') && s[4] == '-' && s[7] == '-' &&
		digits(s[0:4]) && digits(s[5:7]) && digits(s[8:10])
	if !ok {
		if len(s) > 4 && digits(s[:5]) {
			return dst, "date after year 9999"
		}
		return dst, "not an ISO date"
	}
	dst = append(dst, s[8:10]...)
	dst = append(dst, '/')
	dst = append(dst, s[5:7]...)
	dst = append(dst, '/')
	return append(dst, s[0:4]...), ""
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scanSQL holds the statements of one scan.
type scanSQL struct {
	nulls, first, next, group, keys, keysText string
}

// newScanSQL writes the statements of a scan. Identifiers come quoted; the page size is a
// constant of the statement rather than a parameter so that a generic plan still knows how few
// rows are wanted, and picks the index.
//
// A page query reads one row more than a page, and adds one column after the query's: whether
// the row's key equals the key of the last row read. Postgres computes it, with the type's own equality, so that keys which print differently
// and sort as equal (1.0 and 1.00 as numeric, 'Ana' and 'ana' as citext) are one group. The
// window reads the rows in the order the subquery returns them, so it sorts nothing again.
func newScanSQL(query, key, since string, pageSize int) scanSQL {
	from := "SELECT * FROM (" + query + "\n) AS q WHERE "
	// The since filter's parameter comes last, its number after the others'.
	filter := func(n int) string {
		if since == "" {
			return ""
		}
		return fmt.Sprintf(" AND q.%s >= $%d::timestamptz", since, n)
	}
	page := func(where string) string {
		return fmt.Sprintf("SELECT p.*, p.%[1]s = last_value(p.%[1]s) OVER "+
			"(ORDER BY p.%[1]s ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) "+
			"FROM (%[2]s%[3]s ORDER BY q.%[1]s LIMIT %[4]d) AS p ORDER BY p.%[1]s", key, from, where, pageSize+1)
	}
	return scanSQL{
		nulls: from + "q." + key + " IS NULL" + filter(1),
		first: page("q." + key + " IS NOT NULL" + filter(1)),
		// $1 is the last key read, as text: Postgres infers the parameter's type from the
		// comparison, the key's, so integer keys compare as integers.
		next:  page("q." + key + " > $1" + filter(2)),
		group: from + "q." + key + " = $1" + filter(2),
		// $1 is a text array literal; Postgres reads it as an array of the key's type.
		keys:     from + "q." + key + " = ANY($1)" + filter(2) + " ORDER BY q." + key,
		keysText: from + "q." + key + "::text = ANY($1::text[])" + filter(2) + " ORDER BY q." + key,
	}
}

// chunkKeys sorts and deduplicates keys and cuts them into chunks of at most size. Keys that no
// text value can equal (invalid UTF-8, a NUL) are dropped: they would only fail the query.
func chunkKeys(keys []string, size int) [][]string {
	sorted := make([]string, 0, len(keys))
	for _, k := range keys {
		if utf8.ValidString(k) && strings.IndexByte(k, 0) < 0 {
			sorted = append(sorted, k)
		}
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	chunks := make([][]string, 0, (len(sorted)+size-1)/size)
	for len(sorted) > 0 {
		n := min(size, len(sorted))
		chunks = append(chunks, sorted[:n:n])
		sorted = sorted[n:]
	}
	return chunks
}

// arrayLiteral writes keys as a Postgres array literal, every element quoted. Sent as text, it is
// read by the input function of whatever element type the statement needs.
func arrayLiteral(keys []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(k); j++ {
			if k[j] == '"' || k[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(k[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// typeName names a type for an error message: pgx's name for it, or its OID.
func (p *Postgres) typeName(oid uint32) string {
	if t, ok := pgtype.NewMap().TypeForOID(oid); ok {
		return t.Name
	}
	return fmt.Sprintf("OID %d", oid)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// fail names the source and what it was doing around a driver error, scrubbed of passwords.
func (p *Postgres) fail(ctx context.Context, what string, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == readOnlySQLTransaction {
		what += ": --query tried to write to the database, which the source reads in a read-only transaction"
	}
	return fmt.Errorf("source %s: %s: %w", p.name, what, scrub(ctx, err, p.secrets))
}

// readOnlySQLTransaction is the SQLSTATE of a statement that writes in a read-only transaction.
const readOnlySQLTransaction = "25006"

// pgFailure is how a driver error leaves the source: its message without the passwords the URL
// holds, on one line, and, for errors.Is, the context's error when the context ended it, in place
// of the driver's types. The driver's *pgconn.PgError stays reachable with errors.As, for its
// SQLSTATE.
type pgFailure struct {
	msg  string
	kind error // context.Canceled, context.DeadlineExceeded or nil
	pg   *pgconn.PgError
}

func (e *pgFailure) Error() string { return e.msg }

func (e *pgFailure) Unwrap() []error {
	var out []error
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.pg != nil {
		out = append(out, e.pg)
	}
	return out
}

// scrub turns a driver error into a pgFailure.
func scrub(ctx context.Context, err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	// Connection errors can span lines (one per address tried); logs and the CLI print one.
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\n\t", "; "), "\n", "; ")
	f := &pgFailure{msg: msg}
	switch {
	case ctx.Err() != nil:
		f.kind = ctx.Err()
	case errors.Is(err, context.Canceled):
		f.kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		f.kind = context.DeadlineExceeded
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Its message and detail may quote the query's values but never the URL.
		f.pg = pgErr
	}
	return f
}
