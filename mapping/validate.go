package mapping

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is what a payload path feeds.
type kind uint8

const (
	kindKey kind = iota + 1
	kindObjectID
	kindPassword
	kindToken
	kindLocale
	kindDevice
	kindID
	kindIDConfirmed
	kindData
	kindAddress
	kindAssertion
)

// addressField is one of the Activity-Streams address keys an addresses item carries.
type addressField uint8

const (
	streetAddress addressField = iota + 1
	locality
	region
	postalCode
	country
)

// plainTargets are the paths with no name in them.
var plainTargets = map[string]kind{
	"key": kindKey, "objectId": kindObjectID, "password": kindPassword,
	"token": kindToken, "locale": kindLocale, "device": kindDevice,
}

var addressFields = map[string]addressField{
	"streetAddress": streetAddress,
	"locality":      locality,
	"region":        region,
	"postalCode":    postalCode,
	"country":       country,
}

// target is a parsed payload path (SPEC §3): what a column or a constant feeds.
type target struct {
	path  string // as written, e.g. "addresses.home.locality"; also the key of conflict checks
	kind  kind
	name  string       // the id or data name, the address or assertion type
	field addressField // for kindAddress
}

// secret reports whether the target's values must never be shown: not in an error, not in a log.
func (t target) secret() bool { return t.kind == kindPassword || t.kind == kindToken }

// errNotAPath lists the paths a target may take, so a typo in a mapping file is easy to fix.
var errNotAPath = errors.New("not a payload path (one of key, objectId, password, token, locale, device, " +
	"ids.<name>, ids.<name>.confirmed, datas.<name>, addresses.<type>.<field>, assertions.<type>)")

// parseTarget parses a payload path. Names and types are restricted to letters, digits, '_' and
// '-' because the dot separates the parts: "ids.a.b" could not be told from a confirmed flag.
func parseTarget(path string) (target, error) {
	t := target{path: path}
	if k, ok := plainTargets[path]; ok {
		t.kind = k
		return t, nil
	}
	head, rest, _ := strings.Cut(path, ".")
	parts := strings.Split(rest, ".")
	for _, p := range parts {
		if !validName(p) {
			return target{}, fmt.Errorf("%q: %w", path, errNotAPath)
		}
	}
	switch {
	case head == "ids" && len(parts) == 1:
		t.kind, t.name = kindID, parts[0]
	case head == "ids" && len(parts) == 2 && parts[1] == "confirmed":
		t.kind, t.name = kindIDConfirmed, parts[0]
	case head == "datas" && len(parts) == 1:
		t.kind, t.name = kindData, parts[0]
	case head == "assertions" && len(parts) == 1:
		t.kind, t.name = kindAssertion, parts[0]
	case head == "addresses" && len(parts) == 2:
		f, ok := addressFields[parts[1]]
		if !ok {
			return target{}, fmt.Errorf("%q: not a payload path: an address field is one of "+
				"streetAddress, locality, region, postalCode, country", path)
		}
		t.kind, t.name, t.field = kindAddress, parts[0], f
	default:
		return target{}, fmt.Errorf("%q: %w", path, errNotAPath)
	}
	return t, nil
}

// validName reports whether s can name an id, a data, an address type or an assertion type.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// check is the validation a target's value goes through after its transforms.
type check uint8

const (
	checkNone check = iota
	checkEmail
	checkPhone
	checkBirthday
	checkBool
	checkDevice
	checkLocale
	checkToken
)

// checkFor picks the validation of a target: DRUID's documented formats (SPEC §2.1) and what a
// header or a boolean field can hold.
func checkFor(t target) check {
	switch t.kind {
	case kindID:
		switch t.name {
		case "email":
			return checkEmail
		case "phone_number":
			return checkPhone
		}
	case kindData:
		if t.name == "birthday" {
			return checkBirthday
		}
	case kindIDConfirmed, kindAssertion:
		return checkBool
	case kindDevice:
		return checkDevice
	case kindLocale:
		return checkLocale
	case kindToken:
		return checkToken
	}
	return checkNone
}

// emailPattern is DRUID's documented email pattern, verbatim (SPEC §2.1). Its unescaped dots
// match any character: that is DRUID's rule, and a stricter one here would reject users DRUID
// accepts.
const emailPattern = `^([_A-Za-z0-9-+]+(.[_A-Za-z0-9-]+)*@[A-Za-z0-9-]+(.[A-Za-z0-9]+)*(.[A-Za-z]{2,}))$`

// isEmail reports whether s matches emailPattern. It runs on every record, where the regexp
// package would be a large part of Build's cost, so it simulates the pattern's position
// automaton (Glushkov's construction) by hand: a set of bits, one per symbol of the pattern,
// that one table lookup per character advances. FuzzEmailMatchesSpecRegex holds it equal to
// the regexp.
//
// The pattern, with its symbols numbered (the dots are any character but a newline):
//
//	^ [_A-Za-z0-9-+]+ ( . [_A-Za-z0-9-]+ )* @ [A-Za-z0-9-]+ ( . [A-Za-z0-9]+ )* ( . [A-Za-z]{2,} ) $
//	  1                 2 3                 4 5               6 7                 8 9,10
//
// where [A-Za-z]{2,} is read as 9 followed by one or more of 10. The set starts at a position 0
// before 1, and s matches when, after its last character, the set holds 10.
func isEmail(s string) bool {
	state := uint16(1 << emStart)
	for i := 0; i < len(s); {
		c, size := s[i], 1
		var class uint8
		if c < utf8.RuneSelf {
			class = emailClass[c]
		} else {
			// Each rune is one character to the pattern's dots, an invalid byte included (the
			// regexp package reads it as U+FFFD), and none is in the pattern's classes.
			_, size = utf8.DecodeRuneInString(s[i:])
			class = emOther
		}
		state = emailFollow[state] & emailAccepts[class]
		if state == 0 {
			return false
		}
		i += size
	}
	return state&(1<<emE2) != 0
}

// The positions of emailPattern's symbols, and a start position before the first.
const (
	emStart = iota
	emA     // [_A-Za-z0-9-+]
	emDot1  // .
	emB     // [_A-Za-z0-9-]
	emAt    // @
	emC     // [A-Za-z0-9-]
	emDot2  // .
	emD     // [A-Za-z0-9]
	emDot3  // .
	emE1    // [A-Za-z]
	emE2    // [A-Za-z], repeated; the only final position
	emPositions
)

// emailFollows lists, for each position, the positions that may come next in the pattern.
var emailFollows = [emPositions][]int{
	emStart: {emA},
	emA:     {emA, emDot1, emAt},
	emDot1:  {emB},
	emB:     {emB, emDot1, emAt},
	emAt:    {emC},
	emC:     {emC, emDot2, emDot3},
	emDot2:  {emD},
	emD:     {emD, emDot2, emDot3},
	emDot3:  {emE1},
	emE1:    {emE2},
	emE2:    {emE2},
}

// The classes of characters emailPattern tells apart.
const (
	emOther   = iota // any other character: only the dots take it
	emNewline        // not even a dot takes it
	emLetter
	emDigit
	emUnderscore
	emHyphen
	emPlus
	emAtSign
	emClasses
)

// emailClass is the class of each ASCII character.
var emailClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			t[c] = emLetter
		case '0' <= c && c <= '9':
			t[c] = emDigit
		case c == '_':
			t[c] = emUnderscore
		case c == '-':
			t[c] = emHyphen
		case c == '+':
			t[c] = emPlus
		case c == '@':
			t[c] = emAtSign
		case c == '\n':
			t[c] = emNewline
		default:
			t[c] = emOther
		}
	}
	return t
}()

const emDots = 1<<emDot1 | 1<<emDot2 | 1<<emDot3

// emailAccepts is, for each class, the set of positions whose symbol takes its characters.
var emailAccepts = [emClasses]uint16{
	emOther:      emDots,
	emNewline:    0,
	emLetter:     emDots | 1<<emA | 1<<emB | 1<<emC | 1<<emD | 1<<emE1 | 1<<emE2,
	emDigit:      emDots | 1<<emA | 1<<emB | 1<<emC | 1<<emD,
	emUnderscore: emDots | 1<<emA | 1<<emB,
	emHyphen:     emDots | 1<<emA | 1<<emB | 1<<emC,
	emPlus:       emDots | 1<<emA,
	emAtSign:     emDots | 1<<emAt,
}

// emailFollow is, for each set of positions, the union of the positions that may follow them.
var emailFollow = func() (t [1 << emPositions]uint16) {
	for set := range t {
		for p, next := range emailFollows {
			if set&(1<<p) == 0 {
				continue
			}
			for _, q := range next {
				t[set] |= 1 << q
			}
		}
	}
	return t
}()

// phonePattern is DRUID's phone_number format; isPhoneNumber implements it by hand because it
// runs on every record and a byte loop is several times faster than the regexp.
const phonePattern = `^\+[1-9][0-9]{6,14}$`

func isPhoneNumber(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// boolSpellings are the boolean spellings CRM exports use (SPEC §3), read in any case.
var boolSpellings = [...]struct {
	text  string
	value bool
}{{"1", true}, {"0", false}, {"no", false}, {"yes", true}, {"true", true}, {"false", false}}

// parseBool reads one of boolSpellings.
func parseBool(s string) (value, ok bool) {
	s = strings.TrimSpace(s)
	for _, b := range boolSpellings {
		// The length first: EqualFold alone would take a Unicode fold such as "yeſ" for "yes".
		if len(s) == len(b.text) && strings.EqualFold(s, b.text) {
			return b.value, true
		}
	}
	return false, false
}

// validDevice reports whether s is one of DRUID's source.id values (SPEC §2.1).
func validDevice(s string) bool {
	switch s {
	case "unknown", "pc", "mobile", "tablet", "game_console", "itv":
		return true
	}
	return false
}

const devices = "unknown, pc, mobile, tablet, game_console, itv"

// validLocale reports whether s can go in an Accept-Language header as it is. It is strict on
// purpose: a value with spaces, commas or line breaks would make a malformed header.
func validLocale(s string) bool {
	if len(s) > 35 {
		return false
	}
	return validName(s)
}

// validToken reports whether s can follow "Bearer " in an Authorization header.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ddmmyyyy is DRUID's date format for datas (SPEC §2.1).
var ddmmyyyy = mustDateLayout("DD/MM/YYYY")

// checkValue validates a value (never empty) for its target and returns why it is not valid,
// or "". The reason shows the value unless the target is secret. Free text is searched for
// control characters, and so is an email, whose pattern lets any character but a line feed
// through its dots; the other formats admit none, and a boolean is sent as true or false.
func checkValue(c check, v string, secret bool) string {
	switch c {
	case checkNone:
		return checkControl(v, secret)
	case checkEmail:
		if !isEmail(v) {
			return show(v, secret) + " is not an email address"
		}
		return checkControl(v, secret)
	case checkPhone:
		if !isPhoneNumber(v) {
			return show(v, secret) + " is not a phone number +<country code><number> (" + phonePattern + ")"
		}
	case checkBirthday:
		if _, ok := ddmmyyyy.parse(v); !ok {
			return show(v, secret) + " is not a date dd/MM/yyyy"
		}
	case checkBool:
		if _, ok := parseBool(v); !ok {
			return show(v, secret) + " is not a boolean (true, false, yes, no, 1 or 0)"
		}
	case checkDevice:
		if !validDevice(v) {
			return show(v, secret) + " is not a device (" + devices + ")"
		}
	case checkLocale:
		if !validLocale(v) {
			return show(v, secret) + " is not a language tag such as es-ES"
		}
	case checkToken:
		if !validToken(v) {
			return "the token holds spaces, control or non-ASCII characters"
		}
	}
	return ""
}

// FindControl returns the byte offset of the first control character of s that a value must
// not hold (SPEC §3), and that character; or -1 when there is none. The characters are the C0
// controls but TAB (line breaks included: DRUID's fields are single-line), DEL, the C1 controls
// U+0080 to U+009F, and the line and paragraph separators U+2028 and U+2029. A NUL in a name
// is corruption, not data; the others break the log lines, CSV files and screens the values
// go to. s is taken to be UTF-8: the sources refuse what is not.
//
// It runs on every value of every record, so printable ASCII, nearly every byte of a value,
// costs one comparison.
func FindControl(s string) (int, rune) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ' ' <= c && c <= '~' {
			continue
		}
		switch {
		case c == '\t':
		case c < utf8.RuneSelf: // the other C0 controls, and DEL
			return i, rune(c)
		case c == 0xC2 && i+1 < len(s) && 0x80 <= s[i+1] && s[i+1] <= 0x9F: // C1: C2 80 to C2 9F
			return i, rune(s[i+1])
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			return i, 0x2000 | rune(s[i+2]&0x3F) // U+2028 and U+2029: E2 80 A8 and E2 80 A9
		}
	}
	return -1, 0
}

// checkControl returns why v must not be sent when it holds a control character, or "". The
// value is quoted with its controls escaped, so that the reason stays one line, unless it is a
// secret.
func checkControl(v string, secret bool) string {
	i, r := FindControl(v)
	if i < 0 {
		return ""
	}
	if secret {
		return "the value holds a control character"
	}
	return fmt.Sprintf("%s holds the control character %U", show(v, false), r)
}

// maxShown bounds the value an error quotes: a reason is stored in the checkpoint for every
// invalid user, and a stray multi-kilobyte cell should not be copied there whole.
const maxShown = 64

// show quotes a value for an error message, or hides it when it is a secret.
func show(v string, secret bool) string {
	if secret {
		return "the value"
	}
	if len(v) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + "…"
	}
	return strconv.Quote(v)
}

// transform is a column's reshaping of its values, applied in the order SPEC §3 gives:
// trim, lower, map, date, phone.
type transform struct {
	trim, lower bool
	mapping     map[string]string
	mapEmpty    bool        // the map lists "": an empty cell is mapped rather than left out
	mapKeys     string      // the listed values, for errors
	dates       dateLayouts // none when there is no date transform
	phone       *phoneRule  // nil when there is no phone transform
}

// apply reshapes one value of row (the record's values; nil when there is no record). It
// returns "" (and no reason) when the value is no value.
func (x *transform) apply(v string, row []string, secret bool) (out, reason string) {
	if x.trim {
		v = strings.TrimSpace(v)
	}
	if x.lower {
		v = strings.ToLower(v)
	}
	if x.mapping != nil {
		mapped, ok := x.mapping[v]
		if !ok {
			if secret {
				return "", "the value is not listed in the column's map"
			}
			return "", show(v, false) + " is not listed in the column's map (" + x.mapKeys + ")"
		}
		v = mapped
	}
	if v == "" {
		return "", ""
	}
	if len(x.dates) > 0 {
		if v, reason = x.dates.parse(v, secret); reason != "" {
			return "", reason
		}
	}
	if x.phone != nil {
		if v, reason = x.phone.format(v, row, secret); reason != "" {
			return "", reason
		}
	}
	return v, ""
}

// maxListed bounds the map values an error lists.
const maxListed = 8

// listKeys lists a map's keys, sorted, for an error message.
func listKeys(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	if len(keys) > maxListed {
		keys = append(keys[:maxListed], "…")
	}
	return strings.Join(keys, ", ")
}
