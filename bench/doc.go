// Command bench measures druid-migrate end to end, as an operator runs it, and checks the
// figures against the product's performance targets. `make bench` runs it after the Go
// benchmarks:
//
//	go run ./bench                                                # the full run, minutes
//	go run ./bench -users 5000 -big 20000 -rate-users 300 -rounds 1  # a quick one
//	go run ./bench -only throughput                               # the shares alone
//	go run ./bench -only throughput -concurrency 64 -rounds 1     # one sweep, one round
//	go run ./bench -only faults                                   # a DRUID that fails and limits
//	go run ./bench -only bulk                                     # the update sink beside the bulk sink
//
// It builds the binary from the module root, generates CSV exports with internal/sample, serves
// the DRUID simulator on loopback from its own process, and runs every scenario as a child
// process whose wall time, CPU time and peak resident memory it measures, with the CPU time
// the whole machine spent meanwhile (the simulator's and PostgreSQL's included: on a machine
// they share, a run can go no faster than the cores divided by its machine time per user):
//
//   - ceiling: this program again, as a client that only POSTs prebuilt bodies (one per user of
//     the runs, to the same users, without a password): the most the HTTP path and the
//     simulator allow on this machine, the yardstick of the throughput runs. Its times are of
//     the calls alone, from the first to the last: the bodies are built before;
//   - sqlite and postgres: druid-migrate over -users users, fresh checkpoints;
//   - sqlite with a password column, with a hash key (DRUID_HASH_KEY) and without one, where
//     each password costs PBKDF2;
//   - the ceiling and those four runs once for each number of workers of -concurrency (32 and
//     64), each figure beside the ceiling of the same workers measured in the same run;
//   - sqlite-small and sqlite-big (-small, -big users), with the largest -concurrency: peak
//     memory must not grow with the input;
//   - the big runs again on the same checkpoint: every user skipped; among them the big run
//     with passwords and a hash key, whose re-run is the resume of a million done users;
//   - rate: --rate 100 against a simulator answering in 50 ms, from the calls' arrival times;
//   - faults (-only faults): 3,000 users at --rate 1000 --concurrency 16 --retries 10 against a
//     simulator that answers a fifth of the calls 500 or 503, resets 2% of the connections and
//     answers 429 past 300 calls a second: every user updated once, in at most 25 s;
//   - rate-limit-300 (-only faults): the same run against a simulator whose one fault is that
//     limit: users/s within 20% of 300.
//   - update-rate-100 and bulk-rate-100 (-only bulk): 5,000 users at --rate 100 requests a
//     second through each sink: one full replacement a user, or batches of a thousand through
//     DRUID's Bulk API, side by side.
//
// A run whose child exits non-zero, or that leaves the checkpoint or the simulator without the
// expected users, is a failure, never a fast figure. The table goes to stdout, progress to
// stderr; the exit status is 1 when a run failed or missed its target.
//
// It is a program, not a Go benchmark: the runs take minutes, need the real binary, and report
// several figures per run against targets, which `go test -bench` does not express.
package main
