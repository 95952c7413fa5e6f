package sink

import "testing"

// The helpers the simulator's tests, in package sink_test, share with the tests of package
// sink.

// DebugLog is debugLog for package sink_test.
var DebugLog = debugLog

// MustNew is mustNew for package sink_test.
func MustNew[C any, T interface{ Close() }](t *testing.T, cfg C, edit func(*C), build func(C) (T, error)) T {
	t.Helper()
	return mustNew(t, cfg, edit, build)
}
