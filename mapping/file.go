package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// File is a mapping file (--mapping, YAML; SPEC §3): which column holds the key, how source
// columns become payload paths, and the values every record gets.
type File struct {
	// Key is the column holding the user's stable key. It overrides --key when set.
	Key string `yaml:"key"`
	// Columns maps a source column to a payload path and the transforms of its values.
	Columns map[string]Column `yaml:"columns"`
	// Constants maps a payload path to the value every record gets.
	Constants map[string]string `yaml:"constants"`
	// Custom lists the ids.<name> and datas.<name> targets beyond DRUID's documented ones
	// (knownIDs, knownDatas) that the entry point defines. Any other name is refused, because a
	// misspelt one would be sent in place of the real one and so delete it.
	Custom []string `yaml:"custom"`
}

// Column is what one source column becomes. In YAML it is either a plain string, the target
// path (`DRUID Id: objectId`), or a mapping {to, trim, lower, date, phone, map}.
type Column struct {
	// To is the payload path the column feeds, e.g. datas.name.
	To string `yaml:"to"`
	// Trim removes the white space around the value.
	Trim bool `yaml:"trim"`
	// Lower lower-cases the value.
	Lower bool `yaml:"lower"`
	// Date lists the source's date layouts, written with YYYY, MM and DD (e.g. MM/DD/YYYY),
	// tried in order; the value is sent as DD/MM/YYYY. A value that two layouts read as
	// different dates is invalid as ambiguous. In YAML, one layout or a list.
	Date []string `yaml:"date"`
	// Phone, when set, reads each value as a phone number and sends it in E.164 (+34600112233),
	// or makes the record invalid when the number is not valid in its region.
	Phone *Phone `yaml:"phone"`
	// Map replaces each value by the one it lists; a value it does not list makes the record
	// invalid. An entry for "" maps the empty cell; a value mapped to "" is no value.
	Map map[string]string `yaml:"map"`
	// Required makes a record whose value is empty after the transforms invalid. Without it an
	// empty value leaves the field out, which DRUID's full replacement reads as "remove it".
	Required bool `yaml:"required"`
}

// Phone is a column's phone transform. Spaces, dots, dashes and parentheses are dropped and a
// leading 00 is read as +; the number is then parsed, validated and formatted to E.164 by
// libphonenumber. A number in international form keeps its own country; any other is read in
// the row's region. In YAML, {region: ES}, {region_column: Country}, both, or a plain string,
// the region: phone: ES, or phone: "+34" as older mapping files say it.
type Phone struct {
	// Region is the region numbers without a country code are read in: an ISO 3166-1 alpha-2
	// code (ES, US, GB), or a calling code ("+34"), meaning that code's main region (+1: US,
	// +44: GB). With RegionColumn, it is the region of rows whose region cell is empty.
	Region string `yaml:"region"`
	// RegionColumn is the source column holding each row's region, an ISO 3166-1 alpha-2 code,
	// after that column's own transforms: a map on it can turn country names into codes.
	RegionColumn string `yaml:"region_column"`
}

// The keys each part of a mapping file may hold, for the error that names an unknown one.
var (
	fileKeys   = []string{"key", "columns", "constants", "custom"}
	columnKeys = []string{"to", "trim", "lower", "map", "date", "phone", "required"}
	phoneKeys  = []string{"region", "region_column"}
)

// unknownKey says that a key of the mapping file is unknown, where, and which keys are valid
// there: a misspelt key silently ignored would send unreshaped values.
func unknownKey(key, where string, valid []string) string {
	return fmt.Sprintf("unknown key %q %s: valid keys are %s", key, where, strings.Join(valid, ", "))
}

// checkKeys refuses a key that the file's top level or one of its columns does not know, and
// lists the valid ones there. It reads the YAML's syntax tree before decoding, because the
// decoder's own "unknown field" says neither where nor what else would do.
func checkKeys(data []byte) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil || len(file.Docs) == 0 {
		return nil // the decoder reports the syntax error
	}
	top, _ := mappingEntries(file.Docs[0].Body)
	for _, kv := range top {
		key := keyText(kv.Key)
		if kv.Key.IsMergeKey() {
			continue
		}
		if !slices.Contains(fileKeys, key) {
			return keyError(kv.Key, unknownKey(key, "at the top level", fileKeys))
		}
		if key != "columns" {
			continue
		}
		columns, _ := mappingEntries(kv.Value)
		for _, col := range columns {
			fields, _ := mappingEntries(col.Value)
			for _, f := range fields {
				if k := keyText(f.Key); !f.Key.IsMergeKey() && !slices.Contains(columnKeys, k) {
					return keyError(f.Key, unknownKey(k, fmt.Sprintf("in column %q", keyText(col.Key)), columnKeys))
				}
			}
		}
	}
	return nil
}

// mappingEntries returns the key-value pairs of a YAML mapping, through its tag or anchor;
// false when node is not a mapping. A mapping of one pair may be parsed as the pair alone.
func mappingEntries(node ast.Node) ([]*ast.MappingValueNode, bool) {
	for {
		switch n := node.(type) {
		case *ast.TagNode:
			node = n.Value
		case *ast.AnchorNode:
			node = n.Value
		case *ast.MappingNode:
			return n.Values, true
		case *ast.MappingValueNode:
			return []*ast.MappingValueNode{n}, true
		default:
			return nil, false
		}
	}
}

// keyText is a mapping key as written.
func keyText(key ast.MapKeyNode) string {
	var s scalar
	if err := s.UnmarshalYAML(key); err != nil {
		return key.GetToken().Value
	}
	return string(s)
}

func keyError(key ast.MapKeyNode, msg string) error {
	return &yaml.SyntaxError{Message: msg, Token: key.GetToken()}
}

// phoneField is Phone as YAML holds it: a plain string (the region) or a mapping.
type phoneField Phone

// UnmarshalYAML reads a scalar as the region, and a mapping key by key.
func (p *phoneField) UnmarshalYAML(node ast.Node) error {
	entries, ok := mappingEntries(node)
	if !ok {
		var s scalar
		if err := s.UnmarshalYAML(node); err != nil {
			return err
		}
		*p = phoneField{Region: string(s)}
		return nil
	}
	*p = phoneField{}
	for _, kv := range entries {
		var key, value scalar
		if err := key.UnmarshalYAML(kv.Key); err != nil {
			return err
		}
		if err := value.UnmarshalYAML(kv.Value); err != nil {
			return err
		}
		switch key {
		case "region":
			p.Region = string(value)
		case "region_column":
			p.RegionColumn = string(value)
		default:
			return &yaml.SyntaxError{Message: unknownKey(string(key), "in phone", phoneKeys), Token: kv.Key.GetToken()}
		}
	}
	return nil
}

// columnFields is Column as YAML holds it: its strings are scalars read as written, and it has
// no UnmarshalYAML, so the mapping form decodes field by field (unknown keys refused).
type columnFields struct {
	To       scalar            `yaml:"to"`
	Trim     bool              `yaml:"trim"`
	Lower    bool              `yaml:"lower"`
	Date     layoutList        `yaml:"date"`
	Phone    *phoneField       `yaml:"phone"`
	Map      map[scalar]scalar `yaml:"map"`
	Required bool              `yaml:"required"`
}

// UnmarshalYAML reads a column written as a plain string (a rename) or as a mapping.
func (c *Column) UnmarshalYAML(unmarshal func(any) error) error {
	var to scalar
	if err := unmarshal(&to); err == nil {
		*c = Column{To: string(to)}
		return nil
	}
	var f columnFields
	if err := unmarshal(&f); err != nil {
		return err
	}
	*c = Column{To: string(f.To), Trim: f.Trim, Lower: f.Lower, Date: f.Date, Required: f.Required}
	if f.Phone != nil && *f.Phone != (phoneField{}) {
		c.Phone = (*Phone)(f.Phone) // phone: "" or null says no phone transform, as no phone key does
	}
	if f.Map != nil {
		c.Map = make(map[string]string, len(f.Map))
		for k, v := range f.Map {
			c.Map[string(k)] = string(v)
		}
	}
	return nil
}

// scalar is a YAML scalar read as the text written. YAML alone would read 08001 as the number
// 8001, 017 as octal 15 and 1.50 as 1.5: a postal code or a CRM code silently changed in a
// mapping file would be sent to every user, or never match.
type scalar string

// UnmarshalYAML takes the scalar's source text; a mapping or a sequence is an error.
func (s *scalar) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.StringNode:
		*s = scalar(n.Value)
	case *ast.LiteralNode:
		*s = scalar(n.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		*s = scalar(node.GetToken().Value)
	case *ast.NullNode:
		*s = ""
	case *ast.TagNode:
		return s.UnmarshalYAML(n.Value)
	default:
		return &yaml.SyntaxError{Message: fmt.Sprintf("a %s is not a string", strings.ToLower(node.Type().String())), Token: node.GetToken()}
	}
	return nil
}

// layoutList is a column's date: one layout, or a list of them.
type layoutList []string

// UnmarshalYAML reads a scalar as a list of one, and a sequence of scalars as the list.
func (l *layoutList) UnmarshalYAML(node ast.Node) error {
	if tag, ok := node.(*ast.TagNode); ok {
		return l.UnmarshalYAML(tag.Value)
	}
	seq, ok := node.(*ast.SequenceNode)
	if !ok {
		var s scalar
		if err := s.UnmarshalYAML(node); err != nil {
			return err
		}
		*l = nil // null or "": no date transform, as when the key is absent
		if s != "" {
			*l = layoutList{string(s)}
		}
		return nil
	}
	list := make(layoutList, 0, len(seq.Values))
	for _, v := range seq.Values {
		var s scalar
		if err := s.UnmarshalYAML(v); err != nil {
			return err
		}
		list = append(list, string(s))
	}
	*l = list
	return nil
}

// rawFile is File as YAML holds it (see scalar).
type rawFile struct {
	Key       scalar            `yaml:"key"`
	Columns   map[scalar]Column `yaml:"columns"`
	Constants map[scalar]scalar `yaml:"constants"`
	Custom    []scalar          `yaml:"custom"`
}

// Load reads and checks a mapping file. Its errors name the file, and the line when the YAML
// is at fault; unknown keys are errors that list the valid ones, because a misspelt transform
// ("lowercase: true") silently ignored would send unreshaped values.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping file: %w", err)
	}
	if err := checkKeys(data); err != nil {
		return nil, fmt.Errorf("mapping file %q: %s", path, yamlMessage(err))
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict())
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("mapping file %q is empty", path)
		}
		return nil, fmt.Errorf("mapping file %q: %s", path, yamlMessage(err))
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mapping file %q: holds more than one YAML document", path)
	}
	f := File{Key: string(raw.Key)}
	for _, c := range raw.Custom {
		f.Custom = append(f.Custom, string(c))
	}
	if raw.Columns != nil {
		f.Columns = make(map[string]Column, len(raw.Columns))
		for k, v := range raw.Columns {
			f.Columns[string(k)] = v
		}
	}
	if raw.Constants != nil {
		f.Constants = make(map[string]string, len(raw.Constants))
		for k, v := range raw.Constants {
			f.Constants[string(k)] = string(v)
		}
	}
	if _, err := f.compile(); err != nil {
		return nil, fmt.Errorf("mapping file %q: %w", path, err)
	}
	return &f, nil
}

// yamlMessage makes a YAML error one line: the library's own text quotes the source around the
// error over several lines, and could quote a secret held in the file.
func yamlMessage(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return fmt.Sprintf("line %d: %s", tk.Position.Line, ye.GetMessage())
		}
		return ye.GetMessage()
	}
	return err.Error()
}

// colSpec is a mapping file's column, checked: its target parsed and its transforms compiled.
type colSpec struct {
	tgt      target
	xf       transform
	chk      check
	required bool
}

// constSpec is a checked constant.
type constSpec struct {
	tgt   target
	value string
	chk   check
}

// compiledFile is what a File says, independent of any source's header.
type compiledFile struct {
	columns   map[string]colSpec
	constants []constSpec // sorted by path, so errors and payloads never depend on map order
	keyColumn string      // from key, or from a column mapped to "key"; "" when neither
	keyFrom   string      // how keyColumn was set, for errors
	names     names       // the id and data names targets may use
}

// compile checks everything a mapping file says that does not depend on the source.
func (f *File) compile() (*compiledFile, error) {
	cf := &compiledFile{columns: make(map[string]colSpec, len(f.Columns)), names: newNames()}
	for _, c := range f.Custom {
		if err := cf.names.declare(c); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(f.Columns))
	for name := range f.Columns {
		names = append(names, name)
	}
	sort.Strings(names)

	used := make(map[string]string) // target path → "column X" or "the constant"
	for _, name := range names {
		spec, err := compileColumn(name, f.Columns[name], cf.names)
		if err != nil {
			return nil, err
		}
		if spec.tgt.kind == kindKey {
			if cf.keyColumn != "" {
				return nil, fmt.Errorf("columns %q and %q both map to key", cf.keyColumn, name)
			}
			cf.keyColumn, cf.keyFrom = name, "the mapping file's columns"
		} else if other, ok := used[spec.tgt.path]; ok {
			return nil, fmt.Errorf("columns %q and %q both map to %s", other, name, spec.tgt.path)
		} else {
			used[spec.tgt.path] = name
		}
		cf.columns[name] = spec
	}
	if f.Key != "" {
		if cf.keyColumn != "" && cf.keyColumn != f.Key {
			return nil, fmt.Errorf("key %q and column %q (mapped to key) both set the key column", f.Key, cf.keyColumn)
		}
		cf.keyColumn, cf.keyFrom = f.Key, "the mapping file's key"
	}

	paths := make([]string, 0, len(f.Constants))
	for path := range f.Constants {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		c, err := compileConstant(path, f.Constants[path], cf.names)
		if err != nil {
			return nil, err
		}
		if other, ok := used[path]; ok {
			return nil, fmt.Errorf("column %q and a constant both map to %s", other, path)
		}
		cf.constants = append(cf.constants, c)
	}
	return cf, nil
}

func compileColumn(name string, c Column, n names) (colSpec, error) {
	if strings.TrimSpace(name) == "" {
		return colSpec{}, errors.New("a column has an empty name")
	}
	if c.To == "" {
		return colSpec{}, fmt.Errorf("column %q: no target (to)", name)
	}
	tgt, err := parseTarget(c.To)
	if err != nil {
		return colSpec{}, fmt.Errorf("column %q: target %w", name, err)
	}
	if err := n.check(tgt); err != nil {
		return colSpec{}, fmt.Errorf("column %q: %w", name, err)
	}
	spec := colSpec{tgt: tgt, chk: checkFor(tgt), xf: transform{trim: c.Trim, lower: c.Lower}, required: c.Required}
	if c.Date != nil && c.Phone != nil {
		return colSpec{}, fmt.Errorf("column %q: date and phone cannot both be set", name)
	}
	if c.Date != nil {
		if spec.xf.dates, err = parseDateLayouts(c.Date); err != nil {
			return colSpec{}, fmt.Errorf("column %q: %w", name, err)
		}
	}
	if c.Phone != nil {
		if c.Phone.RegionColumn == name {
			return colSpec{}, fmt.Errorf("column %q: phone: region_column is the phone column itself", name)
		}
		if spec.xf.phone, err = compilePhone(c.Phone); err != nil {
			return colSpec{}, fmt.Errorf("column %q: %w", name, err)
		}
	}
	if c.Map != nil {
		if len(c.Map) == 0 {
			return colSpec{}, fmt.Errorf("column %q: the map lists nothing: every value would be refused", name)
		}
		if err := checkMap(name, c, &spec); err != nil {
			return colSpec{}, err
		}
	}
	return spec, nil
}

// checkMap refuses a map that could only fail at run time: a key the trim or lower transforms
// make unreachable, or a value that the rest of the chain or the target would refuse on every
// record it is used for.
func checkMap(name string, c Column, spec *colSpec) error {
	secret := spec.tgt.secret()
	keys := make([]string, 0, len(c.Map))
	for k := range c.Map {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rest := spec.xf // the transforms after map: date and phone
	rest.trim, rest.lower = false, false
	if rest.phone != nil && rest.phone.regionColumn != "" {
		// A national number's region comes from each row: it cannot be checked here.
		rest.phone = nil
	}
	for _, k := range keys {
		if (c.Lower && k != strings.ToLower(k)) || (c.Trim && k != strings.TrimSpace(k)) {
			return fmt.Errorf("column %q: map key %s can never match: values are trimmed or lowered first",
				name, show(k, secret))
		}
		v, reason := rest.apply(c.Map[k], nil, secret)
		if reason == "" && v != "" {
			reason = checkValue(spec.chk, v, secret)
		}
		if reason != "" {
			return fmt.Errorf("column %q: map value for %s: %s", name, show(k, secret), reason)
		}
	}
	spec.xf.mapping = c.Map
	_, spec.xf.mapEmpty = c.Map[""]
	if !secret {
		spec.xf.mapKeys = listKeys(c.Map)
	}
	return nil
}

func compileConstant(path, value string, n names) (constSpec, error) {
	tgt, err := parseTarget(path)
	if err != nil {
		return constSpec{}, fmt.Errorf("constant %w", err)
	}
	if err := n.check(tgt); err != nil {
		return constSpec{}, fmt.Errorf("constant %w", err)
	}
	switch tgt.kind {
	case kindKey, kindObjectID, kindPassword, kindToken:
		// Each of these names or authenticates one user: the same value for every record would
		// point every update at one user, or share one secret, and a secret has no place in a
		// mapping file anyway.
		return constSpec{}, fmt.Errorf("constant %s: not allowed: %s must come from a column", path, path)
	}
	if strings.TrimSpace(value) == "" {
		return constSpec{}, fmt.Errorf("constant %s: empty value", path)
	}
	c := constSpec{tgt: tgt, value: value, chk: checkFor(tgt)}
	if reason := checkValue(c.chk, value, false); reason != "" {
		return constSpec{}, fmt.Errorf("constant %s: %s", path, reason)
	}
	return c, nil
}
