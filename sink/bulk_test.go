package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"druid-migrate/internal/logtest"
)

// testBatch is a body of two lines, as a caller joins AppendBulkLine's lines.
const testBatch = `{"object_id":"u-1","datas":{"name":{"objectType":"user_data","value":"Ana"}}}` + "\n" +
	`{"object_id":"u-2","ids":{"phone_number":null}}`

// accepted answers an upload as DRUID takes a batch.
func accepted(w http.ResponseWriter, code int, bulkID string) {
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"content":{"bulkId":%q},"result":{"status":%d}}`, bulkID, code)
}

// newTestBulk returns a Bulk of a Client of the fake DRUID d, with the client credentials, fast
// backoffs and no retries unless edit says otherwise, logging at debug into the returned buffer.
// When the test ends, it checks that no log line carries a secret.
func newTestBulk(t *testing.T, d *readDRUID, edit func(*BulkConfig)) (*Bulk, *Client, *logtest.Buffer) {
	t.Helper()
	c, _ := newClient(t, d.srv.URL, nil)
	log, logs := debugLog(t)
	cfg := BulkConfig{
		Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: testTimeout, Log: log,
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := c.Bulk(cfg)
	require.NoError(t, err)
	return b, c, logs
}

func TestBulkNeedsTheClientCredentials(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, nil)
	c, _ := newClient(t, d.srv.URL, nil)
	for name, edit := range map[string]func(*BulkConfig){
		"no id":     func(c *BulkConfig) { c.ClientID = "" },
		"no secret": func(c *BulkConfig) { c.ClientSecret = "" },
	} {
		cfg := BulkConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret}
		edit(&cfg)
		_, err := c.Bulk(cfg)
		require.ErrorContains(t, err, "--client-id and --client-secret are required by DRUID's Bulk API", name)
	}
	_, err := c.Bulk(BulkConfig{Endpoint: "http://user:" + marker + "@druid.example", EntryPoint: entryPoint,
		ClientID: readClientID, ClientSecret: readClientSecret})
	require.ErrorContains(t, err, "must not carry credentials")
	requireNoSecret(t, "error", err.Error())
	_, err = c.Bulk(BulkConfig{Endpoint: d.srv.URL, ClientID: readClientID, ClientSecret: readClientSecret})
	require.EqualError(t, err, "--entry-point is required")
	require.Zero(t, d.tokenCalls.Load()+d.bulkCalls.Load(), "no call before the first")
}

func TestBulkUpload(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusAccepted, http.StatusOK} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) {
				d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) { accepted(w, code, "b-1") }
			})
			b, c, _ := newTestBulk(t, d, nil)
			id, err := b.Upload(context.Background(), []byte(testBatch))
			require.NoError(t, err)
			require.Equal(t, "b-1", id)

			got := d.bulkRequests()
			require.Len(t, got, 1)
			require.Equal(t, http.MethodPatch, got[0].method)
			require.Equal(t, BulkPath, got[0].path)
			require.Equal(t, testBatch, string(got[0].body), "the body is sent as it is")
			require.Equal(t, "Bearer "+clientToken(1), got[0].header.Get("Authorization"), "the app's client token")
			require.Equal(t, "application/jsonl", got[0].header.Get("Content-Type"))
			require.Equal(t, "application/json", got[0].header.Get("Accept"))
			require.Equal(t, entryPoint, got[0].header.Get("From"))
			require.Equal(t, "client_credentials", d.forms[0].Get("grant_type"))
			require.Equal(t, BulkStats{Uploads: 1}, b.Stats())
			require.Zero(t, c.Stats().Requests, "the Client's own counts are its updates'")
		})
	}
}

func TestBulkUploadRefusesWhatDRUIDWouldNot(t *testing.T) {
	t.Parallel()
	line := `{"object_id":"u"}`
	tests := map[string]struct {
		body    string
		wantErr string
	}{
		"empty":          {"", "bulk upload: no line to send"},
		"blank lines":    {"\n \n\t\n", "bulk upload: no line to send"},
		"too many lines": {strings.Repeat(line+"\n", BulkMaxLines+1), "bulk upload: 1001 lines, past the 1000 DRUID takes in one batch"},
		"too many bytes": {lineOf(BulkMaxBytes + 1), "bulk upload: 5242881 bytes, past the 5242880 DRUID takes in one batch"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, nil)
			b, _, _ := newTestBulk(t, d, nil)
			_, err := b.Upload(context.Background(), []byte(tt.body))
			require.EqualError(t, err, tt.wantErr)
			require.Zero(t, d.tokenCalls.Load()+d.bulkCalls.Load(), "refused before any call")
		})
	}
	t.Run("at the limits", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) { accepted(w, 202, "b-1") }
		})
		b, _, _ := newTestBulk(t, d, nil)
		_, err := b.Upload(context.Background(), []byte(strings.Repeat(line+"\n", BulkMaxLines)))
		require.NoError(t, err, "1000 lines, the last one ending in a newline")
		_, err = b.Upload(context.Background(), []byte(lineOf(BulkMaxBytes)))
		require.NoError(t, err, "5 MiB exactly")
	})
}

// lineOf returns a line of n bytes.
func lineOf(n int) string {
	const open, end = `{"object_id":"`, `"}`
	return open + strings.Repeat("x", n-len(open)-len(end)) + end
}

func TestBulkUploadRefused(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		code    int
		body    string
		wantErr string
	}{
		"413": {413, `{"result":{"status":413,"errors":[{"message":"body","details":"more than 1000 lines"}]}}`,
			"bulk upload of 2 lines: 413: body: more than 1000 lines"},
		"415": {415, `{"result":{"status":415}}`, "bulk upload of 2 lines: 415: unsupported media type"},
		"403": {403, `{"result":{"status":403,"errors":[{"message":"scope","details":"no bulk for this app"}]}}`,
			"bulk upload of 2 lines: 403: scope: no bulk for this app"},
		"redirect": {302, "", "bulk upload of 2 lines: 302: redirects are not followed: check --endpoint"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) {
				d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
					if tt.code == 302 {
						w.Header().Set("Location", "/elsewhere")
					}
					w.WriteHeader(tt.code)
					io.WriteString(w, tt.body)
				}
			})
			b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 3 })
			id, err := b.Upload(context.Background(), []byte(testBatch))
			require.Empty(t, id)
			require.EqualError(t, err, tt.wantErr)
			se, ok := errors.AsType[*StatusError](err)
			require.True(t, ok, "the refusal carries DRUID's answer")
			require.Equal(t, tt.code, se.Code)
			require.False(t, Retryable(err))
			require.EqualValues(t, 1, d.bulkCalls.Load(), "a refusal is not retried")
		})
	}
	t.Run("no batch id", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
				w.WriteHeader(http.StatusAccepted)
				io.WriteString(w, `{"content":{},"result":{"status":202}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 3 })
		_, err := b.Upload(context.Background(), []byte(testBatch))
		require.EqualError(t, err, "bulk upload of 2 lines: 202 without a batch id in content.bulkId: not DRUID's answer (check --endpoint)")
		require.EqualValues(t, 1, d.bulkCalls.Load())
	})
}

func TestBulkUploadRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	t.Run("then accepted", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
				switch n {
				case 1:
					w.WriteHeader(http.StatusServiceUnavailable) // no Retry-After: a fault of the call
				case 2:
					conn, _, _ := http.NewResponseController(w).Hijack()
					conn.Close()
				default:
					accepted(w, 202, "b-3")
				}
			}
		})
		b, c, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 2 })
		id, err := b.Upload(context.Background(), []byte(testBatch))
		require.NoError(t, err)
		require.Equal(t, "b-3", id)
		for _, r := range d.bulkRequests() {
			require.Equal(t, testBatch, string(r.body), "every try sends the whole batch")
		}
		require.Equal(t, BulkStats{Uploads: 3}, b.Stats())
		require.EqualValues(t, 1, d.tokenCalls.Load(), "a transient failure keeps the token")
		require.Zero(t, c.Stats().SlowDowns, "a 503 without Retry-After does not slow the job down")
	})
	t.Run("exhausted", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, `{"result":{"status":500,"errors":[{"message":"server","details":"busy"}]}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 2 })
		_, err := b.Upload(context.Background(), []byte(testBatch))
		require.EqualError(t, err, "bulk upload of 2 lines: 500: server: busy")
		require.True(t, Retryable(err), "the caller may send the batch again later")
		require.EqualValues(t, 3, d.bulkCalls.Load())
	})
}

// TestBulkUploadThrottled checks that a throttling answer to an upload slows the whole job down,
// as one to an update does: the Client's limiter is cut, every caller holds for Retry-After.
func TestBulkUploadThrottled(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"result":{"status":429}}`)
				return
			}
			accepted(w, 202, "b-2")
		}
	})
	lim := rate.NewLimiter(1000, 1)
	c, _ := newClient(t, d.srv.URL, func(cfg *Config) { cfg.Limiter = lim })
	b, err := c.Bulk(BulkConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID,
		ClientSecret: readClientSecret, Retries: 1, BackoffBase: time.Millisecond})
	require.NoError(t, err)
	require.Same(t, c.gate, b.r.gate, "the Client's pace")

	start := time.Now()
	id, err := b.Upload(context.Background(), []byte(testBatch))
	require.NoError(t, err)
	require.Equal(t, "b-2", id)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "the retry waited for Retry-After")
	st := c.Stats()
	require.EqualValues(t, 1, st.Throttled, "the upload's 429 counts for the whole job")
	require.EqualValues(t, 1, st.SlowDowns)
	require.Equal(t, 500.0, st.MinRate, "the upload's 429 halved the rate the updates keep to")
	require.NotZero(t, c.gate.heldUntil.Load(), "a 429 holds every caller")
}

func TestBulkRenewsTheTokenOnceOn401(t *testing.T) {
	t.Parallel()
	t.Run("renewed", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, tok string, _ int64) {
				if tok == clientToken(1) {
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, `{"result":{"status":401,"errors":[{"message":"Authorization","details":"expired"}]}}`)
					return
				}
				accepted(w, 202, "b-1")
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		id, err := b.Upload(context.Background(), []byte(testBatch))
		require.NoError(t, err, "a 401 is tried once more with a new token, even without retries")
		require.Equal(t, "b-1", id)
		require.EqualValues(t, 2, d.tokenCalls.Load())
		require.EqualValues(t, 2, d.bulkCalls.Load())
	})
	t.Run("refused again", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"result":{"status":401}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 3 })
		_, err := b.Status(context.Background(), "b-1")
		require.EqualError(t, err, `bulk "b-1": status: 401: token missing, invalid or expired`)
		require.EqualValues(t, 2, d.tokenCalls.Load(), "renewed once")
		require.EqualValues(t, 2, d.bulkCalls.Load())
	})
}

func TestBulkStatus(t *testing.T) {
	t.Parallel()
	for _, state := range []BulkState{BulkReceived, BulkScheduled, BulkProcessing, BulkCompleted, BulkFailed} {
		t.Run(string(state), func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) {
				d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
					fmt.Fprintf(w, `{"content":{"bulkId":"b/1","status":%q},"result":{"status":200}}`, state)
				}
			})
			b, _, _ := newTestBulk(t, d, nil)
			got, err := b.Status(context.Background(), "b/1")
			require.NoError(t, err)
			require.Equal(t, state, got)
			require.Equal(t, state == BulkCompleted || state == BulkFailed, got.Done())
			r := d.bulkRequests()[0]
			require.Equal(t, http.MethodGet, r.method)
			require.Equal(t, BulkPath+"/b/1", r.path, "the id path-escaped: %%2F reads back as /")
			require.Equal(t, "Bearer "+clientToken(1), r.header.Get("Authorization"))
			require.Equal(t, entryPoint, r.header.Get("From"))
			require.Empty(t, r.header.Get("Content-Type"))
			require.Equal(t, BulkStats{Statuses: 1}, b.Stats())
		})
	}
	tests := map[string]struct {
		code    int
		body    string
		wantErr string
		unknown bool
	}{
		"unknown batch": {404, `{"result":{"status":404,"errors":[{"message":"bulkId","details":"not found"}]}}`,
			`bulk "b-1": status: DRUID does not know the batch (never received, or its results expired): 404: bulkId: not found`, true},
		"no DRUID there": {404, "404 page not found",
			`bulk "b-1": status: 404 without DRUID's envelope: no Bulk API there (check --endpoint): 404 page not found`, false},
		"undocumented state": {200, `{"content":{"status":"cancelled"},"result":{"status":200}}`,
			`bulk "b-1": status: "cancelled" is no state DRUID documents`, false},
		"no state": {200, `{"content":{},"result":{"status":200}}`,
			`bulk "b-1": status: 200 without a status in content.status: not DRUID's answer (check --endpoint)`, false},
		"refused": {400, `{"result":{"status":400,"errors":[{"message":"bulkId","details":"malformed"}]}}`,
			`bulk "b-1": status: 400: bulkId: malformed`, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newReadDRUID(t, func(d *readDRUID) {
				d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
					w.WriteHeader(tt.code)
					io.WriteString(w, tt.body)
				}
			})
			b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 2 })
			_, err := b.Status(context.Background(), "b-1")
			require.EqualError(t, err, tt.wantErr)
			require.Equal(t, tt.unknown, errors.Is(err, ErrBulkUnknown))
			require.EqualValues(t, 1, d.bulkCalls.Load(), "not retried")
		})
	}
	t.Run("not a batch id", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, nil)
		b, _, _ := newTestBulk(t, d, nil)
		for _, id := range []string{"", ".", ".."} {
			_, err := b.Status(context.Background(), id)
			require.ErrorContains(t, err, "not a batch id")
		}
		require.Zero(t, d.tokenCalls.Load()+d.bulkCalls.Load())
	})
	t.Run("retried", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
				if n == 1 {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				io.WriteString(w, `{"content":{"status":"processing"},"result":{"status":200}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 1 })
		got, err := b.Status(context.Background(), "b-1")
		require.NoError(t, err)
		require.Equal(t, BulkProcessing, got)
		require.EqualValues(t, 2, d.bulkCalls.Load())
	})
}

// resultsPage answers a results call with items, and lastID unless it is empty.
func resultsPage(w http.ResponseWriter, lastID string, items ...string) {
	last := ""
	if lastID != "" {
		last = fmt.Sprintf(`,"lastId":%q`, lastID)
	}
	fmt.Fprintf(w, `{"content":{"items":[%s]%s},"result":{"status":200}}`, strings.Join(items, ","), last)
}

// failure is a results item of objectID failed with code on field.
func failure(objectID string, code int, field string) string {
	return fmt.Sprintf(`{"object_id":%q,"status":%d,"errors":[{"message":%q,"details":"bad"}]}`, objectID, code, field)
}

func TestBulkFailuresPages(t *testing.T) {
	t.Parallel()
	collect := func(t *testing.T, b *Bulk, pageSize int) ([]BulkFailure, error) {
		var got []BulkFailure
		err := b.Failures(context.Background(), "b-1", pageSize, func(f BulkFailure) error {
			got = append(got, f)
			return nil
		})
		return got, err
	}
	t.Run("until a page without lastId", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, r *http.Request, _ string, _ int64) {
				switch r.URL.Query().Get("last") {
				case "":
					resultsPage(w, "c2", failure("u-1", 416, "email"), failure("u-2", 404, "object_id"))
				case "c2":
					resultsPage(w, "c4", failure("u-3", 403, "user"), failure("u-4", 428, "mfa"))
				default:
					resultsPage(w, "", failure("u-5", 400, "object_id"))
				}
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		got, err := collect(t, b, 2)
		require.NoError(t, err)
		require.Len(t, got, 5)
		require.Equal(t, BulkFailure{ObjectID: "u-1", Status: 416, Errors: []FieldError{{Message: "email", Details: "bad"}}}, got[0])
		var ids []string
		for _, f := range got {
			ids = append(ids, f.ObjectID)
		}
		require.Equal(t, []string{"u-1", "u-2", "u-3", "u-4", "u-5"}, ids)

		reqs := d.bulkRequests()
		require.Len(t, reqs, 3)
		for i, last := range []string{"", "c2", "c4"} {
			require.Equal(t, http.MethodGet, reqs[i].method)
			require.Equal(t, BulkPath+"/b-1/results", reqs[i].path)
			require.Equal(t, "true", reqs[i].query.Get("failedOnly"))
			require.Equal(t, "2", reqs[i].query.Get("limit"))
			require.Equal(t, last, reqs[i].query.Get("last"))
			require.Equal(t, last != "", reqs[i].query.Has("last"), "the first page has no cursor")
		}
		require.Equal(t, BulkStats{Pages: 3}, b.Stats())
	})
	t.Run("until an empty page", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, r *http.Request, _ string, n int64) {
				if n == 1 {
					resultsPage(w, "c1", failure("u-1", 416, "email"))
					return
				}
				resultsPage(w, "c1-again")
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		got, err := collect(t, b, 0)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.EqualValues(t, 2, d.bulkCalls.Load())
		require.Equal(t, "500", d.bulkRequests()[0].query.Get("limit"), "BulkPageSizeDefault")
	})
	t.Run("no failure", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
				io.WriteString(w, `{"content":{"items":[]},"result":{"status":200}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		got, err := collect(t, b, 10)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("a cursor that does not move", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, _ int64) {
				resultsPage(w, "c1", failure("u-1", 416, "email"))
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		_, err := collect(t, b, 1)
		require.EqualError(t, err, `bulk "b-1": results page 2: the cursor lastId did not move past "c1"`)
		require.EqualValues(t, 2, d.bulkCalls.Load())
	})
	t.Run("fn stops it", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
				resultsPage(w, fmt.Sprint("c", n), failure("u-1", 416, "email"), failure("u-2", 416, "email"))
			}
		})
		b, _, _ := newTestBulk(t, d, nil)
		stop := errors.New("checkpoint down")
		seen := 0
		err := b.Failures(context.Background(), "b-1", 2, func(BulkFailure) error {
			seen++
			return stop
		})
		require.Same(t, stop, err, "fn's error, as it is")
		require.Equal(t, 1, seen)
		require.EqualValues(t, 1, d.bulkCalls.Load())
	})
	t.Run("results expired between pages", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, _ *http.Request, _ string, n int64) {
				if n == 1 {
					resultsPage(w, "c1", failure("u-1", 416, "email"))
					return
				}
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"result":{"status":404}}`)
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 2 })
		got, err := collect(t, b, 1)
		require.ErrorIs(t, err, ErrBulkUnknown)
		require.ErrorContains(t, err, `bulk "b-1": results page 2: `)
		require.Len(t, got, 1, "the first page was seen")
		require.EqualValues(t, 2, d.bulkCalls.Load(), "a 404 is not retried")
	})
	t.Run("a page retried", func(t *testing.T) {
		t.Parallel()
		d := newReadDRUID(t, func(d *readDRUID) {
			d.onBulk = func(w http.ResponseWriter, r *http.Request, _ string, n int64) {
				switch {
				case n == 2:
					w.WriteHeader(http.StatusServiceUnavailable)
				case r.URL.Query().Get("last") == "":
					resultsPage(w, "c1", failure("u-1", 416, "email"))
				default:
					resultsPage(w, "", failure("u-2", 416, "email"))
				}
			}
		})
		b, _, _ := newTestBulk(t, d, func(c *BulkConfig) { c.Retries = 1 })
		got, err := collect(t, b, 1)
		require.NoError(t, err)
		require.Len(t, got, 2, "each failure once")
		require.Equal(t, "c1", d.bulkRequests()[2].query.Get("last"), "the retry asks for the same page")
	})
}

func TestBulkSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, func(d *readDRUID) {
		d.onBulk = func(w http.ResponseWriter, r *http.Request, tok string, _ int64) {
			echo := fmt.Sprintf("%s %s %s", r.Header.Get("Authorization"), tok, readClientSecret)
			switch {
			case r.Method == http.MethodPatch:
				w.WriteHeader(http.StatusTeapot)
				io.WriteString(w, "echo: "+echo)
			case strings.HasSuffix(r.URL.Path, "/results"):
				resultsPage(w, "", fmt.Sprintf(`{"object_id":"u-1","status":416,"errors":[{"message":"email","details":%q}]}`, echo))
			default:
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"result":{"status":400,"errors":[{"message":"bulkId","details":%q}]}}`, echo)
			}
		}
	})
	b, _, logs := newTestBulk(t, d, nil)
	_, err := b.Upload(context.Background(), []byte(testBatch))
	require.ErrorContains(t, err, "418")
	requireNoSecret(t, "error", err.Error())
	_, err = b.Status(context.Background(), "b-1")
	require.ErrorContains(t, err, "400: bulkId: Bearer ***")
	requireNoSecret(t, "error", err.Error())
	err = b.Failures(context.Background(), "b-1", 10, func(f BulkFailure) error {
		requireNoSecret(t, "BulkFailure", fmt.Sprint(f))
		return nil
	})
	require.NoError(t, err)
	requireNoSecret(t, "log", logs.String())
	require.NotEmpty(t, logs.String())
}

// TestBulkCallsWaitForATurn checks that every call, token calls included, waits on the Client's
// limiter: with no turn to be had, nothing reaches DRUID.
func TestBulkCallsWaitForATurn(t *testing.T) {
	t.Parallel()
	d := newReadDRUID(t, nil)
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, lim.Allow(), "the burst is spent elsewhere")
	c, _ := newClient(t, d.srv.URL, func(cfg *Config) { cfg.Limiter = lim })
	b, err := c.Bulk(BulkConfig{Endpoint: d.srv.URL, EntryPoint: entryPoint, ClientID: readClientID, ClientSecret: readClientSecret})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Upload(ctx, []byte(testBatch))
	require.ErrorContains(t, err, "bulk upload of 2 lines: waiting for a turn to call DRUID")
	require.Zero(t, d.tokenCalls.Load()+d.bulkCalls.Load())
}

func TestBulkLines(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int{
		"": 0, "\n": 0, "a": 1, "a\n": 1, "a\nb": 2, "a\n\nb\n": 2, " \t\r\n": 0, "a\r\nb\r\n": 2,
	} {
		require.Equal(t, want, bulkLines([]byte(body)), "%q", body)
	}
	require.Equal(t, BulkMaxLines, bulkLines(bytes.Repeat([]byte("{}\n"), BulkMaxLines)))
}
