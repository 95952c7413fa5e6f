package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// transport makes the HTTP exchanges of a caller over the connections it keeps. It is the one
// place that knows the HTTP client library: the caller above it paces, observes and logs the
// calls, and turns their answers into outcomes.
type transport interface {
	// roundTrip sends the request of x and reads the answer: its code, its Retry-After, and its
	// body unless x.discardOK and the code is 200. ctx bounds the whole exchange, the reading
	// of the answer included; when it ends first, roundTrip returns promptly with an error. An
	// error means no answer came; an answer whose body was cut short is one, with readErr.
	roundTrip(ctx context.Context, x *exchange) (answer, error)
	// closeIdle closes the connections no call is using.
	closeIdle()
}

// netHTTP is the transport of net/http. It calls its RoundTripper directly, without an
// http.Client: the caller bounds each call with a deadline of its own, and no redirect is
// followed. A redirected update becomes a GET, or re-sends a full replacement somewhere the
// operator never named, and a redirected read carries the client token wherever DRUID, or
// whoever answers in its place, points: the 3xx is reported instead.
type netHTTP struct {
	rt http.RoundTripper
}

// newNetHTTP returns the net/http transport of a caller whose idle pool holds a connection per
// worker, so that a steady run reuses its connections instead of opening one per call.
func newNetHTTP(concurrency int) *netHTTP {
	return &netHTTP{rt: newTransport(concurrency)}
}

// newTransport returns the http.Transport of newNetHTTP.
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

func (n *netHTTP) closeIdle() {
	if c, ok := n.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (n *netHTTP) roundTrip(ctx context.Context, x *exchange) (answer, error) {
	u := x.parsed
	// The request is built on the stack and copied once onto the heap by WithContext: x.header
	// and u are shared by every call, and a RoundTripper modifies neither.
	r := http.Request{
		Method: x.method, URL: u, Host: strings.TrimSuffix(u.Host, ":"), Header: x.header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if body := x.body; len(body) > 0 {
		// A *bytes.Reader behind io.NopCloser, as http.NewRequest makes it: the transport
		// knows it for a body in memory and sends it in one write with the headers.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	resp, err := n.rt.RoundTrip(r.WithContext(ctx))
	if err != nil {
		if re, ok := err.(tls.RecordHeaderError); ok && string(re.RecordHeader[:]) == "HTTP/" {
			// What http.Client says of it: the endpoint speaks plain HTTP (see connFault).
			err = http.ErrSchemeMismatch
		}
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, retryAfterHeader: resp.Header.Get("Retry-After")}
	switch {
	case x.discardOK && a.code == http.StatusOK:
		a.readErr = discard(resp.Body, bodyMax+drainMax)
	case a.code == http.StatusNotModified || resp.ContentLength == 0:
	default:
		a.readBody(resp.Body, resp.ContentLength)
	}
	return a, nil
}

// Pools of the buffers answers are read into: a run reads an answer per call, and most are
// thrown away at once.
var (
	// bodies holds the buffers of the answers whose body is read (see answer.release).
	bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// scratch holds the buffers the answers that are not wanted are drained through.
	scratch = sync.Pool{New: func() any { b := make([]byte, scratchSize); return &b }}
)

const (
	// scratchSize is the buffer an unwanted answer is drained through, a read at a time.
	scratchSize = 4 << 10
	// pooledBodyMax keeps a stray large answer from pinning its buffer in the pool.
	pooledBodyMax = 64 << 10
)

// discard reads r to its end, so that the connection is reused, into no buffer; past limit it
// stops, and the connection is closed rather than read on.
func discard(r io.Reader, limit int64) error {
	buf := scratch.Get().(*[]byte)
	defer scratch.Put(buf)
	for n := int64(0); n < limit; {
		m, err := r.Read(*buf)
		n += int64(m)
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

// readBody reads at most bodyMax of r, whose length is contentLength (-1: unknown), into a
// pooled buffer, then drains the rest up to drainMax so that the connection is reused.
func (a *answer) readBody(r io.Reader, contentLength int64) {
	buf := bodies.Get().(*bytes.Buffer)
	if contentLength > 0 && contentLength <= bodyMax {
		buf.Grow(int(contentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(r, bodyMax))
	if err == nil {
		err = discard(r, drainMax)
	}
	a.buf, a.body, a.readErr = buf, buf.Bytes(), err
}

// release gives the answer's buffer back to the pool: body must not be used after it. It is
// called once the answer has been read into what outlives it.
func (a *answer) release() {
	if a.buf == nil {
		return
	}
	if a.buf.Cap() <= pooledBodyMax {
		a.buf.Reset()
		bodies.Put(a.buf)
	}
	a.buf, a.body = nil, nil
}
