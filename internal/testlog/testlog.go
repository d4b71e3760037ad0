// Package testlog holds a log buffer for tests: written by a server's
// goroutines, its tail printed when a test fails.
package testlog

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// Buffer collects output written by several goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail returns the last n lines, indented, for a failure message.
func (l *Buffer) Tail(n int) string {
	s := strings.TrimRight(l.String(), "\n")
	if s == "" {
		return "    (empty)\n"
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	if len(lines) > n {
		fmt.Fprintf(&b, "    (%d earlier lines not shown)\n", len(lines)-n)
		lines = lines[len(lines)-n:]
	}
	for _, line := range lines {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	return b.String()
}
