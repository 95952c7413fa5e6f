// Package logtest holds what the tests of several packages need to read what a component
// writes from many goroutines at once: its log lines, or a progress line.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects what is written to it from any goroutine, such as the lines of a
// zerolog.Logger shared by every worker of a run. Its zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Bytes returns a copy of what was written so far.
func (l *Buffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
