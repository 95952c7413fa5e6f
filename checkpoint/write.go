package checkpoint

import "time"

// prepareRows gives both stores the same input: one row per job and key (the last one wins, as
// ON CONFLICT cannot touch a row twice in one statement), times in UTC at the microsecond
// precision both databases keep, and text Postgres accepts. It does not modify rows.
func prepareRows(rows []Row, now time.Time) ([]Row, error) {
	type jobKey struct{ job, key string }
	index := make(map[jobKey]int, len(rows))
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if err := checkUser(r.Job, r.Key); err != nil {
			return nil, err
		}
		if r.UpdatedAt.IsZero() {
			r.UpdatedAt = now
		}
		r.UpdatedAt = dbTime(r.UpdatedAt)
		// The error text comes from DRUID or the network: a stray byte there must not cost the
		// whole batch.
		r.Error = cleanText(r.Error)
		r.Outcome = cleanText(r.Outcome)
		r.PayloadHash = cleanText(r.PayloadHash)
		k := jobKey{r.Job, r.Key}
		if i, ok := index[k]; ok {
			out[i] = r
			continue
		}
		index[k] = len(out)
		out = append(out, r)
	}
	return out, nil
}
