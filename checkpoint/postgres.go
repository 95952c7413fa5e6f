package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"druid-migrate/internal/pgurl"
	"druid-migrate/migrations"
)

// maxIdentifierLength is Postgres's NAMEDATALEN-1: a longer schema name would be cut silently.
const maxIdentifierLength = 63

// Postgres is the Store in a Postgres database, in the schema Options.Schema names.
//
// Every statement names its tables with the schema, quoted, rather than relying on a search_path
// set on the connection: the name cannot be misread, tables of the same name elsewhere on the
// path are never touched, and it works behind poolers that drop startup parameters.
type Postgres struct {
	pool    *pgxpool.Pool
	lease   *pgx.ConnConfig // of the connections that hold leases, each of its own, outside the pool
	schema  string          // unquoted
	secrets []string        // passwords the URL or the environment hold, scrubbed from every error
	sql     pgSQL
	writers int // groups written at once: see ParallelWrites
}

var _ Store = (*Postgres)(nil)

// ParallelWrites says how many Writes a run may have under way at once: pgWriters, leaving room
// in the pool for two look-ups and a Select.
func (s *Postgres) ParallelWrites() int { return s.writers }

// OpenPostgres opens the Postgres checkpoint at the URL dsn and checks, within ctx, that it can
// be reached.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Postgres, error) {
	if !pgurl.Is(dsn) {
		// A key=value connection string would reach errors unredacted: only URLs are accepted.
		return nil, errors.New("checkpoint postgres: not a postgres:// or postgresql:// URL")
	}
	dsn = pgurl.LowerScheme(dsn)
	name := pgurl.Redact(dsn)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	schema := opts.Schema
	if schema == "" {
		schema = "public"
	}
	maxConns := opts.MaxConns
	if maxConns == 0 {
		maxConns = MaxConnsDefault
	}

	secrets, err := pgurl.Secrets(dsn)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, translate(ctx, err, faultStatement, secrets...))
	}
	// The password can also come from PGPASSWORD or a .pgpass file.
	secrets = append(secrets, cfg.ConnConfig.Password)
	cfg.MaxConns = int32(maxConns)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = ConnectTimeoutDefault
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		// So that a DBA sees who holds the connections.
		cfg.ConnConfig.RuntimeParams["application_name"] = "druid-migrate"
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, translate(ctx, err, pgFault(err), secrets...))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", name, translate(ctx, err, pgFault(err), secrets...))
	}
	return &Postgres{
		pool:    pool,
		lease:   cfg.ConnConfig,
		schema:  schema,
		secrets: secrets,
		sql:     newPgSQL(pgx.Identifier{schema}.Sanitize()),
		writers: max(1, min(pgWriters, maxConns-3)),
	}, nil
}

// pgSQL holds the statements of a store, with their tables named in its schema.
type pgSQL struct {
	prior, write, hasUsers, deleteKeys, startRun, finishRun, abandonRuns, runs, status, jobExists, versions string

	jobCounts, lastRuns, submitted string

	watermark, setWatermark string

	hashKey, setHashKey string

	saveBackups, backups string

	leaseHolder, describeLease, forgetLease string

	// selects holds Select's query for each combination of restrictions, indexed by
	// selectIndex: a static text per combination, rather than "$2 IS NULL OR …", gives the
	// planner of a cached statement conditions it can use, as an index would need.
	selects [4]string
}

func selectIndex(sel selection) int {
	i := 0
	if sel.byOutcome {
		i |= 1
	}
	if sel.byCode {
		i |= 2
	}
	return i
}

func newPgSQL(schema string) pgSQL {
	q := func(s string) string { return strings.ReplaceAll(s, "{schema}", schema) }
	var selects [4]string
	for i := range selects {
		where, n := "job = $1", 1
		if i&1 != 0 {
			n++
			where += fmt.Sprintf(" AND outcome = ANY($%d)", n)
		}
		if i&2 != 0 {
			n++
			where += fmt.Sprintf(" AND status_code = ANY($%d)", n)
		}
		// COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
		selects[i] = q(`SELECT ` + rowColumns + `
			FROM {schema}.migration_status
			WHERE ` + where + `
			ORDER BY user_key COLLATE "C"`)
	}
	return pgSQL{
		selects: selects,
		// One probe of the primary key per key, whatever the planner knows of the table. For
		// the plain "job = $1 AND user_key = ANY($2)", on a table never analyzed (a new job's
		// first run), or with a plan cached while the table was small, it chose to read the
		// whole job and filter it by the keys: each look-up then read every user written so
		// far, and a million-user run slowed to a crawl as it went. The LIMIT keeps the
		// subquery from being flattened into a join the planner could reorder.
		prior: q(`SELECT k.user_key, s.outcome, coalesce(s.payload_hash, ''), s.status_code
			FROM unnest($2::text[]) AS k(user_key)
			CROSS JOIN LATERAL (
				SELECT outcome, payload_hash, status_code
				FROM {schema}.migration_status
				WHERE job = $1 AND user_key = k.user_key
				LIMIT 1
			) AS s`),
		// unnest turns ten arrays into rows: one statement and ten parameters for any number of
		// rows, so no chunking under the 65,535-parameter limit, and one round trip.
		write: q(`INSERT INTO {schema}.migration_status
				(job, user_key, status_code, outcome, attempts, payload_hash, error, run_id, updated_at, bulk_id, object_id)
			SELECT job, user_key, status_code, outcome, attempts, nullif(payload_hash, ''),
				nullif(error, ''), run_id, updated_at, nullif(bulk_id, ''), nullif(object_id, '')
			FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::integer[],
				$6::text[], $7::text[], $8::bigint[], $9::timestamp[], $10::text[], $11::text[])
				AS r(job, user_key, status_code, outcome, attempts, payload_hash, error, run_id, updated_at, bulk_id, object_id)
			` + upsertStatus),
		// COLLATE "C": byte order, as SQLite sorts.
		submitted: q(`SELECT ` + rowColumns + ` FROM {schema}.migration_status
			WHERE job = $1 AND outcome = $2
			ORDER BY coalesce(bulk_id, '') COLLATE "C", user_key COLLATE "C"`),
		hasUsers:   q(`SELECT EXISTS (SELECT 1 FROM {schema}.migration_status WHERE job = $1)`),
		deleteKeys: q(`DELETE FROM {schema}.migration_status WHERE job = $1 AND user_key LIKE $2 ESCAPE '\'`),
		startRun: q(`INSERT INTO {schema}.migration_runs (job, command, shard, started_at)
			VALUES ($1, $2, nullif($3, ''), $4) RETURNING id`),
		finishRun: q(`UPDATE {schema}.migration_runs SET finished_at = $2, read = $3, skipped = $4,
				updated = $5, partial = $6, unchanged = $7, invalid = $8, rejected = $9, failed = $10,
				exit_code = $11
			WHERE id = $1`),
		abandonRuns: q(abandonRuns),
		runs:        q(`SELECT ` + runColumns + ` FROM {schema}.migration_runs WHERE job = $1 ORDER BY id DESC`),
		// COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
		status: q(`SELECT outcome, status_code, starts_with(user_key, $2) AS keyless, count(*)
			FROM {schema}.migration_status WHERE job = $1
			GROUP BY outcome, status_code, keyless ORDER BY outcome COLLATE "C", status_code, keyless`),
		// Every job of migration_status and migration_runs, in byte order, with its counts of
		// users and of records without a user (their keys starting with $1).
		jobCounts: q(`SELECT job, sum(users)::bigint, sum(keyless)::bigint FROM (
				SELECT job, count(*) FILTER (WHERE NOT starts_with(user_key, $1)) AS users,
					count(*) FILTER (WHERE starts_with(user_key, $1)) AS keyless
				FROM {schema}.migration_status GROUP BY job
				UNION ALL
				SELECT DISTINCT job, 0, 0 FROM {schema}.migration_runs
			) AS j GROUP BY job ORDER BY job COLLATE "C"`),
		lastRuns:   q(lastRuns),
		hashKey:    q(hashKey),
		setHashKey: q(setHashKey),
		watermark: q(`SELECT since_column, watermark, run_id FROM {schema}.migration_watermarks
			WHERE job = $1 AND shard = $2`),
		setWatermark: q(`INSERT INTO {schema}.migration_watermarks
				(job, shard, since_column, watermark, run_id, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			` + upsertWatermark),
		// unnest, as write; DO NOTHING keeps the state saved before the run's first update of a
		// user. prepareBackups has removed the duplicates within a call.
		saveBackups: q(`INSERT INTO {schema}.migration_backups
				(job, run_id, user_key, object_id, state, created_at)
			SELECT job, run_id, user_key, nullif(object_id, ''), state, created_at
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamp[])
				AS b(job, run_id, user_key, object_id, state, created_at)
			ON CONFLICT (job, run_id, user_key) DO NOTHING`),
		// user_key is COLLATE "C" in the table: byte order, read from the primary key unsorted.
		backups: q(`SELECT job, run_id, user_key, coalesce(object_id, ''), state, created_at
			FROM {schema}.migration_backups
			WHERE job = $1 AND run_id = $2
			ORDER BY user_key COLLATE "C"`),
		jobExists: q(`SELECT EXISTS (SELECT 1 FROM {schema}.migration_runs WHERE job = $1)
			OR EXISTS (SELECT 1 FROM {schema}.migration_status WHERE job = $1)`),
		versions: q(`SELECT version FROM {schema}.schema_migrations ORDER BY version`),
		leaseHolder: q(`SELECT host, pid, run_id, since FROM {schema}.migration_leases
			WHERE job = $1 AND shard = $2`),
		describeLease: q(`INSERT INTO {schema}.migration_leases (job, shard, host, pid, run_id, since)
			VALUES ($1, $2, $3, $4, $5, $6)
			` + upsertLease),
		forgetLease: q(`DELETE FROM {schema}.migration_leases WHERE job = $1 AND shard = $2`),
	}
}

// Migrate implements Store. Everything happens in one transaction under an advisory lock, so
// that two processes migrating at once apply each file once, and a failed upgrade leaves the
// schema as it was.
func (s *Postgres) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, math.MaxInt)
}

// migrateTo applies the migrations up to version last: what an older druid-migrate, which knew
// no later ones, would have done.
func (s *Postgres) migrateTo(ctx context.Context, last int) error {
	all, err := migrations.Files(migrations.Postgres)
	if err != nil {
		return fmt.Errorf("checkpoint postgres: migrate: %w", err)
	}
	all = upTo(all, last)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail(ctx, "migrate", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey()); err != nil {
		return s.fail(ctx, "migrate: lock", err)
	}
	ident := pgx.Identifier{s.schema}.Sanitize()
	// CREATE SCHEMA needs the CREATE privilege on the database even when the schema exists;
	// asking first lets a user who was given a schema, and no more, migrate it.
	var exists bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists)
	if err != nil {
		return s.fail(ctx, "migrate: look up schema "+ident, err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident); err != nil {
			return s.fail(ctx, "migrate: create schema "+ident, err)
		}
	}
	// The migration files name their tables without a schema; for this transaction only, that
	// means the store's schema.
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+ident); err != nil {
		return s.fail(ctx, "migrate: set search_path", err)
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer   PRIMARY KEY,
		applied_at timestamp NOT NULL
	)`
	if _, err := tx.Exec(ctx, create); err != nil {
		return s.fail(ctx, "migrate: create schema_migrations", err)
	}
	rows, err := tx.Query(ctx, s.sql.versions)
	if err != nil {
		return s.fail(ctx, "migrate: read schema_migrations", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return s.fail(ctx, "migrate: read schema_migrations", err)
	}
	todo, err := pending(all, applied)
	if err != nil {
		return fmt.Errorf("checkpoint postgres: migrate: %w", err)
	}
	for _, m := range todo {
		// Without arguments pgx uses the simple protocol, which runs a file of several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return s.fail(ctx, fmt.Sprintf("migrate: apply %04d_%s", m.Version, m.Name), err)
		}
		const record = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
		if _, err := tx.Exec(ctx, record, m.Version, now()); err != nil {
			return s.fail(ctx, fmt.Sprintf("migrate: record %04d_%s", m.Version, m.Name), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(ctx, "migrate: commit", err)
	}
	return nil
}

// lockKey is the advisory lock of the schema's migrations: one per schema, so that checkpoints
// in different schemas of a database migrate independently.
func (s *Postgres) lockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("druid-migrate checkpoint migrate\x00" + s.schema))
	return int64(h.Sum64())
}

// appliedVersions lists the migrations recorded in schema_migrations.
func (s *Postgres) appliedVersions(ctx context.Context) ([]int, error) {
	rows, err := s.pool.Query(ctx, s.sql.versions)
	if err != nil {
		return nil, s.fail(ctx, "read schema_migrations", err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, s.fail(ctx, "read schema_migrations", err)
	}
	return v, nil
}

// Prior implements Store.
func (s *Postgres) Prior(ctx context.Context, job string, keys []string) (map[string]Prior, error) {
	keys = storable(keys)
	if len(keys) == 0 {
		return map[string]Prior{}, nil
	}
	return priors(ctx, s, fmt.Sprintf("look up %d keys", len(keys)), len(keys), s.sql.prior, job, keys)
}

// Write implements Store: one INSERT … ON CONFLICT statement, a transaction of its own. When the
// database refuses what a row holds (pgFault's faultRow), writeSparing writes the others.
func (s *Postgres) Write(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	what := fmt.Sprintf("write %d outcomes", len(rows))
	g := newWriteGroup(rows, now())
	if len(g.rows) > 0 {
		_, err := s.pool.Exec(ctx, s.sql.write, pgStatusArgs(g.rows)...)
		if err != nil && pgFault(err) == faultRow {
			err = s.writeSparing(ctx, g, err)
		}
		if err != nil {
			return s.fail(ctx, what, err)
		}
	}
	return g.result("postgres", what)
}

// writeSparing writes the rows of g, whose statement failed with failed on what a row holds, in
// one transaction, leaving out each row the database refuses on its own: it halves the rows
// until each part is written or is one refused row, each part under a savepoint, so that a
// refused part undoes nothing else. A few bad rows among n cost a few times log2(n) statements.
func (s *Postgres) writeSparing(ctx context.Context, g *writeGroup, failed error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// write writes g.rows[lo:hi], whose statement failed is known to fail, or nil when not yet
	// tried.
	var write func(lo, hi int, failed error) error
	write = func(lo, hi int, failed error) error {
		if failed == nil {
			part, err := tx.Begin(ctx) // a savepoint
			if err != nil {
				return err
			}
			if _, failed = part.Exec(ctx, s.sql.write, pgStatusArgs(g.rows[lo:hi])...); failed == nil {
				return part.Commit(ctx)
			}
			if err := part.Rollback(ctx); err != nil {
				return err
			}
			if pgFault(failed) != faultRow {
				return failed
			}
		}
		if hi-lo == 1 {
			g.refuse(lo, s.reason(failed))
			return nil
		}
		mid := lo + (hi-lo)/2
		if err := write(lo, mid, nil); err != nil {
			return err
		}
		return write(mid, hi, nil)
	}
	if err := write(0, len(g.rows), failed); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgStatusArgs are the arguments of the write statement for rows: one array per column.
func pgStatusArgs(rows []Row) []any {
	n := len(rows)
	var (
		jobs     = make([]string, n)
		keys     = make([]string, n)
		codes    = make([]int32, n)
		outcomes = make([]string, n)
		attempts = make([]int32, n)
		hashes   = make([]string, n)
		errs     = make([]string, n)
		runIDs   = make([]int64, n)
		times    = make([]time.Time, n)
		bulkIDs  = make([]string, n)
		objIDs   = make([]string, n)
	)
	for i, r := range rows {
		jobs[i], keys[i], outcomes[i], hashes[i], errs[i] = r.Job, r.Key, r.Outcome, r.PayloadHash, r.Error
		codes[i], attempts[i] = int32(r.StatusCode), int32(r.Attempts)
		runIDs[i], times[i], bulkIDs[i], objIDs[i] = r.RunID, r.UpdatedAt, r.BulkID, r.ObjectID
	}
	return []any{jobs, keys, codes, outcomes, attempts, hashes, errs, runIDs, times, bulkIDs, objIDs}
}

// HasUsers implements Store: one probe of the primary key.
func (s *Postgres) HasUsers(ctx context.Context, job string) (bool, error) {
	var has bool
	if err := s.pool.QueryRow(ctx, s.sql.hasUsers, job).Scan(&has); err != nil {
		return false, s.fail(ctx, fmt.Sprintf("users of job %q", job), err)
	}
	return has, nil
}

// DeleteKeys implements Store.
func (s *Postgres) DeleteKeys(ctx context.Context, job string, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("checkpoint postgres: delete keys of job %q: empty prefix", job)
	}
	pattern := likeEscaper.Replace(prefix) + "%"
	if _, err := s.pool.Exec(ctx, s.sql.deleteKeys, job, pattern); err != nil {
		return s.fail(ctx, fmt.Sprintf("delete keys of job %q starting with %q", job, prefix), err)
	}
	return nil
}

// likeEscaper makes a string match itself in a LIKE … ESCAPE '\' pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// StartRun implements Store.
func (s *Postgres) StartRun(ctx context.Context, job, command, shard string) (int64, error) {
	if err := checkText(shard); err != nil {
		return 0, fmt.Errorf("checkpoint postgres: start run of job %q: shard: %w", job, err)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, s.sql.startRun, job, command, shard, now()).Scan(&id); err != nil {
		return 0, s.fail(ctx, fmt.Sprintf("start run of job %q", job), err)
	}
	return id, nil
}

// FinishRun implements Store.
func (s *Postgres) FinishRun(ctx context.Context, id int64, c Counts, exitCode int) error {
	tag, err := s.pool.Exec(ctx, s.sql.finishRun, id, now(), c.Read, c.Skipped, c.Updated,
		c.Partial, c.Unchanged, c.Invalid, c.Rejected, c.Failed, exitCode)
	if err != nil {
		return s.fail(ctx, fmt.Sprintf("finish run %d", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("checkpoint postgres: finish run %d: %w", id, ErrNotFound)
	}
	return nil
}

// AbandonRuns implements Store.
func (s *Postgres) AbandonRuns(ctx context.Context, job, shard string) (int64, error) {
	if badText(job) || badText(shard) {
		return 0, nil // Postgres would refuse the parameter; no run can have it.
	}
	tag, err := s.pool.Exec(ctx, s.sql.abandonRuns, job, shard)
	if err != nil {
		return 0, s.fail(ctx, "end the unended runs of "+jobShard(job, shard), err)
	}
	return tag.RowsAffected(), nil
}

// Runs implements Store.
func (s *Postgres) Runs(ctx context.Context, job string) ([]Run, error) {
	return collect(ctx, s, fmt.Sprintf("runs of job %q", job), job, readRun, s.sql.runs, job)
}

// Status implements Store.
func (s *Postgres) Status(ctx context.Context, job string) ([]StatusCount, error) {
	return collect(ctx, s, fmt.Sprintf("status of job %q", job), job, readStatusCount, s.sql.status, job, KeylessPrefix)
}

// Submitted implements Store.
func (s *Postgres) Submitted(ctx context.Context, job string, fn func(bulkID string, rows []Row) error) error {
	if badText(job) {
		return nil // Postgres would refuse the parameter; no row can be of such a job.
	}
	return batches(ctx, s, job, s.sql.submitted, fn)
}

// Jobs implements Store.
func (s *Postgres) Jobs(ctx context.Context) ([]JobInfo, error) {
	return listJobs(ctx, s, s.sql.jobCounts, s.sql.lastRuns)
}

// Failures implements Store.
func (s *Postgres) Failures(ctx context.Context, job string, outcomes []string, fn func(Row) error) error {
	return selectOutcomes(ctx, s, job, outcomes, fn)
}

// Select implements Store. pgx decodes the rows as they arrive from the server, one at a time,
// so memory stays flat however many rows match.
func (s *Postgres) Select(ctx context.Context, job string, f Filter, fn func(Row) error) error {
	return runSelect(ctx, s, job, f, fn, func(sel selection) (string, []any, error) {
		args := []any{job}
		if sel.byOutcome {
			args = append(args, sel.outcomes)
		}
		if sel.byCode {
			args = append(args, sel.codes)
		}
		return s.sql.selects[selectIndex(sel)], args, nil
	})
}

// Watermark implements Store.
func (s *Postgres) Watermark(ctx context.Context, job, shard string) (Watermark, error) {
	what := "watermark of " + jobShard(job, shard)
	if badText(job) || badText(shard) {
		return Watermark{}, fmt.Errorf("checkpoint postgres: %s: %w", what, ErrNotFound)
	}
	var w Watermark
	err := s.pool.QueryRow(ctx, s.sql.watermark, job, shard).Scan(&w.Column, &w.Value, &w.RunID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Watermark{}, fmt.Errorf("checkpoint postgres: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Watermark{}, s.fail(ctx, what, err)
	}
	// timestamptz comes back in the process's time zone; the instant is what matters.
	w.Value = w.Value.UTC()
	return w, nil
}

// SetWatermark implements Store. The value goes to a timestamptz column: an instant, comparable
// with the source's column whatever the time zone of the session that reads it.
func (s *Postgres) SetWatermark(ctx context.Context, job, shard string, w Watermark) error {
	what := "set watermark of " + jobShard(job, shard)
	w, err := prepareWatermark(job, shard, w)
	if err != nil {
		return fmt.Errorf("checkpoint postgres: %s: %w", what, err)
	}
	if _, err := s.pool.Exec(ctx, s.sql.setWatermark, job, shard, w.Column, w.Value, w.RunID, now()); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// HashKey implements Store.
func (s *Postgres) HashKey(ctx context.Context, job string) (string, error) {
	return fingerprintOf(ctx, s, "postgres", job, s.sql.hashKey)
}

// SetHashKey implements Store.
func (s *Postgres) SetHashKey(ctx context.Context, job, fingerprint string) error {
	what := fmt.Sprintf("set hash key of job %q", job)
	if err := checkHashKey(job, fingerprint); err != nil {
		return fmt.Errorf("checkpoint postgres: %s: %w", what, err)
	}
	if _, err := s.pool.Exec(ctx, s.sql.setHashKey, job, fingerprint, now()); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// SaveBackups implements Store: one INSERT … ON CONFLICT statement, a transaction of its own.
func (s *Postgres) SaveBackups(ctx context.Context, rows []Backup) error {
	what := fmt.Sprintf("save %d backups", len(rows))
	prepared, err := batch("postgres", what, rows, prepareBackups)
	if err != nil || len(prepared) == 0 {
		return err
	}
	n := len(prepared)
	var (
		jobs      = make([]string, n)
		runIDs    = make([]int64, n)
		keys      = make([]string, n)
		objectIDs = make([]string, n)
		states    = make([]string, n) // text, not bytea: the column is text
		times     = make([]time.Time, n)
	)
	for i, b := range prepared {
		jobs[i], runIDs[i], keys[i], objectIDs[i] = b.Job, b.RunID, b.Key, b.ObjectID
		states[i], times[i] = string(b.State), b.CreatedAt
	}
	if _, err := s.pool.Exec(ctx, s.sql.saveBackups, jobs, runIDs, keys, objectIDs, states, times); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// Backups implements Store. pgx decodes the rows as they arrive, as in Select.
func (s *Postgres) Backups(ctx context.Context, job string, runID int64, fn func(Backup) error) error {
	what := fmt.Sprintf("backups of run %d of job %q", runID, job)
	if badText(job) {
		// Postgres would refuse the parameter; no backup can be of such a job.
		return fmt.Errorf("checkpoint postgres: %s: %w", what, ErrNotFound)
	}
	n, err := each(ctx, s, what, readBackup, fn, s.sql.backups, job, runID)
	if err != nil || n > 0 {
		return err
	}
	return fmt.Errorf("checkpoint postgres: %s: %w", what, ErrNotFound)
}

// notFound is the answer of a query that found nothing for job: nil when the job exists (it has
// a run or a row), an error wrapping ErrNotFound when it does not, so that a misspelt --job is
// told apart from a job with nothing to show.
func (s *Postgres) notFound(ctx context.Context, what, job string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.sql.jobExists, job).Scan(&exists); err != nil {
		return s.fail(ctx, what, err)
	}
	if exists {
		return nil
	}
	return fmt.Errorf("checkpoint postgres: %s: job %q: %w", what, job, ErrNotFound)
}

// Warnings implements Store: a Postgres checkpoint has none.
func (s *Postgres) Warnings() []string { return nil }

// Close implements Store. It waits for the connections in use to be returned.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

func (s *Postgres) query(ctx context.Context, query string, args ...any) (rowScanner, error) {
	return s.pool.Query(ctx, query, args...)
}

// reason is why the database refused a row, for RefusedRow: its message and SQLSTATE.
func (s *Postgres) reason(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return scrub(fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code), s.secrets...)
	}
	return scrub(err.Error(), s.secrets...)
}

func (s *Postgres) fail(ctx context.Context, what string, err error) error {
	return fmt.Errorf("checkpoint postgres: %s: %w", what, translate(ctx, err, pgFault(err), s.secrets...))
}

// pgFault classifies an error of pgx: the server could not be reached or went away, it refused
// what a row holds, or it refused the statement.
func pgFault(err error) fault {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up or in recovery
			"53300": // too_many_connections
			return faultUnavailable
		case "23514": // check_violation
			return faultRow
		}
		class := pgErr.Code // five characters, of which the first two are the class
		if len(class) > 2 {
			class = class[:2]
		}
		switch class {
		case "08": // connection_exception
			return faultUnavailable
		case "22", // data_exception: invalid byte sequence, value too long, out of range…
			"54": // program_limit_exceeded: an index row over its maximum size, for a long key
			return faultRow
		}
		return faultStatement
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return faultUnavailable
	}
	return faultStatement
}
