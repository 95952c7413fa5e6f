package mapping

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/jsontest"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// TestBuildBodyIsEncodingJSON checks the body Build sends against json.Marshal of the request
// it returns, for records with every target filled. Build refuses the control characters of
// the tricky strings (SPEC §3), so each such string is also sent without them; sink's encoder
// tests hold their escaping to encoding/json's.
func TestBuildBodyIsEncodingJSON(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{AppID: "app<&>"})
	row := func(s string) []string {
		return dottedRow(t, map[string]string{
			"key": "k" + s, "objectId": s, "password": s, "datas.name": s, "addresses.home.locality": s,
		})
	}
	for i, s := range jsontest.TrickyStrings {
		if at, _ := FindControl(s); at >= 0 {
			re := buildErr(t, m, source.Record{Line: i + 2, Values: row(s)})
			require.Contains(t, re.Reason, "control character", "%q", s)
			s = withoutControls(s)
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := m.Build(source.Record{Line: i + 2, Values: row(s)})
		require.NoError(t, err)
		requireBodyIsEncodingJSON(t, p)
	}
}

// withoutControls drops from s the control characters FindControl finds.
func withoutControls(s string) string {
	for {
		at, r := FindControl(s)
		if at < 0 {
			return s
		}
		s = s[:at] + s[at+utf8.RuneLen(r):]
	}
}

// TestBuildBodyIsEncodingJSONWithManySlots builds records with more ids, confirmed flags and
// datas than Build keeps on its stack, named so that only a byte-wise sort orders them.
func TestBuildBodyIsEncodingJSONWithManySlots(t *testing.T) {
	t.Parallel()
	names := []string{"z", "a", "B", "_", "-", "9", "10", "Z_-", "aa", "a-", "a_", "A"}
	header := []string{"key", "assertions.terms", "ids.email", "datas.name"}
	var custom []string
	for _, n := range names {
		header = append(header, "ids."+n, "ids."+n+".confirmed", "datas."+n)
		custom = append(custom, "ids."+n, "datas."+n)
	}
	m := compile(t, &File{Custom: custom}, header, Options{AppID: "app"})
	for i := range 1 << 6 {
		row := []string{"k", "yes", "a@b.co", "Ana"}
		for j, n := range names {
			value, confirmed, data := "v"+n, "", "d"+n
			switch (i >> (j % 6)) & 3 {
			case 0:
				value, confirmed = "", ""
			case 1:
				confirmed = "true"
			case 2:
				confirmed, data = "0", ""
			}
			row = append(row, value, confirmed, data)
		}
		p, err := m.Build(source.Record{Line: i + 2, Values: row})
		require.NoError(t, err)
		requireBodyIsEncodingJSON(t, p)
	}
}

// requireBodyIsEncodingJSON fails unless a built payload's body is json.Marshal of its request,
// in a slice of its own length.
func requireBodyIsEncodingJSON(t *testing.T, p *sink.Payload) {
	t.Helper()
	want, err := json.Marshal(&p.Request)
	require.NoError(t, err)
	require.Equal(t, string(want), string(p.Body))
	require.Equal(t, len(p.Body), cap(p.Body), "the body is allocated at its size")
}

// TestBuildIsSafeForConcurrentUse builds the same records on several goroutines at once (run
// with -race): the pooled encoding buffers must never be shared between payloads.
func TestBuildIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	m := compile(t, nil, dottedHeader, Options{AppID: "app"})
	const users = 200
	want := make([][]byte, users)
	recs := make([]source.Record, users)
	for i := range recs {
		recs[i] = source.Record{Line: i + 2, Values: dottedRow(t, map[string]string{
			"key": "k" + strconv.Itoa(i), "datas.name": strings.Repeat("n", i),
		})}
		p, err := m.Build(recs[i])
		require.NoError(t, err)
		want[i] = p.Body
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for n := range 5 * users {
				i := (n*7 + g) % users
				p, e := m.Build(recs[i])
				if e == nil && !bytes.Equal(p.Body, want[i]) {
					e = &RecordError{Line: recs[i].Line, Reason: "body differs: " + string(p.Body)}
				}
				if e != nil && err == nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-done)
	}
	for i := range want { // the bodies handed out earlier were not overwritten
		p, err := m.Build(recs[i])
		require.NoError(t, err)
		require.Equal(t, string(p.Body), string(want[i]))
	}
}
