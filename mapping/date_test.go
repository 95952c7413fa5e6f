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
