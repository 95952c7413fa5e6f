package druidsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"druid-migrate/sink"
)

// bulkConfig is a simulator with the client credentials, processing batches after a second of
// its clock.
func bulkConfig() Config {
	return Config{ClientID: clientID, ClientSecret: secret, BulkDelay: time.Second}
}

// clientToken asks the simulator for the app's client token.
func (s *sim) clientToken(t *testing.T) string {
	t.Helper()
	code, body := s.token(t, clientForm(GrantClientCredentials))
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("client token: %d %v", code, body)
	}
	return tok
}

// line is the bulk line of a partial user, as sink writes it, with the fields empty names
// sent as null.
func line(u sink.User, empty ...string) string {
	return string(sink.AppendBulkLine(nil, &sink.Payload{ObjectID: u.ObjectID, Request: sink.Request{Object: u}, Empty: empty}))
}

// named is the line that sets name of objectID and nothing else.
func named(objectID, name string) string {
	return line(sink.User{ObjectID: objectID, Datas: map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: name}}})
}

// upload sends lines as one batch with tok and returns the answer; bulkID is the batch's id
// when DRUID took it.
func (s *sim) upload(t *testing.T, tok string, lines ...string) (a answer, bulkID string) {
	t.Helper()
	a = s.do(t, call{method: http.MethodPatch, path: BulkPath, token: tok, body: strings.Join(lines, "\n"),
		header: http.Header{"Content-Type": {sink.BulkContentType}}})
	if a.code == http.StatusAccepted {
		var env sink.BulkUploadResponse
		if err := json.Unmarshal(a.raw, &env); err != nil || env.Content.BulkID == "" {
			t.Fatalf("202 without a bulkId: %s", a.raw)
		}
		bulkID = env.Content.BulkID
	}
	return a, bulkID
}

// mustUpload uploads lines and requires DRUID to take them.
func (s *sim) mustUpload(t *testing.T, tok string, lines ...string) string {
	t.Helper()
	a, id := s.upload(t, tok, lines...)
	if a.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", a.code, a.raw)
	}
	return id
}

// status returns the batch's status, failing the test unless DRUID answers 200.
func (s *sim) status(t *testing.T, tok, bulkID string) sink.BulkState {
	t.Helper()
	a := s.do(t, call{method: http.MethodGet, path: BulkPath + "/" + bulkID, token: tok})
	if a.code != http.StatusOK {
		t.Fatalf("status: %d %s", a.code, a.raw)
	}
	var env sink.BulkStatusResponse
	if err := json.Unmarshal(a.raw, &env); err != nil || env.Content.BulkID != bulkID {
		t.Fatalf("status answer %s", a.raw)
	}
	return env.Content.Status
}

// results asks for a page of the batch's results with query.
func (s *sim) results(t *testing.T, tok, bulkID string, query url.Values) (answer, sink.BulkResultsResponse) {
	t.Helper()
	a := s.do(t, call{method: http.MethodGet, path: BulkPath + "/" + bulkID + "/results?" + query.Encode(), token: tok})
	var page sink.BulkResultsResponse
	if a.code == http.StatusOK {
		if err := json.Unmarshal(a.raw, &page); err != nil {
			t.Fatalf("results page %s", a.raw)
		}
	}
	return a, page
}

// failures returns every result of a completed batch, failed only, by pages of limit.
func (s *sim) failures(t *testing.T, tok, bulkID string, limit int) []sink.BulkFailure {
	t.Helper()
	var all []sink.BulkFailure
	q := url.Values{"failedOnly": {"true"}, "limit": {strconv.Itoa(limit)}}
	for range 100 {
		a, page := s.results(t, tok, bulkID, q)
		if a.code != http.StatusOK {
			t.Fatalf("results: %d %s", a.code, a.raw)
		}
		all = append(all, page.Content.Items...)
		if page.Content.LastID == "" {
			return all
		}
		q.Set("last", page.Content.LastID)
	}
	t.Fatal("the results never end")
	return nil
}

func TestBulkTakesOnlyTheClientToken(t *testing.T) {
	t.Parallel()
	s := newSim(t, bulkConfig(), seeded("u1"))
	tok := s.clientToken(t)
	id := s.mustUpload(t, tok, named("u1", "Eva"))
	for _, c := range []call{
		{method: http.MethodPatch, path: BulkPath, body: named("u1", "Eva")},
		{method: http.MethodGet, path: BulkPath + "/" + id},
		{method: http.MethodGet, path: BulkPath + "/" + id + "/results"},
	} {
		for _, token := range []string{"", adminToken, "nope"} {
			c.token = token
			c.header = http.Header{"Content-Type": {sink.BulkContentType}}
			if a := s.do(t, c); a.code != http.StatusUnauthorized || fieldNames(a.env.Result.Errors)[0] != "Authorization" {
				t.Errorf("%s %s with %q: %d %s, want 401 naming Authorization", c.method, c.path, token, a.code, a.raw)
			}
		}
		c.token, c.noFrom = tok, true
		if a := s.do(t, c); a.code != http.StatusBadRequest || fieldNames(a.env.Result.Errors)[0] != "From" {
			t.Errorf("%s %s without From: %d %s, want 400 naming From", c.method, c.path, a.code, a.raw)
		}
	}
	if a := s.do(t, call{method: http.MethodPost, path: BulkPath, token: tok}); a.code != http.StatusMethodNotAllowed {
		t.Errorf("POST of a batch: %d, want 405", a.code)
	}
	if a := s.do(t, call{method: http.MethodPatch, path: BulkPath + "/" + id, token: tok}); a.code != http.StatusMethodNotAllowed {
		t.Errorf("PATCH of a status: %d, want 405", a.code)
	}
	if a := s.do(t, call{method: http.MethodGet, path: BulkPath + "/" + id + "/more", token: tok}); a.code != http.StatusNotFound {
		t.Errorf("a path under a batch: %d, want 404", a.code)
	}
	if a := s.do(t, call{method: http.MethodPatch, path: BulkPath, token: tok, body: named("u1", "Eva")}); a.code != http.StatusUnsupportedMediaType {
		t.Errorf("a batch sent as application/json: %d %s, want 415", a.code, a.raw)
	}
	if got := s.Stats().BulkUploads; got != 1 {
		t.Errorf("BulkUploads %d, want the one batch taken", got)
	}
}

func TestBulkUploadLimits(t *testing.T) {
	t.Parallel()
	s := newSim(t, bulkConfig())
	tok := s.clientToken(t)
	many := func(n int) []string {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = named("u"+strconv.Itoa(i), "Eva")
		}
		return lines
	}
	if a, _ := s.upload(t, tok, many(sink.BulkMaxLines+1)...); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("1001 lines: %d %s, want 413", a.code, a.raw)
	}
	big := named("u1", strings.Repeat("x", sink.BulkMaxBytes))
	if a, _ := s.upload(t, tok, big); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("more than 5 MiB: %d, want 413", a.code)
	}
	if a, _ := s.upload(t, tok, "", " ", ""); a.code != http.StatusBadRequest {
		t.Errorf("no line: %d %s, want 400", a.code, a.raw)
	}
	if a, _ := s.upload(t, tok, append(many(sink.BulkMaxLines), "", "")...); a.code != http.StatusAccepted {
		t.Errorf("1000 lines and blank ones: %d %s, want 202", a.code, a.raw)
	}
	if got := s.Stats(); got.BulkUploads != 1 || got.Requests[http.StatusRequestEntityTooLarge] != 2 {
		t.Errorf("stats %+v, want one batch taken and two refused 413", got)
	}
}

// TestBulkIsProcessedAfterItsDelay follows a batch through its states on the simulator's clock:
// nothing of it is applied before it completes, everything after.
func TestBulkIsProcessedAfterItsDelay(t *testing.T) {
	t.Parallel()
	s := newSim(t, bulkConfig(), seeded("u1"))
	tok := s.clientToken(t)
	id := s.mustUpload(t, tok, named("u1", "Eva"))

	if got := s.status(t, tok, id); got != sink.BulkReceived {
		t.Fatalf("at upload: %s, want received", got)
	}
	if a, _ := s.results(t, tok, id, nil); a.code != http.StatusConflict {
		t.Errorf("results before completion: %d %s, want 409", a.code, a.raw)
	}
	s.advance(500 * time.Millisecond)
	if got := s.status(t, tok, id); got != sink.BulkProcessing {
		t.Fatalf("halfway: %s, want processing", got)
	}
	if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "Ana" || u.Updates != 0 || u.Calls != 0 {
		t.Fatalf("applied before its time: %+v", u)
	}
	s.advance(500 * time.Millisecond)
	// A look at the users is enough for the batch to be processed: nothing can see it pending
	// past its time.
	if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "Eva" || u.Updates != 1 || u.Calls != 1 {
		t.Fatalf("after the delay: %+v, want the name applied, one update and one call", u)
	}
	if got := s.status(t, tok, id); got != sink.BulkCompleted {
		t.Fatalf("after the delay: %s, want completed", got)
	}
	if got := s.failures(t, tok, id, 10); len(got) != 0 {
		t.Errorf("failures %v, want none", got)
	}
	if st := s.Stats(); st.BulkUploads != 1 || st.BulkCompleted != 1 || st.BulkLines != 1 || st.BulkLinesFailed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestBulkWithoutDelayIsProcessedAtUpload(t *testing.T) {
	t.Parallel()
	cfg := bulkConfig()
	cfg.BulkDelay = -1
	s := newSim(t, cfg, seeded("u1"))
	tok := s.clientToken(t)
	id := s.mustUpload(t, tok, named("u1", "Eva"))
	if got := s.status(t, tok, id); got != sink.BulkCompleted {
		t.Fatalf("%s, want completed at once", got)
	}
	if got := s.mustUser(t, "u1").User.Datas["name"].Value; got != "Eva" {
		t.Fatalf("name %q", got)
	}
}

// TestBulkLinesFollowTheUpdateRules checks each line is judged as an update of its user would
// be, and applied whole or not at all.
func TestBulkLinesFollowTheUpdateRules(t *testing.T) {
	t.Parallel()
	blocked, mfa := seeded("blocked"), seeded("mfa")
	blocked.Flags, mfa.Flags = []string{FlagBlocked}, []string{FlagMFA}
	s := newSim(t, bulkConfig(), seeded("ok"), seeded("bad"), blocked, mfa)
	tok := s.clientToken(t)
	badFormats := sink.User{ObjectID: "bad",
		IDs: map[string]sink.ID{
			"email":        {ObjectType: sink.ObjectTypeUserID, Value: "not-an-email"},
			"phone_number": {ObjectType: sink.ObjectTypeUserID, Value: "600"},
		},
		Datas: map[string]sink.Data{
			"name":     {ObjectType: sink.ObjectTypeUserData, Value: "Changed"}, // valid, yet not applied
			"birthday": {ObjectType: sink.ObjectTypeUserData, Value: "31/02/1990"},
		},
	}
	lines := []string{
		named("ok", "Eva"),
		line(badFormats),
		named("nobody", "Eva"),
		named("blocked", "Eva"),
		named("mfa", "Eva"),
		`{"object_id":`,
		`{"datas":{"name":{"objectType":"user_data","value":"Eva"}}}`,
		`{"object_id":"ok","password":"x"}`,
		`{"object_id":"ok","datas":{"name":{"value":7}}}`,
		`["ok"]`,
	}
	id := s.mustUpload(t, tok, lines...)
	s.advance(time.Second)

	type result struct {
		objectID string
		code     int
		fields   string
	}
	var got []result
	for _, f := range s.failures(t, tok, id, 3) {
		got = append(got, result{f.ObjectID, f.Status, strings.Join(fieldNames(f.Errors), ",")})
	}
	want := []result{
		{"bad", http.StatusRequestedRangeNotSatisfiable, "email,phone_number,birthday"},
		{"nobody", http.StatusNotFound, "object_id"},
		{"blocked", http.StatusForbidden, "user"},
		{"mfa", http.StatusPreconditionRequired, "mfa"},
		{"", http.StatusBadRequest, "line"},
		{"", http.StatusBadRequest, "object_id"},
		{"ok", http.StatusBadRequest, "password"},
		{"ok", http.StatusBadRequest, "datas.name.value"},
		{"", http.StatusBadRequest, "line"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("failures\n got %v\nwant %v", got, want)
	}

	if u := s.mustUser(t, "ok"); u.User.Datas["name"].Value != "Eva" || u.Updates != 1 || u.Calls != 1 {
		t.Errorf("ok: %+v, want applied once; the lines it could not read do not count", u)
	}
	want1 := seeded("bad").User
	if u := s.mustUser(t, "bad"); !sameUser(&u.User, normalize(&want1)) || u.Updates != 0 || u.Calls != 1 {
		t.Errorf("bad: %+v, want nothing applied, its valid name included", u)
	}
	for _, id := range []string{"blocked", "mfa"} {
		if u := s.mustUser(t, id); u.Updates != 0 || u.Calls != 1 || u.User.Datas["name"].Value != "Ana" {
			t.Errorf("%s: %+v, want nothing applied and one call", id, u)
		}
	}
	if _, ok := s.User("nobody"); ok {
		t.Error("an unknown user was created without Autocreate")
	}
	if st := s.Stats(); st.BulkLines != int64(len(lines)) || st.BulkLinesFailed != int64(len(want)) {
		t.Errorf("stats %+v", st)
	}
}

func TestBulkAutocreate(t *testing.T) {
	t.Parallel()
	cfg := bulkConfig()
	cfg.Autocreate = true
	s := newSim(t, cfg)
	tok := s.clientToken(t)
	s.mustUpload(t, tok, named("new", "Eva"))
	s.advance(time.Second)
	u, ok := s.User("new")
	if !ok || u.User.Datas["name"].Value != "Eva" || u.Updates != 1 {
		t.Fatalf("new: %v %+v, want created with the line's name", ok, u)
	}
}

// TestBulkPartialSemantics checks what sets bulk lines apart from the update's replacement: a
// field the line leaves out is kept, a null removes it.
func TestBulkPartialSemantics(t *testing.T) {
	t.Parallel()
	s := newSim(t, bulkConfig(), seeded("u1"))
	tok := s.clientToken(t)
	patch := sink.User{ObjectID: "u1",
		IDs: map[string]sink.ID{
			"email":       {ObjectType: sink.ObjectTypeUserID, Value: "other@example.com"}, // confirmed: waits
			"screen_name": {ObjectType: sink.ObjectTypeUserID, Value: "eva"},
		},
		Datas: map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: "Eva"}},
		Addresses: &sink.Addresses{ObjectType: sink.ObjectTypeAddresses, Items: []sink.Address{
			{ObjectType: sink.ObjectTypeAddress, Type: "home", Locality: "Sevilla"},
			{ObjectType: sink.ObjectTypeAddress, Type: "holiday", Locality: "Cádiz"},
		}},
		Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, Items: []sink.Assertion{
			{ObjectType: sink.ObjectTypeAssertion, Type: "optin", Typology: sink.TypologyUser, Value: true},
		}},
	}
	id := s.mustUpload(t, tok, line(patch, "ids.phone_number", "datas.surname", "addresses.home.postalCode",
		"addresses.work.streetAddress", "addresses.work.locality", "addresses.work.country", "assertions.terms"))
	s.advance(time.Second)
	if got := s.failures(t, tok, id, 10); len(got) != 0 {
		t.Fatalf("failures %v", got)
	}

	want := typical("u1").Object
	want.IDs["screen_name"] = sink.ID{Value: "eva"}
	delete(want.IDs, "phone_number")
	want.Datas["name"] = sink.Data{Value: "Eva"}
	delete(want.Datas, "surname")
	want.Addresses.Items = []sink.Address{
		{Type: "holiday", Locality: "Cádiz"},
		{Type: "home", StreetAddress: "Gran Vía 1", Locality: "Sevilla", Country: "ES"},
	}
	want.Assertions.Items = []sink.Assertion{{Type: "optin", Typology: sink.TypologyUser, Value: true}}
	u := s.mustUser(t, "u1")
	if !sameUser(&u.User, normalize(&want)) {
		got, _ := json.Marshal(u.User)
		t.Fatalf("after the line:\n got %s\nwant the email, birthday, country and work address kept, "+
			"phone, surname, the work address's fields and terms removed", got)
	}
	if u.User.IDs["email"].Value != "u1@example.com" || u.Pending["email"] != "other@example.com" {
		t.Errorf("email %v pending %v: a confirmed email changed waits for confirmation", u.User.IDs["email"], u.Pending)
	}

	// A confirmed flag removed alone; an id line that leaves the email out keeps its pending value.
	s.mustUpload(t, tok, `{"object_id":"u1","ids":{"screen_name":{"confirmed":true}}}`,
		`{"object_id":"u1","ids":{"screen_name":{"confirmed":null}},"datas":{"country":null}}`)
	s.advance(time.Second)
	u = s.mustUser(t, "u1")
	if sn := u.User.IDs["screen_name"]; sn.Value != "eva" || sn.Confirmed != nil {
		t.Errorf("screen_name %+v, want its value kept and no flag", sn)
	}
	if _, ok := u.User.Datas["country"]; ok || u.Pending["email"] != "other@example.com" {
		t.Errorf("country %v pending %v", u.User.Datas["country"], u.Pending)
	}
	if u.Updates != 3 || u.Calls != 3 {
		t.Errorf("updates %d calls %d, want one per line", u.Updates, u.Calls)
	}
}

func TestBulkResultsPages(t *testing.T) {
	t.Parallel()
	s := newSim(t, bulkConfig(), seeded("ok"))
	tok := s.clientToken(t)
	var lines []string
	for i := range 10 {
		if i%3 == 0 {
			lines = append(lines, named("ok", "Eva"))
		} else {
			lines = append(lines, named("nobody-"+strconv.Itoa(i), "Eva"))
		}
	}
	id := s.mustUpload(t, tok, lines...)
	s.advance(time.Second)

	q := url.Values{"failedOnly": {"true"}, "limit": {"3"}}
	var sizes []int
	var ids []string
	for {
		a, page := s.results(t, tok, id, q)
		if a.code != http.StatusOK {
			t.Fatalf("%d %s", a.code, a.raw)
		}
		sizes = append(sizes, len(page.Content.Items))
		for _, f := range page.Content.Items {
			ids = append(ids, f.ObjectID)
		}
		if page.Content.LastID == "" {
			break
		}
		q.Set("last", page.Content.LastID)
	}
	if !reflect.DeepEqual(sizes, []int{3, 3}) {
		t.Errorf("pages of %v, want 3 and 3, the last without lastId", sizes)
	}
	want := []string{"nobody-1", "nobody-2", "nobody-4", "nobody-5", "nobody-7", "nobody-8"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("failed %v, want %v", ids, want)
	}

	_, all := s.results(t, tok, id, url.Values{"limit": {"1000"}})
	if n := len(all.Content.Items); n != 10 || all.Content.Items[0].Status != http.StatusOK || all.Content.LastID != "" {
		t.Errorf("without failedOnly: %d items, %+v", n, all.Content)
	}
	_, def := s.results(t, tok, id, nil)
	if len(def.Content.Items) != 10 {
		t.Errorf("without a limit: %d items, want every result within the default page", len(def.Content.Items))
	}
	for _, bad := range []url.Values{{"limit": {"0"}}, {"limit": {"1001"}}, {"limit": {"x"}}, {"last": {"-1"}}, {"last": {"x"}}} {
		if a, _ := s.results(t, tok, id, bad); a.code != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", bad, a.code)
		}
	}
}

func TestBulkResultsExpire(t *testing.T) {
	t.Parallel()
	cfg := bulkConfig()
	cfg.BulkKeep = time.Minute
	s := newSim(t, cfg, seeded("u1"))
	tok := s.clientToken(t)
	id := s.mustUpload(t, tok, named("u1", "Eva"))
	s.advance(time.Second + time.Minute - time.Millisecond)
	if got := s.status(t, tok, id); got != sink.BulkCompleted {
		t.Fatalf("within BulkKeep: %s", got)
	}
	s.advance(time.Millisecond)
	for _, path := range []string{BulkPath + "/" + id, BulkPath + "/" + id + "/results"} {
		if a := s.do(t, call{method: http.MethodGet, path: path, token: tok}); a.code != http.StatusNotFound {
			t.Errorf("%s past BulkKeep: %d, want 404", path, a.code)
		}
	}
	if a := s.do(t, call{method: http.MethodGet, path: BulkPath + "/never-uploaded", token: tok}); a.code != http.StatusNotFound {
		t.Errorf("an unknown batch: %d, want 404", a.code)
	}
	if got := s.mustUser(t, "u1").User.Datas["name"].Value; got != "Eva" {
		t.Errorf("the user keeps what the batch applied: %q", got)
	}
}

func TestBulkFailRate(t *testing.T) {
	t.Parallel()
	cfg := bulkConfig()
	cfg.BulkFailRate = 1
	s := newSim(t, cfg, seeded("u1"))
	tok := s.clientToken(t)
	id := s.mustUpload(t, tok, named("u1", "Eva"))
	s.advance(time.Second)
	if got := s.status(t, tok, id); got != sink.BulkFailed {
		t.Fatalf("%s, want failed", got)
	}
	if a, _ := s.results(t, tok, id, nil); a.code != http.StatusConflict {
		t.Errorf("results of a failed batch: %d, want 409", a.code)
	}
	if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "Ana" || u.Updates != 0 || u.Calls != 0 {
		t.Errorf("a failed batch applied something: %+v", u)
	}
	if st := s.Stats(); st.BulkUploads != 1 || st.BulkFailed != 1 || st.BulkCompleted != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBulkUploadFaults checks that the faults of the update strike uploads too, before DRUID
// takes the batch.
func TestBulkUploadFaults(t *testing.T) {
	t.Parallel()
	t.Run("fail rate", func(t *testing.T) {
		t.Parallel()
		cfg := bulkConfig()
		cfg.FailRate = 1
		s := newSim(t, cfg, seeded("u1"))
		tok := s.clientToken(t)
		a, _ := s.upload(t, tok, named("u1", "Eva"))
		if a.code != http.StatusInternalServerError && a.code != http.StatusServiceUnavailable {
			t.Fatalf("%d, want 500 or 503", a.code)
		}
		s.advance(time.Hour)
		if st := s.Stats(); st.BulkUploads != 0 || s.mustUser(t, "u1").Calls != 0 {
			t.Errorf("a failed upload left a batch: %+v", st)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		t.Parallel()
		cfg := bulkConfig()
		cfg.RateLimit = 1
		s := newSim(t, cfg, seeded("u1"))
		tok := s.clientToken(t)
		s.mustUpload(t, tok, named("u1", "Eva"))
		a, _ := s.upload(t, tok, named("u1", "Eva"))
		if a.code != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
			t.Fatalf("%d %v, want 429 with Retry-After", a.code, a.header)
		}
	})
}
