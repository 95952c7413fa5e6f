package checkpoint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Lease implements Store: a session advisory lock, taken with pg_try_advisory_lock so that it
// never waits, on a connection of its own outside the pool, kept for the lease's life. Postgres
// drops the lock when that session ends, however the process holding it ended; a pooler in
// transaction mode between druid-migrate and the server would end the session's hold at every
// transaction, so the checkpoint URL must reach the server, or a pooler in session mode.
//
// The lease holds one connection beyond Options.MaxConns, idle but for Lease.Check.
func (s *Postgres) Lease(ctx context.Context, job, shard string, h Holder) (*Lease, error) {
	return takeLease(ctx, "postgres", s, s.sql.leaseHolder, job, shard, h, func(what string) (leaseHold, error) {
		conn, err := pgx.ConnectConfig(ctx, s.lease.Copy())
		if err != nil {
			return nil, s.fail(ctx, what+": connect", err)
		}
		hold := &pgLease{s: s, conn: conn, job: job, shard: shard, key: int64(leaseKey(s.schema, job, shard))}
		var taken bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, hold.key).Scan(&taken); err != nil {
			hold.close()
			return nil, s.fail(ctx, what, err)
		}
		if !taken {
			hold.close()
			return nil, nil
		}
		return hold, nil
	})
}

// pgLease is the Postgres side of a Lease: the connection whose session holds the lock. The
// description of the holder goes through the store's pool; the connection runs nothing after
// the lock but Release's unlock and Check's ping, under a context of its own: pgx closes a
// connection whose statement is cancelled, and closing this one would drop the lock while the
// run goes on.
type pgLease struct {
	s          *Postgres
	conn       *pgx.Conn
	job, shard string
	key        int64 // of the advisory lock
}

func (l *pgLease) describe(ctx context.Context, h Holder) error {
	_, err := l.s.pool.Exec(ctx, l.s.sql.describeLease, l.job, l.shard, h.Host, h.PID, h.RunID, h.Since)
	if err != nil {
		return l.s.fail(ctx, "describe the holder of the lease of "+jobShard(l.job, l.shard), err)
	}
	return nil
}

func (l *pgLease) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint postgres: check the lease of %s: %w", jobShard(l.job, l.shard), err)
	}
	ping, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
	defer cancel()
	if err := l.conn.Ping(ping); err != nil {
		// The session is gone, or cannot be told from gone: either way the lock cannot be
		// counted on, and pgx has closed the connection.
		return fmt.Errorf("checkpoint postgres: lease of %s: %w: %w", jobShard(l.job, l.shard),
			ErrLeaseLost, translate(ping, err, pgFault(err), l.s.secrets...))
	}
	return nil
}

// release deletes the description while the lock is still held, so that it never deletes the
// next holder's, then unlocks and ends the session. The server ends a session some time after
// its client has gone, and drops the lock only then: unlocking first frees the lease by the time
// Release returns.
func (l *pgLease) release(ctx context.Context) error {
	defer l.close()
	_, err := l.s.pool.Exec(ctx, l.s.sql.forgetLease, l.job, l.shard)
	// Even when the description stays: the lock is what counts.
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, l.key)
	if err != nil {
		return l.s.fail(ctx, "release the lease of "+jobShard(l.job, l.shard), err)
	}
	return nil
}

// close ends the session, and with it the lock.
func (l *pgLease) close() {
	ctx, cancel := context.WithTimeout(context.Background(), leaseTimeout)
	defer cancel()
	_ = l.conn.Close(ctx)
}
