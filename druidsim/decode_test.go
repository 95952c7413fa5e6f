package druidsim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"druid-migrate/sink"
)

func TestDecodeFastTakesPlainBodies(t *testing.T) {
	t.Parallel()
	marshal := func(r sink.Request) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name string
		body string
	}{
		{"typical", marshal(typical("u1"))},
		{"with password and UTF-8", marshal(with("u1", func(r *sink.Request) {
			r.Object.Password = "contraseña"
			r.Object.Datas["surname"] = sink.Data{Value: "Núñez 😀"}
		}))},
		{"minimal", marshal(sink.Request{})},
		{"empty collections", `{"object":{"ids":{},"datas":{},"addresses":{"items":[]},"assertions":{"totalItems":0,"items":[]}}}`},
		{"white space everywhere", " {\n\t\"verb\" : \"update\" ,\r\n \"object\" : { \"assertions\" : { \"totalItems\" : -2 , \"items\" : [ { \"value\" : false } ] } } } \n"},
		{"empty object", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got, want sink.Request
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatal(err)
			}
			if !decodeFast([]byte(tt.body), &got) {
				t.Fatalf("decodeFast gave up on a plain body: %s", tt.body)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeFast\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeFastGivesUpOnAnythingElse(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"escape in a value":   `{"verb":"up\u0064ate"}`,
		"escape in a key":     `{"ver\u0062":"update"}`,
		"null":                `{"object":null}`,
		"unknown key":         `{"verb":"update","extra":1}`,
		"key in another case": `{"Verb":"update"}`,
		"repeated key":        `{"verb":"a","verb":"b"}`,
		"repeated id":         `{"object":{"ids":{"email":{"value":"a"},"email":{"value":"b"}}}}`,
		"fraction":            `{"object":{"addresses":{"totalItems":1.0}}}`,
		"exponent":            `{"object":{"addresses":{"totalItems":1e2}}}`,
		"leading zero":        `{"object":{"addresses":{"totalItems":01}}}`,
		"huge number":         `{"object":{"addresses":{"totalItems":12345678901234567890}}}`,
		"string for a bool":   `{"object":{"ids":{"email":{"confirmed":"true"}}}}`,
		"number for a string": `{"verb":1}`,
		"literal run on":      `{"object":{"assertions":{"items":[{"value":truex}]}}}`,
		"trailing data":       `{"verb":"update"} {}`,
		"trailing comma":      `{"verb":"update",}`,
		"unterminated":        `{"verb":"update"`,
		"invalid UTF-8":       "{\"verb\":\"\xff\"}",
		"control character":   "{\"verb\":\"a\tb\"}",
		"array at the top":    `[]`,
		"byte order mark":     "\xef\xbb\xbf{}",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var req sink.Request
			if decodeFast([]byte(body), &req) {
				t.Errorf("decodeFast took %q, which encoding/json must judge", body)
			}
		})
	}
}

// FuzzDecodeFast checks decodeFast against encoding/json: whatever it takes, encoding/json
// takes too, with the same result.
func FuzzDecodeFast(f *testing.F) {
	for _, r := range []sink.Request{typical("u1"), {}, with("ü", func(r *sink.Request) { r.Object.Password = "p" })} {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"object":{"addresses":{"totalItems":-0,"items":[{}]},"ids":{"":{"confirmed":false}}}}`))
	f.Add([]byte(strings.Repeat(" ", 3) + `{"verb" :"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, std sink.Request
		if !decodeFast(body, &fast) {
			return
		}
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("decodeFast took %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q:\ndecodeFast    %+v\nencoding/json %+v", body, fast, std)
		}
	})
}
