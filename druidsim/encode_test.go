package druidsim

import (
	"bytes"
	"encoding/json"
	"testing"

	"druid-migrate/sink"
)

func marshalResponse(t testing.TB, code int, u *sink.User, errs []sink.FieldError) []byte {
	t.Helper()
	var resp sink.Response
	resp.Content.User = u
	resp.Result = sink.Result{Status: code, Errors: errs}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendEnvelopeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	full := typical("u1").Object
	full.Password = "pa\"ss"
	odd := sink.User{
		ObjectType: "user",
		ObjectID:   "<script>&\u2028\u2029\x00\x1f\t\n\r\b\f\\\"é😀\xff\xc3",
		IDs:        map[string]sink.ID{"b": {Value: "x", Confirmed: ptr(false)}, "a": {}, "ü": {Value: "\x7f"}},
		Datas:      map[string]sink.Data{"": {}, "z": {Value: "\u00a0"}},
		Addresses:  &sink.Addresses{Items: []sink.Address{{}, {Type: "t", Region: "r"}}},
		Assertions: &sink.Assertions{TotalItems: -3},
	}
	tests := []struct {
		name string
		code int
		user *sink.User
		errs []sink.FieldError
	}{
		{"typical user", 200, &full, nil},
		{"odd strings, nil items", 200, &odd, nil},
		{"empty user", 200, &sink.User{}, nil},
		{"empty collections", 200, &sink.User{IDs: map[string]sink.ID{}, Addresses: &sink.Addresses{Items: []sink.Address{}}}, nil},
		{"errors only", 416, nil, []sink.FieldError{{Message: "email", Details: "bad <email>"}, {Message: "phone_number"}}},
		{"empty errors", 304, nil, []sink.FieldError{}},
		{"user and errors", 206, &full, []sink.FieldError{{Message: "surname", Details: "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := marshalResponse(t, tt.code, tt.user, tt.errs)
			if got := appendEnvelope(nil, tt.code, tt.user, tt.errs); !bytes.Equal(got, want) {
				t.Errorf("appendEnvelope:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzAppendEnvelope(f *testing.F) {
	f.Add("u1", "ana@example.com", "Ana", "Gran Vía 1", "terms", "email", true)
	f.Add("<&>", "\u2028\xff", "\x00\"\\", "", "", "", false)
	f.Fuzz(func(t *testing.T, id, email, name, street, assertion, message string, confirmed bool) {
		u := &sink.User{
			ObjectType: sink.ObjectTypeUser,
			ObjectID:   id,
			IDs:        map[string]sink.ID{email: {Value: email, Confirmed: &confirmed}, "phone_number": {Value: name}},
			Datas:      map[string]sink.Data{name: {Value: street}, "name": {Value: name}},
			Addresses:  &sink.Addresses{Items: []sink.Address{{Type: street, StreetAddress: street, Country: id}}},
			Assertions: &sink.Assertions{Items: []sink.Assertion{{Type: assertion, Value: confirmed}}},
		}
		errs := []sink.FieldError{{Message: message, Details: email}}
		want := marshalResponse(t, 206, u, errs)
		if got := appendEnvelope(nil, 206, u, errs); !bytes.Equal(got, want) {
			t.Errorf("appendEnvelope:\n got %s\nwant %s", got, want)
		}
	})
}
