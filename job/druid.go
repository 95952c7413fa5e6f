package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/time/rate"

	"druid-migrate/sink"
)

// newClient is the DRUID client of the run.
func newClient(cfg *Config, perUserTokens bool, observe sink.ObserveFunc) (*sink.Client, error) {
	client, err := sink.New(sink.Config{
		Endpoint:      cfg.Endpoint,
		EntryPoint:    cfg.EntryPoint,
		Token:         cfg.Token,
		TokenFile:     cfg.TokenFile,
		ClientID:      cfg.challengeCredential(cfg.ClientID),
		ClientSecret:  cfg.challengeCredential(cfg.ClientSecret),
		AuthEndpoint:  cfg.AuthEndpoint,
		PerUserTokens: perUserTokens,
		Concurrency:   cfg.maxConcurrency(),
		Timeout:       cfg.Timeout,
		Retries:       cfg.Retries,
		DownTimeout:   cfg.DruidTimeout,
		Limiter:       cfg.limiter(),
		Log:           cfg.Log,
		Observe:       observe,
	})
	if err != nil {
		return nil, configErr(err)
	}
	return client, nil
}

// preflight proves, before the first record, that DRUID answers and takes the credentials the
// run reads users or asks tokens with (SPEC §4): a fault of the run's own configuration is a
// configuration error, reported at once. With a static token nothing is called here: the run's
// first update is its probe.
func preflight(ctx context.Context, p interface{ Preflight(context.Context) error }) error {
	err := p.Preflight(ctx)
	var fault *sink.RunFault
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &fault):
		return configErr(err)
	}
	// DRUID answers, but only with failures: as when it goes away mid-run, run again later.
	return fmt.Errorf("%w: %w", sink.ErrUnreachable, err)
}

// readerConfig is how the run reads users from DRUID: with the client token of --client-id.
func (c *Config) readerConfig() sink.ReaderConfig {
	return sink.ReaderConfig{
		Endpoint:     c.Endpoint,
		AuthEndpoint: c.AuthEndpoint,
		EntryPoint:   c.EntryPoint,
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Timeout:      c.Timeout,
		Retries:      c.Retries,
		DownTimeout:  c.DruidTimeout,
	}
}

// challengeCredential is --client-id or --client-secret for the updates: with no --token or
// --token-file, every update gets a challenge-code token of the app's; with one, the
// credentials only read users (dry-run --diff, the guards, --merge).
func (c *Config) challengeCredential(v string) string {
	if c.Token != "" || c.TokenFile != "" {
		return ""
	}
	return v
}

// limiter is the shared rate limiter of --rate and --burst.
func (c *Config) limiter() *rate.Limiter {
	limit := rate.Inf
	if c.Rate > 0 {
		limit = rate.Limit(c.Rate)
	}
	return rate.NewLimiter(limit, c.Burst)
}

// hashKey is the secret that keys the passwords' part of the payload hash (SPEC §4):
// --hash-key-file, else DRUID_HASH_KEY, else the client secret; nil when the run has none, and
// passwords then go through PBKDF2. A file that cannot be read, or holds nothing, is a
// configuration error; the key is never shown.
func (c *Config) hashKey() ([]byte, error) {
	switch {
	case c.HashKeyFile != "":
		b, err := os.ReadFile(c.HashKeyFile)
		if err != nil {
			return nil, configErrorf("--hash-key-file: %w", err)
		}
		// A secret mounted from a Kubernetes Secret often ends in a newline.
		key := bytes.TrimRight(b, "\r\n")
		if len(key) == 0 {
			return nil, configErrorf("--hash-key-file %s: the file is empty", c.HashKeyFile)
		}
		return key, nil
	case c.HashKey != "":
		return []byte(c.HashKey), nil
	case strings.TrimSpace(c.ClientSecret) != "":
		return []byte(strings.TrimSpace(c.ClientSecret)), nil
	}
	return nil, nil
}
