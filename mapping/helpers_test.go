package mapping

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/sink"
	"druid-migrate/source"
)

// dottedHeader is a source whose columns are payload paths, plus one column the run ignores.
var dottedHeader = []string{
	"key", "objectId", "password", "token", "locale", "device",
	"ids.email", "ids.email.confirmed", "ids.phone_number",
	"datas.name", "datas.birthday", "addresses.home.locality", "assertions.terms", "Notes",
}

// dottedRow is a valid record of dottedHeader; over replaces cells by column name.
func dottedRow(t *testing.T, over map[string]string) []string {
	t.Helper()
	base := map[string]string{
		"key": "c-17", "objectId": "0a1b2c", "password": "s3cr3t-pw", "token": "tok-abc.123",
		"locale": "es-ES", "device": "mobile",
		"ids.email": "ana@example.com", "ids.email.confirmed": "true", "ids.phone_number": "+34600112233",
		"datas.name": "Ana", "datas.birthday": "22/10/1974", "addresses.home.locality": "Madrid",
		"assertions.terms": "yes", "Notes": "VIP",
	}
	for k, v := range over {
		_, ok := base[k]
		require.True(t, ok, "dottedRow: no column %q", k)
		base[k] = v
	}
	row := make([]string, len(dottedHeader))
	for i, h := range dottedHeader {
		row[i] = base[h]
	}
	return row
}

// compile compiles or fails the test.
func compile(t testing.TB, f *File, header []string, opts Options) *Mapper {
	t.Helper()
	m, err := Compile(f, header, opts)
	require.NoError(t, err)
	return m
}

// buildErr builds a record that must be invalid and returns its *RecordError.
func buildErr(t *testing.T, m *Mapper, rec source.Record) *RecordError {
	t.Helper()
	p, err := m.Build(rec)
	require.Error(t, err)
	require.Nil(t, p)
	var re *RecordError
	require.ErrorAs(t, err, &re)
	return re
}

// field reads one payload path out of a built payload, as a string; "" when absent. It is the
// test's independent view of where each path lands.
func field(t *testing.T, p *sink.Payload, path string) string {
	t.Helper()
	o := p.Request.Object
	switch path {
	case "objectId":
		return o.ObjectID
	case "password":
		return o.Password
	case "token":
		return p.Token
	case "locale":
		return p.Locale
	case "device":
		return p.Request.Source.ID
	}
	parts := strings.Split(path, ".")
	switch parts[0] {
	case "ids":
		id, ok := o.IDs[parts[1]]
		if !ok {
			return ""
		}
		if len(parts) == 3 {
			if id.Confirmed == nil {
				return ""
			}
			return strconv.FormatBool(*id.Confirmed)
		}
		return id.Value
	case "datas":
		return o.Datas[parts[1]].Value
	case "assertions":
		if o.Assertions == nil {
			return ""
		}
		for _, a := range o.Assertions.Items {
			if a.Type == parts[1] {
				return strconv.FormatBool(a.Value)
			}
		}
		return ""
	case "addresses":
		if o.Addresses == nil {
			return ""
		}
		for _, a := range o.Addresses.Items {
			if a.Type != parts[1] {
				continue
			}
			return map[string]string{
				"streetAddress": a.StreetAddress, "locality": a.Locality, "region": a.Region,
				"postalCode": a.PostalCode, "country": a.Country,
			}[parts[2]]
		}
		return ""
	}
	t.Fatalf("field: unknown path %q", path)
	return ""
}
