package druidsim

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"druid-migrate/sink"
)

// BulkPath is where the Bulk API lives (SPEC §2.3), as package sink has it: PATCH uploads a
// batch; GET of BulkPath/{bulkId} is its status and of BulkPath/{bulkId}/results its results.
const BulkPath = sink.BulkPath

// Defaults of Config's bulk settings.
const (
	BulkDelayDefault = 50 * time.Millisecond
	BulkKeepDefault  = 10 * time.Minute
)

// bulkPageDefault is the size of a results page whose request names none.
const bulkPageDefault = 100

// bulks are the batches the simulator received. A batch is processed, all at once, by the first
// request of any kind that comes once its delay is over (settleBulks), or by a look at the
// users (User, Users, the dump) or at Stats: nothing can observe it unprocessed past its time,
// and no goroutine outlives a request.
type bulks struct {
	mu        sync.Mutex
	batches   map[string]*batch
	queue     []*batch     // received, not processed yet, in the order they are due
	nextDue   atomic.Int64 // unix nanoseconds when queue[0] is due; 0 when the queue is empty
	lastSweep time.Time

	uploads, completed, failed, lines, linesFailed atomic.Int64 // counts of Stats
}

// batch is one upload. Once processed, state and results never change.
type batch struct {
	id      string
	at, due time.Time
	fail    bool // drawn at upload (Config.BulkFailRate): the batch ends failed
	lines   []bulkLine
	state   sink.BulkState     // BulkCompleted or BulkFailed once processed; "" before
	results []sink.BulkFailure // a completed batch's, one per line: Status 200 when applied
}

// bulkLine is one line of a batch as read at upload.
type bulkLine struct {
	objectID string
	patch    *linePatch
	bad      *sink.FieldError  // the line cannot be read: it fails 400
	invalid  []sink.FieldError // the values that break DRUID's formats (rule 3)
}

// stateAt is the batch's status at now: received for the first half of its delay, processing
// for the second, then what processing made of it.
func (b *batch) stateAt(now time.Time) sink.BulkState {
	switch {
	case b.state != "":
		return b.state
	case now.Before(b.at.Add(b.due.Sub(b.at) / 2)):
		return sink.BulkReceived
	}
	return sink.BulkProcessing
}

// handleBulkUpload serves PATCH BulkPath: the batch is checked as a whole (the client token,
// From, the media type, at most sink.BulkMaxLines lines and sink.BulkMaxBytes bytes), its lines
// read, and it is answered 202 with its id. Its lines are judged when it is processed.
func (s *Server) handleBulkUpload(w http.ResponseWriter, r *http.Request) {
	if s.rateLimited(w) || !s.bulkAuthorized(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != sink.BulkContentType {
		s.replyError(w, http.StatusUnsupportedMediaType, fieldError("Content-Type", "must be "+sink.BulkContentType))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sink.BulkMaxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.replyError(w, http.StatusRequestEntityTooLarge, fieldError("body", "larger than "+strconv.Itoa(sink.BulkMaxBytes)+" bytes"))
			return
		}
		s.replyError(w, http.StatusBadRequest, fieldError("body", "unreadable: "+err.Error()))
		return
	}
	raws := nonBlankLines(body)
	switch {
	case len(raws) == 0:
		s.replyError(w, http.StatusBadRequest, fieldError("body", "no line"))
		return
	case len(raws) > sink.BulkMaxLines:
		s.replyError(w, http.StatusRequestEntityTooLarge, fieldError("body", "more than "+strconv.Itoa(sink.BulkMaxLines)+" lines"))
		return
	}
	// Faults strike before the batch is received: it is then none of DRUID's.
	switch s.drawFault() {
	case failReset:
		s.log.Debug().Int("status_code", StatusReset).Msg("bulk upload: connection reset")
		s.resetConn(w)
		return
	case http.StatusInternalServerError:
		s.replyError(w, http.StatusInternalServerError, fieldError("server", "simulated failure (fail rate)"))
		return
	case http.StatusServiceUnavailable:
		s.replyError(w, http.StatusServiceUnavailable, fieldError("server", "simulated failure (fail rate)"))
		return
	}

	lines := make([]bulkLine, len(raws))
	for i, raw := range raws {
		p, bad := parseLine(raw)
		l := &lines[i]
		l.patch, l.bad = p, bad
		if p != nil {
			l.objectID = p.objectID
		}
		if bad == nil {
			l.invalid = checkFormats(p.setValues())
		}
	}
	now := s.now()
	b := &batch{id: newBulkID(), at: now, due: now.Add(s.bulkDelay), lines: lines,
		fail: s.bulkFailRate > 0 && rand.Float64() < s.bulkFailRate}
	st := &s.bulk
	st.mu.Lock()
	if now.Sub(st.lastSweep) > sweepEvery {
		for id, old := range st.batches {
			if s.expired(old, now) {
				delete(st.batches, id)
			}
		}
		st.lastSweep = now
	}
	st.batches[b.id] = b
	st.queue = append(st.queue, b)
	st.nextDue.Store(st.queue[0].due.UnixNano())
	st.mu.Unlock()
	st.uploads.Add(1)
	s.log.Debug().Str("bulk_id", b.id).Int("lines", len(lines)).Msg("bulk upload received")
	s.settleBulks() // a batch without delay is processed now

	var env sink.BulkUploadResponse
	env.Content.BulkID = b.id
	env.Result.Status = http.StatusAccepted
	s.replyJSON(w, http.StatusAccepted, env)
}

// handleBulkBatch serves GET BulkPath/{bulkId} (its status) and, with results,
// GET BulkPath/{bulkId}/results: a page of its results, failedOnly=true listing only the lines
// not applied, limit (1 to sink.BulkMaxLines, default 100) of them after the cursor last. A
// page's lastId is present when more results follow. The results of a batch that is not
// completed are refused with 409; a batch unknown, or expired, is a 404.
func (s *Server) handleBulkBatch(w http.ResponseWriter, r *http.Request, id string, results bool) {
	if !s.bulkAuthorized(w, r) {
		return
	}
	s.settleBulks()
	now := s.now()
	st := &s.bulk
	st.mu.Lock()
	b, ok := st.batches[id]
	if ok && s.expired(b, now) {
		delete(st.batches, id)
		ok = false
	}
	var state sink.BulkState
	if ok {
		state = b.stateAt(now)
	}
	st.mu.Unlock()
	if !ok {
		s.replyError(w, http.StatusNotFound, fieldError("bulkId", "unknown batch, or its results expired"))
		return
	}
	if !results {
		var env sink.BulkStatusResponse
		env.Content.BulkID, env.Content.Status = id, state
		env.Result.Status = http.StatusOK
		s.replyJSON(w, http.StatusOK, env)
		return
	}
	if state != sink.BulkCompleted {
		s.replyError(w, http.StatusConflict, fieldError("bulkId", "the batch is "+string(state)+": results come once it is completed"))
		return
	}
	q := r.URL.Query()
	failedOnly := q.Get(sink.BulkQueryFailedOnly) == "true"
	limit := bulkPageDefault
	if v := q.Get(sink.BulkQueryLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > sink.BulkMaxLines {
			s.replyError(w, http.StatusBadRequest, fieldError(sink.BulkQueryLimit, "from 1 to "+strconv.Itoa(sink.BulkMaxLines)))
			return
		}
		limit = n
	}
	after := -1
	if v := q.Get(sink.BulkQueryLast); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.replyError(w, http.StatusBadRequest, fieldError(sink.BulkQueryLast, "not a cursor this batch gave"))
			return
		}
		after = n
	}
	// The cursor is the position in the batch of the page's last line: results never change.
	var env sink.BulkResultsResponse
	env.Content.Items = []sink.BulkFailure{}
	last := -1
	for i := after + 1; i < len(b.results); i++ {
		if failedOnly && b.results[i].Status == http.StatusOK {
			continue
		}
		if len(env.Content.Items) == limit {
			env.Content.LastID = strconv.Itoa(last)
			break
		}
		env.Content.Items = append(env.Content.Items, b.results[i])
		last = i
	}
	env.Result.Status = http.StatusOK
	s.replyJSON(w, http.StatusOK, env)
}

// bulkAuthorized answers 401 unless the request carries a client token, and 400 without From.
func (s *Server) bulkAuthorized(w http.ResponseWriter, r *http.Request) bool {
	if s.credential(bearer(r)).kind != kindClient {
		s.replyError(w, http.StatusUnauthorized, fieldError("Authorization", "the Bulk API takes the app's client token"))
		return false
	}
	if r.Header.Get("From") == "" {
		s.replyError(w, http.StatusBadRequest, fieldError("From", "the entry point id is required"))
		return false
	}
	return true
}

// expired reports whether b is processed and past Config.BulkKeep.
func (s *Server) expired(b *batch, now time.Time) bool {
	return b.state != "" && !now.Before(b.due.Add(s.bulkKeep))
}

// settleBulks processes the batches whose delay is over, in the order they were received.
func (s *Server) settleBulks() {
	st := &s.bulk
	due := st.nextDue.Load()
	if due == 0 {
		return
	}
	now := s.now()
	if now.UnixNano() < due {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(st.queue) > 0 && !now.Before(st.queue[0].due) {
		b := st.queue[0]
		st.queue[0] = nil
		st.queue = st.queue[1:]
		s.process(b)
	}
	if len(st.queue) == 0 {
		st.queue = nil
		st.nextDue.Store(0)
	} else {
		st.nextDue.Store(st.queue[0].due.UnixNano())
	}
}

// process applies a batch's lines, or fails the batch whole (Config.BulkFailRate).
func (s *Server) process(b *batch) {
	st := &s.bulk
	if b.fail {
		b.state, b.lines = sink.BulkFailed, nil
		st.failed.Add(1)
		s.log.Debug().Str("bulk_id", b.id).Msg("bulk failed (bulk fail rate)")
		return
	}
	b.results = make([]sink.BulkFailure, len(b.lines))
	failed := 0
	for i := range b.lines {
		b.results[i] = s.applyLine(&b.lines[i])
		if b.results[i].Status != http.StatusOK {
			failed++
		}
	}
	b.state, b.lines = sink.BulkCompleted, nil
	st.completed.Add(1)
	st.lines.Add(int64(len(b.results)))
	st.linesFailed.Add(int64(failed))
	s.log.Debug().Str("bulk_id", b.id).Int("lines", len(b.results)).Int("failed", failed).Msg("bulk completed")
}

// applyLine judges one line by the rules of an update, its user's lock held only to compare and
// swap the user: 400 for a line that cannot be read, 404 for an unknown user (unless
// Config.Autocreate), 416 for values that break DRUID's formats, 403 for a blocked user, 428
// for one that must use MFA; otherwise the line is applied whole, a changed confirmed id
// waiting for confirmation as an update's does, and its result is 200.
func (s *Server) applyLine(l *bulkLine) sink.BulkFailure {
	res := sink.BulkFailure{ObjectID: l.objectID, Status: http.StatusOK}
	fail := func(code int, errs ...sink.FieldError) sink.BulkFailure {
		res.Status, res.Errors = code, errs
		return res
	}
	if l.bad != nil {
		return fail(http.StatusBadRequest, *l.bad)
	}
	sh := s.shardOf(l.objectID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a, ok := sh.users[l.objectID]
	if !ok {
		if !s.cfg.Autocreate {
			return fail(http.StatusNotFound, fieldError("object_id", "user not found"))
		}
		a = &account{user: &sink.User{ObjectType: sink.ObjectTypeUser, ObjectID: l.objectID}}
		sh.users[l.objectID] = a
	}
	a.calls++
	switch {
	case len(l.invalid) > 0:
		return fail(http.StatusRequestedRangeNotSatisfiable, l.invalid...)
	case a.has(FlagBlocked):
		return fail(http.StatusForbidden, fieldError("user", "the user is blocked"))
	case a.has(FlagMFA):
		return fail(http.StatusPreconditionRequired, fieldError("mfa", "the user must configure MFA or send an MFA code"))
	}
	next := l.patch.patched(a.user)
	// Rule 6 for the ids the line names; the pending values of the others stay.
	var pending map[string]string
	for name, v := range a.pending {
		if !l.patch.touches(name) {
			if pending == nil {
				pending = make(map[string]string, len(a.pending))
			}
			pending[name] = v
		}
	}
	for _, name := range confirmable {
		old, had := a.user.IDs[name]
		nu, has := next.IDs[name]
		if l.patch.touches(name) && had && has && isTrue(old.Confirmed) && nu.Value != old.Value {
			next.IDs[name] = old
			if pending == nil {
				pending = make(map[string]string, 1)
			}
			pending[name] = nu.Value
		}
	}
	a.user, a.pending = next, pending
	a.updates++
	return res
}

// nonBlankLines splits a JSON Lines body into its lines, blank ones left out.
func nonBlankLines(body []byte) [][]byte {
	var lines [][]byte
	for line := range bytes.Lines(body) {
		if len(bytes.TrimSpace(line)) > 0 {
			lines = append(lines, line)
		}
	}
	return lines
}

// newBulkID returns a random UUID (version 4), as DRUID names its batches.
func newBulkID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand never fails on the platforms Go supports
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
