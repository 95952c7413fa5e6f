package sink

// Outcome is what became of one user: the values of migration_status.outcome (SPEC §6).
type Outcome string

// The outcomes. Invalid is never returned by a Sender: an invalid record never reaches DRUID.
const (
	Updated   Outcome = "updated"
	Partial   Outcome = "partial"
	Unchanged Outcome = "unchanged"
	Invalid   Outcome = "invalid"
	Rejected  Outcome = "rejected"
	Failed    Outcome = "failed"
)

// Answered reports whether the outcome is an answer of DRUID that the skip rule trusts
// (SPEC §4): the same payload sent again would get the same answer.
func (o Outcome) Answered() bool {
	switch o {
	case Updated, Partial, Unchanged, Rejected:
		return true
	}
	return false
}

// OK reports whether the outcome leaves the run green (exit code 0).
func (o Outcome) OK() bool {
	switch o {
	case Updated, Partial, Unchanged:
		return true
	}
	return false
}

// SendResult is what became of one call to DRUID, after every retry.
type SendResult struct {
	Outcome  Outcome
	Code     int    // the HTTP status of the last try; 0 when DRUID never answered
	Attempts int    // calls made, retries included
	Error    string // DRUID's field errors or the transport error; empty for updated and unchanged
	Fields   []string
	// Fault, when not nil, says the last try failed for a fault of the run's configuration,
	// which every user would meet (see RunFault): the run should stop rather than go on. The
	// Outcome is still what DRUID's answer means for the user (a 400 is rejected).
	Fault *RunFault
	// Err, when not nil, says the result is no outcome of the user's and must not be
	// recorded as one: it wraps ErrUnreachable when DRUID failed every call for longer than
	// Config.DownTimeout. Outcome is then Failed and Error says why, for a caller that does
	// not look at Err. Fault may be set with it, when the last try could not even connect:
	// the outage is what ended the Send, and Fault says which flag to check if DRUID never
	// answered the run at all.
	Err error
}
