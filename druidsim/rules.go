package druidsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"druid-migrate/sink"
)

// DRUID's documented formats (SPEC §2.1). The email pattern is DRUID's verbatim: its dots are
// unescaped and match any character, and the simulator must accept exactly what DRUID accepts.
var (
	emailRE = regexp.MustCompile(`^([_A-Za-z0-9-+]+(.[_A-Za-z0-9-]+)*@[A-Za-z0-9-]+(.[A-Za-z0-9]+)*(.[A-Za-z]{2,}))$`)
	phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

const birthdayLayout = "02/01/2006" // dd/MM/yyyy

// confirmable are the ids DRUID makes the user confirm again when their value changes.
var confirmable = [...]string{"email", "phone_number"}

var devices = map[string]bool{"unknown": true, "pc": true, "mobile": true, "tablet": true, "game_console": true, "itv": true}

// maxBody bounds a request body: a user is a few kilobytes at most.
const maxBody = 1 << 20

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func fieldError(field, details string) sink.FieldError {
	return sink.FieldError{Message: field, Details: details}
}

// rateLimited answers 429 with Retry-After, and reports true, when the request is past
// Config.RateLimit.
func (s *Server) rateLimited(w http.ResponseWriter) bool {
	if s.cfg.RateLimit <= 0 {
		return false
	}
	ok, wait := s.limiter.allow(s.now(), s.cfg.RateLimit)
	if ok {
		return false
	}
	after := strconv.Itoa(retryAfter(wait))
	w.Header()["Retry-After"] = []string{after}
	s.replyError(w, http.StatusTooManyRequests, fieldError("rate_limit", "too many requests, retry in "+after+" s"))
	return true
}

// drawFault draws the fault a call suffers: failReset (Config.ResetRate), 500 or 503
// (Config.FailRate), or 0 for none. One draw for both keeps each share exactly as configured.
func (s *Server) drawFault() int {
	if s.resetRate <= 0 && s.failRate <= 0 {
		return 0
	}
	switch p := rand.Float64(); {
	case p < s.resetRate:
		return failReset
	case p < s.resetRate+s.failRate:
		if rand.IntN(2) == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusInternalServerError
	}
	return 0
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	if s.rateLimited(w) {
		return
	}

	// Rule 1: authentication, then the shape of the request.
	token := bearer(r)
	cred := s.credential(token)
	if cred.kind != kindAdmin && cred.kind != kindUser && cred.kind != kindChallenge {
		if cred.kind == kindUsed {
			s.verifierFailures.Add(1)
		}
		s.replyError(w, http.StatusUnauthorized, fieldError("Authorization", "missing, unknown, expired or already used bearer token"))
		return
	}
	var req sink.Request
	errs := make([]sink.FieldError, 0, 4)
	if r.Header.Get("From") == "" {
		errs = append(errs, fieldError("From", "the entry point id is required"))
	}
	if fe, ok := decodeBody(w, r, &req); !ok {
		errs = append(errs, fe)
	} else {
		errs = checkShape(&req, errs)
	}
	if len(errs) > 0 {
		s.replyError(w, http.StatusBadRequest, errs...)
		return
	}

	// Rule 2: who is updated.
	objectID := req.Object.ObjectID
	switch cred.kind {
	case kindUser:
		if objectID != "" && objectID != cred.objectID {
			s.replyError(w, http.StatusForbidden, fieldError("object.objectId", "does not name the user the token belongs to"))
			return
		}
		objectID = cred.objectID
	case kindChallenge:
		if !s.oauth.redeem(token, r.URL.Query().Get("code_verifier"), s.now()) {
			s.verifierFailures.Add(1)
			s.replyError(w, http.StatusUnauthorized, fieldError("code_verifier", "missing, or does not match the token's code_challenge"))
			return
		}
	}
	if objectID == "" {
		s.replyError(w, http.StatusBadRequest, fieldError("object.objectId", "required with an administrative token"))
		return
	}

	// Everything that depends on the request alone is done before the user's lock is taken.
	next := &req.Object
	canonicalize(next)
	next.ObjectID = objectID
	invalid := checkFormats(next)
	missing := s.missingRequired(next)
	fail := s.drawFault()

	code := s.apply(objectID, next, invalid, len(missing) > 0, fail)
	if code == failReset {
		s.log.Debug().Str("object_id", objectID).Int("status_code", StatusReset).Msg("update: connection reset")
		s.resetConn(w)
		return
	}
	s.log.Debug().Str("object_id", objectID).Int("status_code", code).Msg("update")
	switch code {
	case http.StatusOK, http.StatusPartialContent:
		u := *next
		u.Password = ""
		var errs []sink.FieldError
		if code == http.StatusPartialContent {
			errs = missing
		}
		s.reply(w, code, envelope(code, &u, errs...))
	case http.StatusNotModified:
		s.reply(w, code, nil)
	case http.StatusNotFound:
		s.replyError(w, code, fieldError("object.objectId", "user not found"))
	case http.StatusRequestedRangeNotSatisfiable:
		s.replyError(w, code, invalid...)
	case http.StatusForbidden:
		s.replyError(w, code, fieldError("user", "the user is blocked"))
	case http.StatusPreconditionRequired:
		s.replyError(w, code, fieldError("mfa", "the user must configure MFA or send an MFA code"))
	default: // a simulated failure
		s.replyError(w, code, fieldError("server", "simulated failure (fail rate)"))
	}
}

// failReset is the fail of apply that resets the connection (Config.ResetRate); it is no HTTP
// status, and apply answers it like the others: counted as a call, nothing applied.
const failReset = -1

// apply runs rules 2 to 8 under the user's lock and answers the status code. next is the
// normalized replacement; once applied (200, 206) it is the stored user and must not be
// modified. invalid (rule 3), partial (rule 7) and fail (a simulated failure, failReset, or 0)
// depend on the request alone and were decided before the lock was taken.
func (s *Server) apply(objectID string, next *sink.User, invalid []sink.FieldError, partial bool, fail int) int {
	sh := s.shardOf(objectID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a, ok := sh.users[objectID]
	if !ok {
		if !s.cfg.Autocreate {
			return http.StatusNotFound
		}
		a = &account{user: &sink.User{ObjectType: sink.ObjectTypeUser, ObjectID: objectID}}
		sh.users[objectID] = a
	}
	a.calls++
	switch {
	case fail != 0:
		return fail
	case len(invalid) > 0:
		return http.StatusRequestedRangeNotSatisfiable
	case a.has(FlagBlocked):
		return http.StatusForbidden
	case a.has(FlagMFA):
		return http.StatusPreconditionRequired
	}

	// Rule 6: a confirmed id keeps its value in force; the new one waits for confirmation.
	var pending map[string]string
	for _, name := range confirmable {
		old, had := a.user.IDs[name]
		nu, has := next.IDs[name]
		if had && has && isTrue(old.Confirmed) && nu.Value != old.Value {
			next.IDs[name] = old
			if pending == nil {
				pending = make(map[string]string, 1)
			}
			pending[name] = nu.Value
		}
	}
	// Rule 5, on the state the update would produce.
	if sameUser(a.user, next) && sameStrings(a.pending, pending) {
		return http.StatusNotModified
	}
	a.user, a.pending = next, pending
	a.updates++
	if partial {
		return http.StatusPartialContent
	}
	return http.StatusOK
}

// decodeBody reads the JSON body into req. On failure it returns the field error to report:
// the field whose value has the wrong type when JSON can say, the body otherwise.
func decodeBody(w http.ResponseWriter, r *http.Request, req *sink.Request) (sink.FieldError, bool) {
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // a rare huge body must not stay pinned in the pool
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldError("body", "larger than 1 MiB"), false
		}
		return fieldError("body", "unreadable: "+err.Error()), false
	}
	// Both decoders copy every string they keep, so the buffer can go back to the pool.
	if decodeFast(buf.Bytes(), req) {
		return sink.FieldError{}, true
	}
	*req = sink.Request{}
	if err := json.Unmarshal(buf.Bytes(), req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return fieldError(typeErr.Field, "expected "+typeErr.Type.String()+", got JSON "+typeErr.Value), false
		}
		return fieldError("body", "not a JSON object: "+err.Error()), false
	}
	return sink.FieldError{}, true
}

// checkShape appends an error for each envelope field DRUID requires and the request gets wrong.
func checkShape(req *sink.Request, errs []sink.FieldError) []sink.FieldError {
	if req.Actor.ObjectType != sink.ObjectTypeApplication {
		errs = append(errs, fieldError("actor.objectType", `must be "application"`))
	}
	if req.Actor.ID == "" {
		errs = append(errs, fieldError("actor.id", "the app id is required"))
	}
	if req.Verb != "update" {
		errs = append(errs, fieldError("verb", `must be "update"`))
	}
	if req.Object.ObjectType != sink.ObjectTypeUser {
		errs = append(errs, fieldError("object.objectType", `must be "user"`))
	}
	if req.Source.ObjectType != sink.ObjectTypeDevice {
		errs = append(errs, fieldError("source.objectType", `must be "device"`))
	}
	if !devices[req.Source.ID] {
		errs = append(errs, fieldError("source.id", "must be one of unknown, pc, mobile, tablet, game_console, itv"))
	}
	return errs
}

// checkFormats is rule 3: one error per field that breaks DRUID's documented format, the
// message being the field id.
func checkFormats(u *sink.User) []sink.FieldError {
	var errs []sink.FieldError
	if id, ok := u.IDs["email"]; ok && !emailRE.MatchString(id.Value) {
		errs = append(errs, fieldError("email", "not a valid email address"))
	}
	if id, ok := u.IDs["phone_number"]; ok && !phoneRE.MatchString(id.Value) {
		errs = append(errs, fieldError("phone_number", "not +<country code><number>, 7 to 15 digits"))
	}
	if d, ok := u.Datas["birthday"]; ok && !validDate(d.Value) {
		errs = append(errs, fieldError("birthday", "not a real date written dd/MM/yyyy"))
	}
	return errs
}

func validDate(v string) bool {
	if len(v) != len(birthdayLayout) {
		return false
	}
	t, err := time.Parse(birthdayLayout, v) // rejects 31/04 and 29/02 of common years
	return err == nil && t.Year() >= 1
}

func (s *Server) missingRequired(u *sink.User) []sink.FieldError {
	var errs []sink.FieldError
	for _, name := range s.cfg.Required {
		if d, ok := u.Datas[name]; !ok || strings.TrimSpace(d.Value) == "" {
			errs = append(errs, fieldError(name, "required data is missing"))
		}
	}
	return errs
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, objectID string) {
	cred := s.credential(bearer(r))
	if cred.kind != kindAdmin && cred.kind != kindClient {
		s.replyError(w, http.StatusUnauthorized, fieldError("Authorization", "missing, unknown or expired bearer token"))
		return
	}
	if r.Header.Get("From") == "" {
		s.replyError(w, http.StatusBadRequest, fieldError("From", "the entry point id is required"))
		return
	}
	sh := s.shardOf(objectID)
	sh.mu.Lock()
	a, ok := sh.users[objectID]
	var u sink.User
	if ok {
		u = *a.user // immutable once stored: the copy is encoded outside the lock
	}
	sh.mu.Unlock()
	if !ok {
		s.replyError(w, http.StatusNotFound, fieldError("objectId", "user not found"))
		return
	}
	u.Password = ""
	s.reply(w, http.StatusOK, envelope(http.StatusOK, &u))
}

// normalize returns the user as the simulator stores it, sharing nothing with in.
func normalize(in *sink.User) *sink.User {
	u := clone(in)
	canonicalize(u)
	return u
}

// canonicalize puts u in the form the simulator stores, in place: canonical object types,
// collections sorted by type (DRUID keeps one address per type, so order carries no meaning)
// and absent rather than empty. A decoded request is canonicalized where it lies: copying it
// would cost a map per collection per update.
func canonicalize(u *sink.User) {
	u.ObjectType = sink.ObjectTypeUser
	if len(u.IDs) == 0 {
		u.IDs = nil
	}
	for k, v := range u.IDs {
		if v.ObjectType != sink.ObjectTypeUserID {
			v.ObjectType = sink.ObjectTypeUserID
			u.IDs[k] = v
		}
	}
	if len(u.Datas) == 0 {
		u.Datas = nil
	}
	for k, v := range u.Datas {
		if v.ObjectType != sink.ObjectTypeUserData {
			v.ObjectType = sink.ObjectTypeUserData
			u.Datas[k] = v
		}
	}
	if a := u.Addresses; a != nil {
		if len(a.Items) == 0 {
			u.Addresses = nil
		} else {
			for i := range a.Items {
				a.Items[i].ObjectType = sink.ObjectTypeAddress
			}
			slices.SortStableFunc(a.Items, func(x, y sink.Address) int { return cmp.Compare(x.Type, y.Type) })
			a.ObjectType, a.TotalItems = sink.ObjectTypeAddresses, len(a.Items)
		}
	}
	if a := u.Assertions; a != nil {
		if len(a.Items) == 0 {
			u.Assertions = nil
		} else {
			for i := range a.Items {
				a.Items[i].ObjectType = sink.ObjectTypeAssertion
			}
			slices.SortStableFunc(a.Items, func(x, y sink.Assertion) int { return cmp.Compare(x.Type, y.Type) })
			a.ObjectType, a.TotalItems = sink.ObjectTypeAssertions, len(a.Items)
		}
	}
}

// clone is a deep copy of u: stored users go out to callers free to modify them.
func clone(in *sink.User) *sink.User {
	u := *in
	if in.IDs != nil {
		u.IDs = make(map[string]sink.ID, len(in.IDs))
		for k, v := range in.IDs {
			if v.Confirmed != nil {
				v.Confirmed = ptrTo(*v.Confirmed)
			}
			u.IDs[k] = v
		}
	}
	if in.Datas != nil {
		u.Datas = make(map[string]sink.Data, len(in.Datas))
		for k, v := range in.Datas {
			u.Datas[k] = v
		}
	}
	if in.Addresses != nil {
		a := *in.Addresses
		a.Items = slices.Clone(a.Items)
		u.Addresses = &a
	}
	if in.Assertions != nil {
		a := *in.Assertions
		a.Items = slices.Clone(a.Items)
		u.Assertions = &a
	}
	return &u
}

func ptrTo[T any](v T) *T { return &v }

func isTrue(b *bool) bool { return b != nil && *b }

// sameUser compares two normalized users on everything an update replaces, the password
// included. An unset confirmed flag equals false.
func sameUser(a, b *sink.User) bool {
	if a.Password != b.Password || len(a.IDs) != len(b.IDs) || len(a.Datas) != len(b.Datas) {
		return false
	}
	for k, x := range a.IDs {
		y, ok := b.IDs[k]
		if !ok || x.Value != y.Value || isTrue(x.Confirmed) != isTrue(y.Confirmed) {
			return false
		}
	}
	for k, x := range a.Datas {
		if y, ok := b.Datas[k]; !ok || x.Value != y.Value {
			return false
		}
	}
	var aa, ba []sink.Address
	if a.Addresses != nil {
		aa = a.Addresses.Items
	}
	if b.Addresses != nil {
		ba = b.Addresses.Items
	}
	// Items are normalized, object types included, so plain struct equality is exact.
	if !slices.Equal(aa, ba) {
		return false
	}
	var as, bs []sink.Assertion
	if a.Assertions != nil {
		as = a.Assertions.Items
	}
	if b.Assertions != nil {
		bs = b.Assertions.Items
	}
	return slices.Equal(as, bs)
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
