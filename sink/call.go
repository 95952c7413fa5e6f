package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"
)

const (
	// bodyMax bounds what is read of an answer: DRUID's envelope is a few KiB, and a proxy's
	// error page must not cost a worker unbounded memory.
	bodyMax = 1 << 20
	// drainMax bounds what is thrown away after bodyMax so the connection can be reused;
	// past it, closing the connection is cheaper than reading on.
	drainMax = 256 << 10
	// idleConnTimeout is how long a pooled connection may sit unused.
	idleConnTimeout = 90 * time.Second
)

// newTransport returns a transport whose idle pool holds a connection per worker, so that a
// steady run reuses its connections instead of opening one per call.
func newTransport(concurrency int) *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		// Someone replaced the default transport; start from its documented settings.
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	if t.MaxIdleConns != 0 {
		t.MaxIdleConns = max(t.MaxIdleConns, concurrency)
	}
	t.MaxIdleConnsPerHost = concurrency
	t.IdleConnTimeout = idleConnTimeout
	return t
}

// applicationJSON is shared by every request: RoundTrip does not modify the request's headers.
var applicationJSON = []string{"application/json"}

// envelope is the part of DRUID's envelope the run uses.
type envelope struct {
	Result *Result `json:"result"`
}

// parseEnvelope reads DRUID's envelope; ok is false when body is not one (a proxy's page, say).
func parseEnvelope(body []byte) (*Result, bool) {
	if len(body) == 0 {
		return nil, false
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Result == nil {
		return nil, false
	}
	return env.Result, true
}

// discardBody reads an answer whose body is not wanted to its end, so that the connection is
// reused, into no buffer; past bodyMax+drainMax it closes the connection instead.
func discardBody(resp *http.Response) error {
	defer resp.Body.Close()
	_, err := io.CopyN(io.Discard, resp.Body, bodyMax+drainMax)
	if err == io.EOF {
		err = nil
	}
	return err
}

// readBody reads at most bodyMax of the answer, then drains and closes it so the connection
// goes back to the pool.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified || resp.ContentLength == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= bodyMax {
		buf.Grow(int(resp.ContentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, bodyMax))
	if err == nil {
		_, err = io.CopyN(io.Discard, resp.Body, drainMax)
		if err == io.EOF {
			err = nil
		}
	}
	return buf.Bytes(), err
}

// innerError is what went wrong in a call, without the *url.Error's URL around it: the URL may
// carry a query with a code verifier (SPEC §2.2).
func innerError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// millis is d in milliseconds, to the microsecond: local calls take less than one.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
