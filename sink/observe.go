package sink

import "time"

// The kinds of HTTP call to DRUID, as an ObserveFunc is told of them.
const (
	CallUpdate = "update" // the update user call (UpdatePath), every try of it
	CallToken  = "token"  // a token call (TokenPath): a challenge-code or a client token
	CallRead   = "read"   // the read user call (UserPath)

	CallBulkUpload  = "bulk_upload"  // the upload of a batch (BulkPath), every try of it
	CallBulkStatus  = "bulk_status"  // the status of a batch
	CallBulkResults = "bulk_results" // a page of a batch's results
)

// ObserveFunc is told of every HTTP call to DRUID once it has ended: its kind (one of the Call
// constants), the status DRUID answered, 0 when no answer came (a connection error,
// a timeout, a cancelled call), and how long it took, reading the answer included. A call that
// never started, because its wait for a turn ended, is not told.
//
// It runs on the caller's path, from every worker at once: it must be safe for concurrent use
// and quick. It is given neither the request nor the answer, so nothing it records can hold a
// token, a secret or a user's data.
type ObserveFunc func(call string, code int, elapsed time.Duration)

// report tells f of a call, if there is an f: a nil ObserveFunc costs a comparison.
func (f ObserveFunc) report(call string, code int, elapsed time.Duration) {
	if f != nil {
		f(call, code, elapsed)
	}
}
