//go:build darwin || freebsd

package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// acceptFD accepts a connection as a non-blocking, close-on-exec
// descriptor, with the peer's address. Without accept4 the flags are set
// afterwards, under the fork lock so that no child inherits it meanwhile.
func acceptFD(lfd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	fd, sa, err := unix.Accept(lfd)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, sa, nil
}
