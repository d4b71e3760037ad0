//go:build darwin || freebsd

package poller

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue with a user event used to wake its waiter.
type Poller struct {
	kq     int
	closed atomic.Bool
}

// wakeIdent is the identifier of the EVFILT_USER event that wakes Wait.
const wakeIdent = 0

// New creates a Poller.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	change := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}}
	if _, err := unix.Kevent(kq, change, nil, nil); err != nil {
		unix.Close(kq)
		return nil, os.NewSyscallError("kevent", err)
	}
	return &Poller{kq: kq}, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	changes := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD | unix.EV_CLEAR},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_ADD | unix.EV_CLEAR},
	}
	if _, err := unix.Kevent(p.kq, changes, nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	changes := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_DELETE},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_DELETE},
	}
	if _, err := unix.Kevent(p.kq, changes, nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

// Wait waits for events and calls fn once per ready descriptor and filter,
// on the calling goroutine, until Close is called; then it returns
// ErrClosed. fn must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.Kevent_t, maxEvents)
	for {
		n, err := unix.Kevent(p.kq, nil, events, nil)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if p.closed.Load() {
				return ErrClosed
			}
			return os.NewSyscallError("kevent", err)
		}
		for i := 0; i < n; i++ {
			e := &events[i]
			if e.Filter == unix.EVFILT_USER {
				if p.closed.Load() {
					unix.Close(p.kq)
					return ErrClosed
				}
				continue
			}
			var ev Event
			switch e.Filter {
			case unix.EVFILT_READ:
				ev = Readable
			case unix.EVFILT_WRITE:
				ev = Writable
			}
			if e.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0 {
				ev |= Hangup | Readable
			}
			fn(int(e.Ident), ev)
		}
	}
}

// Close wakes Wait, which then returns ErrClosed and releases the kqueue.
// Descriptors still registered are not closed. Calling Close again returns
// ErrClosed.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return ErrClosed
	}
	change := []unix.Kevent_t{{Ident: wakeIdent, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}}
	if _, err := unix.Kevent(p.kq, change, nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}
