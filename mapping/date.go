package mapping

import (
	"fmt"
	"strings"
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
