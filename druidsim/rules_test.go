package druidsim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"druid-migrate/sink"
)

func TestUpdateRefusesUnknownTokens(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seeded("u1"))
	_, tok := s.token(t, url.Values{"grant_type": {GrantClientCredentials}, "client_id": {clientID}, "client_secret": {secret}})
	clientToken, _ := tok["access_token"].(string)

	tests := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"not bearer", "Basic " + adminToken},
		{"empty bearer", "Bearer "},
		{"unknown token", "Bearer nope"},
		{"client token reads but cannot update", "Bearer " + clientToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			got := s.do(t, call{method: http.MethodPost, path: UpdatePath, header: h, body: with("u1", func(r *sink.Request) {
				r.Object.Datas["name"] = sink.Data{Value: "Changed"}
			})})
			if got.code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", got.code, got.raw)
			}
			if names := fieldNames(got.env.Result.Errors); !slices.Equal(names, []string{"Authorization"}) {
				t.Errorf("errors name %v, want [Authorization]", names)
			}
			if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "Ana" || u.Calls != 0 {
				t.Errorf("a refused call touched the user: %+v", u)
			}
		})
	}
}

func TestUpdateRejectsMalformedRequests(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{}, seeded("u1"))

	tests := []struct {
		name   string
		noFrom bool
		body   any
		want   []string
	}{
		{"no From header", true, typical("u1"), []string{"From"}},
		{"body not JSON", false, "{not json", []string{"body"}},
		{"body not an object", false, "[1,2]", []string{"body"}},
		{"empty body", false, "", []string{"body"}},
		{"ids of the wrong type", false, `{"object":{"ids":"ana@example.com"}}`, []string{"object.ids"}},
		{"no From and not JSON", true, "{", []string{"From", "body"}},
		{"actor.objectType", false, with("u1", func(r *sink.Request) { r.Actor.ObjectType = "user" }), []string{"actor.objectType"}},
		{"actor.id", false, with("u1", func(r *sink.Request) { r.Actor.ID = "" }), []string{"actor.id"}},
		{"verb create", false, with("u1", func(r *sink.Request) { r.Verb = "create" }), []string{"verb"}},
		{"object.objectType", false, with("u1", func(r *sink.Request) { r.Object.ObjectType = "person" }), []string{"object.objectType"}},
		{"source.objectType", false, with("u1", func(r *sink.Request) { r.Source.ObjectType = "browser" }), []string{"source.objectType"}},
		{"source.id", false, with("u1", func(r *sink.Request) { r.Source.ID = "phone" }), []string{"source.id"}},
		{"every field at once", false, sink.Request{}, []string{"actor.objectType", "actor.id", "verb", "object.objectType", "source.objectType", "source.id"}},
		{"admin token without objectId", false, with("u1", func(r *sink.Request) { r.Object.ObjectID = "" }), []string{"object.objectId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := s.do(t, call{method: http.MethodPost, path: UpdatePath, token: adminToken, noFrom: tt.noFrom, body: tt.body})
			if got.code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", got.code, got.raw)
			}
			if names := fieldNames(got.env.Result.Errors); !slices.Equal(names, tt.want) {
				t.Errorf("errors name %v, want %v", names, tt.want)
			}
		})
	}
	t.Cleanup(func() {
		if u := s.mustUser(t, "u1"); u.Calls != 0 || u.Updates != 0 {
			t.Errorf("malformed requests reached the user: calls %d, updates %d", u.Calls, u.Updates)
		}
	})
}

func TestUpdateUnknownUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		autocreate bool
		want       int
	}{
		{"not found", false, http.StatusNotFound},
		{"autocreate", true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Config{Autocreate: tt.autocreate})
			got := s.update(t, typical("ghost"))
			if got.code != tt.want {
				t.Fatalf("status %d, want %d: %s", got.code, tt.want, got.raw)
			}
			u, exists := s.User("ghost")
			if exists != tt.autocreate {
				t.Fatalf("user exists = %v after the call, want %v", exists, tt.autocreate)
			}
			if tt.autocreate && (u.User.Datas["name"].Value != "Ana" || u.Updates != 1 || u.Calls != 1) {
				t.Errorf("autocreated user not updated: %+v", u)
			}
			if !tt.autocreate && !slices.Equal(fieldNames(got.env.Result.Errors), []string{"object.objectId"}) {
				t.Errorf("404 errors %v, want object.objectId", got.env.Result.Errors)
			}
		})
	}
}

func TestUpdateRejectsBadFormats(t *testing.T) {
	t.Parallel()
	setEmail := func(v string) func(*sink.Request) {
		return func(r *sink.Request) { r.Object.IDs["email"] = sink.ID{Value: v} }
	}
	setPhone := func(v string) func(*sink.Request) {
		return func(r *sink.Request) { r.Object.IDs["phone_number"] = sink.ID{Value: v} }
	}
	setBirthday := func(v string) func(*sink.Request) {
		return func(r *sink.Request) { r.Object.Datas["birthday"] = sink.Data{Value: v} }
	}
	tests := []struct {
		name string
		edit func(*sink.Request)
		want []string // nil: accepted
	}{
		{"email without @", setEmail("ana.example.com"), []string{"email"}},
		{"email without domain suffix", setEmail("ana@example.c"), []string{"email"}},
		{"email empty", setEmail(""), []string{"email"}},
		{"email with plus", setEmail("ana+crm@example.com"), nil},
		{"phone without +", setPhone("34600000000"), []string{"phone_number"}},
		{"phone with spaces", setPhone("+34 600 000 000"), []string{"phone_number"}},
		{"phone starting +0", setPhone("+0600000000"), []string{"phone_number"}},
		{"phone too short", setPhone("+34600"), []string{"phone_number"}},
		{"phone too long", setPhone("+3460000000000000"), []string{"phone_number"}},
		{"birthday ISO", setBirthday("1974-10-22"), []string{"birthday"}},
		{"birthday 30 February", setBirthday("30/02/2000"), []string{"birthday"}},
		{"birthday 29 February of a common year", setBirthday("29/02/1900"), []string{"birthday"}},
		{"birthday one digit day", setBirthday("2/10/1974"), []string{"birthday"}},
		{"birthday month 13", setBirthday("01/13/1974"), []string{"birthday"}},
		{"birthday 29 February of a leap year", setBirthday("29/02/2000"), nil},
		{"all three", func(r *sink.Request) {
			setEmail("x")(r)
			setPhone("x")(r)
			setBirthday("x")(r)
		}, []string{"email", "phone_number", "birthday"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Config{}, seeded("u1"))
			got := s.update(t, with("u1", tt.edit))
			if tt.want == nil {
				if got.code != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", got.code, got.raw)
				}
				return
			}
			if got.code != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("status %d, want 416: %s", got.code, got.raw)
			}
			if names := fieldNames(got.env.Result.Errors); !slices.Equal(names, tt.want) {
				t.Errorf("errors name %v, want %v", names, tt.want)
			}
			for _, e := range got.env.Result.Errors {
				if e.Details == "" {
					t.Errorf("error %q has no details", e.Message)
				}
			}
			if u := s.mustUser(t, "u1"); u.Updates != 0 || u.User.IDs["email"].Value != "u1@example.com" {
				t.Errorf("a 416 changed the user: %+v", u)
			}
		})
	}
}

func TestUpdateFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flags []string
		want  int
	}{
		{[]string{FlagMFA}, http.StatusPreconditionRequired},
		{[]string{FlagBlocked}, http.StatusForbidden},
		{[]string{FlagMFA, FlagBlocked}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flags, "+"), func(t *testing.T) {
			t.Parallel()
			seed := seeded("u1")
			seed.Flags = tt.flags
			s := newSim(t, Config{}, seed)
			got := s.update(t, with("u1", func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: "Changed"} }))
			if got.code != tt.want {
				t.Fatalf("status %d, want %d: %s", got.code, tt.want, got.raw)
			}
			u := s.mustUser(t, "u1")
			if u.User.Datas["name"].Value != "Ana" || u.Updates != 0 || u.Calls != 1 {
				t.Errorf("a refused update changed the user: %+v", u)
			}
		})
	}
}

func TestUpdateUnchangedIs304WithEmptyBody(t *testing.T) {
	t.Parallel()
	withPassword := seeded("u1")
	withPassword.Password = "s3cret"
	tests := []struct {
		name string
		seed Seed
		req  sink.Request
		want int
	}{
		{"same user", seeded("u1"), typical("u1"), http.StatusNotModified},
		{"items in another order, unset confirmed as false", seeded("u1"), with("u1", func(r *sink.Request) {
			slices.Reverse(r.Object.Addresses.Items)
			slices.Reverse(r.Object.Assertions.Items)
			r.Object.IDs["phone_number"] = sink.ID{ObjectType: sink.ObjectTypeUserID, Value: "+34600000000", Confirmed: ptr(false)}
		}), http.StatusNotModified},
		{"same password", withPassword, with("u1", func(r *sink.Request) { r.Object.Password = "s3cret" }), http.StatusNotModified},
		{"password omitted removes it", withPassword, typical("u1"), http.StatusOK},
		{"new password", seeded("u1"), with("u1", func(r *sink.Request) { r.Object.Password = "n3w" }), http.StatusOK},
		{"confirmed flag changes", seeded("u1"), with("u1", func(r *sink.Request) {
			r.Object.IDs["email"] = sink.ID{Value: "u1@example.com", Confirmed: ptr(false)}
		}), http.StatusOK},
		{"one address field changes", seeded("u1"), with("u1", func(r *sink.Request) { r.Object.Addresses.Items[0].Region = "M" }), http.StatusOK},
		{"one assertion changes", seeded("u1"), with("u1", func(r *sink.Request) { r.Object.Assertions.Items[0].Value = true }), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, Config{}, tt.seed)
			got := s.update(t, tt.req)
			if got.code != tt.want {
				t.Fatalf("status %d, want %d: %s", got.code, tt.want, got.raw)
			}
			u := s.mustUser(t, "u1")
			if u.User.Password != tt.req.Object.Password {
				t.Errorf("stored password %q, want %q", u.User.Password, tt.req.Object.Password)
			}
			if tt.want != http.StatusNotModified {
				if u.Updates != 1 {
					t.Errorf("updates %d, want 1", u.Updates)
				}
				if again := s.update(t, tt.req); again.code != http.StatusNotModified {
					t.Errorf("the same update again: status %d, want 304", again.code)
				}
				return
			}
			if len(got.raw) != 0 {
				t.Errorf("304 body %q, want empty", got.raw)
			}
			if u.Updates != 0 || u.Calls != 1 {
				t.Errorf("updates %d calls %d, want 0 and 1", u.Updates, u.Calls)
			}
		})
	}
}

func TestUpdateReplacesTheWholeUser(t *testing.T) {
	t.Parallel()
	seed := seeded("u1")
	seed.Password = "s3cret"
	s := newSim(t, Config{}, seed)
	req := with("u1", func(r *sink.Request) {
		delete(r.Object.IDs, "phone_number")
		delete(r.Object.Datas, "country")
		r.Object.Datas["name"] = sink.Data{Value: "Ana María"}
		r.Object.Addresses = nil
		r.Object.Assertions.Items = r.Object.Assertions.Items[1:]
	})
	got := s.update(t, req)
	if got.code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", got.code, got.raw)
	}
	if strings.Contains(string(got.raw), "s3cret") || strings.Contains(string(got.raw), "password") {
		t.Errorf("the response carries a password: %s", got.raw)
	}
	u := s.mustUser(t, "u1")
	want := normalize(&req.Object)
	if !sameUser(&u.User, want) {
		t.Errorf("stored user %+v, want exactly the request %+v", u.User, *want)
	}
	if _, ok := u.User.IDs["phone_number"]; ok {
		t.Error("phone_number kept although the request omitted it")
	}
	if u.User.Addresses != nil {
		t.Error("addresses kept although the request omitted them")
	}
	if u.User.Password != "" {
		t.Error("password kept although the request omitted it")
	}
	cu := got.env.Content.User
	if cu == nil || cu.ObjectID != "u1" || cu.Datas["name"].Value != "Ana María" || cu.Datas["country"].Value != "" {
		t.Errorf("content.user %+v does not show the new state", cu)
	}
}

func TestUpdateConfirmedIDChangeWaitsForConfirmation(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{}, seeded("u1"))
	newEmail := with("u1", func(r *sink.Request) {
		r.Object.IDs["email"] = sink.ID{Value: "new@example.com", Confirmed: ptr(true)}
		r.Object.IDs["phone_number"] = sink.ID{Value: "+34611111111"} // not confirmed: replaced at once
	})

	got := s.update(t, newEmail)
	if got.code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", got.code, got.raw)
	}
	u := s.mustUser(t, "u1")
	if e := u.User.IDs["email"]; e.Value != "u1@example.com" || !isTrue(e.Confirmed) {
		t.Errorf("email in force %+v, want the old confirmed one", e)
	}
	if u.User.IDs["phone_number"].Value != "+34611111111" {
		t.Errorf("unconfirmed phone %+v, want replaced", u.User.IDs["phone_number"])
	}
	if want := map[string]string{"email": "new@example.com"}; !sameStrings(u.Pending, want) {
		t.Errorf("pending %v, want %v", u.Pending, want)
	}
	if cu := got.env.Content.User; cu == nil || cu.IDs["email"].Value != "u1@example.com" {
		t.Errorf("content.user %+v, want the email in force", cu)
	}

	if again := s.update(t, newEmail); again.code != http.StatusNotModified {
		t.Errorf("re-sending the pending email: status %d, want 304", again.code)
	}

	back := with("u1", func(r *sink.Request) { r.Object.IDs["phone_number"] = sink.ID{Value: "+34611111111"} })
	if got := s.update(t, back); got.code != http.StatusOK {
		t.Fatalf("sending the confirmed email back: status %d, want 200", got.code)
	}
	if u := s.mustUser(t, "u1"); len(u.Pending) != 0 {
		t.Errorf("pending %v after the old email was sent back, want none", u.Pending)
	}
}

func TestUpdateMissingRequiredIsAppliedAnd206(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{Required: []string{"name", "surname"}}, seeded("u1"))
	req := with("u1", func(r *sink.Request) {
		r.Object.Datas["name"] = sink.Data{Value: "  "}
		delete(r.Object.Datas, "surname")
		r.Object.Datas["country"] = sink.Data{Value: "PT"}
	})
	got := s.update(t, req)
	if got.code != http.StatusPartialContent {
		t.Fatalf("status %d, want 206: %s", got.code, got.raw)
	}
	if names := fieldNames(got.env.Result.Errors); !slices.Equal(names, []string{"name", "surname"}) {
		t.Errorf("errors name %v, want [name surname]", names)
	}
	if got.env.Content.User == nil {
		t.Error("206 without content.user")
	}
	if u := s.mustUser(t, "u1"); u.User.Datas["country"].Value != "PT" || u.Updates != 1 {
		t.Errorf("206 did not apply the update: %+v", u)
	}
	if got := s.update(t, typical("u1")); got.code != http.StatusOK {
		t.Errorf("complete user: status %d, want 200", got.code)
	}
}

func TestUpdateWithPerUserToken(t *testing.T) {
	t.Parallel()
	u1, u2 := seeded("u1"), seeded("u2")
	u1.Token = "token-of-u1"
	s := newSim(t, Config{}, u1, u2)
	change := func(objectID string) sink.Request {
		return with("u1", func(r *sink.Request) {
			r.Object.ObjectID = objectID
			r.Object.Datas["name"] = sink.Data{Value: "By " + objectID}
		})
	}
	tests := []struct {
		name     string
		objectID string
		want     int
	}{
		{"token names the user", "", http.StatusOK},
		{"objectId agrees", "u1", http.StatusOK},
		{"objectId of someone else", "u2", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.do(t, call{method: http.MethodPost, path: UpdatePath, token: "token-of-u1", body: change(tt.objectID)})
			if got.code != tt.want {
				t.Fatalf("status %d, want %d: %s", got.code, tt.want, got.raw)
			}
		})
	}
	if u := s.mustUser(t, "u2"); u.Calls != 0 || u.User.Datas["name"].Value != "Ana" {
		t.Errorf("u1's token changed u2: %+v", u)
	}
	if u := s.mustUser(t, "u1"); u.User.Datas["name"].Value != "By u1" {
		t.Errorf("u1 name %q, want %q", u.User.Datas["name"].Value, "By u1")
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	seed := seeded("u1")
	seed.Password = "s3cret"
	seed.Token = "token-of-u1"
	s := newSim(t, Config{ClientID: clientID, ClientSecret: secret}, seed)
	_, tok := s.token(t, url.Values{"grant_type": {GrantClientCredentials}, "client_id": {clientID}, "client_secret": {secret}})
	clientToken, _ := tok["access_token"].(string)

	tests := []struct {
		name   string
		path   string
		token  string
		noFrom bool
		want   int
	}{
		{"static token", UserPathPrefix + "u1", adminToken, false, http.StatusOK},
		{"client token", UserPathPrefix + "u1", clientToken, false, http.StatusOK},
		{"unknown user", UserPathPrefix + "ghost", adminToken, false, http.StatusNotFound},
		{"no From", UserPathPrefix + "u1", adminToken, true, http.StatusBadRequest},
		{"no token", UserPathPrefix + "u1", "", false, http.StatusUnauthorized},
		{"per-user token", UserPathPrefix + "u1", "token-of-u1", false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := s.do(t, call{method: http.MethodGet, path: tt.path, token: tt.token, noFrom: tt.noFrom})
			if got.code != tt.want {
				t.Fatalf("status %d, want %d: %s", got.code, tt.want, got.raw)
			}
			if tt.want != http.StatusOK {
				if len(got.env.Result.Errors) == 0 {
					t.Errorf("%d without result.errors", got.code)
				}
				return
			}
			if strings.Contains(string(got.raw), "s3cret") {
				t.Errorf("GET user leaks the password: %s", got.raw)
			}
			if cu := got.env.Content.User; cu == nil || cu.ObjectID != "u1" || cu.IDs["email"].Value != "u1@example.com" {
				t.Errorf("content.user %+v, want u1", cu)
			}
		})
	}
}
