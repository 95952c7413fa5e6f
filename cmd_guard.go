package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"druid-migrate/checkpoint"
	"druid-migrate/diff"
	"druid-migrate/sink"
)

// guardFlags are run's flags that read each user from DRUID before replacing it.
func guardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "max-removals", Value: -1, EnvVars: []string{"DRUID_MAX_REMOVALS"},
			Usage: "refuse (outcome invalid) a user whose replacement would remove more than N fields (-1: no limit; needs --client-id)"},
		&cli.BoolFlag{Name: "allow-removals", EnvVars: []string{"DRUID_ALLOW_REMOVALS"},
			Usage: "send replacements that remove confirmed ids or more than --max-removals fields"},
		&cli.BoolFlag{Name: "backup", EnvVars: []string{"DRUID_BACKUP"},
			Usage: "store each user's state, read from DRUID just before its update, so that `rollback` can restore it (needs --client-id)"},
		&cli.BoolFlag{Name: "merge", EnvVars: []string{"DRUID_MERGE"},
			Usage: "send DRUID's current user with the source's fields laid over it: fields the source lacks are kept (needs --client-id)"},
	}
}

// guard reads each user's current state from DRUID just before its replacement is sent, and
// refuses a replacement that would remove a confirmed id or too many fields; with --merge it
// lays the source's fields over the current user instead of replacing it.
type guard struct {
	reader        *sink.Reader
	backups       checkpoint.Store // set with --backup
	job           string
	runID         int64
	merge         bool
	maxRemovals   int // -1: no limit
	allowRemovals bool
}

// newGuard returns the run's guard, or nil when the run cannot read DRUID and asked for
// nothing that needs to.
func newGuard(c *cli.Context, client *sink.Client) (*guard, error) {
	g := &guard{merge: c.Bool("merge"), maxRemovals: -1, allowRemovals: c.Bool("allow-removals")}
	if c.IsSet("max-removals") { // a command without the flag (retry) reads 0 from it
		g.maxRemovals = c.Int("max-removals")
	}
	if c.String("client-id") == "" {
		switch {
		case c.Bool("backup"):
			return nil, configErrorf("--backup reads each user from DRUID: it needs --client-id and --client-secret")
		case g.merge:
			return nil, configErrorf("--merge reads each user from DRUID: it needs --client-id and --client-secret")
		case g.maxRemovals >= 0:
			return nil, configErrorf("--max-removals reads each user from DRUID: it needs --client-id and --client-secret")
		}
		return nil, nil
	}
	r, err := client.Reader(sink.ReaderConfig{
		Endpoint:     c.String("endpoint"),
		AuthEndpoint: c.String("auth-endpoint"),
		EntryPoint:   c.String("entry-point"),
		ClientID:     c.String("client-id"),
		ClientSecret: c.String("client-secret"),
		Timeout:      c.Duration("timeout"),
		Retries:      c.Int("retries"),
	})
	if err != nil {
		return nil, configError{err}
	}
	g.reader = r
	return g, nil
}

func (g *guard) prepare(ctx context.Context, p *sink.Payload) (*sink.Payload, string, error) {
	if p.ObjectID == "" {
		if g.merge {
			return nil, "merge: the record has no objectId, so DRUID's current user cannot be read", nil
		}
		return p, "", nil // the token names the user: nothing to read it by
	}
	current, found, err := g.reader.Get(ctx, p.ObjectID)
	if err != nil {
		return nil, "", fmt.Errorf("read the current user: %w", err)
	}
	if !found {
		return p, "", nil // DRUID answers the update itself: 404
	}
	if g.backups != nil {
		state, err := json.Marshal(current) // DRUID never returns the password: none is stored
		if err != nil {
			return nil, "", fmt.Errorf("backup: encode the current user: %w", err)
		}
		b := checkpoint.Backup{Job: g.job, RunID: g.runID, Key: p.Key, ObjectID: p.ObjectID, State: state}
		if err := g.backups.SaveBackups(ctx, []checkpoint.Backup{b}); err != nil {
			return nil, "", fmt.Errorf("backup: %w", err) // not sent without its backup
		}
	}
	send := p
	if g.merge {
		merged := *p
		empty := make(map[string]bool, len(p.Empty))
		for _, f := range p.Empty {
			empty[f] = true
		}
		merged.Request.Object = *diff.Merge(current, &p.Request.Object, empty)
		body, err := json.Marshal(merged.Request)
		if err != nil {
			return nil, "", fmt.Errorf("merge: encode payload: %w", err)
		}
		merged.Body = body
		send = &merged
	}
	if g.allowRemovals {
		return send, "", nil
	}
	if ids := diff.ConfirmedIDsRemoved(current, &send.Request.Object); len(ids) > 0 {
		for i := range ids {
			ids[i] = "ids." + ids[i]
		}
		return nil, fmt.Sprintf("guard: the replacement would remove or unconfirm the confirmed %s; --allow-removals sends it anyway",
			strings.Join(ids, ", ")), nil
	}
	if removed := diff.Removed(diff.Diff(current, &send.Request.Object)); g.maxRemovals >= 0 && len(removed) > g.maxRemovals {
		fields := make([]string, len(removed))
		for i, ch := range removed {
			fields[i] = ch.Field
		}
		return nil, fmt.Sprintf("guard --max-removals %d: the replacement would remove %d fields: %s; --allow-removals sends it anyway",
			g.maxRemovals, len(removed), strings.Join(fields, ", ")), nil
	}
	return send, "", nil
}
