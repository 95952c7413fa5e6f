package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"druid-migrate/druidsim"
	"druid-migrate/job"
)

// fakeDruidCommand is fake-druid: the simulator of DRUID (SPEC §7), served until interrupted.
// Its flags are its own: they configure the simulator, not a run.
func fakeDruidCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "fake-druid",
		Usage: "serve a local DRUID simulator for demos and tests",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8089", Usage: "address to listen on"},
			&cli.StringFlag{Name: "users", Usage: "JSON Lines file of users to start with", TakesFile: true},
			&cli.StringSliceFlag{Name: "token", Value: cli.NewStringSlice("fake-token"), Usage: "static bearer tokens it accepts (repeat the flag)"},
			&cli.StringFlag{Name: "client-id", Value: "fake-client", Usage: "client id accepted by /oauth2/token"},
			&cli.StringFlag{Name: "client-secret", Value: "fake-secret", Usage: "client secret accepted by /oauth2/token"},
			&cli.BoolFlag{Name: "autocreate", Usage: "unknown users are created, empty, instead of 404"},
			&cli.StringFlag{Name: "required", Usage: "comma-separated datas every user must hold, else 206"},
			&cli.DurationFlag{Name: "latency", Usage: "added to every response"},
			&cli.Float64Flag{Name: "fail-rate", Usage: "share of updates answered 500 or 503 (0..1)"},
			&cli.Float64Flag{Name: "reset-rate", Usage: "share of updates whose connection is reset with no answer (0..1)"},
			&cli.Float64Flag{Name: "slow-rate", Usage: "share of responses delayed by --slow-latency (0..1)"},
			&cli.DurationFlag{Name: "slow-latency", Value: 2 * time.Second, Usage: "the delay of a slow response"},
			&cli.IntFlag{Name: "rate-limit", Usage: "updates and bulk uploads per second past which it answers 429 (0: none)"},
			&cli.DurationFlag{Name: "bulk-delay", Value: druidsim.BulkDelayDefault, Usage: "how long a bulk batch takes to process (negative: at upload)"},
			&cli.DurationFlag{Name: "bulk-keep", Value: druidsim.BulkKeepDefault, Usage: "how long a processed bulk batch's status and results are kept"},
			&cli.Float64Flag{Name: "bulk-fail-rate", Usage: "share of bulk batches that end failed, applying nothing (0..1)"},
		},
		Action: func(c *cli.Context) error { return fakeDruid(c, stdout, stderr) },
	}
}

func fakeDruid(c *cli.Context, stdout, stderr io.Writer) error {
	cfg, err := configOf(c, job.CommandFakeDruid, globalOptions(), nil, stdout, stderr)
	if err != nil {
		return err
	}
	log := cfg.Log
	for _, name := range []string{"fail-rate", "reset-rate", "slow-rate", "bulk-fail-rate"} {
		if v := c.Float64(name); v < 0 || v > 1 {
			return configErrorf("--%s must be between 0 and 1, not %v", name, v)
		}
	}
	if c.Duration("bulk-keep") <= 0 {
		return configErrorf("--bulk-keep must be positive, not %s", c.Duration("bulk-keep"))
	}
	var required []string
	for _, r := range strings.Split(c.String("required"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			required = append(required, r)
		}
	}
	sim := druidsim.New(druidsim.Config{
		Tokens:       c.StringSlice("token"),
		ClientID:     c.String("client-id"),
		ClientSecret: c.String("client-secret"),
		Required:     required,
		Autocreate:   c.Bool("autocreate"),
		Latency:      c.Duration("latency"),
		FailRate:     c.Float64("fail-rate"),
		ResetRate:    c.Float64("reset-rate"),
		SlowRate:     c.Float64("slow-rate"),
		SlowLatency:  c.Duration("slow-latency"),
		RateLimit:    c.Int("rate-limit"),
		BulkDelay:    c.Duration("bulk-delay"),
		BulkKeep:     c.Duration("bulk-keep"),
		BulkFailRate: c.Float64("bulk-fail-rate"),
		Log:          log,
	})
	if p := c.String("users"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return configErrorf("--users: %w", err)
		}
		err = sim.LoadUsers(f)
		f.Close()
		if err != nil {
			return configErrorf("--users %s: %w", p, err)
		}
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return configErrorf("--addr: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ctx := c.Context
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info().Str("addr", ln.Addr().String()).Int("users", len(sim.Users())).Msg("fake DRUID listening")
	fmt.Fprintf(stdout, "fake-druid listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// configErrorf is a configuration error with a formatted message: exit 2.
func configErrorf(format string, args ...any) error {
	return &job.ConfigError{Err: fmt.Errorf(format, args...)}
}
