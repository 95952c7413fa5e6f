package mapping

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"druid-migrate/source"
)

// FuzzBuild feeds arbitrary cells (a comma-separated line, so the field count varies too) to
// the CRM mapping: Build must never panic, must return a payload or a *RecordError, and a
// payload it returns must be what DRUID requires and never wipe a user.
func FuzzBuild(f *testing.F) {
	file, err := Load("testdata/crm.yaml")
	if err != nil {
		f.Fatal(err)
	}
	m, err := Compile(file, crmHeader, Options{AppID: "app"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(strings.Join(crmRow, ","), 2)
	f.Add("c-1,,Luis,,luis@example.com,,,,,,,,,,,", 3)
	f.Add("c-1,u,Luis,,luis@example.com,maybe,0034 (600) 11-22-33,2000-02-30,,,,,,Pending,pw,", 4)
	f.Add(",,,,,,,,,,,,,,,", 5)
	f.Add("c-1,u,Luis", 6)
	f.Add("c-1,u,\xff,,a@b.co,1,+1234567,1999-12-31,s,l,p,s,l,Unsubscribed,secretpassword,n", 7)
	f.Add("c-1,u,Nu\x00ñez,\u2028,a\x1bb@c.co,1,+1234567,1999-12-31,s\u0085,l\r\n,p,s,l,Unsubscribed,pw\x7f,n", 8)

	passwordColumn := slices.Index(crmHeader, "Initial Password")
	f.Fuzz(func(t *testing.T, line string, n int) {
		values := strings.Split(line, ",")
		p, err := m.Build(source.Record{Line: n, Values: values})
		if (p == nil) == (err == nil) {
			t.Fatalf("Build returned payload %v and error %v: exactly one is expected", p != nil, err)
		}
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RecordError: %v", err, err)
			}
			if re.Line != n {
				t.Fatalf("error line %d, record line %d", re.Line, n)
			}
			// The password column has no transform in crm.yaml, so its value can make a record
			// invalid only by holding a control character, which the error says without showing
			// it: an error that changes otherwise with the password would be one that shows it.
			if len(values) == len(crmHeader) && strings.TrimSpace(values[passwordColumn]) != "" {
				other := append([]string(nil), values...)
				other[passwordColumn] = "replaced"
				if at, _ := FindControl(values[passwordColumn]); at >= 0 {
					other[passwordColumn] = "replaced\x00"
				}
				_, err2 := m.Build(source.Record{Line: n, Values: other})
				if err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("the password cell changes the error: %v, then %v", err, err2)
				}
			}
			return
		}
		checkBody(t, p.Body)
		if want, err := json.Marshal(&p.Request); err != nil || string(want) != string(p.Body) {
			t.Fatalf("body %q, json.Marshal gives %q (%v)", p.Body, want, err)
		}
	})
}

// checkBody asserts what every body sent must be: valid JSON with ids, datas and assertions,
// collections whose totalItems count their items, and no empty string anywhere.
func checkBody(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("body is not JSON: %s", body)
	}
	var req struct {
		Object struct {
			IDs        map[string]json.RawMessage `json:"ids"`
			Datas      map[string]json.RawMessage `json:"datas"`
			Addresses  *collection                `json:"addresses"`
			Assertions *collection                `json:"assertions"`
		} `json:"object"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	o := req.Object
	if len(o.IDs) == 0 || len(o.Datas) == 0 || o.Assertions == nil || len(o.Assertions.Items) == 0 {
		t.Fatalf("body lacks ids, datas or assertions: %s", body)
	}
	for _, c := range []*collection{o.Addresses, o.Assertions} {
		if c != nil && c.TotalItems != len(c.Items) {
			t.Fatalf("totalItems %d, %d items: %s", c.TotalItems, len(c.Items), body)
		}
	}
	var all any
	if err := json.Unmarshal(body, &all); err != nil {
		t.Fatal(err)
	}
	walkStrings(all, func(s string) {
		if s == "" {
			t.Fatalf("body holds an empty string: %s", body)
		}
		if at, r := FindControl(s); at >= 0 {
			t.Fatalf("body holds the control character %U: %s", r, body)
		}
	})
}

type collection struct {
	TotalItems int               `json:"totalItems"`
	Items      []json.RawMessage `json:"items"`
}

func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	}
}
