//go:build linux || darwin || freebsd

package poller

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// waiter parks the waiting goroutine in the Go runtime's own network
// poller until the kernel queue (an epoll or kqueue descriptor, which is
// itself readable while it holds events) has something, and then collects
// the events without blocking. Blocking in epoll_wait or kevent instead
// would hold an OS thread and, until the runtime takes it back, the
// processor that the workers need: a woken worker could wait hundreds of
// microseconds to run.
type waiter struct {
	file   *os.File
	raw    syscall.RawConn
	closed atomic.Bool
}

func newWaiter(fd int, name string) (*waiter, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	f := os.NewFile(uintptr(fd), name)
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &waiter{file: f, raw: raw}, nil
}

// run calls collect, which must not block, to take the events waiting in
// the queue, until it returns an error or the waiter is closed. It parks
// in the runtime's poller once collect found the queue drained (fewer
// than maxEvents events): events added after that make the queue's
// descriptor readable again, and the runtime remembers that even while
// collect is still handling the last batch, so no collect is needed just
// to see the queue empty. The whole wait is one RawConn.Read, because
// each new Read forgets a readiness the runtime saw before it.
func (w *waiter) run(collect func(fd int) (n int, err error)) error {
	var cerr error
	err := w.raw.Read(func(fd uintptr) bool {
		for {
			n, err := collect(int(fd))
			switch {
			case err == unix.EINTR:
			case err != nil:
				cerr = err
				return true
			case n < maxEvents:
				return false
			}
		}
	})
	if cerr != nil && !w.closed.Load() {
		return cerr
	}
	if err == nil {
		err = ErrClosed
	}
	return w.closedOr(err)
}

// control runs fn with the queue's descriptor, which stays open meanwhile.
// fn is made once by its Poller, so that a call allocates nothing.
func (w *waiter) control(fn func(fd uintptr)) error {
	if err := w.raw.Control(fn); err != nil {
		return w.closedOr(err)
	}
	return nil
}

// close closes the queue; a wait under way returns ErrClosed.
func (w *waiter) close() error {
	if w.closed.Swap(true) {
		return ErrClosed
	}
	return w.file.Close()
}

// closedOr returns ErrClosed once close was called, err otherwise.
func (w *waiter) closedOr(err error) error {
	if w.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}
