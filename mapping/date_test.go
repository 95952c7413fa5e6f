package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDateLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		layout, value, want string // want "" = the value does not fit
		wantErr             string
	}{
		{layout: "YYYY-MM-DD", value: "1974-10-22", want: "22/10/1974"},
		{layout: "MM/DD/YYYY", value: "02/29/2024", want: "29/02/2024"},
		{layout: "DD.MM.YYYY", value: "31.12.1999", want: "31/12/1999"},
		{layout: "YYYYMMDD", value: "20000101", want: "01/01/2000"},
		{layout: "DD/MM/YYYY", value: "22/10/1974", want: "22/10/1974"},
		{layout: "YYYY年MM月DD日", value: "1974年10月22日", want: "22/10/1974"},
		{layout: "YYYY-MM-DD", value: "1974-1-22"},
		{layout: "YYYY-MM-DD", value: "1974-10-2a"},
		{layout: "YYYY-MM-DD", value: "1974-04-31"},
		{layout: "YYYY-MM-DD", value: "1974-00-10"},
		{layout: "YYYY-MM-DD", value: "1974-10-00"},
		{layout: "YYYY-MM-DD", value: "2100-02-29"},
		{layout: "YYYY-MM-DD", value: "2000-02-29", want: "29/02/2000"},
		{layout: "YYYY-MM-DD", value: "1974-10-22x"},
		{layout: "YYYY-MM-DD", value: "1974_10_22"},
		{layout: "YYYY-MM-DD", value: ""},
		{layout: "DD/MM/YY", wantErr: `"Y" is neither`},
		{layout: "yyyy-mm-dd", wantErr: `"y" is neither`},
		{layout: "YYYY-MM", wantErr: "no DD"},
		{layout: "", wantErr: "no YYYY, MM, DD"},
		{layout: "YYYY-MM-DD-DD", wantErr: "DD appears twice"},
		{layout: "YYYY-MM-DDT00", wantErr: `"T" is neither`},
	}
	for _, tt := range tests {
		t.Run(tt.layout+" "+tt.value, func(t *testing.T) {
			t.Parallel()
			l, err := parseDateLayout(tt.layout)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			got, ok := l.parse(tt.value)
			require.Equal(t, tt.want != "", ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestDateLayouts: several layouts are tried in order; a value two of them read as different
// dates is refused rather than guessed, one they read alike is fine.
func TestDateLayouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		layouts []string
		value   string
		want    string
		reason  string // when want is ""
	}{
		{"first", []string{"YYYY-MM-DD", "MM/DD/YYYY"}, "1985-03-07", "07/03/1985", ""},
		{"second", []string{"YYYY-MM-DD", "MM/DD/YYYY"}, "03/07/1985", "07/03/1985", ""},
		{"neither", []string{"YYYY-MM-DD", "MM/DD/YYYY"}, "7 March 1985", "", `"7 March 1985" is not a date YYYY-MM-DD or MM/DD/YYYY`},
		{"not a real date under either", []string{"YYYY-MM-DD", "MM/DD/YYYY"}, "02/30/1985", "", "is not a date YYYY-MM-DD or MM/DD/YYYY"},
		{"ambiguous", []string{"MM/DD/YYYY", "DD/MM/YYYY"}, "03/07/1985", "",
			`"03/07/1985" is ambiguous: 7 March 1985 under MM/DD/YYYY, 3 July 1985 under DD/MM/YYYY: rather than guess, fix the cell`},
		{"ambiguous, order kept", []string{"DD/MM/YYYY", "MM/DD/YYYY"}, "03/07/1985", "",
			`"03/07/1985" is ambiguous: 3 July 1985 under DD/MM/YYYY, 7 March 1985 under MM/DD/YYYY`},
		{"same date under both", []string{"MM/DD/YYYY", "DD/MM/YYYY"}, "07/07/1985", "07/07/1985", ""},
		{"only one can read it", []string{"MM/DD/YYYY", "DD/MM/YYYY"}, "03/25/1985", "25/03/1985", ""},
		{"only the other can read it", []string{"MM/DD/YYYY", "DD/MM/YYYY"}, "25/03/1985", "25/03/1985", ""},
		{"one layout", []string{"YYYY-MM-DD"}, "1985-03-07x", "", `"1985-03-07x" is not a date YYYY-MM-DD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls, err := parseDateLayouts(tt.layouts)
			require.NoError(t, err)
			got, reason := ls.parse(tt.value, false)
			require.Equal(t, tt.want, got)
			if tt.want == "" {
				require.Contains(t, reason, tt.reason)
			} else {
				require.Empty(t, reason)
			}
		})
	}

	ls, err := parseDateLayouts([]string{"MM/DD/YYYY", "DD/MM/YYYY"})
	require.NoError(t, err)
	_, reason := ls.parse("03/07/1985", true)
	require.Equal(t, "the value is ambiguous: MM/DD/YYYY and DD/MM/YYYY read different dates", reason, "a secret's dates are not shown")
}

func TestParseDateLayoutsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		layouts []string
		want    string
	}{
		{[]string{}, "no layout"},
		{[]string{"YYYY-MM-DD", "YYYY-MM-DD"}, `date layout "YYYY-MM-DD" is listed twice`},
		{[]string{"YYYY-MM-DD", "DD/MM/YY"}, `date layout "DD/MM/YY": "Y" is neither`},
		{[]string{"YYYY-MM-DD|MM/DD/YYYY"}, `MM appears twice; several layouts are written as a list: date: [YYYY-MM-DD, MM/DD/YYYY]`},
	}
	for _, tt := range tests {
		_, err := parseDateLayouts(tt.layouts)
		require.ErrorContains(t, err, tt.want, "%q", tt.layouts)
	}
}
