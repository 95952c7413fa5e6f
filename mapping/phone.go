package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// phoneRule is a column's phone transform, compiled: numbers are parsed, validated and
// formatted to E.164 by libphonenumber (github.com/nyaruka/phonenumbers), which knows each
// region's numbering plan. A fixed country code cannot: "+34" given to (416) 680-6155 made
// +344166806155, a number that passes DRUID's format and belongs to nobody.
type phoneRule struct {
	region       string // ISO 3166-1 alpha-2: every number's region, or, with regionColumn, the region of rows whose cell is empty
	regionColumn string // the column giving each row's region; "" for none

	// Set by Compile for one header: where the region column is and how its values are
	// reshaped. regionIdx is -1 until then.
	regionIdx int
	regionXf  *transform
}

// parseRegion reads a phone transform's region: an ISO 3166-1 alpha-2 code that libphonenumber
// knows (ES, us), or a calling code, "+34" or "34", which means the main region of that code
// (+34: ES, +1: US, +44: GB); that is how the old string form phone: "+34" keeps working.
func parseRegion(s string) (string, error) {
	if region := strings.ToUpper(s); phonenumbers.GetSupportedRegions()[region] {
		return region, nil
	}
	digits := strings.TrimPrefix(s, "+")
	code, err := strconv.Atoi(digits)
	if err != nil || len(digits) < 1 || len(digits) > 3 || digits[0] == '0' || strings.ContainsAny(digits, "+-") {
		return "", fmt.Errorf("region %q is neither a region code such as ES nor a calling code such as \"+34\"", s)
	}
	region := phonenumbers.GetRegionCodeForCountryCode(code)
	if !phonenumbers.GetSupportedRegions()[region] {
		return "", fmt.Errorf("calling code %q belongs to no region: give the region, e.g. region: ES", s)
	}
	return region, nil
}

// compilePhone checks a column's Phone.
func compilePhone(p *Phone) (*phoneRule, error) {
	r := &phoneRule{regionColumn: p.RegionColumn, regionIdx: -1}
	if p.Region == "" && p.RegionColumn == "" {
		return nil, fmt.Errorf("phone: set region (e.g. region: ES) or region_column")
	}
	if p.Region != "" {
		var err error
		if r.region, err = parseRegion(p.Region); err != nil {
			return nil, fmt.Errorf("phone: %w", err)
		}
	}
	return r, nil
}

// format reads one number: punctuation dropped, 00 read as +, then parsed in its region,
// validated and written in E.164. A number in international form (+…, 00…) keeps its own
// country; any other takes the row's region. row is the record's values, for the region
// column; nil when there is no record (a map value checked at start).
func (r *phoneRule) format(v string, row []string, secret bool) (out, reason string) {
	n, ok := normalizePhone(v)
	if !ok {
		return "", show(v, secret) + " is not a phone number"
	}
	if n == "" {
		return "", "" // only punctuation, such as "-": the export's way to say no number
	}
	region := ""
	if n[0] != '+' {
		if region, reason = r.regionOf(v, row, secret); reason != "" {
			return "", reason
		}
	}
	num, err := phonenumbers.Parse(n, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		if region == "" {
			return "", show(v, secret) + " is not a valid phone number"
		}
		return "", show(v, secret) + " is not a valid phone number in region " + region
	}
	return phonenumbers.Format(num, phonenumbers.E164), ""
}

// regionOf returns the region a national number v of row is read in.
func (r *phoneRule) regionOf(v string, row []string, secret bool) (region, reason string) {
	if r.regionColumn == "" || row == nil {
		if r.region == "" {
			return "", show(v, secret) + " has no country code, and there is no region to read it in"
		}
		return r.region, ""
	}
	cell := row[r.regionIdx]
	var given string
	if !isBlank(cell) || r.regionXf.mapEmpty {
		if isBlank(cell) {
			cell = ""
		}
		if given, reason = r.regionXf.apply(cell, row, false); reason != "" {
			return "", fmt.Sprintf("region column %q: %s", r.regionColumn, reason)
		}
	}
	given = strings.TrimSpace(given)
	if given == "" {
		if r.region == "" {
			return "", fmt.Sprintf("%s has no country code, and column %q is empty: no region to read it in",
				show(v, secret), r.regionColumn)
		}
		return r.region, ""
	}
	region = strings.ToUpper(given)
	if len(region) != 2 || !phonenumbers.GetSupportedRegions()[region] {
		return "", fmt.Sprintf("region column %q holds %s, not a region code such as ES: "+
			"translate names with a map on that column", r.regionColumn, show(given, false))
	}
	return region, ""
}

// normalizePhone drops the punctuation people write phone numbers with and turns the
// international prefix 00 into +. A result that is not digits, after an optional +, is refused:
// letters ("ext. 5") cannot be guessed away.
func normalizePhone(v string) (string, bool) {
	b := make([]byte, 0, len(v))
	for _, r := range v {
		switch {
		case r == '.' || r == '-' || r == '(' || r == ')' || unicode.IsSpace(r):
		case r < utf8.RuneSelf:
			b = append(b, byte(r))
		default:
			return "", false
		}
	}
	switch {
	case len(b) == 0:
		return "", true
	case len(b) >= 2 && b[0] == '0' && b[1] == '0':
		b[1] = '+'
		b = b[1:]
	}
	digits := b
	if digits[0] == '+' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return "", false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return string(b), true
}
