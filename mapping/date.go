package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// dateLayout is a source's date layout: YYYY, MM and DD once each, between any separators.
type dateLayout struct {
	layout       string
	digit        []bool // digit[i]: the value's byte i must be a digit; otherwise layout[i] itself
	year, mon, d int    // where YYYY, MM and DD start
}

// parseDateLayout compiles a layout such as "MM/DD/YYYY", "DD.MM.YYYY" or "YYYYMMDD". ASCII
// letters and digits outside the three fields are refused: "DD/MM/YY" or "yyyy-mm-dd" are typos
// that would otherwise make every value of the column invalid. Anything else is a separator.
func parseDateLayout(layout string) (*dateLayout, error) {
	l := &dateLayout{layout: layout, digit: make([]bool, len(layout)), year: -1, mon: -1, d: -1}
	set := func(pos *int, name string, at int) error {
		if *pos >= 0 {
			return fmt.Errorf("%s appears twice", name)
		}
		*pos = at
		return nil
	}
	for i := 0; i < len(layout); {
		var err error
		switch {
		case strings.HasPrefix(layout[i:], "YYYY"):
			err = set(&l.year, "YYYY", i)
			fill(l.digit[i:i+4], true)
			i += 4
		case strings.HasPrefix(layout[i:], "MM"):
			err = set(&l.mon, "MM", i)
			fill(l.digit[i:i+2], true)
			i += 2
		case strings.HasPrefix(layout[i:], "DD"):
			err = set(&l.d, "DD", i)
			fill(l.digit[i:i+2], true)
			i += 2
		default:
			if c := layout[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				return nil, fmt.Errorf("%q is neither YYYY, MM, DD nor a separator", layout[i:i+1])
			}
			i++
		}
		if err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, f := range []struct {
		pos  int
		name string
	}{{l.year, "YYYY"}, {l.mon, "MM"}, {l.d, "DD"}} {
		if f.pos < 0 {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no %s: a layout needs YYYY, MM and DD", strings.Join(missing, ", "))
	}
	return l, nil
}

func mustDateLayout(layout string) *dateLayout {
	l, err := parseDateLayout(layout)
	if err != nil {
		panic(err) // only ever called with constants of this package
	}
	return l
}

func fill(b []bool, v bool) {
	for i := range b {
		b[i] = v
	}
}

// parse reads a value that must fit the layout exactly and be a real calendar date, and
// returns it as DD/MM/YYYY.
func (l *dateLayout) parse(v string) (string, bool) {
	if len(v) != len(l.layout) {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if l.digit[i] {
			if v[i] < '0' || v[i] > '9' {
				return "", false
			}
		} else if v[i] != l.layout[i] {
			return "", false
		}
	}
	year := atoi(v[l.year : l.year+4])
	month := atoi(v[l.mon : l.mon+2])
	day := atoi(v[l.d : l.d+2])
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return "", false
	}
	if l == ddmmyyyy {
		return v, true
	}
	return v[l.d:l.d+2] + "/" + v[l.mon:l.mon+2] + "/" + v[l.year:l.year+4], true
}

// atoi reads a run of ASCII digits already checked by parse.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// dateLayouts are a column's layouts, tried in order.
type dateLayouts []*dateLayout

// parseDateLayouts compiles a column's layouts. A layout listed twice is refused as a typo.
func parseDateLayouts(layouts []string) (dateLayouts, error) {
	if len(layouts) == 0 {
		return nil, errors.New("no layout")
	}
	ls := make(dateLayouts, 0, len(layouts))
	seen := make(map[string]bool, len(layouts))
	for _, layout := range layouts {
		if seen[layout] {
			return nil, fmt.Errorf("date layout %q is listed twice", layout)
		}
		seen[layout] = true
		l, err := parseDateLayout(layout)
		if err != nil {
			if strings.ContainsAny(layout, "|,;") {
				err = fmt.Errorf("%w; several layouts are written as a list: date: [YYYY-MM-DD, MM/DD/YYYY]", err)
			}
			return nil, fmt.Errorf("date layout %q: %w", layout, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// parse reads v with every layout and returns it as DD/MM/YYYY, or why it cannot be sent: no
// layout reads it, or two read it as different dates (03/07/1985 under MM/DD/YYYY and
// DD/MM/YYYY), which would be a guess. Layouts that read it as the same date agree. The reason
// shows the value unless it is a secret.
func (ls dateLayouts) parse(v string, secret bool) (out, reason string) {
	var first *dateLayout
	for _, l := range ls {
		d, ok := l.parse(v)
		if !ok {
			continue
		}
		if first == nil {
			first, out = l, d
			continue
		}
		if d != out {
			if secret {
				return "", "the value is ambiguous: " + first.layout + " and " + l.layout + " read different dates"
			}
			return "", fmt.Sprintf("%s is ambiguous: %s under %s, %s under %s: rather than guess, fix the cell",
				show(v, false), spellDate(out), first.layout, spellDate(d), l.layout)
		}
	}
	if first == nil {
		return "", show(v, secret) + " is not a date " + ls.String()
	}
	return out, ""
}

// String lists the layouts for an error: "YYYY-MM-DD or MM/DD/YYYY".
func (ls dateLayouts) String() string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.layout
	}
	return strings.Join(names, " or ")
}

// spellDate writes a DD/MM/YYYY date with its month's name, which no reader can take the wrong
// way round: "7 March 1985".
func spellDate(ddmmyyyy string) string {
	return fmt.Sprintf("%d %s %s", atoi(ddmmyyyy[0:2]), time.Month(atoi(ddmmyyyy[3:5])), ddmmyyyy[6:])
}
