package poller

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance with an eventfd used to wake its waiter.
type Poller struct {
	epfd   int
	wakefd int
	closed atomic.Bool
}

// New creates a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &Poller{epfd: epfd, wakefd: wakefd}, nil
}

// Add registers fd for edge-triggered read, write and hangup events.
func (p *Poller) Add(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Remove stops watching fd. Closing a descriptor removes it too; Remove is
// for descriptors that stay open.
func (p *Poller) Remove(fd int) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Wait waits for events and calls fn once per ready descriptor, on the
// calling goroutine, until Close is called; then it returns ErrClosed. fn
// must not block: it should hand the descriptor to someone else.
func (p *Poller) Wait(fn func(fd int, ev Event)) error {
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if p.closed.Load() {
				return ErrClosed
			}
			return os.NewSyscallError("epoll_wait", err)
		}
		for i := 0; i < n; i++ {
			e := &events[i]
			fd := int(e.Fd)
			if fd == p.wakefd {
				if p.closed.Load() {
					p.release()
					return ErrClosed
				}
				continue
			}
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
			fn(fd, ev)
		}
	}
}

// Close wakes Wait, which then returns ErrClosed and releases the epoll
// instance. Descriptors still registered are not closed. Calling Close
// again returns ErrClosed.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return ErrClosed
	}
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return os.NewSyscallError("write", err)
	}
	return nil
}

// release frees the kernel objects; called by the waiter once it saw Close.
func (p *Poller) release() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
