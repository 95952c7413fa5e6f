package checkpoint

import (
	"context"
	"fmt"
	"os"
)

// Lease implements Store: an exclusive lock, taken without waiting, on a file of the lease's own
// beside the database (lockPath), which the operating system drops when the file is closed or
// its process ends, kill -9 included. Each Lease opens the file anew, so two leases of one
// process exclude each other as two processes do. The lock files are created 0600 and kept:
// they hold nothing, and deleting one could let two runs lock two different files of one name.
func (s *SQLite) Lease(ctx context.Context, job, shard string, h Holder) (*Lease, error) {
	return takeLease(ctx, "sqlite", s, sqliteLeaseHolder, job, shard, h, func(what string) (leaseHold, error) {
		path := s.lockPath(job, shard)
		f, err := openPrivate(path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint sqlite: %s: %w", what, err)
		}
		taken, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("checkpoint sqlite: %s: lock %q: %w", what, path, err)
		}
		if !taken {
			_ = f.Close()
			return nil, nil
		}
		return &sqliteLease{s: s, lock: f, job: job, shard: shard}, nil
	})
}

// lockPath is the file whose lock is the lease of job and shard: the database's real path (so
// that every name of one file finds the same lock) followed by "-lock-" and 16 hexadecimal
// digits of a hash of job and shard, which may hold any character.
func (s *SQLite) lockPath(job, shard string) string {
	return fmt.Sprintf("%s-lock-%016x", s.real, leaseKey("", job, shard))
}

const (
	sqliteLeaseHolder   = `SELECT host, pid, run_id, since FROM migration_leases WHERE job = ? AND shard = ?`
	sqliteDescribeLease = `INSERT INTO migration_leases (job, shard, host, pid, run_id, since)
		VALUES (?, ?, ?, ?, ?, ?)
		` + upsertLease
	sqliteForgetLease = `DELETE FROM migration_leases WHERE job = ? AND shard = ?`
)

// sqliteLease is the SQLite side of a Lease: the open lock file whose lock is the lease.
type sqliteLease struct {
	s          *SQLite
	lock       *os.File
	job, shard string
}

func (l *sqliteLease) describe(ctx context.Context, h Holder) error {
	l.s.writeMu.Lock()
	defer l.s.writeMu.Unlock()
	_, err := l.s.db.ExecContext(ctx, sqliteDescribeLease, l.job, l.shard, h.Host, h.PID, h.RunID,
		h.Since.Format(sqliteTimeLayout))
	if err != nil {
		return l.s.fail(ctx, "describe the holder of the lease of "+jobShard(l.job, l.shard), err)
	}
	return nil
}

// check has nothing to ask: the lock lasts as long as the file is open.
func (l *sqliteLease) check(context.Context) error { return nil }

// release deletes the description while the lock is still held, so that it never deletes the
// next holder's, then closes the file, which drops the lock.
func (l *sqliteLease) release(ctx context.Context) error {
	l.s.writeMu.Lock()
	_, err := l.s.db.ExecContext(ctx, sqliteForgetLease, l.job, l.shard)
	l.s.writeMu.Unlock()
	closeErr := l.lock.Close()
	if err != nil {
		return l.s.fail(ctx, "release the lease of "+jobShard(l.job, l.shard), err)
	}
	if closeErr != nil {
		return fmt.Errorf("checkpoint sqlite: release the lease of %s: %w", jobShard(l.job, l.shard), closeErr)
	}
	return nil
}
