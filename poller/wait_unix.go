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

// wait calls collect, which must not block, until it reports events, and
// parks between calls while the queue is empty.
func (w *waiter) wait(collect func(fd int) (n int, err error)) (int, error) {
	var n int
	var cerr error
	err := w.raw.Read(func(fd uintptr) bool {
		n, cerr = collect(int(fd))
		return n > 0 || (cerr != nil && cerr != unix.EINTR)
	})
	if err != nil {
		return 0, w.closedOr(err)
	}
	return n, cerr
}

// control runs fn with the queue's descriptor, which stays open meanwhile.
func (w *waiter) control(fn func(fd int) error) error {
	var ferr error
	if err := w.raw.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return w.closedOr(err)
	}
	return ferr
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
