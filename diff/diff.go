package diff

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"

	"druid-migrate/sink"
)

// Kind says what a replacement does to one field.
type Kind string

// The kinds of change. Removed is what a full replacement deletes: present in the current
// user, absent from the payload.
const (
	KindAdded   Kind = "added"
	KindChanged Kind = "changed"
	KindRemoved Kind = "removed"
)

// Change is what a replacement does to one field. Field is a column path (datas.name,
// ids.email.confirmed, addresses.home.locality, …); Old is "" for an added field and New is ""
// for a removed one.
type Change struct {
	Field string
	Kind  Kind
	Old   string
	New   string
}

// PasswordField and PasswordMask make the one line that says a payload sets the password:
// the mask is constant so that the line reveals nothing of the password.
const (
	PasswordField = "password"
	PasswordMask  = "********"
)

// confirmedSuffix turns an id's path into its confirmed flag's path.
const confirmedSuffix = ".confirmed"

// Diff lists what replacing current with next would do, sorted by Field. A nil current is a
// user with nothing (every field of next is added); a nil next is a payload with nothing. The
// password of next is reported without its value, and that of current is never read (see the
// package documentation), so Diff(x, x) is empty for every x without a password, which is
// every user as DRUID returns it.
func Diff(current, next *sink.User) []Change {
	cur, nxt := fields(current), fields(next)
	var changes []Change
	for f, old := range cur {
		switch nu, ok := nxt[f]; {
		case !ok && !old.implied:
			changes = append(changes, Change{Field: f, Kind: KindRemoved, Old: old.text})
		case ok && nu.text != old.text:
			changes = append(changes, Change{Field: f, Kind: KindChanged, Old: old.text, New: nu.text})
		}
	}
	for f, nu := range nxt {
		if _, ok := cur[f]; !ok && !nu.implied {
			changes = append(changes, Change{Field: f, Kind: KindAdded, New: nu.text})
		}
	}
	if next != nil && next.Password != "" {
		// Kind changed, not added: the user may well have a password already, DRUID cannot
		// tell us, and "added" would claim it has none.
		changes = append(changes, Change{Field: PasswordField, Kind: KindChanged, New: PasswordMask})
	}
	slices.SortFunc(changes, func(a, b Change) int { return cmp.Compare(a.Field, b.Field) })
	return changes
}

// Removed returns the changes that delete a field, in their order: what a guard against a
// destructive replacement looks at.
func Removed(changes []Change) []Change {
	var removed []Change
	for _, c := range changes {
		if c.Kind == KindRemoved {
			removed = append(removed, c)
		}
	}
	return removed
}

// ConfirmedIDsRemoved returns, sorted, the names of the ids confirmed in current whose
// confirmation next would lose: next omits the id, or keeps its value without confirmed true
// (DRUID reads an unset flag as false, so the same address would become unconfirmed).
//
// An id that next gives another value does not count: DRUID keeps a confirmed id's old value
// in force until the user confirms the new one (SPEC §2.1), so nothing confirmed is lost.
func ConfirmedIDsRemoved(current, next *sink.User) []string {
	if current == nil {
		return nil
	}
	var names []string
	for name, id := range current.IDs {
		if id.Value == "" || !isTrue(id.Confirmed) {
			continue
		}
		var nu sink.ID
		if next != nil {
			nu = next.IDs[name]
		}
		if nu.Value == "" || nu.Value == id.Value && !isTrue(nu.Confirmed) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// value is one field's text. implied marks the value a field reads as when it is absent (an
// id's confirmed flag, false): its coming or going alone is no change.
type value struct {
	text    string
	implied bool
}

// fields flattens u into its column paths. Items of a collection that repeat a type fold in
// order, a later value winning, as Merge folds them: the two must agree for a merge never to
// show a removal.
func fields(u *sink.User) map[string]value {
	if u == nil {
		return nil
	}
	f := make(map[string]value, 2*len(u.IDs)+len(u.Datas)+8)
	for name, id := range u.IDs {
		if id.Value != "" {
			f["ids."+name] = value{text: id.Value}
		}
	}
	// In a second pass, and never over an id's value, so that an id whose name ends in
	// ".confirmed" gives the same map whatever the order of the range above.
	for name, id := range u.IDs {
		k := "ids." + name + confirmedSuffix
		if _, taken := f[k]; id.Value != "" && !taken {
			c := isTrue(id.Confirmed)
			f[k] = value{text: strconv.FormatBool(c), implied: !c}
		}
	}
	for name, d := range u.Datas {
		if d.Value != "" {
			f["datas."+name] = value{text: d.Value}
		}
	}
	if u.Addresses != nil {
		for i := range u.Addresses.Items {
			a := &u.Addresses.Items[i]
			for _, af := range addressFields {
				if v := *af.of(a); v != "" {
					f["addresses."+a.Type+"."+af.name] = value{text: v}
				}
			}
		}
	}
	if u.Assertions != nil {
		for _, a := range u.Assertions.Items {
			f["assertions."+a.Type] = value{text: assertionText(a)}
		}
	}
	return f
}

// assertionText is an assertion's value, with its typology when it is not the mapping's
// "user": the update replaces the typology too, and a diff that hid it would call a change
// none.
func assertionText(a sink.Assertion) string {
	if a.Typology == sink.TypologyUser {
		return strconv.FormatBool(a.Value)
	}
	return strconv.FormatBool(a.Value) + " (typology " + strconv.Quote(a.Typology) + ")"
}

// addressFields are the fields of an address item, by their column names (SPEC §3).
var addressFields = [...]struct {
	name string
	of   func(*sink.Address) *string
}{
	{"streetAddress", func(a *sink.Address) *string { return &a.StreetAddress }},
	{"locality", func(a *sink.Address) *string { return &a.Locality }},
	{"region", func(a *sink.Address) *string { return &a.Region }},
	{"postalCode", func(a *sink.Address) *string { return &a.PostalCode }},
	{"country", func(a *sink.Address) *string { return &a.Country }},
}

func isTrue(b *bool) bool { return b != nil && *b }

// Totals counts changes per field over many users, for the summary a command prints. Make
// it with Totals{} before calling Add.
type Totals map[string]FieldTotals

// FieldTotals counts the changes of one field by kind.
type FieldTotals struct {
	Added, Changed, Removed int64
}

// Add counts changes.
func (t Totals) Add(changes []Change) {
	for _, c := range changes {
		ft := t[c.Field]
		switch c.Kind {
		case KindAdded:
			ft.Added++
		case KindChanged:
			ft.Changed++
		case KindRemoved:
			ft.Removed++
		}
		t[c.Field] = ft
	}
}

// WriteTable writes the totals as an aligned table, FIELD ADDED CHANGED REMOVED, one row per
// field sorted by field, and a TOTAL row.
func (t Totals) WriteTable(w io.Writer) error {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tADDED\tCHANGED\tREMOVED")
	var sum FieldTotals
	for _, name := range names {
		ft := t[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", name, ft.Added, ft.Changed, ft.Removed)
		sum.Added += ft.Added
		sum.Changed += ft.Changed
		sum.Removed += ft.Removed
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\n", sum.Added, sum.Changed, sum.Removed)
	// tabwriter holds every row until Flush, so a write error of the rows surfaces here.
	return tw.Flush()
}
