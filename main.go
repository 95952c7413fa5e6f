// Command druid-migrate moves users from a company's CRM (a CSV export or a Postgres table) into
// DRUID through its update user API, resumably, with a per-user record of what happened.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"druid-migrate/cli"
	"druid-migrate/job"
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx: a run stops reading, finishes the calls in
	// flight and records them. The second exits at once.
	ctx, interrupt := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		interrupt()
		<-signals
		os.Exit(job.ExitInterrupted)
	}()
	os.Exit(cli.Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr))
}
