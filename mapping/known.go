package mapping

import (
	"fmt"
	"sort"
	"strings"
)

// knownIDs and knownDatas are the user ids and datas DRUID documents (its user-info page:
// email, phone_number, national_id and screen_name; name, surname, birthday, gender, country and
// preferred_locale), and a few datas entry points commonly define. Which datas an entry point
// holds is its own configuration, so this list is an assumption (SPEC §2): a target outside it
// must be declared in the mapping file's custom list. The point is a typo: in a full
// replacement, ids.emial sent instead of ids.email deletes the user's email.
var (
	knownIDs   = []string{"email", "national_id", "phone_number", "screen_name"}
	knownDatas = []string{
		"birthday", "city", "country", "gender", "name", "postal_code", "preferred_locale",
		"state", "surname", "telephone",
	}
)

// names are the id and data names a mapping may target: the known ones and the file's custom
// ones.
type names struct {
	ids, datas map[string]bool
}

func newNames() names {
	n := names{ids: make(map[string]bool), datas: make(map[string]bool)}
	for _, id := range knownIDs {
		n.ids[id] = true
	}
	for _, d := range knownDatas {
		n.datas[d] = true
	}
	return n
}

// declare adds a mapping file's custom entry, ids.<name> or datas.<name>.
func (n names) declare(path string) error {
	t, err := parseTarget(path)
	if err != nil {
		return fmt.Errorf("custom %w", err)
	}
	switch t.kind {
	case kindID:
		n.ids[t.name] = true
	case kindData:
		n.datas[t.name] = true
	default:
		return fmt.Errorf("custom %q: only ids.<name> and datas.<name> are declared; %s needs no declaration", path, path)
	}
	return nil
}

// check refuses an id or data target whose name is neither known nor declared.
func (n names) check(t target) error {
	var own, other map[string]bool
	var section, otherSection, kindName string
	switch t.kind {
	case kindID, kindIDConfirmed:
		own, other, section, otherSection, kindName = n.ids, n.datas, "ids", "datas", "id"
	case kindData:
		own, other, section, otherSection, kindName = n.datas, n.ids, "datas", "ids", "data"
	default:
		return nil
	}
	if own[t.name] {
		return nil
	}
	suffix := ""
	if t.kind == kindIDConfirmed {
		suffix = ".confirmed"
	}
	var suggestion string
	if other[t.name] && t.kind != kindIDConfirmed {
		suggestion = otherSection + "." + t.name
	} else {
		suggestion = section + "." + nearest(t.name, own) + suffix
	}
	return fmt.Errorf("%s is not a documented DRUID %s; did you mean %s? declare custom names under custom:",
		t.path, kindName, suggestion)
}

// nearest returns the name of set closest to s by edit distance (letters' case aside), the
// first in alphabetical order among equals.
func nearest(s string, set map[string]bool) string {
	candidates := make([]string, 0, len(set))
	for c := range set {
		candidates = append(candidates, c)
	}
	sort.Strings(candidates)
	best, bestDist := "", -1
	low := strings.ToLower(s)
	for _, c := range candidates {
		if d := editDistance(low, strings.ToLower(c)); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b: insertions,
// deletions, substitutions and transpositions of two adjacent characters ("emial" is one edit
// from "email").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the table: two back for transpositions, one back, and the current one.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
