package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/source"
)

func TestParseRegion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+34": "ES", "34": "ES", "1": "US", "+1": "US", "+351": "PT", "+44": "GB",
		"ES": "ES", "es": "ES", "gb": "GB", "CA": "CA",
	} {
		got, err := parseRegion(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"+": "is neither", "+0": "is neither", "034": "is neither", "+3456": "is neither", "+3a": "is neither",
		"++34": "is neither", " 34": "is neither", "": "is neither", "Spain": "is neither", "XX": "is neither",
		"+800": "belongs to no region", "+999": "belongs to no region",
	} {
		_, err := parseRegion(in)
		require.ErrorContains(t, err, want, in)
	}
}

// TestPhoneFormat: numbers are read in their region by libphonenumber, validated and written
// in E.164; one in international form keeps its own country.
func TestPhoneFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region, value string
		want          string
		reason        string // when want is ""
	}{
		{"ES", "600 11 22 33", "+34600112233", ""},
		{"ES", "(600) 11.22-33", "+34600112233", ""},
		{"ES", "600\u00a0112\u00a0233", "+34600112233", ""},
		{"ES", "911 23 45 67", "+34911234567", ""},
		{"ES", "0044 20 7946 0958", "+442079460958", ""},
		{"ES", "+44 (20) 7946-0958", "+442079460958", ""},
		{"US", "+34 600 123 456", "+34600123456", ""},
		{"US", "(416) 680-6155", "+14166806155", ""},
		{"CA", "(416) 680-6155", "+14166806155", ""},
		{"US", "1 (212) 555-0100", "+12125550100", ""},
		{"GB", "020 7946 0958", "+442079460958", ""},
		{"ES", "-", "", ""},
		{"ES", " ", "", ""},
		{"ES", "(416) 680-6155", "", `"(416) 680-6155" is not a valid phone number in region ES`},
		{"US", "(555) 123-4567", "", `"(555) 123-4567" is not a valid phone number in region US`},
		{"ES", "112", "", `"112" is not a valid phone number in region ES`},
		{"ES", "6001122334455667788", "", "is not a valid phone number in region ES"},
		{"ES", "+999 123 4567", "", `"+999 123 4567" is not a valid phone number`},
		{"ES", "600 112 233 ext 5", "", `"600 112 233 ext 5" is not a phone number`},
		{"ES", "+", "", "is not a phone number"},
		{"ES", "++34600112233", "", "is not a phone number"},
		{"ES", "600+112233", "", "is not a phone number"},
		{"ES", "６００１１２２３３", "", "is not a phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.region+" "+tt.value, func(t *testing.T) {
			t.Parallel()
			r, err := compilePhone(&Phone{Region: tt.region})
			require.NoError(t, err)
			got, reason := r.format(tt.value, nil, false)
			require.Equal(t, tt.want, got)
			if tt.want == "" {
				require.Contains(t, reason, tt.reason)
			} else {
				require.Empty(t, reason)
			}
		})
	}
	r, err := compilePhone(&Phone{Region: "ES"})
	require.NoError(t, err)
	_, reason := r.format("tok-Secret 42", nil, true)
	require.NotContains(t, reason, "Secret")
}

// TestPhoneRegionColumn: each row's region comes from a column, through that column's own
// transforms; a national number with no region is invalid, an international one needs none.
func TestPhoneRegionColumn(t *testing.T) {
	t.Parallel()
	header := []string{"key", "Phone Number", "Country/Region", "ids.email", "datas.name", "assertions.terms"}
	countries := map[string]string{"United States": "US", "Canada": "CA", "Spain": "ES", "United Kingdom": "GB"}
	mapped := compile(t, &File{Columns: map[string]Column{
		"Phone Number":   {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Country/Region"}},
		"Country/Region": {To: "datas.country", Trim: true, Map: countries},
	}}, header, Options{})
	fallback := compile(t, &File{Columns: map[string]Column{
		"Phone Number":   {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Country/Region", Region: "US"}},
		"Country/Region": {To: "datas.country", Map: countries},
	}}, header, Options{})
	raw := compile(t, &File{Columns: map[string]Column{
		"Phone Number": {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Country/Region"}},
	}}, header, Options{})

	tests := []struct {
		name          string
		m             *Mapper
		phone, region string
		want          string
		reason        string // when want is ""
	}{
		{"US", mapped, "(416) 680-6155", "United States", "+14166806155", ""},
		{"Canada", mapped, "(416) 680-6155", " Canada ", "+14166806155", ""},
		{"Spain", mapped, "600 123 456", "Spain", "+34600123456", ""},
		{"United Kingdom", mapped, "020 7946 0958", "United Kingdom", "+442079460958", ""},
		{"international, own country", mapped, "+34 600 123 456", "United States", "+34600123456", ""},
		{"international, no region needed", mapped, "0044 20 7946 0958", "", "+442079460958", ""},
		{"not valid in its region", mapped, "600 123 456", "United States", "", `"600 123 456" is not a valid phone number in region US`},
		{"no region", mapped, "600 123 456", "", "", `"600 123 456" has no country code, and column "Country/Region" is empty: no region to read it in`},
		{"region not in its map", mapped, "600 123 456", "Narnia", "", `"Narnia" is not listed in the column's map`},
		{"fallback region", fallback, "(212) 555-0100", "", "+12125550100", ""},
		{"fallback unused", fallback, "600 123 456", "Spain", "+34600123456", ""},
		{"codes without a map", raw, "600 123 456", "es", "+34600123456", ""},
		{"a name without a map", raw, "600 123 456", "Spain", "",
			`region column "Country/Region" holds "Spain", not a region code such as ES: translate names with a map on that column`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := source.Record{Line: 4, Values: []string{"c-1", tt.phone, tt.region, "ana@example.com", "Ana", "yes"}}
			if tt.want == "" {
				re := buildErr(t, tt.m, rec)
				require.Equal(t, 4, re.Line)
				require.Contains(t, re.Reason, tt.reason)
				return
			}
			p, err := tt.m.Build(rec)
			require.NoError(t, err)
			require.Equal(t, tt.want, field(t, p, "ids.phone_number"))
		})
	}
}

func TestPhoneCompileErrors(t *testing.T) {
	t.Parallel()
	header := []string{"key", "Phone", "Country", "ids.email", "datas.name", "assertions.terms", "password"}
	tests := []struct {
		name string
		cols map[string]Column
		want string
	}{
		{"no region", map[string]Column{"Phone": {To: "ids.phone_number", Phone: &Phone{}}},
			`column "Phone": phone: set region (e.g. region: ES) or region_column`},
		{"bad region", map[string]Column{"Phone": {To: "ids.phone_number", Phone: &Phone{Region: "Spain"}}},
			`column "Phone": phone: region "Spain" is neither a region code such as ES nor a calling code such as "+34"`},
		{"region column absent", map[string]Column{"Phone": {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Pais"}}},
			`column "Phone": phone: region_column "Pais" is not in the source's header`},
		{"region column is itself", map[string]Column{"Phone": {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Phone"}}},
			`column "Phone": phone: region_column is the phone column itself`},
		{"region column has a phone transform", map[string]Column{
			"Phone":   {To: "ids.phone_number", Phone: &Phone{RegionColumn: "Country"}},
			"Country": {To: "datas.telephone", Phone: &Phone{Region: "ES"}},
		}, `column "Phone": phone: region_column "Country" has a phone transform itself`},
		{"region column a secret", map[string]Column{
			"Phone":    {To: "ids.phone_number", Phone: &Phone{RegionColumn: "password"}},
			"password": {To: "password"},
		}, `region_column "password" maps to password, a secret`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(&File{Columns: tt.cols}, header, Options{})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestLoadPhoneForms(t *testing.T) {
	t.Parallel()
	f, err := Load(writeMapping(t, `
columns:
  A: {to: ids.phone_number, phone: +34}
  B: {to: datas.telephone, phone: ES}
  C: {to: datas.mobile, phone: {region: gb}}
  D: {to: datas.fax, phone: {region_column: Country/Region, region: US}}
  E: {to: datas.name, phone: ""}
  F:
    to: datas.pager
    phone:
      region: ES
custom: [datas.mobile, datas.fax, datas.pager]
`))
	require.NoError(t, err)
	require.Equal(t, &Phone{Region: "+34"}, f.Columns["A"].Phone, "scalars are read as written, not as numbers")
	require.Equal(t, &Phone{Region: "ES"}, f.Columns["B"].Phone)
	require.Equal(t, &Phone{Region: "gb"}, f.Columns["C"].Phone)
	require.Equal(t, &Phone{Region: "US", RegionColumn: "Country/Region"}, f.Columns["D"].Phone)
	require.Nil(t, f.Columns["E"].Phone, "an empty phone is no phone transform")
	require.Equal(t, &Phone{Region: "ES"}, f.Columns["F"].Phone, "a block mapping of one key")

	_, err = Load(writeMapping(t, "columns:\n  A: {to: ids.phone_number, phone: {regoin: ES}}\n"))
	require.ErrorContains(t, err, `line 2: unknown key "regoin" in phone: valid keys are region, region_column`)
	_, err = Load(writeMapping(t, "columns:\n  A:\n    to: ids.phone_number\n    phone:\n      regoin: ES\n"))
	require.ErrorContains(t, err, `line 5: unknown key "regoin" in phone: valid keys are region, region_column`)
	_, err = Load(writeMapping(t, "columns:\n  A: {to: ids.phone_number, phone: [ES]}\n"))
	require.ErrorContains(t, err, "a sequence is not a string")
}
