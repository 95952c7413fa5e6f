package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrRowRefused is wrapped by the error of a Write that kept rows out because of what they hold:
// a *RowsRefused, which lists them. It is never an outage: writing those rows again would fail
// again, and the other rows of the call are durable.
var ErrRowRefused = errors.New("checkpoint: row refused")

// RefusedRow is a row that Write could not keep because of what it holds: a job or key that is
// not valid UTF-8 or holds a NUL byte, or one the database refuses, such as a key too long for
// Postgres's index.
type RefusedRow struct {
	// Index is the row's place in the rows given to Write. When rows held its job and key more
	// than once, each of them is listed.
	Index int
	Key   string
	// Reason is why, in the store's words or the database's (Postgres's with its SQLSTATE). It
	// quotes neither the key nor anything else of the row.
	Reason string
}

// RowsRefused is the error of a Write that kept some rows out, and only that: every row it does
// not list is durable, as if Write had returned nil, and none that it lists was written. It
// wraps ErrRowRefused.
type RowsRefused struct {
	Rows []RefusedRow // in the order of Index
}

// refusedShown is how many rows the message of a RowsRefused names, and refusedKeyShown how
// many bytes of each key: a key may be kilobytes long.
const (
	refusedShown    = 3
	refusedKeyShown = 64
)

// Error says how many rows were refused and why, naming the first few.
func (e *RowsRefused) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d refused:", len(e.Rows))
	for i, r := range e.Rows {
		if i == refusedShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Rows)-refusedShown)
			break
		}
		if i > 0 {
			b.WriteByte(';')
		}
		key := r.Key
		if len(key) > refusedKeyShown {
			key = key[:refusedKeyShown] + "…"
		}
		fmt.Fprintf(&b, " user %q: %s", key, r.Reason)
	}
	return b.String()
}

// Unwrap returns ErrRowRefused.
func (e *RowsRefused) Unwrap() error { return ErrRowRefused }

// writeGroup is a call of Write as both stores make it: the rows to write, one per job and key
// (the last one given wins, as ON CONFLICT cannot touch a row twice in one statement), times in
// UTC at the microsecond precision both databases keep, text Postgres accepts; and the rows
// refused so far. It does not modify the rows given.
type writeGroup struct {
	given   []Row
	rows    []Row
	refused []RefusedRow
}

func newWriteGroup(given []Row, now time.Time) *writeGroup {
	type jobKey struct{ job, key string }
	index := make(map[jobKey]int, len(given))
	g := &writeGroup{given: given, rows: make([]Row, 0, len(given))}
	for i, r := range given {
		// Keys are compared byte for byte: rewriting a bad one would record a different user.
		if err := userFault(r.Job, r.Key); err != nil {
			g.refused = append(g.refused, RefusedRow{Index: i, Key: r.Key, Reason: err.Error()})
			continue
		}
		if r.UpdatedAt.IsZero() {
			r.UpdatedAt = now
		}
		r.UpdatedAt = dbTime(r.UpdatedAt)
		// The error text comes from DRUID or the network: a stray byte there must not cost the
		// user its outcome.
		r.Error = cleanText(r.Error)
		r.Outcome = cleanText(r.Outcome)
		r.PayloadHash = cleanText(r.PayloadHash)
		r.BulkID = cleanText(r.BulkID)
		r.ObjectID = cleanText(r.ObjectID)
		k := jobKey{r.Job, r.Key}
		if i, ok := index[k]; ok {
			g.rows[i] = r
			continue
		}
		index[k] = len(g.rows)
		g.rows = append(g.rows, r)
	}
	return g
}

// refuse keeps g.rows[i] out for reason: every row given of its job and key.
func (g *writeGroup) refuse(i int, reason string) {
	r := g.rows[i]
	for j, given := range g.given {
		if given.Job == r.Job && given.Key == r.Key {
			g.refused = append(g.refused, RefusedRow{Index: j, Key: given.Key, Reason: reason})
		}
	}
}

// result is what Write returns once the rows it kept are durable: nil, or the rows refused,
// named by the store and the call (what).
func (g *writeGroup) result(store, what string) error {
	if len(g.refused) == 0 {
		return nil
	}
	slices.SortFunc(g.refused, func(a, b RefusedRow) int { return a.Index - b.Index })
	return fmt.Errorf("checkpoint %s: %s: %w", store, what, &RowsRefused{Rows: g.refused})
}
