package poller

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance, waited on through the Go runtime's poller.
type Poller struct {
	w *waiter

	// Add and Remove run epoll_ctl in ctl, a function made once, with its
	// arguments in these fields, so that a registration allocates nothing.
	mu  sync.Mutex
	op  int             // guarded by mu
	fd  int             // guarded by mu
	ev  unix.EpollEvent // guarded by mu
	err error           // guarded by mu
	ctl func(epfd uintptr)
}

// New creates a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	w, err := newWaiter(epfd, "epoll")
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &Poller{w: w}
	p.ctl = func(epfd uintptr) {
		ev := &p.ev
		if p.op == unix.EPOLL_CTL_DEL {
			ev = nil
		}
		p.err = unix.EpollCtl(int(epfd), p.op, p.fd, ev)
	}
	return p, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	return p.control(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET)
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	return p.control(unix.EPOLL_CTL_DEL, fd, 0)
}

func (p *Poller) control(op, fd int, events uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.op, p.fd, p.ev = op, fd, unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := p.w.control(p.ctl); err != nil {
		return err
	}
	return os.NewSyscallError("epoll_ctl", p.err)
}

// Wait waits for events and calls fn once per ready descriptor, on the
// calling goroutine, until Close is called; then it returns ErrClosed. fn
// must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.EpollEvent, maxEvents)
	err := p.w.run(func(epfd int) (int, error) {
		n, err := unix.EpollWait(epfd, events, 0)
		if err != nil {
			return 0, err
		}
		for i := 0; i < n; i++ {
			e := &events[i]
			var ev Event
			if e.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
				ev |= Readable
			}
			if e.Events&unix.EPOLLOUT != 0 {
				ev |= Writable
			}
			if e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				ev |= Hangup | Readable
			}
			fn(int(e.Fd), ev)
		}
		return n, nil
	})
	if err == ErrClosed {
		return err
	}
	return os.NewSyscallError("epoll_wait", err)
}

// Close makes Wait return ErrClosed and releases the epoll instance.
// Descriptors still registered are not closed. Calling Close again returns
// ErrClosed.
func (p *Poller) Close() error { return p.w.close() }
