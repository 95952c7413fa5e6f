package checkpoint

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// rowScanner is a result being read, as both drivers give one: pgx.Rows as it is, *sql.Rows
// through sqliteRows. Next, Scan and Err mean what they mean in database/sql; Close releases
// the result, and may be called before Next returns false.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// querier is what the read queries, written once here for both stores, need of a store.
type querier interface {
	// query runs a statement that returns rows, in the store's SQL dialect.
	query(ctx context.Context, query string, args ...any) (rowScanner, error)
	// fail names what failed and translates the driver's err.
	fail(ctx context.Context, what string, err error) error
	// notFound answers a query that found nothing for job: nil when the job exists, an error
	// wrapping ErrNotFound when it does not.
	notFound(ctx context.Context, what, job string) error
}

// rowReader reads the rows of a query into values of T. It returns the destinations that every
// row is scanned into, allocated once for the whole query rather than once per row, and a
// function that makes the value of the row just scanned. Each row sets every destination, NULL
// included, so nothing of one row carries over to the next.
type rowReader[T any] func() (dest []any, value func() T)

// each runs query on s and calls fn with each row of the result, as read makes it, in the order
// the query gives, and returns how many rows fn was given. A failure to run the query or read a
// row is translated by s.fail; an error of fn stops the reading and comes back unchanged.
func each[T any](ctx context.Context, s querier, what string, read rowReader[T], fn func(T) error,
	query string, args ...any) (int, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	defer rows.Close()
	dest, value := read()
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, s.fail(ctx, what, err)
		}
		n++
		if err := fn(value()); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, s.fail(ctx, what, err)
	}
	return n, nil
}

// collect is each gathering the rows of a report on job into a slice: an empty one when the job
// exists and the query finds nothing, an error wrapping ErrNotFound when the job does not exist.
func collect[T any](ctx context.Context, s querier, what, job string, read rowReader[T],
	query string, args ...any) ([]T, error) {
	out := []T{}
	add := func(v T) error {
		out = append(out, v)
		return nil
	}
	if _, err := each(ctx, s, what, read, add, query, args...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, s.notFound(ctx, what, job)
	}
	return out, nil
}

// runSelect is Select of either store: the filter is prepared once here, and statement gives
// the store's query and arguments for it. fn is given the job's rows as they come; a job that
// has none is answered by notFound.
func runSelect(ctx context.Context, s querier, job string, f Filter, fn func(Row) error,
	statement func(selection) (query string, args []any, err error)) error {
	what := fmt.Sprintf("select rows of job %q", job)
	sel := prepareFilter(f)
	if sel.none {
		return s.notFound(ctx, what, job)
	}
	query, args, err := statement(sel)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	n, err := each(ctx, s, what, readRow, fn, query, args...)
	if err != nil || n > 0 {
		return err
	}
	return s.notFound(ctx, what, job)
}

// listJobs is Jobs of either store: counts, whose rows are a job's name and its counts of
// users and of records without a user, in the order to list them, given KeylessPrefix as its
// parameter; then lastRuns, the newest run of each job.
func listJobs(ctx context.Context, s querier, counts, lastRuns string) ([]JobInfo, error) {
	const what = "list jobs"
	jobs := []JobInfo{}
	index := map[string]int{}
	addJob := func(j JobInfo) error {
		index[j.Job] = len(jobs)
		jobs = append(jobs, j)
		return nil
	}
	if _, err := each(ctx, s, what, readJobCounts, addJob, counts, KeylessPrefix); err != nil {
		return nil, err
	}
	addRun := func(r Run) error {
		// A job whose first run began since counts was read is left for the next list.
		if i, ok := index[r.Job]; ok {
			jobs[i].LastRun = &r
		}
		return nil
	}
	if _, err := each(ctx, s, what, readRun, addRun, lastRuns); err != nil {
		return nil, err
	}
	return jobs, nil
}

// batches is Submitted of either store: query gives the job's submitted rows, rowColumns, in
// the order of bulk id, then key, with the job and SubmittedOutcome as its parameters; fn is
// given each batch's as the batch ends.
func batches(ctx context.Context, s querier, job, query string, fn func(bulkID string, rows []Row) error) error {
	var batch []Row
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rows := batch
		batch = nil // fn may keep rows
		return fn(rows[0].BulkID, rows)
	}
	add := func(r Row) error {
		if len(batch) > 0 && r.BulkID != batch[0].BulkID {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, r)
		return nil
	}
	what := fmt.Sprintf("submitted rows of job %q", job)
	if _, err := each(ctx, s, what, readRow, add, query, job, SubmittedOutcome); err != nil {
		return err
	}
	return flush()
}

// fingerprintOf is HashKey of either store (named by store): query gives the fingerprint of
// the job given as its parameter.
func fingerprintOf(ctx context.Context, s querier, store, job, query string) (string, error) {
	what := fmt.Sprintf("hash key of job %q", job)
	var fingerprint string
	n := 0
	if !badText(job) { // Postgres would refuse the parameter; no row can be of such a job.
		keep := func(f string) error {
			fingerprint = f
			return nil
		}
		var err error
		if n, err = each(ctx, s, what, readString, keep, query, job); err != nil {
			return "", err
		}
	}
	if n == 0 {
		return "", fmt.Errorf("checkpoint %s: %s: %w", store, what, ErrNotFound)
	}
	return fingerprint, nil
}

// readString reads the rows of a query of one text column.
func readString() ([]any, func() string) {
	var v string
	return []any{&v}, func() string { return v }
}

// selecter is a store whose Select serves Failures.
type selecter interface {
	querier
	Select(ctx context.Context, job string, f Filter, fn func(Row) error) error
}

// selectOutcomes is Failures of either store: the Select of the rows whose outcome is one of
// outcomes, and no rows when none is given.
func selectOutcomes(ctx context.Context, s selecter, job string, outcomes []string, fn func(Row) error) error {
	if len(outcomes) == 0 {
		return s.notFound(ctx, fmt.Sprintf("failures of job %q", job), job)
	}
	return s.Select(ctx, job, Filter{Outcomes: outcomes}, fn)
}

// priors runs Prior's query, whose rows are the key and the Prior of each key found, and
// returns them by key; n is how many keys were asked.
func priors(ctx context.Context, s querier, what string, n int, query string, args ...any) (map[string]Prior, error) {
	out := make(map[string]Prior, n)
	add := func(p keyedPrior) error {
		out[p.key] = p.Prior
		return nil
	}
	if _, err := each(ctx, s, what, readPrior, add, query, args...); err != nil {
		return nil, err
	}
	return out, nil
}

// keyedPrior is a row of Prior's query.
type keyedPrior struct {
	key string
	Prior
}

// readPrior reads the rows of Prior's query: user_key, outcome, payload_hash (empty for NULL),
// status_code.
func readPrior() ([]any, func() keyedPrior) {
	var p keyedPrior
	return []any{&p.key, &p.Outcome, &p.PayloadHash, &p.StatusCode}, func() keyedPrior { return p }
}

// readRow reads rows of migration_status, rowColumns: job, user_key, status_code, outcome,
// attempts, payload_hash and error (empty for NULL), run_id, updated_at, bulk_id and object_id
// (empty for NULL).
func readRow() ([]any, func() Row) {
	var r Row
	var updated utcTime
	dest := []any{&r.Job, &r.Key, &r.StatusCode, &r.Outcome, &r.Attempts, &r.PayloadHash, &r.Error,
		&r.RunID, &updated, &r.BulkID, &r.ObjectID}
	return dest, func() Row {
		r.UpdatedAt = updated.t
		return r
	}
}

// readRun reads rows of migration_runs: id, job, command, shard (empty for NULL), started_at,
// finished_at, the counts from read to failed, exit_code.
func readRun() ([]any, func() Run) {
	var r Run
	var started, finished utcTime
	var exitCode sql.NullInt64
	c := &r.Counts
	dest := []any{&r.ID, &r.Job, &r.Command, &r.Shard, &started, &finished, &c.Read, &c.Skipped,
		&c.Updated, &c.Partial, &c.Unchanged, &c.Invalid, &c.Rejected, &c.Failed, &exitCode}
	return dest, func() Run {
		out := r
		out.StartedAt = started.t
		if finished.valid {
			t := finished.t
			out.FinishedAt = &t
		}
		if exitCode.Valid {
			code := int(exitCode.Int64)
			out.ExitCode = &code
		}
		return out
	}
}

// readJobCounts reads the rows of the count of jobs: job, the count of users, the count of
// records without a user.
func readJobCounts() ([]any, func() JobInfo) {
	var j JobInfo
	return []any{&j.Job, &j.Users, &j.Keyless}, func() JobInfo { return j }
}

// readStatusCount reads the lines of status: outcome, status_code, whether the keys start with
// KeylessPrefix, the count of rows.
func readStatusCount() ([]any, func() StatusCount) {
	var c StatusCount
	return []any{&c.Outcome, &c.StatusCode, &c.Keyless, &c.Users}, func() StatusCount { return c }
}

// readBackup reads rows of migration_backups: job, run_id, user_key, object_id (empty for NULL),
// state, created_at.
func readBackup() ([]any, func() Backup) {
	var b Backup
	var state string
	var created utcTime
	dest := []any{&b.Job, &b.RunID, &b.Key, &b.ObjectID, &state, &created}
	return dest, func() Backup {
		b.State, b.CreatedAt = []byte(state), created.t
		return b
	}
}

// utcTime scans a timestamp column of either store, NULL leaving valid false. pgx gives it a
// time.Time, in the process's zone for a timestamptz; the SQLite driver gives a time.Time for
// the text it recognises and leaves other text as it is, which is parsed as sqliteTimeLayout.
type utcTime struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner, which both drivers call.
func (ut *utcTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*ut = utcTime{}
		return nil
	case time.Time:
		*ut = utcTime{t: v.UTC(), valid: true}
		return nil
	case string:
		return ut.parse(v)
	case []byte:
		return ut.parse(string(v))
	default:
		return fmt.Errorf("timestamp column holds a %T", v)
	}
}

func (ut *utcTime) parse(s string) error {
	t, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		return fmt.Errorf("timestamp column holds %q: %w", s, err)
	}
	*ut = utcTime{t: t.UTC(), valid: true}
	return nil
}
