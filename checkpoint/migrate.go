package checkpoint

import (
	"fmt"

	"druid-migrate/migrations"
)

// pending returns the migrations of all that applied lacks. A checkpoint that has applied a
// version this binary does not know was upgraded by a newer druid-migrate: writing to it with an
// older idea of the schema could corrupt it, so that is an error.
func pending(all []migrations.Migration, applied []int) ([]migrations.Migration, error) {
	known := make(map[int]bool, len(all))
	for _, m := range all {
		known[m.Version] = true
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("schema version %d is newer than this druid-migrate knows (%d): upgrade druid-migrate", v, len(all))
		}
		done[v] = true
	}
	var out []migrations.Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}

// upTo returns the migrations of all up to version last.
func upTo(all []migrations.Migration, last int) []migrations.Migration {
	var out []migrations.Migration
	for _, m := range all {
		if m.Version <= last {
			out = append(out, m)
		}
	}
	return out
}
