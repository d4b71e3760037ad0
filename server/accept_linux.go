package server

import "golang.org/x/sys/unix"

// acceptFD accepts a connection as a non-blocking, close-on-exec
// descriptor, with the peer's address.
func acceptFD(lfd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
