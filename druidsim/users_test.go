package druidsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"druid-migrate/sink"
)

func TestFakeUsersDumpsEveryUserWithoutSecrets(t *testing.T) {
	t.Parallel()
	b, a := seeded("b"), seeded("a")
	b.Password, b.Token, b.Flags = "s3cret-b", "token-of-b", []string{FlagMFA}
	a.Password = "s3cret-a"
	s := newSim(t, Config{}, b, a)
	s.update(t, with("a", func(r *sink.Request) {
		r.Object.Password = "s3cret-a"
		r.Object.IDs["email"] = sink.ID{Value: "new@example.com"}
	}))

	got := s.do(t, call{method: http.MethodGet, path: FakeUsersPath})
	if got.code != http.StatusOK {
		t.Fatalf("status %d", got.code)
	}
	for _, secret := range []string{"s3cret", "token-of-b", "password"} {
		if bytes.Contains(got.raw, []byte(secret)) {
			t.Errorf("the dump contains %q:\n%s", secret, got.raw)
		}
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(got.raw))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", len(lines)+1, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["objectId"] != "a" || lines[1]["objectId"] != "b" {
		t.Fatalf("dump %s, want a then b", got.raw)
	}
	if p, _ := lines[0]["pending"].(map[string]any); p["email"] != "new@example.com" || lines[0]["updates"] != 1.0 {
		t.Errorf("user a: pending %v updates %v, want the pending email and 1", lines[0]["pending"], lines[0]["updates"])
	}
	if f, _ := lines[1]["flags"].([]any); len(f) != 1 || f[0] != FlagMFA {
		t.Errorf("user b flags %v, want [mfa]", lines[1]["flags"])
	}
	for _, key := range []string{"ids", "datas", "addresses", "assertions"} {
		if _, ok := lines[1][key]; !ok {
			t.Errorf("user b has no %s", key)
		}
	}

	// The dump loads back: a demo's state survives a restart, passwords and tokens aside.
	again := New(Config{})
	if err := again.LoadUsers(bytes.NewReader(got.raw)); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	want, loaded := s.Users(), again.Users()
	if len(loaded) != len(want) {
		t.Fatalf("%d users loaded, want %d", len(loaded), len(want))
	}
	for i := range want {
		want[i].User.Password = ""
		if !sameUser(&loaded[i].User, &want[i].User) || !maps.Equal(loaded[i].Pending, want[i].Pending) || !slices.Equal(loaded[i].Flags, want[i].Flags) {
			t.Errorf("loaded %+v, want %+v", loaded[i], want[i])
		}
	}
}

func TestStatsCountAPIRequestsUntilReset(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{}, seeded("u1"))
	s.update(t, with("u1", func(r *sink.Request) { r.Object.Datas["name"] = sink.Data{Value: "Changed"} }))
	s.update(t, typical("ghost"))
	s.update(t, typical("ghost"))
	s.do(t, call{method: http.MethodGet, path: UserPathPrefix + "u1"}) // 401
	s.do(t, call{method: http.MethodGet, path: FakeUsersPath})         // not an API endpoint

	var st Stats
	got := s.do(t, call{method: http.MethodGet, path: FakeStatsPath})
	if err := json.Unmarshal(got.raw, &st); err != nil {
		t.Fatalf("/__fake/stats is not Stats JSON: %v: %s", err, got.raw)
	}
	want := map[int]int64{200: 1, 404: 2, 401: 1}
	if !maps.Equal(st.Requests, want) || st.Total != 4 {
		t.Errorf("stats %+v, want %v and total 4", st, want)
	}

	s.Reset()
	if st := s.Stats(); st.Total != 0 || len(st.Requests) != 0 {
		t.Errorf("stats after Reset %+v, want none", st)
	}
	u := s.mustUser(t, "u1")
	if u.Calls != 0 || u.Updates != 0 || u.User.Datas["name"].Value != "Changed" {
		t.Errorf("after Reset %+v: want counts forgotten and the user kept", u)
	}
}

func TestSeedRefusesBadUsers(t *testing.T) {
	t.Parallel()
	withToken := func(id, token string) Seed { s := seeded(id); s.Token = token; return s }
	withFlag := func(id, flag string) Seed { s := seeded(id); s.Flags = []string{flag}; return s }
	tests := []struct {
		name  string
		seeds []Seed
		want  string
	}{
		{"missing objectId", []Seed{seeded("ok"), {}}, "seed 1"},
		{"duplicate in the batch", []Seed{seeded("x"), seeded("x")}, "duplicate objectId"},
		{"already known", []Seed{seeded("known")}, "duplicate objectId"},
		{"token already held", []Seed{withToken("new", "t-known")}, "token already in use"},
		{"token repeated", []Seed{withToken("n1", "t"), withToken("n2", "t")}, "token already in use"},
		{"token is a static token", []Seed{withToken("n1", adminToken)}, "token already in use"},
		{"unknown flag", []Seed{withFlag("n1", "vip")}, `unknown flag "vip"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(Config{Tokens: []string{adminToken}})
			if err := s.Seed(withToken("known", "t-known")); err != nil {
				t.Fatal(err)
			}
			err := s.Seed(tt.seeds...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "t-known") {
				t.Errorf("the error echoes a token: %v", err)
			}
			if n := len(s.Users()); n != 1 {
				t.Errorf("%d users after a refused seed, want only the first one", n)
			}
		})
	}
}

func TestLoadUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		input    string
		wantErr  string // "" for success
		wantUser int
	}{
		{"users and blank lines", `{"objectId":"u1","ids":{"email":{"value":"a@example.com","confirmed":true}},"flags":["blocked"]}` + "\n\n" +
			`{"objectId":"u2","datas":{"name":{"value":"Ana"}},"token":"t2"}`, "", 2},
		{"no final newline", `{"objectId":"u1"}`, "", 1},
		{"not JSON", `{"objectId":"u1"}` + "\n" + `{oops`, "line 2", 0},
		{"misspelt field", `{"objectId":"u1"}` + "\n\n" + `{"objectId":"u2","data":{}}`, "line 3", 0},
		{"missing objectId", `{"objectId":"u1"}` + "\n" + `{"ids":{}}`, "line 2: missing objectId", 0},
		{"duplicate", `{"objectId":"u1"}` + "\n" + `{"objectId":"u1"}`, "line 2: duplicate objectId", 0},
		{"two values on a line", `{"objectId":"u1"} {"objectId":"u2"}`, "line 1", 0},
		{"line too long", `{"objectId":"` + strings.Repeat("x", maxSeedLine) + `"}`, "line 1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(Config{})
			err := s.LoadUsers(strings.NewReader(tt.input))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("load: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
			}
			if n := len(s.Users()); n != tt.wantUser {
				t.Errorf("%d users loaded, want %d", n, tt.wantUser)
			}
		})
	}
}

func TestLoadedUsersBehave(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{})
	input := `{"objectId":"u1","flags":["blocked"]}` + "\n" + `{"objectId":"u2","token":"t2"}`
	if err := s.LoadUsers(strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	if got := s.update(t, typical("u1")); got.code != http.StatusForbidden {
		t.Errorf("loaded blocked user: status %d, want 403", got.code)
	}
	req := with("u2", func(r *sink.Request) { r.Object.ObjectID = "" })
	if got := s.do(t, call{method: http.MethodPost, path: UpdatePath, token: "t2", body: req}); got.code != http.StatusOK {
		t.Errorf("loaded user's token: status %d, want 200", got.code)
	}
}

func TestUserIsADeepCopy(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	if err := s.Seed(seeded("u1")); err != nil {
		t.Fatal(err)
	}
	u := stored(t, s, "u1")
	*u.User.IDs["email"].Confirmed = false
	u.User.IDs["phone_number"] = sink.ID{Value: "mutated"}
	u.User.Datas["name"] = sink.Data{Value: "mutated"}
	u.User.Addresses.Items[0].Locality = "mutated"
	u.User.Assertions.Items[0].Value = true
	again := stored(t, s, "u1")
	want := seeded("u1")
	if !sameUser(&again.User, normalize(&want.User)) {
		t.Errorf("changing a copy changed the stored user: %+v", again.User)
	}
	if _, ok := s.User("ghost"); ok {
		t.Error("User reports an unknown user")
	}
}

func TestPathsNotServedAnswerAnEnvelopeAndAreNotCounted(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{}, seeded("u1"))
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, UpdatePath, http.StatusMethodNotAllowed},
		{http.MethodPost, UserPathPrefix + "u1", http.StatusMethodNotAllowed},
		{http.MethodGet, TokenPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/activityid/v1/users", http.StatusNotFound},
		{http.MethodGet, UserPathPrefix + "u1/extra", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			got := s.do(t, call{method: tt.method, path: tt.path, token: adminToken})
			if got.code != tt.want {
				t.Fatalf("status %d, want %d", got.code, tt.want)
			}
			var env sink.Response
			if err := json.Unmarshal(got.raw, &env); err != nil || env.Result.Status != tt.want || len(env.Result.Errors) != 1 {
				t.Errorf("body %s (%v), want DRUID's envelope with one error", got.raw, err)
			}
		})
	}
	t.Cleanup(func() {
		if st := s.Stats(); st.Total != 0 {
			t.Errorf("stats %+v, want requests to unserved paths left out", st)
		}
	})
}
