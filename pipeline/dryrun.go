package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"druid-migrate/mapping"
	"druid-migrate/sink"
)

// DryRun builds and validates every record of src as a run would and writes each valid payload
// to w as one JSON line, exactly as it would be sent but with its password masked. It makes no
// call and writes no checkpoint; invalid records are logged and counted.
func DryRun(ctx context.Context, src Source, b Builder, w io.Writer, opts DryOptions) (DrySummary, error) {
	start := time.Now()
	seen := newSeenKeys(opts.OrderedKeys)
	log, limit := opts.Log, opts.Limit
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var s DrySummary
	for limit <= 0 || s.Read < limit {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				s.Interrupted = true
				break
			}
			return s, fmt.Errorf("read source: %w", err)
		}
		s.Read++
		r := buildRecord(b, seen, rec)
		if r.invalid != "" {
			s.Invalid++
			log.Warn().Str("user_key", r.key).Int("line", r.line).Str("error", r.invalid).Msg("invalid record")
			continue
		}
		var line any = mapping.Mask(r.payload.Request)
		if opts.Inspect != nil {
			if line, err = opts.Inspect(ctx, r.payload); err != nil {
				if ctx.Err() != nil {
					s.Interrupted = true
					break
				}
				return s, fmt.Errorf("line %d (key %q): %w", r.line, r.key, err)
			}
		}
		if err := enc.Encode(line); err != nil {
			return s, fmt.Errorf("write payload: %w", err)
		}
		s.Valid++
	}
	s.Elapsed = time.Since(start)
	if err := out.Flush(); err != nil {
		return s, fmt.Errorf("write payload: %w", err)
	}
	return s, nil
}

// DryOptions are a dry run's settings.
type DryOptions struct {
	Limit       int64 // stop after this many records; 0 reads them all
	OrderedKeys bool  // as Config.OrderedKeys
	// Inspect, when set, replaces each valid payload in the output by what it returns for it:
	// dry-run --diff writes what the replacement would change in DRUID. An error ends the run.
	Inspect func(ctx context.Context, p *sink.Payload) (any, error)
	Log     zerolog.Logger
}

// DrySummary is what a dry run found.
type DrySummary struct {
	Read, Valid, Invalid int64
	Elapsed              time.Duration
	Interrupted          bool
}

// ExitCode is 130 when interrupted, 1 when a record is invalid, 0 otherwise.
func (s DrySummary) ExitCode() int {
	switch {
	case s.Interrupted:
		return ExitInterrupted
	case s.Invalid > 0:
		return ExitFailures
	}
	return ExitOK
}

// WriteText writes the dry run's summary for a person.
func (s DrySummary) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "dry-run: %d records read, %d valid, %d invalid, in %s\n",
		s.Read, s.Valid, s.Invalid, s.Elapsed.Round(time.Millisecond))
	return err
}
