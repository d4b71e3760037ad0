package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance, waited on through the Go runtime's poller.
type Poller struct {
	w *waiter
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
	return &Poller{w: w}, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
	}
	return p.w.control(func(epfd int) error {
		return os.NewSyscallError("epoll_ctl", unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev))
	})
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	return p.w.control(func(epfd int) error {
		return os.NewSyscallError("epoll_ctl", unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil))
	})
}

// Wait waits for events and calls fn once per ready descriptor, on the
// calling goroutine, until Close is called; then it returns ErrClosed. fn
// must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := p.w.wait(func(epfd int) (int, error) {
			return unix.EpollWait(epfd, events, 0)
		})
		if err != nil {
			if err == ErrClosed {
				return err
			}
			return os.NewSyscallError("epoll_wait", err)
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
	}
}

// Close makes Wait return ErrClosed and releases the epoll instance.
// Descriptors still registered are not closed. Calling Close again returns
// ErrClosed.
func (p *Poller) Close() error { return p.w.close() }
