package sink

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// acceptOnly answers 401 to any token but tok, and 200 to tok.
func acceptOnly(tok string) reply {
	return reply{fn: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tok {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"result":{"status":401,"errors":[{"message":"token","details":"expired"}]}}`)
			return
		}
		fmt.Fprint(w, envelopeOK)
	}}
}

func TestSendRereadsTheTokenFileOn401(t *testing.T) {
	t.Parallel()
	const wantError = "401: token missing, invalid or expired"
	tests := []struct {
		name         string
		rotateTo     string // what the file holds when the 401 arrives; empty: left alone
		userToken    string
		replies      []reply
		want         Outcome
		wantAttempts int
		wantReads    int64    // re-reads of the file after New
		wantTokens   []string // bearer tokens DRUID saw, in order
	}{
		{"rotated: one retry with the new token", fileToken2, "", []reply{acceptOnly(fileToken2)},
			Updated, 2, 1, []string{fileToken1, fileToken2}},
		{"not rotated: failed", "", "", []reply{acceptOnly(fileToken2)},
			Failed, 1, 1, []string{fileToken1}},
		{"rotated but refused too: failed, one refresh only", fileToken2, "", []reply{{code: 401}},
			Failed, 2, 1, []string{fileToken1, fileToken2}},
		{"rotated, then transient, then updated", fileToken2, "", []reply{{code: 401}, {code: 503}, {code: 200}},
			Updated, 3, 1, []string{fileToken1, fileToken2, fileToken2}},
		{"a per-user token's 401 is that user's failure", fileToken2, userToken, []reply{acceptOnly(fileToken2)},
			Failed, 1, 0, []string{userToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tokenFile(t, fileToken1)
			d := newDRUID(t, tt.replies...)
			c, _ := newClient(t, d.srv.URL, func(c *Config) { c.Token, c.TokenFile, c.Retries = "", path, 5 })
			reads := countReads(c)
			if tt.rotateTo != "" {
				writeToken(t, path, tt.rotateTo)
			}
			p := newPayload(t)
			p.Token = tt.userToken
			res := c.Send(t.Context(), p)
			require.Equal(t, tt.want, res.Outcome, res.Error)
			require.Equal(t, tt.wantAttempts, res.Attempts, "the 401 retry counts as an attempt")
			if tt.want == Failed {
				require.Equal(t, 401, res.Code)
				require.Equal(t, wantError, res.Error)
			}
			require.Equal(t, tt.wantReads, reads.Load())
			var tokens []string
			for _, r := range d.requests() {
				tokens = append(tokens, strings.TrimPrefix(r.header.Get("Authorization"), "Bearer "))
			}
			require.Equal(t, tt.wantTokens, tokens)
		})
	}
}

func TestSendKeepsTheTokenWhenTheFileIsBeingRewritten(t *testing.T) {
	t.Parallel()
	path := tokenFile(t, fileToken1)
	d := newDRUID(t, reply{code: 401}, reply{code: 200})
	c, logs := newClient(t, d.srv.URL, func(c *Config) { c.Token, c.TokenFile = "", path })
	reads := countReads(c)
	require.NoError(t, os.WriteFile(path, nil, 0o600)) // truncated by its writer, not yet written

	res := c.Send(t.Context(), newPayload(t))
	require.Equal(t, SendResult{Outcome: Failed, Code: 401, Attempts: 1, Error: "401: token missing, invalid or expired"}, res)
	require.Equal(t, int64(1), reads.Load())
	require.Equal(t, fileToken1, c.tokens.current().value, "an empty file does not replace the token")
	require.Contains(t, logs.String(), `is empty","message":"re-read of the token file failed`, "the operator learns why")

	res = c.Send(t.Context(), newPayload(t))
	require.Equal(t, Updated, res.Outcome, res.Error)
	require.Equal(t, "Bearer "+fileToken1, d.requests()[1].header.Get("Authorization"))
}

func TestSendConcurrent401sRereadTheFileOnce(t *testing.T) {
	t.Parallel()
	const workers = 8
	tests := []struct {
		name   string
		rotate bool
		want   Outcome
	}{
		{"rotated", true, Updated},
		{"not rotated", false, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every call with the old token is held until all of them have arrived, so that
			// the 401s come back together.
			all := newMeeting(workers)
			barrier := reply{fn: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") == "Bearer "+fileToken2 {
					fmt.Fprint(w, envelopeOK)
					return
				}
				all.wait()
				w.WriteHeader(http.StatusUnauthorized)
			}}
			path := tokenFile(t, fileToken1)
			d := newDRUID(t, barrier)
			c, _ := newClient(t, d.srv.URL, func(c *Config) {
				c.Token, c.TokenFile, c.Concurrency = "", path, workers
			})
			reads := countReads(c)
			if tt.rotate {
				writeToken(t, path, fileToken2)
			}

			results := sendAll(t, c, newPayload(t), workers)
			require.True(t, all.met(), "the calls with the old token did not all meet at DRUID")
			require.Equal(t, int64(1), reads.Load(), "%d concurrent 401s re-read the file once", workers)
			for _, res := range results {
				require.Equal(t, tt.want, res.Outcome, res.Error)
			}
		})
	}
}

func TestTokenSourceRefresh(t *testing.T) {
	t.Parallel()
	path := tokenFile(t, fileToken1)
	s, err := newTokenSource("", path, zerolog.Nop())
	require.NoError(t, err)
	old := s.current()
	require.Equal(t, fileToken1, old.value)

	writeToken(t, path, fileToken2)
	next, changed := s.refresh(old)
	require.True(t, changed)
	require.Equal(t, fileToken2, next.value)

	// A call that took its token before that re-read shares it instead of reading again.
	writeToken(t, path, "SECRET-file-token-3-SECRET")
	again, changed := s.refresh(old)
	require.True(t, changed)
	require.Equal(t, fileToken2, again.value)

	// A call that took the current token reads the file.
	third, changed := s.refresh(next)
	require.True(t, changed)
	require.Equal(t, "SECRET-file-token-3-SECRET", third.value)

	_, changed = s.refresh(third)
	require.False(t, changed, "the file still holds the token DRUID refused")
}

func TestStaticTokenIsTrimmed(t *testing.T) {
	t.Parallel()
	s, err := newTokenSource(" "+testToken+"\n", "", zerolog.Nop())
	require.NoError(t, err)
	require.Equal(t, testToken, s.current().value)
	require.False(t, s.refreshable())

	s, err = newTokenSource("", "", zerolog.Nop())
	require.NoError(t, err)
	require.Nil(t, s, "no configured token: every record carries its own")
}
