package checkpoint

import (
	"fmt"
	"time"
)

// utcTime scans a timestamp column of either store, NULL leaving valid false. pgx gives it a
// time.Time, in the process's zone for a timestamptz; the SQLite driver gives a time.Time for
// the text it recognises and leaves other text as it is, which is parsed as sqliteTimeLayout.
type utcTime struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner, which both drivers call.
func (ut *utcTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*ut = utcTime{}
		return nil
	case time.Time:
		*ut = utcTime{t: v.UTC(), valid: true}
		return nil
	case string:
		return ut.parse(v)
	case []byte:
		return ut.parse(string(v))
	default:
		return fmt.Errorf("timestamp column holds a %T", v)
	}
}

func (ut *utcTime) parse(s string) error {
	t, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		return fmt.Errorf("timestamp column holds %q: %w", s, err)
	}
	*ut = utcTime{t: t.UTC(), valid: true}
	return nil
}
