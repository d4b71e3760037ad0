//go:build !linux && !darwin && !freebsd

package server

import "net"

// On systems without epoll or kqueue the server cannot run; these stubs keep
// the package building so that New and Serve can report poller.ErrUnsupported.

func detach(nc net.Conn) (int, error)             { return -1, errUnsupported }
func readFD(fd int, p []byte) (int, error)        { return 0, errUnsupported }
func writevFD(fd int, bufs [][]byte) (int, error) { return 0, errUnsupported }
func closeFD(fd int) error                        { return errUnsupported }
