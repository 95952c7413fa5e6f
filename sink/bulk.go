package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// BulkPageSizeDefault is the number of results a Failures page asks for when its caller names
// none.
const BulkPageSizeDefault = 500

// ErrBulkUnknown is the error of a Status or a Failures call about a batch DRUID does not know
// (a 404 in its envelope): it never received it, or has deleted its results since. The batch's
// users have no outcome DRUID can tell: a caller sends them again.
var ErrBulkUnknown = errors.New("DRUID does not know the batch (never received, or its results expired)")

// BulkConfig configures a Bulk. Its zero values take the defaults of ReaderConfig, except
// Retries, where 0 means no retries: the CLI passes RetriesDefault.
type BulkConfig struct {
	// Endpoint is DRUID's base URL (--endpoint), as for Config. Required.
	Endpoint string
	// AuthEndpoint (--auth-endpoint) is the base URL of DRUID's OAuth token endpoint. Defaults
	// to Endpoint.
	AuthEndpoint string
	// EntryPoint is the entry point id sent as the From header (--entry-point). Required.
	EntryPoint string
	// ClientID and ClientSecret (--client-id, --client-secret) get the app's client token,
	// which every call of the Bulk API takes. Both required.
	ClientID, ClientSecret string
	// Timeout bounds one HTTP call, the upload of a whole batch included. Defaults to
	// TimeoutDefault.
	Timeout time.Duration
	// Retries is the number of tries after the first for transient answers, per call: an
	// upload, a status, a page of results. 0 means none. Tries made while DRUID is down for
	// every caller spend none of them (see DownTimeout).
	Retries int
	// DownTimeout (--druid-timeout) is how long a call waits out an outage, as a Send does,
	// before it fails with an error wrapping ErrUnreachable. Defaults to DownTimeoutDefault.
	DownTimeout time.Duration
	// BackoffBase is the first retry's backoff window; each retry doubles it. Defaults to
	// BackoffBaseDefault.
	BackoffBase time.Duration
	// BackoffMax caps the backoff window. Defaults to BackoffMaxDefault; raised to BackoffBase
	// when below it.
	BackoffMax time.Duration
	// Log receives one debug line per call and per retry. Defaults to the zero Logger, which
	// writes nothing.
	Log zerolog.Logger
	// Observe, when set, is told of every HTTP call the Bulk makes, token calls included. Nil
	// uses the Client's Config.Observe.
	Observe ObserveFunc
}

// readerConfig is cfg as the Reader a Bulk makes its calls with takes it.
func (cfg *BulkConfig) readerConfig() ReaderConfig {
	return ReaderConfig{
		Endpoint: cfg.Endpoint, AuthEndpoint: cfg.AuthEndpoint, EntryPoint: cfg.EntryPoint,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Timeout: cfg.Timeout, Retries: cfg.Retries, DownTimeout: cfg.DownTimeout,
		BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax, Log: cfg.Log, Observe: cfg.Observe,
	}
}

// Bulk calls DRUID's Bulk API (SPEC §2.3): it uploads batches of users as JSON Lines (see
// AppendBulkLine), reads a batch's status, and pages through the users a batch failed. It is
// safe for concurrent use.
//
// Its calls keep the Client's pace, as a Reader of the Client's does: they take their turn on
// the Client's limiter, a throttling answer to any of them holds every worker and cuts the
// shared rate, and DRUID down is waited out as for updates. They are made with the app's
// client token, one for every call, renewed ahead of its expiry and once on a 401. Errors name
// the call by method and path, and never carry the client secret or a token.
type Bulk struct {
	r    *Reader // the client token, the connections, the gate and the retry policy
	url  string  // BulkPath under the endpoint
	path string  // its path: what errors show of the URL

	uploads, statuses, pages atomic.Int64 // counters of BulkStats
}

// BulkStats counts the calls a Bulk made, retries included, token calls not.
type BulkStats struct {
	Uploads  int64 // PATCH of a batch
	Statuses int64 // GET of a batch's status
	Pages    int64 // GET of a page of a batch's results
}

// Bulk returns a Bulk that shares c's connections and c's pace, as Client.Reader does. cfg
// needs the client credentials: the Bulk API takes the app's client token, whatever token the
// updates use. No call is made before the first.
func (c *Client) Bulk(cfg BulkConfig) (*Bulk, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("--client-id and --client-secret are required by DRUID's Bulk API: it takes the app's client token")
	}
	r, err := newReader(cfg.readerConfig(), c)
	if err != nil {
		return nil, err
	}
	u, err := parseBase(cfg.Endpoint, "--endpoint", BulkPath,
		"--endpoint must not carry credentials: use --client-id and --client-secret")
	if err != nil {
		return nil, err
	}
	return &Bulk{r: r, url: u.String(), path: u.Path}, nil
}

// Stats returns the calls made so far. It is safe to call while others call.
func (b *Bulk) Stats() BulkStats {
	return BulkStats{Uploads: b.uploads.Load(), Statuses: b.statuses.Load(), Pages: b.pages.Load()}
}

// Preflight proves, before the first batch, that DRUID's token endpoint answers and takes the
// client credentials, as Reader.Preflight does.
func (b *Bulk) Preflight(ctx context.Context) error { return b.r.Preflight(ctx) }

// bulkCall is one Upload, Status or Failures page: what tries tells callers apart by, and the
// token its last try was made with.
type bulkCall struct {
	b   *Bulk
	tok *appToken
}

func (bc *bulkCall) scrub(text string) string { return bc.b.r.scrubToken(text, bc.tok) }

// Upload sends body, a batch of lines (AppendBulkLine's, joined by "\n"), and returns the id
// DRUID gave the batch. DRUID processes the batch later: Status says when it is done.
//
// A body with no line, more than BulkMaxLines or more than BulkMaxBytes is refused before any
// call. A refusal (a 4xx other than 401, a redirect, a 202 or 200 that names no batch) is an
// error that wraps a *StatusError when DRUID answered with a status. Transient answers are
// retried as a Get's are, throttling and DRUID down included, and past DownTimeout the error
// wraps ErrUnreachable. A try whose answer was lost (a timeout, a connection reset, a body cut
// short) is retried too, so DRUID may hold the batch twice under two ids: its lines are
// partial updates, and applying one twice leaves the user as applying it once does.
func (b *Bulk) Upload(ctx context.Context, body []byte) (bulkID string, err error) {
	n := bulkLines(body)
	switch {
	case n == 0:
		return "", errors.New("bulk upload: no line to send")
	case n > BulkMaxLines:
		return "", fmt.Errorf("bulk upload: %d lines, past the %d DRUID takes in one batch", n, BulkMaxLines)
	case len(body) > BulkMaxBytes:
		return "", fmt.Errorf("bulk upload: %d bytes, past the %d DRUID takes in one batch", len(body), BulkMaxBytes)
	}
	bc := &bulkCall{b: b}
	err = b.r.withToken(ctx, &tokenCall{
		what: fmt.Sprintf("bulk upload of %d lines", n), by: bc,
		log: callLog{msg: "druid: transient failure of a bulk upload, will retry"},
	}, func(ctx context.Context, tok *appToken, attempt int) error {
		bc.tok = tok
		a, err := b.r.do(ctx, &exchange{
			kind: CallBulkUpload, by: bc, at: b.r.at, method: http.MethodPatch, url: b.url, path: b.path,
			header: b.header(tok, bulkContentType), body: body, counts: [2]*atomic.Int64{&b.uploads},
			log: callLog{msg: "druid: bulk upload", attempt: attempt},
		}, bc.scrub)
		if err != nil {
			return err
		}
		if !bulkAccepted(a.code) {
			return a.statusError(bc.scrub)
		}
		if a.readErr != nil {
			return &callError{op: http.MethodPatch, path: b.path,
				err: fmt.Errorf("reading the answer: %s", bc.scrub(a.readErr.Error()))}
		}
		var env BulkUploadResponse
		if json.Unmarshal(a.body, &env) != nil || env.Content.BulkID == "" {
			return fmt.Errorf("%d without a batch id in content.bulkId: not DRUID's answer (check --endpoint)", a.code)
		}
		bulkID = env.Content.BulkID
		return nil
	})
	return bulkID, err
}

// Status returns the state of the batch bulkID. An error wraps ErrBulkUnknown when DRUID does
// not know the batch; a state DRUID does not document is an error too. Transient answers are
// retried as Upload's are.
func (b *Bulk) Status(ctx context.Context, bulkID string) (BulkState, error) {
	var state BulkState
	_, err := b.getBatch(ctx, &batchGet{
		what: fmt.Sprintf("bulk %q: status", bulkID), name: "bulk status", kind: CallBulkStatus, count: &b.statuses,
		bulkID: bulkID,
	}, func(body []byte) error {
		var env BulkStatusResponse
		if json.Unmarshal(body, &env) != nil || env.Content.Status == "" {
			return errors.New("200 without a status in content.status: not DRUID's answer (check --endpoint)")
		}
		state = env.Content.Status
		return nil
	})
	if err != nil {
		return "", err
	}
	if !state.known() {
		return state, fmt.Errorf("bulk %q: status: %q is no state DRUID documents", bulkID, excerpt(string(state), excerptMax))
	}
	return state, nil
}

// Failures calls fn with each user the batch bulkID failed, page after page of pageSize
// results (BulkPageSizeDefault when not positive), following DRUID's lastId cursor until a
// page without one, or without items. An error of fn stops the paging and is returned as it
// is. Call it once Status says BulkCompleted: DRUID lists the users a batch failed once it has
// processed them.
//
// An error wraps ErrBulkUnknown when DRUID does not know the batch, which may happen between
// two pages when the results expire meanwhile: fn has then seen some failures and not others,
// and the batch is best sent again. Transient answers are retried per page as Upload's are.
// The field errors are scrubbed of the client token and secret, as everywhere in sink.
func (b *Bulk) Failures(ctx context.Context, bulkID string, pageSize int, fn func(BulkFailure) error) error {
	if pageSize <= 0 {
		pageSize = BulkPageSizeDefault
	}
	q := url.Values{BulkQueryFailedOnly: {"true"}, BulkQueryLimit: {strconv.Itoa(pageSize)}}
	last := ""
	for n := 1; ; n++ {
		if last != "" {
			q.Set(BulkQueryLast, last)
		}
		what := fmt.Sprintf("bulk %q: results page %d", bulkID, n)
		var page BulkResultsResponse
		bc, err := b.getBatch(ctx, &batchGet{
			what: what, name: "bulk results page", kind: CallBulkResults, count: &b.pages,
			bulkID: bulkID, suffix: BulkResultsPath, query: q.Encode(),
		}, func(body []byte) error {
			page = BulkResultsResponse{}
			if json.Unmarshal(body, &page) != nil {
				return errors.New("200 without a page of results: not DRUID's answer (check --endpoint)")
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range page.Content.Items {
			f.Errors = scrubFields(f.Errors, bc.scrub)
			if err := fn(f); err != nil {
				return err
			}
		}
		next := page.Content.LastID
		switch {
		case next == "" || len(page.Content.Items) == 0:
			return nil
		case next == last:
			// The same page again would come back forever.
			return fmt.Errorf("%s: the cursor lastId did not move past %q", what, excerpt(last, excerptMax))
		}
		last = next
	}
}

// batchGet is a GET about one batch: its status, or a page of its results.
type batchGet struct {
	what   string        // the call in its errors
	name   string        // the call in its log lines
	kind   string        // what observe is told
	count  *atomic.Int64 // the counter of BulkStats it adds to
	bulkID string
	suffix string // what follows the batch's path
	query  string // the URL's query, encoded; "" for none
}

// getBatch makes the GET g with the client token until it succeeds or fails for good (see
// withToken), and gives the body of its 200 to decode, whose error ends the call unretried.
// It returns the call, whose scrub removes its secrets.
func (b *Bulk) getBatch(ctx context.Context, g *batchGet, decode func([]byte) error) (*bulkCall, error) {
	bc := &bulkCall{b: b}
	if g.bulkID == "" || g.bulkID == "." || g.bulkID == ".." {
		// Escaping leaves dots alone, and a path ending in /. or /.. names another resource.
		return bc, fmt.Errorf("%s: not a batch id", g.what)
	}
	escaped := "/" + url.PathEscape(g.bulkID) + g.suffix
	target, path := b.url+escaped, b.path+escaped
	if g.query != "" {
		target += "?" + g.query
	}
	err := b.r.withToken(ctx, &tokenCall{
		what: g.what, by: bc,
		log: callLog{msg: "druid: transient failure of a " + g.name + ", will retry", idKey: "bulk_id", id: g.bulkID},
	}, func(ctx context.Context, tok *appToken, attempt int) error {
		bc.tok = tok
		body, err := b.get(ctx, bc, g.kind, g.count, target, path,
			callLog{msg: "druid: " + g.name, idKey: "bulk_id", id: g.bulkID, attempt: attempt})
		if err != nil {
			return err
		}
		return decode(body)
	})
	return bc, err
}

// get makes one GET of a batch's status or results for bc, after its turn, and returns the
// body of a 200. Its error wraps ErrBulkUnknown (and the *StatusError) for a 404 in DRUID's
// envelope; it is a *StatusError for another answer, a *callError when none came or its body
// was cut short, or a plain error for a 404 that cannot be DRUID's.
func (b *Bulk) get(ctx context.Context, bc *bulkCall, kind string, count *atomic.Int64, target, path string,
	log callLog) ([]byte, error) {
	a, err := b.r.do(ctx, &exchange{
		kind: kind, by: bc, at: b.r.at, method: http.MethodGet, url: target, path: path,
		header: b.header(bc.tok, nil), counts: [2]*atomic.Int64{count}, log: log,
	}, bc.scrub)
	if err != nil {
		return nil, err
	}
	switch a.code {
	case http.StatusOK:
		if a.readErr != nil {
			return nil, &callError{op: http.MethodGet, path: path,
				err: fmt.Errorf("reading the answer: %s", bc.scrub(a.readErr.Error()))}
		}
		return a.body, nil
	case http.StatusNotFound:
		if isEnvelope(a.body) {
			return nil, fmt.Errorf("%w: %w", ErrBulkUnknown, a.statusError(bc.scrub))
		}
		msg := "404 without DRUID's envelope: no Bulk API there (check --endpoint)"
		if len(a.body) > 0 {
			msg += ": " + excerpt(bc.scrub(string(a.body)), excerptMax)
		}
		return nil, errors.New(msg)
	}
	return nil, a.statusError(bc.scrub)
}

// header returns the headers of a bulk call made with tok; contentType is the body's, nil for
// a call without one.
func (b *Bulk) header(tok *appToken, contentType []string) http.Header {
	h := http.Header{
		"Authorization": {"Bearer " + tok.value},
		"Accept":        applicationJSON,
		"From":          b.r.entryPoint,
	}
	if contentType != nil {
		h["Content-Type"] = contentType
	}
	return h
}

var bulkContentType = []string{BulkContentType}

// bulkLines counts the lines of body that hold more than white space.
func bulkLines(body []byte) int {
	n := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	return n
}
