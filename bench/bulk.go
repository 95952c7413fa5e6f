package main

import (
	"context"
	"strconv"
	"time"

	"druid-migrate/druidsim"
)

// The same users through both sinks at one --rate (requests per second): one full replacement a
// user, or DRUID's Bulk API, a thousand partial users a request (SPEC §2.3).
const (
	bulkUsers        = 5_000
	bulkRate         = 100 // --rate of both runs
	bulkConcurrency  = 8
	bulkDelay        = 200 * time.Millisecond // how long the simulator takes over a batch
	bulkPoll         = 50 * time.Millisecond  // --bulk-poll
	bulkClientID     = "bench-client"
	bulkClientSecret = "bench-secret"
)

// sinks runs bulkUsers users through the update sink and through the bulk sink, each into a
// fresh SQLite checkpoint, at --rate bulkRate: the users/s of each, side by side.
func (b *bench) sinks(ctx context.Context) []*scenario {
	var out []*scenario
	for _, bulk := range []bool{false, true} {
		name := "update-rate-" + strconv.Itoa(bulkRate)
		if bulk {
			name = "bulk-rate-" + strconv.Itoa(bulkRate)
		}
		s := &scenario{name: name, users: bulkUsers, workers: bulkConcurrency}
		st, err := b.sqliteStore(ctx, name)
		if err != nil {
			s.err = err
			out = append(out, s)
			continue
		}
		s.m, s.err = b.migrate(ctx, migration{users: bulkUsers, store: st, concurrency: bulkConcurrency,
			rate: bulkRate, bulk: bulk, sim: druidsim.Config{BulkDelay: bulkDelay}})
		st.drop()
		s.checkMemory()
		out = append(out, s)
	}
	return out
}
