package sink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      int
		want      Outcome
		wantRetry bool
	}{
		{200, Updated, false},
		{206, Partial, false},
		{304, Unchanged, false},
		{400, Rejected, false},
		{401, Failed, false}, // the token refresh is Send's, not a retry
		{403, Rejected, false},
		{404, Rejected, false},
		{416, Rejected, false},
		{428, Rejected, false},
		{429, Failed, true},
		{500, Failed, true},
		{502, Failed, true},
		{503, Failed, true},
		{504, Failed, true},
		// Codes the table does not list: read by class.
		{408, Failed, true},
		{409, Rejected, false},
		{422, Rejected, false},
		{501, Failed, true},
		{599, Failed, true},
		{201, Failed, false},
		{204, Failed, false},
		{301, Failed, false},
		{307, Failed, false},
		{100, Failed, false},
		{0, Failed, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			t.Parallel()
			o, retry := Classify(tt.code)
			require.Equal(t, tt.want, o)
			require.Equal(t, tt.wantRetry, retry)
		})
	}
}

func ExampleClassify() {
	for _, code := range []int{200, 206, 304, 416, 401, 503} {
		o, retry := Classify(code)
		fmt.Println(code, o, retry)
	}
	// Output:
	// 200 updated false
	// 206 partial false
	// 304 unchanged false
	// 416 rejected false
	// 401 failed false
	// 503 failed true
}

func TestStatusErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  StatusError
		want string
	}{
		{"fields", StatusError{Code: 416, Fields: []FieldError{{"email", "invalid format"}, {"birthday", "not a date"}}},
			"416: email: invalid format; birthday: not a date"},
		{"field without details", StatusError{Code: 400, Fields: []FieldError{{Message: "verb"}}}, "400: verb"},
		{"details without field", StatusError{Code: 400, Fields: []FieldError{{Details: "body is not JSON"}}}, "400: body is not JSON"},
		{"DRUID's meaning", StatusError{Code: 404}, "404: user not found"},
		{"401 keeps its meaning", StatusError{Code: 401, Fields: []FieldError{{"token", "expired"}}}, "401: token missing, invalid or expired"},
		{"excerpt", StatusError{Code: 502, Excerpt: "upstream timed out"}, "502: Bad Gateway: upstream timed out"},
		{"unknown code", StatusError{Code: 299}, "299: unexpected status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"transient status", &StatusError{Code: 503}, true},
		{"wrapped transient status", fmt.Errorf("user %q: %w", "k", &StatusError{Code: 429}), true},
		{"rejection", &StatusError{Code: 416}, false},
		{"unauthorized", &StatusError{Code: 401}, false},
		{"connection refused", &callError{op: "POST", path: UpdatePath, err: refused}, true},
		{"client timeout", &callError{op: "POST", path: UpdatePath, err: context.DeadlineExceeded}, true},
		{"bare network error", refused, true},
		{"shutdown", &callError{op: "POST", path: UpdatePath, err: context.Canceled}, false},
		{"bad certificate", &callError{op: "POST", path: UpdatePath, err: &tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}}, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Retryable(tt.err))
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "3", 3 * time.Second},
		{"seconds with spaces", " 7 ", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"capped", "86400", RetryAfterMax},
		{"huge", "99999999999999999999", RetryAfterMax},
		{"fraction is not a delay", "1.5", 0},
		{"garbage", "soon", 0},
		{"HTTP-date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"RFC 850 date", now.Add(10 * time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT"), 10 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"date far ahead", now.Add(time.Hour).Format(http.TimeFormat), RetryAfterMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, parseRetryAfter(tt.value, now))
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	const base, ceiling = 100 * time.Millisecond, time.Second
	tests := []struct {
		retry      int
		retryAfter time.Duration
		wantMin    time.Duration
		wantWindow time.Duration // delays fall in [wantMin, wantWindow], or equal retryAfter
	}{
		{1, 0, 0, base},
		{2, 0, 0, 2 * base},
		{4, 0, 0, 8 * base},
		{5, 0, 0, ceiling}, // 16×base is past the ceiling
		{200, 0, 0, ceiling},
		{1, 3 * time.Second, 3 * time.Second, 3 * time.Second}, // Retry-After wins over a shorter window
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("retry %d after %s", tt.retry, tt.retryAfter), func(t *testing.T) {
			t.Parallel()
			var longest time.Duration
			for range 2000 {
				d := backoff(tt.retry, base, ceiling, tt.retryAfter)
				require.GreaterOrEqual(t, d, tt.wantMin)
				require.LessOrEqual(t, d, tt.wantWindow)
				longest = max(longest, d)
			}
			// Full jitter spreads over the whole window: 2000 draws all in its lower half
			// happen with probability 2^-2000.
			require.Greater(t, longest, tt.wantWindow/2, "delays are jittered over the whole window")
		})
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		n          int
		want       string
	}{
		{"short and clean", "bad gateway", 200, "bad gateway"},
		{"control characters and runs of space", "a\r\n\tb\x00\x1b[31m  c ", 200, "a b [31m c"},
		{"invalid UTF-8", "a\xff\xfeb", 200, "a\uFFFDb"},
		{"cut with a mark", "0123456789", 8, "01234…"},
		{"cut on a rune boundary", "ééééé", 7, "éé…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := excerpt(tt.text, tt.n)
			require.Equal(t, tt.want, got)
			require.LessOrEqual(t, len(got), tt.n)
		})
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("shutting down")
	cancel(cause)
	require.ErrorIs(t, sleep(ctx, time.Hour), cause)
	require.NoError(t, sleep(t.Context(), 0))
}
