//go:build linux || darwin || freebsd

package server

import (
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// detach takes the socket out of the Go runtime's hands: it duplicates the
// descriptor (the duplicate shares the open file description, including
// O_NONBLOCK, which the runtime already set), then closes the net.Conn, which
// removes the original from the runtime's poller. Afterwards the socket is
// reachable only through the returned descriptor: one descriptor per client.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errNoDescriptor
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	// nc must not linger or shut down the socket: the descriptor lives on.
	nc.Close()
	return fd, nil
}

// readFD reads once from a non-blocking descriptor. It returns n == 0 and a
// nil error at end of stream, and errWouldBlock when nothing is there yet.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errWouldBlock
		default:
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// writevFD writes the buffers with one system call. It returns
// errWouldBlock when the socket's send buffer is full.
func writevFD(fd int, bufs [][]byte) (int, error) {
	var iov [maxIovecs]unix.Iovec
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if n == maxIovecs {
			break
		}
		iov[n].Base = &b[0]
		iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errWouldBlock
		default:
			return 0, os.NewSyscallError("writev", e)
		}
	}
}

// closeFD closes a descriptor taken by detach.
func closeFD(fd int) error { return unix.Close(fd) }

// shutdownWriteFD sends the end of stream after what was written.
func shutdownWriteFD(fd int) { unix.Shutdown(fd, unix.SHUT_WR) }

// writeFD writes b with one system call; see writevFD.
func writeFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errWouldBlock
		default:
			return 0, os.NewSyscallError("write", err)
		}
	}
}

// fileConn returns a net.Conn on a duplicate of fd, run by the Go runtime.
func fileConn(fd int) (net.Conn, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	f := os.NewFile(uintptr(dup), "client")
	defer f.Close() // net.FileConn made its own duplicate
	return net.FileConn(f)
}
