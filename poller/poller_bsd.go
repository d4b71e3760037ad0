//go:build darwin || freebsd

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue, waited on through the Go runtime's poller.
type Poller struct {
	w *waiter
}

// New creates a Poller.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	w, err := newWaiter(kq, "kqueue")
	if err != nil {
		unix.Close(kq)
		return nil, err
	}
	return &Poller{w: w}, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	changes := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_ADD | unix.EV_CLEAR},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_ADD | unix.EV_CLEAR},
	}
	return p.change(changes)
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	changes := []unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: unix.EV_DELETE},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: unix.EV_DELETE},
	}
	return p.change(changes)
}

func (p *Poller) change(changes []unix.Kevent_t) error {
	return p.w.control(func(kq int) error {
		_, err := unix.Kevent(kq, changes, nil, nil)
		return os.NewSyscallError("kevent", err)
	})
}

// Wait waits for events and calls fn once per ready descriptor and filter,
// on the calling goroutine, until Close is called; then it returns
// ErrClosed. fn must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.Kevent_t, maxEvents)
	var zero unix.Timespec
	for {
		n, err := p.w.wait(func(kq int) (int, error) {
			return unix.Kevent(kq, nil, events, &zero)
		})
		if err != nil {
			if err == ErrClosed {
				return err
			}
			return os.NewSyscallError("kevent", err)
		}
		for i := 0; i < n; i++ {
			e := &events[i]
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

// Close makes Wait return ErrClosed and releases the kqueue. Descriptors
// still registered are not closed. Calling Close again returns ErrClosed.
func (p *Poller) Close() error { return p.w.close() }
