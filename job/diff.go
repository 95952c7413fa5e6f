package job

import (
	"context"
	"fmt"

	"druid-migrate/diff"
	"druid-migrate/sink"
)

// differ reads each user's current state from DRUID and says what the replacement would do to
// it: dry-run --diff.
type differ struct {
	reader *sink.Reader
	totals diff.Totals
}

// DiffLine is one user of dry-run --diff's output.
type DiffLine struct {
	Key      string        `json:"key"`
	ObjectID string        `json:"objectId,omitempty"`
	Found    bool          `json:"found"`
	Added    int           `json:"added"`
	Changed  int           `json:"changed"`
	Removed  int           `json:"removed"`
	Changes  []diff.Change `json:"changes"`
	Note     string        `json:"note,omitempty"`
}

func newDiffer(cfg *Config) (*differ, error) {
	rc := cfg.readerConfig()
	rc.Limiter, rc.Log = cfg.limiter(), cfg.Log
	r, err := sink.NewReader(rc)
	if err != nil {
		return nil, configErr(fmt.Errorf("--diff: %w", err))
	}
	return &differ{reader: r, totals: diff.Totals{}}, nil
}

func (d *differ) inspect(ctx context.Context, p *sink.Payload) (any, error) {
	line := DiffLine{Key: p.Key, ObjectID: p.ObjectID, Changes: []diff.Change{}}
	if p.ObjectID == "" {
		line.Note = "no objectId: the user DRUID would update is named by its token, and cannot be read"
		return line, nil
	}
	current, found, err := d.reader.Get(ctx, p.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("read user %q from DRUID: %w", p.ObjectID, err)
	}
	line.Found = found
	if !found {
		line.Note = "DRUID has no such user: the update would be rejected with 404"
		return line, nil
	}
	line.Changes = diff.Diff(current, &p.Request.Object)
	for _, ch := range line.Changes {
		switch ch.Kind {
		case diff.KindAdded:
			line.Added++
		case diff.KindChanged:
			line.Changed++
		case diff.KindRemoved:
			line.Removed++
		}
	}
	d.totals.Add(line.Changes)
	return line, nil
}
