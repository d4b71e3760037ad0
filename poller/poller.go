// Package poller waits for readiness on many non-blocking descriptors at
// once: epoll on Linux, kqueue on macOS and FreeBSD.
//
// Registration is edge-triggered. A descriptor is reported Readable when new
// bytes arrive and Writable when send space frees up after a write was cut
// short, so the owner must read (or write) until the call would block before
// it waits for the next event. Nothing is allocated per registered
// descriptor: an idle descriptor costs only the kernel's own bookkeeping.
//
// A Poller has one waiting goroutine, the one that calls Wait; Add, Remove
// and Close may be called from any goroutine.
package poller

import "errors"

// Event is a set of readiness conditions reported for one descriptor.
type Event uint32

// The conditions Wait reports.
const (
	// Readable means bytes (or end of stream) can be read without blocking.
	Readable Event = 1 << iota
	// Writable means send space is available again.
	Writable
	// Hangup means the peer closed its side or the descriptor is in error.
	// It is always reported together with Readable, so that a read surfaces
	// the end of stream or the error.
	Hangup
)

// String returns the set of conditions, e.g. "readable|writable".
func (e Event) String() string {
	s := ""
	add := func(bit Event, name string) {
		if e&bit == 0 {
			return
		}
		if s != "" {
			s += "|"
		}
		s += name
	}
	add(Readable, "readable")
	add(Writable, "writable")
	add(Hangup, "hangup")
	if s == "" {
		return "none"
	}
	return s
}

// ErrClosed is returned by Wait, Add and Remove once Close has been called.
var ErrClosed = errors.New("poller: closed")

// ErrUnsupported is returned by New on systems with neither epoll nor kqueue.
var ErrUnsupported = errors.New("poller: no epoll or kqueue on this system")

// maxEvents is the number of events fetched by one wait system call.
const maxEvents = 512
