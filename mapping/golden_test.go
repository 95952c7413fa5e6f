package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/source"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the payloads built now")

// crmHeader and crmRow are a CRM export as testdata/crm.yaml maps it.
var (
	crmHeader = []string{
		"crm_id", "DRUID Id", "First Name", "Last Name", "Email Address", "Email Verified", "Mobile",
		"Date of Birth", "Home Street", "Home City", "Home Zip", "Work Street", "Work City",
		"Marketing Status", "Initial Password", "Notes",
	}
	crmRow = []string{
		"c-17", "5f1e0c2a9b", " Ana ", "García López ", "  Ana.Garcia@Example.COM ", "yes", "600 11 22 33",
		"1974-10-22", "Gran Vía 1", "Madrid", "28013", "Paseo de la Castellana 200", "Madrid",
		"Subscribed", "Chang3-me!", "VIP customer",
	}
)

// TestGolden pins the exact bodies of representative users: any change of the wire format
// shows up here as a diff to review (go test ./mapping -update rewrites the files).
func TestGolden(t *testing.T) {
	t.Parallel()
	crm, err := Load("testdata/crm.yaml")
	require.NoError(t, err)
	tests := []struct {
		name   string
		f      *File
		header []string
		row    []string
		opts   Options
	}{
		{
			name:   "dotted",
			header: dottedHeader,
			row:    nil, // dottedRow's valid user
			opts:   Options{AppID: "231705665113870"},
		},
		{
			name:   "crm",
			f:      crm,
			header: crmHeader,
			row:    crmRow,
			opts:   Options{AppID: "231705665113870"},
		},
		{
			// Empty cells are left out: no objectId, password, phone, birthday, addresses or
			// confirmed flag; the "" map entry still gives optin; the constants remain.
			name:   "crm-sparse",
			f:      crm,
			header: crmHeader,
			row:    []string{"c-18", "", "Luis", "", "luis@example.com", "", "", "", "", "", "", "", "", "", "", ""},
			opts:   Options{AppID: "231705665113870"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row := tt.row
			if row == nil {
				row = dottedRow(t, nil)
			}
			p, err := compile(t, tt.f, tt.header, tt.opts).Build(source.Record{Line: 2, Values: row})
			require.NoError(t, err)

			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, p.Body, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", tt.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./mapping -update to create it")
			require.Equal(t, string(want), pretty.String())

			// The golden file is indented for review; Body must be its compact form, byte for byte.
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, want))
			require.Equal(t, compact.String(), string(p.Body))
		})
	}
}
