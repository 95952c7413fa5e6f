package job

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"druid-migrate/checkpoint"
	"druid-migrate/diff"
	"druid-migrate/sink"
)

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
// Config.Validate has refused the guards that need to read DRUID without --client-id.
func newGuard(cfg *Config, client *sink.Client) (*guard, error) {
	if cfg.ClientID == "" {
		return nil, nil
	}
	g := &guard{maxRemovals: -1}
	if cfg.Command == CommandRun { // retry sends what the run's guards let through
		g.merge, g.maxRemovals, g.allowRemovals = cfg.Merge, cfg.MaxRemovals, cfg.AllowRemovals
	}
	r, err := client.Reader(cfg.readerConfig())
	if err != nil {
		return nil, configErr(err)
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
