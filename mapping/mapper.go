package mapping

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"druid-migrate/sink"
	"druid-migrate/source"
)

// Defaults of Options, shared with the command line's flags.
const (
	KeyColumnDefault = "key"
	VerbDefault      = "update"
	DeviceDefault    = "unknown"
)

// Options are the run's settings that go into every payload.
type Options struct {
	// KeyColumn is the column holding the user's stable key (--key). Defaults to
	// KeyColumnDefault; a mapping file's key overrides it.
	KeyColumn string
	// AppID is actor.id (--app-id).
	AppID string
	// Verb is the request's verb (--verb). Defaults to VerbDefault.
	Verb string
	// Device is source.id for users whose record sets none (--device). Defaults to
	// DeviceDefault; a device constant in the mapping file overrides it.
	Device string
	// RequireObjectID makes a record without an objectId invalid, and a mapping that maps
	// nothing to objectId a configuration error. An administrative token (a static --token or
	// --token-file, or --client-id's challenge tokens) does not name a user, so DRUID needs
	// object.objectId to know whom to update. A record that carries its own token (a token
	// column) is exempt: that token names the user.
	RequireObjectID bool
}

// Mapper turns the records of one source into payloads. It is compiled once per run by
// Compile and is safe for concurrent use.
type Mapper struct {
	width   int // number of header columns: a record with another number is malformed
	key     op  // the key column (its transforms included)
	ops     []op
	ignored []string

	ids         []idSlot // one per id name, sorted
	addrTypes   []string // sorted, so items come out sorted by type
	assertTypes []string // sorted, likewise
	dataNames   []string // sorted, likewise

	actor  sink.Actor
	verb   string
	device string
	body   bodyTemplate

	requireObjectID bool
	objectIDColumn  string // the column feeding objectId; "" when none does
}

// op is one column or constant, compiled: where its value comes from, how it is reshaped and
// checked, and where it goes.
type op struct {
	column   string // the source column; "" for a constant
	idx      int    // index in the record; -1 for a constant
	fixed    string // a constant's value
	tgt      target
	xf       transform
	chk      check
	required bool // an empty value makes the record invalid rather than removing the field
	slot     int  // index in Mapper.ids, addrTypes or assertTypes
}

// idSlot is one id name and the columns that feed it, for the confirmed-without-value check.
type idSlot struct {
	name            string
	hasValue        bool   // some column or constant feeds ids.<name>
	confirmedColumn string // the column feeding ids.<name>.confirmed, if any
}

// Compile checks the mapping f (nil when there is no mapping file) against the source's
// header once, before any record is read, and returns the Mapper that builds the payloads.
// Its errors are configuration errors: the run should stop before sending anything.
func Compile(f *File, header []string, opts Options) (*Mapper, error) {
	if f == nil {
		f = &File{}
	}
	cf, err := f.compile()
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m := &Mapper{
		width:  len(header),
		actor:  sink.Actor{ID: opts.AppID, ObjectType: sink.ObjectTypeApplication},
		verb:   opts.Verb,
		device: opts.Device,
	}
	if m.verb == "" {
		m.verb = VerbDefault
	}
	if m.device == "" {
		m.device = DeviceDefault
	}
	if !validDevice(m.device) {
		return nil, fmt.Errorf("--device %q is not a device (%s)", m.device, devices)
	}

	keyColumn, keyFrom := cf.keyColumn, cf.keyFrom
	switch {
	case keyColumn != "":
	case opts.KeyColumn != "":
		keyColumn, keyFrom = opts.KeyColumn, "--key"
	default:
		keyColumn, keyFrom = KeyColumnDefault, "the default; choose another with --key or the mapping file's key"
	}

	if err := m.compileHeader(cf, header, keyColumn, keyFrom); err != nil {
		return nil, err
	}
	if err := m.resolveRegions(cf, header); err != nil {
		return nil, err
	}
	for _, c := range cf.constants {
		m.ops = append(m.ops, op{idx: -1, fixed: c.value, tgt: c.tgt, chk: c.chk})
	}
	if err := m.assignSlots(); err != nil {
		return nil, err
	}
	if err := m.checkObjectID(opts.RequireObjectID); err != nil {
		return nil, err
	}
	m.body = newBodyTemplate(m)
	return m, nil
}

// objectIDRequired is why a record without an objectId is invalid under RequireObjectID.
const objectIDRequired = "required with an administrative token (static --token, --token-file or --client-id): " +
	"the CRM must hold each user's DRUID id"

// checkObjectID finds the column that feeds objectId and, when the run requires one, refuses a
// mapping without it: every record would be invalid.
func (m *Mapper) checkObjectID(require bool) error {
	m.requireObjectID = require
	tokens := false
	for _, o := range m.ops {
		switch o.tgt.kind {
		case kindObjectID:
			m.objectIDColumn = o.column
		case kindToken:
			tokens = true
		}
	}
	if require && m.objectIDColumn == "" && !tokens {
		return errors.New("no column maps to objectId, " + objectIDRequired +
			"; map the column that holds it to objectId")
	}
	return nil
}

// HasObjectID reports whether a column of the source feeds objectId, which names the user to
// update when the token does not (SPEC §2.1).
func (m *Mapper) HasObjectID() bool { return m.objectIDColumn != "" }

// compileHeader gives each header column its op, finds the key column and refuses two columns
// feeding one target.
func (m *Mapper) compileHeader(cf *compiledFile, header []string, keyColumn, keyFrom string) error {
	used := make(map[string]string, len(header)) // target path → column
	for _, c := range cf.constants {
		used[c.tgt.path] = ""
	}
	seen := make(map[string]int, len(header))
	m.key.idx = -1
	for i, name := range header {
		o := op{column: name, idx: i}
		if spec, ok := cf.columns[name]; ok {
			o.tgt, o.xf, o.chk, o.required = spec.tgt, spec.xf, spec.chk, spec.required
		} else if tgt, err := parseTarget(name); err == nil {
			// A header that names a payload path is sent as one, so it must name a known or
			// declared id or data like a mapped column.
			if err := cf.names.check(tgt); err != nil {
				return fmt.Errorf("column %q: %w", name, err)
			}
			o.tgt, o.chk = tgt, checkFor(tgt)
		}
		isKey := name == keyColumn
		if o.tgt.kind == 0 && !isKey || o.tgt.kind == kindKey && !isKey {
			// A column literally named "key" is not the key when --key or the mapping chose
			// another column: it is just one more column the run does not send.
			m.ignored = append(m.ignored, name)
			continue
		}
		if j, dup := seen[name]; dup {
			return fmt.Errorf("column %q appears twice in the header (columns %d and %d)", name, j+1, i+1)
		}
		seen[name] = i
		if isKey {
			if o.tgt.secret() {
				return fmt.Errorf("key column %q maps to %s: the key is stored in the checkpoint and "+
					"shown in reports, it must not be a secret", name, o.tgt.path)
			}
			m.key = o
			if o.tgt.kind == kindKey || o.tgt.kind == 0 {
				continue // the key alone: nothing to send
			}
		}
		if other, ok := used[o.tgt.path]; ok {
			if other == "" {
				return fmt.Errorf("column %q and a constant of the mapping file both map to %s", name, o.tgt.path)
			}
			return fmt.Errorf("columns %q and %q both map to %s", other, name, o.tgt.path)
		}
		used[o.tgt.path] = name
		m.ops = append(m.ops, o)
	}
	for _, name := range sortedKeys(cf.columns) {
		if _, ok := seen[name]; !ok && name != keyColumn {
			return fmt.Errorf("mapping column %q is not in the source's header", name)
		}
	}
	if m.key.idx < 0 {
		return fmt.Errorf("key column %q (%s) is not in the source's header", keyColumn, keyFrom)
	}
	return nil
}

// resolveRegions points each phone transform that reads its region from a column at that
// column of the header, with the column's own transforms: a map there turns the country names
// of an export into region codes.
func (m *Mapper) resolveRegions(cf *compiledFile, header []string) error {
	index := make(map[string]int, len(header))
	for i, name := range header {
		if _, dup := index[name]; !dup {
			index[name] = i
		}
	}
	resolve := func(o *op) error {
		r := o.xf.phone
		if r == nil || r.regionColumn == "" {
			return nil
		}
		idx, ok := index[r.regionColumn]
		if !ok {
			return fmt.Errorf("column %q: phone: region_column %q is not in the source's header", o.column, r.regionColumn)
		}
		own := cf.columns[r.regionColumn] // the zero colSpec when the mapping does not list it
		switch {
		case own.xf.phone != nil:
			return fmt.Errorf("column %q: phone: region_column %q has a phone transform itself", o.column, r.regionColumn)
		case own.tgt.secret():
			return fmt.Errorf("column %q: phone: region_column %q maps to %s, a secret", o.column, r.regionColumn, own.tgt.path)
		}
		resolved := *r
		resolved.regionIdx, resolved.regionXf = idx, &own.xf
		o.xf.phone = &resolved
		return nil
	}
	if err := resolve(&m.key); err != nil {
		return err
	}
	for i := range m.ops {
		if err := resolve(&m.ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// assignSlots gives each id, address and assertion op its place in the payload, and refuses a
// mapping that can only produce invalid records.
func (m *Mapper) assignSlots() error {
	ids := map[string]*idSlot{}
	addrs, asserts := map[string]bool{}, map[string]bool{}
	datas := map[string]bool{}
	for _, o := range m.ops {
		switch o.tgt.kind {
		case kindID, kindIDConfirmed:
			s := ids[o.tgt.name]
			if s == nil {
				s = &idSlot{name: o.tgt.name}
				ids[o.tgt.name] = s
			}
			if o.tgt.kind == kindID {
				s.hasValue = true
			} else {
				s.confirmedColumn = o.column
			}
		case kindData:
			datas[o.tgt.name] = true
		case kindAddress:
			addrs[o.tgt.name] = true
		case kindAssertion:
			asserts[o.tgt.name] = true
		}
	}
	for _, s := range ids {
		if !s.hasValue {
			from := "a constant"
			if s.confirmedColumn != "" {
				from = strconv.Quote(s.confirmedColumn)
			}
			return fmt.Errorf("column %s maps to ids.%s.confirmed but nothing maps to ids.%s", from, s.name, s.name)
		}
		m.ids = append(m.ids, *s)
	}
	// Checked here rather than record by record: a source that cannot fill all three would
	// make every record invalid, which is a configuration mistake, not a data one.
	var missing []string
	for _, sec := range []struct {
		name string
		n    int
	}{{"ids", len(ids)}, {"datas", len(datas)}, {"assertions", len(asserts)}} {
		if sec.n == 0 {
			missing = append(missing, sec.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no column or constant maps to %s: DRUID requires ids, datas and assertions "+
			"in every update, and one without them would wipe the user's data", strings.Join(missing, ", "))
	}
	sort.Slice(m.ids, func(i, j int) bool { return m.ids[i].name < m.ids[j].name })
	m.addrTypes = sortedKeys(addrs)
	m.assertTypes = sortedKeys(asserts)
	m.dataNames = sortedKeys(datas)
	for i := range m.ops {
		o := &m.ops[i]
		switch o.tgt.kind {
		case kindID, kindIDConfirmed:
			o.slot = sort.Search(len(m.ids), func(j int) bool { return m.ids[j].name >= o.tgt.name })
		case kindData:
			o.slot = sort.SearchStrings(m.dataNames, o.tgt.name)
		case kindAddress:
			o.slot = sort.SearchStrings(m.addrTypes, o.tgt.name)
		case kindAssertion:
			o.slot = sort.SearchStrings(m.assertTypes, o.tgt.name)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Ignored returns the header columns that map to nothing, in header order: the run lists them
// once, so an operator sees a column the mapping forgot.
func (m *Mapper) Ignored() []string {
	return append([]string(nil), m.ignored...)
}

// RecordError says why a record is invalid and is never sent. It names the record (line and
// key), the payload field and the source column; its text never holds the value of a password
// or token column.
type RecordError struct {
	Line   int    // the record's line (CSV) or row number
	Key    string // the user's key; "" when it could not be read
	Column string // the source column; "" for a constant or a rule about the whole record
	Field  string // the payload path, e.g. datas.birthday; "" when the record is malformed
	Reason string // what is wrong; it quotes the value unless that is a secret

	err error // the source's error, for a malformed record
}

// Error formats the error as
// `line 12 (key "c-17"): datas.birthday (column "Date of Birth"): "31/02/2000" is not a date dd/MM/yyyy`.
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString("line ")
	b.WriteString(strconv.Itoa(e.Line))
	if e.Key != "" {
		b.WriteString(" (key ")
		b.WriteString(strconv.Quote(e.Key))
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Column != "" && e.Column != e.Field {
			b.WriteString(" (column ")
			b.WriteString(strconv.Quote(e.Column))
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the source's error for a malformed record.
func (e *RecordError) Unwrap() error { return e.err }

// Build turns a record into the payload of its user. The error, when not nil, is always a
// *RecordError: the record is invalid and must not be sent.
func (m *Mapper) Build(rec source.Record) (*sink.Payload, error) {
	if rec.Err != nil {
		reason := rec.Err.Error()
		if re, ok := errors.AsType[*source.RowError](rec.Err); ok {
			reason = re.Reason() // the line is already the record's
		}
		e := &RecordError{Line: rec.Line, Reason: "malformed record: " + reason, err: rec.Err}
		if len(rec.Values) == m.width {
			// Best effort: a row with the right number of fields still has its key where it
			// should be, and the checkpoint can then name the user.
			e.Key, _ = m.key.xf.apply(rec.Values[m.key.idx], rec.Values, false)
		}
		return nil, e
	}
	if len(rec.Values) != m.width {
		return nil, &RecordError{Line: rec.Line, Reason: fmt.Sprintf(
			"malformed record: %d fields, the header has %d", len(rec.Values), m.width)}
	}

	key, fail := m.value(&m.key, rec.Values)
	if fail != "" {
		return nil, &RecordError{Line: rec.Line, Column: m.key.column, Field: m.keyField(), Reason: fail}
	}
	if key == "" {
		return nil, &RecordError{Line: rec.Line, Column: m.key.column, Field: "key", Reason: "the key is empty"}
	}
	if reason := checkControl(key, false); reason != "" {
		return nil, &RecordError{Line: rec.Line, Column: m.key.column, Field: m.keyField(), Reason: reason}
	}

	mem := &payloadMem{}
	p := &mem.payload
	p.Key, p.Line = key, rec.Line
	p.Request = sink.Request{
		Actor:  m.actor,
		Verb:   m.verb,
		Object: sink.User{ObjectType: sink.ObjectTypeUser},
		Source: sink.Device{ID: m.device, ObjectType: sink.ObjectTypeDevice},
	}
	u := &p.Request.Object
	// The ids' scratch stays on the stack for the few ids a user has; the collections' scratch
	// becomes the payload's items.
	var idBuf [8]idValue
	ids := append(idBuf[:0], make([]idValue, len(m.ids))...)
	var dataBuf [8]string
	datas := append(dataBuf[:0], make([]string, len(m.dataNames))...)
	var b build
	if len(m.addrTypes) > 0 {
		b.addrs = make([]sink.Address, len(m.addrTypes))
	}
	if len(m.assertTypes) > 0 {
		b.asserts = make([]sink.Assertion, len(m.assertTypes))
	}
	invalid := func(o *op, reason string) error {
		return &RecordError{Line: rec.Line, Key: key, Column: o.column, Field: o.tgt.path, Reason: reason}
	}

	for i := range m.ops {
		o := &m.ops[i]
		var v string
		if o.idx < 0 {
			v = o.fixed // checked by Compile
		} else {
			var reason string
			if o.idx == m.key.idx {
				v = key // the same cell through the same transforms
			} else if isEmptyMarker(rec.Values[o.idx]) {
				if o.required {
					return nil, invalid(o, requiredEmpty)
				}
				p.Empty = append(p.Empty, o.tgt.path) // left out, and removed even in merge mode
				continue
			} else if v, reason = m.value(o, rec.Values); reason != "" {
				return nil, invalid(o, reason)
			}
			if v == "" {
				if o.required {
					return nil, invalid(o, requiredEmpty)
				}
				continue
			}
			if reason = checkValue(o.chk, v, o.tgt.secret()); reason != "" {
				return nil, invalid(o, reason)
			}
		}
		switch o.tgt.kind {
		case kindObjectID:
			u.ObjectID, p.ObjectID = v, v
		case kindPassword:
			u.Password = v
		case kindToken:
			p.Token = v
		case kindLocale:
			p.Locale = v
		case kindDevice:
			p.Request.Source.ID = v
		case kindID:
			ids[o.slot].value = v
		case kindIDConfirmed:
			c, _ := parseBool(v)
			ids[o.slot].confirmed, ids[o.slot].hasConfirmed = c, true
		case kindData:
			datas[o.slot] = v
		case kindAddress:
			b.setAddress(o, v)
		case kindAssertion:
			c, _ := parseBool(v)
			b.asserts[o.slot] = sink.Assertion{
				ObjectType: sink.ObjectTypeAssertion, Type: o.tgt.name, Typology: sink.TypologyUser, Value: c,
			}
		}
	}

	if m.requireObjectID && u.ObjectID == "" && p.Token == "" {
		return nil, &RecordError{Line: rec.Line, Key: key, Column: m.objectIDColumn, Field: "objectId", Reason: objectIDRequired}
	}

	for i, s := range m.ids {
		id := &ids[i]
		if id.value == "" {
			if id.hasConfirmed {
				return nil, &RecordError{Line: rec.Line, Key: key, Column: s.confirmedColumn,
					Field: "ids." + s.name + ".confirmed", Reason: "set, but ids." + s.name + " has no value"}
			}
			continue
		}
		if u.IDs == nil {
			u.IDs = make(map[string]sink.ID, len(m.ids))
		}
		var confirmed *bool
		if id.hasConfirmed {
			confirmed = mem.confirmed(i, id.confirmed)
		}
		u.IDs[s.name] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: id.value, Confirmed: confirmed}
	}
	for i, name := range m.dataNames {
		if datas[i] == "" {
			continue
		}
		if u.Datas == nil {
			u.Datas = make(map[string]sink.Data, len(m.dataNames))
		}
		u.Datas[name] = sink.Data{ObjectType: sink.ObjectTypeUserData, Value: datas[i]}
	}
	// Addresses and assertions are optional: an empty collection would tell DRUID nothing more
	// than its absence.
	if items := filled(b.addrs, func(a *sink.Address) bool { return a.Type != "" }); len(items) > 0 {
		mem.addresses = sink.Addresses{ObjectType: sink.ObjectTypeAddresses, TotalItems: len(items), Items: items}
		u.Addresses = &mem.addresses
	}
	if items := filled(b.asserts, func(a *sink.Assertion) bool { return a.Type != "" }); len(items) > 0 {
		mem.assertions = sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: len(items), Items: items}
		u.Assertions = &mem.assertions
	}

	if missing := missingSections(u); len(missing) > 0 {
		return nil, &RecordError{Line: rec.Line, Key: key, Field: missing[0],
			Reason: "no " + strings.Join(missing, " and no ") + ": DRUID requires ids, datas and " +
				"assertions in every update, and sending this one would wipe the user's data"}
	}

	p.Body = m.encodeBody(&p.Request, ids, datas)
	return p, nil
}

// requiredEmpty is why a record whose required column is empty is invalid.
const requiredEmpty = "no value, and the column is required: sent without it, the field would be removed in DRUID"

// payloadMem is the memory of one built payload: the payload, its collections and the
// confirmed flags its ids point to, in one allocation rather than one each.
type payloadMem struct {
	payload    sink.Payload
	addresses  sink.Addresses
	assertions sink.Assertions
	flags      [4]bool
}

// confirmed returns a pointer to a confirmed flag of value v for the i-th id slot.
func (mem *payloadMem) confirmed(i int, v bool) *bool {
	var p *bool
	if i < len(mem.flags) {
		p = &mem.flags[i]
	} else {
		p = new(bool)
	}
	*p = v
	return p
}

// isEmptyMarker reports whether a cell holds EmptyMarker, white space around it allowed. The
// first byte tells most cells apart at no cost.
func isEmptyMarker(cell string) bool {
	if len(cell) < len(EmptyMarker) || cell[0] != '<' && !isSpaceByte(cell[0]) && cell[0] < utf8.RuneSelf {
		return false
	}
	return strings.TrimSpace(cell) == EmptyMarker
}

// isBlank reports whether strings.TrimSpace(s) is "", deciding an ASCII cell at its first
// byte that is not white space.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.TrimSpace(s[i:]) == ""
		}
		if !isSpaceByte(c) {
			return false
		}
	}
	return true
}

// isSpaceByte reports whether c is ASCII white space as unicode.IsSpace (and so TrimSpace) has it.
func isSpaceByte(c byte) bool {
	return c == ' ' || '\t' <= c && c <= '\r'
}

// EmptyMarker is the cell value that says "this field must go": the field is left out of the
// payload like an empty cell's, and, in merge mode, where an empty cell keeps what DRUID holds,
// it is still removed from the user.
const EmptyMarker = "<empty>"

// KeyColumn is the source column that holds the users' keys, as the mapping file, --key or
// the default chose it. A database source orders and filters its rows by it.
func (m *Mapper) KeyColumn() string { return m.key.column }

// KeyVerbatim reports whether the key is the key column's text as it is, with no transform: a
// source ordered by that column then yields a repeated key right after its first.
func (m *Mapper) KeyVerbatim() bool {
	x := m.key.xf
	return !x.trim && !x.lower && x.mapping == nil && len(x.dates) == 0 && x.phone == nil
}

// keyField names the key column's field in errors: its target, or "key" when it has none.
func (m *Mapper) keyField() string {
	if m.key.tgt.kind == 0 {
		return "key"
	}
	return m.key.tgt.path
}

// value reads one cell through its column's transforms. An empty or blank cell is no value
// unless the column's map lists "".
func (m *Mapper) value(o *op, row []string) (v, reason string) {
	cell := row[o.idx]
	if isBlank(cell) {
		if !o.xf.mapEmpty {
			return "", ""
		}
		cell = ""
	}
	return o.xf.apply(cell, row, o.tgt.secret())
}

// missingSections names the sections DRUID requires that the user lacks.
func missingSections(u *sink.User) []string {
	var missing []string
	if len(u.IDs) == 0 {
		missing = append(missing, "ids")
	}
	if len(u.Datas) == 0 {
		missing = append(missing, "datas")
	}
	if u.Assertions == nil {
		missing = append(missing, "assertions")
	}
	return missing
}

// build is the scratch of one Build call: the slotted collections of the payload before they
// are packed. A slot whose Type is still "" was not filled.
type build struct {
	addrs   []sink.Address
	asserts []sink.Assertion
}

// idValue is the scratch of one id slot, before the ids become a map.
type idValue struct {
	value        string
	confirmed    bool
	hasConfirmed bool // ids.<name>.confirmed was given
}

func (b *build) setAddress(o *op, v string) {
	a := &b.addrs[o.slot]
	a.ObjectType, a.Type = sink.ObjectTypeAddress, o.tgt.name
	switch o.tgt.field {
	case streetAddress:
		a.StreetAddress = v
	case locality:
		a.Locality = v
	case region:
		a.Region = v
	case postalCode:
		a.PostalCode = v
	case country:
		a.Country = v
	}
}

// filled returns the slots that set holds, packed in place: the scratch becomes the payload's
// items, sorted by type because the slots are, at no further allocation.
func filled[T any](slots []T, set func(*T) bool) []T {
	items := slots[:0]
	for i := range slots {
		if set(&slots[i]) {
			items = append(items, slots[i])
		}
	}
	return items
}

// Mask returns the same request with object.password replaced by "********" when it is set,
// so a payload can be printed (dry-run) without its secret. The request given is not changed.
func Mask(r sink.Request) sink.Request {
	if r.Object.Password != "" {
		r.Object.Password = passwordMask
	}
	return r
}

const passwordMask = "********"
