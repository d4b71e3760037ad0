//go:build darwin || freebsd

package poller

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue, waited on through the Go runtime's poller.
type Poller struct {
	w *waiter

	// Add and Remove run kevent in ctl, a function made once, with its
	// arguments in these fields, so that a registration allocates nothing.
	mu      sync.Mutex
	changes [2]unix.Kevent_t // guarded by mu
	err     error            // guarded by mu
	ctl     func(kq uintptr)
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
	p := &Poller{w: w}
	p.ctl = func(kq uintptr) {
		_, p.err = unix.Kevent(int(kq), p.changes[:], nil, nil)
	}
	return p, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	return p.change(fd, unix.EV_ADD|unix.EV_CLEAR)
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	return p.change(fd, unix.EV_DELETE)
}

func (p *Poller) change(fd int, flags uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changes = [2]unix.Kevent_t{
		{Ident: uint64(fd), Filter: unix.EVFILT_READ, Flags: flags},
		{Ident: uint64(fd), Filter: unix.EVFILT_WRITE, Flags: flags},
	}
	if err := p.w.control(p.ctl); err != nil {
		return err
	}
	return os.NewSyscallError("kevent", p.err)
}

// Wait waits for events and calls fn once per ready descriptor and filter,
// on the calling goroutine, until Close is called; then it returns
// ErrClosed. fn must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.Kevent_t, maxEvents)
	var zero unix.Timespec
	err := p.w.run(func(kq int) (int, error) {
		n, err := unix.Kevent(kq, nil, events, &zero)
		if err != nil {
			return 0, err
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
		return n, nil
	})
	if err == ErrClosed {
		return err
	}
	return os.NewSyscallError("kevent", err)
}

// Close makes Wait return ErrClosed and releases the kqueue. Descriptors
// still registered are not closed. Calling Close again returns ErrClosed.
func (p *Poller) Close() error { return p.w.close() }
